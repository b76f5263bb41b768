//! The backend's one error: a refusal the user must read, or an unexpected failure that keeps
//! its whole chain (`.context(…)` at each step) until the edge. There, one conversion turns it
//! into what the page or API client is told, and logs the chain once.

use crate::backend::jobs::JobError;
use crate::backend::write_health::caused_by_unavailability;
use crate::error::AppError;
use tower_sessions::{session, session_store};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Refused for a reason the user reads: invalid input, not found, a phone already taken…
    #[error(transparent)]
    Refused(#[from] AppError),
    /// Unexpected: what was being done at each step, down to the cause.
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The failure, led by what was being done; a refusal stays as the user must read it.
    pub fn context(self, doing: &'static str) -> Self {
        match self {
            Error::Refused(refusal) => Error::Refused(refusal),
            Error::Failed(failure) => Error::Failed(failure.context(doing)),
        }
    }
}

/// An error that went through `anyhow` (a service shared with the CLI) is told apart again: a
/// refusal it carries is still a refusal.
impl From<anyhow::Error> for Error {
    fn from(failure: anyhow::Error) -> Self {
        match failure.downcast::<Error>() {
            Ok(error) => error,
            Err(failure) => match failure.downcast::<AppError>() {
                Ok(refusal) => Error::Refused(refusal),
                Err(failure) => Error::Failed(failure),
            },
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        Error::Failed(error.into())
    }
}

impl From<session::Error> for Error {
    fn from(error: session::Error) -> Self {
        Error::Failed(error.into())
    }
}

/// `.context(…)` on any fallible step of the backend: its failure, led by what was being done,
/// as the backend's [`Error`]. No `map_err` per call.
pub trait Context<T> {
    fn context(self, doing: &'static str) -> Result<T>;
}

impl<T, E: Into<anyhow::Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, doing: &'static str) -> Result<T> {
        self.map_err(|error| Error::from(error.into()).context(doing))
    }
}

/// A job's failure met outside the queue (a replay from Integraciones): its chain, whatever the
/// queue would have done with it.
impl From<JobError> for Error {
    fn from(error: JobError) -> Self {
        match error {
            JobError::Retryable(e)
            | JobError::RetryAfter(e, _)
            | JobError::Permanent(e)
            | JobError::Held(e) => Error::from(e),
        }
    }
}

/// What the user is told: a refusal as it is; a failure logged once with its chain, and told as
/// "the database cannot take changes now" when that is the cause (the client may try again),
/// else as an unexpected error. The detail never reaches the client.
impl From<Error> for AppError {
    fn from(error: Error) -> Self {
        match error {
            Error::Refused(refusal) => refusal,
            Error::Failed(failure) => told(failure),
        }
    }
}

impl From<anyhow::Error> for AppError {
    fn from(failure: anyhow::Error) -> Self {
        Error::from(failure).into()
    }
}

fn told(failure: anyhow::Error) -> AppError {
    tracing::error!(error = format!("{failure:#}"), "request failed");
    if unavailable(&failure) {
        AppError::Unavailable
    } else {
        AppError::Internal
    }
}

/// The database could not take the work now (full, read-only, locked, gone), somewhere in the
/// chain; the session store is the database too. The JSON API's edge asks the same.
pub fn unavailable(failure: &anyhow::Error) -> bool {
    caused_by_unavailability(failure)
        || failure.chain().any(|cause| {
            // The store's database failed; a session value or record that cannot be read is a
            // bug (500), which retrying would not mend.
            matches!(
                cause.downcast_ref::<session::Error>(),
                Some(session::Error::Store(session_store::Error::Backend(_)))
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_said_as_it_is() {
        let said: AppError = Error::from(AppError::NotFound).into();
        assert_eq!(said, AppError::NotFound);
    }

    #[test]
    fn a_failure_keeps_its_chain_and_is_told_by_its_cause() {
        let locked: Result<()> = Err(sqlx::Error::PoolTimedOut).context("reading a lead");
        let error = locked.unwrap_err();
        assert_eq!(
            error.to_string(),
            "reading a lead: pool timed out while waiting for an open connection"
        );
        assert_eq!(AppError::from(error), AppError::Unavailable);
        let bug = Error::from(anyhow::anyhow!("a bug").context("listing leads"));
        assert_eq!(AppError::from(bug), AppError::Internal);
    }

    #[test]
    fn only_a_session_store_that_fails_is_unavailable() {
        let store: Result<()> = Err(session::Error::Store(session_store::Error::Backend(
            "database is locked".into(),
        )))
        .context("reading the session");
        assert_eq!(AppError::from(store.unwrap_err()), AppError::Unavailable);
        let unreadable = serde_json::from_str::<i64>("x").unwrap_err();
        let value: Result<()> =
            Err(session::Error::SerdeJson(unreadable)).context("reading the session");
        assert_eq!(AppError::from(value.unwrap_err()), AppError::Internal);
    }

    #[test]
    fn a_refusal_stays_one_through_context_and_anyhow() {
        let refused: Result<()> = Err(Error::from(AppError::NotFound)).context("reading a lead");
        let through_anyhow = anyhow::Error::from(refused.unwrap_err());
        assert_eq!(AppError::from(through_anyhow), AppError::NotFound);
    }
}
