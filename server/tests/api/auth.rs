//! Sign-in, sign-out, throttling and who may see what.

use crate::helpers::{TestApp, PASSWORD};
use app::domain::Role;
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
async fn an_account_is_throttled_after_five_failures_even_with_the_right_password() {
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
    assert!(json["message"]
        .as_str()
        .unwrap()
        .starts_with("Demasiados intentos fallidos. Espera 15 minutos"));
    assert!(response.session_cookie().is_none());

    // Another account from the same address is not affected.
    app.create_user("luis@clinica.es", Role::Staff).await;
    assert_eq!(
        app.login("luis@clinica.es", PASSWORD).await.status,
        StatusCode::OK
    );
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
