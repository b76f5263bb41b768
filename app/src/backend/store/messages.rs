//! `messages`: the WhatsApp conversation with each lead.

use crate::domain::{Direction, MessageStatus, Timestamp};
use sqlx::SqliteExecutor;

pub struct NewMessage<'a> {
    pub lead_id: i64,
    pub direction: Direction,
    pub wamid: Option<&'a str>,
    pub kind: &'a str,
    pub body: Option<&'a str>,
    pub template_name: Option<&'a str>,
    pub status: MessageStatus,
    pub error_code: Option<i64>,
    pub error_reason: Option<&'a str>,
    /// What an inbound message carried (`whatsapp_content::Content` as JSON).
    pub content: Option<&'a str>,
    pub created_at: Timestamp,
}

/// Inserts the message; `None` when its `wamid` is already stored.
pub async fn insert(
    db: impl SqliteExecutor<'_>,
    message: NewMessage<'_>,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "INSERT INTO messages (lead_id, direction, wamid, kind, body, template_name, status,
                               error_code, error_reason, created_at, status_at, content)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11)
         ON CONFLICT (wamid) DO NOTHING RETURNING id",
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
    .bind(message.content)
    .fetch_all(db)
    .await
    .map(super::first_row)
}

/// Takes back the lead's reaction to the message `target` (a reaction without an emoji).
pub async fn remove_reactions(
    db: impl SqliteExecutor<'_>,
    lead_id: i64,
    target: &str,
) -> sqlx::Result<u64> {
    let result = sqlx::query(
        "DELETE FROM messages WHERE lead_id = $1 AND direction = 'inbound'
           AND json_extract(content, '$.type') = 'reaction'
           AND json_extract(content, '$.message_id') = $2",
    )
    .bind(lead_id)
    .bind(target)
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}

/// A status Meta sent for a `wamid` no message of ours has (yet): kept until one gets it.
pub async fn keep_early_status(
    db: impl SqliteExecutor<'_>,
    wamid: &str,
    status: &str,
    error: Option<(i64, &str)>,
    occurred_at: Timestamp,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO whatsapp_early_statuses
             (wamid, status, error_code, error_reason, occurred_at, received_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (wamid, status) DO NOTHING",
    )
    .bind(wamid)
    .bind(status)
    .bind(error.map(|e| e.0))
    .bind(error.map(|e| crate::domain::mask_personal_data(e.1)))
    .bind(occurred_at)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// A status kept by [`keep_early_status`].
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EarlyStatus {
    pub status: String,
    pub error_code: Option<i64>,
    pub error_reason: Option<String>,
    pub occurred_at: Timestamp,
}

/// Removes and returns the statuses kept for `wamid`, oldest first.
pub async fn take_early_statuses(
    db: &mut sqlx::SqliteConnection,
    wamid: &str,
) -> sqlx::Result<Vec<EarlyStatus>> {
    let statuses = sqlx::query_as(
        "SELECT status, error_code, error_reason, occurred_at FROM whatsapp_early_statuses
         WHERE wamid = $1 ORDER BY occurred_at, rowid",
    )
    .bind(wamid)
    .fetch_all(&mut *db)
    .await?;
    sqlx::query("DELETE FROM whatsapp_early_statuses WHERE wamid = $1")
        .bind(wamid)
        .execute(&mut *db)
        .await?;
    Ok(statuses)
}

pub async fn count_early_statuses_before(
    db: impl SqliteExecutor<'_>,
    before: Timestamp,
) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM whatsapp_early_statuses WHERE received_at < $1")
        .bind(before)
        .fetch_one(db)
        .await
}

/// Forgets statuses kept since before `before` (of messages that never became ours), at most
/// `limit` of them.
pub async fn prune_early_statuses(
    db: impl SqliteExecutor<'_>,
    before: Timestamp,
    limit: i64,
) -> sqlx::Result<u64> {
    let result = sqlx::query(
        "DELETE FROM whatsapp_early_statuses WHERE rowid IN (
             SELECT rowid FROM whatsapp_early_statuses WHERE received_at < $1 LIMIT $2)",
    )
    .bind(before)
    .bind(limit)
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}

/// The id and status of our outbound message with this `wamid`.
pub async fn find_outbound(
    db: impl SqliteExecutor<'_>,
    wamid: &str,
) -> sqlx::Result<Option<(i64, MessageStatus)>> {
    sqlx::query_as("SELECT id, status FROM messages WHERE wamid = $1 AND direction = 'outbound'")
        .bind(wamid)
        .fetch_optional(db)
        .await
}

pub async fn set_status(
    db: impl SqliteExecutor<'_>,
    id: i64,
    status: MessageStatus,
    error: Option<(i64, &str)>,
    at: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE messages SET status = $2, error_code = $3, error_reason = $4, status_at = $5 WHERE id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(error.map(|e| e.0))
    // Meta's reasons quote the recipient; the number has no place in an error text.
    .bind(error.map(|e| crate::domain::mask_personal_data(e.1)))
    .bind(at)
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRecord {
    pub wamid: Option<String>,
    pub direction: Direction,
    pub kind: String,
    pub body: Option<String>,
    pub template_name: Option<String>,
    pub status: MessageStatus,
    pub error_reason: Option<String>,
    pub user_name: Option<String>,
    pub content: Option<String>,
    pub created_at: Timestamp,
}

/// The lead's conversation, newest first.
pub async fn for_lead(
    db: impl SqliteExecutor<'_>,
    lead_id: i64,
) -> sqlx::Result<Vec<MessageRecord>> {
    sqlx::query_as(
        "SELECT m.wamid, m.direction, m.kind, m.body, m.template_name, m.status,
                m.error_reason, u.name AS user_name, m.content, m.created_at
         FROM messages m LEFT JOIN users u ON u.id = m.user_id
         WHERE m.lead_id = $1 ORDER BY m.created_at DESC, m.id DESC",
    )
    .bind(lead_id)
    .fetch_all(db)
    .await
}

/// When the lead last wrote to the clinic, which opens WhatsApp's 24-hour window.
pub async fn last_inbound_at(
    db: impl SqliteExecutor<'_>,
    lead_id: i64,
) -> sqlx::Result<Option<Timestamp>> {
    sqlx::query_scalar(
        // WhatsApp's own notices (a number changed) are not the patient writing.
        "SELECT max(created_at) FROM messages WHERE lead_id = $1 AND direction = 'inbound'
           AND (content IS NULL OR json_extract(content, '$.type') <> 'system')",
    )
    .bind(lead_id)
    .fetch_one(db)
    .await
}

/// A message staff asked to send, waiting in the queue (no `wamid` until Meta accepts it).
pub async fn insert_queued(
    db: impl SqliteExecutor<'_>,
    lead_id: i64,
    user_id: i64,
    kind: &str,
    body: Option<&str>,
    template_name: Option<&str>,
    now: Timestamp,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO messages (lead_id, direction, kind, body, template_name, status, user_id,
                               created_at, status_at)
         VALUES ($1, 'outbound', $2, $3, $4, 'queued', $5, $6, $6) RETURNING id",
    )
    .bind(lead_id)
    .bind(kind)
    .bind(body)
    .bind(template_name)
    .bind(user_id)
    .bind(now)
    .fetch_all(db)
    .await
    .and_then(super::only_row)
}

/// An outbound message with what sending it needs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboundRecord {
    pub id: i64,
    /// `None` for a lead known by their WhatsApp user id alone.
    pub phone: Option<String>,
    pub kind: String,
    pub body: Option<String>,
    pub template_name: Option<String>,
    pub status: MessageStatus,
    pub wamid: Option<String>,
    pub send_started_at: Option<Timestamp>,
}

/// What a template's variables may say of an outbound message: its lead's name, and the time of
/// its appointment (a reminder's own, else the lead's next scheduled one after `now`).
pub async fn template_facts(
    db: impl SqliteExecutor<'_>,
    id: i64,
    now: Timestamp,
) -> sqlx::Result<(String, Option<Timestamp>)> {
    sqlx::query_as(
        "SELECT l.name, COALESCE(a.scheduled_at,
                    (SELECT MIN(n.scheduled_at) FROM appointments n
                     WHERE n.lead_id = l.id AND n.status = 'scheduled' AND n.scheduled_at > $2))
         FROM messages m JOIN leads l ON l.id = m.lead_id
         LEFT JOIN appointments a ON a.id = m.appointment_id
         WHERE m.id = $1",
    )
    .bind(id)
    .bind(now)
    .fetch_one(db)
    .await
}

pub async fn get_outbound(
    db: impl SqliteExecutor<'_>,
    id: i64,
) -> sqlx::Result<Option<OutboundRecord>> {
    sqlx::query_as(
        "SELECT m.id, l.phone, m.kind, m.body, m.template_name, m.status, m.wamid, m.send_started_at
         FROM messages m JOIN leads l ON l.id = m.lead_id
         WHERE m.id = $1 AND m.direction = 'outbound'",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Marks the send as started; `false` when it already was (an earlier run was interrupted).
pub async fn begin_send(
    db: impl SqliteExecutor<'_>,
    id: i64,
    now: Timestamp,
) -> sqlx::Result<bool> {
    let result = sqlx::query(
        "UPDATE messages SET send_started_at = $2 WHERE id = $1 AND send_started_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Meta answered "not now": nothing left, the next attempt may send.
pub async fn clear_send(db: impl SqliteExecutor<'_>, id: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE messages SET send_started_at = NULL WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Meta accepted the message: its `wamid` ties the status webhooks to it.
pub async fn accepted(
    db: impl SqliteExecutor<'_>,
    id: i64,
    wamid: &str,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE messages SET wamid = $2, status_at = $3 WHERE id = $1")
        .bind(id)
        .bind(wamid)
        .bind(now)
        .execute(db)
        .await?;
    Ok(())
}

/// The reminder of an appointment (one ever, by a unique index): its id and status.
pub async fn reminder_for(
    db: impl SqliteExecutor<'_>,
    appointment_id: i64,
) -> sqlx::Result<Option<(i64, MessageStatus)>> {
    sqlx::query_as("SELECT id, status FROM messages WHERE appointment_id = $1")
        .bind(appointment_id)
        .fetch_optional(db)
        .await
}

/// Stores an appointment's reminder (the template) as queued; `None` when it already has one.
pub async fn insert_reminder(
    db: impl SqliteExecutor<'_>,
    lead_id: i64,
    appointment_id: i64,
    template: &str,
    now: Timestamp,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "INSERT INTO messages (lead_id, direction, kind, template_name, status, appointment_id,
                               created_at, status_at)
         VALUES ($1, 'outbound', 'template', $2, 'queued', $3, $4, $4)
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(lead_id)
    .bind(template)
    .bind(appointment_id)
    .bind(now)
    .fetch_all(db)
    .await
    .map(super::first_row)
}
