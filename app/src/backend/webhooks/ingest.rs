//! Durable intake: a delivery and the job that will process it are written in one transaction
//! before the provider gets its 2xx. One writer task commits deliveries in groups (each request
//! is answered after the commit that holds it), which keeps `synchronous=FULL` fast under load.
//!
//! Faults: a 2xx means the row is in the file a later reader opens. A group that cannot commit
//! (disk full, read-only, locked, the file gone) answers every request in it with an error, so
//! the provider delivers again; the intake then probes the database until a write goes through.
//! The waiting requests and the bytes they hold are bounded, and so is each request's wait, so a
//! stalled disk makes intake refuse at once rather than grow or outlast a provider's timeout.

use super::ProcessWebhook;
use crate::backend::db::Db;
use crate::backend::jobs::enqueue_all;
use crate::backend::log_every::LogEvery;
use crate::backend::store::webhook_events::{self, NewDelivery};
use crate::backend::supervise::{caught, supervise, Heartbeat};
use crate::backend::write_health::is_unavailable;
use crate::domain::Timestamp;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

/// Deliveries committed together at most.
const MAX_GROUP: usize = 512;
/// Deliveries waiting for the writer at most (beyond them: refused at once).
const MAX_WAITING: usize = 4 * MAX_GROUP;
/// Bytes of bodies waiting for the writer at most, in KiB (64 MiB): Meta's bodies reach 3 MB.
const MAX_WAITING_KIB: usize = 64 * 1024;
/// How long a request waits for its commit. Under Aircall's 5 s delivery timeout, so a provider
/// hears a 503 it retries rather than giving up on a request that may still be stored.
const MAX_WAIT: Duration = Duration::from_secs(4);
/// How often a failing intake tries a write of its own to see whether the database is back.
const PROBE_EVERY: Duration = Duration::from_secs(2);

/// Where a delivery ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    New(i64),
    /// The same body from this provider was stored before: nothing added.
    Duplicate,
}

/// Why a delivery was not stored. Every case is a 503 to the provider, which delivers again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotStored {
    /// The database refused the commit (its error), or the file is not where it was opened.
    #[error("the database cannot commit: {0}")]
    CannotCommit(String),
    /// The waiting room is full: the writer is not keeping up (a stalled disk, a lock).
    #[error("intake is full: {MAX_WAITING} deliveries or {MAX_WAITING_KIB} KiB already wait")]
    Full,
    /// The commit did not come within [`MAX_WAIT`]; the delivery may still be stored, and its
    /// redelivery is then recognised as a duplicate.
    #[error("no commit within {MAX_WAIT:?}")]
    TimedOut,
    #[error("the intake writer stopped")]
    Stopped,
}

struct Request {
    delivery: NewDelivery,
    reply: oneshot::Sender<Result<Stored, NotStored>>,
    /// This body's share of the byte budget, given back when the request is answered.
    budget: OwnedSemaphorePermit,
}

/// Handle to the intake writer. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Ingestor {
    sender: mpsc::Sender<Request>,
    budget: Arc<Semaphore>,
}

/// The delivery key: SHA-256 of the raw body.
pub fn delivery_key(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

impl Ingestor {
    /// Starts the writer task on the current runtime, supervised (restarted after a panic) and
    /// beating `heartbeat`.
    pub fn start(db: Db, heartbeat: Heartbeat) -> Self {
        let (sender, receiver) = mpsc::channel(MAX_WAITING);
        // Shared, so a writer started after a panic takes over the waiting requests.
        let receiver = Arc::new(tokio::sync::Mutex::new(receiver));
        tokio::spawn(supervise("intake writer", move || {
            write_groups(db.clone(), receiver.clone(), heartbeat.clone())
        }));
        Self {
            sender,
            budget: Arc::new(Semaphore::new(MAX_WAITING_KIB)),
        }
    }

    /// Stores the delivery and its processing job; returns once they are committed.
    pub async fn store(&self, delivery: NewDelivery) -> Result<Stored, NotStored> {
        let kib = (delivery.body.len() / 1024 + 1) as u32;
        let budget = self
            .budget
            .clone()
            .try_acquire_many_owned(kib)
            .map_err(|_| NotStored::Full)?;
        let (reply, answer) = oneshot::channel();
        let request = Request {
            delivery,
            reply,
            budget,
        };
        self.sender.try_send(request).map_err(|err| match err {
            mpsc::error::TrySendError::Full(_) => NotStored::Full,
            mpsc::error::TrySendError::Closed(_) => NotStored::Stopped,
        })?;
        match tokio::time::timeout(MAX_WAIT, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(NotStored::Stopped),
            Err(_) => Err(NotStored::TimedOut),
        }
    }
}

async fn write_groups(
    db: Db,
    receiver: Arc<tokio::sync::Mutex<mpsc::Receiver<Request>>>,
    heartbeat: Heartbeat,
) {
    let mut receiver = receiver.lock().await;
    let mut group = Vec::with_capacity(MAX_GROUP);
    loop {
        heartbeat.beat();
        // Idle, it still beats (and, while writes fail, probes) every PROBE_EVERY.
        let received = tokio::select! {
            received = receiver.recv_many(&mut group, MAX_GROUP) => received,
            () = tokio::time::sleep(PROBE_EVERY) => {
                if db.write_health.is_failing() {
                    db.probe_writes("intake").await;
                }
                continue;
            }
        };
        if received == 0 {
            return;
        }
        let (deliveries, replies): (Vec<NewDelivery>, Vec<_>) = group
            .drain(..)
            .map(|r| (r.delivery, (r.reply, r.budget)))
            .unzip();
        // Its own task: a panic fails this group (503s), not every delivery after it.
        let written = caught({
            let db = db.clone();
            async move { write(&db, &deliveries).await }
        })
        .await
        .unwrap_or_else(|panic| {
            Err(GroupFailed {
                reason: format!("the intake writer panicked: {panic}"),
                database_unavailable: false,
            })
        });
        let results: Vec<Result<Stored, NotStored>> = match written {
            Ok(stored) => {
                db.write_health.succeeded("intake");
                stored.into_iter().map(Ok).collect()
            }
            Err(GroupFailed {
                reason: error,
                database_unavailable,
            }) => {
                // Nothing of the group is stored: every provider gets a 503 and delivers again.
                // The database's faults are its state (logged as it changes); anything else is a
                // bug, logged at most once a second.
                if database_unavailable {
                    db.write_health.failed("intake", &error);
                } else if let Some(groups) = GROUP_ERROR_LOG.tick() {
                    tracing::error!(error, groups, "webhook intake: a group could not be stored");
                }
                replies
                    .iter()
                    .map(|_| Err(NotStored::CannotCommit(error.clone())))
                    .collect()
            }
        };
        for ((reply, _budget), result) in replies.into_iter().zip(results) {
            let _ = reply.send(result);
        }
    }
}

/// Why a group was not stored.
struct GroupFailed {
    reason: String,
    /// The database cannot take writes now (full, read-only, locked, gone), as opposed to a bug.
    database_unavailable: bool,
}

/// One log line a second at most for groups that fail for another reason than the database.
static GROUP_ERROR_LOG: LogEvery = LogEvery::new(Duration::from_secs(1));

/// One transaction, two statements, whatever the size of the group: the deliveries, then the
/// processing jobs of those that were new. Answers only once the commit is in the file at the
/// database's path (SQLite goes on writing to a file deleted under it).
async fn write(db: &Db, deliveries: &[NewDelivery]) -> Result<Vec<Stored>, GroupFailed> {
    let inserted = async {
        let now = Timestamp::now();
        // Not `begin_write`: its `BEGIN IMMEDIATE` costs a round trip more per group, and this
        // transaction writes first, so it waits for the lock (busy timeout) all the same. The
        // file is checked after the commit, before any answer.
        let mut tx = db.writer.begin().await?;
        let _writing = db.write_health.writing();
        let inserted = webhook_events::insert_many(&mut *tx, deliveries).await?;
        let jobs: Vec<ProcessWebhook> = inserted
            .iter()
            .map(|(id, _, _)| ProcessWebhook {
                webhook_event_id: *id,
            })
            .collect();
        enqueue_all(&mut *tx, &jobs, now).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(inserted)
    }
    .await
    .map_err(|e| GroupFailed {
        database_unavailable: is_unavailable(&e),
        reason: e.to_string(),
    })?;
    db.check_file().map_err(|reason| GroupFailed {
        reason,
        database_unavailable: true,
    })?;
    // Match answers to requests; a body sent twice within one group is new only the first time.
    let mut new: HashMap<(&str, &str), i64> = inserted
        .iter()
        .map(|(id, provider, key)| ((provider.as_str(), key.as_str()), *id))
        .collect();
    Ok(deliveries
        .iter()
        .map(
            |d| match new.remove(&(d.provider.as_str(), d.delivery_key.as_str())) {
                Some(id) => Stored::New(id),
                None => Stored::Duplicate,
            },
        )
        .collect())
}
