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

use super::breakers;
use super::db::Db;
use super::flags::{self, HubspotMode};
use super::jobs::{Job, JobContext, JobError};
use super::providers::hubspot::{
    refuses_the_account, Batch, BatchOutcome, Found, HubspotClient, RecordError, Refusal,
    BATCH_LIMIT,
};
use super::providers::CallError;
use super::store::{jobs, leads, leases};
use crate::domain::{mask_personal_data, Email, Provider, Queue, Timestamp};
use anyhow::{anyhow, Context};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashSet;

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

/// What `mini-crm hubspot setup` found.
#[derive(Debug, PartialEq, Eq)]
pub enum SetUp {
    Created,
    AlreadyThere,
}

/// Creates the unique contact property that carries our lead keys, unless HubSpot has it, and
/// lifts the hubspot queue's hold once a read of contacts shows the token can reach them.
pub async fn set_up(db: &Db, client: &HubspotClient, property: &str) -> Result<SetUp, SyncStop> {
    let done = match check_property(client, property).await {
        Ok(()) => SetUp::AlreadyThere,
        Err(PropertyCheck::Missing) => {
            if client.create_lead_key_property(property).await? {
                SetUp::Created
            } else {
                // Made meanwhile (another set-up): it must be the right kind all the same.
                check_property(client, property)
                    .await
                    .map_err(|check| check.into_stop(property))?;
                SetUp::AlreadyThere
            }
        }
        Err(other) => return Err(other.into_stop(property)),
    };
    client
        .read("email", &["setup@mini-crm.invalid"], &["email"])
        .await?;
    flags::release_queue(&db.writer, Queue::Hubspot, Timestamp::now()).await?;
    Ok(done)
}

/// Why the lead-key property cannot be used.
enum PropertyCheck {
    Missing,
    NotUnique,
    Call(CallError),
}

impl PropertyCheck {
    fn into_stop(self, property: &str) -> SyncStop {
        match self {
            PropertyCheck::Missing => SyncStop::Hold(format!(
                "Falta en HubSpot la propiedad única «{property}» que lleva la clave de cada \
                 lead: ejecuta `mini-crm hubspot setup`"
            )),
            PropertyCheck::NotUnique => SyncStop::Hold(format!(
                "La propiedad «{property}» de HubSpot no es de valor único: elige otro nombre \
                 en HUBSPOT_LEAD_KEY_PROPERTY y ejecuta `mini-crm hubspot setup`"
            )),
            PropertyCheck::Call(err) => err.into(),
        }
    }
}

async fn check_property(client: &HubspotClient, property: &str) -> Result<(), PropertyCheck> {
    match client
        .property(property)
        .await
        .map_err(PropertyCheck::Call)?
    {
        Some(found) if found.unique => Ok(()),
        Some(_) => Err(PropertyCheck::NotUnique),
        None => Err(PropertyCheck::Missing),
    }
}

/// What one batch did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Leads synced, refused or found deleted in HubSpot (0: nothing was pending).
    pub settled: usize,
    pub synced: usize,
    pub refused: usize,
}

/// The lease every sync holds while it sends, renewed before each call to HubSpot (each at
/// most 20 s: connect and answer timeouts), so it never runs out under a live holder.
const LEASE: &str = "hubspot_sync";
const LEASE_SECONDS: i64 = 120;

/// Sends pending leads, holding the sync's lease, once the set-up is known to be in place.
pub struct Syncer<'a> {
    db: &'a Db,
    client: &'a HubspotClient,
    property: &'a str,
    /// This sync's name on the lease: who (`worker`, `cli`) and a random part.
    owner: String,
}

impl<'a> Syncer<'a> {
    /// Takes the lease (`Busy` while another process holds it), then checks that HubSpot has
    /// the unique lead-key property: without it a new lead could only be created blind, and a
    /// create repeated after a lost answer would make a second contact.
    pub async fn new(
        db: &'a Db,
        client: &'a HubspotClient,
        property: &'a str,
        who: &str,
    ) -> Result<Syncer<'a>, SyncStop> {
        let syncer = Self {
            db,
            client,
            property,
            owner: format!("{who}-{:016x}", rand::random::<u64>()),
        };
        syncer.renew().await?;
        if let Err(check) = check_property(client, property).await {
            syncer.release().await.map_err(SyncStop::Database)?;
            return Err(check.into_stop(property));
        }
        Ok(syncer)
    }

    async fn renew(&self) -> Result<(), SyncStop> {
        let now = Timestamp::now();
        let until = now.plus_seconds(LEASE_SECONDS);
        if leases::take(&self.db.writer, LEASE, &self.owner, until, now).await? {
            Ok(())
        } else {
            Err(SyncStop::Busy)
        }
    }

    /// Gives the lease back.
    pub async fn release(&self) -> anyhow::Result<()> {
        leases::release(&self.db.writer, LEASE, &self.owner)
            .await
            .context("giving back the hubspot_sync lease")
    }

    /// Gives the lease back and, when leads are still pending (work left, or changed while
    /// another sync was turned away), queues a job for them.
    pub async fn finish(&self) -> anyhow::Result<()> {
        self.release().await?;
        let now = Timestamp::now();
        queue_sync(self.db, now, now).await
    }

    /// Sends up to [`BATCH_LIMIT`] pending leads and applies each record's answer. A failure
    /// of a whole call leaves its leads pending.
    pub async fn batch(&self) -> Result<SyncReport, SyncStop> {
        self.renew().await?;
        let pending = leads::pending_hubspot(&self.db.writer, BATCH_LIMIT as i64).await?;
        let mut report = SyncReport::default();
        let (linked, unlinked): (Vec<_>, Vec<_>) =
            pending.into_iter().partition(|l| l.hubspot_id.is_some());
        // A create whose answer was lost: HubSpot has the contact with this lead's key.
        let keys: Vec<&str> = unlinked.iter().map(|l| l.hubspot_key.as_str()).collect();
        self.renew().await?;
        let by_key = self
            .client
            .read(self.property, &keys, &[self.property])
            .await?;
        let mut found = Vec::new();
        let mut by_email: Vec<(leads::HubspotLead, String)> = Vec::new();
        let mut new = Vec::new();
        for mut lead in unlinked {
            if let Some(contact) = by_key
                .iter()
                .find(|c| c.get(self.property) == Some(lead.hubspot_key.as_str()))
            {
                lead.hubspot_id = Some(contact.id.clone());
                found.push(lead);
                continue;
            }
            // Looked up only if HubSpot would take it as an address; otherwise the upsert
            // carries it and HubSpot refuses this lead alone.
            let email = lead
                .email
                .as_deref()
                .and_then(|e| Email::parse(e).ok())
                .map(|e| e.as_str().to_string());
            match email {
                // Two inputs for one contact would fail the whole batch, or write it twice:
                // the second waits for the next batch, where it finds the first one's contact.
                Some(email) if by_email.iter().any(|(_, e)| *e == email) => {}
                Some(email) => by_email.push((lead, email)),
                None => new.push(lead),
            }
        }
        let emails: Vec<&str> = by_email.iter().map(|(_, e)| e.as_str()).collect();
        self.renew().await?;
        let wanted = ["email", "firstname", "phone", self.property];
        let with_email = match self.client.read("email", &emails, &wanted).await {
            Ok(contacts) => contacts,
            // HubSpot refused the read itself (an address it will not look up): each lead is
            // then upserted by its key, and one whose e-mail another contact has is refused
            // alone, with HubSpot's "already exists".
            Err(CallError::Refused { code, reason }) if !refuses_the_account(code) => {
                tracing::warn!(
                    provider = "hubspot",
                    reason = mask_personal_data(&reason),
                    "HubSpot refused the look-up by e-mail; leads go by their keys"
                );
                Vec::new()
            }
            Err(err) => return Err(err.into()),
        };
        for (mut lead, email) in by_email {
            let Some(contact) = with_email
                .iter()
                .find(|c| c.get("email").map(str::to_lowercase).as_deref() == Some(&email))
            else {
                new.push(lead);
                continue;
            };
            if let Some(reason) = self.not_this_leads(&lead, contact).await? {
                self.refuse(&lead, &reason, &mut report).await?;
                continue;
            }
            lead.hubspot_id = Some(contact.id.clone());
            found.push(lead);
        }
        let looked_up: HashSet<i64> = found.iter().map(|l| l.id).collect();
        let mut update = linked;
        update.extend(found);
        self.send(Match::Id, update, &looked_up, &mut report)
            .await?;
        self.send(Match::Key, new, &looked_up, &mut report).await?;
        Ok(report)
    }

    /// Why the contact HubSpot has for this lead's e-mail is not this lead's to take, if it is
    /// not: it is another lead's here (linked to it, or carrying its key), or it names someone
    /// else (another first name or phone, as when a family shares an address). A contact
    /// typed in HubSpot with the same person's details, or carrying a key we do not know (a
    /// lead lost with a restored backup), is taken.
    async fn not_this_leads(
        &self,
        lead: &leads::HubspotLead,
        contact: &Found,
    ) -> Result<Option<String>, SyncStop> {
        let key = contact
            .get(self.property)
            .filter(|k| *k != lead.hubspot_key);
        let owner =
            leads::hubspot_contact_owner(&self.db.writer, lead.id, &contact.id, key).await?;
        if let Some(other) = owner {
            return Ok(Some(format!(
                "El contacto {} de HubSpot, con el mismo e-mail, es del lead #{other}: une los \
                 duplicados o cambia el e-mail",
                contact.id
            )));
        }
        let first_name = |name: &str| {
            name.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_lowercase()
        };
        let name_differs = contact
            .get("firstname")
            .is_some_and(|theirs| first_name(theirs) != first_name(&lead.name));
        let last_digits = |phone: &str| {
            let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
            digits[digits.len().saturating_sub(9)..]
                .iter()
                .collect::<String>()
        };
        let phone_differs = match (contact.get("phone"), lead.phone.as_deref()) {
            (Some(theirs), Some(ours)) => last_digits(theirs) != last_digits(ours),
            _ => false,
        };
        Ok((name_differs || phone_differs).then(|| {
            format!(
                "El contacto {} de HubSpot tiene este e-mail pero otro nombre o teléfono: \
                 comprueba si es la misma persona y une los contactos, o cambia el e-mail",
                contact.id
            )
        }))
    }

    /// Sends `group` matched `how`; a part HubSpot refuses as a whole for a record's data, or
    /// leaves unanswered, is sent again in halves until each lead is settled alone.
    async fn send(
        &self,
        how: Match,
        group: Vec<leads::HubspotLead>,
        looked_up: &HashSet<i64>,
        report: &mut SyncReport,
    ) -> Result<(), SyncStop> {
        let mut parts = vec![group];
        while let Some(part) = parts.pop() {
            if part.is_empty() {
                continue;
            }
            let alone = part.len() == 1;
            let inputs = part.iter().map(|lead| self.input(how, lead)).collect();
            self.renew().await?;
            let (unsettled, unclaimed) = match self.client.batch(how.batch(), inputs).await? {
                BatchOutcome::Answered { results, errors } => {
                    self.apply(how, part, &results, &errors, report).await?
                }
                BatchOutcome::Refused(refusal) => {
                    if let Some(hold) = self.hold_for(&refusal) {
                        return Err(hold);
                    }
                    if let [lead] = &part[..] {
                        let looked_up = looked_up.contains(&lead.id);
                        self.refused_alone(how, looked_up, lead, &refusal, report)
                            .await?;
                        continue;
                    }
                    (part, Vec::new())
                }
            };
            match &unsettled[..] {
                [] => {}
                // Alone and still unanswered: settled with whatever HubSpot said.
                [lead] if alone => {
                    let reason = if unclaimed.is_empty() {
                        "HubSpot no devolvió el contacto ni un error".to_string()
                    } else {
                        mask_personal_data(&unclaimed.join("; "))
                    };
                    self.refuse(lead, &reason, report).await?;
                }
                [_] => parts.push(unsettled),
                _ => {
                    let mut first = unsettled;
                    let second = first.split_off(first.len() / 2);
                    parts.push(second);
                    parts.push(first);
                }
            }
        }
        Ok(())
    }

    /// A whole-batch refusal that is no record's fault holds the queue: our key property gone
    /// (archived in HubSpot), or an answer that is not about a record's data. Marking leads
    /// would hide it.
    fn hold_for(&self, refusal: &Refusal) -> Option<SyncStop> {
        let property_gone = refusal.message.contains("PROPERTY_DOESNT_EXIST")
            && refusal.message.contains(self.property);
        if property_gone {
            return Some(PropertyCheck::Missing.into_stop(self.property));
        }
        (!refusal.is_about_a_record()).then(|| {
            SyncStop::Hold(format!(
                "HubSpot rechaza los lotes ({}, {}): revísalo y ejecuta `mini-crm queue resume \
                 hubspot`",
                refusal.status,
                mask_personal_data(&refusal.message)
            ))
        })
    }

    /// A lead HubSpot refused on its own. An update of the contact its stored id names, which
    /// HubSpot no longer has, marks the lead deleted there (as the deletion webhook does); one
    /// `looked_up` a moment ago and gone since is left pending, to be looked up again; anything
    /// else is kept as the lead's refusal.
    async fn refused_alone(
        &self,
        how: Match,
        looked_up: bool,
        lead: &leads::HubspotLead,
        refusal: &Refusal,
        report: &mut SyncReport,
    ) -> Result<(), SyncStop> {
        match (how, refusal.status) {
            (Match::Id, 404) if looked_up => Ok(()),
            (Match::Id, 404) => {
                leads::mark_hubspot_deleted(&self.db.writer, lead.id, Timestamp::now()).await?;
                tracing::warn!(
                    provider = "hubspot",
                    lead_id = lead.id,
                    "contact no longer in HubSpot: lead marked deleted there"
                );
                report.settled += 1;
                Ok(())
            }
            _ => {
                self.refuse(lead, &mask_personal_data(&refusal.message), report)
                    .await
            }
        }
    }

    /// Applies each record's answer; returns the leads the answer says nothing about, and the
    /// errors it tied to no input (a lead sent alone is refused with them).
    async fn apply(
        &self,
        how: Match,
        part: Vec<leads::HubspotLead>,
        results: &[Value],
        errors: &[RecordError],
        report: &mut SyncReport,
    ) -> Result<(Vec<leads::HubspotLead>, Vec<String>), SyncStop> {
        let alone = part.len() == 1;
        let mut unsettled = Vec::new();
        for lead in part {
            let trace_id = lead.id.to_string();
            let result = results.iter().find(|r| {
                r["objectWriteTraceId"].as_str() == Some(trace_id.as_str())
                    || self.matches(how, &lead, r)
                    // One input, one contact back: HubSpot may answer a merged contact's id.
                    || (alone && results.len() == 1)
            });
            let error = errors.iter().find(|e| e.trace_ids.contains(&trace_id));
            match (result.and_then(|r| r["id"].as_str()), error) {
                (Some(hubspot_id), _) => self.link(&lead, hubspot_id, report).await?,
                (None, Some(error)) => {
                    self.refuse(&lead, &mask_personal_data(&error.message), report)
                        .await?
                }
                (None, None) => unsettled.push(lead),
            }
        }
        let unclaimed = errors
            .iter()
            .filter(|e| e.trace_ids.is_empty())
            .map(|e| e.message.clone())
            .collect();
        Ok((unsettled, unclaimed))
    }

    /// HubSpot has the lead's contact `hubspot_id`: stored, unless another lead has it.
    async fn link(
        &self,
        lead: &leads::HubspotLead,
        hubspot_id: &str,
        report: &mut SyncReport,
    ) -> Result<(), SyncStop> {
        let linked = leads::mark_hubspot_synced(
            &self.db.writer,
            lead.id,
            hubspot_id,
            lead.revision,
            Timestamp::now(),
        )
        .await?;
        match linked {
            Ok(()) => {
                report.settled += 1;
                report.synced += 1;
                Ok(())
            }
            Err(other) => {
                let reason = format!(
                    "El contacto {hubspot_id} de HubSpot ya es del lead #{other}: une los \
                     duplicados"
                );
                self.refuse(lead, &reason, report).await
            }
        }
    }

    /// The lead is not synced, for `reason` (HubSpot's, masked, or ours): kept on the lead, and
    /// out of the sync until it changes.
    async fn refuse(
        &self,
        lead: &leads::HubspotLead,
        reason: &str,
        report: &mut SyncReport,
    ) -> Result<(), SyncStop> {
        leads::mark_hubspot_refused(&self.db.writer, lead.id, lead.revision, reason).await?;
        tracing::warn!(
            provider = "hubspot",
            lead_id = lead.id,
            reason,
            "lead not synced to HubSpot"
        );
        report.settled += 1;
        report.refused += 1;
        Ok(())
    }

    /// The input for `lead`: its properties with its key, and its lead id as the trace id that
    /// ties HubSpot's answer to it.
    fn input(&self, how: Match, lead: &leads::HubspotLead) -> Value {
        let mut properties = properties(lead);
        properties[self.property] = json!(lead.hubspot_key);
        let mut input = json!({ "objectWriteTraceId": lead.id.to_string(),
                                "properties": properties });
        match how {
            Match::Id => input["id"] = json!(lead.hubspot_id),
            Match::Key => {
                input["id"] = json!(lead.hubspot_key);
                input["idProperty"] = json!(self.property);
            }
        }
        input
    }

    /// Whether a result is this lead's contact, where HubSpot did not echo the trace id.
    fn matches(&self, how: Match, lead: &leads::HubspotLead, result: &Value) -> bool {
        match how {
            Match::Id => result["id"].as_str() == lead.hubspot_id.as_deref(),
            Match::Key => {
                result["properties"][self.property].as_str() == Some(lead.hubspot_key.as_str())
            }
        }
    }
}

/// How a lead's contact is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Match {
    /// Updated by its HubSpot id: stored on the lead, or looked up in this batch (by key or
    /// e-mail).
    Id,
    /// None yet: upserted by the lead's key.
    Key,
}

impl Match {
    fn batch(self) -> Batch {
        match self {
            Match::Id => Batch::Update,
            Match::Key => Batch::Upsert,
        }
    }
}

/// The contact's properties from the lead. Only what the lead has is sent: HubSpot takes an
/// empty string as "clear it", and a one-word name must not clear a last name typed there.
fn properties(lead: &leads::HubspotLead) -> Value {
    let name = lead.name.trim();
    let (first, last) = name.split_once(' ').unwrap_or((name, ""));
    let mut properties = json!({ "firstname": first });
    if !last.trim().is_empty() {
        properties["lastname"] = json!(last.trim());
    }
    if let Some(phone) = &lead.phone {
        properties["phone"] = json!(phone);
    }
    if let Some(email) = &lead.email {
        properties["email"] = json!(email);
    }
    properties
}

#[cfg(test)]
mod tests {
    use super::properties;
    use crate::backend::store::leads::HubspotLead;

    #[test]
    fn what_the_lead_does_not_have_is_not_sent_to_clear_hubspots() {
        let lead = |name: &str, email: Option<&str>| HubspotLead {
            id: 1,
            name: name.into(),
            phone: Some("+34611223344".into()),
            email: email.map(str::to_string),
            hubspot_id: None,
            hubspot_key: "0".repeat(32),
            revision: 1,
        };
        let one_word = properties(&lead(" Cher ", None));
        assert_eq!(
            one_word,
            serde_json::json!({ "firstname": "Cher", "phone": "+34611223344" })
        );
        let full = properties(&lead("Ana Ruiz Soto", Some("ana@example.com")));
        assert_eq!(full["lastname"], "Ruiz Soto");
        assert_eq!(full["email"], "ana@example.com");
    }
}
