//! `login_attempts`: sign-ins not known to have succeeded, per (account, client address).

use crate::domain::Timestamp;
use sqlx::SqliteExecutor;

/// How many attempts, and the latest, since some instant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attempts {
    pub count: i64,
    pub latest: Option<Timestamp>,
}

pub async fn record(
    db: impl SqliteExecutor<'_>,
    account: &str,
    client: &str,
    at: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO login_attempts (account, client, attempted_at) VALUES ($1, $2, $3)")
        .bind(account)
        .bind(client)
        .bind(at)
        .execute(db)
        .await?;
    Ok(())
}

/// The attempts on `account` from `client` since `since`.
pub async fn of_pair(
    db: impl SqliteExecutor<'_>,
    account: &str,
    client: &str,
    since: Timestamp,
) -> sqlx::Result<Attempts> {
    let (count, latest) = sqlx::query_as(
        "SELECT COUNT(*), MAX(attempted_at) FROM login_attempts
         WHERE account = $1 AND client = $2 AND attempted_at >= $3",
    )
    .bind(account)
    .bind(client)
    .bind(since)
    .fetch_one(db)
    .await?;
    Ok(Attempts { count, latest })
}

/// The attempts from `client` on any account since `since`.
pub async fn of_client(
    db: impl SqliteExecutor<'_>,
    client: &str,
    since: Timestamp,
) -> sqlx::Result<Attempts> {
    let (count, latest) = sqlx::query_as(
        "SELECT COUNT(*), MAX(attempted_at) FROM login_attempts
         WHERE client = $1 AND attempted_at >= $2",
    )
    .bind(client)
    .bind(since)
    .fetch_one(db)
    .await?;
    Ok(Attempts { count, latest })
}

/// A successful sign-in forgives its own pair's failures (not the address's on other accounts).
pub async fn forgive(db: impl SqliteExecutor<'_>, account: &str, client: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM login_attempts WHERE account = $1 AND client = $2")
        .bind(account)
        .bind(client)
        .execute(db)
        .await?;
    Ok(())
}

/// Rows older than the throttle's memory are useless to it; removed as attempts come.
pub async fn prune_before(db: impl SqliteExecutor<'_>, before: Timestamp) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM login_attempts WHERE attempted_at < $1")
        .bind(before)
        .execute(db)
        .await?;
    Ok(())
}

/// Every attempt on `account`, from anywhere; how many there were.
pub async fn forget_account(db: impl SqliteExecutor<'_>, account: &str) -> sqlx::Result<u64> {
    let result = sqlx::query("DELETE FROM login_attempts WHERE account = $1")
        .bind(account)
        .execute(db)
        .await?;
    Ok(result.rows_affected())
}
