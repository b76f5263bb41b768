//! Webhooks: verification (`verify`), durable intake (`ingest`), and processing by a job of the
//! `inbound` queue, one module per provider. Processing is idempotent: every item inside a
//! delivery is applied once, whichever delivery carries it and however often it is replayed.

pub mod aircall;
pub mod hubspot;
pub mod ingest;
pub mod verify;
pub mod whatsapp;
pub mod whatsapp_content;

use super::jobs::{Job, JobContext, JobError};
use super::store::erased_identities::{self, ErasureKey, Identity};
use super::store::{leads, webhook_events};
use crate::domain::{LeadStage, Phone, Provider, Source, Timestamp};
use serde::{Deserialize, Serialize};

pub use super::store::webhook_events::{Filter, NewDelivery, WebhookEventRow};

/// Stored deliveries, newest first, by provider, status and arrival (Integraciones,
/// `webhooks list`, `webhooks replay`).
pub async fn list(
    db: &super::db::Db,
    filter: &Filter,
    limit: i64,
) -> sqlx::Result<Vec<WebhookEventRow>> {
    webhook_events::list(&db.reader, filter, limit).await
}

/// One stored delivery, headers and body as received (secrets redacted).
pub async fn find(db: &super::db::Db, id: i64) -> sqlx::Result<Option<WebhookEventRow>> {
    webhook_events::find(&db.reader, id).await
}

/// What became of the items of one delivery: applied, skipped as applied before, and failed
/// (each with its reason; the others were applied all the same).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ItemEffects {
    pub applied: usize,
    pub duplicates: usize,
    /// Items from a person who asked to be erased after them: skipped.
    pub erased: usize,
    pub failed: Vec<String>,
}

/// The stored delivery items come from: its id (items claim their keys under it), when it
/// arrived, and the key of erased persons' digests.
pub struct Delivery<'a> {
    pub id: i64,
    pub received_at: Timestamp,
    pub erasure_key: &'a ErasureKey,
}

impl Delivery<'_> {
    /// Whether what `identities` did at `at`, carried by this delivery, came before one of them
    /// asked to be erased (see [`before_erasure`]).
    pub async fn before_erasure(
        &self,
        tx: &mut sqlx::SqliteConnection,
        identities: &[Identity<'_>],
        at: Timestamp,
    ) -> sqlx::Result<bool> {
        before_erasure(tx, self.erasure_key, identities, at, Some(self.received_at)).await
    }
}

/// Whether what `identities` did at `at` (delivered at `delivered_at`, for a webhook) came
/// before one of them asked to be erased: the earlier of the two instants counts, so a delivery
/// that arrived before the erasure is from before it whatever time the provider wrote, and an
/// instant equal to the erasure's is before it (seconds are all we keep).
pub async fn before_erasure(
    tx: &mut sqlx::SqliteConnection,
    key: &ErasureKey,
    identities: &[Identity<'_>],
    at: Timestamp,
    delivered_at: Option<Timestamp>,
) -> sqlx::Result<bool> {
    let Some(erased_at) = erased_identities::erased_at(tx, key, identities).await? else {
        return Ok(false);
    };
    Ok(erased_at >= delivered_at.map_or(at, |d| d.min(at)))
}

/// How one item of a delivery went.
#[derive(Debug, PartialEq, Eq)]
pub enum Item {
    Applied,
    /// Applied before, by this delivery or another carrying the same item.
    Duplicate,
    /// Nothing to do with it (another object, an event we do not follow); its key is claimed.
    Ignored,
    /// From a person who asked to be erased after it: not kept; its key is claimed.
    Erased,
}

impl ItemEffects {
    /// Ends an item's savepoint by its outcome. Applied: kept. The item's own fault (a field it
    /// lacks, a value a constraint refuses): rolled back and recorded, and the delivery goes on
    /// with the next item; its key stays unclaimed, so a replay tries it again and only it. A
    /// fault of the database itself (locked, full, gone) ends the delivery: it is retried whole.
    pub async fn settle(
        &mut self,
        savepoint: sqlx::Transaction<'_, sqlx::Sqlite>,
        what: &str,
        outcome: anyhow::Result<Item>,
    ) -> anyhow::Result<()> {
        match outcome {
            Ok(item) => {
                savepoint.commit().await?;
                match item {
                    Item::Applied => self.applied += 1,
                    Item::Duplicate => self.duplicates += 1,
                    Item::Erased => self.erased += 1,
                    Item::Ignored => {}
                }
            }
            Err(err) if is_database_fault(&err) => return Err(err),
            Err(err) => {
                savepoint.rollback().await?;
                self.failed.push(format!("{what}: {err:#}"));
            }
        }
        Ok(())
    }

    /// The delivery's error when some of its items failed: how many, and each one's reason.
    pub fn failure_summary(&self) -> Option<String> {
        (!self.failed.is_empty()).then(|| {
            let total = self.applied + self.duplicates + self.failed.len();
            format!(
                "{} of {total} item(s) failed (the others were applied; a replay retries only \
                 these): {}",
                self.failed.len(),
                self.failed.join("; ")
            )
        })
    }
}

/// A database error that is not the data's fault: the same statement would work later (the file
/// busy, locked, full or unreadable, a schema this release does not expect, the pool exhausted).
/// A constraint or a trigger refusing a value, or a row that does not decode, is the item's.
fn is_database_fault(err: &anyhow::Error) -> bool {
    match err.downcast_ref::<sqlx::Error>() {
        Some(sqlx::Error::Database(db)) => {
            // SQLite's extended result code; its low byte is the primary code: CONSTRAINT (19,
            // RAISE in a trigger included), MISMATCH (20), RANGE (25).
            let primary = db
                .code()
                .and_then(|code| code.parse::<i64>().ok())
                .map(|code| code & 0xff);
            !matches!(primary, Some(19 | 20 | 25))
        }
        Some(
            sqlx::Error::Decode(_)
            | sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::RowNotFound
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::TypeNotFound { .. },
        ) => false,
        Some(_) => true,
        None => false,
    }
}

/// An event type for the events list from the kinds of item a delivery carries: distinct,
/// sorted, joined by `+` (`messages+statuses`).
fn event_type_of(mut kinds: Vec<&str>) -> Option<String> {
    kinds.sort_unstable();
    kinds.dedup();
    (!kinds.is_empty()).then(|| kinds.join("+"))
}

/// The lead with this phone, or a new one.
async fn lead_for_phone(
    tx: &mut sqlx::SqliteConnection,
    phone: &Phone,
    name: Option<&str>,
    source: Source,
    created_at: Timestamp,
) -> sqlx::Result<i64> {
    if let Some(id) = leads::find_by_phone(&mut *tx, phone).await? {
        return Ok(id);
    }
    let fallback = format!("Contacto {phone}");
    new_lead(
        &mut *tx,
        Some(phone),
        None,
        name,
        &fallback,
        source,
        created_at,
    )
    .await
}

/// A lead made from what a provider told us, with the HubSpot sync it needs.
async fn new_lead(
    tx: &mut sqlx::SqliteConnection,
    phone: Option<&Phone>,
    whatsapp_user: Option<leads::WhatsappUser<'_>>,
    name: Option<&str>,
    fallback: &str,
    source: Source,
    created_at: Timestamp,
) -> sqlx::Result<i64> {
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(fallback);
    let lead = leads::NewLead {
        name,
        phone,
        whatsapp_user,
        email: None,
        source,
        stage: LeadStage::New,
        lost_reason: None,
        created_at,
    };
    let id = leads::insert(&mut *tx, lead).await?;
    // The lead is dated by its message; the sync job by now (else an old message would look
    // like a backlog of months).
    crate::backend::hubspot_sync::request_sync(&mut *tx, Timestamp::now()).await?;
    tracing::info!(lead_id = id, source = %source, "lead created from a webhook");
    Ok(id)
}

/// What happened to one stored delivery.
#[derive(Debug, PartialEq, Eq)]
pub enum Processed {
    /// The body was read; its items were applied, or some failed (see [`ItemEffects::failed`]).
    Applied(ItemEffects),
    /// The body cannot be read (kept, marked failed, replayable after a fix).
    Failed(String),
}

/// Applies a stored delivery in one transaction with its outcome, so a crash leaves it either
/// fully applied or untouched.
pub async fn process_event(ctx: &JobContext, event_id: i64) -> Result<Processed, JobError> {
    let retryable = |e: sqlx::Error| JobError::Retryable(e.into());
    let now = Timestamp::now();
    let mut tx = ctx.db.begin_write().await.map_err(retryable)?;
    let event = webhook_events::find(&mut *tx, event_id)
        .await
        .map_err(retryable)?
        .ok_or_else(|| {
            JobError::Permanent(anyhow::anyhow!("webhook event {event_id} does not exist"))
        })?;
    let provider = event.provider;
    let delivery = Delivery {
        id: event_id,
        received_at: event.received_at,
        erasure_key: &ctx.db.erasure_key,
    };
    let (result, event_type) = match provider {
        Provider::Whatsapp => (
            whatsapp::process(&mut tx, &delivery, &event.body, now).await,
            whatsapp::event_type(&event.body),
        ),
        Provider::Aircall => (
            aircall::process(&mut tx, &delivery, &event.body, now).await,
            aircall::event_type(&event.body),
        ),
        Provider::Hubspot => (
            hubspot::process(&mut tx, &delivery, &event.body, now).await,
            hubspot::event_type(&event.body),
        ),
    };
    match result {
        Ok(effects) => {
            let failed = effects.failure_summary();
            webhook_events::finish(
                &mut *tx,
                event_id,
                event_type.as_deref(),
                failed.as_deref(),
                now,
            )
            .await
            .map_err(retryable)?;
            if failed.is_none() && effects.erased > 0 && effects.applied == 0 {
                // Only the words of a person who asked to be erased: not kept either.
                webhook_events::delete(&mut *tx, event_id)
                    .await
                    .map_err(retryable)?;
            }
            if failed.is_none() {
                // A replay that succeeds settles the delivery's earlier failed job.
                crate::backend::store::jobs::settle_failed_processing(&mut *tx, event_id, now)
                    .await
                    .map_err(retryable)?;
            }
            tx.commit().await.map_err(retryable)?;
            match &failed {
                None => tracing::info!(
                    provider = provider.as_str(),
                    event_id,
                    event_type = event_type.as_deref().unwrap_or("-"),
                    applied = effects.applied,
                    duplicates = effects.duplicates,
                    "webhook delivery processed"
                ),
                Some(error) => tracing::warn!(
                    provider = provider.as_str(),
                    event_id,
                    applied = effects.applied,
                    failed = effects.failed.len(),
                    error = crate::domain::mask_personal_data(error),
                    "webhook delivery processed in part: some items could not be applied"
                ),
            }
            Ok(Processed::Applied(effects))
        }
        Err(err) if is_database_fault(&err) => Err(JobError::Retryable(err)),
        Err(err) => {
            // Undo any partial effect, then record the failure on its own.
            drop(tx);
            let message = crate::domain::mask_personal_data(&format!("{err:#}"));
            webhook_events::finish(
                &ctx.db.writer,
                event_id,
                event_type.as_deref(),
                Some(&message),
                now,
            )
            .await
            .map_err(retryable)?;
            tracing::warn!(
                provider = provider.as_str(),
                event_id,
                error = message,
                "webhook delivery could not be processed"
            );
            Ok(Processed::Failed(message))
        }
    }
}

/// The `inbound` job that processes one stored delivery.
#[derive(Debug, Serialize, Deserialize)]
pub struct ProcessWebhook {
    pub webhook_event_id: i64,
}

impl Job for ProcessWebhook {
    const NAME: &'static str = "process_webhook";
    const QUEUE: crate::domain::Queue = crate::domain::Queue::Inbound;
    const MAX_ATTEMPTS: i64 = 10;

    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        match process_event(ctx, self.webhook_event_id).await? {
            Processed::Applied(effects) => match effects.failure_summary() {
                None => Ok(()),
                Some(error) => Err(JobError::Permanent(anyhow::anyhow!(error))),
            },
            Processed::Failed(error) => Err(JobError::Permanent(anyhow::anyhow!(error))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_database_fault;

    #[tokio::test]
    async fn a_refusal_is_the_items_fault_and_a_busy_file_the_databases() {
        use sqlx::{Connection, SqliteConnection};
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        for sql in [
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE CHECK (v <> 'x'))",
            "CREATE TRIGGER t_guard BEFORE INSERT ON t WHEN NEW.v = 'raise' BEGIN
                 SELECT RAISE(ABORT, 'refused by a trigger');
             END",
            "INSERT INTO t (v) VALUES ('a')",
        ] {
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
        for refused in ["'a'", "NULL", "'x'", "'raise'"] {
            let err = sqlx::query(&format!("INSERT INTO t (v) VALUES ({refused})"))
                .execute(&mut conn)
                .await
                .unwrap_err();
            assert!(!is_database_fault(&err.into()), "{refused}");
        }
        let undecodable = sqlx::query_scalar::<_, i64>("SELECT 'text'")
            .fetch_one(&mut conn)
            .await
            .unwrap_err();
        assert!(!is_database_fault(&undecodable.into()));
        // A schema this release does not expect is not the message's fault: retried.
        let missing = sqlx::query("INSERT INTO gone (v) VALUES (1)")
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert!(is_database_fault(&missing.into()));
        let busy = sqlx::Error::Io(std::io::Error::other("disk gone"));
        assert!(is_database_fault(&busy.into()));
        assert!(!is_database_fault(&anyhow::anyhow!("a field is missing")));
    }
}
