//! The Leads workspace through its server functions and pages, on the real router and SQLite.

use crate::helpers::{TestApp, TestResponse};
use app::backend::store::messages;
use app::domain::{Direction, MessageStatus, Timestamp};
use axum::http::StatusCode;
use chrono::Utc;
use serde_json::Value;

/// A `datetime-local` value `hours` from now in the clinic's zone (Europe/Madrid by default).
fn local(hours: i64) -> String {
    (Utc::now() + chrono::Duration::hours(hours))
        .with_timezone(&chrono_tz::Europe::Madrid)
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

async fn create_lead(app: &TestApp, cookie: &str, name: &str, phone: &str) -> i64 {
    let response = app
        .post_form(
            "/sfn/save_lead",
            &[
                ("name", name),
                ("phone", phone),
                ("email", ""),
                ("source", "meta"),
            ],
            Some(cookie),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let id = response.json().as_i64().expect("the new lead's id");
    assert_eq!(
        response.header("location"),
        Some(format!("/leads/{id}").as_str())
    );
    id
}

async fn lead(app: &TestApp, cookie: &str, id: i64) -> Value {
    let response = app
        .post_form("/sfn/lead", &[("id", &id.to_string())], Some(cookie))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    response.json()
}

async fn call(app: &TestApp, cookie: &str, path: &str, form: &[(&str, &str)]) -> TestResponse {
    app.post_form(path, form, Some(cookie)).await
}

fn field_of(response: &TestResponse) -> String {
    assert_eq!(
        response.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        response.body
    );
    response.json()["field"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn every_leads_server_function_refuses_anonymous_calls() {
    let app = TestApp::spawn().await;
    let cookie = app.signed_in("ana@clinic.test").await;
    let id = create_lead(&app, &cookie, "Ana", "612345678")
        .await
        .to_string();
    for (path, form) in [
        ("/sfn/leads", vec![]),
        ("/sfn/lead", vec![("id", id.as_str())]),
        (
            "/sfn/save_lead",
            vec![("name", "X"), ("phone", "611111111"), ("source", "meta")],
        ),
        (
            "/sfn/schedule_appointment",
            vec![
                ("lead_id", id.as_str()),
                ("scheduled_at", "2030-01-01T10:00"),
            ],
        ),
        (
            "/sfn/reschedule_appointment",
            vec![
                ("appointment_id", "1"),
                ("scheduled_at", "2030-01-01T10:00"),
            ],
        ),
        (
            "/sfn/appointment_status",
            vec![("appointment_id", "1"), ("status", "cancelled")],
        ),
        (
            "/sfn/sell_treatment",
            vec![
                ("lead_id", id.as_str()),
                ("name", "L"),
                ("sessions_count", "1"),
                ("price", "1"),
            ],
        ),
        (
            "/sfn/send_whatsapp",
            vec![("lead_id", id.as_str()), ("template", "t")],
        ),
        (
            "/sfn/mark_lead_lost",
            vec![("lead_id", id.as_str()), ("reason", "r")],
        ),
        ("/sfn/reopen_lead", vec![("lead_id", id.as_str())]),
    ] {
        let response = app.post_form(path, &form, None).await;
        assert_eq!(
            response.status,
            StatusCode::UNAUTHORIZED,
            "{path}: {}",
            response.body
        );
        assert_eq!(response.json()["error"], "unauthorized", "{path}");
    }
    let leads: i64 = sqlx::query_scalar("SELECT count(*) FROM leads")
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(leads, 1, "nothing was created anonymously");
}

#[tokio::test]
async fn phones_are_normalised_and_a_taken_phone_names_its_lead() {
    let app = TestApp::spawn().await;
    let cookie = app.signed_in("ana@clinic.test").await;
    let ana = create_lead(&app, &cookie, "Ana López", "612 34 56 78").await;
    assert_eq!(lead(&app, &cookie, ana).await["phone"], "+34612345678");

    // The same number typed another way is the same phone.
    let response = call(
        &app,
        &cookie,
        "/sfn/save_lead",
        &[
            ("name", "Otra"),
            ("phone", "+34 612-345-678"),
            ("source", "google"),
        ],
    )
    .await;
    assert_eq!(response.status, StatusCode::CONFLICT, "{}", response.body);
    let body = response.json();
    assert_eq!(body["error"], "phone_taken");
    assert_eq!(body["lead_id"], ana);
    assert_eq!(body["name"], "Ana López");

    // Editing another lead onto Ana's phone is refused too; keeping one's own phone is fine.
    let bea = create_lead(&app, &cookie, "Bea", "0044 20 7946 0958").await;
    assert_eq!(lead(&app, &cookie, bea).await["phone"], "+442079460958");
    let bea_id = bea.to_string();
    let steal = [
        ("id", bea_id.as_str()),
        ("name", "Bea"),
        ("phone", "612345678"),
        ("source", "meta"),
    ];
    assert_eq!(
        call(&app, &cookie, "/sfn/save_lead", &steal).await.status,
        StatusCode::CONFLICT
    );
    let keep = [
        ("id", bea_id.as_str()),
        ("name", "Bea Martín"),
        ("phone", "+44 20 7946 0958"),
        ("email", "Bea@Example.com"),
        ("source", "organic"),
    ];
    assert_eq!(
        call(&app, &cookie, "/sfn/save_lead", &keep).await.status,
        StatusCode::OK
    );
    let saved = lead(&app, &cookie, bea).await;
    assert_eq!(saved["name"], "Bea Martín");
    assert_eq!(saved["email"], "bea@example.com");
    assert_eq!(saved["source"], "organic");

    // Field errors name their field; nothing is written.
    for (form, field) in [
        (
            vec![("name", " "), ("phone", "611111111"), ("source", "meta")],
            "name",
        ),
        (
            vec![("name", "X"), ("phone", "12"), ("source", "meta")],
            "phone",
        ),
        (
            vec![
                ("name", "X"),
                ("phone", "611111111"),
                ("email", "x@"),
                ("source", "meta"),
            ],
            "email",
        ),
        (
            vec![("name", "X"), ("phone", "611111111"), ("source", "tv")],
            "source",
        ),
    ] {
        assert_eq!(
            field_of(&call(&app, &cookie, "/sfn/save_lead", &form).await),
            field
        );
    }
    let leads: i64 = sqlx::query_scalar("SELECT count(*) FROM leads")
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(leads, 2);
}

#[tokio::test]
async fn the_journey_from_valoracion_to_a_completed_treatment() {
    let app = TestApp::spawn().await;
    let cookie = app.signed_in("ana@clinic.test").await;
    let id = create_lead(&app, &cookie, "Carla", "622000111").await;
    let lead_id = id.to_string();
    assert_eq!(lead(&app, &cookie, id).await["stage"], "new");

    // A valoración an hour ago, attended.
    let when = local(-1);
    let schedule = [
        ("lead_id", lead_id.as_str()),
        ("scheduled_at", when.as_str()),
        ("treatment_id", ""),
    ];
    assert_eq!(
        call(&app, &cookie, "/sfn/schedule_appointment", &schedule)
            .await
            .status,
        StatusCode::OK
    );
    let detail = lead(&app, &cookie, id).await;
    assert_eq!(detail["stage"], "booked");
    let valoracion = detail["appointments"][0]["id"]
        .as_i64()
        .unwrap()
        .to_string();
    assert_eq!(detail["appointments"][0]["kind"], "Valoración");
    let attend = |appointment: &str| {
        vec![
            ("appointment_id", appointment.to_string()),
            ("status", "attended".to_string()),
        ]
    };
    let form = attend(&valoracion);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        call(&app, &cookie, "/sfn/appointment_status", &form)
            .await
            .status,
        StatusCode::OK
    );

    // Sold: six sessions.
    let sell = [
        ("lead_id", lead_id.as_str()),
        ("name", "Láser"),
        ("sessions_count", "6"),
        ("price", "1.200,50"),
    ];
    assert_eq!(
        call(&app, &cookie, "/sfn/sell_treatment", &sell)
            .await
            .status,
        StatusCode::OK
    );
    let detail = lead(&app, &cookie, id).await;
    assert_eq!(detail["stage"], "in_treatment");
    let treatment = &detail["treatments"][0];
    assert_eq!(treatment["price"], "1200,50 €");
    let treatment_id = treatment["id"].as_i64().unwrap().to_string();

    // Seven sessions booked in the past hours; one is a no-show, which does not count.
    for hours in (2..=8).rev() {
        let when = local(-hours);
        let form = [
            ("lead_id", lead_id.as_str()),
            ("scheduled_at", when.as_str()),
            ("treatment_id", treatment_id.as_str()),
        ];
        assert_eq!(
            call(&app, &cookie, "/sfn/schedule_appointment", &form)
                .await
                .status,
            StatusCode::OK
        );
    }
    let detail = lead(&app, &cookie, id).await;
    let mut sessions: Vec<String> = detail["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "Sesión de Láser")
        .map(|a| a["id"].as_i64().unwrap().to_string())
        .collect();
    assert_eq!(sessions.len(), 7);
    sessions.reverse(); // oldest first
    let no_show = [
        ("appointment_id", sessions[0].as_str()),
        ("status", "no_show"),
    ];
    assert_eq!(
        call(&app, &cookie, "/sfn/appointment_status", &no_show)
            .await
            .status,
        StatusCode::OK
    );
    for session in &sessions[1..5] {
        let form = [("appointment_id", session.as_str()), ("status", "attended")];
        assert_eq!(
            call(&app, &cookie, "/sfn/appointment_status", &form)
                .await
                .status,
            StatusCode::OK
        );
    }
    let detail = lead(&app, &cookie, id).await;
    assert_eq!(
        detail["treatments"][0]["attended"], 4,
        "the no-show does not count"
    );
    assert_eq!(detail["treatments"][0]["completed"], false);
    assert_eq!(detail["stage"], "in_treatment");

    for session in &sessions[5..7] {
        let form = [("appointment_id", session.as_str()), ("status", "attended")];
        assert_eq!(
            call(&app, &cookie, "/sfn/appointment_status", &form)
                .await
                .status,
            StatusCode::OK
        );
    }
    let detail = lead(&app, &cookie, id).await;
    assert_eq!(detail["treatments"][0]["attended"], 6);
    assert_eq!(detail["treatments"][0]["completed"], true);
    assert_eq!(detail["stage"], "completed");

    // A completed treatment takes no more sessions.
    let when = local(2);
    let more = [
        ("lead_id", lead_id.as_str()),
        ("scheduled_at", when.as_str()),
        ("treatment_id", treatment_id.as_str()),
    ];
    assert_eq!(
        field_of(&call(&app, &cookie, "/sfn/schedule_appointment", &more).await),
        "treatment_id"
    );

    // Informes counts the new lead and the completed treatment.
    let report = app.get("/api/reports/kpis", Some(&cookie)).await.json();
    assert_eq!(report["totals"]["leads_24h"], 1);
    assert_eq!(report["totals"]["sessions_completed_7d"], 1);
    assert_eq!(report["counts"]["attended_7d"], 7);
    assert_eq!(report["counts"]["no_show_7d"], 1);

    // Each change is in the timeline with who made it.
    let timeline = detail["timeline"].as_array().unwrap();
    let by_staff: Vec<&Value> = timeline.iter().filter(|e| e["kind"] == "staff").collect();
    assert!(
        by_staff.iter().all(|e| e["by"] == "Ana Pérez"),
        "{by_staff:?}"
    );
    let titles: Vec<&str> = by_staff
        .iter()
        .map(|e| e["title"].as_str().unwrap())
        .collect();
    for title in [
        "Lead creado",
        "Cita programada",
        "Resultado de la cita",
        "Tratamiento vendido",
    ] {
        assert!(titles.contains(&title), "{title} in {titles:?}");
    }
    assert!(timeline
        .iter()
        .any(|e| e["kind"] == "treatment" && e["detail"] == "6/6 sesiones asistidas"));
}

#[tokio::test]
async fn appointment_outcomes_follow_the_rules_and_a_refusal_changes_nothing() {
    let app = TestApp::spawn().await;
    let cookie = app.signed_in("ana@clinic.test").await;
    let id = create_lead(&app, &cookie, "Dora", "633000111").await;
    let lead_id = id.to_string();
    for hours in [-3, 48] {
        let when = local(hours);
        let form = [
            ("lead_id", lead_id.as_str()),
            ("scheduled_at", when.as_str()),
        ];
        assert_eq!(
            call(&app, &cookie, "/sfn/schedule_appointment", &form)
                .await
                .status,
            StatusCode::OK
        );
    }
    let detail = lead(&app, &cookie, id).await;
    let future = detail["appointments"][0]["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let past = detail["appointments"][1]["id"]
        .as_i64()
        .unwrap()
        .to_string();
    assert_eq!(detail["appointments"][0]["due"], false);
    assert_eq!(detail["appointments"][1]["due"], true);

    let status = |appointment: &str, status: &str| {
        [
            ("appointment_id", appointment.to_string()),
            ("status", status.to_string()),
        ]
    };
    let send = |form: [(&'static str, String); 2]| {
        let app = &app;
        let cookie = cookie.clone();
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.post_form("/sfn/appointment_status", &form, Some(&cookie))
                .await
        }
    };
    // Not yet happened: no attended / no-show; cancelling is fine.
    assert_eq!(field_of(&send(status(&future, "attended")).await), "status");
    assert_eq!(field_of(&send(status(&future, "no_show")).await), "status");
    // Moving it is fine while scheduled.
    let later = local(72);
    let reschedule = [
        ("appointment_id", future.as_str()),
        ("scheduled_at", later.as_str()),
    ];
    assert_eq!(
        call(&app, &cookie, "/sfn/reschedule_appointment", &reschedule)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        lead(&app, &cookie, id).await["appointments"][0]["when_input"],
        later
    );
    assert_eq!(
        send(status(&future, "cancelled")).await.status,
        StatusCode::OK
    );
    // A recorded outcome is final, and so is its date.
    assert_eq!(
        field_of(&send(status(&future, "scheduled")).await),
        "status"
    );
    assert_eq!(
        field_of(&call(&app, &cookie, "/sfn/reschedule_appointment", &reschedule).await),
        "scheduled_at"
    );

    assert_eq!(send(status(&past, "no_show")).await.status, StatusCode::OK);
    let refused = send(status(&past, "attended")).await;
    assert_eq!(field_of(&refused), "status");
    assert_eq!(
        refused.json()["message"],
        "Esta cita ya está marcada como no presentada; programa una nueva si hace falta."
    );
    assert_eq!(field_of(&send(status(&past, "archived")).await), "status");
    let statuses: Vec<String> = sqlx::query_scalar(
        "SELECT status FROM appointments WHERE lead_id = $1 ORDER BY scheduled_at",
    )
    .bind(id)
    .fetch_all(&app.state.db.reader)
    .await
    .unwrap();
    assert_eq!(statuses, ["no_show", "cancelled"]);
    let unknown = send(status("999999", "cancelled")).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn whatsapp_free_text_only_within_24_hours_of_the_leads_last_message() {
    let app = TestApp::spawn().await;
    let cookie = app.signed_in("ana@clinic.test").await;
    let quiet = create_lead(&app, &cookie, "Elena", "644000111").await;
    let recent = create_lead(&app, &cookie, "Fran", "644000222").await;
    let stale = create_lead(&app, &cookie, "Gema", "644000333").await;
    let now = Timestamp::now();
    for (lead_id, wamid, ago) in [
        (recent, "wamid.recent", 3600),
        (stale, "wamid.stale", 25 * 3600),
    ] {
        messages::insert(
            &app.state.db.writer,
            messages::NewMessage {
                lead_id,
                direction: Direction::Inbound,
                wamid: Some(wamid),
                kind: "text",
                body: Some("Hola"),
                template_name: None,
                status: MessageStatus::Received,
                error_code: None,
                error_reason: None,
                content: None,
                created_at: now.plus_seconds(-ago),
            },
        )
        .await
        .unwrap();
    }
    for (lead_id, open) in [(quiet, false), (recent, true), (stale, false)] {
        assert_eq!(
            lead(&app, &cookie, lead_id).await["whatsapp_window_open"],
            open,
            "{lead_id}"
        );
        let id = lead_id.to_string();
        let text = call(
            &app,
            &cookie,
            "/sfn/send_whatsapp",
            &[("lead_id", &id), ("body", "¿Te va bien el martes?")],
        )
        .await;
        if open {
            assert_eq!(text.status, StatusCode::OK, "{}", text.body);
        } else {
            assert_eq!(field_of(&text), "body");
        }
        let template = call(
            &app,
            &cookie,
            "/sfn/send_whatsapp",
            &[("lead_id", &id), ("template", "recordatorio_cita")],
        )
        .await;
        assert_eq!(template.status, StatusCode::OK, "{}", template.body);
    }
    let queued: Vec<(i64, String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT lead_id, kind, body, template_name FROM messages
         WHERE direction = 'outbound' AND status = 'queued' AND user_id IS NOT NULL ORDER BY id",
    )
    .fetch_all(&app.state.db.reader)
    .await
    .unwrap();
    assert_eq!(
        queued,
        [
            (
                quiet,
                "template".into(),
                None,
                Some("recordatorio_cita".into())
            ),
            (
                recent,
                "text".into(),
                Some("¿Te va bien el martes?".into()),
                None
            ),
            (
                recent,
                "template".into(),
                None,
                Some("recordatorio_cita".into())
            ),
            (
                stale,
                "template".into(),
                None,
                Some("recordatorio_cita".into())
            ),
        ]
    );
    let timeline = lead(&app, &cookie, recent).await["timeline"].clone();
    assert!(timeline
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["title"] == "WhatsApp enviado · en cola" && e["by"] == "Ana Pérez"));
}

#[tokio::test]
async fn the_list_searches_filters_counts_and_pages() {
    let app = TestApp::spawn().await;
    let cookie = app.signed_in("ana@clinic.test").await;
    let maria = create_lead(&app, &cookie, "María Gómez", "655000001").await;
    let form = [
        ("id", maria.to_string()),
        ("name", "María Gómez".into()),
        ("phone", "655000001".into()),
        ("email", "maria.gomez@correo.es".into()),
        ("source", "google".into()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        call(&app, &cookie, "/sfn/save_lead", &form).await.status,
        StatusCode::OK
    );
    for i in 0..30 {
        create_lead(
            &app,
            &cookie,
            &format!("Paciente {i}"),
            &format!("6660000{i:02}"),
        )
        .await;
    }
    let lost = create_lead(&app, &cookie, "Luis Pérez", "677000001").await;
    let lost_id = lost.to_string();
    let mark = [
        ("lead_id", lost_id.as_str()),
        ("reason", "Eligió otra clínica"),
    ];
    assert_eq!(
        call(&app, &cookie, "/sfn/mark_lead_lost", &mark)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        field_of(&call(&app, &cookie, "/sfn/mark_lead_lost", &mark).await),
        "reason"
    );

    let list = |form: Vec<(&'static str, &'static str)>| {
        let app = &app;
        let cookie = cookie.clone();
        async move {
            let response = app.post_form("/sfn/leads", &form, Some(&cookie)).await;
            assert_eq!(response.status, StatusCode::OK, "{}", response.body);
            response.json()
        }
    };
    let names = |list: &Value| -> Vec<String> {
        list["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    };

    // Newest first, 25 a page.
    let first = list(vec![]).await;
    assert_eq!(first["total"], 32);
    assert_eq!(first["pages"], 2);
    assert_eq!(names(&first)[0], "Luis Pérez");
    assert_eq!(names(&first).len(), 25);
    let second = list(vec![("page", "2")]).await;
    assert_eq!(names(&second).len(), 7);
    assert_eq!(names(&second).last().unwrap(), "María Gómez");

    // Search by a name without its accent, a phone as dictated, an e-mail.
    for q in [
        "maria",
        "Gómez",
        "655 00 00 01",
        "+34655000001",
        "maria.gomez@correo",
        "mar gom",
    ] {
        let found = list(vec![("q", q)]).await;
        assert_eq!(names(&found), ["María Gómez"], "{q}");
    }
    assert_eq!(list(vec![("q", "zzz")]).await["total"], 0);
    assert_eq!(
        list(vec![("q", "\"NEAR(")]).await["total"],
        0,
        "FTS syntax is text"
    );

    // Source and stage filters, with every stage's count.
    assert_eq!(
        names(&list(vec![("source", "google")]).await),
        ["María Gómez"]
    );
    let lost_only = list(vec![("stage", "lost")]).await;
    assert_eq!(names(&lost_only), ["Luis Pérez"]);
    let counts: Vec<(String, i64)> =
        serde_json::from_value(lost_only["stage_counts"].clone()).unwrap();
    assert_eq!(
        counts,
        [
            ("new".into(), 31),
            ("booked".into(), 0),
            ("in_treatment".into(), 0),
            ("completed".into(), 0),
            ("lost".into(), 1)
        ]
        .map(|(s, n): (String, i64)| (s, n))
    );
    assert_eq!(
        list(vec![("stage", "new")]).await["total"],
        31,
        "lost leads are listed apart"
    );
    assert_eq!(
        field_of(
            &app.post_form("/sfn/leads", &[("stage", "perdido")], Some(&cookie))
                .await
        ),
        "stage"
    );

    // Reopened, the lead is back in its stage.
    let reopen = [("lead_id", lost_id.as_str())];
    assert_eq!(
        call(&app, &cookie, "/sfn/reopen_lead", &reopen)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(list(vec![("stage", "lost")]).await["total"], 0);
    assert_eq!(list(vec![("stage", "new")]).await["total"], 32);

    // The kept counts equal the leads themselves after inserts, edits, stage moves and deletes.
    let db = &app.state.db.writer;
    sqlx::query("UPDATE leads SET stage = 'booked', source = 'organic' WHERE id = $1")
        .bind(maria)
        .execute(db)
        .await
        .unwrap();
    sqlx::query("DELETE FROM leads WHERE id = $1")
        .bind(lost)
        .execute(db)
        .await
        .unwrap();
    let kept: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT source, stage, lost, n FROM lead_counts WHERE n > 0 ORDER BY 1, 2, 3",
    )
    .fetch_all(db)
    .await
    .unwrap();
    let actual: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT source, stage, lost, count(*) FROM leads GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    )
    .fetch_all(db)
    .await
    .unwrap();
    assert_eq!(kept, actual);
    assert_eq!(
        list(vec![("stage", "booked"), ("source", "organic")]).await["total"],
        1
    );

    // A search matching more than 10,000 leads is listed but not counted.
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10001)
         INSERT INTO leads (name, phone, source, created_at, updated_at)
         SELECT 'Lote ' || i, '+3460' || (1000000 + i), 'meta', '2025-01-07T10:00:00Z', '2025-01-07T10:00:00Z' FROM n",
    )
    .execute(db)
    .await
    .unwrap();
    let many = list(vec![("q", "lote")]).await;
    assert_eq!(many["total"], Value::Null);
    assert_eq!(many["stage_counts"], Value::Null);
    assert_eq!(many["has_next"], true);
    assert_eq!(names(&many)[0], "Lote 10001", "newest first");
    assert_eq!(list(vec![("q", "lote 9999")]).await["total"], 1);
}

#[tokio::test]
async fn the_pages_render_on_the_server_and_plain_forms_come_back_with_their_errors() {
    let app = TestApp::spawn().await;
    let cookie = app.signed_in("ana@clinic.test").await;
    let id = create_lead(&app, &cookie, "Hugo Sanz", "688000111").await;

    let list = app.get("/leads?q=hugo", Some(&cookie)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.body.contains(&format!("href=\"/leads/{id}\"")),
        "{}",
        list.body
    );
    assert!(list.body.contains("1 lead"));

    let page_path = format!("/leads/{id}");
    let page = app.get(&page_path, Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    for text in [
        "Hugo Sanz",
        "+34688000111",
        "Lead creado",
        "Ana Pérez",
        "Programar cita",
        "Vender tratamiento",
        "solo permite enviar una plantilla",
    ] {
        assert!(page.body.contains(text), "{text}");
    }

    // A plain HTML form (no wasm): refused → back to the page with the error shown by the form.
    let lead_id = id.to_string();
    let referer = format!("http://127.0.0.1:3000{page_path}");
    let refused = app
        .post_form_with(
            "/sfn/sell_treatment",
            &[
                ("lead_id", &lead_id),
                ("name", "Láser"),
                ("sessions_count", "0"),
                ("price", "100"),
            ],
            Some(&cookie),
            &[("accept", "text/html"), ("referer", &referer)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FOUND);
    let back = refused.header("location").unwrap().to_string();
    assert!(back.starts_with(&referer), "{back}");
    let page = app
        .get(
            back.trim_start_matches("http://127.0.0.1:3000"),
            Some(&cookie),
        )
        .await;
    assert!(
        page.body.contains("El número de sesiones va de 1 a 100."),
        "the error is shown"
    );

    let accepted = app
        .post_form_with(
            "/sfn/sell_treatment",
            &[
                ("lead_id", &lead_id),
                ("name", "Láser"),
                ("sessions_count", "3"),
                ("price", "100"),
            ],
            Some(&cookie),
            &[("accept", "text/html"), ("referer", &back)],
        )
        .await;
    assert_eq!(accepted.status, StatusCode::FOUND);
    // The framework strips the old error from the URL (leaving a bare "?").
    let location = accepted.header("location").unwrap();
    assert_eq!(
        location.trim_end_matches('?'),
        referer,
        "the old error leaves the URL"
    );
    let page = app.get(&page_path, Some(&cookie)).await;
    assert!(page.body.contains("0/3 sesiones"));
    assert!(!page.body.contains("El número de sesiones va de 1 a 100."));

    let missing = app.get("/leads/999999", Some(&cookie)).await;
    assert!(
        missing.body.contains("No se ha encontrado"),
        "{}",
        missing.body
    );
    assert_eq!(
        app.get("/leads/nuevo", Some(&cookie)).await.status,
        StatusCode::OK
    );
    let edit = app.get(&format!("/leads/{id}/editar"), Some(&cookie)).await;
    assert!(edit.body.contains("value=\"+34688000111\""));
}
