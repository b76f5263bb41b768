//! `treatments`: treatments sold, with their completion time kept beside them.

use crate::domain::Timestamp;
use sqlx::SqliteExecutor;

pub struct NewTreatment<'a> {
    pub lead_id: i64,
    pub name: &'a str,
    pub sessions_count: i64,
    pub price_cents: i64,
    pub created_at: Timestamp,
}

/// Inserts the sale with its lead's `source` and `created_at` copied from the lead in the same
/// statement (the report columns; a foreign key keeps them equal afterwards).
pub async fn insert(db: impl SqliteExecutor<'_>, treatment: NewTreatment<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO treatments (lead_id, source, lead_created_at, name, sessions_count,
                                 price_cents, created_at)
         SELECT id, source, created_at, $2, $3, $4, $5 FROM leads WHERE id = $1
         RETURNING id",
    )
    .bind(treatment.lead_id)
    .bind(treatment.name)
    .bind(treatment.sessions_count)
    .bind(treatment.price_cents)
    .bind(treatment.created_at)
    .fetch_all(db)
    .await
    .and_then(super::only_row)
}

/// Recomputes `completed_at` from the treatment's sessions: the `scheduled_at` of the
/// `sessions_count`-th attended session, or NULL while fewer are attended. Call it in the same
/// transaction as any change to the treatment's appointments.
pub async fn refresh_completion(
    db: impl SqliteExecutor<'_>,
    treatment_id: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE treatments SET completed_at = (
             SELECT attended.scheduled_at FROM (
                 SELECT a.scheduled_at, ROW_NUMBER() OVER (ORDER BY a.scheduled_at, a.id) AS n
                 FROM appointments a
                 WHERE a.treatment_id = $1 AND a.status = 'attended') AS attended
             WHERE attended.n = treatments.sessions_count)
         WHERE id = $1",
    )
    .bind(treatment_id)
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TreatmentRecord {
    pub id: i64,
    pub lead_id: i64,
    pub name: String,
    pub sessions_count: i64,
    pub price_cents: i64,
    /// Sessions attended so far (no-shows and cancellations do not count).
    pub attended: i64,
    pub completed_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

const COLUMNS: &str = "t.id, t.lead_id, t.name, t.sessions_count, t.price_cents,
    (SELECT count(*) FROM appointments a WHERE a.treatment_id = t.id AND a.status = 'attended') AS attended,
    t.completed_at, t.created_at
    FROM treatments t";

pub async fn get(db: impl SqliteExecutor<'_>, id: i64) -> sqlx::Result<Option<TreatmentRecord>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} WHERE t.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The lead's treatments, the latest sold first.
pub async fn for_lead(
    db: impl SqliteExecutor<'_>,
    lead_id: i64,
) -> sqlx::Result<Vec<TreatmentRecord>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} WHERE t.lead_id = $1 ORDER BY t.created_at DESC, t.id DESC"
    ))
    .bind(lead_id)
    .fetch_all(db)
    .await
}
