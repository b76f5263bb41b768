//! Limits for the whole server: how many requests it handles at once and how long one may take.
//! Past either, the client gets a 503 with `Retry-After` at once rather than a server that stalls
//! for everyone (the webhooks have tighter limits of their own).

use app::backend::log_every::LogEvery;
use axum::error_handling::HandleErrorLayer;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{BoxError, Router};
use std::time::Duration;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::ServiceBuilder;
use tower_http::timeout::TimeoutLayer;

/// Requests in progress across every route; more wait on nothing and are refused.
pub const MAX_IN_FLIGHT: usize = 512;
/// The longest a request may take, its body included; its handler is then dropped (a write in
/// progress rolls back).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// `router` behind the limits.
pub fn limit<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(|_: BoxError| async { overloaded() }))
            .load_shed()
            // Global: axum applies a layer to each route separately, and a plain concurrency
            // limit would give each route its own 512.
            .layer(GlobalConcurrencyLimitLayer::new(MAX_IN_FLIGHT))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                REQUEST_TIMEOUT,
            )),
    )
}

fn overloaded() -> Response {
    static REFUSED: LogEvery = LogEvery::new(Duration::from_secs(1));
    if let Some(refused) = REFUSED.tick() {
        tracing::warn!(
            refused,
            "requests refused with 503: the server is at its limit"
        );
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "5")],
        "El servidor está atendiendo demasiadas peticiones; inténtalo de nuevo en unos segundos.",
    )
        .into_response()
}
