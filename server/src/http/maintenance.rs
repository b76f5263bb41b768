//! Maintenance mode (`mini-crm down` / `up`, SPEC §5): while it is on, every page, server
//! function and JSON API answers 503 — a Spanish page for browsers, JSON for the APIs — while
//! `/webhooks/*` (routed outside this layer), `/healthz` and the site's static files keep working.
//! Read from the database on every request, so `down` applies to every process at once.

use app::backend::flags;
use app::backend::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;

/// Seconds clients are told to wait before trying again.
const RETRY_AFTER: &str = "120";

pub async fn refuse_while_down(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    // Static files (the wasm bundle, the stylesheet, ECharts, the icon) have an extension.
    let static_file = path.starts_with("/pkg/")
        || path
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains('.'));
    if static_file {
        return next.run(request).await;
    }
    // The database failing: the handlers will say so themselves.
    let message = flags::maintenance_message(&state.db).await.unwrap_or(None);
    let Some(message) = message else {
        return next.run(request).await;
    };
    let wants_json = path.starts_with("/api/") || path.starts_with("/sfn/");
    let mut response = if wants_json {
        Json(serde_json::json!({ "error": "maintenance", "message": message })).into_response()
    } else {
        Html(page(&message)).into_response()
    };
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response.headers_mut().insert(
        header::RETRY_AFTER,
        header::HeaderValue::from_static(RETRY_AFTER),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

fn page(message: &str) -> String {
    let escaped = message
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    format!(
        r#"<!DOCTYPE html>
<html lang="es">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>En mantenimiento · mini-crm</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml"><link rel="stylesheet" href="/pkg/mini-crm.css"></head>
<body><main class="login"><section class="login-card" aria-labelledby="title">
<p class="brand">mini-crm</p><h1 id="title">Estamos en mantenimiento</h1>
<p>{escaped}</p><p class="help">Vuelve a intentarlo en unos minutos.</p>
</section></main></body></html>"#
    )
}
