//! Protected routes answer anonymous and cross-site requests correctly.

use crate::helpers::TestApp;
use axum::http::StatusCode;

#[tokio::test]
async fn protected_pages_redirect_to_login_with_next() {
    let app = TestApp::spawn().await;
    for (path, next) in [
        ("/informes", "%2Finformes"),
        ("/leads?source=meta", "%2Fleads%3Fsource%3Dmeta"),
        ("/integraciones", "%2Fintegraciones"),
        ("/ajustes", "%2Fajustes"),
    ] {
        let response = app.get(path, None).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(
            response.header("location"),
            Some(format!("/login?next={next}").as_str()),
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_login_page_is_open_and_sends_signed_in_users_on() {
    let app = TestApp::spawn().await;
    let page = app.get("/login?next=%2Fleads", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Iniciar sesión"));
    assert!(page.body.contains("<html lang=\"es\""));

    let cookie = app.signed_in("ana@clinica.es").await;
    let page = app.get("/login?next=%2Fleads", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.header("location"), Some("/leads"));
}

#[tokio::test]
async fn root_goes_to_informes() {
    let app = TestApp::spawn().await;
    let response = app.get("/", None).await;
    assert_eq!(response.status, StatusCode::SEE_OTHER);
    assert_eq!(response.header("location"), Some("/informes"));
}

#[tokio::test]
async fn protected_server_functions_answer_401_json() {
    let app = TestApp::spawn().await;
    let response = app.post_form("/sfn/current_user", &[], None).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(response.json()["error"], "unauthorized");

    let cookie = app.signed_in("ana@clinica.es").await;
    let response = app.post_form("/sfn/current_user", &[], Some(&cookie)).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json()["email"], "ana@clinica.es");
}

#[tokio::test]
async fn the_json_api_answers_401_json_without_a_session() {
    let app = TestApp::spawn().await;
    for path in ["/api/me", "/api/reports/kpis", "/api/anything"] {
        let response = app.get(path, None).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(response.json()["error"], "unauthorized");
        assert!(response.json()["message"].is_string());
    }
    let cookie = app.signed_in("ana@clinica.es").await;
    let response = app.get("/api/unknown", Some(&cookie)).await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert_eq!(response.json()["error"], "not_found");
}

#[tokio::test]
async fn cross_site_posts_are_refused() {
    let app = TestApp::spawn().await;
    let cookie = app.signed_in("ana@clinica.es").await;
    let cross_site: [&[(&str, &str)]; 3] = [
        &[("origin", "https://evil.example")],
        &[("sec-fetch-site", "cross-site")],
        &[
            ("sec-fetch-site", "same-site"),
            ("origin", "http://127.0.0.1:3000"),
        ],
    ];
    for headers in cross_site {
        let response = app
            .post_form_with("/sfn/logout", &[], Some(&cookie), headers)
            .await;
        assert_eq!(response.status, StatusCode::FORBIDDEN, "{headers:?}");
        assert_eq!(response.json()["error"], "forbidden");
    }
    assert_eq!(
        app.get("/api/me", Some(&cookie)).await.status,
        StatusCode::OK,
        "still signed in"
    );

    let same_origin = app
        .post_form_with(
            "/sfn/logout",
            &[],
            Some(&cookie),
            &[("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(same_origin.status, StatusCode::OK);
}

#[tokio::test]
async fn webhooks_are_exempt_from_the_cross_site_check() {
    let app = TestApp::spawn().await;
    let response = app
        .post_form_with(
            "/webhooks/whatsapp",
            &[],
            None,
            &[("origin", "https://graph.facebook.com")],
        )
        .await;
    assert_ne!(response.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn unknown_pages_are_404() {
    let app = TestApp::spawn().await;
    let response = app.get("/no-such-page", None).await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert!(response.body.contains("Página no encontrada"));
}

/// A name is text, wherever it lands: the page's `<title>` is written outside the view macros
/// (leptos_meta does not escape it on the server).
#[tokio::test]
async fn a_lead_named_like_markup_is_shown_as_text_in_its_title_too() {
    let app = TestApp::spawn().await;
    let cookie = app.signed_in("ana@clinica.example").await;
    let name = "</title><script>alert(1)</script>";
    let form = [
        ("name", name),
        ("phone", "612 345 678"),
        ("email", ""),
        ("source", "meta"),
    ];
    let created = app.post_form("/sfn/save_lead", &form, Some(&cookie)).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let id = created.json().as_i64().unwrap();
    let page = app.get(&format!("/leads/{id}"), Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("<script>alert(1)"), "{}", page.body);
    assert!(
        page.body.contains(
            "<title>&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt; · mini-crm</title>"
        ),
        "{}",
        page.body
    );
}

/// A flood of bad signatures is counted, and logged at most once a second per provider with the
/// count: it cannot fill the disk that holds the database with log lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_bad_signatures_is_logged_once_a_second() {
    use crate::binary::{log_lines, whatsapp_delivery, Server};
    let client = reqwest::Client::new();
    let (dir, server) = Server::start_fresh().await;
    let started = std::time::Instant::now();
    for n in 0..300 {
        let response = client
            .post(format!("{}/webhooks/whatsapp", server.base))
            .header("x-hub-signature-256", "sha256=00")
            .body(whatsapp_delivery(n, 0))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401);
    }
    let seconds = started.elapsed().as_secs() + 1;
    let logs = dir.path().join("logs");
    let lines = log_lines(&logs, "webhook deliveries rejected") as u64;
    assert!(
        (1..=seconds + 1).contains(&lines),
        "{lines} lines for 300 rejections in {seconds} s"
    );
    // Each line names its provider; the first is written at once, for the first rejection.
    let said = log_lines(&logs, "webhook deliveries rejected");
    assert_eq!(log_lines(&logs, "provider=\"whatsapp\""), said);
    assert_eq!(log_lines(&logs, "rejected=1 "), 1);
}

/// The database, its write-ahead log, the log file and backups are created owner-only,
/// whatever the umask of whoever starts mini-crm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_with_patients_data_are_owner_only() {
    use crate::binary::{deliver, whatsapp_delivery, Server};
    use std::os::unix::fs::PermissionsExt;
    let client = reqwest::Client::new();
    let (dir, server) = Server::start_fresh().await;
    assert!(deliver(&client, &server.base, &whatsapp_delivery(1, 0))
        .await
        .acknowledged());
    let backups = dir.path().join("backups");
    let backup = std::process::Command::new(env!("CARGO_BIN_EXE_mini-crm"))
        .args(["backup", "--out"])
        .arg(&backups)
        .env("DATABASE_URL", &server.database)
        .env("LOG_DIR", dir.path().join("logs"))
        .output()
        .unwrap();
    assert!(backup.status.success(), "{backup:?}");
    let mut files = vec![
        dir.path().join("db.sqlite"),
        dir.path().join("db.sqlite-wal"),
        dir.path().join("logs/mini-crm.log"),
        backups.clone(),
    ];
    files.extend(
        std::fs::read_dir(&backups)
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    assert!(files.len() > 4, "a backup was written");
    for file in files {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", file.display());
    }
}

/// What strangers can send many times a second — junk session cookies, cross-site posts,
/// deliveries for a provider left unconfigured — writes a line a second at most, never one each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_strangers_send_does_not_write_a_log_line_each() {
    use crate::binary::{log_lines, Server};
    let client = reqwest::Client::new();
    let (dir, server) = Server::start_fresh().await;
    let started = std::time::Instant::now();
    for _ in 0..200 {
        let junk = client
            .get(format!("{}/login", server.base))
            .header("cookie", "mini_crm_session=junk")
            .send()
            .await
            .unwrap();
        assert_eq!(junk.status().as_u16(), 200);
        let cross_site = client
            .post(format!("{}/sfn/login", server.base))
            .header("origin", "https://evil.example")
            .form(&[("email", "a@b.c"), ("password", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(cross_site.status().as_u16(), 403);
        // Aircall's token is not set on this server: refused with 503.
        let unconfigured = client
            .post(format!("{}/webhooks/aircall", server.base))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(unconfigured.status().as_u16(), 503);
    }
    let seconds = started.elapsed().as_secs() + 2;
    let logs = dir.path().join("logs");
    let lines = |needle: &str| log_lines(&logs, needle) as u64;
    assert_eq!(lines("malformed session id"), 0);
    assert_eq!(lines("response failed"), 0);
    for needle in [
        "cross-site requests refused",
        "AIRCALL_WEBHOOK_TOKEN is not set",
    ] {
        let said = lines(needle);
        assert!(
            (1..=seconds).contains(&said),
            "{said} lines of {needle:?} in {seconds} s"
        );
    }
}

/// Hole 7 of issue 11: `?__path=…&__err=…` is how a form posted without JavaScript gets its
/// error back, and Leptos shows whatever the URL carries. A link written by a stranger must not
/// make the login page say the stranger's words.
#[tokio::test]
async fn an_error_written_into_the_url_by_a_stranger_is_not_shown() {
    use base64::Engine;
    let app = TestApp::spawn().await;
    let forged = base64::engine::general_purpose::URL_SAFE.encode(
        r#"{"error":"invalid_input","field":null,"message":"Cuenta bloqueada: llama al 600 000 000."}"#,
    );
    let page = app
        .get(
            &format!("/login?next=%2Fleads&__path=%2Fsfn%2Flogin&__err={forged}"),
            None,
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.header("location"), Some("/login?next=%2Fleads"));

    // The server's own error, from a form posted without JavaScript, is signed and shown.
    app.create_user("ana@clinica.es", app::domain::Role::Staff)
        .await;
    let posted = app
        .post_form_with(
            "/sfn/login",
            &[("email", "ana@clinica.es"), ("password", "wrong")],
            None,
            &[
                ("accept", "text/html"),
                ("referer", "http://127.0.0.1:3000/login?next=%2Fleads"),
            ],
        )
        .await;
    let location = posted.header("location").expect("a redirect").to_string();
    assert!(location.contains("__sig="), "{location}");
    let path = location.trim_start_matches("http://127.0.0.1:3000");
    let page = app.get(path, None).await;
    assert_eq!(page.status, StatusCode::OK, "{path}");
    assert!(
        page.body
            .contains("El correo o la contraseña no son correctos."),
        "the genuine error is shown"
    );

    // The same link with other words, or with the signature of other words, is refused.
    let tampered = path.replacen("__err=", &format!("__err={forged}&__x="), 1);
    assert_eq!(app.get(&tampered, None).await.status, StatusCode::SEE_OTHER);
    let swapped = with_parameter(path, "__err=", &forged);
    assert_eq!(app.get(&swapped, None).await.status, StatusCode::SEE_OTHER);
}

/// An outside review found the signing reachable through the sign-in's `next`: the login
/// redirect carried a stranger's `__err`, and the server signed it. Only a failed function's own
/// error is signed now.
#[tokio::test]
async fn a_strangers_error_riding_on_next_is_dropped_not_signed() {
    use base64::Engine;
    let app = TestApp::spawn().await;
    app.create_user("ana@clinica.es", app::domain::Role::Staff)
        .await;
    let forged = base64::engine::general_purpose::URL_SAFE
        .encode(r#"{"error":"invalid_input","field":null,"message":"Llama al 600 000 000."}"#);
    let next = format!("/leads?__path=/sfn/leads&__err={forged}");
    let signed_in = app
        .post_form_with(
            "/sfn/login",
            &[
                ("email", "ana@clinica.es"),
                ("password", crate::helpers::PASSWORD),
                ("next", &next),
            ],
            None,
            &[
                ("accept", "text/html"),
                ("referer", "http://127.0.0.1:3000/login"),
            ],
        )
        .await;
    let location = signed_in.header("location").expect("a redirect");
    assert!(
        !location.contains("__err") && !location.contains("__sig"),
        "{location}"
    );
    // What a parser says about the client's arguments is not said back.
    let quoted = app
        .post_form("/sfn/lead", &[("id", "Llama-al-600000000")], None)
        .await;
    assert!(!quoted.body.contains("600000000"), "{}", quoted.body);
}

/// `path` with the value of `name` replaced by `value`.
fn with_parameter(path: &str, name: &str, value: &str) -> String {
    let start = path.find(name).unwrap() + name.len();
    let end = path[start..].find('&').map_or(path.len(), |i| start + i);
    format!("{}{value}{}", &path[..start], &path[end..])
}

/// Hole 2 of issue 11: HTML answers carry a Content Security Policy whose nonce is on every
/// script of the page (and only there), and every answer forbids sniffing and framing.
#[tokio::test]
async fn html_answers_carry_a_nonce_policy_and_every_answer_the_safety_headers() {
    let app = TestApp::spawn().await;
    let cookie = app.signed_in("ana@clinica.es").await;
    let mut nonces = std::collections::HashSet::new();
    for (path, signed_in) in [
        ("/login", false),
        ("/informes", true),
        ("/no-such-page", true),
    ] {
        let page = app.get(path, signed_in.then_some(cookie.as_str())).await;
        let policy = page
            .header("content-security-policy")
            .unwrap_or_else(|| panic!("{path} has a CSP"));
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert!(policy.contains("object-src 'none'") && policy.contains("base-uri 'none'"));
        assert!(
            !policy.contains("script-src 'self' 'unsafe-inline'"),
            "{policy}"
        );
        let nonce = policy
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap()
            .to_string();
        assert!(nonce.len() >= 22, "{nonce}");
        let scripts = page.body.matches("<script").count();
        assert!(scripts >= 2, "{path}: the hydration scripts");
        assert_eq!(
            page.body.matches(&format!("nonce=\"{nonce}\"")).count(),
            scripts,
            "{path}: every script carries this request's nonce"
        );
        assert!(nonces.insert(nonce), "a new nonce per request");
        assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(page.header("referrer-policy"), Some("same-origin"));
        assert_eq!(page.header("x-frame-options"), Some("DENY"));
    }
    let json = app.get("/api/me", Some(&cookie)).await;
    assert_eq!(json.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(json.header("content-security-policy"), None, "not HTML");
}

/// Script in every text a user or a provider can set, then every page that shows it: the text
/// is there, escaped, and no element or script of it is.
#[tokio::test]
async fn script_in_any_text_field_reaches_pages_as_text() {
    use crate::webhooks::{drain, post_whatsapp, providers_app};
    const SCRIPT: &str = r#"<script>alert("x")</script><img src=x onerror=alert(1)>"#;
    let app = providers_app().await;
    let admin = app.signed_in_admin("admin@clinica.es").await;
    // Staff: a lead's name, the reason it was lost.
    let form = [
        ("name", SCRIPT),
        ("phone", "612 000 111"),
        ("email", ""),
        ("source", "google"),
    ];
    let created = app.post_form("/sfn/save_lead", &form, Some(&admin)).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let staff_lead = created.json().as_i64().unwrap();
    let lost = app
        .post_form(
            "/sfn/mark_lead_lost",
            &[("lead_id", &staff_lead.to_string()), ("reason", SCRIPT)],
            Some(&admin),
        )
        .await;
    assert_eq!(lost.status, StatusCode::OK, "{}", lost.body);
    // A patient on WhatsApp: their profile name and their message; and a delivery that fails
    // with the script in its error text.
    let delivery = String::from_utf8(crate::webhooks::fixture("whatsapp_message.json"))
        .unwrap()
        .replace("Sheena Nelson", &SCRIPT.replace('"', "\\\""))
        .replace(
            "Does it come in another color?",
            &SCRIPT.replace('"', "\\\""),
        );
    post_whatsapp(&app, delivery.as_bytes()).await;
    post_whatsapp(
        &app,
        format!("{{\"object\": \"{}\"", SCRIPT.replace('"', "'")).as_bytes(),
    )
    .await;
    drain(&app).await;
    let patient_lead: i64 = sqlx::query_scalar("SELECT id FROM leads WHERE phone = '+16505551234'")
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();

    for path in [
        "/leads".to_string(),
        format!("/leads?q={}", "alert"),
        format!("/leads/{staff_lead}"),
        format!("/leads/{patient_lead}"),
        "/integraciones".to_string(),
        "/informes".to_string(),
    ] {
        let page = app.get(&path, Some(&admin)).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(
            !page.body.contains("<script>alert") && !page.body.contains("<img src=x"),
            "{path} holds markup from data"
        );
    }
    let page = app
        .get(&format!("/leads/{patient_lead}"), Some(&admin))
        .await;
    assert!(
        page.body.contains("&lt;script&gt;alert"),
        "the text is there, escaped"
    );
}
