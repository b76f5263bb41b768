//! The Leads workspace's server functions. Each checks the user, parses its input into domain
//! types and hands over to `backend::leads`. The lead page's forms also work as plain HTML
//! forms: on success the browser goes back to the page, on refusal it comes back with the
//! error, which the page shows next to the form.

use crate::domain::{LeadDetail, LeadList};
use crate::error::AppError;
use leptos::prelude::*;

#[server(prefix = "/sfn", endpoint = "leads")]
pub async fn list_leads(
    q: Option<String>,
    source: Option<String>,
    stage: Option<String>,
    page: Option<String>,
) -> Result<LeadList, AppError> {
    use crate::backend::{auth, leads};
    use crate::domain::{Source, StageFilter};
    let (state, _) = auth::require_user().await?;
    let source = Source::parse_filter(source.as_deref())
        .map_err(|_| AppError::invalid("source", "Origen desconocido."))?;
    let stage = StageFilter::parse(stage.as_deref())?;
    let page = page.as_deref().unwrap_or("1").parse::<i64>().unwrap_or(1);
    Ok(leads::list(&state, q.as_deref().unwrap_or(""), source, stage, page).await?)
}

#[server(prefix = "/sfn", endpoint = "lead")]
pub async fn get_lead(id: i64) -> Result<LeadDetail, AppError> {
    use crate::backend::{auth, leads};
    use crate::domain::Timestamp;
    let (state, user) = auth::require_user().await?;
    Ok(leads::detail(&state, &user, id, Timestamp::now()).await?)
}

/// Creates a lead (no `id`) or saves one, then opens its page.
#[server(prefix = "/sfn", endpoint = "save_lead")]
pub async fn save_lead(
    id: Option<i64>,
    name: String,
    phone: String,
    email: Option<String>,
    source: String,
) -> Result<i64, AppError> {
    use crate::backend::{auth, leads};
    use crate::domain::{LeadDraft, Timestamp};
    let (state, user) = auth::require_user().await?;
    let draft = LeadDraft::parse(&name, &phone, email.as_deref().unwrap_or(""), &source)?;
    let now = Timestamp::now();
    let id = match id {
        Some(id) => {
            leads::update(&state.db, &user, id, &draft, now).await?;
            id
        }
        None => leads::create(&state.db, &user, &draft, now).await?,
    };
    leptos_axum::redirect(&format!("/leads/{id}"));
    Ok(id)
}

/// Books a valoración (empty `treatment_id`) or a session of one of the lead's treatments.
#[server(prefix = "/sfn", endpoint = "schedule_appointment")]
pub async fn schedule_appointment(
    lead_id: i64,
    scheduled_at: String,
    treatment_id: Option<String>,
) -> Result<(), AppError> {
    use crate::backend::{auth, leads};
    use crate::domain::Timestamp;
    let (state, user) = auth::require_user().await?;
    let tz = state.config.timezone;
    let at = leads::parse_local(&scheduled_at, tz, "scheduled_at")?;
    let treatment_id =
        match treatment_id.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(text.parse::<i64>().map_err(|_| {
                AppError::invalid("treatment_id", "Elige un tratamiento de la lista.")
            })?),
        };
    leads::schedule(
        &state.db,
        tz,
        &user,
        lead_id,
        treatment_id,
        at,
        Timestamp::now(),
    )
    .await?;
    Ok(())
}

#[server(prefix = "/sfn", endpoint = "reschedule_appointment")]
pub async fn reschedule_appointment(
    appointment_id: i64,
    scheduled_at: String,
) -> Result<(), AppError> {
    use crate::backend::{auth, leads};
    use crate::domain::Timestamp;
    let (state, user) = auth::require_user().await?;
    let tz = state.config.timezone;
    let at = leads::parse_local(&scheduled_at, tz, "scheduled_at")?;
    Ok(leads::reschedule(&state.db, tz, &user, appointment_id, at, Timestamp::now()).await?)
}

/// Attended, no-show or cancelled.
#[server(prefix = "/sfn", endpoint = "appointment_status")]
pub async fn set_appointment_status(appointment_id: i64, status: String) -> Result<(), AppError> {
    use crate::backend::{auth, leads};
    use crate::domain::{AppointmentStatus, Timestamp};
    let (state, user) = auth::require_user().await?;
    let status = AppointmentStatus::parse(&status)
        .ok_or_else(|| AppError::invalid("status", "Estado de cita desconocido."))?;
    let tz = state.config.timezone;
    Ok(leads::set_appointment_status(
        &state.db,
        tz,
        &user,
        appointment_id,
        status,
        Timestamp::now(),
    )
    .await?)
}

#[server(prefix = "/sfn", endpoint = "sell_treatment")]
pub async fn sell_treatment(
    lead_id: i64,
    name: String,
    sessions_count: String,
    price: String,
) -> Result<(), AppError> {
    use crate::backend::{auth, leads};
    use crate::domain::Timestamp;
    let (state, user) = auth::require_user().await?;
    let draft = crate::domain::TreatmentDraft::parse(&name, &sessions_count, &price)?;
    leads::sell_treatment(&state.db, &user, lead_id, &draft, Timestamp::now()).await?;
    Ok(())
}

/// Free text inside WhatsApp's 24-hour window, else a template; stored as queued.
#[server(prefix = "/sfn", endpoint = "send_whatsapp")]
pub async fn send_whatsapp(
    lead_id: i64,
    body: Option<String>,
    template: Option<String>,
) -> Result<(), AppError> {
    use crate::backend::{auth, leads};
    use crate::domain::Timestamp;
    let (state, user) = auth::require_user().await?;
    let (body, template) = (body.unwrap_or_default(), template.unwrap_or_default());
    leads::queue_message(
        &state.db,
        &user,
        lead_id,
        &body,
        &template,
        Timestamp::now(),
    )
    .await?;
    Ok(())
}

#[server(prefix = "/sfn", endpoint = "mark_lead_lost")]
pub async fn mark_lead_lost(lead_id: i64, reason: String) -> Result<(), AppError> {
    use crate::backend::{auth, leads};
    use crate::domain::Timestamp;
    let (state, user) = auth::require_user().await?;
    Ok(leads::mark_lost(&state.db, &user, lead_id, &reason, Timestamp::now()).await?)
}

#[server(prefix = "/sfn", endpoint = "reopen_lead")]
pub async fn reopen_lead(lead_id: i64) -> Result<(), AppError> {
    use crate::backend::{auth, leads};
    use crate::domain::Timestamp;
    let (state, user) = auth::require_user().await?;
    Ok(leads::reopen(&state.db, &user, lead_id, Timestamp::now()).await?)
}

/// Click-to-call: Aircall dials the lead from the signed-in user's line.
#[server(prefix = "/sfn", endpoint = "call_lead")]
pub async fn call_lead(lead_id: i64) -> Result<(), AppError> {
    use crate::backend::{auth, leads};
    use crate::domain::Timestamp;
    let (state, user) = auth::require_user().await?;
    leads::request_call(&state.db, &user, lead_id, Timestamp::now()).await?;
    Ok(())
}
