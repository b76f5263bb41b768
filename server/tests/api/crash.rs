//! `kill -9` during a load of signed deliveries: every delivery the server acknowledged is in the
//! database after the restart. Runs the real binary on a loopback port.

use app::backend::webhooks::ingest::delivery_key;
use app::backend::webhooks::verify::sign;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

const SECRET: &str = "crash-test-secret";

fn start(database: &str, addr: &str, logs: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_mini-crm"))
        .arg("serve")
        .env("DATABASE_URL", database)
        .env("LOG_DIR", logs)
        .env("LEPTOS_SITE_ADDR", addr)
        .env("WHATSAPP_APP_SECRET", SECRET)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the mini-crm binary starts")
}

async fn wait_until_up(client: &reqwest::Client, base: &str) {
    for _ in 0..200 {
        if client.get(format!("{base}/login")).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not start");
}

fn delivery(n: usize) -> Vec<u8> {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"messages":[{{"from":"3461{n:07}","id":"wamid.crash.{n}","timestamp":"1749416383","type":"text","text":{{"body":"hola {n}"}}}}]}}}}]}}]}}"#
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_delivery_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/crash.sqlite", dir.path().display());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();

    let mut server = start(&database, &addr, &dir.path().join("logs"));
    wait_until_up(&client, &base).await;

    // 8 senders post distinct deliveries until the server dies under them.
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let mut senders = Vec::new();
    for sender in 0..8 {
        let (client, base, acknowledged) = (client.clone(), base.clone(), acknowledged.clone());
        senders.push(tokio::spawn(async move {
            for i in 0.. {
                let body = delivery(sender * 1_000_000 + i);
                let response = client
                    .post(format!("{base}/webhooks/whatsapp"))
                    .header("x-hub-signature-256", sign::whatsapp(SECRET, &body))
                    .body(body.clone())
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status().is_success() => {
                        acknowledged.lock().await.push(delivery_key(&body))
                    }
                    _ => return,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill().expect("SIGKILL"); // Child::kill is SIGKILL on Unix: no shutdown, no flush
    server.wait().unwrap();
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
    let mut server = start(&database, &addr, &dir.path().join("logs"));
    wait_until_up(&client, &base).await;
    let db = app::backend::db::Db::connect(&database).await.unwrap();
    let stored: std::collections::HashSet<String> =
        sqlx::query_scalar("SELECT delivery_key FROM webhook_events WHERE provider = 'whatsapp'")
            .fetch_all(&db.reader)
            .await
            .unwrap()
            .into_iter()
            .collect();
    server.kill().unwrap();
    server.wait().unwrap();
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
