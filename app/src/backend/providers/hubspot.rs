//! HubSpot CRM contacts: batch update (by HubSpot id), upsert (by e-mail) and create, at most
//! 100 inputs a call; each record's success or refusal comes back on its own.

use super::{retry_after, CallError};
use crate::backend::config::{Config, Secret};
use serde_json::{json, Value};

/// HubSpot's limit of inputs per batch call.
pub const BATCH_LIMIT: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Batch {
    /// `inputs[].id` is the HubSpot id.
    Update,
    /// `inputs[].id` is the e-mail (`idProperty: email`).
    Upsert,
    Create,
}

impl Batch {
    fn path(self) -> &'static str {
        match self {
            Batch::Update => "update",
            Batch::Upsert => "upsert",
            Batch::Create => "create",
        }
    }
}

/// What a batch call returned: the contacts HubSpot has now, and its per-record errors.
#[derive(Debug, Default)]
pub struct BatchAnswer {
    pub results: Vec<Value>,
    pub errors: Vec<String>,
}

pub struct HubspotClient {
    http: reqwest::Client,
    base: String,
    token: Secret,
}

impl HubspotClient {
    /// `None` while `HUBSPOT_ACCESS_TOKEN` is unset.
    pub fn from_config(config: &Config, http: reqwest::Client) -> Option<Self> {
        Some(Self {
            http,
            base: config.hubspot_api_base.trim_end_matches('/').to_string(),
            token: config.hubspot_access_token.clone()?,
        })
    }

    pub async fn batch(&self, kind: Batch, inputs: Vec<Value>) -> Result<BatchAnswer, CallError> {
        if inputs.is_empty() {
            return Ok(BatchAnswer::default());
        }
        let response = self
            .http
            .post(format!(
                "{}/crm/v3/objects/contacts/batch/{}",
                self.base,
                kind.path()
            ))
            .bearer_auth(self.token.expose())
            .json(&json!({ "inputs": inputs }))
            .send()
            .await
            .map_err(CallError::network)?;
        let status = response.status().as_u16();
        let wait = retry_after(response.headers());
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if status == 200 || status == 201 || status == 207 {
            let errors = answer["errors"]
                .as_array()
                .map(|errors| {
                    errors
                        .iter()
                        .map(|e| {
                            e["message"]
                                .as_str()
                                .unwrap_or("error sin detalle")
                                .to_string()
                        })
                        .collect()
                })
                .unwrap_or_default();
            return Ok(BatchAnswer {
                results: answer["results"].as_array().cloned().unwrap_or_default(),
                errors,
            });
        }
        let reason = format!(
            "HTTP {status}: {}",
            answer["message"].as_str().unwrap_or("sin detalle")
        );
        Err(CallError::from_status(
            status,
            reason,
            rate_limit_wait(status, &answer, wait),
        ))
    }
}

/// HubSpot's 429 names the limit it hit (`policyName`): its rolling ten-second window frees up
/// within seconds; its daily budget does not before the day turns, so the queue waits an hour
/// at a time instead of spending its attempts. `Retry-After`, when HubSpot sends it, wins.
fn rate_limit_wait(status: u16, answer: &Value, retry_after: Option<i64>) -> Option<i64> {
    if status != 429 || retry_after.is_some() {
        return retry_after;
    }
    match answer["policyName"].as_str() {
        Some("DAILY") => Some(3600),
        Some(_) => Some(10),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::rate_limit_wait;
    use serde_json::json;

    #[test]
    fn a_429_waits_as_long_as_the_limit_it_hit() {
        let daily = json!({"status": "error", "errorType": "RATE_LIMIT", "policyName": "DAILY"});
        let rolling = json!({"errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"});
        assert_eq!(rate_limit_wait(429, &daily, None), Some(3600));
        assert_eq!(rate_limit_wait(429, &rolling, None), Some(10));
        assert_eq!(
            rate_limit_wait(429, &daily, Some(30)),
            Some(30),
            "Retry-After wins"
        );
        assert_eq!(rate_limit_wait(503, &daily, None), None);
    }
}
