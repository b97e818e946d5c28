//! The Cosmos DB (NoSQL API) store, through the official `azure_data_cosmos` SDK: what serves
//! in Azure.
//!
//! # Document model
//! One container, partition key path `/userId`:
//! - a user's list in a version: `{id: "{version}:{userId}", userId, items, modelVersion,
//!   createdAt}` (exactly [`UserRecs`]), partition key = the user id, so serving is one point
//!   read (id + partition key: 1 RU for a 1 KB document, the cheapest operation Cosmos has);
//! - metadata in the one logical partition [`META_PARTITION`]: `active` (the pointer the
//!   handler caches), `version:{v}` (a [`VersionInfo`]) and `popular:{v}` (the cold-start
//!   list). One small partition keeps `topten versions` a single-partition query and the
//!   pointer switch one atomic single-document write.
//!
//! Versioning by id prefix (rather than a container per version) keeps the switch atomic
//! without control-plane rights, which Entra ID data-plane roles do not grant. Old versions'
//! documents stay until `topten prune` deletes them.
//!
//! Characters Cosmos forbids in ids (`/ \ ? #`) are percent-escaped in the stored id (and `%`
//! with them); ids of ordinary users are exactly `{version}:{userId}`.
//!
//! # Writes
//! Upserts fan out with bounded concurrency ([`CosmosSettings::write_concurrency`]); the SDK's
//! own throttling retries are turned off for writes so that this module sees each 429, waits
//! what `x-ms-retry-after-ms` says, counts it and retries (also on 5xx, timeouts and transport
//! errors, with exponential backoff), up to [`CosmosSettings::max_retries`] times. Upserts are
//! idempotent, so a retried write never duplicates a document. Request units are summed from
//! `x-ms-request-charge` for the progress bar. `finish_version` counts the version's documents
//! with a query before marking it complete.
//!
//! # Reads
//! Every read runs under a timeout and a circuit breaker: after
//! [`CosmosSettings::breaker_failures`] consecutive failures, reads fail at once for
//! [`CosmosSettings::breaker_open`] with [`StoreError::Unavailable`] (the API answers 503 with
//! `Retry-After`) instead of piling up requests on a store that does not answer.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use azure_data_cosmos::models::{ContainerProperties, IndexingPolicy};
use azure_data_cosmos::options::{
    BinaryEncodingOptions, ConnectionPoolOptions, ContentResponseOnWrite, ItemReadOptions,
    ItemWriteOptions, OperationOptions, OperationOptionsBuilder, QueryOptions,
    ReadConsistencyStrategy, Region, ServerCertificateValidation, ThrottlingRetryOptionsBuilder,
};
use azure_data_cosmos::{
    AccountEndpoint, AccountReference, ContainerClient, CosmosClient, CosmosError, CosmosRuntime,
    FeedScope, Query, RoutingStrategy,
};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use topten_store::lifecycle::{MetaDecision, MetaWrite};
use topten_store::{
    ActiveVersion, EventLog, ItemScore, RecsReader, StoreError, UserRecs, VersionInfo,
    VersionStorage, WriteStats,
};
use topten_store::events::StoredEvent;

/// Partition key value of the metadata documents (active pointer, version infos, popular lists).
pub const META_PARTITION: &str = "__topten_meta__";
const BACKEND: &str = "cosmos";

/// How to authenticate.
#[derive(Clone)]
pub enum CosmosAuth {
    /// Microsoft Entra ID (managed identity in Azure, developer tools locally): see [`crate::azure`].
    EntraId,
    /// Account key: local emulators only (`COSMOS_KEY`).
    Key(String),
}

impl std::fmt::Debug for CosmosAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CosmosAuth::EntraId => f.write_str("EntraId"),
            CosmosAuth::Key(_) => f.write_str("Key(..)"),
        }
    }
}

/// Where the store is and how to talk to it; see [`CosmosSettings::from_uri`] for the settings.
#[derive(Debug, Clone)]
pub struct CosmosSettings {
    /// Account endpoint, e.g. `https://ACCOUNT.documents.azure.com:443/`.
    pub endpoint: String,
    /// Database name.
    pub database: String,
    /// Container name.
    pub container: String,
    /// Authentication.
    pub auth: CosmosAuth,
    /// Read consistency: `Session` (default) or `Eventual` (cheaper, may lag a fresh publish).
    pub consistency: ReadConsistencyStrategy,
    /// Timeout of one read.
    pub read_timeout: Duration,
    /// Timeout of one write attempt.
    pub write_timeout: Duration,
    /// Upserts in flight while publishing.
    pub write_concurrency: usize,
    /// Retries of one write on 429, 5xx, timeouts and transport errors.
    pub max_retries: u32,
    /// Consecutive read failures that open the circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker fails reads at once.
    pub breaker_open: Duration,
    /// Create the database and container when missing (needs key auth or control-plane rights).
    pub create_if_missing: bool,
    /// Preferred region for routing (`TOPTEN_COSMOS_REGION`, else the Functions `REGION_NAME`).
    pub region: String,
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map_err(|_| format!("{name}={v:?} is not valid")),
        _ => Ok(default),
    }
}

/// Upserts in flight for a provisioned throughput: an upsert of a 50-item document costs about
/// 10 RU and takes about 10 ms, so one writer uses about 1,000 RU/s. Without a figure
/// (serverless, autoscale, emulators): 32, and 429s pace the rest.
fn default_concurrency(ru_per_sec: u64) -> usize {
    match ru_per_sec {
        0 => 32,
        ru => (ru / 1000).clamp(1, 256) as usize,
    }
}

impl CosmosSettings {
    /// Parses a store URI and reads the settings from the environment.
    ///
    /// URIs: `cosmos://ACCOUNT.documents.azure.com/DB/CONTAINER` (HTTPS on 443), or for an
    /// emulator `cosmos+http://127.0.0.1:PORT/DB/CONTAINER` (also `cosmos+https://`, and plain
    /// `http(s)://HOST:PORT/DB/CONTAINER`).
    ///
    /// Settings: `COSMOS_KEY` (key auth, loopback emulators only; otherwise Entra ID, see
    /// [`crate::azure`]), `TOPTEN_COSMOS_CONSISTENCY` (`session` | `eventual`),
    /// `TOPTEN_COSMOS_TIMEOUT_MS` (read timeout, 2000), `TOPTEN_COSMOS_WRITE_TIMEOUT_MS` (10000),
    /// `TOPTEN_COSMOS_CONCURRENCY` (upserts in flight; default from `TOPTEN_COSMOS_RU_PER_SEC`,
    /// the provisioned throughput, else 32), `TOPTEN_COSMOS_MAX_RETRIES` (10),
    /// `TOPTEN_COSMOS_BREAKER_FAILURES` (5), `TOPTEN_COSMOS_BREAKER_OPEN_MS` (5000),
    /// `TOPTEN_COSMOS_CREATE` (create database and container; default: with key auth),
    /// `TOPTEN_COSMOS_REGION`.
    pub fn from_uri(uri: &str) -> Result<Self, StoreError> {
        let invalid = |why: String| StoreError::InvalidUri {
            uri: uri.to_owned(),
            why,
        };
        let (scheme, rest) = uri.split_once("://").ok_or_else(|| {
            invalid("expected cosmos://ACCOUNT.documents.azure.com/DB/CONTAINER".into())
        })?;
        let (host, path) = rest
            .split_once('/')
            .ok_or_else(|| invalid("missing /DB/CONTAINER".into()))?;
        let mut parts = path.trim_end_matches('/').split('/');
        let (Some(database), Some(container), None) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid(
                "expected exactly /DB/CONTAINER after the host".into(),
            ));
        };
        if host.is_empty() || database.is_empty() || container.is_empty() {
            return Err(invalid(
                "host, database and container must not be empty".into(),
            ));
        }
        let endpoint = match scheme {
            "cosmos" | "cosmos+https" | "https" if host.contains(':') => format!("https://{host}/"),
            "cosmos" | "cosmos+https" | "https" => format!("https://{host}:443/"),
            "cosmos+http" | "http" => format!("http://{host}/"),
            other => return Err(invalid(format!("unknown scheme {other:?}"))),
        };
        let hostname = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
        let loopback = crate::credential::is_loopback(hostname);
        if endpoint.starts_with("http://") && !loopback {
            return Err(invalid(
                "plain http:// is only for emulators on this machine (127.0.0.1, localhost)".into(),
            ));
        }
        let auth = match std::env::var("COSMOS_KEY").ok().filter(|k| !k.is_empty()) {
            Some(_) if !loopback => {
                return Err(invalid(
                    "COSMOS_KEY is set, but key auth is only for local emulators; in Azure, topten uses Microsoft Entra ID (managed identity): unset COSMOS_KEY".into(),
                ))
            }
            Some(k) => CosmosAuth::Key(k),
            None => CosmosAuth::EntraId,
        };
        let consistency = match std::env::var("TOPTEN_COSMOS_CONSISTENCY")
            .unwrap_or_default()
            .to_ascii_lowercase()
            .as_str()
        {
            "" | "session" => ReadConsistencyStrategy::Session,
            "eventual" => ReadConsistencyStrategy::Eventual,
            other => {
                return Err(invalid(format!(
                    "TOPTEN_COSMOS_CONSISTENCY={other:?}: expected session or eventual"
                )))
            }
        };
        let ms = |name: &str, d: u64| env(name, d).map(Duration::from_millis).map_err(&invalid);
        Ok(CosmosSettings {
            endpoint,
            database: database.to_owned(),
            container: container.to_owned(),
            create_if_missing: env("TOPTEN_COSMOS_CREATE", matches!(auth, CosmosAuth::Key(_)))
                .map_err(&invalid)?,
            auth,
            consistency,
            read_timeout: ms("TOPTEN_COSMOS_TIMEOUT_MS", 2000)?,
            write_timeout: ms("TOPTEN_COSMOS_WRITE_TIMEOUT_MS", 10_000)?,
            write_concurrency: env(
                "TOPTEN_COSMOS_CONCURRENCY",
                default_concurrency(env("TOPTEN_COSMOS_RU_PER_SEC", 0u64).map_err(&invalid)?),
            )
            .map_err(&invalid)?
            .max(1),
            max_retries: env("TOPTEN_COSMOS_MAX_RETRIES", 10u32).map_err(&invalid)?,
            breaker_failures: env("TOPTEN_COSMOS_BREAKER_FAILURES", 5u32)
                .map_err(&invalid)?
                .max(1),
            breaker_open: ms("TOPTEN_COSMOS_BREAKER_OPEN_MS", 5000)?,
            region: std::env::var("TOPTEN_COSMOS_REGION")
                .or_else(|_| std::env::var("REGION_NAME"))
                .unwrap_or_else(|_| "East US".into()),
        })
    }
}

/// Stops sending reads to a store that keeps failing: closed → (N failures) → open for a
/// while (fail fast) → half-open (next read tries again; success closes it).
#[derive(Debug)]
struct Breaker {
    failures: AtomicU32,
    open_until: Mutex<Option<Instant>>,
    threshold: u32,
    open_for: Duration,
}

impl Breaker {
    fn check(&self) -> Result<(), StoreError> {
        let guard = self.open_until.lock().unwrap();
        match *guard {
            Some(until) if Instant::now() < until => {
                let secs = until
                    .saturating_duration_since(Instant::now())
                    .as_secs_f64()
                    .ceil()
                    .max(1.0) as u64;
                Err(StoreError::Unavailable {
                    backend: BACKEND,
                    message: "circuit breaker open after repeated failures".into(),
                    retry_after_secs: secs,
                })
            }
            _ => Ok(()),
        }
    }

    fn success(&self) {
        self.failures.store(0, Ordering::Relaxed);
        *self.open_until.lock().unwrap() = None;
    }

    fn failure(&self) {
        let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= self.threshold {
            *self.open_until.lock().unwrap() = Some(Instant::now() + self.open_for);
        }
    }
}

/// Cosmos DB [`Store`]. The SDK client is built on first use (building it is async and
/// contacts the account), so [`topten_store::open`] stays synchronous and cheap.
pub struct CosmosStore {
    settings: CosmosSettings,
    container: OnceCell<ContainerClient>,
    breaker: Breaker,
    request_units_milli: AtomicU64,
    throttled: AtomicU64,
    retries: AtomicU64,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetaDoc<T> {
    id: String,
    user_id: String,
    doc_type: String,
    body: T,
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
    #[serde(rename = "userId")]
    user_id: String,
}

fn escape_id(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for c in id.chars() {
        match c {
            '/' | '\\' | '?' | '#' | '%' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn backend_err(message: impl std::fmt::Display) -> StoreError {
    StoreError::Backend {
        backend: BACKEND,
        message: message.to_string(),
    }
}

/// Whether an error is worth retrying, and how long the service asked to wait.
fn retryable(e: &CosmosError) -> (bool, Option<Duration>) {
    let status = e.status();
    let wait = e
        .response()
        .and_then(|r| r.headers().retry_after_ms)
        .map(Duration::from_millis);
    let code = u16::from(status);
    let transient = status.is_throttled()
        || status.is_timeout()
        || status.is_service_unavailable()
        || status.is_transient()
        || code >= 500
        || code == 0;
    (transient, wait)
}

fn map_err(e: CosmosError) -> StoreError {
    let status = e.status();
    if status.is_conflict() {
        return StoreError::Conflict(format!("cosmos: {e}"));
    }
    if retryable(&e).0 {
        let retry_after_secs = e
            .response()
            .and_then(|r| r.headers().retry_after_ms)
            .map(|ms| ms.div_ceil(1000).max(1))
            .unwrap_or(1);
        return StoreError::Unavailable {
            backend: BACKEND,
            message: e.to_string(),
            retry_after_secs,
        };
    }
    backend_err(e)
}

impl CosmosStore {
    /// A store for `settings`; nothing is contacted until the first operation.
    pub fn new(settings: CosmosSettings) -> Self {
        CosmosStore {
            breaker: Breaker {
                failures: AtomicU32::new(0),
                open_until: Mutex::new(None),
                threshold: settings.breaker_failures,
                open_for: settings.breaker_open,
            },
            settings,
            container: OnceCell::new(),
            request_units_milli: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            retries: AtomicU64::new(0),
        }
    }

    /// The settings in use.
    pub fn settings(&self) -> &CosmosSettings {
        &self.settings
    }

    async fn client(&self) -> Result<&ContainerClient, StoreError> {
        self.container.get_or_try_init(|| self.connect()).await
    }

    async fn connect(&self) -> Result<ContainerClient, StoreError> {
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
                crate::credential::credential().map_err(backend_err)?,
            ),
        };
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
            let props = ContainerProperties::new(s.container.clone(), "/userId".into())
                .with_indexing_policy(policy);
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

    fn read_options(&self) -> ItemReadOptions {
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

    fn write_operation(&self) -> OperationOptions {
        OperationOptionsBuilder::new()
            .with_content_response_on_write(ContentResponseOnWrite::Disabled)
            .with_throttling_retry_options(
                ThrottlingRetryOptionsBuilder::new()
                    .with_max_retry_count(0)
                    .build(),
            )
            .build()
    }

    /// Runs a read under the timeout and the circuit breaker.
    async fn guarded<T, F>(&self, what: &str, f: F) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = Result<T, StoreError>>,
    {
        self.breaker.check()?;
        match tokio::time::timeout(self.settings.read_timeout, f).await {
            Ok(Ok(v)) => {
                self.breaker.success();
                Ok(v)
            }
            Ok(Err(e)) => {
                if matches!(
                    e,
                    StoreError::Unavailable { .. } | StoreError::Backend { .. }
                ) {
                    self.breaker.failure();
                }
                Err(e)
            }
            Err(_) => {
                self.breaker.failure();
                Err(StoreError::Unavailable {
                    backend: BACKEND,
                    message: format!(
                        "{what} took longer than {} ms",
                        self.settings.read_timeout.as_millis()
                    ),
                    retry_after_secs: 1,
                })
            }
        }
    }

    /// Point read of a document's JSON; `None` when it does not exist.
    async fn read_raw(&self, pk: &str, id: &str) -> Result<Option<bytes::Bytes>, StoreError> {
        let c = self.client().await?;
        match c
            .read_item(pk.to_owned(), id, Some(self.read_options()))
            .await
        {
            Ok(resp) => {
                self.add_charge(resp.headers().request_charge().map(|c| f64::from(*c)));
                resp.into_body().single().map(Some).map_err(backend_err)
            }
            Err(e) if e.status().is_not_found() => Ok(None),
            Err(e) => Err(map_err(e)),
        }
    }

    async fn read_meta<T: serde::de::DeserializeOwned>(
        &self,
        id: &str,
    ) -> Result<Option<T>, StoreError> {
        match self.guarded(id, self.read_raw(META_PARTITION, id)).await? {
            Some(bytes) => {
                let doc: MetaDoc<T> = serde_json::from_slice(&bytes)
                    .map_err(|e| backend_err(format!("document {id}: {e}")))?;
                Ok(Some(doc.body))
            }
            None => Ok(None),
        }
    }

    fn add_charge(&self, ru: Option<f64>) {
        if let Some(ru) = ru {
            self.request_units_milli
                .fetch_add((ru * 1000.0).round() as u64, Ordering::Relaxed);
        }
    }

    /// One write with retries on throttling and transient failures.
    async fn write_with_retry<F, Fut>(&self, what: &str, mut op: F) -> Result<(), StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<
            Output = azure_data_cosmos::Result<azure_data_cosmos::models::ItemResponse>,
        >,
    {
        let mut attempt = 0u32;
        loop {
            let outcome = tokio::time::timeout(self.settings.write_timeout, op()).await;
            let (err, transient, wait) = match outcome {
                Ok(Ok(resp)) => {
                    self.add_charge(resp.headers().request_charge().map(|c| f64::from(*c)));
                    return Ok(());
                }
                Ok(Err(e)) => {
                    let (transient, wait) = retryable(&e);
                    if e.status().is_throttled() {
                        self.throttled.fetch_add(1, Ordering::Relaxed);
                    }
                    if !transient {
                        return Err(map_err(e));
                    }
                    (e.to_string(), true, wait)
                }
                Err(_) => (
                    format!(
                        "no answer within {} ms",
                        self.settings.write_timeout.as_millis()
                    ),
                    true,
                    None,
                ),
            };
            if !transient || attempt >= self.settings.max_retries {
                return Err(StoreError::Unavailable {
                    backend: BACKEND,
                    message: format!("{what}: gave up after {} attempts: {err}", attempt + 1),
                    retry_after_secs: 5,
                });
            }
            // The service's own hint wins; otherwise exponential backoff from 100 ms, capped at 5 s.
            let backoff = wait.unwrap_or_else(|| {
                Duration::from_millis(100u64 << attempt.min(6)).min(Duration::from_secs(5))
            });
            tracing::debug!(what, attempt, wait_ms = backoff.as_millis() as u64, error = %err, "cosmos write retry");
            self.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(backoff).await;
            attempt += 1;
        }
    }

    async fn upsert_meta<T: Serialize + Sync>(
        &self,
        id: &str,
        doc_type: &str,
        body: &T,
    ) -> Result<(), StoreError> {
        let c = self.client().await?;
        let doc = MetaDoc {
            id: id.to_owned(),
            user_id: META_PARTITION.to_owned(),
            doc_type: doc_type.to_owned(),
            body,
        };
        let opts = ItemWriteOptions::default().with_operation_options(self.write_operation());
        self.write_with_retry(id, || {
            c.upsert_item(META_PARTITION, id, &doc, Some(opts.clone()))
        })
        .await
    }

    /// [`CosmosStore::upsert_meta`] for a document that must not exist yet (a conflict if it does).
    async fn create_meta<T: Serialize + Sync>(
        &self,
        id: &str,
        doc_type: &str,
        body: &T,
    ) -> Result<(), StoreError> {
        let c = self.client().await?;
        let doc = MetaDoc {
            id: id.to_owned(),
            user_id: META_PARTITION.to_owned(),
            doc_type: doc_type.to_owned(),
            body,
        };
        let opts = ItemWriteOptions::default().with_operation_options(self.write_operation());
        self.write_with_retry(id, || {
            c.create_item(META_PARTITION, id, &doc, Some(opts.clone()))
        })
        .await
    }


    /// Runs a query and collects its results, starting over on throttling and transient
    /// failures (a count over a large version may meet either).
    async fn query<T: serde::de::DeserializeOwned + Send + 'static>(
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
                    self.retries.fetch_add(1, Ordering::Relaxed);
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

    async fn query_once<T: serde::de::DeserializeOwned + Send + 'static>(
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
            self.add_charge(page.headers().request_charge().map(|c| f64::from(*c)));
            out.extend(page.into_items());
        }
        Ok(out)
    }

    /// The version's user documents (id and partition key), by query across partitions.
    async fn version_docs(&self, version: &str) -> Result<Vec<IdOnly>, StoreError> {
        let q = Query::from("SELECT c.id, c.userId FROM c WHERE c.modelVersion = @v")
            .with_parameter("@v", version)
            .map_err(backend_err)?;
        self.query(q, FeedScope::full_container()).await
    }

    async fn upsert_user(&self, c: &ContainerClient, doc: &UserRecs) -> Result<(), StoreError> {
        let opts = ItemWriteOptions::default().with_operation_options(self.write_operation());
        let id = escape_id(&doc.id);
        let stored = UserRecs {
            id: id.clone(),
            ..doc.clone()
        };
        self.write_with_retry(&id, || {
            c.upsert_item(doc.user_id.clone(), &id, &stored, Some(opts.clone()))
        })
        .await
    }

    async fn delete_doc(
        &self,
        c: &ContainerClient,
        pk: String,
        id: String,
    ) -> Result<(), StoreError> {
        match c.delete_item(pk, &id, None).await {
            Ok(resp) => {
                self.add_charge(resp.headers().request_charge().map(|c| f64::from(*c)));
                Ok(())
            }
            Err(e) if e.status().is_not_found() => Ok(()),
            Err(e) => Err(map_err(e)),
        }
    }

}

type BoxedWrite<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), StoreError>> + Send + 'a>>;

fn version_id(version: &str) -> String {
    format!("version:{version}")
}

fn popular_id(version: &str) -> String {
    format!("popular:{version}")
}

fn snapshot_id(version: &str) -> String {
    format!("snapshot:{version}")
}

/// Serving-model bytes per document: base64 makes 1 MiB about 1.4 MB, under the 2 MB item limit.
const SNAPSHOT_CHUNK: usize = 1 << 20;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SnapshotHeader {
    chunks: usize,
    bytes: usize,
}

/// A user's training history in a version (partition: the user). It carries no
/// `modelVersion`, so the publish count of user documents does not see it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HistoryDoc {
    id: String,
    user_id: String,
    doc_type: String,
    hist_version: String,
    data: String,
}

/// A live event (partition: the user); the id is `event:{eventId}` so a retried event id is a
/// conflict, not a second copy.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventDoc {
    id: String,
    user_id: String,
    doc_type: String,
    event: StoredEvent,
}

fn history_id(version: &str, user_id: &str) -> String {
    escape_id(&format!("hist:{version}:{user_id}"))
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

#[async_trait]
impl RecsReader for CosmosStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.guarded("health", self.read_raw(META_PARTITION, "active"))
            .await
            .map(|_| ())
    }

    async fn active(&self) -> Result<Option<ActiveVersion>, StoreError> {
        self.read_meta("active").await
    }

    async fn user_recs(
        &self,
        version: &str,
        user_id: &str,
    ) -> Result<Option<UserRecs>, StoreError> {
        match self.user_recs_json(version, user_id).await? {
            Some(json) => serde_json::from_slice(&json)
                .map(Some)
                .map_err(|e| backend_err(format!("document for {user_id:?}: {e}"))),
            None => Ok(None),
        }
    }

    async fn user_recs_json(
        &self,
        version: &str,
        user_id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let id = escape_id(&topten_store::doc_id(version, user_id));
        let raw = self
            .guarded("user read", self.read_raw(user_id, &id))
            .await?;
        Ok(raw.map(|b| b.to_vec()))
    }

    async fn popular(&self, version: &str) -> Result<Option<Vec<ItemScore>>, StoreError> {
        self.read_meta(&popular_id(version)).await
    }

    async fn versions(&self) -> Result<Vec<VersionInfo>, StoreError> {
        let q = Query::from("SELECT * FROM c WHERE c.userId = @pk AND c.docType = @t")
            .with_parameter("@pk", META_PARTITION)
            .and_then(|q| q.with_parameter("@t", "version"))
            .map_err(backend_err)?;
        let docs: Vec<MetaDoc<VersionInfo>> =
            self.query(q, FeedScope::partition(META_PARTITION)).await?;
        let mut out: Vec<VersionInfo> = docs.into_iter().map(|d| d.body).collect();
        out.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then(a.version.cmp(&b.version))
        });
        Ok(out)
    }

    async fn version(&self, version: &str) -> Result<Option<VersionInfo>, StoreError> {
        self.read_meta(&version_id(version)).await
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
        use base64::Engine;
        let Some(header) = self
            .read_meta::<SnapshotHeader>(&snapshot_id(version))
            .await?
        else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(header.bytes);
        for i in 0..header.chunks {
            let id = format!("{}:{i}", snapshot_id(version));
            let chunk: String = self
                .read_meta(&id)
                .await?
                .ok_or_else(|| backend_err(format!("snapshot chunk {id} is missing")))?;
            out.extend(
                b64()
                    .decode(chunk)
                    .map_err(|e| backend_err(format!("snapshot chunk {id}: {e}")))?,
            );
        }
        if out.len() != header.bytes {
            return Err(backend_err(format!(
                "snapshot of {version}: {} bytes, header says {}",
                out.len(),
                header.bytes
            )));
        }
        Ok(Some(out))
    }

    async fn user_history(
        &self,
        version: &str,
        user_id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        use base64::Engine;
        let id = history_id(version, user_id);
        match self.guarded(&id, self.read_raw(user_id, &id)).await? {
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
        let active: Option<ActiveVersion> = self.read_meta("active").await?;
        let info: Option<VersionInfo> = self.read_meta(&version_id(version)).await?;
        let write = decide(active.as_ref(), info.as_ref())?;
        match &write {
            MetaWrite::Nothing => {}
            MetaWrite::Active(a) if active.is_none() => self.create_meta("active", "active", a).await?,
            MetaWrite::Active(a) => self.upsert_meta("active", "active", a).await?,
            MetaWrite::Version(i) if info.is_none() => {
                self.create_meta(&version_id(version), "version", i).await?
            }
            MetaWrite::Version(i) => self.upsert_meta(&version_id(version), "version", i).await?,
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
        self.upsert_meta(&popular_id(version), "popular", &items)
            .await
    }

    async fn put_serving_model(&self, version: &str, bytes: &[u8]) -> Result<(), StoreError> {
        use base64::Engine;
        let chunks: Vec<&[u8]> = bytes.chunks(SNAPSHOT_CHUNK).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            self.upsert_meta(
                &format!("{}:{i}", snapshot_id(version)),
                "snapshot-chunk",
                &b64().encode(chunk),
            )
            .await?;
        }
        // The header goes last: a snapshot is readable only once every chunk is in.
        self.upsert_meta(
            &snapshot_id(version),
            "snapshot",
            &SnapshotHeader {
                chunks: chunks.len(),
                bytes: bytes.len(),
            },
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
                    self.write_with_retry(&d.id, || {
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
        let docs = self.version_docs(version).await?;
        let deletes: Vec<BoxedWrite<'_>> = docs
            .into_iter()
            .map(|d| Box::pin(self.delete_doc(c, d.user_id, d.id)) as BoxedWrite<'_>)
            .collect();
        futures::stream::iter(deletes)
            .buffer_unordered(self.settings.write_concurrency)
            .try_collect::<()>()
            .await?;
        let q = Query::from(
            "SELECT c.id, c.userId FROM c WHERE c.docType = 'hist' AND c.histVersion = @v",
        )
        .with_parameter("@v", version)
        .map_err(backend_err)?;
        let hist: Vec<IdOnly> = self.query(q, FeedScope::full_container()).await?;
        let deletes: Vec<BoxedWrite<'_>> = hist
            .into_iter()
            .map(|d| Box::pin(self.delete_doc(c, d.user_id, d.id)) as BoxedWrite<'_>)
            .collect();
        futures::stream::iter(deletes)
            .buffer_unordered(self.settings.write_concurrency)
            .try_collect::<()>()
            .await?;
        if let Some(header) = self
            .read_meta::<SnapshotHeader>(&snapshot_id(version))
            .await?
        {
            self.delete_doc(c, META_PARTITION.to_owned(), snapshot_id(version))
                .await?;
            for i in 0..header.chunks {
                self.delete_doc(
                    c,
                    META_PARTITION.to_owned(),
                    format!("{}:{i}", snapshot_id(version)),
                )
                .await?;
            }
        }
        self.delete_doc(c, META_PARTITION.to_owned(), popular_id(version))
            .await
    }

    async fn delete_version_info(&self, version: &str) -> Result<(), StoreError> {
        let c = self.client().await?;
        self.delete_doc(c, META_PARTITION.to_owned(), version_id(version))
            .await
    }

    fn write_stats(&self) -> Option<WriteStats> {
        Some(WriteStats {
            request_units: self.request_units_milli.load(Ordering::Relaxed) as f64 / 1000.0,
            throttled: self.throttled.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
        })
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
        let q = Query::from("SELECT * FROM c WHERE c.docType = 'event'");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_and_ids() {
        let s = CosmosSettings::from_uri("cosmos://acct.documents.azure.com/db/recs").unwrap();
        assert_eq!(
            (
                s.endpoint.as_str(),
                s.database.as_str(),
                s.container.as_str()
            ),
            ("https://acct.documents.azure.com:443/", "db", "recs")
        );
        let s = CosmosSettings::from_uri("cosmos+http://127.0.0.1:8081/db/recs").unwrap();
        assert_eq!(s.endpoint, "http://127.0.0.1:8081/");
        assert!(
            CosmosSettings::from_uri("cosmos+http://example.com:8081/db/recs").is_err(),
            "plain http only on loopback"
        );
        assert!(CosmosSettings::from_uri("cosmos://acct.documents.azure.com/db").is_err());
        assert!(CosmosSettings::from_uri("cosmos://acct.documents.azure.com/db/c/x").is_err());
        assert_eq!(
            (
                default_concurrency(0),
                default_concurrency(400),
                default_concurrency(10_000)
            ),
            (32, 1, 10)
        );
        assert_eq!(escape_id("v1:alice"), "v1:alice");
        assert_eq!(escape_id("v1:a/b?c#d%e\\"), "v1:a%2Fb%3Fc%23d%25e%5C");
    }

    #[test]
    fn breaker_opens_after_threshold_and_recovers() {
        let b = Breaker {
            failures: AtomicU32::new(0),
            open_until: Mutex::new(None),
            threshold: 2,
            open_for: Duration::from_millis(50),
        };
        b.failure();
        assert!(b.check().is_ok());
        b.failure();
        assert!(matches!(
            b.check(),
            Err(StoreError::Unavailable {
                retry_after_secs: 1,
                ..
            })
        ));
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.check().is_ok(), "half-open after the cool-down");
        b.success();
        assert!(b.check().is_ok());
    }
}
