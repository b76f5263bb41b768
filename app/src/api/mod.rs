//! Server functions: thin — check the user, call the backend, map errors. All live under
//! [`SFN_PREFIX`], away from the JSON API's `/api/`.

pub mod session;

/// URL prefix of every server function.
pub const SFN_PREFIX: &str = "/sfn";
