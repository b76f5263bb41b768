//! API tokens, managed by admins in Ajustes.

use crate::domain::{ApiTokenView, NewApiToken};
use crate::error::AppError;
use leptos::prelude::*;

#[server(prefix = "/sfn", endpoint = "api_tokens")]
pub async fn list_api_tokens() -> Result<Vec<ApiTokenView>, AppError> {
    use crate::backend::{auth, tokens};
    use crate::format::local_datetime;
    use anyhow::Context;
    let (state, _) = auth::require_admin().await?;
    let tz = state.config.timezone;
    let rows = tokens::list(&state.db)
        .await
        .context("listing API tokens")?;
    Ok(rows
        .into_iter()
        .map(|row| ApiTokenView {
            id: row.id,
            name: row.name,
            created: local_datetime(row.created_at, tz),
            last_used: row.last_used_at.map(|t| local_datetime(t, tz)),
            revoked: row.revoked_at.map(|t| local_datetime(t, tz)),
        })
        .collect())
}

#[server(prefix = "/sfn", endpoint = "create_api_token")]
pub async fn create_api_token(name: String) -> Result<NewApiToken, AppError> {
    use crate::backend::{auth, tokens};
    use anyhow::Context;
    let (state, user) = auth::require_admin().await?;
    let name = name.trim().to_string();
    if name.is_empty() {
        return Err(AppError::invalid(
            "name",
            "Pon un nombre al token (por ejemplo, quién lo usará).",
        ));
    }
    if name.chars().count() > 100 {
        return Err(AppError::invalid(
            "name",
            "El nombre admite como máximo 100 caracteres.",
        ));
    }
    let (id, token) = tokens::create(&state.db, &name, Some(user.id))
        .await
        .context("creating an API token")?;
    Ok(NewApiToken { id, name, token })
}

#[server(prefix = "/sfn", endpoint = "revoke_api_token")]
pub async fn revoke_api_token(id: i64) -> Result<(), AppError> {
    use crate::backend::{auth, tokens};
    use anyhow::Context;
    let (state, _) = auth::require_admin().await?;
    let revoked = tokens::revoke(&state.db, id)
        .await
        .context("revoking an API token")?;
    if !revoked {
        return Err(AppError::NotFound);
    }
    Ok(())
}
