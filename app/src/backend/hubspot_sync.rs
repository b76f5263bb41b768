//! Leads to HubSpot contacts (SPEC §4): a lead is pending while HubSpot has not seen its last
//! change. A batch of at most 100 pending leads is sent by how HubSpot can match each: its
//! stored HubSpot id (update); else the contact that has its e-mail, looked up first and taken
//! only if it is no other lead's (update by that id); else the unique contact property that
//! carries the lead's random key (upsert, set up once by `mini-crm hubspot setup`). No call
//! creates blind, so every call may be repeated: a create whose answer was lost finds its
//! contact the next time, and one patient's data never lands on another's contact.
//!
//! One contact never stops the others: each record's answer is applied on its own, and a
//! batch HubSpot refuses as a whole for a record's data is split in halves until that record
//! stands alone, is marked with HubSpot's reason, and the rest are synced. One sync runs at a
//! time across processes (a lease), so answers are never applied out of order. Changes that
//! came from HubSpot are written already synced, so they are never sent back.

use super::breakers;
use super::db::Db;
use super::flags::{self, HubspotMode};
use super::jobs::{Job, JobContext, JobError};
use super::providers::hubspot::{
    refuses_the_account, Batch, BatchOutcome, Found, HubspotClient, Refusal, BATCH_LIMIT,
};
use super::providers::CallError;
use super::store::{jobs, leads, leases};
use crate::domain::{mask_email_addresses, mask_phone_numbers, Provider, Queue, Timestamp};
use anyhow::anyhow;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

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
            Err(stop) => return Err(stopped(ctx, stop).await),
        };
        for _ in 0..BATCHES_PER_JOB {
            let failed = match syncer.batch().await {
                Ok(report) => match record_on_breaker(ctx, None).await {
                    Err(err) => Some(err),
                    Ok(()) if report.settled == 0 => break,
                    Ok(()) => {
                        tracing::info!(
                            provider = "hubspot",
                            synced = report.synced,
                            refused = report.refused,
                            "contacts synced"
                        );
                        None
                    }
                },
                // Another process is syncing: it hands over when it is done (`finish`). Should
                // it die instead, a job due when its lease runs out takes over.
                Err(SyncStop::Busy) => {
                    let now = Timestamp::now();
                    let mut conn = ctx
                        .db
                        .writer
                        .acquire()
                        .await
                        .map_err(|e| JobError::Retryable(e.into()))?;
                    return queue_sync(&mut conn, now.plus_seconds(LEASE_SECONDS), now)
                        .await
                        .map_err(|e| JobError::Retryable(e.into()));
                }
                Err(stop) => Some(stopped(ctx, stop).await),
            };
            if let Some(err) = failed {
                // This job is tried again (or held) as it is; others may sync meanwhile.
                syncer
                    .release()
                    .await
                    .map_err(|e| JobError::Retryable(e.into()))?;
                return Err(err);
            }
        }
        // Whatever is still pending (more than ten batches, a change made meanwhile) gets a
        // fresh job once the lease is given back.
        syncer
            .finish()
            .await
            .map_err(|e| JobError::Retryable(e.into()))
    }
}

/// Why a sync stopped before nothing was pending.
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
                reason,
                retry_after,
            },
            CallError::Unknown { reason } => SyncStop::Retry {
                reason,
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
                "HubSpot rechaza la petición: {}",
                mask_personal_data(&reason)
            )),
        }
    }
}

/// A provider's text as we keep and show it: no patient's phone number or e-mail address.
fn mask_personal_data(text: &str) -> String {
    mask_phone_numbers(&mask_email_addresses(text))
}

/// A stop as the queue takes it: a hold waits with its reason for a person; the rest retry.
async fn stopped(ctx: &JobContext, stop: SyncStop) -> JobError {
    if let SyncStop::Retry { reason, .. } = &stop {
        if let Err(err) = record_on_breaker(ctx, Some(reason)).await {
            return err;
        }
    }
    match stop {
        SyncStop::Retry {
            reason,
            retry_after: Some(seconds),
        } => JobError::RetryAfter(anyhow!("HubSpot contact sync: {reason}"), seconds),
        SyncStop::Retry { reason, .. } => {
            JobError::Retryable(anyhow!("HubSpot contact sync: {reason}"))
        }
        SyncStop::Database(err) => JobError::Retryable(err),
        SyncStop::Busy => JobError::Retryable(anyhow!("another HubSpot sync is running")),
        SyncStop::Hold(reason) => {
            if let Err(err) =
                flags::hold_queue(&ctx.db.writer, Queue::Hubspot, &reason, Timestamp::now()).await
            {
                return JobError::Retryable(anyhow::Error::from(err).context("holding hubspot"));
            }
            tracing::error!(provider = "hubspot", reason, "hubspot queue held");
            JobError::Held(anyhow!("HubSpot contact sync: {reason}"))
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
    .map_err(|e| {
        JobError::Retryable(anyhow::Error::from(e).context("recording hubspot on its breaker"))
    })
}

/// Queues a sync unless one is already waiting, or HubSpot sync is off. Called in the
/// transaction of every change to a lead's contact fields.
pub async fn request_sync(conn: &mut sqlx::SqliteConnection, now: Timestamp) -> sqlx::Result<()> {
    queue_sync(conn, now, now).await
}

/// [`request_sync`], due at `run_at`.
async fn queue_sync(
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

/// What `mini-crm hubspot setup` found.
#[derive(Debug, PartialEq, Eq)]
pub enum SetUp {
    Created,
    AlreadyThere,
}

/// Creates the unique contact property that carries our lead keys, unless HubSpot has it, and
/// lifts the hubspot queue's hold: the calls just proved the token works (a missing contacts
/// scope, if any, holds it again at the next batch, with its reason).
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
                    .map_err(PropertyCheck::into_stop(property))?;
                SetUp::AlreadyThere
            }
        }
        Err(other) => return Err(PropertyCheck::into_stop(property)(other)),
    };
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
    fn into_stop(property: &str) -> impl Fn(PropertyCheck) -> SyncStop + '_ {
        move |check| match check {
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
    /// Leads synced or refused (0: nothing was pending).
    pub settled: usize,
    pub synced: usize,
    pub refused: usize,
}

/// The lease every sync holds while it sends, and for how long one batch may take.
const LEASE: &str = "hubspot_sync";
const LEASE_SECONDS: i64 = 120;

/// Sends pending leads once the set-up is known to be in place, one holder at a time.
pub struct Syncer<'a> {
    db: &'a Db,
    client: &'a HubspotClient,
    property: &'a str,
    /// This sync's name on the lease: who (`worker`, `cli`) and a random part.
    owner: String,
}

impl<'a> Syncer<'a> {
    /// Checks that HubSpot has the unique lead-key property: without it a new lead could only
    /// be created blind, and a create repeated after a lost answer would make a second contact.
    pub async fn new(
        db: &'a Db,
        client: &'a HubspotClient,
        property: &'a str,
        who: &str,
    ) -> Result<Syncer<'a>, SyncStop> {
        check_property(client, property)
            .await
            .map_err(PropertyCheck::into_stop(property))?;
        Ok(Self {
            db,
            client,
            property,
            owner: format!("{who}-{:016x}", rand::random::<u64>()),
        })
    }

    /// Gives the lease back.
    pub async fn release(&self) -> sqlx::Result<()> {
        leases::release(&self.db.writer, LEASE, &self.owner).await
    }

    /// Gives the lease back and, when leads are still pending (work left, or changed while
    /// another sync was turned away), queues a fresh job for them.
    pub async fn finish(&self) -> sqlx::Result<()> {
        self.release().await?;
        if leads::count_pending_hubspot(&self.db.writer).await? > 0 {
            let mut conn = self.db.writer.acquire().await?;
            request_sync(&mut conn, Timestamp::now()).await?;
        }
        Ok(())
    }

    /// Sends up to [`BATCH_LIMIT`] pending leads and applies each record's answer. A failure
    /// of a whole call leaves its leads pending.
    pub async fn batch(&self) -> Result<SyncReport, SyncStop> {
        let now = Timestamp::now();
        let until = now.plus_seconds(LEASE_SECONDS);
        if !leases::take(&self.db.writer, LEASE, &self.owner, until, now).await? {
            return Err(SyncStop::Busy);
        }
        let pending = leads::pending_hubspot(&self.db.writer, BATCH_LIMIT as i64).await?;
        let mut report = SyncReport::default();
        let mut by_id = Vec::new();
        let mut by_email: Vec<leads::HubspotLead> = Vec::new();
        let mut by_key = Vec::new();
        for lead in pending {
            match (&lead.hubspot_id, &lead.email) {
                (Some(_), _) => by_id.push(lead),
                // Two inputs for one contact would fail the whole batch, or write it twice:
                // the second waits for the next batch, where it finds the first one's contact.
                (None, Some(email)) => {
                    if !by_email.iter().any(|l| l.email.as_ref() == Some(email)) {
                        by_email.push(lead);
                    }
                }
                (None, None) => by_key.push(lead),
            }
        }
        let emails: Vec<&str> = by_email.iter().filter_map(|l| l.email.as_deref()).collect();
        let found = self.client.find_by_email(&emails, self.property).await?;
        for mut lead in by_email {
            let contact = found.iter().find(|f| Some(&f.email) == lead.email.as_ref());
            match contact {
                None => by_key.push(lead),
                Some(contact) => match self.owner_of(&lead, contact).await? {
                    Some(other) => {
                        let reason = format!(
                            "El contacto {} de HubSpot, con el mismo e-mail, es del lead #{other}: \
                             une los duplicados o cambia el e-mail",
                            contact.id
                        );
                        self.refuse(&lead, &reason, &mut report).await?;
                    }
                    None => {
                        lead.hubspot_id = Some(contact.id.clone());
                        by_id.push(lead);
                    }
                },
            }
        }
        self.send(Match::HubspotId, by_id, &mut report).await?;
        self.send(Match::Key, by_key, &mut report).await?;
        Ok(report)
    }

    /// The lead, other than this one, that the contact HubSpot has for its e-mail belongs to:
    /// linked to it, or holding its key. A key we do not know (a lead lost with a restored
    /// backup) or none (typed in HubSpot) leaves the contact free to take.
    async fn owner_of(
        &self,
        lead: &leads::HubspotLead,
        contact: &Found,
    ) -> Result<Option<i64>, SyncStop> {
        let key = contact.key.as_deref().filter(|k| *k != lead.hubspot_key);
        Ok(leads::hubspot_contact_owner(&self.db.writer, lead.id, &contact.id, key).await?)
    }

    /// Sends `group` matched `how`; a part HubSpot refuses as a whole for a record's data, or
    /// leaves unanswered, is sent again in halves until each lead is synced or refused alone.
    async fn send(
        &self,
        how: Match,
        group: Vec<leads::HubspotLead>,
        report: &mut SyncReport,
    ) -> Result<(), SyncStop> {
        let mut parts = vec![group];
        while let Some(part) = parts.pop() {
            if part.is_empty() {
                continue;
            }
            let alone = part.len() == 1;
            let inputs = part.iter().map(|lead| self.input(how, lead)).collect();
            let (unsettled, unclaimed) = match self.client.batch(how.batch(), inputs).await? {
                BatchOutcome::Answered { results, errors } => {
                    self.apply(how, part, &results, &errors, report).await?
                }
                BatchOutcome::Refused(refusal) => {
                    if refusal.message.contains(self.property) || !refusal.is_about_a_record() {
                        // Not one record's fault (our property is gone, an answer we do not
                        // know): marking leads would hide it.
                        return Err(SyncStop::Hold(format!(
                            "HubSpot rechaza los lotes: {} ({}). Si la propiedad «{}» ya no \
                             existe, ejecuta `mini-crm hubspot setup`",
                            mask_personal_data(&refusal.message),
                            refusal.status,
                            self.property
                        )));
                    }
                    if let [lead] = &part[..] {
                        self.refused_alone(how, lead, &refusal, report).await?;
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

    /// A lead HubSpot refused on its own: an update of a contact HubSpot no longer has marks
    /// the lead as deleted there (as the deletion webhook does); anything else is kept as
    /// the lead's refusal.
    async fn refused_alone(
        &self,
        how: Match,
        lead: &leads::HubspotLead,
        refusal: &Refusal,
        report: &mut SyncReport,
    ) -> Result<(), SyncStop> {
        if how == Match::HubspotId && refusal.status == 404 {
            leads::mark_hubspot_deleted(&self.db.writer, lead.id, Timestamp::now()).await?;
            tracing::warn!(
                provider = "hubspot",
                lead_id = lead.id,
                "contact no longer in HubSpot: lead marked deleted there"
            );
            report.settled += 1;
            report.refused += 1;
            return Ok(());
        }
        self.refuse(lead, &mask_personal_data(&refusal.message), report)
            .await
    }

    /// Applies each record's answer; returns the leads the answer says nothing about, and the
    /// errors it tied to no input (a lead sent alone is refused with them).
    async fn apply(
        &self,
        how: Match,
        part: Vec<leads::HubspotLead>,
        results: &[Value],
        errors: &[super::providers::hubspot::RecordError],
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
                let reason =
                    format!("El contacto {hubspot_id} de HubSpot ya es del lead #{other}: une los duplicados");
                self.refuse(lead, &reason, report).await
            }
        }
    }

    /// HubSpot refused this contact, for `reason` (already masked): kept, and out of the sync
    /// until the lead changes.
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
            "contact refused by HubSpot"
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
            Match::HubspotId => input["id"] = json!(lead.hubspot_id),
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
            Match::HubspotId => result["id"].as_str() == lead.hubspot_id.as_deref(),
            Match::Key => {
                result["properties"][self.property].as_str() == Some(lead.hubspot_key.as_str())
            }
        }
    }
}

/// How HubSpot finds a lead's contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Match {
    HubspotId,
    Key,
}

impl Match {
    fn batch(self) -> Batch {
        match self {
            Match::HubspotId => Batch::Update,
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
