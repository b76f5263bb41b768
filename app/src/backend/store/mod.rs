//! SQL, one module per table family. Placeholders are `$n` and every instant is bound from Rust
//! as a [`crate::domain::Timestamp`], so the queries stay portable to PostgreSQL.

pub mod api_tokens;
pub mod appointments;
pub mod call_requests;
pub mod calls;
pub mod heartbeats;
pub mod jobs;
pub mod lead_activities;
pub mod leads;
pub mod login_failures;
pub mod messages;
pub mod settings;
pub mod treatments;
pub mod users;
pub mod webhook_events;
