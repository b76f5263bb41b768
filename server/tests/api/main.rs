//! HTTP and database tests through the real router on real SQLite files: one test binary.

mod auth;
mod backup;
mod binary;
mod clinic;
mod crash;
mod degradation;
mod deploy;
mod fake_providers;
mod faults;
mod health;
mod helpers;
mod kpi_golden;
mod kpi_reference;
mod leads;
mod limits;
mod logs;
mod metrics;
mod outbound;
mod queue;
mod reports;
mod runbooks;
mod schema;
mod security;
mod seed;
mod sync;
mod webhooks;
