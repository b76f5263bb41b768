//! Every change staff make to a lead: create and edit it, book, move and settle appointments,
//! sell treatments, queue messages and calls, mark it lost and reopen it.

use super::{appointment_kind, telephony_up};
use crate::backend::db::Db;
use crate::backend::error::{Context, Result};
use crate::backend::hubspot_sync::request_sync;
use crate::backend::jobs::{enqueue_all, enqueue_at};
use crate::backend::outbound::{DialLead, SendReminder, SendWhatsappMessage};
use crate::backend::store::{
    appointments, call_requests, lead_activities, leads, messages, treatments, users,
};
use crate::domain::{
    AppointmentStatus, CurrentUser, LeadDraft, LeadStage, OutboundDraft, Phone, Timestamp,
    TreatmentDraft,
};
use crate::error::AppError;
use crate::format::local_datetime;

use chrono_tz::Tz;
use sqlx::{Sqlite, Transaction};

async fn begin(db: &Db) -> Result<Transaction<'static, Sqlite>> {
    db.begin_write().await.context("starting a transaction")
}

async fn commit(tx: Transaction<'static, Sqlite>) -> Result<()> {
    tx.commit().await.context("committing a lead change")
}

async fn record(
    tx: &mut Transaction<'static, Sqlite>,
    lead_id: i64,
    user: &CurrentUser,
    action: &str,
    detail: &str,
    now: Timestamp,
) -> Result<()> {
    lead_activities::insert(&mut **tx, lead_id, Some(user.id), action, detail, now)
        .await
        .context("recording a lead activity")
}

async fn existing_lead(
    tx: &mut Transaction<'static, Sqlite>,
    lead_id: i64,
) -> Result<leads::LeadRecord> {
    leads::get(&mut **tx, lead_id)
        .await
        .context("reading a lead")?
        .ok_or(AppError::NotFound.into())
}

/// Refuses a phone that already belongs to another lead, naming that lead.
async fn check_phone_free(
    tx: &mut Transaction<'static, Sqlite>,
    phone: &Phone,
    except: Option<i64>,
) -> Result<()> {
    let owner = leads::find_by_phone(&mut **tx, phone)
        .await
        .context("looking a phone up")?;
    match owner {
        Some(id) if Some(id) != except => {
            let lead = existing_lead(tx, id).await?;
            Err(AppError::PhoneTaken {
                lead_id: id,
                name: lead.name,
            }
            .into())
        }
        _ => Ok(()),
    }
}

pub async fn create(db: &Db, user: &CurrentUser, draft: &LeadDraft, now: Timestamp) -> Result<i64> {
    let phone = draft.phone.as_ref().ok_or_else(phone_needed)?;
    let mut tx = begin(db).await?;
    check_phone_free(&mut tx, phone, None).await?;
    let id = leads::insert(
        &mut *tx,
        leads::NewLead {
            name: &draft.name,
            phone: Some(phone),
            whatsapp_user: None,
            email: draft.email.as_ref(),
            source: draft.source,
            stage: LeadStage::New,
            lost_reason: None,
            created_at: now,
        },
    )
    .await
    .context("creating a lead")?;
    record(
        &mut tx,
        id,
        user,
        "lead_created",
        &format!("Origen: {}", draft.source.label()),
        now,
    )
    .await?;
    request_sync(&mut tx, now)
        .await
        .context("queueing the HubSpot sync")?;
    commit(tx).await?;
    tracing::info!(lead_id = id, user_id = user.id, "lead created");
    Ok(id)
}

pub async fn update(
    db: &Db,
    user: &CurrentUser,
    id: i64,
    draft: &LeadDraft,
    now: Timestamp,
) -> Result<()> {
    let mut tx = begin(db).await?;
    let before = existing_lead(&mut tx, id).await?;
    match &draft.phone {
        Some(phone) => check_phone_free(&mut tx, phone, Some(id)).await?,
        // A phone is never taken away; a lead that never had one may stay so.
        None if before.phone.is_some() => return Err(phone_needed().into()),
        None => {}
    }
    let mut changed = Vec::new();
    if before.name != draft.name {
        changed.push("nombre");
    }
    if before.phone.as_deref() != draft.phone.as_ref().map(Phone::as_str) {
        changed.push("teléfono");
    }
    if before.email.as_deref() != draft.email.as_ref().map(|e| e.as_str()) {
        changed.push("correo");
    }
    if before.source != draft.source {
        changed.push("origen");
    }
    if changed.is_empty() {
        return Ok(());
    }
    leads::update(
        &mut *tx,
        id,
        &draft.name,
        draft.phone.as_ref(),
        draft.email.as_ref(),
        draft.source,
        now,
    )
    .await
    .context("updating a lead")?;
    record(
        &mut tx,
        id,
        user,
        "lead_updated",
        &format!("Cambios: {}", changed.join(", ")),
        now,
    )
    .await?;
    request_sync(&mut tx, now)
        .await
        .context("queueing the HubSpot sync")?;
    commit(tx).await
}

/// Books a valoración (`treatment_id` `None`) or a session of one of the lead's treatments.
pub async fn schedule(
    db: &Db,
    tz: Tz,
    user: &CurrentUser,
    lead_id: i64,
    treatment_id: Option<i64>,
    scheduled_at: Timestamp,
    now: Timestamp,
) -> Result<i64> {
    let mut tx = begin(db).await?;
    existing_lead(&mut tx, lead_id).await?;
    let kind = match treatment_id {
        None => appointment_kind(None),
        Some(treatment_id) => {
            let treatment = treatments::get(&mut *tx, treatment_id)
                .await
                .context("reading a treatment")?
                .filter(|t| t.lead_id == lead_id)
                .ok_or_else(|| {
                    AppError::invalid("treatment_id", "Ese tratamiento no es de este lead.")
                })?;
            if treatment.completed_at.is_some() {
                return Err(AppError::invalid(
                    "treatment_id",
                    "Ese tratamiento ya está completado: no quedan sesiones por programar.",
                )
                .into());
            }
            appointment_kind(Some(&treatment.name))
        }
    };
    let id = appointments::insert(
        &mut *tx,
        appointments::NewAppointment {
            lead_id,
            treatment_id,
            scheduled_at,
            status: AppointmentStatus::Scheduled,
            created_at: now,
        },
    )
    .await
    .context("booking an appointment")?;
    queue_reminder(&mut tx, id, scheduled_at, now).await?;
    leads::refresh_stage(&mut *tx, lead_id, now)
        .await
        .context("refreshing a lead's stage")?;
    let detail = format!("{kind} el {}", local_datetime(scheduled_at, tz));
    record(
        &mut tx,
        lead_id,
        user,
        "appointment_scheduled",
        &detail,
        now,
    )
    .await?;
    commit(tx).await?;
    Ok(id)
}

/// The appointment's WhatsApp reminder, 24 hours before `scheduled_at` (none for a past one).
async fn queue_reminder(
    tx: &mut Transaction<'static, Sqlite>,
    appointment_id: i64,
    scheduled_at: Timestamp,
    now: Timestamp,
) -> Result<()> {
    let Some(due) = SendReminder::due_at(scheduled_at, now) else {
        return Ok(());
    };
    let reminder = SendReminder {
        appointment_id,
        scheduled_at,
    };
    enqueue_at(&mut **tx, &[reminder], due, now)
        .await
        .context("queueing a reminder")
}

async fn appointment_in(
    tx: &mut Transaction<'static, Sqlite>,
    id: i64,
) -> Result<(appointments::AppointmentRecord, AppointmentStatus, String)> {
    let appointment = appointments::get(&mut **tx, id)
        .await
        .context("reading an appointment")?
        .ok_or(AppError::NotFound)?;
    let status = appointment.status;
    let kind = appointment_kind(appointment.treatment_name.as_deref());
    Ok((appointment, status, kind))
}

pub async fn reschedule(
    db: &Db,
    tz: Tz,
    user: &CurrentUser,
    appointment_id: i64,
    scheduled_at: Timestamp,
    now: Timestamp,
) -> Result<()> {
    let mut tx = begin(db).await?;
    let (appointment, status, kind) = appointment_in(&mut tx, appointment_id).await?;
    status.check_reschedule()?;
    appointments::reschedule(&mut *tx, appointment_id, scheduled_at, now)
        .await
        .context("moving an appointment")?;
    queue_reminder(&mut tx, appointment_id, scheduled_at, now).await?;
    let detail = format!(
        "{kind}: del {} al {}",
        local_datetime(appointment.scheduled_at, tz),
        local_datetime(scheduled_at, tz)
    );
    record(
        &mut tx,
        appointment.lead_id,
        user,
        "appointment_rescheduled",
        &detail,
        now,
    )
    .await?;
    commit(tx).await
}

/// Records an appointment's outcome; a session's treatment is completed (or not) in the same
/// transaction.
pub async fn set_appointment_status(
    db: &Db,
    tz: Tz,
    user: &CurrentUser,
    appointment_id: i64,
    next: AppointmentStatus,
    now: Timestamp,
) -> Result<()> {
    let mut tx = begin(db).await?;
    let (appointment, status, kind) = appointment_in(&mut tx, appointment_id).await?;
    status.check_change(next, appointment.scheduled_at, now)?;
    appointments::set_status(&mut *tx, appointment_id, next, now)
        .await
        .context("recording an appointment outcome")?;
    if let Some(treatment_id) = appointment.treatment_id {
        treatments::refresh_completion(&mut *tx, treatment_id)
            .await
            .context("refreshing a treatment's completion")?;
        leads::refresh_stage(&mut *tx, appointment.lead_id, now)
            .await
            .context("refreshing a lead's stage")?;
    }
    let detail = format!(
        "{kind} del {}: {}",
        local_datetime(appointment.scheduled_at, tz),
        next.label().to_lowercase()
    );
    record(
        &mut tx,
        appointment.lead_id,
        user,
        "appointment_status",
        &detail,
        now,
    )
    .await?;
    commit(tx).await
}

pub async fn sell_treatment(
    db: &Db,
    user: &CurrentUser,
    lead_id: i64,
    draft: &TreatmentDraft,
    now: Timestamp,
) -> Result<i64> {
    let mut tx = begin(db).await?;
    existing_lead(&mut tx, lead_id).await?;
    let id = treatments::insert(
        &mut *tx,
        treatments::NewTreatment {
            lead_id,
            name: &draft.name,
            sessions_count: draft.sessions_count,
            price_cents: draft.price.0,
            created_at: now,
        },
    )
    .await
    .context("selling a treatment")?;
    leads::refresh_stage(&mut *tx, lead_id, now)
        .await
        .context("refreshing a lead's stage")?;
    let detail = format!(
        "{} ({} sesiones, {})",
        draft.name,
        draft.sessions_count,
        draft.price.to_euros_label()
    );
    record(&mut tx, lead_id, user, "treatment_sold", &detail, now).await?;
    commit(tx).await?;
    Ok(id)
}

/// Stores a WhatsApp message staff wrote, under the 24-hour rule, with the job that sends it.
pub async fn queue_message(
    db: &Db,
    user: &CurrentUser,
    lead_id: i64,
    text: &str,
    template: &str,
    now: Timestamp,
) -> Result<i64> {
    let mut tx = begin(db).await?;
    if existing_lead(&mut tx, lead_id).await?.phone.is_none() {
        return Err(no_phone().into());
    }
    let last_inbound = messages::last_inbound_at(&mut *tx, lead_id)
        .await
        .context("reading the last inbound message")?;
    let draft = OutboundDraft::parse(
        text,
        template,
        crate::domain::window_open(last_inbound, now),
    )?;
    let (kind, body, template) = match &draft {
        OutboundDraft::Text(body) => ("text", Some(body.as_str()), None),
        OutboundDraft::Template(name) => ("template", None, Some(name.as_str())),
    };
    let id = messages::insert_queued(&mut *tx, lead_id, user.id, kind, body, template, now)
        .await
        .context("queueing a message")?;
    // Its job in the same transaction: a stored message is always on its way.
    enqueue_all(&mut *tx, &[SendWhatsappMessage { message_id: id }], now)
        .await
        .context("queueing a message's job")?;
    commit(tx).await?;
    Ok(id)
}

pub async fn mark_lost(
    db: &Db,
    user: &CurrentUser,
    lead_id: i64,
    reason: &str,
    now: Timestamp,
) -> Result<()> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(AppError::invalid("reason", "Indica el motivo (hasta 500 caracteres).").into());
    }
    let mut tx = begin(db).await?;
    if existing_lead(&mut tx, lead_id).await?.lost {
        return Err(AppError::invalid("reason", "El lead ya está marcado como perdido.").into());
    }
    leads::set_lost(&mut *tx, lead_id, Some(reason), now)
        .await
        .context("marking a lead lost")?;
    record(&mut tx, lead_id, user, "lead_lost", reason, now).await?;
    commit(tx).await
}

pub async fn reopen(db: &Db, user: &CurrentUser, lead_id: i64, now: Timestamp) -> Result<()> {
    let mut tx = begin(db).await?;
    if !existing_lead(&mut tx, lead_id).await?.lost {
        return Err(AppError::invalid("reason", "El lead no está marcado como perdido.").into());
    }
    leads::set_lost(&mut *tx, lead_id, None, now)
        .await
        .context("reopening a lead")?;
    record(&mut tx, lead_id, user, "lead_reopened", "", now).await?;
    commit(tx).await
}

/// Click-to-call: a request on the `aircall` queue dials the lead from the user's Aircall line.
pub async fn request_call(
    db: &Db,
    user: &CurrentUser,
    lead_id: i64,
    now: Timestamp,
) -> Result<i64> {
    if !telephony_up(db).await?.0 {
        return Err(AppError::invalid(
            "call",
            "La telefonía no está disponible ahora mismo: llama desde el teléfono de respaldo de la clínica.",
        ).into());
    }
    let line = users::aircall_user_id(&db.reader, user.id)
        .await
        .context("reading the user's Aircall line")?
        .ok_or_else(|| {
            AppError::invalid(
                "call",
                "Tu usuario no tiene una línea de Aircall asignada; pídesela a un administrador.",
            )
        })?;
    let mut tx = begin(db).await?;
    let lead = existing_lead(&mut tx, lead_id).await?;
    let phone = lead.phone.ok_or_else(no_phone)?;
    let id = call_requests::insert(&mut *tx, lead_id, user.id, line, &phone, now)
        .await
        .context("requesting a call")?;
    enqueue_all(&mut *tx, &[DialLead { request_id: id }], now)
        .await
        .context("queueing a call request")?;
    commit(tx).await?;
    Ok(id)
}

fn phone_needed() -> AppError {
    AppError::invalid("phone", "Escribe el teléfono del lead.")
}

/// Calls and WhatsApp messages from the clinic need a number; a patient who writes with a
/// WhatsApp username alone has not given one yet.
fn no_phone() -> AppError {
    AppError::invalid(
        "phone",
        "Este paciente escribe por WhatsApp con nombre de usuario y aún no ha dado su teléfono: \
         mini-crm solo puede escribir o llamar a un número. Añádelo en «Editar» cuando lo tengas.",
    )
}
