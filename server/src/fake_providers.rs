//! A stand-in for WhatsApp's, Aircall's and HubSpot's internet APIs, on loopback, for
//! development, drills and tests (`mini-crm dev fake-providers`). It records every request,
//! refuses what the real API refuses (no credentials, a required field missing, a batch over
//! HubSpot's 100 or with duplicate ids) and answers like the provider when all is well; it can be told to fail — 5xx, 429 with
//! `Retry-After`, or hang past the client's timeout — for the next N requests of a provider,
//! through its Rust API (tests) or its control routes (drills):
//!
//!   curl -X POST 127.0.0.1:3999/_fake/fail -d '{"provider":"whatsapp","mode":"5xx","count":20}'
//!   curl 127.0.0.1:3999/_fake/received
//!   curl -X POST 127.0.0.1:3999/_fake/reset

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One recorded request.
#[derive(Debug, Clone, Serialize)]
pub struct Received {
    pub provider: &'static str,
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    pub body: Value,
}

/// One scripted answer: status, extra headers, JSON body.
pub type Answer = (u16, Vec<(&'static str, String)>, Value);

/// How a provider should fail its next requests.
#[derive(Debug, Clone, Deserialize)]
pub struct Failure {
    pub provider: String,
    /// `5xx`, `429` or `timeout`.
    pub mode: String,
    pub count: usize,
    #[serde(default)]
    pub retry_after: Option<u64>,
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    script: VecDeque<Answer>,
    failures: Vec<Failure>,
}

#[derive(Clone, Default)]
pub struct FakeProviders {
    inner: Arc<Mutex<Inner>>,
}

impl FakeProviders {
    /// The next requests (of any provider) get these answers, in order.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.inner
            .lock()
            .expect("fake state")
            .script
            .extend(answers);
    }

    pub fn fail(&self, failure: Failure) {
        self.inner
            .lock()
            .expect("fake state")
            .failures
            .push(failure);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().expect("fake state").received.clone()
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/_fake/received", get(received))
            .route("/_fake/fail", post(fail))
            .route("/_fake/reset", post(reset))
            .fallback(answer)
            .with_state(self.clone())
    }

    /// Serves on `listener` (in the background); the base URL to point the app at.
    pub fn spawn(&self, listener: tokio::net::TcpListener) -> std::io::Result<String> {
        let base = format!("http://{}", listener.local_addr()?);
        let router = self.router();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(base)
    }
}

async fn received(State(fake): State<FakeProviders>) -> Json<Vec<Received>> {
    Json(fake.received())
}

async fn fail(State(fake): State<FakeProviders>, Json(failure): Json<Failure>) -> StatusCode {
    fake.fail(failure);
    StatusCode::NO_CONTENT
}

async fn reset(State(fake): State<FakeProviders>) -> StatusCode {
    *fake.inner.lock().expect("fake state") = Inner::default();
    StatusCode::NO_CONTENT
}

fn provider_of(path: &str) -> &'static str {
    if path.starts_with("/crm/") {
        "hubspot"
    } else if path.starts_with("/v1/") {
        "aircall"
    } else {
        "whatsapp"
    }
}

async fn answer(
    State(fake): State<FakeProviders>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let provider = provider_of(uri.path());
    let (scripted, failure, n, request) = {
        let mut inner = fake.inner.lock().expect("fake state");
        let request = serde_json::from_slice(&body).unwrap_or(Value::Null);
        inner.received.push(Received {
            provider,
            path: uri.path().to_string(),
            query: uri.query().unwrap_or_default().to_string(),
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            body: request.clone(),
        });
        let n = inner.received.len();
        let failure = inner
            .failures
            .iter_mut()
            .find(|f| f.provider == provider && f.count > 0)
            .map(|f| {
                f.count -= 1;
                f.clone()
            });
        let scripted = if failure.is_none() {
            inner.script.pop_front()
        } else {
            None
        };
        (scripted, failure, n, request)
    };
    let (status, extra, json) = match (scripted, failure) {
        (Some(answer), _) => answer,
        (None, Some(failure)) => match failure.mode.as_str() {
            "timeout" => {
                // Past the client's 15 s: the request times out on its side.
                tokio::time::sleep(Duration::from_secs(20)).await;
                (504, vec![], json!({ "error": "timeout drill" }))
            }
            "429" => (
                429,
                failure
                    .retry_after
                    .map(|s| ("retry-after", s.to_string()))
                    .into_iter()
                    .collect(),
                json!({ "error": { "code": 130429, "message": "rate limit drill" }, "errorType": "RATE_LIMIT" }),
            ),
            _ => (
                503,
                vec![],
                json!({ "error": { "message": "outage drill" } }),
            ),
        },
        (None, None) => {
            let authorization = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            match refusal(provider, uri.path(), authorization, &request) {
                Some((status, json)) => (status, vec![], json),
                None => {
                    let (status, json) = success(uri.path(), &request, n);
                    (status, vec![], json)
                }
            }
        }
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    // Aircall's dial answers 204, with no body at all.
    let mut response = if status == StatusCode::NO_CONTENT {
        status.into_response()
    } else {
        (status, Json(json)).into_response()
    };
    for (name, value) in extra {
        if let Ok(value) = value.parse() {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// What each provider refuses, as its documentation says it does: a request without its
/// credentials, or without what the API requires. A fake that accepted them would hide bugs.
fn refusal(
    provider: &str,
    path: &str,
    authorization: &str,
    request: &Value,
) -> Option<(u16, Value)> {
    let meta_error = |status: u16, code: i64, message: &str| {
        Some((
            status,
            json!({ "error": { "message": message, "type": "OAuthException", "code": code,
                               "error_data": { "details": message } } }),
        ))
    };
    match provider {
        "whatsapp" => {
            if !authorization.starts_with("Bearer ") || authorization.len() <= 7 {
                return meta_error(401, 190, "Invalid OAuth access token.");
            }
            if request["messaging_product"] != "whatsapp" {
                return meta_error(400, 100, "The parameter messaging_product is required.");
            }
            match request["type"].as_str() {
                Some("text") => {
                    let body = request["text"]["body"].as_str().unwrap_or_default();
                    if body.is_empty() || body.chars().count() > 4096 {
                        return meta_error(
                            400,
                            100,
                            "Param text['body'] must be 1 to 4096 characters.",
                        );
                    }
                }
                Some("template") => {
                    if request["template"]["name"]
                        .as_str()
                        .is_none_or(str::is_empty)
                        || request["template"]["language"]["code"]
                            .as_str()
                            .is_none_or(str::is_empty)
                    {
                        return meta_error(400, 132000, "Template name or language missing.");
                    }
                }
                _ => return meta_error(400, 100, "Invalid parameter: type."),
            }
            None
        }
        "aircall" => {
            if !authorization.starts_with("Basic ") {
                return Some((
                    401,
                    json!({ "error": "Unauthorized", "troubleshoot": "Basic authentication required" }),
                ));
            }
            if path.ends_with("/dial") && request["to"].as_str().is_none_or(str::is_empty) {
                return Some((
                    400,
                    json!({ "error": "Bad Request", "troubleshoot": "to is required" }),
                ));
            }
            None
        }
        _ => {
            if !authorization.starts_with("Bearer ") {
                return Some((
                    401,
                    json!({ "status": "error", "category": "INVALID_AUTHENTICATION",
                                          "message": "Authentication credentials not found." }),
                ));
            }
            let inputs = request["inputs"].as_array()?;
            if inputs.len() > 100 {
                return Some((
                    400,
                    json!({ "status": "error", "category": "VALIDATION_ERROR",
                                          "message": "Batch size must be at most 100." }),
                ));
            }
            let mut ids: Vec<&str> = inputs.iter().filter_map(|i| i["id"].as_str()).collect();
            let before = ids.len();
            ids.sort_unstable();
            ids.dedup();
            if ids.len() < before {
                return Some((
                    400,
                    json!({ "status": "error", "category": "VALIDATION_ERROR",
                                          "message": "Duplicate IDs found in batch input." }),
                ));
            }
            None
        }
    }
}

/// What each provider answers when all is well: Meta accepts the message; HubSpot returns
/// every input as a contact (a new id for those it had none for; 201 for a create); Aircall
/// lists no calls and accepts dials with 204.
fn success(path: &str, request: &Value, n: usize) -> (u16, Value) {
    if let Some(kind) = path.strip_prefix("/crm/v3/objects/contacts/batch/") {
        let inputs = request["inputs"].as_array().cloned().unwrap_or_default();
        let results: Vec<_> = inputs
            .iter()
            .enumerate()
            .map(|(i, input)| {
                let id = match kind {
                    "update" => input["id"].clone(),
                    _ => json!(format!("hs-{n}-{i}")),
                };
                json!({ "id": id, "properties": input["properties"], "new": kind != "update" })
            })
            .collect();
        let status = if kind == "create" { 201 } else { 200 };
        return (status, json!({ "status": "COMPLETE", "results": results }));
    }
    if path == "/v1/calls" {
        return (
            200,
            json!({ "calls": [], "meta": { "total": 0, "next_page_link": null } }),
        );
    }
    if path.ends_with("/dial") {
        return (204, Value::Null);
    }
    (
        200,
        json!({ "messages": [{ "id": format!("wamid.fake.{n}"), "message_status": "accepted" }] }),
    )
}
