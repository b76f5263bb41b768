//! Deliveries written as the providers' own documentation shows them (`fixtures/providers/`,
//! each file's source page in its SOURCES.md), and what each one leaves in the database: one item
//! never sinks its batch-mates.

use crate::webhooks::{count, drain, post_hubspot, post_whatsapp, providers_app};
use app::backend::jobs::runner::Outcome;
use axum::http::StatusCode;
use serde_json::{json, Value};

/// A delivery of the corpus, as JSON to combine or alter.
fn corpus(name: &str) -> Value {
    serde_json::from_slice(&crate::webhooks::fixture(&format!("providers/{name}.json"))).unwrap()
}

/// The messages of a WhatsApp delivery of the corpus.
fn messages_of(delivery: &Value) -> Vec<Value> {
    delivery["entry"][0]["changes"][0]["value"]["messages"]
        .as_array()
        .unwrap()
        .clone()
}

/// One WhatsApp delivery carrying `messages`, with the contacts of the corpus's text message.
fn whatsapp_delivery(messages: Vec<Value>, contacts: Value) -> Vec<u8> {
    let mut delivery = corpus("wa_01_text");
    let value = &mut delivery["entry"][0]["changes"][0]["value"];
    value["messages"] = Value::Array(messages);
    value["contacts"] = contacts;
    serde_json::to_vec(&delivery).unwrap()
}

#[tokio::test]
async fn one_message_that_cannot_be_applied_never_sinks_its_batch_and_replay_retries_only_it() {
    let app = providers_app().await;
    let text = messages_of(&corpus("wa_01_text")).remove(0);
    let mut other_patient = text.clone();
    other_patient["from"] = json!("34622334455");
    other_patient["id"] = json!("wamid.HBgLMzQ2MjIzMzQ0NTUVAgASGBQM0E0QTY1OTlBRUUwMzgxMDE0RjA=");
    let mut broken = text.clone();
    broken["from"] = json!("not-a-number");
    broken["id"] = json!("wamid.broken");
    let contacts = json!([
        {"profile": {"name": "Lucía Fernández"}, "wa_id": "34611223344"},
        {"profile": {"name": "Antonio López"}, "wa_id": "34622334455"}
    ]);
    let body = whatsapp_delivery(vec![text, broken, other_patient], contacts);
    assert_eq!(post_whatsapp(&app, &body).await.status, StatusCode::OK);
    let outcomes = drain(&app).await;
    assert!(
        matches!(outcomes.as_slice(), [Outcome::Failed { .. }]),
        "the job says the delivery needs attention: {outcomes:?}"
    );
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT l.name FROM messages m JOIN leads l ON l.id = m.lead_id ORDER BY l.name",
    )
    .fetch_all(&app.state.db.reader)
    .await
    .unwrap();
    assert_eq!(
        names,
        ["Antonio López", "Lucía Fernández"],
        "both patients' messages kept"
    );
    let (status, error): (String, String) =
        sqlx::query_as("SELECT status, last_error FROM webhook_events")
            .fetch_one(&app.state.db.reader)
            .await
            .unwrap();
    assert_eq!(status, "failed", "shown as needing attention");
    assert!(
        error.starts_with("1 of 3 item(s) failed")
            && error.contains("message wamid.broken: it comes from \"not-a-number\""),
        "{error}"
    );

    // Replay: the two applied stay applied once; only the broken one is tried again.
    let ctx = app.state.jobs();
    let event_id: i64 = count(&app, "SELECT id FROM webhook_events").await;
    let replayed = app::backend::webhooks::process_event(&ctx, event_id)
        .await
        .unwrap();
    let app::backend::webhooks::Processed::Applied(effects) = replayed else {
        panic!("{replayed:?}");
    };
    assert_eq!(
        (effects.applied, effects.duplicates, effects.failed.len()),
        (0, 2, 1)
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM messages").await, 2);
}

#[tokio::test]
async fn one_hubspot_event_that_cannot_be_read_never_sinks_the_others() {
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
    let events = json!([
        {"eventId": 1, "subscriptionId": 7, "portalId": 62515, "occurredAt": 1735725600000u64,
         "subscriptionType": "contact.propertyChange", "attemptNumber": 0, "objectId": 5101,
         "propertyName": "firstname", "propertyValue": "Marta"},
        {"eventId": 2, "subscriptionId": 7, "portalId": 62515, "occurredAt": 1735725600000u64,
         "attemptNumber": 0, "objectId": 5101},
        {"eventId": 3, "subscriptionId": 7, "portalId": 62515, "occurredAt": 1735725600000u64,
         "subscriptionType": "contact.propertyChange", "attemptNumber": 0, "objectId": 5101,
         "propertyName": "email", "propertyValue": "marta@example.com"}
    ]);
    let body = serde_json::to_vec(&events).unwrap();
    let now_ms = chrono::Utc::now().timestamp_millis();
    assert_eq!(
        post_hubspot(&app, &body, now_ms).await.status,
        StatusCode::OK
    );
    drain(&app).await;
    let (name, email): (String, Option<String>) =
        sqlx::query_as("SELECT name, email FROM leads WHERE id = $1")
            .bind(lead)
            .fetch_one(&app.state.db.reader)
            .await
            .unwrap();
    assert_eq!(
        (name.as_str(), email.as_deref()),
        ("Marta Ruiz", Some("marta@example.com"))
    );
    let error: String = sqlx::query_scalar("SELECT last_error FROM webhook_events")
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert!(
        error.starts_with("1 of 3 item(s) failed") && error.contains("event 2: unreadable event"),
        "{error}"
    );
}
