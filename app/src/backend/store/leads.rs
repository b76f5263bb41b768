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

pub async fn find_by_phone(
    db: impl SqliteExecutor<'_>,
    phone: &Phone,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT id FROM leads WHERE phone = $1")
        .bind(phone.as_str())
        .fetch_optional(db)
        .await
}

/// Id and name of the lead linked to a HubSpot contact.
pub async fn find_by_hubspot_id(
    db: impl SqliteExecutor<'_>,
    hubspot_id: &str,
) -> sqlx::Result<Option<(i64, String)>> {
    sqlx::query_as("SELECT id, name FROM leads WHERE hubspot_id = $1")
        .bind(hubspot_id)
        .fetch_optional(db)
        .await
}

/// A change that came from HubSpot: written with `hubspot_synced_at` = `updated_at`, so the
/// sync to HubSpot does not send it back.
pub struct HubspotChange<'a> {
    pub name: Option<&'a str>,
    pub email: Option<&'a Email>,
    pub phone: Option<&'a Phone>,
}

pub async fn apply_hubspot_change(
    db: impl SqliteExecutor<'_>,
    id: i64,
    change: HubspotChange<'_>,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE leads SET name = COALESCE($2, name), email = COALESCE($3, email),
             phone = COALESCE($4, phone), updated_at = $5, hubspot_synced_at = $5
         WHERE id = $1",
    )
    .bind(id)
    .bind(change.name)
    .bind(change.email.map(Email::as_str))
    .bind(change.phone.map(Phone::as_str))
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}
