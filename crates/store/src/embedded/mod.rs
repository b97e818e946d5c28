//! The embedded store: one LMDB file (through heed), the default for laptops and tests.
//!
//! Why LMDB: a copy-on-write B-tree that never corrupts on crash, memory-mapped point reads in
//! about a microsecond, and, unlike single-process embedded databases, readers in *other
//! processes* never block the writer, so `topten publish` can write a new version while the
//! handler keeps serving the old one from the same file.
//!
//! Layout: database `recs` maps `{version}\x1f{userId}` to the user's document; database
//! `meta` holds `version\x1f{v}` → [`VersionInfo`], `popular\x1f{v}` → items,
//! `snapshot\x1f{v}` → the serving model, `catalogue\x1f{v}` → the catalogue (JSON Lines),
//! `itemfactor\x1f{v}\x1f{itemId}` → an item factor solved from live events, and `active`; `hist` maps `{version}\x1f{userId}` to
//! the user's training history; `events` maps `{userId}\x1f{sequence}` to an event and
//! `event_ids` remembers client event ids for idempotency, per user (`{user}\x1f{eventId}`);
//! `events_by_time` and `events_by_age` index events by receipt and by their own time;
//! `meta` also holds tombstones (`tombstone\x1f{userId}`). [`erasure`] deletes: retention
//! passes and forgetting a user.
//!
//! Documents are stored in the indexed form of [`crate::documents`]: the exact JSON of a
//! [`UserRecs`] behind an index of where each item starts and ends.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use async_trait::async_trait;
use heed::types::{Bytes, Str};
use heed::{Database, Env, EnvFlags, EnvOpenOptions, WithTls};

mod erasure;

use crate::blocking::BlockingWrites;
use crate::documents::encode_doc;
use crate::events::StoredEvent;
use crate::item_edits::ItemEdits;
use crate::lifecycle::{MetaDecision, MetaWrite};
use crate::reader::{LendRecs, RecsKey, StoredRecs};
use crate::{
    ActiveVersion, EventLog, ItemScore, RecsReader, StoreError, UserRecs, VersionInfo,
    VersionStorage,
};
use topten_model::catalogue::live::LiveItem;

const SEP: char = '\x1f';

/// The LMDB store: a reader, the version-lifecycle primitives and an event log.
#[derive(Clone)]
pub struct EmbeddedStore {
    env: Env<WithTls>,
    recs: Database<Str, Bytes>,
    meta: Database<Str, Bytes>,
    hist: Database<Str, Bytes>,
    events: Database<Str, Bytes>,
    /// The time index of `events`: `{received ms:020}{SEP}{sequence:020}` → the event's key
    /// in `events`, so a read of recent events costs what it returns.
    events_by_time: Database<Str, Str>,
    /// The age index of `events`: `{happened ms:020}{SEP}{sequence:020}` → the event's key,
    /// what retention walks (an event's age is its own timestamp, not its receipt).
    events_by_age: Database<Str, Str>,
    event_ids: Database<Str, Bytes>,
    live_items: Database<Str, Bytes>,
    live_changes: Database<Str, Bytes>,
    path: PathBuf,
}

/// Where the time index's keys for events received at `received_ms` begin.
fn time_prefix(received_ms: i64) -> String {
    format!("{:020}{SEP}", received_ms.max(0))
}

/// The time-index key of the event stored under `event_key` (`{user}{SEP}{sequence:020}`),
/// received at `received_ms`: the time, then the sequence, so equal times keep their order.
fn time_key(received_ms: i64, event_key: &str) -> String {
    let seq = event_key.rsplit(SEP).next().unwrap_or_default();
    time_prefix(received_ms) + seq
}

/// Fills `index` (time → event key, by `time_of`) from `events` when it is empty and they are
/// not: a store written before the index existed is indexed once, on open.
fn index_events_once(
    wtxn: &mut heed::RwTxn<'_>,
    events: Database<Str, Bytes>,
    index: Database<Str, Str>,
    time_of: fn(&StoredEvent) -> i64,
) -> Result<(), StoreError> {
    if !index.is_empty(wtxn).map_err(backend_err)? || events.is_empty(wtxn).map_err(backend_err)? {
        return Ok(());
    }
    let mut keys: Vec<(String, String)> = Vec::new();
    for entry in events.iter(wtxn).map_err(backend_err)? {
        let (key, bytes) = entry.map_err(backend_err)?;
        let e: StoredEvent = serde_json::from_slice(bytes).map_err(backend_err)?;
        keys.push((time_key(time_of(&e), key), key.to_owned()));
    }
    for (time, key) in keys {
        index.put(wtxn, &time, &key).map_err(backend_err)?;
    }
    Ok(())
}

/// When an event happened, epoch milliseconds (its own timestamp).
fn happened_ms(e: &StoredEvent) -> i64 {
    e.timestamp.saturating_mul(1000)
}

fn backend_err(e: impl std::fmt::Display) -> StoreError {
    let mut message = e.to_string();
    // LMDB reports a write that found the disk full as EIO (os error 5), which alone does not
    // say what to do.
    if message.contains("os error 5)") || message.contains("os error 28)") {
        message.push_str(
            "; LMDB fails writes this way when the disk is full: check free space where the \
             store file is (nothing half-written is served: the version stays incomplete)",
        );
    }
    StoreError::Backend {
        backend: "embedded",
        message,
    }
}

/// heed allows one `Env` per file per process; share it.
fn env_registry() -> &'static Mutex<HashMap<PathBuf, Env<WithTls>>> {
    static ENVS: OnceLock<Mutex<HashMap<PathBuf, Env<WithTls>>>> = OnceLock::new();
    ENVS.get_or_init(Default::default)
}

/// Whether this process has the store file at `path` (an absolute path) open.
pub(crate) fn open_in_this_process(path: &Path) -> bool {
    env_registry().lock().unwrap().contains_key(path)
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| backend_err(format!("{}: {e}", parent.display())))?;
        }
        let key = std::path::absolute(path).map_err(backend_err)?;
        let env = {
            let mut envs = env_registry().lock().unwrap();
            match envs.get(&key) {
                Some(env) => env.clone(),
                None => {
                    let map_size: usize = std::env::var("TOPTEN_EMBEDDED_MAP_SIZE_GB")
                        .ok()
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(64)
                        << 30;
                    let mut opts = EnvOpenOptions::new();
                    opts.map_size(map_size).max_dbs(16).max_readers(512);
                    // SAFETY: NO_SUB_DIR only changes file naming; the file is opened once per
                    // process (the registry above), as heed requires.
                    unsafe { opts.flags(EnvFlags::NO_SUB_DIR) };
                    let env = unsafe { opts.open(&key) }
                        .map_err(|e| backend_err(format!("{}: {e}", key.display())))?;
                    envs.insert(key.clone(), env.clone());
                    env
                }
            }
        };
        let mut wtxn = env.write_txn().map_err(backend_err)?;
        let recs = env
            .create_database(&mut wtxn, Some("recs"))
            .map_err(backend_err)?;
        let meta = env
            .create_database(&mut wtxn, Some("meta"))
            .map_err(backend_err)?;
        let hist = env
            .create_database(&mut wtxn, Some("hist"))
            .map_err(backend_err)?;
        let events: Database<Str, Bytes> = env
            .create_database(&mut wtxn, Some("events"))
            .map_err(backend_err)?;
        let event_ids = env
            .create_database(&mut wtxn, Some("event_ids"))
            .map_err(backend_err)?;
        let events_by_time: Database<Str, Str> = env
            .create_database(&mut wtxn, Some("events_by_time"))
            .map_err(backend_err)?;
        index_events_once(&mut wtxn, events, events_by_time, |e| e.received_at_ms)?;
        let events_by_age: Database<Str, Str> = env
            .create_database(&mut wtxn, Some("events_by_age"))
            .map_err(backend_err)?;
        index_events_once(&mut wtxn, events, events_by_age, happened_ms)?;
        let live_items = env
            .create_database(&mut wtxn, Some("live_items"))
            .map_err(backend_err)?;
        let live_changes = env
            .create_database(&mut wtxn, Some("live_changes"))
            .map_err(backend_err)?;
        wtxn.commit().map_err(backend_err)?;
        Ok(EmbeddedStore {
            env,
            recs,
            meta,
            hist,
            events,
            events_by_time,
            events_by_age,
            event_ids,
            live_items,
            live_changes,
            path: key,
        })
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn get_meta<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        let rtxn = self.env.read_txn().map_err(backend_err)?;
        match self.meta.get(&rtxn, key).map_err(backend_err)? {
            Some(bytes) => Ok(Some(serde_json::from_slice(bytes).map_err(backend_err)?)),
            None => Ok(None),
        }
    }

    fn put_meta<T: serde::Serialize>(
        &self,
        wtxn: &mut heed::RwTxn,
        key: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value).map_err(backend_err)?;
        self.meta.put(wtxn, key, &bytes).map_err(backend_err)
    }

    fn version_key(version: &str) -> String {
        format!("version{SEP}{version}")
    }

    /// The prefix of `version`'s item factors in the metadata database (then the item id).
    fn item_factor_prefix(version: &str) -> String {
        format!("itemfactor{SEP}{version}{SEP}")
    }
}

#[async_trait]
impl RecsReader for EmbeddedStore {
    fn backend(&self) -> &'static str {
        "embedded"
    }

    async fn health(&self) -> Result<(), StoreError> {
        let rtxn = self.env.read_txn().map_err(backend_err)?;
        self.meta.get(&rtxn, "active").map_err(backend_err)?;
        Ok(())
    }

    async fn active(&self) -> Result<Option<ActiveVersion>, StoreError> {
        self.get_meta("active")
    }

    async fn read_user(&self, key: RecsKey<'_>, read: &mut LendRecs) -> Result<(), StoreError> {
        let RecsKey {
            version,
            user: user_id,
        } = key;
        let key = format!("{version}{SEP}{user_id}");
        let rtxn = self.env.read_txn().map_err(backend_err)?;
        if let Some(value) = self.recs.get(&rtxn, &key).map_err(backend_err)? {
            read(StoredRecs::Document(value));
        }
        Ok(())
    }

    async fn popular(&self, version: &str) -> Result<Option<Vec<ItemScore>>, StoreError> {
        self.get_meta(&format!("popular{SEP}{version}"))
    }

    async fn versions(&self) -> Result<Vec<VersionInfo>, StoreError> {
        let rtxn = self.env.read_txn().map_err(backend_err)?;
        let prefix = format!("version{SEP}");
        let mut out = Vec::new();
        for entry in self.meta.prefix_iter(&rtxn, &prefix).map_err(backend_err)? {
            let (_, bytes) = entry.map_err(backend_err)?;
            out.push(serde_json::from_slice::<VersionInfo>(bytes).map_err(backend_err)?);
        }
        crate::documents::oldest_first(&mut out);
        Ok(out)
    }

    async fn version(&self, version: &str) -> Result<Option<VersionInfo>, StoreError> {
        self.get_meta(&Self::version_key(version))
    }

    async fn user_ids(&self, version: &str) -> Result<Vec<String>, StoreError> {
        let rtxn = self.env.read_txn().map_err(backend_err)?;
        let prefix = format!("{version}{SEP}");
        let mut out = Vec::new();
        for entry in self.recs.prefix_iter(&rtxn, &prefix).map_err(backend_err)? {
            let (key, _) = entry.map_err(backend_err)?;
            out.push(key[prefix.len()..].to_owned());
        }
        Ok(out)
    }

    async fn serving_model(&self, version: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let rtxn = self.env.read_txn().map_err(backend_err)?;
        Ok(self
            .meta
            .get(&rtxn, &format!("snapshot{SEP}{version}"))
            .map_err(backend_err)?
            .map(<[u8]>::to_vec))
    }

    async fn item_factors_since(
        &self,
        version: &str,
        since_ms: i64,
    ) -> Result<Vec<crate::ItemFactor>, StoreError> {
        let rtxn = self.env.read_txn().map_err(backend_err)?;
        let mut out = Vec::new();
        for entry in self
            .meta
            .prefix_iter(&rtxn, &Self::item_factor_prefix(version))
            .map_err(backend_err)?
        {
            let (_, bytes) = entry.map_err(backend_err)?;
            let f: crate::ItemFactor = serde_json::from_slice(bytes).map_err(backend_err)?;
            if f.solved_ms >= since_ms {
                out.push(f);
            }
        }
        Ok(out)
    }

    async fn catalogue(&self, version: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let rtxn = self.env.read_txn().map_err(backend_err)?;
        Ok(self
            .meta
            .get(&rtxn, &format!("catalogue{SEP}{version}"))
            .map_err(backend_err)?
            .map(<[u8]>::to_vec))
    }

    async fn user_history(
        &self,
        version: &str,
        user_id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let rtxn = self.env.read_txn().map_err(backend_err)?;
        Ok(self
            .hist
            .get(&rtxn, &format!("{version}{SEP}{user_id}"))
            .map_err(backend_err)?
            .map(<[u8]>::to_vec))
    }
}

#[async_trait]
impl VersionStorage for EmbeddedStore {
    async fn transact_meta(
        &self,
        version: &str,
        decide: &MetaDecision<'_>,
    ) -> Result<MetaWrite, StoreError> {
        // One write transaction: the decision sees the pointer and the info as they are when
        // it commits; readers (in any process) see the state before or after, never between.
        let mut wtxn = self.env.write_txn().map_err(backend_err)?;
        let key = Self::version_key(version);
        let active: Option<ActiveVersion> =
            match self.meta.get(&wtxn, "active").map_err(backend_err)? {
                Some(b) => Some(serde_json::from_slice(b).map_err(backend_err)?),
                None => None,
            };
        let info: Option<VersionInfo> = match self.meta.get(&wtxn, &key).map_err(backend_err)? {
            Some(b) => Some(serde_json::from_slice(b).map_err(backend_err)?),
            None => None,
        };
        let write = decide(active.as_ref(), info.as_ref())?;
        match &write {
            MetaWrite::Nothing => return Ok(write),
            MetaWrite::Active(a) => self.put_meta(&mut wtxn, "active", a)?,
            MetaWrite::Version(i) => self.put_meta(&mut wtxn, &key, i)?,
        }
        wtxn.commit().map_err(backend_err)?;
        Ok(write)
    }

    async fn put_users(&self, version: &str, docs: &[UserRecs]) -> Result<(), StoreError> {
        self.put_users_blocking(version, docs)
    }

    fn blocking_writes(&self) -> Option<&dyn BlockingWrites> {
        Some(self)
    }

    async fn put_popular(&self, version: &str, items: &[ItemScore]) -> Result<(), StoreError> {
        let mut wtxn = self.env.write_txn().map_err(backend_err)?;
        self.put_meta(&mut wtxn, &format!("popular{SEP}{version}"), &items)?;
        wtxn.commit().map_err(backend_err)
    }

    async fn put_serving_model(&self, version: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let mut wtxn = self.env.write_txn().map_err(backend_err)?;
        self.meta
            .put(&mut wtxn, &format!("snapshot{SEP}{version}"), bytes)
            .map_err(backend_err)?;
        wtxn.commit().map_err(backend_err)
    }

    async fn put_catalogue(&self, version: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let mut wtxn = self.env.write_txn().map_err(backend_err)?;
        self.meta
            .put(&mut wtxn, &format!("catalogue{SEP}{version}"), bytes)
            .map_err(backend_err)?;
        wtxn.commit().map_err(backend_err)
    }

    async fn put_histories(
        &self,
        version: &str,
        histories: &[(String, Vec<u8>)],
    ) -> Result<(), StoreError> {
        let mut wtxn = self.env.write_txn().map_err(backend_err)?;
        for (user, bytes) in histories {
            self.hist
                .put(&mut wtxn, &format!("{version}{SEP}{user}"), bytes)
                .map_err(backend_err)?;
        }
        wtxn.commit().map_err(backend_err)
    }

    async fn count_users(&self, version: &str) -> Result<usize, StoreError> {
        let rtxn = self.env.read_txn().map_err(backend_err)?;
        let prefix = format!("{version}{SEP}");
        let n = self
            .recs
            .prefix_iter(&rtxn, &prefix)
            .map_err(backend_err)?
            .count();
        Ok(n)
    }

    async fn delete_version_data(&self, version: &str) -> Result<(), StoreError> {
        let prefix = format!("{version}{SEP}");
        // Bounded transactions, so a huge version does not need one giant commit.
        for db in [&self.recs, &self.hist] {
            loop {
                let mut wtxn = self.env.write_txn().map_err(backend_err)?;
                let keys: Vec<String> = {
                    let iter = db.prefix_iter(&wtxn, &prefix).map_err(backend_err)?;
                    iter.take(10_000)
                        .map(|e| e.map(|(k, _)| k.to_owned()))
                        .collect::<Result<_, _>>()
                        .map_err(backend_err)?
                };
                if keys.is_empty() {
                    break;
                }
                for k in &keys {
                    db.delete(&mut wtxn, k).map_err(backend_err)?;
                }
                wtxn.commit().map_err(backend_err)?;
            }
        }
        let mut wtxn = self.env.write_txn().map_err(backend_err)?;
        self.meta
            .delete(&mut wtxn, &format!("snapshot{SEP}{version}"))
            .map_err(backend_err)?;
        self.meta
            .delete(&mut wtxn, &format!("popular{SEP}{version}"))
            .map_err(backend_err)?;
        self.meta
            .delete(&mut wtxn, &format!("catalogue{SEP}{version}"))
            .map_err(backend_err)?;
        let factors: Vec<String> = self
            .meta
            .prefix_iter(&wtxn, &Self::item_factor_prefix(version))
            .map_err(backend_err)?
            .map(|e| e.map(|(k, _)| k.to_owned()))
            .collect::<Result<_, _>>()
            .map_err(backend_err)?;
        for k in &factors {
            self.meta.delete(&mut wtxn, k).map_err(backend_err)?;
        }
        wtxn.commit().map_err(backend_err)
    }

    async fn put_item_factors(
        &self,
        version: &str,
        factors: &[crate::ItemFactor],
    ) -> Result<(), StoreError> {
        let mut wtxn = self.env.write_txn().map_err(backend_err)?;
        let prefix = Self::item_factor_prefix(version);
        for f in factors {
            self.put_meta(&mut wtxn, &format!("{prefix}{}", f.item_id), f)?;
        }
        wtxn.commit().map_err(backend_err)
    }

    async fn delete_version_info(&self, version: &str) -> Result<(), StoreError> {
        let mut wtxn = self.env.write_txn().map_err(backend_err)?;
        self.meta
            .delete(&mut wtxn, &Self::version_key(version))
            .map_err(backend_err)?;
        wtxn.commit().map_err(backend_err)
    }
}

impl EmbeddedStore {
    /// Stores `items` in `wtxn`, replacing each item's change and its entry in the index.
    fn put_live_items_in(
        &self,
        wtxn: &mut heed::RwTxn<'_>,
        items: &[LiveItem],
    ) -> Result<(), StoreError> {
        for live in items {
            let id = live.item.item_id.as_str();
            let old: Option<LiveItem> = match self.live_items.get(wtxn, id).map_err(backend_err)? {
                Some(b) => Some(serde_json::from_slice(b).map_err(backend_err)?),
                None => None,
            };
            if let Some(old) = old {
                self.live_changes
                    .delete(wtxn, &change_key(old.changed_ms, id))
                    .map_err(backend_err)?;
            }
            let bytes = serde_json::to_vec(live).map_err(backend_err)?;
            self.live_items.put(wtxn, id, &bytes).map_err(backend_err)?;
            self.live_changes
                .put(wtxn, &change_key(live.changed_ms, id), b"")
                .map_err(backend_err)?;
        }
        Ok(())
    }
}

/// Key of the change index: the receipt time, sortable, then the item.
fn change_key(changed_ms: i64, item_id: &str) -> String {
    format!("{:016x}{SEP}{item_id}", changed_ms.max(0))
}

#[async_trait]
impl ItemEdits for EmbeddedStore {
    async fn put_live_items(&self, items: &[LiveItem]) -> Result<(), StoreError> {
        // One transaction: the whole batch, or none of it.
        let mut wtxn = self.env.write_txn().map_err(backend_err)?;
        self.put_live_items_in(&mut wtxn, items)?;
        wtxn.commit().map_err(backend_err)
    }

    async fn update_live_items(
        &self,
        ids: &[String],
        update: &crate::item_edits::ItemUpdate<'_>,
    ) -> Result<Option<Vec<LiveItem>>, StoreError> {
        // LMDB has one writer at a time: reading inside the write transaction makes the
        // read-modify-write atomic.
        let mut wtxn = self.env.write_txn().map_err(backend_err)?;
        let mut current = Vec::with_capacity(ids.len());
        for id in ids {
            current.push(match self.live_items.get(&wtxn, id).map_err(backend_err)? {
                Some(b) => Some(serde_json::from_slice(b).map_err(backend_err)?),
                None => None,
            });
        }
        let Some(items) = update(&current) else {
            return Ok(None);
        };
        self.put_live_items_in(&mut wtxn, &items)?;
        wtxn.commit().map_err(backend_err)?;
        Ok(Some(items))
    }

    async fn live_item(&self, item_id: &str) -> Result<Option<LiveItem>, StoreError> {
        let rtxn = self.env.read_txn().map_err(backend_err)?;
        match self.live_items.get(&rtxn, item_id).map_err(backend_err)? {
            Some(b) => Ok(Some(serde_json::from_slice(b).map_err(backend_err)?)),
            None => Ok(None),
        }
    }

    async fn live_items_since(&self, since_ms: i64) -> Result<Vec<LiveItem>, StoreError> {
        let rtxn = self.env.read_txn().map_err(backend_err)?;
        let floor = change_key(since_ms, "");
        let mut out = Vec::new();
        // Newest first, stopping at the first change older than `since_ms`.
        for entry in self.live_changes.rev_iter(&rtxn).map_err(backend_err)? {
            let (key, _) = entry.map_err(backend_err)?;
            if key < floor.as_str() {
                break;
            }
            let id = key.split_once(SEP).map(|(_, id)| id).unwrap_or_default();
            if let Some(b) = self.live_items.get(&rtxn, id).map_err(backend_err)? {
                out.push(serde_json::from_slice(b).map_err(backend_err)?);
            }
        }
        out.reverse();
        Ok(out)
    }
}

/// Prefix of the instances' answer counts in `meta`.
const ANSWER_COUNTS: &str = "answers\x1f";

#[async_trait]
impl crate::AnswerCountStore for EmbeddedStore {
    async fn save_answer_counts(&self, counts: &crate::AnswerCounts) -> Result<(), StoreError> {
        let mut wtxn = self.env.write_txn().map_err(backend_err)?;
        let key = format!("{ANSWER_COUNTS}{}", counts.instance);
        self.put_meta(&mut wtxn, &key, counts)?;
        wtxn.commit().map_err(backend_err)
    }

    async fn answer_counts(&self) -> Result<Vec<crate::AnswerCounts>, StoreError> {
        self.answer_count_docs()
    }
}

impl EmbeddedStore {
    /// Every instance's answer counts.
    fn answer_count_docs(&self) -> Result<Vec<crate::AnswerCounts>, StoreError> {
        self.meta_values(ANSWER_COUNTS)
    }

    /// The JSON values of `meta` under `prefix` (answer counts, tombstones).
    fn meta_values<T: serde::de::DeserializeOwned>(
        &self,
        prefix: &str,
    ) -> Result<Vec<T>, StoreError> {
        let rtxn = self.env.read_txn().map_err(backend_err)?;
        let mut out = Vec::new();
        for entry in self.meta.prefix_iter(&rtxn, prefix).map_err(backend_err)? {
            let (_, bytes) = entry.map_err(backend_err)?;
            out.push(serde_json::from_slice(bytes).map_err(backend_err)?);
        }
        Ok(out)
    }
}

#[async_trait]
impl EventLog for EmbeddedStore {
    async fn append_events(&self, events: &[StoredEvent]) -> Result<usize, StoreError> {
        self.append_events_blocking(events)
    }

    async fn user_events(&self, user_id: &str) -> Result<Vec<StoredEvent>, StoreError> {
        let rtxn = self.env.read_txn().map_err(backend_err)?;
        let prefix = format!("{user_id}{SEP}");
        let mut out = Vec::new();
        for entry in self
            .events
            .prefix_iter(&rtxn, &prefix)
            .map_err(backend_err)?
        {
            let (_, bytes) = entry.map_err(backend_err)?;
            out.push(serde_json::from_slice(bytes).map_err(backend_err)?);
        }
        Ok(out)
    }

    async fn events_since(&self, since_ms: i64) -> Result<Vec<StoredEvent>, StoreError> {
        // A range of the time index: the cost is the events returned, not the whole log.
        let rtxn = self.env.read_txn().map_err(backend_err)?;
        let from = time_prefix(since_ms);
        let mut out: Vec<StoredEvent> = Vec::new();
        for entry in self
            .events_by_time
            .range(
                &rtxn,
                &(
                    std::ops::Bound::Included(from.as_str()),
                    std::ops::Bound::Unbounded,
                ),
            )
            .map_err(backend_err)?
        {
            let (_, key) = entry.map_err(backend_err)?;
            let bytes = self
                .events
                .get(&rtxn, key)
                .map_err(backend_err)?
                .ok_or_else(|| backend_err(format!("event index names a missing event {key:?}")))?;
            out.push(serde_json::from_slice(bytes).map_err(backend_err)?);
        }
        Ok(out)
    }
}

/// The embedded store's writes are LMDB commits: they block the thread (see [`crate::blocking`]).
impl BlockingWrites for EmbeddedStore {
    fn append_events_blocking(&self, events: &[StoredEvent]) -> Result<usize, StoreError> {
        // One transaction: the whole batch is durable, or none of it is.
        let mut wtxn = self.env.write_txn().map_err(backend_err)?;
        let mut seq: u64 = match self.meta.get(&wtxn, "event_seq").map_err(backend_err)? {
            Some(b) => u64::from_le_bytes(
                b.try_into()
                    .map_err(|_| backend_err("corrupt event sequence"))?,
            ),
            None => 0,
        };
        let mut stored = 0;
        for e in events {
            if let Some(id) = &e.event_id {
                // Per (user, event id), as Cosmos DB's per-user partitions make it.
                let key = format!("{}{SEP}{id}", e.user_id);
                if self
                    .event_ids
                    .get(&wtxn, &key)
                    .map_err(backend_err)?
                    .is_some()
                {
                    continue;
                }
                self.event_ids
                    .put(&mut wtxn, &key, b"")
                    .map_err(backend_err)?;
            }
            seq += 1;
            let bytes = serde_json::to_vec(e).map_err(backend_err)?;
            let key = format!("{}{SEP}{seq:020}", e.user_id);
            self.events
                .put(&mut wtxn, &key, &bytes)
                .map_err(backend_err)?;
            self.events_by_time
                .put(&mut wtxn, &time_key(e.received_at_ms, &key), &key)
                .map_err(backend_err)?;
            self.events_by_age
                .put(&mut wtxn, &time_key(happened_ms(e), &key), &key)
                .map_err(backend_err)?;
            stored += 1;
        }
        self.meta
            .put(&mut wtxn, "event_seq", &seq.to_le_bytes())
            .map_err(backend_err)?;
        wtxn.commit().map_err(backend_err)?;
        Ok(stored)
    }

    fn put_users_blocking(&self, version: &str, docs: &[UserRecs]) -> Result<(), StoreError> {
        // One transaction (one sync) for the batch.
        let mut wtxn = self.env.write_txn().map_err(backend_err)?;
        for doc in docs {
            let bytes = encode_doc(doc).map_err(backend_err)?;
            self.recs
                .put(&mut wtxn, &format!("{version}{SEP}{}", doc.user_id), &bytes)
                .map_err(backend_err)?;
        }
        wtxn.commit().map_err(backend_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::decode_doc;

    #[tokio::test]
    async fn embedded_store_passes_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path().join("t.db")).unwrap();
        crate::contract::run(&store).await;
        let rt = EmbeddedStore::open(dir.path().join("rt.db")).unwrap();
        crate::contract::run_realtime(&rt).await;
        let erasure = EmbeddedStore::open(dir.path().join("erasure.lmdb")).unwrap();
        crate::contract::erasure(&erasure).await;
    }

    /// A store whose events predate the time index gets it on open, and reads of recent
    /// events go through it.
    #[tokio::test]
    async fn events_written_before_the_time_index_are_indexed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let store = EmbeddedStore::open(&path).unwrap();
        let events: Vec<StoredEvent> = (0..50)
            .map(|i| StoredEvent::interaction(&format!("u{}", i % 7), "i", "view", 1.0, i * 10))
            .collect();
        assert_eq!(store.append_events(&events).await.unwrap(), 50);
        // As an older topten left it: events, no index.
        let mut wtxn = store.env.write_txn().unwrap();
        store.events_by_time.clear(&mut wtxn).unwrap();
        store.events_by_age.clear(&mut wtxn).unwrap();
        wtxn.commit().unwrap();
        assert!(store.events_since(0).await.unwrap().is_empty());
        let reopened = EmbeddedStore::open(&path).unwrap();
        let got: Vec<i64> = reopened
            .events_since(200)
            .await
            .unwrap()
            .iter()
            .map(|e| e.received_at_ms)
            .collect();
        assert_eq!(got, (20..50).map(|i| i * 10).collect::<Vec<i64>>());
        // The age index too: retention finds the old events (all 50 happened in second 0).
        use crate::erasure::{Erasure, EventsDue};
        let due = EventsDue {
            happened_before_ms: 1_000,
            received_before_ms: i64::MAX,
        };
        assert_eq!(reopened.prune_events(due, 100).await.unwrap(), 50);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn embedded_item_edits_lose_nothing_under_concurrent_writers() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path().join("c.db")).unwrap();
        crate::contract::concurrent_item_edits(std::sync::Arc::new(store)).await;
    }

    #[test]
    fn encoded_documents_hold_serde_json_and_exact_item_spans() {
        let mut doc = UserRecs {
            id: "v1:u\"1".into(),
            user_id: "u\"1".into(),
            items: (0..5)
                .map(|i| ItemScore {
                    item_id: format!("i{i}"),
                    score: 0.25 * i as f32,
                    title: (i % 2 == 0).then(|| format!("T \\ {i} é")),
                })
                .collect(),
            model_version: "v1".into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            factor: None,
            has_new: Vec::new(),
        };
        let encoded = encode_doc(&doc).unwrap();
        let (spans, json) = decode_doc(&encoded).unwrap();
        assert_eq!(json, serde_json::to_vec(&doc).unwrap().as_slice());
        let items: Vec<ItemScore> = spans
            .map(|(a, b)| serde_json::from_slice(&json[a..b]).unwrap())
            .collect();
        assert_eq!(items, doc.items);
        // With the user's factor and the new items they have, as serde writes them, and the
        // tail read back.
        doc.factor = Some(vec![0.5, -1.25e-7, 3.0]);
        doc.has_new = vec!["n\"1".into(), "n2".into()];
        let encoded = encode_doc(&doc).unwrap();
        let json = crate::documents::json_part(&encoded);
        assert_eq!(json, serde_json::to_vec(&doc).unwrap().as_slice());
        assert_eq!(serde_json::from_slice::<UserRecs>(json).unwrap(), doc);
        for tail in [
            serde_json::from_slice::<crate::DocTail>(json).unwrap(),
            crate::documents::doc_tail(&encoded).unwrap(),
            crate::documents::doc_tail(json).unwrap(),
        ] {
            assert_eq!(tail.factor, doc.factor);
            assert_eq!(tail.has_new, doc.has_new);
        }
        // A document without items, and one without a tail.
        doc.items.clear();
        let encoded = encode_doc(&doc).unwrap();
        assert_eq!(
            crate::documents::doc_tail(&encoded).unwrap().factor,
            doc.factor
        );
        doc.factor = None;
        doc.has_new.clear();
        let encoded = encode_doc(&doc).unwrap();
        assert_eq!(
            crate::documents::doc_tail(&encoded).unwrap(),
            crate::DocTail::default()
        );
    }

    #[tokio::test]
    async fn reopening_the_same_file_sees_the_same_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let a = EmbeddedStore::open(&path).unwrap();
        crate::contract::publish_small(&a, "v1", 3).await;
        let b = EmbeddedStore::open(&path).unwrap();
        assert_eq!(b.active().await.unwrap().unwrap().version, "v1");
    }
}
