//! `/healthz`, `scripts/health_check.sh` and `mini-crm db check`.

use crate::helpers::TestApp;
use axum::http::StatusCode;
use std::process::Command;

const TOKEN: &str = "monitor-token";

async fn serve(app: &TestApp) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/healthz", listener.local_addr().unwrap());
    let router = server::http::router(app.state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

/// Runs the script (off the async runtime) and returns its exit code and line.
async fn health_check(url: &str) -> (i32, String) {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let out = Command::new("bash")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../scripts/health_check.sh"
            ))
            .arg(&url)
            .env("METRICS_TOKEN", TOKEN)
            .env("MINI_CRM_BIN", env!("CARGO_BIN_EXE_mini-crm"))
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn healthz_is_ok_then_degraded_by_an_open_breaker_or_a_backlog_and_never_leaks_secrets() {
    let app = TestApp::spawn_with(&[
        ("WHATSAPP_APP_SECRET", "very-secret-value"),
        ("HUBSPOT_ACCESS_TOKEN", "hs-secret"),
        ("METRICS_TOKEN", TOKEN),
    ])
    .await;
    let health = app.health_details().await;
    assert_eq!(health.status, StatusCode::OK);
    let body = health.json();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"]["ok"], true);
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["queues"]["inbound"]["pending"], 0);
    assert_eq!(body["breakers"]["whatsapp"]["state"], "closed");
    assert!(!health.body.contains("very-secret-value") && !health.body.contains("hs-secret"));
    let url = serve(&app).await;
    let (code, line) = health_check(&url).await;
    assert_eq!(code, 0, "{line}");
    assert!(line.starts_with("OK "), "{line}");

    // An open breaker: degraded, still 200 (a deploy must not roll back for it).
    sqlx::query("UPDATE provider_breakers SET state = 'open', opened_at = '2026-01-01T00:00:00Z', last_error = 'HTTP 503: down' WHERE provider = 'aircall'")
        .execute(&app.state.db.writer)
        .await
        .unwrap();
    let health = app.health_details().await;
    assert_eq!(
        (health.status, health.json()["status"].as_str()),
        (StatusCode::OK, Some("degraded"))
    );
    let (code, line) = health_check(&url).await;
    assert_eq!(code, 1, "{line}");
    assert!(line.contains("breakers open: aircall"), "{line}");
    sqlx::query("UPDATE provider_breakers SET state = 'closed' WHERE provider = 'aircall'")
        .execute(&app.state.db.writer)
        .await
        .unwrap();

    // A backlog: a due job waiting for ten minutes.
    sqlx::query(
        "INSERT INTO jobs (kind, queue, payload, max_attempts, run_at, created_at, updated_at)
         VALUES ('sync_hubspot', 'hubspot', '{}', 5, $1, $1, $1)",
    )
    .bind(app::domain::Timestamp::now().plus_seconds(-600))
    .execute(&app.state.db.writer)
    .await
    .unwrap();
    let body = app.health_details().await.json();
    assert_eq!(body["status"], "degraded");
    assert!(
        body["queues"]["hubspot"]["oldest_pending_seconds"]
            .as_i64()
            .unwrap()
            >= 600
    );

    // Maintenance does not hide the health check.
    app::backend::flags::set_maintenance(&app.state.db, Some("x"), app::domain::Timestamp::now())
        .await
        .unwrap();
    let health = app.health_details().await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json()["maintenance"], true);
}

#[tokio::test]
async fn healthz_is_503_when_the_database_is_gone_and_the_script_says_down() {
    let app = TestApp::spawn_with(&[("METRICS_TOKEN", TOKEN)]).await;
    let url = serve(&app).await;
    app.state.db.reader.close().await;
    app.state.db.writer.close().await;
    let health = app.get("/healthz", None).await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health.json()["status"], "down");
    let (code, line) = health_check(&url).await;
    assert_eq!(code, 2, "{line}");
    assert!(line.starts_with("DOWN"), "{line}");
    // Nobody listening at all.
    let (code, _) = health_check("http://127.0.0.1:9/healthz").await;
    assert_eq!(code, 2);
}

#[tokio::test]
async fn db_check_passes_on_a_migrated_database_and_fails_on_a_missing_one() {
    let app = TestApp::spawn().await;
    let config = |url: String| {
        app::backend::config::Config::from_lookup(move |name| {
            (name == "DATABASE_URL").then(|| url.clone())
        })
        .unwrap()
    };
    server::cli::db::check(&config(app.state.config.database_url.clone()))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("sqlite://{}/nothing.sqlite", dir.path().display());
    assert!(server::cli::db::check(&config(missing)).await.is_err());
    assert!(
        !dir.path().join("nothing.sqlite").exists(),
        "a check never creates a database"
    );
}

/// Hole 8 of issue 11: `/healthz` is public, and it told anyone the version, the queues, which
/// provider was down and its last error (a recipient's phone number in it).
#[tokio::test]
async fn strangers_get_the_status_alone_and_phone_numbers_are_masked_for_everyone() {
    let app = TestApp::spawn_with(&[("METRICS_TOKEN", TOKEN)]).await;
    app::backend::breakers::record_failure(
        &app.state.db,
        app::domain::Provider::Whatsapp,
        "HTTP 400: (#131030) Recipient phone number 34600111222 not in allowed list",
        app::domain::Timestamp::now(),
    )
    .await
    .unwrap();

    let public = app.get("/healthz", None).await;
    assert_eq!(public.status, StatusCode::OK);
    assert_eq!(public.json(), serde_json::json!({ "status": "ok" }));
    assert_eq!(public.header("cache-control"), Some("no-store"));
    let wrong_token = app
        .send(
            axum::http::Request::get("/healthz")
                .header("authorization", "Bearer not-the-token")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(wrong_token.json(), serde_json::json!({ "status": "ok" }));
    let staff = app.signed_in("ana@clinica.es").await;
    let as_staff = app.get("/healthz", Some(&staff)).await;
    assert_eq!(as_staff.json(), serde_json::json!({ "status": "ok" }));

    let admin = app.signed_in_admin("admin@clinica.es").await;
    for detailed in [
        app.get("/healthz", Some(&admin)).await,
        app.health_details().await,
    ] {
        let body = detailed.json();
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(
            body["breakers"]["whatsapp"]["last_error"],
            "HTTP 400: (#131030) Recipient phone number •••222 not in allowed list"
        );
        assert!(!detailed.body.contains("600111"), "{}", detailed.body);
    }

    // Down: still the status alone for strangers, with the 503.
    app.state.db.reader.close().await;
    let down = app.get("/healthz", None).await;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(down.json(), serde_json::json!({ "status": "down" }));
}

/// Hole 9 of issue 11: the queue worker and the intake writer ran unwatched. Each beats a
/// heartbeat now; one silent for more than 30 s makes the health check `degraded`.
#[tokio::test]
async fn a_background_task_that_stops_beating_makes_health_degraded() {
    let app = TestApp::spawn_with(&[("METRICS_TOKEN", TOKEN)]).await;
    // The intake writer of this app beats on its own; no queue worker runs in a test app.
    let details = app.health_details().await.json();
    assert_eq!(details["status"], "ok");
    assert!(
        details["workers"]["intake"]["silent_seconds"]
            .as_u64()
            .unwrap()
            < 5
    );
    assert_eq!(
        details["workers"]["queue"]["silent_seconds"],
        serde_json::Value::Null
    );

    let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(31);
    app.state.heartbeats.queue.beat_at(long_ago);
    let health = app.health_details().await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json()["status"], "degraded");
    assert!(
        health.json()["workers"]["queue"]["silent_seconds"]
            .as_u64()
            .unwrap()
            >= 31
    );
    assert_eq!(app.get("/healthz", None).await.json()["status"], "degraded");
    app.state.heartbeats.queue.beat();
    assert_eq!(app.health_details().await.json()["status"], "ok");
}

/// A check that cannot start (a broken setting) reports down (2), never degraded (1): deploy.sh
/// keeps a release at 1, and monitoring would show a warning for an instance nobody checked.
#[test]
fn a_health_check_that_cannot_start_is_down_not_degraded() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mini-crm"))
        .current_dir(dir.path())
        .env_clear()
        .env("APP_ENV", "prod")
        .args(["health", "http://127.0.0.1:9/healthz"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("APP_ENV"));
    assert!(
        !dir.path().join("storage").exists(),
        "a health check writes no log file where it runs"
    );
}
