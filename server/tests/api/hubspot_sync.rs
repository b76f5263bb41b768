//! HubSpot contact sync against the fake HubSpot, which keeps its contacts and properties and
//! validates each call as HubSpot documents it.

use crate::fake_providers::FakeProvider;
use crate::helpers::TestApp;
use app::backend::hubspot_sync::{set_up, SetUp};
use app::backend::providers::hubspot::HubspotClient;
use app::backend::store::{leads, leases, settings};
use app::backend::worker::{self, Outcome};
use app::domain::{Queue, Timestamp};
use axum::http::StatusCode;
use serde_json::json;
use server::fake_providers::Failure;

/// An app syncing to the fake HubSpot, set up as the runbook says (`mini-crm hubspot setup`).
async fn hubspot_app(hubspot: &FakeProvider) -> TestApp {
    hubspot_app_finding(hubspot, SetUp::Created).await
}

/// An app on the fake HubSpot whose set-up finds the property as `expected`: `Created` for the
/// first installation, `AlreadyThere` for a second one on the same account.
async fn hubspot_app_finding(hubspot: &FakeProvider, expected: SetUp) -> TestApp {
    let app = TestApp::spawn_with(&[
        ("HUBSPOT_ACCESS_TOKEN", "hs-token"),
        ("HUBSPOT_API_BASE", &hubspot.base),
    ])
    .await;
    let client = HubspotClient::from_config(&app.state.config, reqwest::Client::new()).unwrap();
    let made = set_up(&app.state.db, &client, "mini_crm_lead_key")
        .await
        .unwrap();
    assert_eq!(made, expected);
    app
}

/// The configuration the CLI reads for `app`'s database and the fake HubSpot.
fn cli_config(app: &TestApp, hubspot: &FakeProvider) -> app::backend::config::Config {
    app::backend::config::Config::from_lookup(|name| match name {
        "DATABASE_URL" => Some(app.state.config.database_url.clone()),
        "HUBSPOT_ACCESS_TOKEN" => Some("hs-token".into()),
        "HUBSPOT_API_BASE" => Some(hubspot.base.clone()),
        _ => None,
    })
    .unwrap()
}

/// The batch calls the sync made, in order (not the set-up's check that it can read contacts).
fn batches(hubspot: &FakeProvider) -> Vec<crate::fake_providers::Received> {
    hubspot
        .received()
        .into_iter()
        .filter(|r| r.path.contains("/batch/"))
        .filter(|r| r.body["inputs"][0]["id"] != "setup@mini-crm.invalid")
        .collect()
}

/// The sizes of the batches sent to `path` (`update`, `upsert`, `read`).
fn sizes(hubspot: &FakeProvider, path: &str) -> Vec<usize> {
    batches(hubspot)
        .iter()
        .filter(|r| r.path.ends_with(path))
        .map(|r| r.body["inputs"].as_array().unwrap().len())
        .collect()
}

/// HubSpot's next requests to a path containing `path` fail as `mode`.
fn fail(hubspot: &FakeProvider, mode: &str, path: &str, count: usize, retry_after: Option<u64>) {
    hubspot.fail(Failure {
        provider: "hubspot".into(),
        mode: mode.into(),
        count,
        retry_after,
        path: Some(path.into()),
    });
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
        match worker::run_one(&app.state.jobs(), &[Queue::Hubspot], "test")
            .await
            .unwrap()
        {
            Outcome::Idle => return outcomes,
            outcome => outcomes.push(outcome),
        }
    }
}

/// Makes every waiting job due now (a retry's back-off passed).
async fn due_now(app: &TestApp) {
    sqlx::query("UPDATE jobs SET run_at = $1 WHERE status = 'pending'")
        .bind(Timestamp::now())
        .execute(&app.state.db.writer)
        .await
        .unwrap();
}

async fn hubspot_ids(app: &TestApp) -> Vec<(String, Option<String>, bool)> {
    sqlx::query_as(
        "SELECT name, hubspot_id, hubspot_synced_revision = revision FROM leads ORDER BY id",
    )
    .fetch_all(&app.state.db.reader)
    .await
    .unwrap()
}

/// Leads HubSpot has not seen yet.
async fn pending(app: &TestApp) -> i64 {
    leads::count_pending_hubspot(&app.state.db.reader)
        .await
        .unwrap()
}

async fn key_of(app: &TestApp, lead: i64) -> String {
    sqlx::query_scalar("SELECT hubspot_key FROM leads WHERE id = $1")
        .bind(lead)
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap()
}

/// The fake's contact carrying `key`.
fn contact_with_key(hubspot: &FakeProvider, key: &str) -> serde_json::Value {
    let contacts = hubspot.hubspot_contacts();
    contacts
        .iter()
        .find(|c| c["properties"]["mini_crm_lead_key"] == key)
        .unwrap_or_else(|| panic!("no contact carries {key}: {contacts:?}"))
        .clone()
}

#[tokio::test]
async fn leads_reach_hubspot_by_id_by_email_or_by_their_key_and_changes_from_hubspot_stay_put() {
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
    // Dora's e-mail was typed in HubSpot too, on a contact of its own: found, and taken.
    let dora_contact =
        hubspot.hubspot_contact(json!({ "firstname": "Dora", "email": "dora@example.com" }));
    let dora = create(&app, &cookie, "Dora Paz", "611000004", "dora@example.com").await;
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
    assert_eq!(jobs, 1, "one sync job for the four changes");

    assert!(matches!(sync(&app).await[..], [Outcome::Done { .. }]));
    let received = batches(&hubspot);
    let paths: Vec<&str> = received.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/crm/v3/objects/contacts/batch/read",
            "/crm/v3/objects/contacts/batch/read",
            "/crm/v3/objects/contacts/batch/update",
            "/crm/v3/objects/contacts/batch/upsert"
        ]
    );
    assert_eq!(
        received[0].authorization.as_deref(),
        Some("Bearer hs-token")
    );
    let (ana_key, dora_key) = (key_of(&app, ana).await, key_of(&app, dora).await);
    let (bea_key, carla_key) = (key_of(&app, bea).await, key_of(&app, carla).await);
    // First: has HubSpot a contact with a lead's key (a create whose answer was lost)?
    assert_eq!(
        received[0].body,
        json!({ "idProperty": "mini_crm_lead_key", "properties": ["mini_crm_lead_key"],
                "inputs": [{ "id": dora_key }, { "id": bea_key }, { "id": carla_key }] })
    );
    // Then: the contacts with the leads' e-mails, with what tells whose they are.
    assert_eq!(
        received[1].body,
        json!({ "idProperty": "email",
                "properties": ["email", "firstname", "phone", "mini_crm_lead_key"],
                "inputs": [{ "id": "dora@example.com" }, { "id": "bea@example.com" }] })
    );
    assert_eq!(ana_key.len(), 32);
    assert_eq!(
        received[2].body,
        json!({ "inputs": [
            { "id": typed, "objectWriteTraceId": ana.to_string(),
              "properties": { "firstname": "Ana", "lastname": "Gil", "phone": "+34611000001",
                              "mini_crm_lead_key": ana_key } },
            { "id": dora_contact, "objectWriteTraceId": dora.to_string(),
              "properties": { "firstname": "Dora", "lastname": "Paz", "phone": "+34611000004",
                              "email": "dora@example.com", "mini_crm_lead_key": dora_key } }] })
    );
    let upserts = received[3].body["inputs"].as_array().unwrap().clone();
    assert_eq!(
        upserts.len(),
        2,
        "Bea (no contact has her e-mail) and Carla"
    );
    assert_eq!(
        upserts
            .iter()
            .find(|i| i["objectWriteTraceId"] == json!(carla.to_string()))
            .unwrap(),
        &json!({ "id": carla_key, "idProperty": "mini_crm_lead_key",
                "objectWriteTraceId": carla.to_string(),
                "properties": { "firstname": "Carla", "phone": "+34611000003",
                                "mini_crm_lead_key": carla_key } })
    );
    assert_eq!(hubspot.hubspot_contacts().len(), 4, "no contact made twice");
    assert_eq!(contact_with_key(&hubspot, &ana_key)["id"], typed.as_str());
    assert_eq!(
        contact_with_key(&hubspot, &ana_key)["properties"]["email"],
        "ana@typed.example",
        "what we do not have is not cleared"
    );
    let id_of = |key: &str| {
        contact_with_key(&hubspot, key)["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        hubspot_ids(&app).await,
        [
            ("Ana Gil".into(), Some(typed.clone()), true),
            ("Dora Paz".into(), Some(dora_contact.clone()), true),
            ("Bea Ruiz Soto".into(), Some(id_of(&bea_key)), true),
            ("Carla".into(), Some(id_of(&carla_key)), true),
        ]
    );
    let carla_contact = id_of(&carla_key);

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
    assert_eq!(pending(&app).await, 0);
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

/// `(hubspot_id, hubspot_sync_error, deleted in HubSpot)` of the lead named `name`.
async fn state_of(app: &TestApp, name: &str) -> (Option<String>, Option<String>, bool) {
    sqlx::query_as(
        "SELECT hubspot_id, hubspot_sync_error, hubspot_deleted_at IS NOT NULL FROM leads
         WHERE name = $1",
    )
    .bind(name)
    .fetch_one(&app.state.db.reader)
    .await
    .unwrap()
}

/// Issue 19, point 10: HubSpot refuses some contacts — a batch it validates whole is split until
/// the refused one stands alone — and two of our leads share an e-mail; every other lead still
/// syncs, then and on every later sync.
#[tokio::test]
async fn one_refused_contact_never_stops_the_sync() {
    let hubspot = FakeProvider::start().await;
    let app = hubspot_app(&hubspot).await;
    let hugo_contact = hubspot.hubspot_contact(json!({ "firstname": "Hugo" }));
    let fede_contact = hubspot.hubspot_contact(json!({ "firstname": "Fede" }));
    // Upserts by key: Eva's e-mail is one HubSpot rejects.
    insert_lead(&app, "Dani", Some("dani@example.com"), None).await;
    insert_lead(&app, "Eva", Some("eva@example"), None).await;
    // Two of our leads share an e-mail: never two inputs for one contact in a batch.
    let gema = insert_lead(&app, "Gema", Some("gemelas@example.com"), None).await;
    insert_lead(&app, "Gemma", Some("gemelas@example.com"), None).await;
    // Updates: Fede's bad e-mail must not sink Hugo; Olga's contact is gone from HubSpot.
    insert_lead(&app, "Fede", Some("fede@@example.com"), Some(&fede_contact)).await;
    insert_lead(&app, "Hugo", None, Some(&hugo_contact)).await;
    insert_lead(&app, "Olga", None, Some("404040404")).await;
    // A patient known by WhatsApp username only: no phone, synced all the same.
    sqlx::query(
        "INSERT INTO leads (name, whatsapp_user_id, source, created_at, updated_at)
         VALUES ('Iris', 'ES.1234567890', 'organic', $1, $1)",
    )
    .bind(Timestamp::now())
    .execute(&app.state.db.writer)
    .await
    .unwrap();

    let outcomes = sync(&app).await;
    assert!(
        outcomes.iter().all(|o| matches!(o, Outcome::Done { .. })),
        "{outcomes:?}"
    );
    for synced in ["Dani", "Gema", "Hugo", "Iris"] {
        let (id, error, _) = state_of(&app, synced).await;
        assert!(id.is_some() && error.is_none(), "{synced}: {error:?}");
    }
    assert_eq!(state_of(&app, "Hugo").await.0, Some(hugo_contact));
    for refused in ["Eva", "Fede"] {
        let error = state_of(&app, refused).await.1.expect("refused");
        assert!(
            error.contains("INVALID_EMAIL"),
            "HubSpot's own message: {error}"
        );
        assert!(
            !error.contains("example"),
            "no address kept or logged: {error}"
        );
    }
    assert_eq!(
        state_of(&app, "Olga").await,
        (Some("404040404".into()), None, true),
        "a contact HubSpot no longer has: marked deleted there, as its webhook would"
    );
    let (gemma_id, gemma_error, _) = state_of(&app, "Gemma").await;
    let gema_contact = state_of(&app, "Gema").await.0.unwrap();
    assert_eq!(gemma_id, None);
    assert_eq!(
        gemma_error.unwrap(),
        format!(
            "El contacto {gema_contact} de HubSpot, con el mismo e-mail, es del lead #{gema}: \
             une los duplicados o cambia el e-mail"
        )
    );
    // Each batch HubSpot refused whole was split until the refused contact stood alone.
    let updates = sizes(&hubspot, "/update");
    assert_eq!(updates[0], 3, "{updates:?}");
    assert!(updates[1..].iter().all(|n| *n < 3), "{updates:?}");
    let upserts = sizes(&hubspot, "/upsert");
    assert_eq!(upserts[0], 4, "Dani, Eva, Gema, Iris: {upserts:?}");
    assert!(upserts.contains(&1), "{upserts:?}");
    assert!(batches(&hubspot).iter().all(|r| r.path.ends_with("/read")
        || r.body["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["objectWriteTraceId"].is_string())));
    let gemelas = hubspot
        .hubspot_contacts()
        .into_iter()
        .filter(|c| c["properties"]["email"] == "gemelas@example.com")
        .collect::<Vec<_>>();
    assert_eq!(gemelas.len(), 1);
    assert_eq!(
        gemelas[0]["properties"]["firstname"], "Gema",
        "Gemma never wrote over it"
    );
    assert_eq!(
        pending(&app).await,
        0,
        "the refused wait for a change; nothing is stuck"
    );

    // A later lead syncs: the refused ones block nobody.
    insert_lead(&app, "Juan", Some("juan@example.com"), None).await;
    sync(&app).await;
    assert!(state_of(&app, "Juan").await.0.is_some());
}

/// A contact whose e-mail is ours is taken only when it is no other lead's: typed in HubSpot
/// (no key) it is linked, one that carries another lead's key is left untouched.
#[tokio::test]
async fn a_contact_with_the_leads_email_is_taken_only_when_it_is_no_other_leads() {
    let hubspot = FakeProvider::start().await;
    let app = hubspot_app(&hubspot).await;
    let first = insert_lead(&app, "Pablo", None, None).await;
    sync(&app).await;
    let first_contact = state_of(&app, "Pablo").await.0.unwrap();
    // In HubSpot, someone typed an e-mail on Pablo's contact; here it is another lead's.
    let key = key_of(&app, first).await;
    assert_eq!(
        contact_with_key(&hubspot, &key)["id"],
        first_contact.as_str()
    );
    let client = reqwest::Client::new();
    let answer = client
        .post(format!(
            "{}/crm/v3/objects/contacts/batch/update",
            hubspot.base
        ))
        .bearer_auth("staff")
        .json(&json!({ "inputs": [{ "id": first_contact,
                                    "properties": { "email": "rosa@example.com" } }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    insert_lead(&app, "Rosa", Some("rosa@example.com"), None).await;
    sync(&app).await;
    let (rosa_id, rosa_error, _) = state_of(&app, "Rosa").await;
    assert_eq!(rosa_id, None);
    assert!(
        rosa_error
            .as_deref()
            .is_some_and(|e| e.contains(&format!("es del lead #{first}"))),
        "{rosa_error:?}"
    );
    let pablo = contact_with_key(&hubspot, &key);
    assert_eq!(pablo["properties"]["firstname"], "Pablo", "not overwritten");
    assert_eq!(hubspot.hubspot_contacts().len(), 1);

    // A family shares an address: the contact typed for the mother names someone else.
    let marta = hubspot.hubspot_contact(
        json!({ "firstname": "Marta", "phone": "+34 611 99 88 77", "email": "familia@example.com" }),
    );
    insert_lead(&app, "Lucas", Some("familia@example.com"), None).await;
    // The same person typed by hand (same first name, the phone written another way) is taken.
    let typed = hubspot.hubspot_contact(
        json!({ "firstname": "VERA", "phone": "600 000 004", "email": "vera@example.com" }),
    );
    let vera = insert_lead(&app, "Vera Gil", Some("vera@example.com"), None).await;
    sqlx::query("UPDATE leads SET phone = '+34600000004' WHERE id = $1")
        .bind(vera)
        .execute(&app.state.db.writer)
        .await
        .unwrap();
    sync(&app).await;
    let (lucas_id, lucas_error, _) = state_of(&app, "Lucas").await;
    assert_eq!(lucas_id, None);
    assert!(
        lucas_error.as_deref().is_some_and(|e| e.contains(&format!(
            "El contacto {marta} de HubSpot tiene este e-mail pero otro nombre o teléfono"
        ))),
        "{lucas_error:?}"
    );
    let contacts = hubspot.hubspot_contacts();
    let mother = contacts.iter().find(|c| c["id"] == marta.as_str()).unwrap();
    assert_eq!(
        mother["properties"]["firstname"], "Marta",
        "not overwritten"
    );
    assert_eq!(state_of(&app, "Vera Gil").await.0, Some(typed));
    assert_eq!(contacts.len(), 3, "Pablo's, Marta's and Vera's: none made");
}

/// A create whose answer was lost, then an e-mail another contact already has: HubSpot refuses
/// that lead's update (the address is taken), and only that lead is marked; the queue goes on.
#[tokio::test]
async fn a_conflict_on_one_leads_contact_is_that_leads_not_the_queues() {
    let hubspot = FakeProvider::start().await;
    let app = hubspot_app(&hubspot).await;
    let nico = insert_lead(&app, "Nico", None, None).await;
    fail(&hubspot, "lost", "/batch/upsert", 1, None);
    assert!(matches!(sync(&app).await[..], [Outcome::Retrying { .. }]));
    let typed =
        hubspot.hubspot_contact(json!({ "firstname": "Nico", "email": "nico@example.com" }));
    sqlx::query(
        "UPDATE leads SET email = 'nico@example.com', revision = revision + 1 WHERE id = $1",
    )
    .bind(nico)
    .execute(&app.state.db.writer)
    .await
    .unwrap();
    insert_lead(&app, "Otto", None, None).await;
    due_now(&app).await;
    let outcomes = sync(&app).await;
    assert!(
        outcomes.iter().all(|o| matches!(o, Outcome::Done { .. })),
        "{outcomes:?}"
    );
    let held = settings::get(&app.state.db.reader, "queue.held.hubspot")
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(held, "", "not the queue's problem");
    let (_, error, _) = state_of(&app, "Nico").await;
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.contains("already exists")),
        "HubSpot's reason, on Nico alone: {error:?}"
    );
    assert!(state_of(&app, "Otto").await.0.is_some(), "the others sync");
    let contacts = hubspot.hubspot_contacts();
    let by_hand = contacts.iter().find(|c| c["id"] == typed.as_str()).unwrap();
    assert!(by_hand["properties"].get("mini_crm_lead_key").is_none());
}

/// A create whose answer was lost is sent again and finds the contact it made, also when the
/// lead got an e-mail meanwhile; and a second installation on the same HubSpot account, whose
/// leads have the same row ids, never lands on the first one's contacts.
#[tokio::test]
async fn a_lost_answer_never_makes_a_second_contact_nor_does_a_reused_lead_id() {
    let hubspot = FakeProvider::start().await;
    let app = hubspot_app(&hubspot).await;
    let kiko = insert_lead(&app, "Kiko", None, None).await;
    fail(&hubspot, "lost", "/batch/upsert", 1, None);
    let outcomes = sync(&app).await;
    assert!(
        matches!(outcomes[..], [Outcome::Retrying { .. }]),
        "{outcomes:?}"
    );
    assert_eq!(hubspot.hubspot_contacts().len(), 1, "HubSpot made it");
    assert_eq!(
        state_of(&app, "Kiko").await.0,
        None,
        "the answer never came"
    );
    // Staff add an e-mail meanwhile.
    sqlx::query(
        "UPDATE leads SET email = 'kiko@example.com', revision = revision + 1 WHERE id = $1",
    )
    .bind(kiko)
    .execute(&app.state.db.writer)
    .await
    .unwrap();
    due_now(&app).await;
    assert!(matches!(sync(&app).await[..], [Outcome::Done { .. }]));
    let contacts = hubspot.hubspot_contacts();
    assert_eq!(contacts.len(), 1, "the same contact: {contacts:?}");
    assert_eq!(contacts[0]["properties"]["email"], "kiko@example.com");
    assert_eq!(
        state_of(&app, "Kiko").await.0.as_deref(),
        contacts[0]["id"].as_str()
    );

    // Another installation (or this one restored from a backup) has a lead with Kiko's id.
    let other = hubspot_app_finding(&hubspot, SetUp::AlreadyThere).await;
    let reused = insert_lead(&other, "Lucía", None, None).await;
    assert_eq!(reused, kiko);
    sync(&other).await;
    let contacts = hubspot.hubspot_contacts();
    assert_eq!(contacts.len(), 2, "a contact of her own");
    assert_eq!(
        contacts
            .iter()
            .filter(|c| c["properties"]["firstname"] == "Kiko")
            .count(),
        1,
        "Kiko's contact untouched"
    );
}

/// Without the unique lead-key property HubSpot could only take blind creates: the queue waits,
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

    let config = cli_config(&app, &hubspot);
    server::cli::providers::hubspot_setup(config.clone())
        .await
        .unwrap();
    server::cli::providers::hubspot_setup(config)
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
    due_now(&app).await;
    fail(&hubspot, "401", "/batch/", 1, None);
    assert!(matches!(sync(&app).await[..], [Outcome::Held { .. }]));
    assert!(
        held(&app).await.contains("HUBSPOT_ACCESS_TOKEN"),
        "{}",
        held(&app).await
    );
    assert_eq!(
        pending(&app).await,
        2,
        "no lead marked refused for the account's problem"
    );
}

/// What is not one contact's fault marks no lead: HubSpot locked (423) is tried again later;
/// our property gone mid-run holds the queue with the set-up instruction.
#[tokio::test]
async fn what_is_not_a_contacts_fault_marks_no_lead() {
    let hubspot = FakeProvider::start().await;
    let app = hubspot_app(&hubspot).await;
    insert_lead(&app, "Sara", None, None).await;
    insert_lead(&app, "Tomás", None, None).await;
    fail(&hubspot, "423", "/batch/upsert", 1, None);
    assert!(matches!(sync(&app).await[..], [Outcome::Retrying { .. }]));
    assert_eq!(pending(&app).await, 2);
    due_now(&app).await;
    hubspot.script([
        (200, vec![], json!({ "name": "mini_crm_lead_key", "hasUniqueValue": true })),
        (200, vec![], json!({ "status": "COMPLETE", "results": [] })),
        (
            400,
            vec![],
            json!({ "status": "error", "category": "VALIDATION_ERROR",
                    "message": "Property values were not valid: [{\"isValid\":false,\"message\":\"Property \\\"mini_crm_lead_key\\\" does not exist\",\"error\":\"PROPERTY_DOESNT_EXIST\",\"name\":\"mini_crm_lead_key\"}]" }),
        ),
    ]);
    assert!(matches!(sync(&app).await[..], [Outcome::Held { .. }]));
    let held = settings::get(&app.state.db.reader, "queue.held.hubspot")
        .await
        .unwrap()
        .unwrap();
    assert!(held.contains("mini-crm hubspot setup"), "{held}");
    let errors: i64 =
        sqlx::query_scalar("SELECT count(*) FROM leads WHERE hubspot_sync_error IS NOT NULL")
            .fetch_one(&app.state.db.reader)
            .await
            .unwrap();
    assert_eq!(errors, 0);
}

/// One sync at a time across processes: a job finds the CLI's lease and steps aside; when the
/// holder gives it back, what is still pending gets a fresh job.
#[tokio::test]
async fn one_sync_runs_at_a_time_and_the_holder_hands_over() {
    let hubspot = FakeProvider::start().await;
    let app = hubspot_app(&hubspot).await;
    let now = Timestamp::now();
    assert!(leases::take(
        &app.state.db.writer,
        "hubspot_sync",
        "cli-1",
        now.plus_seconds(60),
        now
    )
    .await
    .unwrap());
    insert_lead(&app, "Ulises", None, None).await;
    assert!(matches!(sync(&app).await[..], [Outcome::Done { .. }]));
    assert!(
        sizes(&hubspot, "/upsert").is_empty(),
        "nothing sent while the CLI holds it"
    );
    let follow_up: String = sqlx::query_scalar(
        "SELECT run_at FROM jobs WHERE kind = 'sync_hubspot' AND status = 'pending'",
    )
    .fetch_one(&app.state.db.reader)
    .await
    .expect("a job due when the holder's lease runs out, should the holder die");
    let wait = Timestamp::parse_rfc3339(&follow_up).unwrap().unix() - Timestamp::now().unix();
    assert!((100..=120).contains(&wait), "{wait}");
    assert_eq!(pending(&app).await, 1);
    // The CLI's sync (another process) runs now that the lease is free; waiting for it would
    // have been the same.
    leases::release(&app.state.db.writer, "hubspot_sync", "cli-1")
        .await
        .unwrap();
    let config = cli_config(&app, &hubspot);
    let now = Timestamp::now();
    assert!(leases::take(
        &app.state.db.writer,
        "hubspot_sync",
        "worker-x",
        now.plus_seconds(3),
        now
    )
    .await
    .unwrap());
    let started = std::time::Instant::now();
    server::cli::providers::hubspot_sync(config, None, false)
        .await
        .unwrap();
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "it waited"
    );
    assert_eq!(sizes(&hubspot, "/upsert"), [1]);
    assert_eq!(pending(&app).await, 0);
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
    assert_eq!(
        sizes(&hubspot, "/upsert"),
        [2],
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
    fail(&hubspot, "429", "/batch/upsert", 1, Some(10));
    assert!(matches!(sync(&app).await[..], [Outcome::Retrying { .. }]));
    let run_at: String = sqlx::query_scalar("SELECT run_at FROM jobs WHERE kind = 'sync_hubspot'")
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    let wait = Timestamp::parse_rfc3339(&run_at).unwrap().unix() - Timestamp::now().unix();
    assert!((8..=11).contains(&wait), "{wait}");
    assert_eq!(pending(&app).await, 150);

    // Back: one run sends 100 then 50, each contact once.
    sqlx::query("UPDATE jobs SET run_at = $1")
        .bind(Timestamp::now())
        .execute(&app.state.db.writer)
        .await
        .unwrap();
    sync(&app).await;
    assert_eq!(
        sizes(&hubspot, "/upsert"),
        [100, 100, 50],
        "the rate-limited try, then 100 and 50"
    );
    assert_eq!(pending(&app).await, 0);
    let distinct: i64 = sqlx::query_scalar("SELECT count(DISTINCT hubspot_id) FROM leads")
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(distinct, 150);

    // `hubspot sync --full` sends every lead again (now by their HubSpot ids), resumably.
    let config = cli_config(&app, &hubspot);
    server::cli::providers::hubspot_sync(config, None, true)
        .await
        .unwrap();
    let updates = hubspot
        .received()
        .iter()
        .filter(|r| r.path.ends_with("/update"))
        .count();
    assert_eq!(updates, 2);
    assert_eq!(pending(&app).await, 0);
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
    fail(
        &hubspot,
        "502",
        "/batch/upsert",
        FAILURES_TO_OPEN as usize,
        None,
    );
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
    assert_eq!(pending(&app).await, 3, "nothing lost");

    sqlx::query("UPDATE provider_breakers SET opened_at = $1 WHERE provider = 'hubspot'")
        .bind(Timestamp::now().plus_seconds(-COOL_DOWN_SECONDS - 1))
        .execute(db)
        .await
        .unwrap();
    assert!(matches!(sync(&app).await[..], [Outcome::Done { .. }]));
    let upserts: Vec<_> = batches(&hubspot)
        .into_iter()
        .filter(|r| r.path.ends_with("/upsert"))
        .collect();
    let sent: Vec<String> = upserts[FAILURES_TO_OPEN as usize..]
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

/// HubSpot's answer record by record (207, as it documents for batch writes with
/// `objectWriteTraceId`): each lead takes its own result or error by its trace id.
#[tokio::test]
async fn a_record_by_record_answer_is_applied_lead_by_lead() {
    let hubspot = FakeProvider::start().await;
    let app = hubspot_app(&hubspot).await;
    let ok = insert_lead(&app, "Quique", None, None).await;
    let bad = insert_lead(&app, "Raúl", None, None).await;
    hubspot.script([
        (
            200,
            vec![],
            json!({ "name": "mini_crm_lead_key", "hasUniqueValue": true }),
        ),
        (200, vec![], json!({ "status": "COMPLETE", "results": [] })),
        (
            207,
            vec![],
            json!({ "status": "COMPLETE", "numErrors": 1,
                    "results": [{ "id": "95310099001", "objectWriteTraceId": ok.to_string(),
                                  "properties": { "firstname": "Quique" } }],
                    "errors": [{ "status": "error", "category": "VALIDATION_ERROR",
                                 "message": "Property values were not valid: phone +34 600 000 002",
                                 "context": { "objectWriteTraceId": [bad.to_string()] } }] }),
        ),
    ]);
    assert!(matches!(sync(&app).await[..], [Outcome::Done { .. }]));
    assert_eq!(
        state_of(&app, "Quique").await,
        (Some("95310099001".into()), None, false)
    );
    let (id, error, _) = state_of(&app, "Raúl").await;
    assert_eq!(id, None);
    assert_eq!(
        error.as_deref(),
        Some("Property values were not valid: phone •••002"),
        "HubSpot's reason, the number masked"
    );
}

/// An answer is applied to the revision that was sent: a refusal that comes back after staff
/// changed the lead does not shut the change out, and an older answer never lowers a newer one.
#[tokio::test]
async fn answers_apply_to_the_revision_that_was_sent() {
    let app = TestApp::spawn().await;
    let lead = insert_lead(&app, "Sofía", Some("sofia@example.com"), None).await;
    let db = &app.state.db.writer;
    sqlx::query("UPDATE leads SET revision = 3 WHERE id = $1")
        .bind(lead)
        .execute(db)
        .await
        .unwrap();
    leads::mark_hubspot_refused(db, lead, 2, "refused as of revision 2")
        .await
        .unwrap();
    let error: Option<String> =
        sqlx::query_scalar("SELECT hubspot_sync_error FROM leads WHERE id = $1")
            .bind(lead)
            .fetch_one(db)
            .await
            .unwrap();
    assert_eq!(error, None, "revision 3 is still to be sent");
    let now = Timestamp::now();
    assert_eq!(
        leads::mark_hubspot_synced(db, lead, "95310099002", 3, now)
            .await
            .unwrap(),
        Ok(())
    );
    assert_eq!(
        leads::mark_hubspot_synced(db, lead, "95310099002", 2, now)
            .await
            .unwrap(),
        Ok(())
    );
    let synced: i64 = sqlx::query_scalar("SELECT hubspot_synced_revision FROM leads WHERE id = $1")
        .bind(lead)
        .fetch_one(db)
        .await
        .unwrap();
    assert_eq!(synced, 3, "the late answer for revision 2 lowered nothing");
    let other = insert_lead(&app, "Tania", None, None).await;
    assert_eq!(
        leads::mark_hubspot_synced(db, other, "95310099002", 1, now)
            .await
            .unwrap(),
        Err(lead),
        "one contact, one lead"
    );
}
