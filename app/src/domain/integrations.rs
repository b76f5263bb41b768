//! What the Integraciones page shows (dates already in the clinic's time zone).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueView {
    pub queue: String,
    pub pending: i64,
    pub running: i64,
    pub failed: i64,
    /// Age of the oldest pending job, in seconds.
    pub oldest_pending_seconds: Option<i64>,
    pub paused: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedJobView {
    pub id: i64,
    pub queue: String,
    pub kind: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub last_error: String,
    pub created: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEventView {
    pub id: i64,
    pub provider: String,
    pub event_type: Option<String>,
    pub status: String,
    pub received: String,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// A delivery as received: headers and body (pretty-printed when it is JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookPayload {
    pub id: i64,
    pub headers: String,
    pub body: String,
}
