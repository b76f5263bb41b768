//! Middleware that protects every route: the client's address, the cross-site check, and the
//! sign-in requirement of pages.

use super::error::ApiError;
use app::backend::auth::{session_user, ClientIp};
use app::backend::log_every::LogEvery;
use app::backend::state::AppState;
use app::error::AppError;
use app::{safe_next, HOME_PATH};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use std::net::{IpAddr, SocketAddr};
use subtle::ConstantTimeEq;
use tower_sessions::Session;

/// Records who is calling, for throttling and logs. `X-Forwarded-For` is believed only behind a
/// proxy the operator vouches for (`TRUST_PROXY_HEADERS`): anyone can send the header.
pub async fn client_ip(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let forwarded = if state.config.trust_proxy_headers {
        forwarded_client(request.headers(), state.config.trusted_proxy_hops)
    } else {
        if request.headers().contains_key("x-forwarded-for") {
            static SEEN: std::sync::Once = std::sync::Once::new();
            SEEN.call_once(|| tracing::warn!("{SHARED_ADDRESS_WARNING}"));
        }
        None
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let ip = forwarded
        .or(peer.map(|ip| ip.to_string()))
        .unwrap_or_else(|| "unknown".to_string());
    request.extensions_mut().insert(ClientIp(ip));
    next.run(request).await
}

/// Said at start (listening on loopback, the usual place behind a proxy) and at the first request
/// that arrives through a proxy, while `TRUST_PROXY_HEADERS` is off.
pub const SHARED_ADDRESS_WARNING: &str =
    "TRUST_PROXY_HEADERS is off: behind a reverse proxy every \
     client has the proxy's address, so the sign-in throttle counts all clients together; set \
     TRUST_PROXY_HEADERS=true (and TRUSTED_PROXY_HOPS) when a proxy you run sets X-Forwarded-For";

/// The address the outermost trusted proxy appended to `X-Forwarded-For`: the `hops`-th entry
/// from the right. Entries to its left were sent by the client and prove nothing. A list shorter
/// than `hops` means the request met fewer proxies than configured: its leftmost entry is then
/// the nearest to the client that a proxy wrote. Several headers count as one list (RFC 7239 §7.1).
/// Some balancers write `address:port` or `[v6]:port`: the address is taken. An entry that is
/// no address at all is kept as it is (cut to 64 characters), so such clients are counted apart
/// from the proxy rather than all as one.
fn forwarded_client(headers: &axum::http::HeaderMap, hops: usize) -> Option<String> {
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|list| list.split(','))
        .map(str::trim)
        .collect();
    let index = entries.len().saturating_sub(hops);
    let entry = *entries.get(index)?;
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_string());
    }
    if let Ok(socket) = entry.parse::<SocketAddr>() {
        return Some(socket.ip().to_string());
    }
    let raw: String = entry
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect();
    (!raw.is_empty()).then_some(raw)
}

/// Whether the request carries `Authorization: Bearer $METRICS_TOKEN` (compared in constant time);
/// never when no token is configured.
pub fn presents_metrics_token(state: &AppState, headers: &axum::http::HeaderMap) -> bool {
    let Some(token) = &state.config.metrics_token else {
        return false;
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    bool::from(presented.as_bytes().ct_eq(token.expose().as_bytes()))
}

/// Refuses state-changing requests sent by another site (CSRF): browsers mark them with
/// `Sec-Fetch-Site` and `Origin`. Webhooks come from providers' servers and are exempt; clients
/// that send neither header (curl, API consumers with a token) are not browsers and pass.
pub async fn refuse_cross_site(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let safe_method = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if safe_method
        || request.uri().path().starts_with("/webhooks/")
        || !is_cross_site(&state, &request)
    {
        return next.run(request).await;
    }
    // Anyone can send these: one line a second at most, with the count.
    static REFUSED: LogEvery = LogEvery::new(std::time::Duration::from_secs(1));
    if let Some(refused) = REFUSED.tick() {
        tracing::warn!(path = %request.uri().path(), refused, "cross-site requests refused");
    }
    ApiError::Forbidden("Petición rechazada: procede de otro sitio web.").into_response()
}

fn is_cross_site(state: &AppState, request: &Request) -> bool {
    let headers = request.headers();
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    if origin == state.config.app_origin() {
        return false;
    }
    let host_header = if state.config.trust_proxy_headers {
        "x-forwarded-host"
    } else {
        "host"
    };
    let host = headers
        .get(host_header)
        .or_else(|| headers.get(header::HOST))
        .and_then(|v| v.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, host)| host);
    host.is_none() || origin_host != host
}

/// Pages need a signed-in user: anonymous visitors go to `/login?next=<where they were going>`,
/// and a signed-in user who opens `/login` goes straight on.
pub async fn require_page_user(
    State(state): State<AppState>,
    session: Session,
    request: Request,
    next: Next,
) -> Response {
    let user = match session_user(&state.db, &session).await {
        Ok(user) => user,
        Err(err) => {
            let err = AppError::from(err);
            return (
                StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                err.to_string(),
            )
                .into_response();
        }
    };
    let uri = request.uri();
    let on_login = uri.path() == "/login";
    match (user, on_login) {
        (Some(_), false) | (None, true) => next.run(request).await,
        (Some(_), true) => {
            let next_param = uri.query().and_then(|q| {
                serde_urlencoded::from_str::<Vec<(String, String)>>(q)
                    .ok()?
                    .into_iter()
                    .find_map(|(k, v)| (k == "next").then_some(v))
            });
            Redirect::to(&safe_next(next_param.as_deref())).into_response()
        }
        (None, false) => {
            let wanted = uri.path_and_query().map_or(HOME_PATH, |pq| pq.as_str());
            let query = serde_urlencoded::to_string([("next", wanted)]).unwrap_or_default();
            Redirect::to(&format!("/login?{query}")).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    fn forwarded(values: &[&str], hops: usize) -> Option<String> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        forwarded_client(&headers, hops)
    }

    #[test]
    fn the_client_is_what_the_trusted_proxy_appended() {
        // The client sent "1.2.3.4"; the proxy appended the address it saw.
        assert_eq!(
            forwarded(&["1.2.3.4, 203.0.113.7"], 1).as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(
            forwarded(&["1.2.3.4", "203.0.113.7"], 1).as_deref(),
            Some("203.0.113.7")
        );
        // Two proxies: the outer one appended the client, the inner one the outer one.
        assert_eq!(
            forwarded(&["1.2.3.4, 203.0.113.7, 10.0.0.2"], 2).as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(
            forwarded(&["203.0.113.7"], 2).as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(
            forwarded(&["2001:db8::1"], 1).as_deref(),
            Some("2001:db8::1")
        );
    }

    #[test]
    fn ports_are_dropped_and_junk_is_its_own_client() {
        assert_eq!(
            forwarded(&["203.0.113.7:51234"], 1).as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(
            forwarded(&["[2001:db8::1]:443"], 1).as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(
            forwarded(&["1.2.3.4, unknown"], 1).as_deref(),
            Some("unknown")
        );
        assert_eq!(forwarded(&[], 1), None);
        assert_eq!(forwarded(&[""], 1), None);
    }
}
