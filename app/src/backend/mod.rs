//! Everything that runs only on the server: configuration, the database and its SQL, sign-in,
//! demo data.

pub mod auth;
pub mod backfill;
pub mod backup;
pub mod breakers;
pub mod config;
pub mod db;
pub mod flags;
pub mod fresh;
pub mod hubspot_sync;
pub mod jobs;
pub mod kpi;
pub mod leads;
pub mod log_every;
pub mod outbound;
pub mod providers;
#[cfg(test)]
mod query_plans;
pub mod queue;
pub mod retention;
pub mod seed;
pub mod sign_in_throttle;
pub mod state;
pub mod store;
pub mod supervise;
pub mod tokens;
pub mod users;
pub mod webhooks;
pub mod worker;
pub mod write_health;
