//! `api_tokens`: bearer tokens for the JSON API, stored as SHA-256 hashes.

use crate::domain::Timestamp;
use serde::{Deserialize, Serialize};
use sqlx::{FromRow, SqliteExecutor};

#[derive(Clone, Debug, PartialEq, Eq, FromRow, Serialize, Deserialize)]
pub struct ApiTokenRow {
    pub id: i64,
    pub name: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

pub async fn insert(
    db: impl SqliteExecutor<'_>,
    name: &str,
    token_hash: &str,
    created_by_user_id: Option<i64>,
    now: Timestamp,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO api_tokens (name, token_hash, created_by_user_id, created_at)
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(name)
    .bind(token_hash)
    .bind(created_by_user_id)
    .bind(now)
    .fetch_all(db)
    .await
    .and_then(super::only_row)
}

/// The token with this hash, unless it was revoked.
pub async fn find_active(
    db: impl SqliteExecutor<'_>,
    token_hash: &str,
) -> sqlx::Result<Option<ApiTokenRow>> {
    sqlx::query_as(
        "SELECT id, name, created_at, last_used_at, revoked_at FROM api_tokens
         WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(token_hash)
    .fetch_optional(db)
    .await
}

pub async fn touch(db: impl SqliteExecutor<'_>, id: i64, now: Timestamp) -> sqlx::Result<()> {
    sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn list(db: impl SqliteExecutor<'_>) -> sqlx::Result<Vec<ApiTokenRow>> {
    sqlx::query_as(
        "SELECT id, name, created_at, last_used_at, revoked_at FROM api_tokens ORDER BY id DESC",
    )
    .fetch_all(db)
    .await
}

/// Whether a token was revoked now (false: unknown or already revoked).
pub async fn revoke(db: impl SqliteExecutor<'_>, id: i64, now: Timestamp) -> sqlx::Result<bool> {
    let result =
        sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(db)
            .await?;
    Ok(result.rows_affected() == 1)
}
