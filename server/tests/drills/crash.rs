//! `kill -9` during a load of signed deliveries: every delivery the server acknowledged is in the
//! database after the restart. Runs the real binary on a loopback port.

use super::binary::{deliver, stored_keys, whatsapp_delivery, Server};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_delivery_survives_kill_9() {
    let client = reqwest::Client::new();
    let (_dir, mut server) = Server::start_fresh().await;
    let database = server.database.clone();

    // 8 senders post distinct deliveries until the server dies under them.
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let mut senders = Vec::new();
    for sender in 0..8 {
        let (client, base, acknowledged) =
            (client.clone(), server.base.clone(), acknowledged.clone());
        senders.push(tokio::spawn(async move {
            for i in 0.. {
                let body = whatsapp_delivery(sender * 1_000_000 + i, 0);
                let delivery = deliver(&client, &base, &body).await;
                if !delivery.acknowledged() {
                    return;
                }
                acknowledged.lock().await.push(delivery.key);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill();
    for sender in senders {
        sender.await.unwrap();
    }
    let acknowledged = acknowledged.lock().await.clone();
    assert!(
        acknowledged.len() > 100,
        "the load ran: {} acknowledged",
        acknowledged.len()
    );
    eprintln!(
        "{} deliveries acknowledged before kill -9",
        acknowledged.len()
    );

    // Restart on the same file, then look for every acknowledged delivery.
    server.restart().await;
    let stored = stored_keys(&database).await;
    server.kill();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|key| !stored.contains(*key))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged deliveries lost",
        lost.len(),
        acknowledged.len()
    );
    let db = app::backend::db::Db::connect(&database).await.unwrap();
    let jobs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE kind = 'process_webhook'")
        .fetch_one(&db.reader)
        .await
        .unwrap();
    assert_eq!(
        jobs as usize,
        stored.len(),
        "every stored delivery has its processing job"
    );
}
