//! Degradation and recovery: an outage drill per provider against the fake servers, the flags
//! that stop sending without dropping work, maintenance mode, and Ajustes steering it all.

use crate::fake_providers::FakeProvider;
use crate::helpers::TestApp;
use crate::webhooks::{fixture, post_whatsapp, WA_SECRET};
use app::backend::breakers::{self, FAILURES_TO_OPEN};
use app::backend::flags;
use app::backend::store::{messages, settings};
use app::backend::worker::{self, Outcome};
use app::domain::{Direction, MessageStatus, Queue, Timestamp};
use axum::http::StatusCode;
use serde_json::json;

async fn app_with(meta: &FakeProvider, aircall: &FakeProvider) -> TestApp {
    TestApp::spawn_with(&[
        ("WHATSAPP_APP_SECRET", WA_SECRET),
        ("WHATSAPP_ACCESS_TOKEN", "meta-token"),
        ("WHATSAPP_PHONE_NUMBER_ID", "1065"),
        ("WHATSAPP_API_BASE", &meta.base),
        ("AIRCALL_API_ID", "id"),
        ("AIRCALL_API_TOKEN", "token"),
        ("AIRCALL_API_BASE", &aircall.base),
    ])
    .await
}

/// A lead who wrote a minute ago, and `n` messages written to them (each with its job).
async fn queued_messages(app: &TestApp, cookie: &str, n: usize) -> Vec<i64> {
    let lead_id = app
        .post_form(
            "/sfn/save_lead",
            &[
                ("name", "Nora"),
                ("phone", "688 77 66 55"),
                ("source", "meta"),
            ],
            Some(cookie),
        )
        .await
        .json()
        .as_i64()
        .unwrap();
    messages::insert(
        &app.state.db.writer,
        messages::NewMessage {
            lead_id,
            direction: Direction::Inbound,
            wamid: Some("wamid.drill.in"),
            kind: "text",
            body: Some("Hola"),
            template_name: None,
            status: MessageStatus::Received,
            error_code: None,
            error_reason: None,
            content: None,
            created_at: Timestamp::now().plus_seconds(-60),
        },
    )
    .await
    .unwrap();
    let id = lead_id.to_string();
    for i in 0..n {
        let body = format!("Mensaje {i}");
        let response = app
            .post_form(
                "/sfn/send_whatsapp",
                &[("lead_id", &id), ("body", &body)],
                Some(cookie),
            )
            .await;
        assert_eq!(response.status, StatusCode::OK);
    }
    sqlx::query_scalar("SELECT id FROM messages WHERE direction = 'outbound' ORDER BY id")
        .fetch_all(&app.state.db.reader)
        .await
        .unwrap()
}

async fn work(app: &TestApp, queue: Queue) -> Outcome {
    worker::run_one(&app.state.jobs(), &[queue], "drill")
        .await
        .unwrap()
}

async fn make_due(app: &TestApp) {
    sqlx::query("UPDATE jobs SET run_at = $1 WHERE status = 'pending'")
        .bind(Timestamp::now())
        .execute(&app.state.db.writer)
        .await
        .unwrap();
}

async fn attempts(app: &TestApp, queue: &str) -> Vec<i64> {
    sqlx::query_scalar("SELECT attempts FROM jobs WHERE queue = $1 ORDER BY id")
        .bind(queue)
        .fetch_all(&app.state.db.reader)
        .await
        .unwrap()
}

async fn breaker_state(app: &TestApp, provider: &str) -> String {
    sqlx::query_scalar("SELECT state FROM provider_breakers WHERE provider = $1")
        .bind(provider)
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap()
}

/// As if the breaker's cool-down had passed.
async fn cool_down(app: &TestApp, provider: &str) {
    sqlx::query("UPDATE provider_breakers SET opened_at = $2 WHERE provider = $1")
        .bind(provider)
        .bind(Timestamp::now().plus_seconds(-breakers::COOL_DOWN_SECONDS - 1))
        .execute(&app.state.db.writer)
        .await
        .unwrap();
}

#[tokio::test]
async fn whatsapp_outage_drill_loses_nothing_burns_no_attempts_and_sends_each_message_once() {
    let (meta, aircall) = (FakeProvider::start().await, FakeProvider::start().await);
    let app = app_with(&meta, &aircall).await;
    let cookie = app.signed_in("ana@clinic.test").await;
    let ids = queued_messages(&app, &cookie, 3).await;

    // Meta is down: five failures in a row open the breaker.
    meta.script(
        (0..FAILURES_TO_OPEN).map(|_| (503, vec![], json!({ "error": { "message": "down" } }))),
    );
    let mut failures = 0;
    while failures < FAILURES_TO_OPEN {
        make_due(&app).await;
        match work(&app, Queue::Whatsapp).await {
            Outcome::Retrying { .. } => failures += 1,
            other => panic!("expected a retry, got {other:?}"),
        }
    }
    assert_eq!(breaker_state(&app, "whatsapp").await, "open");

    // While open its jobs are not claimed: attempts stay as they are, nothing is lost.
    let held = attempts(&app, "whatsapp").await;
    make_due(&app).await;
    assert_eq!(work(&app, Queue::Whatsapp).await, Outcome::Idle);
    assert_eq!(attempts(&app, "whatsapp").await, held);
    let page = app.get("/integraciones", Some(&cookie)).await;
    assert!(
        page.body.contains("Caído (circuito abierto"),
        "Integraciones shows it"
    );
    assert!(
        page.body.contains("Proveedor caído: circuito abierto"),
        "and the queue it holds"
    );
    // Other queues are not blocked by it.
    assert_eq!(work(&app, Queue::Inbound).await, Outcome::Idle);

    // Meta is back; after the cool-down a probe closes the breaker and the queue drains.
    cool_down(&app, "whatsapp").await;
    while let Outcome::Done { .. } = work(&app, Queue::Whatsapp).await {}
    assert_eq!(breaker_state(&app, "whatsapp").await, "closed");
    let sent = meta.received();
    let bodies: Vec<String> = sent[FAILURES_TO_OPEN as usize..]
        .iter()
        .map(|r| r.body["text"]["body"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        bodies,
        ["Mensaje 0", "Mensaje 1", "Mensaje 2"],
        "each message arrives once"
    );
    for id in ids {
        let wamid: Option<String> = sqlx::query_scalar("SELECT wamid FROM messages WHERE id = $1")
            .bind(id)
            .fetch_one(&app.state.db.reader)
            .await
            .unwrap();
        assert!(wamid.is_some(), "message {id} accepted");
    }
    assert_eq!(work(&app, Queue::Whatsapp).await, Outcome::Idle);
}

#[tokio::test]
async fn aircall_outage_drill_holds_dials_then_dials_once_on_recovery() {
    let (meta, aircall) = (FakeProvider::start().await, FakeProvider::start().await);
    let app = app_with(&meta, &aircall).await;
    let cookie = app.signed_in("ana@clinic.test").await;
    let email = app::domain::Email::parse("ana@clinic.test").unwrap();
    app::backend::store::users::set_aircall_user_id(&app.state.db.writer, &email, Some(7))
        .await
        .unwrap();
    let lead = app
        .post_form(
            "/sfn/save_lead",
            &[
                ("name", "Olga"),
                ("phone", "655 44 33 22"),
                ("source", "google"),
            ],
            Some(&cookie),
        )
        .await
        .json()
        .as_i64()
        .unwrap()
        .to_string();
    // Earlier failures brought Aircall's breaker to the edge; this dial's failure opens it.
    sqlx::query("UPDATE provider_breakers SET failures = $1 WHERE provider = 'aircall'")
        .bind(FAILURES_TO_OPEN - 1)
        .execute(&app.state.db.writer)
        .await
        .unwrap();
    assert_eq!(
        app.post_form("/sfn/call_lead", &[("lead_id", &lead)], Some(&cookie))
            .await
            .status,
        StatusCode::OK
    );
    aircall.script([(500, vec![], json!({ "error": "Internal" }))]);
    assert!(matches!(
        work(&app, Queue::Aircall).await,
        Outcome::Retrying { .. }
    ));
    assert_eq!(breaker_state(&app, "aircall").await, "open");

    // Telephony is degraded: no new calls, the page shows the backup number.
    settings::set(
        &app.state.db.writer,
        flags::BACKUP_PHONE,
        "+34910000000",
        Timestamp::now(),
    )
    .await
    .unwrap();
    assert_eq!(
        app.post_form("/sfn/call_lead", &[("lead_id", &lead)], Some(&cookie))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert!(app
        .get(&format!("/leads/{lead}"), Some(&cookie))
        .await
        .body
        .contains("+34910000000"));
    make_due(&app).await;
    assert_eq!(
        work(&app, Queue::Aircall).await,
        Outcome::Idle,
        "held while open"
    );
    assert_eq!(attempts(&app, "aircall").await, [1]);

    cool_down(&app, "aircall").await;
    assert!(matches!(
        work(&app, Queue::Aircall).await,
        Outcome::Done { .. }
    ));
    assert_eq!(breaker_state(&app, "aircall").await, "closed");
    assert_eq!(aircall.received().len(), 2, "the failed try and one dial");
    assert_eq!(
        app.post_form("/sfn/call_lead", &[("lead_id", &lead)], Some(&cookie))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_sending_flag_or_a_pause_holds_work_and_it_runs_when_lifted() {
    let (meta, aircall) = (FakeProvider::start().await, FakeProvider::start().await);
    let app = app_with(&meta, &aircall).await;
    let cookie = app.signed_in("ana@clinic.test").await;
    queued_messages(&app, &cookie, 2).await;
    let db = &app.state.db.writer;
    for (key, value) in [
        (flags::WHATSAPP_OUTBOUND, "off"),
        ("queue.paused.whatsapp", "true"),
    ] {
        settings::set(db, key, value, Timestamp::now())
            .await
            .unwrap();
        assert_eq!(
            work(&app, Queue::Whatsapp).await,
            Outcome::Idle,
            "{key} holds the queue"
        );
        assert_eq!(attempts(&app, "whatsapp").await, [0, 0]);
        settings::delete(db, key).await.unwrap();
    }
    while let Outcome::Done { .. } = work(&app, Queue::Whatsapp).await {}
    assert_eq!(meta.received().len(), 2);
}

#[tokio::test]
async fn maintenance_mode_answers_503_but_keeps_webhooks_and_holds_outbound() {
    let (meta, aircall) = (FakeProvider::start().await, FakeProvider::start().await);
    let app = app_with(&meta, &aircall).await;
    let cookie = app.signed_in("ana@clinic.test").await;
    queued_messages(&app, &cookie, 1).await;
    flags::set_maintenance(
        &app.state.db,
        Some("Actualización en curso."),
        Timestamp::now(),
    )
    .await
    .unwrap();

    let page = app.get("/informes", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        page.body.contains("Estamos en mantenimiento")
            && page.body.contains("Actualización en curso.")
    );
    assert_eq!(page.header("retry-after"), Some("120"));
    assert_eq!(
        app.get("/login", None).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    for response in [
        app.get("/api/reports/kpis", Some(&cookie)).await,
        app.post_form("/sfn/leads", &[], Some(&cookie)).await,
    ] {
        assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.json()["error"], "maintenance");
    }

    // Webhooks are stored and processed; outbound sending waits.
    let delivery = post_whatsapp(&app, &fixture("whatsapp_message.json")).await;
    assert_eq!(delivery.status, StatusCode::OK);
    assert!(matches!(
        work(&app, Queue::Inbound).await,
        Outcome::Done { .. }
    ));
    assert_eq!(work(&app, Queue::Whatsapp).await, Outcome::Idle);
    assert!(meta.received().is_empty());

    flags::set_maintenance(&app.state.db, None, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(
        app.get("/informes", Some(&cookie)).await.status,
        StatusCode::OK
    );
    assert!(matches!(
        work(&app, Queue::Whatsapp).await,
        Outcome::Done { .. }
    ));
    assert_eq!(meta.received().len(), 1);
}

#[tokio::test]
async fn admins_steer_the_flags_from_ajustes() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in_admin("admin@clinic.test").await;
    let staff = app.signed_in("ana@clinic.test").await;
    let form = [
        ("whatsapp_outbound", "off"),
        ("calls_ui", "off"),
        ("hubspot_sync_mode", "deferred"),
        ("backup_phone", "910 00 00 00"),
        ("paused_aircall", "on"),
    ];
    assert_eq!(
        app.post_form("/sfn/save_settings", &form, Some(&staff))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post_form("/sfn/save_settings", &form, Some(&admin))
            .await
            .status,
        StatusCode::OK
    );
    let mut saved = app
        .post_form("/sfn/settings", &[], Some(&admin))
        .await
        .json();
    let version = saved["version"].take();
    assert!(version.as_str().is_some_and(|v| v.len() == 16), "{version}");
    saved.as_object_mut().unwrap().remove("version");
    assert_eq!(
        saved,
        json!({ "whatsapp_outbound": false, "calls_ui": false, "hubspot_sync_mode": "deferred",
                "backup_phone": "+34910000000",
                "paused": [["whatsapp", false], ["aircall", true], ["hubspot", false]] })
    );
    let queues = app.post_form("/sfn/queues", &[], Some(&admin)).await.json();
    let held: Vec<&str> = queues
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["held"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        held,
        [
            "",
            "Envío de WhatsApp desactivado",
            "En pausa",
            "Sincronización con HubSpot diferida"
        ]
    );

    let bad = app
        .post_form(
            "/sfn/save_settings",
            &[
                ("whatsapp_outbound", "on"),
                ("calls_ui", "on"),
                ("hubspot_sync_mode", "live"),
                ("backup_phone", "12"),
            ],
            Some(&admin),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.json()["field"], "backup_phone");
    assert_eq!(
        app.post_form("/sfn/settings", &[], Some(&admin))
            .await
            .json()["whatsapp_outbound"],
        false,
        "nothing saved"
    );
    let page = app.get("/ajustes", Some(&admin)).await;
    assert!(page.body.contains("Integraciones y telefonía"));
    assert!(!app
        .get("/ajustes", Some(&staff))
        .await
        .body
        .contains("Integraciones y telefonía"));
}

/// A page shown before a setting changed (on-call's `flags set` during an incident) cannot undo
/// that change: its save is refused, and the same form from a fresh page saves.
#[tokio::test]
async fn a_save_from_a_page_older_than_a_change_is_refused() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in_admin("admin@clinic.test").await;
    let shown = app
        .post_form("/sfn/settings", &[], Some(&admin))
        .await
        .json();
    let shown_version = shown["version"].as_str().unwrap().to_string();
    let setting = flags::Setting::parse("queue.paused.aircall", "on").unwrap();
    flags::set(&app.state.db, &setting, Timestamp::now())
        .await
        .unwrap();
    let form = |version: &str| {
        [
            ("whatsapp_outbound", "on".to_string()),
            ("calls_ui", "on".to_string()),
            ("hubspot_sync_mode", "live".to_string()),
            ("backup_phone", String::new()),
            ("version", version.to_string()),
        ]
    };
    let stale = form(&shown_version);
    let stale: Vec<(&str, &str)> = stale.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = app
        .post_form("/sfn/save_settings", &stale, Some(&admin))
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(refused.body.contains("han cambiado"), "{}", refused.body);
    let now = app
        .post_form("/sfn/settings", &[], Some(&admin))
        .await
        .json();
    assert_eq!(
        now["paused"][1],
        json!(["aircall", true]),
        "the pause stays"
    );

    let fresh = form(now["version"].as_str().unwrap());
    let fresh: Vec<(&str, &str)> = fresh.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let saved = app
        .post_form("/sfn/save_settings", &fresh, Some(&admin))
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let after = app
        .post_form("/sfn/settings", &[], Some(&admin))
        .await
        .json();
    assert_eq!(
        after["paused"][1],
        json!(["aircall", false]),
        "unticked on purpose"
    );
}

#[tokio::test]
async fn the_fake_providers_fail_on_request_for_drills() {
    let (meta, aircall) = (FakeProvider::start().await, FakeProvider::start().await);
    let app = app_with(&meta, &aircall).await;
    let cookie = app.signed_in("ana@clinic.test").await;
    queued_messages(&app, &cookie, 1).await;
    let http = reqwest::Client::new();
    let told = http
        .post(format!("{}/_fake/fail", meta.base))
        .json(&json!({ "provider": "whatsapp", "mode": "429", "count": 1, "retry_after": 30 }))
        .send()
        .await
        .unwrap();
    assert_eq!(told.status().as_u16(), 204);
    let Outcome::Retrying { error, .. } = work(&app, Queue::Whatsapp).await else {
        panic!("the drill's 429 makes the send wait");
    };
    assert!(error.contains("HTTP 429"), "{error}");
    make_due(&app).await;
    assert!(matches!(
        work(&app, Queue::Whatsapp).await,
        Outcome::Done { .. }
    ));
    let received: serde_json::Value = http
        .get(format!("{}/_fake/received", meta.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(received.as_array().unwrap().len(), 2);
    assert_eq!(received[0]["provider"], "whatsapp");
}
