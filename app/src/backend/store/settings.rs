//! `settings`: settings and feature flags, read by every process.

use crate::domain::Timestamp;
use sqlx::SqliteExecutor;

pub async fn get(db: impl SqliteExecutor<'_>, key: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(key)
        .fetch_optional(db)
        .await
}

pub async fn set(
    db: impl SqliteExecutor<'_>,
    key: &str,
    value: &str,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(value)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// Keys (and values) starting with `prefix`.
pub async fn with_prefix(
    db: impl SqliteExecutor<'_>,
    prefix: &str,
) -> sqlx::Result<Vec<(String, String)>> {
    sqlx::query_as(
        "SELECT key, value FROM settings WHERE substr(key, 1, length($1)) = $1 ORDER BY key",
    )
    .bind(prefix)
    .fetch_all(db)
    .await
}

pub async fn delete(db: impl SqliteExecutor<'_>, key: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM settings WHERE key = $1")
        .bind(key)
        .execute(db)
        .await?;
    Ok(())
}
