//! Outbound work of the queue: WhatsApp messages staff wrote on a lead's page.

use super::jobs::{Job, JobContext, JobError};
use super::providers::whatsapp::{Outbound, WhatsappClient};
use super::store::messages;
use crate::domain::{Queue, Timestamp};
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
        let db = &ctx.db.writer;
        let id = self.message_id;
        let db_error = |e: sqlx::Error| JobError::Retryable(anyhow!("message {id}: {e}"));
        let message = messages::get_outbound(db, id)
            .await
            .map_err(db_error)?
            .ok_or_else(|| JobError::Permanent(anyhow!("message {id} does not exist")))?;
        if message.status != "queued" || message.wamid.is_some() {
            return Ok(()); // already sent (or given up): nothing to do twice
        }
        let client = WhatsappClient::from_config(&ctx.config, ctx.http.clone()).ok_or_else(|| {
            JobError::Retryable(anyhow!(
                "WhatsApp sending is not configured (WHATSAPP_ACCESS_TOKEN, WHATSAPP_PHONE_NUMBER_ID)"
            ))
        })?;
        let outbound = match (message.kind.as_str(), &message.body, &message.template_name) {
            ("text", Some(body), _) => Outbound::Text(body),
            ("template", _, Some(name)) => Outbound::Template(name),
            _ => {
                return Err(JobError::Permanent(anyhow!(
                    "message {id} has nothing to send"
                )))
            }
        };
        if !messages::begin_send(db, id, Timestamp::now())
            .await
            .map_err(db_error)?
        {
            messages::set_status(
                db,
                id,
                "failed",
                Some((0, OUTCOME_UNKNOWN)),
                Timestamp::now(),
            )
            .await
            .map_err(db_error)?;
            tracing::error!(
                provider = "whatsapp",
                message_id = id,
                "send interrupted earlier: outcome unknown, not resent"
            );
            return Err(JobError::Permanent(anyhow!(
                "message {id}: an earlier send was interrupted mid-request; outcome unknown, not resent"
            )));
        }
        match client.send(&message.phone, &outbound).await {
            Ok(wamid) => {
                messages::accepted(db, id, &wamid, Timestamp::now())
                    .await
                    .map_err(db_error)?;
                tracing::info!(
                    provider = "whatsapp",
                    message_id = id,
                    "message accepted by Meta"
                );
                Ok(())
            }
            Err(err @ super::providers::CallError::Retry { .. }) => {
                messages::clear_send(db, id).await.map_err(db_error)?;
                Err(err.into_job_error(&format!("WhatsApp send of message {id}")))
            }
            Err(err @ super::providers::CallError::Refused { .. }) => {
                if let super::providers::CallError::Refused { code, reason } = &err {
                    messages::set_status(
                        db,
                        id,
                        "failed",
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
                Err(err.into_job_error(&format!("WhatsApp send of message {id}")))
            }
        }
    }
}
