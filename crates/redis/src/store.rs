//! The Redis implementation of the store roles: the reader, the version-lifecycle primitives,
//! the event log and live item changes, over one multiplexed connection that reconnects by
//! itself (`redis::aio::ConnectionManager`).
//!
//! Reads run under a timeout and a circuit breaker ([`topten_store::breaker`]); writes are
//! retried after connection failures and timeouts. Lifecycle decisions
//! ([`VersionStorage::transact_meta`]) are a compare-and-set script: the pointer and the
//! version's info are read, the decision made, and the write applied only if both are still
//! as read, all in one atomic step on the server.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo, RedisError, RedisResult};
use tokio::sync::OnceCell;

use topten_model::catalogue::live::LiveItem;
use topten_store::breaker::Breaker;
use topten_store::documents::encode_doc;
use topten_store::events::StoredEvent;
use topten_store::lifecycle::{MetaDecision, MetaWrite};
use topten_store::{
    ActiveVersion, EventLog, ItemEdits, ItemScore, LendRecs, RecsKey, RecsReader, StoreError,
    StoredRecs, UserRecs, VersionInfo, VersionStorage,
};

use crate::keys::Keys;
use crate::settings::{RedisAuth, RedisSettings};

const BACKEND: &str = "redis";

pub(crate) fn backend_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend {
        backend: BACKEND,
        message: e.to_string(),
    }
}

/// Whether a failure may pass: the connection, a timeout, a server still loading its data.
fn transient(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(
            e.code(),
            Some("LOADING" | "TRYAGAIN" | "BUSY" | "MASTERDOWN")
        )
}

fn map_err(e: RedisError) -> StoreError {
    if transient(&e) {
        return StoreError::Unavailable {
            backend: BACKEND,
            message: e.to_string(),
            retry_after_secs: 1,
        };
    }
    if e.code() == Some("OOM") {
        return backend_err(format!(
            "Redis is full (maxmemory reached; with noeviction it refuses writes instead of \
             dropping lists): {e}. Size the cache for two versions (docs/azure.md), or prune \
             old versions with `topten prune`"
        ));
    }
    backend_err(e)
}

/// Compare-and-set of the lifecycle metadata: KEYS active, version info, versions set; ARGV
/// whether each was present and its bytes as read, what to write and its bytes, the version.
const CAS_META: &str = r"
local function same(key, present, value)
  local cur = redis.call('GET', key)
  if present == '0' then return cur == false end
  return cur == value
end
if not (same(KEYS[1], ARGV[1], ARGV[2]) and same(KEYS[2], ARGV[3], ARGV[4])) then
  return 0
end
if ARGV[5] == 'active' then
  redis.call('SET', KEYS[1], ARGV[6])
elseif ARGV[5] == 'version' then
  redis.call('SET', KEYS[2], ARGV[6])
  redis.call('SADD', KEYS[3], ARGV[7])
end
return 1
";

/// Compare-and-set of live items: KEYS items hash, change index; ARGV the number of items
/// read, then per item read its id, '1'/'0' (was it stored) and the value read, then per item
/// to write its id, JSON and receipt time. Writes only when every item read is unchanged;
/// returns 1 when written, 0 on a conflict.
const CAS_ITEMS: &str = r"
local n = tonumber(ARGV[1])
local a = 2
for i = 1, n do
  local cur = redis.call('HGET', KEYS[1], ARGV[a])
  if ARGV[a+1] == '0' then
    if cur then return 0 end
  elseif cur ~= ARGV[a+2] then
    return 0
  end
  a = a + 3
end
while a <= #ARGV do
  redis.call('HSET', KEYS[1], ARGV[a], ARGV[a+1])
  redis.call('ZADD', KEYS[2], ARGV[a+2], ARGV[a])
  a = a + 3
end
return 1
";

/// Appends events: KEYS event index, event sequence, then per event its user's list and id
/// set; ARGV per event its id ('' for none), JSON and receipt time. An event whose id the user
/// already sent is skipped. Returns how many were stored.
const APPEND_EVENTS: &str = r"
local stored = 0
for i = 1, #ARGV / 4 do
  local id, json, ms, happened = ARGV[4*i-3], ARGV[4*i-2], ARGV[4*i-1], ARGV[4*i]
  if id == '' or redis.call('SADD', KEYS[2*i+3], id) == 1 then
    local seq = redis.call('INCR', KEYS[2])
    local member = string.format('%020d', seq) .. '\31' .. json
    redis.call('RPUSH', KEYS[2*i+2], member)
    redis.call('ZADD', KEYS[1], ms, member)
    redis.call('ZADD', KEYS[3], happened, member)
    stored = stored + 1
  end
end
return stored
";

/// An event as its user's list and the indexes hold it: `{sequence:020}\x1f{JSON}`; lists
/// written before the sequence was kept there hold the bare JSON.
pub(crate) fn event_json(entry: &[u8]) -> Result<&[u8], StoreError> {
    match entry.first() {
        Some(b'{') => Ok(entry),
        _ => entry
            .get(21..)
            .ok_or_else(|| backend_err("malformed event entry")),
    }
}

/// The Redis store. The connection is made on first use (or by
/// [`RecsReader::preflight`]), and refused when the server evicts keys.
pub struct RedisStore {
    settings: RedisSettings,
    pub(crate) keys: Keys,
    connection: OnceCell<ConnectionManager>,
    breaker: Breaker,
    cas_meta: redis::Script,
    cas_items: redis::Script,
    pub(crate) append: redis::Script,
    credential: Option<std::sync::Arc<dyn azure_core::credentials::TokenCredential>>,
}

impl RedisStore {
    /// A store for `settings`; nothing is contacted until the first operation.
    pub fn new(settings: RedisSettings) -> Self {
        RedisStore {
            keys: Keys::new(&settings.prefix),
            breaker: Breaker::new(BACKEND, settings.breaker_failures, settings.breaker_open),
            settings,
            connection: OnceCell::new(),
            cas_meta: redis::Script::new(CAS_META),
            cas_items: redis::Script::new(CAS_ITEMS),
            append: redis::Script::new(APPEND_EVENTS),
            credential: None,
        }
    }

    /// A store that takes its Entra ID tokens from `credential` instead of the process's
    /// ([`topten_credential::credential`]).
    pub fn with_credential(
        settings: RedisSettings,
        credential: std::sync::Arc<dyn azure_core::credentials::TokenCredential>,
    ) -> Self {
        RedisStore {
            credential: Some(credential),
            ..Self::new(settings)
        }
    }

    /// The settings in use.
    pub fn settings(&self) -> &RedisSettings {
        &self.settings
    }

    /// The key layout in use.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        self.connection
            .get_or_try_init(|| self.connect())
            .await
            .cloned()
    }

    async fn connect(&self) -> Result<ConnectionManager, StoreError> {
        let s = &self.settings;
        let addr = if s.tls {
            topten_credential::install_tls_provider();
            ConnectionAddr::TcpTls {
                host: s.host.clone(),
                port: s.port,
                insecure: false,
                tls_params: None,
            }
        } else {
            ConnectionAddr::Tcp(s.host.clone(), s.port)
        };
        let mut redis_settings = RedisConnectionInfo::default().set_db(s.db);
        if let RedisAuth::Password(p) = &s.auth {
            redis_settings = redis_settings.set_password(p);
        }
        let info = addr
            .into_connection_info()
            .map_err(backend_err)?
            .set_redis_settings(redis_settings);
        let client = match &s.ca_file {
            Some(path) if s.tls => {
                let pem = std::fs::read(path).map_err(|e| {
                    backend_err(format!("TOPTEN_REDIS_CA_FILE {}: {e}", path.display()))
                })?;
                redis::Client::build_with_tls(
                    info,
                    redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(pem),
                    },
                )
            }
            _ => redis::Client::open(info),
        }
        .map_err(backend_err)?;
        let mut config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(s.write_timeout))
            .set_connection_timeout(Some(s.read_timeout.max(Duration::from_secs(2))))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        if s.auth == RedisAuth::EntraId {
            let credential = match &self.credential {
                Some(c) => c.clone(),
                None => topten_credential::credential().map_err(backend_err)?,
            };
            config = config
                .set_credentials_provider(crate::entra::EntraIdCredentials::start(credential));
        }
        let connect = ConnectionManager::new_with_config(client, config);
        let mut con = tokio::time::timeout(s.read_timeout.max(Duration::from_secs(5)), connect)
            .await
            .map_err(|_| StoreError::Unavailable {
                backend: BACKEND,
                message: format!("no connection to {} within 5 s", s.describe()),
                retry_after_secs: 1,
            })?
            .map_err(|e| match map_err(e) {
                StoreError::Unavailable { message, .. } => StoreError::Unavailable {
                    backend: BACKEND,
                    message: format!("cannot connect to {}: {message}", s.describe()),
                    retry_after_secs: 1,
                },
                other => backend_err(format!("connecting to {}: {other}", s.describe())),
            })?;
        let info: String = redis::cmd("INFO")
            .query_async(&mut con)
            .await
            .map_err(map_err)?;
        check_server(&info, &s.describe())?;
        tracing::info!(server = %s.describe(), prefix = %s.prefix, "redis store connected");
        Ok(con)
    }

    /// A read under the timeout and the breaker. A read that finds the connection dropped (the
    /// server restarted, a failover) is sent once more on the new connection, within the same
    /// timeout, so a restart costs no failed request.
    async fn read<T, F, Fut>(&self, what: &str, op: F) -> Result<T, StoreError>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        self.breaker
            .guarded(what, self.settings.read_timeout, async {
                let con = self.connection().await?;
                match op(con.clone()).await {
                    Err(e) if e.is_connection_dropped() || e.is_io_error() => {
                        tracing::debug!(error = %e, "redis read: connection dropped, once more");
                        op(con).await.map_err(map_err)
                    }
                    other => other.map_err(map_err),
                }
            })
            .await
    }

    /// One command as a read ([`RedisStore::read`]).
    pub(crate) async fn query<T: redis::FromRedisValue>(
        &self,
        what: &str,
        cmd: &redis::Cmd,
    ) -> Result<T, StoreError> {
        self.read(
            what,
            |mut con| async move { cmd.query_async(&mut con).await },
        )
        .await
    }

    /// The JSON values of the hash at `key` (answer counts, tombstones).
    pub(crate) async fn hash_values<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        key: String,
    ) -> Result<Vec<T>, StoreError> {
        let values: Vec<Vec<u8>> = self.query(what, redis::cmd("HVALS").arg(key)).await?;
        values
            .iter()
            .map(|b| serde_json::from_slice(b).map_err(backend_err))
            .collect()
    }

    /// A write (idempotent: it may be sent again) with retries after transient failures.
    pub(crate) async fn write<T, F, Fut>(&self, what: &str, op: F) -> Result<T, StoreError>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let s = &self.settings;
        let mut attempt = 0u32;
        loop {
            let outcome = match self.connection().await {
                Ok(con) => match tokio::time::timeout(s.write_timeout, op(con)).await {
                    Ok(Ok(v)) => return Ok(v),
                    Ok(Err(e)) if !transient(&e) => return Err(map_err(e)),
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => format!("no answer within {} ms", s.write_timeout.as_millis()),
                },
                Err(StoreError::Unavailable { message, .. }) => message,
                Err(other) => return Err(other),
            };
            if attempt >= s.max_retries {
                return Err(StoreError::Unavailable {
                    backend: BACKEND,
                    message: format!("{what}: gave up after {} attempts: {outcome}", attempt + 1),
                    retry_after_secs: 5,
                });
            }
            let backoff =
                Duration::from_millis(100u64 << attempt.min(5)).min(Duration::from_secs(2));
            tracing::debug!(what, attempt, error = %outcome, "redis write retry");
            tokio::time::sleep(backoff).await;
            attempt += 1;
        }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        key: String,
    ) -> Result<Option<T>, StoreError> {
        parse_json(&self.get_bytes(key).await?)
    }

    async fn get_bytes(&self, key: String) -> Result<Option<Vec<u8>>, StoreError> {
        self.query("read", redis::cmd("GET").arg(&key)).await
    }

    async fn hget(&self, key: String, field: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.query("user read", redis::cmd("HGET").arg(&key).arg(field))
            .await
    }

    async fn set_bytes(&self, key: String, bytes: &[u8]) -> Result<(), StoreError> {
        self.write(&key, |mut con| {
            let key = &key;
            async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(bytes)
                    .query_async(&mut con)
                    .await
            }
        })
        .await
    }

    /// Writes `fields` into the hash `key`, `batch` fields per command, all in one pipelined
    /// round trip.
    async fn hset_batched(&self, key: &str, fields: &[(&str, Vec<u8>)]) -> Result<(), StoreError> {
        if fields.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for chunk in fields.chunks(self.settings.batch) {
            let cmd = pipe.cmd("HSET").arg(key);
            for (field, value) in chunk {
                cmd.arg(*field).arg(value.as_slice());
            }
            cmd.ignore();
        }
        self.write(key, |mut con| {
            let pipe = &pipe;
            async move { pipe.query_async::<()>(&mut con).await }
        })
        .await
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(
    b: &Option<Vec<u8>>,
) -> Result<Option<T>, StoreError> {
    b.as_deref()
        .map(serde_json::from_slice)
        .transpose()
        .map_err(backend_err)
}

/// Refuses a server that would lose data silently or that the client cannot address.
pub fn check_server(info: &str, server: &str) -> Result<(), StoreError> {
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    match field("maxmemory_policy") {
        Some("noeviction") => {}
        Some(policy) => {
            return Err(backend_err(format!(
                "{server} has maxmemory-policy {policy}: Redis would evict keys under memory \
                 pressure and users' lists would silently disappear. topten needs \
                 maxmemory-policy noeviction (Azure: redisConfiguration 'maxmemory-policy'; \
                 bicep/redis.bicep sets it)"
            )))
        }
        None => {
            return Err(backend_err(format!(
                "{server}: INFO does not report maxmemory_policy, so topten cannot check that \
                 keys are never evicted"
            )))
        }
    }
    if field("cluster_enabled") == Some("1") {
        return Err(backend_err(format!(
            "{server} is a Redis Cluster (OSS cluster policy); topten's client is not \
             cluster-aware: use a non-clustered cache or the Enterprise cluster policy"
        )));
    }
    Ok(())
}

#[async_trait]
impl RecsReader for RedisStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.query("health", &redis::cmd("PING")).await
    }

    async fn preflight(&self) -> Result<(), StoreError> {
        self.connection().await.map(drop)
    }

    async fn active(&self) -> Result<Option<ActiveVersion>, StoreError> {
        self.get_json(self.keys.active()).await
    }

    async fn read_user(&self, key: RecsKey<'_>, read: &mut LendRecs) -> Result<(), StoreError> {
        let RecsKey {
            version,
            user: user_id,
        } = key;
        if let Some(value) = self.hget(self.keys.recs(version), user_id).await? {
            read(StoredRecs::Document(&value));
        }
        Ok(())
    }

    async fn popular(&self, version: &str) -> Result<Option<Vec<ItemScore>>, StoreError> {
        self.get_json(self.keys.popular(version)).await
    }

    async fn versions(&self) -> Result<Vec<VersionInfo>, StoreError> {
        let ids: Vec<String> = self
            .query("versions", redis::cmd("SMEMBERS").arg(self.keys.versions()))
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|v| self.keys.version(v)).collect();
        let infos: Vec<Option<Vec<u8>>> = self
            .query("versions", redis::cmd("MGET").arg(&keys))
            .await?;
        let mut out = Vec::with_capacity(infos.len());
        for bytes in infos.into_iter().flatten() {
            out.push(serde_json::from_slice::<VersionInfo>(&bytes).map_err(backend_err)?);
        }
        topten_store::documents::oldest_first(&mut out);
        Ok(out)
    }

    async fn version(&self, version: &str) -> Result<Option<VersionInfo>, StoreError> {
        self.get_json(self.keys.version(version)).await
    }

    async fn user_ids(&self, version: &str) -> Result<Vec<String>, StoreError> {
        // HSCAN, not HKEYS: a large version must not block the server for everyone else.
        let key = self.keys.recs(version);
        let mut cursor = 0u64;
        let mut out = Vec::new();
        loop {
            let (next, fields): (u64, Vec<(String, redis::Value)>) = self
                .query(
                    "user ids",
                    redis::cmd("HSCAN")
                        .arg(&key)
                        .arg(cursor)
                        .arg("COUNT")
                        .arg(1000),
                )
                .await?;
            out.extend(fields.into_iter().map(|(f, _)| f));
            if next == 0 {
                break;
            }
            cursor = next;
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    async fn serving_model(&self, version: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.get_bytes(self.keys.model(version)).await
    }

    async fn catalogue(&self, version: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.get_bytes(self.keys.catalogue(version)).await
    }

    async fn item_factors_since(
        &self,
        version: &str,
        since_ms: i64,
    ) -> Result<Vec<topten_store::ItemFactor>, StoreError> {
        // Few per version (new and little-known items), so one HGETALL and a filter.
        let key = self.keys.item_factors(version);
        let all: std::collections::HashMap<String, Vec<u8>> = self
            .query("item factors", redis::cmd("HGETALL").arg(&key))
            .await?;
        let mut out = Vec::new();
        for bytes in all.into_values() {
            let f: topten_store::ItemFactor =
                serde_json::from_slice(&bytes).map_err(backend_err)?;
            if f.solved_ms >= since_ms {
                out.push(f);
            }
        }
        Ok(out)
    }

    async fn user_history(
        &self,
        version: &str,
        user_id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.hget(self.keys.hist(version), user_id).await
    }
}

#[async_trait]
impl VersionStorage for RedisStore {
    async fn transact_meta(
        &self,
        version: &str,
        decide: &MetaDecision<'_>,
    ) -> Result<MetaWrite, StoreError> {
        let (active_key, info_key) = (self.keys.active(), self.keys.version(version));
        // Optimistic: read, decide, and write only if nothing changed in between (the script
        // compares on the server); a concurrent change means deciding again.
        for _ in 0..16 {
            let keys = [active_key.clone(), info_key.clone()];
            let (active_raw, info_raw): (Option<Vec<u8>>, Option<Vec<u8>>) = self
                .query("metadata", redis::cmd("MGET").arg(&keys))
                .await?;
            let active: Option<ActiveVersion> = parse_json(&active_raw)?;
            let info: Option<VersionInfo> = parse_json(&info_raw)?;
            let write = decide(active.as_ref(), info.as_ref())?;
            let (what, bytes) = match &write {
                MetaWrite::Nothing => return Ok(write),
                MetaWrite::Active(a) => ("active", serde_json::to_vec(a).map_err(backend_err)?),
                MetaWrite::Version(i) => ("version", serde_json::to_vec(i).map_err(backend_err)?),
            };
            let present = |b: &Option<Vec<u8>>| if b.is_some() { "1" } else { "0" };
            let mut invocation = self.cas_meta.prepare_invoke();
            invocation
                .key(&active_key)
                .key(&info_key)
                .key(self.keys.versions())
                .arg(present(&active_raw))
                .arg(active_raw.as_deref().unwrap_or_default())
                .arg(present(&info_raw))
                .arg(info_raw.as_deref().unwrap_or_default())
                .arg(what)
                .arg(bytes)
                .arg(version);
            // Not retried on a lost answer: the comparison would then fail and the decision
            // be made again on what the first attempt wrote.
            let mut con = self.connection().await?;
            let done: i64 = tokio::time::timeout(
                self.settings.write_timeout,
                invocation.invoke_async(&mut con),
            )
            .await
            .map_err(|_| StoreError::Unavailable {
                backend: BACKEND,
                message: "metadata write: no answer".into(),
                retry_after_secs: 1,
            })?
            .map_err(map_err)?;
            if done == 1 {
                return Ok(write);
            }
        }
        Err(StoreError::Conflict(format!(
            "version {version}: the metadata kept changing under concurrent writers; try again"
        )))
    }

    async fn put_users(&self, version: &str, docs: &[UserRecs]) -> Result<(), StoreError> {
        let fields = docs
            .iter()
            .map(|d| Ok((d.user_id.as_str(), encode_doc(d).map_err(backend_err)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.hset_batched(&self.keys.recs(version), &fields).await
    }

    async fn put_popular(&self, version: &str, items: &[ItemScore]) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(items).map_err(backend_err)?;
        self.set_bytes(self.keys.popular(version), &bytes).await
    }

    async fn put_serving_model(&self, version: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.set_bytes(self.keys.model(version), bytes).await
    }

    async fn put_catalogue(&self, version: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.set_bytes(self.keys.catalogue(version), bytes).await
    }

    async fn put_histories(
        &self,
        version: &str,
        histories: &[(String, Vec<u8>)],
    ) -> Result<(), StoreError> {
        let fields: Vec<(&str, Vec<u8>)> = histories
            .iter()
            .map(|(u, b)| (u.as_str(), b.clone()))
            .collect();
        self.hset_batched(&self.keys.hist(version), &fields).await
    }

    async fn put_item_factors(
        &self,
        version: &str,
        factors: &[topten_store::ItemFactor],
    ) -> Result<(), StoreError> {
        let mut fields = Vec::with_capacity(factors.len());
        for f in factors {
            fields.push((
                f.item_id.as_str(),
                serde_json::to_vec(f).map_err(backend_err)?,
            ));
        }
        self.hset_batched(&self.keys.item_factors(version), &fields)
            .await
    }

    async fn count_users(&self, version: &str) -> Result<usize, StoreError> {
        let key = self.keys.recs(version);
        self.query("count", redis::cmd("HLEN").arg(&key)).await
    }

    async fn delete_version_data(&self, version: &str) -> Result<(), StoreError> {
        // UNLINK frees the memory in the background, so even a large version goes in one call.
        let k = &self.keys;
        let keys = [
            k.recs(version),
            k.hist(version),
            k.popular(version),
            k.model(version),
            k.catalogue(version),
            k.item_factors(version),
        ];
        self.write("delete version", |mut con| {
            let keys = &keys;
            async move {
                redis::cmd("UNLINK")
                    .arg(keys)
                    .query_async::<()>(&mut con)
                    .await
            }
        })
        .await
    }

    async fn delete_version_info(&self, version: &str) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("DEL")
            .arg(self.keys.version(version))
            .ignore()
            .cmd("SREM")
            .arg(self.keys.versions())
            .arg(version)
            .ignore();
        self.write("delete version info", |mut con| {
            let pipe = &pipe;
            async move { pipe.query_async::<()>(&mut con).await }
        })
        .await
    }
}

#[async_trait]
impl ItemEdits for RedisStore {
    async fn put_live_items(&self, items: &[LiveItem]) -> Result<(), StoreError> {
        // One transaction (MULTI/EXEC): the whole batch, or none of it.
        let mut pipe = redis::pipe();
        pipe.atomic();
        for live in items {
            let json = serde_json::to_vec(live).map_err(backend_err)?;
            let id = live.item.item_id.as_str();
            pipe.cmd("HSET")
                .arg(self.keys.items())
                .arg(id)
                .arg(json)
                .ignore();
            pipe.cmd("ZADD")
                .arg(self.keys.item_changes())
                .arg(live.changed_ms)
                .arg(id)
                .ignore();
        }
        self.write("item changes", |mut con| {
            let pipe = &pipe;
            async move { pipe.query_async::<()>(&mut con).await }
        })
        .await
    }

    async fn update_live_items(
        &self,
        ids: &[String],
        update: &topten_store::ItemUpdate<'_>,
    ) -> Result<Option<Vec<LiveItem>>, StoreError> {
        // Optimistic: read, decide, then write only if nothing read has changed (a script, so
        // it is atomic on a shared multiplexed connection, where WATCH is not); read again on
        // a conflict.
        let key = self.keys.items();
        for attempt in 0..topten_store::item_edits::CONFLICT_ATTEMPTS {
            let raw: Vec<Option<Vec<u8>>> = if ids.is_empty() {
                Vec::new()
            } else {
                self.query("item changes", redis::cmd("HMGET").arg(&key).arg(ids))
                    .await?
            };
            let current: Vec<Option<LiveItem>> = raw
                .iter()
                .map(|b| {
                    b.as_deref()
                        .map(serde_json::from_slice)
                        .transpose()
                        .map_err(backend_err)
                })
                .collect::<Result<_, _>>()?;
            let Some(items) = update(&current) else {
                return Ok(None);
            };
            let mut invocation = self.cas_items.prepare_invoke();
            invocation
                .key(&key)
                .key(self.keys.item_changes())
                .arg(ids.len());
            for (id, b) in ids.iter().zip(&raw) {
                invocation
                    .arg(id)
                    .arg(if b.is_some() { "1" } else { "0" })
                    .arg(b.as_deref().unwrap_or_default());
            }
            for live in &items {
                invocation
                    .arg(&live.item.item_id)
                    .arg(serde_json::to_vec(live).map_err(backend_err)?)
                    .arg(live.changed_ms);
            }
            // Not retried on a lost answer: the next attempt reads what the first wrote.
            let mut con = self.connection().await?;
            let written: i64 = tokio::time::timeout(
                self.settings.write_timeout,
                invocation.invoke_async(&mut con),
            )
            .await
            .map_err(|_| StoreError::Unavailable {
                backend: BACKEND,
                message: "item changes: no answer".into(),
                retry_after_secs: 1,
            })?
            .map_err(map_err)?;
            if written == 1 {
                return Ok(Some(items));
            }
            // A concurrent change won: back off a little and read again.
            topten_store::item_edits::pause_after_conflict(attempt).await;
        }
        Err(topten_store::item_edits::too_many_conflicts(BACKEND))
    }

    async fn live_item(&self, item_id: &str) -> Result<Option<LiveItem>, StoreError> {
        match self.hget(self.keys.items(), item_id).await? {
            Some(b) => Ok(Some(serde_json::from_slice(&b).map_err(backend_err)?)),
            None => Ok(None),
        }
    }

    async fn live_items_since(&self, since_ms: i64) -> Result<Vec<LiveItem>, StoreError> {
        let key = self.keys.item_changes();
        let ids: Vec<String> = self
            .query(
                "item changes",
                redis::cmd("ZRANGEBYSCORE")
                    .arg(&key)
                    .arg(since_ms)
                    .arg("+inf"),
            )
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let key = self.keys.items();
        let values: Vec<Option<Vec<u8>>> = self
            .query("item changes", redis::cmd("HMGET").arg(&key).arg(&ids))
            .await?;
        let mut out: Vec<LiveItem> = values
            .into_iter()
            .flatten()
            .map(|b| serde_json::from_slice(&b).map_err(backend_err))
            .collect::<Result<_, _>>()?;
        out.sort_by_key(|i| i.changed_ms);
        Ok(out)
    }
}

#[async_trait]
impl topten_store::AnswerCountStore for RedisStore {
    async fn save_answer_counts(
        &self,
        counts: &topten_store::AnswerCounts,
    ) -> Result<(), StoreError> {
        // One field per instance: instances never overwrite each other's counts.
        let json = serde_json::to_vec(counts).map_err(backend_err)?;
        let cmd = {
            let mut c = redis::cmd("HSET");
            c.arg(self.keys.answer_counts())
                .arg(&counts.instance)
                .arg(json);
            c
        };
        self.write("answer counts", |mut con| {
            let cmd = &cmd;
            async move { cmd.query_async::<()>(&mut con).await }
        })
        .await
    }

    async fn answer_counts(&self) -> Result<Vec<topten_store::AnswerCounts>, StoreError> {
        self.hash_values("answer counts", self.keys.answer_counts())
            .await
    }
}

#[async_trait]
impl EventLog for RedisStore {
    async fn append_events(&self, events: &[StoredEvent]) -> Result<usize, StoreError> {
        if events.is_empty() {
            return Ok(0);
        }
        // One script: atomic, so the batch is stored whole or not at all; a retry after a
        // lost answer skips the events with ids that made it (events without ids may repeat).
        let mut invocation = self.append.prepare_invoke();
        invocation
            .key(self.keys.event_index())
            .key(self.keys.event_seq())
            .key(self.keys.event_age());
        for e in events {
            invocation
                .key(self.keys.events(&e.user_id))
                .key(self.keys.event_ids(&e.user_id));
        }
        for e in events {
            invocation
                .arg(e.event_id.as_deref().unwrap_or(""))
                .arg(serde_json::to_vec(e).map_err(backend_err)?)
                .arg(e.received_at_ms)
                .arg(e.timestamp.saturating_mul(1000));
        }
        let stored: i64 = self
            .write("events", |mut con| {
                let invocation = &invocation;
                async move { invocation.invoke_async(&mut con).await }
            })
            .await?;
        Ok(stored as usize)
    }

    async fn user_events(&self, user_id: &str) -> Result<Vec<StoredEvent>, StoreError> {
        let key = self.keys.events(user_id);
        let values: Vec<Vec<u8>> = self
            .query("user events", redis::cmd("LRANGE").arg(&key).arg(0).arg(-1))
            .await?;
        values
            .iter()
            .map(|b| serde_json::from_slice(event_json(b)?).map_err(backend_err))
            .collect()
    }

    async fn events_since(&self, since_ms: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let key = self.keys.event_index();
        let members: Vec<Vec<u8>> = self
            .query(
                "events",
                redis::cmd("ZRANGEBYSCORE")
                    .arg(&key)
                    .arg(since_ms)
                    .arg("+inf"),
            )
            .await?;
        // Members are `{sequence:020}\x1f{event}`, so the index order is receipt order.
        members
            .iter()
            .map(|m| serde_json::from_slice(event_json(m)?).map_err(backend_err))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_evicting_or_clustered_server_is_refused() {
        let ok = "# Memory\r\nmaxmemory_policy:noeviction\r\n# Cluster\r\ncluster_enabled:0\r\n";
        assert!(check_server(ok, "s").is_ok());
        let lru = ok.replace("noeviction", "allkeys-lru");
        let e = check_server(&lru, "s").unwrap_err().to_string();
        assert!(e.contains("allkeys-lru") && e.contains("noeviction"), "{e}");
        let cluster = ok.replace("cluster_enabled:0", "cluster_enabled:1");
        assert!(check_server(&cluster, "s")
            .unwrap_err()
            .to_string()
            .contains("cluster"));
        assert!(
            check_server("# Memory\r\n", "s").is_err(),
            "an unknown policy is refused"
        );
    }
}
