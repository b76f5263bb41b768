//! `messages`: the WhatsApp conversation with each lead.

use crate::domain::Timestamp;
use sqlx::SqliteExecutor;

pub struct NewMessage<'a> {
    pub lead_id: i64,
    pub direction: &'a str,
    pub wamid: Option<&'a str>,
    pub kind: &'a str,
    pub body: Option<&'a str>,
    pub template_name: Option<&'a str>,
    pub status: &'a str,
    pub error_code: Option<i64>,
    pub error_reason: Option<&'a str>,
    pub created_at: Timestamp,
}

pub async fn insert(db: impl SqliteExecutor<'_>, message: NewMessage<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO messages (lead_id, direction, wamid, kind, body, template_name, status,
                               error_code, error_reason, created_at, status_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
    )
    .bind(message.lead_id)
    .bind(message.direction)
    .bind(message.wamid)
    .bind(message.kind)
    .bind(message.body)
    .bind(message.template_name)
    .bind(message.status)
    .bind(message.error_code)
    .bind(message.error_reason)
    .bind(message.created_at)
    .fetch_one(db)
    .await
}
