//! Sessions (hole 11 of issue 11): a password change or a disabled account ends them, they
//! expire after 12 h without use (rolling), and the table never holds a usable session id.

use crate::helpers::{TestApp, PASSWORD};
use app::domain::Role;
use axum::http::StatusCode;
use server::http::session_store::HashedIds;
use std::io::Write;
use std::process::{Command, Stdio};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::SessionStore;

/// Runs `mini-crm user …` (the real CLI) on the app's database, `stdin` as its input.
fn cli(app: &TestApp, args: &[&str], stdin: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mini-crm"))
        .arg("user")
        .args(args)
        .env("DATABASE_URL", &app.state.config.database_url)
        .env("LOG_DIR", std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn me(app: &TestApp, cookie: &str) -> StatusCode {
    app.get("/api/me", Some(cookie)).await.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_ends_every_session_of_that_user() {
    let app = TestApp::spawn().await;
    let ana = app.signed_in("ana@clinica.es").await;
    let ana_elsewhere = app
        .login("ana@clinica.es", PASSWORD)
        .await
        .session_cookie()
        .unwrap();
    let luis = app.signed_in("luis@clinica.es").await;
    assert_eq!(me(&app, &ana).await, StatusCode::OK);

    let said = tokio::task::block_in_place(|| {
        cli(
            &app,
            &["password", "--email", "ana@clinica.es", "--password-stdin"],
            "a brand new secret\n",
        )
    });
    assert!(said.contains("sessions have ended"), "{said}");
    assert_eq!(me(&app, &ana).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&app, &ana_elsewhere).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&app, &luis).await, StatusCode::OK, "other users stay");
    assert_eq!(
        app.login("ana@clinica.es", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = app.login("ana@clinica.es", "a brand new secret").await;
    assert_eq!(again.status, StatusCode::OK);

    // `user create` on an existing e-mail sets a password too.
    let cookie = again.session_cookie().unwrap();
    tokio::task::block_in_place(|| {
        cli(
            &app,
            &[
                "create",
                "--email",
                "ana@clinica.es",
                "--name",
                "Ana",
                "--password-stdin",
            ],
            "yet another secret\n",
        )
    });
    assert_eq!(me(&app, &cookie).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_user_is_signed_out_and_cannot_sign_in_until_enabled() {
    let app = TestApp::spawn().await;
    let ana = app.signed_in("ana@clinica.es").await;
    let said =
        tokio::task::block_in_place(|| cli(&app, &["disable", "--email", "ana@clinica.es"], ""));
    assert!(said.contains("disabled"), "{said}");
    assert_eq!(me(&app, &ana).await, StatusCode::UNAUTHORIZED);
    let page = app.get("/informes", Some(&ana)).await;
    assert_eq!(
        page.status,
        StatusCode::SEE_OTHER,
        "pages send them to the login"
    );

    // The right password is told the account is disabled; a wrong one learns nothing.
    let refused = app.login("ana@clinica.es", PASSWORD).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.json()["error"], "account_disabled");
    assert!(refused.session_cookie().is_none());
    assert_eq!(
        app.login("ana@clinica.es", "wrong password").await.status,
        StatusCode::UNAUTHORIZED
    );
    let listed = tokio::task::block_in_place(|| cli(&app, &["list"], ""));
    assert!(
        listed.contains("ana@clinica.es\tAna Pérez\tstaff\tdisabled since"),
        "{listed}"
    );

    tokio::task::block_in_place(|| cli(&app, &["enable", "--email", "ana@clinica.es"], ""));
    assert_eq!(
        app.login("ana@clinica.es", PASSWORD).await.status,
        StatusCode::OK
    );
}

/// The store keeps a hash of the id, so the table's contents sign nobody in.
#[tokio::test]
async fn the_sessions_table_holds_no_usable_id() {
    let app = TestApp::spawn().await;
    let cookie = app.signed_in("ana@clinica.es").await;
    let id = cookie.trim_start_matches("mini_crm_session=");
    let stored: Vec<String> = sqlx::query_scalar("SELECT id FROM sessions")
        .fetch_all(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], id);
    // The stored key, sent as a cookie, is nobody's session.
    let forged = format!("mini_crm_session={}", stored[0]);
    assert_eq!(me(&app, &forged).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&app, &cookie).await, StatusCode::OK);
}

/// tower-sessions pushes the expiry on only when it saves a session, and it saves only what
/// changed: a session used all day expired 12 h after sign-in. Using it now moves its end to 12 h
/// from now (at most one write a minute).
#[tokio::test]
async fn using_a_session_moves_its_expiry_on() {
    let app = TestApp::spawn().await;
    let user_id = app.create_user("ana@clinica.es", Role::Staff).await;
    let store = HashedIds::new(
        tower_sessions_sqlx_store::SqliteStore::new(app.state.db.sessions.clone())
            .with_table_name("sessions")
            .unwrap(),
    );
    // Signed in 11 h 30 min ago, last used 2 minutes ago: 30 minutes left.
    let now = time::OffsetDateTime::now_utc();
    let mut record = Record {
        id: Id::default(),
        data: Default::default(),
        expiry_date: now + time::Duration::minutes(30),
    };
    record
        .data
        .insert("user_id".into(), serde_json::json!(user_id));
    record
        .data
        .insert("session_epoch".into(), serde_json::json!(0));
    record.data.insert(
        "seen_at".into(),
        serde_json::json!(now.unix_timestamp() - 120),
    );
    store.save(&record).await.unwrap();
    let cookie = format!("mini_crm_session={}", record.id);
    let answer = app.get("/api/me", Some(&cookie)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let expiry = store.load(&record.id).await.unwrap().unwrap().expiry_date;
    assert!(
        expiry > now + time::Duration::hours(11),
        "the session now ends at {expiry}"
    );
    // The browser's cookie follows.
    let set_cookie = answer.header("set-cookie").unwrap_or_default();
    assert!(
        set_cookie.contains("Max-Age=43200") || set_cookie.contains("max-age=43200"),
        "{set_cookie}"
    );
}
