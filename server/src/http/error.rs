//! Errors as HTTP responses: JSON with a machine-readable `error` and a Spanish `message`.

use app::api::SFN_PREFIX;
use app::backend::error::{self, Error};
use app::error::AppError;
use axum::body::{to_bytes, Body, HttpBody};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Errors of the JSON API. 5xx details go to the log, never to the client.
#[derive(Debug)]
pub enum ApiError {
    Unauthorized,
    Forbidden(&'static str),
    NotFound,
    /// A query parameter with a bad value; `allowed` lists the accepted ones when finite.
    InvalidParameter {
        parameter: &'static str,
        message: String,
        allowed: Option<Vec<&'static str>>,
    },
    /// A query string that cannot be read at all.
    InvalidQuery(String),
    /// Any other refusal a service gives (invalid input, a phone taken, too many attempts…): its
    /// status and JSON, as server functions answer it.
    Refused(AppError),
    /// The database cannot answer now (already logged): try again later.
    Unavailable,
    /// Unexpected: the chain is logged once, here; the client learns only whether to retry.
    Internal(anyhow::Error),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error, message) = match self {
            ApiError::InvalidParameter {
                parameter,
                message,
                allowed,
            } => {
                let mut body = json!({ "error": "invalid_parameter", "parameter": parameter, "message": message });
                if let Some(allowed) = allowed {
                    body["allowed"] = json!(allowed);
                }
                return (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
            }
            ApiError::InvalidQuery(message) => {
                let body = json!({ "error": "invalid_query", "message": message });
                return (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
            }
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Authentication required: a session cookie or an Authorization: Bearer token.",
            ),
            ApiError::Forbidden(message) => (StatusCode::FORBIDDEN, "forbidden", message),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found", "No such API endpoint."),
            ApiError::Refused(refusal) => {
                let status = StatusCode::from_u16(refusal.status())
                    .unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
                let mut response = (status, Json(&refusal)).into_response();
                if let AppError::TooManyAttempts {
                    retry_after_seconds,
                    ..
                } = refusal
                {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds));
                }
                return response;
            }
            ApiError::Unavailable => {
                let body = json!({ "error": "unavailable", "message": "The database cannot answer now; try again in a few seconds." });
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, "30")],
                    Json(body),
                )
                    .into_response();
            }
            ApiError::Internal(err) if error::unavailable(&err) => {
                tracing::error!(error = format!("{err:#}"), "API request failed");
                return ApiError::Unavailable.into_response();
            }
            ApiError::Internal(err) => {
                tracing::error!(error = format!("{err:#}"), "API request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error; it has been logged.",
                )
            }
        };
        (status, Json(json!({ "error": error, "message": message }))).into_response()
    }
}

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        match err {
            AppError::Unauthorized | AppError::InvalidCredentials => ApiError::Unauthorized,
            AppError::NotFound => ApiError::NotFound,
            AppError::Unavailable => ApiError::Unavailable,
            // Made (and its cause logged) elsewhere; here only its name is left to log.
            AppError::Internal | AppError::Network => {
                ApiError::Internal(anyhow::anyhow!("{err:?}"))
            }
            refusal => ApiError::Refused(refusal),
        }
    }
}

/// The backend's error as the JSON API tells it (the pages' side is `From<Error> for AppError`).
impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        match err {
            Error::Refused(refusal) => refusal.into(),
            Error::Failed(failure) => ApiError::Internal(failure),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(failure: anyhow::Error) -> Self {
        Error::from(failure).into()
    }
}

/// tower-sessions answers a bare 500 (no body) when its store — our database — cannot save a
/// changed session after the handler ran (a sign-in on a full disk, a session's expiry moved on):
/// that is the Spanish 503 of a database that cannot take the change, like any other write, in
/// JSON for server functions and as text elsewhere. Nothing else answers 500 without a body.
pub async fn session_not_saved(request: Request, next: Next) -> Response {
    let server_function = request.uri().path().starts_with(SFN_PREFIX);
    let response = next.run(request).await;
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR
        || response.body().size_hint().exact() != Some(0)
    {
        return response;
    }
    let err = AppError::Unavailable;
    let status = StatusCode::from_u16(err.status()).expect("a valid status");
    if server_function {
        (status, Json(err)).into_response()
    } else {
        (status, [(header::RETRY_AFTER, "30")], err.to_string()).into_response()
    }
}

/// Server function errors arrive as 500 with the serialized [`AppError`]; give them the status
/// the error itself names (401, 403, 422, 429 with `Retry-After`…). Other responses pass through untouched.
pub async fn with_app_error_status(response: Response) -> Response {
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, 64 * 1024).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "error body too large").into_response();
    };
    if let Ok(err) = serde_json::from_slice::<AppError>(&bytes) {
        parts.status =
            StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if let AppError::TooManyAttempts {
            retry_after_seconds,
            ..
        } = err
        {
            parts
                .headers
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds));
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_services_refusal_keeps_its_status_and_message() {
        let invalid = ApiError::from(Error::from(AppError::invalid("name", "Falta el nombre.")));
        assert_eq!(
            invalid.into_response().status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        let throttled = ApiError::from(AppError::TooManyAttempts {
            message: "Espera.".into(),
            retry_after_seconds: 7,
        })
        .into_response();
        assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(throttled.headers()[header::RETRY_AFTER], "7");
        let forbidden = ApiError::from(AppError::Forbidden).into_response();
        assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    }
}
