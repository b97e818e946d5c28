//! Data that ends: retention (deleting what is past its time, in bounded batches) and
//! forgetting one user (their events, their list and training history in every version, and a
//! tombstone that keeps later retrains from learning them again).
//!
//! The rules of *when* something may go (which events a serving version still needs, what a
//! tombstone does to the training input) live in `topten_live::retention` and
//! `topten_live::forget`; a backend only deletes what it is told to, idempotently, so a pass
//! killed half-way is completed by running it again.

use async_trait::async_trait;

use crate::error::StoreError;

/// A forgotten user: from `forgotten_ms` on, no retrain learns from the user's rows that are
/// older than that, wherever they are read from. Events received later are a new user's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tombstone {
    /// The external user id.
    pub user_id: String,
    /// When the user was forgotten, epoch milliseconds.
    pub forgotten_ms: i64,
}

/// What a backend removed of one user in one version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserInVersion {
    /// The user's stored list was there and is gone.
    pub list: bool,
    /// The user's training history was there and is gone.
    pub history: bool,
}

/// Which events a retention pass may delete: those that happened (their own timestamp) before
/// `happened_before_ms` *and* were received before `received_before_ms` (what no serving
/// version still folds in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventsDue {
    /// The retention cutoff, epoch milliseconds.
    pub happened_before_ms: i64,
    /// The smallest `events_after_ms` of the serving versions, epoch milliseconds.
    pub received_before_ms: i64,
}

impl EventsDue {
    /// Whether `event` is due.
    pub fn covers(&self, event: &crate::events::StoredEvent) -> bool {
        event.timestamp.saturating_mul(1000) < self.happened_before_ms
            && event.received_at_ms < self.received_before_ms
    }
}

/// Deletion: retention passes and forgetting a user.
#[async_trait]
pub trait Erasure: Send + Sync {
    /// Deletes up to `limit` events that are `due`, with their indexes and client event ids.
    /// Returns how many went; fewer than `limit` means no more are due now. One bounded write
    /// each call, so a pass never blocks readers for long.
    async fn prune_events(&self, due: EventsDue, limit: usize) -> Result<usize, StoreError>;
    /// Deletes up to `limit` live item changes made before `before_ms`. Returns how many.
    async fn prune_item_changes(&self, before_ms: i64, limit: usize) -> Result<usize, StoreError>;
    /// Deletes the answer-count documents of instances that last saved before `before_ms`.
    /// Returns how many.
    async fn prune_answer_counts(&self, before_ms: i64) -> Result<usize, StoreError>;
    /// Deletes every event of `user_id` (interactions, impressions, their attribution) and the
    /// user's client event ids. Returns how many events went.
    async fn delete_user_events(&self, user_id: &str) -> Result<usize, StoreError>;
    /// Deletes `user_id`'s list and training history in `version`.
    async fn delete_user_in_version(
        &self,
        version: &str,
        user_id: &str,
    ) -> Result<UserInVersion, StoreError>;
    /// Records (or moves forward) a user's tombstone.
    async fn put_tombstone(&self, tombstone: &Tombstone) -> Result<(), StoreError>;
    /// Every tombstone.
    async fn tombstones(&self) -> Result<Vec<Tombstone>, StoreError>;
}
