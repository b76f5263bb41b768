//! `mini-crm hubspot setup`: the unique contact property that carries each lead's key, made
//! once; and the check every sync makes that it is there.

use super::SyncStop;
use crate::backend::db::Db;
use crate::backend::flags;
use crate::backend::providers::hubspot::HubspotClient;
use crate::backend::providers::CallError;
use crate::domain::{Queue, Timestamp};

/// What `mini-crm hubspot setup` found.
#[derive(Debug, PartialEq, Eq)]
pub enum SetUp {
    Created,
    AlreadyThere,
}

/// Creates the unique contact property that carries our lead keys, unless HubSpot has it, and
/// lifts the hubspot queue's hold once a read of contacts shows the token can reach them.
pub async fn set_up(db: &Db, client: &HubspotClient, property: &str) -> Result<SetUp, SyncStop> {
    let done = match check_property(client, property).await {
        Ok(()) => SetUp::AlreadyThere,
        Err(PropertyCheck::Missing) => {
            if client.create_lead_key_property(property).await? {
                SetUp::Created
            } else {
                // Made meanwhile (another set-up): it must be the right kind all the same.
                check_property(client, property)
                    .await
                    .map_err(|check| check.into_stop(property))?;
                SetUp::AlreadyThere
            }
        }
        Err(other) => return Err(other.into_stop(property)),
    };
    client
        .read("email", &["setup@mini-crm.invalid"], &["email"])
        .await?;
    flags::release_queue(&db.writer, Queue::Hubspot, Timestamp::now()).await?;
    Ok(done)
}

/// Why the lead-key property cannot be used.
pub(super) enum PropertyCheck {
    Missing,
    NotUnique,
    Call(CallError),
}

impl PropertyCheck {
    pub(super) fn into_stop(self, property: &str) -> SyncStop {
        match self {
            PropertyCheck::Missing => SyncStop::Hold(format!(
                "Falta en HubSpot la propiedad única «{property}» que lleva la clave de cada \
                 lead: ejecuta `mini-crm hubspot setup`"
            )),
            PropertyCheck::NotUnique => SyncStop::Hold(format!(
                "La propiedad «{property}» de HubSpot no es de valor único: elige otro nombre \
                 en HUBSPOT_LEAD_KEY_PROPERTY y ejecuta `mini-crm hubspot setup`"
            )),
            PropertyCheck::Call(err) => err.into(),
        }
    }
}

pub(super) async fn check_property(
    client: &HubspotClient,
    property: &str,
) -> Result<(), PropertyCheck> {
    match client
        .property(property)
        .await
        .map_err(PropertyCheck::Call)?
    {
        Some(found) if found.unique => Ok(()),
        Some(_) => Err(PropertyCheck::NotUnique),
        None => Err(PropertyCheck::Missing),
    }
}
