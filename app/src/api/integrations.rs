//! Integraciones: queues, failed jobs and received webhooks. Everyone signed in may look; only
//! admins replay deliveries and retry jobs.

use crate::domain::{BreakerView, FailedJobView, QueueView, WebhookEventView, WebhookPayload};
use crate::error::AppError;
use leptos::prelude::*;

#[server(prefix = "/sfn", endpoint = "queues")]
pub async fn list_queues() -> Result<Vec<QueueView>, AppError> {
    use crate::backend::{auth, queue};
    use crate::domain::Timestamp;
    use anyhow::Context;
    let (state, _) = auth::require_user().await?;
    let overview = queue::overview(&state.db, Timestamp::now())
        .await
        .context("reading queue state")?;
    Ok(overview
        .queues
        .into_iter()
        .map(|q| QueueView {
            queue: q.queue.as_str().to_string(),
            pending: q.pending,
            running: q.running,
            failed: q.failed,
            oldest_pending_seconds: q.oldest_pending_seconds,
            held: q.held,
        })
        .collect())
}

/// Each provider's circuit breaker: state, last success, last error.
#[server(prefix = "/sfn", endpoint = "provider_breakers")]
pub async fn list_breakers() -> Result<Vec<BreakerView>, AppError> {
    use crate::backend::{auth, breakers};
    use anyhow::Context;
    let (state, _) = auth::require_user().await?;
    let rows = breakers::all(&state.db).await.context("reading breakers")?;
    Ok(rows.iter().map(|b| b.view(state.config.timezone)).collect())
}

#[server(prefix = "/sfn", endpoint = "failed_jobs")]
pub async fn list_failed_jobs() -> Result<Vec<FailedJobView>, AppError> {
    use crate::backend::{auth, queue};
    use crate::format::local_datetime;
    use anyhow::Context;
    let (state, _) = auth::require_user().await?;
    let tz = state.config.timezone;
    let failed = queue::failed_jobs(&state.db)
        .await
        .context("listing failed jobs")?;
    Ok(failed
        .into_iter()
        .map(|job| FailedJobView {
            id: job.id,
            queue: job.queue.as_str().to_string(),
            kind: job.kind,
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            last_error: job.last_error.unwrap_or_default(),
            created: local_datetime(job.created_at, tz),
        })
        .collect())
}

/// Puts one failed job (or all with `None`) back in its queue with its attempts reset.
#[server(prefix = "/sfn", endpoint = "retry_jobs")]
pub async fn retry_jobs(id: Option<i64>) -> Result<u64, AppError> {
    use crate::backend::{auth, queue};
    use crate::domain::Timestamp;
    use anyhow::Context;
    let (state, user) = auth::require_admin().await?;
    let retried = queue::retry_failed(&state.db, id, Timestamp::now())
        .await
        .context("retrying jobs")?;
    tracing::info!(
        user_id = user.id,
        retried,
        "failed jobs retried from Integraciones"
    );
    Ok(retried)
}

#[server(prefix = "/sfn", endpoint = "webhook_events")]
pub async fn list_webhook_events(
    provider: Option<String>,
    status: Option<String>,
) -> Result<Vec<WebhookEventView>, AppError> {
    use crate::backend::{auth, webhooks};
    use crate::format::local_datetime;
    use anyhow::Context;
    let (state, _) = auth::require_user().await?;
    let provider = match provider.as_deref() {
        None | Some("") => None,
        Some(p) => Some(
            p.parse()
                .map_err(|_| AppError::invalid("provider", "Proveedor desconocido."))?,
        ),
    };
    let status = match status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            s.parse()
                .map_err(|_| AppError::invalid("status", "Estado desconocido."))?,
        ),
    };
    let filter = webhooks::Filter {
        provider,
        status,
        since: None,
    };
    let events = webhooks::list(&state.db, &filter, 100)
        .await
        .context("listing webhook events")?;
    let tz = state.config.timezone;
    Ok(events
        .into_iter()
        .map(|e| WebhookEventView {
            id: e.id,
            provider: e.provider,
            event_type: e.event_type,
            status: e.status,
            received: local_datetime(e.received_at, tz),
            attempts: e.attempts,
            last_error: e.last_error,
        })
        .collect())
}

#[server(prefix = "/sfn", endpoint = "webhook_payload")]
pub async fn get_webhook_payload(id: i64) -> Result<WebhookPayload, AppError> {
    use crate::backend::{auth, webhooks};
    use anyhow::Context;
    // Patients' messages whole, headers included: admins only.
    let (state, _) = auth::require_admin().await?;
    let event = webhooks::find(&state.db, id)
        .await
        .context("reading a webhook event")?
        .ok_or(AppError::NotFound)?;
    let pretty = |bytes: &[u8]| {
        serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .and_then(|json| serde_json::to_string_pretty(&json).ok())
            .unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned())
    };
    Ok(WebhookPayload {
        id,
        headers: pretty(event.headers.as_bytes()),
        body: pretty(&event.body),
    })
}

/// Processes one stored delivery again; items already applied are skipped.
#[server(prefix = "/sfn", endpoint = "replay_webhook")]
pub async fn replay_webhook(id: i64) -> Result<String, AppError> {
    use crate::backend::webhooks::{process_event, Processed};
    use crate::backend::{auth, error::Error, jobs::JobError};
    let (state, user) = auth::require_admin().await?;
    let processed = match process_event(&state.jobs(), id).await {
        Ok(processed) => processed,
        // The one permanent failure of a replay: no such delivery.
        Err(JobError::Permanent(_)) => return Err(AppError::NotFound),
        Err(failure) => return Err(Error::from(failure).context("replaying a webhook").into()),
    };
    tracing::info!(
        user_id = user.id,
        webhook_event_id = id,
        "webhook replayed from Integraciones"
    );
    Ok(match processed {
        Processed::Applied(effects) if effects.failed.is_empty() => format!(
            "Webhook {id} reprocesado: {} elemento(s) aplicados, {} ya aplicados antes.",
            effects.applied, effects.duplicates
        ),
        Processed::Applied(effects) => format!(
            "Webhook {id} reprocesado en parte: {} elemento(s) aplicados, {} ya aplicados antes, \
             {} siguen fallando: {}",
            effects.applied,
            effects.duplicates,
            effects.failed.len(),
            crate::domain::mask_personal_data(&effects.failed.join("; "))
        ),
        Processed::Failed(error) => format!("Webhook {id} sigue fallando: {error}"),
    })
}
