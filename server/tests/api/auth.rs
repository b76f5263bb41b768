//! Sign-in, sign-out, throttling and who may see what.

use crate::helpers::{TestApp, PASSWORD};
use app::backend::auth::{sign_in, ClientIp};
use app::domain::{Role, Timestamp};
use app::error::AppError;
use axum::http::StatusCode;

#[tokio::test]
async fn login_starts_a_session_that_the_api_and_pages_accept() {
    let app = TestApp::spawn().await;
    app.create_user("ana@clinica.es", Role::Admin).await;

    let response = app
        .post_form(
            "/sfn/login",
            &[
                ("email", "Ana@Clinica.es "),
                ("password", PASSWORD),
                ("next", "/leads?source=meta"),
            ],
            None,
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.header("location"), Some("/leads?source=meta"));
    let set_cookie = response.header("set-cookie").expect("cookie set");
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    assert!(
        !set_cookie.contains("Secure"),
        "plain-HTTP installs cannot use Secure cookies: {set_cookie}"
    );
    let cookie = response.session_cookie().unwrap();

    let me = app.get("/api/me", Some(&cookie)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["email"], "ana@clinica.es");
    assert_eq!(me.json()["role"], "admin");

    let page = app.get("/informes", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Ana Pérez"), "the shell shows the user");
    assert!(page.body.contains(">Salir<"));
}

#[tokio::test]
async fn cookies_are_secure_when_served_over_https() {
    let app = TestApp::spawn_with(&[("APP_URL", "https://crm.clinica.example")]).await;
    app.create_user("ana@clinica.es", Role::Staff).await;
    let response = app
        .post_form_with(
            "/sfn/login",
            &[("email", "ana@clinica.es"), ("password", PASSWORD)],
            None,
            &[("origin", "https://crm.clinica.example")],
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert!(response.header("set-cookie").unwrap().contains("Secure"));
}

#[tokio::test]
async fn next_never_leaves_the_site() {
    let app = TestApp::spawn().await;
    app.create_user("ana@clinica.es", Role::Staff).await;
    let response = app
        .post_form(
            "/sfn/login",
            &[
                ("email", "ana@clinica.es"),
                ("password", PASSWORD),
                ("next", "//evil.example/x"),
            ],
            None,
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("location"), Some("/informes"));
}

#[tokio::test]
async fn wrong_password_and_unknown_email_look_the_same() {
    let app = TestApp::spawn().await;
    app.create_user("ana@clinica.es", Role::Staff).await;

    let wrong_password = app.login("ana@clinica.es", "nope").await;
    let unknown_email = app.login("nobody@clinica.es", PASSWORD).await;
    for response in [&wrong_password, &unknown_email] {
        assert_eq!(response.status, StatusCode::UNAUTHORIZED);
        assert_eq!(response.json()["error"], "invalid_credentials");
        assert!(response.session_cookie().is_none());
    }
    assert_eq!(wrong_password.body, unknown_email.body);
}

#[tokio::test]
async fn empty_fields_are_named() {
    let app = TestApp::spawn().await;
    let response = app.login("", "x").await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(response.json()["field"], "email");
    assert_eq!(response.json()["message"], "Escribe tu correo electrónico.");
}

#[tokio::test]
async fn missing_arguments_are_a_422_not_a_500() {
    let app = TestApp::spawn().await;
    let response = app
        .post_form("/sfn/login", &[("email", "ana@clinica.es")], None)
        .await;
    assert_eq!(
        response.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        response.body
    );
    assert_eq!(response.json()["error"], "invalid_input");
}

#[tokio::test]
async fn five_failures_make_that_address_wait_even_with_the_right_password() {
    let app = TestApp::spawn().await;
    app.create_user("ana@clinica.es", Role::Staff).await;
    for attempt in 1..=5 {
        let response = app.login("ana@clinica.es", "wrong").await;
        assert_eq!(
            response.status,
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    let response = app.login("ana@clinica.es", PASSWORD).await;
    assert_eq!(response.status, StatusCode::TOO_MANY_REQUESTS);
    let json = response.json();
    assert_eq!(json["error"], "too_many_attempts");
    // The wait counts down from 30 s: a slow machine may answer within the next second.
    let retry_after: i64 = response.header("retry-after").unwrap().parse().unwrap();
    assert!((29..=30).contains(&retry_after), "{retry_after}");
    assert_eq!(
        json["message"],
        format!(
            "Demasiados intentos fallidos. Espera {retry_after} segundos antes de volver a \
             intentarlo."
        )
    );
    assert!(response.session_cookie().is_none());

    // Another account from the same address is not affected.
    app.create_user("luis@clinica.es", Role::Staff).await;
    assert_eq!(
        app.login("luis@clinica.es", PASSWORD).await.status,
        StatusCode::OK
    );
}

/// Hole 4 of issue 11: a hundred wrong passwords from a stranger used to lock the owner out for
/// fifteen minutes, renewed for as long as the stranger went on.
#[tokio::test]
async fn a_strangers_failures_never_lock_the_owner_out() {
    let app = TestApp::spawn_with(&[("TRUST_PROXY_HEADERS", "true")]).await;
    app.create_user("admin@clinica.es", Role::Admin).await;
    let from = |ip: &'static str| [("x-forwarded-for", ip)];
    let mut checked = 0;
    for _ in 0..100 {
        let wrong = [("email", "admin@clinica.es"), ("password", "guess")];
        let response = app
            .post_form_with("/sfn/login", &wrong, None, &from("203.0.113.7"))
            .await;
        match response.status {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("{other}: {}", response.body),
        }
    }
    assert_eq!(
        checked, 5,
        "only the free attempts reach the password check"
    );
    let right = [("email", "admin@clinica.es"), ("password", PASSWORD)];
    let stranger = app
        .post_form_with("/sfn/login", &right, None, &from("203.0.113.7"))
        .await;
    assert_eq!(stranger.status, StatusCode::TOO_MANY_REQUESTS);
    let owner = app
        .post_form_with("/sfn/login", &right, None, &from("198.51.100.2"))
        .await;
    assert_eq!(owner.status, StatusCode::OK, "{}", owner.body);
}

/// The waits grow with each failure made after the previous wait ran out: 30 s, 1, 2, 4, 8 and
/// then 15 minutes, and a failure older than an hour is forgotten.
#[tokio::test]
async fn waits_grow_with_each_failure_then_are_forgotten() {
    let app = TestApp::spawn().await;
    app.create_user("ana@clinica.es", Role::Staff).await;
    let db = &app.state.db;
    let start = Timestamp::parse_rfc3339("2026-03-31T08:00:00Z").unwrap();
    let client = ClientIp("203.0.113.7".into());
    let client = &client;
    // As the sign-in page is told it.
    let attempt = |password: &'static str, at: i64| async move {
        sign_in(
            db,
            "ana@clinica.es",
            password,
            client,
            start.plus_seconds(at),
        )
        .await
        .map_err(AppError::from)
    };
    for second in 0..5 {
        assert_eq!(
            attempt("wrong", second).await.unwrap_err(),
            AppError::InvalidCredentials
        );
    }
    let mut at = 4;
    for wait in [30, 60, 120, 240, 480, 900, 900] {
        match attempt("wrong", at + wait - 1).await.unwrap_err() {
            AppError::TooManyAttempts {
                retry_after_seconds,
                ..
            } => assert_eq!(retry_after_seconds, 1, "one second early (wait {wait})"),
            other => panic!("{other:?}"),
        }
        at += wait;
        assert_eq!(
            attempt("wrong", at).await.unwrap_err(),
            AppError::InvalidCredentials,
            "after {wait} s the password is checked again"
        );
    }
    // Still waiting with the right password; an hour after the last failure, all is forgotten.
    assert!(matches!(
        attempt(PASSWORD, at + 60).await,
        Err(AppError::TooManyAttempts { .. })
    ));
    assert!(attempt(PASSWORD, at + 3601).await.is_ok());
}

/// Hole 5 of issue 11: the failure count was read before the argon2 check and written after it,
/// so parallel attempts all passed (30 of 100 reached the check), and argon2 ran on the threads
/// that serve every request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_wrong_logins_get_only_the_free_checks_and_the_server_keeps_answering() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    app.create_user("admin@clinica.es", Role::Admin).await;
    let attempts: Vec<_> = (0..200)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { app.login("admin@clinica.es", "guess").await.status })
        })
        .collect();
    // While they run, the health check answers.
    let health = tokio::time::timeout(std::time::Duration::from_secs(5), app.get("/healthz", None))
        .await
        .expect("/healthz answers while 200 sign-ins run");
    assert_eq!(health.status, StatusCode::OK);
    let (mut checked, mut refused_at_the_door) = (0, 0);
    for attempt in attempts {
        match attempt.await.unwrap() {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            // One client holds at most 64 requests in progress.
            StatusCode::SERVICE_UNAVAILABLE => refused_at_the_door += 1,
            other => panic!("{other}"),
        }
    }
    assert_eq!(checked, 5, "only the free attempts reached argon2");
    assert!(refused_at_the_door <= 200 - 64, "{refused_at_the_door}");
}

#[tokio::test]
async fn a_success_forgives_earlier_failures_of_the_account() {
    let app = TestApp::spawn().await;
    app.create_user("ana@clinica.es", Role::Staff).await;
    for _ in 0..4 {
        app.login("ana@clinica.es", "wrong").await;
    }
    assert_eq!(
        app.login("ana@clinica.es", PASSWORD).await.status,
        StatusCode::OK
    );
    for _ in 0..4 {
        app.login("ana@clinica.es", "wrong").await;
    }
    assert_eq!(
        app.login("ana@clinica.es", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_client_address_is_throttled_across_accounts() {
    let app = TestApp::spawn_with(&[("TRUST_PROXY_HEADERS", "true")]).await;
    app.create_user("ana@clinica.es", Role::Staff).await;
    let from = |ip: &'static str| [("x-forwarded-for", ip)];
    for i in 0..20 {
        let email = format!("guess{i}@clinica.es");
        let response = app
            .post_form_with(
                "/sfn/login",
                &[("email", &email), ("password", "x")],
                None,
                &from("203.0.113.7"),
            )
            .await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let ok = [("email", "ana@clinica.es"), ("password", PASSWORD)];
    let blocked = app
        .post_form_with("/sfn/login", &ok, None, &from("203.0.113.7"))
        .await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
    let elsewhere = app
        .post_form_with("/sfn/login", &ok, None, &from("198.51.100.2"))
        .await;
    assert_eq!(elsewhere.status, StatusCode::OK);
}

#[tokio::test]
async fn the_session_id_changes_at_login() {
    let app = TestApp::spawn().await;
    let first = app.signed_in("ana@clinica.es").await;
    let again = app
        .post_form(
            "/sfn/login",
            &[("email", "ana@clinica.es"), ("password", PASSWORD)],
            Some(&first),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
    let second = again.session_cookie().expect("a new cookie");
    assert_ne!(first, second);
    assert_eq!(
        app.get("/api/me", Some(&first)).await.status,
        StatusCode::UNAUTHORIZED,
        "the old id is dead"
    );
    assert_eq!(
        app.get("/api/me", Some(&second)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = TestApp::spawn().await;
    let cookie = app.signed_in("ana@clinica.es").await;
    let response = app.post_form("/sfn/logout", &[], Some(&cookie)).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.header("location"), Some("/login"));
    let sessions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(sessions, 0, "the session row is deleted");
    assert_eq!(
        app.get("/api/me", Some(&cookie)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let page = app.get("/informes", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn logout_is_not_a_get() {
    let app = TestApp::spawn().await;
    let cookie = app.signed_in("ana@clinica.es").await;
    let response = app.get("/sfn/logout", Some(&cookie)).await;
    assert!(response.status.is_client_error(), "{}", response.status);
    assert_eq!(
        app.get("/api/me", Some(&cookie)).await.status,
        StatusCode::OK
    );
}

/// Hole 3 of issue 11: the leftmost `X-Forwarded-For` entry, which the client writes, was taken
/// as its address, so a new value per attempt escaped the throttle. The proxy appends the address
/// it saw: that one counts.
#[tokio::test]
async fn a_forged_forwarded_for_entry_does_not_escape_the_throttle() {
    let app = TestApp::spawn_with(&[("TRUST_PROXY_HEADERS", "true")]).await;
    app.create_user("admin@clinica.es", Role::Admin).await;
    let wrong = [("email", "admin@clinica.es"), ("password", "guess")];
    let mut checked = 0;
    for i in 0..30 {
        let forged = format!("10.9.{}.{}, 203.0.113.7", i / 250, i % 250);
        let response = app
            .post_form_with("/sfn/login", &wrong, None, &[("x-forwarded-for", &forged)])
            .await;
        if response.status == StatusCode::UNAUTHORIZED {
            checked += 1;
        }
    }
    assert_eq!(checked, 5);

    // Behind two proxies (TRUSTED_PROXY_HOPS=2) the client is the second entry from the right.
    let app =
        TestApp::spawn_with(&[("TRUST_PROXY_HEADERS", "true"), ("TRUSTED_PROXY_HOPS", "2")]).await;
    app.create_user("admin@clinica.es", Role::Admin).await;
    for i in 0..6 {
        let forged = format!("10.9.0.{i}, 203.0.113.7, 10.0.0.{i}");
        app.post_form_with("/sfn/login", &wrong, None, &[("x-forwarded-for", &forged)])
            .await;
    }
    let right = [("email", "admin@clinica.es"), ("password", PASSWORD)];
    let via = |xff: &'static str| [("x-forwarded-for", xff)];
    let stranger = app
        .post_form_with(
            "/sfn/login",
            &right,
            None,
            &via("1.1.1.1, 203.0.113.7, 10.0.0.1"),
        )
        .await;
    assert_eq!(stranger.status, StatusCode::TOO_MANY_REQUESTS);
    let owner = app
        .post_form_with(
            "/sfn/login",
            &right,
            None,
            &via("203.0.113.7, 198.51.100.2, 10.0.0.1"),
        )
        .await;
    assert_eq!(owner.status, StatusCode::OK, "{}", owner.body);
}
