//! HubSpot CRM contacts: batch update (by HubSpot id) and upsert (by e-mail, or by the unique
//! property carrying our lead id), at most 100 inputs a call, each input tagged with an
//! `objectWriteTraceId` so HubSpot can answer record by record (207); and the set-up of that
//! unique property.

use super::{retry_after, CallError};
use crate::backend::config::{Config, Secret};
use serde_json::{json, Value};

/// HubSpot's limit of inputs per batch call.
pub const BATCH_LIMIT: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Batch {
    /// `inputs[].id` is the HubSpot id.
    Update,
    /// `inputs[].id` is the value of `inputs[].idProperty`: found and updated, else created.
    Upsert,
}

impl Batch {
    fn path(self) -> &'static str {
        match self {
            Batch::Update => "update",
            Batch::Upsert => "upsert",
        }
    }
}

/// What a batch call returned: the contacts HubSpot has now, and its per-record errors.
#[derive(Debug, Default)]
pub struct BatchAnswer {
    pub results: Vec<Value>,
    pub errors: Vec<RecordError>,
}

/// One record HubSpot refused in an answer that applied the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub message: String,
    /// The `objectWriteTraceId`s of the inputs it concerns (none: HubSpot did not say).
    pub trace_ids: Vec<String>,
}

/// A contact property as HubSpot describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub unique: bool,
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

    /// One batch call. A refusal of the whole batch (HubSpot validates some batches as a
    /// whole) is `Refused` with its status: the caller splits the batch to find the record.
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
        let answer = read(response).await?;
        let errors = answer["errors"]
            .as_array()
            .map(|errors| errors.iter().map(record_error).collect())
            .unwrap_or_default();
        Ok(BatchAnswer {
            results: answer["results"].as_array().cloned().unwrap_or_default(),
            errors,
        })
    }

    /// The contact property `name`, or `None` where HubSpot has none by that name.
    pub async fn property(&self, name: &str) -> Result<Option<Property>, CallError> {
        let response = self
            .http
            .get(format!("{}/crm/v3/properties/contacts/{name}", self.base))
            .bearer_auth(self.token.expose())
            .send()
            .await
            .map_err(CallError::network)?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let answer = read(response).await?;
        Ok(Some(Property {
            unique: answer["hasUniqueValue"].as_bool().unwrap_or(false),
        }))
    }

    /// Creates the unique, read-only-for-forms text property `name` that carries our lead id.
    pub async fn create_lead_id_property(&self, name: &str) -> Result<(), CallError> {
        let response = self
            .http
            .post(format!("{}/crm/v3/properties/contacts", self.base))
            .bearer_auth(self.token.expose())
            .json(&json!({
                "name": name,
                "label": "ID de lead en mini-crm",
                "description": "Puesto por mini-crm para reconocer sus contactos; no lo cambies.",
                "groupName": "contactinformation",
                "type": "string",
                "fieldType": "text",
                "hasUniqueValue": true,
                "formField": false,
            }))
            .send()
            .await
            .map_err(CallError::network)?;
        read(response).await.map(|_| ())
    }
}

/// A 2xx answer's JSON body (200, 201, or 207 with per-record errors), or the error it
/// stands for.
async fn read(response: reqwest::Response) -> Result<Value, CallError> {
    let status = response.status().as_u16();
    let wait = retry_after(response.headers());
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        return Ok(answer);
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

/// `{"message", "context": {"objectWriteTraceId": ["…"]}}`, as HubSpot writes a record's error.
fn record_error(error: &Value) -> RecordError {
    RecordError {
        message: error["message"]
            .as_str()
            .unwrap_or("error sin detalle")
            .to_string(),
        trace_ids: error["context"]["objectWriteTraceId"]
            .as_array()
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| id.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Whether a refusal is HubSpot's whole-account answer (the token is invalid or lacks a
/// scope): every call would get it, so the queue is held instead of failing records.
pub fn refuses_the_account(code: Option<i64>) -> bool {
    matches!(code, Some(401 | 403))
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
