//! The event log: live interaction events, kept durably per user so that fold-in can use them
//! at once and the next retrain can train on them.

use async_trait::async_trait;

use crate::error::StoreError;
use crate::events::StoredEvent;

/// Durable, idempotent storage of live events.
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Appends events durably, all or nothing; events whose `eventId` was seen before for the
    /// same user are skipped. Returns how many were new.
    async fn append_events(&self, events: &[StoredEvent]) -> Result<usize, StoreError>;
    /// A user's events, oldest first.
    async fn user_events(&self, user_id: &str) -> Result<Vec<StoredEvent>, StoreError>;
    /// Every event received at or after `since_ms` (epoch milliseconds), for retraining.
    async fn events_since(&self, since_ms: i64) -> Result<Vec<StoredEvent>, StoreError>;
}
