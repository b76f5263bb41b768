//! The session store: tower-sessions' SQLite store on our `sessions` table, keyed by a hash of
//! each session's id rather than the id itself. The id is the bearer credential in the cookie;
//! whoever reads the table (a copied backup, a read-only leak) gets hashes, which sign nobody in.

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions_sqlx_store::SqliteStore;

#[derive(Clone, Debug)]
pub struct HashedIds(SqliteStore);

impl HashedIds {
    pub fn new(store: SqliteStore) -> Self {
        Self(store)
    }
}

/// The row key of the session `id`: the first 128 bits of its SHA-256.
fn hashed(id: &Id) -> Id {
    let digest = Sha256::digest(id.0.to_le_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    Id(i128::from_le_bytes(first))
}

fn stored(record: &Record) -> Record {
    Record {
        id: hashed(&record.id),
        ..record.clone()
    }
}

#[async_trait]
impl SessionStore for HashedIds {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let mut row = stored(record);
        let key = row.id;
        self.0.create(&mut row).await?;
        // The store picks another key when the hash is taken (never, at 128 bits): the cookie's
        // id would then not lead to it.
        if row.id != key {
            return Err(session_store::Error::Backend(
                "session id hash collision".into(),
            ));
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.0.save(&stored(record)).await
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        Ok(self
            .0
            .load(&hashed(id))
            .await?
            .map(|record| Record { id: *id, ..record }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.0.delete(&hashed(id)).await
    }
}

#[async_trait]
impl ExpiredDeletion for HashedIds {
    async fn delete_expired(&self) -> session_store::Result<()> {
        self.0.delete_expired().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_not_the_id_and_is_stable() {
        let id = Id(0x1234_5678_9abc_def0_1122_3344_5566_7788);
        assert_ne!(hashed(&id), id);
        assert_eq!(hashed(&id), hashed(&id));
        assert_ne!(hashed(&id), hashed(&Id(id.0 + 1)));
    }
}
