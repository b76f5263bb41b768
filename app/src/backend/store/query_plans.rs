//! The queries `/healthz`, `/metrics`, Integraciones and the daily prune run read indexes, not
//! whole tables: checked with `EXPLAIN QUERY PLAN` on a database of a million jobs (most of them
//! done, as on a clinic's server after a while) and a hundred thousand deliveries.

use super::{jobs, webhook_events};
use crate::backend::db::Db;
use crate::domain::{Provider, Timestamp, WebhookStatus};

async fn plan(db: &Db, sql: &str, binds: &[&str]) -> Vec<String> {
    let explained = format!("EXPLAIN QUERY PLAN {sql}");
    let mut query = sqlx::query_as::<_, (i64, i64, i64, String)>(&explained);
    for bind in binds {
        query = query.bind(*bind);
    }
    query
        .fetch_all(&db.reader)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, _, _, detail)| detail)
        .collect()
}

/// A page of a list (`LIMIT`) searches an index already in the page's order: a sort afterwards
/// would read every matching row before the first is shown.
fn reads_only_its_page(plan: &[String], table: &str) {
    assert!(
        !plan
            .iter()
            .any(|step| step.starts_with("USE TEMP B-TREE FOR ORDER BY")),
        "sorts every matching row of {table}: {plan:?}"
    );
    searches(plan, table);
}

/// Every step that reads `table` searches an index instead of scanning.
fn searches(plan: &[String], table: &str) {
    let reads: Vec<&String> = plan
        .iter()
        .filter(|step| step.split_whitespace().nth(1) == Some(table))
        .collect();
    assert!(!reads.is_empty(), "{table} is read: {plan:?}");
    for step in reads {
        assert!(
            step.starts_with("SEARCH ") && step.contains(" USING "),
            "{step:?} reads all of {table}: {plan:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn health_integraciones_and_prune_read_indexes_on_a_million_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&format!("sqlite://{}/plans.sqlite", dir.path().display()))
        .await
        .unwrap();
    // A million jobs, one in a thousand not done; a hundred thousand deliveries, a few failed.
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000)
         INSERT INTO jobs (kind, queue, payload, status, attempts, max_attempts, run_at,
                           locked_at, created_at, updated_at)
         SELECT 'process_webhook', CASE i % 4 WHEN 0 THEN 'inbound' WHEN 1 THEN 'whatsapp'
                                    WHEN 2 THEN 'aircall' ELSE 'hubspot' END, '{}',
                CASE WHEN i % 1000 = 1 THEN 'failed' WHEN i % 1000 = 2 THEN 'pending'
                     WHEN i % 1000 = 3 THEN 'running' ELSE 'done' END, 1, 5,
                '2025-01-07T10:00:00Z',
                CASE WHEN i % 1000 = 3 THEN '2025-01-07T10:00:00Z' END,
                '2025-01-07T10:00:00Z', '2025-01-07T10:00:00Z'
         FROM n",
    )
    .execute(&db.writer)
    .await
    .unwrap();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
         INSERT INTO webhook_events (provider, delivery_key, headers, body, received_at, status,
                                     processed_at)
         SELECT CASE i % 3 WHEN 0 THEN 'whatsapp' WHEN 1 THEN 'aircall' ELSE 'hubspot' END,
                'key-' || i, '{}', x'7b7d', '2025-01-07T10:00:00Z',
                CASE WHEN i % 1000 = 1 THEN 'failed' ELSE 'processed' END,
                CASE WHEN i % 1000 = 1 THEN NULL ELSE '2025-01-07T10:00:00Z' END
         FROM n",
    )
    .execute(&db.writer)
    .await
    .unwrap();
    let now = "2025-02-07T10:00:00Z";

    searches(&plan(&db, jobs::STATS, &[now]).await, "jobs");
    searches(&plan(&db, jobs::LIST_FAILED, &[]).await, "jobs");
    searches(&plan(&db, jobs::COUNT_DONE_BEFORE, &[now]).await, "jobs");
    searches(&plan(&db, jobs::PRUNE_DONE, &[now, "500"]).await, "jobs");
    searches(
        &plan(&db, webhook_events::COUNT_PROCESSED_BEFORE, &[now]).await,
        "webhook_events",
    );
    searches(
        &plan(&db, webhook_events::PRUNE_PROCESSED, &[now, "500"]).await,
        "webhook_events",
    );
    // Integraciones' and `webhooks list`'s filters: a page of each reads only that page. With
    // `--since`, the rows since that instant are read by the (status or provider, received_at)
    // index and sorted: bounded by the instant, not by the table.
    let filters = [
        webhook_events::Filter {
            status: Some(WebhookStatus::Failed),
            ..Default::default()
        },
        webhook_events::Filter {
            status: Some(WebhookStatus::Processed),
            ..Default::default()
        },
        webhook_events::Filter {
            provider: Some(Provider::Aircall),
            ..Default::default()
        },
        webhook_events::Filter {
            provider: Some(Provider::Whatsapp),
            status: Some(WebhookStatus::Failed),
            since: Some(Timestamp::parse_rfc3339(now).unwrap()),
        },
    ];
    for filter in &filters {
        let sql = webhook_events::list_query(filter, 100).into_sql();
        let binds: Vec<String> = [
            filter.provider.map(|p| p.as_str().to_string()),
            filter.status.map(|s| s.as_str().to_string()),
            filter.since.map(|t| t.to_string()),
            Some("100".into()),
        ]
        .into_iter()
        .flatten()
        .collect();
        let binds: Vec<&str> = binds.iter().map(String::as_str).collect();
        let plan = plan(&db, &sql, &binds).await;
        if filter.since.is_none() {
            reads_only_its_page(&plan, "webhook_events");
        } else {
            searches(&plan, "webhook_events");
        }
    }
}
