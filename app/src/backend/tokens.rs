//! API tokens: created by an admin (Ajustes) or on-call (`mini-crm token create`), shown once,
//! stored as a SHA-256 hash, sent as `Authorization: Bearer <token>`.

use super::db::Db;
use super::store::api_tokens::{self, ApiTokenRow};
use crate::domain::Timestamp;
use sha2::{Digest, Sha256};

/// Prefix that makes a leaked token recognisable (secret scanners, logs).
const TOKEN_PREFIX: &str = "mcrm_";
/// `last_used_at` is refreshed at most this often, so reads do not turn into writes.
const TOUCH_INTERVAL_SECONDS: i64 = 3600;

/// A token's hash: SHA-256 suffices because tokens are 256 random bits, not passwords.
fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates a token and returns its id and the only copy of its plaintext.
pub async fn create(
    db: &Db,
    name: &str,
    created_by_user_id: Option<i64>,
) -> anyhow::Result<(i64, String)> {
    let name = name.trim();
    anyhow::ensure!(!name.is_empty(), "a token needs a name");
    anyhow::ensure!(
        name.chars().count() <= 100,
        "a token name has at most 100 characters"
    );
    let token = format!("{TOKEN_PREFIX}{}", super::auth::random_hex(32));
    let id = api_tokens::insert(
        &db.writer,
        name,
        &hash(&token),
        created_by_user_id,
        Timestamp::now(),
    )
    .await?;
    tracing::info!(token_id = id, token_name = name, "API token created");
    Ok((id, token))
}

/// The active token matching `token`, if any.
pub async fn authenticate(db: &Db, token: &str) -> sqlx::Result<Option<ApiTokenRow>> {
    let Some(row) = api_tokens::find_active(&db.reader, &hash(token.trim())).await? else {
        return Ok(None);
    };
    let now = Timestamp::now();
    let stale = row
        .last_used_at
        .is_none_or(|t| now.unix() - t.unix() >= TOUCH_INTERVAL_SECONDS);
    if stale {
        api_tokens::touch(&db.writer, row.id, now).await?;
    }
    Ok(Some(row))
}

/// Every token, newest first (never its secret).
pub async fn list(db: &Db) -> sqlx::Result<Vec<ApiTokenRow>> {
    api_tokens::list(&db.reader).await
}

pub async fn revoke(db: &Db, id: i64) -> sqlx::Result<bool> {
    let revoked = api_tokens::revoke(&db.writer, id, Timestamp::now()).await?;
    if revoked {
        tracing::info!(token_id = id, "API token revoked");
    }
    Ok(revoked)
}
