//! The database: an embedded SQLite file in WAL mode with one writer connection (SQLite allows a
//! single writer; queuing in the pool beats `SQLITE_BUSY` retries) and a pool of readers.

use super::store::erased_identities::ErasureKey;
use super::store::heartbeats;
use super::write_health::{is_read_only, WriteHealth};
use crate::domain::Timestamp;
use anyhow::{bail, Context};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Sqlite, SqlitePool, Transaction};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Migrations are additive, so a release rolled back by `scripts/deploy.sh` starts on a schema a
/// newer release migrated: migrations it does not know are ignored, not refused.
pub static MIGRATOR: sqlx::migrate::Migrator = {
    let mut migrator = sqlx::migrate!("../migrations");
    migrator.ignore_missing = true;
    migrator
};

#[derive(Clone, Debug)]
pub struct Db {
    /// One connection: every write goes through it, `BEGIN IMMEDIATE` semantics by construction.
    pub writer: SqlitePool,
    /// Read-only connections for pages, reports and the API.
    pub reader: SqlitePool,
    /// The session store's own connections, so a page's session lookup never waits behind the
    /// writer's queue (SQLite's busy timeout orders its rare writes).
    pub sessions: SqlitePool,
    /// Whether this process's writes commit (shared by every clone).
    pub write_health: Arc<WriteHealth>,
    /// The key of the digests of erased persons' identifiers, kept beside the database file.
    pub erasure_key: ErasureKey,
    /// The file as opened, to notice it deleted or replaced under the running process.
    file: Arc<OpenedFile>,
    /// A shared lock on `<database>.lock`, held while any clone lives: `mini-crm restore` takes
    /// it exclusively, so it never replaces a database a process has open.
    _in_use: Arc<std::fs::File>,
}

/// A database file's path and identity when it was opened. SQLite keeps writing to a file that
/// was deleted (or renamed away) while open, and every such write is lost at the next start.
#[derive(Debug)]
struct OpenedFile {
    path: PathBuf,
    identity: (u64, u64),
    /// The path with symbolic links resolved, as the kernel names open files (a release's
    /// `storage` is a link to the shared one).
    canonical: PathBuf,
    /// When `/proc/self/fd` was last read, and what it showed: reading it costs a system call per
    /// open descriptor, so at most every [`SCAN_EVERY`].
    last_scan: std::sync::Mutex<Option<(std::time::Instant, Option<String>)>>,
}

/// How stale the look for deleted open files may be.
const SCAN_EVERY: Duration = Duration::from_millis(250);

impl OpenedFile {
    fn open(path: &Path) -> anyhow::Result<Self> {
        let meta = std::fs::metadata(path)
            .with_context(|| format!("cannot read the database file {}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            identity: (meta.dev(), meta.ino()),
            canonical: std::fs::canonicalize(path)
                .with_context(|| format!("cannot resolve {}", path.display()))?,
            last_scan: std::sync::Mutex::new(None),
        })
    }

    /// A file of the database open although deleted, as last seen (at most [`SCAN_EVERY`] ago).
    fn deleted_open_file(&self) -> Option<String> {
        let mut last = self.last_scan.lock().unwrap_or_else(|e| e.into_inner());
        match &*last {
            Some((at, seen)) if at.elapsed() < SCAN_EVERY => seen.clone(),
            _ => {
                let seen = deleted_open_file(&self.canonical);
                *last = Some((std::time::Instant::now(), seen.clone()));
                seen
            }
        }
    }
}

/// Whether a connection coming back to its pool may be used again. A failed COMMIT (disk full,
/// I/O error) can leave it inside a transaction, or leave sqlx's count of its transactions off by
/// one (SQLite rolled back by itself, so the ROLLBACK on drop failed): every later transaction
/// would then be a savepoint that never commits. Such a connection is closed and the pool opens a
/// clean one. The count is exact when it says none (every begin was awaited); otherwise a
/// transaction dropped without commit may have queued a rollback, which locking the handle runs
/// before the count is read again. (Locking costs a round trip to SQLite's thread: a third of
/// intake's throughput if done at every release.)
async fn release_clean(conn: &mut sqlx::SqliteConnection) -> sqlx::Result<bool> {
    if !conn.is_in_transaction() {
        return Ok(true);
    }
    drop(conn.lock_handle().await?);
    let clean = !conn.is_in_transaction();
    if !clean {
        tracing::debug!("a failed write left a connection inside a transaction: replaced");
    }
    Ok(clean)
}

/// A file of the database (`<path>`, `-wal`, `-shm`) this process still has open although it was
/// deleted: the kernel names such a descriptor's target "<path> (deleted)".
#[cfg(test)]
mod tests {
    use super::{check_url, DiskSpace};

    #[test]
    fn only_a_sqlite_url_is_taken() {
        for url in [
            "sqlite://storage/database.sqlite",
            "sqlite:relative.db",
            "sqlite:///abs/path.db",
            "sqlite://f.db?mode=rwc",
            "sqlite::memory:",
        ] {
            assert!(check_url(url).is_ok(), "{url}");
        }
        // sqlx would take these for other file names: a new, empty clinic.
        let upper = check_url("SQLite:/tmp/x.db").unwrap_err().to_string();
        assert!(upper.contains("lowercase"), "{upper}");
        let padded = check_url("sqlite://storage/database.sqlite ")
            .unwrap_err()
            .to_string();
        assert!(padded.contains("spaces"), "{padded}");
        let no_scheme = check_url("s3cret@db:5432/crm").unwrap_err().to_string();
        assert!(!no_scheme.contains("s3cret"), "{no_scheme}");
        let postgres = check_url("postgres://crm:s3cret@db/crm")
            .unwrap_err()
            .to_string();
        assert!(
            postgres.contains("PostgreSQL") && !postgres.contains("s3cret"),
            "{postgres}"
        );
        let mysql = check_url("mysql://crm:s3cret@db/crm")
            .unwrap_err()
            .to_string();
        assert!(
            mysql.contains("\"mysql\"") && !mysql.contains("s3cret"),
            "{mysql}"
        );
        let path = check_url("storage/database.sqlite")
            .unwrap_err()
            .to_string();
        assert!(path.contains("sqlite:// prefix"), "{path}");
    }

    #[test]
    fn a_disk_is_nearly_full_under_a_twentieth_free_or_a_gibibyte() {
        let gib = 1u64 << 30;
        let small = |free| DiskSpace {
            free,
            total: 4 << 20,
        };
        assert!(!small(210 << 10).nearly_full());
        assert!(small(200 << 10).nearly_full());
        let large = |free| DiskSpace {
            free,
            total: 500 * gib,
        };
        assert!(
            !large(gib).nearly_full(),
            "1 GiB free on 500 GiB is not yet"
        );
        assert!(large(gib - 1).nearly_full());
    }
}

#[cfg(target_os = "linux")]
fn deleted_open_file(database: &Path) -> Option<String> {
    let prefix = database.as_os_str().to_string_lossy().into_owned();
    std::fs::read_dir("/proc/self/fd")
        .ok()?
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .map(|target| target.to_string_lossy().into_owned())
        .find(|target| {
            target.starts_with(&prefix)
                && target.ends_with(" (deleted)")
                && matches!(
                    &target[prefix.len()..target.len() - 10],
                    "" | "-wal" | "-shm"
                )
        })
}

#[cfg(not(target_os = "linux"))]
fn deleted_open_file(_database: &Path) -> Option<String> {
    None
}

/// The lock file beside a database file.
pub fn lock_file(database: &std::path::Path) -> std::path::PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    name.into()
}

/// Sole use of a database file, for as long as the returned lock lives: granted only while no
/// process has the database open (each holds a shared lock from [`Db::connect`] until it exits).
/// `restore` and `migrate --fresh` take it; `doing` finishes the refusal's sentence.
pub fn exclusive_use(database: &Path, doing: &str) -> anyhow::Result<std::fs::File> {
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_file(database))
        .context("cannot open the database's lock file")?;
    if lock.try_lock().is_err() {
        bail!(
            "the database {} is in use: stop mini-crm (serve and workers) before {doing}",
            database.display()
        );
    }
    Ok(lock)
}

/// Room on the database's file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSpace {
    pub free: u64,
    pub total: u64,
}

impl DiskSpace {
    /// Less than 5 % free, or less than 1 GiB on a disk larger than 20 GiB: time to act, before
    /// writes fail.
    pub fn nearly_full(&self) -> bool {
        self.free < (self.total / 20).min(1 << 30)
    }
}

/// What `mini-crm db check` found.
#[derive(Debug)]
pub struct DbCheck {
    /// `ok`, or what SQLite found wrong.
    pub quick_check: String,
    pub applied_migrations: i64,
    pub known_migrations: i64,
    pub leads: i64,
    pub millis: u128,
}

impl DbCheck {
    pub fn healthy(&self) -> bool {
        // More applied than known: a release rolled back after a newer one migrated (additive).
        self.quick_check == "ok" && self.applied_migrations >= self.known_migrations
    }
}

/// `DATABASE_URL` must name a SQLite database (`sqlite://path/to/file.sqlite`, `sqlite:path`,
/// `sqlite::memory:`) exactly as sqlx reads it. sqlx's SQLite parser takes any other text for a
/// file name: `postgres://crm@db/crm` made a SQLite file at `postgres:/crm@db/crm` and reported
/// "Database migrated", an empty clinic on the wrong engine; `SQLITE://…` or a value with a
/// trailing space would likewise make a new empty file beside the real one. Only the scheme is
/// quoted back, and only when it is one: the rest may hold a password.
pub fn check_url(database_url: &str) -> anyhow::Result<()> {
    if database_url.starts_with("sqlite:") {
        if database_url.trim() != database_url {
            bail!("DATABASE_URL has spaces around it: remove them (they would be part of the file name)");
        }
        return Ok(());
    }
    let scheme = database_url
        .trim()
        .split_once(':')
        .map(|(scheme, _)| scheme);
    let is_scheme = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    };
    match scheme.filter(|s| is_scheme(s)) {
        Some(s) if matches!(s.to_ascii_lowercase().as_str(), "postgres" | "postgresql") => bail!(
            "DATABASE_URL names a PostgreSQL database, and this version of mini-crm runs on SQLite \
             only: set DATABASE_URL=sqlite://path/to/database.sqlite"
        ),
        Some(s) => bail!(
            "DATABASE_URL must be a SQLite URL such as sqlite://storage/database.sqlite (lowercase \
             sqlite:), not a {s:?} one"
        ),
        None => bail!(
            "DATABASE_URL must be a SQLite URL such as sqlite://storage/database.sqlite, with its \
             sqlite:// prefix"
        ),
    }
}

impl Db {
    /// A write of `who`'s own while writes fail: the first that goes through ends the fault.
    pub async fn probe_writes(&self, who: &str) {
        let beat = async {
            heartbeats::beat(&self.writer, who, Timestamp::now())
                .await
                .map_err(|e| e.to_string())?;
            self.check_file()
        };
        match beat.await {
            Ok(()) => self.write_health.succeeded(who),
            Err(error) => self.write_health.failed(who, &error),
        }
    }

    /// Opens (creating the file and its directory if needed) and migrates the database.
    pub async fn connect(database_url: &str) -> anyhow::Result<Self> {
        check_url(database_url)?;
        let options = SqliteConnectOptions::from_str(database_url)
            .with_context(|| format!("DATABASE_URL={database_url:?} is not a SQLite URL"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: an acknowledged write (a webhook delivery above all) survives a power cut.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            // Reports read the same index pages over and over: map the file instead of copying
            // each page through a read() call, and keep more of it per connection.
            .pragma("mmap_size", "1073741824")
            .pragma("cache_size", "-32768");
        if let Some(dir) = options
            .get_filename()
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).with_context(|| {
                format!("cannot create the database directory {}", dir.display())
            })?;
        }
        let in_use = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(lock_file(options.get_filename()))
            .with_context(|| {
                format!(
                    "cannot write beside the database {}: is its directory read-only, full or \
                     owned by another user?",
                    options.get_filename().display()
                )
            })?;
        // Shared: every process may hold it; only a restore in progress makes this wait.
        in_use
            .lock_shared()
            .context("cannot lock the database's lock file")?;
        // Migrations run on a connection of their own, closed before any pool opens: one may
        // edit a table's definition in place (0010), which the connection that made the edit
        // does not re-read. Later migrations of the same run share that connection; the first
        // of them to alter the table re-reads the schema itself (0012's writable_schema RESET).
        let mut migrating = options
            .clone()
            .connect()
            .await
            .with_context(|| format!("cannot open the database {database_url}"))?;
        MIGRATOR
            .run(&mut migrating)
            .await
            .context("cannot migrate the database")?;
        migrating.close().await?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .after_release(|conn, _| Box::pin(release_clean(conn)))
            .connect_with(options.clone())
            .await
            .with_context(|| format!("cannot open the database {database_url}"))?;
        let file = OpenedFile::open(options.get_filename())?;
        let erasure_key = ErasureKey::beside(options.get_filename())?;
        let sessions = SqlitePoolOptions::new()
            .max_connections(4)
            // tower-sessions creates a session in a transaction of its own.
            .after_release(|conn, _| Box::pin(release_clean(conn)))
            .connect_with(options.clone())
            .await
            .with_context(|| format!("cannot open session connections to {database_url}"))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.read_only(true))
            .await
            .with_context(|| format!("cannot open read connections to {database_url}"))?;
        let db = Self {
            writer,
            reader,
            sessions,
            write_health: Arc::default(),
            erasure_key,
            file: Arc::new(file),
            _in_use: Arc::new(in_use),
        };
        // A first write. SQLite opens a file it may not write for reading only, and migrations
        // already applied write nothing: without it, such a database would start and then
        // refuse every write. A full or locked database starts, `down` until it takes writes.
        if let Err(err) = heartbeats::beat(&db.writer, "start", Timestamp::now()).await {
            if is_read_only(&err) {
                bail!(
                    "the database {} can only be read by this process ({err}): check the \
                     file's owner, permissions and attributes (chattr) and the file system's \
                     mount options",
                    db.file.path.display()
                );
            }
            db.write_health.failed("start", &err);
        }
        Ok(db)
    }

    /// A write transaction that takes the write lock at once (`BEGIN IMMEDIATE`): one that reads
    /// first and upgrades later fails with `SQLITE_BUSY` when another process wrote in between,
    /// without waiting.
    /// Refused when the file was deleted under the process: what it committed would vanish.
    pub async fn begin_write(&self) -> sqlx::Result<Transaction<'static, Sqlite>> {
        self.check_file().map_err(|gone| {
            sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::NotFound, gone))
        })?;
        self.writer.begin_with("BEGIN IMMEDIATE").await
    }

    /// Whether the files this process writes to are still the ones at the database's path: the
    /// database itself, and (on Linux, from `/proc/self/fd`) its `-wal` and `-shm`, whose loss
    /// would lose every commit since the last checkpoint.
    pub fn check_file(&self) -> Result<(), String> {
        let path = &self.file.path;
        match std::fs::metadata(path) {
            Ok(meta) if (meta.dev(), meta.ino()) == self.file.identity => {}
            Ok(_) => {
                return Err(format!(
                    "the database file {} was replaced while open: restart mini-crm",
                    path.display()
                ))
            }
            Err(err) => {
                return Err(format!(
                    "the database file {} is gone ({err}): restore it or restart mini-crm",
                    path.display()
                ))
            }
        }
        match self.file.deleted_open_file() {
            Some(file) => Err(format!(
                "{file} was deleted while open: what was written since the last checkpoint is \
                 lost at the next start; back up now (mini-crm backup), then restart mini-crm"
            )),
            None => Ok(()),
        }
    }

    /// The free and total bytes of the file system that holds the database, if it can be read.
    pub fn disk_space(&self) -> Option<DiskSpace> {
        let dir = self
            .file
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty());
        let stats = rustix::fs::statvfs(dir.unwrap_or(Path::new("."))).ok()?;
        Some(DiskSpace {
            free: stats.f_bavail * stats.f_frsize,
            total: stats.f_blocks * stats.f_frsize,
        })
    }

    /// `mini-crm db check`: opens the database read-only (never creating it), runs SQLite's
    /// `quick_check` and compares the applied migrations with this binary's.
    pub async fn check(database_url: &str) -> anyhow::Result<DbCheck> {
        let options = SqliteConnectOptions::from_str(database_url)
            .with_context(|| format!("DATABASE_URL={database_url:?} is not a SQLite URL"))?
            .create_if_missing(false)
            .read_only(true)
            .busy_timeout(Duration::from_secs(5));
        let started = std::time::Instant::now();
        let mut conn = sqlx::ConnectOptions::connect(&options)
            .await
            .with_context(|| format!("cannot open the database {database_url}"))?;
        let quick_check: String = sqlx::query_scalar("PRAGMA quick_check")
            .fetch_one(&mut conn)
            .await
            .context("quick_check failed")?;
        let applied: i64 =
            sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(&mut conn)
                .await
                .context("the migrations table is missing")?;
        let leads: i64 = sqlx::query_scalar("SELECT count(*) FROM leads")
            .fetch_one(&mut conn)
            .await?;
        Ok(DbCheck {
            quick_check,
            applied_migrations: applied,
            known_migrations: MIGRATOR.iter().count() as i64,
            leads,
            millis: started.elapsed().as_millis(),
        })
    }
}
