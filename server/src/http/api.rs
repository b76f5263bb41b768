//! The JSON API under `/api`. Every handler takes an [`ApiCaller`], so none can run for an
//! anonymous client; the OpenAPI document is the one public route.

use super::error::ApiError;
use anyhow::Context;
use app::backend::auth::session_user;
use app::backend::state::AppState;
use app::backend::{kpi, tokens};
use app::domain::{CurrentUser, KpiReport, Role, Source};
use axum::extract::{FromRequestParts, Query, State};
use axum::http::{header, request::Parts, HeaderValue};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_sessions::Session;
use utoipa::OpenApi;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(get_openapi))
        .route("/me", get(get_me))
        .route("/reports/kpis", get(get_kpis))
        .fallback(not_found)
        // API answers describe a moment: no browser or proxy may keep them.
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

/// Who is calling: a signed-in user (session cookie) or an API token (`Authorization: Bearer`).
/// A request that carries an `Authorization` header is judged by it alone.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ApiCaller {
    User {
        id: i64,
        name: String,
        email: String,
        role: Role,
    },
    Token {
        id: i64,
        name: String,
    },
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(authorization) = parts.headers.get(header::AUTHORIZATION) {
            let token = authorization
                .to_str()
                .ok()
                .and_then(|value| value.strip_prefix("Bearer "))
                .ok_or(ApiError::Unauthorized)?;
            let row = tokens::authenticate(&state.db, token)
                .await
                .context("checking an API token")?
                .ok_or(ApiError::Unauthorized)?;
            return Ok(ApiCaller::Token {
                id: row.id,
                name: row.name,
            });
        }
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|(_, message)| ApiError::Internal(anyhow::anyhow!(message)))?;
        let CurrentUser {
            id,
            name,
            email,
            role,
        } = session_user(&state.db, &session)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        Ok(ApiCaller::User {
            id,
            name,
            email,
            role,
        })
    }
}

/// Who the credentials belong to.
#[utoipa::path(get, path = "/api/me", tag = "session",
    responses(
        (status = 200, description = "The caller", body = ApiCaller),
        (status = 401, description = "No valid credentials", body = ErrorBody),
        (status = 503, description = "The database cannot answer now; retry after `Retry-After` seconds", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn get_me(caller: ApiCaller) -> Json<ApiCaller> {
    Json(caller)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KpiParams {
    /// Only leads of this source (and the rows of those leads); absent or empty: every source.
    #[param(schema_with = source_filter_schema, example = "meta")]
    source: Option<String>,
    /// Compute the report as of this RFC 3339 instant instead of now. A fraction of a second is
    /// kept: `leads_24h` counts exactly the 24 hours before it (rows are stored to the second, so
    /// with `08:30:00.500Z` a lead created at 08:30:00 the day before is out, one at 08:30:01 in).
    /// `filters.as_of` echoes the instant truncated to the second.
    #[param(value_type = Option<String>, format = DateTime, example = "2025-01-07T10:00:00Z")]
    as_of: Option<String>,
}

/// `source`: one of the sources, or empty for all of them.
fn source_filter_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    let values = std::iter::once("").chain(Source::ALL.map(Source::as_str));
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .enum_values(Some(values))
        .build()
}

/// The Informes KPIs: totals, exact counts and the 7-day series (SPEC §3).
#[utoipa::path(get, path = "/api/reports/kpis", tag = "reports",
    params(KpiParams),
    responses(
        (status = 200, description = "The report", body = KpiReport),
        (status = 401, description = "No valid credentials", body = ErrorBody),
        (status = 422, description = "A parameter is invalid", body = ErrorBody),
        (status = 503, description = "The database cannot answer now; retry after `Retry-After` seconds", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
async fn get_kpis(
    _caller: ApiCaller,
    State(state): State<AppState>,
    query: KpiQuery,
) -> Result<Json<KpiReport>, ApiError> {
    let report = kpi::get_kpi_report(&state.db, state.config.timezone, query.source, query.as_of)
        .await
        .context("computing the KPI report")?;
    Ok(Json(report))
}

/// The KPI query string read and checked before the handler runs: a bad value is a 422 that
/// names the parameter (and its accepted values), the same for every handler that takes it.
pub struct KpiQuery {
    source: Option<Source>,
    as_of: chrono::DateTime<chrono::Utc>,
}

impl<S: Send + Sync> FromRequestParts<S> for KpiQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(params) = Query::<KpiParams>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::InvalidQuery(e.body_text()))?;
        let source = Source::parse_filter(params.source.as_deref()).map_err(|e| {
            ApiError::InvalidParameter {
                parameter: "source",
                message: e.to_string(),
                allowed: Some(Source::ALL.map(Source::as_str).to_vec()),
            }
        })?;
        let as_of = match params.as_of.as_deref() {
            None => chrono::Utc::now(),
            Some(text) => chrono::DateTime::parse_from_rfc3339(text.trim())
                .map(|t| t.to_utc())
                .map_err(|e| ApiError::InvalidParameter {
                    parameter: "as_of",
                    message: format!(
                        "as_of must be an RFC 3339 instant such as 2025-01-07T10:00:00Z ({e})"
                    ),
                    allowed: None,
                })?,
        };
        Ok(KpiQuery { source, as_of })
    }
}

/// Unknown API paths: 401 for anonymous clients (nothing is revealed), 404 otherwise.
async fn not_found(_caller: ApiCaller) -> ApiError {
    ApiError::NotFound
}

/// The body of every API error.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// `unauthorized`, `forbidden`, `not_found`, `invalid_parameter`, `invalid_query`, `unavailable`, `internal`
    error: String,
    message: String,
    /// The parameter at fault (422).
    parameter: Option<String>,
    /// Its accepted values, when they are a list (422).
    allowed: Option<Vec<String>>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "mini-crm API", description = "JSON API of mini-crm. Authenticate with a session cookie or `Authorization: Bearer <token>` (create tokens in Ajustes or with `mini-crm token create`)."),
    paths(get_me, get_kpis),
    components(schemas(ApiCaller, ErrorBody, KpiReport)),
    modifiers(&SecuritySchemes)
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(super::SESSION_COOKIE))),
        );
    }
}

/// The OpenAPI 3 document of this API, generated from the Rust types.
async fn get_openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
