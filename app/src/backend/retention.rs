//! Retention: done jobs and processed webhook deliveries are deleted once older than their
//! retention (`JOBS_RETENTION_DAYS`, 30; `WEBHOOKS_RETENTION_DAYS`, 90), daily by `serve` and on
//! demand by `mini-crm prune`. Deletion goes in batches, each a short write of its own with a
//! pause after it, so intake's group commits keep their turn on the single writer. Failed jobs and
//! failed or pending deliveries are kept until someone handles them: they are work, not history.

use super::config::Config;
use super::db::Db;
use super::store::{erased_identities, jobs, messages, settings, webhook_events};
use crate::domain::Timestamp;
use anyhow::Context;
use std::time::Duration;

/// How long each kind of row is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub jobs_days: i64,
    pub webhooks_days: i64,
}

impl Policy {
    pub fn of(config: &Config) -> Self {
        Self {
            jobs_days: config.jobs_retention_days,
            webhooks_days: config.webhooks_retention_days,
        }
    }

    fn jobs_before(&self, now: Timestamp) -> Timestamp {
        now.plus_seconds(-self.jobs_days * DAY)
    }

    fn webhooks_before(&self, now: Timestamp) -> Timestamp {
        now.plus_seconds(-self.webhooks_days * DAY)
    }

    /// Records of erasures go with the deliveries, but never within a week: Meta retries a
    /// delivery for up to seven days (and never while an older delivery waits, see
    /// `erased_identities::prune`).
    fn erasures_before(&self, now: Timestamp) -> Timestamp {
        now.plus_seconds(-self.webhooks_days.max(7) * DAY)
    }
}

/// Rows past their retention: deleted by [`prune`], or only counted by [`due`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub jobs: u64,
    pub deliveries: u64,
    /// WhatsApp statuses kept for a message id that never became one of ours (another app's
    /// messages on the same account), as old as done jobs.
    pub unmatched_statuses: u64,
    /// Records of a person's erasure, kept as long as a delivery could bring them back.
    pub erasures: u64,
}

const DAY: i64 = 86_400;
/// Rows per delete: a few milliseconds of the writer each.
const BATCH: i64 = 500;
/// Between two batches the writer is free for whatever waits (intake above all).
const PAUSE: Duration = Duration::from_millis(20);
/// When the last prune finished, so restarts and several processes prune once a day between them.
const LAST_PRUNE: &str = "retention.pruned_at";
/// How often `serve` looks whether a day has passed since the last prune.
const LOOK_EVERY: Duration = Duration::from_secs(3600);

/// What [`prune`] would delete now (`mini-crm prune --dry-run`).
pub async fn due(db: &Db, policy: Policy, now: Timestamp) -> sqlx::Result<Pruned> {
    Ok(Pruned {
        jobs: jobs::count_done_before(&db.reader, policy.jobs_before(now)).await? as u64,
        deliveries: webhook_events::count_processed_before(&db.reader, policy.webhooks_before(now))
            .await? as u64,
        unmatched_statuses: messages::count_early_statuses_before(
            &db.reader,
            policy.jobs_before(now),
        )
        .await? as u64,
        erasures: erased_identities::count_prunable(&db.reader, policy.erasures_before(now)).await?
            as u64,
    })
}

/// Deletes every row past its retention, batch by batch.
pub async fn prune(db: &Db, policy: Policy, now: Timestamp) -> anyhow::Result<Pruned> {
    let pruned = Pruned {
        jobs: in_batches("deleting done jobs", |limit| {
            jobs::prune_done(&db.writer, policy.jobs_before(now), limit)
        })
        .await?,
        deliveries: in_batches("deleting processed webhook deliveries", |limit| {
            webhook_events::prune_processed(&db.writer, policy.webhooks_before(now), limit)
        })
        .await?,
        unmatched_statuses: in_batches("deleting unmatched WhatsApp statuses", |limit| {
            messages::prune_early_statuses(&db.writer, policy.jobs_before(now), limit)
        })
        .await?,
        erasures: in_batches("deleting old records of erasures", |limit| {
            erased_identities::prune(&db.writer, policy.erasures_before(now), limit)
        })
        .await?,
    };
    settings::set(&db.writer, LAST_PRUNE, &now.to_string(), now)
        .await
        .context("recording the prune")?;
    Ok(pruned)
}

/// A day after the last prune (by any process), or when none is on record.
fn prune_is_due(last: Option<Timestamp>, now: Timestamp) -> bool {
    last.is_none_or(|at| now.unix() - at.unix() >= DAY)
}

/// Runs `delete` (up to [`BATCH`] rows a time) until a batch comes back short, pausing between
/// batches; how many rows went.
async fn in_batches<F, Fut>(what: &'static str, mut delete: F) -> anyhow::Result<u64>
where
    F: FnMut(i64) -> Fut,
    Fut: std::future::Future<Output = sqlx::Result<u64>>,
{
    let mut total = 0;
    loop {
        let gone = delete(BATCH).await.context(what)?;
        total += gone;
        if gone < BATCH as u64 {
            return Ok(total);
        }
        tokio::time::sleep(PAUSE).await;
    }
}

/// `serve`'s daily prune: hourly it looks whether the last one (by any process) is a day old.
/// A failure (a full disk) is logged and tried again at the next look.
pub async fn run_daily(db: Db, policy: Policy) {
    loop {
        let now = Timestamp::now();
        let last = settings::get(&db.reader, LAST_PRUNE)
            .await
            .ok()
            .flatten()
            .and_then(|at| Timestamp::parse_rfc3339(&at).ok());
        if prune_is_due(last, now) {
            match prune(&db, policy, now).await {
                Ok(pruned) => tracing::info!(
                    jobs = pruned.jobs,
                    deliveries = pruned.deliveries,
                    "retention: old done jobs and processed deliveries deleted"
                ),
                Err(err) => tracing::warn!(
                    error = format!("{err:#}"),
                    "retention: prune failed; tried again within the hour"
                ),
            }
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::prune_is_due;
    use crate::domain::Timestamp;

    #[test]
    fn a_prune_is_due_a_day_after_the_last_or_when_there_was_none() {
        let at = |t: &str| Timestamp::parse_rfc3339(t).unwrap();
        let last = Some(at("2025-06-01T10:00:00Z"));
        assert!(prune_is_due(None, at("2025-06-01T10:00:00Z")));
        assert!(!prune_is_due(last, at("2025-06-02T09:59:59Z")));
        assert!(prune_is_due(last, at("2025-06-02T10:00:00Z")));
    }
}
