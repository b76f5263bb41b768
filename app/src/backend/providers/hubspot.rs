//! HubSpot CRM contacts: batch read by e-mail, batch update (by HubSpot id) and batch upsert
//! (by the unique property that carries our lead key), at most 100 inputs a call, each input
//! tagged with an `objectWriteTraceId` so HubSpot can answer record by record; and the set-up
//! of that unique property.

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

/// How HubSpot took a batch.
#[derive(Debug)]
pub enum BatchOutcome {
    /// Applied, record by record: the contacts HubSpot has now, and the records it refused.
    Answered {
        results: Vec<Value>,
        errors: Vec<RecordError>,
    },
    /// Refused whole for what some record holds (400 validation, 404 not found, 409 conflict):
    /// nothing was written.
    Refused(Refusal),
}

/// HubSpot's refusal of a whole batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    /// `VALIDATION_ERROR`, `CONFLICT`, `OBJECT_NOT_FOUND`…
    pub category: String,
    pub message: String,
}

impl Refusal {
    /// Whether it is about a record's data (split the batch to find it) rather than about the
    /// request (a person must look).
    pub fn is_about_a_record(&self) -> bool {
        matches!(
            self.category.as_str(),
            "VALIDATION_ERROR" | "CONFLICT" | "OBJECT_NOT_FOUND"
        )
    }
}

/// One record HubSpot refused in an answer that applied the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub message: String,
    /// The `objectWriteTraceId`s of the inputs it concerns (none: HubSpot did not say).
    pub trace_ids: Vec<String>,
}

/// A contact found by a batch read, with the properties asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub id: String,
    pub properties: serde_json::Map<String, Value>,
}

impl Found {
    /// A property's value, `None` when empty or absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.properties
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.trim().is_empty())
    }
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

    fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/crm/v3/{path}", self.base))
            .bearer_auth(self.token.expose())
            .json(body)
    }

    /// One batch update or upsert.
    pub async fn batch(&self, kind: Batch, inputs: Vec<Value>) -> Result<BatchOutcome, CallError> {
        if inputs.is_empty() {
            return Ok(BatchOutcome::Answered {
                results: Vec::new(),
                errors: Vec::new(),
            });
        }
        let path = format!("objects/contacts/batch/{}", kind.path());
        let response = self
            .post(&path, &json!({ "inputs": inputs }))
            .send()
            .await
            .map_err(CallError::network)?;
        let status = response.status().as_u16();
        if matches!(status, 400 | 404 | 409) {
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            return Ok(BatchOutcome::Refused(Refusal {
                status,
                category: answer["category"].as_str().unwrap_or_default().to_string(),
                message: message(&answer),
            }));
        }
        let answer = read(response).await?;
        let results = answer["results"].as_array().cloned().unwrap_or_default();
        let errors: Vec<RecordError> = answer["errors"]
            .as_array()
            .map(|errors| errors.iter().map(record_error).collect())
            .unwrap_or_default();
        if results.is_empty() && errors.is_empty() {
            // Not an answer HubSpot documents: nothing can be concluded of any record.
            return Err(CallError::Retry {
                reason: "HubSpot answered a batch with neither results nor errors".into(),
                retry_after: None,
            });
        }
        Ok(BatchOutcome::Answered { results, errors })
    }

    /// The contacts whose unique `id_property` (`email`, or our key's) has one of `values`,
    /// with `properties`; a value no contact has is left out (HubSpot lists it as an error of
    /// its 207). E-mails are compared without case.
    pub async fn read(
        &self,
        id_property: &str,
        values: &[&str],
        properties: &[&str],
    ) -> Result<Vec<Found>, CallError> {
        if values.is_empty() {
            return Ok(Vec::new());
        }
        let inputs: Vec<Value> = values.iter().map(|v| json!({ "id": v })).collect();
        let body = json!({ "idProperty": id_property, "properties": properties,
                           "inputs": inputs });
        let response = self
            .post("objects/contacts/batch/read", &body)
            .send()
            .await
            .map_err(CallError::network)?;
        let answer = read(response).await?;
        Ok(answer["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|contact| {
                Some(Found {
                    id: contact["id"].as_str()?.to_string(),
                    properties: contact["properties"].as_object()?.clone(),
                })
            })
            .collect())
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

    /// Creates the unique text property `name` that carries our lead key. `false` when HubSpot
    /// already had one by that name (made meanwhile by another set-up).
    pub async fn create_lead_key_property(&self, name: &str) -> Result<bool, CallError> {
        let body = json!({
            "name": name,
            "label": "Clave de lead en mini-crm",
            "description": "Puesta por mini-crm para reconocer sus contactos; no la cambies.",
            "groupName": "contactinformation",
            "type": "string",
            "fieldType": "text",
            "hasUniqueValue": true,
            "formField": false,
        });
        let response = self
            .post("properties/contacts", &body)
            .send()
            .await
            .map_err(CallError::network)?;
        if response.status() == reqwest::StatusCode::CONFLICT {
            return Ok(false);
        }
        read(response).await.map(|_| true)
    }
}

/// HubSpot's error text: its `message`, else the first of its `errors`.
fn message(answer: &Value) -> String {
    answer["message"]
        .as_str()
        .or(answer["errors"][0]["message"].as_str())
        .unwrap_or("sin detalle")
        .to_string()
}

/// A 2xx answer's JSON body (200, 201, or 207 with per-record errors), or the error it
/// stands for: 429, 5xx and HubSpot's temporary 408, 423 (locked) and 477 (migration in
/// progress) pass; any other status refuses the request.
async fn read(response: reqwest::Response) -> Result<Value, CallError> {
    let status = response.status().as_u16();
    let wait = retry_after(response.headers());
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        return Ok(answer);
    }
    let reason = format!("HTTP {status}: {}", message(&answer));
    if matches!(status, 408 | 423 | 477) {
        return Err(CallError::Retry {
            reason,
            retry_after: wait,
        });
    }
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
