//! Logging: one line per event — instant, level, target, message, fields (provider work carries
//! `provider=whatsapp|aircall|hubspot`) — on stderr and appended to `LOG_DIR/mini-crm.log`
//! (default `storage/logs`), so `tail -n 200 storage/logs/mini-crm.log | grep -i whatsapp`
//! works. `scripts/rotate_logs.sh` moves the file aside; within a second the process notices and
//! reopens a fresh one, so lines written meanwhile land in the rotated file and none is lost.
//! Level from `RUST_LOG` (default `info,sqlx=warn,tower_sessions=error`: tower-sessions warns
//! on every junk session cookie, which anyone can send). Secrets and leads' phone numbers are never
//! logged (ids instead).

use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter};

pub const LOG_FILE: &str = "mini-crm.log";

/// The log filter without `RUST_LOG`.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,tower_sessions=error";

/// `to_file`: also append to the log file (every command but those that only look from outside,
/// `health` and `dev`, which may run anywhere and as anyone).
pub fn init(to_file: bool) {
    let filter =
        || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let stderr = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let dir = PathBuf::from(std::env::var("LOG_DIR").unwrap_or_else(|_| "storage/logs".into()));
    let file = match to_file.then(|| LogFile::open(&dir)) {
        None => None,
        Some(Ok(file)) => Some(fmt::layer().with_ansi(false).with_writer(file)),
        Some(Err(err)) => {
            eprintln!(
                "mini-crm: logging to stderr only, cannot write {}: {err}",
                dir.join(LOG_FILE).display()
            );
            None
        }
    };
    // A second init (tests) is harmless: the first subscriber stays.
    let _ = tracing_subscriber::registry()
        .with(filter())
        .with(stderr)
        .with(file)
        .try_init();
}

/// `LOG_DIR/mini-crm.log`, appended to, reopened when it is moved away or deleted.
#[derive(Clone)]
pub struct LogFile {
    file: Arc<Mutex<File>>,
}

impl LogFile {
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(LOG_FILE);
        let log = Self {
            file: Arc::new(Mutex::new(append(&path)?)),
        };
        let watched = log.clone();
        std::thread::Builder::new()
            .name("log-reopen".into())
            .spawn(move || watched.reopen_when_moved(&path))?;
        Ok(log)
    }

    /// Checks every second whether the path still names the open file; if not (rotated or
    /// deleted), opens a fresh one there.
    fn reopen_when_moved(&self, path: &Path) {
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let moved = match (
                std::fs::metadata(path),
                self.file.lock().map(|f| f.metadata()),
            ) {
                (Ok(on_disk), Ok(Ok(open))) => !same_file(&on_disk, &open),
                _ => true,
            };
            if moved {
                if let (Ok(fresh), Ok(mut file)) = (append(path), self.file.lock()) {
                    *file = fresh;
                }
            }
        }
    }
}

fn append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.len() == b.len()
}

/// One event's line, written whole under the lock.
pub struct LogLine<'a>(std::sync::MutexGuard<'a, File>);

impl Write for LogLine<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl<'a> MakeWriter<'a> for LogFile {
    type Writer = LogLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LogLine(
            self.file
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }
}
