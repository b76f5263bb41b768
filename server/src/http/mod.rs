//! The HTTP side: one router for pages, server functions, the JSON API and static assets.

mod api;
mod error;
mod guards;
mod headers;
mod health;
mod listen;
mod maintenance;
mod metrics;
mod overload;
pub mod session_store;
mod url_errors;
mod webhooks;

use anyhow::Context;
use app::api::SFN_PREFIX;
use app::backend::state::{AppState, Heartbeats};
use app::backend::supervise::supervise;
use app::backend::webhooks::ingest::Ingestor;
use app::backend::worker;
use app::backend::{config::Config, db::Db, retention};
use app::domain::Queue;
use app::{shell, App, HOME_PATH};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Request as HttpRequest, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{middleware, Extension, Router};
use leptos::config::LeptosOptions;
use leptos::nonce::Nonce;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, handle_server_fns_with_context, LeptosRoutes};
use session_store::HashedIds;
use std::sync::Arc;
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tower_sessions::{
    cookie::SameSite, session_store::ExpiredDeletion, Expiry, SessionManagerLayer,
};
use tower_sessions_sqlx_store::SqliteStore;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "mini_crm_session";
/// A session ends after this long without a request.
const SESSION_IDLE: time::Duration = time::Duration::hours(12);

pub fn leptos_options(config: &Config) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("mini-crm")
        .site_root(config.site_root.as_str())
        .site_pkg_dir("pkg")
        .site_addr(config.site_addr)
        .build()
}

pub async fn app_state(config: Config) -> anyhow::Result<AppState> {
    let db = Db::connect(&config.database_url).await?;
    let leptos_options = leptos_options(&config);
    let heartbeats = Arc::new(Heartbeats::default());
    Ok(AppState {
        ingestor: Ingestor::start(db.clone(), heartbeats.intake.clone()),
        heartbeats,
        db,
        config: Arc::new(config),
        leptos_options,
        rejected_webhooks: Default::default(),
        received_webhooks: Default::default(),
        http: app::backend::providers::http_client(),
    })
}

/// tower-sessions' SQLite store on the `sessions` table of our own schema, ids hashed.
fn session_store(db: &Db) -> HashedIds {
    HashedIds::new(
        SqliteStore::new(db.sessions.clone())
            .with_table_name("sessions")
            .expect("a valid table name"),
    )
}

pub fn router(state: AppState) -> Router {
    let sessions = SessionManagerLayer::new(session_store(&state.db))
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.config.secure_cookies())
        .with_expiry(Expiry::OnInactivity(SESSION_IDLE));

    // Pages are registered with our own handler (not `leptos_routes_with_context`, which would
    // also mount the server functions behind the page guard).
    let pages = Router::new()
        .leptos_routes_with_handler(generate_route_list(App), get(page))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            guards::require_page_user,
        ))
        .route_layer(middleware::from_fn(url_errors::refuse_unsigned));

    // Pages, server functions and the API: sessions, maintenance, and the server's limits.
    let app = overload::limit(
        Router::new()
            .route("/", get(|| async { Redirect::to(HOME_PATH) }))
            .merge(pages)
            .route(
                &format!("{SFN_PREFIX}/{{*name}}"),
                get(server_fn).post(server_fn),
            )
            .nest("/api", api::router())
            .fallback(not_a_route)
            .layer(sessions.clone())
            .layer(middleware::from_fn(error::session_not_saved))
            .layer(middleware::from_fn_with_state(
                state.clone(),
                maintenance::refuse_while_down,
            )),
    );
    // Providers' servers and health checks have no sessions, keep working in maintenance, and
    // have limits of their own: their routes stand outside those layers.
    app.nest("/webhooks", webhooks::router())
        // Its own session layer, to know an admin: the details are theirs (or the token's).
        .route(
            "/healthz",
            get(health::healthz)
                .layer(sessions)
                .layer(middleware::from_fn(error::session_not_saved)),
        )
        .route("/metrics", get(metrics::metrics))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guards::refuse_cross_site,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guards::client_ip,
        ))
        .layer(middleware::from_fn(headers::security_headers))
        .layer(middleware::from_fn(metrics::record))
        .layer(Extension(metrics::Metrics::default()))
        // A 5xx is logged where it arises (once per state change or per second); tower-http's own
        // line for each one would let a flood of refused deliveries fill the disk.
        .layer(TraceLayer::new_for_http().on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)).make_span_with(|request: &HttpRequest<Body>| {
            // The path only: query strings can carry tokens (the WhatsApp handshake does).
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
        }))
        .with_state(state)
}

/// Renders a page of the app, with the app state in its context. Pages are rendered whole
/// (async mode): the HTML carries the data in place, and session writes made while rendering
/// reach the response's headers.
async fn page(State(state): State<AppState>, request: Request) -> Response {
    let options = state.leptos_options.clone();
    let nonce = this_requests_nonce(&request);
    let render = leptos_axum::render_app_async_with_context(
        move || {
            provide_context(state.clone());
            provide_context(nonce.clone());
        },
        move || shell(options.clone()),
    );
    render(request).await.into_response()
}

/// Static files, and the "not found" page (rendered with this request's nonce like any page).
async fn not_a_route(state: State<AppState>, uri: Uri, request: Request) -> Response {
    let nonce = this_requests_nonce(&request);
    let handler = leptos_axum::file_and_error_handler_with_context::<AppState, _>(
        move || provide_context(nonce.clone()),
        shell,
    );
    handler(uri, state, request).await
}

/// The nonce `headers::security_headers` made for this request's Content Security Policy.
fn this_requests_nonce(request: &Request) -> Nonce {
    request
        .extensions()
        .get::<Nonce>()
        .cloned()
        .unwrap_or_else(Nonce::new)
}

/// Runs a server function with the app state in its context, then gives its error the HTTP status
/// the error names (the framework would answer every error with 500), or signs the error a
/// plain form's redirect carries.
async fn server_fn(State(state): State<AppState>, request: Request) -> impl IntoResponse {
    let mut response =
        handle_server_fns_with_context(move || provide_context(state.clone()), request)
            .await
            .into_response();
    url_errors::sign_redirect(&mut response);
    error::with_app_error_status(response).await
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let addr = config.site_addr;
    if !config.trust_proxy_headers && addr.ip().is_loopback() {
        tracing::warn!("{}", guards::SHARED_ADDRESS_WARNING);
    }
    let state = app_state(config).await?;
    // Expired sessions are only ignored by the store; this keeps the table from growing forever.
    // The store's loop ends at its first error (a full disk): start it again a minute later.
    let store = session_store(&state.db);
    tokio::spawn(async move {
        loop {
            let period = std::time::Duration::from_secs(3600);
            if let Err(err) = store.clone().continuously_delete_expired(period).await {
                tracing::warn!(error = %err, "deleting expired sessions failed; again in a minute");
            }
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        }
    });
    let (db, policy) = (state.db.clone(), retention::Policy::of(&state.config));
    tokio::spawn(supervise("retention", move || {
        retention::run_daily(db.clone(), policy)
    }));
    if state.config.hubspot_access_token.is_some() {
        let db = state.db.clone();
        tokio::spawn(supervise("hubspot sweep", move || {
            app::backend::hubspot_sync::run_hourly_sweep(db.clone())
        }));
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    // The queue runs in-process; on shutdown it finishes the job in hand after HTTP stops.
    let (stop_workers, workers_stopped) = tokio::sync::watch::channel(false);
    // Supervised: a worker that panics is started again (with a new name: the jobs the old one
    // held are taken back by the lock timeout).
    let (jobs, beat) = (state.jobs(), state.heartbeats.queue.clone());
    let workers = tokio::spawn(supervise("queue worker", move || {
        worker::work(
            jobs.clone(),
            Queue::ALL.to_vec(),
            worker::worker_name("serve"),
            workers_stopped.clone(),
            beat.clone(),
        )
    }));
    tracing::info!(%addr, "mini-crm listening on http://{addr}");
    listen::serve(listener, router(state), shutdown_signal()).await;
    let _ = stop_workers.send(true);
    workers.await.context("the queue worker panicked")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
