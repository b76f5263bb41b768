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
        .args(extra)
        .args(["--bin", env!("CARGO_BIN_EXE_mini-crm")])
        .arg("--site")
        .arg(site)
        .arg("--restart-cmd")
        .arg(format!("echo restarted >> {}/restarts", root.display()))
        .args(["--health-url", health_url, "--health-timeout", "2"])
        .arg("--link-dir")
        .arg(root.join("bin"))
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
        assert_eq!(
            unit_value(&unit, "EnvironmentFile"),
            Some("/var/www/mini-crm/shared/.env"),
            "{name}"
        );
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
