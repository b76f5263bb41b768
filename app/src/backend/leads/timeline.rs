//! A lead's timeline, told in Spanish, one line per event: its creation and changes, its
//! appointments and treatments, its messages (every WhatsApp type in words) and calls, the ad it
//! came from.

use super::appointment_kind;
use crate::backend::store::{
    appointments, call_requests, calls, lead_activities, leads, messages, treatments,
};
use crate::backend::webhooks::whatsapp_content::Content;
use crate::domain::{Cents, Direction, MessageStatus, TimelineEntry, TimelineKind, Timestamp};

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
pub(super) fn ad_line(referral: &str) -> Option<String> {
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
pub(super) fn timeline(
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
        let source = lead.source.label();
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
        let inbound = m.direction == Direction::Inbound;
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
            let status = match m.status {
                MessageStatus::Queued => "en cola".to_string(),
                MessageStatus::Sent => "enviado".to_string(),
                MessageStatus::Delivered => "entregado".to_string(),
                MessageStatus::Read => "leído".to_string(),
                MessageStatus::Received => "recibido".to_string(),
                MessageStatus::Failed => match &m.error_reason {
                    Some(reason) => format!("fallido: {reason}"),
                    None => "fallido".to_string(),
                },
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
        let direction = if c.direction == Direction::Inbound {
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
        let status = a.status.label();
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
