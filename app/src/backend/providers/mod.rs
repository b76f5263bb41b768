//! Clients of the providers' APIs (reqwest with rustls, bounded timeouts), and the one way their
//! failures reach the queue: try again later (honouring the provider's `Retry-After`), or a
//! refusal with the provider's reason.

pub mod aircall;
pub mod hubspot;
pub mod whatsapp;

use std::time::Duration;

/// A provider call that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// Rate limits, 5xx, timeouts, network: worth another attempt, `retry_after` seconds from
    /// now when the provider said so.
    Retry {
        reason: String,
        retry_after: Option<i64>,
    },
    /// The provider refused this request and will again: its code and reason.
    Refused { code: Option<i64>, reason: String },
    /// The request left and no answer came back (a timeout after connecting, a cut answer): it
    /// may have happened. Not a refusal, and not safe to repeat for what must happen once (a
    /// message, a call); safe for a read.
    Unknown { reason: String },
}

impl CallError {
    /// For a read, which may always be repeated: an unknown outcome is worth another attempt.
    pub fn retry_if_unknown(self) -> Self {
        match self {
            CallError::Unknown { reason } => CallError::Retry {
                reason,
                retry_after: None,
            },
            other => other,
        }
    }

    fn network(err: reqwest::Error) -> Self {
        if err.is_connect() {
            // Nothing left: the connection was never made.
            return CallError::Retry {
                reason: format!("could not connect: {err}"),
                retry_after: None,
            };
        }
        let what = if err.is_timeout() {
            "timed out"
        } else {
            "request failed"
        };
        CallError::Unknown {
            reason: format!("{what} after the request left: {err}"),
        }
    }
}

impl CallError {
    /// A provider's HTTP error answer: 429 and 5xx pass (try later, when it said), anything
    /// else is a refusal of this request.
    pub fn from_status(status: u16, reason: String, retry_after: Option<i64>) -> Self {
        if status == 429 || status >= 500 {
            CallError::Retry {
                reason,
                retry_after,
            }
        } else {
            CallError::Refused {
                code: Some(i64::from(status)),
                reason,
            }
        }
    }
}

/// The HTTP client every provider call uses: short timeouts, so a hung provider holds a worker
/// for seconds, not minutes.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .user_agent(concat!("mini-crm/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the TLS backend initialises")
}

/// `Retry-After` in seconds (the delta form; HTTP dates are rare from these APIs), kept within
/// a second and an hour.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<i64> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<i64>()
        .ok()
        .map(|s| s.clamp(1, 3600))
}
