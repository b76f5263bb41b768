//! `mini-crm backup` during concurrent writes, pruning, and `mini-crm restore`.

use app::backend::backup::{backup, database_file, restore, verify};
use app::backend::db::Db;
use app::domain::Timestamp;

async fn leads(db: &Db) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM leads")
        .fetch_one(&db.reader)
        .await
        .unwrap()
}

async fn insert_lead(db: &Db, i: i64) {
    sqlx::query(
        "INSERT INTO leads (name, phone, source, created_at, updated_at) VALUES ($1, $2, 'meta', $3, $3)",
    )
    .bind(format!("Lead {i}"))
    .bind(format!("+3461{:07}", i))
    .bind(Timestamp::now())
    .execute(&db.writer)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_backup_taken_during_writes_is_consistent_and_holds_every_earlier_row() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/live.sqlite", dir.path().display());
    let db = Db::connect(&url).await.unwrap();
    for i in 0..500 {
        insert_lead(&db, i).await;
    }
    // Writers keep going while the backups are taken.
    let writer = {
        let db = db.clone();
        tokio::spawn(async move {
            for i in 500..3000 {
                insert_lead(&db, i).await;
            }
        })
    };
    let backups = dir.path().join("backups");
    let mut made = Vec::new();
    for n in 0..4 {
        let committed_before = leads(&db).await;
        let copy = backup(&url, &backups, 3, &format!("20261127-00000{n}"))
            .await
            .unwrap();
        verify(&copy.path).await.unwrap();
        // Read the copy without touching it (no migration, no WAL files beside it).
        let mut copy_conn = sqlx::ConnectOptions::connect(
            &sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&copy.path)
                .read_only(true),
        )
        .await
        .unwrap();
        let in_copy: i64 = sqlx::query_scalar("SELECT count(*) FROM leads")
            .fetch_one(&mut copy_conn)
            .await
            .unwrap();
        sqlx::Connection::close(copy_conn).await.unwrap();
        assert!(
            in_copy >= committed_before,
            "backup {n}: {in_copy} < {committed_before}"
        );
        made.push(copy);
    }
    writer.await.unwrap();
    // Only the newest three are kept.
    assert_eq!(made[3].pruned.len(), 1);
    let mut kept: Vec<String> = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    kept.sort();
    assert_eq!(
        kept,
        [
            "mini-crm-20261127-000001.sqlite",
            "mini-crm-20261127-000002.sqlite",
            "mini-crm-20261127-000003.sqlite"
        ]
    );
}

#[tokio::test]
async fn restore_refuses_a_database_in_use_and_keeps_the_one_it_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/live.sqlite", dir.path().display());
    let db = Db::connect(&url).await.unwrap();
    for i in 0..10 {
        insert_lead(&db, i).await;
    }
    let copy = backup(&url, &dir.path().join("b"), 5, "20261127-120000")
        .await
        .unwrap();
    for i in 10..15 {
        insert_lead(&db, i).await;
    }
    // The app still has it open.
    let refused = restore(&url, &copy.path, "20261127-120100")
        .await
        .unwrap_err();
    assert!(format!("{refused:#}").contains("in use"), "{refused:#}");
    assert_eq!(leads(&db).await, 15, "untouched");

    // Not a backup at all.
    let junk = dir.path().join("junk.sqlite");
    std::fs::write(&junk, b"not a database").unwrap();
    db.writer.close().await;
    db.reader.close().await;
    db.sessions.close().await;
    drop(db); // the process lets go of the database
    assert!(restore(&url, &junk, "20261127-120200").await.is_err());

    let kept = restore(&url, &copy.path, "20261127-120300").await.unwrap();
    assert!(kept.ends_with("live.sqlite.before-restore-20261127-120300"));
    assert_eq!(database_file(&url).unwrap(), dir.path().join("live.sqlite"));
    let restored = Db::connect(&url).await.unwrap();
    assert_eq!(leads(&restored).await, 10, "the backup's rows");
    let previous = Db::connect(&format!("sqlite://{}", kept.display()))
        .await
        .unwrap();
    assert_eq!(
        leads(&previous).await,
        15,
        "the replaced database is kept whole"
    );
}
