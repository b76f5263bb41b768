//! HubSpot contact sync and Aircall backfill against the fake providers.

use crate::fake_providers::FakeProvider;
use crate::helpers::TestApp;
use crate::webhooks::{fixture, post_aircall};
use app::backend::hubspot_sync::{set_up, SetUp};
use app::backend::jobs::runner::{self, Outcome};
use app::backend::providers::hubspot::HubspotClient;
use app::backend::store::{leads, settings};
use app::domain::{Queue, Timestamp};
use axum::http::StatusCode;
use serde_json::json;

/// An app syncing to the fake HubSpot, set up as the runbook says (`mini-crm hubspot setup`).
async fn hubspot_app(hubspot: &FakeProvider) -> TestApp {
    let app = TestApp::spawn_with(&[
        ("HUBSPOT_ACCESS_TOKEN", "hs-token"),
        ("HUBSPOT_API_BASE", &hubspot.base),
    ])
    .await;
    let client = HubspotClient::from_config(&app.state.config, reqwest::Client::new()).unwrap();
    let made = set_up(&app.state.db, &client, "mini_crm_lead_id")
        .await
        .unwrap();
    assert_eq!(made, SetUp::Created);
    app
}

/// The batch calls HubSpot received, in order.
fn batches(hubspot: &FakeProvider) -> Vec<crate::fake_providers::Received> {
    hubspot
        .received()
        .into_iter()
        .filter(|r| r.path.contains("/batch/"))
        .collect()
}

async fn create(app: &TestApp, cookie: &str, name: &str, phone: &str, email: &str) -> i64 {
    let form = [
        ("name", name),
        ("phone", phone),
        ("email", email),
        ("source", "meta"),
    ];
    let response = app.post_form("/sfn/save_lead", &form, Some(cookie)).await;
    response
        .json()
        .as_i64()
        .unwrap_or_else(|| panic!("{}", response.body))
}

async fn sync(app: &TestApp) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    loop {
        match runner::run_one(&app.state.jobs(), &[Queue::Hubspot], "test")
            .await
            .unwrap()
        {
            Outcome::Idle => return outcomes,
            outcome => outcomes.push(outcome),
        }
    }
}

async fn hubspot_ids(app: &TestApp) -> Vec<(String, Option<String>, bool)> {
    sqlx::query_as(
        "SELECT name, hubspot_id, hubspot_synced_revision = revision FROM leads ORDER BY id",
    )
    .fetch_all(&app.state.db.reader)
    .await
    .unwrap()
}

#[tokio::test]
async fn leads_reach_hubspot_matched_by_id_else_email_else_our_lead_id_and_changes_from_hubspot_stay_put(
) {
    let hubspot = FakeProvider::start().await;
    let app = hubspot_app(&hubspot).await;
    let cookie = app.signed_in("ana@clinic.test").await;
    // Ana's contact was typed in HubSpot, with an e-mail our lead does not have.
    let typed =
        hubspot.hubspot_contact(json!({ "firstname": "Ana", "email": "ana@typed.example" }));
    let ana = create(&app, &cookie, "Ana Gil", "611000001", "").await;
    sqlx::query("UPDATE leads SET hubspot_id = $2 WHERE id = $1")
        .bind(ana)
        .bind(&typed)
        .execute(&app.state.db.writer)
        .await
        .unwrap();
    let bea = create(
        &app,
        &cookie,
        "Bea Ruiz Soto",
        "611000002",
        "bea@example.com",
    )
    .await;
    let carla = create(&app, &cookie, "Carla", "611000003", "").await;
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE kind = 'sync_hubspot'")
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(jobs, 1, "one sync job for the three changes");

    assert!(matches!(sync(&app).await[..], [Outcome::Done { .. }]));
    let received = batches(&hubspot);
    let paths: Vec<&str> = received.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/crm/v3/objects/contacts/batch/update",
            "/crm/v3/objects/contacts/batch/upsert",
            "/crm/v3/objects/contacts/batch/upsert"
        ]
    );
    assert_eq!(
        received[0].authorization.as_deref(),
        Some("Bearer hs-token")
    );
    let (ana, bea, carla) = (ana.to_string(), bea.to_string(), carla.to_string());
    assert_eq!(
        received[0].body,
        json!({ "inputs": [{ "id": typed, "objectWriteTraceId": ana,
                             "properties": { "firstname": "Ana", "lastname": "Gil", "phone": "+34611000001",
                                             "mini_crm_lead_id": ana } }] })
    );
    assert_eq!(
        received[1].body["inputs"][0],
        json!({ "id": "bea@example.com", "idProperty": "email", "objectWriteTraceId": bea,
                "properties": { "firstname": "Bea", "lastname": "Ruiz Soto", "phone": "+34611000002",
                                "email": "bea@example.com", "mini_crm_lead_id": bea } })
    );
    assert_eq!(
        received[2].body["inputs"][0],
        json!({ "id": carla, "idProperty": "mini_crm_lead_id", "objectWriteTraceId": carla,
                "properties": { "firstname": "Carla", "phone": "+34611000003" } })
    );
    let contacts = hubspot.hubspot_contacts();
    assert_eq!(contacts.len(), 3);
    let contact_of = |lead: &str| {
        contacts
            .iter()
            .find(|c| c["properties"]["mini_crm_lead_id"] == lead)
            .unwrap_or_else(|| panic!("no contact carries lead {lead}: {contacts:?}"))["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(contact_of(&ana), typed);
    assert_eq!(
        contacts[0]["properties"]["email"], "ana@typed.example",
        "what we do not have is not cleared"
    );
    assert_eq!(
        hubspot_ids(&app).await,
        [
            ("Ana Gil".into(), Some(typed.clone()), true),
            ("Bea Ruiz Soto".into(), Some(contact_of(&bea)), true),
            ("Carla".into(), Some(contact_of(&carla)), true),
        ]
    );
    let carla_contact = contact_of(&carla);

    // A change that came from HubSpot is not sent back; a staff change is.
    let carla = leads::find_by_hubspot_id(&app.state.db.reader, &carla_contact)
        .await
        .unwrap()
        .unwrap()
        .0;
    leads::apply_hubspot_change(
        &app.state.db.writer,
        carla,
        leads::HubspotChange {
            name: Some("Carla Vidal"),
            email: None,
            phone: None,
        },
        Timestamp::now(),
    )
    .await
    .unwrap();
    assert_eq!(
        leads::count_pending_hubspot(&app.state.db.reader)
            .await
            .unwrap(),
        0
    );
    let form = [
        ("id", carla.to_string()),
        ("name", "Carla Vidal Mora".into()),
        ("phone", "611000003".into()),
        ("source", "meta".into()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        app.post_form("/sfn/save_lead", &form, Some(&cookie))
            .await
            .status,
        StatusCode::OK
    );
    sync(&app).await;
    let last = batches(&hubspot).pop().unwrap();
    assert_eq!(last.path, "/crm/v3/objects/contacts/batch/update");
    assert_eq!(
        last.body["inputs"][0]["properties"]["lastname"],
        "Vidal Mora"
    );
}

/// A lead as older data or an import left it, which HubSpot may refuse.
async fn insert_lead(
    app: &TestApp,
    name: &str,
    email: Option<&str>,
    hubspot_id: Option<&str>,
) -> i64 {
    let id = sqlx::query_scalar(
        "INSERT INTO leads (name, phone, email, hubspot_id, source, created_at, updated_at)
         VALUES ($1, '+34600' || printf('%06d', coalesce((SELECT max(id) FROM leads), 0) + 1),
                 $2, $3, 'organic', $4, $4)
         RETURNING id",
    )
    .bind(name)
    .bind(email)
    .bind(hubspot_id)
    .bind(Timestamp::now())
    .fetch_one(&app.state.db.writer)
    .await
    .unwrap();
    let mut conn = app.state.db.writer.acquire().await.unwrap();
    app::backend::hubspot_sync::request_sync(&mut conn, Timestamp::now())
        .await
        .unwrap();
    id
}

async fn sync_errors(app: &TestApp) -> Vec<(String, Option<String>, Option<String>)> {
    sqlx::query_as("SELECT name, hubspot_id, hubspot_sync_error FROM leads ORDER BY id")
        .fetch_all(&app.state.db.reader)
        .await
        .unwrap()
}

/// Issue 19, point 10: HubSpot refuses some contacts — record by record where it can, a whole
/// batch where it validates it whole, two of our leads with one e-mail — and every other lead
/// still syncs, then and on every later sync.
#[tokio::test]
async fn one_refused_contact_never_stops_the_sync() {
    let hubspot = FakeProvider::start().await;
    let app = hubspot_app(&hubspot).await;
    let hugo_contact = hubspot.hubspot_contact(json!({ "firstname": "Hugo" }));
    let fede_contact = hubspot.hubspot_contact(json!({ "firstname": "Fede" }));
    // Upserts by e-mail, answered record by record (207): Eva's e-mail is one HubSpot rejects.
    insert_lead(&app, "Dani", Some("dani@example.com"), None).await;
    insert_lead(&app, "Eva", Some("eva@example"), None).await;
    // Two of our leads share an e-mail: never two inputs with one id in a batch.
    let gema = insert_lead(&app, "Gema", Some("gemelas@example.com"), None).await;
    insert_lead(&app, "Gemma", Some("gemelas@example.com"), None).await;
    // Updates, which HubSpot validates as a whole: Fede's bad e-mail must not sink Hugo.
    insert_lead(&app, "Fede", Some("fede@@example.com"), Some(&fede_contact)).await;
    insert_lead(&app, "Hugo", None, Some(&hugo_contact)).await;
    insert_lead(&app, "Iris", None, None).await;

    let outcomes = sync(&app).await;
    assert!(
        outcomes.iter().all(|o| matches!(o, Outcome::Done { .. })),
        "{outcomes:?}"
    );
    let rows = sync_errors(&app).await;
    let by_name = |name: &str| rows.iter().find(|r| r.0 == name).unwrap().clone();
    assert!(by_name("Dani").1.is_some() && by_name("Dani").2.is_none());
    assert!(
        by_name("Hugo").1.as_deref() == Some(hugo_contact.as_str()) && by_name("Hugo").2.is_none()
    );
    assert!(by_name("Iris").1.is_some() && by_name("Iris").2.is_none());
    assert!(by_name("Gema").1.is_some() && by_name("Gema").2.is_none());
    let eva = by_name("Eva").2.expect("Eva refused");
    assert!(
        eva.contains("INVALID_EMAIL"),
        "HubSpot's own message: {eva}"
    );
    let fede = by_name("Fede").2.expect("Fede refused");
    assert!(fede.contains("INVALID_EMAIL"), "{fede}");
    assert_eq!(
        by_name("Gemma").2.as_deref(),
        Some(format!("El lead #{gema}, con el mismo e-mail, ya está en HubSpot: une los duplicados o cambia el e-mail").as_str())
    );
    assert_eq!(by_name("Gemma").1, None);
    // The update batch was refused whole, then split until Fede stood alone.
    let updates: Vec<usize> = batches(&hubspot)
        .iter()
        .filter(|r| r.path.ends_with("/update"))
        .map(|r| r.body["inputs"].as_array().unwrap().len())
        .collect();
    assert_eq!(updates, [2, 1, 1]);
    // Every input asked for per-record results.
    assert!(batches(&hubspot).iter().all(|r| r.body["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["objectWriteTraceId"].is_string())));
    let contacts = hubspot.hubspot_contacts();
    assert_eq!(
        contacts
            .iter()
            .filter(|c| c["properties"]["email"] == "gemelas@example.com")
            .count(),
        1
    );
    assert_eq!(
        leads::count_pending_hubspot(&app.state.db.reader)
            .await
            .unwrap(),
        0,
        "the refused wait for a change; nothing is stuck"
    );

    // A later lead syncs: the refused ones do not block anyone.
    let juan = insert_lead(&app, "Juan", Some("juan@example.com"), None).await;
    sync(&app).await;
    let juan_row: Option<String> = sqlx::query_scalar("SELECT hubspot_id FROM leads WHERE id = $1")
        .bind(juan)
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert!(juan_row.is_some());

    // A create whose answer was lost is sent again and finds its contact: no second one.
    let before = hubspot.hubspot_contacts().len();
    sqlx::query(
        "UPDATE leads SET hubspot_id = NULL, hubspot_synced_revision = NULL WHERE name = 'Iris'",
    )
    .execute(&app.state.db.writer)
    .await
    .unwrap();
    insert_lead(&app, "Kiko", None, None).await;
    sync(&app).await;
    assert_eq!(
        hubspot.hubspot_contacts().len(),
        before + 1,
        "only Kiko is new"
    );
    assert_eq!(
        sync_errors(&app)
            .await
            .iter()
            .find(|r| r.0 == "Iris")
            .unwrap()
            .1,
        by_name("Iris").1,
        "the same contact again"
    );
}

/// Without the unique lead-id property HubSpot could only take blind creates: the queue waits,
/// held with the instruction, and `mini-crm hubspot setup` makes the property and lifts it.
#[tokio::test]
async fn the_sync_waits_for_the_set_up_and_an_invalid_token_holds_the_queue() {
    let hubspot = FakeProvider::start().await;
    let app = TestApp::spawn_with(&[
        ("HUBSPOT_ACCESS_TOKEN", "hs-token"),
        ("HUBSPOT_API_BASE", &hubspot.base),
    ])
    .await;
    insert_lead(&app, "Lola", None, None).await;
    assert!(matches!(sync(&app).await[..], [Outcome::Held { .. }]));
    assert!(batches(&hubspot).is_empty(), "nothing sent blind");
    let held = |app: &TestApp| {
        let db = app.state.db.reader.clone();
        async move {
            settings::get(&db, "queue.held.hubspot")
                .await
                .unwrap()
                .unwrap_or_default()
        }
    };
    assert!(
        held(&app).await.contains("mini-crm hubspot setup"),
        "{}",
        held(&app).await
    );
    assert!(sync(&app).await.is_empty(), "held: nothing runs");

    let config = app::backend::config::Config::from_lookup(|name| match name {
        "DATABASE_URL" => Some(app.state.config.database_url.clone()),
        "HUBSPOT_ACCESS_TOKEN" => Some("hs-token".into()),
        "HUBSPOT_API_BASE" => Some(hubspot.base.clone()),
        _ => None,
    })
    .unwrap();
    server::cli::hubspot_setup(config.clone()).await.unwrap();
    server::cli::hubspot_setup(config)
        .await
        .expect("a second run finds it");
    let created: Vec<_> = hubspot
        .received()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/crm/v3/properties/contacts")
        .collect();
    assert_eq!(created.len(), 1, "created once");
    assert_eq!(created[0].body["hasUniqueValue"], true);
    assert_eq!(held(&app).await, "");
    assert!(matches!(sync(&app).await[..], [Outcome::Done { .. }]));
    assert_eq!(hubspot.hubspot_contacts().len(), 1);

    // HubSpot refuses the token: the account's problem, not Lola's; the queue waits.
    sqlx::query("UPDATE leads SET name = 'Lola Mar', revision = revision + 1")
        .execute(&app.state.db.writer)
        .await
        .unwrap();
    insert_lead(&app, "Mar", None, None).await;
    hubspot.fail(server::fake_providers::Failure {
        provider: "hubspot".into(),
        mode: "401".into(),
        count: 1,
        retry_after: None,
    });
    assert!(matches!(sync(&app).await[..], [Outcome::Held { .. }]));
    assert!(
        held(&app).await.contains("HUBSPOT_ACCESS_TOKEN"),
        "{}",
        held(&app).await
    );
    assert_eq!(
        leads::count_pending_hubspot(&app.state.db.reader)
            .await
            .unwrap(),
        2,
        "no lead marked refused for the account's problem"
    );
}

#[tokio::test]
async fn deferred_queues_the_sync_off_queues_nothing_and_live_sends_it() {
    let hubspot = FakeProvider::start().await;
    let app = hubspot_app(&hubspot).await;
    let cookie = app.signed_in("ana@clinic.test").await;
    let db = &app.state.db.writer;
    settings::set(db, "hubspot.sync_mode", "off", Timestamp::now())
        .await
        .unwrap();
    create(&app, &cookie, "Fina", "633000001", "").await;
    let jobs = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM jobs WHERE kind = 'sync_hubspot'")
            .fetch_one(&app.state.db.reader)
            .await
            .unwrap()
    };
    assert_eq!(
        jobs().await,
        0,
        "off: nothing queued (the lead stays pending for a later sync)"
    );

    settings::set(db, "hubspot.sync_mode", "deferred", Timestamp::now())
        .await
        .unwrap();
    create(&app, &cookie, "Gala", "633000002", "").await;
    assert_eq!(jobs().await, 1);
    assert!(sync(&app).await.is_empty(), "deferred: held");
    assert!(batches(&hubspot).is_empty());

    settings::set(db, "hubspot.sync_mode", "live", Timestamp::now())
        .await
        .unwrap();
    sync(&app).await;
    assert_eq!(batches(&hubspot).len(), 1);
    assert_eq!(
        batches(&hubspot)[0].body["inputs"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "both leads, the one from off mode too"
    );
}

#[tokio::test]
async fn hubspot_outage_drill_and_batches_of_at_most_100() {
    let hubspot = FakeProvider::start().await;
    let app = hubspot_app(&hubspot).await;
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 150)
         INSERT INTO leads (name, phone, source, created_at, updated_at)
         SELECT 'Lote ' || i, '+3465' || (1000000 + i), 'organic', '2025-01-07T10:00:00Z', '2025-01-07T10:00:00Z' FROM n",
    )
    .execute(&app.state.db.writer)
    .await
    .unwrap();
    let mut conn = app.state.db.writer.acquire().await.unwrap();
    app::backend::hubspot_sync::request_sync(&mut conn, Timestamp::now())
        .await
        .unwrap();
    drop(conn);

    // HubSpot rate-limits: the job waits Retry-After; nothing is marked synced.
    hubspot.script([(429, vec![("retry-after", "10".to_string())], json!({ "errorType": "RATE_LIMIT", "message": "You have reached your ten_secondly_rolling limit." }))]);
    assert!(matches!(sync(&app).await[..], [Outcome::Retrying { .. }]));
    let run_at: String = sqlx::query_scalar("SELECT run_at FROM jobs WHERE kind = 'sync_hubspot'")
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    let wait = Timestamp::parse_rfc3339(&run_at).unwrap().unix() - Timestamp::now().unix();
    assert!((8..=11).contains(&wait), "{wait}");
    assert_eq!(
        leads::count_pending_hubspot(&app.state.db.reader)
            .await
            .unwrap(),
        150
    );

    // Back: one run sends 100 then 50, each contact once.
    sqlx::query("UPDATE jobs SET run_at = $1")
        .bind(Timestamp::now())
        .execute(&app.state.db.writer)
        .await
        .unwrap();
    sync(&app).await;
    let creates: Vec<usize> = batches(&hubspot)
        .iter()
        .map(|r| r.body["inputs"].as_array().unwrap().len())
        .collect();
    assert_eq!(creates, [100, 50]);
    assert_eq!(
        leads::count_pending_hubspot(&app.state.db.reader)
            .await
            .unwrap(),
        0
    );
    let distinct: i64 = sqlx::query_scalar("SELECT count(DISTINCT hubspot_id) FROM leads")
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(distinct, 150);

    // `hubspot sync --full` sends every lead again (now by their HubSpot ids), resumably.
    let config = app::backend::config::Config::from_lookup(|name| match name {
        "DATABASE_URL" => Some(app.state.config.database_url.clone()),
        "HUBSPOT_ACCESS_TOKEN" => Some("hs-token".into()),
        "HUBSPOT_API_BASE" => Some(hubspot.base.clone()),
        _ => None,
    })
    .unwrap();
    server::cli::hubspot_sync(config, None, true).await.unwrap();
    let updates = hubspot
        .received()
        .iter()
        .filter(|r| r.path.ends_with("/update"))
        .count();
    assert_eq!(updates, 2);
    assert_eq!(
        leads::count_pending_hubspot(&app.state.db.reader)
            .await
            .unwrap(),
        0
    );
}

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
    server::cli::aircall_backfill(config.clone(), since)
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
    server::cli::aircall_backfill(config, since).await.unwrap();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM calls")
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(count, 2);
}

fn missing_again() -> serde_json::Value {
    json!({ "id": 555001, "direction": "inbound", "status": "done", "raw_digits": "+34 644 55 66 77" })
}

#[tokio::test]
async fn hubspot_outage_drill_opens_the_breaker_burns_no_attempts_and_sends_each_contact_once() {
    use app::backend::breakers::{COOL_DOWN_SECONDS, FAILURES_TO_OPEN};
    let hubspot = FakeProvider::start().await;
    let app = hubspot_app(&hubspot).await;
    let cookie = app.signed_in("ana@clinic.test").await;
    for i in 0..3 {
        create(
            &app,
            &cookie,
            &format!("Paciente {i}"),
            &format!("69900000{i}"),
            "",
        )
        .await;
    }
    let db = &app.state.db.writer;
    hubspot
        .script((0..FAILURES_TO_OPEN).map(|_| (502, vec![], json!({ "message": "Bad gateway" }))));
    for _ in 0..FAILURES_TO_OPEN {
        sqlx::query("UPDATE jobs SET run_at = $1 WHERE status = 'pending'")
            .bind(Timestamp::now())
            .execute(db)
            .await
            .unwrap();
        assert!(matches!(sync(&app).await[..], [Outcome::Retrying { .. }]));
    }
    let state: String =
        sqlx::query_scalar("SELECT state FROM provider_breakers WHERE provider = 'hubspot'")
            .fetch_one(db)
            .await
            .unwrap();
    assert_eq!(state, "open");
    let attempts: i64 = sqlx::query_scalar("SELECT attempts FROM jobs WHERE kind = 'sync_hubspot'")
        .fetch_one(db)
        .await
        .unwrap();
    sqlx::query("UPDATE jobs SET run_at = $1 WHERE status = 'pending'")
        .bind(Timestamp::now())
        .execute(db)
        .await
        .unwrap();
    assert!(sync(&app).await.is_empty(), "held while open");
    let held: i64 = sqlx::query_scalar("SELECT attempts FROM jobs WHERE kind = 'sync_hubspot'")
        .fetch_one(db)
        .await
        .unwrap();
    assert_eq!(held, attempts, "no attempt burned");
    assert_eq!(
        leads::count_pending_hubspot(&app.state.db.reader)
            .await
            .unwrap(),
        3,
        "nothing lost"
    );

    sqlx::query("UPDATE provider_breakers SET opened_at = $1 WHERE provider = 'hubspot'")
        .bind(Timestamp::now().plus_seconds(-COOL_DOWN_SECONDS - 1))
        .execute(db)
        .await
        .unwrap();
    assert!(matches!(sync(&app).await[..], [Outcome::Done { .. }]));
    let sent: Vec<String> = batches(&hubspot)
        .iter()
        .flat_map(|r| r.body["inputs"].as_array().unwrap().clone())
        .map(|input| input["properties"]["phone"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        sent,
        ["+34699000000", "+34699000001", "+34699000002"],
        "each contact once"
    );
    let state: String =
        sqlx::query_scalar("SELECT state FROM provider_breakers WHERE provider = 'hubspot'")
            .fetch_one(db)
            .await
            .unwrap();
    assert_eq!(state, "closed");
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
    server::cli::aircall_backfill(config.clone(), since)
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
    let error = server::cli::aircall_backfill(config, since)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("kept failing after 5 attempts"), "{error}");
    assert_eq!(aircall.received().len(), 3 + 5);
}
