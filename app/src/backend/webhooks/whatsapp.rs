//! WhatsApp (Meta Cloud) deliveries: inbound messages become leads and timeline entries; status
//! updates move our outbound messages forward (SPEC §2 order), whatever order they arrive in.

use super::{lead_for_phone, Item, ItemEffects};
use crate::backend::store::{messages, webhook_events};
use crate::domain::{Phone, Source, Timestamp};
use anyhow::Context;
use serde::Deserialize;
use sqlx::SqliteConnection;

/// A delivery read only down to its items: each message and status is read on its own, so one
/// that does not match (a new shape, a field missing) fails alone and never its batch-mates.
#[derive(Deserialize)]
struct Payload {
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    value: Value,
}

#[derive(Deserialize)]
struct Value {
    #[serde(default)]
    contacts: Vec<serde_json::Value>,
    #[serde(default)]
    messages: Vec<serde_json::Value>,
    #[serde(default)]
    statuses: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Contact {
    wa_id: String,
    profile: Option<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    name: Option<String>,
}

#[derive(Deserialize)]
struct InboundMessage {
    from: String,
    id: String,
    timestamp: String,
    #[serde(rename = "type")]
    kind: String,
    text: Option<TextBody>,
    button: Option<TextLike>,
    /// Present when the conversation started from a click-to-WhatsApp ad.
    referral: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct TextBody {
    body: String,
}

#[derive(Deserialize)]
struct TextLike {
    text: Option<String>,
}

#[derive(Deserialize)]
struct StatusUpdate {
    id: String,
    status: String,
    timestamp: String,
    #[serde(default)]
    errors: Vec<StatusError>,
}

#[derive(Deserialize)]
struct StatusError {
    code: i64,
    title: Option<String>,
    error_data: Option<ErrorData>,
}

#[derive(Deserialize)]
struct ErrorData {
    details: Option<String>,
}

fn unix(text: &str, now: Timestamp) -> Timestamp {
    text.parse()
        .ok()
        .and_then(Timestamp::from_unix)
        .map_or(now, |t| t.min(now))
}

/// What a delivery carries, for the events list: `messages`, `statuses` or both.
pub fn event_type(body: &[u8]) -> Option<String> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let values = json
        .get("entry")?
        .as_array()?
        .iter()
        .filter_map(|e| e.get("changes")?.as_array());
    let kinds: Vec<&str> = values
        .flatten()
        .filter_map(|change| change.get("value")?.as_object())
        .flat_map(|value| {
            ["messages", "statuses"]
                .into_iter()
                .filter(|k| value.contains_key(*k))
        })
        .collect();
    super::event_type_of(kinds)
}

/// Applies every message and status of the delivery not applied before, each in its own
/// savepoint (see [`ItemEffects::settle`]).
pub async fn process(
    tx: &mut SqliteConnection,
    event_id: i64,
    body: &[u8],
    now: Timestamp,
) -> anyhow::Result<ItemEffects> {
    let payload: Payload =
        serde_json::from_slice(body).context("not a WhatsApp webhook payload")?;
    let mut effects = ItemEffects::default();
    for value in payload
        .entry
        .into_iter()
        .flat_map(|e| e.changes)
        .map(|c| c.value)
    {
        let contacts: Vec<Contact> = value
            .contacts
            .iter()
            .filter_map(|c| Contact::deserialize(c).ok())
            .collect();
        for message in &value.messages {
            let what = format!("message {}", item_id(message));
            let mut item = sqlx::Connection::begin(&mut *tx).await?;
            let outcome = apply_message(&mut item, event_id, &contacts, message, now).await;
            effects.settle(item, &what, outcome).await?;
        }
        for status in &value.statuses {
            let what = format!("status of {}", item_id(status));
            let mut item = sqlx::Connection::begin(&mut *tx).await?;
            let outcome = apply_status(&mut item, event_id, status, now).await;
            effects.settle(item, &what, outcome).await?;
        }
    }
    Ok(effects)
}

/// An item's `id` for messages about it.
fn item_id(item: &serde_json::Value) -> &str {
    item.get("id")
        .and_then(|id| id.as_str())
        .unwrap_or("without an id")
}

async fn apply_message(
    tx: &mut SqliteConnection,
    event_id: i64,
    contacts: &[Contact],
    message: &serde_json::Value,
    now: Timestamp,
) -> anyhow::Result<Item> {
    let message = InboundMessage::deserialize(message).context("unreadable message")?;
    if !webhook_events::claim_item(&mut *tx, &format!("wa:msg:{}", message.id), event_id, now)
        .await?
    {
        return Ok(Item::Duplicate);
    }
    let phone = Phone::parse(&format!("+{}", message.from))
        .with_context(|| format!("it comes from {:?}", message.from))?;
    let name = contacts
        .iter()
        .find(|c| c.wa_id == message.from)
        .and_then(|c| c.profile.as_ref()?.name.clone());
    let source = if message.referral.is_some() {
        Source::Meta
    } else {
        Source::Organic
    };
    let at = unix(&message.timestamp, now);
    let lead_id = lead_for_phone(&mut *tx, &phone, name.as_deref(), source, at).await?;
    let body = message
        .text
        .as_ref()
        .map(|t| t.body.clone())
        .or_else(|| message.button.as_ref().and_then(|b| b.text.clone()));
    let kind = match message.kind.as_str() {
        "text" | "button" | "interactive" => "text",
        "image" | "audio" | "video" | "document" | "sticker" => "media",
        _ => "other",
    };
    messages::insert(
        &mut *tx,
        messages::NewMessage {
            lead_id,
            direction: "inbound",
            wamid: Some(&message.id),
            kind,
            body: body.as_deref(),
            template_name: None,
            status: "received",
            error_code: None,
            error_reason: None,
            created_at: at,
        },
    )
    .await?;
    Ok(Item::Applied)
}

async fn apply_status(
    tx: &mut SqliteConnection,
    event_id: i64,
    status: &serde_json::Value,
    now: Timestamp,
) -> anyhow::Result<Item> {
    let status = StatusUpdate::deserialize(status).context("unreadable status")?;
    let key = format!("wa:st:{}:{}", status.id, status.status);
    if !webhook_events::claim_item(&mut *tx, &key, event_id, now).await? {
        return Ok(Item::Duplicate);
    }
    let Some((message_id, current)) = messages::find_outbound(&mut *tx, &status.id).await? else {
        return Ok(Item::Ignored); // not one of ours (another app on the same business account)
    };
    if !moves_forward(&current, &status.status) {
        return Ok(Item::Ignored);
    }
    let error = status.errors.first().map(|e| {
        let reason = e
            .error_data
            .as_ref()
            .and_then(|d| d.details.clone())
            .or_else(|| e.title.clone())
            .unwrap_or_default();
        (e.code, reason)
    });
    let error = error
        .as_ref()
        .map(|(code, reason)| (*code, reason.as_str()));
    let at = unix(&status.timestamp, now);
    messages::set_status(&mut *tx, message_id, &status.status, error, at).await?;
    Ok(Item::Applied)
}

/// SPEC §2: queued → sent → delivered → read only forward; `failed` replaces only queued or
/// sent; delivered and read replace failed. Other statuses (e.g. `played`) change nothing.
pub fn moves_forward(current: &str, next: &str) -> bool {
    let rank = |status: &str| match status {
        "queued" => Some(0),
        "sent" => Some(1),
        "delivered" => Some(2),
        "read" => Some(3),
        _ => None,
    };
    match (current, next) {
        (_, "failed") => matches!(current, "queued" | "sent"),
        ("failed", next) => matches!(next, "delivered" | "read"),
        (current, next) => matches!((rank(current), rank(next)), (Some(c), Some(n)) if n > c),
    }
}

#[cfg(test)]
mod tests {
    use super::{event_type, moves_forward};

    #[test]
    fn event_types_name_what_a_delivery_carries() {
        let both =
            br#"{"entry":[{"changes":[{"value":{"messages":[]}},{"value":{"statuses":[]}}]}]}"#;
        assert_eq!(event_type(both).as_deref(), Some("messages+statuses"));
        let statuses = br#"{"entry":[{"changes":[{"value":{"statuses":[]}}]},{"changes":[{"value":{"statuses":[]}}]}]}"#;
        assert_eq!(event_type(statuses).as_deref(), Some("statuses"));
        assert_eq!(event_type(b"{ broken"), None);
    }

    #[test]
    fn statuses_only_move_forward() {
        assert!(moves_forward("queued", "sent"));
        assert!(moves_forward("sent", "read"));
        assert!(!moves_forward("read", "delivered"));
        assert!(!moves_forward("delivered", "sent"));
        assert!(!moves_forward("read", "read"));
        assert!(moves_forward("sent", "failed"));
        assert!(!moves_forward("delivered", "failed"));
        assert!(moves_forward("failed", "delivered"));
        assert!(moves_forward("failed", "read"));
        assert!(!moves_forward("failed", "sent"));
        assert!(!moves_forward("sent", "played"));
    }
}
