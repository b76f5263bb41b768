//! A stand-in for the providers' internet APIs in tests: a real HTTP server on loopback that
//! records every request and answers from a script (then with success).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    pub body: serde_json::Value,
}

/// One scripted answer: status, extra headers, JSON body.
pub type Answer = (u16, Vec<(&'static str, String)>, serde_json::Value);

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    script: VecDeque<Answer>,
}

#[derive(Clone)]
pub struct FakeProvider {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeProvider {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = axum::Router::new()
            .fallback(answer)
            .with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { base, inner }
    }

    /// The next requests get these answers, in order.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.inner.lock().unwrap().script.extend(answers);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }
}

async fn answer(
    State(inner): State<Arc<Mutex<Inner>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut inner = inner.lock().unwrap();
    inner.received.push(Received {
        path: uri.path().to_string(),
        query: uri.query().unwrap_or_default().to_string(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    });
    let n = inner.received.len();
    let request = inner.received[n - 1].body.clone();
    let path = uri.path().to_string();
    let (status, extra, json) = inner
        .script
        .pop_front()
        .unwrap_or_else(|| (200, vec![], success(&path, &request, n)));
    let mut response = (StatusCode::from_u16(status).unwrap(), axum::Json(json)).into_response();
    for (name, value) in extra {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

/// What each provider answers when all is well: Meta accepts the message; HubSpot returns
/// every input as a contact (a new id for those it had none for); Aircall lists no calls and
/// accepts dials.
fn success(path: &str, request: &serde_json::Value, n: usize) -> serde_json::Value {
    use serde_json::json;
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
        return json!({ "status": "COMPLETE", "results": results });
    }
    if path == "/v1/calls" {
        return json!({ "calls": [], "meta": { "next_page_link": null } });
    }
    json!({ "messages": [{ "id": format!("wamid.fake.{n}"), "message_status": "accepted" }] })
}
