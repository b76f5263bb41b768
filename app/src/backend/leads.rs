//! The Leads workspace: the list, a lead's page, and every change staff make to a lead. Each
//! change runs in one transaction on the writer with its line in the lead's timeline (who did
//! it), and keeps the lead's stage and its treatments' completion in step.

use super::breakers;
use super::db::Db;
use super::flags::Flags;
use super::hubspot_sync::request_sync;
use super::jobs::{enqueue_all, enqueue_at};
use super::outbound::{DialLead, SendReminder, SendWhatsappMessage};
use super::state::AppState;
use super::store::{
    appointments, call_requests, calls, lead_activities, leads, messages, treatments, users,
};
use super::webhooks::whatsapp_content::Content;
use crate::domain::{
    AppointmentStatus, AppointmentView, Cents, CurrentUser, LeadDetail, LeadDraft, LeadList,
    LeadRow, LeadStage, OutboundDraft, Phone, Provider, Source, StageFilter, Telephony,
    TimelineEntry, TimelineKind, Timestamp, TreatmentView,
};
use crate::error::AppError;
use crate::format::local_datetime;
use chrono::TimeZone;
use chrono_tz::Tz;
use sqlx::{Sqlite, Transaction};

pub const PAGE_SIZE: i64 = 25;
/// How deep paging goes through a search too large to count (narrow the search instead).
const MAX_UNCOUNTED_PAGE: i64 = 400;

fn internal(context: &str, err: impl std::fmt::Display + 'static) -> AppError {
    super::auth::internal(context, err)
}

/// "Valoración", or "Sesión de Láser" for a session of a treatment.
fn appointment_kind(treatment_name: Option<&str>) -> String {
    match treatment_name {
        None => "Valoración".to_string(),
        Some(name) => format!("Sesión de {name}"),
    }
}

/// Turns what staff type in the search box into an FTS5 expression: every word must match the
/// start of a word of the name, phone or e-mail. Digits typed in groups ("612 34 56 78") are one
/// number. `None` when nothing searchable was typed.
pub fn search_expression(input: &str) -> Option<String> {
    let mut terms: Vec<String> = Vec::new();
    let mut previous_was_digits = false;
    // An e-mail is searched by its local part: its domain ("example", "com") is shared by most
    // leads and would make the search read them all.
    let local_parts = input
        .split_whitespace()
        .map(|word| word.split_once('@').map_or(word, |(local, _)| local))
        .collect::<Vec<_>>()
        .join(" ");
    for word in local_parts.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() {
            continue;
        }
        let digits = word.bytes().all(|b| b.is_ascii_digit());
        match terms.last_mut() {
            Some(last) if digits && previous_was_digits => last.push_str(word),
            _ => terms.push(word.to_string()),
        }
        previous_was_digits = digits;
    }
    if terms.is_empty() {
        return None;
    }
    Some(
        terms
            .iter()
            .map(|term| format!("\"{}\"*", term.replace('"', "")))
            .collect::<Vec<_>>()
            .join(" AND "),
    )
}

/// One page of the Leads list.
pub async fn list(
    state: &AppState,
    search: &str,
    source: Option<Source>,
    stage: Option<StageFilter>,
    page: i64,
) -> Result<LeadList, AppError> {
    let expression = search_expression(search);
    let filter = leads::ListFilter {
        search: expression.as_deref(),
        source,
        stage,
    };
    let reader = &state.db.reader;
    let stage_counts = leads::count_by_stage(reader, &filter)
        .await
        .map_err(|e| internal("counting leads", e))?;
    let total = stage_counts.as_ref().map(|counts| match stage {
        Some(stage) => counts
            .iter()
            .find(|(filter, _)| *filter == stage)
            .map_or(0, |(_, n)| *n),
        None => counts.iter().map(|(_, n)| n).sum(),
    });
    let pages = total.map(|total| ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1));
    let page = page.clamp(1, pages.unwrap_or(MAX_UNCOUNTED_PAGE));
    // One row more than a page says whether there is a next one.
    let mut rows = leads::list(reader, &filter, PAGE_SIZE + 1, (page - 1) * PAGE_SIZE)
        .await
        .map_err(|e| internal("listing leads", e))?;
    let has_next = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let tz = state.config.timezone;
    Ok(LeadList {
        rows: rows
            .into_iter()
            .map(|lead| LeadRow {
                id: lead.id,
                name: lead.name,
                phone: lead
                    .phone
                    .or_else(|| lead.whatsapp_username.map(|u| format!("WhatsApp @{u}"))),
                email: lead.email,
                source: lead.source.parse().unwrap_or(Source::Organic),
                stage: LeadStage::parse(&lead.stage).unwrap_or(LeadStage::New),
                lost: lead.lost,
                created: local_datetime(lead.created_at, tz),
            })
            .collect(),
        total,
        page,
        pages,
        has_next,
        stage_counts,
    })
}

/// A `datetime-local` value ("2025-03-01T10:30") read in the clinic's zone. In the hour that
/// repeats when clocks go back, the first one; an hour that does not exist is refused.
pub fn parse_local(input: &str, tz: Tz, field: &str) -> Result<Timestamp, AppError> {
    let naive = chrono::NaiveDateTime::parse_from_str(input.trim(), "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(input.trim(), "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| AppError::invalid(field, "Indica la fecha y la hora de la cita."))?;
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(at) | chrono::LocalResult::Ambiguous(at, _) => {
            Ok(Timestamp::from(at.with_timezone(&chrono::Utc)))
        }
        chrono::LocalResult::None => Err(AppError::invalid(
            field,
            "Esa hora no existe ese día por el cambio de hora; elige otra.",
        )),
    }
}

fn local_input(at: Timestamp, tz: Tz) -> String {
    at.as_datetime()
        .with_timezone(&tz)
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

async fn begin(db: &Db) -> Result<Transaction<'static, Sqlite>, AppError> {
    db.begin_write()
        .await
        .map_err(|e| internal("starting a transaction", e))
}

async fn commit(tx: Transaction<'static, Sqlite>) -> Result<(), AppError> {
    tx.commit()
        .await
        .map_err(|e| internal("committing a lead change", e))
}

async fn record(
    tx: &mut Transaction<'static, Sqlite>,
    lead_id: i64,
    user: &CurrentUser,
    action: &str,
    detail: &str,
    now: Timestamp,
) -> Result<(), AppError> {
    lead_activities::insert(&mut **tx, lead_id, Some(user.id), action, detail, now)
        .await
        .map_err(|e| internal("recording a lead activity", e))
}

async fn existing_lead(
    tx: &mut Transaction<'static, Sqlite>,
    lead_id: i64,
) -> Result<leads::LeadRecord, AppError> {
    leads::get(&mut **tx, lead_id)
        .await
        .map_err(|e| internal("reading a lead", e))?
        .ok_or(AppError::NotFound)
}

/// Refuses a phone that already belongs to another lead, naming that lead.
async fn check_phone_free(
    tx: &mut Transaction<'static, Sqlite>,
    phone: &Phone,
    except: Option<i64>,
) -> Result<(), AppError> {
    let owner = leads::find_by_phone(&mut **tx, phone)
        .await
        .map_err(|e| internal("looking a phone up", e))?;
    match owner {
        Some(id) if Some(id) != except => {
            let lead = existing_lead(tx, id).await?;
            Err(AppError::PhoneTaken {
                lead_id: id,
                name: lead.name,
            })
        }
        _ => Ok(()),
    }
}

pub async fn create(
    db: &Db,
    user: &CurrentUser,
    draft: &LeadDraft,
    now: Timestamp,
) -> Result<i64, AppError> {
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
    .map_err(|e| internal("creating a lead", e))?;
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
        .map_err(|e| internal("queueing the HubSpot sync", e))?;
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
) -> Result<(), AppError> {
    let mut tx = begin(db).await?;
    let before = existing_lead(&mut tx, id).await?;
    match &draft.phone {
        Some(phone) => check_phone_free(&mut tx, phone, Some(id)).await?,
        // A phone is never taken away; a lead that never had one may stay so.
        None if before.phone.is_some() => return Err(phone_needed()),
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
    if before.source != draft.source.as_str() {
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
    .map_err(|e| internal("updating a lead", e))?;
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
        .map_err(|e| internal("queueing the HubSpot sync", e))?;
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
) -> Result<i64, AppError> {
    let mut tx = begin(db).await?;
    existing_lead(&mut tx, lead_id).await?;
    let kind = match treatment_id {
        None => appointment_kind(None),
        Some(treatment_id) => {
            let treatment = treatments::get(&mut *tx, treatment_id)
                .await
                .map_err(|e| internal("reading a treatment", e))?
                .filter(|t| t.lead_id == lead_id)
                .ok_or_else(|| {
                    AppError::invalid("treatment_id", "Ese tratamiento no es de este lead.")
                })?;
            if treatment.completed_at.is_some() {
                return Err(AppError::invalid(
                    "treatment_id",
                    "Ese tratamiento ya está completado: no quedan sesiones por programar.",
                ));
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
    .map_err(|e| internal("booking an appointment", e))?;
    queue_reminder(&mut tx, id, scheduled_at, now).await?;
    leads::refresh_stage(&mut *tx, lead_id, now)
        .await
        .map_err(|e| internal("refreshing a lead's stage", e))?;
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
) -> Result<(), AppError> {
    let Some(due) = SendReminder::due_at(scheduled_at, now) else {
        return Ok(());
    };
    let reminder = SendReminder {
        appointment_id,
        scheduled_at,
    };
    enqueue_at(&mut **tx, &[reminder], due, now)
        .await
        .map_err(|e| internal("queueing a reminder", e))
}

async fn appointment_in(
    tx: &mut Transaction<'static, Sqlite>,
    id: i64,
) -> Result<(appointments::AppointmentRecord, AppointmentStatus, String), AppError> {
    let appointment = appointments::get(&mut **tx, id)
        .await
        .map_err(|e| internal("reading an appointment", e))?
        .ok_or(AppError::NotFound)?;
    let status = AppointmentStatus::parse(&appointment.status)
        .ok_or_else(|| internal("reading an appointment", "unknown status"))?;
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
) -> Result<(), AppError> {
    let mut tx = begin(db).await?;
    let (appointment, status, kind) = appointment_in(&mut tx, appointment_id).await?;
    status.check_reschedule()?;
    appointments::reschedule(&mut *tx, appointment_id, scheduled_at, now)
        .await
        .map_err(|e| internal("moving an appointment", e))?;
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
) -> Result<(), AppError> {
    let mut tx = begin(db).await?;
    let (appointment, status, kind) = appointment_in(&mut tx, appointment_id).await?;
    status.check_change(next, appointment.scheduled_at, now)?;
    appointments::set_status(&mut *tx, appointment_id, next, now)
        .await
        .map_err(|e| internal("recording an appointment outcome", e))?;
    if let Some(treatment_id) = appointment.treatment_id {
        treatments::refresh_completion(&mut *tx, treatment_id)
            .await
            .map_err(|e| internal("refreshing a treatment's completion", e))?;
        leads::refresh_stage(&mut *tx, appointment.lead_id, now)
            .await
            .map_err(|e| internal("refreshing a lead's stage", e))?;
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

/// A treatment as staff type it.
pub struct TreatmentDraft {
    pub name: String,
    pub sessions_count: i64,
    pub price: Cents,
}

impl TreatmentDraft {
    pub const MAX_SESSIONS: i64 = 100;

    pub fn parse(name: &str, sessions: &str, price: &str) -> Result<Self, AppError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 120 {
            return Err(AppError::invalid(
                "name",
                "Escribe el nombre del tratamiento (hasta 120 caracteres).",
            ));
        }
        let sessions_count = sessions
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=Self::MAX_SESSIONS).contains(n))
            .ok_or_else(|| {
                AppError::invalid(
                    "sessions_count",
                    format!("El número de sesiones va de 1 a {}.", Self::MAX_SESSIONS),
                )
            })?;
        Ok(Self {
            name: name.to_string(),
            sessions_count,
            price: Cents::parse_euros(price)?,
        })
    }
}

pub async fn sell_treatment(
    db: &Db,
    user: &CurrentUser,
    lead_id: i64,
    draft: &TreatmentDraft,
    now: Timestamp,
) -> Result<i64, AppError> {
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
    .map_err(|e| internal("selling a treatment", e))?;
    leads::refresh_stage(&mut *tx, lead_id, now)
        .await
        .map_err(|e| internal("refreshing a lead's stage", e))?;
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
) -> Result<i64, AppError> {
    let mut tx = begin(db).await?;
    if existing_lead(&mut tx, lead_id).await?.phone.is_none() {
        return Err(no_phone());
    }
    let last_inbound = messages::last_inbound_at(&mut *tx, lead_id)
        .await
        .map_err(|e| internal("reading the last inbound message", e))?;
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
        .map_err(|e| internal("queueing a message", e))?;
    // Its job in the same transaction: a stored message is always on its way.
    enqueue_all(&mut *tx, &[SendWhatsappMessage { message_id: id }], now)
        .await
        .map_err(|e| internal("queueing a message's job", e))?;
    commit(tx).await?;
    Ok(id)
}

pub async fn mark_lost(
    db: &Db,
    user: &CurrentUser,
    lead_id: i64,
    reason: &str,
    now: Timestamp,
) -> Result<(), AppError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(AppError::invalid(
            "reason",
            "Indica el motivo (hasta 500 caracteres).",
        ));
    }
    let mut tx = begin(db).await?;
    if existing_lead(&mut tx, lead_id).await?.lost {
        return Err(AppError::invalid(
            "reason",
            "El lead ya está marcado como perdido.",
        ));
    }
    leads::set_lost(&mut *tx, lead_id, Some(reason), now)
        .await
        .map_err(|e| internal("marking a lead lost", e))?;
    record(&mut tx, lead_id, user, "lead_lost", reason, now).await?;
    commit(tx).await
}

pub async fn reopen(
    db: &Db,
    user: &CurrentUser,
    lead_id: i64,
    now: Timestamp,
) -> Result<(), AppError> {
    let mut tx = begin(db).await?;
    if !existing_lead(&mut tx, lead_id).await?.lost {
        return Err(AppError::invalid(
            "reason",
            "El lead no está marcado como perdido.",
        ));
    }
    leads::set_lost(&mut *tx, lead_id, None, now)
        .await
        .map_err(|e| internal("reopening a lead", e))?;
    record(&mut tx, lead_id, user, "lead_reopened", "", now).await?;
    commit(tx).await
}

/// Whether staff can call through Aircall now (`calls.ui` on and Aircall's breaker closed),
/// with the flags read for it (the backup phone is among them).
async fn telephony_up(db: &Db) -> Result<(bool, Flags), AppError> {
    let flags = Flags::load(db)
        .await
        .map_err(|e| internal("reading flags", e))?;
    let breakers = breakers::all(db)
        .await
        .map_err(|e| internal("reading breakers", e))?;
    let now = Timestamp::now();
    let up = flags.calls_ui()
        && !breakers
            .iter()
            .any(|b| b.provider == Provider::Aircall.as_str() && b.holds(now));
    Ok((up, flags))
}

/// Click-to-call: a request on the `aircall` queue dials the lead from the user's Aircall line.
pub async fn request_call(
    db: &Db,
    user: &CurrentUser,
    lead_id: i64,
    now: Timestamp,
) -> Result<i64, AppError> {
    if !telephony_up(db).await?.0 {
        return Err(AppError::invalid(
            "call",
            "La telefonía no está disponible ahora mismo: llama desde el teléfono de respaldo de la clínica.",
        ));
    }
    let line = users::aircall_user_id(&db.reader, user.id)
        .await
        .map_err(|e| internal("reading the user's Aircall line", e))?
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
        .map_err(|e| internal("requesting a call", e))?;
    enqueue_all(&mut *tx, &[DialLead { request_id: id }], now)
        .await
        .map_err(|e| internal("queueing a call request", e))?;
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

/// A lead's page, as `user` sees it: its data, appointments, treatments and timeline (newest
/// first).
pub async fn detail(
    state: &AppState,
    user: &CurrentUser,
    lead_id: i64,
    now: Timestamp,
) -> Result<LeadDetail, AppError> {
    let db = &state.db;
    let tz = state.config.timezone;
    let read = |context: &'static str| move |e: sqlx::Error| internal(context, e);
    let lead = leads::get(&db.reader, lead_id)
        .await
        .map_err(read("reading a lead"))?
        .ok_or(AppError::NotFound)?;
    let appointment_rows = appointments::for_lead(&db.reader, lead_id)
        .await
        .map_err(read("reading appointments"))?;
    let treatment_rows = treatments::for_lead(&db.reader, lead_id)
        .await
        .map_err(read("reading treatments"))?;
    let message_rows = messages::for_lead(&db.reader, lead_id)
        .await
        .map_err(read("reading messages"))?;
    let call_rows = calls::for_lead(&db.reader, lead_id)
        .await
        .map_err(read("reading calls"))?;
    let activity_rows = lead_activities::for_lead(&db.reader, lead_id)
        .await
        .map_err(read("reading the lead's activity"))?;
    let last_inbound = message_rows
        .iter()
        .filter(|m| m.direction == "inbound")
        .map(|m| m.created_at)
        .max();

    let (up, flags) = telephony_up(db).await?;
    let telephony = if up {
        Telephony::Available {
            has_line: users::aircall_user_id(&db.reader, user.id)
                .await
                .map_err(read("reading the user's Aircall line"))?
                .is_some(),
        }
    } else {
        Telephony::Degraded {
            backup_phone: flags.backup_phone().map(str::to_string),
        }
    };
    let request_rows = call_requests::for_lead(&db.reader, lead_id)
        .await
        .map_err(read("reading call requests"))?;

    let mut timeline = timeline(
        &lead,
        &appointment_rows,
        &treatment_rows,
        &message_rows,
        (&call_rows, &request_rows),
        &activity_rows,
    );
    timeline.sort_by_key(|(at, _)| std::cmp::Reverse(*at));

    Ok(LeadDetail {
        id: lead.id,
        name: lead.name,
        phone: lead.phone,
        whatsapp_username: lead.whatsapp_username,
        email: lead.email,
        source: lead.source.parse().unwrap_or(Source::Organic),
        stage: LeadStage::parse(&lead.stage).unwrap_or(LeadStage::New),
        lost_reason: lead.lost_reason,
        ad: lead.ad_referral.as_deref().and_then(ad_line),
        created: local_datetime(lead.created_at, tz),
        appointments: appointment_rows
            .iter()
            .map(|a| AppointmentView {
                id: a.id,
                kind: appointment_kind(a.treatment_name.as_deref()),
                when: local_datetime(a.scheduled_at, tz),
                when_input: local_input(a.scheduled_at, tz),
                status: AppointmentStatus::parse(&a.status).unwrap_or(AppointmentStatus::Scheduled),
                due: a.scheduled_at <= now,
            })
            .collect(),
        treatments: treatment_rows
            .iter()
            .map(|t| TreatmentView {
                id: t.id,
                name: t.name.clone(),
                sessions_count: t.sessions_count,
                attended: t.attended,
                price: Cents(t.price_cents).to_euros_label(),
                completed: t.completed_at.is_some(),
                sold: local_datetime(t.created_at, tz),
            })
            .collect(),
        timeline: timeline
            .into_iter()
            .map(|(at, mut entry)| {
                entry.when = local_datetime(at, tz);
                entry
            })
            .collect(),
        whatsapp_window_open: crate::domain::window_open(last_inbound, now),
        default_template: state.config.whatsapp_reminder_template.clone(),
        telephony,
    })
}

fn entry(
    kind: TimelineKind,
    title: impl Into<String>,
    detail: Option<String>,
    by: Option<String>,
) -> TimelineEntry {
    TimelineEntry {
        when: String::new(),
        kind,
        title: title.into(),
        detail,
        by,
        link: None,
    }
}

/// The click-to-WhatsApp ad a lead came from, in one line: its headline, Meta's ids (the ad's
/// `source_id` and the click's `ctwa_clid`, which the ads manager matches) and its link.
fn ad_line(referral: &str) -> Option<String> {
    let referral: serde_json::Value = serde_json::from_str(referral).ok()?;
    let field = |key: &str| {
        referral
            .get(key)
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let kind = match field("source_type") {
        Some("ad") | None => "Anuncio de Meta".to_string(),
        Some("post") => "Publicación de Meta".to_string(),
        Some(other) => format!("Meta ({other})"),
    };
    let parts: Vec<String> = [
        field("headline").map(|h| format!("«{h}»")),
        field("source_id").map(|id| match field("source_type") {
            Some("post") => format!("publicación {id}"),
            _ => format!("anuncio {id}"),
        }),
        field("source_url").map(str::to_string),
        field("ctwa_clid").map(|c| format!("clic {c}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    Some(if parts.is_empty() {
        kind
    } else {
        format!("{kind}: {}", parts.join(" · "))
    })
}

/// A message's content in one line; a reaction also says which message it answers.
fn content_line(content: &Content, message_rows: &[messages::MessageRecord]) -> String {
    let line = content.line();
    let Content::Reaction { message_id, .. } = content else {
        return line;
    };
    let target = message_rows
        .iter()
        .find(|m| m.wamid.as_deref() == Some(message_id.as_str()))
        .and_then(|m| {
            let content = m
                .content
                .as_deref()
                .and_then(|c| serde_json::from_str::<Content>(c).ok());
            match (&m.body, &m.template_name, content) {
                (Some(body), _, _) => Some(body.clone()),
                (None, Some(template), _) => Some(template.clone()),
                (None, None, Some(content)) => Some(content.line()),
                _ => None,
            }
        });
    match target.as_deref() {
        Some(words) => {
            let mut quoted: String = words.chars().take(60).collect();
            if quoted.len() < words.len() {
                quoted.push('…');
            }
            format!("{line} a «{quoted}»")
        }
        None => format!("{line} a un mensaje anterior"),
    }
}

/// Every event of the lead with its instant (formatted by the caller once sorted).
fn timeline(
    lead: &leads::LeadRecord,
    appointment_rows: &[appointments::AppointmentRecord],
    treatment_rows: &[treatments::TreatmentRecord],
    message_rows: &[messages::MessageRecord],
    (call_rows, request_rows): (&[calls::CallRecord], &[call_requests::CallRequestRecord]),
    activity_rows: &[lead_activities::ActivityRecord],
) -> Vec<(Timestamp, TimelineEntry)> {
    let mut events = Vec::new();
    // A lead staff created carries its author in the activity; one that arrived by itself
    // (WhatsApp, a call, HubSpot) gets this line instead.
    if !activity_rows.iter().any(|a| a.action == "lead_created") {
        let source = lead.source.parse().map_or("—", |s: Source| s.label());
        events.push((
            lead.created_at,
            entry(
                TimelineKind::Created,
                "Lead recibido",
                Some(format!("Origen: {source}")),
                None,
            ),
        ));
    }
    for m in message_rows {
        let inbound = m.direction == "inbound";
        let content = m
            .content
            .as_deref()
            .and_then(|c| serde_json::from_str::<Content>(c).ok());
        let text = match (&content, &m.body, &m.template_name) {
            (Some(content), _, _) => Some(content_line(content, message_rows)),
            (None, Some(body), _) => Some(body.clone()),
            (None, None, Some(template)) => Some(format!("Plantilla «{template}»")),
            _ => None,
        };
        let title = if inbound {
            "WhatsApp recibido".to_string()
        } else {
            let status = match m.status.as_str() {
                "queued" => "en cola".to_string(),
                "sent" => "enviado".to_string(),
                "delivered" => "entregado".to_string(),
                "read" => "leído".to_string(),
                "failed" => match &m.error_reason {
                    Some(reason) => format!("fallido: {reason}"),
                    None => "fallido".to_string(),
                },
                other => other.to_string(),
            };
            format!("WhatsApp enviado · {status}")
        };
        let kind = if inbound {
            TimelineKind::MessageIn
        } else {
            TimelineKind::MessageOut
        };
        let mut entry = entry(kind, title, text, m.user_name.clone());
        entry.link = content.as_ref().and_then(Content::map_link);
        events.push((m.created_at, entry));
    }
    for c in call_rows {
        let direction = if c.direction == "inbound" {
            "entrante"
        } else {
            "saliente"
        };
        let (kind, title, detail) = if c.missed {
            (
                TimelineKind::MissedCall,
                format!("Llamada {direction} perdida"),
                c.missed_reason.clone(),
            )
        } else {
            let duration = format!(
                "{} min {:02} s",
                c.duration_seconds / 60,
                c.duration_seconds % 60
            );
            (
                TimelineKind::Call,
                format!("Llamada {direction}"),
                Some(duration),
            )
        };
        events.push((
            c.started_at.unwrap_or(c.created_at),
            entry(kind, title, detail, None),
        ));
    }
    for r in request_rows {
        let status = match r.status.as_str() {
            "queued" => "en cola".to_string(),
            "dialed" => "marcada en Aircall".to_string(),
            _ => format!("fallida: {}", r.error.as_deref().unwrap_or("sin detalle")),
        };
        events.push((
            r.created_at,
            entry(
                TimelineKind::Call,
                format!("Llamada solicitada · {status}"),
                None,
                r.user_name.clone(),
            ),
        ));
    }
    for a in appointment_rows {
        let kind = appointment_kind(a.treatment_name.as_deref());
        let status = AppointmentStatus::parse(&a.status).map_or("—", |s| s.label());
        events.push((
            a.scheduled_at,
            entry(
                TimelineKind::Appointment,
                format!("{kind} · {status}"),
                None,
                None,
            ),
        ));
    }
    for t in treatment_rows {
        let progress = format!("{}/{} sesiones asistidas", t.attended, t.sessions_count);
        events.push((
            t.created_at,
            entry(
                TimelineKind::Treatment,
                format!(
                    "Tratamiento: {} · {}",
                    t.name,
                    Cents(t.price_cents).to_euros_label()
                ),
                Some(progress),
                None,
            ),
        ));
    }
    for a in activity_rows {
        let title = match a.action.as_str() {
            "lead_created" => "Lead creado",
            "lead_updated" => "Datos del lead cambiados",
            "appointment_scheduled" => "Cita programada",
            "appointment_rescheduled" => "Cita cambiada de fecha",
            "appointment_status" => "Resultado de la cita",
            "treatment_sold" => "Tratamiento vendido",
            "lead_lost" => "Marcado como perdido",
            "lead_reopened" => "Reabierto",
            "phone_changed" => "Teléfono cambiado",
            "possible_duplicate" => "Posible duplicado",
            "hubspot_deleted" => "Borrado en HubSpot",
            "erased" => "Datos personales borrados",
            other => other,
        };
        let detail = (!a.detail.is_empty()).then(|| a.detail.clone());
        events.push((
            a.created_at,
            entry(TimelineKind::Staff, title, detail, a.user_name.clone()),
        ));
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_words_become_prefix_terms() {
        assert_eq!(search_expression("  "), None);
        assert_eq!(search_expression("María"), Some("\"María\"*".into()));
        assert_eq!(
            search_expression("ana gar"),
            Some("\"ana\"* AND \"gar\"*".into())
        );
        assert_eq!(
            search_expression("612 34 56 78"),
            Some("\"612345678\"*".into())
        );
        assert_eq!(
            search_expression("+34 612-345-678"),
            Some("\"34612345678\"*".into())
        );
        assert_eq!(
            search_expression("ana.gil@example.com"),
            Some("\"ana\"* AND \"gil\"*".into())
        );
        assert_eq!(search_expression("@example.com"), None);
        // FTS5 syntax typed by staff is searched as text, never run as a query.
        assert_eq!(
            search_expression("a\" OR \"b NEAR(x"),
            Some("\"a\"* AND \"OR\"* AND \"b\"* AND \"NEAR\"* AND \"x\"*".into())
        );
    }

    #[test]
    fn local_times_read_in_the_clinic_zone() {
        let madrid = chrono_tz::Europe::Madrid;
        assert_eq!(
            parse_local("2025-01-07T11:00", madrid, "when")
                .unwrap()
                .to_string(),
            "2025-01-07T10:00:00Z"
        );
        assert_eq!(
            parse_local("2025-07-07T11:00", madrid, "when")
                .unwrap()
                .to_string(),
            "2025-07-07T09:00:00Z"
        );
        // 02:30 does not exist on the last Sunday of March; 02:30 on the last Sunday of October
        // happens twice (the first one is taken).
        assert!(parse_local("2025-03-30T02:30", madrid, "when").is_err());
        assert_eq!(
            parse_local("2025-10-26T02:30", madrid, "when")
                .unwrap()
                .to_string(),
            "2025-10-26T00:30:00Z"
        );
        assert!(parse_local("mañana", madrid, "when").is_err());
        assert_eq!(
            local_input(
                parse_local("2025-07-07T11:00", madrid, "when").unwrap(),
                madrid
            ),
            "2025-07-07T11:00"
        );
    }

    #[test]
    fn treatment_drafts_are_checked() {
        let draft = TreatmentDraft::parse(" Láser ", "6", "1.200,50").unwrap();
        assert_eq!(
            (draft.name.as_str(), draft.sessions_count, draft.price),
            ("Láser", 6, Cents(120_050))
        );
        assert!(TreatmentDraft::parse("", "6", "10").is_err());
        assert!(TreatmentDraft::parse("Láser", "0", "10").is_err());
        assert!(TreatmentDraft::parse("Láser", "101", "10").is_err());
        assert!(TreatmentDraft::parse("Láser", "seis", "10").is_err());
        assert!(TreatmentDraft::parse("Láser", "6", "diez").is_err());
    }
}
