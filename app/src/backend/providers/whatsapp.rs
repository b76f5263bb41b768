//! WhatsApp Cloud API: `POST {WHATSAPP_API_BASE}/{phone_number_id}/messages`.

use super::{retry_after, CallError};
use crate::backend::config::{Config, Secret};
use serde_json::{json, Value};

/// What to send.
pub enum Outbound<'a> {
    Text(&'a str),
    /// An approved template: its name, the language it was approved in, the values of its body
    /// variables in order.
    Template {
        name: &'a str,
        language: &'a str,
        parameters: Vec<String>,
    },
}

pub struct WhatsappClient {
    http: reqwest::Client,
    base: String,
    phone_number_id: String,
    token: Secret,
}

/// Meta's error codes that mean "later" (PROVIDERS.md): throughput, per-recipient and account
/// rate limits, the app's rate limit, transient errors.
const RETRY_CODES: [i64; 6] = [130_429, 131_056, 80_007, 4, 131_000, 131_016];
/// More than 24 hours since the lead's last message: only templates.
pub const NEEDS_TEMPLATE: i64 = 131_047;
/// Refusals of the whole account, not of one message (Meta's error codes): an expired or
/// invalid token (190), missing permissions (10, 200), a locked account (131031), a payment
/// problem (131042), a template that does not exist in that language or whose parameters do not
/// match (132000, 132001). Every message would be refused the same way: the queue is held.
pub const ACCOUNT_WIDE: [i64; 7] = [190, 10, 200, 131_031, 131_042, 132_000, 132_001];

impl WhatsappClient {
    /// `None` while `WHATSAPP_ACCESS_TOKEN` or `WHATSAPP_PHONE_NUMBER_ID` is unset.
    pub fn from_config(config: &Config, http: reqwest::Client) -> Option<Self> {
        Some(Self {
            http,
            base: config.whatsapp_api_base.trim_end_matches('/').to_string(),
            phone_number_id: config.whatsapp_phone_number_id.clone()?,
            token: config.whatsapp_access_token.clone()?,
        })
    }

    /// Sends one message; Meta's message id (`wamid`) when accepted.
    pub async fn send(&self, to: &str, message: &Outbound<'_>) -> Result<String, CallError> {
        let mut body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
        });
        match message {
            Outbound::Text(text) => {
                body["type"] = json!("text");
                body["text"] = json!({ "preview_url": false, "body": text });
            }
            Outbound::Template {
                name,
                language,
                parameters,
            } => {
                body["type"] = json!("template");
                body["template"] = json!({ "name": name, "language": { "code": language } });
                if !parameters.is_empty() {
                    let values: Vec<Value> = parameters
                        .iter()
                        .map(|text| json!({ "type": "text", "text": text }))
                        .collect();
                    body["template"]["components"] =
                        json!([{ "type": "body", "parameters": values }]);
                }
            }
        }
        let response = self
            .http
            .post(format!("{}/{}/messages", self.base, self.phone_number_id))
            .bearer_auth(self.token.expose())
            .json(&body)
            .send()
            .await
            .map_err(CallError::network)?;
        let status = response.status();
        let wait = retry_after(response.headers());
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return answer["messages"][0]["id"]
                .as_str()
                .map(str::to_string)
                // Accepted, but which message is it? Sent, most likely: never twice.
                .ok_or_else(|| CallError::Unknown {
                    reason: format!("accepted without a message id: {answer}"),
                });
        }
        Err(classify(status.as_u16(), &answer, wait))
    }
}

/// Meta's error body `{"error": {"code", "message", "error_data": {"details"}}}` → the queue's
/// view of it.
fn classify(status: u16, answer: &Value, retry_after: Option<i64>) -> CallError {
    let error = &answer["error"];
    let code = error["code"].as_i64();
    let message = error["error_data"]["details"]
        .as_str()
        .or(error["message"].as_str())
        .unwrap_or("sin detalle");
    let reason = match code {
        Some(code) => format!("HTTP {status}, código {code}: {message}"),
        None => format!("HTTP {status}: {message}"),
    };
    match code {
        Some(NEEDS_TEMPLATE) => CallError::Refused {
            code,
            reason: "Han pasado más de 24 horas desde el último mensaje del lead: hace falta una plantilla."
                .to_string(),
        },
        Some(c) if RETRY_CODES.contains(&c) => CallError::Retry { reason, retry_after },
        Some(_) if status != 429 && status < 500 => CallError::Refused { code, reason },
        _ => CallError::from_status(status, reason, retry_after),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta_error(code: i64) -> Value {
        json!({ "error": { "message": "x", "code": code, "error_data": { "details": "detalle" } } })
    }

    #[test]
    fn meta_errors_map_to_later_or_refused() {
        for code in RETRY_CODES {
            assert!(
                matches!(
                    classify(400, &meta_error(code), None),
                    CallError::Retry { .. }
                ),
                "{code}"
            );
        }
        assert!(matches!(
            classify(503, &Value::Null, Some(30)),
            CallError::Retry {
                retry_after: Some(30),
                ..
            }
        ));
        assert!(matches!(
            classify(429, &Value::Null, None),
            CallError::Retry { .. }
        ));
        let CallError::Refused { code, reason } = classify(400, &meta_error(NEEDS_TEMPLATE), None)
        else {
            panic!("131047 is a refusal");
        };
        assert_eq!(code, Some(NEEDS_TEMPLATE));
        assert!(reason.contains("plantilla"));
        assert_eq!(
            classify(400, &meta_error(131_026), None),
            CallError::Refused {
                code: Some(131_026),
                reason: "HTTP 400, código 131026: detalle".into()
            }
        );
    }
}
