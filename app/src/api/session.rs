//! Signing in and out, and who is signed in.

use crate::domain::CurrentUser;
use crate::error::AppError;
use leptos::prelude::*;

/// The signed-in user; 401 for anyone else.
#[server(prefix = "/sfn", endpoint = "current_user")]
pub async fn get_current_user() -> Result<CurrentUser, AppError> {
    let (_, user) = crate::backend::auth::require_user().await?;
    Ok(user)
}

/// Checks the credentials and starts a new session (a fresh id: no fixation), then sends the
/// browser to `next` when it is a path of this site, else to Informes.
#[server(prefix = "/sfn", endpoint = "login")]
pub async fn login(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    use crate::backend::{auth, state::AppState};
    use crate::domain::Timestamp;
    use anyhow::Context;
    let state =
        use_context::<AppState>().context("a server function without AppState in its context")?;
    let session: tower_sessions::Session = leptos_axum::extract()
        .await
        .context("the session layer is missing")?;
    let axum::Extension(client_ip): axum::Extension<auth::ClientIp> = leptos_axum::extract()
        .await
        .context("the client address is missing")?;
    let signed_in =
        auth::sign_in(&state.db, &email, &password, &client_ip, Timestamp::now()).await?;
    auth::start_session(&session, &signed_in).await?;
    tracing::info!(user_id = signed_in.user.id, "signed in");
    leptos_axum::redirect(&crate::safe_next(next.as_deref()));
    Ok(())
}

/// Ends the session (its row is deleted, the cookie cleared) and returns to the login page.
#[server(prefix = "/sfn", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    use anyhow::Context;
    let session: tower_sessions::Session = leptos_axum::extract()
        .await
        .context("the session layer is missing")?;
    session.flush().await.context("ending the session")?;
    leptos_axum::redirect("/login");
    Ok(())
}
