//! The log file of the real binary: its lines, what they never contain, and rotation by
//! `scripts/rotate_logs.sh` without losing a line.

use app::backend::webhooks::verify::sign;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const SECRET: &str = "logs-test-whatsapp-secret";

fn delivery(n: usize) -> Vec<u8> {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"contacts":[{{"profile":{{"name":"Paciente {n}"}},"wa_id":"3466{n:07}"}}],"messages":[{{"from":"3466{n:07}","id":"wamid.logs.{n}","timestamp":"1749416383","type":"text","text":{{"body":"hola"}}}}]}}}}]}}]}}"#
    )
    .into_bytes()
}

/// Every line of the current log and of the rotated (gzipped) ones.
fn all_lines(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = if path.extension().is_some_and(|e| e == "gz") {
            let out = Command::new("gzip").arg("-dc").arg(&path).output().unwrap();
            String::from_utf8(out.stdout).unwrap()
        } else {
            std::fs::read_to_string(&path).unwrap()
        };
        lines.extend(text.lines().map(str::to_string));
    }
    lines
}

fn processed(lines: &[String]) -> usize {
    lines
        .iter()
        .filter(|l| l.contains("webhook delivery processed"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_names_providers_hides_phones_and_secrets_and_rotates_without_losing_lines() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let port = crate::binary::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = Command::new(env!("CARGO_BIN_EXE_mini-crm"))
        .arg("serve")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/logs.sqlite", dir.path().display()),
        )
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .env("LOG_DIR", &logs)
        .env("WHATSAPP_APP_SECRET", SECRET)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut sent = 0;
    let deliver = |n: usize| {
        let client = client.clone();
        let base = base.clone();
        async move {
            let body = delivery(n);
            let response = client
                .post(format!("{base}/webhooks/whatsapp"))
                .header("content-type", "application/json")
                .header("x-hub-signature-256", sign::whatsapp(SECRET, &body))
                .body(body)
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success());
        }
    };
    let wait_for = |expected: usize| {
        let logs = logs.clone();
        async move {
            for _ in 0..100 {
                if processed(&all_lines(&logs)) >= expected {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!(
                "only {} of {expected} deliveries logged",
                processed(&all_lines(&logs))
            );
        }
    };
    let rotate = |keep: &str| {
        let out = Command::new("bash")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../scripts/rotate_logs.sh"
            ))
            .arg(keep)
            .env("LOG_DIR", &logs)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };

    for _ in 0..3 {
        deliver(sent).await;
        sent += 1;
    }
    wait_for(sent).await;
    let current = std::fs::read_to_string(logs.join("mini-crm.log")).unwrap();
    let whatsapp: Vec<&str> = current
        .lines()
        .filter(|l| l.to_lowercase().contains("whatsapp"))
        .collect();
    assert!(
        whatsapp.iter().any(|l| l.contains("INFO")
            && l.contains("provider=\"whatsapp\"")
            && l.contains("app::backend::webhooks")),
        "{current}"
    );
    assert!(
        !current.contains("3466000000"),
        "no lead's phone number in the log"
    );
    assert!(!current.contains(SECRET), "no secret in the log");

    // Three rotations with deliveries in between: every line is in exactly one file.
    for round in 0..3 {
        rotate("10");
        for _ in 0..2 {
            deliver(sent).await;
            sent += 1;
        }
        wait_for(sent).await;
        assert!(
            logs.join("mini-crm.log").exists(),
            "round {round}: a fresh file"
        );
    }
    assert_eq!(
        processed(&all_lines(&logs)),
        sent,
        "no line lost, none twice"
    );

    // A fourth rotation keeping two: the oldest rotated files are pruned.
    rotate("2");
    let rotated: Vec<String> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".log.gz"))
        .collect();
    assert_eq!(rotated.len(), 2, "{rotated:?}");
    assert!(
        rotated.iter().all(|n| n.starts_with("mini-crm-20")),
        "dated: {rotated:?}"
    );
    server.kill().unwrap();
    let _ = server.wait();
}
