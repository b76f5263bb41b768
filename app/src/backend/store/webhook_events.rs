//! `webhook_events` and `webhook_items`: every accepted delivery as received, and the item keys
//! already applied.

use crate::domain::{mask_personal_data, Provider, Timestamp, WebhookStatus};
use serde::{Deserialize, Serialize};
use sqlx::{FromRow, SqliteExecutor};

#[derive(Clone, Debug, PartialEq, Eq, FromRow, Serialize, Deserialize)]
pub struct WebhookEventRow {
    pub id: i64,
    pub provider: Provider,
    pub delivery_key: String,
    pub event_type: Option<String>,
    pub headers: String,
    pub body: Vec<u8>,
    pub received_at: Timestamp,
    pub status: WebhookStatus,
    pub attempts: i64,
    pub last_error: Option<String>,
}

const COLUMNS: &str =
    "id, provider, delivery_key, event_type, headers, body, received_at, status, attempts, last_error";

pub struct NewDelivery {
    pub provider: Provider,
    pub delivery_key: String,
    pub headers: String,
    /// The request's own buffer: a 3 MB body is not copied again on its way to the database.
    pub body: axum::body::Bytes,
    pub received_at: Timestamp,
}

/// Stores a group of deliveries in one statement; returns `(id, provider, delivery_key)` of those
/// that were new (a body already stored for its provider is skipped).
pub async fn insert_many(
    db: impl SqliteExecutor<'_>,
    deliveries: &[NewDelivery],
) -> sqlx::Result<Vec<(i64, String, String)>> {
    let mut query = sqlx::QueryBuilder::new(
        "INSERT INTO webhook_events (provider, delivery_key, headers, body, received_at) ",
    );
    query.push_values(deliveries, |mut row, delivery| {
        row.push_bind(delivery.provider.as_str())
            .push_bind(&delivery.delivery_key)
            .push_bind(&delivery.headers)
            .push_bind(&delivery.body[..])
            .push_bind(delivery.received_at);
    });
    query.push(
        " ON CONFLICT (provider, delivery_key) DO NOTHING RETURNING id, provider, delivery_key",
    );
    query.build_query_as().fetch_all(db).await
}

pub async fn find(db: impl SqliteExecutor<'_>, id: i64) -> sqlx::Result<Option<WebhookEventRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM webhook_events WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Records a processing attempt's outcome (`processed` or `failed` with the error, phone numbers
/// masked: it is shown on Integraciones).
pub async fn finish(
    db: impl SqliteExecutor<'_>,
    id: i64,
    event_type: Option<&str>,
    error: Option<&str>,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE webhook_events SET attempts = attempts + 1, event_type = COALESCE($2, event_type),
             status = CASE WHEN $3 IS NULL THEN 'processed' ELSE 'failed' END,
             last_error = $3, processed_at = CASE WHEN $3 IS NULL THEN $4 ELSE processed_at END
         WHERE id = $1",
    )
    .bind(id)
    .bind(event_type)
    .bind(error.map(mask_personal_data))
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub provider: Option<Provider>,
    pub status: Option<WebhookStatus>,
    pub since: Option<Timestamp>,
}

/// Newest first, `limit` rows at most. Only the filters given become conditions, so SQLite can
/// answer a rare status (`failed`) from its index instead of reading every delivery.
pub(crate) fn list_query(filter: &Filter, limit: i64) -> sqlx::QueryBuilder<'_, sqlx::Sqlite> {
    let mut query =
        sqlx::QueryBuilder::new(format!("SELECT {COLUMNS} FROM webhook_events WHERE TRUE"));
    if let Some(provider) = filter.provider {
        query.push(" AND provider = ").push_bind(provider.as_str());
    }
    if let Some(status) = &filter.status {
        query.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(since) = filter.since {
        query.push(" AND received_at >= ").push_bind(since);
    }
    query.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
    query
}

pub async fn list(
    db: impl SqliteExecutor<'_>,
    filter: &Filter,
    limit: i64,
) -> sqlx::Result<Vec<WebhookEventRow>> {
    list_query(filter, limit)
        .build_query_as()
        .fetch_all(db)
        .await
}

/// Forgets processed deliveries whose body mentions `needle` (a person's phone digits, e-mail or
/// WhatsApp id, at their erasure request); how many went. Failed and pending ones are kept:
/// they may carry other patients' unapplied items.
pub async fn delete_processed_mentioning(
    db: impl SqliteExecutor<'_>,
    needle: &str,
) -> sqlx::Result<u64> {
    let result = sqlx::query(
        "DELETE FROM webhook_events
         WHERE status = 'processed' AND instr(body, CAST($1 AS BLOB)) > 0",
    )
    .bind(needle)
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}

/// Deletes one delivery (its applied item keys go with it).
pub async fn delete(db: impl SqliteExecutor<'_>, id: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM webhook_events WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Deliveries processed before `before`, at most `limit` of them; their applied item keys go
/// with them (ON DELETE CASCADE). Failed and pending ones are kept until handled.
pub(crate) const PRUNE_PROCESSED: &str = "DELETE FROM webhook_events WHERE id IN (
    SELECT id FROM webhook_events WHERE status = 'processed' AND processed_at < $1 LIMIT $2)";
pub(crate) const COUNT_PROCESSED_BEFORE: &str =
    "SELECT COUNT(*) FROM webhook_events WHERE status = 'processed' AND processed_at < $1";

/// Deletes up to `limit` deliveries processed before `before`; how many went.
pub async fn prune_processed(
    db: impl SqliteExecutor<'_>,
    before: Timestamp,
    limit: i64,
) -> sqlx::Result<u64> {
    let result = sqlx::query(PRUNE_PROCESSED)
        .bind(before)
        .bind(limit)
        .execute(db)
        .await?;
    Ok(result.rows_affected())
}

pub async fn count_processed_before(
    db: impl SqliteExecutor<'_>,
    before: Timestamp,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(COUNT_PROCESSED_BEFORE)
        .bind(before)
        .fetch_one(db)
        .await
}

/// Claims an item key for `event_id`; false when an earlier delivery already applied it.
pub async fn claim_item(
    db: impl SqliteExecutor<'_>,
    item_key: &str,
    event_id: i64,
    now: Timestamp,
) -> sqlx::Result<bool> {
    let result = sqlx::query(
        "INSERT INTO webhook_items (item_key, webhook_event_id, processed_at) VALUES ($1, $2, $3)
         ON CONFLICT (item_key) DO NOTHING",
    )
    .bind(item_key)
    .bind(event_id)
    .bind(now)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}
