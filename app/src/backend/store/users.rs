//! `users`: staff accounts.

use crate::domain::{CurrentUser, Email, Role, Timestamp};
use sqlx::{FromRow, SqliteExecutor};

#[derive(Debug, FromRow)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub role: Role,
    /// Sessions signed in under another epoch are over (see `auth::session_user`).
    pub session_epoch: i64,
    pub disabled_at: Option<Timestamp>,
}

const COLUMNS: &str = "id, email, name, password_hash, role, session_epoch, disabled_at";

impl UserRow {
    pub fn into_current_user(self) -> CurrentUser {
        CurrentUser {
            id: self.id,
            name: self.name,
            email: self.email,
            role: self.role,
        }
    }
}

pub struct NewUser<'a> {
    pub email: &'a Email,
    pub name: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
}

pub async fn find_by_email(
    db: impl SqliteExecutor<'_>,
    email: &Email,
) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE email = $1"))
        .bind(email.as_str())
        .fetch_optional(db)
        .await
}

pub async fn find_by_id(db: impl SqliteExecutor<'_>, id: i64) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Every user, by e-mail.
pub async fn all(db: impl SqliteExecutor<'_>) -> sqlx::Result<Vec<UserRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users ORDER BY email"))
        .fetch_all(db)
        .await
}

/// Creates the user, or updates name, password and role when the e-mail already exists (a new
/// password ends the user's sessions).
pub async fn upsert(
    db: impl SqliteExecutor<'_>,
    user: NewUser<'_>,
    now: Timestamp,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO users (email, name, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (email) DO UPDATE SET name = excluded.name,
             password_hash = excluded.password_hash, role = excluded.role,
             session_epoch = users.session_epoch + 1
         RETURNING id",
    )
    .bind(user.email.as_str())
    .bind(user.name)
    .bind(user.password_hash)
    .bind(user.role.as_str())
    .bind(now)
    .fetch_all(db)
    .await
    .and_then(super::only_row)
}

/// The user's Aircall user id (their line for click-to-call), if one is set.
pub async fn aircall_user_id(db: impl SqliteExecutor<'_>, id: i64) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT aircall_user_id FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
        .map(Option::flatten)
}

/// Sets (or with `None` clears) a user's Aircall user id; `false` when the e-mail is unknown.
pub async fn set_aircall_user_id(
    db: impl SqliteExecutor<'_>,
    email: &Email,
    aircall_user_id: Option<i64>,
) -> sqlx::Result<bool> {
    let result = sqlx::query("UPDATE users SET aircall_user_id = $2 WHERE email = $1")
        .bind(email.as_str())
        .bind(aircall_user_id)
        .execute(db)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Sets a user's password hash and ends their sessions; `false` when the e-mail is unknown.
pub async fn set_password(
    db: impl SqliteExecutor<'_>,
    email: &Email,
    password_hash: &str,
) -> sqlx::Result<bool> {
    let result = sqlx::query(
        "UPDATE users SET password_hash = $2, session_epoch = session_epoch + 1 WHERE email = $1",
    )
    .bind(email.as_str())
    .bind(password_hash)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Disables a user (`Some(when)`: their sessions end and sign-in is refused; API tokens they
/// minted are the clinic's and stay until revoked) or enables them again (`None`); `false` when
/// the e-mail is unknown.
pub async fn set_disabled(
    db: impl SqliteExecutor<'_>,
    email: &Email,
    disabled_at: Option<Timestamp>,
) -> sqlx::Result<bool> {
    let result = sqlx::query(
        "UPDATE users SET disabled_at = $2,
             session_epoch = session_epoch + CASE WHEN $2 IS NULL THEN 0 ELSE 1 END
         WHERE email = $1",
    )
    .bind(email.as_str())
    .bind(disabled_at)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}
