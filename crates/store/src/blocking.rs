//! The writes of the event path that a synchronous backend offers synchronously.
//!
//! An embedded (LMDB) write is a transaction commit with an fsync: it blocks the calling
//! thread for milliseconds, so it must not run on an async worker. A backend whose writes block
//! the thread offers them here ([`crate::VersionStorage::blocking_writes`]); the event path then
//! runs them on the blocking pool as plain calls, and awaits the networked backends' async
//! writes directly ([`append_events`], [`put_users`]). Neither path wraps async code in
//! `block_on`.

use std::sync::Arc;

use crate::documents::UserRecs;
use crate::error::StoreError;
use crate::events::StoredEvent;
use crate::prelude::*;

/// Synchronous forms of [`crate::EventLog::append_events`] and
/// [`crate::VersionStorage::put_users`], with the same semantics.
pub trait BlockingWrites: Send + Sync {
    /// Appends events; see [`crate::EventLog::append_events`].
    fn append_events_blocking(&self, events: &[StoredEvent]) -> Result<usize, StoreError>;
    /// Writes user documents of `version`; see [`crate::VersionStorage::put_users`].
    fn put_users_blocking(&self, version: &str, docs: &[UserRecs]) -> Result<(), StoreError>;
}

/// Appends `events` as the event path must: on the blocking pool, as a plain call, where the
/// backend's writes block the thread; awaited otherwise.
pub async fn append_events(
    store: Arc<dyn Store>,
    events: Vec<StoredEvent>,
) -> Result<usize, StoreError> {
    if store.blocking_writes().is_none() {
        return store.append_events(&events).await;
    }
    on_blocking_pool(store, move |w| w.append_events_blocking(&events)).await
}

/// Writes user documents, version by version, as [`append_events`] writes events.
pub async fn put_users(
    store: Arc<dyn Store>,
    batches: Vec<(String, Vec<UserRecs>)>,
) -> Result<(), StoreError> {
    if store.blocking_writes().is_none() {
        for (version, docs) in &batches {
            store.put_users(version, docs).await?;
        }
        return Ok(());
    }
    on_blocking_pool(store, move |w| {
        batches
            .iter()
            .try_for_each(|(version, docs)| w.put_users_blocking(version, docs))
    })
    .await
}

/// Runs `write` with `store`'s blocking writes (which the callers checked exist) on the
/// blocking pool.
async fn on_blocking_pool<T: Send + 'static>(
    store: Arc<dyn Store>,
    write: impl FnOnce(&dyn BlockingWrites) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let backend = store.backend();
    tokio::task::spawn_blocking(move || {
        let writes = store
            .blocking_writes()
            .expect("called for a store with blocking writes");
        write(writes)
    })
    .await
    .map_err(|e| StoreError::Backend {
        backend,
        message: format!("write task: {e}"),
    })?
}
