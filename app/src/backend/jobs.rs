//! The persistent job queue's vocabulary: a job is a serde struct with a `NAME`, a queue and its
//! max attempts; what it can reach (`JobContext`), how it fails (`JobError`), how it is queued,
//! and the back-off between attempts. The worker (`backend::worker`) claims and runs jobs; its
//! registry, not this module, knows every kind, so the modules that define jobs import this one
//! and nothing here imports them back.

use super::config::Config;
use super::db::Db;
use super::providers::CallError;
use super::store::jobs;
use crate::domain::{Queue, Timestamp};
use serde::{de::DeserializeOwned, Serialize};
use std::sync::Arc;

/// What jobs can reach.
#[derive(Clone, Debug)]
pub struct JobContext {
    pub db: Db,
    pub config: Arc<Config>,
    /// Shared by every provider call (connection reuse).
    pub http: reqwest::Client,
}

impl JobContext {
    /// For a process without an `AppState` (the CLI's workers).
    pub fn new(db: Db, config: Arc<Config>) -> Self {
        Self {
            db,
            config,
            http: super::providers::http_client(),
        }
    }
}

/// How a job run can fail.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth trying again later (network, rate limit, a locked database).
    #[error("{0:#}")]
    Retryable(anyhow::Error),
    /// Worth trying again, not before this many seconds (a provider's `Retry-After`).
    #[error("{0:#}")]
    RetryAfter(anyhow::Error, i64),
    /// Trying again cannot help (bad payload, a refusal that will not change).
    #[error("{0:#}")]
    Permanent(anyhow::Error),
    /// The job's queue is held now (its provider refused the whole account): back to waiting,
    /// its attempt not spent; it runs when the hold is lifted.
    #[error("{0:#}")]
    Held(anyhow::Error),
}

impl JobError {
    /// The same failure, its message led by `what` ("WhatsApp send of message 12: …").
    pub fn context(self, what: &str) -> Self {
        match self {
            JobError::Retryable(e) => JobError::Retryable(e.context(what.to_string())),
            JobError::RetryAfter(e, s) => JobError::RetryAfter(e.context(what.to_string()), s),
            JobError::Permanent(e) => JobError::Permanent(e.context(what.to_string())),
            JobError::Held(e) => JobError::Held(e.context(what.to_string())),
        }
    }
}

impl From<CallError> for JobError {
    /// A provider call's failure as the queue takes it: later (when the provider said), never
    /// (a refusal), or never by itself (the outcome is unknown: a person decides).
    fn from(err: CallError) -> Self {
        match err {
            CallError::Retry {
                reason,
                retry_after: Some(seconds),
            } => JobError::RetryAfter(anyhow::anyhow!(reason), seconds),
            CallError::Retry { reason, .. } => JobError::Retryable(anyhow::anyhow!(reason)),
            CallError::Refused { reason, .. } => JobError::Permanent(anyhow::anyhow!(reason)),
            CallError::Unknown { reason } => JobError::Permanent(anyhow::anyhow!(
                "outcome unknown ({reason}); not repeated by itself"
            )),
        }
    }
}

pub trait Job: Serialize + DeserializeOwned {
    /// Stored in `jobs.kind`; never rename one that may be queued.
    const NAME: &'static str;
    const QUEUE: Queue;
    const MAX_ATTEMPTS: i64;

    fn run(
        self,
        ctx: &JobContext,
    ) -> impl std::future::Future<Output = Result<(), JobError>> + Send;
}

/// Queues several jobs of one kind (due now) in one statement.
pub async fn enqueue_all<J: Job>(
    db: impl sqlx::SqliteExecutor<'_>,
    jobs: &[J],
    now: Timestamp,
) -> sqlx::Result<()> {
    enqueue_at(db, jobs, now, now).await
}

/// Queues jobs of one kind to run from `run_at` on.
pub async fn enqueue_at<J: Job>(
    db: impl sqlx::SqliteExecutor<'_>,
    jobs: &[J],
    run_at: Timestamp,
    now: Timestamp,
) -> sqlx::Result<()> {
    let payloads: Vec<String> = jobs
        .iter()
        .map(|job| serde_json::to_string(job).expect("job payloads serialize"))
        .collect();
    jobs::enqueue_many(
        db,
        J::NAME,
        J::QUEUE,
        &payloads,
        J::MAX_ATTEMPTS,
        run_at,
        now,
    )
    .await
}

/// Seconds before attempt `attempts + 1`: 5 s · 2^(attempts − 1), capped at an hour, ±20 % jitter
/// so a burst of failures does not retry in lockstep.
pub fn backoff_seconds(attempts: i64, jitter: f64) -> i64 {
    let base = 5.0 * 2f64.powi((attempts.max(1) - 1).min(20) as i32);
    (base.min(3600.0) * (0.8 + 0.4 * jitter.clamp(0.0, 1.0))).round() as i64
}

#[cfg(test)]
mod tests {
    use super::backoff_seconds;

    #[test]
    fn backoff_doubles_then_caps_with_bounded_jitter() {
        assert_eq!(backoff_seconds(1, 0.5), 5);
        assert_eq!(backoff_seconds(2, 0.5), 10);
        assert_eq!(backoff_seconds(5, 0.5), 80);
        assert_eq!(backoff_seconds(30, 0.5), 3600);
        assert_eq!(backoff_seconds(1, 0.0), 4);
        assert_eq!(backoff_seconds(1, 1.0), 6);
        assert_eq!(backoff_seconds(30, 1.0), 4320);
    }
}
