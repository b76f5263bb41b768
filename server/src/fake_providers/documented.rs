//! Every error the providers document for the calls the app makes, by name, so a test or a
//! drill can have the fake answer exactly that (`{"provider": "whatsapp", "mode": "131047"}`):
//! Meta's Cloud API error codes, Aircall's statuses for dial and calls, HubSpot's categories.

use super::Answer;
use serde_json::{json, Value};

/// `(provider, name, HTTP status, message)`; Meta's names are its error codes.
const ERRORS: &[(&str, &str, u16, &str)] = &[
    ("whatsapp", "4", 400, "Application request limit reached"),
    ("whatsapp", "10", 403, "Application does not have permission for this action"),
    ("whatsapp", "100", 400, "Invalid parameter"),
    ("whatsapp", "190", 401, "Error validating access token: Session has expired"),
    ("whatsapp", "200", 403, "Permissions error"),
    ("whatsapp", "80007", 400, "Rate limit issues"),
    ("whatsapp", "130429", 400, "Rate limit hit"),
    ("whatsapp", "131000", 500, "Something went wrong"),
    ("whatsapp", "131009", 400, "Parameter value is not valid"),
    ("whatsapp", "131016", 503, "Service unavailable"),
    ("whatsapp", "131026", 400, "Message undeliverable"),
    ("whatsapp", "131031", 403, "Account has been locked"),
    ("whatsapp", "131042", 400, "Business eligibility payment issue"),
    ("whatsapp", "131047", 400, "Re-engagement message"),
    ("whatsapp", "131051", 400, "Unsupported message type"),
    ("whatsapp", "131056", 400, "(Business Account, Consumer Account) pair rate limit hit"),
    ("whatsapp", "132000", 400, "Number of parameters does not match the expected number of params"),
    ("whatsapp", "132001", 400, "Template name does not exist in the translation"),
    ("aircall", "400", 400, "Bad Request"),
    ("aircall", "401", 401, "Unauthorized"),
    ("aircall", "403", 403, "Forbidden"),
    ("aircall", "404", 404, "User not found"),
    ("aircall", "405", 405, "User is not available"),
    ("aircall", "429", 429, "Too Many Requests"),
    ("aircall", "500", 500, "Internal Server Error"),
    ("hubspot", "400", 400, "Property values were not valid"),
    ("hubspot", "401", 401, "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"),
    ("hubspot", "403", 403, "This app hasn't been granted all required scopes to make this call."),
    ("hubspot", "404", 404, "Object not found. objectId are usually numeric."),
    ("hubspot", "409", 409, "Contact already exists. Existing ID: 95310000001"),
    ("hubspot", "414", 414, "Request-URI Too Long"),
    ("hubspot", "423", 423, "Locked: too many requests to the same record at once"),
    ("hubspot", "477", 477, "Migration in progress"),
    ("hubspot", "500", 500, "Internal error"),
    ("hubspot", "503", 503, "Service unavailable"),
    ("hubspot", "429-ten-secondly", 429, "You have reached your ten_secondly_rolling limit."),
    ("hubspot", "429-daily", 429, "You have reached your daily limit."),
    ("hubspot", "502", 502, "Bad Gateway"),
    ("hubspot", "504", 504, "Gateway Timeout"),
];

/// Every documented error's `(provider, name)`.
pub fn names() -> impl Iterator<Item = (&'static str, &'static str)> {
    ERRORS.iter().map(|(provider, name, ..)| (*provider, *name))
}

/// The answer `provider` gives for its documented error `name`, with its body as the provider
/// writes it and the headers that come with it.
pub fn answer(provider: &str, name: &str, now_unix: u64) -> Option<Answer> {
    let (_, _, status, message) = ERRORS
        .iter()
        .find(|(p, n, ..)| *p == provider && *n == name)?;
    let (status, message) = (*status, *message);
    let mut headers = Vec::new();
    let body: Value = match provider {
        "whatsapp" => {
            let code: i64 = name.parse().unwrap_or_default();
            json!({ "error": { "message": format!("(#{code}) {message}"), "type": "OAuthException",
                               "code": code,
                               "error_data": { "messaging_product": "whatsapp", "details": message },
                               "fbtrace_id": "AfakeTraceId" } })
        }
        "aircall" => {
            if status == 429 {
                headers.push(("x-aircallapi-limit", "60".to_string()));
                headers.push(("x-aircallapi-remaining", "0".to_string()));
                headers.push(("x-aircallapi-reset", (now_unix + 60).to_string()));
            }
            json!({ "error": message, "troubleshoot": message })
        }
        _ => {
            let (category, policy) = match name {
                "400" => ("VALIDATION_ERROR", None),
                "401" => ("INVALID_AUTHENTICATION", None),
                "403" => ("MISSING_SCOPES", None),
                "404" => ("OBJECT_NOT_FOUND", None),
                "409" => ("CONFLICT", None),
                "429-ten-secondly" => ("RATE_LIMITS", Some("TEN_SECONDLY_ROLLING")),
                "429-daily" => ("RATE_LIMITS", Some("DAILY")),
                _ => ("INTERNAL_ERROR", None),
            };
            let mut body = json!({ "status": "error", "message": message, "category": category,
                                   "correlationId": "00000000-0000-4000-8000-000000000000" });
            if let Some(policy) = policy {
                body["errorType"] = json!("RATE_LIMIT");
                body["policyName"] = json!(policy);
            }
            body
        }
    };
    Some((status, headers, body))
}
