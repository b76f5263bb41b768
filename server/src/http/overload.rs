//! Limits of the pages, server functions and API: how many requests run at once, from one client
//! and in all, and how long one may take. Past a limit the client gets a 503 with `Retry-After`
//! at once rather than a server that stalls for everyone. `/healthz` and the webhooks stand
//! outside them (the webhooks have tighter limits of their own), so a flood of pages neither
//! takes an instance out of its load balancer nor refuses a provider's delivery.

use app::backend::auth::ClientIp;
use app::backend::log_every::LogEvery;
use axum::error_handling::HandleErrorLayer;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{BoxError, Router};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::ServiceBuilder;
use tower_http::timeout::TimeoutLayer;

/// Requests in progress in all; more are refused.
pub const MAX_IN_FLIGHT: usize = 512;
/// Requests in progress from one client address: one client that holds requests open (a body
/// sent a byte at a time) must not take every place. Behind a proxy without
/// `TRUST_PROXY_HEADERS` the whole clinic is one address, which this still leaves room for.
pub const MAX_IN_FLIGHT_PER_CLIENT: usize = 64;
/// The longest a request may take, its body included; its handler is then dropped (a write in
/// progress rolls back).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// `router` behind the limits.
pub fn limit<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    let per_client = PerClient::default();
    router.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(|_: BoxError| async { overloaded() }))
            .load_shed()
            .layer(middleware::from_fn(move |request, next| {
                per_client.clone().admit(request, next)
            }))
            // Global: axum applies a layer to each route separately, and a plain concurrency
            // limit would give each route its own 512.
            .layer(GlobalConcurrencyLimitLayer::new(MAX_IN_FLIGHT))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                REQUEST_TIMEOUT,
            )),
    )
}

/// Requests in progress per client address.
#[derive(Clone, Default)]
struct PerClient(Arc<Mutex<HashMap<String, usize>>>);

impl PerClient {
    async fn admit(self, request: Request, next: Next) -> Response {
        let client = request
            .extensions()
            .get::<ClientIp>()
            .map_or_else(String::new, ClientIp::bucket);
        {
            let mut counts = self.0.lock().expect("never poisoned");
            let count = counts.entry(client.clone()).or_default();
            if *count >= MAX_IN_FLIGHT_PER_CLIENT {
                return overloaded();
            }
            *count += 1;
        }
        // Given back however the request ends (answered, timed out, the client gone).
        let _place = Place {
            counts: self.0.clone(),
            client,
        };
        next.run(request).await
    }
}

struct Place {
    counts: Arc<Mutex<HashMap<String, usize>>>,
    client: String,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().expect("never poisoned");
        if let Some(count) = counts.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.client);
            }
        }
    }
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
