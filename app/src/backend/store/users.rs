//! `users`: staff accounts.

use crate::domain::{CurrentUser, Email, Role, Timestamp};
use sqlx::{FromRow, SqliteExecutor};

#[derive(Debug, FromRow)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub role: String,
}

impl UserRow {
    pub fn into_current_user(self) -> anyhow::Result<CurrentUser> {
        Ok(CurrentUser {
            id: self.id,
            name: self.name,
            email: self.email,
            role: self.role.parse().map_err(anyhow::Error::msg)?,
        })
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
    sqlx::query_as("SELECT id, email, name, password_hash, role FROM users WHERE email = $1")
        .bind(email.as_str())
        .fetch_optional(db)
        .await
}

pub async fn find_by_id(db: impl SqliteExecutor<'_>, id: i64) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as("SELECT id, email, name, password_hash, role FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Creates the user, or updates name, password and role when the e-mail already exists.
pub async fn upsert(
    db: impl SqliteExecutor<'_>,
    user: NewUser<'_>,
    now: Timestamp,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO users (email, name, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (email) DO UPDATE SET name = excluded.name,
             password_hash = excluded.password_hash, role = excluded.role
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
