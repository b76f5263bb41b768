//! `GET /api/reports/kpis`, its authentication, its errors, and the page's server function.

use crate::clinic::{ts, Clinic};
use crate::helpers::TestApp;
use app::backend::tokens;
use app::domain::{AppointmentStatus, Source};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};

async fn get_with_bearer(app: &TestApp, path: &str, token: &str) -> crate::helpers::TestResponse {
    let request = Request::get(path).header(header::AUTHORIZATION, format!("Bearer {token}"));
    app.send(request.body(Body::empty()).unwrap()).await
}

async fn small_clinic(app: &TestApp) {
    let mut clinic = Clinic::new(app.state.db.clone());
    let lead = clinic.lead(Source::Meta, ts("2025-01-06T10:00:00Z")).await;
    clinic
        .lead(Source::Google, ts("2025-01-05T10:00:00Z"))
        .await;
    clinic
        .appointment(
            lead,
            ts("2025-01-06T11:00:00Z"),
            ts("2025-01-07T09:00:00Z"),
            AppointmentStatus::Attended,
        )
        .await;
}

#[tokio::test]
async fn the_report_by_session_cookie_has_the_contracts_shape() {
    let app = TestApp::spawn().await;
    small_clinic(&app).await;
    let cookie = app.signed_in("ana@clinica.es").await;
    let response = app
        .get(
            "/api/reports/kpis?source=meta&as_of=2025-01-07T10:00:00Z",
            Some(&cookie),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let json = response.json();
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        keys(&json),
        [
            "counts",
            "filters",
            "generated_at",
            "series_7d",
            "timezone",
            "totals"
        ]
    );
    assert_eq!(
        keys(&json["totals"]),
        [
            "appointment_rate_7d",
            "attendance_rate_7d",
            "conversion_rate_7d",
            "leads_24h",
            "leads_7d",
            "no_show_rate_7d",
            "sessions_completed_7d"
        ]
    );
    assert_eq!(
        keys(&json["counts"]),
        [
            "attended_7d",
            "cancelled_7d",
            "leads_with_appointment_7d",
            "leads_with_treatment_7d",
            "no_show_7d"
        ]
    );
    assert_eq!(
        keys(&json["series_7d"][0]),
        [
            "appointments",
            "attended",
            "cancelled",
            "date",
            "leads",
            "no_show",
            "sessions_completed",
            "treatments"
        ]
    );
    assert_eq!(
        json["filters"],
        serde_json::json!({"source": "meta", "as_of": "2025-01-07T10:00:00Z"})
    );
    assert_eq!(json["timezone"], "Europe/Madrid");
    assert_eq!(json["totals"]["leads_7d"], 1);
    assert_eq!(json["totals"]["appointment_rate_7d"], 1.0);
    assert_eq!(json["totals"]["attendance_rate_7d"], 1.0);
    assert_eq!(json["series_7d"].as_array().unwrap().len(), 7);
    assert_eq!(json["series_7d"][6]["date"], "2025-01-07");
    assert!(json["generated_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn without_filters_the_source_is_null_and_as_of_is_now() {
    let app = TestApp::spawn().await;
    let cookie = app.signed_in("ana@clinica.es").await;
    for path in ["/api/reports/kpis", "/api/reports/kpis?source="] {
        let json = app.get(path, Some(&cookie)).await.json();
        assert_eq!(json["filters"]["source"], serde_json::Value::Null, "{path}");
        let as_of = ts(json["filters"]["as_of"].as_str().unwrap());
        assert!((as_of.unix() - app::domain::Timestamp::now().unix()).abs() < 60);
    }
}

#[tokio::test]
async fn bearer_tokens_work_until_revoked() {
    let app = TestApp::spawn().await;
    small_clinic(&app).await;
    let (id, token) = tokens::create(&app.state.db, "panel", None).await.unwrap();
    assert!(token.starts_with("mcrm_"));
    let response =
        get_with_bearer(&app, "/api/reports/kpis?as_of=2025-01-07T10:00:00Z", &token).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.json()["totals"]["leads_7d"], 2);
    assert_eq!(
        get_with_bearer(&app, "/api/me", &token).await.json()["kind"],
        "token"
    );

    let stored: String = sqlx::query_scalar("SELECT token_hash FROM api_tokens WHERE id = $1")
        .bind(id)
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert!(!stored.contains(&token[5..]), "only the hash is stored");

    assert!(tokens::revoke(&app.state.db, id).await.unwrap());
    let response = get_with_bearer(&app, "/api/reports/kpis", &token).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(response.json()["error"], "unauthorized");
}

#[tokio::test]
async fn missing_or_wrong_credentials_are_401_json() {
    let app = TestApp::spawn().await;
    let cookie = app.signed_in("ana@clinica.es").await;
    let anonymous = app.get("/api/reports/kpis", None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.json()["error"], "unauthorized");
    assert!(anonymous.json()["message"].is_string());
    assert_eq!(
        get_with_bearer(&app, "/api/reports/kpis", "mcrm_forged")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // A request with an Authorization header is judged by it alone, cookie or not.
    let request = Request::get("/api/reports/kpis")
        .header(header::AUTHORIZATION, "Basic YWRtaW46cGFzc3dvcmQ=")
        .header(header::COOKIE, &cookie);
    assert_eq!(
        app.send(request.body(Body::empty()).unwrap()).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_bad_source_is_422_naming_the_allowed_values() {
    let app = TestApp::spawn().await;
    let cookie = app.signed_in("ana@clinica.es").await;
    for bad in ["bing", "Google", "all"] {
        let response = app
            .get(&format!("/api/reports/kpis?source={bad}"), Some(&cookie))
            .await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let json = response.json();
        assert_eq!(json["error"], "invalid_parameter");
        assert_eq!(json["parameter"], "source");
        assert_eq!(
            json["allowed"],
            serde_json::json!(["google", "meta", "organic"])
        );
        assert!(json["message"].as_str().unwrap().contains(bad));
    }
}

/// A database that cannot answer is a 503 the client may retry, like the pages' own, not a 500.
#[tokio::test]
async fn a_database_that_cannot_answer_is_503_with_retry_after() {
    let app = TestApp::spawn().await;
    let cookie = app.signed_in("ana@clinica.es").await;
    app.state.db.reader.close().await;
    let response = app.get("/api/reports/kpis", Some(&cookie)).await;
    assert_eq!(
        response.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        response.body
    );
    assert_eq!(response.json()["error"], "unavailable");
    assert_eq!(response.headers["retry-after"], "30");
}

#[tokio::test]
async fn an_unparsable_as_of_is_422() {
    let app = TestApp::spawn().await;
    let cookie = app.signed_in("ana@clinica.es").await;
    for bad in [
        "",
        "yesterday",
        "2025-01-07",
        "2025-13-01T00:00:00Z",
        "2025-01-07%2010:00:00",
    ] {
        let response = app
            .get(&format!("/api/reports/kpis?as_of={bad}"), Some(&cookie))
            .await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(response.json()["error"], "invalid_parameter");
        assert_eq!(response.json()["parameter"], "as_of");
    }
    let response = app
        .get(
            "/api/reports/kpis?as_of=2025-01-07T11:00:00%2B01:00",
            Some(&cookie),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.json()["filters"]["as_of"],
        "2025-01-07T10:00:00Z",
        "offsets are normalised to UTC"
    );
}

#[tokio::test]
async fn the_openapi_document_describes_the_api() {
    let app = TestApp::spawn().await;
    let response = app.get("/api/openapi.json", None).await;
    assert_eq!(response.status, StatusCode::OK);
    let doc = response.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/api/reports/kpis"]["get"].is_object());
    assert!(doc["components"]["schemas"]["KpiReport"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn the_pages_server_function_shares_the_report() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.post_form("/sfn/kpi_dashboard", &[], None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let cookie = app.signed_in("ana@clinica.es").await;
    let response = app
        .post_form("/sfn/kpi_dashboard", &[("source", "google")], Some(&cookie))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let json = response.json();
    assert_eq!(json["report"]["filters"]["source"], "google");
    assert_eq!(json["chart_options"].as_array().unwrap().len(), 3);
    let leads_chart: serde_json::Value =
        serde_json::from_str(json["chart_options"][0].as_str().unwrap()).unwrap();
    assert_eq!(leads_chart["series"][0]["name"], "Leads");
    let response = app
        .post_form("/sfn/kpi_dashboard", &[("source", "bing")], Some(&cookie))
        .await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(response.json()["field"], "source");
}

#[tokio::test]
async fn only_admins_manage_tokens() {
    let app = TestApp::spawn().await;
    let staff = app.signed_in("luis@clinica.es").await;
    assert_eq!(
        app.post_form("/sfn/api_tokens", &[], Some(&staff))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let response = app
        .post_form("/sfn/create_api_token", &[("name", "x")], Some(&staff))
        .await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);

    let admin = app.signed_in_admin("ana@clinica.es").await;
    let empty_name = app
        .post_form("/sfn/create_api_token", &[("name", "  ")], Some(&admin))
        .await;
    assert_eq!(empty_name.status, StatusCode::UNPROCESSABLE_ENTITY);
    let created = app
        .post_form(
            "/sfn/create_api_token",
            &[("name", "Dirección")],
            Some(&admin),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let token = created.json()["token"].as_str().unwrap().to_string();
    let id = created.json()["id"].as_i64().unwrap();
    assert_eq!(
        get_with_bearer(&app, "/api/reports/kpis", &token)
            .await
            .status,
        StatusCode::OK
    );

    let list = app
        .post_form("/sfn/api_tokens", &[], Some(&admin))
        .await
        .json();
    assert_eq!(list[0]["name"], "Dirección");
    assert!(
        !list.to_string().contains(&token),
        "the list never shows the token"
    );

    let revoked = app
        .post_form(
            "/sfn/revoke_api_token",
            &[("id", &id.to_string())],
            Some(&admin),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK);
    assert_eq!(
        get_with_bearer(&app, "/api/reports/kpis", &token)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let again = app
        .post_form(
            "/sfn/revoke_api_token",
            &[("id", &id.to_string())],
            Some(&admin),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_page_renders_the_cards_on_the_server_and_says_when_there_is_nothing() {
    let app = TestApp::spawn().await;
    let cookie = app.signed_in("ana@clinica.es").await;
    let page = app.get("/informes?source=organic", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("data-kpi=\"leads_7d\""),
        "cards are in the server-rendered HTML"
    );
    assert!(page
        .body
        .contains("No hay actividad en los últimos 7 días con este filtro."));
    assert!(page
        .body
        .contains("href=\"/api/reports/kpis?source=organic\""));
}

/// Hole 14 of issue 11: the fraction of `as_of` was dropped, so a lead created at 08:30:00 the
/// day before counted in `leads_24h` of `08:30:00.500`, half a second outside the 24 hours.
#[tokio::test]
async fn a_fraction_of_a_second_in_as_of_is_kept() {
    let app = TestApp::spawn().await;
    let mut clinic = Clinic::new(app.state.db.clone());
    clinic.lead(Source::Meta, ts("2026-03-30T08:30:00Z")).await;
    clinic.lead(Source::Meta, ts("2026-03-30T08:30:01Z")).await;
    clinic.lead(Source::Meta, ts("2026-03-31T08:30:00Z")).await;
    clinic.lead(Source::Meta, ts("2026-03-31T08:30:01Z")).await;
    let cookie = app.signed_in("ana@clinica.es").await;
    let leads_24h = |as_of: &'static str| {
        let (app, cookie) = (&app, &cookie);
        async move {
            let response = app
                .get(&format!("/api/reports/kpis?as_of={as_of}"), Some(cookie))
                .await;
            assert_eq!(response.status, StatusCode::OK, "{}", response.body);
            response.json()["totals"]["leads_24h"].as_i64().unwrap()
        }
    };
    // Whole seconds: both ends included, as before.
    assert_eq!(leads_24h("2026-03-31T08:30:00Z").await, 3);
    // Half a second later the first lead is out, and the one at 08:30:01 is still in the future.
    assert_eq!(leads_24h("2026-03-31T08:30:00.500Z").await, 2);
    assert_eq!(leads_24h("2026-03-31T08:30:01Z").await, 3);
}
