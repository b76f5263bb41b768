//! Faults against the real binary: a full disk, a database locked by another process, storage
//! that cannot be written or disappears, commits that stall or that SQLite rolls back. For every delivery: 2xx ⇒ the row is
//! there after a restart; anything else ⇒ the provider delivers it again. The real file-system
//! faults need a `tmpfs` of our own, so root (CI runs as root); elsewhere they fail unless
//! `MINI_CRM_SKIP_TMPFS_TESTS=1` says to skip them.

use super::binary::{
    deliver, health, log_lines, select, stored_keys, whatsapp_delivery, Delivery, Server, PASSWORD,
};
use super::helpers::TestApp;
use super::webhooks::{post_whatsapp, providers_app};
use app::backend::store::jobs;
use app::backend::worker;
use app::domain::{Queue, Timestamp};
use axum::http::StatusCode;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A small `tmpfs` mounted on a temporary directory, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` when this process may not mount (not root) and `MINI_CRM_SKIP_TMPFS_TESTS` is set:
    /// the caller skips. Without it such a run fails, so a green suite never means "not tried".
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let options = format!("size={size},mode=0777");
        let mounted = privileged(
            &["mount", "-t", "tmpfs", "-o", &options, "tmpfs"],
            dir.path(),
        );
        if mounted {
            return Some(Self { dir });
        }
        assert!(
            std::env::var_os("MINI_CRM_SKIP_TMPFS_TESTS").is_some(),
            "cannot mount a tmpfs (needs root or passwordless sudo, as CI has): run as root, or \
             set MINI_CRM_SKIP_TMPFS_TESTS=1 to skip the real disk-full tests"
        );
        eprintln!("skipped: MINI_CRM_SKIP_TMPFS_TESTS is set and a tmpfs cannot be mounted");
        None
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `mount -o remount,<options>`: `ro` (refused while a file is open for writing), `size=64m`.
    fn remount(&self, options: &str) {
        let options = format!("remount,{options}");
        assert!(
            privileged(&["mount", "-o", &options], self.path()),
            "{options}"
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        privileged(&["umount", "-l"], self.path());
    }
}

/// Runs `command path` as this user, else through `sudo -n` (CI runners that are not root have
/// it); whether it succeeded.
fn privileged(command: &[&str], path: &Path) -> bool {
    let run = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .arg(path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    run(command[0], &command[1..]) || run("sudo", &[&["-n"], command].concat())
}

/// Whether `response` is the Spanish 503 of a database that cannot take the change; anything
/// else than that or a success fails the test.
async fn refused_as_unavailable(response: reqwest::Response) -> bool {
    match response.status().as_u16() {
        503 => {
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["error"], "unavailable", "{body}");
            true
        }
        200 => false,
        other => panic!("{other}: {}", response.text().await.unwrap()),
    }
}

/// Bytes free for this user on the file system of `path` (`df`).
fn free_bytes(path: &Path) -> usize {
    let df = Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8(df.stdout).unwrap();
    text.lines().nth(1).unwrap().trim().parse().unwrap()
}

/// Writes zeros to `path` until the file system has no byte left.
fn fill_up(path: &Path) {
    use std::io::Write;
    let mut file = std::fs::File::create(path).unwrap();
    while file.write_all(&[0u8; 512]).is_ok() {}
    let _ = file.sync_all();
}

/// A new lead, as the lead form sends it.
const LEAD_FORM: [(&str, &str); 4] = [
    ("name", "Lucía Gómez"),
    ("phone", "612 345 678"),
    ("email", ""),
    ("source", "meta"),
];

const SIGN_IN: [(&str, &str); 2] = [("email", "ana@clinica.example"), ("password", PASSWORD)];

/// Waits until `/healthz` answers as `wanted` (its status code and `status`) says, or panics
/// after `limit` with what it answers instead.
async fn wait_for_health(
    client: &reqwest::Client,
    base: &str,
    wanted: impl Fn(u16, &str) -> bool,
    limit: Duration,
) {
    let started = Instant::now();
    loop {
        let (code, status) = health(client, base).await;
        if wanted(code, &status) {
            return;
        }
        if started.elapsed() > limit {
            let body = client.get(format!("{base}/healthz")).send().await.unwrap();
            panic!(
                "/healthz still {code} {status:?} after {limit:?}: {}",
                body.text().await.unwrap()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every refusal is a 503 with `Retry-After`, or a connection closed before the body was read
/// (shed under load): either way the provider retries. Never a 2xx for a row that is not there:
/// the core promise, checked after a restart.
async fn assert_acknowledged_means_stored(server: &mut Server, sent: &[Delivery]) {
    for refused in sent
        .iter()
        .filter(|d| !d.acknowledged() && d.status.is_some())
    {
        assert_eq!(
            refused.status,
            Some(503),
            "a refusal the provider retries: {refused:?}"
        );
        assert!(
            refused.retry_after.is_some(),
            "503 with Retry-After: {refused:?}"
        );
    }
    // Bounded (each probe and the whole wait), and a failure says what the server logged.
    server.restart().await;
    let stored = tokio::time::timeout(Duration::from_secs(30), stored_keys(&server.database))
        .await
        .expect("the stored keys are read within 30 s");
    let lost = sent
        .iter()
        .filter(|d| d.acknowledged() && !stored.contains(&d.key))
        .count();
    let acknowledged = sent.iter().filter(|d| d.acknowledged()).count();
    assert_eq!(
        lost, 0,
        "{lost} of {acknowledged} acknowledged deliveries are not stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_acknowledges_nothing_it_did_not_store_and_recovers_by_itself() {
    let Some(disk) = Tmpfs::mount("4m") else {
        return;
    };
    let logs = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/db.sqlite", disk.path().display());
    let client = reqwest::Client::new();
    let mut server = Server::spawn(&database, logs.path());
    server.wait_until_up().await;
    let cookie = server.signed_in(&client, "ana@clinica.example").await;

    // Nearly full (under 5 % free): degraded, while deliveries are still stored.
    let ballast = disk.path().join("ballast");
    std::fs::write(&ballast, vec![0u8; free_bytes(disk.path()) - 150 * 1024]).unwrap();
    assert_eq!(
        health(&client, &server.base).await,
        (200, "degraded".into())
    );
    let mut sent = vec![deliver(&client, &server.base, &whatsapp_delivery(0, 700)).await];
    assert!(sent[0].acknowledged(), "still stored while nearly full");
    std::fs::remove_file(&ballast).unwrap();

    // ~1 KB deliveries until the disk has refused 300 of them.
    let mut n = 0;
    while sent
        .iter()
        .filter(|d: &&Delivery| !d.acknowledged())
        .count()
        < 300
    {
        n += 1;
        assert!(n < 20_000, "the disk never filled");
        sent.push(deliver(&client, &server.base, &whatsapp_delivery(n, 700)).await);
    }
    // The last few kilobytes a small write could still get, gone too: nothing fits now.
    fill_up(&disk.path().join("last-bytes"));
    let (code, status) = health(&client, &server.base).await;
    if (code, status.as_str()) != (503, "down") {
        // A probe found room the write-ahead log already had and writes commit again: a delivery
        // is then stored (never "ok" while intake refuses).
        n += 1;
        let delivery = deliver(&client, &server.base, &whatsapp_delivery(n, 0)).await;
        assert!(
            delivery.acknowledged(),
            "/healthz {code} {status} while refusing"
        );
        sent.push(delivery);
    }
    assert!(server.is_running(), "no panic on a full disk");

    // A staff change and a sign-in: each refused with the Spanish 503 and nothing written, or
    // really stored, when SQLite reuses room its write-ahead log already has (a small write can,
    // on a full disk). The lock test sees the refusal every time.
    let leads = select::<i64>(&database, "SELECT COUNT(*) FROM leads").await;
    let change = server
        .post_form(&client, "/sfn/save_lead", &LEAD_FORM, Some(&cookie))
        .await;
    let stored = !refused_as_unavailable(change).await;
    assert_eq!(
        select::<i64>(&database, "SELECT COUNT(*) FROM leads").await,
        leads + i64::from(stored)
    );
    let login = server
        .post_form(&client, "/sfn/login", &SIGN_IN, None)
        .await;
    refused_as_unavailable(login).await;

    // Space returns (the volume grows): intake resumes without a restart.
    disk.remount("size=64m");
    let ok = |_: u16, status: &str| status == "ok";
    wait_for_health(&client, &server.base, ok, Duration::from_secs(15)).await;
    for _ in 0..50 {
        n += 1;
        let delivery = deliver(&client, &server.base, &whatsapp_delivery(n, 700)).await;
        assert!(
            delivery.acknowledged(),
            "stored once space returned: {delivery:?}"
        );
        sent.push(delivery);
    }
    let mut another = LEAD_FORM;
    another[1].1 = "612 345 679";
    let change = server
        .post_form(&client, "/sfn/save_lead", &another, Some(&cookie))
        .await;
    assert_eq!(
        change.status().as_u16(),
        200,
        "the staff change once space returned"
    );
    let login = server
        .post_form(&client, "/sfn/login", &SIGN_IN, None)
        .await;
    assert_eq!(
        login.status().as_u16(),
        200,
        "a sign-in once space returned"
    );
    let session = super::binary::session_cookie(&login);
    let acknowledged = sent.iter().filter(|d| d.acknowledged()).count();
    eprintln!(
        "disk full: {} sent, {acknowledged} acknowledged, {} refused with 503",
        sent.len(),
        sent.len() - acknowledged
    );
    assert_acknowledged_means_stored(&mut server, &sent).await;
    let me = client
        .get(format!("{}/api/me", server.base))
        .header("cookie", session)
        .send()
        .await
        .unwrap();
    assert_eq!(
        me.status().as_u16(),
        200,
        "the session stored after the fault survives a restart"
    );
    // Once per state change, not once per refused delivery.
    let said = log_lines(logs.path(), "cannot commit");
    assert!(
        (1..=6).contains(&said),
        "{said} log lines about the failing commits"
    );
}

/// The writer's `max_page_count` lowered to what the file has (SQLite will not go below): SQLite answers "database or disk is
/// full" as a full disk would, on any machine, through the real router.
async fn fill_database(app: &TestApp) {
    sqlx::query("PRAGMA max_page_count = 1")
        .execute(&app.state.db.writer)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_full_database_holds_the_queue_without_spending_attempts() {
    let app = providers_app().await;
    let database = app.state.config.database_url.clone();
    // Its processing stores a 20 KB message: pages the full file cannot get.
    let before = post_whatsapp(&app, &whatsapp_delivery(1, 20_000)).await;
    assert_eq!(before.status, StatusCode::OK, "{}", before.body);
    fill_database(&app).await;

    // The worker claims the job; the database refuses its writes and a probe: nothing is
    // written, the job stays the worker's, and the worker claims nothing while writes fail.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(worker::work(
        app.state.jobs(),
        vec![Queue::Inbound],
        "w".into(),
        stopped,
        Default::default(),
    ));
    let job = "SELECT status || ' ' || attempts FROM jobs WHERE kind = 'process_webhook'
               ORDER BY id LIMIT 1";
    let job_state = || async { select::<String>(&database, job).await };
    let started = Instant::now();
    while job_state().await != "running 1" {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the worker took the job"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Large enough to need new pages, which the file may not grow to have.
    let refused = post_whatsapp(&app, &whatsapp_delivery(2, 20_000)).await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.body
    );
    assert_eq!(refused.header("retry-after"), Some("30"));
    let health = app.health_details().await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health.json()["status"], "down");
    assert_eq!(health.json()["database"]["writable"], false);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        job_state().await,
        "running 1",
        "nothing written while writes fail"
    );
    let messages = "SELECT COUNT(*) FROM messages";
    assert_eq!(select::<i64>(&database, messages).await, 0);

    // Room again: intake stores, the worker probes its way back, hands the job back and runs it.
    sqlx::query("PRAGMA max_page_count = 1073741823")
        .execute(&app.state.db.writer)
        .await
        .unwrap();
    let again = post_whatsapp(&app, &whatsapp_delivery(2, 20_000)).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
    let started = Instant::now();
    while select::<i64>(&database, messages).await < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the queue resumed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.send(true).unwrap();
    worker.await.unwrap();
    assert_eq!(
        job_state().await,
        "done 1",
        "handed back with its attempt not counted, then run once"
    );
}

/// Another process's long write transaction, as an operator's `sqlite3` shell would hold it.
async fn hold_write_lock(database: &str) -> sqlx::SqliteConnection {
    use sqlx::{ConnectOptions, Executor};
    use std::str::FromStr;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::from_str(database)
        .unwrap()
        .connect()
        .await
        .unwrap();
    conn.execute("BEGIN IMMEDIATE").await.unwrap();
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_locked_by_another_process_refuses_in_time_and_loses_nothing() {
    let client = reqwest::Client::new();
    let (_dir, mut server) = Server::start_fresh().await;
    let database = server.database.clone();
    let cookie = server.signed_in(&client, "ana@clinica.example").await;

    let mut lock = hold_write_lock(&database).await;
    let held = Instant::now();
    // Four senders for 8 s against the lock.
    let mut senders = Vec::new();
    for sender in 0..4 {
        let (client, base) = (client.clone(), server.base.clone());
        senders.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            for i in 0.. {
                if held.elapsed() > Duration::from_secs(8) {
                    break;
                }
                let body = whatsapp_delivery(sender * 1_000 + i, 0);
                sent.push(deliver(&client, &base, &body).await);
            }
            sent
        }));
    }
    let change = server
        .post_form(&client, "/sfn/save_lead", &LEAD_FORM, Some(&cookie))
        .await;
    assert_eq!(
        change.status().as_u16(),
        503,
        "a staff change waits, then is refused"
    );
    assert!(refused_as_unavailable(change).await);
    let login = server
        .post_form(&client, "/sfn/login", &SIGN_IN, None)
        .await;
    assert!(refused_as_unavailable(login).await, "a sign-in too");
    let mut sent = Vec::new();
    for sender in senders {
        sent.extend(sender.await.unwrap());
    }
    assert!(
        sent.iter().all(|d| !d.acknowledged()),
        "nothing commits under the lock"
    );
    let slowest = sent.iter().map(|d| d.elapsed).max().unwrap();
    assert!(
        slowest < Duration::from_secs(5),
        "every answer within Aircall's 5 s delivery timeout: {slowest:?}"
    );
    assert_eq!(health(&client, &server.base).await.1, "down");

    // The lock ends: intake commits again at once.
    sqlx::Executor::execute(&mut lock, "ROLLBACK")
        .await
        .unwrap();
    drop(lock);
    let mut n = 10_000;
    let started = Instant::now();
    loop {
        n += 1;
        let delivery = deliver(&client, &server.base, &whatsapp_delivery(n, 0)).await;
        let stored = delivery.acknowledged();
        sent.push(delivery);
        if stored {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "intake resumed"
        );
    }
    // 200: `ok`, or `degraded` where the machine's own disk is low (not this test's business).
    let writable = |code: u16, _: &str| code == 200;
    wait_for_health(&client, &server.base, writable, Duration::from_secs(5)).await;
    eprintln!(
        "locked for 8 s: {} deliveries refused with 503, slowest answer {slowest:?}",
        sent.len() - 1
    );
    assert_acknowledged_means_stored(&mut server, &sent).await;
}

/// Starts `serve` on `database` and expects it to stop with an error; returns what it said.
fn refused_start(database: &str, logs: &Path) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mini-crm"))
        .arg("serve")
        .env("DATABASE_URL", database)
        .env("LOG_DIR", logs)
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("serve started on unwritable storage");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut said = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut said).unwrap();
    assert!(!status.success(), "a failed start exits non-zero: {said}");
    assert!(!said.contains("panicked"), "an error, not a panic: {said}");
    said
}

/// `chattr +i`: a file nobody may write, root included; undone when dropped.
struct Immutable(PathBuf);

impl Immutable {
    fn set(path: &Path) -> Option<Self> {
        if privileged(&["chattr", "+i"], path) {
            return Some(Self(path.to_path_buf()));
        }
        assert!(
            std::env::var_os("MINI_CRM_SKIP_TMPFS_TESTS").is_some(),
            "cannot make a file immutable (chattr +i needs root or sudo, and ext4, as in CI)"
        );
        None
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        privileged(&["chattr", "-i"], &self.0);
    }
}

#[tokio::test]
async fn storage_that_cannot_be_written_stops_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::write(dir.path().join("file"), "").unwrap();
    let under_a_file = format!("sqlite://{}/file/storage/db.sqlite", dir.path().display());
    let said = refused_start(&under_a_file, &logs);
    assert!(
        said.contains("cannot create the database directory"),
        "{said}"
    );

    // A migrated database whose file may not be written: SQLite would open it read-only.
    let file = dir.path().join("db.sqlite");
    let database = format!("sqlite://{}", file.display());
    drop(app::backend::db::Db::connect(&database).await.unwrap());
    if let Some(_immutable) = Immutable::set(&file) {
        let said = refused_start(&database, &logs);
        assert!(said.contains("can only be read by this process"), "{said}");
    }

    let Some(disk) = Tmpfs::mount("1m") else {
        return;
    };
    disk.remount("ro");
    let read_only = format!("sqlite://{}/db.sqlite", disk.path().display());
    let said = refused_start(&read_only, &logs);
    assert!(said.contains("is its directory read-only"), "{said}");
    assert!(said.contains("Read-only file system"), "{said}");
}

/// Serves from `storage/database.sqlite` as installed (`DATABASE_URL` relative to the release
/// directory, `storage` a symbolic link to the shared storage, as `scripts/deploy.sh` lays it
/// out), stores a delivery, lets `delete` remove files of the real storage, then expects nothing
/// more to be acknowledged: SQLite would go on writing to the unlinked files, and every such 2xx
/// would be a delivery lost at the next start.
async fn acknowledges_nothing_after_deleting(delete: impl FnOnce(&Path)) {
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared/storage");
    let release = dir.path().join("current");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::create_dir_all(&release).unwrap();
    std::os::unix::fs::symlink(&shared, release.join("storage")).unwrap();
    let database = "sqlite://storage/database.sqlite";
    let client = reqwest::Client::new();
    let mut server = Server::spawn_in(&release, database, &dir.path().join("logs"));
    server.wait_until_up().await;
    let first = deliver(&client, &server.base, &whatsapp_delivery(1, 0)).await;
    assert!(first.acknowledged());

    delete(&shared);
    // Open files are looked up at most every 250 ms (the database's own path at every commit).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (code, status) = health(&client, &server.base).await;
    assert_eq!((code, status.as_str()), (503, "down"));
    for n in 2..20 {
        let delivery = deliver(&client, &server.base, &whatsapp_delivery(n, 0)).await;
        assert_eq!(delivery.status, Some(503), "{delivery:?}");
    }
    assert!(server.is_running(), "no panic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_deleted_while_serving_acknowledges_nothing_more() {
    acknowledges_nothing_after_deleting(|storage| std::fs::remove_dir_all(storage).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_ahead_log_deleted_while_serving_acknowledges_nothing_more() {
    acknowledges_nothing_after_deleting(|storage| {
        std::fs::remove_file(storage.join("database.sqlite-wal")).unwrap()
    })
    .await;
}

/// The server's peak resident memory (`VmHWM`), in MiB.
fn peak_memory_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kib / 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_commits_keep_intake_bounded_and_refusing_at_once() {
    let client = reqwest::Client::new();
    let (_dir, mut server) = Server::start_fresh().await;
    let database = server.database.clone();
    let before = peak_memory_mib(server.child.id());

    // Nothing commits (a lock stands in for a disk that stalls every fsync) while 800 deliveries
    // of 512 KB (400 MB) arrive at once. The bounds: 128 being read per provider, 64 MiB waiting.
    let lock = hold_write_lock(&database).await;
    let mut senders = Vec::new();
    for n in 0..800 {
        let (client, base) = (client.clone(), server.base.clone());
        senders.push(tokio::spawn(async move {
            deliver(&client, &base, &whatsapp_delivery(n, 512 * 1024)).await
        }));
    }
    let mut sent = Vec::new();
    for sender in senders {
        sent.push(sender.await.unwrap());
    }
    drop(lock);
    let peak = peak_memory_mib(server.child.id());
    let at_once = sent
        .iter()
        .filter(|d| !d.acknowledged() && d.elapsed < Duration::from_secs(2))
        .count();
    let slowest = sent.iter().map(|d| d.elapsed).max().unwrap();
    eprintln!(
        "stalled: 800 × 512 KB sent, {at_once} refused at once, slowest answer {slowest:?}, \
         peak memory {before} → {peak} MiB"
    );
    assert!(
        sent.iter().all(|d| !d.acknowledged()),
        "nothing commits under the stall"
    );
    assert!(
        at_once >= 100,
        "beyond the bounds intake refuses at once: {at_once}"
    );
    assert!(
        peak < before + 300,
        "memory stays bounded: {before} → {peak} MiB"
    );
    assert!(server.is_running());
    assert_acknowledged_means_stored(&mut server, &sent).await;
}

#[tokio::test]
async fn a_backup_that_would_not_fit_is_refused_before_writing_a_byte() {
    let Some(small) = Tmpfs::mount("1m") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/db.sqlite", dir.path().display());
    let db = app::backend::db::Db::connect(&database).await.unwrap();
    sqlx::query("CREATE TABLE ballast (x BLOB)")
        .execute(&db.writer)
        .await
        .unwrap();
    sqlx::query("INSERT INTO ballast VALUES (randomblob(2000000))")
        .execute(&db.writer)
        .await
        .unwrap();
    drop(db);
    let backup = Command::new(env!("CARGO_BIN_EXE_mini-crm"))
        .args(["backup", "--out"])
        .arg(small.path())
        .env("DATABASE_URL", &database)
        .env("LOG_DIR", dir.path().join("logs"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&backup.stderr);
    assert!(!backup.status.success());
    assert!(said.contains("not enough free space"), "{said}");
    assert!(said.contains("it needs 3 MiB, 1 MiB are free"), "{said}");
    let left = std::fs::read_dir(small.path()).unwrap().count();
    assert_eq!(left, 0, "nothing written to the full target");
}

/// SQLite turns the writer's next COMMIT into a rollback, as it does by itself when the disk
/// fills at commit time: the path of the lost deliveries (sqlx's own ROLLBACK then fails, and
/// it counted the connection as inside a transaction for good).
async fn refuse_next_commit(app: &TestApp) {
    let mut conn = app.state.db.writer.acquire().await.unwrap();
    let refused_once = Arc::new(AtomicBool::new(false));
    conn.lock_handle()
        .await
        .unwrap()
        .set_commit_hook(move || refused_once.swap(true, Ordering::SeqCst));
}

#[tokio::test]
async fn a_commit_that_sqlite_rolls_back_leaves_nothing_behind() {
    let app = providers_app().await;
    let database = app.state.config.database_url.clone();
    let stored = "SELECT COUNT(*) FROM webhook_events";
    let first = post_whatsapp(&app, &whatsapp_delivery(1, 0)).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);

    // A claim outside a transaction commits when its statement ends: that error must surface,
    // not a job that was never claimed.
    refuse_next_commit(&app).await;
    let claim = jobs::claim(
        &app.state.db.writer,
        &[Queue::Inbound],
        "w",
        Timestamp::now(),
    )
    .await;
    assert!(claim.is_err(), "{claim:?}");
    let pending = "SELECT COUNT(*) FROM jobs WHERE status = 'pending'";
    assert_eq!(select::<i64>(&database, pending).await, 1);

    // A group whose commit is refused is a 503; the next one is stored for real.
    refuse_next_commit(&app).await;
    let refused = post_whatsapp(&app, &whatsapp_delivery(2, 0)).await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.body
    );
    let next = post_whatsapp(&app, &whatsapp_delivery(3, 0)).await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.body);
    assert_eq!(
        select::<i64>(&database, stored).await,
        2,
        "the delivery acknowledged after the refused commit is in the file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_that_hangs_turns_healthz_down_until_it_returns() {
    let app = providers_app().await;
    // A disk that stalls every fsync: the commit neither succeeds nor fails for 12 s.
    {
        let mut conn = app.state.db.writer.acquire().await.unwrap();
        let stalled_once = Arc::new(AtomicBool::new(false));
        conn.lock_handle().await.unwrap().set_commit_hook(move || {
            if !stalled_once.swap(true, Ordering::SeqCst) {
                std::thread::sleep(Duration::from_secs(12));
            }
            true
        });
    }
    let delivery = whatsapp_delivery(1, 0);
    let answer = post_whatsapp(&app, &delivery).await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "no answer within 4 s is a 503"
    );
    let started = Instant::now();
    loop {
        let health = app.health_details().await;
        if health.status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(health.json()["database"]["writable"], false);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(9),
            "/healthz went down"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The commit returns: the delivery was stored after all, and its redelivery is a duplicate.
    loop {
        let health = app.get("/healthz", None).await;
        if health.status == StatusCode::OK {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "/healthz came back"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let again = post_whatsapp(&app, &delivery).await;
    assert_eq!(again.json()["status"], "duplicate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_trickles_is_cut_off_with_a_503() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_dir, server) = Server::start_fresh().await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut from_server, mut to_server) = slow.into_split();
    let head = format!(
        "POST /webhooks/whatsapp HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 1000\r\n\
         x-hub-signature-256: sha256=00\r\n\r\n"
    );
    to_server.write_all(head.as_bytes()).await.unwrap();
    // One byte every 2 s: never idle long, never done.
    let trickle = tokio::spawn(async move {
        for _ in 0..1000 {
            if to_server.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
    let started = Instant::now();
    let mut answer = [0u8; 12];
    let read =
        tokio::time::timeout(Duration::from_secs(20), from_server.read_exact(&mut answer)).await;
    trickle.abort();
    assert!(read.is_ok(), "the server ends a body that takes for ever");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(9),
        "after the body deadline: {waited:?}"
    );
    assert_eq!(
        String::from_utf8_lossy(&answer),
        "HTTP/1.1 503",
        "a 503, which every provider retries"
    );
}

/// The session store is the database: a sign-in whose session cannot be saved (here its table
/// is gone) is the Spanish 503 of any refused change, not the session layer's bare 500.
#[tokio::test]
async fn a_sign_in_whose_session_cannot_be_saved_is_a_spanish_503() {
    let app = providers_app().await;
    app.create_user("ana@clinica.example", app::domain::Role::Staff)
        .await;
    sqlx::query("DROP TABLE sessions")
        .execute(&app.state.db.writer)
        .await
        .unwrap();
    let login = app
        .login("ana@clinica.example", super::helpers::PASSWORD)
        .await;
    assert_eq!(
        login.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        login.body
    );
    assert_eq!(login.json()["error"], "unavailable");
    assert_eq!(login.session_cookie(), None);
}
