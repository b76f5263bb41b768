//! Online backups of the SQLite database and their restore (`mini-crm backup` / `restore`).
//! `VACUUM INTO` writes a consistent copy while the app keeps writing (it reads one snapshot);
//! every copy is verified with `PRAGMA integrity_check` before it counts, and old copies are
//! pruned. A restore refuses to replace a database that is in use and keeps the one it replaces.

use anyhow::{bail, Context};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// Backups are named `mini-crm-YYYYMMDD-HHMMSS.sqlite`, so their names sort by age.
const PREFIX: &str = "mini-crm-";
const SUFFIX: &str = ".sqlite";

#[derive(Debug)]
pub struct Backup {
    pub path: PathBuf,
    pub bytes: u64,
    /// Older backups removed to keep the newest `keep`.
    pub pruned: Vec<PathBuf>,
}

pub(super) fn options(database_url: &str) -> anyhow::Result<SqliteConnectOptions> {
    Ok(SqliteConnectOptions::from_str(database_url)
        .with_context(|| format!("DATABASE_URL={database_url:?} is not a SQLite URL"))?
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(30)))
}

/// The database file a SQLite URL names.
pub fn database_file(database_url: &str) -> anyhow::Result<PathBuf> {
    Ok(options(database_url)?.get_filename().to_path_buf())
}

/// `PRAGMA integrity_check` of a database file: `Ok` only when SQLite answers "ok".
pub async fn verify(file: &Path) -> anyhow::Result<()> {
    let mut conn = SqliteConnectOptions::new()
        .filename(file)
        .read_only(true)
        .connect()
        .await
        .with_context(|| format!("cannot open {}", file.display()))?;
    let result: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .with_context(|| format!("{} is not a SQLite database", file.display()))?;
    conn.close().await?;
    if result != "ok" {
        bail!("{} failed its integrity check: {result}", file.display());
    }
    Ok(())
}

/// Writes a verified copy of the database into `dir`, then keeps only the newest `keep`.
pub async fn backup(
    database_url: &str,
    dir: &Path,
    keep: usize,
    stamp: &str,
) -> anyhow::Result<Backup> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("{PREFIX}{stamp}{SUFFIX}"));
    if path.exists() {
        bail!("{} already exists", path.display());
    }
    let mut conn = options(database_url)?
        .read_only(true)
        .connect()
        .await
        .with_context(|| format!("cannot open the database {database_url}"))?;
    // A copy that fills the disk would fail half-way, and could starve the live database if
    // both share the disk: refuse before writing a byte.
    let needed: i64 = sqlx::query_scalar(
        "SELECT (page_count - freelist_count) * page_size
         FROM pragma_page_count(), pragma_freelist_count(), pragma_page_size()",
    )
    .fetch_one(&mut conn)
    .await
    .context("cannot measure the database")?;
    let stats = rustix::fs::statvfs(dir)
        .with_context(|| format!("cannot read the free space of {}", dir.display()))?;
    let same_disk = {
        use std::os::unix::fs::MetadataExt;
        let database = std::fs::metadata(database_file(database_url)?)?;
        std::fs::metadata(dir)?.dev() == database.dev()
    };
    ensure_room(
        dir,
        needed.max(0) as u64,
        stats.f_bavail * stats.f_frsize,
        same_disk,
    )?;
    sqlx::query("VACUUM INTO $1")
        .bind(path.to_string_lossy().as_ref())
        .execute(&mut conn)
        .await
        .context("VACUUM INTO failed")?;
    conn.close().await?;
    if let Err(err) = verify(&path).await {
        let _ = std::fs::remove_file(&path);
        return Err(err.context("the new backup was removed"));
    }
    let bytes = std::fs::metadata(&path)?.len();
    let mut backups: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        })
        .collect();
    backups.sort();
    let excess = backups.len().saturating_sub(keep.max(1));
    let pruned: Vec<PathBuf> = backups.into_iter().take(excess).collect();
    for old in &pruned {
        std::fs::remove_file(old).with_context(|| format!("cannot remove {}", old.display()))?;
    }
    Ok(Backup {
        path,
        bytes,
        pruned,
    })
}

/// Refuses a backup of `needed` bytes into `dir`, which has `available` bytes free. On the
/// database's own disk the copy must also leave room for the database to keep writing: a tenth
/// of its size, and at least 64 MiB.
fn ensure_room(dir: &Path, needed: u64, available: u64, same_disk: bool) -> anyhow::Result<()> {
    let reserve = if same_disk {
        (needed / 10).max(64 << 20)
    } else {
        0
    };
    if available < needed + reserve {
        let kept = if same_disk {
            format!(" and {} MiB kept free for the database", reserve >> 20)
        } else {
            String::new()
        };
        bail!(
            "not enough free space in {} for the backup: it needs {} MiB{kept}, {} MiB are free \
             (free some space or choose another --out)",
            dir.display(),
            needed.div_ceil(1 << 20),
            available >> 20
        );
    }
    Ok(())
}

/// Replaces the database with a verified backup. Refused while the database is in use (a
/// process has it open: see [`super::db::lock_file`]); the replaced file is kept beside it as
/// `<name>.before-restore-<stamp>`.
pub async fn restore(database_url: &str, file: &Path, stamp: &str) -> anyhow::Result<PathBuf> {
    verify(file)
        .await
        .context("the backup cannot be restored")?;
    let target = database_file(database_url)?;
    let kept = target.with_file_name(format!(
        "{}.before-restore-{stamp}",
        target
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("database")
    ));
    let _sole = super::db::exclusive_use(&target, "restoring")?;
    if target.exists() {
        // Fold the write-ahead log into the file before keeping it.
        let mut conn = options(database_url)?.connect().await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        std::fs::rename(&target, &kept)
            .with_context(|| format!("cannot keep {}", target.display()))?;
    }
    for leftover in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{leftover}", target.display()));
    }
    std::fs::copy(file, &target)
        .with_context(|| format!("cannot copy {} into place", file.display()))?;
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_larger_than_the_free_space_is_refused_with_both_figures() {
        let dir = Path::new("/srv/backups");
        assert!(ensure_room(dir, 10 << 20, 10 << 20, false).is_ok());
        let refused = ensure_room(dir, (300 << 20) + 1, 120 << 20, false).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "not enough free space in /srv/backups for the backup: it needs 301 MiB, 120 MiB \
             are free (free some space or choose another --out)"
        );
    }

    #[test]
    fn on_the_databases_own_disk_a_backup_leaves_room_for_the_database() {
        let dir = Path::new("storage/backups");
        assert!(ensure_room(dir, 10 << 20, 74 << 20, true).is_ok());
        let refused = ensure_room(dir, 10 << 20, 73 << 20, true).unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("it needs 10 MiB and 64 MiB kept free for the database"),
            "{refused}"
        );
        assert!(ensure_room(dir, 1000 << 20, 1100 << 20, true).is_ok());
        assert!(
            ensure_room(dir, 1000 << 20, 1099 << 20, true).is_err(),
            "a tenth when larger"
        );
    }
}
