//! Aircall deliveries: every `call.*` event upserts its call by `data.id`; an inbound call from
//! an unknown number creates an organic lead; unanswered inbound calls are flagged as missed.

use super::{lead_for_phone, Delivery, Item, ItemEffects};
use crate::backend::store::erased_identities::Identity;
use crate::backend::store::{calls, leads, webhook_events};
use crate::domain::{Direction, Phone, Source, Timestamp};
use anyhow::Context;
use serde::Deserialize;
use sqlx::SqliteConnection;

#[derive(Deserialize)]
struct Envelope {
    resource: Option<String>,
    event: String,
    timestamp: i64,
    data: CallData,
}

/// A call as Aircall describes it, in webhooks and in its list-calls API.
#[derive(Deserialize)]
pub struct CallData {
    id: serde_json::Value,
    direction: Option<String>,
    status: Option<String>,
    pub started_at: Option<i64>,
    answered_at: Option<i64>,
    pub ended_at: Option<i64>,
    #[serde(default)]
    duration: Option<i64>,
    raw_digits: Option<String>,
    missed_call_reason: Option<String>,
    number: Option<Number>,
}

#[derive(Deserialize)]
struct Number {
    digits: Option<String>,
}

/// The event type of a delivery (`call.created`…), for the events list.
pub fn event_type(body: &[u8]) -> Option<String> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    json.get("event")?.as_str().map(str::to_string)
}

pub async fn process(
    tx: &mut SqliteConnection,
    delivery: &Delivery<'_>,
    body: &[u8],
    now: Timestamp,
) -> anyhow::Result<ItemEffects> {
    let envelope: Envelope =
        serde_json::from_slice(body).context("not an Aircall webhook payload")?;
    let mut effects = ItemEffects::default();
    let what = format!("{} of call {}", envelope.event, call_id(&envelope.data));
    let mut item = sqlx::Connection::begin(&mut *tx).await?;
    let outcome = apply_event(&mut item, delivery, &envelope, now).await;
    effects.settle(item, &what, outcome).await?;
    Ok(effects)
}

async fn apply_event(
    tx: &mut SqliteConnection,
    delivery: &Delivery<'_>,
    envelope: &Envelope,
    now: Timestamp,
) -> anyhow::Result<Item> {
    if envelope.resource.as_deref().is_some_and(|r| r != "call")
        || !envelope.event.starts_with("call.")
    {
        return Ok(Item::Ignored); // stored, nothing to do
    }
    let call = &envelope.data;
    let call_id = call_id(call);
    let key = format!("ac:{}:{}:{}", envelope.event, call_id, envelope.timestamp);
    if !webhook_events::claim_item(&mut *tx, &key, delivery.id, now).await? {
        return Ok(Item::Duplicate);
    }
    let occurred_at = Timestamp::from_unix(envelope.timestamp).map_or(now, |t| t.min(now));
    // The caller asked to be erased after this call (an event sent again): not kept.
    if let Some(caller) = caller(call) {
        let at = call_time(call, occurred_at, now);
        if delivery
            .before_erasure(&mut *tx, &[Identity::Phone(&caller)], at)
            .await?
        {
            return Ok(Item::Erased);
        }
    }
    apply_call(&mut *tx, call, &call_id, &envelope.event, occurred_at, now).await?;
    Ok(Item::Applied)
}

/// The patient's number on a call (Aircall's `raw_digits`); anonymous callers have none to find
/// or create a lead by.
pub fn caller(call: &CallData) -> Option<Phone> {
    call.raw_digits
        .as_deref()
        .and_then(|digits| Phone::parse(digits).ok())
}

/// When a call happened: its start, else the event's instant.
pub fn call_time(call: &CallData, occurred_at: Timestamp, now: Timestamp) -> Timestamp {
    call.started_at
        .and_then(Timestamp::from_unix)
        .map_or(occurred_at, |t| t.min(now))
}

/// Registers what an event (or the list-calls API) says of a call: its lead (created for an
/// unknown inbound caller), the call upserted by its Aircall id, missed calls flagged.
pub async fn apply_call(
    tx: &mut SqliteConnection,
    call: &CallData,
    call_id: &str,
    event: &str,
    occurred_at: Timestamp,
    now: Timestamp,
) -> anyhow::Result<()> {
    let inbound = call.direction.as_deref() != Some("outbound");
    let phone = caller(call);
    let at = |unix: Option<i64>| unix.and_then(Timestamp::from_unix).map(|t| t.min(now));
    let lead_id = match &phone {
        Some(phone) if inbound => {
            let name = format!("Llamada {phone}");
            Some(lead_for_phone(&mut *tx, phone, Some(&name), Source::Organic, occurred_at).await?)
        }
        Some(phone) => leads::find_by_phone(&mut *tx, phone).await?,
        None => None,
    };
    let finished = matches!(event, "call.ended" | "call.hungup" | "call.voicemail_left");
    let missed =
        inbound && (call.missed_call_reason.is_some() || (finished && call.answered_at.is_none()));
    // Stored in E.164 as leads' phones are, whatever spacing Aircall used ("+34 611 22 33 44"),
    // so a call and a lead match; what is not a number ("anonymous") is kept as sent.
    let e164 = |raw: Option<&str>| {
        raw.map(|raw| {
            Phone::parse(raw).map_or_else(|_| raw.to_string(), |p| p.as_str().to_string())
        })
    };
    let patient = e164(call.raw_digits.as_deref());
    let clinic_number = e164(call.number.as_ref().and_then(|n| n.digits.as_deref()));
    let (from, to) = if inbound {
        (patient.as_deref(), clinic_number.as_deref())
    } else {
        (clinic_number.as_deref(), patient.as_deref())
    };
    calls::upsert(
        &mut *tx,
        calls::CallEvent {
            lead_id,
            provider_call_id: call_id,
            direction: if inbound {
                Direction::Inbound
            } else {
                Direction::Outbound
            },
            status: call.status.as_deref().unwrap_or("initial"),
            started_at: at(call.started_at),
            answered_at: at(call.answered_at),
            ended_at: at(call.ended_at),
            duration_seconds: call.duration.unwrap_or(0).max(0),
            from_number: from,
            to_number: to,
            missed,
            missed_reason: call.missed_call_reason.as_deref(),
            occurred_at,
        },
    )
    .await?;
    Ok(())
}

/// Aircall's id of a call, as text.
pub fn call_id(call: &CallData) -> String {
    match &call.id {
        serde_json::Value::String(id) => id.clone(),
        other => other.to_string(),
    }
}
