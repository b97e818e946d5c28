//! Where published recommendations live: the store interfaces, used by the trainer to publish
//! and by the handler to serve, the embedded backend, read-only list files, and live events.
//!
//! A **model version** is a complete set of per-user documents
//! `{id, userId, items: [{itemId, score, title?}], modelVersion, createdAt}`, a popular-items
//! list for cold start, and a [`VersionInfo`]. Publishing writes the whole version (status
//! `writing`), marks it `complete` once the written count equals the expected count, and only
//! then can an `active` pointer switch to it, in one atomic write. A publish that crashes or is
//! killed leaves a `writing` version nobody reads; the old version keeps serving.
//!
//! Backends: [`embedded`] (LMDB through heed: one file, crash-safe copy-on-write B-tree, readers
//! in any process never block the writer), Cosmos DB (in `topten_azure`, what serves in Azure)
//! and [`recs_snapshot`] (read-only: one version exported by [`export`], for edge copies such as
//! the Lambda function).
//!
//! # Roles
//! A store plays up to six roles, one trait each:
//! - [`RecsReader`]: what serving reads (every backend, including read-only list files);
//! - [`Publisher`]: the version lifecycle, written once on top of the primitives a read-write
//!   backend provides ([`VersionStorage`]);
//! - [`EventLog`]: live events, durable and idempotent;
//! - [`ItemEdits`]: live changes to the catalogue, durable across versions;
//! - [`AnswerCountStore`]: answers served, saved by each instance under its own id;
//! - [`Erasure`]: deleting what is past retention, and forgetting a user.
//!
//! [`Store`] is a read-write backend: all of them. [`StoreHandle`] is what opening a store URI
//! gives: a reader, and the full store when the backend can write.
//!
//! # Layout
//! - [`documents`]: the stored-document format ([`UserRecs`], [`VersionInfo`],
//!   [`ActiveVersion`]) and the fast paths that select from a stored list.
//! - [`reader`], [`lifecycle`], [`event_log`], [`item_edits`], [`erasure`]: the roles; [`error`]:
//!   [`StoreError`].
//! - [`item_factors`]: factors of items solved from live events, stored in their version.
//! - [`quality`]: each version's holdout figure and what it was measured on.
//! - [`blocking`]: the event path's writes, offered synchronously by backends whose writes
//!   block the thread.
//! - [`breaker`]: the read timeout and circuit breaker of the networked backends;
//!   [`env_setting`]: their settings from the environment.
//! - [`embedded`]: the LMDB backend; [`compact`]: rewriting its file without dead pages.
//! - [`export`] and [`recs_snapshot`]: one version as a read-only file, and serving from it.
//! - [`events`]: live interaction events as the event log stores them; [`answer_counts`]:
//!   answers served per instance.
//! - `contract` (feature `contract`): the behaviour every backend must show, as a test suite
//!   the backends run.
//!
//! What live events *do* (validation, attribution, fold-in, trending, the online report) and
//! publishing a model are in `topten_live`, which builds on these roles.
#![deny(missing_docs)]

pub mod answer_counts;
pub mod blocking;
pub mod breaker;
pub mod compact;
pub mod documents;
pub mod embedded;
pub mod env_setting;
pub mod erasure;
pub mod error;
pub mod event_log;
pub mod events;
pub mod export;
pub mod item_edits;
pub mod item_factors;
pub mod lifecycle;
pub mod quality;
pub mod reader;
pub mod recs_snapshot;

/// The contract suite every backend passes: the store's own tests run it, and backends'
/// integration tests (which need servers) enable the `contract` feature to run it too.
#[cfg(any(test, feature = "contract"))]
pub mod contract;

use std::sync::Arc;

pub use answer_counts::{AnswerCountStore, AnswerCounts};
pub use documents::{
    doc_id, ids_at, join_fragments, normalise_popular, top_items_from_json, ActiveVersion, DocTail,
    Experiment, ExperimentRecord, ItemFilter, ItemScore, Joined, TopItems, UserRecs, VersionInfo,
    VersionStatus, PAST_EXPERIMENTS,
};
pub use erasure::{Erasure, EventsDue, Tombstone, UserInVersion};
pub use error::StoreError;
pub use event_log::EventLog;
pub use item_edits::{ItemEdits, ItemUpdate};
pub use item_factors::ItemFactor;
pub use lifecycle::{Publisher, VersionStorage, WriteStats};
pub use reader::{LendRecs, RecsKey, RecsReader, StoredRecs};

/// A read-write backend: it serves, publishes versions, logs events and keeps live item
/// changes.
pub trait Store: VersionStorage + EventLog + ItemEdits + AnswerCountStore + Erasure {}

impl<T: VersionStorage + EventLog + ItemEdits + AnswerCountStore + Erasure + ?Sized> Store for T {}

/// An opened store: always a reader; the full [`Store`] when the backend can write.
#[derive(Clone)]
pub struct StoreHandle {
    reader: Arc<dyn RecsReader>,
    store: Option<Arc<dyn Store>>,
}

impl StoreHandle {
    /// A read-write backend.
    pub fn read_write(store: Arc<dyn Store>) -> Self {
        StoreHandle {
            reader: store.clone(),
            store: Some(store),
        }
    }

    /// A read-only backend (a list file).
    pub fn read_only(reader: Arc<dyn RecsReader>) -> Self {
        StoreHandle {
            reader,
            store: None,
        }
    }

    /// What serving reads.
    pub fn reader(&self) -> &Arc<dyn RecsReader> {
        &self.reader
    }

    /// The full store, or [`StoreError::Unsupported`] naming `what` was asked of a read-only
    /// backend.
    pub fn store(&self, what: &'static str) -> Result<&Arc<dyn Store>, StoreError> {
        self.store.as_ref().ok_or(StoreError::Unsupported {
            backend: self.reader.backend(),
            what,
        })
    }
}

/// The store traits, to bring their methods into scope: `use topten_store::prelude::*;`.
pub mod prelude {
    pub use crate::{
        AnswerCountStore, Erasure, EventLog, ItemEdits, Publisher, RecsReader, Store,
        VersionStorage,
    };
}
