//! `mini-crm queue …`: the job queue's state, failed jobs, retries, workers, pauses.

use anyhow::bail;
use app::backend::config::Config;
use app::backend::db::Db;
use app::backend::jobs::JobContext;
use app::backend::{queue, worker};
use app::domain::{Queue, Timestamp};
use clap::Subcommand;
use std::sync::Arc;

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Each queue: pending, running, failed, the oldest pending one's age, and why it is held
    /// (as /healthz and Integraciones show them).
    Status,
    /// List failed jobs with their last error.
    Failed,
    /// Put failed jobs back in their queue with their attempts reset: `all` or one job id.
    Retry { target: RetryTarget },
    /// Run jobs (until Ctrl-C, or one with --once).
    Work {
        /// Run at most one job, then exit.
        #[arg(long)]
        once: bool,
        /// Only this queue (inbound, whatsapp, aircall, hubspot).
        #[arg(long)]
        queue: Option<Queue>,
    },
    /// Stop claiming jobs of a queue (all without one); work waits, nothing is dropped.
    Pause { queue: Option<Queue> },
    /// Claim jobs of a paused queue again (all without one); also lifts the hold of a queue
    /// whose provider refused the whole account, once its cause is fixed.
    Resume { queue: Option<Queue> },
}

/// `all`, or a job id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetryTarget {
    All,
    Job(i64),
}

impl std::str::FromStr for RetryTarget {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "all" => Ok(RetryTarget::All),
            id => id
                .parse()
                .map(RetryTarget::Job)
                .map_err(|_| format!("expected `all` or a job id, not {id:?}")),
        }
    }
}

pub async fn run(config: Config, command: QueueCommand) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url).await?;
    let ctx = JobContext::new(db.clone(), Arc::new(config));
    let now = Timestamp::now();
    match command {
        QueueCommand::Status => {
            let overview = queue::overview(&db, now).await?;
            for q in overview.queues {
                let oldest = q
                    .oldest_pending_seconds
                    .map_or("-".to_string(), |s| format!("{s} s"));
                println!(
                    "{:<9} pending {:<6} running {:<3} failed {:<5} oldest {:<8} {}",
                    q.queue.as_str(),
                    q.pending,
                    q.running,
                    q.failed,
                    oldest,
                    q.held.as_deref().unwrap_or("activa")
                );
            }
        }
        QueueCommand::Failed => {
            let failed = queue::failed_jobs(&db).await?;
            println!("{} failed job(s)", failed.len());
            for job in failed {
                let error = job.last_error.unwrap_or_default();
                println!(
                    "{:<6} {:<9} {:<18} attempts {}/{}  {error}",
                    job.id, job.queue, job.kind, job.attempts, job.max_attempts
                );
            }
        }
        QueueCommand::Retry { target } => {
            let id = match target {
                RetryTarget::All => None,
                RetryTarget::Job(id) => Some(id),
            };
            let retried = queue::retry_failed(&db, id, now).await?;
            if retried == 0 && id.is_some() {
                bail!("no failed job with that id");
            }
            println!("{retried} job(s) queued again");
        }
        QueueCommand::Work { once, queue } => {
            let queues = queue.map_or_else(|| Queue::ALL.to_vec(), |q| vec![q]);
            let worker = worker::worker_name("cli");
            if once {
                println!("{:?}", worker::run_one(&ctx, &queues, &worker).await?);
            } else {
                let (stop, stopped) = tokio::sync::watch::channel(false);
                // Supervised as in `serve`; nothing reads the heartbeat of a CLI worker.
                let beat = app::backend::supervise::Heartbeat::default();
                let work = tokio::spawn(app::backend::supervise::supervise(
                    "queue worker",
                    move || {
                        worker::work(
                            ctx.clone(),
                            queues.clone(),
                            worker::worker_name("cli"),
                            stopped.clone(),
                            beat.clone(),
                        )
                    },
                ));
                tokio::signal::ctrl_c().await?;
                stop.send(true)?;
                work.await?;
            }
        }
        QueueCommand::Pause { queue } | QueueCommand::Resume { queue } => {
            let paused = matches!(command, QueueCommand::Pause { .. });
            for one in queue.map_or_else(|| Queue::ALL.to_vec(), |q| vec![q]) {
                app::backend::queue::set_paused(&db, one, paused, now).await?;
                println!(
                    "queue {} {}",
                    one.as_str(),
                    if paused { "paused" } else { "resumed" }
                );
            }
        }
    }
    Ok(())
}
