//! `calls`: Aircall calls, one row per provider call id.

use crate::domain::Timestamp;
use sqlx::SqliteExecutor;

pub struct NewCall<'a> {
    pub lead_id: Option<i64>,
    pub provider_call_id: &'a str,
    pub direction: &'a str,
    pub status: &'a str,
    pub started_at: Timestamp,
    pub answered_at: Option<Timestamp>,
    pub ended_at: Timestamp,
    pub duration_seconds: i64,
    pub from_number: &'a str,
    pub to_number: &'a str,
    pub missed_reason: Option<&'a str>,
}

pub async fn insert(db: impl SqliteExecutor<'_>, call: NewCall<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO calls (lead_id, provider_call_id, direction, status, started_at, answered_at,
                            ended_at, duration_seconds, from_number, to_number, missed, missed_reason,
                            created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $5, $7) RETURNING id",
    )
    .bind(call.lead_id)
    .bind(call.provider_call_id)
    .bind(call.direction)
    .bind(call.status)
    .bind(call.started_at)
    .bind(call.answered_at)
    .bind(call.ended_at)
    .bind(call.duration_seconds)
    .bind(call.from_number)
    .bind(call.to_number)
    .bind(call.missed_reason.is_some())
    .bind(call.missed_reason)
    .fetch_one(db)
    .await
}
