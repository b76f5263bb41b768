//! The queues as people see them: one overview (what is waiting, running and failed in each
//! queue, and why a queue is held) for `/healthz`, `/metrics`, Integraciones and the CLI; the
//! failed jobs; and what on-call does with them (retry, pause, resume).

use super::breakers::{self, Breaker};
use super::db::Db;
use super::flags::{self, Flags, HubspotMode};
use super::store::jobs;
use crate::domain::{Queue, Timestamp};

pub use super::store::jobs::JobRow;

/// One queue now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueState {
    pub queue: Queue,
    /// Due, or waiting to retry (not work scheduled for later, such as tomorrow's reminders).
    pub pending: i64,
    pub running: i64,
    pub failed: i64,
    pub oldest_pending_seconds: Option<i64>,
    /// Why its jobs are not claimed now ([`hold_reason`]).
    pub held: Option<String>,
}

/// Every queue and every provider's breaker, read at one instant, and whether the app is in
/// maintenance then.
#[derive(Clone, Debug)]
pub struct Overview {
    pub queues: Vec<QueueState>,
    pub breakers: Vec<Breaker>,
    pub maintenance: bool,
}

/// The overview now: three reads (job counts, flags, breakers).
pub async fn overview(db: &Db, now: Timestamp) -> sqlx::Result<Overview> {
    let stats = jobs::stats(&db.reader, now).await?;
    let flags = Flags::load(db).await?;
    let breakers = breakers::all(db).await?;
    let queues = Queue::ALL
        .into_iter()
        .map(|queue| {
            let row = stats.iter().find(|s| s.queue == queue);
            QueueState {
                queue,
                pending: row.map_or(0, |r| r.pending),
                running: row.map_or(0, |r| r.running),
                failed: row.map_or(0, |r| r.failed),
                oldest_pending_seconds: row
                    .and_then(|r| r.oldest_pending)
                    .map(|t| (now.unix() - t.unix()).max(0)),
                held: hold_reason(queue, &flags, &breakers, now),
            }
        })
        .collect();
    Ok(Overview {
        queues,
        breakers,
        maintenance: flags.maintenance().is_some(),
    })
}

/// Why `queue`'s jobs are held now, if they are: a pause, the provider refusing the whole
/// account, maintenance (outbound queues), a sending flag, or its provider's open breaker.
/// `None`: claim away.
pub fn hold_reason(
    queue: Queue,
    flags: &Flags,
    breakers: &[Breaker],
    now: Timestamp,
) -> Option<String> {
    let provider = queue.provider();
    let reason = if flags.queue_paused(queue) {
        "En pausa"
    } else if let Some(refusal) = flags.account_hold(queue) {
        // Each hold says why and what lifts it.
        return Some(format!("Retenida: {refusal}"));
    } else if provider.is_some() && flags.maintenance().is_some() {
        "Mantenimiento: envíos detenidos"
    } else if queue == Queue::Whatsapp && !flags.whatsapp_outbound() {
        "Envío de WhatsApp desactivado"
    } else if queue == Queue::Hubspot && flags.hubspot_mode() == HubspotMode::Deferred {
        "Sincronización con HubSpot diferida"
    } else if queue == Queue::Hubspot && flags.hubspot_mode() == HubspotMode::Off {
        "Sincronización con HubSpot desactivada"
    } else if provider.is_some_and(|p| breakers::holds(breakers, p, now)) {
        "Proveedor caído: circuito abierto"
    } else {
        return None;
    };
    Some(reason.to_string())
}

/// Failed jobs, newest first, with their last error.
pub async fn failed_jobs(db: &Db) -> sqlx::Result<Vec<JobRow>> {
    jobs::list_failed(&db.reader).await
}

/// Puts one failed job (`Some(id)`) or all of them back in their queue with their attempts
/// reset; how many.
pub async fn retry_failed(db: &Db, id: Option<i64>, now: Timestamp) -> sqlx::Result<u64> {
    jobs::retry_failed(&db.writer, id, now).await
}

/// Pauses or resumes `queue`: work waits, nothing is dropped. Resuming also lifts the hold of
/// a queue whose provider refused the whole account, once its cause is fixed.
pub async fn set_paused(db: &Db, queue: Queue, paused: bool, now: Timestamp) -> sqlx::Result<()> {
    flags::set_paused(&db.writer, queue, paused, now).await?;
    if !paused {
        flags::release_queue(&db.writer, queue, now).await?;
    }
    Ok(())
}
