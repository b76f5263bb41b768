//! The server side of mini-crm: the command line, the HTTP router and its middleware.

pub mod cli;
pub mod fake_providers;
pub mod health_check;
pub mod http;
pub mod telemetry;
