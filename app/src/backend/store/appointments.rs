//! `appointments`: valoraciones and treatment sessions.

use crate::domain::{AppointmentStatus, Source, Timestamp};
use sqlx::SqliteExecutor;

pub struct NewAppointment {
    pub lead_id: i64,
    pub treatment_id: Option<i64>,
    pub source: Source,
    pub scheduled_at: Timestamp,
    pub status: AppointmentStatus,
    pub created_at: Timestamp,
}

pub async fn insert(db: impl SqliteExecutor<'_>, appointment: NewAppointment) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO appointments (lead_id, treatment_id, source, scheduled_at, status, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
    )
    .bind(appointment.lead_id)
    .bind(appointment.treatment_id)
    .bind(appointment.source.as_str())
    .bind(appointment.scheduled_at)
    .bind(appointment.status.as_str())
    .bind(appointment.created_at)
    .fetch_one(db)
    .await
}
