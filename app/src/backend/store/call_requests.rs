//! `call_requests`: click-to-call requests from a lead's page, sent to Aircall by the queue.

use crate::domain::{mask_personal_data, Timestamp};
use sqlx::SqliteExecutor;

pub async fn insert(
    db: impl SqliteExecutor<'_>,
    lead_id: i64,
    user_id: i64,
    aircall_user_id: i64,
    phone: &str,
    now: Timestamp,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO call_requests (lead_id, user_id, aircall_user_id, phone, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
    )
    .bind(lead_id)
    .bind(user_id)
    .bind(aircall_user_id)
    .bind(phone)
    .bind(now)
    .fetch_all(db)
    .await
    .and_then(super::only_row)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CallRequestRecord {
    pub id: i64,
    pub aircall_user_id: i64,
    pub phone: String,
    pub status: String,
    pub error: Option<String>,
    pub send_started_at: Option<Timestamp>,
    pub user_name: Option<String>,
    pub created_at: Timestamp,
}

const COLUMNS: &str = "r.id, r.aircall_user_id, r.phone, r.status, r.error, r.send_started_at,
    u.name AS user_name, r.created_at
    FROM call_requests r LEFT JOIN users u ON u.id = r.user_id";

pub async fn get(db: impl SqliteExecutor<'_>, id: i64) -> sqlx::Result<Option<CallRequestRecord>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

pub async fn for_lead(
    db: impl SqliteExecutor<'_>,
    lead_id: i64,
) -> sqlx::Result<Vec<CallRequestRecord>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} WHERE r.lead_id = $1 ORDER BY r.created_at DESC, r.id DESC"
    ))
    .bind(lead_id)
    .fetch_all(db)
    .await
}

/// Marks the dial as started; `false` when it already was (an earlier run was interrupted).
pub async fn begin_send(
    db: impl SqliteExecutor<'_>,
    id: i64,
    now: Timestamp,
) -> sqlx::Result<bool> {
    let result = sqlx::query(
        "UPDATE call_requests SET send_started_at = $2, updated_at = $2
         WHERE id = $1 AND send_started_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// The outcome: `dialed`, `failed` with a reason (phone numbers masked), or back to `queued`
/// (Aircall said "later").
pub async fn finish(
    db: impl SqliteExecutor<'_>,
    id: i64,
    status: &str,
    error: Option<&str>,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE call_requests SET status = $2, error = $3, updated_at = $4,
             send_started_at = CASE WHEN $2 = 'queued' THEN NULL ELSE send_started_at END
         WHERE id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(error.map(mask_personal_data))
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}
