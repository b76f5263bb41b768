//! Deliveries written as the providers' own documentation shows them (`fixtures/providers/`,
//! each file's source page in its SOURCES.md), and what each one leaves in the database: one item
//! never sinks its batch-mates.

use crate::webhooks::{count, drain, post_hubspot, post_whatsapp, providers_app};
use app::backend::worker::Outcome;
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
        {"subscriptionId": 7, "portalId": 62515, "occurredAt": 1735725600000u64,
         "subscriptionType": "contact.propertyChange", "attemptNumber": 0, "objectId": 5101},
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
        error.starts_with("1 of 3 item(s) failed")
            && error.contains("event without an id: unreadable event"),
        "{error}"
    );
}

/// Posts a corpus delivery with its message ids made unique (the documentation's examples share
/// ids across pages), drains the queue.
async fn deliver(app: &crate::helpers::TestApp, name: &str) {
    let mut delivery = corpus(name);
    if let Some(messages) = delivery["entry"][0]["changes"][0]["value"]["messages"].as_array_mut() {
        for (i, message) in messages.iter_mut().enumerate() {
            message["id"] = json!(format!("wamid.{name}.{i}"));
        }
    }
    let body = serde_json::to_vec(&delivery).unwrap();
    assert_eq!(
        post_whatsapp(app, &body).await.status,
        StatusCode::OK,
        "{name}"
    );
    drain(app).await;
    let failed: Vec<String> =
        sqlx::query_scalar("SELECT last_error FROM webhook_events WHERE status <> 'processed'")
            .fetch_all(&app.state.db.reader)
            .await
            .unwrap();
    assert!(failed.is_empty(), "{name}: {failed:?}");
}

/// The lead page of the patient 34611223344, as staff see it.
async fn lead_page(app: &crate::helpers::TestApp, cookie: &str) -> String {
    let id = count(app, "SELECT id FROM leads WHERE phone = '+34611223344'").await;
    let page = app.get(&format!("/leads/{id}"), Some(cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    page.body
}

#[tokio::test]
async fn every_documented_message_type_is_kept_and_told_in_one_line() {
    let app = providers_app().await;
    let cookie = app.signed_in("recepcion@clinica.es").await;
    let cases = [
        ("wa_01_text", "Hola, ¿tenéis cita para mañana por la tarde?"),
        ("wa_02_image", "Imagen (image/jpeg): Foto de la receta · archivo 1003383421387256 en WhatsApp"),
        ("wa_03_video", "Vídeo (video/mp4): Así me duele al mover la rodilla · archivo 1166846181421424 en WhatsApp"),
        ("wa_04_audio_voice", "Audio (audio/ogg; codecs=opus) · archivo 1908647269898587 en WhatsApp"),
        (
            "wa_05_document",
            "Documento «analitica_marzo.pdf» (application/pdf): Informe de la analítica",
        ),
        ("wa_06_sticker", "Sticker (image/webp) · archivo 1908647269898587 en WhatsApp"),
        ("wa_07_interactive_button_reply", "Pulsó «Confirmar cita» · opción confirm-appointment"),
        ("wa_08_interactive_list_reply", "Pulsó «Martes 14, 16:30» (Dra. Ruiz · Fisioterapia)"),
        ("wa_09_button_template_quick_reply", "Pulsó el botón «Cancelar cita»"),
        ("wa_10_location", "Ubicación: Clínica Retiro, Calle de Alcalá 123, 28009 Madrid (40.4222, -3.6794)"),
        ("wa_11_contacts", "Contacto compartido: Antonio Fernández López (+34 622 33 44 55)"),
        (
            "wa_14_unsupported",
            "Mensaje que WhatsApp no entrega a la clínica (poll_creation): 131051 · Message type unknown",
        ),
    ];
    for (name, _) in &cases {
        deliver(&app, name).await;
    }
    let page = lead_page(&app, &cookie).await;
    for (name, line) in cases {
        let line = line.replace("Does it come in", "");
        assert!(
            page.contains(&line),
            "{name}: {line:?} not on the lead page"
        );
    }
    assert!(
        page.contains("href=\"https://www.openstreetmap.org/?mlat=40.4222&amp;mlon=-3.6794#map=17/40.4222/-3.6794\""),
        "the location has a map link"
    );
    let empty = count(
        &app,
        "SELECT COUNT(*) FROM messages WHERE content IS NULL OR (body IS NULL AND kind = 'text')",
    )
    .await;
    assert_eq!(empty, 0, "every message keeps what it carried");
    let stored: String =
        sqlx::query_scalar("SELECT content FROM messages WHERE wamid = 'wamid.wa_05_document.0'")
            .fetch_one(&app.state.db.reader)
            .await
            .unwrap();
    let stored: Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(
        stored["media_id"], "622684793477189",
        "the file can be fetched later"
    );
    assert_eq!(stored["mime_type"], "application/pdf");
}

#[tokio::test]
async fn a_reaction_is_linked_to_its_message_and_taking_it_back_removes_it() {
    let app = providers_app().await;
    let cookie = app.signed_in("recepcion@clinica.es").await;
    deliver(&app, "wa_01_text").await;
    // The clinic's message the patient reacts to (its id as in Meta's example).
    let lead = count(&app, "SELECT id FROM leads WHERE phone = '+34611223344'").await;
    sqlx::query(
        "INSERT INTO messages (lead_id, direction, wamid, kind, body, status, created_at, status_at)
         VALUES ($1, 'outbound', 'wamid.HBgLMzQ5MTAxMjM0NTYVAgASGBQM0FDQjY5OUQ1MDVGRjFGRDNFQUQ=',
                 'text', 'Le confirmamos la cita del martes', 'read',
                 '2025-06-08T10:00:00Z', '2025-06-08T10:00:00Z')",
    )
    .bind(lead)
    .execute(&app.state.db.writer)
    .await
    .unwrap();
    deliver(&app, "wa_12_reaction").await;
    assert!(lead_page(&app, &cookie)
        .await
        .contains("Reaccionó con 👍 a «Le confirmamos la cita del martes»"));
    // A new emoji replaces the reaction: one per message, as WhatsApp shows it.
    let mut changed = corpus("wa_12_reaction");
    let message = &mut changed["entry"][0]["changes"][0]["value"]["messages"][0];
    message["id"] = json!("wamid.reaction-changed");
    message["reaction"]["emoji"] = json!("❤️");
    post_whatsapp(&app, &serde_json::to_vec(&changed).unwrap()).await;
    drain(&app).await;
    let page = lead_page(&app, &cookie).await;
    assert!(page.contains("Reaccionó con ❤️") && !page.contains("Reaccionó con 👍"));
    deliver(&app, "wa_13_reaction_removed").await;
    assert!(!lead_page(&app, &cookie).await.contains("Reaccionó"));
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM messages WHERE json_extract(content, '$.type') = 'reaction'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn a_first_message_from_an_ad_keeps_the_ad_on_the_lead() {
    let app = providers_app().await;
    let cookie = app.signed_in("recepcion@clinica.es").await;
    deliver(&app, "wa_17_ctwa_referral_first_message").await;
    let (source, referral): (String, String) =
        sqlx::query_as("SELECT source, ad_referral FROM leads WHERE phone = '+34611223344'")
            .fetch_one(&app.state.db.reader)
            .await
            .unwrap();
    assert_eq!(source, "meta");
    let referral: Value = serde_json::from_str(&referral).unwrap();
    for key in [
        "source_id",
        "source_type",
        "source_url",
        "headline",
        "ctwa_clid",
    ] {
        assert!(referral[key].is_string(), "{key} kept: {referral}");
    }
    assert!(
        referral.get("image_url").is_none(),
        "not the ad's media links"
    );
    let page = lead_page(&app, &cookie).await;
    assert!(
        page.contains("Anuncio de Meta: «Escríbenos por WhatsApp» · anuncio 120226305854810726 · https://fb.me/3cr4Wqqkv · clic Aff-n8ZTODiE79d22KtAwQKj9e_"),
        "the ad is on the lead's page"
    );
}

#[tokio::test]
async fn a_status_before_its_message_has_an_id_is_kept_and_applied_when_it_gets_one() {
    let app = providers_app().await;
    let lead = crate::clinic::Clinic::new(app.state.db.clone())
        .lead(
            app::domain::Source::Google,
            crate::clinic::ts("2025-01-01T10:00:00Z"),
        )
        .await;
    // Our message, sent; Meta's answer (with its id) not stored yet.
    let message: i64 = sqlx::query_scalar(
        "INSERT INTO messages (lead_id, direction, kind, body, status, created_at, status_at)
         VALUES ($1, 'outbound', 'text', 'Hola', 'queued', '2025-06-08T10:00:00Z',
                 '2025-06-08T10:00:00Z') RETURNING id",
    )
    .bind(lead)
    .fetch_one(&app.state.db.writer)
    .await
    .unwrap();
    let wamid = "wamid.HBgLMzQ2MTEyMjMzNDQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA";
    let mut delivered = corpus("wa_19b_status_delivered_bsuid");
    delivered["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] = json!(wamid);
    let body = serde_json::to_vec(&delivered).unwrap();
    assert_eq!(post_whatsapp(&app, &body).await.status, StatusCode::OK);
    drain(&app).await;
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM webhook_items WHERE item_key LIKE 'wa:st:%'"
        )
        .await,
        0,
        "nothing applied, nothing marked applied"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM whatsapp_early_statuses").await,
        1
    );

    let mut tx = app.state.db.begin_write().await.unwrap();
    app::backend::webhooks::whatsapp::accepted(
        &mut tx,
        message,
        wamid,
        app::domain::Timestamp::now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let status: String = sqlx::query_scalar("SELECT status FROM messages WHERE id = $1")
        .bind(message)
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(status, "delivered");
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM whatsapp_early_statuses").await,
        0
    );

    // A redelivery of the same status now finds the message: claimed once, nothing moves back.
    let replayed = post_whatsapp(&app, &body).await;
    assert_eq!(replayed.status, StatusCode::OK);
    let event_id = count(&app, "SELECT MIN(id) FROM webhook_events").await;
    app::backend::webhooks::process_event(&app.state.jobs(), event_id)
        .await
        .unwrap();
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM webhook_items WHERE item_key LIKE 'wa:st:%'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_patient_who_changes_number_keeps_one_lead() {
    let app = providers_app().await;
    let cookie = app.signed_in("recepcion@clinica.es").await;
    deliver(&app, "wa_01_text").await;
    let lead = count(&app, "SELECT id FROM leads WHERE phone = '+34611223344'").await;
    deliver(&app, "wa_15_system_user_changed_number").await;
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM leads WHERE phone = '+34699887766'"
        )
        .await,
        1
    );
    // The next message, from the new number, lands on the same lead.
    let mut text = corpus("wa_01_text");
    let value = &mut text["entry"][0]["changes"][0]["value"];
    value["contacts"][0]["wa_id"] = json!("34699887766");
    value["messages"][0]["from"] = json!("34699887766");
    value["messages"][0]["id"] = json!("wamid.from-the-new-number");
    assert_eq!(
        post_whatsapp(&app, &serde_json::to_vec(&text).unwrap())
            .await
            .status,
        StatusCode::OK
    );
    drain(&app).await;
    assert_eq!(count(&app, "SELECT COUNT(*) FROM leads").await, 1);
    assert_eq!(
        count(
            &app,
            &format!("SELECT COUNT(*) FROM messages WHERE lead_id = {lead}")
        )
        .await,
        3
    );
    let page = app.get(&format!("/leads/{lead}"), Some(&cookie)).await.body;
    assert!(page.contains("Teléfono cambiado"), "in the timeline");
    assert!(page.contains("De +34611223344 a +34699887766 (aviso de WhatsApp)"));
    assert!(page.contains("WhatsApp avisa: cambió su número a +34699887766"));
}

#[tokio::test]
async fn a_new_number_that_is_another_leads_keeps_the_notice_and_flags_the_duplicate() {
    let app = providers_app().await;
    deliver(&app, "wa_01_text").await;
    // The first message from the new number came before the notice: it made its own lead.
    let mut other = corpus("wa_01_text");
    let value = &mut other["entry"][0]["changes"][0]["value"];
    value["contacts"][0]["wa_id"] = json!("34699887766");
    value["messages"][0]["from"] = json!("34699887766");
    value["messages"][0]["id"] = json!("wamid.from-the-new-number");
    post_whatsapp(&app, &serde_json::to_vec(&other).unwrap()).await;
    drain(&app).await;
    deliver(&app, "wa_15_system_user_changed_number").await; // asserts nothing failed
    assert_eq!(count(&app, "SELECT COUNT(*) FROM leads").await, 2);
    let old = count(&app, "SELECT id FROM leads WHERE phone = '+34611223344'").await;
    let new = count(&app, "SELECT id FROM leads WHERE phone = '+34699887766'").await;
    assert_eq!(
        count(
            &app,
            &format!("SELECT COUNT(*) FROM messages WHERE lead_id = {old}")
        )
        .await,
        2,
        "the notice is kept on the patient's lead"
    );
    let detail: String = sqlx::query_scalar(
        "SELECT detail FROM lead_activities WHERE action = 'possible_duplicate'",
    )
    .fetch_one(&app.state.db.reader)
    .await
    .unwrap();
    assert_eq!(
        detail,
        format!("Su nuevo número +34699887766 es del lead {new}: puede ser la misma persona")
    );
    // The same notice again (Meta redelivers with a new id) adds no second line.
    let mut again = corpus("wa_15_system_user_changed_number");
    again["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = json!("wamid.notice-again");
    post_whatsapp(&app, &serde_json::to_vec(&again).unwrap()).await;
    drain(&app).await;
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM lead_activities WHERE action = 'possible_duplicate'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_new_user_id_keeps_the_lead_for_the_next_username_message() {
    let app = providers_app().await;
    deliver(&app, "wa_18b_no_username_phone_and_bsuid").await;
    let lead = count(
        &app,
        "SELECT id FROM leads WHERE whatsapp_user_id = 'ES.13491208655302741918'",
    )
    .await;
    deliver(&app, "wa_16_system_user_changed_user_id").await;
    assert_eq!(
        count(
            &app,
            "SELECT id FROM leads WHERE whatsapp_user_id = 'ES.27710356482019934410'"
        )
        .await,
        lead
    );
    // The next message names only the new user id (a username, no phone).
    let mut next = corpus("wa_18a_username_no_phone_bsuid");
    let value = &mut next["entry"][0]["changes"][0]["value"];
    value["contacts"][0]["user_id"] = json!("ES.27710356482019934410");
    value["messages"][0]["from_user_id"] = json!("ES.27710356482019934410");
    value["messages"][0]["id"] = json!("wamid.after-the-change");
    post_whatsapp(&app, &serde_json::to_vec(&next).unwrap()).await;
    drain(&app).await;
    assert_eq!(count(&app, "SELECT COUNT(*) FROM leads").await, 1);
    assert_eq!(
        count(
            &app,
            &format!("SELECT COUNT(*) FROM messages WHERE lead_id = {lead}")
        )
        .await,
        3
    );
    // A notice is not the patient writing: it does not open the 24-hour window.
    let only_notice: i64 = count(
        &app,
        "SELECT COUNT(*) FROM messages WHERE json_extract(content, '$.type') = 'system'",
    )
    .await;
    assert_eq!(only_notice, 1);
}

#[tokio::test]
async fn aircall_numbers_are_stored_in_e164_so_calls_and_leads_match() {
    let app = providers_app().await;
    deliver(&app, "wa_01_text").await;
    let lead = count(&app, "SELECT id FROM leads WHERE phone = '+34611223344'").await;
    let mut ended = corpus("aircall_26_call_ended");
    ended["token"] = json!("AIRCALL_TOKEN");
    let body = serde_json::to_vec(&ended).unwrap();
    assert_eq!(
        crate::webhooks::post_aircall(&app, &body).await.status,
        StatusCode::OK
    );
    drain(&app).await;
    let (lead_id, from, to): (Option<i64>, String, String) =
        sqlx::query_as("SELECT lead_id, from_number, to_number FROM calls")
            .fetch_one(&app.state.db.reader)
            .await
            .unwrap();
    assert_eq!(
        lead_id,
        Some(lead),
        "Aircall's \"+34 611 22 33 44\" is the WhatsApp lead"
    );
    assert_eq!(
        (from.as_str(), to.as_str()),
        ("+34611223344", "+34910123456")
    );
}

#[tokio::test]
async fn a_sender_with_a_username_and_no_phone_is_a_lead_never_a_failed_delivery() {
    let app = providers_app().await;
    let cookie = app.signed_in("recepcion@clinica.es").await;
    // In one delivery with another patient's ordinary message: both are kept.
    let mut batch = corpus("wa_18a_username_no_phone_bsuid");
    let mut other = messages_of(&corpus("wa_01_text")).remove(0);
    other["from"] = json!("+34622334455"); // "+" written: the same number
    other["id"] = json!("wamid.other-patient");
    let value = &mut batch["entry"][0]["changes"][0]["value"];
    value["messages"].as_array_mut().unwrap().push(other);
    let body = serde_json::to_vec(&batch).unwrap();
    assert_eq!(post_whatsapp(&app, &body).await.status, StatusCode::OK);
    drain(&app).await;
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM webhook_events WHERE status = 'processed'"
        )
        .await,
        1
    );
    let (id, name, phone, username): (i64, String, Option<String>, Option<String>) =
        sqlx::query_as(
            "SELECT id, name, phone, whatsapp_username FROM leads
             WHERE whatsapp_user_id = 'ES.13491208655302741918'",
        )
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(
        (name.as_str(), phone, username.as_deref()),
        ("Lucía Fernández", None, Some("lucia.fdez"))
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM leads WHERE phone = '+34622334455'"
        )
        .await,
        1
    );
    let page = app.get(&format!("/leads/{id}"), Some(&cookie)).await.body;
    assert!(page.contains("@lucia.fdez") && page.contains("Hola, quería pedir cita"));
    let list = app.get("/leads?q=lucia.fdez", Some(&cookie)).await.body;
    assert!(list.contains(&format!("/leads/{id}")), "found by username");

    // The clinic cannot write to them until they give a number: said in Spanish, nothing queued.
    let user = app::domain::CurrentUser {
        id: count(&app, "SELECT id FROM users").await,
        email: "recepcion@clinica.es".into(),
        name: "Recepción".into(),
        role: app::domain::Role::Staff,
    };
    let refused = app::backend::leads::queue_message(
        &app.state.db,
        &user,
        id,
        "Hola",
        "",
        app::domain::Timestamp::now(),
    )
    .await
    .unwrap_err();
    assert!(
        refused.to_string().contains("aún no ha dado su teléfono"),
        "{refused}"
    );

    // Later Meta shows the phone with the same user id: the same lead learns it.
    let mut with_phone = corpus("wa_18b_no_username_phone_and_bsuid");
    with_phone["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = json!("wamid.later");
    post_whatsapp(&app, &serde_json::to_vec(&with_phone).unwrap()).await;
    drain(&app).await;
    let phone: Option<String> = sqlx::query_scalar("SELECT phone FROM leads WHERE id = $1")
        .bind(id)
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(phone.as_deref(), Some("+34611223344"));
    assert_eq!(count(&app, "SELECT COUNT(*) FROM leads").await, 2);
}

#[tokio::test]
async fn a_username_that_shows_another_leads_phone_keeps_its_message_and_flags_the_duplicate() {
    let app = providers_app().await;
    deliver(&app, "wa_01_text").await; // +34611223344 as a phone lead
    deliver(&app, "wa_18a_username_no_phone_bsuid").await; // the same person, as a username
    let mut with_phone = corpus("wa_18b_no_username_phone_and_bsuid");
    with_phone["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = json!("wamid.later");
    post_whatsapp(&app, &serde_json::to_vec(&with_phone).unwrap()).await;
    drain(&app).await;
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM webhook_events WHERE status <> 'processed'"
        )
        .await,
        0,
        "nothing failed"
    );
    let user_lead = count(
        &app,
        "SELECT id FROM leads WHERE whatsapp_user_id = 'ES.13491208655302741918'",
    )
    .await;
    assert_eq!(
        count(
            &app,
            &format!("SELECT COUNT(*) FROM messages WHERE lead_id = {user_lead}")
        )
        .await,
        2,
        "the message is kept on the username's lead"
    );
    let detail: String = sqlx::query_scalar(
        "SELECT detail FROM lead_activities WHERE action = 'possible_duplicate'",
    )
    .fetch_one(&app.state.db.reader)
    .await
    .unwrap();
    assert!(
        detail.contains("+34611223344") && detail.ends_with("puede ser la misma persona"),
        "{detail}"
    );
}

#[tokio::test]
async fn a_username_lead_is_edited_without_inventing_a_phone_and_others_keep_theirs() {
    use app::backend::leads::{create, update};
    use app::domain::{CurrentUser, LeadDraft, Role, Timestamp};
    let app = providers_app().await;
    deliver(&app, "wa_18a_username_no_phone_bsuid").await;
    deliver(&app, "wa_01_text").await;
    let staff = CurrentUser {
        id: app.create_user("recepcion@clinica.es", Role::Staff).await,
        email: "recepcion@clinica.es".into(),
        name: "Recepción".into(),
        role: Role::Staff,
    };
    let username_lead = count(&app, "SELECT id FROM leads WHERE phone IS NULL").await;
    let phone_lead = count(&app, "SELECT id FROM leads WHERE phone = '+34611223344'").await;
    let now = Timestamp::now();
    let renamed = LeadDraft::parse("Lucía F.", "", "lucia@example.com", "organic").unwrap();
    update(&app.state.db, &staff, username_lead, &renamed, now)
        .await
        .unwrap();
    let (name, email): (String, Option<String>) =
        sqlx::query_as("SELECT name, email FROM leads WHERE id = $1")
            .bind(username_lead)
            .fetch_one(&app.state.db.reader)
            .await
            .unwrap();
    assert_eq!(
        (name.as_str(), email.as_deref()),
        ("Lucía F.", Some("lucia@example.com"))
    );
    for refused in [
        update(&app.state.db, &staff, phone_lead, &renamed, now)
            .await
            .map(|_| 0),
        create(&app.state.db, &staff, &renamed, now).await,
    ] {
        let error = refused.unwrap_err();
        assert_eq!(error.to_string(), "Escribe el teléfono del lead.");
    }
}

/// Posts a HubSpot delivery (signed now) and drains the queue; nothing may fail.
async fn deliver_hubspot(app: &crate::helpers::TestApp, events: &Value) {
    let body = serde_json::to_vec(events).unwrap();
    let now_ms = chrono::Utc::now().timestamp_millis();
    assert_eq!(
        post_hubspot(app, &body, now_ms).await.status,
        StatusCode::OK
    );
    drain(app).await;
    let failed: Vec<String> =
        sqlx::query_scalar("SELECT last_error FROM webhook_events WHERE status <> 'processed'")
            .fetch_all(&app.state.db.reader)
            .await
            .unwrap();
    assert!(failed.is_empty(), "{failed:?}");
}

/// A lead of ours linked to the HubSpot contact `hubspot_id`, with a WhatsApp conversation.
async fn linked_lead(app: &crate::helpers::TestApp, phone: &str, hubspot_id: &str) -> i64 {
    let mut text = corpus("wa_01_text");
    let value = &mut text["entry"][0]["changes"][0]["value"];
    value["contacts"][0]["wa_id"] = json!(phone);
    value["messages"][0]["from"] = json!(phone);
    value["messages"][0]["id"] = json!(format!("wamid.{phone}"));
    post_whatsapp(app, &serde_json::to_vec(&text).unwrap()).await;
    drain(app).await;
    let lead = count(
        app,
        &format!("SELECT id FROM leads WHERE phone = '+{phone}'"),
    )
    .await;
    sqlx::query("UPDATE leads SET hubspot_id = $2, email = 'lucia@example.es' WHERE id = $1")
        .bind(lead)
        .bind(hubspot_id)
        .execute(&app.state.db.writer)
        .await
        .unwrap();
    lead
}

#[tokio::test]
async fn hubspot_changes_apply_in_the_order_they_happened_not_the_order_they_arrive() {
    let app = providers_app().await;
    let lead = linked_lead(&app, "34611223344", "95310127002").await;
    let mut batch = corpus("hubspot_20_contact_propertyChange_batch");
    deliver_hubspot(&app, &batch).await;
    let email = || async {
        sqlx::query_scalar::<_, Option<String>>("SELECT email FROM leads WHERE id = $1")
            .bind(lead)
            .fetch_one(&app.state.db.reader)
            .await
            .unwrap()
    };
    assert_eq!(email().await.as_deref(), Some("lucia.fernandez@example.es"));
    // An older change of the same property, delivered late (a retry): skipped.
    let mut late = batch[2].clone();
    late["eventId"] = json!(3816279399u64);
    late["occurredAt"] = json!(1781001200000u64);
    late["propertyValue"] = json!("antiguo@example.es");
    deliver_hubspot(&app, &json!([late])).await;
    assert_eq!(email().await.as_deref(), Some("lucia.fernandez@example.es"));
    // A newer one: applied.
    batch[2]["eventId"] = json!(3816279500u64);
    batch[2]["occurredAt"] = json!(1781001300000u64);
    batch[2]["propertyValue"] = json!("nuevo@example.es");
    deliver_hubspot(&app, &json!([batch[2].clone()])).await;
    assert_eq!(email().await.as_deref(), Some("nuevo@example.es"));
}

#[tokio::test]
async fn hubspots_older_event_type_key_and_unknown_types_are_stored_and_skipped() {
    let app = providers_app().await;
    deliver_hubspot(&app, &corpus("hubspot_20b_docs_example_verbatim_eventType")).await;
    deliver_hubspot(&app, &corpus("hubspot_21_contact_creation")).await;
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
async fn the_generic_format_is_handled_like_the_contact_format() {
    let app = providers_app().await;
    let changed = linked_lead(&app, "34600000001", "95310127001").await;
    let deleted = linked_lead(&app, "34600000006", "95310127006").await;
    deliver_hubspot(&app, &corpus("hubspot_24_generic_object_events")).await;
    let phone: Option<String> = sqlx::query_scalar("SELECT phone FROM leads WHERE id = $1")
        .bind(changed)
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(phone.as_deref(), Some("+34611223344"));
    assert_eq!(
        count(&app, &format!("SELECT COUNT(*) FROM leads WHERE id = {deleted} AND hubspot_deleted_at IS NOT NULL")).await,
        1
    );
}

#[tokio::test]
async fn a_contact_deleted_in_hubspot_stays_here_marked_and_is_not_sent_again() {
    let app = providers_app().await;
    let cookie = app.signed_in("recepcion@clinica.es").await;
    let lead = linked_lead(&app, "34611223344", "95310127003").await;
    deliver_hubspot(&app, &corpus("hubspot_22_contact_deletion")).await;
    assert_eq!(count(&app, "SELECT COUNT(*) FROM leads").await, 1);
    sqlx::query("UPDATE leads SET revision = revision + 1 WHERE id = $1")
        .bind(lead)
        .execute(&app.state.db.writer)
        .await
        .unwrap();
    let pending = app::backend::store::leads::pending_hubspot(&app.state.db.writer, 100)
        .await
        .unwrap();
    assert!(pending.is_empty(), "never sent again: {pending:?}");
    let page = app.get(&format!("/leads/{lead}"), Some(&cookie)).await.body;
    assert!(page.contains("Borrado en HubSpot"));
}

#[tokio::test]
async fn an_erasure_request_removes_the_persons_data_and_keeps_what_reports_count() {
    let app = providers_app().await;
    let cookie = app.signed_in("recepcion@clinica.es").await;
    let lead = linked_lead(&app, "34611223344", "95310127004").await;
    let mut ended = corpus("aircall_26_call_ended");
    ended["token"] = json!("AIRCALL_TOKEN");
    crate::webhooks::post_aircall(&app, &serde_json::to_vec(&ended).unwrap()).await;
    drain(&app).await;
    let source: String = sqlx::query_scalar("SELECT source FROM leads WHERE id = $1")
        .bind(lead)
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    deliver_hubspot(&app, &corpus("hubspot_23_contact_privacyDeletion")).await;

    let (name, phone, email, erased, kept_source): (
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        String,
    ) = sqlx::query_as("SELECT name, phone, email, erased_at, source FROM leads WHERE id = $1")
        .bind(lead)
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(name, "Persona borrada (RGPD)");
    assert_eq!((phone, email), (None, None));
    assert!(erased.is_some());
    assert_eq!(
        kept_source, source,
        "reports still count the lead where they did"
    );
    assert_eq!(
        count(&app, &format!("SELECT COUNT(*) FROM messages WHERE lead_id = {lead} AND body IS NULL AND content IS NULL")).await,
        1,
        "the message row stays, its words go"
    );
    assert_eq!(
        count(
            &app,
            &format!("SELECT COUNT(*) FROM calls WHERE lead_id = {lead} AND from_number IS NULL")
        )
        .await,
        1
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM webhook_events WHERE instr(body, CAST('34611223344' AS BLOB)) > 0").await,
        0,
        "no stored delivery carries the number any more"
    );
    let page = app.get(&format!("/leads/{lead}"), Some(&cookie)).await.body;
    assert!(page.contains("Datos personales borrados"));
    assert!(!page.contains("34611223344") && !page.contains("Lucía"));
    let search = app.get("/leads?q=lucia", Some(&cookie)).await.body;
    assert!(
        !search.contains(&format!("/leads/{lead}\"")),
        "not found by the old name"
    );
}

/// After an erasure, a delivery carrying the person's words from before it — Meta or Aircall
/// sending an event again, a failed delivery replayed — never brings them back, nor is it kept;
/// what they write afterwards is a new contact, as anyone's.
#[tokio::test]
async fn what_came_before_an_erasure_never_brings_the_person_back() {
    let app = providers_app().await;
    let lead = linked_lead(&app, "34611223344", "95310127004").await;
    deliver_hubspot(&app, &corpus("hubspot_23_contact_privacyDeletion")).await;
    let erased: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM leads WHERE id = $1 AND erased_at IS NOT NULL")
            .bind(lead)
            .fetch_one(&app.state.db.reader)
            .await
            .unwrap();
    assert_eq!(erased, 1);
    // Their one identifier (the phone), as a digest keyed outside the database: not the plain
    // hash anyone could test numbers against.
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM erased_identities").await,
        1
    );
    use sha2::Digest;
    for plain in ["+34611223344", "34611223344", "phone:+34611223344"] {
        let digest = hex::encode(sha2::Sha256::digest(plain.as_bytes()));
        let sql = format!("SELECT COUNT(*) FROM erased_identities WHERE digest = '{digest}'");
        assert_eq!(count(&app, &sql).await, 0);
    }

    // Meta sends the message of June 2025 again (a new delivery id, the old timestamp).
    let mut old = corpus("wa_01_text");
    old["entry"][0]["changes"][0]["value"]["messages"][0]["id"] =
        json!("wamid.again-after-erasure");
    assert_eq!(
        post_whatsapp(&app, &serde_json::to_vec(&old).unwrap())
            .await
            .status,
        StatusCode::OK
    );
    // Aircall sends a call from before the erasure again.
    let mut call = corpus("aircall_26_call_ended");
    call["token"] = json!("AIRCALL_TOKEN");
    call["data"]["id"] = json!(780836999);
    crate::webhooks::post_aircall(&app, &serde_json::to_vec(&call).unwrap()).await;
    drain(&app).await;
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM leads WHERE phone = '+34611223344'"
        )
        .await,
        0,
        "nobody made again from before the erasure"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM messages WHERE body LIKE '%cita para mañana%'"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM calls WHERE provider_call_id = '780836999'"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM webhook_events WHERE status <> 'processed'"
        )
        .await,
        0,
        "skipped, not failed"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM webhook_events WHERE instr(body, CAST('611' AS BLOB)) > 0"
        )
        .await,
        0,
        "deliveries that carried only their words are not kept either"
    );

    // They write again, a while after the erasure (within its second, a message counts as
    // from before it): a new contact.
    sqlx::query("UPDATE erased_identities SET erased_at = $1")
        .bind(app::domain::Timestamp::now().plus_seconds(-60))
        .execute(&app.state.db.writer)
        .await
        .unwrap();
    let mut new = corpus("wa_01_text");
    let value = &mut new["entry"][0]["changes"][0]["value"];
    value["messages"][0]["id"] = json!("wamid.written-after-erasure");
    value["messages"][0]["timestamp"] =
        json!((app::domain::Timestamp::now().unix() + 1).to_string());
    assert_eq!(
        post_whatsapp(&app, &serde_json::to_vec(&new).unwrap())
            .await
            .status,
        StatusCode::OK
    );
    drain(&app).await;
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM leads WHERE phone = '+34611223344'"
        )
        .await,
        1
    );
}

/// Every delivery of the corpus: refused unsigned or badly signed (nothing stored), stored once
/// however often it is redelivered, and processed without a failed item.
#[tokio::test]
async fn every_documented_delivery_is_refused_forged_stored_once_and_processed() {
    let app = providers_app().await;
    let dir = format!(
        "{}/tests/api/fixtures/providers",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert!(names.len() >= 30, "{names:?}");
    let now_ms = chrono::Utc::now().timestamp_millis();
    for name in &names {
        let mut delivery: Value =
            serde_json::from_slice(&std::fs::read(format!("{dir}/{name}")).unwrap()).unwrap();
        let stored_before = count(&app, "SELECT COUNT(*) FROM webhook_events").await;
        let (forged, first, again) = if name.starts_with("wa_") {
            let body = serde_json::to_vec(&delivery).unwrap();
            let forged = app
                .send(
                    axum::http::Request::post("/webhooks/whatsapp")
                        .header("content-type", "application/json")
                        .header(
                            "x-hub-signature-256",
                            "sha256=".to_string() + &"0".repeat(64),
                        )
                        .body(axum::body::Body::from(body.clone()))
                        .unwrap(),
                )
                .await;
            (
                forged,
                post_whatsapp(&app, &body).await,
                post_whatsapp(&app, &body).await,
            )
        } else if name.starts_with("hubspot_") {
            let body = serde_json::to_vec(&delivery).unwrap();
            let forged = post_hubspot(&app, &body, now_ms - 10 * 60 * 1000).await;
            (
                forged,
                post_hubspot(&app, &body, now_ms).await,
                post_hubspot(&app, &body, now_ms).await,
            )
        } else {
            let forged =
                crate::webhooks::post_aircall(&app, &serde_json::to_vec(&delivery).unwrap()).await;
            delivery["token"] = json!("AIRCALL_TOKEN");
            let body = serde_json::to_vec(&delivery).unwrap();
            (
                forged,
                crate::webhooks::post_aircall(&app, &body).await,
                crate::webhooks::post_aircall(&app, &body).await,
            )
        };
        assert_eq!(forged.status, StatusCode::UNAUTHORIZED, "{name}: forged");
        assert_eq!(first.json()["status"], "stored", "{name}");
        assert_eq!(again.json()["status"], "duplicate", "{name}: redelivered");
        assert_eq!(
            count(&app, "SELECT COUNT(*) FROM webhook_events").await,
            stored_before + 1,
            "{name}: stored once"
        );
        drain(&app).await;
    }
    let failed: Vec<(String, String)> = sqlx::query_as(
        "SELECT provider, last_error FROM webhook_events WHERE status <> 'processed'",
    )
    .fetch_all(&app.state.db.reader)
    .await
    .unwrap();
    assert!(failed.is_empty(), "{failed:?}");
}
