//! The snapshot store (`snapshot:PATH`): a read-only [`RecsReader`] over a recommendations snapshot
//! written by `topten export-snapshot` ([`crate::export`]). It holds one version, always active;
//! it implements nothing but the reader. It lets the native handler (and the Lambda function) serve exactly
//! the data the WebAssembly component embeds, from a file shipped with the code.

use async_trait::async_trait;
use topten_edge::snapshot::{ItemList, RecsSnapshot};

use crate::reader::{LendRecs, RecsKey, StoredRecs};
use crate::{ActiveVersion, ItemScore, RecsReader, StoreError, VersionInfo, VersionStatus};
use topten_model::clock::rfc3339;

fn backend_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend {
        backend: "snapshot",
        message: e.to_string(),
    }
}

/// A snapshot file in memory.
pub struct SnapshotStore {
    bytes: Vec<u8>,
    version: String,
    loaded_at: String,
}

impl SnapshotStore {
    /// Reads and verifies the file at `path`.
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let bytes =
            std::fs::read(path).map_err(|e| backend_err(format!("{}: {e}", path.display())))?;
        Self::from_bytes(bytes).map_err(|e| backend_err(format!("{}: {e}", path.display())))
    }

    /// Verifies `bytes` (every table entry, once) and keeps them.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, StoreError> {
        let snap = RecsSnapshot::parse(&bytes).map_err(backend_err)?;
        snap.verify().map_err(backend_err)?;
        let version = snap.version().to_owned();
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Ok(SnapshotStore {
            bytes,
            version,
            loaded_at: rfc3339(secs as i64),
        })
    }

    fn snap(&self) -> RecsSnapshot<'_> {
        RecsSnapshot::parse(&self.bytes).expect("verified when loaded")
    }

    fn list(&self, version: &str, user_id: &str) -> Result<Option<ItemList<'_>>, StoreError> {
        if version != self.version {
            return Ok(None);
        }
        self.snap().user(user_id).map_err(backend_err)
    }
}

fn decode(list: ItemList<'_>) -> Result<Vec<ItemScore>, StoreError> {
    list.iter()
        .map(|(_, json)| serde_json::from_slice(json).map_err(backend_err))
        .collect()
}

#[async_trait]
impl RecsReader for SnapshotStore {
    fn backend(&self) -> &'static str {
        "snapshot"
    }

    async fn health(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn active(&self) -> Result<Option<ActiveVersion>, StoreError> {
        Ok(Some(ActiveVersion {
            version: self.version.clone(),
            activated_at: self.loaded_at.clone(),
            history: Vec::new(),
            experiment: None,
            past_experiments: Vec::new(),
        }))
    }

    async fn read_user(&self, key: RecsKey<'_>, read: &mut LendRecs) -> Result<(), StoreError> {
        let RecsKey {
            version,
            user: user_id,
        } = key;
        if let Some(items) = self.list(version, user_id)? {
            read(StoredRecs::List {
                items,
                created_at: &self.loaded_at,
            });
        }
        Ok(())
    }

    async fn popular(&self, version: &str) -> Result<Option<Vec<ItemScore>>, StoreError> {
        if version != self.version {
            return Ok(None);
        }
        decode(self.snap().popular().map_err(backend_err)?).map(Some)
    }

    /// The items the file lists with an expiry, as a catalogue: the handler then stops serving
    /// each when it expires, as an edge copy does.
    async fn catalogue(&self, version: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let snap = self.snap();
        if version != self.version || snap.expiries() == 0 {
            return Ok(None);
        }
        let items = (0..snap.expiries())
            .map(|i| {
                let (id, t) = snap.expiry(i).map_err(backend_err)?;
                let mut item = topten_model::catalogue::CatalogueItem::new(id);
                item.expires_at = Some(t);
                Ok(item)
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some(
            topten_model::catalogue::Catalogue::from_items(items).to_json_lines(),
        ))
    }

    async fn versions(&self) -> Result<Vec<VersionInfo>, StoreError> {
        Ok(self.version(&self.version).await?.into_iter().collect())
    }

    async fn user_ids(&self, version: &str) -> Result<Vec<String>, StoreError> {
        if version != self.version {
            return Ok(Vec::new());
        }
        let snap = self.snap();
        (0..snap.users())
            .map(|i| {
                snap.entry(i)
                    .map(|(u, _)| u.to_owned())
                    .map_err(backend_err)
            })
            .collect()
    }

    async fn version(&self, version: &str) -> Result<Option<VersionInfo>, StoreError> {
        if version != self.version {
            return Ok(None);
        }
        let snap = self.snap();
        let mut longest = 0;
        for i in 0..snap.users() {
            longest = longest.max(snap.entry(i).map_err(backend_err)?.1.len());
        }
        Ok(Some(VersionInfo {
            version: self.version.clone(),
            status: VersionStatus::Complete,
            created_at: self.loaded_at.clone(),
            expected_users: snap.users(),
            users: snap.users(),
            items_per_user: longest,
            model: serde_json::json!({ "source": "snapshot" }),
            quality: None,
        }))
    }
}
