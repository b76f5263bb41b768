//! The schema on a real SQLite file: created from nothing, and refusing invalid data.

use crate::helpers::TestApp;
use app::backend::db::Db;

const TABLES: [&str; 28] = [
    "api_tokens",
    "appointments",
    "call_requests",
    "calls",
    "erased_identities",
    "heartbeats",
    "hubspot_property_versions",
    "jobs",
    "lead_activities",
    "lead_counts",
    "leads",
    // Full-text search of leads (FTS5) and its shadow tables.
    "leads_search",
    "leads_search_config",
    "leads_search_content",
    "leads_search_data",
    "leads_search_docsize",
    "leads_search_idx",
    "leases",
    "login_attempts",
    "messages",
    "provider_breakers",
    "sessions",
    "settings",
    "treatments",
    "users",
    "webhook_events",
    "webhook_items",
    "whatsapp_early_statuses",
];

/// On a new database every migration runs on one connection, after 0010 edited `leads`'
/// definition in place; 0012 re-reads it first, so its ADD COLUMN lands among the columns, not
/// inside a comment, and the schema reads back whole.
#[tokio::test]
async fn columns_added_after_the_in_place_edit_land_among_the_columns() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&format!(
        "sqlite://{}",
        dir.path().join("fresh.sqlite").display()
    ))
    .await
    .unwrap();
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&db.reader)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    let sql: String =
        sqlx::query_scalar("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'leads'")
            .fetch_one(&db.reader)
            .await
            .unwrap();
    let line = sql
        .lines()
        .find(|l| l.contains("hubspot_key TEXT"))
        .unwrap_or_else(|| panic!("{sql}"));
    let column = line.find("hubspot_key TEXT").unwrap();
    assert!(!line[..column].contains("--"), "inside a comment: {line}");
    sqlx::query("SELECT hubspot_key FROM leads")
        .fetch_all(&db.reader)
        .await
        .unwrap();
}

#[tokio::test]
async fn migrations_create_the_database_file_and_every_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/database.sqlite");
    let db = Db::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert!(path.exists());

    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(&db.reader)
    .await
    .unwrap();
    assert_eq!(tables, TABLES);

    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&db.writer)
        .await
        .unwrap();
    assert_eq!(journal, "wal");
    let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(&db.writer)
        .await
        .unwrap();
    assert_eq!(foreign_keys, 1);

    // A second start finds everything in place.
    drop(db);
    Db::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
}

const TS: &str = "2025-01-07T10:00:00Z";

async fn exec(db: &Db, sql: &str) -> Result<(), sqlx::Error> {
    sqlx::query(sql).execute(&db.writer).await.map(|_| ())
}

async fn db_with_a_lead() -> (TestApp, Db) {
    let app = TestApp::spawn().await;
    let db = app.state.db.clone();
    for sql in [
        format!("INSERT INTO leads (id, name, phone, source, created_at, updated_at) VALUES (1, 'Ana', '+34611223344', 'meta', '{TS}', '{TS}')"),
        format!("INSERT INTO leads (id, name, phone, source, created_at, updated_at) VALUES (2, 'Luis', '+34611223355', 'google', '{TS}', '{TS}')"),
        format!("INSERT INTO treatments (id, lead_id, source, lead_created_at, name, sessions_count, price_cents, created_at) VALUES (10, 1, 'meta', '{TS}', 'Láser', 6, 60000, '{TS}')"),
    ] {
        exec(&db, &sql).await.unwrap();
    }
    (app, db)
}

#[tokio::test]
async fn constraints_refuse_invalid_rows() {
    let (_app, db) = db_with_a_lead().await;
    let invalid = [
        ("unknown source", format!("INSERT INTO leads (name, phone, source, created_at, updated_at) VALUES ('X', '+34611000001', 'bing', '{TS}', '{TS}')")),
        ("duplicate phone", format!("INSERT INTO leads (name, phone, source, created_at, updated_at) VALUES ('X', '+34611223344', 'meta', '{TS}', '{TS}')")),
        ("phone not E.164", format!("INSERT INTO leads (name, phone, source, created_at, updated_at) VALUES ('X', '611 22 33 66', 'meta', '{TS}', '{TS}')")),
        ("SQLite's own time format", "INSERT INTO leads (name, phone, source, created_at, updated_at) VALUES ('X', '+34611000002', 'meta', datetime('now'), datetime('now'))".to_string()),
        ("zero sessions", format!("INSERT INTO treatments (lead_id, source, lead_created_at, name, sessions_count, price_cents, created_at) VALUES (1, 'meta', '{TS}', 'X', 0, 100, '{TS}')")),
        ("child source differs from its lead's", format!("INSERT INTO treatments (lead_id, source, lead_created_at, name, sessions_count, price_cents, created_at) VALUES (1, 'google', '{TS}', 'X', 6, 100, '{TS}')")),
        ("unknown appointment status", format!("INSERT INTO appointments (lead_id, source, lead_created_at, scheduled_at, status, created_at, updated_at) VALUES (1, 'meta', '{TS}', '{TS}', 'done', '{TS}', '{TS}')")),
        ("a session of another lead's treatment", format!("INSERT INTO appointments (lead_id, treatment_id, source, lead_created_at, scheduled_at, created_at, updated_at) VALUES (2, 10, 'google', '{TS}', '{TS}', '{TS}', '{TS}')")),
        ("appointment booked before its lead existed", format!("INSERT INTO appointments (lead_id, source, lead_created_at, scheduled_at, created_at, updated_at) VALUES (1, 'meta', '{TS}', '{TS}', '2025-01-01T00:00:00Z', '{TS}')")),
        ("a copy of the lead's creation time that is not the lead's", format!("INSERT INTO appointments (lead_id, source, lead_created_at, scheduled_at, created_at, updated_at) VALUES (1, 'meta', '2025-01-01T00:00:00Z', '{TS}', '{TS}', '{TS}')")),
        ("appointment of no lead", format!("INSERT INTO appointments (lead_id, source, lead_created_at, scheduled_at, created_at, updated_at) VALUES (99, 'meta', '{TS}', '{TS}', '{TS}', '{TS}')")),
        ("inbound message with an outbound status", format!("INSERT INTO messages (lead_id, direction, wamid, kind, body, status, created_at, status_at) VALUES (1, 'inbound', 'wamid.x', 'text', 'hola', 'sent', '{TS}', '{TS}')")),
        ("job in an unknown queue", format!("INSERT INTO jobs (kind, queue, payload, max_attempts, run_at, created_at, updated_at) VALUES ('x', 'email', '{{}}', 3, '{TS}', '{TS}', '{TS}')")),
        ("running job without a lock", format!("INSERT INTO jobs (kind, queue, payload, status, max_attempts, run_at, created_at, updated_at) VALUES ('x', 'inbound', '{{}}', 'running', 3, '{TS}', '{TS}', '{TS}')")),
        ("unknown role", format!("INSERT INTO users (email, name, password_hash, role, created_at) VALUES ('a@b.es', 'A', 'h', 'root', '{TS}')")),
    ];
    for (what, sql) in invalid {
        assert!(exec(&db, &sql).await.is_err(), "accepted: {what}");
    }
}

/// A state the code does not know (a row written past the CHECK, by hand or by a newer
/// version) is an error naming its column, never read as some default.
#[tokio::test]
async fn an_unknown_state_in_a_row_is_an_error_naming_its_column() {
    let (_app, db) = db_with_a_lead().await;
    let mut conn = db.writer.acquire().await.unwrap();
    for sql in [
        "PRAGMA ignore_check_constraints = ON",
        "UPDATE leads SET source = 'bing' WHERE id = 1",
        "UPDATE leads SET stage = 'won' WHERE id = 2",
        "PRAGMA ignore_check_constraints = OFF",
    ] {
        sqlx::query(sql).execute(&mut *conn).await.unwrap();
    }
    drop(conn);
    for (id, column, value) in [(1, "source", "bing"), (2, "stage", "won")] {
        let read = app::backend::store::leads::get(&db.reader, id).await;
        let error = read
            .expect_err("an unknown state is not read as a default")
            .to_string();
        assert!(error.contains(column) && error.contains(value), "{error}");
    }
}

#[tokio::test]
async fn valid_rows_are_accepted_and_copies_follow_their_lead() {
    let (_app, db) = db_with_a_lead().await;
    exec(&db, &format!("INSERT INTO appointments (lead_id, treatment_id, source, lead_created_at, scheduled_at, status, created_at, updated_at) VALUES (1, 10, 'meta', '{TS}', '{TS}', 'attended', '{TS}', '{TS}')")).await.unwrap();
    exec(&db, &format!("INSERT INTO appointments (lead_id, source, lead_created_at, scheduled_at, created_at, updated_at) VALUES (1, 'meta', '{TS}', '{TS}', '{TS}', '{TS}')")).await.unwrap();

    exec(&db, "UPDATE leads SET source = 'organic' WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(child_column(&db, "source").await, ["organic"; 3]);
    exec(
        &db,
        "UPDATE leads SET created_at = '2025-01-07T09:00:00Z' WHERE id = 1",
    )
    .await
    .unwrap();
    assert_eq!(
        child_column(&db, "lead_created_at").await,
        ["2025-01-07T09:00:00Z"; 3]
    );
}

/// `column` of lead 1's appointments and treatments.
async fn child_column(db: &Db, column: &str) -> Vec<String> {
    sqlx::query_scalar(&format!(
        "SELECT {column} FROM appointments WHERE lead_id = 1 UNION ALL SELECT {column} FROM treatments WHERE lead_id = 1"
    ))
    .fetch_all(&db.reader)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_first_booking_and_sale_follow_the_child_rows() {
    let (_app, db) = db_with_a_lead().await;
    let firsts = || async {
        sqlx::query_as::<_, (Option<String>, Option<String>)>(
            "SELECT first_appointment_at, first_treatment_at FROM leads WHERE id = 1",
        )
        .fetch_one(&db.reader)
        .await
        .unwrap()
    };
    assert_eq!(
        firsts().await,
        (None, Some(TS.to_string())),
        "the treatment of db_with_a_lead"
    );
    for created in ["2025-01-09T10:00:00Z", "2025-01-08T10:00:00Z"] {
        exec(&db, &format!("INSERT INTO appointments (lead_id, source, lead_created_at, scheduled_at, created_at, updated_at) VALUES (1, 'meta', '{TS}', '{TS}', '{created}', '{created}')")).await.unwrap();
    }
    assert_eq!(
        firsts().await.0.as_deref(),
        Some("2025-01-08T10:00:00Z"),
        "the earliest wins"
    );
    exec(
        &db,
        "DELETE FROM appointments WHERE created_at = '2025-01-08T10:00:00Z'",
    )
    .await
    .unwrap();
    assert_eq!(firsts().await.0.as_deref(), Some("2025-01-09T10:00:00Z"));
    exec(&db, "DELETE FROM appointments").await.unwrap();
    exec(&db, "DELETE FROM treatments").await.unwrap();
    assert_eq!(firsts().await, (None, None));
}

#[tokio::test]
async fn a_treatment_completes_at_its_last_needed_attended_session() {
    use app::backend::store::treatments::refresh_completion;
    let (_app, db) = db_with_a_lead().await;
    exec(
        &db,
        "UPDATE treatments SET sessions_count = 2 WHERE id = 10",
    )
    .await
    .unwrap();
    let sessions = [
        ("2025-01-01T10:00:00Z", "attended"),
        ("2025-01-02T10:00:00Z", "no_show"),
        ("2025-01-03T10:00:00Z", "attended"),
        ("2025-01-04T10:00:00Z", "attended"),
    ];
    for (at, status) in sessions {
        exec(&db, &format!("INSERT INTO appointments (lead_id, treatment_id, source, lead_created_at, scheduled_at, status, created_at, updated_at) VALUES (1, 10, 'meta', '{TS}', '{at}', '{status}', '{TS}', '{TS}')")).await.unwrap();
    }
    refresh_completion(&db.writer, 10).await.unwrap();
    let completed: Option<String> =
        sqlx::query_scalar("SELECT completed_at FROM treatments WHERE id = 10")
            .fetch_one(&db.reader)
            .await
            .unwrap();
    assert_eq!(completed.as_deref(), Some("2025-01-03T10:00:00Z"));

    exec(
        &db,
        "UPDATE appointments SET status = 'cancelled' WHERE scheduled_at = '2025-01-03T10:00:00Z'",
    )
    .await
    .unwrap();
    refresh_completion(&db.writer, 10).await.unwrap();
    let completed: Option<String> =
        sqlx::query_scalar("SELECT completed_at FROM treatments WHERE id = 10")
            .fetch_one(&db.reader)
            .await
            .unwrap();
    assert_eq!(completed.as_deref(), Some("2025-01-04T10:00:00Z"));
}

/// Deliveries stored before `0005` held Aircall's token and the providers' signatures: the
/// migration redacts them in place and leaves everything else as it was.
#[tokio::test]
async fn migration_0005_redacts_secrets_stored_before_it() {
    use sqlx::migrate::Migrator;
    use sqlx::sqlite::SqliteConnectOptions;
    use std::str::FromStr;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/old.sqlite", dir.path().display());
    let pool = sqlx::SqlitePool::connect_with(
        SqliteConnectOptions::from_str(&url)
            .unwrap()
            .create_if_missing(true),
    )
    .await
    .unwrap();
    let before: Vec<_> = app::backend::db::MIGRATOR
        .iter()
        .filter(|m| m.version < 5)
        .cloned()
        .collect();
    let old = Migrator {
        migrations: before.into(),
        ..Migrator::DEFAULT
    };
    old.run(&pool).await.unwrap();
    let insert =
        "INSERT INTO webhook_events (provider, delivery_key, headers, body, received_at, status)
                  VALUES ($1, $2, $3, $4, '2026-01-01T00:00:00Z', 'processed')";
    for (provider, key, headers, body) in [
        (
            "aircall",
            "k1",
            r#"{"content-type":"application/json"}"#,
            r#"{"resource":"call","token":"SECRET-TOKEN","data":{"id":7}}"#,
        ),
        (
            "whatsapp",
            "k2",
            r#"{"x-hub-signature-256":"sha256=abcdef","user-agent":"facebookexternalua"}"#,
            r#"{"object":"whatsapp_business_account","entry":[]}"#,
        ),
    ] {
        sqlx::query(insert)
            .bind(provider)
            .bind(key)
            .bind(headers)
            .bind(body.as_bytes())
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;

    let db = app::backend::db::Db::connect(&url).await.unwrap();
    let rows: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT headers, body FROM webhook_events ORDER BY id")
            .fetch_all(&db.reader)
            .await
            .unwrap();
    let json = |text: &[u8]| serde_json::from_slice::<serde_json::Value>(text).unwrap();
    assert_eq!(
        json(&rows[0].1),
        serde_json::json!({"resource": "call", "token": "[redacted]", "data": {"id": 7}})
    );
    assert_eq!(
        json(rows[1].0.as_bytes()),
        serde_json::json!({"x-hub-signature-256": "[redacted]", "user-agent": "facebookexternalua"})
    );
    assert_eq!(
        json(&rows[1].1),
        serde_json::json!({"object": "whatsapp_business_account", "entry": []})
    );
}

/// A migration on main is released: databases have run it, and sqlx refuses to start on one whose
/// file changed since (it keeps each migration's SHA-384). `migrations/MANIFEST.sha384` holds the
/// released files' checksums; an edited file, or a new one without its line, fails here instead
/// of in production.
#[test]
fn released_migrations_never_change() {
    use sha2::{Digest, Sha384};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.sha384")).unwrap();
    let listed: std::collections::BTreeMap<&str, &str> = manifest
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (sum, name) = l.split_once("  ").expect("`<sha384>  <file>` lines");
            (name, sum)
        })
        .collect();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".sql"))
        .collect();
    files.sort();
    for name in &files {
        let sum = hex::encode(Sha384::digest(std::fs::read(dir.join(name)).unwrap()));
        match listed.get(name.as_str()) {
            Some(released) => assert_eq!(
                *released, sum,
                "{name} changed after it was released: put the change in a new migration"
            ),
            None => panic!(
                "{name} is not in migrations/MANIFEST.sha384: add `{sum}  {name}` once it is final"
            ),
        }
    }
    for name in listed.keys() {
        assert!(
            files.iter().any(|f| f == name),
            "{name} was released and must not be removed"
        );
    }
    // The checksums sqlx embeds are the files' own.
    let embedded: Vec<String> = app::backend::db::MIGRATOR
        .iter()
        .map(|m| hex::encode(&m.checksum))
        .collect();
    let on_disk: Vec<String> = files
        .iter()
        .map(|n| listed[n.as_str()].to_string())
        .collect();
    assert_eq!(embedded, on_disk);
}

/// The manifest alone would let a commit edit a migration and its line together. History does
/// not: no line of the manifest ever committed may change, so with the test above (each file
/// hashes to its line) a released migration can never change. Skipped outside a git checkout.
#[test]
fn no_commit_rewrote_a_released_migration_or_its_manifest_line() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let git = |args: &[&str]| -> Option<Vec<u8>> {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(args)
            .output()
            .ok()?;
        out.status.success().then_some(out.stdout)
    };
    if git(&["rev-parse", "--git-dir"]).is_none() {
        eprintln!("skipped: not a git checkout");
        return;
    }
    let manifest = std::fs::read_to_string(repo.join("migrations/MANIFEST.sha384")).unwrap();
    let current: Vec<&str> = manifest.lines().collect();
    // Every version of the manifest ever committed is a prefix of today's (lines only added).
    let versions = git(&["log", "--format=%H", "--", "migrations/MANIFEST.sha384"]).unwrap();
    for commit in String::from_utf8_lossy(&versions).lines() {
        let old = git(&["show", &format!("{commit}:migrations/MANIFEST.sha384")]).unwrap();
        let old = String::from_utf8_lossy(&old);
        for (i, line) in old.lines().enumerate() {
            assert_eq!(
                current.get(i).copied(),
                Some(line),
                "MANIFEST.sha384 as committed in {commit} had this line {}; lines are only added",
                i + 1
            );
        }
    }
}

/// 0010 lets a lead have no phone by editing `leads` in place (a rebuild would cascade-delete
/// its children inside sqlx's transaction): on a database as released before it, with data and
/// another process's connection open, every row stays, integrity holds, and every connection
/// (the old one included) takes a lead without a phone but with a WhatsApp user id.
#[tokio::test]
async fn leads_lose_their_phones_not_null_in_place_keeping_every_row() {
    use sqlx::{ConnectOptions, Connection};
    use std::str::FromStr;
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let before = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&repo).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".sql") && name.as_str() < "0010" {
            std::fs::copy(repo.join(&name), before.path().join(&name)).unwrap();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/db.sqlite", dir.path().display());
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
        .unwrap()
        .create_if_missing(true)
        .foreign_keys(true);
    let mut old = options.connect().await.unwrap();
    sqlx::migrate::Migrator::new(before.path())
        .await
        .unwrap()
        .run(&mut old)
        .await
        .unwrap();
    for sql in [
        "INSERT INTO leads (id, name, phone, source, created_at, updated_at)
         VALUES (1, 'Ana', '+34611111111', 'meta', '2025-01-01T10:00:00Z', '2025-01-01T10:00:00Z')",
        "INSERT INTO messages (lead_id, direction, wamid, kind, body, status, created_at, status_at)
         VALUES (1, 'inbound', 'wamid.1', 'text', 'Hola', 'received', '2025-01-01T10:00:00Z', '2025-01-01T10:00:00Z')",
        "INSERT INTO appointments (lead_id, source, lead_created_at, scheduled_at, created_at, updated_at)
         VALUES (1, 'meta', '2025-01-01T10:00:00Z', '2025-01-02T10:00:00Z', '2025-01-01T11:00:00Z', '2025-01-01T11:00:00Z')",
    ] {
        sqlx::query(sql).execute(&mut old).await.unwrap();
    }

    // A newer release starts (as deploy.sh's migrate does) while `old` stays open.
    let db = Db::connect(&url).await.unwrap();
    for (table, rows) in [("leads", 1), ("messages", 1), ("appointments", 1)] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&db.reader)
            .await
            .unwrap();
        assert_eq!(n, rows, "{table}");
    }
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&db.reader)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    let first_appointment: Option<String> =
        sqlx::query_scalar("SELECT first_appointment_at FROM leads WHERE id = 1")
            .fetch_one(&db.reader)
            .await
            .unwrap();
    assert_eq!(first_appointment.as_deref(), Some("2025-01-01T11:00:00Z"));
    let insert = |user: &'static str| {
        format!(
            "INSERT INTO leads (name, source, created_at, updated_at, whatsapp_user_id)
             VALUES ('Usuario', 'organic', '2025-01-03T10:00:00Z', '2025-01-03T10:00:00Z', '{user}')"
        )
    };
    sqlx::query(&insert("ES.1001"))
        .execute(&db.writer)
        .await
        .unwrap();
    sqlx::query(&insert("ES.1002"))
        .execute(&mut old)
        .await
        .unwrap();
    let nobody = sqlx::query(
        "INSERT INTO leads (name, source, created_at, updated_at)
         VALUES ('Nadie', 'organic', '2025-01-03T10:00:00Z', '2025-01-03T10:00:00Z')",
    )
    .execute(&db.writer)
    .await
    .unwrap_err();
    assert!(nobody
        .to_string()
        .contains("a lead needs a phone or a WhatsApp user id"));
    // Deleting a lead still takes its rows with it: the foreign keys are the same.
    sqlx::query("DELETE FROM leads WHERE id = 1")
        .execute(&db.writer)
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages")
        .fetch_one(&db.reader)
        .await
        .unwrap();
    assert_eq!(left, 0);
    old.close().await.unwrap();
}
