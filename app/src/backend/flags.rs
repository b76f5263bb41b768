//! Feature flags and clinic settings stored in `settings`, read by every process on each use
//! (so a change made in Ajustes or by another process applies at once).

use super::db::Db;
use super::store::settings;
use crate::domain::Provider;

/// `calls.ui`: click-to-call on the lead page (`on` unless set to `off`).
pub const CALLS_UI: &str = "calls.ui";
/// `clinic.backup_phone`: the number staff use while telephony is degraded.
pub const BACKUP_PHONE: &str = "clinic.backup_phone";

pub async fn calls_ui_enabled(db: &Db) -> sqlx::Result<bool> {
    Ok(settings::get(&db.reader, CALLS_UI).await?.as_deref() != Some("off"))
}

pub async fn backup_phone(db: &Db) -> sqlx::Result<Option<String>> {
    Ok(settings::get(&db.reader, BACKUP_PHONE)
        .await?
        .filter(|phone| !phone.trim().is_empty()))
}

/// Whether the provider's circuit breaker is open (its calls are failing).
pub async fn breaker_open(db: &Db, provider: Provider) -> sqlx::Result<bool> {
    let state: Option<String> =
        sqlx::query_scalar("SELECT state FROM provider_breakers WHERE provider = $1")
            .bind(provider.as_str())
            .fetch_optional(&db.reader)
            .await?;
    Ok(state.as_deref() == Some("open"))
}
