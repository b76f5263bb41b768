//! `provider_breakers`: one circuit breaker per provider, shared by every process.

use crate::domain::{BreakerState, Provider, Timestamp};
use sqlx::{FromRow, SqliteExecutor};

#[derive(Clone, Debug, FromRow)]
pub struct Breaker {
    pub provider: Provider,
    pub state: BreakerState,
    pub failures: i64,
    pub opened_at: Option<Timestamp>,
    pub last_success_at: Option<Timestamp>,
    pub last_error_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

pub async fn all(db: impl SqliteExecutor<'_>) -> sqlx::Result<Vec<Breaker>> {
    sqlx::query_as(
        "SELECT provider, state, failures, opened_at, last_success_at, last_error_at, last_error
         FROM provider_breakers ORDER BY provider",
    )
    .fetch_all(db)
    .await
}

/// Closed, its failures forgotten.
pub async fn close(
    db: impl SqliteExecutor<'_>,
    provider: Provider,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE provider_breakers SET state = 'closed', failures = 0, opened_at = NULL,
             last_success_at = $2
         WHERE provider = $1",
    )
    .bind(provider)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// One more failure in a row (its `error` already masked); opens at `failures_to_open` in a
/// row, and again at once when it was open (a failed probe). The state it is left in.
pub async fn count_failure(
    db: impl SqliteExecutor<'_>,
    provider: Provider,
    error: &str,
    failures_to_open: i64,
    now: Timestamp,
) -> sqlx::Result<Option<BreakerState>> {
    sqlx::query_scalar(
        "UPDATE provider_breakers SET failures = failures + 1, last_error_at = $2, last_error = $3,
             state = CASE WHEN failures + 1 >= $4 OR state = 'open' THEN 'open' ELSE state END,
             opened_at = CASE WHEN failures + 1 >= $4 OR state = 'open' THEN $2 ELSE opened_at END
         WHERE provider = $1
         RETURNING state",
    )
    .bind(provider)
    .bind(now)
    .bind(error)
    .bind(failures_to_open)
    .fetch_all(db)
    .await
    .map(super::first_row)
}
