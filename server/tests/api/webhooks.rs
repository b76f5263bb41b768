//! `/webhooks/*`: verification, durable intake, deduplication and processing, with payloads
//! shaped like the providers' documented examples.

use crate::helpers::{TestApp, TestResponse};
use app::backend::webhooks::verify::sign;
use app::backend::worker::{self, Outcome};
use app::domain::{Provider, Queue, Timestamp, WebhookStatus};
use axum::body::Body;
use axum::http::{Request, StatusCode};

pub use crate::fixtures::{fixture, WA_SECRET};
const HS_SECRET: &str = "hs-client-secret";
const APP_URL: &str = "https://crm.clinica.example";

pub async fn providers_app() -> TestApp {
    TestApp::spawn_with(&[
        ("WHATSAPP_APP_SECRET", WA_SECRET),
        ("WHATSAPP_VERIFY_TOKEN", "verify-me"),
        ("AIRCALL_WEBHOOK_TOKEN", "AIRCALL_TOKEN"),
        ("HUBSPOT_CLIENT_SECRET", HS_SECRET),
        ("APP_URL", APP_URL),
        ("METRICS_TOKEN", "monitor-token"),
    ])
    .await
}

async fn post(
    app: &TestApp,
    path: &str,
    body: Vec<u8>,
    headers: &[(&str, String)],
) -> TestResponse {
    let mut request = Request::post(path).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    app.send(request.body(Body::from(body)).unwrap()).await
}

pub async fn post_whatsapp(app: &TestApp, body: &[u8]) -> TestResponse {
    let signature = sign::whatsapp(WA_SECRET, body);
    post(
        app,
        "/webhooks/whatsapp",
        body.to_vec(),
        &[("x-hub-signature-256", signature)],
    )
    .await
}

pub async fn post_hubspot(app: &TestApp, body: &[u8], timestamp_ms: i64) -> TestResponse {
    let url = format!("{APP_URL}/webhooks/hubspot");
    let signature = sign::hubspot(HS_SECRET, "POST", &url, body, timestamp_ms);
    let headers = [
        ("x-hubspot-signature-v3", signature),
        ("x-hubspot-request-timestamp", timestamp_ms.to_string()),
    ];
    post(app, "/webhooks/hubspot", body.to_vec(), &headers).await
}

pub async fn post_aircall(app: &TestApp, body: &[u8]) -> TestResponse {
    post(app, "/webhooks/aircall", body.to_vec(), &[]).await
}

/// Runs the `inbound` queue's jobs (webhook processing) until none is due; returns their
/// outcomes. (New leads also queue a HubSpot sync, on its own queue.)
pub async fn drain(app: &TestApp) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    loop {
        match worker::run_one(&app.state.jobs(), &[Queue::Inbound], "test")
            .await
            .unwrap()
        {
            Outcome::Idle => return outcomes,
            outcome => outcomes.push(outcome),
        }
    }
}

pub async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap()
}

/// An outbound message of ours (to a lead of its own), as a send would have stored it.
async fn outbound_message(app: &TestApp, wamid: &str, status: &str) {
    let lead: i64 = sqlx::query_scalar(
        "INSERT INTO leads (name, phone, source, created_at, updated_at)
         VALUES ('Paciente', '+3469' || (SELECT 1000000 + COUNT(*) FROM leads), 'meta',
                 '2025-01-01T10:00:00Z', '2025-01-01T10:00:00Z') RETURNING id",
    )
    .fetch_one(&app.state.db.writer)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO messages (lead_id, direction, wamid, kind, body, status, created_at, status_at)
         VALUES ($1, 'outbound', $2, 'text', 'Hola', $3, '2025-01-01T10:00:00Z', '2025-01-01T10:00:00Z')",
    )
    .bind(lead)
    .bind(wamid)
    .bind(status)
    .execute(&app.state.db.writer)
    .await
    .unwrap();
}

async fn status_of(app: &TestApp, wamid: &str) -> (String, Option<i64>) {
    sqlx::query_as("SELECT status, error_code FROM messages WHERE wamid = $1")
        .bind(wamid)
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap()
}

fn status_delivery(wamid: &str, status: &str, ts: u32) -> Vec<u8> {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","statuses":[{{"id":"{wamid}","status":"{status}","timestamp":"{ts}","recipient_id":"34600000003"}}]}}}}]}}]}}"#
    )
    .into_bytes()
}

#[tokio::test]
async fn the_whatsapp_handshake_echoes_the_challenge_only_for_the_right_token() {
    let app = providers_app().await;
    let ok = app.get("/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444", None).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body, "1158201444");
    let wrong = app
        .get(
            "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1",
            None,
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let mode = app
        .get(
            "/webhooks/whatsapp?hub.mode=unsubscribe&hub.verify_token=verify-me&hub.challenge=1",
            None,
        )
        .await;
    assert_eq!(mode.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn unset_secrets_refuse_deliveries_with_503() {
    let app = TestApp::spawn().await;
    let body = fixture("whatsapp_message.json");
    assert_eq!(
        post_whatsapp(&app, &body).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        app.get(
            "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1",
            None
        )
        .await
        .status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let aircall = post(
        &app,
        "/webhooks/aircall",
        fixture("aircall_created.json"),
        &[],
    )
    .await;
    assert_eq!(aircall.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM webhook_events").await, 0);
}

#[tokio::test]
async fn bad_signatures_are_401_and_never_stored() {
    let app = providers_app().await;
    let body = fixture("whatsapp_message.json");
    let good = sign::whatsapp(WA_SECRET, &body);
    let cases = [
        vec![],
        vec![("x-hub-signature-256", sign::whatsapp("other-secret", &body))],
        vec![(
            "x-hub-signature-256",
            good.trim_start_matches("sha256=").to_string(),
        )],
        vec![("x-hub-signature-256", good.replace("sha256=", "sha1="))],
    ];
    for headers in &cases {
        let response = post(&app, "/webhooks/whatsapp", body.clone(), headers).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{headers:?}");
    }
    let tampered = post(
        &app,
        "/webhooks/whatsapp",
        b"{\"entry\":[]}".to_vec(),
        &[("x-hub-signature-256", good)],
    )
    .await;
    assert_eq!(tampered.status, StatusCode::UNAUTHORIZED);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM webhook_events").await, 0);
    assert_eq!(
        app.state.rejected_webhooks.count(Provider::Whatsapp),
        5,
        "rejections are counted"
    );
}

#[tokio::test]
async fn a_delivery_sent_five_times_is_stored_once_and_applied_once() {
    let app = providers_app().await;
    let body = fixture("whatsapp_message.json");
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let response = post_whatsapp(&app, &body).await;
        assert_eq!(response.status, StatusCode::OK);
        statuses.push(response.json()["status"].as_str().unwrap().to_string());
    }
    assert_eq!(
        statuses,
        ["stored", "duplicate", "duplicate", "duplicate", "duplicate"]
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM webhook_events").await, 1);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM jobs WHERE kind = 'process_webhook'"
        )
        .await,
        1,
        "stored with its job"
    );
    assert_eq!(drain(&app).await.len(), 1);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM messages WHERE direction = 'inbound'"
        )
        .await,
        1
    );
    let lead: (String, String, String) = sqlx::query_as("SELECT name, phone, source FROM leads")
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(
        lead,
        (
            "Sheena Nelson".into(),
            "+16505551234".into(),
            "organic".into()
        )
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM webhook_events WHERE status = 'processed' AND event_type = 'messages'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn the_same_item_in_two_deliveries_has_one_effect() {
    let app = providers_app().await;
    let body = fixture("whatsapp_message.json");
    // Another app on the business account gets the same message inside a different body.
    let mut other: serde_json::Value = serde_json::from_slice(&body).unwrap();
    other["entry"][0]["id"] = "another-waba".into();
    let other = serde_json::to_vec(&other).unwrap();
    assert_eq!(post_whatsapp(&app, &body).await.json()["status"], "stored");
    assert_eq!(post_whatsapp(&app, &other).await.json()["status"], "stored");
    drain(&app).await;
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM webhook_events WHERE status = 'processed'"
        )
        .await,
        2
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM messages").await, 1);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM leads").await, 1);
}

#[tokio::test]
async fn an_ad_referral_makes_a_meta_lead_and_known_phones_keep_their_lead() {
    let app = providers_app().await;
    post_whatsapp(&app, &fixture("whatsapp_referral.json")).await;
    drain(&app).await;
    let lead: (String, String) =
        sqlx::query_as("SELECT name, source FROM leads WHERE phone = '+34611223344'")
            .fetch_one(&app.state.db.reader)
            .await
            .unwrap();
    assert_eq!(lead, ("Lucía Gómez".into(), "meta".into()));
    // The lead is dated by its message; the HubSpot sync it asks for is queued now, not then
    // (an old message must not look like a backlog of months on /healthz).
    let queued: Timestamp =
        sqlx::query_scalar("SELECT created_at FROM jobs WHERE kind = 'sync_hubspot'")
            .fetch_one(&app.state.db.reader)
            .await
            .unwrap();
    assert!(Timestamp::now().unix() - queued.unix() < 60, "{queued:?}");
    assert_eq!(app.get("/healthz", None).await.json()["status"], "ok");

    let again = String::from_utf8(fixture("whatsapp_referral.json"))
        .unwrap()
        .replace("wamid.REFERRAL1", "wamid.REFERRAL2");
    post_whatsapp(&app, again.as_bytes()).await;
    drain(&app).await;
    assert_eq!(count(&app, "SELECT COUNT(*) FROM leads").await, 1);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM messages").await, 2);
}

#[tokio::test]
async fn a_batch_of_messages_and_statuses_is_applied_whole() {
    let app = providers_app().await;
    outbound_message(&app, "wamid.OUT1", "sent").await;
    outbound_message(&app, "wamid.OUT2", "sent").await;
    post_whatsapp(&app, &fixture("whatsapp_batch.json")).await;
    drain(&app).await;
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM messages WHERE direction = 'inbound'"
        )
        .await,
        2
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM messages WHERE kind = 'media'").await,
        1
    );
    assert_eq!(
        status_of(&app, "wamid.OUT1").await,
        ("delivered".into(), None)
    );
    assert_eq!(
        status_of(&app, "wamid.OUT2").await,
        ("failed".into(), Some(131026))
    );
    let reason: String =
        sqlx::query_scalar("SELECT error_reason FROM messages WHERE wamid = 'wamid.OUT2'")
            .fetch_one(&app.state.db.reader)
            .await
            .unwrap();
    assert_eq!(reason, "Message Undeliverable.");
}

#[tokio::test]
async fn statuses_out_of_order_never_go_backwards() {
    let app = providers_app().await;
    outbound_message(&app, "wamid.X", "queued").await;
    for (status, ts) in [
        ("read", 30),
        ("delivered", 20),
        ("sent", 10),
        ("failed", 40),
    ] {
        post_whatsapp(
            &app,
            &status_delivery("wamid.X", status, 1_749_416_000 + ts),
        )
        .await;
    }
    drain(&app).await;
    assert_eq!(status_of(&app, "wamid.X").await.0, "read");

    outbound_message(&app, "wamid.Y", "sent").await;
    for (status, ts) in [("failed", 10), ("delivered", 20)] {
        post_whatsapp(
            &app,
            &status_delivery("wamid.Y", status, 1_749_416_000 + ts),
        )
        .await;
    }
    drain(&app).await;
    assert_eq!(
        status_of(&app, "wamid.Y").await.0,
        "delivered",
        "delivered replaces failed"
    );
}

#[tokio::test]
async fn malformed_json_with_a_valid_signature_is_kept_as_failed_and_replayable() {
    let app = providers_app().await;
    let body = b"{\"entry\": [ this is not json".to_vec();
    let response = post_whatsapp(&app, &body).await;
    assert_eq!(response.status, StatusCode::OK);
    let outcomes = drain(&app).await;
    assert!(
        matches!(outcomes.as_slice(), [Outcome::Failed { .. }]),
        "{outcomes:?}"
    );
    let (status, error): (String, String) =
        sqlx::query_as("SELECT status, last_error FROM webhook_events")
            .fetch_one(&app.state.db.reader)
            .await
            .unwrap();
    assert_eq!(status, "failed");
    assert!(error.contains("not a WhatsApp webhook payload"), "{error}");
    let stored: Vec<u8> = sqlx::query_scalar("SELECT body FROM webhook_events")
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(stored, body, "kept byte for byte");
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let app = providers_app().await;
    let big = vec![b' '; 3 * 1024 * 1024 + 1];
    assert_eq!(
        post_whatsapp(&app, &big).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let big = vec![b' '; 1024 * 1024 + 1];
    assert_eq!(
        post(&app, "/webhooks/aircall", big, &[]).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let fits = vec![b' '; 2 * 1024 * 1024];
    assert_eq!(
        post_whatsapp(&app, &fits).await.status,
        StatusCode::OK,
        "WhatsApp allows up to 3 MB"
    );
}

#[tokio::test]
async fn aircall_events_build_one_call_whatever_their_order() {
    let app = providers_app().await;
    for name in [
        "aircall_ended.json",
        "aircall_created.json",
        "aircall_answered.json",
        "aircall_ended.json",
    ] {
        let response = post(&app, "/webhooks/aircall", fixture(name), &[]).await;
        assert_eq!(response.status, StatusCode::OK, "{name}");
    }
    drain(&app).await;
    let call: (String, String, i64, i64, Option<String>) = sqlx::query_as(
        "SELECT direction, status, duration_seconds, missed, answered_at FROM calls WHERE provider_call_id = '812345'",
    )
    .fetch_one(&app.state.db.reader)
    .await
    .unwrap();
    assert_eq!(
        call,
        (
            "inbound".into(),
            "done".into(),
            174,
            0,
            Some("2024-11-26T12:08:30Z".into())
        )
    );
    let lead: (String, String) = sqlx::query_as("SELECT phone, source FROM leads")
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(lead, ("+34622334455".into(), "organic".into()));
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM webhook_events WHERE event_type = 'call.ended'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn unanswered_inbound_calls_are_missed() {
    let app = providers_app().await;
    post(
        &app,
        "/webhooks/aircall",
        fixture("aircall_missed.json"),
        &[],
    )
    .await;
    drain(&app).await;
    let missed: (i64, Option<String>) = sqlx::query_as("SELECT missed, missed_reason FROM calls")
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(missed, (1, Some("no_available_agent".into())));
}

#[tokio::test]
async fn aircall_tokens_are_checked() {
    let app = providers_app().await;
    let wrong = String::from_utf8(fixture("aircall_created.json"))
        .unwrap()
        .replace("AIRCALL_TOKEN", "forged");
    assert_eq!(
        post(&app, "/webhooks/aircall", wrong.into_bytes(), &[])
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post(&app, "/webhooks/aircall", b"nope".to_vec(), &[])
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM webhook_events").await, 0);
}

#[tokio::test]
async fn hubspot_changes_update_the_linked_lead_once() {
    let app = providers_app().await;
    let lead = crate::clinic::Clinic::new(app.state.db.clone())
        .lead(
            app::domain::Source::Google,
            crate::clinic::ts("2025-01-01T10:00:00Z"),
        )
        .await;
    sqlx::query("UPDATE leads SET name = 'Ana Ruiz', hubspot_id = '5101' WHERE id = $1")
        .bind(lead)
        .execute(&app.state.db.writer)
        .await
        .unwrap();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let body = fixture("hubspot_events.json");
    assert_eq!(
        post_hubspot(&app, &body, now_ms).await.status,
        StatusCode::OK
    );
    // The same events again in a new delivery (HubSpot retries with a new attemptNumber).
    let retried = String::from_utf8(body.clone())
        .unwrap()
        .replace("\"attemptNumber\":0", "\"attemptNumber\":1");
    assert_eq!(
        post_hubspot(&app, retried.as_bytes(), now_ms).await.json()["status"],
        "stored"
    );
    drain(&app).await;
    let row: (String, Option<String>, Option<String>) =
        sqlx::query_as("SELECT name, email, hubspot_synced_at FROM leads")
            .fetch_one(&app.state.db.reader)
            .await
            .unwrap();
    assert_eq!(row.0, "Marta Ruiz");
    assert_eq!(row.1.as_deref(), Some("nueva.direccion@example.com"));
    assert!(row.2.is_some(), "marked as synced, so it is not sent back");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM webhook_items WHERE item_key LIKE 'hs:%'"
        )
        .await,
        3
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM webhook_events WHERE event_type = 'contact.propertyChange+deal.creation'"
        )
        .await,
        2
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM webhook_events WHERE status = 'processed'"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn hubspot_signatures_and_timestamps_are_checked() {
    let app = providers_app().await;
    let body = fixture("hubspot_events.json");
    let stale = chrono::Utc::now().timestamp_millis() - 6 * 60 * 1000;
    assert_eq!(
        post_hubspot(&app, &body, stale).await.status,
        StatusCode::UNAUTHORIZED
    );
    let forged = post(
        &app,
        "/webhooks/hubspot",
        body.clone(),
        &[
            ("x-hubspot-signature-v3", "AAAA".into()),
            (
                "x-hubspot-request-timestamp",
                chrono::Utc::now().timestamp_millis().to_string(),
            ),
        ],
    )
    .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM webhook_events").await, 0);
}

#[tokio::test]
async fn the_integrations_page_functions_show_and_act_for_admins_only() {
    let app = providers_app().await;
    post_whatsapp(&app, &fixture("whatsapp_message.json")).await;
    post_whatsapp(&app, b"{ broken").await;
    drain(&app).await;

    assert_eq!(
        app.post_form("/sfn/webhook_events", &[], None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let staff = app.signed_in("luis@clinica.es").await;
    let events = app
        .post_form(
            "/sfn/webhook_events",
            &[("provider", "whatsapp"), ("status", "failed")],
            Some(&staff),
        )
        .await;
    assert_eq!(events.status, StatusCode::OK, "{}", events.body);
    let events = events.json();
    assert_eq!(events.as_array().unwrap().len(), 1);
    let failed_id = events[0]["id"].as_i64().unwrap().to_string();
    let bad = app
        .post_form(
            "/sfn/webhook_events",
            &[("provider", "twilio")],
            Some(&staff),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Raw payloads (patients' messages whole) are for admins; staff are refused, and their page
    // offers neither "Ver" nor "Reprocesar".
    let page = app.get("/integraciones", Some(&staff)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Webhooks recibidos") && !page.body.contains("Ver el webhook"));
    assert_eq!(
        app.post_form("/sfn/webhook_payload", &[("id", &failed_id)], Some(&staff))
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    let queues = app.post_form("/sfn/queues", &[], Some(&staff)).await.json();
    let inbound = queues
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "inbound")
        .unwrap()
        .clone();
    assert_eq!(
        (inbound["failed"].as_i64(), &inbound["held"]),
        (Some(1), &serde_json::Value::Null)
    );
    let failed_jobs = app
        .post_form("/sfn/failed_jobs", &[], Some(&staff))
        .await
        .json();
    assert_eq!(failed_jobs.as_array().unwrap().len(), 1);

    // Acting is for admins.
    assert_eq!(
        app.post_form("/sfn/retry_jobs", &[], Some(&staff))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post_form("/sfn/replay_webhook", &[("id", &failed_id)], Some(&staff))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let admin = app.signed_in_admin("ana@clinica.es").await;
    let page = app.get("/integraciones", Some(&admin)).await;
    assert!(
        page.body.contains(&format!("Ver el webhook {failed_id}")),
        "{}: {}",
        page.status,
        page.body
    );
    let payload = app
        .post_form("/sfn/webhook_payload", &[("id", &failed_id)], Some(&admin))
        .await
        .json();
    assert_eq!(payload["body"], "{ broken");
    let headers = payload["headers"].as_str().unwrap();
    assert!(
        headers.contains(r#""x-hub-signature-256": "[redacted]""#),
        "{headers}"
    );
    let replayed = app
        .post_form("/sfn/replay_webhook", &[("id", &failed_id)], Some(&admin))
        .await;
    assert_eq!(replayed.status, StatusCode::OK);
    assert!(replayed.json().as_str().unwrap().contains("sigue fallando"));
    let retried = app.post_form("/sfn/retry_jobs", &[], Some(&admin)).await;
    assert_eq!(retried.json(), 1);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM jobs WHERE status = 'failed'").await,
        0
    );
    let missing = app
        .post_form("/sfn/replay_webhook", &[("id", "999")], Some(&admin))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn concurrent_redeliveries_store_once_even_within_one_commit_group() {
    let app = providers_app().await;
    let body = fixture("whatsapp_message.json");
    let other = fixture("whatsapp_referral.json");
    let (a, b, c, d, e) = tokio::join!(
        post_whatsapp(&app, &body),
        post_whatsapp(&app, &body),
        post_whatsapp(&app, &other),
        post_whatsapp(&app, &body),
        post_whatsapp(&app, &other),
    );
    let statuses: Vec<String> = [a, b, c, d, e]
        .iter()
        .map(|r| r.json()["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| *s == "stored").count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM webhook_events").await, 2);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM jobs").await, 2);
}

#[tokio::test]
async fn deliveries_are_listed_by_provider_status_and_time() {
    use app::backend::store::webhook_events::{list, Filter};
    let app = providers_app().await;
    post_whatsapp(&app, &fixture("whatsapp_message.json")).await;
    post(
        &app,
        "/webhooks/aircall",
        fixture("aircall_created.json"),
        &[],
    )
    .await;
    let db = &app.state.db.reader;
    let all = list(db, &Filter::default(), 10).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.provider.as_str()).collect::<Vec<_>>(),
        ["aircall", "whatsapp"],
        "newest first"
    );
    let whatsapp = Filter {
        provider: Some(Provider::Whatsapp),
        ..Filter::default()
    };
    assert_eq!(list(db, &whatsapp, 10).await.unwrap().len(), 1);
    let pending = Filter {
        status: Some(WebhookStatus::Pending),
        ..Filter::default()
    };
    assert_eq!(list(db, &pending, 10).await.unwrap().len(), 2);
    let later = Filter {
        since: Some(app::domain::Timestamp::now().plus_seconds(60)),
        ..Filter::default()
    };
    assert!(list(db, &later, 10).await.unwrap().is_empty());
    assert_eq!(
        list(db, &Filter::default(), 1).await.unwrap().len(),
        1,
        "limit"
    );
}

/// Hole 6 of issue 11: Aircall's webhook token (the secret itself) was stored in the body and
/// shown with the payload to every signed-in user; signatures were stored in the headers.
#[tokio::test]
async fn no_webhook_secret_or_signature_is_stored() {
    let app = providers_app().await;
    let delivery = fixture("aircall_created.json");
    assert!(String::from_utf8_lossy(&delivery).contains("AIRCALL_TOKEN"));
    assert_eq!(post_aircall(&app, &delivery).await.status, StatusCode::OK);
    assert_eq!(
        post_aircall(&app, &delivery).await.json()["status"],
        "duplicate",
        "a redelivery is still recognised"
    );
    post_whatsapp(&app, &fixture("whatsapp_message.json")).await;
    drain(&app).await;
    let stored: Vec<(String, Vec<u8>, String)> =
        sqlx::query_as("SELECT headers, body, status FROM webhook_events ORDER BY id")
            .fetch_all(&app.state.db.reader)
            .await
            .unwrap();
    assert_eq!(stored.len(), 2);
    for (headers, body, status) in &stored {
        let body = String::from_utf8_lossy(body);
        assert!(
            !body.contains("AIRCALL_TOKEN") && !headers.contains("sha256="),
            "{headers} {body}"
        );
        assert_eq!(
            status, "processed",
            "the redacted delivery is processed as before"
        );
    }
    assert!(String::from_utf8_lossy(&stored[0].1).contains(r#""token":"[redacted]""#));
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM calls").await,
        1,
        "the call was recorded from the redacted body"
    );
}

/// Bodies a stranger with a stolen secret, or a broken provider, could send: not UTF-8, nested
/// beyond any parser's recursion limit, cut short. Each is stored (signed) and fails its
/// processing on its own, or is refused; nothing panics and the next delivery is processed.
#[tokio::test]
async fn hostile_bodies_fail_alone_and_never_take_processing_down() {
    let app = providers_app().await;
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let hostile: [Vec<u8>; 4] = [
        vec![0xff, 0xfe, b'{', 0x80, b'}'],
        nested.clone().into_bytes(),
        b"{\"object\":\"whatsapp_business_account\",\"entry\":[{\"changes\":[{\"value\":{\"messages\":[{\"from\":\"3460011".to_vec(),
        format!("{{\"object\":\"whatsapp_business_account\",\"entry\":{nested}}}").into_bytes(),
    ];
    for body in &hostile {
        assert_eq!(post_whatsapp(&app, body).await.status, StatusCode::OK);
        let timestamp = chrono::Utc::now().timestamp_millis();
        assert_eq!(
            post_hubspot(&app, body, timestamp).await.status,
            StatusCode::OK
        );
        // Aircall's token is inside the JSON: what is not JSON with a token is refused.
        assert_eq!(
            post_aircall(&app, body).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let outcomes = drain(&app).await;
    assert_eq!(outcomes.len(), 8, "{outcomes:?}");
    assert!(
        outcomes.iter().all(|o| matches!(o, Outcome::Failed { .. })),
        "{outcomes:?}"
    );
    post_whatsapp(&app, &fixture("whatsapp_message.json")).await;
    assert!(matches!(
        drain(&app).await.as_slice(),
        [Outcome::Done { .. }]
    ));
}
