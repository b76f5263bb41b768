//! Server functions: thin — check the user, call the backend, map errors. All live under
//! [`SFN_PREFIX`], away from the JSON API's `/api/`.

pub mod integrations;
pub mod leads;
pub mod reports;
pub mod session;
pub mod settings;
pub mod tokens;

/// URL prefix of every server function.
pub const SFN_PREFIX: &str = "/sfn";
