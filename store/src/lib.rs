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
//! # Layout
//! - this file: the stored documents ([`UserRecs`], [`VersionInfo`], [`ActiveVersion`]), the
//!   [`Store`] interface and [`StoreError`].
//! - [`publish`]: writing a model as a new version, then activating it.
//! - [`embedded`]: the LMDB backend; [`compact`]: rewriting its file without dead pages.
//! - [`export`] and [`recs_snapshot`]: one version as a read-only file, and serving from it.
//! - [`events`]: live interaction events: validation, storage form, conversion to training input.
//! - [`realtime`]: folding a user's fresh events into the active version and writing the list back.
//! - [`contract`]: the behaviour every backend must show, as a test suite the backends run.
#![deny(missing_docs)]

pub mod compact;
pub mod embedded;
pub mod events;
pub mod export;
pub mod publish;
pub mod realtime;
pub mod recs_snapshot;


use async_trait::async_trait;

use crate::events::StoredEvent;

/// One recommended item as stored and served.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemScore {
    /// External item id.
    pub item_id: String,
    /// Model score (higher is better).
    pub score: f32,
    /// Display title, when the publisher was given an item file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// A user's precomputed recommendations in one version: one document, one point read.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRecs {
    /// Document id (`{version}:{userId}`).
    pub id: String,
    /// External user id (the partition key in Cosmos DB).
    pub user_id: String,
    /// Best first.
    pub items: Vec<ItemScore>,
    /// Version the document belongs to.
    pub model_version: String,
    /// RFC 3339 creation time.
    pub created_at: String,
}

/// The serving answer for one user: the first k stored items not excluded, as a JSON array
/// (`[{"itemId":..,"score":..},..]`), ready to be copied into a response.
#[derive(Debug, Clone, PartialEq)]
pub struct TopItems {
    /// Version of the document.
    pub model_version: String,
    /// JSON array of the selected items, best first.
    pub items_json: Vec<u8>,
    /// How many items were selected.
    pub count: usize,
    /// The stored list ran out before `k` items were selected (filters removed too many).
    pub exhausted: bool,
}

impl TopItems {
    /// The answer for `count` items selected (as `items_json`) when `k` were asked for: the
    /// list is exhausted when fewer came out.
    pub fn selected(model_version: String, items_json: Vec<u8>, count: usize, k: usize) -> Self {
        TopItems {
            model_version,
            items_json,
            count,
            exhausted: count < k,
        }
    }
}

#[derive(serde::Deserialize)]
struct RawDoc<'a> {
    #[serde(borrow, rename = "modelVersion")]
    model_version: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    items: Vec<&'a serde_json::value::RawValue>,
}

#[derive(serde::Deserialize)]
struct RawItemId<'a> {
    #[serde(borrow, rename = "itemId")]
    item_id: std::borrow::Cow<'a, str>,
}

/// Whether a stored item fragment (`{"itemId":...}`) is in `exclude`.
pub fn fragment_excluded(fragment: &[u8], exclude: &[String]) -> Result<bool, serde_json::Error> {
    if exclude.is_empty() {
        return Ok(false);
    }
    let id: RawItemId = serde_json::from_slice(fragment)?;
    Ok(exclude.iter().any(|e| *e == id.item_id))
}

/// Selects from a stored JSON document without decoding each item (the generic path).
pub fn top_items_from_json(
    json: &[u8],
    k: usize,
    exclude: &[String],
) -> Result<TopItems, serde_json::Error> {
    let doc: RawDoc = serde_json::from_slice(json)?;
    let fragments = doc.items.iter().map(|i| i.get().as_bytes());
    let (items_json, count) = join_fragments(fragments, k, exclude)?;
    Ok(TopItems::selected(
        doc.model_version.into_owned(),
        items_json,
        count,
        k,
    ))
}

/// Joins the first `k` non-excluded fragments into a JSON array; returns it and its length.
pub fn join_fragments<'a>(
    fragments: impl Iterator<Item = &'a [u8]>,
    k: usize,
    exclude: &[String],
) -> Result<(Vec<u8>, usize), serde_json::Error> {
    let mut out = Vec::with_capacity(1024);
    out.push(b'[');
    let mut n = 0;
    for f in fragments {
        if n == k {
            break;
        }
        if fragment_excluded(f, exclude)? {
            continue;
        }
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(f);
        n += 1;
    }
    out.push(b']');
    Ok((out, n))
}

/// Lifecycle of a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VersionStatus {
    /// Being written; never served.
    Writing,
    /// Fully written and verified; can be activated.
    Complete,
}

/// What a version is: its status, size and the model that produced it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    /// Version id, sortable by creation time (`v20261126T083306Z-ab12cd`).
    pub version: String,
    /// Lifecycle status.
    pub status: VersionStatus,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// User documents expected.
    pub expected_users: usize,
    /// User documents written and verified (set when complete).
    pub users: usize,
    /// Items stored per user.
    pub items_per_user: usize,
    /// Model summary: parameters, metrics, data fingerprint, source.
    #[serde(default)]
    pub model: serde_json::Value,
    /// Quality-gate decision that led to this version (retrain only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<serde_json::Value>,
}

/// The pointer the handler follows.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveVersion {
    /// Active version id.
    pub version: String,
    /// When it became active.
    pub activated_at: String,
    /// Previously active versions, most recent first (what `rollback` returns to).
    #[serde(default)]
    pub history: Vec<String>,
}

impl ActiveVersion {
    /// The pointer that activates `version` now, given what the store holds about it (`info`):
    /// the one rule every backend applies, that only a complete version can be activated.
    pub fn activate(
        version: &str,
        info: Option<VersionInfo>,
        history: Vec<String>,
    ) -> Result<Self, StoreError> {
        match info {
            None => Err(StoreError::NotFound(format!("version {version}"))),
            Some(i) if i.status != VersionStatus::Complete => Err(StoreError::Conflict(format!(
                "version {version} is not complete (a publish did not finish); it cannot be activated"
            ))),
            Some(_) => Ok(ActiveVersion {
                version: version.to_owned(),
                activated_at: topten_model::clock::now_rfc3339(),
                history,
            }),
        }
    }
}

/// Store failures, kept apart so the API can map them to status codes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store URI is malformed or names an unknown backend.
    #[error("invalid store URI {uri:?}: {why}")]
    InvalidUri {
        /// URI as given.
        uri: String,
        /// What is wrong.
        why: String,
    },
    /// The store does not exist (and the command may not create one).
    #[error(
        "store {uri} does not exist; `topten publish` creates it (other commands take --create)"
    )]
    Missing {
        /// URI as given.
        uri: String,
    },
    /// A version (or other named thing) does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The operation conflicts with the store's state (activating an incomplete version,
    /// deleting the active one, a count mismatch).
    #[error("{0}")]
    Conflict(String),
    /// An argument is out of range (e.g. zero items per user).
    #[error("{0}")]
    InvalidArgument(String),
    /// The backend failed (I/O, database, network).
    #[error("{backend} store: {message}")]
    Backend {
        /// Backend name.
        backend: &'static str,
        /// What failed.
        message: String,
    },
    /// The backend does not implement this operation.
    #[error("the {backend} store does not support {what}")]
    Unsupported {
        /// Backend name.
        backend: &'static str,
        /// Operation.
        what: &'static str,
    },
    /// The backend did not answer in time or is shedding load.
    #[error("{backend} store unavailable: {message}")]
    Unavailable {
        /// Backend name.
        backend: &'static str,
        /// What happened.
        message: String,
        /// Suggested wait before retrying, in seconds.
        retry_after_secs: u64,
    },
}

/// What writes have cost so far, for backends with provisioned throughput (Cosmos DB).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WriteStats {
    /// Request units charged (sum of `x-ms-request-charge`).
    pub request_units: f64,
    /// Writes answered 429 (throttled) and retried.
    pub throttled: u64,
    /// Retries of any cause (throttling, 5xx, timeouts).
    pub retries: u64,
}

/// The store interface shared by publisher and handler. Reads are point reads by key.
#[async_trait]
pub trait Store: Send + Sync {
    /// Short backend name for logs and `/api/health`.
    fn backend(&self) -> &'static str;
    /// Cheap reachability check.
    async fn health(&self) -> Result<(), StoreError>;
    /// The active pointer, if any version was ever activated.
    async fn active(&self) -> Result<Option<ActiveVersion>, StoreError>;
    /// One user's document in `version` (one point read).
    async fn user_recs(&self, version: &str, user_id: &str)
        -> Result<Option<UserRecs>, StoreError>;
    /// The same document as raw JSON bytes: the serving fast path, which copies the stored
    /// JSON into the response instead of parsing every item. Backends that store JSON override
    /// it; the default serialises [`Store::user_recs`].
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
    /// The first `k` items of the user's document not in `exclude`: what the API serves.
    /// Backends can answer without decoding the whole document; the default parses the JSON.
    async fn user_top_items(
        &self,
        version: &str,
        user_id: &str,
        k: usize,
        exclude: &[String],
    ) -> Result<Option<TopItems>, StoreError> {
        match self.user_recs_json(version, user_id).await? {
            Some(json) => top_items_from_json(&json, k, exclude)
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
    /// The user ids of `version` (for exports; backends that cannot list say so).
    async fn user_ids(&self, _version: &str) -> Result<Vec<String>, StoreError> {
        Err(StoreError::Unsupported {
            backend: self.backend(),
            what: "listing a version's users",
        })
    }
    /// One version's info.
    async fn version(&self, version: &str) -> Result<Option<VersionInfo>, StoreError>;
    /// Registers a new version with status `writing`.
    async fn create_version(&self, info: &VersionInfo) -> Result<(), StoreError>;
    /// Writes a batch of user documents of a `writing` version.
    async fn write_users(&self, version: &str, docs: &[UserRecs]) -> Result<(), StoreError>;
    /// Writes the cold-start list of a `writing` version.
    async fn write_popular(&self, version: &str, items: &[ItemScore]) -> Result<(), StoreError>;
    /// Counts the version's user documents and, if the count matches, marks it `complete`.
    async fn finish_version(&self, version: &str) -> Result<VersionInfo, StoreError>;
    /// Atomically points `active` at a complete version, remembering the previous one.
    async fn activate(&self, version: &str) -> Result<ActiveVersion, StoreError>;
    /// Re-activates the most recent previously active version that still exists.
    async fn rollback(&self) -> Result<ActiveVersion, StoreError>;
    /// Deletes a version that is not active (with its snapshot and histories).
    async fn delete_version(&self, version: &str) -> Result<(), StoreError>;

    // --- Real-time personalisation. Backends without support keep serving precomputed lists:
    // --- writes of snapshots/histories are skipped, reads find nothing, events are refused.

    /// Stores the version's serving snapshot (item ids and factors, see [`topten_model::snapshot`]).
    async fn write_snapshot(&self, _version: &str, _bytes: &[u8]) -> Result<(), StoreError> {
        Ok(())
    }
    /// The version's serving snapshot.
    async fn snapshot(&self, _version: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(None)
    }
    /// Stores users' training histories for the version ([`topten_model::snapshot::encode_history`]).
    async fn write_histories(
        &self,
        _version: &str,
        _histories: &[(String, Vec<u8>)],
    ) -> Result<(), StoreError> {
        Ok(())
    }
    /// One user's training history in the version.
    async fn user_history(
        &self,
        _version: &str,
        _user_id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(None)
    }
    /// Replaces (or adds) one user's document in a complete version: the write-back of a
    /// fold-in, so every instance serves the fresh list with one read.
    async fn upsert_user_recs(&self, _doc: &UserRecs) -> Result<(), StoreError> {
        Err(StoreError::Unsupported {
            backend: self.backend(),
            what: "writing back folded-in recommendations",
        })
    }
    /// [`Store::upsert_user_recs`] for many users at once (publishing folds in every user with
    /// live events): backends with transactions write the batch in one.
    async fn upsert_users_recs(&self, docs: &[UserRecs]) -> Result<(), StoreError> {
        for doc in docs {
            self.upsert_user_recs(doc).await?;
        }
        Ok(())
    }
    /// Appends events durably, all or nothing; events whose `eventId` was seen before are
    /// skipped. Returns how many were new.
    async fn append_events(&self, _events: &[StoredEvent]) -> Result<usize, StoreError> {
        Err(StoreError::Unsupported {
            backend: self.backend(),
            what: "events",
        })
    }
    /// A user's events, oldest first.
    async fn user_events(&self, _user_id: &str) -> Result<Vec<StoredEvent>, StoreError> {
        Ok(Vec::new())
    }
    /// Every event received at or after `since_ms` (epoch milliseconds), for retraining.
    async fn events_since(&self, _since_ms: i64) -> Result<Vec<StoredEvent>, StoreError> {
        Ok(Vec::new())
    }
    /// Request units and throttling so far (`None` for backends without such costs).
    fn write_stats(&self) -> Option<WriteStats> {
        None
    }
}

/// Most previously active versions remembered for `rollback`.
pub const ACTIVATION_HISTORY: usize = 20;

/// The rollback history after activating `version` over `previous`, or `Err(previous)` when
/// `version` is already active (activation is then a no-op). Shared by every backend.
pub fn activation_history(
    previous: Option<ActiveVersion>,
    version: &str,
) -> Result<Vec<String>, ActiveVersion> {
    let mut history = Vec::new();
    if let Some(prev) = previous {
        if prev.version == version {
            return Err(prev);
        }
        history.push(prev.version);
        history.extend(prev.history);
    }
    history.retain(|v| v != version);
    history.truncate(ACTIVATION_HISTORY);
    Ok(history)
}

/// Document id of a user's recommendations in a version.
pub fn doc_id(version: &str, user_id: &str) -> String {
    format!("{version}:{user_id}")
}

/// The contract suite every backend passes (public so that backends' integration tests, which
/// need servers, can run it too).
#[doc(hidden)]
pub mod contract;
