//! Feature flags and clinic settings stored in `settings`, read by every process on each use
//! (a claim, a page, a request), so a change made in Ajustes, by the CLI or by another process
//! applies at once. A flag stops sending; it never drops work.

use super::db::Db;
use super::error::{Context, Result};
use super::store::settings;
use crate::domain::{Phone, Queue, Timestamp};
use crate::error::AppError;
use sha2::{Digest, Sha256};
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

/// One setting Ajustes offers, read from its key and a value as `mini-crm flags set` takes them.
/// Ajustes and the CLI check values with the same functions ([`switch`], [`HubspotMode::parse`],
/// [`backup_phone`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Setting {
    WhatsappOutbound(bool),
    CallsUi(bool),
    HubspotMode(HubspotMode),
    /// `None` removes it.
    BackupPhone(Option<String>),
    QueuePaused(Queue, bool),
}

/// Why a setting's key or value was refused; each edge says it in its own words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSetting {
    #[error("unknown setting {0:?}")]
    UnknownKey(String),
    #[error("expected on or off")]
    NotASwitch,
    #[error("expected live, deferred or off")]
    UnknownMode,
    #[error("not a phone number (E.164, or a Spanish number)")]
    NotAPhone,
}

impl Setting {
    /// Every key, in the order `flags list` shows them.
    pub fn keys() -> Vec<String> {
        [WHATSAPP_OUTBOUND, CALLS_UI, HUBSPOT_SYNC_MODE, BACKUP_PHONE]
            .map(String::from)
            .into_iter()
            .chain(Queue::OUTBOUND.map(pause_key))
            .collect()
    }

    pub fn parse(key: &str, value: &str) -> Result<Self, InvalidSetting> {
        let value = value.trim();
        let paused = Queue::OUTBOUND.into_iter().find(|q| pause_key(*q) == key);
        match key {
            WHATSAPP_OUTBOUND => switch(value).map(Setting::WhatsappOutbound),
            CALLS_UI => switch(value).map(Setting::CallsUi),
            HUBSPOT_SYNC_MODE => HubspotMode::parse(value)
                .map(Setting::HubspotMode)
                .ok_or(InvalidSetting::UnknownMode),
            BACKUP_PHONE => backup_phone(value).map(Setting::BackupPhone),
            _ => match paused {
                Some(queue) => switch(value).map(|on| Setting::QueuePaused(queue, on)),
                None => Err(InvalidSetting::UnknownKey(key.to_string())),
            },
        }
    }
}

/// How a switch is written: in `settings`, by `flags list` and `flags set`, by the form.
fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

/// `on` or `off`.
pub fn switch(value: &str) -> Result<bool, InvalidSetting> {
    match value.trim() {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(InvalidSetting::NotASwitch),
    }
}

/// A phone as staff type it, kept in E.164; empty removes it.
pub fn backup_phone(value: &str) -> Result<Option<String>, InvalidSetting> {
    match value.trim() {
        "" => Ok(None),
        text => Phone::parse(text)
            .map(|phone| Some(phone.as_str().to_string()))
            .map_err(|_| InvalidSetting::NotAPhone),
    }
}

/// Saves one setting.
pub async fn set(db: &Db, setting: &Setting, now: Timestamp) -> sqlx::Result<()> {
    write(&db.writer, setting, now).await
}

/// The one place a setting becomes its row.
async fn write(
    db: impl sqlx::SqliteExecutor<'_>,
    setting: &Setting,
    now: Timestamp,
) -> sqlx::Result<()> {
    match setting {
        Setting::WhatsappOutbound(on) => {
            settings::set(db, WHATSAPP_OUTBOUND, on_off(*on), now).await
        }
        Setting::CallsUi(on) => settings::set(db, CALLS_UI, on_off(*on), now).await,
        Setting::HubspotMode(mode) => {
            settings::set(db, HUBSPOT_SYNC_MODE, mode.as_str(), now).await
        }
        Setting::BackupPhone(Some(phone)) => settings::set(db, BACKUP_PHONE, phone, now).await,
        Setting::BackupPhone(None) => settings::delete(db, BACKUP_PHONE).await,
        Setting::QueuePaused(queue, paused) => set_paused(db, *queue, *paused, now).await,
    }
}

impl Flags {
    /// A fingerprint of every setting Ajustes shows, for [`save_ajustes`].
    pub fn version(&self) -> String {
        let mut hash = Sha256::new();
        for key in Setting::keys() {
            hash.update(key.as_bytes());
            hash.update([0]);
            hash.update(self.value_of(&key).unwrap_or_default().as_bytes());
            hash.update([0]);
        }
        hex::encode(&hash.finalize()[..8])
    }

    /// `key`'s value as it applies now (its default when never set), as `flags set` takes it.
    pub fn value_of(&self, key: &str) -> Option<String> {
        match key {
            WHATSAPP_OUTBOUND => Some(on_off(self.whatsapp_outbound()).into()),
            CALLS_UI => Some(on_off(self.calls_ui()).into()),
            HUBSPOT_SYNC_MODE => Some(self.hubspot_mode().as_str().to_string()),
            BACKUP_PHONE => Some(self.backup_phone().unwrap_or_default().to_string()),
            _ => Queue::OUTBOUND
                .into_iter()
                .find(|q| pause_key(*q) == key)
                .map(|queue| on_off(self.queue_paused(queue)).into()),
        }
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

/// Saves every flag of the Ajustes form in one transaction: all or none. `loaded` is the
/// [`Flags::version`] the form was shown with: when a setting changed since (`flags set` during
/// an incident, another admin), the save is refused rather than undo that change unseen.
pub async fn save_ajustes(
    db: &Db,
    ajustes: &Ajustes,
    loaded: Option<&str>,
    now: Timestamp,
) -> Result<()> {
    let mut tx = db.begin_write().await.context("saving settings")?;
    let current = settings::with_prefix(&mut *tx, "")
        .await
        .context("reading settings")?;
    if loaded.is_some_and(|loaded| loaded != Flags(current.into_iter().collect()).version()) {
        return Err(AppError::InvalidInput {
            field: None,
            message: "Los ajustes han cambiado desde que abriste esta página (quizá desde la \
                      consola): recárgala para ver los valores actuales y vuelve a guardar."
                .to_string(),
        }
        .into());
    }
    write_ajustes(&mut tx, ajustes, now)
        .await
        .context("saving settings")?;
    tx.commit().await.context("saving settings")
}

async fn write_ajustes(
    tx: &mut sqlx::SqliteConnection,
    ajustes: &Ajustes,
    now: Timestamp,
) -> sqlx::Result<()> {
    let pauses = Queue::OUTBOUND.map(|q| Setting::QueuePaused(q, ajustes.paused.contains(&q)));
    let form = [
        Setting::WhatsappOutbound(ajustes.whatsapp_outbound),
        Setting::CallsUi(ajustes.calls_ui),
        Setting::HubspotMode(ajustes.hubspot_mode),
        Setting::BackupPhone(ajustes.backup_phone.clone()),
    ];
    for setting in form.iter().chain(&pauses) {
        write(&mut *tx, setting, now).await?;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_ajustes_offers_is_read_from_its_key_and_value() {
        let parse = |key, value| Setting::parse(key, value);
        assert_eq!(
            parse("whatsapp.outbound", "off"),
            Ok(Setting::WhatsappOutbound(false))
        );
        assert_eq!(parse("calls.ui", "on"), Ok(Setting::CallsUi(true)));
        assert_eq!(
            parse("hubspot.sync_mode", "deferred"),
            Ok(Setting::HubspotMode(HubspotMode::Deferred))
        );
        assert_eq!(
            parse("clinic.backup_phone", "612 34 56 78"),
            Ok(Setting::BackupPhone(Some("+34612345678".into())))
        );
        assert_eq!(
            parse("clinic.backup_phone", " "),
            Ok(Setting::BackupPhone(None))
        );
        assert_eq!(
            parse("queue.paused.hubspot", "on"),
            Ok(Setting::QueuePaused(Queue::Hubspot, true))
        );
        assert_eq!(parse("calls.ui", "yes"), Err(InvalidSetting::NotASwitch));
        assert_eq!(
            parse("hubspot.sync_mode", "fast"),
            Err(InvalidSetting::UnknownMode)
        );
        assert_eq!(
            parse("clinic.backup_phone", "12"),
            Err(InvalidSetting::NotAPhone)
        );
        // The inbound queue is paused with `queue pause inbound`, not from Ajustes.
        for key in ["queue.paused.inbound", "maintenance", "queue.held.whatsapp"] {
            assert_eq!(
                parse(key, "on"),
                Err(InvalidSetting::UnknownKey(key.to_string()))
            );
        }
        for key in Setting::keys() {
            let value = Flags::default().value_of(&key).unwrap();
            assert!(Setting::parse(&key, &value).is_ok(), "{key} {value}");
        }
    }
}
