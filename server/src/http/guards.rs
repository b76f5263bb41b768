//! Middleware that protects every route: the client's address, the cross-site check, and the
//! sign-in requirement of pages.

use super::error::ApiError;
use app::backend::auth::{session_user, ClientIp};
use app::backend::log_every::LogEvery;
use app::backend::state::AppState;
use app::{safe_next, HOME_PATH};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use std::net::SocketAddr;
use tower_sessions::Session;

/// Records who is calling, for throttling and logs. `X-Forwarded-For` is believed only behind a
/// proxy the operator vouches for (`TRUST_PROXY_HEADERS`): anyone can send the header.
pub async fn client_ip(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let forwarded = state
        .config
        .trust_proxy_headers
        .then(|| {
            request
                .headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
        })
        .flatten()
        .and_then(|list| list.split(',').next())
        .map(|ip| ip.trim().to_string())
        .filter(|ip| !ip.is_empty());
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let ip = forwarded.or(peer).unwrap_or_else(|| "unknown".to_string());
    request.extensions_mut().insert(ClientIp(ip));
    next.run(request).await
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
            return (
                StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                err.to_string(),
            )
                .into_response()
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
