//! Durable intake: a delivery and the job that will process it are written in one transaction
//! before the provider gets its 2xx. One writer task commits deliveries in groups (each request
//! is answered after the commit that holds it), which keeps `synchronous=FULL` fast under load.

use super::ProcessWebhook;
use crate::backend::db::Db;
use crate::backend::jobs::enqueue;
use crate::backend::store::webhook_events::{self, NewDelivery};
use crate::domain::Timestamp;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

/// Deliveries committed together at most.
const MAX_GROUP: usize = 512;

/// Where a delivery ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    New(i64),
    /// The same body from this provider was stored before: nothing added.
    Duplicate,
}

type Request = (NewDelivery, oneshot::Sender<Result<Stored, String>>);

/// Handle to the intake writer. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Ingestor {
    sender: mpsc::Sender<Request>,
}

/// The delivery key: SHA-256 of the raw body.
pub fn delivery_key(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

impl Ingestor {
    /// Starts the writer task on the current runtime.
    pub fn start(db: Db) -> Self {
        let (sender, receiver) = mpsc::channel(4 * MAX_GROUP);
        tokio::spawn(write_groups(db, receiver));
        Self { sender }
    }

    /// Stores the delivery and its processing job; returns once they are committed.
    pub async fn store(&self, delivery: NewDelivery) -> Result<Stored, String> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send((delivery, reply))
            .await
            .map_err(|_| "the intake writer stopped".to_string())?;
        answer
            .await
            .map_err(|_| "the intake writer stopped".to_string())?
    }
}

async fn write_groups(db: Db, mut receiver: mpsc::Receiver<Request>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while receiver.recv_many(&mut group, MAX_GROUP).await > 0 {
        let results: Vec<Result<Stored, String>> =
            match write(&db, group.iter().map(|(delivery, _)| delivery)).await {
                Ok(stored) => stored.into_iter().map(Ok).collect(),
                Err(err) => {
                    // Nothing of the group is stored: every provider gets an error and retries.
                    tracing::error!(error = %err, "webhook intake: a group could not be stored");
                    group.iter().map(|_| Err(err.to_string())).collect()
                }
            };
        for ((_, reply), result) in group.drain(..).zip(results) {
            let _ = reply.send(result);
        }
    }
}

async fn write(
    db: &Db,
    deliveries: impl Iterator<Item = &NewDelivery>,
) -> sqlx::Result<Vec<Stored>> {
    let now = Timestamp::now();
    let mut tx = db.writer.begin().await?;
    let mut stored = Vec::with_capacity(MAX_GROUP);
    for delivery in deliveries {
        stored.push(match webhook_events::insert(&mut *tx, delivery).await? {
            Some(id) => {
                enqueue(
                    &mut *tx,
                    &ProcessWebhook {
                        webhook_event_id: id,
                    },
                    now,
                )
                .await?;
                Stored::New(id)
            }
            None => Stored::Duplicate,
        });
    }
    tx.commit().await?;
    Ok(stored)
}
