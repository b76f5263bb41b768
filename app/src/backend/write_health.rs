//! Whether the database takes this process's writes. Intake reports every group commit (and
//! probes while failing), the queue worker its claims; `/healthz` reads it, and the worker does
//! not claim while it fails. A change of state is logged once, not each failed write: a full disk
//! must not also fill the log.

use crate::domain::Timestamp;
use std::sync::Mutex;
use std::time::Instant;

/// Writes have failed since `since`, the last time because of `reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteFault {
    pub since: Timestamp,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct WriteHealth {
    fault: Mutex<Option<WriteFault>>,
    /// When the intake commit in progress began (once it had the connection): a disk that
    /// stalls every fsync answers nothing, neither success nor error, and only the clock tells.
    writing_since: Mutex<Option<Instant>>,
}

/// A commit that has not come back after this long is a fault.
pub const STALLED_AFTER_SECONDS: i64 = 10;

/// Marks a commit in progress for as long as it lives.
#[must_use]
pub struct Writing<'a>(&'a WriteHealth);

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        *lock(&self.0.writing_since) = None;
    }
}

impl WriteHealth {
    /// The current fault, if writes are failing or a commit has stalled.
    pub fn fault(&self) -> Option<WriteFault> {
        if let Some(fault) = lock(&self.fault).clone() {
            return Some(fault);
        }
        let seconds = (*lock(&self.writing_since))?.elapsed().as_secs() as i64;
        (seconds >= STALLED_AFTER_SECONDS).then(|| WriteFault {
            since: Timestamp::now().plus_seconds(-seconds),
            reason: format!("a commit has not finished for {seconds} s"),
        })
    }

    pub fn is_failing(&self) -> bool {
        self.fault().is_some()
    }

    /// Marks a commit in progress until the returned guard is dropped.
    pub fn writing(&self) -> Writing<'_> {
        *lock(&self.writing_since) = Some(Instant::now());
        Writing(self)
    }

    /// A write of `who` committed: ends the fault, if there was one.
    pub fn succeeded(&self, who: &str) {
        if let Some(fault) = lock(&self.fault).take() {
            let seconds = Timestamp::now().unix() - fault.since.unix();
            tracing::warn!(
                writer = who,
                seconds,
                "the database takes writes again: intake and the queue resume"
            );
        }
    }

    /// A write of `who` failed: starts a fault, or keeps the one in progress with the new reason.
    pub fn failed(&self, who: &str, error: &dyn std::fmt::Display) {
        let reason = error.to_string();
        let mut fault = lock(&self.fault);
        match fault.as_mut() {
            Some(fault) => fault.reason = reason,
            None => {
                tracing::error!(
                    writer = who,
                    error = %reason,
                    "the database cannot commit: webhooks answer 503, staff changes are refused and the queue waits until it can"
                );
                *fault = Some(WriteFault {
                    since: Timestamp::now(),
                    reason,
                });
            }
        }
    }
}

/// The guarded values are plain Options: a panic elsewhere cannot leave one half-written.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether anything in `err`'s chain says the database cannot take writes now.
pub fn caused_by_unavailability(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<sqlx::Error>()
            .is_some_and(is_unavailable)
    })
}

/// Errors that say the database cannot take writes now (full, read-only, locked, gone), as
/// opposed to a bug or a bad request: the caller answers 503 and the client tries again later.
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    // SQLite primary result codes (the low byte of an extended code).
    const BUSY: i64 = 5;
    const LOCKED: i64 = 6;
    const IOERR: i64 = 10;
    const FULL: i64 = 13;
    const CANTOPEN: i64 = 14;
    match err {
        sqlx::Error::Database(_) => {
            is_read_only(err)
                || sqlite_code(err)
                    .is_some_and(|code| matches!(code, BUSY | LOCKED | IOERR | FULL | CANTOPEN))
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}

/// SQLite opened the database for reading only (`SQLITE_READONLY`): a read-only or immutable
/// file, a read-only file system.
pub fn is_read_only(err: &sqlx::Error) -> bool {
    const READONLY: i64 = 8;
    sqlite_code(err) == Some(READONLY)
}

/// The primary result code of a SQLite error (the low byte of its extended code).
fn sqlite_code(err: &sqlx::Error) -> Option<i64> {
    match err {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| code.parse::<i64>().ok())
            .map(|code| code & 0xff),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_fault_starts_once_and_ends_on_the_next_success() {
        let health = WriteHealth::default();
        assert!(!health.is_failing());
        health.failed("intake", &"database or disk is full");
        let since = health.fault().unwrap().since;
        health.failed("intake", &"disk I/O error");
        let fault = health.fault().unwrap();
        assert_eq!(fault.since, since, "the fault keeps its start");
        assert_eq!(fault.reason, "disk I/O error", "and its latest reason");
        health.succeeded("intake");
        assert_eq!(health.fault(), None);
    }

    #[test]
    fn a_commit_that_does_not_come_back_is_a_fault_once_it_has_stalled() {
        let health = WriteHealth::default();
        let writing = health.writing();
        assert!(
            !health.is_failing(),
            "a commit in progress is not a fault yet"
        );
        let stalled = Duration::from_secs(STALLED_AFTER_SECONDS as u64);
        *lock(&health.writing_since) = Instant::now().checked_sub(stalled);
        let fault = health.fault().expect("a stalled commit is a fault");
        let since = Timestamp::now().unix() - fault.since.unix();
        assert!((STALLED_AFTER_SECONDS..=STALLED_AFTER_SECONDS + 1).contains(&since));
        assert!(
            fault.reason.starts_with("a commit has not finished"),
            "{}",
            fault.reason
        );
        drop(writing);
        assert!(!health.is_failing(), "over once the commit comes back");
    }

    /// SQLite's own errors, from a real file: read-only and full are unavailability (503, try
    /// later); a constraint is the request's fault.
    #[tokio::test]
    async fn sqlite_errors_are_sorted_by_whether_waiting_helps() {
        use sqlx::sqlite::SqliteConnectOptions;
        use sqlx::{ConnectOptions, Executor};
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.sqlite");
        let mut conn = SqliteConnectOptions::new()
            .filename(&file)
            .create_if_missing(true)
            .connect()
            .await
            .unwrap();
        conn.execute("CREATE TABLE t (x BLOB UNIQUE)")
            .await
            .unwrap();
        conn.execute("INSERT INTO t VALUES (1)").await.unwrap();
        let duplicate = conn.execute("INSERT INTO t VALUES (1)").await.unwrap_err();
        assert!(!is_unavailable(&duplicate), "{duplicate}");
        conn.execute("PRAGMA max_page_count = 1").await.unwrap();
        let full = conn
            .execute("INSERT INTO t VALUES (zeroblob(100000))")
            .await
            .unwrap_err();
        assert!(is_unavailable(&full), "{full}");

        let mut read_only = SqliteConnectOptions::new()
            .filename(&file)
            .read_only(true)
            .connect()
            .await
            .unwrap();
        let refused = read_only
            .execute("INSERT INTO t VALUES (2)")
            .await
            .unwrap_err();
        assert!(is_unavailable(&refused), "{refused}");
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
    }
}
