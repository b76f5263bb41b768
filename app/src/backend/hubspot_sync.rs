//! Leads to HubSpot contacts (SPEC §4): a lead is pending while HubSpot has not seen its last
//! change. A batch of at most 100 pending leads is sent by how HubSpot can match each: its
//! stored HubSpot id (update), else its e-mail (upsert), else the unique contact property that
//! carries our lead id (upsert, set up once by `mini-crm hubspot setup`). Every call is
//! therefore safe to repeat: a create whose answer was lost finds its contact next time.
//!
//! One contact never stops the others: each record's answer is applied on its own, and a
//! batch HubSpot refuses as a whole is split in halves until the refused contact stands alone,
//! is marked with HubSpot's reason and the rest are synced. Changes that came from HubSpot are
//! written already synced, so they are never sent back.

use super::breakers;
use super::db::Db;
use super::flags::{self, HubspotMode};
use super::jobs::{Job, JobContext, JobError};
use super::providers::hubspot::{
    refuses_the_account, Batch, BatchAnswer, HubspotClient, BATCH_LIMIT,
};
use super::providers::CallError;
use super::store::{jobs, leads};
use crate::domain::{mask_phone_numbers, Provider, Queue, Timestamp};
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
        let syncer = Syncer::new(&ctx.db, &client, &ctx.config.hubspot_lead_id_property).await;
        let syncer = match syncer {
            Ok(syncer) => syncer,
            Err(stop) => return Err(stopped(ctx, stop).await),
        };
        for _ in 0..BATCHES_PER_JOB {
            match syncer.batch().await {
                Ok(report) => {
                    record_on_breaker(ctx, None).await?;
                    if report.sent == 0 {
                        return Ok(());
                    }
                    tracing::info!(
                        provider = "hubspot",
                        synced = report.synced,
                        refused = report.refused,
                        "contacts synced"
                    )
                }
                Err(stop) => return Err(stopped(ctx, stop).await),
            }
        }
        // More to do: a fresh job continues (a pending one may already exist).
        let mut conn = ctx
            .db
            .writer
            .acquire()
            .await
            .map_err(|e| JobError::Retryable(e.into()))?;
        request_sync(&mut conn, Timestamp::now())
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
    /// Our database failed.
    Database(anyhow::Error),
}

impl std::fmt::Display for SyncStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncStop::Retry { reason, .. } | SyncStop::Hold(reason) => f.write_str(reason),
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
                SyncStop::Hold(mask_phone_numbers(&format!(
                    "HubSpot rechaza el token ({reason}): revisa HUBSPOT_ACCESS_TOKEN y sus \
                     permisos, reinicia y ejecuta `mini-crm queue resume hubspot`"
                )))
            }
            CallError::Refused { reason, .. } => SyncStop::Hold(mask_phone_numbers(&format!(
                "HubSpot rechaza la petición: {reason}"
            ))),
        }
    }
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

/// Creates the unique contact property that carries our lead id, unless HubSpot has it, and
/// lifts the hubspot queue's hold: the call just proved the token and its scopes work.
pub async fn set_up(db: &Db, client: &HubspotClient, property: &str) -> Result<SetUp, SyncStop> {
    let done = match client.property(property).await? {
        Some(found) if found.unique => SetUp::AlreadyThere,
        Some(_) => return Err(SyncStop::Hold(not_unique(property))),
        None => {
            client.create_lead_id_property(property).await?;
            SetUp::Created
        }
    };
    flags::release_queue(&db.writer, Queue::Hubspot, Timestamp::now()).await?;
    Ok(done)
}

fn not_unique(property: &str) -> String {
    format!(
        "La propiedad «{property}» de HubSpot no es de valor único: elige otro nombre en \
         HUBSPOT_LEAD_ID_PROPERTY y ejecuta `mini-crm hubspot setup`"
    )
}

/// What one batch did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Leads settled (0: nothing was pending).
    pub sent: usize,
    pub synced: usize,
    pub refused: usize,
}

/// Sends pending leads once the set-up is known to be in place.
pub struct Syncer<'a> {
    db: &'a Db,
    client: &'a HubspotClient,
    property: &'a str,
}

impl<'a> Syncer<'a> {
    /// Checks that HubSpot has the unique lead-id property: without it a new lead could only
    /// be created blind, and a create repeated after a lost answer would make a second contact.
    pub async fn new(
        db: &'a Db,
        client: &'a HubspotClient,
        property: &'a str,
    ) -> Result<Syncer<'a>, SyncStop> {
        match client.property(property).await? {
            Some(found) if found.unique => Ok(Self {
                db,
                client,
                property,
            }),
            Some(_) => Err(SyncStop::Hold(not_unique(property))),
            None => Err(SyncStop::Hold(format!(
                "Falta en HubSpot la propiedad única «{property}» que lleva el id de cada lead: \
                 ejecuta `mini-crm hubspot setup`"
            ))),
        }
    }

    /// Sends up to [`BATCH_LIMIT`] pending leads and applies each record's answer. A failure
    /// of a whole call leaves its leads pending.
    pub async fn batch(&self) -> Result<SyncReport, SyncStop> {
        let pending = leads::pending_hubspot(&self.db.writer, BATCH_LIMIT as i64).await?;
        let mut report = SyncReport::default();
        let mut by_id = Vec::new();
        let mut by_email: Vec<leads::HubspotLead> = Vec::new();
        let mut by_lead_id = Vec::new();
        for lead in pending {
            match (&lead.hubspot_id, &lead.email, lead.email_taken_by) {
                (Some(_), _, _) => by_id.push(lead),
                (None, Some(_), Some(other)) => {
                    let reason = format!(
                        "El lead #{other}, con el mismo e-mail, ya está en HubSpot: une los \
                         duplicados o cambia el e-mail"
                    );
                    self.refuse(&lead, &reason, &mut report).await?;
                }
                // Two inputs with one id would fail the whole batch: the second waits for the
                // next batch, where it finds the first one's contact.
                (None, Some(email), None) => {
                    if !by_email.iter().any(|l| l.email.as_ref() == Some(email)) {
                        by_email.push(lead);
                    }
                }
                (None, None, _) => by_lead_id.push(lead),
            }
        }
        for (how, group) in [
            (Match::HubspotId, by_id),
            (Match::Email, by_email),
            (Match::LeadId, by_lead_id),
        ] {
            self.send(how, group, &mut report).await?;
        }
        Ok(report)
    }

    /// Sends `group` matched `how`; a part HubSpot refuses as a whole, or leaves unanswered, is
    /// sent again in halves until each lead is synced or refused on its own.
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
            let inputs = part.iter().map(|lead| self.input(how, lead)).collect();
            let unsettled = match self.client.batch(how.batch(), inputs).await {
                Ok(answer) => self.apply(how, part, &answer, report).await?,
                Err(CallError::Refused { code, reason }) if !refuses_the_account(code) => {
                    if let [lead] = &part[..] {
                        self.refuse(lead, &reason, report).await?;
                        continue;
                    }
                    part
                }
                Err(err) => return Err(err.into()),
            };
            if unsettled.len() > 1 {
                let mut first = unsettled;
                let second = first.split_off(first.len() / 2);
                parts.push(second);
                parts.push(first);
            } else if let [lead] = &unsettled[..] {
                self.refuse(lead, "HubSpot no devolvió el contacto ni un error", report)
                    .await?;
            }
        }
        Ok(())
    }

    /// Applies each record's answer; returns the leads the answer says nothing about.
    async fn apply(
        &self,
        how: Match,
        part: Vec<leads::HubspotLead>,
        answer: &BatchAnswer,
        report: &mut SyncReport,
    ) -> Result<Vec<leads::HubspotLead>, SyncStop> {
        let mut unsettled = Vec::new();
        for lead in part {
            let trace_id = lead.id.to_string();
            let result = answer.results.iter().find(|r| {
                r["objectWriteTraceId"].as_str() == Some(trace_id.as_str())
                    || self.matches(how, &lead, r)
            });
            let error = answer
                .errors
                .iter()
                .find(|e| e.trace_ids.contains(&trace_id));
            match (result.and_then(|r| r["id"].as_str()), error) {
                (Some(hubspot_id), _) => {
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
                            report.sent += 1;
                            report.synced += 1;
                        }
                        Err(other) => {
                            let reason = format!(
                                "El contacto {hubspot_id} de HubSpot ya es del lead #{other}: \
                                 une los duplicados"
                            );
                            self.refuse(&lead, &reason, report).await?;
                        }
                    }
                }
                (None, Some(error)) => self.refuse(&lead, &error.message, report).await?,
                (None, None) => unsettled.push(lead),
            }
        }
        Ok(unsettled)
    }

    /// HubSpot refused this contact: kept with the reason (numbers masked) and out of the sync
    /// until the lead changes.
    async fn refuse(
        &self,
        lead: &leads::HubspotLead,
        reason: &str,
        report: &mut SyncReport,
    ) -> Result<(), SyncStop> {
        let reason = mask_phone_numbers(reason);
        leads::mark_hubspot_refused(&self.db.writer, lead.id, &reason).await?;
        tracing::warn!(
            provider = "hubspot",
            lead_id = lead.id,
            reason,
            "contact refused by HubSpot"
        );
        report.sent += 1;
        report.refused += 1;
        Ok(())
    }

    fn input(&self, how: Match, lead: &leads::HubspotLead) -> Value {
        let trace_id = lead.id.to_string();
        let mut properties = properties(lead);
        match how {
            Match::HubspotId => {
                properties[self.property] = json!(trace_id);
                json!({ "id": lead.hubspot_id, "objectWriteTraceId": trace_id,
                        "properties": properties })
            }
            Match::Email => {
                properties[self.property] = json!(trace_id);
                json!({ "id": lead.email, "idProperty": "email", "objectWriteTraceId": trace_id,
                        "properties": properties })
            }
            Match::LeadId => {
                json!({ "id": trace_id, "idProperty": self.property,
                        "objectWriteTraceId": trace_id, "properties": properties })
            }
        }
    }

    /// Whether a result is this lead's contact, where HubSpot did not echo the trace id.
    fn matches(&self, how: Match, lead: &leads::HubspotLead, result: &Value) -> bool {
        match how {
            Match::HubspotId => result["id"].as_str() == lead.hubspot_id.as_deref(),
            Match::Email => {
                result["properties"]["email"]
                    .as_str()
                    .map(str::to_lowercase)
                    == lead.email
            }
            Match::LeadId => {
                result["properties"][self.property].as_str() == Some(lead.id.to_string().as_str())
            }
        }
    }
}

/// How HubSpot finds a lead's contact.
#[derive(Clone, Copy, Debug)]
enum Match {
    HubspotId,
    Email,
    LeadId,
}

impl Match {
    fn batch(self) -> Batch {
        match self {
            Match::HubspotId => Batch::Update,
            Match::Email | Match::LeadId => Batch::Upsert,
        }
    }
}

/// The contact's properties from the lead. Only what the lead has is sent: HubSpot takes an
/// empty string as "clear it", and a one-word name must not clear a last name typed there.
fn properties(lead: &leads::HubspotLead) -> Value {
    let (first, last) = lead.name.split_once(' ').unwrap_or((&lead.name, ""));
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
            revision: 1,
            email_taken_by: None,
        };
        let one_word = properties(&lead("Cher", None));
        assert_eq!(
            one_word,
            serde_json::json!({ "firstname": "Cher", "phone": "+34611223344" })
        );
        let full = properties(&lead("Ana Ruiz Soto", Some("ana@example.com")));
        assert_eq!(full["lastname"], "Ruiz Soto");
        assert_eq!(full["email"], "ana@example.com");
    }
}
