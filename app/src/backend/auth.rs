//! Passwords, sign-in with throttling, and the signed-in user of a request.

use super::db::Db;
use super::error::Result;
use super::log_every::LogEvery;
use super::sign_in_throttle::{self, Admission};
use super::state::AppState;
use super::store::users;
use crate::domain::{CurrentUser, Email, Timestamp};
use crate::error::AppError;
use anyhow::Context;
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use std::sync::Arc;
use tower_sessions::Session;

/// The client's address as the server's middleware determined it (proxy headers are believed
/// only when `TRUST_PROXY_HEADERS` is set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientIp(pub String);

impl ClientIp {
    /// Whom limits count this client as: its address, or for IPv6 its /64 network, since one
    /// subscriber holds a whole /64 and could otherwise take a new address for every attempt.
    pub fn bucket(&self) -> String {
        match self.0.parse::<std::net::Ipv6Addr>() {
            Ok(v6) if v6.to_ipv4_mapped().is_none() => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
            Ok(v6) => v6
                .to_ipv4_mapped()
                .map_or_else(String::new, |v4| v4.to_string()),
            Err(_) => self.0.clone(),
        }
    }
}

/// The longest e-mail address there is (RFC 5321): anything longer is no account, and is not
/// recorded (a stranger's megabyte "e-mail" would otherwise be stored for an hour).
const LONGEST_EMAIL: usize = 254;

/// Session key holding the signed-in user's id.
pub const SESSION_USER_ID: &str = "user_id";
/// Session key holding the user's `session_epoch` at sign-in: a password change or a disable
/// moves the user's epoch on, and the session is over.
const SESSION_EPOCH: &str = "session_epoch";
/// Session key holding when the session was last used (unix seconds). tower-sessions saves a
/// session, and so pushes its expiry 12 h on, only when it changes: this key changes at most
/// once a minute, which makes the expiry roll with use without a write per request.
const SESSION_SEEN_AT: &str = "seen_at";
const SEEN_EVERY_SECONDS: i64 = 60;

/// argon2id with the crate's defaults (OWASP's m=19 MiB, t=2, p=1).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    hash_password_with_salt(password, SaltString::generate(&mut OsRng))
}

/// Demo data derives the salt from its seed so the same `--now` gives the same database.
pub fn hash_password_with_salt(password: &str, salt: SaltString) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A random secret of `bytes` bytes, hex-encoded (generated passwords, API tokens).
pub fn random_hex(bytes: usize) -> String {
    use argon2::password_hash::rand_core::RngCore;
    let mut buffer = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buffer);
    hex::encode(buffer)
}

/// Hash of a password nobody has, so an unknown e-mail costs as much time as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("not a password anyone has").expect("argon2 with defaults"))
}

/// Checks the credentials, throttling per (account, client address) and per address (see
/// [`sign_in_throttle`]). Unknown e-mail and wrong password give the same answer and cost the same.
pub async fn sign_in(
    db: &Db,
    email: &str,
    password: &str,
    client_ip: &ClientIp,
    now: Timestamp,
) -> Result<SignedIn> {
    let account = email.trim().to_lowercase();
    if account.is_empty() {
        return Err(AppError::invalid("email", "Escribe tu correo electrónico.").into());
    }
    if password.is_empty() {
        return Err(AppError::invalid("password", "Escribe tu contraseña.").into());
    }
    if account.len() > LONGEST_EMAIL {
        return Err(AppError::InvalidCredentials.into());
    }
    let client = client_ip.bucket();
    match sign_in_throttle::admit(db, &account, &client, now)
        .await
        .context("recording a sign-in attempt")?
    {
        Admission::Admitted => {}
        Admission::Wait { seconds } => {
            // Anyone can trigger this: one line a second at most.
            static THROTTLED: LogEvery = LogEvery::new(std::time::Duration::from_secs(1));
            if let Some(throttled) = THROTTLED.tick() {
                tracing::warn!(throttled, "sign-in attempts throttled");
            }
            return Err(AppError::TooManyAttempts {
                message: format!(
                    "Demasiados intentos fallidos. Espera {} antes de volver a intentarlo.",
                    crate::format::duration(seconds)
                ),
                retry_after_seconds: seconds,
            }
            .into());
        }
    }

    let user = match Email::parse(&account) {
        Ok(email) => users::find_by_email(&db.reader, &email)
            .await
            .context("reading users")?,
        Err(_) => None,
    };
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let password_ok = verify_password_off_runtime(password.to_string(), hash).await?;
    match user {
        Some(user) if password_ok => {
            sign_in_throttle::forgive(db, &account, &client)
                .await
                .context("forgiving earlier sign-in failures")?;
            // Said only to whoever knows the password.
            if user.disabled_at.is_some() {
                return Err(AppError::AccountDisabled.into());
            }
            let session_epoch = user.session_epoch;
            Ok(SignedIn {
                user: user.into_current_user(),
                session_epoch,
            })
        }
        _ => {
            static REFUSED: LogEvery = LogEvery::new(std::time::Duration::from_secs(1));
            if let Some(refused) = REFUSED.tick() {
                tracing::info!(refused, "sign-in refused: wrong e-mail or password");
            }
            Err(AppError::InvalidCredentials.into())
        }
    }
}

/// argon2 takes tens of milliseconds of one core by design: it runs on the blocking pool, two at
/// a time, so a burst of sign-ins never stalls the threads that serve everything else. The
/// permit travels with the computation: a request dropped while argon2 runs (its client gone)
/// keeps its place until argon2 ends, so dropped requests cannot pile up computations. A check
/// that cannot start within a few seconds is refused as "try again".
async fn verify_password_off_runtime(password: String, hash: Option<String>) -> Result<bool> {
    static CHECKS: std::sync::LazyLock<Arc<tokio::sync::Semaphore>> =
        std::sync::LazyLock::new(|| Arc::new(tokio::sync::Semaphore::new(2)));
    let permit = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        CHECKS.clone().acquire_owned(),
    )
    .await
    .map_err(|_| AppError::TooManyAttempts {
        message: "Hay demasiados inicios de sesión a la vez. Inténtalo de nuevo en unos segundos."
            .to_string(),
        retry_after_seconds: 5,
    })?
    .context("waiting to check a password")?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        // The decoy is made here the first time too: it is an argon2 hash.
        let hash = hash.as_deref().unwrap_or_else(|| decoy_hash());
        verify_password(&password, hash)
    })
    .await
    .context("checking a password")
    .map_err(Into::into)
}

/// Who signed in, and the session epoch their session belongs to.
#[derive(Debug)]
pub struct SignedIn {
    pub user: CurrentUser,
    pub session_epoch: i64,
}

/// Starts the signed-in session (the id is cycled first: no fixation).
pub async fn start_session(session: &Session, signed_in: &SignedIn) -> Result<()> {
    session.cycle_id().await.context("cycling the session id")?;
    let write = async {
        session.insert(SESSION_USER_ID, signed_in.user.id).await?;
        session
            .insert(SESSION_EPOCH, signed_in.session_epoch)
            .await?;
        session
            .insert(SESSION_SEEN_AT, Timestamp::now().unix())
            .await
    };
    write.await.context("writing the session")?;
    Ok(())
}

/// The user of this session, if it is signed in, the account still exists and is enabled, and
/// its password has not changed since. A session that no longer qualifies is ended.
pub async fn session_user(db: &Db, session: &Session) -> Result<Option<CurrentUser>> {
    let read = async {
        let user_id = session.get::<i64>(SESSION_USER_ID).await?;
        let epoch = session.get::<i64>(SESSION_EPOCH).await?;
        let seen_at = session.get::<i64>(SESSION_SEEN_AT).await?;
        Ok::<_, tower_sessions::session::Error>((user_id, epoch, seen_at))
    };
    let (user_id, epoch, seen_at) = read.await.context("reading the session")?;
    let Some(user_id) = user_id else {
        return Ok(None);
    };
    let row = users::find_by_id(&db.reader, user_id)
        .await
        .context("reading users")?;
    let current = row.filter(|r| r.disabled_at.is_none() && Some(r.session_epoch) == epoch);
    let Some(row) = current else {
        session
            .flush()
            .await
            .context("ending a session that is over")?;
        return Ok(None);
    };
    let now = Timestamp::now().unix();
    // While writes fail, the session is not touched (its save would fail the request).
    if seen_at.is_none_or(|t| now - t >= SEEN_EVERY_SECONDS) && !db.write_health.is_failing() {
        session
            .insert(SESSION_SEEN_AT, now)
            .await
            .context("writing the session")?;
    }
    Ok(Some(row.into_current_user()))
}

/// For server functions: the state and the signed-in user, or 401. Every protected server
/// function calls it itself; hiding a page is not protection.
pub async fn require_user() -> Result<(AppState, CurrentUser)> {
    let state = leptos::prelude::use_context::<AppState>()
        .context("a server function without AppState in its context")?;
    let session: Session = leptos_axum::extract()
        .await
        .context("the session layer is missing")?;
    let user = session_user(&state.db, &session)
        .await?
        .ok_or(AppError::Unauthorized)?;
    Ok((state, user))
}

/// Like [`require_user`], for what only admins may do: 403 for staff.
pub async fn require_admin() -> Result<(AppState, CurrentUser)> {
    let (state, user) = require_user().await?;
    if user.role != crate::domain::Role::Admin {
        return Err(AppError::Forbidden.into());
    }
    Ok((state, user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn an_ipv6_client_counts_as_its_network() {
        let bucket = |ip: &str| ClientIp(ip.into()).bucket();
        assert_eq!(bucket("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(bucket("2001:db8:1:2:ffff::9"), bucket("2001:db8:1:2::5"));
        assert_eq!(bucket("203.0.113.7"), "203.0.113.7");
        assert_eq!(bucket("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(bucket("unknown"), "unknown");
    }
}
