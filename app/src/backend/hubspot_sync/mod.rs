//! Leads to HubSpot contacts (SPEC §4): a lead is pending while HubSpot has not seen its last
//! change. A batch of at most 100 pending leads finds each one's contact: its stored HubSpot id;
//! else the contact carrying its random key (a create whose answer was lost); else the contact
//! that has its e-mail, taken only if it is no other lead's and names the same person; else
//! none, and it is created by an upsert on the unique key property (set up once by `mini-crm
//! hubspot setup`). No call creates blind, so every call may be repeated, and one patient's data
//! never lands on another's contact.
//!
//! One contact never stops the others: each record's answer is applied on its own, and a
//! batch HubSpot refuses as a whole for a record's data is split in halves until that record
//! stands alone, is marked with HubSpot's reason, and the rest are synced. One sync runs at a
//! time across processes (a lease, renewed before every call). Changes that came from HubSpot
//! are written already synced, so they are never sent back.
//!
//! Here: the job, how its stops reach the queue, and how syncs are queued; `syncer`: one sync;
//! `setup`: the unique property.

mod setup;
mod syncer;

pub use setup::{set_up, SetUp};
use syncer::LEASE_SECONDS;
pub use syncer::{SyncReport, Syncer};

use crate::backend::breakers;
use crate::backend::db::Db;
use crate::backend::flags::{self, HubspotMode};
use crate::backend::jobs::{Job, JobContext, JobError};
use crate::backend::providers::hubspot::{refuses_the_account, HubspotClient};
use crate::backend::providers::CallError;
use crate::backend::store::{jobs, leads};
use crate::domain::{mask_personal_data, Provider, Queue, Timestamp};
use anyhow::{anyhow, Context};
use serde::{Deserialize, Serialize};

/// Sends pending leads to HubSpot, batch after batch.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SyncHubspot {}

/// Batches one job sends before handing over to a fresh job (so one run stays short).
const BATCHES_PER_JOB: usize = 10;

impl Job for SyncHubspot {
    const NAME: &'static str = "sync_hubspot";
    const QUEUE: Queue = Queue::Hubspot;
    const MAX_ATTEMPTS: i64 = 20;

    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let client =
            HubspotClient::from_config(&ctx.config, ctx.http.clone()).ok_or_else(|| {
                JobError::Retryable(anyhow!("HubSpot is not configured (HUBSPOT_ACCESS_TOKEN)"))
            })?;
        let property = &ctx.config.hubspot_lead_key_property;
        let syncer = match Syncer::new(&ctx.db, &client, property, "worker").await {
            Ok(syncer) => syncer,
            Err(stop) => return stopped(ctx, stop).await,
        };
        for _ in 0..BATCHES_PER_JOB {
            let report = match syncer.batch().await {
                Ok(report) => report,
                Err(stop) => {
                    // This job is tried again (or held) as it is; others may sync meanwhile.
                    syncer.release().await.map_err(retryable)?;
                    return stopped(ctx, stop).await;
                }
            };
            if let Err(err) = record_on_breaker(ctx, None).await {
                syncer.release().await.map_err(retryable)?;
                return Err(err);
            }
            if report.settled == 0 {
                break;
            }
            tracing::info!(
                provider = "hubspot",
                synced = report.synced,
                refused = report.refused,
                "contacts synced"
            );
        }
        // Whatever is still pending (more than ten batches, a change made meanwhile) gets a
        // fresh job once the lease is given back.
        syncer.finish().await.map_err(retryable)
    }
}

fn retryable(err: anyhow::Error) -> JobError {
    JobError::Retryable(err)
}

/// Why a sync stopped.
#[derive(Debug)]
pub enum SyncStop {
    /// HubSpot is unreachable, rate-limited or failing: worth another attempt, `retry_after`
    /// seconds from now when HubSpot said so.
    Retry {
        reason: String,
        retry_after: Option<i64>,
    },
    /// A person must act first (the token, its scopes, the set-up): the queue is held with
    /// this reason, in Spanish, until then.
    Hold(String),
    /// Another process holds the sync's lease.
    Busy,
    /// Our database failed.
    Database(anyhow::Error),
}

impl std::fmt::Display for SyncStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncStop::Retry { reason, .. } | SyncStop::Hold(reason) => f.write_str(reason),
            SyncStop::Busy => f.write_str("another HubSpot sync is running"),
            SyncStop::Database(err) => write!(f, "database: {err:#}"),
        }
    }
}

impl From<sqlx::Error> for SyncStop {
    fn from(err: sqlx::Error) -> Self {
        SyncStop::Database(anyhow::Error::from(err).context("HubSpot contact sync"))
    }
}

impl From<CallError> for SyncStop {
    /// Every sync call may be repeated, so an unknown outcome is one more attempt; a refusal
    /// that reaches here is not one contact's (those are marked on the lead), so a person
    /// must look.
    fn from(err: CallError) -> Self {
        match err {
            CallError::Retry {
                reason,
                retry_after,
            } => SyncStop::Retry {
                reason: mask_personal_data(&reason),
                retry_after,
            },
            CallError::Unknown { reason } => SyncStop::Retry {
                reason: mask_personal_data(&reason),
                retry_after: None,
            },
            CallError::Refused { code, reason } if refuses_the_account(code) => {
                SyncStop::Hold(format!(
                    "HubSpot rechaza el token o le faltan permisos ({}): revisa \
                     HUBSPOT_ACCESS_TOKEN y sus permisos (contactos, y esquemas de contactos para \
                     la propiedad de la clave), reinicia y ejecuta `mini-crm queue resume hubspot`",
                    mask_personal_data(&reason)
                ))
            }
            CallError::Refused { reason, .. } => SyncStop::Hold(format!(
                "HubSpot rechaza la petición ({}): revísalo y ejecuta `mini-crm queue resume \
                 hubspot`",
                mask_personal_data(&reason)
            )),
        }
    }
}

/// A stop as the queue takes it. Busy: the holder hands over when done; should it die instead,
/// a job due when its lease runs out takes over. A hold waits with its reason for a person; the
/// rest retry.
async fn stopped(ctx: &JobContext, stop: SyncStop) -> Result<(), JobError> {
    let now = Timestamp::now();
    match stop {
        SyncStop::Busy => queue_sync(&ctx.db, now.plus_seconds(LEASE_SECONDS), now)
            .await
            .map_err(retryable),
        SyncStop::Retry {
            reason,
            retry_after,
        } => {
            record_on_breaker(ctx, Some(&reason)).await?;
            let err = anyhow!("HubSpot contact sync: {reason}");
            Err(match retry_after {
                Some(seconds) => JobError::RetryAfter(err, seconds),
                None => JobError::Retryable(err),
            })
        }
        SyncStop::Database(err) => Err(JobError::Retryable(err)),
        SyncStop::Hold(reason) => {
            flags::hold_queue(&ctx.db.writer, Queue::Hubspot, &reason, now)
                .await
                .context("holding the hubspot queue")
                .map_err(retryable)?;
            tracing::error!(provider = "hubspot", reason, "hubspot queue held");
            Err(JobError::Held(anyhow!("HubSpot contact sync: {reason}")))
        }
    }
}

/// A failure that may pass counts towards opening HubSpot's breaker; an answer closes it.
async fn record_on_breaker(ctx: &JobContext, failure: Option<&str>) -> Result<(), JobError> {
    let now = Timestamp::now();
    match failure {
        Some(reason) => breakers::record_failure(&ctx.db, Provider::Hubspot, reason, now).await,
        None => breakers::record_success(&ctx.db, Provider::Hubspot, now).await,
    }
    .context("recording hubspot on its breaker")
    .map_err(retryable)
}

/// Queues a sync unless one is already waiting, or HubSpot sync is off. Called in the
/// transaction of every change to a lead's contact fields.
pub async fn request_sync(conn: &mut sqlx::SqliteConnection, now: Timestamp) -> sqlx::Result<()> {
    enqueue(conn, now, now).await
}

/// A sync due at `run_at` (a waiting one is brought forward to it), unless sync is off.
async fn enqueue(
    conn: &mut sqlx::SqliteConnection,
    run_at: Timestamp,
    now: Timestamp,
) -> sqlx::Result<()> {
    let mode = super::store::settings::get(&mut *conn, flags::HUBSPOT_SYNC_MODE).await?;
    if mode.as_deref().and_then(HubspotMode::parse) == Some(HubspotMode::Off) {
        return Ok(());
    }
    let payload = serde_json::to_string(&SyncHubspot::default()).expect("serializes");
    jobs::enqueue_unless_pending(
        &mut *conn,
        SyncHubspot::NAME,
        SyncHubspot::QUEUE,
        &payload,
        SyncHubspot::MAX_ATTEMPTS,
        run_at,
        now,
    )
    .await
}

/// [`enqueue`], when leads are pending.
async fn queue_sync(db: &Db, run_at: Timestamp, now: Timestamp) -> anyhow::Result<()> {
    if leads::count_pending_hubspot(&db.writer).await? == 0 {
        return Ok(());
    }
    let mut conn = db.writer.acquire().await?;
    enqueue(&mut conn, run_at, now)
        .await
        .context("queueing a HubSpot sync")
}

/// `serve`'s hourly look: leads pending with no job to send them (a job that used its attempts,
/// a sync stopped by hand) get one. Only while HubSpot is configured.
pub async fn run_hourly_sweep(db: Db) {
    loop {
        let now = Timestamp::now();
        if let Err(err) = queue_sync(&db, now, now).await {
            tracing::warn!(
                error = format!("{err:#}"),
                "hubspot sweep failed; again in an hour"
            );
        }
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
}

/// Leads HubSpot has not seen yet (or refused until they change).
pub async fn count_pending(db: &Db) -> sqlx::Result<i64> {
    leads::count_pending_hubspot(&db.reader).await
}

/// `hubspot sync --full` (every lead) or `--since T` (leads changed since T): pending again,
/// refusals forgotten; how many.
pub async fn resync(db: &Db, since: Option<Timestamp>) -> sqlx::Result<u64> {
    leads::resync_hubspot(&db.writer, since).await
}

/// A sync due now when leads are pending (a waiting one brought forward): the queue sends them
/// whatever happens to the caller's own sync.
pub async fn request_pending(db: &Db) -> anyhow::Result<()> {
    let now = Timestamp::now();
    queue_sync(db, now, now).await
}
