//! `scripts/deploy.sh` into a temporary directory, with the restart step pointed at a stub and
//! the health check at a server the test controls: it installs, migrates, switches `current`,
//! and rolls back when the new release is down (not when it is merely degraded).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

const OK: u8 = 0;
const DEGRADED: u8 = 1;
const DOWN: u8 = 2;

async fn health(State(mode): State<Arc<AtomicU8>>) -> (StatusCode, Json<serde_json::Value>) {
    let queues = json!({ "inbound": { "pending": 0, "failed": 0, "oldest_pending_seconds": null, "held": null } });
    match mode.load(Ordering::SeqCst) {
        OK => (
            StatusCode::OK,
            Json(
                json!({ "status": "ok", "version": "t", "database": { "ok": true, "latency_ms": 1 }, "queues": queues, "breakers": {} }),
            ),
        ),
        DEGRADED => (
            StatusCode::OK,
            Json(
                json!({ "status": "degraded", "version": "t", "database": { "ok": true, "latency_ms": 1 }, "queues": queues, "breakers": { "aircall": { "state": "open" } } }),
            ),
        ),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "down", "database": { "ok": false } })),
        ),
    }
}

fn deploy(root: &Path, site: &Path, health_url: &str, extra: &[&str]) -> (i32, String) {
    let out = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/deploy.sh"))
        .arg(root)
        .args(["--bin", env!("CARGO_BIN_EXE_mini-crm")])
        .arg("--site")
        .arg(site)
        .arg("--restart-cmd")
        .arg(format!("echo restarted >> {}/restarts", root.display()))
        .args(["--health-url", health_url, "--health-timeout", "2"])
        .arg("--link-dir")
        .arg(root.join("bin"))
        // Tests run as root on machines without a `mini-crm` user.
        .args(["--service-user", "root"])
        .args(extra)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn current(root: &Path) -> String {
    std::fs::read_link(root.join("current"))
        .unwrap()
        .display()
        .to_string()
}

fn restarts(root: &Path) -> usize {
    std::fs::read_to_string(root.join("restarts"))
        .unwrap_or_default()
        .lines()
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_installs_migrates_switches_and_rolls_back_when_down() {
    let mode = Arc::new(AtomicU8::new(OK));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/healthz", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/healthz", axum::routing::get(health))
        .with_state(mode.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let root = tempfile::tempdir().unwrap();
    let site = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(site.path().join("pkg")).unwrap();
    std::fs::write(site.path().join("pkg/mini-crm.css"), "body{}").unwrap();
    let root = root.path();

    // First release: installed, migrated, live; the Laravel form's trailing `php` is harmless.
    let (code, out) = tokio::task::block_in_place(|| deploy(root, site.path(), &url, &["php"]));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("the trailing 'php' of the Laravel deploy is not needed"),
        "{out}"
    );
    let first = current(root);
    assert!(first.starts_with("releases/"), "{first}");
    for file in [
        "mini-crm",
        "site/pkg/mini-crm.css",
        "scripts/health_check.sh",
        "scripts/lib/mini-crm-bin.sh",
        "deploy/mini-crm.service",
    ] {
        assert!(root.join(&first).join(file).exists(), "{file} installed");
    }
    // `mini-crm` on the PATH is the live release's, whichever that is.
    let link = root.join("bin/mini-crm");
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        root.canonicalize().unwrap().join("current/mini-crm")
    );
    let version = Command::new(&link).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("mini-crm "));
    let database = root.join("shared/storage/database.sqlite");
    let check = app::backend::db::Db::check(&format!("sqlite://{}", database.display()))
        .await
        .unwrap();
    assert!(check.healthy(), "migrated: {check:?}");
    assert_eq!(restarts(root), 1);

    // A release that comes up down: rolled back to the first, restarted again.
    mode.store(DOWN, Ordering::SeqCst);
    let (code, out) = tokio::task::block_in_place(|| deploy(root, site.path(), &url, &[]));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("rolled back"), "{out}");
    assert_eq!(
        current(root),
        first,
        "current points at the previous release again"
    );
    assert_eq!(restarts(root), 3, "the switch and the rollback");
    let backups = std::fs::read_dir(root.join("shared/storage/backups/pre-deploy"))
        .unwrap()
        .count();
    assert_eq!(backups, 1, "the database was backed up before migrating");

    // Degraded (a provider down) is no reason to roll back.
    mode.store(DEGRADED, Ordering::SeqCst);
    let (code, out) = tokio::task::block_in_place(|| deploy(root, site.path(), &url, &[]));
    assert_eq!(code, 0, "{out}");
    assert_ne!(current(root), first);
    assert_eq!(restarts(root), 4);
}

/// The value of `key=` in a systemd unit.
fn unit_value<'a>(unit: &'a str, key: &str) -> Option<&'a str> {
    unit.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
}

/// The units in `deploy/` fit the layout deploy.sh installs: every `ExecStart` is a file of the
/// release, run as the service's user in `current` with its `.env`; every timer starts a service
/// that ships beside it.
#[test]
fn the_units_in_deploy_run_what_a_release_holds() {
    const INSTALLED: &str = "/var/www/mini-crm/current/";
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut timers = 0;
    for entry in std::fs::read_dir(repo.join("deploy")).unwrap() {
        let path = entry.unwrap().path();
        let unit = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if let Some(service) = name.strip_suffix(".timer") {
            timers += 1;
            assert!(unit_value(&unit, "OnCalendar").is_some(), "{name}");
            assert!(
                repo.join(format!("deploy/{service}.service")).exists(),
                "{name}"
            );
            continue;
        }
        assert!(name.ends_with(".service"), "{name}");
        assert_eq!(unit_value(&unit, "User"), Some("mini-crm"), "{name}");
        assert_eq!(
            unit_value(&unit, "WorkingDirectory"),
            Some("/var/www/mini-crm/current"),
            "{name}"
        );
        // One reader of .env, the binary's (systemd's parser differs: inline comments, quotes).
        assert_eq!(unit_value(&unit, "EnvironmentFile"), None, "{name}");
        let exec = unit_value(&unit, "ExecStart").unwrap();
        let program = exec.split_whitespace().next().unwrap();
        let in_release = program
            .strip_prefix(INSTALLED)
            .unwrap_or_else(|| panic!("{name} runs {program}, outside the release"));
        // A release holds the binary as `mini-crm` and the repository's scripts.
        let file = match in_release {
            "mini-crm" => Path::new(env!("CARGO_BIN_EXE_mini-crm")).to_path_buf(),
            script => repo.join(script),
        };
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&file).unwrap().permissions(),
        );
        assert!(
            mode & 0o111 != 0,
            "{name}: {} is not executable",
            file.display()
        );
    }
    assert!(
        timers >= 2,
        "the nightly backup and the log rotation have timers"
    );
}

/// As root (how a server is deployed), everything with patients' data belongs to the service's
/// user, the release is readable by it, and a new `.env` says production.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_root_the_data_belongs_to_the_service_user_and_the_release_is_readable() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: deploying as root needs root");
        return;
    }
    let mode = Arc::new(AtomicU8::new(OK));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/healthz", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/healthz", axum::routing::get(health))
        .with_state(mode);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let root = tempfile::tempdir().unwrap();
    // `nobody` must reach the installation, as `mini-crm` reaches /var/www/mini-crm.
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let site = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(site.path().join("pkg")).unwrap();
    let root = root.path();
    let (code, out) = tokio::task::block_in_place(|| {
        deploy(root, site.path(), &url, &["--service-user", "nobody"])
    });
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("with APP_ENV=production"), "{out}");
    let nobody = std::fs::metadata(root.join("shared/storage"))
        .map(|_| ())
        .and_then(|()| {
            let out = Command::new("id").args(["-u", "nobody"]).output()?;
            Ok(String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse::<u32>()
                .unwrap())
        })
        .unwrap();
    for owned in [
        "shared/.env",
        "shared/storage",
        "shared/storage/database.sqlite",
        "shared/storage/logs",
    ] {
        let meta = std::fs::metadata(root.join(owned)).unwrap();
        assert_eq!(meta.uid(), nobody, "{owned} belongs to the service's user");
    }
    let env = std::fs::metadata(root.join("shared/.env")).unwrap();
    assert_eq!(env.mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(root.join("shared/.env"))
        .unwrap()
        .contains("APP_ENV=production"));
    let binary = std::fs::metadata(root.join("current/mini-crm")).unwrap();
    assert_eq!(
        binary.mode() & 0o005,
        0o005,
        "the release is readable and runnable by all"
    );
}

#[test]
fn root_without_the_service_user_or_a_build_is_refused_with_what_to_do() {
    if !rustix::process::geteuid().is_root() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let site = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/deploy.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg(root.path())
        .args(["--bin", env!("CARGO_BIN_EXE_mini-crm")])
        .arg("--site")
        .arg(site.path())
        .args(["--service-user", "no-such-user-mini-crm"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("there is no user no-such-user-mini-crm"),
        "{said}"
    );
    assert!(!root.path().join("shared").exists(), "nothing installed");
    let out = Command::new("bash")
        .arg(script)
        .arg(root.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("build as yourself first"));
}
