//! The sign-in throttle: per (account, client address) and per address, with delays that grow
//! with each failure instead of a lock. A stranger's failures make the stranger wait; the owner
//! signing in from another address is not affected.
//!
//! An attempt is recorded before its password is checked, in the same `IMMEDIATE` transaction
//! that counted the earlier ones, so parallel attempts are counted one after another and cannot
//! all slip under a limit. Its row stays unless the password was right (a crash in between counts
//! as a failure: the careful side).

use super::db::Db;
use super::store::login_attempts::{self, Attempts};
use crate::domain::Timestamp;

/// Failures a pair may make before each further attempt must wait.
const PAIR_FREE: i64 = 5;
/// Failures an address may make across accounts (a reception desk's typos) before waiting.
const CLIENT_FREE: i64 = 20;
/// The first wait, doubled by every further failure, up to [`LONGEST_WAIT`].
const FIRST_WAIT_SECONDS: i64 = 30;
const LONGEST_WAIT: i64 = 15 * 60;
/// Failures older than this are forgotten.
const MEMORY_SECONDS: i64 = 60 * 60;

/// What the throttle decided for an attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// Recorded: the password may be checked now.
    Admitted,
    /// Not recorded: come back in this many seconds.
    Wait { seconds: i64 },
}

/// How long after its latest failure a subject must wait, given how many it has made.
fn wait_after(failures: i64, free: i64) -> i64 {
    let over = failures - free;
    if over < 0 {
        return 0;
    }
    // 30 s, 1 min, 2, 4, 8, then 15 minutes; the exponent is capped before shifting.
    (FIRST_WAIT_SECONDS << over.min(5)).min(LONGEST_WAIT)
}

fn remaining(attempts: Attempts, free: i64, now: Timestamp) -> i64 {
    let wait = wait_after(attempts.count, free);
    match attempts.latest {
        Some(latest) if wait > 0 => latest.unix().saturating_add(wait) - now.unix(),
        _ => 0,
    }
}

/// Decides whether `account` may try a password from `client` now, and records the attempt if so.
pub async fn admit(
    db: &Db,
    account: &str,
    client: &str,
    now: Timestamp,
) -> anyhow::Result<Admission> {
    let since = now.plus_seconds(-MEMORY_SECONDS);
    let wait = |pair, from_client| {
        remaining(pair, PAIR_FREE, now).max(remaining(from_client, CLIENT_FREE, now))
    };
    // A throttled client is answered from a read: a flood of throttled attempts must not queue
    // on the one writer that intake and the queue need.
    let pair = login_attempts::of_pair(&db.reader, account, client, since).await?;
    let from_client = login_attempts::of_client(&db.reader, client, since).await?;
    let seconds = wait(pair, from_client);
    if seconds > 0 {
        return Ok(Admission::Wait { seconds });
    }
    // Counted again where it counts: parallel attempts are serialised by the write lock.
    let mut tx = db.begin_write().await?;
    let pair = login_attempts::of_pair(&mut *tx, account, client, since).await?;
    let from_client = login_attempts::of_client(&mut *tx, client, since).await?;
    let seconds = wait(pair, from_client);
    if seconds > 0 {
        return Ok(Admission::Wait { seconds });
    }
    login_attempts::record(&mut *tx, account, client, now).await?;
    login_attempts::prune_before(&mut *tx, since).await?;
    tx.commit().await?;
    Ok(Admission::Admitted)
}

/// Forgets every attempt on `account` (`mini-crm user unlock`): for the owner locked out by
/// failures from their own address. Returns how many were forgotten.
pub async fn unlock(db: &Db, account: &str) -> sqlx::Result<u64> {
    login_attempts::forget_account(&db.writer, account).await
}

/// The password was right: the pair's earlier failures, and this attempt, are forgiven.
pub async fn forgive(db: &Db, account: &str, client: &str) -> sqlx::Result<()> {
    login_attempts::forgive(&db.writer, account, client).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_from_thirty_seconds_to_a_quarter_of_an_hour() {
        let waits: Vec<i64> = (3..=12).map(|f| wait_after(f, 5)).collect();
        assert_eq!(waits, [0, 0, 30, 60, 120, 240, 480, 900, 900, 900]);
        assert_eq!(wait_after(i64::MAX, 5), 900);
        assert_eq!(wait_after(19, CLIENT_FREE), 0);
        assert_eq!(wait_after(20, CLIENT_FREE), 30);
    }

    #[test]
    fn the_wait_runs_from_the_latest_failure() {
        let now = Timestamp::parse_rfc3339("2026-03-31T08:30:00Z").unwrap();
        let attempts = |count, ago: i64| Attempts {
            count,
            latest: Some(now.plus_seconds(-ago)),
        };
        assert_eq!(remaining(attempts(5, 10), 5, now), 20);
        assert_eq!(remaining(attempts(5, 30), 5, now), 0);
        assert_eq!(remaining(attempts(4, 0), 5, now), 0);
        assert_eq!(remaining(Attempts::default(), 5, now), 0);
    }
}
