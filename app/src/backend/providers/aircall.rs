//! Aircall's public API: click-to-dial (`POST {AIRCALL_API_BASE}/v1/users/:id/dial`) and the
//! list of calls (`GET /v1/calls`, for backfilling calls whose webhooks never arrived).

use super::{retry_after, CallError};
use crate::backend::config::{Config, Secret};
use serde_json::{json, Value};

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
        let wait = retry_after(response.headers());
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        let detail = answer["troubleshoot"]
            .as_str()
            .or(answer["error"].as_str())
            .or(answer["message"].as_str())
            .unwrap_or("sin detalle");
        let reason = format!("HTTP {status}: {detail}");
        Err(CallError::from_status(status, reason, wait))
    }

    /// One page (1-based, 50 calls) of the calls between two instants; whether more follow.
    pub async fn list_calls(
        &self,
        from: i64,
        to: i64,
        page: u32,
    ) -> Result<(Vec<Value>, bool), CallError> {
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
        let wait = retry_after(response.headers());
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            let calls = answer["calls"].as_array().cloned().unwrap_or_default();
            let more = answer["meta"]["next_page_link"]
                .as_str()
                .is_some_and(|link| !link.is_empty());
            return Ok((calls, more));
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
