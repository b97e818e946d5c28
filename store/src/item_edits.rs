//! Live changes to the catalogue (`PUT /api/items/{itemId}` and friends): each item's latest
//! change, kept durably apart from versions, so it applies on top of every version's
//! catalogue, on every instance, and carries over into the next published version.

use async_trait::async_trait;
use topten_model::catalogue::live::LiveItem;

use crate::error::StoreError;

/// Durable storage of live item changes.
#[async_trait]
pub trait ItemEdits: Send + Sync {
    /// Stores `items` (each the whole item after its change), replacing earlier changes of the
    /// same items.
    async fn put_live_items(&self, items: &[LiveItem]) -> Result<(), StoreError>;
    /// One item's latest live change.
    async fn live_item(&self, item_id: &str) -> Result<Option<LiveItem>, StoreError>;
    /// Every item whose latest change was received at or after `since_ms` (epoch ms).
    async fn live_items_since(&self, since_ms: i64) -> Result<Vec<LiveItem>, StoreError>;
}
