//! What the Integraciones page shows (dates already in the clinic's time zone).

use super::Provider;
use serde::{Deserialize, Serialize};

/// Where a stored delivery is in its processing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ssr", derive(sqlx::Type), sqlx(rename_all = "lowercase"))]
pub enum WebhookStatus {
    Pending,
    Processed,
    Failed,
}

impl WebhookStatus {
    pub const ALL: [WebhookStatus; 3] = [
        WebhookStatus::Pending,
        WebhookStatus::Processed,
        WebhookStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookStatus::Pending => "pending",
            WebhookStatus::Processed => "processed",
            WebhookStatus::Failed => "failed",
        }
    }

    /// The name staff see.
    pub fn label(self) -> &'static str {
        match self {
            WebhookStatus::Pending => "Pendiente",
            WebhookStatus::Processed => "Procesado",
            WebhookStatus::Failed => "Fallido",
        }
    }
}

impl std::fmt::Display for WebhookStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, not `write_str`: the CLI lines its columns up with `{:<9}`.
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for WebhookStatus {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        WebhookStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
            .ok_or_else(|| {
                format!("unknown webhook status {value:?}: expected pending, processed or failed")
            })
    }
}

/// A provider's circuit breaker: closed lets calls through, open holds them, half-open lets one
/// try.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(sqlx::Type), sqlx(rename_all = "snake_case"))]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueView {
    pub queue: String,
    pub pending: i64,
    pub running: i64,
    pub failed: i64,
    /// Age of the oldest pending job, in seconds.
    pub oldest_pending_seconds: Option<i64>,
    /// Why its jobs are not being claimed (a pause, a flag, maintenance, an open breaker).
    pub held: Option<String>,
}

/// A provider's circuit breaker (dates in the clinic's time zone).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerView {
    pub provider: String,
    pub open: bool,
    /// Failures in a row.
    pub failures: i64,
    pub opened: Option<String>,
    pub last_success: Option<String>,
    pub last_error_at: Option<String>,
    pub last_error: Option<String>,
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
    pub provider: Provider,
    pub event_type: Option<String>,
    pub status: WebhookStatus,
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

/// The flags and settings admins steer in Ajustes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsView {
    pub whatsapp_outbound: bool,
    pub calls_ui: bool,
    /// `live`, `deferred` or `off`.
    pub hubspot_sync_mode: String,
    pub backup_phone: String,
    /// Provider queues (`whatsapp`, `aircall`, `hubspot`) and whether each is paused.
    pub paused: Vec<(String, bool)>,
    /// Which values these are: a save from a page shown before a change is refused.
    pub version: String,
}
