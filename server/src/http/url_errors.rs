//! A form posted without JavaScript gets its error back in the URL: the server function redirects
//! to the page with `?__path=…&__err=…`, and Leptos shows the error decoded from there. Anyone can
//! write such a link, so by itself it lets a stranger put words in the server's mouth ("tu cuenta
//! está bloqueada, llama al …") on the login page. The server signs the error it puts in the URL,
//! with a key of this process and a ten-minute expiry, and a page asked for with an error that is
//! not signed (or is stale) is redirected to itself without it.

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const PATH: &str = "__path";
const ERROR: &str = "__err";
const EXPIRES: &str = "__exp";
const SIGNATURE: &str = "__sig";
const LIFETIME_SECONDS: i64 = 600;

fn key() -> &'static [u8] {
    static KEY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    KEY.get_or_init(|| hex::decode(app::backend::auth::random_hex(32)).expect("hex"))
}

fn mac(path: &str, error: &str, expires: i64) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key()).expect("any key length");
    mac.update(format!("{path}\n{error}\n{expires}").as_bytes());
    mac
}

fn signature(path: &str, error: &str, expires: i64) -> String {
    hex::encode(mac(path, error, expires).finalize().into_bytes())
}

fn verified(path: &str, error: &str, expires: &str, signature_hex: &str, now: i64) -> bool {
    let Ok(expires) = expires.parse::<i64>() else {
        return false;
    };
    let Ok(given) = hex::decode(signature_hex) else {
        return false;
    };
    now <= expires && mac(path, error, expires).verify_slice(&given).is_ok()
}

fn split(target: &str) -> (&str, Vec<(String, String)>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let pairs = serde_urlencoded::from_str(query).unwrap_or_default();
    (path, pairs)
}

fn is_error_parameter(name: &str) -> bool {
    matches!(name, PATH | ERROR | EXPIRES | SIGNATURE)
}

/// Signs the error a server function put in its redirect (the plain-form fallback). Earlier
/// error parameters the page's URL carried are dropped (all of them after a success).
pub fn sign_redirect(response: &mut Response) {
    let Some(location) = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    let (base, pairs) = split(location);
    let last = |name: &str| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let new_error = last(PATH).zip(last(ERROR));
    if new_error.is_none() && !pairs.iter().any(|(k, _)| is_error_parameter(k)) {
        return;
    }
    let mut kept: Vec<(String, String)> = pairs
        .into_iter()
        .filter(|(k, _)| !is_error_parameter(k))
        .collect();
    // A success: Leptos dropped the earlier error's `__path` and `__err`; its signature goes too.
    if let Some((path, error)) = new_error {
        let expires = time::OffsetDateTime::now_utc().unix_timestamp() + LIFETIME_SECONDS;
        kept.push((EXPIRES.into(), expires.to_string()));
        kept.push((SIGNATURE.into(), signature(&path, &error, expires)));
        kept.push((PATH.into(), path));
        kept.push((ERROR.into(), error));
    }
    let query = serde_urlencoded::to_string(&kept).unwrap_or_default();
    let location = if query.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{query}")
    };
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
}

/// Pages asked for with an error in the URL that this server did not sign lately are sent to
/// the same address without it (so neither the server's render nor the browser's hydration shows
/// it).
pub async fn refuse_unsigned(request: Request, next: Next) -> Response {
    let uri = request.uri();
    let Some(query) = uri.query() else {
        return next.run(request).await;
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    if !pairs.iter().any(|(k, _)| is_error_parameter(k)) {
        return next.run(request).await;
    }
    let one = |name: &str| {
        let mut values = pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        match (values.next(), values.next()) {
            (Some(value), None) => Some(value),
            _ => None,
        }
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let genuine = match (one(PATH), one(ERROR), one(EXPIRES), one(SIGNATURE)) {
        (Some(path), Some(error), Some(expires), Some(sig)) => {
            verified(path, error, expires, sig, now)
        }
        _ => false,
    };
    if genuine {
        return next.run(request).await;
    }
    let kept: Vec<&(String, String)> = pairs
        .iter()
        .filter(|(k, _)| !is_error_parameter(k))
        .collect();
    let query = serde_urlencoded::to_string(&kept).unwrap_or_default();
    let target = if query.is_empty() {
        uri.path().to_string()
    } else {
        format!("{}?{query}", uri.path())
    };
    Redirect::to(&target).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_holds_for_its_own_words_until_it_expires() {
        let sig = signature("/sfn/login", "abc", 1_000);
        assert!(verified("/sfn/login", "abc", "1000", &sig, 1_000));
        assert!(!verified("/sfn/login", "abd", "1000", &sig, 1_000));
        assert!(!verified("/sfn/logout", "abc", "1000", &sig, 1_000));
        assert!(!verified("/sfn/login", "abc", "1001", &sig, 1_000));
        assert!(
            !verified("/sfn/login", "abc", "1000", &sig, 1_001),
            "expired"
        );
        assert!(!verified("/sfn/login", "abc", "1000", "zz", 1_000));
    }
}
