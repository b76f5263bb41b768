//! `leads`.

use crate::domain::{
    Email, LeadStage, Phone, Source, StageFilter, Timestamp, LEAD_COUNT_CAP as COUNT_CAP,
};
use sqlx::{QueryBuilder, Sqlite, SqliteExecutor};

pub struct NewLead<'a> {
    pub name: &'a str,
    /// `None` only for a WhatsApp user known by their user id alone.
    pub phone: Option<&'a Phone>,
    pub whatsapp_user: Option<WhatsappUser<'a>>,
    pub email: Option<&'a Email>,
    pub source: Source,
    pub stage: LeadStage,
    pub lost_reason: Option<&'a str>,
    pub created_at: Timestamp,
}

pub async fn insert(db: impl SqliteExecutor<'_>, lead: NewLead<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO leads (name, phone, email, source, stage, lost, lost_reason, created_at,
                            updated_at, whatsapp_user_id, whatsapp_username)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10) RETURNING id",
    )
    .bind(lead.name)
    .bind(lead.phone.map(Phone::as_str))
    .bind(lead.email.map(Email::as_str))
    .bind(lead.source.as_str())
    .bind(lead.stage.as_str())
    .bind(lead.lost_reason.is_some())
    .bind(lead.lost_reason)
    .bind(lead.created_at)
    .bind(lead.whatsapp_user.map(|u| u.id))
    .bind(lead.whatsapp_user.and_then(|u| u.username))
    .fetch_all(db)
    .await
    .and_then(super::only_row)
}

/// A WhatsApp user as Meta names them: the business-scoped user id, and the username they show.
#[derive(Debug, Clone, Copy)]
pub struct WhatsappUser<'a> {
    pub id: &'a str,
    pub username: Option<&'a str>,
}

pub async fn find_by_whatsapp_user(
    db: impl SqliteExecutor<'_>,
    user_id: &str,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT id FROM leads WHERE whatsapp_user_id = $1")
        .bind(user_id)
        .fetch_optional(db)
        .await
}

/// WhatsApp gave the patient a new user id (their number changed, or Meta renewed it).
pub async fn change_whatsapp_user(
    db: impl SqliteExecutor<'_>,
    id: i64,
    user_id: &str,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE leads SET whatsapp_user_id = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(user_id)
        .bind(now)
        .execute(db)
        .await?;
    Ok(())
}

/// Records the lead's WhatsApp user id and username (the latest Meta sent), and its phone when
/// the lead had none and Meta now shows it.
pub async fn link_whatsapp_user(
    db: impl SqliteExecutor<'_>,
    id: i64,
    user: WhatsappUser<'_>,
    phone: Option<&Phone>,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE leads SET whatsapp_user_id = $2,
             whatsapp_username = COALESCE($3, whatsapp_username),
             phone = COALESCE(phone, $4),
             revision = revision + (phone IS NULL AND $4 IS NOT NULL),
             updated_at = $5
         WHERE id = $1",
    )
    .bind(id)
    .bind(user.id)
    .bind(user.username)
    .bind(phone.map(Phone::as_str))
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
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
/// The lead linked to a HubSpot contact (not one deleted there, nor an erased one): its id and
/// name.
pub async fn find_by_hubspot_id(
    db: impl SqliteExecutor<'_>,
    hubspot_id: &str,
) -> sqlx::Result<Option<(i64, String)>> {
    sqlx::query_as(
        "SELECT id, name FROM leads
         WHERE hubspot_id = $1 AND hubspot_deleted_at IS NULL AND erased_at IS NULL",
    )
    .bind(hubspot_id)
    .fetch_optional(db)
    .await
}

/// The lead a HubSpot contact was ever linked to, deleted there or not, and whether it has been
/// erased already.
pub async fn find_ever_by_hubspot_id(
    db: impl SqliteExecutor<'_>,
    hubspot_id: &str,
) -> sqlx::Result<Option<(i64, bool)>> {
    sqlx::query_as("SELECT id, erased_at IS NOT NULL FROM leads WHERE hubspot_id = $1")
        .bind(hubspot_id)
        .fetch_optional(db)
        .await
}

/// HubSpot delivers late and out of order: records `occurred_at` (ms) as the last change of
/// this contact's property, unless a later one is recorded already; whether it was the latest.
pub async fn hubspot_change_is_latest(
    db: impl SqliteExecutor<'_>,
    hubspot_id: &str,
    property: &str,
    occurred_at: i64,
) -> sqlx::Result<bool> {
    let result = sqlx::query(
        "INSERT INTO hubspot_property_versions (hubspot_id, property, occurred_at)
         VALUES ($1, $2, $3)
         ON CONFLICT (hubspot_id, property) DO UPDATE SET occurred_at = excluded.occurred_at
         WHERE excluded.occurred_at >= hubspot_property_versions.occurred_at",
    )
    .bind(hubspot_id)
    .bind(property)
    .bind(occurred_at)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// The contact was deleted in HubSpot: the lead stays, marked, and is never sent there again
/// (its `hubspot_id` is kept only to recognise a later erasure request for it).
pub async fn mark_hubspot_deleted(
    db: impl SqliteExecutor<'_>,
    id: i64,
    at: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE leads SET hubspot_deleted_at = COALESCE(hubspot_deleted_at, $2) WHERE id = $1",
    )
    .bind(id)
    .bind(at)
    .execute(db)
    .await?;
    Ok(())
}

/// A person's erasure request: every personal datum of the lead goes (name, phone, e-mail,
/// WhatsApp ids, the ad they clicked, a lost reason staff wrote, the words of their messages, the
/// numbers of their calls, the details of its history), while the rows that reports count
/// (the lead's source, stage and dates, its appointments, treatments, messages and calls) stay.
pub async fn erase(db: &mut sqlx::SqliteConnection, id: i64, now: Timestamp) -> sqlx::Result<()> {
    for sql in [
        "UPDATE leads SET name = 'Persona borrada (RGPD)', phone = NULL, email = NULL,
             whatsapp_user_id = NULL, whatsapp_username = NULL, ad_referral = NULL,
             lost_reason = NULL, erased_at = $2,
             hubspot_deleted_at = COALESCE(hubspot_deleted_at, $2), updated_at = $2
         WHERE id = $1",
        "UPDATE messages SET body = NULL, content = NULL, error_reason = NULL WHERE lead_id = $1",
        "UPDATE calls SET from_number = NULL, to_number = NULL WHERE lead_id = $1",
        "UPDATE call_requests SET phone = '—', error = NULL WHERE lead_id = $1",
        "UPDATE lead_activities SET detail = '' WHERE lead_id = $1",
    ] {
        sqlx::query(sql)
            .bind(id)
            .bind(now)
            .execute(&mut *db)
            .await?;
    }
    Ok(())
}

/// A change that came from HubSpot: written without a new `revision` (and with
/// `hubspot_synced_at` = `updated_at`), so the sync to HubSpot does not send it back.
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
    pub phone: Option<String>,
    pub whatsapp_username: Option<String>,
    pub email: Option<String>,
    pub source: Source,
    pub stage: LeadStage,
    pub lost: bool,
    pub lost_reason: Option<String>,
    /// The click-to-WhatsApp ad it came from (JSON, Meta's `referral`).
    pub ad_referral: Option<String>,
    pub created_at: Timestamp,
}

const LEAD_COLUMNS: &str = "id, name, phone, whatsapp_username, email, source, stage, lost, \
    lost_reason, ad_referral, created_at FROM leads";

/// Keeps the click-to-WhatsApp ad (Meta's `referral`, JSON) the lead first wrote from; a lead
/// that already has one keeps it (first touch).
pub async fn attribute_ad(
    db: impl SqliteExecutor<'_>,
    id: i64,
    referral: &str,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE leads SET ad_referral = $2 WHERE id = $1 AND ad_referral IS NULL")
        .bind(id)
        .bind(referral)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn get(db: impl SqliteExecutor<'_>, id: i64) -> sqlx::Result<Option<LeadRecord>> {
    sqlx::query_as(&format!("SELECT {LEAD_COLUMNS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The lead's number changed (WhatsApp said so): a new revision, which the HubSpot sync sends.
pub async fn change_phone(
    db: impl SqliteExecutor<'_>,
    id: i64,
    phone: &Phone,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE leads SET phone = $2, updated_at = $3, revision = revision + 1,
             hubspot_sync_error = NULL
         WHERE id = $1",
    )
    .bind(id)
    .bind(phone.as_str())
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// Staff's edit of a lead: a new revision, which the HubSpot sync sends.
pub async fn update(
    db: impl SqliteExecutor<'_>,
    id: i64,
    name: &str,
    phone: Option<&Phone>,
    email: Option<&Email>,
    source: Source,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE leads SET name = $2, phone = $3, email = $4, source = $5, updated_at = $6,
             revision = revision + 1, hubspot_sync_error = NULL
         WHERE id = $1",
    )
    .bind(id)
    .bind(name)
    .bind(phone.map(Phone::as_str))
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

fn push_filters<'a>(query: &mut QueryBuilder<'a, Sqlite>, filter: &'a ListFilter<'a>) {
    if let Some(source) = filter.source {
        query.push(" AND l.source = ").push_bind(source.as_str());
    }
    match filter.stage {
        Some(StageFilter::Stage(stage)) => {
            query
                .push(" AND l.lost = 0 AND l.stage = ")
                .push_bind(stage.as_str());
        }
        Some(StageFilter::Lost) => {
            query.push(" AND l.lost = 1");
        }
        None => {}
    }
}

/// One page of leads, newest (highest id) first. A search is driven by the full-text index in
/// descending rowid order, so it stops after the page however many leads match.
pub async fn list(
    db: impl SqliteExecutor<'_>,
    filter: &ListFilter<'_>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<LeadRecord>> {
    let columns =
        "l.id, l.name, l.phone, l.whatsapp_username, l.email, l.source, l.stage, l.lost, \
         l.lost_reason, l.ad_referral, l.created_at";
    let mut query = match filter.search {
        Some(search) => {
            let mut query = QueryBuilder::new(format!(
                "SELECT {columns} FROM leads_search s JOIN leads l ON l.id = s.rowid
                 WHERE leads_search MATCH "
            ));
            query.push_bind(search);
            query
        }
        None => QueryBuilder::new(format!("SELECT {columns} FROM leads l WHERE 1 = 1")),
    };
    push_filters(&mut query, filter);
    query.push(if filter.search.is_some() {
        " ORDER BY s.rowid DESC LIMIT "
    } else {
        " ORDER BY l.id DESC LIMIT "
    });
    query.push_bind(limit).push(" OFFSET ").push_bind(offset);
    query.build_query_as().fetch_all(db).await
}

/// How many leads of the search and source filter are in each stage filter (the stage filter
/// itself is ignored, so every stage shows its count). Without a search the kept counts answer;
/// a search is counted when it matches at most [`COUNT_CAP`] leads, else `None`.
pub async fn count_by_stage(
    db: &sqlx::SqlitePool,
    filter: &ListFilter<'_>,
) -> sqlx::Result<Option<Vec<(StageFilter, i64)>>> {
    let rows: Vec<(String, bool, i64)> = match filter.search {
        None => {
            let mut query =
                QueryBuilder::new("SELECT stage, lost, sum(n) FROM lead_counts l WHERE 1 = 1");
            if let Some(source) = filter.source {
                query.push(" AND l.source = ").push_bind(source.as_str());
            }
            query.push(" GROUP BY stage, lost");
            query.build_query_as().fetch_all(db).await?
        }
        Some(search) => {
            // One pass over at most COUNT_CAP + 1 matches: their stages, and whether each is of
            // the source asked for (the cap applies to the search alone).
            let rows: Vec<(String, bool, bool, i64)> = sqlx::query_as(
                "SELECT l.stage, l.lost, $2 IS NULL OR l.source = $2, count(*)
                 FROM (SELECT rowid FROM leads_search WHERE leads_search MATCH $1 LIMIT $3) s
                 JOIN leads l ON l.id = s.rowid
                 GROUP BY 1, 2, 3",
            )
            .bind(search)
            .bind(filter.source.map(Source::as_str))
            .bind(COUNT_CAP + 1)
            .fetch_all(db)
            .await?;
            if rows.iter().map(|(_, _, _, n)| n).sum::<i64>() > COUNT_CAP {
                return Ok(None);
            }
            rows.into_iter()
                .filter(|(_, _, of_source, _)| *of_source)
                .map(|(stage, lost, _, n)| (stage, lost, n))
                .collect()
        }
    };
    Ok(Some(
        StageFilter::ALL
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
            .collect(),
    ))
}

/// A lead as HubSpot gets it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HubspotLead {
    pub id: i64,
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub hubspot_id: Option<String>,
    /// The value of HubSpot's unique lead-key property for this lead.
    pub hubspot_key: String,
    pub revision: i64,
}

/// Leads whose last change HubSpot has not seen, and that it has not refused; deleted in
/// HubSpot or erased: never sent again.
macro_rules! pending_hubspot {
    () => {
        "hubspot_sync_error IS NULL
         AND (hubspot_synced_revision IS NULL OR hubspot_synced_revision < revision)
         AND hubspot_deleted_at IS NULL AND erased_at IS NULL"
    };
}

/// The first `limit` leads pending for HubSpot, oldest id first, each with its HubSpot key
/// (given here the first time, and kept before anything is sent).
pub async fn pending_hubspot(db: &sqlx::SqlitePool, limit: i64) -> sqlx::Result<Vec<HubspotLead>> {
    sqlx::query(concat!(
        "UPDATE leads SET hubspot_key = lower(hex(randomblob(16)))
         WHERE id IN (SELECT id FROM leads WHERE hubspot_key IS NULL AND ",
        pending_hubspot!(),
        " ORDER BY id LIMIT $1)"
    ))
    .bind(limit)
    .execute(db)
    .await?;
    sqlx::query_as(concat!(
        "SELECT id, name, phone, email, hubspot_id, hubspot_key, revision FROM leads
         WHERE hubspot_key IS NOT NULL AND ",
        pending_hubspot!(),
        " ORDER BY id LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(db)
    .await
}

pub async fn count_pending_hubspot(db: impl SqliteExecutor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar(concat!(
        "SELECT count(*) FROM leads WHERE ",
        pending_hubspot!()
    ))
    .fetch_one(db)
    .await
}

/// The lead, other than `id`, that HubSpot's contact `hubspot_id` or key `key` belongs to here.
pub async fn hubspot_contact_owner(
    db: impl SqliteExecutor<'_>,
    id: i64,
    hubspot_id: &str,
    key: Option<&str>,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "SELECT id FROM leads WHERE id <> $1 AND (hubspot_id = $2 OR hubspot_key = $3)
         ORDER BY id LIMIT 1",
    )
    .bind(id)
    .bind(hubspot_id)
    .bind(key)
    .fetch_optional(db)
    .await
}

/// HubSpot has the lead as of `revision` (the one that was sent): a later change stays pending,
/// and an older answer never lowers what a newer one recorded. `Err(other)` when that contact
/// is already lead `other`'s (nothing is changed). The check is in the write itself: another
/// process may be linking leads too.
pub async fn mark_hubspot_synced(
    db: impl SqliteExecutor<'_> + Copy,
    id: i64,
    hubspot_id: &str,
    revision: i64,
    now: Timestamp,
) -> sqlx::Result<Result<(), i64>> {
    let updated = sqlx::query(
        "UPDATE leads SET hubspot_id = $2, hubspot_synced_revision = $3, hubspot_synced_at = $4
         WHERE id = $1
           AND (hubspot_synced_revision IS NULL OR hubspot_synced_revision <= $3)
           AND NOT EXISTS (SELECT 1 FROM leads other WHERE other.hubspot_id = $2 AND other.id <> $1)",
    )
    .bind(id)
    .bind(hubspot_id)
    .bind(revision)
    .bind(now)
    .execute(db)
    .await?
    .rows_affected();
    if updated == 1 {
        return Ok(Ok(()));
    }
    // Not updated: another lead has the contact, or a newer answer was recorded first (then
    // there is nothing to do).
    match hubspot_contact_owner(db, id, hubspot_id, None).await? {
        Some(other) => Ok(Err(other)),
        None => Ok(Ok(())),
    }
}

/// HubSpot refused this contact as of `revision`: kept with the reason, out of the sync until
/// the lead changes. A change made while it was in flight is not shut out by it.
pub async fn mark_hubspot_refused(
    db: impl SqliteExecutor<'_>,
    id: i64,
    revision: i64,
    error: &str,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE leads SET hubspot_sync_error = $3 WHERE id = $1 AND revision = $2")
        .bind(id)
        .bind(revision)
        .bind(error)
        .execute(db)
        .await?;
    Ok(())
}

/// `hubspot sync --full` (every lead) or `--since T` (leads changed since): pending again.
pub async fn resync_hubspot(
    db: impl SqliteExecutor<'_>,
    since: Option<Timestamp>,
) -> sqlx::Result<u64> {
    let result = sqlx::query(
        "UPDATE leads SET hubspot_synced_revision = NULL, hubspot_sync_error = NULL
         WHERE $1 IS NULL OR updated_at >= $1",
    )
    .bind(since)
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}
