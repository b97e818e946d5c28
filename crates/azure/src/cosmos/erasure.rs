//! Deleting from Cosmos DB: retention passes query a bounded page of what is due (`TOP`, on the
//! indexed times) and delete it with the configured write concurrency; forgetting a user
//! queries their partition. Deletes of missing documents succeed, so a pass killed half-way is
//! completed by the next.

use async_trait::async_trait;
use azure_data_cosmos::{FeedScope, Query};
use topten_store::{Erasure, EventsDue, StoreError, Tombstone, UserInVersion};

use super::backend_err;
use super::documents::*;
use super::store::{CosmosStore, Put};

/// Id of a user's tombstone in the meta partition.
fn tombstone_id(user_id: &str) -> String {
    escape_id(&format!("tombstone:{user_id}"))
}

impl CosmosStore {
    /// Runs `q` over the whole container and deletes what it names.
    async fn delete_matching(&self, q: Query) -> Result<usize, StoreError> {
        let docs: Vec<IdOnly> = self.query(q, FeedScope::full_container()).await?;
        let n = docs.len();
        let c = self.client().await?;
        self.delete_docs(c, docs).await?;
        Ok(n)
    }
}

#[async_trait]
impl Erasure for CosmosStore {
    async fn prune_events(&self, due: EventsDue, limit: usize) -> Result<usize, StoreError> {
        // `timestamp` is in seconds: before the cutoff's second is strictly before the cutoff
        // for every event this deletes (an event in the cutoff's own second waits a pass).
        let sql = format!(
            "SELECT TOP {limit} c.id, c.userId FROM c WHERE c.docType = 'event' \
             AND c.event.timestamp < @a AND c.event.receivedAtMs < @b"
        );
        let q = Query::from(sql)
            .with_parameter("@a", due.happened_before_ms.div_euclid(1000))
            .and_then(|q| q.with_parameter("@b", due.received_before_ms))
            .map_err(backend_err)?;
        self.delete_matching(q).await
    }

    async fn prune_item_changes(&self, before_ms: i64, limit: usize) -> Result<usize, StoreError> {
        let sql = format!(
            "SELECT TOP {limit} c.id, c.userId FROM c WHERE c.docType = 'live-item' \
             AND c.body.changedMs < @a"
        );
        let q = Query::from(sql)
            .with_parameter("@a", before_ms)
            .map_err(backend_err)?;
        self.delete_matching(q).await
    }

    async fn prune_answer_counts(&self, before_ms: i64) -> Result<usize, StoreError> {
        let q = Query::from(
            "SELECT c.id, c.userId FROM c WHERE c.docType = 'answer-counts' \
             AND c.body.savedMs < @a",
        )
        .with_parameter("@a", before_ms)
        .map_err(backend_err)?;
        self.delete_matching(q).await
    }

    async fn delete_user_events(&self, user_id: &str) -> Result<usize, StoreError> {
        // One partition: the user's. A client event id is the document's id, so it goes with
        // the event.
        let q =
            Query::from("SELECT c.id, c.userId FROM c WHERE c.userId = @u AND c.docType = 'event'")
                .with_parameter("@u", user_id)
                .map_err(backend_err)?;
        let docs: Vec<IdOnly> = self
            .query(q, FeedScope::partition(user_id.to_owned()))
            .await?;
        let n = docs.len();
        let c = self.client().await?;
        self.delete_docs(c, docs).await?;
        Ok(n)
    }

    async fn delete_user_in_version(
        &self,
        version: &str,
        user_id: &str,
    ) -> Result<UserInVersion, StoreError> {
        let c = self.client().await?;
        let list_id = escape_id(&topten_store::doc_id(version, user_id));
        let list = self
            .delete_doc_if_there(c, user_id.to_owned(), list_id)
            .await?;
        let history = self
            .delete_doc_if_there(c, user_id.to_owned(), history_id(version, user_id))
            .await?;
        Ok(UserInVersion { list, history })
    }

    async fn put_tombstone(&self, tombstone: &Tombstone) -> Result<(), StoreError> {
        self.put_doc(
            META_PARTITION,
            &tombstone_id(&tombstone.user_id),
            "tombstone",
            tombstone,
            Put::Upsert,
        )
        .await
    }

    async fn tombstones(&self) -> Result<Vec<Tombstone>, StoreError> {
        let q = Query::from("SELECT * FROM c WHERE c.userId = @pk AND c.docType = 'tombstone'")
            .with_parameter("@pk", META_PARTITION)
            .map_err(backend_err)?;
        let docs: Vec<MetaDoc<Tombstone>> = self
            .query(q, FeedScope::partition(META_PARTITION.to_owned()))
            .await?;
        Ok(docs.into_iter().map(|d| d.body).collect())
    }
}
