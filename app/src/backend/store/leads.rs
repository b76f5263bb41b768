//! `leads`.

use crate::domain::{Email, LeadStage, Phone, Source, StageFilter, Timestamp};
use sqlx::{QueryBuilder, Sqlite, SqliteExecutor};

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

/// A lead as the Leads pages read it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LeadRecord {
    pub id: i64,
    pub name: String,
    pub phone: String,
    pub email: Option<String>,
    pub source: String,
    pub stage: String,
    pub lost: bool,
    pub lost_reason: Option<String>,
    pub created_at: Timestamp,
}

const LEAD_COLUMNS: &str =
    "id, name, phone, email, source, stage, lost, lost_reason, created_at FROM leads";

pub async fn get(db: impl SqliteExecutor<'_>, id: i64) -> sqlx::Result<Option<LeadRecord>> {
    sqlx::query_as(&format!("SELECT {LEAD_COLUMNS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Staff's edit of a lead. `hubspot_synced_at` stays behind `updated_at`, so the change is
/// synced to HubSpot.
pub async fn update(
    db: impl SqliteExecutor<'_>,
    id: i64,
    name: &str,
    phone: &Phone,
    email: Option<&Email>,
    source: Source,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE leads SET name = $2, phone = $3, email = $4, source = $5, updated_at = $6
         WHERE id = $1",
    )
    .bind(id)
    .bind(name)
    .bind(phone.as_str())
    .bind(email.map(Email::as_str))
    .bind(source.as_str())
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// Recomputes the lead's stage from its appointments and treatments ([`LeadStage::derive`]'s
/// rule in SQL). Call it in the transaction of every change to them.
pub async fn refresh_stage(
    db: impl SqliteExecutor<'_>,
    id: i64,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE leads SET updated_at = $2, stage = CASE
             WHEN EXISTS (SELECT 1 FROM treatments WHERE lead_id = $1 AND completed_at IS NULL) THEN 'in_treatment'
             WHEN EXISTS (SELECT 1 FROM treatments WHERE lead_id = $1) THEN 'completed'
             WHEN EXISTS (SELECT 1 FROM appointments WHERE lead_id = $1) THEN 'booked'
             ELSE 'new' END
         WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// Marks the lead lost with a reason, or (`None`) reopens it.
pub async fn set_lost(
    db: impl SqliteExecutor<'_>,
    id: i64,
    reason: Option<&str>,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE leads SET lost = $2, lost_reason = $3, updated_at = $4 WHERE id = $1")
        .bind(id)
        .bind(reason.is_some())
        .bind(reason)
        .bind(now)
        .execute(db)
        .await?;
    Ok(())
}

/// The Leads list's filters. `search` is an FTS5 expression over `leads_search`.
pub struct ListFilter<'a> {
    pub search: Option<&'a str>,
    pub source: Option<Source>,
    pub stage: Option<StageFilter>,
}

fn push_where<'a>(
    query: &mut QueryBuilder<'a, Sqlite>,
    filter: &'a ListFilter<'a>,
    with_stage: bool,
) {
    query.push(" WHERE 1 = 1");
    if let Some(search) = filter.search {
        query
            .push(" AND id IN (SELECT rowid FROM leads_search WHERE leads_search MATCH ")
            .push_bind(search)
            .push(")");
    }
    if let Some(source) = filter.source {
        query.push(" AND source = ").push_bind(source.as_str());
    }
    match filter.stage.filter(|_| with_stage) {
        Some(StageFilter::Stage(stage)) => {
            query
                .push(" AND lost = 0 AND stage = ")
                .push_bind(stage.as_str());
        }
        Some(StageFilter::Lost) => {
            query.push(" AND lost = 1");
        }
        None => {}
    }
}

/// One page of leads, newest first.
pub async fn list(
    db: impl SqliteExecutor<'_>,
    filter: &ListFilter<'_>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<LeadRecord>> {
    let mut query = QueryBuilder::new(format!("SELECT {LEAD_COLUMNS}"));
    push_where(&mut query, filter, true);
    query
        .push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    query.build_query_as().fetch_all(db).await
}

/// How many leads of the search and source filter are in each stage filter (the stage filter
/// itself is ignored, so every stage shows its count).
pub async fn count_by_stage(
    db: impl SqliteExecutor<'_>,
    filter: &ListFilter<'_>,
) -> sqlx::Result<Vec<(StageFilter, i64)>> {
    let mut query = QueryBuilder::new("SELECT stage, lost, count(*) FROM leads");
    push_where(&mut query, filter, false);
    query.push(" GROUP BY stage, lost");
    let rows: Vec<(String, bool, i64)> = query.build_query_as().fetch_all(db).await?;
    Ok(StageFilter::ALL
        .into_iter()
        .map(|filter| {
            let n = rows
                .iter()
                .filter(|(stage, lost, _)| match filter {
                    StageFilter::Lost => *lost,
                    StageFilter::Stage(s) => !*lost && s.as_str() == stage,
                })
                .map(|(_, _, n)| n)
                .sum();
            (filter, n)
        })
        .collect())
}
