//! `GET /metrics`: off without a token, refused without the right one, and what it counts.

use crate::helpers::TestApp;
use crate::webhooks::{fixture, post_whatsapp, WA_SECRET};
use axum::body::Body;
use axum::http::{Request, StatusCode};

async fn scrape(app: &TestApp, token: Option<&str>) -> crate::helpers::TestResponse {
    let mut request = Request::get("/metrics");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    app.send(request.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn metrics_need_their_token_and_count_webhooks_jobs_breakers_and_latency() {
    let off = TestApp::spawn().await;
    assert_eq!(
        scrape(&off, Some("anything")).await.status,
        StatusCode::NOT_FOUND
    );

    let app = TestApp::spawn_with(&[
        ("METRICS_TOKEN", "scrape-me"),
        ("WHATSAPP_APP_SECRET", WA_SECRET),
    ])
    .await;
    assert_eq!(scrape(&app, None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        scrape(&app, Some("wrong")).await.status,
        StatusCode::UNAUTHORIZED
    );

    assert_eq!(
        post_whatsapp(&app, &fixture("whatsapp_message.json"))
            .await
            .status,
        StatusCode::OK
    );
    let forged = app
        .send(
            Request::post("/webhooks/whatsapp")
                .header("content-type", "application/json")
                .header("x-hub-signature-256", "sha256=00")
                .body(Body::from("{}"))
                .unwrap(),
        )
        .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    sqlx::query("UPDATE provider_breakers SET state = 'open' WHERE provider = 'hubspot'")
        .execute(&app.state.db.writer)
        .await
        .unwrap();

    let metrics = scrape(&app, Some("scrape-me")).await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(metrics
        .header("content-type")
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let body = metrics.body;
    for line in [
        "mini_crm_webhooks_received_total{provider=\"whatsapp\"} 1",
        "mini_crm_webhooks_rejected_total{provider=\"whatsapp\"} 1",
        "mini_crm_webhooks_received_total{provider=\"aircall\"} 0",
        "mini_crm_jobs{queue=\"inbound\",state=\"pending\"} 1",
        "mini_crm_breaker_open{provider=\"hubspot\"} 1",
        "mini_crm_breaker_open{provider=\"whatsapp\"} 0",
        "mini_crm_http_request_duration_seconds_count{route=\"webhooks\"} 2",
        "# EOF",
    ] {
        assert!(
            body.lines().any(|l| l == line),
            "{line} missing in:\n{body}"
        );
    }
    assert!(!body.contains("scrape-me"));
}
