//! HubSpot deliveries: arrays of events; contact property changes update the linked lead (and
//! are marked as synced, so they are not sent back). Other subscription types are stored and
//! ignored.

use super::{Delivery, Item, ItemEffects};
use crate::backend::store::erased_identities::{self, Identity};
use crate::backend::store::{calls, lead_activities, leads, webhook_events};
use crate::domain::{Email, Phone, Timestamp};
use anyhow::Context;
use serde::Deserialize;
use sqlx::SqliteConnection;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    event_id: serde_json::Value,
    subscription_id: Option<serde_json::Value>,
    subscription_type: Option<String>,
    /// The generic format's object type (`0-1`: contacts).
    object_type_id: Option<String>,
    object_id: Option<serde_json::Value>,
    property_name: Option<String>,
    property_value: Option<String>,
    /// When the change happened in HubSpot (ms): changes apply in this order.
    occurred_at: Option<i64>,
}

/// What an event asks of a contact, in the contact format or the generic one (`object.*` with
/// `objectTypeId` `0-1`). Other types, other objects and HubSpot's older `eventType` key are
/// stored and skipped.
#[derive(Debug, PartialEq, Eq)]
enum Change {
    Property,
    Deletion,
    PrivacyDeletion,
    Other,
}

impl Event {
    fn change(&self) -> Change {
        let contact = self.object_type_id.as_deref().is_none_or(|t| t == "0-1");
        match self.subscription_type.as_deref() {
            Some("contact.propertyChange") => Change::Property,
            Some("contact.deletion") => Change::Deletion,
            Some("contact.privacyDeletion") => Change::PrivacyDeletion,
            Some("object.propertyChange") if contact => Change::Property,
            Some("object.deletion") if contact => Change::Deletion,
            _ => Change::Other,
        }
    }
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
    delivery: &Delivery<'_>,
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
        let outcome = apply_event(&mut item, delivery, event, now).await;
        effects.settle(item, &what, outcome).await?;
    }
    Ok(effects)
}

async fn apply_event(
    tx: &mut SqliteConnection,
    delivery: &Delivery<'_>,
    event: &serde_json::Value,
    now: Timestamp,
) -> anyhow::Result<Item> {
    let event = Event::deserialize(event).context("unreadable event")?;
    // HubSpot says an eventId is not unique by itself: with its subscription it is.
    let key = format!(
        "hs:{}:{}",
        event
            .subscription_id
            .as_ref()
            .map_or_else(String::new, id_text),
        id_text(&event.event_id)
    );
    if !webhook_events::claim_item(&mut *tx, &key, delivery.id, now).await? {
        return Ok(Item::Duplicate);
    }
    let Some(object_id) = event.object_id.as_ref().map(id_text) else {
        return Ok(Item::Ignored);
    };
    let at = event
        .occurred_at
        .and_then(|ms| Timestamp::from_unix(ms.div_euclid(1000)))
        .map_or(now, |t| t.min(now));
    match event.change() {
        Change::Property => {}
        Change::Deletion => return contact_deleted(&mut *tx, &object_id, at).await,
        Change::PrivacyDeletion => {
            return erasure_requested(&mut *tx, delivery, &object_id, now).await
        }
        Change::Other => return Ok(Item::Ignored),
    }
    let Some(property) = &event.property_name else {
        return Ok(Item::Ignored);
    };
    let Some((lead_id, name)) = leads::find_by_hubspot_id(&mut *tx, &object_id).await? else {
        return Ok(Item::Ignored); // a contact that is not one of our leads
    };
    if let Some(occurred_at) = event.occurred_at {
        if !leads::hubspot_change_is_latest(&mut *tx, &object_id, property, occurred_at).await? {
            return Ok(Item::Ignored); // a newer change of this property was applied already
        }
    }
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

/// `contact.deletion`: the lead stays, marked as deleted in HubSpot, and is not sent again.
async fn contact_deleted(
    tx: &mut SqliteConnection,
    hubspot_id: &str,
    at: Timestamp,
) -> anyhow::Result<Item> {
    let Some((lead_id, _)) = leads::find_by_hubspot_id(&mut *tx, hubspot_id).await? else {
        return Ok(Item::Ignored);
    };
    leads::mark_hubspot_deleted(&mut *tx, lead_id, at).await?;
    lead_activities::insert(
        &mut *tx,
        lead_id,
        None,
        "hubspot_deleted",
        "El contacto se borró en HubSpot: el lead sigue aquí y ya no se envía allí",
        at,
    )
    .await?;
    Ok(Item::Applied)
}

/// `contact.privacyDeletion`: the person asked to be erased (GDPR). Their personal data goes
/// from the lead and its rows, and from the processed deliveries that carried it; what reports
/// count stays; the lead's history says when and why.
async fn erasure_requested(
    tx: &mut SqliteConnection,
    delivery: &Delivery<'_>,
    hubspot_id: &str,
    now: Timestamp,
) -> anyhow::Result<Item> {
    let Some((lead_id, erased)) = leads::find_ever_by_hubspot_id(&mut *tx, hubspot_id).await?
    else {
        return Ok(Item::Ignored);
    };
    if erased {
        return Ok(Item::Ignored);
    }
    let lead = leads::get(&mut *tx, lead_id)
        .await?
        .context("the lead to erase is gone")?;
    let user_id: Option<String> =
        sqlx::query_scalar("SELECT whatsapp_user_id FROM leads WHERE id = $1")
            .bind(lead_id)
            .fetch_one(&mut *tx)
            .await?;
    let mentions = [
        lead.phone
            .as_deref()
            .map(|p| p.trim_start_matches('+').to_string()),
        lead.email.clone(),
        user_id,
    ];
    let mut deliveries = 0;
    for needle in mentions.iter().flatten() {
        deliveries += webhook_events::delete_processed_mentioning(&mut *tx, needle).await?;
    }
    // What a delivery from before now says of them is not kept when it comes again: their
    // phone, the numbers they called from, their WhatsApp user id.
    let mut phones: Vec<Phone> = lead
        .phone
        .iter()
        .filter_map(|p| Phone::parse(p).ok())
        .collect();
    for number in calls::patient_numbers(&mut *tx, lead_id).await? {
        if let Ok(phone) = Phone::parse(&number) {
            if !phones.contains(&phone) {
                phones.push(phone);
            }
        }
    }
    let mut identities: Vec<Identity<'_>> = phones.iter().map(Identity::Phone).collect();
    identities.extend(mentions[2].as_deref().map(Identity::WhatsappUser));
    erased_identities::record(&mut *tx, delivery.erasure_key, &identities, now).await?;
    leads::erase(&mut *tx, lead_id, now).await?;
    lead_activities::insert(
        &mut *tx,
        lead_id,
        None,
        "erased",
        &format!(
            "Datos personales borrados a petición de la persona (HubSpot); {deliveries} \
             webhook(s) que los contenían, también"
        ),
        now,
    )
    .await?;
    tracing::info!(lead_id, deliveries, "lead erased at the person's request");
    Ok(Item::Applied)
}
