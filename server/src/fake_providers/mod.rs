//! A stand-in for WhatsApp's, Aircall's and HubSpot's internet APIs, on loopback, for
//! development, drills and tests (`mini-crm dev fake-providers`). It records every request and
//! answers as strictly as each API documents: it refuses what the real API refuses (no
//! credentials, a required field missing), keeps HubSpot's contacts and properties so each
//! answer follows from earlier calls ([`hubspot`]), counts each provider's rate limit and sends
//! its headers ([`limits`]). It can be told to fail its next N requests to a provider — 5xx,
//! 429 with `Retry-After`, a hang past the client's timeout, or any documented error by name
//! ([`documented`]) — through its Rust API (tests) or its control routes (drills):
//!
//!   curl -X POST 127.0.0.1:3999/_fake/fail -d '{"provider":"whatsapp","mode":"5xx","count":20}'
//!   curl -X POST 127.0.0.1:3999/_fake/fail -d '{"provider":"aircall","mode":"405","count":1}'
//!   curl 127.0.0.1:3999/_fake/received
//!   curl -X POST 127.0.0.1:3999/_fake/reset

pub mod documented;
pub mod hubspot;
mod limits;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
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
    pub method: String,
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
    /// `5xx`, `429`, `timeout` (hang past the client's timeout), `lost` (do what was asked,
    /// then hang: the answer never arrives), or the name of one of the provider's documented
    /// errors ([`documented`]).
    pub mode: String,
    pub count: usize,
    /// Only requests whose path contains this (all of the provider's without).
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub retry_after: Option<u64>,
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    script: VecDeque<Answer>,
    failures: Vec<Failure>,
    crm: hubspot::Crm,
    budgets: limits::Budgets,
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

    /// The provider's next `failure.count` requests fail as `failure.mode` says; a mode the
    /// provider does not document is refused.
    pub fn fail(&self, failure: Failure) -> Result<(), String> {
        let known = ["5xx", "429", "timeout", "lost"].contains(&failure.mode.as_str())
            || documented::answer(&failure.provider, &failure.mode, 0).is_some();
        if !known {
            return Err(format!(
                "{} documents no error {:?}",
                failure.provider, failure.mode
            ));
        }
        self.inner
            .lock()
            .expect("fake state")
            .failures
            .push(failure);
        Ok(())
    }

    /// A contact someone typed in HubSpot; its id.
    pub fn hubspot_contact(&self, properties: Value) -> String {
        self.inner
            .lock()
            .expect("fake state")
            .crm
            .add_contact(properties)
    }

    /// HubSpot's contacts now, as `{"id", "properties"}`.
    pub fn hubspot_contacts(&self) -> Vec<Value> {
        self.inner.lock().expect("fake state").crm.contacts()
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

async fn fail(State(fake): State<FakeProviders>, Json(failure): Json<Failure>) -> Response {
    match fake.fail(failure) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(why) => (StatusCode::BAD_REQUEST, Json(json!({ "error": why }))).into_response(),
    }
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
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let provider = provider_of(uri.path());
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let request = serde_json::from_slice(&body).unwrap_or(Value::Null);
    // Ok: the answer now; Err: the failure this request was told to get.
    let reply: Result<Answer, Failure> = {
        let mut inner = fake.inner.lock().expect("fake state");
        inner.received.push(Received {
            provider,
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().unwrap_or_default().to_string(),
            authorization: authorization.clone(),
            body: request.clone(),
        });
        let n = inner.received.len();
        let budget = inner.budgets.take(provider);
        let failure = inner
            .failures
            .iter_mut()
            .find(|f| {
                f.provider == provider
                    && f.count > 0
                    && f.path.as_deref().is_none_or(|p| uri.path().contains(p))
            })
            .map(|f| {
                f.count -= 1;
                f.clone()
            });
        // A failure takes this request; the script waits for the next one.
        let scripted = if failure.is_none() {
            inner.script.pop_front()
        } else {
            None
        };
        match (failure, scripted) {
            (Some(failure), _) if failure.mode == "lost" => {
                // Done as asked; only the answer is lost.
                let auth = authorization.as_deref().unwrap_or_default();
                if refusal(provider, uri.path(), auth, &request).is_none() {
                    success(&mut inner.crm, method.as_str(), uri.path(), &request, n);
                }
                Err(failure)
            }
            (Some(failure), _) => Err(failure),
            (None, Some(scripted)) => Ok(scripted),
            (None, None) => Ok(match budget {
                limits::Verdict::Over(refusal) => refusal,
                limits::Verdict::Within(limit_headers) => {
                    let auth = authorization.as_deref().unwrap_or_default();
                    let (status, json) = refusal(provider, uri.path(), auth, &request)
                        .unwrap_or_else(|| {
                            success(&mut inner.crm, method.as_str(), uri.path(), &request, n)
                        });
                    (status, limit_headers, json)
                }
            }),
        }
    };
    let (status, extra, json) = match reply {
        Ok(answer) => answer,
        Err(failure) => match failure.mode.as_str() {
            // The provider's own answer where it documents one by that name (Aircall's 429).
            name if documented::answer(provider, name, 0).is_some() => {
                documented::answer(provider, name, limits::now_unix()).expect("documented")
            }
            "timeout" | "lost" => {
                // Past the client's 15 s: the request times out on its side.
                tokio::time::sleep(Duration::from_secs(20)).await;
                (504, vec![], json!({ "error": "timeout drill" }))
            }
            "429" => {
                // The provider's own rate-limit body, with the Retry-After asked for.
                let name = match provider {
                    "hubspot" => "429-ten-secondly",
                    "aircall" => "429",
                    _ => "130429",
                };
                let (_, mut headers, body) = documented::answer(provider, name, limits::now_unix())
                    .expect("every provider documents its rate limit");
                headers.extend(failure.retry_after.map(|s| ("retry-after", s.to_string())));
                (429, headers, body)
            }
            // `5xx`: fail() accepts nothing else.
            _ => (
                503,
                vec![],
                json!({ "error": { "message": "outage drill" } }),
            ),
        },
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
            if authorization
                .strip_prefix("Bearer ")
                .is_none_or(|t| t.trim().is_empty())
            {
                return Some((
                    401,
                    json!({ "status": "error", "category": "INVALID_AUTHENTICATION",
                                          "message": "Authentication credentials not found." }),
                ));
            }
            None
        }
    }
}

/// What each provider answers when all is well: HubSpot from its contacts and properties
/// (404 for a path it does not have); Meta accepts the message; Aircall lists no calls and
/// accepts dials with 204.
fn success(
    crm: &mut hubspot::Crm,
    method: &str,
    path: &str,
    request: &Value,
    n: usize,
) -> (u16, Value) {
    if path.starts_with("/crm/") {
        return crm.answer(method, path, request).unwrap_or_else(|| {
            (404, json!({ "status": "error", "message": "Not found", "category": "OBJECT_NOT_FOUND" }))
        });
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
