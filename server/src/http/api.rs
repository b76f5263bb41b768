//! The JSON API under `/api`: every route needs a signed-in session.

use super::error::ApiError;
use app::backend::auth::session_user;
use app::backend::state::AppState;
use app::domain::CurrentUser;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Json, Router};
use tower_sessions::Session;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/me", get(get_me))
        .fallback(|| async { ApiError::NotFound })
        .layer(middleware::from_fn_with_state(state, require_api_user))
}

/// 401 JSON before anything else runs, unknown paths included (they reveal nothing).
async fn require_api_user(
    State(state): State<AppState>,
    session: Session,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let user = session_user(&state.db, &session)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    request.extensions_mut().insert(user);
    Ok(next.run(request).await)
}

/// `GET /api/me`: who the credentials belong to.
async fn get_me(Extension(user): Extension<CurrentUser>) -> Json<CurrentUser> {
    Json(user)
}
