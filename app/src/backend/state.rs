//! What every handler and server function can reach.

use super::jobs::JobContext;
use super::supervise::Heartbeat;
use super::webhooks::ingest::Ingestor;
use super::{config::Config, db::Db};
use crate::domain::Provider;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub leptos_options: LeptosOptions,
    pub ingestor: Ingestor,
    /// Deliveries refused (bad signature or token) since this process started. They are never
    /// stored, so this count and the log are all that remains of them.
    pub rejected_webhooks: Arc<ProviderCounter>,
    /// Deliveries stored since this process started.
    pub received_webhooks: Arc<ProviderCounter>,
    /// The providers' HTTP client (connection pools are shared by clones).
    pub http: reqwest::Client,
    /// The background tasks' heartbeats, read by `/healthz`.
    pub heartbeats: Arc<Heartbeats>,
}

/// One heartbeat per supervised background task of `serve`.
#[derive(Debug, Default)]
pub struct Heartbeats {
    pub queue: Heartbeat,
    pub intake: Heartbeat,
}

impl AppState {
    pub fn jobs(&self) -> JobContext {
        JobContext {
            db: self.db.clone(),
            config: self.config.clone(),
            http: self.http.clone(),
        }
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// A count per provider since this process started.
#[derive(Debug, Default)]
pub struct ProviderCounter([AtomicU64; 3]);

impl ProviderCounter {
    /// Counts one more and returns the new total for `provider`.
    pub fn record(&self, provider: Provider) -> u64 {
        self.0[provider as usize].fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn count(&self, provider: Provider) -> u64 {
        self.0[provider as usize].load(Ordering::Relaxed)
    }
}
