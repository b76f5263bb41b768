//! HTTP and database tests through the real router on real SQLite files: one test binary.

mod auth;
mod helpers;
mod schema;
mod security;
mod seed;
