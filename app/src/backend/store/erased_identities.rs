//! `erased_identities`: who asked to be erased, so nothing from before their request brings
//! their data back (a delivery sent again, a failed one replayed, a backfill). Kept as keyed
//! digests: the key lives beside the database, never in it, so a copy of the database (a backup)
//! holds nothing anyone can test a phone number against.

use crate::domain::{Phone, Timestamp};
use anyhow::Context;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::SqliteConnection;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The HMAC key of the digests (32 bytes).
#[derive(Clone)]
pub struct ErasureKey(Arc<[u8; 32]>);

impl std::fmt::Debug for ErasureKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ErasureKey([redacted])")
    }
}

impl ErasureKey {
    /// `<database>.erasure-key`: read, or made on first use (32 random bytes in hex, mode 600,
    /// created exclusively so two processes starting at once agree on one).
    pub fn beside(database: &Path) -> anyhow::Result<Self> {
        let mut path: PathBuf = database.into();
        path.as_mut_os_string().push(".erasure-key");
        let mut create = std::fs::OpenOptions::new();
        create.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut create, 0o600);
        match create.open(&path) {
            Ok(mut file) => {
                let key: [u8; 32] = rand::random();
                file.write_all(hex::encode(key).as_bytes())
                    .and_then(|()| file.sync_all())
                    .with_context(|| format!("cannot write {}", path.display()))?;
                Ok(Self(Arc::new(key)))
            }
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let bytes = hex::decode(text.trim())
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .with_context(|| {
                        format!("{} is not 32 bytes in hex: restore it", path.display())
                    })?;
                Ok(Self(Arc::new(bytes)))
            }
            Err(err) => Err(err).with_context(|| format!("cannot create {}", path.display())),
        }
    }

    fn digest(&self, identity: &Identity<'_>) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.0.as_slice()).expect("HMAC takes any key");
        match identity {
            Identity::Phone(phone) => {
                mac.update(b"phone:");
                mac.update(phone.as_str().as_bytes());
            }
            Identity::WhatsappUser(id) => {
                mac.update(b"whatsapp_user:");
                mac.update(id.as_bytes());
            }
        }
        hex::encode(mac.finalize().into_bytes())
    }
}

/// What says who someone is, as providers name a sender.
#[derive(Clone, Copy, Debug)]
pub enum Identity<'a> {
    Phone(&'a Phone),
    /// WhatsApp's business-scoped user id, as Meta writes it.
    WhatsappUser(&'a str),
}

/// Records `identities` as erased at `at` (a later erasure of the same identity moves it on).
pub async fn record(
    db: &mut SqliteConnection,
    key: &ErasureKey,
    identities: &[Identity<'_>],
    at: Timestamp,
) -> sqlx::Result<()> {
    for identity in identities {
        sqlx::query(
            "INSERT INTO erased_identities (digest, erased_at) VALUES ($1, $2)
             ON CONFLICT (digest) DO UPDATE SET erased_at = max(erased_at, excluded.erased_at)",
        )
        .bind(key.digest(identity))
        .bind(at)
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

/// The latest erasure of any of `identities`, if one asked to be erased.
pub async fn erased_at(
    db: &mut SqliteConnection,
    key: &ErasureKey,
    identities: &[Identity<'_>],
) -> sqlx::Result<Option<Timestamp>> {
    let mut latest = None;
    for identity in identities {
        let at: Option<Timestamp> =
            sqlx::query_scalar("SELECT erased_at FROM erased_identities WHERE digest = $1")
                .bind(key.digest(identity))
                .fetch_optional(&mut *db)
                .await?;
        latest = latest.max(at);
    }
    Ok(latest)
}

/// Records of erasures made before `before` that no delivery can still bring back: none is
/// pending or failed that was received before the erasure.
const PRUNABLE: &str = "erased_at < $1 AND NOT EXISTS (
    SELECT 1 FROM webhook_events
    WHERE status <> 'processed' AND received_at <= erased_identities.erased_at)";

/// Deletes up to `limit` of the records [`PRUNABLE`] names; how many went.
pub async fn prune(
    db: impl sqlx::SqliteExecutor<'_>,
    before: Timestamp,
    limit: i64,
) -> sqlx::Result<u64> {
    let result = sqlx::query(&format!(
        "DELETE FROM erased_identities WHERE digest IN (
             SELECT digest FROM erased_identities WHERE {PRUNABLE} LIMIT $2)"
    ))
    .bind(before)
    .bind(limit)
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}

pub async fn count_prunable(
    db: impl sqlx::SqliteExecutor<'_>,
    before: Timestamp,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM erased_identities WHERE {PRUNABLE}"
    ))
    .bind(before)
    .fetch_one(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::{ErasureKey, Identity};
    use crate::domain::Phone;

    #[test]
    fn a_digest_is_the_keys_and_the_kinds() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("database.sqlite");
        let key = ErasureKey::beside(&db).unwrap();
        let again = ErasureKey::beside(&db).unwrap();
        let other = ErasureKey::beside(&dir.path().join("other.sqlite")).unwrap();
        let phone = Phone::parse("+34 611 22 33 44").unwrap();
        let digest = key.digest(&Identity::Phone(&phone));
        assert_eq!(digest, again.digest(&Identity::Phone(&phone)), "read back");
        assert_ne!(digest, other.digest(&Identity::Phone(&phone)), "keyed");
        assert_ne!(
            digest,
            key.digest(&Identity::WhatsappUser("+34611223344")),
            "a user id is not a phone"
        );
        use sha2::Digest;
        assert_ne!(
            digest,
            hex::encode(sha2::Sha256::digest(b"+34611223344")),
            "not a plain hash anyone can test numbers against"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("database.sqlite.erasure-key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
