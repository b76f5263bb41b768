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
/// The header server_fn puts on a failed function's answer, naming the function.
const SERVER_FN_ERROR_HEADER: &str = "serverfnerror";

fn key() -> &'static [u8] {
    static KEY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    KEY.get_or_init(|| hex::decode(app::backend::auth::random_hex(32)).expect("hex"))
}

/// The signature covers the page it is shown on, the server function that failed, its error
/// and the expiry: none of them can be swapped for another.
fn mac(page: &str, path: &str, error: &str, expires: i64) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key()).expect("any key length");
    mac.update(format!("{page}\n{path}\n{error}\n{expires}").as_bytes());
    mac
}

fn signature(page: &str, path: &str, error: &str, expires: i64) -> String {
    hex::encode(mac(page, path, error, expires).finalize().into_bytes())
}

fn verified(
    page: &str,
    (path, error, expires, signature_hex): (&str, &str, &str, &str),
    now: i64,
) -> bool {
    let Ok(expires) = expires.parse::<i64>() else {
        return false;
    };
    let Ok(given) = hex::decode(signature_hex) else {
        return false;
    };
    now <= expires && mac(page, path, error, expires).verify_slice(&given).is_ok()
}

/// The path of a redirect target, absolute (`http://host/leads/1`) or not (`/leads/1`).
fn page_of(base: &str) -> &str {
    match base.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |slash| &rest[slash..]),
        None => base,
    }
}

fn split(target: &str) -> (&str, Vec<(String, String)>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let pairs = serde_urlencoded::from_str(query).unwrap_or_default();
    (path, pairs)
}

/// `base?query` of `pairs`, or `base` alone when there are none.
fn join(base: &str, pairs: &[(String, String)]) -> String {
    let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
    if query.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{query}")
    }
}

fn is_error_parameter(name: &str) -> bool {
    matches!(name, PATH | ERROR | EXPIRES | SIGNATURE)
}

/// Signs the error a server function put in its redirect (the plain-form fallback): only when
/// the function did fail (server_fn marks its error answers with the `serverfnerror` header,
/// naming the function), and only that function's error. Error parameters that came from
/// anywhere else (the page's earlier URL, a `next` written by a stranger) are dropped.
pub fn sign_redirect(response: &mut Response) {
    let Some(location) = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    let (base, pairs) = split(location);
    if !pairs.iter().any(|(k, _)| is_error_parameter(k)) {
        return;
    }
    let failed_function = response
        .headers()
        .get(SERVER_FN_ERROR_HEADER)
        .and_then(|v| v.to_str().ok());
    let last = |name: &str| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let new_error = last(PATH)
        .zip(last(ERROR))
        .filter(|(path, _)| Some(path.as_str()) == failed_function);
    let mut kept: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| !is_error_parameter(k))
        .cloned()
        .collect();
    if let Some((path, error)) = new_error {
        let expires = time::OffsetDateTime::now_utc().unix_timestamp() + LIFETIME_SECONDS;
        kept.push((EXPIRES.into(), expires.to_string()));
        kept.push((
            SIGNATURE.into(),
            signature(page_of(base), &path, &error, expires),
        ));
        kept.push((PATH.into(), path));
        kept.push((ERROR.into(), error));
    }
    if let Ok(value) = HeaderValue::from_str(&join(base, &kept)) {
        response.headers_mut().insert(header::LOCATION, value);
    }
}

/// Pages asked for with an error in the URL that this server did not sign lately are sent to
/// the same address without it (so neither the server's render nor the browser's hydration shows
/// it).
pub async fn refuse_unsigned(request: Request, next: Next) -> Response {
    let uri = request.uri();
    let (_, pairs) = split(uri.path_and_query().map_or("", |pq| pq.as_str()));
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
            verified(uri.path(), (path, error, expires, sig), now)
        }
        _ => false,
    };
    if genuine {
        return next.run(request).await;
    }
    let kept: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| !is_error_parameter(k))
        .cloned()
        .collect();
    Redirect::to(&join(uri.path(), &kept)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_holds_for_its_own_words_on_its_own_page_until_it_expires() {
        let sig = signature("/login", "/sfn/login", "abc", 1_000);
        let check = |page, path, error, expires, sig: &str, now| {
            verified(page, (path, error, expires, sig), now)
        };
        assert!(check("/login", "/sfn/login", "abc", "1000", &sig, 1_000));
        assert!(!check("/leads", "/sfn/login", "abc", "1000", &sig, 1_000));
        assert!(!check("/login", "/sfn/login", "abd", "1000", &sig, 1_000));
        assert!(!check("/login", "/sfn/logout", "abc", "1000", &sig, 1_000));
        assert!(!check("/login", "/sfn/login", "abc", "1001", &sig, 1_000));
        assert!(
            !check("/login", "/sfn/login", "abc", "1000", &sig, 1_001),
            "expired"
        );
        assert!(!check("/login", "/sfn/login", "abc", "1000", "zz", 1_000));
    }

    #[test]
    fn the_page_of_a_redirect() {
        assert_eq!(page_of("http://127.0.0.1:3000/leads/1"), "/leads/1");
        assert_eq!(page_of("https://crm.example"), "/");
        assert_eq!(page_of("/login"), "/login");
    }
}
