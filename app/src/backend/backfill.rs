//! `mini-crm aircall backfill --since T`: the calls Aircall has for a period, registered when
//! their webhooks never arrived — through the same code as a webhook, so a call is one row
//! however it reached us, and calls already stored are left as they are.

use super::db::Db;
use super::providers::aircall::{AircallClient, CallsPage, LIST_CAP};
use super::providers::CallError;
use super::store::erased_identities::Identity;
use super::webhooks::aircall::{apply_call, call_id, call_time, caller, CallData};
use super::webhooks::before_erasure;
use crate::domain::Timestamp;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct BackfillReport {
    /// Calls Aircall listed.
    pub listed: usize,
    /// Of those, registered now (their webhooks never arrived).
    pub added: usize,
}

/// How many times one request is tried while Aircall answers "later" (429, 5xx, no answer).
const ATTEMPTS: u32 = 5;

pub async fn aircall_calls(
    db: &Db,
    client: &AircallClient,
    since: Timestamp,
    now: Timestamp,
) -> anyhow::Result<BackfillReport> {
    let mut report = BackfillReport::default();
    // Periods still to list, each short enough for Aircall's cap on one query's results.
    let mut periods = vec![(since.unix(), now.unix())];
    while let Some((from, to)) = periods.pop() {
        let mut page = 1;
        loop {
            let listed = list(client, from, to, page).await?;
            if page == 1 && listed.total > LIST_CAP && to - from > 1 {
                // Over the cap: the two halves, earlier first.
                let middle = from + (to - from) / 2;
                periods.push((middle + 1, to));
                periods.push((from, middle));
                break;
            }
            for value in listed.calls {
                report.listed += 1;
                register(db, value, now, &mut report).await?;
            }
            if !listed.more {
                break;
            }
            page += 1;
        }
    }
    Ok(report)
}

/// One page, tried again (when Aircall says, else after a growing pause) while Aircall answers
/// "later", at most [`ATTEMPTS`] times: a persistent outage ends the backfill with its reason.
async fn list(client: &AircallClient, from: i64, to: i64, page: u32) -> anyhow::Result<CallsPage> {
    let mut attempt = 1;
    loop {
        // A read: an answer lost on the way is simply asked for again.
        match client
            .list_calls(from, to, page)
            .await
            .map_err(CallError::retry_if_unknown)
        {
            Ok(listed) => return Ok(listed),
            Err(CallError::Retry {
                reason,
                retry_after,
            }) if attempt < ATTEMPTS => {
                let wait = retry_after.unwrap_or(5 * i64::from(attempt)).min(60);
                tracing::warn!(
                    provider = "aircall",
                    reason,
                    wait,
                    attempt,
                    "list of calls: retrying"
                );
                tokio::time::sleep(std::time::Duration::from_secs(wait as u64)).await;
                attempt += 1;
            }
            Err(CallError::Retry { reason, .. }) => anyhow::bail!(
                "Aircall kept failing after {ATTEMPTS} attempts ({reason}); run the backfill \
                 again later (calls already registered are kept)"
            ),
            Err(CallError::Refused { reason, .. } | CallError::Unknown { reason }) => {
                anyhow::bail!("Aircall refused the list of calls: {reason}")
            }
        }
    }
}

/// Registers one listed call unless it is stored already.
async fn register(
    db: &Db,
    value: serde_json::Value,
    now: Timestamp,
    report: &mut BackfillReport,
) -> anyhow::Result<()> {
    let call: CallData = serde_json::from_value(value)?;
    let id = call_id(&call);
    let mut tx = db.begin_write().await?;
    let known: Option<i64> = sqlx::query_scalar("SELECT id FROM calls WHERE provider_call_id = $1")
        .bind(&id)
        .fetch_optional(&mut *tx)
        .await?;
    if known.is_none() {
        let occurred_at = call
            .ended_at
            .or(call.started_at)
            .and_then(Timestamp::from_unix)
            .map_or(now, |t| t.min(now));
        // A caller who asked to be erased after this call: not registered again.
        let erased = match caller(&call) {
            Some(phone) => {
                let at = call_time(&call, occurred_at, now);
                let identity = [Identity::Phone(&phone)];
                before_erasure(&mut tx, &db.erasure_key, &identity, at, None).await?
            }
            None => false,
        };
        if !erased {
            apply_call(&mut tx, &call, &id, "call.ended", occurred_at, now).await?;
            report.added += 1;
        }
    }
    tx.commit().await?;
    Ok(())
}
