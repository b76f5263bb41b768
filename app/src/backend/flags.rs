//! Feature flags and clinic settings stored in `settings`, read by every process on each use
//! (a claim, a page, a request), so a change made in Ajustes, by the CLI or by another process
//! applies at once. A flag stops sending; it never drops work.

use super::db::Db;
use super::store::settings;
use crate::domain::{Queue, Timestamp};
use std::collections::HashMap;

/// `whatsapp.outbound`: `off` holds the `whatsapp` queue.
pub const WHATSAPP_OUTBOUND: &str = "whatsapp.outbound";
/// `calls.ui`: click-to-call on the lead page (`off` degrades telephony to the backup number).
pub const CALLS_UI: &str = "calls.ui";
/// `hubspot.sync_mode`: `live`, `deferred` (work is queued, held) or `off` (nothing queued).
pub const HUBSPOT_SYNC_MODE: &str = "hubspot.sync_mode";
/// `clinic.backup_phone`: the number staff use while telephony is degraded.
pub const BACKUP_PHONE: &str = "clinic.backup_phone";
/// `maintenance`: the message shown while the app is down (`mini-crm down`); absent when up.
pub const MAINTENANCE: &str = "maintenance";

/// Setting key of a queue's account-wide hold: its provider refused the whole account (an
/// expired token, a locked account, an unpaid bill, missing permissions, a template that does not
/// match), so its work waits, with the provider's reason, until someone fixes the cause and
/// resumes the queue (`mini-crm queue resume whatsapp`); then each held job runs once.
pub fn hold_key(queue: Queue) -> String {
    format!("queue.held.{}", queue.as_str())
}

/// Holds `queue` with `reason` (see [`hold_key`]).
pub async fn hold_queue(
    db: impl sqlx::SqliteExecutor<'_>,
    queue: Queue,
    reason: &str,
    now: Timestamp,
) -> sqlx::Result<()> {
    settings::set(db, &hold_key(queue), reason, now).await
}

/// Lifts `queue`'s account-wide hold, if it had one.
pub async fn release_queue(
    db: impl sqlx::SqliteExecutor<'_>,
    queue: Queue,
    now: Timestamp,
) -> sqlx::Result<()> {
    settings::set(db, &hold_key(queue), "", now).await
}

/// Pauses or unpauses `queue` (work waits, nothing is dropped).
pub async fn set_paused(
    db: impl sqlx::SqliteExecutor<'_>,
    queue: Queue,
    paused: bool,
    now: Timestamp,
) -> sqlx::Result<()> {
    settings::set(
        db,
        &pause_key(queue),
        if paused { "true" } else { "false" },
        now,
    )
    .await
}

/// Setting key of a queue's pause flag.
pub fn pause_key(queue: Queue) -> String {
    format!("queue.paused.{}", queue.as_str())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HubspotMode {
    Live,
    Deferred,
    Off,
}

impl HubspotMode {
    pub fn as_str(self) -> &'static str {
        match self {
            HubspotMode::Live => "live",
            HubspotMode::Deferred => "deferred",
            HubspotMode::Off => "off",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [HubspotMode::Live, HubspotMode::Deferred, HubspotMode::Off]
            .into_iter()
            .find(|mode| mode.as_str() == value)
    }
}

/// What the Ajustes form sets, already checked.
#[derive(Clone, Debug)]
pub struct Ajustes {
    pub whatsapp_outbound: bool,
    pub calls_ui: bool,
    pub hubspot_mode: HubspotMode,
    /// E.164; `None` removes it.
    pub backup_phone: Option<String>,
    /// The provider queues paused (the others run).
    pub paused: Vec<Queue>,
}

/// Saves every flag of the Ajustes form in one transaction: all or none.
pub async fn save_ajustes(db: &Db, ajustes: &Ajustes, now: Timestamp) -> sqlx::Result<()> {
    let on_off = |on: bool| if on { "on" } else { "off" };
    let mut tx = db.begin_write().await?;
    settings::set(
        &mut *tx,
        WHATSAPP_OUTBOUND,
        on_off(ajustes.whatsapp_outbound),
        now,
    )
    .await?;
    settings::set(&mut *tx, CALLS_UI, on_off(ajustes.calls_ui), now).await?;
    settings::set(
        &mut *tx,
        HUBSPOT_SYNC_MODE,
        ajustes.hubspot_mode.as_str(),
        now,
    )
    .await?;
    match &ajustes.backup_phone {
        Some(phone) => settings::set(&mut *tx, BACKUP_PHONE, phone, now).await?,
        None => settings::delete(&mut *tx, BACKUP_PHONE).await?,
    }
    for queue in Queue::OUTBOUND {
        set_paused(&mut *tx, queue, ajustes.paused.contains(&queue), now).await?;
    }
    tx.commit().await
}

/// Every setting, read in one query.
#[derive(Clone, Debug, Default)]
pub struct Flags(HashMap<String, String>);

impl Flags {
    pub async fn load(db: &Db) -> sqlx::Result<Self> {
        Ok(Self(
            settings::with_prefix(&db.reader, "")
                .await?
                .into_iter()
                .collect(),
        ))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn queue_paused(&self, queue: Queue) -> bool {
        self.get(&pause_key(queue)) == Some("true")
    }

    /// Why the provider refused the whole account, while the queue is held for it.
    pub fn account_hold(&self, queue: Queue) -> Option<&str> {
        self.get(&hold_key(queue))
            .filter(|reason| !reason.is_empty())
    }

    pub fn whatsapp_outbound(&self) -> bool {
        self.get(WHATSAPP_OUTBOUND) != Some("off")
    }

    pub fn calls_ui(&self) -> bool {
        self.get(CALLS_UI) != Some("off")
    }

    pub fn hubspot_mode(&self) -> HubspotMode {
        self.get(HUBSPOT_SYNC_MODE)
            .and_then(HubspotMode::parse)
            .unwrap_or(HubspotMode::Live)
    }

    pub fn backup_phone(&self) -> Option<&str> {
        self.get(BACKUP_PHONE)
            .filter(|phone| !phone.trim().is_empty())
    }

    /// The maintenance message while the app is down.
    pub fn maintenance(&self) -> Option<&str> {
        self.get(MAINTENANCE)
    }
}

/// The maintenance message while the app is down: one key, read on every request.
pub async fn maintenance_message(db: &Db) -> sqlx::Result<Option<String>> {
    settings::get(&db.reader, MAINTENANCE).await
}

/// `mini-crm down`: pages, server functions and the JSON API answer 503 with `message`.
pub async fn set_maintenance(db: &Db, message: Option<&str>, now: Timestamp) -> sqlx::Result<()> {
    match message {
        Some(message) => settings::set(&db.writer, MAINTENANCE, message, now).await,
        None => settings::delete(&db.writer, MAINTENANCE).await,
    }
}
