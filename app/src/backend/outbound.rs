//! Outbound work of the queue: WhatsApp messages staff wrote on a lead's page, appointment
//! reminders, and click-to-call requests.

use super::breakers;
use super::jobs::{Job, JobContext, JobError};
use super::providers::aircall::AircallClient;
use super::providers::whatsapp::{Outbound, WhatsappClient};
use super::providers::CallError;
use super::store::{appointments, call_requests, messages};
use crate::domain::{AppointmentStatus, MessageStatus, Provider, Queue, Timestamp};
use anyhow::anyhow;
use serde::{Deserialize, Serialize};

/// Sends one queued outbound message (`messages.id`).
#[derive(Debug, Serialize, Deserialize)]
pub struct SendWhatsappMessage {
    pub message_id: i64,
}

/// What the lead's page shows for a send that was interrupted mid-request.
pub const OUTCOME_UNKNOWN: &str =
    "Resultado desconocido: el envío se interrumpió y el mensaje pudo salir. Compruébalo antes de reenviarlo.";

impl Job for SendWhatsappMessage {
    const NAME: &'static str = "send_whatsapp_message";
    const QUEUE: Queue = Queue::Whatsapp;
    const MAX_ATTEMPTS: i64 = 10;

    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        deliver_message(ctx, self.message_id).await
    }
}

/// The reminder template of an appointment, 24 hours before it (`WHATSAPP_REMINDER_TEMPLATE`,
/// in Spanish, without parameters). Queued when the appointment is booked or moved, with the time
/// it was booked for: a reminder of a moved, cancelled or past appointment is skipped, never
/// sent late; an appointment gets one reminder, ever.
#[derive(Debug, Serialize, Deserialize)]
pub struct SendReminder {
    pub appointment_id: i64,
    pub scheduled_at: Timestamp,
}

/// How long before an appointment its reminder goes out.
pub const REMINDER_LEAD_SECONDS: i64 = 24 * 3600;

impl SendReminder {
    /// When the reminder of an appointment at `scheduled_at` is due: 24 hours before, or now
    /// when it was booked closer than that; `None` for an appointment already past.
    pub fn due_at(scheduled_at: Timestamp, now: Timestamp) -> Option<Timestamp> {
        (scheduled_at > now).then(|| scheduled_at.plus_seconds(-REMINDER_LEAD_SECONDS).max(now))
    }
}

impl Job for SendReminder {
    const NAME: &'static str = "send_reminder";
    const QUEUE: Queue = Queue::Whatsapp;
    const MAX_ATTEMPTS: i64 = 10;

    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let db = &ctx.db.writer;
        let id = self.appointment_id;
        let db_error = |e: sqlx::Error| {
            JobError::Retryable(
                anyhow::Error::from(e).context(format!("reminder of appointment {id}")),
            )
        };
        let Some(appointment) = appointments::get(db, id).await.map_err(db_error)? else {
            return Ok(());
        };
        let skip = if appointment.status != AppointmentStatus::Scheduled {
            Some("the appointment is no longer scheduled")
        } else if appointment.scheduled_at != self.scheduled_at {
            Some("the appointment moved (its new time has its own reminder)")
        } else if appointment.scheduled_at <= Timestamp::now() {
            Some("the appointment has passed")
        } else {
            None
        };
        if let Some(reason) = skip {
            tracing::info!(
                provider = "whatsapp",
                appointment_id = id,
                reason,
                "reminder skipped"
            );
            return Ok(());
        }
        let message_id = match messages::reminder_for(db, id).await.map_err(db_error)? {
            Some((message_id, MessageStatus::Queued)) => message_id,
            Some(_) => return Ok(()), // one reminder per appointment, already sent or given up
            None => {
                let template = &ctx.config.whatsapp_reminder_template;
                match messages::insert_reminder(
                    db,
                    appointment.lead_id,
                    id,
                    template,
                    Timestamp::now(),
                )
                .await
                .map_err(db_error)?
                {
                    Some(message_id) => message_id,
                    None => return Ok(()),
                }
            }
        };
        deliver_message(ctx, message_id).await
    }
}

/// Sends one queued outbound message through Meta: once accepted it is not sent again, and a
/// send that was interrupted mid-request is never repeated (outcome unknown).
/// The values of the reminder template's body variables for message `id`, in the order
/// `WHATSAPP_REMINDER_PARAMETERS` gives; `Err` with a Spanish reason when one cannot be known
/// (a date for a lead with no appointment).
async fn template_parameters(
    ctx: &JobContext,
    id: i64,
) -> Result<Result<Vec<String>, String>, JobError> {
    use crate::backend::config::TemplateValue;
    let (name, appointment) = messages::template_facts(&ctx.db.reader, id, Timestamp::now())
        .await
        .map_err(|e| JobError::Retryable(anyhow::Error::from(e).context("template values")))?;
    let local = appointment.map(|at| at.as_datetime().with_timezone(&ctx.config.timezone));
    let mut values = Vec::new();
    for value in &ctx.config.whatsapp_reminder_parameters {
        values.push(match (value, &local) {
            (TemplateValue::Name, _) => name.clone(),
            (TemplateValue::Date, Some(at)) => at.format("%d/%m/%Y").to_string(),
            (TemplateValue::Time, Some(at)) => at.format("%H:%M").to_string(),
            (TemplateValue::Date | TemplateValue::Time, None) => {
                return Ok(Err(
                    "la plantilla lleva la fecha y la hora de una cita y el lead no tiene ninguna \
                     programada"
                        .to_string(),
                ))
            }
            (TemplateValue::Clinic, _) => ctx.config.clinic_name.clone().unwrap_or_default(),
        });
    }
    Ok(Ok(values))
}

/// Message `id` may or may not have reached Meta (`why`): failed as "outcome unknown" for a
/// person to decide, never sent again by itself.
async fn outcome_unknown(db: &sqlx::SqlitePool, id: i64, why: &str) -> sqlx::Result<()> {
    messages::set_status(
        db,
        id,
        MessageStatus::Failed,
        Some((0, OUTCOME_UNKNOWN)),
        Timestamp::now(),
    )
    .await?;
    tracing::error!(
        provider = "whatsapp",
        message_id = id,
        why,
        "outcome unknown, not resent"
    );
    Ok(())
}

async fn deliver_message(ctx: &JobContext, id: i64) -> Result<(), JobError> {
    let db = &ctx.db.writer;
    let db_error = |e: sqlx::Error| {
        JobError::Retryable(anyhow::Error::from(e).context(format!("message {id}")))
    };
    let message = messages::get_outbound(db, id)
        .await
        .map_err(db_error)?
        .ok_or_else(|| JobError::Permanent(anyhow!("message {id} does not exist")))?;
    if message.status != MessageStatus::Queued || message.wamid.is_some() {
        return Ok(()); // already sent (or given up): nothing to do twice
    }
    let client = WhatsappClient::from_config(&ctx.config, ctx.http.clone()).ok_or_else(|| {
        JobError::Retryable(anyhow!(
            "WhatsApp sending is not configured (WHATSAPP_ACCESS_TOKEN, WHATSAPP_PHONE_NUMBER_ID)"
        ))
    })?;
    let outbound = match (message.kind.as_str(), &message.body, &message.template_name) {
        ("text", Some(body), _) => Outbound::Text(body),
        ("template", _, Some(name)) => {
            let parameters = match template_parameters(ctx, id).await? {
                Ok(parameters) => parameters,
                Err(missing) => {
                    messages::set_status(
                        db,
                        id,
                        MessageStatus::Failed,
                        Some((0, &missing)),
                        Timestamp::now(),
                    )
                    .await
                    .map_err(db_error)?;
                    return Err(JobError::Permanent(anyhow!("message {id}: {missing}")));
                }
            };
            Outbound::Template {
                name,
                language: &ctx.config.whatsapp_template_language,
                parameters,
            }
        }
        _ => {
            return Err(JobError::Permanent(anyhow!(
                "message {id} has nothing to send"
            )))
        }
    };
    let Some(phone) = message.phone.as_deref() else {
        // A patient known by their WhatsApp username alone (a reminder booked before they gave
        // a number): nothing to send to; said on the message, not retried.
        messages::set_status(
            db,
            id,
            MessageStatus::Failed,
            Some((
                0,
                "el paciente no ha dado su teléfono (escribe con nombre de usuario)",
            )),
            Timestamp::now(),
        )
        .await
        .map_err(db_error)?;
        return Ok(());
    };
    if !messages::begin_send(db, id, Timestamp::now())
        .await
        .map_err(db_error)?
    {
        outcome_unknown(db, id, "send interrupted earlier")
            .await
            .map_err(db_error)?;
        return Err(JobError::Permanent(anyhow!(
            "message {id}: an earlier send was interrupted mid-request; outcome unknown, not resent"
        )));
    }
    let result = client.send(phone, &outbound).await;
    record_on_breaker(ctx, Provider::Whatsapp, &result).await?;
    match result {
        Ok(wamid) => {
            let mut tx = ctx.db.begin_write().await.map_err(db_error)?;
            crate::backend::webhooks::whatsapp::accepted(&mut tx, id, &wamid, Timestamp::now())
                .await
                .map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
            tracing::info!(
                provider = "whatsapp",
                message_id = id,
                "message accepted by Meta"
            );
            Ok(())
        }
        Err(err @ CallError::Retry { .. }) => {
            messages::clear_send(db, id).await.map_err(db_error)?;
            Err(JobError::from(err).context(&format!("WhatsApp send of message {id}")))
        }
        Err(err @ CallError::Unknown { .. }) => {
            // The request left and no answer came: sent, maybe. As after a crash mid-send, a
            // person decides; never a second copy by itself.
            outcome_unknown(db, id, "send timed out")
                .await
                .map_err(db_error)?;
            Err(JobError::from(err).context(&format!("WhatsApp send of message {id}")))
        }
        Err(CallError::Refused {
            code: Some(code),
            reason,
        }) if crate::backend::providers::whatsapp::ACCOUNT_WIDE.contains(&code) => {
            // Not this message's fault: every one would be refused. The queue waits with the
            // reason; this message is sent, once, when the cause is fixed and the queue resumed.
            messages::clear_send(db, id).await.map_err(db_error)?;
            let why = crate::domain::mask_personal_data(&format!(
                "Meta rechaza la cuenta ({code}: {reason}). Tras corregirlo: mini-crm queue \
                 resume whatsapp"
            ));
            crate::backend::flags::hold_queue(db, Queue::Whatsapp, &why, Timestamp::now())
                .await
                .map_err(db_error)?;
            tracing::error!(
                provider = "whatsapp",
                message_id = id,
                code,
                "Meta refuses the whole account: whatsapp queue held"
            );
            Err(JobError::Held(anyhow!(
                "WhatsApp send of message {id}: {why}"
            )))
        }
        Err(err @ CallError::Refused { .. }) => {
            if let CallError::Refused { code, reason } = &err {
                messages::set_status(
                    db,
                    id,
                    MessageStatus::Failed,
                    Some((code.unwrap_or(0), reason)),
                    Timestamp::now(),
                )
                .await
                .map_err(db_error)?;
            }
            tracing::warn!(
                provider = "whatsapp",
                message_id = id,
                "message refused by Meta"
            );
            Err(JobError::from(err).context(&format!("WhatsApp send of message {id}")))
        }
    }
}

/// Asks Aircall to dial a lead from the agent's line (`call_requests.id`).
#[derive(Debug, Serialize, Deserialize)]
pub struct DialLead {
    pub request_id: i64,
}

/// A dial this late would ring on an agent who has moved on: it is dropped instead.
pub const DIAL_FRESH_SECONDS: i64 = 120;

impl Job for DialLead {
    const NAME: &'static str = "dial_lead";
    const QUEUE: Queue = Queue::Aircall;
    const MAX_ATTEMPTS: i64 = 3;

    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let db = &ctx.db.writer;
        let id = self.request_id;
        let db_error = |e: sqlx::Error| {
            JobError::Retryable(anyhow::Error::from(e).context(format!("call request {id}")))
        };
        let fail = |reason: String| async move {
            call_requests::finish(db, id, "failed", Some(&reason), Timestamp::now())
                .await
                .map_err(db_error)?;
            Err::<(), _>(JobError::Permanent(anyhow!("call request {id}: {reason}")))
        };
        let request = call_requests::get(db, id)
            .await
            .map_err(db_error)?
            .ok_or_else(|| JobError::Permanent(anyhow!("call request {id} does not exist")))?;
        if request.status != "queued" {
            return Ok(());
        }
        if Timestamp::now().unix() - request.created_at.unix() > DIAL_FRESH_SECONDS {
            return fail(
                "Caducada: Aircall no respondió a tiempo; vuelve a pulsar «Llamar».".into(),
            )
            .await;
        }
        let client =
            AircallClient::from_config(&ctx.config, ctx.http.clone()).ok_or_else(|| {
                JobError::Retryable(anyhow!(
                    "Aircall is not configured (AIRCALL_API_ID, AIRCALL_API_TOKEN)"
                ))
            })?;
        if !call_requests::begin_send(db, id, Timestamp::now())
            .await
            .map_err(db_error)?
        {
            tracing::error!(
                provider = "aircall",
                request_id = id,
                "dial interrupted earlier: outcome unknown, not repeated"
            );
            return fail(OUTCOME_UNKNOWN.replace("el mensaje", "la llamada")).await;
        }
        let result = client.dial(request.aircall_user_id, &request.phone).await;
        record_on_breaker(ctx, Provider::Aircall, &result).await?;
        match result {
            Ok(()) => {
                call_requests::finish(db, id, "dialed", None, Timestamp::now())
                    .await
                    .map_err(db_error)?;
                tracing::info!(
                    provider = "aircall",
                    request_id = id,
                    "dial sent to the agent's line"
                );
                Ok(())
            }
            Err(CallError::Refused { reason, .. }) => fail(reason).await,
            Err(CallError::Unknown { .. }) => {
                tracing::error!(
                    provider = "aircall",
                    request_id = id,
                    "dial timed out: outcome unknown, not repeated"
                );
                fail(OUTCOME_UNKNOWN.replace("el mensaje", "la llamada")).await
            }
            Err(err) => {
                call_requests::finish(db, id, "queued", None, Timestamp::now())
                    .await
                    .map_err(db_error)?;
                Err(JobError::from(err).context(&format!("Aircall dial of request {id}")))
            }
        }
    }
}

/// The provider answered (even with a refusal of this one request): its breaker closes; it
/// failed in a way that may pass: one more failure towards opening it.
async fn record_on_breaker<T>(
    ctx: &JobContext,
    provider: Provider,
    result: &Result<T, CallError>,
) -> Result<(), JobError> {
    let now = Timestamp::now();
    match result {
        Err(CallError::Retry { reason, .. } | CallError::Unknown { reason }) => {
            breakers::record_failure(&ctx.db, provider, reason, now).await
        }
        // A refusal says nothing of the provider's health (one message, one account): the
        // breaker is left as it is.
        Err(CallError::Refused { .. }) => Ok(()),
        Ok(_) => breakers::record_success(&ctx.db, provider, now).await,
    }
    .map_err(|e| {
        let context = format!("recording {} on its breaker", provider.as_str());
        JobError::Retryable(anyhow::Error::from(e).context(context))
    })
}
