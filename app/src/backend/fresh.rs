//! `mini-crm migrate --fresh`: erasing a database, which is only ever done on purpose. Nothing
//! but the demo clinic is erased without `--force`, and with it a backup is taken first; never
//! while a process has the database open; in production only with the database's name typed
//! back.

use super::{backup, db, seed};
use anyhow::{bail, Context};
use sqlx::{ConnectOptions, Connection};
use std::path::PathBuf;

/// How the operator asked for the erase.
#[derive(Debug, Clone, Copy, Default)]
pub struct Consent<'a> {
    /// Erase data that is not the demo clinic (after a backup).
    pub force: bool,
    /// The database's name typed back (`--confirm`), required when `production`.
    pub confirm: Option<&'a str>,
    /// `APP_ENV=production`.
    pub production: bool,
}

/// Where the backup of a forced erase goes, beside the database (as deploy's `pre-deploy`).
const BACKUPS: &str = "backups/pre-fresh";
const BACKUPS_KEPT: usize = 5;

/// Removes the database file (and its write-ahead log) so the next connection starts empty.
/// Returns the backup taken first, when the database held more than the demo clinic.
pub async fn erase(
    database_url: &str,
    consent: Consent<'_>,
    stamp: &str,
) -> anyhow::Result<Option<PathBuf>> {
    let file = backup::database_file(database_url)?;
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if consent.production && consent.confirm != Some(name) {
        bail!(
            "APP_ENV=production: --fresh erases the database {}; type its name back to go on: \
             --confirm {name}",
            file.display()
        );
    }
    if !file.exists() {
        return Ok(None);
    }
    let _sole = db::exclusive_use(&file, "migrate --fresh")?;
    let beyond = {
        let mut conn = backup::options(database_url)?
            .read_only(true)
            .connect()
            .await
            .with_context(|| format!("cannot open the database {}", file.display()))?;
        let beyond = seed::data_beyond_seed(&mut conn)
            .await
            .with_context(|| format!("cannot tell what {} holds", file.display()))?;
        conn.close().await?;
        beyond
    };
    let kept = if beyond.is_empty() {
        None
    } else if !consent.force {
        bail!(
            "the database {} holds data that is not the demo clinic ({}); --fresh would erase \
             it. Nothing was changed. To erase it anyway, with a backup taken first: --force",
            file.display(),
            beyond.join(", ")
        );
    } else {
        let dir = file
            .parent()
            .map_or_else(|| PathBuf::from(BACKUPS), |d| d.join(BACKUPS));
        let made = backup::backup(database_url, &dir, BACKUPS_KEPT, stamp)
            .await
            .context("the database was not erased: its backup failed")?;
        Some(made.path)
    };
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", file.display());
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("cannot remove {path}"));
            }
            _ => {}
        }
    }
    Ok(kept)
}
