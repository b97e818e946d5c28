//! The writes of the event path that a synchronous backend offers synchronously.
//!
//! An embedded (LMDB) write is a transaction commit with an fsync: it blocks the calling
//! thread for milliseconds, so it must not run on an async worker. A backend whose writes block
//! the thread offers them here ([`crate::VersionStorage::blocking_writes`]); the event path then
//! runs them on the blocking pool as plain calls, and awaits the networked backends' async
//! writes directly. Neither path wraps async code in `block_on`.

use crate::documents::UserRecs;
use crate::error::StoreError;
use crate::events::StoredEvent;

/// Synchronous forms of [`crate::EventLog::append_events`] and
/// [`crate::VersionStorage::put_users`], with the same semantics.
pub trait BlockingWrites: Send + Sync {
    /// Appends events; see [`crate::EventLog::append_events`].
    fn append_events_blocking(&self, events: &[StoredEvent]) -> Result<usize, StoreError>;
    /// Writes user documents of `version`; see [`crate::VersionStorage::put_users`].
    fn put_users_blocking(&self, version: &str, docs: &[UserRecs]) -> Result<(), StoreError>;
}
