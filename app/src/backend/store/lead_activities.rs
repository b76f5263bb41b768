//! `lead_activities`: what happened to a lead and who did it (staff, or nobody for what a
//! provider told us), for its timeline.

use crate::domain::Timestamp;
use sqlx::SqliteExecutor;

pub async fn insert(
    db: impl SqliteExecutor<'_>,
    lead_id: i64,
    user_id: Option<i64>,
    action: &str,
    detail: &str,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO lead_activities (lead_id, user_id, action, detail, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(lead_id)
    .bind(user_id)
    .bind(action)
    .bind(detail)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

/// Like [`insert`], unless the lead already has this very line (a notice repeated by every
/// message must not fill the timeline).
pub async fn insert_once(
    db: &mut sqlx::SqliteConnection,
    lead_id: i64,
    action: &str,
    detail: &str,
    now: Timestamp,
) -> sqlx::Result<()> {
    let seen: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM lead_activities
                        WHERE lead_id = $1 AND action = $2 AND detail = $3)",
    )
    .bind(lead_id)
    .bind(action)
    .bind(detail)
    .fetch_one(&mut *db)
    .await?;
    if !seen {
        insert(&mut *db, lead_id, None, action, detail, now).await?;
    }
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ActivityRecord {
    pub action: String,
    pub detail: String,
    pub user_name: Option<String>,
    pub created_at: Timestamp,
}

/// The lead's activity, newest first.
pub async fn for_lead(
    db: impl SqliteExecutor<'_>,
    lead_id: i64,
) -> sqlx::Result<Vec<ActivityRecord>> {
    sqlx::query_as(
        "SELECT a.action, a.detail, u.name AS user_name, a.created_at
         FROM lead_activities a LEFT JOIN users u ON u.id = a.user_id
         WHERE a.lead_id = $1 ORDER BY a.created_at DESC, a.id DESC",
    )
    .bind(lead_id)
    .fetch_all(db)
    .await
}
