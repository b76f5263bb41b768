//! The database: an embedded SQLite file in WAL mode with one writer connection (SQLite allows a
//! single writer; queuing in the pool beats `SQLITE_BUSY` retries) and a pool of readers.

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use std::str::FromStr;
use std::time::Duration;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

#[derive(Clone, Debug)]
pub struct Db {
    /// One connection: every write goes through it, `BEGIN IMMEDIATE` semantics by construction.
    pub writer: SqlitePool,
    /// Read-only connections for pages, reports and the API.
    pub reader: SqlitePool,
    /// The session store's own connections, so a page's session lookup never waits behind the
    /// writer's queue (SQLite's busy timeout orders its rare writes).
    pub sessions: SqlitePool,
}

impl Db {
    /// Opens (creating the file and its directory if needed) and migrates the database.
    pub async fn connect(database_url: &str) -> anyhow::Result<Self> {
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
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .with_context(|| format!("cannot open the database {database_url}"))?;
        MIGRATOR
            .run(&writer)
            .await
            .context("cannot migrate the database")?;
        let sessions = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone())
            .await
            .with_context(|| format!("cannot open session connections to {database_url}"))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.read_only(true))
            .await
            .with_context(|| format!("cannot open read connections to {database_url}"))?;
        Ok(Self {
            writer,
            reader,
            sessions,
        })
    }

    /// Drops every table and migrates again: `mini-crm migrate --fresh`.
    pub async fn reset(&self) -> anyhow::Result<()> {
        let mut conn = self.writer.acquire().await?;
        sqlx::query("PRAGMA foreign_keys = OFF")
            .execute(&mut *conn)
            .await?;
        // Virtual tables first: dropping one drops its shadow tables, hence `IF EXISTS` after.
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
             ORDER BY sql LIKE 'CREATE VIRTUAL TABLE%' DESC",
        )
        .fetch_all(&mut *conn)
        .await?;
        for table in tables {
            sqlx::query(&format!("DROP TABLE IF EXISTS \"{table}\""))
                .execute(&mut *conn)
                .await?;
        }
        sqlx::query("PRAGMA foreign_keys = ON")
            .execute(&mut *conn)
            .await?;
        drop(conn);
        MIGRATOR
            .run(&self.writer)
            .await
            .context("cannot migrate the database")?;
        Ok(())
    }
}
