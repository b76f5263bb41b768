//! Every route the application registers, tried by a stranger, by staff where admins are needed,
//! and from another site. The lists come from the router itself (Leptos' page routes and the
//! server-function registry) and from the OpenAPI document, so a new route is tried without
//! anyone remembering to add it; a new server function must also be given its audience below,
//! or this suite fails.

use crate::helpers::TestApp;
use axum::http::StatusCode;
use std::collections::BTreeSet;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Audience {
    Anyone,
    Staff,
    Admins,
}

/// Who each server function is for. Keep in step with `app/src/api`.
const SERVER_FUNCTIONS: &[(&str, Audience)] = &[
    ("/sfn/login", Audience::Anyone),
    ("/sfn/logout", Audience::Anyone),
    ("/sfn/current_user", Audience::Staff),
    ("/sfn/kpi_dashboard", Audience::Staff),
    ("/sfn/leads", Audience::Staff),
    ("/sfn/lead", Audience::Staff),
    ("/sfn/save_lead", Audience::Staff),
    ("/sfn/schedule_appointment", Audience::Staff),
    ("/sfn/reschedule_appointment", Audience::Staff),
    ("/sfn/appointment_status", Audience::Staff),
    ("/sfn/sell_treatment", Audience::Staff),
    ("/sfn/send_whatsapp", Audience::Staff),
    ("/sfn/mark_lead_lost", Audience::Staff),
    ("/sfn/reopen_lead", Audience::Staff),
    ("/sfn/call_lead", Audience::Staff),
    ("/sfn/queues", Audience::Staff),
    ("/sfn/provider_breakers", Audience::Staff),
    ("/sfn/webhook_events", Audience::Staff),
    ("/sfn/failed_jobs", Audience::Staff),
    ("/sfn/retry_jobs", Audience::Admins),
    ("/sfn/webhook_payload", Audience::Admins),
    ("/sfn/replay_webhook", Audience::Admins),
    ("/sfn/settings", Audience::Admins),
    ("/sfn/save_settings", Audience::Admins),
    ("/sfn/api_tokens", Audience::Admins),
    ("/sfn/create_api_token", Audience::Admins),
    ("/sfn/revoke_api_token", Audience::Admins),
];

/// One form that satisfies every server function's arguments (unknown fields are ignored), so a
/// refusal is the function's own check, not its argument parser's.
const EVERY_ARGUMENT: &[(&str, &str)] = &[
    ("id", "1"),
    ("lead_id", "1"),
    ("appointment_id", "1"),
    ("name", "Prueba"),
    ("phone", "+34600000001"),
    ("email", ""),
    ("source", "meta"),
    ("status", "attended"),
    ("scheduled_at", "2030-01-01T10:00"),
    ("sessions_count", "6"),
    ("price", "100"),
    ("treatment_id", ""),
    ("reason", "Prueba"),
    ("body", "Hola"),
    ("template", ""),
    ("q", ""),
    ("stage", ""),
    ("page", "1"),
    ("provider", ""),
    ("whatsapp_outbound", "on"),
    ("calls_ui", "on"),
    ("hubspot_sync_mode", "live"),
    ("backup_phone", "+34600000002"),
];

fn registered_server_functions() -> BTreeSet<String> {
    leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.to_string())
        .collect()
}

#[tokio::test]
async fn every_server_function_has_a_declared_audience() {
    let declared: BTreeSet<String> = SERVER_FUNCTIONS
        .iter()
        .map(|(p, _)| p.to_string())
        .collect();
    assert_eq!(
        registered_server_functions(),
        declared,
        "a server function was added or removed: declare who it is for in SERVER_FUNCTIONS"
    );
}

#[tokio::test]
async fn strangers_get_401_from_every_server_function_that_is_not_for_anyone() {
    let app = TestApp::spawn().await;
    for (path, audience) in SERVER_FUNCTIONS {
        if *audience == Audience::Anyone {
            continue;
        }
        let answer = app.post_form(path, EVERY_ARGUMENT, None).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{path}: {}",
            answer.body
        );
        assert_eq!(answer.json()["error"], "unauthorized", "{path}");
    }
}

#[tokio::test]
async fn staff_get_403_from_every_admin_server_function_and_pass_the_others() {
    let app = TestApp::spawn().await;
    let staff = app.signed_in("luis@clinica.es").await;
    for (path, audience) in SERVER_FUNCTIONS {
        if *path == "/sfn/logout" {
            continue;
        }
        let answer = app.post_form(path, EVERY_ARGUMENT, Some(&staff)).await;
        match audience {
            Audience::Admins => {
                assert_eq!(
                    answer.status,
                    StatusCode::FORBIDDEN,
                    "{path}: {}",
                    answer.body
                );
            }
            // Past the role check: the function's own answer (done, not found, invalid…).
            Audience::Staff | Audience::Anyone => assert!(
                !matches!(
                    answer.status,
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                ) || *path == "/sfn/login",
                "{path}: {} {}",
                answer.status,
                answer.body
            ),
        }
        assert_ne!(
            answer.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{path}: {}",
            answer.body
        );
    }
}

#[tokio::test]
async fn every_server_function_refuses_a_cross_site_post() {
    let app = TestApp::spawn().await;
    let staff = app.signed_in("luis@clinica.es").await;
    for path in registered_server_functions() {
        let answer = app
            .post_form_with(
                &path,
                EVERY_ARGUMENT,
                Some(&staff),
                &[
                    ("sec-fetch-site", "cross-site"),
                    ("origin", "https://evil.example"),
                ],
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{path}: {}",
            answer.body
        );
    }
}

#[tokio::test]
async fn every_page_sends_strangers_to_the_login() {
    let app = TestApp::spawn().await;
    let pages = leptos_axum::generate_route_list(app::App);
    assert!(pages.len() >= 5, "{pages:?}");
    for page in pages {
        // `/leads/:id` and the like: any value will do for a stranger.
        let path: String = page
            .path()
            .split('/')
            .map(|part| {
                if part.starts_with(':') || part.starts_with('{') {
                    "1"
                } else {
                    part
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let answer = app.get(&path, None).await;
        if path == "/login" {
            assert_eq!(answer.status, StatusCode::OK);
            continue;
        }
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{path}");
        assert!(
            answer
                .header("location")
                .is_some_and(|l| l.starts_with("/login?next=")),
            "{path}"
        );
        assert!(
            !answer.body.contains("<main"),
            "{path}: no page for strangers"
        );
    }
}

#[tokio::test]
async fn every_documented_api_route_answers_strangers_401() {
    let app = TestApp::spawn().await;
    let document = app.get("/api/openapi.json", None).await.json();
    let paths = document["paths"].as_object().unwrap();
    assert!(!paths.is_empty());
    for (path, operations) in paths {
        for method in operations.as_object().unwrap().keys() {
            let request = axum::http::Request::builder()
                .method(method.to_uppercase().as_str())
                .uri(path.as_str())
                .body(axum::body::Body::empty())
                .unwrap();
            let answer = app.send(request).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{method} {path}");
            assert_eq!(answer.json()["error"], "unauthorized", "{method} {path}");
        }
    }
}
