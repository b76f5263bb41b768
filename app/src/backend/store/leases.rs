//! `leases`: one holder at a time, across processes, for work that must not run twice at once.

use crate::domain::Timestamp;
use sqlx::SqliteExecutor;

/// Takes or renews lease `name` for `owner` until `until`: free, expired, or already `owner`'s.
/// `false` while another holder's lease runs.
pub async fn take(
    db: impl SqliteExecutor<'_>,
    name: &str,
    owner: &str,
    until: Timestamp,
    now: Timestamp,
) -> sqlx::Result<bool> {
    let taken = sqlx::query(
        "INSERT INTO leases (name, owner, until) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
         WHERE leases.owner = excluded.owner OR leases.until <= $4",
    )
    .bind(name)
    .bind(owner)
    .bind(until)
    .bind(now)
    .execute(db)
    .await?
    .rows_affected();
    Ok(taken == 1)
}

/// Gives lease `name` back, if `owner` still holds it.
pub async fn release(db: impl SqliteExecutor<'_>, name: &str, owner: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM leases WHERE name = $1 AND owner = $2")
        .bind(name)
        .bind(owner)
        .execute(db)
        .await?;
    Ok(())
}
