//! What serving reads: point reads by key, and nothing that changes the store. Every backend
//! implements it, the read-only list file ([`crate::recs_snapshot`]) nothing else.

use async_trait::async_trait;

use topten_edge::body::join_items;
use topten_edge::snapshot::ItemList;

use crate::documents::{
    doc_id, json_part, top_items_from_stored, ActiveVersion, DocTail, ItemFilter, ItemScore,
    TopItems, UserRecs, VersionInfo,
};
use crate::error::StoreError;

/// Which stored list [`RecsReader::read_user`] reads: one user's, in one version.
#[derive(Clone, Copy, Debug)]
pub struct RecsKey<'a> {
    /// The version.
    pub version: &'a str,
    /// The user id.
    pub user: &'a str,
}

/// What [`RecsReader::read_user`] lends a user's stored document to, for the length of the read.
pub type LendRecs<'a> = dyn for<'d> FnMut(StoredRecs<'d>) + Send + 'a;

/// One user's stored document, as its backend holds it, lent for one read
/// ([`RecsReader::read_user`]).
#[derive(Clone, Copy)]
pub enum StoredRecs<'a> {
    /// The document's JSON, plain (Cosmos DB) or behind an index of its items' spans
    /// ([`crate::documents::decode_doc`]: the embedded store, Redis).
    Document(&'a [u8]),
    /// A list file's entry: each item's id beside its JSON, and when the file was loaded.
    List {
        /// The items, best first.
        items: ItemList<'a>,
        /// The document's `createdAt`.
        created_at: &'a str,
    },
}

impl StoredRecs<'_> {
    fn to_recs(self, version: &str, user_id: &str) -> Result<UserRecs, serde_json::Error> {
        match self {
            StoredRecs::Document(bytes) => serde_json::from_slice(json_part(bytes)),
            StoredRecs::List { items, created_at } => Ok(UserRecs {
                id: doc_id(version, user_id),
                user_id: user_id.to_owned(),
                items: items
                    .iter()
                    .map(|(_, json)| serde_json::from_slice(json))
                    .collect::<Result<_, _>>()?,
                model_version: version.to_owned(),
                created_at: created_at.to_owned(),
                factor: None,
                has_new: Vec::new(),
            }),
        }
    }

    /// What the document holds beside its items (a list file: nothing).
    fn tail(self) -> Result<DocTail, serde_json::Error> {
        match self {
            StoredRecs::Document(bytes) => crate::documents::doc_tail(bytes),
            StoredRecs::List { .. } => Ok(DocTail::default()),
        }
    }

    fn to_json(self, version: &str, user_id: &str) -> Result<Vec<u8>, serde_json::Error> {
        match self {
            StoredRecs::Document(bytes) => Ok(json_part(bytes).to_vec()),
            list => serde_json::to_vec(&list.to_recs(version, user_id)?),
        }
    }

    fn top_items(
        self,
        version: &str,
        k: usize,
        filter: &ItemFilter<'_>,
    ) -> Result<TopItems, serde_json::Error> {
        match self {
            StoredRecs::Document(bytes) => top_items_from_stored(bytes, version, k, filter),
            StoredRecs::List { items, .. } => {
                // The list carries each item's id beside its JSON: the filter needs no parsing.
                let (items_json, count) =
                    join_items(items.iter().filter(|(id, _)| !filter.skips(id)), k, &[]);
                Ok(TopItems::selected(version.to_owned(), items_json, count, k))
            }
        }
    }
}

/// A stored document that does not parse.
fn invalid(backend: &'static str, user_id: &str, e: serde_json::Error) -> StoreError {
    StoreError::Backend {
        backend,
        message: format!("stored document for {user_id:?} is invalid: {e}"),
    }
}

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
    /// The one per-user read every backend implements: one point read of the user's document
    /// in `version`, lent to `read` in the backend's stored form (`read` is not called when the
    /// user has none). [`RecsReader::user_recs`], [`RecsReader::user_recs_json`] and
    /// [`RecsReader::user_top_items`] are built on it, once for every backend.
    async fn read_user(&self, key: RecsKey<'_>, read: &mut LendRecs) -> Result<(), StoreError>;
    /// One user's document in `version`.
    async fn user_recs(&self, version: &str, user: &str) -> Result<Option<UserRecs>, StoreError> {
        let mut out = None;
        self.read_user(RecsKey { version, user }, &mut |doc| {
            out = Some(doc.to_recs(version, user))
        })
        .await?;
        out.transpose()
            .map_err(|e| invalid(self.backend(), user, e))
    }
    /// The same document as JSON bytes.
    async fn user_recs_json(
        &self,
        version: &str,
        user: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let mut out = None;
        self.read_user(RecsKey { version, user }, &mut |doc| {
            out = Some(doc.to_json(version, user))
        })
        .await?;
        out.transpose()
            .map_err(|e| invalid(self.backend(), user, e))
    }
    /// The first `k` items of the user's document that `filter` does not skip, as JSON: what
    /// the API serves, without decoding the whole document (the stored item JSON is copied).
    async fn user_top_items(
        &self,
        version: &str,
        user: &str,
        k: usize,
        filter: &ItemFilter<'_>,
    ) -> Result<Option<TopItems>, StoreError> {
        let mut out = None;
        self.read_user(RecsKey { version, user }, &mut |doc| {
            out = Some(doc.top_items(version, k, filter))
        })
        .await?;
        out.transpose()
            .map_err(|e| invalid(self.backend(), user, e))
    }
    /// [`RecsReader::user_top_items`] with what the document holds beside its items
    /// ([`DocTail`]), from the same read.
    async fn user_top_items_and_tail(
        &self,
        version: &str,
        user: &str,
        k: usize,
        filter: &ItemFilter<'_>,
    ) -> Result<Option<(TopItems, DocTail)>, StoreError> {
        let mut out = None;
        self.read_user(RecsKey { version, user }, &mut |doc| {
            out = Some(
                doc.top_items(version, k, filter)
                    .and_then(|top| Ok((top, doc.tail()?))),
            )
        })
        .await?;
        out.transpose()
            .map_err(|e| invalid(self.backend(), user, e))
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
    /// The item factors solved from live events for `version` at or after `since_ms` (epoch
    /// ms), latest per item ([`crate::item_factors`]); none for read-only backends.
    async fn item_factors_since(
        &self,
        _version: &str,
        _since_ms: i64,
    ) -> Result<Vec<crate::item_factors::ItemFactor>, StoreError> {
        Ok(Vec::new())
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
