//! `mini-crm aircall backfill --since T`: the calls Aircall has for a period, registered when
//! their webhooks never arrived — through the same code as a webhook, so a call is one row
//! however it reached us, and calls already stored are left as they are.

use super::db::Db;
use super::providers::aircall::AircallClient;
use super::providers::CallError;
use super::webhooks::aircall::{apply_call, call_id, CallData};
use crate::domain::Timestamp;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct BackfillReport {
    /// Calls Aircall listed.
    pub listed: usize,
    /// Of those, registered now (their webhooks never arrived).
    pub added: usize,
}

pub async fn aircall_calls(
    db: &Db,
    client: &AircallClient,
    since: Timestamp,
    now: Timestamp,
) -> anyhow::Result<BackfillReport> {
    let mut report = BackfillReport::default();
    let mut page = 1;
    loop {
        // A read: an answer lost on the way is simply asked for again.
        let listed = client.list_calls(since.unix(), now.unix(), page).await;
        let (calls, more) = match listed.map_err(CallError::retry_if_unknown) {
            Ok(answer) => answer,
            Err(CallError::Retry {
                reason,
                retry_after,
            }) => {
                let wait = retry_after.unwrap_or(5).min(60);
                tracing::warn!(
                    provider = "aircall",
                    reason,
                    wait,
                    "list of calls: retrying"
                );
                tokio::time::sleep(std::time::Duration::from_secs(wait as u64)).await;
                continue;
            }
            Err(CallError::Refused { reason, .. } | CallError::Unknown { reason }) => {
                anyhow::bail!("Aircall refused the list of calls: {reason}")
            }
        };
        for value in calls {
            report.listed += 1;
            let call: CallData = serde_json::from_value(value)?;
            let id = call_id(&call);
            let mut tx = db.begin_write().await?;
            let known: Option<i64> =
                sqlx::query_scalar("SELECT id FROM calls WHERE provider_call_id = $1")
                    .bind(&id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if known.is_none() {
                let occurred_at = call
                    .ended_at
                    .or(call.started_at)
                    .and_then(Timestamp::from_unix)
                    .map_or(now, |t| t.min(now));
                apply_call(&mut tx, &call, &id, "call.ended", occurred_at, now).await?;
                report.added += 1;
            }
            tx.commit().await?;
        }
        if !more {
            return Ok(report);
        }
        page += 1;
    }
}
