//! WhatsApp (Meta Cloud) deliveries: inbound messages become leads and timeline entries; status
//! updates move our outbound messages forward (SPEC §2 order), whatever order they arrive in.

use super::whatsapp_content::Content;
use super::{new_lead, Delivery, Item, ItemEffects};
use crate::backend::store::erased_identities::Identity;
use crate::backend::store::{lead_activities, leads, messages, webhook_events};
use crate::domain::{Direction, MessageStatus, Phone, Source, Timestamp};
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
    #[serde(default)]
    value: serde_json::Value,
}

/// The items of `value[key]`: a change of another shape (another webhook field, a list that is
/// not one) has none of them, and never fails its siblings.
fn items<'v>(value: &'v serde_json::Value, key: &str) -> &'v [serde_json::Value] {
    value
        .get(key)
        .and_then(|items| items.as_array())
        .map_or(&[], Vec::as_slice)
}

/// The sender as `contacts[]` describes them. A user with a WhatsApp username comes with their
/// business-scoped `user_id` and no `wa_id` (no phone).
#[derive(Deserialize)]
struct Contact {
    wa_id: Option<String>,
    user_id: Option<String>,
    profile: Option<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    name: Option<String>,
    username: Option<String>,
}

/// Who sent a message and when; what it says is read by [`Content::from_meta`]. `from` (the
/// phone) is absent for a user with a username; `from_user_id` (their business-scoped id) is
/// present once Meta sends it.
#[derive(Deserialize)]
struct InboundMessage {
    from: Option<String>,
    from_user_id: Option<String>,
    id: String,
    timestamp: String,
    /// Present when the conversation started from a click-to-WhatsApp ad.
    referral: Option<serde_json::Value>,
}

/// A message's sender: their phone (when Meta shows it), their user id, the contact entry.
struct Sender<'a> {
    phone: Option<Phone>,
    user_id: Option<&'a str>,
    contact: Option<&'a Contact>,
}

impl<'a> Sender<'a> {
    fn of(message: &'a InboundMessage, contacts: &'a [Contact]) -> anyhow::Result<Self> {
        let from = message
            .from
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty());
        let user_id = message
            .from_user_id
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        // Meta writes digits; "+34…" is the same number. One that does not read as a number
        // is no sender, unless the user id says who it is.
        let phone = match from.map(|f| Phone::parse(&format!("+{}", f.trim_start_matches('+')))) {
            Some(Ok(phone)) => Some(phone),
            Some(Err(_)) if user_id.is_some() => None,
            Some(Err(_)) => anyhow::bail!("it comes from {:?}", from.unwrap_or_default()),
            None => None,
        };
        if phone.is_none() && user_id.is_none() {
            anyhow::bail!("it names no sender (neither from nor from_user_id)");
        }
        let contact = contacts.iter().find(|c| {
            (user_id.is_some() && c.user_id.as_deref() == user_id)
                || (from.is_some()
                    && c.wa_id.as_deref().map(|w| w.trim_start_matches('+'))
                        == from.map(|f| f.trim_start_matches('+')))
        });
        Ok(Self {
            phone,
            user_id,
            contact,
        })
    }

    fn name(&self) -> Option<&str> {
        self.contact?.profile.as_ref()?.name.as_deref()
    }

    fn username(&self) -> Option<&str> {
        self.contact?.profile.as_ref()?.username.as_deref()
    }

    /// Their lead: by user id first (it stays when a phone appears), then by phone; a new one
    /// otherwise. A lead found either way learns what it did not know (id, username, phone).
    async fn lead(
        &self,
        tx: &mut SqliteConnection,
        source: Source,
        at: Timestamp,
        now: Timestamp,
    ) -> anyhow::Result<i64> {
        let user = self.user_id.map(|id| leads::WhatsappUser {
            id,
            username: self.username(),
        });
        let by_user = match self.user_id {
            Some(id) => leads::find_by_whatsapp_user(&mut *tx, id).await?,
            None => None,
        };
        let by_phone = match (&self.phone, by_user) {
            (Some(phone), None) => leads::find_by_phone(&mut *tx, phone).await?,
            _ => None,
        };
        if let Some(lead_id) = by_user.or(by_phone) {
            if let Some(user) = user {
                // The lead of this user id learns its phone, unless another lead has it (the
                // patient wrote before as a phone, then as a username): no merge by guesswork,
                // the message stays here and the timeline says which lead to merge with.
                let mut phone = self.phone.as_ref();
                if let (Some(number), Some(_)) = (phone, by_user) {
                    if let Some(other) = leads::find_by_phone(&mut *tx, number).await? {
                        if other != lead_id {
                            phone = None;
                            possible_duplicate(
                                &mut *tx,
                                lead_id,
                                &format!("WhatsApp muestra su teléfono {number}, que es del lead {other}"),
                                now,
                            )
                            .await?;
                        }
                    }
                }
                let learns_phone = phone.is_some()
                    && leads::get(&mut *tx, lead_id)
                        .await?
                        .is_some_and(|lead| lead.phone.is_none());
                leads::link_whatsapp_user(&mut *tx, lead_id, user, phone, now).await?;
                if learns_phone {
                    // A new revision with a phone: HubSpot gets it.
                    crate::backend::hubspot_sync::request_sync(&mut *tx, Timestamp::now()).await?;
                }
            }
            return Ok(lead_id);
        }
        let fallback = match (&self.phone, self.username()) {
            (Some(phone), _) => format!("Contacto {phone}"),
            (None, Some(username)) => format!("WhatsApp @{username}"),
            (None, None) => "Contacto de WhatsApp".to_string(),
        };
        Ok(new_lead(
            &mut *tx,
            self.phone.as_ref(),
            user,
            self.name(),
            &fallback,
            source,
            at,
        )
        .await?)
    }
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
    delivery: &Delivery<'_>,
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
        let contacts: Vec<Contact> = items(&value, "contacts")
            .iter()
            .filter_map(|c| Contact::deserialize(c).ok())
            .collect();
        for message in items(&value, "messages") {
            let what = format!("message {}", item_id(message));
            let mut item = sqlx::Connection::begin(&mut *tx).await?;
            let outcome = apply_message(&mut item, delivery, &contacts, message, now).await;
            effects.settle(item, &what, outcome).await?;
        }
        for status in items(&value, "statuses") {
            let what = format!("status of {}", item_id(status));
            let mut item = sqlx::Connection::begin(&mut *tx).await?;
            let outcome = apply_status(&mut item, delivery.id, status, now).await;
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
    delivery: &Delivery<'_>,
    contacts: &[Contact],
    raw: &serde_json::Value,
    now: Timestamp,
) -> anyhow::Result<Item> {
    let message = InboundMessage::deserialize(raw).context("unreadable message")?;
    if !webhook_events::claim_item(
        &mut *tx,
        &format!("wa:msg:{}", message.id),
        delivery.id,
        now,
    )
    .await?
    {
        return Ok(Item::Duplicate);
    }
    let sender = Sender::of(&message, contacts)?;
    let source = if message.referral.is_some() {
        Source::Meta
    } else {
        Source::Organic
    };
    let at = unix(&message.timestamp, now);
    // The sender asked to be erased after writing this (a redelivery, a replay): not kept.
    let identities: Vec<Identity<'_>> = sender
        .phone
        .as_ref()
        .map(Identity::Phone)
        .into_iter()
        .chain(sender.user_id.map(Identity::WhatsappUser))
        .collect();
    if delivery.before_erasure(&mut *tx, &identities, at).await? {
        return Ok(Item::Erased);
    }
    // A notice that the patient's id changed names the old one: their lead is found by it.
    let previous_user = match raw
        .pointer("/system/previous_user_id")
        .and_then(|v| v.as_str())
    {
        Some(previous) => leads::find_by_whatsapp_user(&mut *tx, previous).await?,
        None => None,
    };
    let lead_id = match previous_user {
        Some(lead_id) => lead_id,
        None => sender.lead(&mut *tx, source, at, now).await?,
    };
    if let Some(referral) = &message.referral {
        leads::attribute_ad(&mut *tx, lead_id, &ad_referral(referral).to_string()).await?;
    }
    let content = Content::from_meta(raw);
    if let Content::System { .. } = &content {
        identity_changed(&mut *tx, lead_id, raw, at, now).await?;
    }
    if let Content::Reaction { message_id, emoji } = &content {
        // One reaction per message, the latest: a new emoji replaces it, none takes it back.
        messages::remove_reactions(&mut *tx, lead_id, message_id).await?;
        if emoji.is_none() {
            return Ok(Item::Applied);
        }
    }
    let stored = serde_json::to_string(&content).context("storing the message's content")?;
    messages::insert(
        &mut *tx,
        messages::NewMessage {
            lead_id,
            direction: Direction::Inbound,
            wamid: Some(&message.id),
            kind: content.stored_kind(),
            body: content.words().as_deref(),
            template_name: None,
            status: MessageStatus::Received,
            error_code: None,
            error_reason: None,
            content: Some(&stored),
            created_at: at,
        },
    )
    .await?;
    Ok(Item::Applied)
}

/// WhatsApp says the patient changed: a new number (`user_changed_number`, `system.wa_id`) or a
/// new user id (`system.user_id`, also after a number change). The lead keeps its history and
/// takes the new number and id, so the next message lands on it; the old number stays in the
/// timeline. A new number or id that is already another lead's is not merged by guesswork: the
/// notice is kept and the timeline says which lead it may duplicate.
async fn identity_changed(
    tx: &mut SqliteConnection,
    lead_id: i64,
    raw: &serde_json::Value,
    at: Timestamp,
    now: Timestamp,
) -> anyhow::Result<()> {
    let system = |key: &str| {
        raw.pointer(&format!("/system/{key}"))
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let lead = leads::get(&mut *tx, lead_id)
        .await?
        .context("the lead of a notice is gone")?;
    if system("type") == Some("user_changed_number") {
        if let Some(new_id) = system("wa_id") {
            let new = Phone::parse(&format!("+{}", new_id.trim_start_matches('+')))
                .with_context(|| format!("the new number {new_id:?} is not a phone number"))?;
            if lead.phone.as_deref() != Some(new.as_str()) {
                match leads::find_by_phone(&mut *tx, &new).await? {
                    Some(other) => {
                        possible_duplicate(
                            &mut *tx,
                            lead_id,
                            &format!("Su nuevo número {new} es del lead {other}"),
                            now,
                        )
                        .await?
                    }
                    None => {
                        leads::change_phone(&mut *tx, lead_id, &new, at).await?;
                        let old = lead.phone.as_deref().unwrap_or("sin teléfono");
                        lead_activities::insert(
                            &mut *tx,
                            lead_id,
                            None,
                            "phone_changed",
                            &format!("De {old} a {new} (aviso de WhatsApp)"),
                            at,
                        )
                        .await?;
                        crate::backend::hubspot_sync::request_sync(&mut *tx, Timestamp::now())
                            .await?;
                    }
                }
            }
        }
    }
    if let Some(new_user) = system("user_id") {
        match leads::find_by_whatsapp_user(&mut *tx, new_user).await? {
            Some(other) if other != lead_id => {
                possible_duplicate(
                    &mut *tx,
                    lead_id,
                    &format!("Su nuevo identificador de WhatsApp es del lead {other}"),
                    now,
                )
                .await?
            }
            Some(_) => {}
            None => leads::change_whatsapp_user(&mut *tx, lead_id, new_user, now).await?,
        }
    }
    Ok(())
}

/// Notes on the lead's timeline, once, that it may be the same person as another lead.
async fn possible_duplicate(
    tx: &mut SqliteConnection,
    lead_id: i64,
    why: &str,
    now: Timestamp,
) -> sqlx::Result<()> {
    lead_activities::insert_once(
        &mut *tx,
        lead_id,
        "possible_duplicate",
        &format!("{why}: puede ser la misma persona"),
        now,
    )
    .await
}

/// The fields of Meta's `referral` that say which ad it was (not its image or video links).
fn ad_referral(referral: &serde_json::Value) -> serde_json::Value {
    let kept: serde_json::Map<String, serde_json::Value> = [
        "source_id",
        "source_type",
        "source_url",
        "headline",
        "body",
        "media_type",
        "ctwa_clid",
    ]
    .into_iter()
    .filter_map(|key| Some((key.to_string(), referral.get(key)?.clone())))
    .collect();
    serde_json::Value::Object(kept)
}

async fn apply_status(
    tx: &mut SqliteConnection,
    event_id: i64,
    status: &serde_json::Value,
    now: Timestamp,
) -> anyhow::Result<Item> {
    let status = StatusUpdate::deserialize(status).context("unreadable status")?;
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
    let Some((message_id, current)) = messages::find_outbound(&mut *tx, &status.id).await? else {
        // Meta's answer to the send (with this id) may not be stored yet, or the message is
        // another app's on the same account: kept, applied when a message gets this id. The
        // item stays unclaimed: nothing was applied, and a replay looks again.
        messages::keep_early_status(&mut *tx, &status.id, &status.status, error, at, now).await?;
        return Ok(Item::Ignored);
    };
    let key = format!("wa:st:{}:{}", status.id, status.status);
    if !webhook_events::claim_item(&mut *tx, &key, event_id, now).await? {
        return Ok(Item::Duplicate);
    }
    // Statuses outside the ladder (`played`, `deleted`) change nothing.
    let Some(next) =
        MessageStatus::from_meta(&status.status).filter(|next| current.moves_to(*next))
    else {
        return Ok(Item::Ignored);
    };
    messages::set_status(&mut *tx, message_id, next, error, at).await?;
    Ok(Item::Applied)
}

/// Meta accepted our message `id` and named it `wamid`: stored, and the statuses that arrived
/// for that id before this answer are applied now, in their order.
pub async fn accepted(
    tx: &mut SqliteConnection,
    id: i64,
    wamid: &str,
    now: Timestamp,
) -> sqlx::Result<()> {
    messages::accepted(&mut *tx, id, wamid, now).await?;
    let mut current = MessageStatus::Queued;
    for early in messages::take_early_statuses(&mut *tx, wamid).await? {
        // Kept as Meta named it: one outside the ladder is dropped here.
        let Some(next) = MessageStatus::from_meta(&early.status) else {
            continue;
        };
        if current.moves_to(next) {
            let error = early
                .error_code
                .map(|code| (code, early.error_reason.as_deref().unwrap_or_default()));
            messages::set_status(&mut *tx, id, next, error, early.occurred_at).await?;
            current = next;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::event_type;

    #[test]
    fn event_types_name_what_a_delivery_carries() {
        let both =
            br#"{"entry":[{"changes":[{"value":{"messages":[]}},{"value":{"statuses":[]}}]}]}"#;
        assert_eq!(event_type(both).as_deref(), Some("messages+statuses"));
        let statuses = br#"{"entry":[{"changes":[{"value":{"statuses":[]}}]},{"changes":[{"value":{"statuses":[]}}]}]}"#;
        assert_eq!(event_type(statuses).as_deref(), Some("statuses"));
        assert_eq!(event_type(b"{ broken"), None);
    }
}
