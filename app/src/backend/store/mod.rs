//! SQL, one module per table family. Placeholders are `$n` and every instant is bound from Rust
//! as a [`crate::domain::Timestamp`], so the queries stay portable to PostgreSQL.

pub mod api_tokens;
pub mod appointments;
pub mod call_requests;
pub mod calls;
pub mod erased_identities;
pub mod heartbeats;
pub mod jobs;
pub mod lead_activities;
pub mod leads;
pub mod leases;
pub mod login_attempts;
pub mod messages;
pub mod provider_breakers;
#[cfg(test)]
mod query_plans;
pub mod settings;
pub mod treatments;
pub mod users;
pub mod webhook_events;

/// The one row of a writing statement with `RETURNING`, read with `fetch_all`. Never
/// `fetch_one` or `fetch_optional` for those: SQLite commits a statement outside a transaction
/// when it runs to its end, and sqlx stops those two after the first row and drops the error of
/// that end, so a commit refused by a full disk would read as a success.
pub fn only_row<T>(rows: Vec<T>) -> sqlx::Result<T> {
    rows.into_iter().next().ok_or(sqlx::Error::RowNotFound)
}

/// Like [`only_row`], for a statement that may return none.
pub fn first_row<T>(rows: Vec<T>) -> Option<T> {
    rows.into_iter().next()
}
