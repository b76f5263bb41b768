//! One circuit breaker per provider, its state in `provider_breakers` so every process sees it.
//! Repeated failures open it; while open, its provider's jobs are not claimed (their attempts
//! stay as they are); after a cool-down the next job is the probe: a success closes the
//! breaker, a failure opens it again.

use super::db::Db;
use crate::domain::{mask_personal_data, BreakerView, Provider, Timestamp};
use sqlx::FromRow;

/// Consecutive provider failures (rate limits, 5xx, timeouts) that open the breaker.
pub const FAILURES_TO_OPEN: i64 = 5;
/// How long an open breaker holds its provider's jobs before a probe.
pub const COOL_DOWN_SECONDS: i64 = 30;

#[derive(Clone, Debug, FromRow)]
pub struct Breaker {
    pub provider: String,
    pub state: String,
    pub failures: i64,
    pub opened_at: Option<Timestamp>,
    pub last_success_at: Option<Timestamp>,
    pub last_error_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

impl Breaker {
    /// Open and still cooling down: its jobs wait.
    pub fn holds(&self, now: Timestamp) -> bool {
        self.state == "open"
            && self
                .opened_at
                .is_none_or(|at| now.unix() - at.unix() < COOL_DOWN_SECONDS)
    }

    pub fn view(&self, tz: chrono_tz::Tz) -> BreakerView {
        let local = |t: Option<Timestamp>| t.map(|t| crate::format::local_datetime(t, tz));
        BreakerView {
            provider: self.provider.clone(),
            open: self.state == "open",
            failures: self.failures,
            opened: local(self.opened_at),
            last_success: local(self.last_success_at),
            last_error_at: local(self.last_error_at),
            last_error: self.last_error.clone(),
        }
    }
}

/// Whether `provider`'s breaker among `breakers` holds its work now (open, cooling down).
pub fn holds(breakers: &[Breaker], provider: Provider, now: Timestamp) -> bool {
    breakers
        .iter()
        .any(|b| b.provider == provider.as_str() && b.holds(now))
}

pub async fn all(db: &Db) -> sqlx::Result<Vec<Breaker>> {
    sqlx::query_as(
        "SELECT provider, state, failures, opened_at, last_success_at, last_error_at, last_error
         FROM provider_breakers ORDER BY provider",
    )
    .fetch_all(&db.reader)
    .await
}

/// The provider answered: the breaker closes.
pub async fn record_success(db: &Db, provider: Provider, now: Timestamp) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE provider_breakers SET state = 'closed', failures = 0, opened_at = NULL,
             last_success_at = $2
         WHERE provider = $1",
    )
    .bind(provider.as_str())
    .bind(now)
    .execute(&db.writer)
    .await?;
    Ok(())
}

/// The provider failed in a way that may pass (not a refusal of one request). The breaker
/// opens at [`FAILURES_TO_OPEN`] in a row, and again at once when a probe fails.
pub async fn record_failure(
    db: &Db,
    provider: Provider,
    error: &str,
    now: Timestamp,
) -> sqlx::Result<()> {
    let error = mask_personal_data(error);
    let opened: Option<String> = sqlx::query_scalar(
        "UPDATE provider_breakers SET failures = failures + 1, last_error_at = $2, last_error = $3,
             state = CASE WHEN failures + 1 >= $4 OR state = 'open' THEN 'open' ELSE state END,
             opened_at = CASE WHEN failures + 1 >= $4 OR state = 'open' THEN $2 ELSE opened_at END
         WHERE provider = $1
         RETURNING state",
    )
    .bind(provider.as_str())
    .bind(now)
    .bind(&error)
    .bind(FAILURES_TO_OPEN)
    .fetch_all(&db.writer)
    .await
    .map(super::store::first_row)?;
    if opened.as_deref() == Some("open") {
        tracing::warn!(
            provider = provider.as_str(),
            error,
            "circuit breaker open: the provider's jobs wait"
        );
    }
    Ok(())
}
