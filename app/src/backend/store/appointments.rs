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
    .fetch_one(db)
    .await
}
