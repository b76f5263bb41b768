//! Workers: claim a due job of an unpaused queue, run it by its kind (the registry below is the
//! one place that knows every job type), record the outcome. They run inside `mini-crm serve`
//! and in `mini-crm queue work`.

use super::jobs::{backoff_seconds, Job, JobContext, JobError};
use crate::backend::breakers;
use crate::backend::flags::Flags;
use crate::backend::queue::hold_reason;
use crate::backend::store::jobs;
use crate::backend::supervise::{caught, Heartbeat};
use crate::backend::write_health::caused_by_unavailability;
use crate::domain::{mask_personal_data, Queue, Timestamp};
use rand::Rng;
use std::time::Duration;
use tokio::sync::watch;

/// The queues among `wanted` whose jobs may be claimed now (flags and breakers are read at
/// every claim, so a change made by any process takes effect at once).
pub async fn active_queues(ctx: &JobContext, wanted: &[Queue]) -> sqlx::Result<Vec<Queue>> {
    let flags = Flags::load(&ctx.db).await?;
    let breakers = breakers::all(&ctx.db).await?;
    let now = Timestamp::now();
    Ok(wanted
        .iter()
        .copied()
        .filter(|q| hold_reason(*q, &flags, &breakers, now).is_none())
        .collect())
}

/// What one pass did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Idle,
    Done {
        id: i64,
        kind: String,
    },
    Retrying {
        id: i64,
        kind: String,
        error: String,
    },
    Failed {
        id: i64,
        kind: String,
        error: String,
    },
    /// Its queue is held (the provider refused the whole account): waiting again, attempt
    /// given back.
    Held {
        id: i64,
        kind: String,
        error: String,
    },
    /// The database failed under the job (full, read-only, locked, gone) and is still failing:
    /// nothing could be written, the job stays `running` and is handed back, its attempt not
    /// counted, once writes work again ([`work`] does it).
    Interrupted {
        id: i64,
        kind: String,
        error: String,
    },
}

/// Reclaims stale locks, then claims and runs at most one job of `wanted`.
pub async fn run_one(ctx: &JobContext, wanted: &[Queue], worker: &str) -> anyhow::Result<Outcome> {
    let now = Timestamp::now();
    let stale = now.plus_seconds(-ctx.config.job_lock_timeout_seconds);
    let reclaimed = jobs::reclaim_stale(&ctx.db.writer, stale, now).await?;
    if reclaimed > 0 {
        tracing::warn!(reclaimed, "took back jobs whose worker stopped mid-run");
    }
    let queues = active_queues(ctx, wanted).await?;
    if queues.is_empty() {
        return Ok(Outcome::Idle);
    }
    let Some(job) = jobs::claim(&ctx.db.writer, &queues, worker, now).await? else {
        return Ok(Outcome::Idle);
    };
    // Its own task: a job that panics fails with the panic's message, and the worker goes on.
    let result = caught({
        let (ctx, kind, payload) = (ctx.clone(), job.kind.clone(), job.payload.clone());
        async move { dispatch(&ctx, &kind, &payload).await }
    })
    .await
    .unwrap_or_else(|panic| {
        Err(JobError::Permanent(anyhow::anyhow!(
            "the job panicked: {panic}"
        )))
    });
    let delay = match &result {
        // The provider said when.
        Err(JobError::RetryAfter(_, seconds)) => (*seconds).max(1),
        _ => backoff_seconds(job.attempts, rand::thread_rng().gen()),
    };
    let now = Timestamp::now();
    let (id, kind) = (job.id, job.kind.clone());
    if let Err(JobError::Retryable(err)) = &result {
        // The database refused the job's writes. If it refuses a probe too, the fault is the
        // database's, not the job's: write nothing now. If the probe commits, only this job's
        // writes do not fit, and it is retried like any failure, spending its attempts.
        if caused_by_unavailability(err) {
            ctx.db.probe_writes("queue").await;
            if ctx.db.write_health.is_failing() {
                let error = mask_personal_data(&format!("{err:#}"));
                return Ok(Outcome::Interrupted { id, kind, error });
            }
        }
    }
    Ok(match result {
        Ok(()) => {
            jobs::complete(&ctx.db.writer, id, worker, now).await?;
            Outcome::Done { id, kind }
        }
        Err(JobError::Held(err)) => {
            let error = mask_personal_data(&format!("{err:#}"));
            jobs::release_held(&ctx.db.writer, id, worker, &error, now).await?;
            tracing::warn!(
                job_id = id,
                queue = job.queue.as_str(),
                kind,
                error,
                "job held with its queue"
            );
            Outcome::Held { id, kind, error }
        }
        Err(JobError::Retryable(err) | JobError::RetryAfter(err, _))
            if job.attempts < job.max_attempts =>
        {
            let error = mask_personal_data(&format!("{err:#}"));
            let run_at = now.plus_seconds(delay);
            jobs::postpone(&ctx.db.writer, id, worker, &error, run_at, now).await?;
            tracing::warn!(
                job_id = id,
                queue = job.queue.as_str(),
                kind,
                error,
                delay,
                "job will be retried"
            );
            Outcome::Retrying { id, kind, error }
        }
        Err(err) => {
            let error = mask_personal_data(&format!("{err}"));
            jobs::fail(&ctx.db.writer, id, worker, &error, now).await?;
            tracing::error!(
                job_id = id,
                queue = job.queue.as_str(),
                kind,
                error,
                "job failed"
            );
            Outcome::Failed { id, kind, error }
        }
    })
}

/// A name for one run of a worker, unique across processes and restarts (a pid alone repeats in
/// containers): a job's outcome is written only by the run that holds it.
pub fn worker_name(kind: &str) -> String {
    format!(
        "{kind}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// Runs jobs until `shutdown` turns true; a job in progress finishes first. While the database
/// cannot take writes the worker claims nothing (a claim, or the record of a job's outcome, would
/// fail half-way): it probes every few seconds and resumes when a write goes through. It beats
/// `heartbeat` before each claim or probe (at least every two seconds while idle).
pub async fn work(
    ctx: JobContext,
    wanted: Vec<Queue>,
    worker: String,
    mut shutdown: watch::Receiver<bool>,
    heartbeat: Heartbeat,
) {
    const IDLE_POLL: Duration = Duration::from_millis(500);
    const PROBE_EVERY: Duration = Duration::from_secs(2);
    // Set when the database failed under a job: once writes work, the jobs this worker left
    // `running` are handed back before anything new is claimed. (A worker's name is unique to
    // its run: one that stopped meanwhile leaves its jobs to `reclaim_stale`.)
    let mut interrupted = false;
    while !*shutdown.borrow() {
        heartbeat.beat();
        // A claim on a file deleted under the process would vanish with it.
        if let Err(gone) = ctx.db.check_file() {
            ctx.db.write_health.failed("queue", &gone);
        }
        let pause = if ctx.db.write_health.is_failing() {
            ctx.db.probe_writes("queue").await;
            Some(PROBE_EVERY)
        } else if interrupted {
            let error = "handed back: the database failed during the run";
            match jobs::release_own(&ctx.db.writer, &worker, error, Timestamp::now()).await {
                Ok(released) => {
                    interrupted = false;
                    tracing::info!(released, "jobs the database failed under are pending again");
                    None
                }
                Err(err) => {
                    ctx.db.write_health.failed("queue", &err);
                    Some(PROBE_EVERY)
                }
            }
        } else {
            match run_one(&ctx, &wanted, &worker).await {
                Ok(Outcome::Idle) => Some(IDLE_POLL),
                Ok(Outcome::Interrupted { .. }) => {
                    interrupted = true;
                    Some(PROBE_EVERY)
                }
                Ok(_) => None,
                Err(err) if caused_by_unavailability(&err) => {
                    ctx.db.write_health.failed("queue", &format!("{err:#}"));
                    interrupted = true;
                    Some(PROBE_EVERY)
                }
                Err(err) => {
                    tracing::error!(error = format!("{err:#}"), "queue worker error");
                    Some(IDLE_POLL)
                }
            }
        };
        if let Some(pause) = pause {
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
    tracing::info!(worker, "queue worker stopped");
}

/// The registry: runs a claimed job by its kind.
async fn dispatch(ctx: &JobContext, kind: &str, payload: &str) -> Result<(), JobError> {
    use crate::backend::hubspot_sync::SyncHubspot;
    use crate::backend::outbound::{DialLead, SendReminder, SendWhatsappMessage};
    use crate::backend::webhooks::ProcessWebhook;
    match kind {
        ProcessWebhook::NAME => decode::<ProcessWebhook>(payload)?.run(ctx).await,
        SendWhatsappMessage::NAME => decode::<SendWhatsappMessage>(payload)?.run(ctx).await,
        DialLead::NAME => decode::<DialLead>(payload)?.run(ctx).await,
        SendReminder::NAME => decode::<SendReminder>(payload)?.run(ctx).await,
        SyncHubspot::NAME => decode::<SyncHubspot>(payload)?.run(ctx).await,
        other => Err(JobError::Permanent(anyhow::anyhow!(
            "unknown job kind {other:?}"
        ))),
    }
}

fn decode<J: Job>(payload: &str) -> Result<J, JobError> {
    serde_json::from_str(payload).map_err(|e| {
        JobError::Permanent(anyhow::anyhow!("payload of {} is not valid: {e}", J::NAME))
    })
}
