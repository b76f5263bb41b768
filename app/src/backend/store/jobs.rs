//! `jobs`: the persistent queue. Claiming is one `UPDATE … RETURNING`, so two workers never take
//! the same job, and postponed or paused work is never claimed (nor are its attempts spent).

use crate::domain::{Queue, Timestamp};
use serde::{Deserialize, Serialize};
use sqlx::{FromRow, SqliteExecutor};

#[derive(Clone, Debug, PartialEq, Eq, FromRow, Serialize, Deserialize)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub queue: Queue,
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_at: Timestamp,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
}

/// The columns of a [`JobRow`], as a macro so `concat!` can build constant statements with them.
macro_rules! columns {
    () => {
        "id, kind, queue, payload, status, attempts, max_attempts, run_at, last_error, created_at"
    };
}
const COLUMNS: &str = columns!();

/// Queues one job of `kind` per payload, all due at `run_at`, in one statement.
pub async fn enqueue_many(
    db: impl SqliteExecutor<'_>,
    kind: &str,
    queue: Queue,
    payloads: &[String],
    max_attempts: i64,
    run_at: Timestamp,
    now: Timestamp,
) -> sqlx::Result<()> {
    if payloads.is_empty() {
        return Ok(());
    }
    let mut query = sqlx::QueryBuilder::new(
        "INSERT INTO jobs (kind, queue, payload, max_attempts, run_at, created_at, updated_at) ",
    );
    query.push_values(payloads, |mut row, payload| {
        row.push_bind(kind)
            .push_bind(queue.as_str())
            .push_bind(payload)
            .push_bind(max_attempts)
            .push_bind(run_at)
            .push_bind(now)
            .push_bind(now);
    });
    query.build().execute(db).await?;
    Ok(())
}

/// Takes the next due job of `queues` (oldest `run_at` first), marking it running and counting
/// the attempt.
pub async fn claim(
    db: impl SqliteExecutor<'_>,
    queues: &[Queue],
    worker: &str,
    now: Timestamp,
) -> sqlx::Result<Option<JobRow>> {
    let queues = serde_json::to_string(&queues.iter().map(|q| q.as_str()).collect::<Vec<_>>())
        .expect("strings serialize");
    sqlx::query_as(&format!(
        "UPDATE jobs SET status = 'running', locked_at = $1, locked_by = $2,
                         attempts = attempts + 1, updated_at = $1
         WHERE id = (SELECT id FROM jobs
                     WHERE status = 'pending' AND run_at <= $1
                       AND queue IN (SELECT value FROM json_each($3))
                     ORDER BY run_at, id LIMIT 1)
         RETURNING {COLUMNS}"
    ))
    .bind(now)
    .bind(worker)
    .bind(queues)
    .fetch_all(db)
    .await
    .map(super::first_row)
}

// The outcome of a run is written only while the job is still this worker's: a worker that
// stalled past the lock timeout must not reset a job that another worker has since claimed.

pub async fn complete(
    db: impl SqliteExecutor<'_>,
    id: i64,
    worker: &str,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE jobs SET status = 'done', locked_at = NULL, locked_by = NULL, updated_at = $3
         WHERE id = $1 AND status = 'running' AND locked_by = $2",
    )
    .bind(id)
    .bind(worker)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// Back to `pending`, due now, with the attempt its claim counted given back: its queue is
/// held, and it runs once the hold is lifted.
pub async fn release_held(
    db: impl SqliteExecutor<'_>,
    id: i64,
    worker: &str,
    error: &str,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE jobs SET status = 'pending', locked_at = NULL, locked_by = NULL, last_error = $3,
                         attempts = max(attempts - 1, 0), run_at = $4, updated_at = $4
         WHERE id = $1 AND status = 'running' AND locked_by = $2",
    )
    .bind(id)
    .bind(worker)
    .bind(error)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// Back to `pending` at `run_at` (a retry after a failure).
pub async fn postpone(
    db: impl SqliteExecutor<'_>,
    id: i64,
    worker: &str,
    error: &str,
    run_at: Timestamp,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE jobs SET status = 'pending', locked_at = NULL, locked_by = NULL, last_error = $3,
                         run_at = $4, updated_at = $5
         WHERE id = $1 AND status = 'running' AND locked_by = $2",
    )
    .bind(id)
    .bind(worker)
    .bind(error)
    .bind(run_at)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn fail(
    db: impl SqliteExecutor<'_>,
    id: i64,
    worker: &str,
    error: &str,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE jobs SET status = 'failed', locked_at = NULL, locked_by = NULL, last_error = $3,
                         updated_at = $4
         WHERE id = $1 AND status = 'running' AND locked_by = $2",
    )
    .bind(id)
    .bind(worker)
    .bind(error)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// The jobs `worker` left `running` because the database failed under them (their outcome could
/// not be written): back to pending, due now, the attempt not counted. Returns how many.
pub async fn release_own(
    db: impl SqliteExecutor<'_>,
    worker: &str,
    error: &str,
    now: Timestamp,
) -> sqlx::Result<u64> {
    let result = sqlx::query(
        "UPDATE jobs SET status = 'pending', locked_at = NULL, locked_by = NULL, last_error = $2,
                         run_at = $3, updated_at = $3,
                         attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END
         WHERE status = 'running' AND locked_by = $1",
    )
    .bind(worker)
    .bind(error)
    .bind(now)
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}

/// `running` jobs locked before `locked_before` belong to a worker that died: back to pending,
/// due now. Returns how many.
pub async fn reclaim_stale(
    db: impl SqliteExecutor<'_>,
    locked_before: Timestamp,
    now: Timestamp,
) -> sqlx::Result<u64> {
    let result = sqlx::query(
        "UPDATE jobs SET status = 'pending', locked_at = NULL, locked_by = NULL, run_at = $2,
                         last_error = 'lock expired: the worker stopped mid-run', updated_at = $2
         WHERE status = 'running' AND locked_at < $1",
    )
    .bind(locked_before)
    .bind(now)
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}

pub(crate) const LIST_FAILED: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM jobs WHERE status = 'failed' ORDER BY id"
);

pub async fn list_failed(db: impl SqliteExecutor<'_>) -> sqlx::Result<Vec<JobRow>> {
    sqlx::query_as(LIST_FAILED).fetch_all(db).await
}

/// Failed jobs (one, or all with `None`) back to pending with their attempts reset.
pub async fn retry_failed(
    db: impl SqliteExecutor<'_>,
    id: Option<i64>,
    now: Timestamp,
) -> sqlx::Result<u64> {
    let result = sqlx::query(
        "UPDATE jobs SET status = 'pending', attempts = 0, run_at = $2, updated_at = $2
         WHERE status = 'failed' AND ($1 IS NULL OR id = $1)",
    )
    .bind(id)
    .bind(now)
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}

/// Per queue: pending, running and failed counts and the oldest pending job's `created_at`.
#[derive(Clone, Debug, PartialEq, Eq, FromRow, Serialize, Deserialize)]
pub struct QueueStats {
    pub queue: Queue,
    pub pending: i64,
    pub running: i64,
    pub failed: i64,
    pub oldest_pending: Option<Timestamp>,
}

/// Per queue: pending (due, or waiting to retry — not work scheduled for later, such as
/// tomorrow's reminders), running, failed, and the oldest pending one's creation. Reads the
/// claim index for the three statuses only: done jobs (most of the table) are never visited.
pub(crate) const STATS: &str = "SELECT queue,
        COUNT(*) FILTER (WHERE status = 'pending' AND (run_at <= $1 OR attempts > 0)) AS pending,
        COUNT(*) FILTER (WHERE status = 'running') AS running,
        COUNT(*) FILTER (WHERE status = 'failed') AS failed,
        MIN(created_at) FILTER (WHERE status = 'pending' AND (run_at <= $1 OR attempts > 0)) AS oldest_pending
 FROM jobs WHERE status IN ('pending', 'running', 'failed') GROUP BY queue ORDER BY queue";

pub async fn stats(db: impl SqliteExecutor<'_>, now: Timestamp) -> sqlx::Result<Vec<QueueStats>> {
    sqlx::query_as(STATS).bind(now).fetch_all(db).await
}

/// Done jobs last touched before `before`, at most `limit` of them (`jobs_done_age` finds them).
pub(crate) const PRUNE_DONE: &str = "DELETE FROM jobs WHERE id IN (
    SELECT id FROM jobs WHERE status = 'done' AND updated_at < $1 LIMIT $2)";
pub(crate) const COUNT_DONE_BEFORE: &str =
    "SELECT COUNT(*) FROM jobs WHERE status = 'done' AND updated_at < $1";

/// Deletes up to `limit` done jobs finished before `before`; how many went.
pub async fn prune_done(
    db: impl SqliteExecutor<'_>,
    before: Timestamp,
    limit: i64,
) -> sqlx::Result<u64> {
    let result = sqlx::query(PRUNE_DONE)
        .bind(before)
        .bind(limit)
        .execute(db)
        .await?;
    Ok(result.rows_affected())
}

pub async fn count_done_before(
    db: impl SqliteExecutor<'_>,
    before: Timestamp,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(COUNT_DONE_BEFORE)
        .bind(before)
        .fetch_one(db)
        .await
}

/// Queues a job due at `run_at` unless one of its kind is already waiting (a coalescing "do it
/// soon"); a waiting one due later is brought forward to `run_at`, unless it waits as a retry
/// (a provider's `Retry-After`, a back-off) — that wait stands.
pub async fn enqueue_unless_pending(
    db: &mut sqlx::SqliteConnection,
    kind: &str,
    queue: Queue,
    payload: &str,
    max_attempts: i64,
    run_at: Timestamp,
    now: Timestamp,
) -> sqlx::Result<()> {
    let inserted = sqlx::query(
        "INSERT INTO jobs (kind, queue, payload, max_attempts, run_at, created_at, updated_at)
         SELECT $1, $2, $3, $4, $5, $6, $6
         WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE kind = $1 AND status = 'pending')",
    )
    .bind(kind)
    .bind(queue.as_str())
    .bind(payload)
    .bind(max_attempts)
    .bind(run_at)
    .bind(now)
    .execute(&mut *db)
    .await?
    .rows_affected();
    if inserted == 0 {
        sqlx::query(
            "UPDATE jobs SET run_at = $2, updated_at = $3
             WHERE kind = $1 AND status = 'pending' AND attempts = 0 AND run_at > $2",
        )
        .bind(kind)
        .bind(run_at)
        .bind(now)
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

/// Marks done the failed `process_webhook` jobs of a delivery that has now been processed (by a
/// replay), so `queue failed` lists only what still needs a person.
pub async fn settle_failed_processing(
    db: impl SqliteExecutor<'_>,
    webhook_event_id: i64,
    now: Timestamp,
) -> sqlx::Result<u64> {
    let result = sqlx::query(
        "UPDATE jobs SET status = 'done', updated_at = $2
         WHERE status = 'failed' AND kind = 'process_webhook'
           AND json_extract(payload, '$.webhook_event_id') = $1",
    )
    .bind(webhook_event_id)
    .bind(now)
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}
