//! Aircall backfill against the fake Aircall: the calls whose webhooks never arrived.

use crate::fake_providers::FakeProvider;
use crate::helpers::TestApp;
use crate::webhooks::{fixture, post_aircall};
use app::domain::Timestamp;
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn aircall_backfill_adds_only_the_calls_whose_webhooks_never_arrived() {
    let aircall = FakeProvider::start().await;
    let app = TestApp::spawn_with(&[
        ("AIRCALL_WEBHOOK_TOKEN", "AIRCALL_TOKEN"),
        ("AIRCALL_API_ID", "id"),
        ("AIRCALL_API_TOKEN", "token"),
        ("AIRCALL_API_BASE", &aircall.base),
    ])
    .await;
    // One call arrived by webhook.
    assert_eq!(
        post_aircall(&app, &fixture("aircall_ended.json"))
            .await
            .status,
        StatusCode::OK
    );
    crate::webhooks::drain(&app).await;
    let arrived: String = sqlx::query_scalar("SELECT provider_call_id FROM calls")
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    let arrived_body: serde_json::Value =
        serde_json::from_slice(&fixture("aircall_ended.json")).unwrap();
    let started = Timestamp::now().unix() - 3600;
    let missing = json!({ "id": 555001, "direction": "inbound", "status": "done", "started_at": started,
                          "answered_at": null, "ended_at": started + 20, "duration": 20,
                          "raw_digits": "+34 644 55 66 77", "missed_call_reason": "no_available_agent" });
    aircall.script([
        (200, vec![], json!({ "calls": [arrived_body["data"].clone()], "meta": { "next_page_link": "https://api.aircall.io/v1/calls?page=2" } })),
        (200, vec![], json!({ "calls": [missing], "meta": { "next_page_link": null } })),
    ]);
    let since = Timestamp::now().plus_seconds(-86_400);
    let config = app::backend::config::Config::from_lookup(|name| match name {
        "DATABASE_URL" => Some(app.state.config.database_url.clone()),
        "AIRCALL_API_ID" => Some("id".into()),
        "AIRCALL_API_TOKEN" => Some("token".into()),
        "AIRCALL_API_BASE" => Some(aircall.base.clone()),
        _ => None,
    })
    .unwrap();
    server::cli::providers::aircall_backfill(config.clone(), since)
        .await
        .unwrap();
    let received = aircall.received();
    assert_eq!(received.len(), 2, "two pages");
    assert!(
        received[0]
            .query
            .contains(&format!("from={}", since.unix())),
        "{}",
        received[0].query
    );
    assert!(received[1].query.contains("page=2"));
    let calls: Vec<(String, bool)> =
        sqlx::query_as("SELECT provider_call_id, missed FROM calls ORDER BY id")
            .fetch_all(&app.state.db.reader)
            .await
            .unwrap();
    assert_eq!(calls, [(arrived, false), ("555001".into(), true)]);
    let lead: Option<String> =
        sqlx::query_scalar("SELECT name FROM leads WHERE phone = '+34644556677'")
            .fetch_optional(&app.state.db.reader)
            .await
            .unwrap();
    assert!(
        lead.is_some(),
        "an unknown caller became a lead, as by webhook"
    );

    // Run again: nothing new.
    aircall.script([(
        200,
        vec![],
        json!({ "calls": [missing_again()], "meta": {} }),
    )]);
    server::cli::providers::aircall_backfill(config, since)
        .await
        .unwrap();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM calls")
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(count, 2);
}

fn missing_again() -> serde_json::Value {
    json!({ "id": 555001, "direction": "inbound", "status": "done", "raw_digits": "+34 644 55 66 77" })
}

/// The backfill's configuration against `aircall`.
fn aircall_config(app: &TestApp, aircall: &FakeProvider) -> app::backend::config::Config {
    app::backend::config::Config::from_lookup(|name| match name {
        "DATABASE_URL" => Some(app.state.config.database_url.clone()),
        "AIRCALL_API_ID" => Some("id".into()),
        "AIRCALL_API_TOKEN" => Some("token".into()),
        "AIRCALL_API_BASE" => Some(aircall.base.clone()),
        _ => None,
    })
    .unwrap()
}

#[tokio::test]
async fn a_backfill_over_aircalls_cap_is_split_and_a_persistent_outage_ends_it_clearly() {
    let aircall = FakeProvider::start().await;
    let app = TestApp::spawn().await;
    let config = aircall_config(&app, &aircall);
    let since = Timestamp::now().plus_seconds(-86_400);
    // The whole day matches 15,000 calls (over the 10,000 Aircall lists for one query): each
    // half is listed on its own.
    aircall.script([
        (
            200,
            vec![],
            json!({ "calls": [], "meta": { "total": 15000, "next_page_link": "x" } }),
        ),
        (
            200,
            vec![],
            json!({ "calls": [], "meta": { "total": 7000, "next_page_link": null } }),
        ),
        (
            200,
            vec![],
            json!({ "calls": [], "meta": { "total": 8000, "next_page_link": null } }),
        ),
    ]);
    server::cli::providers::aircall_backfill(config.clone(), since)
        .await
        .unwrap();
    let received = aircall.received();
    assert_eq!(received.len(), 3, "the day, then its two halves");
    let window = |query: &str| -> (i64, i64) {
        let value = |key: &str| {
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
                .unwrap()
                .parse::<i64>()
                .unwrap()
        };
        (value("from"), value("to"))
    };
    let (from, to) = window(&received[0].query);
    let (first_from, first_to) = window(&received[1].query);
    let (second_from, second_to) = window(&received[2].query);
    assert_eq!((first_from, second_to), (from, to));
    assert_eq!(second_from, first_to + 1, "no gap, no overlap");

    // Aircall failing every time: a bounded number of tries, then a clear error.
    let failing = (
        503,
        vec![("retry-after", "1".to_string())],
        json!({ "error": "down" }),
    );
    aircall.script(std::iter::repeat_n(failing, 5));
    let error = server::cli::providers::aircall_backfill(config, since)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("kept failing after 5 attempts"), "{error}");
    assert_eq!(aircall.received().len(), 3 + 5);
}
