//! The demo clinic: deterministic, and rich enough to show every part of the product.

use app::backend::{db::Db, seed::seed};
use app::domain::Timestamp;
use sha2::{Digest, Sha256};

/// SHA-256 over every row of every table, in primary-key order; sessions and heartbeats (when a
/// process last proved it could write) aside.
async fn content_hash(db: &Db) -> String {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT IN ('_sqlx_migrations', 'sessions', 'heartbeats') ORDER BY name",
    )
    .fetch_all(&db.reader)
    .await
    .unwrap();
    let mut hasher = Sha256::new();
    for table in tables {
        let columns: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
        ))
        .fetch_all(&db.reader)
        .await
        .unwrap();
        let row = columns
            .iter()
            .map(|c| format!("quote(\"{c}\")"))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let rows: Vec<String> =
            sqlx::query_scalar(&format!("SELECT {row} FROM \"{table}\" ORDER BY 1"))
                .fetch_all(&db.reader)
                .await
                .unwrap();
        hasher.update(table.as_bytes());
        for row in rows {
            hasher.update(row.as_bytes());
            hasher.update(b"\n");
        }
    }
    hex::encode(hasher.finalize())
}

async fn seeded(now: &str) -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&format!("sqlite://{}/seed.sqlite", dir.path().display()))
        .await
        .unwrap();
    seed(&db, Timestamp::parse_rfc3339(now).unwrap())
        .await
        .unwrap();
    (dir, db)
}

async fn count(db: &Db, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&db.reader).await.unwrap()
}

#[tokio::test]
async fn the_same_now_gives_the_same_content() {
    let (_a, first) = seeded("2025-01-07T10:00:00Z").await;
    let (_b, second) = seeded("2025-01-07T10:00:00Z").await;
    let (_c, other) = seeded("2025-03-30T12:00:00Z").await;
    let hash = content_hash(&first).await;
    assert_eq!(hash, content_hash(&second).await);
    assert_ne!(hash, content_hash(&other).await, "the data follows --now");
}

#[tokio::test]
async fn the_demo_clinic_covers_every_case() {
    let now = "2025-01-07T10:00:00Z";
    let (_dir, db) = seeded(now).await;
    let leads = count(&db, "SELECT COUNT(*) FROM leads").await;
    assert!((1300..=1700).contains(&leads), "about 1,500 leads: {leads}");
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM leads WHERE created_at > '2025-01-07T10:00:00Z'"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM leads WHERE created_at < '2024-10-09T10:00:00Z'"
        )
        .await,
        0,
        "90 days"
    );
    assert_eq!(
        count(&db, "SELECT COUNT(DISTINCT source) FROM leads").await,
        3
    );
    assert_eq!(
        count(&db, "SELECT COUNT(DISTINCT status) FROM appointments").await,
        4
    );
    assert_eq!(
        count(&db, "SELECT COUNT(DISTINCT stage) FROM leads").await,
        4
    );
    assert!(count(&db, "SELECT COUNT(*) FROM leads WHERE lost = 1").await > 0);
    assert_eq!(
        count(&db, "SELECT MIN(sessions_count) FROM treatments").await,
        1
    );
    assert_eq!(
        count(&db, "SELECT MAX(sessions_count) FROM treatments").await,
        8
    );
    assert!(
        count(
            &db,
            "SELECT COUNT(DISTINCT status) FROM messages WHERE direction = 'outbound'"
        )
        .await
            >= 4
    );
    assert!(count(&db, "SELECT COUNT(*) FROM calls WHERE missed = 1").await > 0);
    assert!(count(&db, "SELECT COUNT(*) FROM calls WHERE missed = 0").await > 0);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM users WHERE email = 'admin@example.com' AND role = 'admin'"
        )
        .await,
        1
    );

    let completed_6_of_6_last_week = count(
        &db,
        "SELECT COUNT(*) FROM treatments WHERE sessions_count = 6
         AND completed_at BETWEEN '2024-12-31T10:00:00Z' AND '2025-01-07T10:00:00Z'",
    )
    .await;
    assert!(
        completed_6_of_6_last_week > 0,
        "some 6/6 treatments complete inside the last 7 days"
    );
}

#[tokio::test]
async fn stored_completion_and_stage_agree_with_the_sessions() {
    let (_dir, db) = seeded("2025-01-07T10:00:00Z").await;
    let wrong_completion = count(
        &db,
        "SELECT COUNT(*) FROM treatments t WHERE (t.completed_at IS NOT NULL) <>
           ((SELECT COUNT(*) FROM appointments a WHERE a.treatment_id = t.id AND a.status = 'attended') >= t.sessions_count)",
    )
    .await;
    assert_eq!(wrong_completion, 0);
    let wrong_stage = count(
        &db,
        "SELECT COUNT(*) FROM leads l WHERE l.stage <> CASE
           WHEN EXISTS (SELECT 1 FROM treatments t WHERE t.lead_id = l.id AND t.completed_at IS NULL) THEN 'in_treatment'
           WHEN EXISTS (SELECT 1 FROM treatments t WHERE t.lead_id = l.id) THEN 'completed'
           WHEN EXISTS (SELECT 1 FROM appointments a WHERE a.lead_id = l.id) THEN 'booked'
           ELSE 'new' END",
    )
    .await;
    assert_eq!(wrong_stage, 0);
}

#[tokio::test]
async fn the_seeded_admin_can_sign_in() {
    let app = crate::helpers::TestApp::spawn().await;
    seed(&app.state.db, Timestamp::now()).await.unwrap();
    let response = app.login("admin@example.com", "password").await;
    assert_eq!(
        response.status,
        axum::http::StatusCode::OK,
        "{}",
        response.body
    );
}
