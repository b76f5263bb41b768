//! The CLI does no harm by accident. `mini-crm migrate --fresh` erases only the demo without
//! `--force` (and backs real data up first), never a database in use, and in production only with
//! its name typed back. A command run outside the installation's directory does not make an empty
//! database and report on it; root does not leave files the service's user cannot open.

use crate::binary::select;
use app::backend::db::Db;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output};

fn mini_crm(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mini-crm"))
        .current_dir(dir)
        .env_clear()
        .env("DATABASE_URL", "sqlite://storage/database.sqlite")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

const DATABASE: &str = "storage/database.sqlite";
const NOW: &str = "2025-01-07T10:00:00Z";

fn database_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join(DATABASE).display())
}

async fn count(dir: &Path, sql: &str) -> i64 {
    select(&database_url(dir), sql).await
}

/// A patient in the installation's database.
async fn add_patient(dir: &Path, name: &str) {
    let db = Db::connect(&database_url(dir)).await.unwrap();
    sqlx::query(
        "INSERT INTO leads (name, phone, source, created_at, updated_at)
         VALUES ($1, '+34699999999', 'meta', $2, $2)",
    )
    .bind(name)
    .bind(NOW)
    .execute(&db.writer)
    .await
    .unwrap();
}

#[tokio::test]
async fn the_demo_clinic_is_replaced_without_questions_and_a_new_database_is_made() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = mini_crm(
            dir.path(),
            &[],
            &["migrate", "--fresh", "--seed", "--now", NOW],
        );
        assert!(out.status.success(), "{}", text(&out));
        assert!(!text(&out).contains("Backup"), "{}", text(&out));
    }
    // Staff editing the demo leads is still the demo.
    let url = database_url(dir.path());
    let db = Db::connect(&url).await.unwrap();
    sqlx::query("UPDATE leads SET name = 'Probando' WHERE id = 1")
        .execute(&db.writer)
        .await
        .unwrap();
    drop(db);
    let out = mini_crm(dir.path(), &[], &["migrate", "--fresh"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(count(dir.path(), "SELECT COUNT(*) FROM leads").await, 0);
}

#[tokio::test]
async fn real_data_is_erased_only_with_force_and_after_a_backup() {
    let dir = tempfile::tempdir().unwrap();
    let seeded = mini_crm(dir.path(), &[], &["migrate", "--seed", "--now", NOW]);
    assert!(seeded.status.success(), "{}", text(&seeded));
    let demo_leads = count(dir.path(), "SELECT COUNT(*) FROM leads").await;
    // A colleague's account and a patient who wrote after the demo was loaded.
    let created = mini_crm(
        dir.path(),
        &[],
        &[
            "user",
            "create",
            "--email",
            "ana@clinica.es",
            "--name",
            "Ana",
        ],
    );
    assert!(created.status.success(), "{}", text(&created));
    add_patient(dir.path(), "Paciente real").await;

    for args in [
        &["migrate", "--fresh"][..],
        &["migrate", "--fresh", "--seed"],
        &["migrate", "--seed"],
    ] {
        let refused = mini_crm(dir.path(), &[], args);
        assert!(!refused.status.success(), "{args:?}: {}", text(&refused));
        assert_eq!(
            count(dir.path(), "SELECT COUNT(*) FROM leads").await,
            demo_leads + 1,
            "{args:?} changed nothing"
        );
    }
    let refused = text(&mini_crm(dir.path(), &[], &["migrate", "--fresh"]));
    assert!(
        refused.contains("holds data that is not the demo clinic (1 user(s), 1 lead(s))")
            && refused.contains("--force"),
        "{refused}"
    );

    let forced = mini_crm(dir.path(), &[], &["migrate", "--fresh", "--force"]);
    assert!(forced.status.success(), "{}", text(&forced));
    let said = text(&forced);
    let database = dir.path().join(DATABASE).display().to_string();
    let kept = said
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!(
                "The database {database} was set aside (it held 1 user(s), 1 lead(s)): it is kept as "
            ))
        })
        .unwrap_or_else(|| panic!("says which database, what it held and where it is: {said}"));
    assert!(
        kept.starts_with(&format!("{database}.before-fresh-")),
        "{kept}"
    );
    assert_eq!(count(dir.path(), "SELECT COUNT(*) FROM leads").await, 0);
    let rescued: i64 = select(
        &format!("sqlite://{kept}"),
        "SELECT COUNT(*) FROM leads WHERE name = 'Paciente real'",
    )
    .await;
    assert_eq!(
        rescued, 1,
        "the file set aside holds what was there, WAL folded in"
    );
}

#[tokio::test]
async fn the_demo_is_loaded_only_into_an_empty_database_and_never_in_production() {
    let dir = tempfile::tempdir().unwrap();
    let out = mini_crm(dir.path(), &[], &["migrate"]);
    assert!(out.status.success(), "{}", text(&out));
    // A new installation: a colleague's account, no patient yet.
    let created = mini_crm(
        dir.path(),
        &[],
        &[
            "user",
            "create",
            "--email",
            "ana@clinica.es",
            "--name",
            "Ana",
        ],
    );
    assert!(created.status.success(), "{}", text(&created));
    let refused = mini_crm(dir.path(), &[], &["migrate", "--seed", "--now", NOW]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("only loaded into an empty database, and this one holds 1 user(s)"),
        "{}",
        text(&refused)
    );
    assert_eq!(count(dir.path(), "SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(count(dir.path(), "SELECT COUNT(*) FROM leads").await, 0);
    // So a later --fresh still sees the colleague as someone's data.
    let refused = mini_crm(dir.path(), &[], &["migrate", "--fresh"]);
    assert!(!refused.status.success(), "{}", text(&refused));

    let production = mini_crm(
        dir.path(),
        &[("APP_ENV", "production")],
        &[
            "migrate",
            "--fresh",
            "--force",
            "--confirm",
            "database.sqlite",
            "--seed",
        ],
    );
    assert!(!production.status.success());
    assert!(
        text(&production).contains("not loaded into a production database"),
        "{}",
        text(&production)
    );
    assert_eq!(
        count(dir.path(), "SELECT COUNT(*) FROM users").await,
        1,
        "refused before anything was set aside"
    );
}

#[tokio::test]
async fn a_database_whose_file_is_gone_is_not_restarted_under_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let out = mini_crm(dir.path(), &[], &["migrate"]);
    assert!(out.status.success(), "{}", text(&out));
    let url = database_url(dir.path());
    let server = Db::connect(&url).await.unwrap();
    std::fs::remove_file(dir.path().join(DATABASE)).unwrap();
    let refused = mini_crm(dir.path(), &[], &["migrate", "--fresh"]);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("is in use"), "{}", text(&refused));
    assert!(
        !dir.path().join(DATABASE).exists(),
        "no new file beside the open one"
    );
    drop(server);
}

#[tokio::test]
async fn a_database_in_use_is_never_erased_even_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = mini_crm(dir.path(), &[], &["migrate", "--seed", "--now", NOW]);
    assert!(out.status.success(), "{}", text(&out));
    // A running server holds the database as any process does: through Db.
    let url = database_url(dir.path());
    let server = Db::connect(&url).await.unwrap();
    let refused = mini_crm(dir.path(), &[], &["migrate", "--fresh", "--force"]);
    assert!(!refused.status.success());
    assert!(
        text(&refused)
            .contains("is in use: stop mini-crm (serve and workers) before migrate --fresh"),
        "{}",
        text(&refused)
    );
    let leads: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM leads")
        .fetch_one(&server.reader)
        .await
        .unwrap();
    assert!(leads > 0, "nothing erased under the server");
    let names: Vec<String> = std::fs::read_dir(dir.path().join("storage"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        !names.iter().any(|n| n.contains("before-fresh")),
        "nor moved: {names:?}"
    );
}

#[tokio::test]
async fn in_production_fresh_needs_the_database_name_typed_back() {
    let dir = tempfile::tempdir().unwrap();
    let production = [("APP_ENV", "production")];
    // A production database with a patient in it.
    let out = mini_crm(dir.path(), &production, &["migrate"]);
    assert!(out.status.success(), "{}", text(&out));
    add_patient(dir.path(), "Paciente").await;
    for args in [
        &["migrate", "--fresh"][..],
        &["migrate", "--fresh", "--force", "--confirm", "otra.sqlite"],
    ] {
        let refused = mini_crm(dir.path(), &production, args);
        assert!(!refused.status.success(), "{args:?}");
        assert!(
            text(&refused).contains("type its name back to go on: --confirm database.sqlite"),
            "{}",
            text(&refused)
        );
        assert!(count(dir.path(), "SELECT COUNT(*) FROM leads").await > 0);
    }
    let confirmed = mini_crm(
        dir.path(),
        &production,
        &[
            "migrate",
            "--fresh",
            "--force",
            "--confirm",
            "database.sqlite",
        ],
    );
    assert!(confirmed.status.success(), "{}", text(&confirmed));
    assert_eq!(count(dir.path(), "SELECT COUNT(*) FROM leads").await, 0);
}

#[tokio::test]
async fn outside_the_installation_a_command_refuses_instead_of_making_an_empty_database() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["queue", "failed"][..],
        &["user", "list"],
        &["backup"],
        &["prune"],
    ] {
        let refused = mini_crm(dir.path(), &[], args);
        assert!(!refused.status.success(), "{args:?}");
        assert!(
            text(&refused).contains("there is no database at storage/database.sqlite")
                && text(&refused).contains("cd /var/www/mini-crm/current"),
            "{args:?}: {}",
            text(&refused)
        );
    }
    assert!(!dir.path().join("storage").exists(), "nothing was made");
    // The commands that make a database still do.
    let out = mini_crm(dir.path(), &[], &["migrate"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = mini_crm(dir.path(), &[], &["queue", "failed"]);
    assert!(out.status.success(), "{}", text(&out));
}

/// `postgres://…` was taken for a SQLite file name: a file named after the URL, "Database
/// migrated", an empty clinic. Any URL but SQLite's is refused before anything is made.
#[tokio::test]
async fn a_database_url_that_is_not_sqlite_is_refused_and_nothing_is_made() {
    let dir = tempfile::tempdir().unwrap();
    for (url, says) in [
        (
            "postgres://crm:s3cret@localhost/crm",
            "names a PostgreSQL database",
        ),
        (
            "postgresql://crm@localhost/crm",
            "names a PostgreSQL database",
        ),
        ("mysql://crm:s3cret@db/crm", "not a \"mysql\" one"),
        ("storage/database.sqlite", "with its sqlite:// prefix"),
    ] {
        for args in [&["migrate"][..], &["user", "list"], &["serve"]] {
            let refused = mini_crm(dir.path(), &[("DATABASE_URL", url)], args);
            let said = text(&refused);
            assert!(!refused.status.success(), "{url} {args:?}: {said}");
            assert!(
                said.contains(says) && !said.contains("s3cret"),
                "{url} {args:?}: {said}"
            );
        }
    }
    let made: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(made.is_empty(), "nothing was made: {made:?}");
}

/// `flags set` checks a value as Ajustes does: a refused one changes nothing and says what the
/// setting takes; an accepted one applies while the pages are in maintenance too.
#[tokio::test]
async fn a_setting_the_cli_refuses_changes_nothing_and_one_it_takes_applies_during_maintenance() {
    let dir = tempfile::tempdir().unwrap();
    assert!(mini_crm(dir.path(), &[], &["migrate"]).status.success());
    for (key, value, says) in [
        ("calls.ui", "yes", "expected on or off"),
        (
            "hubspot.sync_mode",
            "fast",
            "expected live, deferred or off",
        ),
        ("clinic.backup_phone", "12", "not a phone number"),
        ("queue.paused.inbound", "on", "unknown setting"),
    ] {
        let refused = mini_crm(dir.path(), &[], &["flags", "set", key, value]);
        let said = text(&refused);
        assert!(!refused.status.success(), "{key} {value}: {said}");
        assert!(
            said.contains(says) && said.contains("settings: whatsapp.outbound, calls.ui"),
            "{key} {value}: {said}"
        );
    }
    let changed = "SELECT COUNT(*) FROM settings WHERE key IN \
        ('calls.ui', 'hubspot.sync_mode', 'clinic.backup_phone', 'queue.paused.inbound')";
    assert_eq!(count(dir.path(), changed).await, 0);

    assert!(mini_crm(dir.path(), &[], &["down"]).status.success());
    let set = mini_crm(
        dir.path(),
        &[],
        &["flags", "set", "clinic.backup_phone", "612 34 56 78"],
    );
    assert!(set.status.success(), "{}", text(&set));
    let list = text(&mini_crm(dir.path(), &[], &["flags", "list"]));
    assert!(
        list.contains("clinic.backup_phone      +34612345678"),
        "{list}"
    );
    assert!(list.contains("calls.ui                 on"), "{list}");

    // Unpausing a queue its provider holds says the hold is still there.
    let db = Db::connect(&database_url(dir.path())).await.unwrap();
    let now = app::domain::Timestamp::now();
    app::backend::flags::hold_queue(
        &db.writer,
        app::domain::Queue::Hubspot,
        "token expired",
        now,
    )
    .await
    .unwrap();
    drop(db);
    let args = ["flags", "set", "queue.paused.hubspot", "off"];
    let unpaused = text(&mini_crm(dir.path(), &[], &args));
    assert!(
        unpaused.contains("queue hubspot is still held: token expired")
            && unpaused.contains("mini-crm queue resume hubspot"),
        "{unpaused}"
    );
}

#[tokio::test]
async fn root_does_not_touch_the_service_users_database() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root to own a file as another user");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = mini_crm(dir.path(), &[], &["migrate"]);
    assert!(out.status.success(), "{}", text(&out));
    // The service's user (any id but root's) owns the database and its files, as on a server.
    let service = rustix::process::Uid::from_raw(4242);
    let storage = dir.path().join("storage");
    let owned_by_root = || -> Vec<String> {
        walk(&storage)
            .into_iter()
            .filter(|path| std::fs::metadata(path).unwrap().uid() == 0)
            .map(|path| path.display().to_string())
            .collect()
    };
    for path in walk(&storage) {
        rustix::fs::chown(&path, Some(service), None).unwrap();
    }
    assert!(owned_by_root().is_empty());
    for args in [&["queue", "failed"][..], &["serve"], &["migrate"]] {
        let refused = mini_crm(dir.path(), &[], args);
        assert!(!refused.status.success(), "{args:?}");
        assert!(
            text(&refused).contains("running as root on a database that belongs to user id 4242")
                && text(&refused).contains("sudo -u mini-crm"),
            "{args:?}: {}",
            text(&refused)
        );
    }
    assert_eq!(owned_by_root(), Vec::<String>::new(), "root made files");
}

/// `dir` and everything under it.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = vec![dir.to_path_buf()];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}
