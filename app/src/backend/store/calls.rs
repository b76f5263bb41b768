//! `calls`: Aircall calls, one row per provider call id.

use crate::domain::{Direction, Timestamp};
use sqlx::SqliteExecutor;

pub struct NewCall<'a> {
    pub lead_id: Option<i64>,
    pub provider_call_id: &'a str,
    pub direction: Direction,
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
    .fetch_all(db)
    .await
    .and_then(super::only_row)
}

/// One Aircall event's view of a call. Events arrive out of order: a field once known is never
/// forgotten, and the status follows the newest event.
pub struct CallEvent<'a> {
    pub lead_id: Option<i64>,
    pub provider_call_id: &'a str,
    pub direction: Direction,
    pub status: &'a str,
    pub started_at: Option<Timestamp>,
    pub answered_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub duration_seconds: i64,
    pub from_number: Option<&'a str>,
    pub to_number: Option<&'a str>,
    pub missed: bool,
    pub missed_reason: Option<&'a str>,
    pub occurred_at: Timestamp,
}

pub async fn upsert(db: impl SqliteExecutor<'_>, event: CallEvent<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO calls (lead_id, provider_call_id, direction, status, started_at, answered_at,
                            ended_at, duration_seconds, from_number, to_number, missed, missed_reason,
                            created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)
         ON CONFLICT (provider_call_id) DO UPDATE SET
             lead_id = COALESCE(calls.lead_id, excluded.lead_id),
             status = CASE WHEN excluded.updated_at >= calls.updated_at
                           THEN excluded.status ELSE calls.status END,
             started_at = COALESCE(calls.started_at, excluded.started_at),
             answered_at = COALESCE(calls.answered_at, excluded.answered_at),
             ended_at = COALESCE(excluded.ended_at, calls.ended_at),
             duration_seconds = MAX(calls.duration_seconds, excluded.duration_seconds),
             from_number = COALESCE(calls.from_number, excluded.from_number),
             to_number = COALESCE(calls.to_number, excluded.to_number),
             missed = MAX(calls.missed, excluded.missed),
             missed_reason = COALESCE(calls.missed_reason, excluded.missed_reason),
             updated_at = MAX(calls.updated_at, excluded.updated_at)",
    )
    .bind(event.lead_id)
    .bind(event.provider_call_id)
    .bind(event.direction)
    .bind(event.status)
    .bind(event.started_at)
    .bind(event.answered_at)
    .bind(event.ended_at)
    .bind(event.duration_seconds)
    .bind(event.from_number)
    .bind(event.to_number)
    .bind(event.missed)
    .bind(event.missed_reason)
    .bind(event.occurred_at)
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CallRecord {
    pub direction: Direction,
    pub status: String,
    pub duration_seconds: i64,
    pub missed: bool,
    pub missed_reason: Option<String>,
    pub started_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// The lead's calls, newest first.
pub async fn for_lead(db: impl SqliteExecutor<'_>, lead_id: i64) -> sqlx::Result<Vec<CallRecord>> {
    sqlx::query_as(
        "SELECT direction, status, duration_seconds, missed, missed_reason, started_at, created_at
         FROM calls WHERE lead_id = $1 ORDER BY coalesce(started_at, created_at) DESC, id DESC",
    )
    .bind(lead_id)
    .fetch_all(db)
    .await
}

/// The patient's numbers on a lead's calls (the caller of an inbound call, the called of an
/// outbound one), as stored.
pub async fn patient_numbers(
    db: impl SqliteExecutor<'_>,
    lead_id: i64,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT DISTINCT number FROM (
             SELECT CASE direction WHEN 'inbound' THEN from_number ELSE to_number END AS number
             FROM calls WHERE lead_id = $1)
         WHERE number IS NOT NULL",
    )
    .bind(lead_id)
    .fetch_all(db)
    .await
}
