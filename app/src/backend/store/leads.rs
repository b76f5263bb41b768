//! `leads`.

use crate::domain::{Email, LeadStage, Phone, Source, Timestamp};
use sqlx::SqliteExecutor;

pub struct NewLead<'a> {
    pub name: &'a str,
    pub phone: &'a Phone,
    pub email: Option<&'a Email>,
    pub source: Source,
    pub stage: LeadStage,
    pub lost_reason: Option<&'a str>,
    pub created_at: Timestamp,
}

pub async fn insert(db: impl SqliteExecutor<'_>, lead: NewLead<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO leads (name, phone, email, source, stage, lost, lost_reason, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
    )
    .bind(lead.name)
    .bind(lead.phone.as_str())
    .bind(lead.email.map(Email::as_str))
    .bind(lead.source.as_str())
    .bind(lead.stage.as_str())
    .bind(lead.lost_reason.is_some())
    .bind(lead.lost_reason)
    .bind(lead.created_at)
    .fetch_one(db)
    .await
}
