//! `erased_identities`: who asked to be erased, as digests, so nothing from before their
//! request brings their data back (a delivery replayed or sent again).

use crate::domain::Timestamp;
use sha2::{Digest, Sha256};
use sqlx::SqliteConnection;

/// The digest of an identifier as the two sides write it: a phone by its digits (`+34 611…`
/// and `34611…` are one number), anything else without case.
fn digest(identifier: &str) -> String {
    let trimmed = identifier.trim();
    let phone_like = trimmed
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    let normal: String = if phone_like {
        trimmed.chars().filter(char::is_ascii_digit).collect()
    } else {
        trimmed.to_lowercase()
    };
    hex::encode(Sha256::digest(normal.as_bytes()))
}

/// Records `identifiers` as erased at `at`.
pub async fn record(
    db: &mut SqliteConnection,
    identifiers: &[&str],
    at: Timestamp,
) -> sqlx::Result<()> {
    for identifier in identifiers {
        sqlx::query(
            "INSERT INTO erased_identities (digest, erased_at) VALUES ($1, $2)
             ON CONFLICT (digest) DO UPDATE SET erased_at = excluded.erased_at",
        )
        .bind(digest(identifier))
        .bind(at)
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

/// Whether any of `identifiers` asked to be erased after `at`: what it says from then is not
/// to be kept.
pub async fn erased_after(
    db: &mut SqliteConnection,
    identifiers: &[&str],
    at: Timestamp,
) -> sqlx::Result<bool> {
    for identifier in identifiers {
        let erased: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM erased_identities WHERE digest = $1 AND erased_at > $2",
        )
        .bind(digest(identifier))
        .bind(at)
        .fetch_optional(&mut *db)
        .await?;
        if erased.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Deletes up to `limit` records of erasures made before `before`; how many went.
pub async fn prune(
    db: impl sqlx::SqliteExecutor<'_>,
    before: Timestamp,
    limit: i64,
) -> sqlx::Result<u64> {
    let result = sqlx::query(
        "DELETE FROM erased_identities WHERE digest IN (
             SELECT digest FROM erased_identities WHERE erased_at < $1 LIMIT $2)",
    )
    .bind(before)
    .bind(limit)
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}

pub async fn count_before(
    db: impl sqlx::SqliteExecutor<'_>,
    before: Timestamp,
) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM erased_identities WHERE erased_at < $1")
        .bind(before)
        .fetch_one(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::digest;

    #[test]
    fn one_number_however_it_is_written_one_address_whatever_its_case() {
        assert_eq!(digest("+34 611 22 33 44"), digest("34611223344"));
        assert_eq!(digest("Ana@Example.com"), digest("ana@example.com"));
        assert_ne!(digest("34611223344"), digest("34611223345"));
        assert_eq!(digest("ES.1349"), digest("es.1349"));
    }
}
