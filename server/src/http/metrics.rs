//! `GET /metrics` (OpenMetrics text, for Prometheus), on only when `METRICS_TOKEN` is set and
//! answered only with `Authorization: Bearer <METRICS_TOKEN>`: webhook deliveries stored and
//! refused per provider (since the process started), jobs per queue and state (as `/healthz`
//! counts them: done jobs are history, not state), breaker states,
//! and the latency of every request by kind of route.

use super::guards::presents_metrics_token;
use app::backend::queue;
use app::backend::state::AppState;
use app::domain::{BreakerState, Provider, Timestamp};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    queue: String,
    state: String,
}

/// The registry and the handles that fill it.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    latency: Family<RouteLabels, Histogram>,
    received: Family<ProviderLabels, Counter>,
    rejected: Family<ProviderLabels, Counter>,
    jobs: Family<JobLabels, Gauge>,
    breaker_open: Family<ProviderLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("mini_crm");
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            // 0.5 ms … 4 s.
            Histogram::new(exponential_buckets(0.0005, 2.0, 14))
        });
        let received = Family::<ProviderLabels, Counter>::default();
        let rejected = Family::<ProviderLabels, Counter>::default();
        let jobs = Family::<JobLabels, Gauge>::default();
        let breaker_open = Family::<ProviderLabels, Gauge>::default();
        registry.register(
            "http_request_duration_seconds",
            "Request latency by kind of route (page, sfn, api, webhooks, healthz, static)",
            latency.clone(),
        );
        registry.register(
            "webhooks_received",
            "Webhook deliveries stored since start",
            received.clone(),
        );
        registry.register(
            "webhooks_rejected",
            "Webhook deliveries refused (signature or token) since start",
            rejected.clone(),
        );
        registry.register(
            "jobs",
            "Jobs per queue and state: pending (due or retrying), running, failed",
            jobs.clone(),
        );
        registry.register(
            "breaker_open",
            "1 while the provider's circuit breaker is open",
            breaker_open.clone(),
        );
        Self {
            registry: Arc::new(registry),
            latency,
            received,
            rejected,
            jobs,
            breaker_open,
        }
    }
}

/// The kind of route a path belongs to (a bounded label set).
fn route_of(path: &str) -> &'static str {
    if path.starts_with("/sfn/") {
        "sfn"
    } else if path.starts_with("/api/") {
        "api"
    } else if path.starts_with("/webhooks/") {
        "webhooks"
    } else if path == "/healthz" || path == "/metrics" {
        "health"
    } else if path.starts_with("/pkg/") || path.rsplit('/').next().is_some_and(|p| p.contains('.'))
    {
        "static"
    } else {
        "page"
    }
}

/// Middleware: times every request.
pub async fn record(
    Extension(metrics): Extension<Metrics>,
    request: Request,
    next: Next,
) -> Response {
    let route = route_of(request.uri().path());
    let started = Instant::now();
    let response = next.run(request).await;
    metrics
        .latency
        .get_or_create(&RouteLabels { route })
        .observe(started.elapsed().as_secs_f64());
    response
}

pub async fn metrics(
    State(state): State<AppState>,
    Extension(metrics): Extension<Metrics>,
    request: Request,
) -> Response {
    if state.config.metrics_token.is_none() {
        return StatusCode::NOT_FOUND.into_response();
    }
    if !presents_metrics_token(&state, request.headers()) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    for provider in Provider::ALL {
        let labels = ProviderLabels {
            provider: provider.as_str(),
        };
        // Counters only go up: bring each to the process's count.
        let sync = |counter: &Counter, total: u64| {
            let seen = counter.get();
            counter.inc_by(total.saturating_sub(seen));
        };
        sync(
            &metrics.received.get_or_create(&labels),
            state.received_webhooks.count(provider),
        );
        sync(
            &metrics.rejected.get_or_create(&labels),
            state.rejected_webhooks.count(provider),
        );
    }
    let Ok(overview) = queue::overview(&state.db, Timestamp::now()).await else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the database did not answer",
        )
            .into_response();
    };
    metrics.jobs.clear();
    for q in &overview.queues {
        for (state, n) in [
            ("pending", q.pending),
            ("running", q.running),
            ("failed", q.failed),
        ] {
            metrics
                .jobs
                .get_or_create(&JobLabels {
                    queue: q.queue.as_str().to_string(),
                    state: state.to_string(),
                })
                .set(n);
        }
    }
    for provider in Provider::ALL {
        let open = overview
            .breakers
            .iter()
            .any(|b| b.provider == provider && b.state == BreakerState::Open);
        metrics
            .breaker_open
            .get_or_create(&ProviderLabels {
                provider: provider.as_str(),
            })
            .set(i64::from(open));
    }
    let mut body = String::new();
    if prometheus_client::encoding::text::encode(&mut body, &metrics.registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
