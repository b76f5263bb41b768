//! A migrated SQLite database in a temporary directory and a runtime, made once per process. Each
//! input is processed in a transaction that is rolled back, so inputs do not see each other.
//! Errors are the parser's answer to bad input; only a panic (or a hang) is a finding.

use app::backend::db::Db;
use std::sync::OnceLock;

pub struct Fixture {
    pub runtime: tokio::runtime::Runtime,
    pub db: Db,
    _dir: tempfile::TempDir,
}

/// The id of the stored delivery the fuzzed bodies are processed as.
pub const EVENT_ID: i64 = 1;

pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}/fuzz.sqlite", dir.path().display());
        let db = runtime.block_on(async {
            let db = Db::connect(&url).await.expect("the database");
            sqlx::query(
                "INSERT INTO webhook_events (id, provider, delivery_key, headers, body, received_at, status)
                 VALUES ($1, 'whatsapp', 'fuzz', '{}', x'', '2026-01-01T00:00:00Z', 'pending')",
            )
            .bind(EVENT_ID)
            .execute(&db.writer)
            .await
            .expect("the delivery row");
            db
        });
        Fixture {
            runtime,
            db,
            _dir: dir,
        }
    })
}

/// A fuzz target for the payload parser of the provider module `$provider` (of
/// `app::backend::webhooks`): any body, in a transaction that is rolled back.
#[macro_export]
macro_rules! parser_target {
    ($provider:ident) => {
        libfuzzer_sys::fuzz_target!(|body: &[u8]| {
            use app::backend::webhooks::$provider;
            let fixture = common::fixture();
            fixture.runtime.block_on(async {
                let mut tx = fixture.db.writer.begin().await.expect("a transaction");
                let _ = $provider::event_type(body);
                let now = app::domain::Timestamp::now();
                let _ = $provider::process(&mut tx, common::EVENT_ID, body, now).await;
                tx.rollback().await.expect("a rollback");
            });
        });
    };
}
