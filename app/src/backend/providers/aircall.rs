//! Aircall's public API: click-to-dial (`POST {AIRCALL_API_BASE}/v1/users/:id/dial`) and the
//! list of calls (`GET /v1/calls`, for backfilling calls whose webhooks never arrived).

use super::{retry_after, CallError};
use crate::backend::config::{Config, Secret};
use crate::domain::Timestamp;
use serde_json::{json, Value};

/// Aircall lists at most this many calls for one query: a longer period is split.
pub const LIST_CAP: u64 = 10_000;

/// One page of Aircall's list of calls.
#[derive(Debug, Default)]
pub struct CallsPage {
    pub calls: Vec<Value>,
    /// Whether a next page follows.
    pub more: bool,
    /// How many calls the whole query matches (`meta.total`).
    pub total: u64,
}

/// How long to wait before the next request: `Retry-After` when given, else Aircall's own
/// `X-AircallApi-Reset` (the instant, in Unix seconds, its per-minute budget starts again).
fn wait(headers: &reqwest::header::HeaderMap) -> Option<i64> {
    retry_after(headers).or_else(|| {
        let reset: i64 = headers
            .get("x-aircallapi-reset")?
            .to_str()
            .ok()?
            .trim()
            .parse()
            .ok()?;
        Some((reset - Timestamp::now().unix()).clamp(1, 3600))
    })
}

pub struct AircallClient {
    http: reqwest::Client,
    base: String,
    api_id: String,
    api_token: Secret,
}

impl AircallClient {
    /// `None` while `AIRCALL_API_ID` or `AIRCALL_API_TOKEN` is unset.
    pub fn from_config(config: &Config, http: reqwest::Client) -> Option<Self> {
        Some(Self {
            http,
            base: config.aircall_api_base.trim_end_matches('/').to_string(),
            api_id: config.aircall_api_id.clone()?,
            api_token: config.aircall_api_token.clone()?,
        })
    }

    /// Pre-fills the agent's Aircall app with `to`, ready to call.
    pub async fn dial(&self, aircall_user_id: i64, to: &str) -> Result<(), CallError> {
        let response = self
            .http
            .post(format!("{}/v1/users/{aircall_user_id}/dial", self.base))
            .basic_auth(&self.api_id, Some(self.api_token.expose()))
            .json(&json!({ "to": to }))
            .send()
            .await
            .map_err(CallError::network)?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(());
        }
        let wait = wait(response.headers());
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        let detail = answer["troubleshoot"]
            .as_str()
            .or(answer["error"].as_str())
            .or(answer["message"].as_str())
            .unwrap_or("sin detalle");
        let reason = if status == 405 {
            // Aircall's answer when the agent's line cannot take the call now: offline, on a
            // call, or not set to available. Staff read this on the lead's page.
            "Tu línea de Aircall no está disponible (desconectada, en otra llamada o en pausa): \
             ponla disponible y vuelve a pulsar «Llamar»."
                .to_string()
        } else {
            format!("HTTP {status}: {detail}")
        };
        Err(CallError::from_status(status, reason, wait))
    }

    /// One page (1-based, 50 calls) of the calls between two instants.
    pub async fn list_calls(&self, from: i64, to: i64, page: u32) -> Result<CallsPage, CallError> {
        let response = self
            .http
            .get(format!("{}/v1/calls", self.base))
            .basic_auth(&self.api_id, Some(self.api_token.expose()))
            .query(&[
                ("from", from.to_string()),
                ("to", to.to_string()),
                ("page", page.to_string()),
                ("per_page", "50".to_string()),
                ("order", "asc".to_string()),
            ])
            .send()
            .await
            .map_err(CallError::network)?;
        let status = response.status().as_u16();
        let wait = wait(response.headers());
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            let calls = answer["calls"].as_array().cloned().unwrap_or_default();
            let more = answer["meta"]["next_page_link"]
                .as_str()
                .is_some_and(|link| !link.is_empty());
            let total = answer["meta"]["total"]
                .as_u64()
                .unwrap_or(calls.len() as u64);
            return Ok(CallsPage { calls, more, total });
        }
        let reason = format!(
            "HTTP {status}: {}",
            answer["troubleshoot"]
                .as_str()
                .or(answer["error"].as_str())
                .unwrap_or("sin detalle")
        );
        Err(CallError::from_status(status, reason, wait))
    }
}

#[cfg(test)]
mod tests {
    use super::wait;
    use crate::domain::Timestamp;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn aircall_says_when_its_budget_starts_again() {
        let mut headers = HeaderMap::new();
        let reset = Timestamp::now().unix() + 42;
        headers.insert("x-aircallapi-remaining", HeaderValue::from_static("0"));
        headers.insert(
            "x-aircallapi-reset",
            HeaderValue::from_str(&reset.to_string()).unwrap(),
        );
        let waited = wait(&headers).unwrap();
        assert!((41..=42).contains(&waited), "{waited}");
        headers.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(wait(&headers), Some(7), "Retry-After wins");
        assert_eq!(wait(&HeaderMap::new()), None);
    }
}
