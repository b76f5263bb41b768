//! One sync: the lease, the batches of pending leads, how each lead's contact is found, and how
//! each of HubSpot's answers — record by record, or a batch refused whole — is applied.

use super::setup::{check_property, PropertyCheck};
use super::{mask_personal_data, queue_sync, SyncStop};
use crate::backend::db::Db;
use crate::backend::providers::hubspot::{
    refuses_the_account, Batch, BatchOutcome, Found, HubspotClient, RecordError, Refusal,
    BATCH_LIMIT,
};
use crate::backend::providers::CallError;
use crate::backend::store::{leads, leases};
use crate::domain::{Email, Timestamp};
use anyhow::Context;
use serde_json::{json, Value};
use std::collections::HashSet;

/// What one batch did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Leads synced, refused or found deleted in HubSpot (0: nothing was pending).
    pub settled: usize,
    pub synced: usize,
    pub refused: usize,
}

/// The lease every sync holds while it sends, renewed before each call to HubSpot (each at
/// most 20 s: connect and answer timeouts), so it never runs out under a live holder.
const LEASE: &str = "hubspot_sync";

pub(super) const LEASE_SECONDS: i64 = 120;

/// Sends pending leads, holding the sync's lease, once the set-up is known to be in place.
pub struct Syncer<'a> {
    db: &'a Db,
    client: &'a HubspotClient,
    property: &'a str,
    /// This sync's name on the lease: who (`worker`, `cli`) and a random part.
    owner: String,
}

impl<'a> Syncer<'a> {
    /// Takes the lease (`Busy` while another process holds it), then checks that HubSpot has
    /// the unique lead-key property: without it a new lead could only be created blind, and a
    /// create repeated after a lost answer would make a second contact.
    pub async fn new(
        db: &'a Db,
        client: &'a HubspotClient,
        property: &'a str,
        who: &str,
    ) -> Result<Syncer<'a>, SyncStop> {
        let syncer = Self {
            db,
            client,
            property,
            owner: format!("{who}-{:016x}", rand::random::<u64>()),
        };
        syncer.renew().await?;
        if let Err(check) = check_property(client, property).await {
            syncer.release().await.map_err(SyncStop::Database)?;
            return Err(check.into_stop(property));
        }
        Ok(syncer)
    }

    async fn renew(&self) -> Result<(), SyncStop> {
        let now = Timestamp::now();
        let until = now.plus_seconds(LEASE_SECONDS);
        if leases::take(&self.db.writer, LEASE, &self.owner, until, now).await? {
            Ok(())
        } else {
            Err(SyncStop::Busy)
        }
    }

    /// Gives the lease back.
    pub async fn release(&self) -> anyhow::Result<()> {
        leases::release(&self.db.writer, LEASE, &self.owner)
            .await
            .context("giving back the hubspot_sync lease")
    }

    /// Gives the lease back and, when leads are still pending (work left, or changed while
    /// another sync was turned away), queues a job for them.
    pub async fn finish(&self) -> anyhow::Result<()> {
        self.release().await?;
        let now = Timestamp::now();
        queue_sync(self.db, now, now).await
    }

    /// Sends up to [`BATCH_LIMIT`] pending leads and applies each record's answer. A failure
    /// of a whole call leaves its leads pending.
    pub async fn batch(&self) -> Result<SyncReport, SyncStop> {
        self.renew().await?;
        let pending = leads::pending_hubspot(&self.db.writer, BATCH_LIMIT as i64).await?;
        let mut report = SyncReport::default();
        let (linked, unlinked): (Vec<_>, Vec<_>) =
            pending.into_iter().partition(|l| l.hubspot_id.is_some());
        // A create whose answer was lost: HubSpot has the contact with this lead's key.
        let keys: Vec<&str> = unlinked.iter().map(|l| l.hubspot_key.as_str()).collect();
        self.renew().await?;
        let by_key = self
            .client
            .read(self.property, &keys, &[self.property])
            .await?;
        let mut found = Vec::new();
        let mut by_email: Vec<(leads::HubspotLead, String)> = Vec::new();
        let mut new = Vec::new();
        for mut lead in unlinked {
            if let Some(contact) = by_key
                .iter()
                .find(|c| c.get(self.property) == Some(lead.hubspot_key.as_str()))
            {
                lead.hubspot_id = Some(contact.id.clone());
                found.push(lead);
                continue;
            }
            // Looked up only if HubSpot would take it as an address; otherwise the upsert
            // carries it and HubSpot refuses this lead alone.
            let email = lead
                .email
                .as_deref()
                .and_then(|e| Email::parse(e).ok())
                .map(|e| e.as_str().to_string());
            match email {
                // Two inputs for one contact would fail the whole batch, or write it twice:
                // the second waits for the next batch, where it finds the first one's contact.
                Some(email) if by_email.iter().any(|(_, e)| *e == email) => {}
                Some(email) => by_email.push((lead, email)),
                None => new.push(lead),
            }
        }
        let emails: Vec<&str> = by_email.iter().map(|(_, e)| e.as_str()).collect();
        self.renew().await?;
        let wanted = ["email", "firstname", "phone", self.property];
        let with_email = match self.client.read("email", &emails, &wanted).await {
            Ok(contacts) => contacts,
            // HubSpot refused the read itself (an address it will not look up): each lead is
            // then upserted by its key, and one whose e-mail another contact has is refused
            // alone, with HubSpot's "already exists".
            Err(CallError::Refused { code, reason }) if !refuses_the_account(code) => {
                tracing::warn!(
                    provider = "hubspot",
                    reason = mask_personal_data(&reason),
                    "HubSpot refused the look-up by e-mail; leads go by their keys"
                );
                Vec::new()
            }
            Err(err) => return Err(err.into()),
        };
        for (mut lead, email) in by_email {
            let Some(contact) = with_email
                .iter()
                .find(|c| c.get("email").map(str::to_lowercase).as_deref() == Some(&email))
            else {
                new.push(lead);
                continue;
            };
            if let Some(reason) = self.not_this_leads(&lead, contact).await? {
                self.refuse(&lead, &reason, &mut report).await?;
                continue;
            }
            lead.hubspot_id = Some(contact.id.clone());
            found.push(lead);
        }
        let looked_up: HashSet<i64> = found.iter().map(|l| l.id).collect();
        let mut update = linked;
        update.extend(found);
        self.send(Match::Id, update, &looked_up, &mut report)
            .await?;
        self.send(Match::Key, new, &looked_up, &mut report).await?;
        Ok(report)
    }

    /// Why the contact HubSpot has for this lead's e-mail is not this lead's to take, if it is
    /// not: it is another lead's here (linked to it, or carrying its key), or it names someone
    /// else (another first name or phone, as when a family shares an address). A contact
    /// typed in HubSpot with the same person's details, or carrying a key we do not know (a
    /// lead lost with a restored backup), is taken.
    async fn not_this_leads(
        &self,
        lead: &leads::HubspotLead,
        contact: &Found,
    ) -> Result<Option<String>, SyncStop> {
        let key = contact
            .get(self.property)
            .filter(|k| *k != lead.hubspot_key);
        let owner =
            leads::hubspot_contact_owner(&self.db.writer, lead.id, &contact.id, key).await?;
        if let Some(other) = owner {
            return Ok(Some(format!(
                "El contacto {} de HubSpot, con el mismo e-mail, es del lead #{other}: une los \
                 duplicados o cambia el e-mail",
                contact.id
            )));
        }
        let first_name = |name: &str| {
            name.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_lowercase()
        };
        let name_differs = contact
            .get("firstname")
            .is_some_and(|theirs| first_name(theirs) != first_name(&lead.name));
        let last_digits = |phone: &str| {
            let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
            digits[digits.len().saturating_sub(9)..]
                .iter()
                .collect::<String>()
        };
        let phone_differs = match (contact.get("phone"), lead.phone.as_deref()) {
            (Some(theirs), Some(ours)) => last_digits(theirs) != last_digits(ours),
            _ => false,
        };
        Ok((name_differs || phone_differs).then(|| {
            format!(
                "El contacto {} de HubSpot tiene este e-mail pero otro nombre o teléfono: \
                 comprueba si es la misma persona y une los contactos, o cambia el e-mail",
                contact.id
            )
        }))
    }

    /// Sends `group` matched `how`; a part HubSpot refuses as a whole for a record's data, or
    /// leaves unanswered, is sent again in halves until each lead is settled alone.
    async fn send(
        &self,
        how: Match,
        group: Vec<leads::HubspotLead>,
        looked_up: &HashSet<i64>,
        report: &mut SyncReport,
    ) -> Result<(), SyncStop> {
        let mut parts = vec![group];
        while let Some(part) = parts.pop() {
            if part.is_empty() {
                continue;
            }
            let alone = part.len() == 1;
            let inputs = part.iter().map(|lead| self.input(how, lead)).collect();
            self.renew().await?;
            let (unsettled, unclaimed) = match self.client.batch(how.batch(), inputs).await? {
                BatchOutcome::Answered { results, errors } => {
                    self.apply(how, part, &results, &errors, report).await?
                }
                BatchOutcome::Refused(refusal) => {
                    if let Some(hold) = self.hold_for(&refusal) {
                        return Err(hold);
                    }
                    if let [lead] = &part[..] {
                        let looked_up = looked_up.contains(&lead.id);
                        self.refused_alone(how, looked_up, lead, &refusal, report)
                            .await?;
                        continue;
                    }
                    (part, Vec::new())
                }
            };
            match &unsettled[..] {
                [] => {}
                // Alone and still unanswered: settled with whatever HubSpot said.
                [lead] if alone => {
                    let reason = if unclaimed.is_empty() {
                        "HubSpot no devolvió el contacto ni un error".to_string()
                    } else {
                        mask_personal_data(&unclaimed.join("; "))
                    };
                    self.refuse(lead, &reason, report).await?;
                }
                [_] => parts.push(unsettled),
                _ => {
                    let mut first = unsettled;
                    let second = first.split_off(first.len() / 2);
                    parts.push(second);
                    parts.push(first);
                }
            }
        }
        Ok(())
    }

    /// A whole-batch refusal that is no record's fault holds the queue: our key property gone
    /// (archived in HubSpot), or an answer that is not about a record's data. Marking leads
    /// would hide it.
    fn hold_for(&self, refusal: &Refusal) -> Option<SyncStop> {
        let property_gone = refusal.message.contains("PROPERTY_DOESNT_EXIST")
            && refusal.message.contains(self.property);
        if property_gone {
            return Some(PropertyCheck::Missing.into_stop(self.property));
        }
        (!refusal.is_about_a_record()).then(|| {
            SyncStop::Hold(format!(
                "HubSpot rechaza los lotes ({}, {}): revísalo y ejecuta `mini-crm queue resume \
                 hubspot`",
                refusal.status,
                mask_personal_data(&refusal.message)
            ))
        })
    }

    /// A lead HubSpot refused on its own. An update of the contact its stored id names, which
    /// HubSpot no longer has, marks the lead deleted there (as the deletion webhook does); one
    /// `looked_up` a moment ago and gone since is left pending, to be looked up again; anything
    /// else is kept as the lead's refusal.
    async fn refused_alone(
        &self,
        how: Match,
        looked_up: bool,
        lead: &leads::HubspotLead,
        refusal: &Refusal,
        report: &mut SyncReport,
    ) -> Result<(), SyncStop> {
        match (how, refusal.status) {
            (Match::Id, 404) if looked_up => Ok(()),
            (Match::Id, 404) => {
                leads::mark_hubspot_deleted(&self.db.writer, lead.id, Timestamp::now()).await?;
                tracing::warn!(
                    provider = "hubspot",
                    lead_id = lead.id,
                    "contact no longer in HubSpot: lead marked deleted there"
                );
                report.settled += 1;
                Ok(())
            }
            _ => {
                self.refuse(lead, &mask_personal_data(&refusal.message), report)
                    .await
            }
        }
    }

    /// Applies each record's answer; returns the leads the answer says nothing about, and the
    /// errors it tied to no input (a lead sent alone is refused with them).
    async fn apply(
        &self,
        how: Match,
        part: Vec<leads::HubspotLead>,
        results: &[Value],
        errors: &[RecordError],
        report: &mut SyncReport,
    ) -> Result<(Vec<leads::HubspotLead>, Vec<String>), SyncStop> {
        let alone = part.len() == 1;
        let mut unsettled = Vec::new();
        for lead in part {
            let trace_id = lead.id.to_string();
            let result = results.iter().find(|r| {
                r["objectWriteTraceId"].as_str() == Some(trace_id.as_str())
                    || self.matches(how, &lead, r)
                    // One input, one contact back: HubSpot may answer a merged contact's id.
                    || (alone && results.len() == 1)
            });
            let error = errors.iter().find(|e| e.trace_ids.contains(&trace_id));
            match (result.and_then(|r| r["id"].as_str()), error) {
                (Some(hubspot_id), _) => self.link(&lead, hubspot_id, report).await?,
                (None, Some(error)) => {
                    self.refuse(&lead, &mask_personal_data(&error.message), report)
                        .await?
                }
                (None, None) => unsettled.push(lead),
            }
        }
        let unclaimed = errors
            .iter()
            .filter(|e| e.trace_ids.is_empty())
            .map(|e| e.message.clone())
            .collect();
        Ok((unsettled, unclaimed))
    }

    /// HubSpot has the lead's contact `hubspot_id`: stored, unless another lead has it.
    async fn link(
        &self,
        lead: &leads::HubspotLead,
        hubspot_id: &str,
        report: &mut SyncReport,
    ) -> Result<(), SyncStop> {
        let linked = leads::mark_hubspot_synced(
            &self.db.writer,
            lead.id,
            hubspot_id,
            lead.revision,
            Timestamp::now(),
        )
        .await?;
        match linked {
            Ok(()) => {
                report.settled += 1;
                report.synced += 1;
                Ok(())
            }
            Err(other) => {
                let reason = format!(
                    "El contacto {hubspot_id} de HubSpot ya es del lead #{other}: une los \
                     duplicados"
                );
                self.refuse(lead, &reason, report).await
            }
        }
    }

    /// The lead is not synced, for `reason` (HubSpot's, masked, or ours): kept on the lead, and
    /// out of the sync until it changes.
    async fn refuse(
        &self,
        lead: &leads::HubspotLead,
        reason: &str,
        report: &mut SyncReport,
    ) -> Result<(), SyncStop> {
        leads::mark_hubspot_refused(&self.db.writer, lead.id, lead.revision, reason).await?;
        tracing::warn!(
            provider = "hubspot",
            lead_id = lead.id,
            reason,
            "lead not synced to HubSpot"
        );
        report.settled += 1;
        report.refused += 1;
        Ok(())
    }

    /// The input for `lead`: its properties with its key, and its lead id as the trace id that
    /// ties HubSpot's answer to it.
    fn input(&self, how: Match, lead: &leads::HubspotLead) -> Value {
        let mut properties = properties(lead);
        properties[self.property] = json!(lead.hubspot_key);
        let mut input = json!({ "objectWriteTraceId": lead.id.to_string(),
                                "properties": properties });
        match how {
            Match::Id => input["id"] = json!(lead.hubspot_id),
            Match::Key => {
                input["id"] = json!(lead.hubspot_key);
                input["idProperty"] = json!(self.property);
            }
        }
        input
    }

    /// Whether a result is this lead's contact, where HubSpot did not echo the trace id.
    fn matches(&self, how: Match, lead: &leads::HubspotLead, result: &Value) -> bool {
        match how {
            Match::Id => result["id"].as_str() == lead.hubspot_id.as_deref(),
            Match::Key => {
                result["properties"][self.property].as_str() == Some(lead.hubspot_key.as_str())
            }
        }
    }
}

/// How a lead's contact is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Match {
    /// Updated by its HubSpot id: stored on the lead, or looked up in this batch (by key or
    /// e-mail).
    Id,
    /// None yet: upserted by the lead's key.
    Key,
}

impl Match {
    fn batch(self) -> Batch {
        match self {
            Match::Id => Batch::Update,
            Match::Key => Batch::Upsert,
        }
    }
}

/// The contact's properties from the lead. Only what the lead has is sent: HubSpot takes an
/// empty string as "clear it", and a one-word name must not clear a last name typed there.
fn properties(lead: &leads::HubspotLead) -> Value {
    let name = lead.name.trim();
    let (first, last) = name.split_once(' ').unwrap_or((name, ""));
    let mut properties = json!({ "firstname": first });
    if !last.trim().is_empty() {
        properties["lastname"] = json!(last.trim());
    }
    if let Some(phone) = &lead.phone {
        properties["phone"] = json!(phone);
    }
    if let Some(email) = &lead.email {
        properties["email"] = json!(email);
    }
    properties
}

#[cfg(test)]
mod tests {
    use super::properties;
    use crate::backend::store::leads::HubspotLead;

    #[test]
    fn what_the_lead_does_not_have_is_not_sent_to_clear_hubspots() {
        let lead = |name: &str, email: Option<&str>| HubspotLead {
            id: 1,
            name: name.into(),
            phone: Some("+34611223344".into()),
            email: email.map(str::to_string),
            hubspot_id: None,
            hubspot_key: "0".repeat(32),
            revision: 1,
        };
        let one_word = properties(&lead(" Cher ", None));
        assert_eq!(
            one_word,
            serde_json::json!({ "firstname": "Cher", "phone": "+34611223344" })
        );
        let full = properties(&lead("Ana Ruiz Soto", Some("ana@example.com")));
        assert_eq!(full["lastname"], "Ruiz Soto");
        assert_eq!(full["email"], "ana@example.com");
    }
}
