//! The Cosmos DB implementation of the store roles: the reader, the version-lifecycle
//! primitives and the event log.

use std::time::Duration;

use async_trait::async_trait;
use azure_data_cosmos::models::{ContainerProperties, IndexingPolicy};
use azure_data_cosmos::options::{
    BinaryEncodingOptions, ConnectionPoolOptions, ContentResponseOnWrite, ItemReadOptions,
    ItemWriteOptions, OperationOptions, OperationOptionsBuilder, QueryOptions, Region,
    ServerCertificateValidation, ThrottlingRetryOptionsBuilder,
};
use azure_data_cosmos::{
    AccountEndpoint, AccountReference, ContainerClient, CosmosClient, CosmosRuntime, FeedScope,
    Query, RoutingStrategy,
};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use tokio::sync::OnceCell;

use topten_model::catalogue::live::LiveItem;
use topten_store::events::StoredEvent;
use topten_store::lifecycle::{MetaDecision, MetaWrite};
use topten_store::{
    ActiveVersion, AnswerCounts, EventLog, ItemEdits, ItemScore, LendRecs, RecsKey, RecsReader,
    StoreError, StoredRecs, UserRecs, VersionInfo, VersionStorage, WriteStats,
};

use super::documents::*;
use super::resilience::{map_err, Resilience};
use super::settings::{CosmosAuth, CosmosSettings};
use super::{backend_err, BACKEND};

/// The Cosmos DB store: a reader, the version-lifecycle primitives and an event log. The SDK
/// client is built on first use (building it is async and contacts the account), so opening a
/// store stays synchronous and cheap.
pub struct CosmosStore {
    pub(super) settings: CosmosSettings,
    pub(super) container: OnceCell<ContainerClient>,
    pub(super) resilience: Resilience,
}

impl CosmosStore {
    /// A store for `settings`; nothing is contacted until the first operation.
    pub fn new(settings: CosmosSettings) -> Self {
        CosmosStore {
            resilience: Resilience::new(&settings),
            settings,
            container: OnceCell::new(),
        }
    }

    /// The settings in use.
    pub fn settings(&self) -> &CosmosSettings {
        &self.settings
    }

    pub(super) async fn client(&self) -> Result<&ContainerClient, StoreError> {
        self.container.get_or_try_init(|| self.connect()).await
    }

    pub(super) async fn connect(&self) -> Result<ContainerClient, StoreError> {
        let s = &self.settings;
        let endpoint: AccountEndpoint = s
            .endpoint
            .parse()
            .map_err(|e| backend_err(format!("endpoint {}: {e}", s.endpoint)))?;
        let account = match &s.auth {
            CosmosAuth::Key(k) => AccountReference::with_authentication_key(
                endpoint,
                azure_core::credentials::Secret::from(k.clone()),
            ),
            CosmosAuth::EntraId => AccountReference::with_credential(
                endpoint,
                topten_credential::credential().map_err(backend_err)?,
            ),
        };
        topten_credential::install_tls_provider();
        let emulator = s.endpoint.starts_with("http://") || matches!(s.auth, CosmosAuth::Key(_));
        // Emulators speak HTTP/1.1 only and use self-signed certificates on loopback.
        let mut pool = ConnectionPoolOptions::builder().with_server_certificate_validation(
            ServerCertificateValidation::RequiredUnlessEmulator,
        );
        if emulator {
            pool = pool.with_is_http2_allowed(false);
        }
        let pool = pool.build().map_err(backend_err)?;
        let runtime = CosmosRuntime::builder()
            .with_connection_pool(pool)
            .build()
            .await
            .map_err(backend_err)?;
        let client = CosmosClient::builder()
            .with_runtime(runtime)
            // Plain JSON: the serving path copies stored JSON bytes into responses.
            .with_binary_encoding_options(BinaryEncodingOptions::new().with_enabled(false))
            .build(
                account,
                RoutingStrategy::ProximityTo(Region::new(s.region.clone())),
            )
            .await
            .map_err(|e| backend_err(format!("cannot connect to {}: {e}", s.endpoint)))?;
        if s.create_if_missing {
            match client.create_database(&s.database, None).await {
                Ok(_) => {}
                Err(e) if e.status().is_conflict() => {}
                Err(e) => {
                    return Err(backend_err(format!(
                        "creating database {}: {e}",
                        s.database
                    )))
                }
            }
            let db = client.database_client(&s.database);
            // Index what the queries filter on; the item lists are only ever point-read, and
            // leaving them out of the index makes every upsert cheaper in RU.
            let policy = IndexingPolicy::default()
                .with_included_path("/*")
                .with_excluded_path("/items/*");
            // TTL on, no default: only documents with their own `ttl` expire.
            let props = ContainerProperties::new(s.container.clone(), "/userId".into())
                .with_indexing_policy(policy)
                .with_default_ttl(azure_data_cosmos::models::TimeToLive::NoDefault);
            match db.create_container(props, None).await {
                Ok(_) => {}
                Err(e) if e.status().is_conflict() => {}
                Err(e) => {
                    return Err(backend_err(format!(
                        "creating container {}: {e}",
                        s.container
                    )))
                }
            }
        }
        client
            .database_client(&s.database)
            .container_client(&s.container, None)
            .await
            .map_err(|e| {
                backend_err(format!(
                    "container {}/{} at {}: {e}",
                    s.database, s.container, s.endpoint
                ))
            })
    }

    pub(super) fn read_options(&self) -> ItemReadOptions {
        // The handler answers a throttled read with 503 + Retry-After rather than waiting.
        let op = OperationOptionsBuilder::new()
            .with_read_consistency_strategy(self.settings.consistency)
            .with_throttling_retry_options(
                ThrottlingRetryOptionsBuilder::new()
                    .with_max_retry_count(0)
                    .build(),
            )
            .build();
        ItemReadOptions::default().with_operation_options(op)
    }

    pub(super) fn write_operation(&self) -> OperationOptions {
        OperationOptionsBuilder::new()
            .with_content_response_on_write(ContentResponseOnWrite::Disabled)
            .with_throttling_retry_options(
                ThrottlingRetryOptionsBuilder::new()
                    .with_max_retry_count(0)
                    .build(),
            )
            .build()
    }

    /// Point read of a document's JSON; `None` when it does not exist.
    pub(super) async fn read_raw(
        &self,
        pk: &str,
        id: &str,
    ) -> Result<Option<bytes::Bytes>, StoreError> {
        Ok(self.read_raw_tagged(pk, id).await?.map(|(body, _)| body))
    }

    /// Point read of a document's JSON with its ETag; `None` when it does not exist.
    async fn read_raw_tagged(
        &self,
        pk: &str,
        id: &str,
    ) -> Result<Option<(bytes::Bytes, Option<azure_core::http::Etag>)>, StoreError> {
        let c = self.client().await?;
        match c
            .read_item(pk.to_owned(), id, Some(self.read_options()))
            .await
        {
            Ok(resp) => {
                self.resilience
                    .add_charge(resp.headers().request_charge().map(|c| f64::from(*c)));
                let etag = resp.headers().etag().cloned();
                let body = resp.into_body().single().map_err(backend_err)?;
                Ok(Some((body, etag)))
            }
            Err(e) if e.status().is_not_found() => Ok(None),
            Err(e) => Err(map_err(e)),
        }
    }

    /// Writes `body` only if the document is as it was read: absent (`etag` `None`: a
    /// create, 409 when it appeared meanwhile) or unchanged since the read that gave `etag`
    /// (a replace with If-Match, 412 when it changed). Both come back as
    /// [`StoreError::Conflict`]; nothing is retried here, the caller reads again.
    async fn put_doc_if<T: Serialize + Sync>(
        &self,
        pk: &str,
        id: &str,
        doc_type: &str,
        body: &T,
        etag: Option<&azure_core::http::Etag>,
    ) -> Result<(), StoreError> {
        let c = self.client().await?;
        let doc = MetaDoc::new(pk, id, doc_type, body);
        let opts = ItemWriteOptions::default().with_operation_options(self.write_operation());
        let outcome = match etag {
            None => c.create_item(pk.to_owned(), id, &doc, Some(opts)).await,
            Some(etag) => {
                let opts = opts.with_precondition(
                    azure_data_cosmos::options::Precondition::if_match(etag.clone()),
                );
                c.replace_item(pk.to_owned(), id, &doc, Some(opts)).await
            }
        };
        match outcome {
            Ok(resp) => {
                self.resilience
                    .add_charge(resp.headers().request_charge().map(|c| f64::from(*c)));
                Ok(())
            }
            // Deleted since the read: as much a conflict as a change.
            Err(e) if e.status().is_not_found() => {
                Err(StoreError::Conflict(format!("cosmos: {id} is gone")))
            }
            Err(e) => Err(map_err(e)),
        }
    }

    /// Point read of a document written by [`CosmosStore::put_doc`] (its body).
    pub(super) async fn read_doc<T: serde::de::DeserializeOwned>(
        &self,
        pk: &str,
        id: &str,
    ) -> Result<Option<T>, StoreError> {
        match self.resilience.guarded(id, self.read_raw(pk, id)).await? {
            Some(bytes) => {
                let doc: MetaDoc<T> = serde_json::from_slice(&bytes)
                    .map_err(|e| backend_err(format!("document {id}: {e}")))?;
                Ok(Some(doc.body))
            }
            None => Ok(None),
        }
    }

    /// Writes a document of topten's own (metadata, chunks) in partition `pk`: `Put::Upsert`
    /// replaces it, `Put::Create` fails with a conflict when it exists (a decision made on its
    /// absence must still hold).
    pub(super) async fn put_doc<T: Serialize + Sync>(
        &self,
        pk: &str,
        id: &str,
        doc_type: &str,
        body: &T,
        put: Put,
    ) -> Result<(), StoreError> {
        let c = self.client().await?;
        let mut doc = MetaDoc::new(pk, id, doc_type, body);
        if let Put::UpsertExpiring(secs) = put {
            doc.ttl = Some(secs.max(1));
        }
        let opts = ItemWriteOptions::default().with_operation_options(self.write_operation());
        self.resilience
            .write_with_retry(id, || match put {
                Put::Upsert | Put::UpsertExpiring(_) => futures::future::Either::Left(
                    c.upsert_item(pk.to_owned(), id, &doc, Some(opts.clone())),
                ),
                Put::Create => futures::future::Either::Right(c.create_item(
                    pk.to_owned(),
                    id,
                    &doc,
                    Some(opts.clone()),
                )),
            })
            .await
    }

    /// Runs a query and collects its results, starting over on throttling and transient
    /// failures (a count over a large version may meet either).
    pub(super) async fn query<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        query: Query,
        scope: FeedScope,
    ) -> Result<Vec<T>, StoreError> {
        let mut attempt = 0u32;
        loop {
            match self.query_once(query.clone(), scope.clone()).await {
                Err(StoreError::Unavailable {
                    message,
                    retry_after_secs,
                    ..
                }) if attempt < self.settings.max_retries => {
                    tracing::debug!(attempt, error = %message, "cosmos query retry");
                    self.resilience.count_retry();
                    tokio::time::sleep(
                        Duration::from_millis(200u64 << attempt.min(5))
                            .min(Duration::from_secs(retry_after_secs.max(1))),
                    )
                    .await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    pub(super) async fn query_once<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        query: Query,
        scope: FeedScope,
    ) -> Result<Vec<T>, StoreError> {
        let c = self.client().await?;
        let opts = QueryOptions::default().with_operation_options(
            OperationOptionsBuilder::new()
                .with_read_consistency_strategy(self.settings.consistency)
                .build(),
        );
        let pages = c
            .query_items::<T>(query, scope, Some(opts))
            .await
            .map_err(map_err)?
            .into_pages();
        let mut out = Vec::new();
        let mut pages = std::pin::pin!(pages);
        while let Some(page) = pages.try_next().await.map_err(map_err)? {
            self.resilience
                .add_charge(page.headers().request_charge().map(|c| f64::from(*c)));
            out.extend(page.into_items());
        }
        Ok(out)
    }

    /// The version's user documents (id and partition key), by query across partitions.
    pub(super) async fn version_docs(&self, version: &str) -> Result<Vec<IdOnly>, StoreError> {
        let q = Query::from("SELECT c.id, c.userId FROM c WHERE c.modelVersion = @v")
            .with_parameter("@v", version)
            .map_err(backend_err)?;
        self.query(q, FeedScope::full_container()).await
    }

    pub(super) async fn upsert_user(
        &self,
        c: &ContainerClient,
        doc: &UserRecs,
    ) -> Result<(), StoreError> {
        let opts = ItemWriteOptions::default().with_operation_options(self.write_operation());
        let id = escape_id(&doc.id);
        let stored = UserRecs {
            id: id.clone(),
            ..doc.clone()
        };
        self.resilience
            .write_with_retry(&id, || {
                c.upsert_item(doc.user_id.clone(), &id, &stored, Some(opts.clone()))
            })
            .await
    }

    /// Writes `bytes` (the serving model, a catalogue) as base64 chunk documents `BASE:0`,
    /// `BASE:1`, ... and a header `BASE` in partition `pk`; the header goes last, so the bytes
    /// are readable only once every chunk is in.
    pub(super) async fn put_chunked(
        &self,
        pk: &str,
        base: &str,
        kind: &str,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        use base64::Engine;
        let chunks: Vec<&[u8]> = bytes.chunks(SNAPSHOT_CHUNK).collect();
        let chunk_kind = format!("{kind}-chunk");
        for (i, chunk) in chunks.iter().enumerate() {
            self.put_doc(
                pk,
                &format!("{base}:{i}"),
                &chunk_kind,
                &b64().encode(chunk),
                Put::Upsert,
            )
            .await?;
        }
        let header = SnapshotHeader {
            chunks: chunks.len(),
            bytes: bytes.len(),
        };
        self.put_doc(pk, base, kind, &header, Put::Upsert).await
    }

    /// The bytes [`CosmosStore::put_chunked`] wrote, if its header is there.
    pub(super) async fn read_chunked(
        &self,
        pk: &str,
        base: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        use base64::Engine;
        let Some(header) = self.read_doc::<SnapshotHeader>(pk, base).await? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(header.bytes);
        for i in 0..header.chunks {
            let id = format!("{base}:{i}");
            let chunk: String = self
                .read_doc(pk, &id)
                .await?
                .ok_or_else(|| backend_err(format!("chunk {id} is missing")))?;
            out.extend(
                b64()
                    .decode(chunk)
                    .map_err(|e| backend_err(format!("chunk {id}: {e}")))?,
            );
        }
        if out.len() != header.bytes {
            return Err(backend_err(format!(
                "{base}: {} bytes, header says {}",
                out.len(),
                header.bytes
            )));
        }
        Ok(Some(out))
    }

    /// Deletes what [`CosmosStore::put_chunked`] wrote: the header first, so a half-deleted
    /// set is never read.
    pub(super) async fn delete_chunked(&self, pk: &str, base: &str) -> Result<(), StoreError> {
        let c = self.client().await?;
        if let Some(header) = self.read_doc::<SnapshotHeader>(pk, base).await? {
            self.delete_doc(c, pk.to_owned(), base.to_owned()).await?;
            for i in 0..header.chunks {
                self.delete_doc(c, pk.to_owned(), format!("{base}:{i}"))
                    .await?;
            }
        }
        Ok(())
    }

    /// Deletes `docs` with the configured write concurrency.
    pub(super) async fn delete_docs(
        &self,
        c: &ContainerClient,
        docs: Vec<IdOnly>,
    ) -> Result<(), StoreError> {
        let deletes: Vec<BoxedWrite<'_>> = docs
            .into_iter()
            .map(|d| Box::pin(self.delete_doc(c, d.user_id, d.id)) as BoxedWrite<'_>)
            .collect();
        futures::stream::iter(deletes)
            .buffer_unordered(self.settings.write_concurrency)
            .try_collect::<()>()
            .await
    }

    pub(super) async fn delete_doc(
        &self,
        c: &ContainerClient,
        pk: String,
        id: String,
    ) -> Result<(), StoreError> {
        self.delete_doc_if_there(c, pk, id).await.map(drop)
    }

    /// Deletes a document; whether it was there (a missing one is no error: deletes repeat).
    pub(super) async fn delete_doc_if_there(
        &self,
        c: &ContainerClient,
        pk: String,
        id: String,
    ) -> Result<bool, StoreError> {
        match c.delete_item(pk, &id, None).await {
            Ok(resp) => {
                self.resilience
                    .add_charge(resp.headers().request_charge().map(|c| f64::from(*c)));
                Ok(true)
            }
            Err(e) if e.status().is_not_found() => Ok(false),
            Err(e) => Err(map_err(e)),
        }
    }
}

/// How [`CosmosStore::put_doc`] writes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Put {
    /// Create or replace.
    Upsert,
    /// Create or replace, deleted by Cosmos DB this many seconds after the write unless
    /// written again (per-document TTL).
    UpsertExpiring(u64),
    /// Create; a conflict if the document exists.
    Create,
}

type BoxedWrite<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), StoreError>> + Send + 'a>>;

#[async_trait]
impl RecsReader for CosmosStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.resilience
            .guarded("health", self.read_raw(META_PARTITION, "active"))
            .await
            .map(|_| ())
    }

    async fn active(&self) -> Result<Option<ActiveVersion>, StoreError> {
        self.read_doc(META_PARTITION, "active").await
    }

    async fn read_user(&self, key: RecsKey<'_>, read: &mut LendRecs) -> Result<(), StoreError> {
        let RecsKey {
            version,
            user: user_id,
        } = key;
        let id = escape_id(&topten_store::doc_id(version, user_id));
        let raw = self
            .resilience
            .guarded("user read", self.read_raw(user_id, &id))
            .await?;
        if let Some(bytes) = raw {
            read(StoredRecs::Document(&bytes));
        }
        Ok(())
    }

    async fn popular(&self, version: &str) -> Result<Option<Vec<ItemScore>>, StoreError> {
        self.read_doc(META_PARTITION, &popular_id(version)).await
    }

    async fn versions(&self) -> Result<Vec<VersionInfo>, StoreError> {
        let q = Query::from("SELECT * FROM c WHERE c.userId = @pk AND c.docType = @t")
            .with_parameter("@pk", META_PARTITION)
            .and_then(|q| q.with_parameter("@t", "version"))
            .map_err(backend_err)?;
        let docs: Vec<MetaDoc<VersionInfo>> =
            self.query(q, FeedScope::partition(META_PARTITION)).await?;
        let mut out: Vec<VersionInfo> = docs.into_iter().map(|d| d.body).collect();
        topten_store::documents::oldest_first(&mut out);
        Ok(out)
    }

    async fn version(&self, version: &str) -> Result<Option<VersionInfo>, StoreError> {
        self.read_doc(META_PARTITION, &version_id(version)).await
    }

    async fn user_ids(&self, version: &str) -> Result<Vec<String>, StoreError> {
        let mut ids: Vec<String> = self
            .version_docs(version)
            .await?
            .into_iter()
            .map(|d| d.user_id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    async fn serving_model(&self, version: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_chunked(META_PARTITION, &snapshot_id(version))
            .await
    }

    async fn item_factors_since(
        &self,
        version: &str,
        since_ms: i64,
    ) -> Result<Vec<topten_store::ItemFactor>, StoreError> {
        // The partition named in the query too: the scope alone is a hint some servers ignore.
        let pk = item_factor_partition(version);
        let q = Query::from(
            "SELECT * FROM c WHERE c.userId = @pk AND c.docType = 'item-factor' \
             AND c.body.solvedMs >= @s",
        )
        .with_parameter("@pk", &pk)
        .map_err(backend_err)?
        .with_parameter("@s", since_ms)
        .map_err(backend_err)?;
        let docs: Vec<MetaDoc<topten_store::ItemFactor>> =
            self.query(q, FeedScope::partition(pk)).await?;
        Ok(docs.into_iter().map(|d| d.body).collect())
    }

    async fn catalogue(&self, version: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_chunked(&catalogue_partition(version), CATALOGUE_ID)
            .await
    }

    async fn user_history(
        &self,
        version: &str,
        user_id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        use base64::Engine;
        let id = history_id(version, user_id);
        match self
            .resilience
            .guarded(&id, self.read_raw(user_id, &id))
            .await?
        {
            Some(bytes) => {
                let doc: HistoryDoc = serde_json::from_slice(&bytes)
                    .map_err(|e| backend_err(format!("document {id}: {e}")))?;
                Ok(Some(
                    b64()
                        .decode(doc.data)
                        .map_err(|e| backend_err(format!("document {id}: {e}")))?,
                ))
            }
            None => Ok(None),
        }
    }
}

#[async_trait]
impl VersionStorage for CosmosStore {
    async fn transact_meta(
        &self,
        version: &str,
        decide: &MetaDecision<'_>,
    ) -> Result<MetaWrite, StoreError> {
        // Two point reads, the decision, one single-document write. Cosmos DB has no
        // transaction across these documents, so a decision made on a document that was absent
        // is written with `create`: if another writer created it meanwhile, this one fails with
        // a conflict instead of overwriting it.
        let active: Option<ActiveVersion> = self.read_doc(META_PARTITION, "active").await?;
        let info: Option<VersionInfo> = self.read_doc(META_PARTITION, &version_id(version)).await?;
        let write = decide(active.as_ref(), info.as_ref())?;
        match &write {
            MetaWrite::Nothing => {}
            MetaWrite::Active(a) => {
                let put = if active.is_none() {
                    Put::Create
                } else {
                    Put::Upsert
                };
                self.put_doc(META_PARTITION, "active", "active", a, put)
                    .await?
            }
            MetaWrite::Version(i) => {
                let put = if info.is_none() {
                    Put::Create
                } else {
                    Put::Upsert
                };
                self.put_doc(META_PARTITION, &version_id(version), "version", i, put)
                    .await?
            }
        }
        Ok(write)
    }

    async fn put_users(&self, _version: &str, docs: &[UserRecs]) -> Result<(), StoreError> {
        let c = self.client().await?;
        // Boxed first: a closure returning a borrowing future trips async_trait's lifetimes.
        let writes: Vec<BoxedWrite<'_>> = docs
            .iter()
            .map(|doc| Box::pin(self.upsert_user(c, doc)) as BoxedWrite<'_>)
            .collect();
        futures::stream::iter(writes)
            .buffer_unordered(self.settings.write_concurrency)
            .try_collect::<()>()
            .await
    }

    async fn put_popular(&self, version: &str, items: &[ItemScore]) -> Result<(), StoreError> {
        self.put_doc(
            META_PARTITION,
            &popular_id(version),
            "popular",
            &items,
            Put::Upsert,
        )
        .await
    }

    async fn put_serving_model(&self, version: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.put_chunked(META_PARTITION, &snapshot_id(version), "snapshot", bytes)
            .await
    }

    async fn put_catalogue(&self, version: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.put_chunked(
            &catalogue_partition(version),
            CATALOGUE_ID,
            "catalogue",
            bytes,
        )
        .await
    }

    async fn put_histories(
        &self,
        version: &str,
        histories: &[(String, Vec<u8>)],
    ) -> Result<(), StoreError> {
        use base64::Engine;
        let c = self.client().await?;
        let docs: Vec<HistoryDoc> = histories
            .iter()
            .map(|(user, bytes)| HistoryDoc {
                id: history_id(version, user),
                user_id: user.clone(),
                doc_type: "hist".into(),
                hist_version: version.to_owned(),
                data: b64().encode(bytes),
            })
            .collect();
        let opts = ItemWriteOptions::default().with_operation_options(self.write_operation());
        let writes: Vec<BoxedWrite<'_>> = docs
            .iter()
            .map(|d| {
                let opts = opts.clone();
                Box::pin(async move {
                    self.resilience
                        .write_with_retry(&d.id, || {
                            c.upsert_item(d.user_id.clone(), &d.id, d, Some(opts.clone()))
                        })
                        .await
                }) as BoxedWrite<'_>
            })
            .collect();
        futures::stream::iter(writes)
            .buffer_unordered(self.settings.write_concurrency)
            .try_collect::<()>()
            .await
    }

    async fn count_users(&self, version: &str) -> Result<usize, StoreError> {
        let docs = self.version_docs(version).await?;
        Ok(docs
            .iter()
            .map(|d| d.user_id.as_str())
            .collect::<std::collections::HashSet<_>>()
            .len())
    }

    async fn delete_version_data(&self, version: &str) -> Result<(), StoreError> {
        let c = self.client().await?;
        self.delete_docs(c, self.version_docs(version).await?)
            .await?;
        let q = Query::from(
            "SELECT c.id, c.userId FROM c WHERE c.docType = 'hist' AND c.histVersion = @v",
        )
        .with_parameter("@v", version)
        .map_err(backend_err)?;
        let hist: Vec<IdOnly> = self.query(q, FeedScope::full_container()).await?;
        self.delete_docs(c, hist).await?;
        self.delete_chunked(META_PARTITION, &snapshot_id(version))
            .await?;
        self.delete_chunked(&catalogue_partition(version), CATALOGUE_ID)
            .await?;
        let pk = item_factor_partition(version);
        let q = Query::from(
            "SELECT c.id, c.userId FROM c WHERE c.userId = @pk AND c.docType = 'item-factor'",
        )
        .with_parameter("@pk", &pk)
        .map_err(backend_err)?;
        let factors: Vec<IdOnly> = self.query(q, FeedScope::partition(pk)).await?;
        self.delete_docs(c, factors).await?;
        self.delete_doc(c, META_PARTITION.to_owned(), popular_id(version))
            .await
    }

    async fn put_item_factors(
        &self,
        version: &str,
        factors: &[topten_store::ItemFactor],
    ) -> Result<(), StoreError> {
        let pk = item_factor_partition(version);
        for f in factors {
            let id = escape_id(&format!("factor:{}", f.item_id));
            self.put_doc(&pk, &id, "item-factor", f, Put::Upsert)
                .await?;
        }
        Ok(())
    }

    async fn delete_version_info(&self, version: &str) -> Result<(), StoreError> {
        let c = self.client().await?;
        self.delete_doc(c, META_PARTITION.to_owned(), version_id(version))
            .await
    }

    fn write_stats(&self) -> Option<WriteStats> {
        Some(self.resilience.stats())
    }
}

#[async_trait]
impl ItemEdits for CosmosStore {
    async fn put_live_items(&self, items: &[LiveItem]) -> Result<(), StoreError> {
        // Cosmos DB has no transaction across partitions: the batch was validated whole before
        // this, and each upsert is retried; a store that fails mid-batch fails the request,
        // and repeating it converges (upserts are idempotent).
        for live in items {
            let id = &live.item.item_id;
            self.put_doc(
                &live_item_partition(id),
                &escape_id(&format!("item:{id}")),
                "live-item",
                live,
                Put::Upsert,
            )
            .await?;
        }
        Ok(())
    }

    async fn update_live_items(
        &self,
        ids: &[String],
        update: &topten_store::ItemUpdate<'_>,
    ) -> Result<Option<Vec<LiveItem>>, StoreError> {
        // Optimistic concurrency with ETags: read each item with its ETag, decide, write each
        // on the condition that it is unchanged, and on a conflict read again. Items live in
        // partitions of their own, so a batch of several items is atomic per item, not as a
        // whole (Cosmos DB has no transaction across partitions).
        'attempt: for attempt in 0..topten_store::item_edits::CONFLICT_ATTEMPTS {
            let mut current = Vec::with_capacity(ids.len());
            let mut etags = std::collections::HashMap::new();
            for id in ids {
                let doc_id = escape_id(&format!("item:{id}"));
                match self
                    .read_raw_tagged(&live_item_partition(id), &doc_id)
                    .await?
                {
                    Some((bytes, etag)) => {
                        let doc: MetaDoc<LiveItem> = serde_json::from_slice(&bytes)
                            .map_err(|e| backend_err(format!("document {doc_id}: {e}")))?;
                        let Some(etag) = etag else {
                            return Err(backend_err(format!(
                                "document {doc_id} came without an ETag"
                            )));
                        };
                        etags.insert(id.clone(), etag);
                        current.push(Some(doc.body));
                    }
                    None => current.push(None),
                }
            }
            let Some(items) = update(&current) else {
                return Ok(None);
            };
            for live in &items {
                let id = &live.item.item_id;
                let written = self
                    .put_doc_if(
                        &live_item_partition(id),
                        &escape_id(&format!("item:{id}")),
                        "live-item",
                        live,
                        etags.get(id),
                    )
                    .await;
                match written {
                    Ok(()) => {}
                    Err(StoreError::Conflict(_)) => {
                        topten_store::item_edits::pause_after_conflict(attempt).await;
                        continue 'attempt;
                    }
                    Err(e) => return Err(e),
                }
            }
            return Ok(Some(items));
        }
        Err(topten_store::item_edits::too_many_conflicts(BACKEND))
    }

    async fn live_item(&self, item_id: &str) -> Result<Option<LiveItem>, StoreError> {
        self.read_doc(
            &live_item_partition(item_id),
            &escape_id(&format!("item:{item_id}")),
        )
        .await
    }

    async fn live_items_since(&self, since_ms: i64) -> Result<Vec<LiveItem>, StoreError> {
        let q =
            Query::from("SELECT * FROM c WHERE c.docType = 'live-item' AND c.body.changedMs >= @s")
                .with_parameter("@s", since_ms)
                .map_err(backend_err)?;
        let docs: Vec<MetaDoc<LiveItem>> = self.query(q, FeedScope::full_container()).await?;
        let mut items: Vec<LiveItem> = docs.into_iter().map(|d| d.body).collect();
        items.sort_by_key(|i| i.changed_ms);
        Ok(items)
    }
}

#[async_trait]
impl topten_store::AnswerCountStore for CosmosStore {
    async fn save_answer_counts(&self, counts: &AnswerCounts) -> Result<(), StoreError> {
        // One document per instance, in its own partition: instances never write the same
        // document, so no partition is hot and no update is lost.
        self.put_doc(
            &answer_counts_partition(&counts.instance),
            &escape_id(&format!("answers:{}", counts.instance)),
            "answer-counts",
            counts,
            // An instance that stops saving has its counts deleted by Cosmos DB itself once
            // past retention (TTL counts from the last write, exactly the rule).
            match self.settings.answer_counts_retention {
                Some(d) => Put::UpsertExpiring(d.as_secs()),
                None => Put::Upsert,
            },
        )
        .await
    }

    async fn answer_counts(&self) -> Result<Vec<AnswerCounts>, StoreError> {
        let q = Query::from("SELECT * FROM c WHERE c.docType = 'answer-counts'");
        let docs: Vec<MetaDoc<AnswerCounts>> = self.query(q, FeedScope::full_container()).await?;
        Ok(docs.into_iter().map(|d| d.body).collect())
    }
}

#[async_trait]
impl EventLog for CosmosStore {
    async fn append_events(&self, events: &[StoredEvent]) -> Result<usize, StoreError> {
        use rand::Rng;
        let c = self.client().await?;
        let opts = ItemWriteOptions::default().with_operation_options(self.write_operation());
        let mut stored = 0;
        // Cosmos DB has no transaction across partitions: events are created one by one (the
        // batch was validated whole before), and a retried event id is a conflict, not a copy.
        for e in events {
            let id = match &e.event_id {
                Some(id) => escape_id(&format!("event:{id}")),
                None => format!(
                    "event:{}:{:016x}",
                    e.received_at_ms,
                    rand::thread_rng().gen::<u64>()
                ),
            };
            let doc = EventDoc {
                id: id.clone(),
                user_id: e.user_id.clone(),
                doc_type: "event".into(),
                event: e.clone(),
            };
            let created = self
                .resilience
                .write_with_retry(&id, || {
                    c.create_item(doc.user_id.clone(), &id, &doc, Some(opts.clone()))
                })
                .await;
            match created {
                Ok(()) => stored += 1,
                Err(StoreError::Conflict(_)) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(stored)
    }

    async fn user_events(&self, user_id: &str) -> Result<Vec<StoredEvent>, StoreError> {
        let q = Query::from("SELECT * FROM c WHERE c.userId = @u AND c.docType = 'event'")
            .with_parameter("@u", user_id)
            .map_err(backend_err)?;
        let docs: Vec<EventDoc> = self
            .query(q, FeedScope::partition(user_id.to_owned()))
            .await?;
        let mut events: Vec<StoredEvent> = docs.into_iter().map(|d| d.event).collect();
        events.sort_by_key(|e| e.received_at_ms);
        Ok(events)
    }

    async fn events_since(&self, since_ms: i64) -> Result<Vec<StoredEvent>, StoreError> {
        // A range on the indexed receipt time (bicep's cosmosIndexedPaths): the query costs
        // what it returns, not the whole log.
        let q = Query::from(
            "SELECT * FROM c WHERE c.docType = 'event' AND c.event.receivedAtMs >= @since",
        )
        .with_parameter("@since", since_ms)
        .map_err(backend_err)?;
        let docs: Vec<EventDoc> = self.query(q, FeedScope::full_container()).await?;
        let mut events: Vec<StoredEvent> = docs
            .into_iter()
            .map(|d| d.event)
            .filter(|e| e.received_at_ms >= since_ms)
            .collect();
        events.sort_by_key(|e| e.received_at_ms);
        Ok(events)
    }
}
