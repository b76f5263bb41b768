//! HTTP and database tests through the real router on real SQLite files: one test binary.

mod aircall_backfill;
mod auth;
#[path = "../common/binary.rs"]
mod binary;
mod clinic;
mod degradation;
mod fake_providers;
mod faults;
#[path = "../common/fixtures.rs"]
mod fixtures;
mod health;
mod helpers;
mod hubspot_sync;
mod kpi_golden;
mod kpi_reference;
mod leads;
mod limits;
mod metrics;
mod outbound;
mod provider_corpus;
mod queue;
mod reports;
mod retention;
mod route_security;
mod schema;
mod security;
mod seed;
mod sessions;
mod webhooks;
