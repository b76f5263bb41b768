//! `/webhooks/*`: provider deliveries. Verified on the raw body, stored with their processing job
//! before the 2xx, processed by the `inbound` queue. Outside sessions and the cross-site check.

use app::backend::log_every::LogEvery;
use app::backend::state::AppState;
use app::backend::webhooks::ingest::{delivery_key, NotStored, Stored};
use app::backend::webhooks::verify;
use app::backend::webhooks::NewDelivery;
use app::domain::{Provider, Timestamp};
use axum::body::Bytes;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, FromRequest, OriginalUri, Query, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::BoxError;
use axum::{Json, Router};
use serde_json::json;
use std::collections::HashMap;
use subtle::ConstantTimeEq;
use tower::ServiceBuilder;

/// Meta sends payloads of up to 3 MB; the others stay far below 1 MB.
const WHATSAPP_MAX_BODY: usize = 3 * 1024 * 1024;
const OTHER_MAX_BODY: usize = 1024 * 1024;

/// Deliveries being read or stored at once, per provider: beyond them a delivery is refused with
/// a 503 before its body is read, so a flood or a stalled disk cannot grow memory without bound
/// (each body may be 3 MB).
const MAX_IN_FLIGHT: usize = 128;
/// How long a delivery's whole body may take to arrive: a client trickling its body must not
/// hold one of those places for ever.
const BODY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/whatsapp",
            get(verify_whatsapp_subscription)
                .post(receive_whatsapp)
                .layer(DefaultBodyLimit::max(WHATSAPP_MAX_BODY)),
        )
        .route(
            "/aircall",
            post(receive_aircall).layer(DefaultBodyLimit::max(OTHER_MAX_BODY)),
        )
        .route(
            "/hubspot",
            post(receive_hubspot).layer(DefaultBodyLimit::max(OTHER_MAX_BODY)),
        )
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|_: BoxError| async {
                    if let Some(refused) = REFUSED_LOG.tick() {
                        tracing::warn!(
                            refused,
                            "webhook deliveries refused with 503: too many at once"
                        );
                    }
                    unavailable()
                }))
                .load_shed()
                .concurrency_limit(MAX_IN_FLIGHT),
        )
}

/// Meta's subscription handshake: echo `hub.challenge` when the verify token matches.
async fn verify_whatsapp_subscription(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(expected) = &state.config.whatsapp_verify_token else {
        return unconfigured(Provider::Whatsapp, "WHATSAPP_VERIFY_TOKEN");
    };
    let token = query
        .get("hub.verify_token")
        .map(String::as_str)
        .unwrap_or_default();
    let subscribing = query.get("hub.mode").map(String::as_str) == Some("subscribe");
    match query.get("hub.challenge") {
        Some(challenge)
            if subscribing && bool::from(token.as_bytes().ct_eq(expected.expose().as_bytes())) =>
        {
            tracing::info!(provider = "whatsapp", "webhook subscription verified");
            (StatusCode::OK, challenge.clone()).into_response()
        }
        _ => {
            tracing::warn!(
                provider = "whatsapp",
                "webhook subscription refused: wrong verify token or mode"
            );
            StatusCode::FORBIDDEN.into_response()
        }
    }
}

async fn receive_whatsapp(
    State(state): State<AppState>,
    headers: HeaderMap,
    DeliveryBody(body): DeliveryBody,
) -> Response {
    let Some(secret) = &state.config.whatsapp_app_secret else {
        return unconfigured(Provider::Whatsapp, "WHATSAPP_APP_SECRET");
    };
    let signature = header(&headers, "x-hub-signature-256");
    if let Err(rejection) = verify::whatsapp(secret.expose(), signature, &body) {
        return reject(&state, Provider::Whatsapp, rejection);
    }
    accept(
        &state,
        Provider::Whatsapp,
        &headers,
        delivery_key(&body),
        body,
    )
    .await
}

async fn receive_aircall(
    State(state): State<AppState>,
    headers: HeaderMap,
    DeliveryBody(body): DeliveryBody,
) -> Response {
    let Some(token) = &state.config.aircall_webhook_token else {
        return unconfigured(Provider::Aircall, "AIRCALL_WEBHOOK_TOKEN");
    };
    match verify::aircall(token.expose(), &body) {
        // Recognised by the body Aircall sent (its redeliveries are the same bytes), stored
        // without the token.
        Ok(redacted) => {
            let key = delivery_key(&body);
            accept(
                &state,
                Provider::Aircall,
                &headers,
                key,
                Bytes::from(redacted),
            )
            .await
        }
        Err(rejection) => reject(&state, Provider::Aircall, rejection),
    }
}

async fn receive_hubspot(
    State(state): State<AppState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    DeliveryBody(body): DeliveryBody,
) -> Response {
    let Some(secret) = &state.config.hubspot_client_secret else {
        return unconfigured(Provider::Hubspot, "HUBSPOT_CLIENT_SECRET");
    };
    // HubSpot signs the URL it called: the public one, under APP_URL.
    let url = format!(
        "{}{}",
        state.config.app_url,
        uri.path_and_query().map_or("", |pq| pq.as_str())
    );
    let verified = verify::hubspot(
        secret.expose(),
        method.as_str(),
        &url,
        &body,
        header(&headers, "x-hubspot-signature-v3"),
        header(&headers, "x-hubspot-request-timestamp"),
        chrono::Utc::now().timestamp_millis(),
    );
    if let Err(rejection) = verified {
        return reject(&state, Provider::Hubspot, rejection);
    }
    accept(
        &state,
        Provider::Hubspot,
        &headers,
        delivery_key(&body),
        body,
    )
    .await
}

/// A delivery's raw body, read whole within [`BODY_DEADLINE`] (not an idle timeout: a byte every
/// few seconds must not keep it open), else a 503 that every provider retries. Over the route's
/// size limit: 413.
struct DeliveryBody(Bytes);

impl<S: Send + Sync> FromRequest<S> for DeliveryBody {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        match tokio::time::timeout(BODY_DEADLINE, Bytes::from_request(request, state)).await {
            Ok(Ok(body)) => Ok(Self(body)),
            Ok(Err(rejection)) => Err(rejection.into_response()),
            Err(_) => {
                if let Some(refused) = REFUSED_LOG.tick() {
                    tracing::warn!(
                        refused,
                        "webhook deliveries refused with 503: body too slow"
                    );
                }
                Err(unavailable())
            }
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Stores the delivery (or recognises a redelivery) and answers once it is durable.
/// Stores a verified delivery under `key` (the hash of the body as the provider sent it).
async fn accept(
    state: &AppState,
    provider: Provider,
    headers: &HeaderMap,
    key: String,
    body: Bytes,
) -> Response {
    let delivery = NewDelivery {
        provider,
        delivery_key: key,
        headers: stored_headers(headers),
        body,
        received_at: Timestamp::now(),
    };
    match state.ingestor.store(delivery).await {
        Ok(Stored::New(id)) => {
            state.received_webhooks.record(provider);
            tracing::debug!(
                provider = provider.as_str(),
                webhook_event_id = id,
                "webhook delivery stored"
            );
            Json(json!({ "status": "stored" })).into_response()
        }
        Ok(Stored::Duplicate) => Json(json!({ "status": "duplicate" })).into_response(),
        Err(error) => {
            // Not stored: a 503 makes the provider deliver it again later. A database that
            // cannot commit is logged once by the intake; a full or slow intake here, at most
            // once a second, so a flood of refusals cannot fill the disk with log lines.
            let already_said = matches!(error, NotStored::CannotCommit(_));
            if let Some(refused) = (!already_said).then(|| REFUSED_LOG.tick()).flatten() {
                tracing::warn!(
                    provider = provider.as_str(),
                    %error,
                    refused,
                    "webhook deliveries refused with 503 (not stored; the provider delivers again)"
                );
            }
            unavailable()
        }
    }
}

/// Not stored: the provider delivers it again later.
fn unavailable() -> Response {
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "error": "unavailable", "message": "The delivery was not stored; deliver it again later." })),
    )
        .into_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        header::HeaderValue::from_static(RETRY_AFTER_SECONDS),
    );
    response
}

/// Seconds a provider is asked to wait before delivering a refused delivery again.
const RETRY_AFTER_SECONDS: &str = "30";

/// One log line a second at most about refused deliveries, with how many there were.
static REFUSED_LOG: LogEvery = LogEvery::new(std::time::Duration::from_secs(1));

/// The request headers as a JSON object, minus credentials, with signatures redacted.
fn stored_headers(headers: &HeaderMap) -> String {
    let map: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "authorization" | "cookie"))
        .map(|(name, value)| {
            let value = if verify::SIGNATURE_HEADERS.contains(&name.as_str()) {
                verify::REDACTED.into()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into()
            };
            (name.to_string(), value)
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// One line a second at most per provider about rejected deliveries: a flood of bad signatures
/// must not fill the disk that holds the database.
static REJECTED_LOG: PerProvider = per_provider();

/// One [`LogEvery`] a second per provider, indexed by `Provider as usize`.
type PerProvider = [LogEvery; Provider::ALL.len()];

const fn per_provider() -> PerProvider {
    [const { LogEvery::new(std::time::Duration::from_secs(1)) }; Provider::ALL.len()]
}

fn reject(state: &AppState, provider: Provider, rejection: verify::Rejection) -> Response {
    let rejected_total = state.rejected_webhooks.record(provider);
    if let Some(rejected) = REJECTED_LOG[provider as usize].tick() {
        tracing::warn!(provider = provider.as_str(), reason = %rejection, rejected, rejected_total, "webhook deliveries rejected");
    }
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "error": "unauthorized", "message": rejection.to_string() })),
    )
        .into_response()
}

/// A provider whose secret is unset is refused rather than accepted unverified.
fn unconfigured(provider: Provider, variable: &str) -> Response {
    // Each delivery would say it again: one line a second at most per provider.
    static SAID: PerProvider = per_provider();
    if let Some(refused) = SAID[provider as usize].tick() {
        tracing::error!(
            provider = provider.as_str(),
            refused,
            "webhook refused: {variable} is not set"
        );
    }
    let message = format!("{variable} is not configured on this server");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "error": "not_configured", "message": message })),
    )
        .into_response()
}
