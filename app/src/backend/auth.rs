//! Passwords, sign-in with throttling, and the signed-in user of a request.

use super::db::Db;
use super::jobs::JobError;
use super::state::AppState;
use super::store::login_failures::{self, Scope};
use super::store::users;
use super::write_health::{caused_by_unavailability, is_unavailable};
use crate::domain::{CurrentUser, Email, Timestamp};
use crate::error::AppError;
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use tower_sessions::Session;

/// The client's address as the server's middleware determined it (proxy headers are believed
/// only when `TRUST_PROXY_HEADERS` is set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientIp(pub String);

/// Session key holding the signed-in user's id.
pub const SESSION_USER_ID: &str = "user_id";

/// Failed sign-ins tolerated per window before the account, or the client address, must wait.
const ACCOUNT_FAILURE_LIMIT: i64 = 5;
const IP_FAILURE_LIMIT: i64 = 20;
const FAILURE_WINDOW_SECONDS: i64 = 15 * 60;

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

/// Logs the detail of an unexpected failure and hands the client only a safe message: that the
/// database cannot take changes now (full, read-only, locked), or that something went wrong.
pub fn internal(context: &str, err: impl std::fmt::Display + 'static) -> AppError {
    let any = &err as &dyn std::any::Any;
    let unavailable = any
        .downcast_ref::<sqlx::Error>()
        .is_some_and(is_unavailable)
        || any
            .downcast_ref::<anyhow::Error>()
            .is_some_and(caused_by_unavailability)
        || matches!(
            any.downcast_ref::<JobError>(),
            Some(JobError::Retryable(e) | JobError::RetryAfter(e, _)) if caused_by_unavailability(e)
        );
    tracing::error!(error = format!("{err:#}"), "{context}");
    if unavailable {
        AppError::Unavailable
    } else {
        AppError::Internal
    }
}

/// A failure of the session store, which is the database: it cannot take the write now.
pub fn session_unavailable(context: &str, err: tower_sessions::session::Error) -> AppError {
    tracing::error!(error = %err, "{context}");
    AppError::Unavailable
}

/// Checks the credentials, throttling per account and per client address. Unknown e-mail and
/// wrong password give the same answer.
pub async fn sign_in(
    db: &Db,
    email: &str,
    password: &str,
    client_ip: &str,
    now: Timestamp,
) -> Result<CurrentUser, AppError> {
    let account = email.trim().to_lowercase();
    if account.is_empty() {
        return Err(AppError::invalid("email", "Escribe tu correo electrónico."));
    }
    if password.is_empty() {
        return Err(AppError::invalid("password", "Escribe tu contraseña."));
    }
    let window_start = now.plus_seconds(-FAILURE_WINDOW_SECONDS);
    for (scope, subject, limit) in [
        (Scope::Account, account.as_str(), ACCOUNT_FAILURE_LIMIT),
        (Scope::Ip, client_ip, IP_FAILURE_LIMIT),
    ] {
        let (failures, oldest) =
            login_failures::count_since(&db.reader, scope, subject, window_start)
                .await
                .map_err(|e| internal("reading login failures", e))?;
        if failures >= limit {
            let retry_after_seconds = oldest
                .map_or(FAILURE_WINDOW_SECONDS, |t| {
                    t.unix() + FAILURE_WINDOW_SECONDS - now.unix()
                })
                .max(1);
            let minutes = (retry_after_seconds + 59) / 60;
            tracing::warn!(scope = ?scope, "sign-in throttled");
            return Err(AppError::TooManyAttempts {
                message: format!(
                    "Demasiados intentos fallidos. Espera {minutes} {} antes de volver a intentarlo.",
                    if minutes == 1 { "minuto" } else { "minutos" }
                ),
                retry_after_seconds,
            });
        }
    }

    let user = match Email::parse(&account) {
        Ok(email) => users::find_by_email(&db.reader, &email)
            .await
            .map_err(|e| internal("reading users", e))?,
        Err(_) => None,
    };
    let hash = user
        .as_ref()
        .map_or(decoy_hash(), |u| u.password_hash.as_str());
    let password_ok = verify_password(password, hash);
    match user {
        Some(user) if password_ok => {
            login_failures::clear(&db.writer, Scope::Account, &account)
                .await
                .map_err(|e| internal("clearing login failures", e))?;
            user.into_current_user()
                .map_err(|e| internal("reading the signed-in user", e))
        }
        _ => {
            let mut tx = db
                .begin_write()
                .await
                .map_err(|e| internal("recording a login failure", e))?;
            for (scope, subject) in [(Scope::Account, account.as_str()), (Scope::Ip, client_ip)] {
                login_failures::record(&mut *tx, scope, subject, now)
                    .await
                    .map_err(|e| internal("recording a login failure", e))?;
            }
            login_failures::prune_before(&mut *tx, window_start)
                .await
                .map_err(|e| internal("pruning login failures", e))?;
            tx.commit()
                .await
                .map_err(|e| internal("recording a login failure", e))?;
            tracing::info!("sign-in refused: wrong e-mail or password");
            Err(AppError::InvalidCredentials)
        }
    }
}

/// The user of this session, if it is signed in and the account still exists.
pub async fn session_user(db: &Db, session: &Session) -> Result<Option<CurrentUser>, AppError> {
    let Some(user_id) = session
        .get::<i64>(SESSION_USER_ID)
        .await
        .map_err(|e| internal("reading the session", e))?
    else {
        return Ok(None);
    };
    let row = users::find_by_id(&db.reader, user_id)
        .await
        .map_err(|e| internal("reading users", e))?;
    row.map(|r| {
        r.into_current_user()
            .map_err(|e| internal("reading the signed-in user", e))
    })
    .transpose()
}

/// For server functions: the state and the signed-in user, or 401. Every protected server
/// function calls it itself; hiding a page is not protection.
pub async fn require_user() -> Result<(AppState, CurrentUser), AppError> {
    let state = leptos::prelude::use_context::<AppState>()
        .ok_or_else(|| internal("server function", "AppState missing from the context"))?;
    let session: Session = leptos_axum::extract()
        .await
        .map_err(|e| internal("the session layer is missing", e))?;
    let user = session_user(&state.db, &session)
        .await?
        .ok_or(AppError::Unauthorized)?;
    Ok((state, user))
}

/// Like [`require_user`], for what only admins may do: 403 for staff.
pub async fn require_admin() -> Result<(AppState, CurrentUser), AppError> {
    let (state, user) = require_user().await?;
    if user.role != crate::domain::Role::Admin {
        return Err(AppError::Forbidden);
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
}
