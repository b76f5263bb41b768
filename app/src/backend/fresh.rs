//! `mini-crm migrate --fresh`: starting over with an empty database, which is only ever done on
//! purpose. Nothing is deleted: the database is moved aside (`<name>.before-fresh-<stamp>`, as
//! `restore` keeps the file it replaces), so even a mistake is undone by moving it back. Beyond
//! that, more than the demo clinic needs `--force`; a database in use is never touched; in
//! production the database's name must be typed back.

use super::{backup, db, seed};
use anyhow::{bail, Context};
use sqlx::{ConnectOptions, Connection};
use std::path::{Path, PathBuf};

/// How the operator asked for the erase.
#[derive(Debug, Clone, Copy, Default)]
pub struct Consent<'a> {
    /// Set aside data that is not the demo clinic.
    pub force: bool,
    /// The database's file name typed back (`--confirm`), required when `production`.
    pub confirm: Option<&'a str>,
    /// `APP_ENV=production`.
    pub production: bool,
}

/// What `erase` did.
#[derive(Debug)]
pub struct SetAside {
    /// The database file, as an absolute path (a relative `DATABASE_URL` names it by the
    /// directory the command ran in: the message must say which one it was).
    pub database: PathBuf,
    /// Where the old database is now; `None` when there was none.
    pub kept: Option<PathBuf>,
    /// What it held beyond the demo clinic (`--force` was given).
    pub beyond_demo: Vec<String>,
}

/// Moves the database (and any write-ahead log left beside it) aside so the next connection
/// starts empty.
pub async fn erase(
    database_url: &str,
    consent: Consent<'_>,
    stamp: &str,
) -> anyhow::Result<SetAside> {
    let file = std::path::absolute(backup::database_file(database_url)?)
        .context("cannot resolve the database's path")?;
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    if consent.production && consent.confirm != Some(name.as_str()) {
        bail!(
            "APP_ENV=production: --fresh sets aside the database {} and starts an empty one; \
             type its name back to go on: --confirm {name}",
            file.display()
        );
    }
    let mut set_aside = SetAside {
        database: file.clone(),
        kept: None,
        beyond_demo: Vec::new(),
    };
    if !file.parent().is_some_and(Path::exists) {
        return Ok(set_aside);
    }
    // First, even when the file is gone: a process may still have it open (and its log).
    let _sole = db::exclusive_use(&file, "migrate --fresh")?;
    if file.exists() {
        let mut conn = backup::options(database_url)?
            .connect()
            .await
            .with_context(|| format!("cannot open the database {}", file.display()))?;
        set_aside.beyond_demo = seed::data_beyond_seed(&mut conn)
            .await
            .with_context(|| format!("cannot tell what {} holds", file.display()))?;
        if !set_aside.beyond_demo.is_empty() && !consent.force {
            bail!(
                "the database {} holds data that is not the demo clinic ({}); nothing was \
                 changed. To set it aside anyway and start empty: --fresh --force",
                file.display(),
                set_aside.beyond_demo.join(", ")
            );
        }
        // Fold the write-ahead log into the file, so the file kept is whole by itself.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut conn)
            .await
            .context("cannot fold the write-ahead log into the database")?;
        conn.close().await?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let path = PathBuf::from(format!("{}{suffix}", file.display()));
        if !path.exists() {
            continue;
        }
        let aside = PathBuf::from(format!("{}{suffix}.before-fresh-{stamp}", file.display()));
        std::fs::rename(&path, &aside)
            .with_context(|| format!("cannot move {} aside", path.display()))?;
        if suffix.is_empty() {
            set_aside.kept = Some(aside);
        }
    }
    Ok(set_aside)
}
