//! `GET /healthz`: `{"status": "ok" | "degraded" | "down"}` for anyone (load balancers, the
//! deploy script); with `Authorization: Bearer $METRICS_TOKEN` or an admin's session, also the
//! details: the database, each queue's depth, failures and oldest wait, the providers' breakers,
//! maintenance, the webhooks refused since start, the background tasks' heartbeats, the version.
//! Details tell a stranger what to attack and when (a provider down, a backlog), so they are not
//! public. 503 only when the database fails (it does not answer, or it cannot commit): an open
//! breaker, a backlog, a disk nearly full or a background task silent for 30 s is `"status":
//! "degraded"` with 200, because a provider's outage must not make a deploy roll back. No
//! secrets, and provider errors are stored with phone numbers masked.

use super::guards::presents_metrics_token;
use app::backend::auth::session_user;
use app::backend::queue;
use app::backend::state::AppState;
use app::domain::{BreakerState, Provider, Role, Timestamp};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use std::time::Instant;
use tower_sessions::Session;

/// A queue whose oldest due job has waited longer than this is a backlog.
pub const BACKLOG_SECONDS: i64 = 300;
/// A background task silent for longer than this is stuck or dead (they beat every 2 s).
pub const SILENT_SECONDS: u64 = 30;

pub async fn healthz(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
) -> Response {
    let (status, body) = report(&state).await;
    let admin = match session_user(&state.db, &session).await {
        Ok(user) => user.is_some_and(|user| user.role == Role::Admin),
        Err(failure) => {
            // The check still answers (briefly); the cause is said once, here.
            tracing::warn!(error = %failure, "healthz could not read the session");
            false
        }
    };
    let detailed = presents_metrics_token(&state, &headers) || admin;
    let body = if detailed {
        body
    } else {
        json!({ "status": body["status"] })
    };
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// The status code and the detailed answer.
async fn report(state: &AppState) -> (StatusCode, Value) {
    let started = Instant::now();
    let now = Timestamp::now();
    let overview = match queue::overview(&state.db, now).await {
        Ok(overview) => overview,
        Err(err) => {
            tracing::error!(error = %err, "health check: the database failed");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "status": "down", "version": env!("CARGO_PKG_VERSION"),
                        "database": { "ok": false, "error": "the database did not answer" } }),
            );
        }
    };
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    // Reads work, writes do not (disk full, read-only, the file gone): deliveries are refused,
    // so this is `down` too. The reason is in the log, not here. A file deleted under the
    // process still reads and writes (the unlinked copy): only its path tells.
    if let Err(gone) = state.db.check_file() {
        state.db.write_health.failed("healthz", &gone);
    }
    if let Some(fault) = state.db.write_health.fault() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "down", "version": env!("CARGO_PKG_VERSION"), "checked_at": now,
                    "database": { "ok": false, "writable": false, "failing_since": fault.since,
                                  "error": "the database cannot commit writes" } }),
        );
    }

    let mut queues = Map::new();
    let mut backlog = false;
    for q in &overview.queues {
        backlog |= q
            .oldest_pending_seconds
            .is_some_and(|age| age > BACKLOG_SECONDS);
        queues.insert(
            q.queue.as_str().into(),
            json!({
                "pending": q.pending,
                "running": q.running,
                "failed": q.failed,
                "oldest_pending_seconds": q.oldest_pending_seconds,
                "held": q.held,
            }),
        );
    }
    let mut providers = Map::new();
    let mut open = false;
    for breaker in &overview.breakers {
        open |= breaker.state == BreakerState::Open;
        providers.insert(
            breaker.provider.to_string(),
            json!({
                "state": breaker.state,
                "failures": breaker.failures,
                "opened_at": breaker.opened_at,
                "last_success_at": breaker.last_success_at,
                "last_error_at": breaker.last_error_at,
                "last_error": breaker.last_error,
            }),
        );
    }
    let rejected: Map<String, Value> = Provider::ALL
        .into_iter()
        .map(|p| {
            (
                p.as_str().to_string(),
                json!(state.rejected_webhooks.count(p)),
            )
        })
        .collect();
    // A disk about to fill is a warning before intake has to refuse deliveries.
    let disk = state.db.disk_space();
    let disk_nearly_full = disk.is_some_and(|d| d.nearly_full());
    // The queue worker and the intake writer beat while they run; `null`: not run by this process.
    let mut stalled = false;
    let mut workers = Map::new();
    for (name, heartbeat) in [
        ("queue", &state.heartbeats.queue),
        ("intake", &state.heartbeats.intake),
    ] {
        let silent = heartbeat.silent_for().map(|d| d.as_secs());
        stalled |= silent.is_some_and(|s| s > SILENT_SECONDS);
        workers.insert(name.into(), json!({ "silent_seconds": silent }));
    }
    let status = if open || backlog || disk_nearly_full || stalled {
        "degraded"
    } else {
        "ok"
    };
    (
        StatusCode::OK,
        json!({
            "status": status,
            "version": env!("CARGO_PKG_VERSION"),
            "checked_at": now,
            "database": { "ok": true, "writable": true, "latency_ms": (latency_ms * 100.0).round() / 100.0,
                          "disk_free_bytes": disk.map(|d| d.free), "disk_nearly_full": disk_nearly_full },
            "maintenance": overview.maintenance,
            "queues": queues,
            "breakers": providers,
            "webhooks_rejected_since_start": rejected,
            "workers": workers,
        }),
    )
}
