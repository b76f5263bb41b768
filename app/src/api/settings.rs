//! Ajustes: the flags and clinic settings admins steer (SPEC §5). Stored in the database, so
//! every process applies a change at its next claim or request.

// The Ajustes form posts one argument per field; the browser's build of `save_settings` does not
// carry a function's own `allow`, so it is said for the module.
#![allow(clippy::too_many_arguments)]

use crate::domain::SettingsView;
use crate::error::AppError;
use leptos::prelude::*;

#[server(prefix = "/sfn", endpoint = "settings")]
pub async fn get_settings() -> Result<SettingsView, AppError> {
    use crate::backend::{auth, flags::Flags};
    use crate::domain::Queue;
    use anyhow::Context;
    let (state, _) = auth::require_admin().await?;
    let flags = Flags::load(&state.db).await.context("reading settings")?;
    Ok(SettingsView {
        whatsapp_outbound: flags.whatsapp_outbound(),
        calls_ui: flags.calls_ui(),
        hubspot_sync_mode: flags.hubspot_mode().as_str().to_string(),
        backup_phone: flags.backup_phone().unwrap_or_default().to_string(),
        version: flags.version(),
        paused: Queue::OUTBOUND
            .into_iter()
            .map(|q| (q.as_str().to_string(), flags.queue_paused(q)))
            .collect(),
    })
}

/// Saves every flag of the Ajustes form at once. Checkboxes that are not ticked are absent.
#[server(prefix = "/sfn", endpoint = "save_settings")]
pub async fn save_settings(
    whatsapp_outbound: String,
    calls_ui: String,
    hubspot_sync_mode: String,
    backup_phone: String,
    paused_whatsapp: Option<String>,
    paused_aircall: Option<String>,
    paused_hubspot: Option<String>,
    /// The settings' version the form was shown with (a change made since refuses the save).
    version: Option<String>,
) -> Result<(), AppError> {
    use crate::backend::auth;
    use crate::backend::flags::{self, Ajustes, HubspotMode};
    use crate::domain::{Queue, Timestamp};
    let (state, user) = auth::require_admin().await?;
    // The same checks as `mini-crm flags set`, said in the form's words.
    let on_off = |field: &str, value: &str| {
        flags::switch(value)
            .map_err(|_| AppError::invalid(field, "Elige «Activado» o «Desactivado»."))
    };
    let whatsapp_outbound_on = on_off("whatsapp_outbound", &whatsapp_outbound)?;
    let calls_ui_on = on_off("calls_ui", &calls_ui)?;
    let mode = HubspotMode::parse(hubspot_sync_mode.trim()).ok_or_else(|| {
        AppError::invalid("hubspot_sync_mode", "Modo de sincronización desconocido.")
    })?;
    let backup_phone = flags::backup_phone(&backup_phone)
        .map_err(|_| AppError::invalid("backup_phone", "El teléfono de respaldo no es válido."))?;
    let paused = [
        (Queue::Whatsapp, paused_whatsapp.is_some()),
        (Queue::Aircall, paused_aircall.is_some()),
        (Queue::Hubspot, paused_hubspot.is_some()),
    ]
    .into_iter()
    .filter_map(|(queue, ticked)| ticked.then_some(queue))
    .collect();
    let ajustes = Ajustes {
        whatsapp_outbound: whatsapp_outbound_on,
        calls_ui: calls_ui_on,
        hubspot_mode: mode,
        backup_phone,
        paused,
    };
    flags::save_ajustes(&state.db, &ajustes, version.as_deref(), Timestamp::now()).await?;
    tracing::info!(
        user_id = user.id,
        whatsapp_outbound,
        calls_ui,
        hubspot_sync_mode = mode.as_str(),
        "settings saved"
    );
    Ok(())
}
