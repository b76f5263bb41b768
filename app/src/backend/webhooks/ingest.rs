//! Durable intake: a delivery and the job that will process it are written in one transaction
//! before the provider gets its 2xx. One writer task commits deliveries in groups (each request
//! is answered after the commit that holds it), which keeps `synchronous=FULL` fast under load.

use super::ProcessWebhook;
use crate::backend::db::Db;
use crate::backend::jobs::enqueue_all;
use crate::backend::store::webhook_events::{self, NewDelivery};
use crate::domain::Timestamp;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
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
        let results: Vec<Result<Stored, String>> = match write(
            &db,
            &group
                .iter()
                .map(|(delivery, _)| delivery)
                .collect::<Vec<_>>(),
        )
        .await
        {
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

/// One transaction, two statements, whatever the size of the group: the deliveries, then the
/// processing jobs of those that were new.
async fn write(db: &Db, deliveries: &[&NewDelivery]) -> sqlx::Result<Vec<Stored>> {
    let now = Timestamp::now();
    let mut tx = db.writer.begin().await?;
    let inserted = webhook_events::insert_many(&mut *tx, deliveries).await?;
    let jobs: Vec<ProcessWebhook> = inserted
        .iter()
        .map(|(id, _, _)| ProcessWebhook {
            webhook_event_id: *id,
        })
        .collect();
    enqueue_all(&mut *tx, &jobs, now).await?;
    tx.commit().await?;
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
