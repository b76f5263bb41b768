//! Retention: done jobs and processed deliveries past their age are deleted (in batches, with
//! their applied item keys); failed and pending work and recent history stay; `--dry-run` only
//! counts.

use crate::helpers::TestApp;
use app::backend::retention::{due, prune, Policy, Pruned};
use app::domain::Timestamp;
use std::process::Command;

const NOW: &str = "2025-06-01T10:00:00Z";
const POLICY: Policy = Policy {
    jobs_days: 30,
    webhooks_days: 90,
};

async fn exec(app: &TestApp, sql: &str) {
    sqlx::query(sql)
        .execute(&app.state.db.writer)
        .await
        .unwrap();
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap()
}

/// 1,200 done jobs 31 days old (more than two batches), and one of each kind that stays.
async fn history(app: &TestApp) {
    // A person erased more than 90 days before NOW, and one erased a week before; the failed and
    // pending deliveries below were received between the two, so the later record stays while
    // they wait (a replay could bring that person back).
    exec(
        app,
        "INSERT INTO erased_identities (digest, erased_at) VALUES
         (printf('%064d', 1), '2025-02-01T00:00:00Z'),
         (printf('%064d', 2), '2025-05-25T00:00:00Z')",
    )
    .await;
    exec(
        app,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1200)
         INSERT INTO jobs (kind, queue, payload, status, attempts, max_attempts, run_at, created_at, updated_at)
         SELECT 'k', 'inbound', '{}', 'done', 1, 5, '2025-04-30T09:00:00Z', '2025-04-30T09:00:00Z', '2025-04-30T09:00:00Z' FROM n",
    )
    .await;
    exec(
        app,
        "INSERT INTO jobs (kind, queue, payload, status, attempts, max_attempts, run_at, last_error, created_at, updated_at) VALUES
         ('old failed', 'whatsapp', '{}', 'failed', 5, 5, '2025-01-01T00:00:00Z', 'refused', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z'),
         ('old pending', 'hubspot', '{}', 'pending', 0, 5, '2025-01-01T00:00:00Z', NULL, '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z'),
         ('recent done', 'inbound', '{}', 'done', 1, 5, '2025-05-20T00:00:00Z', NULL, '2025-05-20T00:00:00Z', '2025-05-20T00:00:00Z')",
    )
    .await;
    exec(
        app,
        "INSERT INTO webhook_events (id, provider, delivery_key, headers, body, received_at, status, processed_at) VALUES
         (1, 'whatsapp', 'old processed', '{}', x'7b7d', '2025-03-01T00:00:00Z', 'processed', '2025-03-01T00:00:01Z'),
         (2, 'whatsapp', 'old failed', '{}', x'7b7d', '2025-03-01T00:00:00Z', 'failed', NULL),
         (3, 'aircall', 'old pending', '{}', x'7b7d', '2025-03-01T00:00:00Z', 'pending', NULL),
         (4, 'hubspot', 'recent processed', '{}', x'7b7d', '2025-05-01T00:00:00Z', 'processed', '2025-05-01T00:00:01Z'),
         (5, 'aircall', 'old, replayed lately', '{}', x'7b7d', '2025-01-01T00:00:00Z', 'processed', '2025-05-30T00:00:00Z')",
    )
    .await;
    exec(
        app,
        "INSERT INTO whatsapp_early_statuses (wamid, status, occurred_at, received_at) VALUES
         ('wamid.another-apps', 'sent', '2025-04-01T00:00:00Z', '2025-04-01T00:00:00Z'),
         ('wamid.answer-on-its-way', 'delivered', '2025-05-31T00:00:00Z', '2025-05-31T00:00:00Z')",
    )
    .await;
    exec(
        app,
        "INSERT INTO webhook_items (item_key, webhook_event_id, processed_at) VALUES
         ('wa:msg:old', 1, '2025-03-01T00:00:00Z'), ('hs:recent', 4, '2025-05-01T00:00:00Z')",
    )
    .await;
}

#[tokio::test]
async fn prune_deletes_old_history_in_batches_and_keeps_work_and_recent_history() {
    let app = TestApp::spawn().await;
    history(&app).await;
    let now = Timestamp::parse_rfc3339(NOW).unwrap();

    let expected = Pruned {
        jobs: 1200,
        deliveries: 1,
        unmatched_statuses: 1,
        erasures: 1,
    };
    assert_eq!(due(&app.state.db, POLICY, now).await.unwrap(), expected);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM jobs").await,
        1203,
        "counting deletes nothing"
    );

    assert_eq!(prune(&app.state.db, POLICY, now).await.unwrap(), expected);
    let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM jobs ORDER BY kind")
        .fetch_all(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(kinds, ["old failed", "old pending", "recent done"]);
    let deliveries: Vec<String> =
        sqlx::query_scalar("SELECT delivery_key FROM webhook_events ORDER BY id")
            .fetch_all(&app.state.db.reader)
            .await
            .unwrap();
    assert_eq!(
        deliveries,
        [
            "old failed",
            "old pending",
            "recent processed",
            "old, replayed lately"
        ],
        "a delivery's age counts from its processing: one replayed lately stays"
    );
    let items: Vec<String> = sqlx::query_scalar("SELECT item_key FROM webhook_items")
        .fetch_all(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(
        items,
        ["hs:recent"],
        "a deleted delivery's item keys go with it"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM settings WHERE key = 'retention.pruned_at' AND value = '2025-06-01T10:00:00Z'").await,
        1,
        "the prune is recorded, so serve's daily look waits a day"
    );
    assert_eq!(
        prune(&app.state.db, POLICY, now).await.unwrap(),
        Pruned::default()
    );
}

#[tokio::test]
async fn the_command_counts_with_dry_run_and_uses_the_configured_ages() {
    let app = TestApp::spawn().await;
    history(&app).await;
    let run = |args: &[&str], jobs_days: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_mini-crm"))
            .env_clear()
            .env("DATABASE_URL", &app.state.config.database_url)
            .env("JOBS_RETENTION_DAYS", jobs_days)
            .env("RUST_LOG", "warn")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Today is long after the history: everything done or processed is past its age.
    assert_eq!(
        run(&["prune", "--dry-run"], "30"),
        "prune: would delete 1201 done job(s) older than 30 days, 3 processed webhook delivery(ies) older than 90 days, 2 unmatched WhatsApp status(es) and 1 record(s) of erasures older than 90 days\n"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM jobs WHERE status = 'done'").await,
        1201
    );
    assert_eq!(
        run(&["prune"], "3650"),
        "prune: deleted 0 done job(s) older than 3650 days, 3 processed webhook delivery(ies) older than 90 days, 0 unmatched WhatsApp status(es) and 1 record(s) of erasures older than 90 days\n"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM jobs WHERE status = 'done'").await,
        1201
    );
}
