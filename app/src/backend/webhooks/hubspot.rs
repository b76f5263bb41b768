//! HubSpot deliveries: arrays of events; contact property changes update the linked lead (and
//! are marked as synced, so they are not sent back). Other subscription types are stored and
//! ignored.

use super::{Item, ItemEffects};
use crate::backend::store::{leads, webhook_events};
use crate::domain::{Email, Phone, Timestamp};
use anyhow::Context;
use serde::Deserialize;
use sqlx::SqliteConnection;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    event_id: serde_json::Value,
    subscription_type: String,
    object_id: Option<serde_json::Value>,
    property_name: Option<String>,
    property_value: Option<String>,
}

fn id_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What a delivery carries, for the events list: its subscription types.
pub fn event_type(body: &[u8]) -> Option<String> {
    let events: Vec<serde_json::Value> = serde_json::from_slice(body).ok()?;
    let kinds: Vec<&str> = events
        .iter()
        .filter_map(|e| e.get("subscriptionType")?.as_str())
        .collect();
    super::event_type_of(kinds)
}

/// Applies every event of the delivery not applied before, each in its own savepoint (see
/// [`ItemEffects::settle`]): one event that does not read or apply never sinks the others.
pub async fn process(
    tx: &mut SqliteConnection,
    event_id: i64,
    body: &[u8],
    now: Timestamp,
) -> anyhow::Result<ItemEffects> {
    let events: Vec<serde_json::Value> =
        serde_json::from_slice(body).context("not a HubSpot webhook payload")?;
    let mut effects = ItemEffects::default();
    for event in &events {
        let what = format!(
            "event {}",
            event
                .get("eventId")
                .map_or_else(|| "without an id".into(), id_text)
        );
        let mut item = sqlx::Connection::begin(&mut *tx).await?;
        let outcome = apply_event(&mut item, event_id, event, now).await;
        effects.settle(item, &what, outcome).await?;
    }
    Ok(effects)
}

async fn apply_event(
    tx: &mut SqliteConnection,
    event_id: i64,
    event: &serde_json::Value,
    now: Timestamp,
) -> anyhow::Result<Item> {
    let event = Event::deserialize(event).context("unreadable event")?;
    let key = format!("hs:{}", id_text(&event.event_id));
    if !webhook_events::claim_item(&mut *tx, &key, event_id, now).await? {
        return Ok(Item::Duplicate);
    }
    if event.subscription_type != "contact.propertyChange" {
        return Ok(Item::Ignored);
    }
    let (Some(object_id), Some(property)) = (&event.object_id, &event.property_name) else {
        return Ok(Item::Ignored);
    };
    let Some((lead_id, name)) = leads::find_by_hubspot_id(&mut *tx, &id_text(object_id)).await?
    else {
        return Ok(Item::Ignored); // a contact that is not one of our leads
    };
    let value = event.property_value.as_deref().unwrap_or_default().trim();
    let (first, last) = name.split_once(' ').unwrap_or((name.as_str(), ""));
    let mut change = leads::HubspotChange {
        name: None,
        email: None,
        phone: None,
    };
    let (new_name, email, phone);
    match property.as_str() {
        "firstname" if !value.is_empty() => {
            new_name = format!("{value} {last}").trim().to_string();
            change.name = Some(&new_name);
        }
        "lastname" => {
            new_name = format!("{first} {value}").trim().to_string();
            change.name = Some(&new_name);
        }
        "email" => match Email::parse(value) {
            Ok(parsed) => {
                email = parsed;
                change.email = Some(&email);
            }
            Err(_) => tracing::warn!(lead_id, "hubspot: ignoring an invalid e-mail for a lead"),
        },
        "phone" | "mobilephone" => match Phone::parse(value) {
            Ok(parsed)
                if leads::find_by_phone(&mut *tx, &parsed)
                    .await?
                    .is_none_or(|id| id == lead_id) =>
            {
                phone = parsed;
                change.phone = Some(&phone);
            }
            _ => tracing::warn!(
                lead_id,
                "hubspot: ignoring a phone that is invalid or another lead's"
            ),
        },
        _ => return Ok(Item::Ignored),
    }
    leads::apply_hubspot_change(&mut *tx, lead_id, change, now).await?;
    Ok(Item::Applied)
}
