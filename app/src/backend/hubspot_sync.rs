//! Leads to HubSpot contacts (SPEC §4): a lead is pending while HubSpot has not seen its last
//! change. A batch of at most 100 pending leads is sent by how HubSpot can match each — its
//! stored HubSpot id (update), else its e-mail (upsert), else created and its new id stored —
//! and each record's answer is applied on its own. Changes that came from HubSpot are written
//! already synced, so they are never sent back.

use super::breakers;
use super::db::Db;
use super::flags::HubspotMode;
use super::jobs::{Job, JobContext, JobError};
use super::providers::hubspot::{Batch, HubspotClient, BATCH_LIMIT};
use super::providers::CallError;
use super::store::{jobs, leads};
use crate::domain::{Provider, Queue, Timestamp};
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
        for _ in 0..BATCHES_PER_JOB {
            // Upserts by HubSpot id or e-mail repeat safely; a create whose answer was lost may
            // have happened (it is matched by phone on the next run).
            let result = sync_batch(&ctx.db, &client)
                .await
                .map_err(CallError::retry_if_unknown);
            let now = Timestamp::now();
            let breaker = match &result {
                Err(CallError::Retry { reason, .. }) => {
                    breakers::record_failure(&ctx.db, Provider::Hubspot, reason, now).await
                }
                _ => breakers::record_success(&ctx.db, Provider::Hubspot, now).await,
            };
            breaker.map_err(|e| {
                JobError::Retryable(
                    anyhow::Error::from(e).context("recording hubspot on its breaker"),
                )
            })?;
            match result {
                Ok(report) if report.sent == 0 => return Ok(()),
                Ok(report) => {
                    tracing::info!(
                        provider = "hubspot",
                        synced = report.synced,
                        refused = report.refused,
                        "contacts synced"
                    )
                }
                Err(err) => return Err(err.into_job_error("HubSpot contact sync")),
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

/// Queues a sync unless one is already waiting, or HubSpot sync is off. Called in the
/// transaction of every change to a lead's contact fields.
pub async fn request_sync(conn: &mut sqlx::SqliteConnection, now: Timestamp) -> sqlx::Result<()> {
    let mode = super::store::settings::get(&mut *conn, super::flags::HUBSPOT_SYNC_MODE).await?;
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

/// What one batch did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Leads sent (0: nothing was pending).
    pub sent: usize,
    pub synced: usize,
    pub refused: usize,
}

/// Sends up to [`BATCH_LIMIT`] pending leads and applies each record's answer. A failure of
/// the whole call leaves every lead pending.
pub async fn sync_batch(db: &Db, client: &HubspotClient) -> Result<SyncReport, CallError> {
    let db_error = |e: sqlx::Error| CallError::Retry {
        reason: format!("database: {e}"),
        retry_after: None,
    };
    let pending = leads::pending_hubspot(&db.writer, BATCH_LIMIT as i64)
        .await
        .map_err(db_error)?;
    let mut report = SyncReport {
        sent: pending.len(),
        ..SyncReport::default()
    };
    let (by_id, rest): (Vec<_>, Vec<_>) = pending.into_iter().partition(|l| l.hubspot_id.is_some());
    let (by_email, new): (Vec<_>, Vec<_>) = rest.into_iter().partition(|l| l.email.is_some());
    for (kind, group) in [
        (Batch::Update, by_id),
        (Batch::Upsert, by_email),
        (Batch::Create, new),
    ] {
        if group.is_empty() {
            continue;
        }
        let inputs = group.iter().map(|lead| input(kind, lead)).collect();
        let answer = client.batch(kind, inputs).await?;
        for lead in &group {
            let found = answer.results.iter().find(|r| matches(kind, lead, r));
            match found.and_then(|r| r["id"].as_str()) {
                Some(hubspot_id) => {
                    leads::mark_hubspot_synced(
                        &db.writer,
                        lead.id,
                        hubspot_id,
                        lead.revision,
                        Timestamp::now(),
                    )
                    .await
                    .map_err(db_error)?;
                    report.synced += 1;
                }
                None => {
                    let reason = if answer.errors.is_empty() {
                        "HubSpot no devolvió el contacto".to_string()
                    } else {
                        crate::domain::mask_phone_numbers(&answer.errors.join("; "))
                    };
                    leads::mark_hubspot_refused(&db.writer, lead.id, &reason)
                        .await
                        .map_err(db_error)?;
                    tracing::warn!(
                        provider = "hubspot",
                        lead_id = lead.id,
                        reason,
                        "contact refused by HubSpot"
                    );
                    report.refused += 1;
                }
            }
        }
    }
    Ok(report)
}

/// The contact's properties from the lead. Only what the lead has is sent: HubSpot takes an
/// empty string as "clear it", and a one-word name must not clear a last name typed there.
fn properties(lead: &leads::HubspotLead) -> Value {
    let (first, last) = lead.name.split_once(' ').unwrap_or((&lead.name, ""));
    let mut properties = json!({ "firstname": first, "phone": lead.phone });
    if !last.trim().is_empty() {
        properties["lastname"] = json!(last.trim());
    }
    if let Some(email) = &lead.email {
        properties["email"] = json!(email);
    }
    properties
}

fn input(kind: Batch, lead: &leads::HubspotLead) -> Value {
    match kind {
        Batch::Update => json!({ "id": lead.hubspot_id, "properties": properties(lead) }),
        Batch::Upsert => {
            json!({ "id": lead.email, "idProperty": "email", "properties": properties(lead) })
        }
        Batch::Create => json!({ "properties": properties(lead) }),
    }
}

/// Whether a result of the batch is this lead's contact.
fn matches(kind: Batch, lead: &leads::HubspotLead, result: &Value) -> bool {
    match kind {
        Batch::Update => result["id"].as_str() == lead.hubspot_id.as_deref(),
        Batch::Upsert => {
            result["properties"]["email"]
                .as_str()
                .map(str::to_lowercase)
                == lead.email
        }
        Batch::Create => result["properties"]["phone"].as_str() == Some(lead.phone.as_str()),
    }
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
            phone: "+34611223344".into(),
            email: email.map(str::to_string),
            hubspot_id: None,
            revision: 1,
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
