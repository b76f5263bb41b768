//! `appointments`: valoraciones and treatment sessions.

use crate::domain::{AppointmentStatus, Timestamp};
use sqlx::SqliteExecutor;

pub struct NewAppointment {
    pub lead_id: i64,
    pub treatment_id: Option<i64>,
    pub scheduled_at: Timestamp,
    pub status: AppointmentStatus,
    pub created_at: Timestamp,
}

/// Inserts the appointment with its lead's `source` and `created_at` copied from the lead in the
/// same statement (the report columns; a foreign key keeps them equal afterwards).
pub async fn insert(db: impl SqliteExecutor<'_>, appointment: NewAppointment) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO appointments (lead_id, treatment_id, source, lead_created_at, scheduled_at,
                                   status, created_at, updated_at)
         SELECT id, $2, source, created_at, $3, $4, $5, $5 FROM leads WHERE id = $1
         RETURNING id",
    )
    .bind(appointment.lead_id)
    .bind(appointment.treatment_id)
    .bind(appointment.scheduled_at)
    .bind(appointment.status.as_str())
    .bind(appointment.created_at)
    .fetch_all(db)
    .await
    .and_then(super::only_row)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AppointmentRecord {
    pub id: i64,
    pub lead_id: i64,
    pub treatment_id: Option<i64>,
    /// The treatment's name, for a session.
    pub treatment_name: Option<String>,
    pub scheduled_at: Timestamp,
    pub status: AppointmentStatus,
    pub created_at: Timestamp,
}

const COLUMNS: &str = "a.id, a.lead_id, a.treatment_id, t.name AS treatment_name, a.scheduled_at,
    a.status, a.created_at
    FROM appointments a LEFT JOIN treatments t ON t.id = a.treatment_id";

pub async fn get(db: impl SqliteExecutor<'_>, id: i64) -> sqlx::Result<Option<AppointmentRecord>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} WHERE a.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The lead's appointments, the latest scheduled first.
pub async fn for_lead(
    db: impl SqliteExecutor<'_>,
    lead_id: i64,
) -> sqlx::Result<Vec<AppointmentRecord>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} WHERE a.lead_id = $1 ORDER BY a.scheduled_at DESC, a.id DESC"
    ))
    .bind(lead_id)
    .fetch_all(db)
    .await
}

pub async fn set_status(
    db: impl SqliteExecutor<'_>,
    id: i64,
    status: AppointmentStatus,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE appointments SET status = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(status.as_str())
        .bind(now)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn reschedule(
    db: impl SqliteExecutor<'_>,
    id: i64,
    scheduled_at: Timestamp,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE appointments SET scheduled_at = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(scheduled_at)
        .bind(now)
        .execute(db)
        .await?;
    Ok(())
}
