//! A lead's page: the lead, its appointments, treatments and telephony, and its timeline told
//! in Spanish, one line per event.

use super::timeline::{ad_line, timeline};
use super::{appointment_kind, local_input, telephony_up};
use crate::backend::error::{Context, Result};
use crate::backend::state::AppState;
use crate::backend::store::{
    appointments, call_requests, calls, lead_activities, leads, messages, treatments, users,
};
use crate::domain::{
    AppointmentView, Cents, CurrentUser, Direction, LeadDetail, Telephony, Timestamp, TreatmentView,
};
use crate::error::AppError;
use crate::format::local_datetime;

/// A lead's page, as `user` sees it: its data, appointments, treatments and timeline (newest
/// first).
pub async fn detail(
    state: &AppState,
    user: &CurrentUser,
    lead_id: i64,
    now: Timestamp,
) -> Result<LeadDetail> {
    let db = &state.db;
    let tz = state.config.timezone;
    let lead = leads::get(&db.reader, lead_id)
        .await
        .context("reading a lead")?
        .ok_or(AppError::NotFound)?;
    let appointment_rows = appointments::for_lead(&db.reader, lead_id)
        .await
        .context("reading appointments")?;
    let treatment_rows = treatments::for_lead(&db.reader, lead_id)
        .await
        .context("reading treatments")?;
    let message_rows = messages::for_lead(&db.reader, lead_id)
        .await
        .context("reading messages")?;
    let call_rows = calls::for_lead(&db.reader, lead_id)
        .await
        .context("reading calls")?;
    let activity_rows = lead_activities::for_lead(&db.reader, lead_id)
        .await
        .context("reading the lead's activity")?;
    let last_inbound = message_rows
        .iter()
        .filter(|m| m.direction == Direction::Inbound)
        .map(|m| m.created_at)
        .max();

    let (up, flags) = telephony_up(db).await?;
    let telephony = if up {
        Telephony::Available {
            has_line: users::aircall_user_id(&db.reader, user.id)
                .await
                .context("reading the user's Aircall line")?
                .is_some(),
        }
    } else {
        Telephony::Degraded {
            backup_phone: flags.backup_phone().map(str::to_string),
        }
    };
    let request_rows = call_requests::for_lead(&db.reader, lead_id)
        .await
        .context("reading call requests")?;

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
        source: lead.source,
        stage: lead.stage,
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
                status: a.status,
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
