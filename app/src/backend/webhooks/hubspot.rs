//! HubSpot deliveries: arrays of events; contact property changes update the linked lead (and
//! are marked as synced, so they are not sent back). Other subscription types are stored and
//! ignored.

use super::ItemEffects;
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

pub async fn process(
    tx: &mut SqliteConnection,
    event_id: i64,
    body: &[u8],
    now: Timestamp,
) -> anyhow::Result<ItemEffects> {
    let events: Vec<Event> =
        serde_json::from_slice(body).context("not a HubSpot webhook payload")?;
    let mut effects = ItemEffects::default();
    for event in events {
        let key = format!("hs:{}", id_text(&event.event_id));
        if !webhook_events::claim_item(&mut *tx, &key, event_id, now).await? {
            effects.duplicates += 1;
            continue;
        }
        if event.subscription_type != "contact.propertyChange" {
            continue;
        }
        let (Some(object_id), Some(property)) = (&event.object_id, &event.property_name) else {
            continue;
        };
        let Some((lead_id, name)) =
            leads::find_by_hubspot_id(&mut *tx, &id_text(object_id)).await?
        else {
            continue; // a contact that is not one of our leads
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
            _ => continue,
        }
        leads::apply_hubspot_change(&mut *tx, lead_id, change, now).await?;
        effects.applied += 1;
    }
    Ok(effects)
}
