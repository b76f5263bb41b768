//! `login_failures`: failed sign-ins, counted per account and per client address.

use crate::domain::Timestamp;
use sqlx::SqliteExecutor;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Account,
    Ip,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Account => "account",
            Scope::Ip => "ip",
        }
    }
}

pub async fn record(
    db: impl SqliteExecutor<'_>,
    scope: Scope,
    subject: &str,
    at: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO login_failures (scope, subject, failed_at) VALUES ($1, $2, $3)")
        .bind(scope.as_str())
        .bind(subject)
        .bind(at)
        .execute(db)
        .await?;
    Ok(())
}

/// The failures since `since` and the oldest of them (which is the first to expire).
pub async fn count_since(
    db: impl SqliteExecutor<'_>,
    scope: Scope,
    subject: &str,
    since: Timestamp,
) -> sqlx::Result<(i64, Option<Timestamp>)> {
    sqlx::query_as(
        "SELECT COUNT(*), MIN(failed_at) FROM login_failures
         WHERE scope = $1 AND subject = $2 AND failed_at >= $3",
    )
    .bind(scope.as_str())
    .bind(subject)
    .bind(since)
    .fetch_one(db)
    .await
}

/// A successful sign-in forgives the account's earlier failures (not the address's).
pub async fn clear(db: impl SqliteExecutor<'_>, scope: Scope, subject: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM login_failures WHERE scope = $1 AND subject = $2")
        .bind(scope.as_str())
        .bind(subject)
        .execute(db)
        .await?;
    Ok(())
}

/// Old rows are useless to the throttle; removed on each failure so the table stays small.
pub async fn prune_before(db: impl SqliteExecutor<'_>, before: Timestamp) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM login_failures WHERE failed_at < $1")
        .bind(before)
        .execute(db)
        .await?;
    Ok(())
}
