//! Live changes to the catalogue (`PUT /api/items/{itemId}` and friends): each item's latest
//! change, kept durably apart from versions, so it applies on top of every version's
//! catalogue, on every instance, and carries over into the next published version.

use async_trait::async_trait;
use topten_model::catalogue::live::LiveItem;

use crate::error::StoreError;

/// A read-modify-write of live items: given each item's latest stored change (in the order of
/// the ids asked for), the whole items to store, or `None` to store nothing. It may be called
/// more than once (a backend that detects a concurrent change reads again and retries), so
/// it must not have side effects beyond recording why it refused.
pub type ItemUpdate<'a> = dyn Fn(&[Option<LiveItem>]) -> Option<Vec<LiveItem>> + Send + Sync + 'a;

/// How many times an optimistic backend (Redis, Cosmos DB) reads again after a conflicting
/// write before [`update_live_items`](ItemEdits::update_live_items) gives up.
pub const CONFLICT_ATTEMPTS: u32 = 200;

/// The pause before retry `attempt` after a conflicting write: 1 to 11 ms, growing with the
/// attempt, with jitter so that racing writers spread out instead of colliding again.
pub async fn pause_after_conflict(attempt: u32) {
    let ms = 1 + u64::from(attempt % 8) + rand::random::<u64>() % 4;
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

/// The error after [`CONFLICT_ATTEMPTS`] conflicting writes in a row.
pub fn too_many_conflicts(backend: &'static str) -> StoreError {
    StoreError::Unavailable {
        backend,
        message: format!("item changes: {CONFLICT_ATTEMPTS} conflicting writes in a row"),
        retry_after_secs: 1,
    }
}

/// Durable storage of live item changes.
#[async_trait]
pub trait ItemEdits: Send + Sync {
    /// Reads the latest changes of `ids`, calls `update` on them and stores what it returns,
    /// atomically: a change of one of these items made by anyone else in between is never
    /// overwritten (an LMDB write transaction, a Redis compare-and-set script, Cosmos DB
    /// ETags; the latter two retry on a conflict). `Ok(None)` when `update` refused.
    async fn update_live_items(
        &self,
        ids: &[String],
        update: &ItemUpdate<'_>,
    ) -> Result<Option<Vec<LiveItem>>, StoreError>;
    /// Stores `items` (each the whole item after its change), replacing earlier changes of the
    /// same items.
    async fn put_live_items(&self, items: &[LiveItem]) -> Result<(), StoreError>;
    /// One item's latest live change.
    async fn live_item(&self, item_id: &str) -> Result<Option<LiveItem>, StoreError>;
    /// Every item whose latest change was received at or after `since_ms` (epoch ms).
    async fn live_items_since(&self, since_ms: i64) -> Result<Vec<LiveItem>, StoreError>;
}
