//! `TestApp`: the real router over a fresh SQLite file in a temporary directory.

use app::backend::{config::Config, state::AppState};
use app::domain::Role;
use axum::body::{to_bytes, Body};
use axum::http::{header, Request, Response, StatusCode};
use axum::Router;
use std::collections::HashMap;
use tempfile::TempDir;
use tower::ServiceExt;

pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub state: AppState,
    router: Router,
    _dir: TempDir,
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl TestResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `name=value` of the session cookie this response sets, if any.
    pub fn session_cookie(&self) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("mini_crm_session="))
            .map(|c| c.split(';').next().unwrap_or_default().to_string())
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    pub async fn spawn_with(vars: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut env: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.entry("DATABASE_URL".into())
            .or_insert_with(|| format!("sqlite://{}/test.sqlite", dir.path().display()));
        let config = Config::from_lookup(|name| env.get(name).cloned()).expect("config");
        let state = server::http::app_state(config).await.expect("state");
        let router = server::http::router(state.clone());
        Self {
            state,
            router,
            _dir: dir,
        }
    }

    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        let response: Response<Body> = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = to_bytes(response.into_body(), 10 * 1024 * 1024)
            .await
            .expect("body");
        TestResponse {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> TestResponse {
        let mut request = Request::get(path);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    /// A same-origin form POST, as the hydrated page (or a plain form) sends it.
    pub async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> TestResponse {
        self.post_form_with(path, form, cookie, &[]).await
    }

    pub async fn post_form_with(
        &self,
        path: &str,
        form: &[(&str, &str)],
        cookie: Option<&str>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut request = Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::HOST, "127.0.0.1:3000")
            .header(header::ORIGIN, "http://127.0.0.1:3000");
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let body = serde_urlencoded::to_string(form).unwrap();
        let mut request = request.body(Body::from(body)).unwrap();
        for (name, value) in headers {
            let name = header::HeaderName::from_bytes(name.as_bytes()).unwrap();
            request.headers_mut().insert(name, value.parse().unwrap());
        }
        self.send(request).await
    }

    /// `/healthz` with its details, as a monitor holding `METRICS_TOKEN` asks for it.
    pub async fn health_details(&self) -> TestResponse {
        let token = self
            .state
            .config
            .metrics_token
            .as_ref()
            .expect("the details need METRICS_TOKEN in this app's configuration");
        let request = Request::get("/healthz")
            .header(header::AUTHORIZATION, format!("Bearer {}", token.expose()));
        self.send(request.body(Body::empty()).unwrap()).await
    }

    pub async fn create_user(&self, email: &str, role: Role) -> i64 {
        app::backend::users::create(&self.state.db, email, "Ana Pérez", role, PASSWORD)
            .await
            .expect("user created")
    }

    pub async fn login(&self, email: &str, password: &str) -> TestResponse {
        self.post_form(
            "/sfn/login",
            &[("email", email), ("password", password)],
            None,
        )
        .await
    }

    /// Creates an admin, signs in and returns the session cookie.
    pub async fn signed_in_admin(&self, email: &str) -> String {
        self.create_user(email, Role::Admin).await;
        let response = self.login(email, PASSWORD).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        response.session_cookie().expect("a session cookie")
    }

    /// Signs in and returns the session cookie.
    pub async fn signed_in(&self, email: &str) -> String {
        self.create_user(email, Role::Staff).await;
        let response = self.login(email, PASSWORD).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        response.session_cookie().expect("a session cookie")
    }
}
