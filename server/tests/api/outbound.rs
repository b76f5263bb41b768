//! WhatsApp messages written on a lead's page, sent by the `whatsapp` queue to a fake Meta.

use crate::fake_providers::FakeProvider;
use crate::helpers::TestApp;
use app::backend::outbound::OUTCOME_UNKNOWN;
use app::backend::store::messages;
use app::backend::worker::{self, Outcome};
use app::domain::{Direction, MessageStatus, Queue, Timestamp};
use axum::http::StatusCode;
use serde_json::{json, Value};

const PHONE_NUMBER_ID: &str = "106540352242922";
const TOKEN: &str = "meta-test-token";

struct Setup {
    app: TestApp,
    meta: FakeProvider,
    cookie: String,
    lead_id: i64,
}

/// A lead who wrote an hour ago (the 24-hour window is open), and staff signed in.
async fn setup() -> Setup {
    let meta = FakeProvider::start().await;
    let base = meta.base.clone();
    setup_at(meta, &base).await
}

/// [`setup`] with Meta's API at `base`.
async fn setup_at(meta: FakeProvider, base: &str) -> Setup {
    let app = TestApp::spawn_with(&[
        ("WHATSAPP_ACCESS_TOKEN", TOKEN),
        ("WHATSAPP_PHONE_NUMBER_ID", PHONE_NUMBER_ID),
        ("WHATSAPP_API_BASE", base),
    ])
    .await;
    let cookie = app.signed_in("ana@clinic.test").await;
    let response = app
        .post_form(
            "/sfn/save_lead",
            &[
                ("name", "Irene"),
                ("phone", "699 11 22 33"),
                ("source", "meta"),
            ],
            Some(&cookie),
        )
        .await;
    let lead_id = response.json().as_i64().unwrap();
    messages::insert(
        &app.state.db.writer,
        messages::NewMessage {
            lead_id,
            direction: Direction::Inbound,
            wamid: Some("wamid.in.1"),
            kind: "text",
            body: Some("Hola"),
            template_name: None,
            status: MessageStatus::Received,
            error_code: None,
            error_reason: None,
            content: None,
            created_at: Timestamp::now().plus_seconds(-3600),
        },
    )
    .await
    .unwrap();
    Setup {
        app,
        meta,
        cookie,
        lead_id,
    }
}

impl Setup {
    async fn write(&self, form: &[(&str, &str)]) -> i64 {
        let lead_id = self.lead_id.to_string();
        let mut form = form.to_vec();
        form.push(("lead_id", &lead_id));
        let response = self
            .app
            .post_form("/sfn/send_whatsapp", &form, Some(&self.cookie))
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        sqlx::query_scalar("SELECT max(id) FROM messages WHERE direction = 'outbound'")
            .fetch_one(&self.app.state.db.reader)
            .await
            .unwrap()
    }

    async fn work(&self) -> Outcome {
        worker::run_one(&self.app.state.jobs(), &[Queue::Whatsapp], "test")
            .await
            .unwrap()
    }

    async fn message(&self, id: i64) -> (String, Option<String>, Option<String>, Option<String>) {
        sqlx::query_as(
            "SELECT status, wamid, error_reason, send_started_at FROM messages WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&self.app.state.db.reader)
        .await
        .unwrap()
    }

    async fn job(&self) -> (String, i64, String, Option<String>) {
        sqlx::query_as(
            "SELECT status, attempts, run_at, last_error FROM jobs WHERE queue = 'whatsapp' ORDER BY id DESC LIMIT 1",
        )
        .fetch_one(&self.app.state.db.reader)
        .await
        .unwrap()
    }

    /// As if the job's next attempt were due now.
    async fn make_due(&self) {
        sqlx::query("UPDATE jobs SET run_at = $1 WHERE queue = 'whatsapp'")
            .bind(Timestamp::now())
            .execute(&self.app.state.db.writer)
            .await
            .unwrap();
    }
}

fn meta_error(status: u16, code: i64, details: &str) -> (u16, Vec<(&'static str, String)>, Value) {
    (
        status,
        vec![],
        json!({ "error": { "message": "(#x)", "type": "OAuthException", "code": code, "error_data": { "details": details } } }),
    )
}

#[tokio::test]
async fn a_message_written_on_the_lead_page_is_sent_once_by_the_queue() {
    let s = setup().await;
    let text = s
        .write(&[("body", "¿Te va bien el martes a las 10?")])
        .await;
    // The template says the date and time of the lead's next appointment.
    s.book(30).await;
    let template = s.write(&[("template", "recordatorio_cita")]).await;
    assert!(matches!(s.work().await, Outcome::Done { .. }));
    assert!(matches!(s.work().await, Outcome::Done { .. }));
    assert!(matches!(s.work().await, Outcome::Idle));

    let received = s.meta.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].path, format!("/{PHONE_NUMBER_ID}/messages"));
    assert_eq!(
        received[0].authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(
        received[0].body,
        json!({ "messaging_product": "whatsapp", "recipient_type": "individual", "to": "+34699112233",
                "type": "text", "text": { "preview_url": false, "body": "¿Te va bien el martes a las 10?" } })
    );
    assert_eq!(received[1].body["type"], "template");
    assert_eq!(
        received[1].body["template"]["language"],
        json!({ "code": "es_ES" })
    );
    let parameters = received[1].body["template"]["components"][0]["parameters"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(parameters, 2, "fecha and hora");

    // Accepted by Meta: its id is stored, so the status webhooks find the message.
    assert_eq!(s.message(text).await.1.as_deref(), Some("wamid.fake.1"));
    assert_eq!(s.message(template).await.1.as_deref(), Some("wamid.fake.2"));
}

#[tokio::test]
async fn a_template_that_needs_an_appointment_is_not_sent_without_one() {
    let s = setup().await;
    let template = s.write(&[("template", "recordatorio_cita")]).await;
    assert!(matches!(s.work().await, Outcome::Failed { .. }));
    assert!(
        s.meta.received().is_empty(),
        "Meta would refuse it (132000)"
    );
    let (status, _, reason, _) = s.message(template).await;
    assert_eq!(status, "failed");
    assert!(reason
        .unwrap()
        .contains("el lead no tiene ninguna programada"));
}

#[tokio::test]
async fn rate_limits_wait_for_retry_after_and_burn_no_message() {
    let s = setup().await;
    let id = s.write(&[("body", "Hola")]).await;
    s.meta.script([(
        429,
        vec![("retry-after", "120".to_string())],
        json!({ "error": { "code": 130429, "message": "throughput" } }),
    )]);
    let before = Timestamp::now();
    assert!(matches!(s.work().await, Outcome::Retrying { .. }));
    let (status, attempts, run_at, error) = s.job().await;
    assert_eq!((status.as_str(), attempts), ("pending", 1));
    let wait = Timestamp::parse_rfc3339(&run_at).unwrap().unix() - before.unix();
    assert!((119..=122).contains(&wait), "waits Retry-After: {wait} s");
    assert!(error.unwrap().contains("130429"));
    assert_eq!(
        s.message(id).await,
        ("queued".into(), None, None, None),
        "nothing left, still queued"
    );
    assert!(
        matches!(s.work().await, Outcome::Idle),
        "not before its time"
    );

    // A 5xx is retried with backoff too; then Meta takes it, once.
    s.make_due().await;
    s.meta.script([(503, vec![], json!({}))]);
    assert!(matches!(s.work().await, Outcome::Retrying { .. }));
    s.make_due().await;
    assert!(matches!(s.work().await, Outcome::Done { .. }));
    assert_eq!(s.meta.received().len(), 3);
    assert_eq!(s.message(id).await.1.as_deref(), Some("wamid.fake.3"));
}

#[tokio::test]
async fn an_account_wide_refusal_holds_the_queue_and_each_message_goes_once_after_the_fix() {
    let s = setup().await;
    let first = s.write(&[("body", "Hola")]).await;
    let second = s.write(&[("body", "¿Sigue en pie la cita?")]).await;
    // Meta's answer to an expired token (Graph API error 190, HTTP 401).
    s.meta.script([meta_error(
        401,
        190,
        "Error validating access token: Session has expired",
    )]);
    let outcome = s.work().await;
    assert!(matches!(outcome, Outcome::Held { .. }), "{outcome:?}");
    // Held: nothing else is tried, no message is failed, no attempt spent.
    assert_eq!(s.work().await, Outcome::Idle);
    assert_eq!(s.meta.received().len(), 1);
    for id in [first, second] {
        assert_eq!(s.message(id).await.0, "queued");
    }
    assert_eq!(
        count_attempts(&s.app).await,
        vec![0, 0],
        "attempts given back"
    );
    // What /healthz and Integraciones say of the queue.
    let flags = app::backend::flags::Flags::load(&s.app.state.db)
        .await
        .unwrap();
    let held =
        app::backend::queue::hold_reason(Queue::Whatsapp, &flags, &[], Timestamp::now()).unwrap();
    assert!(
        held.contains("190") && held.contains("mini-crm queue resume whatsapp"),
        "{held}"
    );
    let breaker: String =
        sqlx::query_scalar("SELECT state FROM provider_breakers WHERE provider = 'whatsapp'")
            .fetch_optional(&s.app.state.db.reader)
            .await
            .unwrap()
            .unwrap_or_else(|| "closed".into());
    assert_eq!(
        breaker, "closed",
        "a refusal is not an outage, nor proof of health"
    );

    // The operator renews the token and resumes: each message is sent exactly once.
    let resumed = std::process::Command::new(env!("CARGO_BIN_EXE_mini-crm"))
        .env_clear()
        .env("DATABASE_URL", &s.app.state.config.database_url)
        .env("RUST_LOG", "warn")
        .args(["queue", "resume", "whatsapp"])
        .output()
        .unwrap();
    assert!(resumed.status.success());
    assert!(matches!(s.work().await, Outcome::Done { .. }));
    assert!(matches!(s.work().await, Outcome::Done { .. }));
    assert_eq!(s.work().await, Outcome::Idle);
    assert_eq!(
        s.meta.received().len(),
        3,
        "the refused one, then each message once"
    );
    for id in [first, second] {
        assert!(s.message(id).await.1.is_some(), "sent");
    }
}

async fn count_attempts(app: &TestApp) -> Vec<i64> {
    sqlx::query_scalar("SELECT attempts FROM jobs WHERE queue = 'whatsapp' ORDER BY id")
        .fetch_all(&app.state.db.reader)
        .await
        .unwrap()
}

#[tokio::test]
async fn refusals_fail_the_message_with_the_reason_shown_on_the_lead() {
    let s = setup().await;
    let outside_window = s.write(&[("body", "Hola")]).await;
    let undeliverable = s.write(&[("body", "Hola otra vez")]).await;
    s.meta.script([
        meta_error(400, 131047, "Re-engagement message"),
        meta_error(400, 131026, "Message undeliverable"),
    ]);
    assert!(matches!(s.work().await, Outcome::Failed { .. }));
    assert!(matches!(s.work().await, Outcome::Failed { .. }));
    let (status, _, reason, _) = s.message(outside_window).await;
    assert_eq!(status, "failed");
    assert_eq!(
        reason.as_deref(),
        Some("Han pasado más de 24 horas desde el último mensaje del lead: hace falta una plantilla.")
    );
    let (status, _, reason, _) = s.message(undeliverable).await;
    assert_eq!(status, "failed");
    assert_eq!(
        reason.as_deref(),
        Some("HTTP 400, código 131026: Message undeliverable")
    );

    let lead = s
        .app
        .post_form(
            "/sfn/lead",
            &[("id", &s.lead_id.to_string())],
            Some(&s.cookie),
        )
        .await
        .json();
    let titles: Vec<&str> = lead["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap())
        .collect();
    assert!(
        titles.contains(
            &"WhatsApp enviado · fallido: HTTP 400, código 131026: Message undeliverable"
        ),
        "{titles:?}"
    );
}

#[tokio::test]
async fn a_send_interrupted_mid_request_is_never_repeated() {
    let s = setup().await;
    let id = s.write(&[("body", "Hola")]).await;
    // A worker began this send and died before recording Meta's answer.
    messages::begin_send(&s.app.state.db.writer, id, Timestamp::now())
        .await
        .unwrap();
    assert!(matches!(s.work().await, Outcome::Failed { .. }));
    assert!(s.meta.received().is_empty(), "nothing was sent again");
    let (status, _, reason, _) = s.message(id).await;
    assert_eq!(status, "failed");
    assert_eq!(reason.as_deref(), Some(OUTCOME_UNKNOWN));
    assert_eq!(s.job().await.0, "failed");
}

/// A Meta that takes requests and never answers; how many it took.
async fn silent_meta() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let taken = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = taken.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut request = [0u8; 8192];
                let _ = socket.read(&mut request).await;
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            });
        }
    });
    (base, taken)
}

#[tokio::test]
async fn a_send_whose_answer_never_comes_is_outcome_unknown_and_never_resent() {
    let (base, taken) = silent_meta().await;
    let s = setup_at(FakeProvider::start().await, &base).await;
    let id = s.write(&[("body", "Hola")]).await;
    let mut ctx = s.app.state.jobs();
    ctx.http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(300))
        .build()
        .unwrap();
    let outcome = worker::run_one(&ctx, &[Queue::Whatsapp], "test")
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Failed { .. }), "{outcome:?}");
    let (status, _, reason, _) = s.message(id).await;
    assert_eq!(
        (status.as_str(), reason.as_deref()),
        ("failed", Some(OUTCOME_UNKNOWN))
    );
    assert_eq!(
        worker::run_one(&ctx, &[Queue::Whatsapp], "test")
            .await
            .unwrap(),
        Outcome::Idle
    );
    assert_eq!(
        taken.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "sent at most once"
    );
}

#[tokio::test]
async fn a_send_that_could_not_connect_is_retried_later() {
    // A port nobody listens on: the request never left.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let s = setup_at(FakeProvider::start().await, &base).await;
    let id = s.write(&[("body", "Hola")]).await;
    assert!(matches!(s.work().await, Outcome::Retrying { .. }));
    let (status, _, _, started) = s.message(id).await;
    assert_eq!(
        (status.as_str(), started),
        ("queued", None),
        "free to send later"
    );
}

#[tokio::test]
async fn without_credentials_messages_wait_in_the_queue() {
    let app = TestApp::spawn().await;
    let cookie = app.signed_in("ana@clinic.test").await;
    let lead_id = app
        .post_form(
            "/sfn/save_lead",
            &[
                ("name", "Rosa"),
                ("phone", "699000999"),
                ("source", "organic"),
            ],
            Some(&cookie),
        )
        .await
        .json()
        .as_i64()
        .unwrap()
        .to_string();
    let response = app
        .post_form(
            "/sfn/send_whatsapp",
            &[("lead_id", &lead_id), ("template", "recordatorio_cita")],
            Some(&cookie),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
    let Outcome::Retrying { error, .. } =
        worker::run_one(&app.state.jobs(), &[Queue::Whatsapp], "test")
            .await
            .unwrap()
    else {
        panic!("the job waits for the configuration");
    };
    assert!(error.contains("WHATSAPP_ACCESS_TOKEN"), "{error}");
    let status: String =
        sqlx::query_scalar("SELECT status FROM messages WHERE direction = 'outbound'")
            .fetch_one(&app.state.db.reader)
            .await
            .unwrap();
    assert_eq!(status, "queued");
}

const AIRCALL_ID: &str = "aircall-api-id";
const AIRCALL_TOKEN: &str = "aircall-api-token";

struct DialSetup {
    app: TestApp,
    aircall: FakeProvider,
    cookie: String,
    lead_id: String,
}

/// Staff with Aircall line 4242 and a lead to call.
async fn dial_setup() -> DialSetup {
    let aircall = FakeProvider::start().await;
    let app = TestApp::spawn_with(&[
        ("AIRCALL_API_ID", AIRCALL_ID),
        ("AIRCALL_API_TOKEN", AIRCALL_TOKEN),
        ("AIRCALL_API_BASE", &aircall.base),
    ])
    .await;
    let cookie = app.signed_in("ana@clinic.test").await;
    let email = app::domain::Email::parse("ana@clinic.test").unwrap();
    assert!(app::backend::store::users::set_aircall_user_id(
        &app.state.db.writer,
        &email,
        Some(4242)
    )
    .await
    .unwrap());
    let lead_id = app
        .post_form(
            "/sfn/save_lead",
            &[
                ("name", "Julia"),
                ("phone", "677 12 34 56"),
                ("source", "google"),
            ],
            Some(&cookie),
        )
        .await
        .json()
        .as_i64()
        .unwrap()
        .to_string();
    DialSetup {
        app,
        aircall,
        cookie,
        lead_id,
    }
}

impl DialSetup {
    async fn call(&self) -> crate::helpers::TestResponse {
        self.app
            .post_form(
                "/sfn/call_lead",
                &[("lead_id", &self.lead_id)],
                Some(&self.cookie),
            )
            .await
    }

    async fn work(&self) -> Outcome {
        worker::run_one(&self.app.state.jobs(), &[Queue::Aircall], "test")
            .await
            .unwrap()
    }

    async fn request(&self) -> (String, Option<String>) {
        sqlx::query_as("SELECT status, error FROM call_requests ORDER BY id DESC LIMIT 1")
            .fetch_one(&self.app.state.db.reader)
            .await
            .unwrap()
    }

    async fn timeline_titles(&self) -> Vec<String> {
        let lead = self
            .app
            .post_form("/sfn/lead", &[("id", &self.lead_id)], Some(&self.cookie))
            .await
            .json();
        lead["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["title"].as_str().unwrap().to_string())
            .collect()
    }
}

#[tokio::test]
async fn click_to_call_dials_the_lead_from_the_users_aircall_line() {
    let s = dial_setup().await;
    let lead = s
        .app
        .post_form("/sfn/lead", &[("id", &s.lead_id)], Some(&s.cookie))
        .await
        .json();
    assert_eq!(
        lead["telephony"],
        json!({ "Available": { "has_line": true } })
    );
    assert_eq!(s.call().await.status, StatusCode::OK);
    assert!(matches!(s.work().await, Outcome::Done { .. }));
    let received = s.aircall.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, "/v1/users/4242/dial");
    use base64::Engine;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{AIRCALL_ID}:{AIRCALL_TOKEN}"));
    assert_eq!(
        received[0].authorization.as_deref(),
        Some(format!("Basic {basic}").as_str())
    );
    assert_eq!(received[0].body, json!({ "to": "+34677123456" }));
    assert_eq!(s.request().await, ("dialed".into(), None));
    assert!(s
        .timeline_titles()
        .await
        .contains(&"Llamada solicitada · marcada en Aircall".to_string()));
}

/// Aircall answers 405 when the agent's line cannot take a call now: staff read why, in
/// Spanish, and the dial is not repeated behind their back.
#[tokio::test]
async fn an_agent_whose_line_is_not_available_is_told_so() {
    let s = dial_setup().await;
    s.aircall.fail(server::fake_providers::Failure {
        provider: "aircall".into(),
        mode: "405".into(),
        count: 1,
        retry_after: None,
        path: Some("/dial".into()),
    });
    assert_eq!(s.call().await.status, StatusCode::OK);
    assert!(matches!(s.work().await, Outcome::Failed { .. }));
    let (status, error) = s.request().await;
    assert_eq!(status, "failed");
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.starts_with("Tu línea de Aircall no está disponible")),
        "{error:?}"
    );
    assert!(matches!(s.work().await, Outcome::Idle), "not repeated");
    assert_eq!(s.aircall.received().len(), 1);
}

#[tokio::test]
async fn a_dial_is_retried_briefly_then_dropped_and_never_repeated_after_a_crash() {
    let s = dial_setup().await;
    assert_eq!(s.call().await.status, StatusCode::OK);
    s.aircall.script([(
        503,
        vec![("retry-after", "2".to_string())],
        json!({ "error": "Service unavailable" }),
    )]);
    assert!(matches!(s.work().await, Outcome::Retrying { .. }));
    assert_eq!(s.request().await.0, "queued");
    // Still queued two minutes later: too late to ring on the agent's line.
    sqlx::query("UPDATE call_requests SET created_at = $1")
        .bind(Timestamp::now().plus_seconds(-300))
        .execute(&s.app.state.db.writer)
        .await
        .unwrap();
    sqlx::query("UPDATE jobs SET run_at = $1")
        .bind(Timestamp::now())
        .execute(&s.app.state.db.writer)
        .await
        .unwrap();
    assert!(matches!(s.work().await, Outcome::Failed { .. }));
    let (status, error) = s.request().await;
    assert_eq!(status, "failed");
    assert!(error.unwrap().starts_with("Caducada"));
    assert_eq!(s.aircall.received().len(), 1);

    // A dial whose worker died mid-request is not repeated.
    assert_eq!(s.call().await.status, StatusCode::OK);
    let id: i64 = sqlx::query_scalar("SELECT max(id) FROM call_requests")
        .fetch_one(&s.app.state.db.reader)
        .await
        .unwrap();
    app::backend::store::call_requests::begin_send(&s.app.state.db.writer, id, Timestamp::now())
        .await
        .unwrap();
    assert!(matches!(s.work().await, Outcome::Failed { .. }));
    assert_eq!(s.aircall.received().len(), 1, "nothing dialed again");
    assert!(s
        .request()
        .await
        .1
        .unwrap()
        .starts_with("Resultado desconocido"));

    // Aircall refusing the line: failed with its reason.
    assert_eq!(s.call().await.status, StatusCode::OK);
    s.aircall.script([(
        404,
        vec![],
        json!({ "error": "Not found", "troubleshoot": "User not found" }),
    )]);
    assert!(matches!(s.work().await, Outcome::Failed { .. }));
    assert_eq!(
        s.request().await,
        ("failed".into(), Some("HTTP 404: User not found".into()))
    );
}

#[tokio::test]
async fn without_a_line_or_with_telephony_degraded_the_call_is_refused_and_the_backup_shown() {
    let s = dial_setup().await;
    let email = app::domain::Email::parse("ana@clinic.test").unwrap();
    app::backend::store::users::set_aircall_user_id(&s.app.state.db.writer, &email, None)
        .await
        .unwrap();
    let refused = s.call().await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.json()["message"]
        .as_str()
        .unwrap()
        .contains("línea de Aircall"));

    app::backend::store::users::set_aircall_user_id(&s.app.state.db.writer, &email, Some(4242))
        .await
        .unwrap();
    let db = &s.app.state.db.writer;
    app::backend::store::settings::set(db, "calls.ui", "off", Timestamp::now())
        .await
        .unwrap();
    app::backend::store::settings::set(
        db,
        "clinic.backup_phone",
        "+34 910 000 000",
        Timestamp::now(),
    )
    .await
    .unwrap();
    assert_eq!(s.call().await.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = s
        .app
        .get(&format!("/leads/{}", s.lead_id), Some(&s.cookie))
        .await;
    assert!(
        page.body.contains("+34 910 000 000"),
        "the backup number is shown"
    );
    assert!(
        !page.body.contains("/sfn/call_lead"),
        "no call button while degraded"
    );

    // Back on, but Aircall's breaker open: degraded all the same.
    app::backend::store::settings::set(db, "calls.ui", "on", Timestamp::now())
        .await
        .unwrap();
    sqlx::query("UPDATE provider_breakers SET state = 'open' WHERE provider = 'aircall'")
        .execute(db)
        .await
        .unwrap();
    assert_eq!(s.call().await.status, StatusCode::UNPROCESSABLE_ENTITY);
    sqlx::query("UPDATE provider_breakers SET state = 'closed' WHERE provider = 'aircall'")
        .execute(db)
        .await
        .unwrap();
    assert_eq!(s.call().await.status, StatusCode::OK);
    assert!(
        s.aircall.received().is_empty(),
        "nothing dialed before a worker runs"
    );
}

/// A `datetime-local` value `hours` from now in the clinic's zone.
fn local(hours: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::hours(hours))
        .with_timezone(&chrono_tz::Europe::Madrid)
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

impl Setup {
    async fn book(&self, hours: i64) -> i64 {
        let lead_id = self.lead_id.to_string();
        let when = local(hours);
        let response = self
            .app
            .post_form(
                "/sfn/schedule_appointment",
                &[("lead_id", &lead_id), ("scheduled_at", &when)],
                Some(&self.cookie),
            )
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        sqlx::query_scalar("SELECT max(id) FROM appointments")
            .fetch_one(&self.app.state.db.reader)
            .await
            .unwrap()
    }

    async fn reminder_runs_at(&self) -> Vec<i64> {
        let rows: Vec<String> = sqlx::query_scalar("SELECT run_at FROM jobs WHERE kind = 'send_reminder' AND status = 'pending' ORDER BY id")
            .fetch_all(&self.app.state.db.reader)
            .await
            .unwrap();
        rows.iter()
            .map(|t| Timestamp::parse_rfc3339(t).unwrap().unix() - Timestamp::now().unix())
            .collect()
    }

    fn reminders_sent(&self) -> usize {
        self.meta
            .received()
            .iter()
            .filter(|r| r.body["type"] == "template")
            .count()
    }
}

#[tokio::test]
async fn a_kept_appointment_gets_one_reminder_24_hours_before() {
    let s = setup().await;
    let appointment = s.book(30).await;
    // Due 24 hours before: six hours from now (to the minute the form allows).
    let due = s.reminder_runs_at().await;
    assert_eq!(due.len(), 1);
    assert!((5 * 3600 - 60..=6 * 3600).contains(&due[0]), "{due:?}");
    assert_eq!(s.work().await, Outcome::Idle, "not before its time");

    s.make_due().await;
    assert!(matches!(s.work().await, Outcome::Done { .. }));
    assert_eq!(s.reminders_sent(), 1);
    let sent = &s.meta.received()[0];
    assert_eq!(sent.body["to"], "+34699112233");
    // In the language the template was approved in (es_ES by default), with the body
    // variables WHATSAPP_REMINDER_PARAMETERS names (fecha, hora by default), in the clinic's zone.
    let at: String = sqlx::query_scalar("SELECT scheduled_at FROM appointments WHERE id = $1")
        .bind(appointment)
        .fetch_one(&s.app.state.db.reader)
        .await
        .unwrap();
    let local = Timestamp::parse_rfc3339(&at)
        .unwrap()
        .as_datetime()
        .with_timezone(&chrono_tz::Europe::Madrid);
    assert_eq!(
        sent.body["template"],
        json!({ "name": "recordatorio_cita", "language": { "code": "es_ES" },
                "components": [{ "type": "body", "parameters": [
                    { "type": "text", "text": local.format("%d/%m/%Y").to_string() },
                    { "type": "text", "text": local.format("%H:%M").to_string() } ] }] })
    );
    let (status, wamid): (String, Option<String>) =
        sqlx::query_as("SELECT status, wamid FROM messages WHERE appointment_id = $1")
            .bind(appointment)
            .fetch_one(&s.app.state.db.reader)
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), wamid.is_some()),
        ("queued", true),
        "accepted by Meta"
    );

    // The same reminder job again (a redelivered job, a second worker): nothing more is sent.
    let payload = json!({ "appointment_id": appointment, "scheduled_at": sqlx::query_scalar::<_, String>("SELECT scheduled_at FROM appointments WHERE id = $1").bind(appointment).fetch_one(&s.app.state.db.reader).await.unwrap() });
    app::backend::store::jobs::enqueue_many(
        &s.app.state.db.writer,
        "send_reminder",
        Queue::Whatsapp,
        &[payload.to_string()],
        10,
        Timestamp::now(),
        Timestamp::now(),
    )
    .await
    .unwrap();
    assert!(matches!(s.work().await, Outcome::Done { .. }));
    assert_eq!(s.reminders_sent(), 1, "a reminder is sent once");
}

#[tokio::test]
async fn cancelled_moved_and_past_appointments_never_get_a_stale_reminder() {
    let s = setup().await;
    let cancelled = s.book(30).await.to_string();
    let form = [
        ("appointment_id", cancelled.as_str()),
        ("status", "cancelled"),
    ];
    assert_eq!(
        s.app
            .post_form("/sfn/appointment_status", &form, Some(&s.cookie))
            .await
            .status,
        StatusCode::OK
    );

    let moved = s.book(30).await.to_string();
    let later = local(50);
    let form = [
        ("appointment_id", moved.as_str()),
        ("scheduled_at", later.as_str()),
    ];
    assert_eq!(
        s.app
            .post_form("/sfn/reschedule_appointment", &form, Some(&s.cookie))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        s.reminder_runs_at().await.len(),
        3,
        "cancelled, moved (old time), moved (new time)"
    );

    // A past appointment gets no reminder at all.
    s.book(-2).await;
    assert_eq!(s.reminder_runs_at().await.len(), 3);

    // Everything due at once (as after a long pause): only the moved appointment's new-time
    // reminder goes out.
    s.make_due().await;
    while let Outcome::Done { .. } = s.work().await {}
    assert_eq!(s.reminders_sent(), 1);
    let reminded: Vec<i64> =
        sqlx::query_scalar("SELECT appointment_id FROM messages WHERE appointment_id IS NOT NULL")
            .fetch_all(&s.app.state.db.reader)
            .await
            .unwrap();
    assert_eq!(reminded, [moved.parse::<i64>().unwrap()]);

    // A reminder held (queue paused) until its appointment passed is dropped, not sent late.
    let soon = s.book(2).await;
    app::backend::store::settings::set(
        &s.app.state.db.writer,
        "queue.paused.whatsapp",
        "true",
        Timestamp::now(),
    )
    .await
    .unwrap();
    assert_eq!(s.work().await, Outcome::Idle);
    let passed = Timestamp::now().plus_seconds(-600);
    sqlx::query("UPDATE appointments SET scheduled_at = $1 WHERE id = $2")
        .bind(passed)
        .bind(soon)
        .execute(&s.app.state.db.writer)
        .await
        .unwrap();
    sqlx::query("UPDATE jobs SET payload = json_set(payload, '$.scheduled_at', $1) WHERE kind = 'send_reminder' AND status = 'pending'")
        .bind(passed.to_string())
        .execute(&s.app.state.db.writer)
        .await
        .unwrap();
    app::backend::store::settings::set(
        &s.app.state.db.writer,
        "queue.paused.whatsapp",
        "false",
        Timestamp::now(),
    )
    .await
    .unwrap();
    while let Outcome::Done { .. } = s.work().await {}
    assert_eq!(
        s.reminders_sent(),
        1,
        "nothing sent for the passed appointment"
    );
}
