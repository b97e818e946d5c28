//! What serving reads: point reads by key, and nothing that changes the store. Every backend
//! implements it, the read-only list file ([`crate::recs_snapshot`]) nothing else.

use async_trait::async_trait;

use crate::documents::{
    top_items_from_json, ActiveVersion, ItemFilter, ItemScore, TopItems, UserRecs, VersionInfo,
};
use crate::error::StoreError;

/// The reads serving needs. Reads are point reads by key.
#[async_trait]
pub trait RecsReader: Send + Sync {
    /// Short backend name for logs and `/api/health`.
    fn backend(&self) -> &'static str;
    /// Cheap reachability check.
    async fn health(&self) -> Result<(), StoreError>;
    /// Connects now, and checks what would make the store unsafe to serve from (an evicting
    /// Redis drops users' lists silently), so a server refuses at start-up rather than at its
    /// first request. [`StoreError::Unavailable`] means only "not reachable yet".
    async fn preflight(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// The active pointer, if any version was ever activated.
    async fn active(&self) -> Result<Option<ActiveVersion>, StoreError>;
    /// One user's document in `version` (one point read).
    async fn user_recs(&self, version: &str, user_id: &str)
        -> Result<Option<UserRecs>, StoreError>;
    /// The same document as raw JSON bytes: the serving fast path, which copies the stored
    /// JSON into the response instead of parsing every item. Backends that store JSON override
    /// it; the default serialises [`RecsReader::user_recs`].
    async fn user_recs_json(
        &self,
        version: &str,
        user_id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        match self.user_recs(version, user_id).await? {
            Some(doc) => Ok(Some(serde_json::to_vec(&doc).map_err(|e| {
                StoreError::Backend {
                    backend: self.backend(),
                    message: e.to_string(),
                }
            })?)),
            None => Ok(None),
        }
    }
    /// The first `k` items of the user's document that `filter` does not skip: what the API
    /// serves. Backends can answer without decoding the whole document; the default parses
    /// the JSON.
    async fn user_top_items(
        &self,
        version: &str,
        user_id: &str,
        k: usize,
        filter: &ItemFilter<'_>,
    ) -> Result<Option<TopItems>, StoreError> {
        match self.user_recs_json(version, user_id).await? {
            Some(json) => top_items_from_json(&json, k, filter)
                .map(Some)
                .map_err(|e| StoreError::Backend {
                    backend: self.backend(),
                    message: format!("stored document for {user_id:?} is invalid: {e}"),
                }),
            None => Ok(None),
        }
    }
    /// The cold-start list of `version`.
    async fn popular(&self, version: &str) -> Result<Option<Vec<ItemScore>>, StoreError>;
    /// All versions, oldest first.
    async fn versions(&self) -> Result<Vec<VersionInfo>, StoreError>;
    /// One version's info.
    async fn version(&self, version: &str) -> Result<Option<VersionInfo>, StoreError>;
    /// The user ids of `version` (for exports).
    async fn user_ids(&self, version: &str) -> Result<Vec<String>, StoreError>;
    /// The version's serving model (item ids and factors, see [`topten_model::serving_model`]), if
    /// it has one: what request-time fold-in and similar items need.
    async fn serving_model(&self, _version: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(None)
    }
    /// The version's catalogue in its stored form
    /// ([`topten_model::catalogue::Catalogue::to_json_lines`]), if it was published with one.
    async fn catalogue(&self, _version: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(None)
    }
    /// One user's training history in the version
    /// ([`topten_model::serving_model::encode_history`]), if stored.
    async fn user_history(
        &self,
        _version: &str,
        _user_id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(None)
    }
}
