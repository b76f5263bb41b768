//! One circuit breaker per provider, its state in `provider_breakers` so every process sees it.
//! Repeated failures open it; while open, its provider's jobs are not claimed (their attempts
//! stay as they are); after a cool-down the next job is the probe: a success closes the
//! breaker, a failure opens it again.

use super::db::Db;
use super::store::provider_breakers;
pub use super::store::provider_breakers::Breaker;
use crate::domain::{mask_personal_data, BreakerState, BreakerView, Provider, Timestamp};

/// Consecutive provider failures (rate limits, 5xx, timeouts) that open the breaker.
pub const FAILURES_TO_OPEN: i64 = 5;
/// How long an open breaker holds its provider's jobs before a probe.
pub const COOL_DOWN_SECONDS: i64 = 30;

impl Breaker {
    /// Open and still cooling down: its jobs wait.
    pub fn holds(&self, now: Timestamp) -> bool {
        self.state == BreakerState::Open
            && self
                .opened_at
                .is_none_or(|at| now.unix() - at.unix() < COOL_DOWN_SECONDS)
    }

    pub fn view(&self, tz: chrono_tz::Tz) -> BreakerView {
        let local = |t: Option<Timestamp>| t.map(|t| crate::format::local_datetime(t, tz));
        BreakerView {
            provider: self.provider.as_str().to_string(),
            open: self.state == BreakerState::Open,
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
        .any(|b| b.provider == provider && b.holds(now))
}

pub async fn all(db: &Db) -> sqlx::Result<Vec<Breaker>> {
    provider_breakers::all(&db.reader).await
}

/// The provider answered: the breaker closes.
pub async fn record_success(db: &Db, provider: Provider, now: Timestamp) -> sqlx::Result<()> {
    provider_breakers::close(&db.writer, provider, now).await
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
    let state =
        provider_breakers::count_failure(&db.writer, provider, &error, FAILURES_TO_OPEN, now)
            .await?;
    if state == Some(BreakerState::Open) {
        tracing::warn!(
            provider = provider.as_str(),
            error,
            "circuit breaker open: the provider's jobs wait"
        );
    }
    Ok(())
}
