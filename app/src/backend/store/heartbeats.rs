//! `heartbeats`: the last time a named writer proved that the database takes writes.

use crate::domain::Timestamp;
use sqlx::SqliteExecutor;

/// Bytes each probe rewrites: about what a group of deliveries needs, not a tiny row's page.
const PROOF_BYTES: i64 = 64 * 1024;

pub async fn beat(db: impl SqliteExecutor<'_>, name: &str, now: Timestamp) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO heartbeats (name, beat_at, proof) VALUES ($1, $2, zeroblob($3))
         ON CONFLICT (name) DO UPDATE SET beat_at = excluded.beat_at, proof = excluded.proof",
    )
    .bind(name)
    .bind(now)
    .bind(PROOF_BYTES)
    .execute(db)
    .await?;
    Ok(())
}
