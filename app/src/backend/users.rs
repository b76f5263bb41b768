//! Staff accounts: created (or updated) with a checked, hashed password; their Aircall line;
//! a new password; disabled and enabled again. The CLI and the tests create users here.

use super::auth;
use super::db::Db;
use super::store::users;
use crate::domain::{Email, Role, Timestamp};
use anyhow::{bail, Context};

pub use super::store::users::UserRow;

/// At least 8 characters: what every new password must have.
pub fn check_password(password: &str) -> anyhow::Result<()> {
    if password.chars().count() < 8 {
        bail!("the password must have at least 8 characters");
    }
    Ok(())
}

/// Creates the user, or updates the one with that e-mail; its id.
pub async fn create(
    db: &Db,
    email: &str,
    name: &str,
    role: Role,
    password: &str,
) -> anyhow::Result<i64> {
    let email =
        Email::parse(email).with_context(|| format!("{email:?} is not an e-mail address"))?;
    if name.trim().is_empty() {
        bail!("the name cannot be empty");
    }
    check_password(password)?;
    let hash = auth::hash_password(password)?;
    let user = users::NewUser {
        email: &email,
        name: name.trim(),
        password_hash: &hash,
        role,
    };
    Ok(users::upsert(&db.writer, user, Timestamp::now()).await?)
}

/// Every user, by e-mail.
pub async fn list(db: &Db) -> sqlx::Result<Vec<UserRow>> {
    users::all(&db.reader).await
}

/// The Aircall line the user calls from (`None`: none). `false`: no such user.
pub async fn set_aircall_line(db: &Db, email: &Email, line: Option<i64>) -> sqlx::Result<bool> {
    users::set_aircall_user_id(&db.writer, email, line).await
}

/// A new password (checked, hashed); the user's sessions end. `false`: no such user.
pub async fn set_password(db: &Db, email: &Email, password: &str) -> anyhow::Result<bool> {
    check_password(password)?;
    let hash = auth::hash_password(password)?;
    Ok(users::set_password(&db.writer, email, &hash).await?)
}

/// Disables (their sessions end, sign-in refused) or enables the user. `false`: no such user.
pub async fn set_disabled(
    db: &Db,
    email: &Email,
    disabled: bool,
    now: Timestamp,
) -> sqlx::Result<bool> {
    users::set_disabled(&db.writer, email, disabled.then_some(now)).await
}
