//! Shared handler state: the store, the configuration and two small caches.
//!
//! The active-version pointer is cached for `active_ttl` so that a request costs exactly one
//! store read (the user's document); popular lists are immutable per version, so they are
//! cached until the version changes. std's `RwLock` is enough: critical sections are a clone
//! of an `Arc` and never cross an `.await`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use topten_edge::answer_id::IdKeys;
use topten_model::serving_model::ServingModel;
use topten_store::{ActiveVersion, ItemScore, RecsReader, Store, StoreHandle};

use crate::answer_counter::AnswerCounter;
use crate::config::Config;
use crate::error::ApiError;
use crate::folded_items::FoldedItems;
use crate::metrics::Metrics;
use crate::poll_window::PollWindow;
use crate::servable::{Servable, REBASE_AFTER};
use topten_model::catalogue::live::LiveItem;
use topten_model::catalogue::Catalogue;

/// The active version's catalogue as the handler serves it.
struct CatalogueCache {
    version: String,
    /// The version's stored catalogue.
    base: Option<Arc<Catalogue>>,
    /// The live overlay revision `servable` was made from.
    live_rev: u64,
    /// `base` with the live changes on top, as of a moment.
    servable: Option<Arc<Servable>>,
}

/// The live item changes this instance has seen.
#[derive(Default)]
struct LiveOverlay {
    items: HashMap<String, LiveItem>,
    /// Bumped when `items` changes.
    rev: u64,
    /// Which items changed at which revision, newest last, for bringing a cached [`Servable`]
    /// up to date with only what changed ([`LiveOverlay::changed_since`]).
    log: VecDeque<(u64, String)>,
    /// Changes up to this revision have left `log`.
    log_floor: u64,
    /// When the live changes were last read ([`crate::poll_window`]).
    poll: PollWindow,
}

impl LiveOverlay {
    /// The items changed after revision `rev`, as they now stand; `None` when the log no
    /// longer reaches back that far.
    fn changed_since(&self, rev: u64) -> Option<Vec<topten_model::catalogue::CatalogueItem>> {
        if rev < self.log_floor {
            return None;
        }
        let mut ids: Vec<&str> = self
            .log
            .iter()
            .rev()
            .take_while(|(r, _)| *r > rev)
            .map(|(_, id)| id.as_str())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        Some(
            ids.into_iter()
                .filter_map(|id| self.items.get(id).map(LiveItem::effective))
                .collect(),
        )
    }
}

/// Cheap-to-clone handle given to every handler.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

/// Each canonical trending window's ranking (item, score) and when it was computed.
type TrendingCache = HashMap<i64, (Instant, Arc<Vec<(String, f64)>>)>;

/// The recent events every trending window is ranked from: one read of the store shared by
/// all windows and requests (refreshed at most once per
/// [`crate::trending_window::TRENDING_REFRESH`]), covering the longest window asked for.
struct EventSnapshot {
    read_at: Instant,
    span_ms: i64,
    events: Arc<Vec<topten_live::events::StoredEvent>>,
}

/// A serving model with folded item factors over it, and what it was made from.
struct FoldedView {
    from: Arc<ServingModel>,
    revision: u64,
    model: Arc<ServingModel>,
}

/// A version's new items and when they were found.
type NewItemsAt = (Instant, Option<Arc<NewItems>>);

/// A version's new items ([`AppState::new_items`]): rows of the serving model they are scored
/// with.
pub struct NewItems {
    /// The serving model the rows are of.
    pub model: Arc<ServingModel>,
    /// Rows of new items.
    pub rows: Vec<u32>,
}

/// A version's serving model in its layers: what item fold-in needs beside the model that
/// serves.
pub struct ModelLayers {
    /// As published: trained items only.
    pub trained: Arc<ServingModel>,
    /// With the catalogue items training never saw at their content factors: the priors of
    /// item fold-in.
    pub catalogue: Arc<ServingModel>,
    /// With the item factors solved from live events over it: what serves.
    pub serving: Arc<ServingModel>,
}

struct Inner {
    store: StoreHandle,
    config: Config,
    active: RwLock<Option<(Arc<ActiveVersion>, Instant)>>,
    popular: RwLock<HashMap<String, Arc<Vec<ItemScore>>>>,
    /// The serving models of the versions serving now, most recently loaded first: two while
    /// an experiment runs, so its arms do not evict each other.
    serving_models: RwLock<Vec<Arc<ServingModel>>>,
    /// The serving model with the catalogue items it has no factor for, and the servable set
    /// (catalogue and live changes) it was made from ([`AppState::serving_model`]).
    with_new_items: RwLock<Option<(Arc<Servable>, Arc<ServingModel>)>>,
    /// Item factors solved from live events ([`crate::folded_items`]).
    folded: Mutex<FoldedItems>,
    /// The serving model with the folded items over it: the model it was made from, the
    /// folded items' revision, and the result.
    with_folded: RwLock<Option<FoldedView>>,
    /// The new items of each version serving, and when they were found
    /// ([`AppState::new_items`]).
    new_items: RwLock<HashMap<String, NewItemsAt>>,
    servable: RwLock<Option<CatalogueCache>>,
    /// Held while the servable set is brought up to date ([`AppState::servable`]).
    servable_update: tokio::sync::Mutex<()>,
    live: Mutex<LiveOverlay>,
    trending: Mutex<TrendingCache>,
    trending_events: tokio::sync::Mutex<Option<EventSnapshot>>,
    retrain: tokio::sync::Mutex<()>,
    metrics: Arc<Metrics>,
    answers: AnswerCounter,
    id_keys: IdKeys,
    /// Versions an event's id named that were found complete, and when: the event path asks
    /// the store about a version once a minute at most.
    known_versions: Mutex<HashMap<String, Instant>>,
}

/// Serving models kept in memory: the active version's and an experiment's candidate's.
const SERVING_MODELS_KEPT: usize = 2;

/// How long a version found complete is taken to exist without asking the store again.
const KNOWN_VERSION_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// The keys answer ids are signed with: `TOPTEN_ID_KEY`, else derived from `TOPTEN_API_KEY`,
/// else random for this process (with a warning: ids then verify only here).
fn id_keys(config: &Config) -> IdKeys {
    if let Some(setting) = &config.id_key {
        return setting.keys();
    }
    if let Some(api_key) = &config.api_key {
        return IdKeys::derived_from_api_key(api_key.expose());
    }
    tracing::warn!(
        "neither TOPTEN_ID_KEY nor TOPTEN_API_KEY is set: recommendation ids are signed with a \
         random key of this process, so events that send them back are attributed only by this \
         instance and until it restarts"
    );
    IdKeys::from_random(rand::random())
}

impl AppState {
    /// State over an opened store.
    pub fn new(store: StoreHandle, config: Config) -> Self {
        AppState {
            inner: Arc::new(Inner {
                store,
                active: RwLock::new(None),
                popular: RwLock::new(HashMap::new()),
                serving_models: RwLock::new(Vec::new()),
                with_new_items: RwLock::new(None),
                folded: Mutex::new(FoldedItems::default()),
                with_folded: RwLock::new(None),
                new_items: RwLock::new(HashMap::new()),
                servable: RwLock::new(None),
                servable_update: tokio::sync::Mutex::new(()),
                live: Mutex::new(LiveOverlay::default()),
                trending: Mutex::new(HashMap::new()),
                trending_events: tokio::sync::Mutex::new(None),
                retrain: tokio::sync::Mutex::new(()),
                metrics: Arc::new(Metrics::new()),
                answers: AnswerCounter::new(AnswerCounter::instance_id()),
                id_keys: id_keys(&config),
                known_versions: Mutex::new(HashMap::new()),
                config,
            }),
        }
    }

    /// What serving reads (every backend).
    pub fn reader(&self) -> &dyn RecsReader {
        self.inner.store.reader().as_ref()
    }

    /// The full store, for `what` (events, write-back, retraining), or a 501 answer when the
    /// backend is read-only (a list file). The `Arc` can move off the async workers.
    pub fn store(&self, what: &'static str) -> Result<Arc<dyn Store>, ApiError> {
        Ok(self.inner.store.store(what)?.clone())
    }

    /// The full store when the backend has one (`None` for a read-only list file).
    pub fn writable(&self) -> Option<&Arc<dyn Store>> {
        self.inner.store.store("").ok()
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// This instance's answer counts.
    pub fn answers(&self) -> &AnswerCounter {
        &self.inner.answers
    }

    /// The keys answer ids are signed and checked with.
    pub fn id_keys(&self) -> &IdKeys {
        &self.inner.id_keys
    }

    /// Which of `versions` exist as complete versions: the event path's check of the versions
    /// that ids name, cached for [`KNOWN_VERSION_TTL`] once found (a missing version is asked
    /// about again, so a version published a moment ago is found).
    pub async fn complete_versions(
        &self,
        versions: &[&str],
    ) -> Result<std::collections::HashSet<String>, ApiError> {
        let mut found = std::collections::HashSet::new();
        for &v in versions {
            let cached = {
                let known = self.inner.known_versions.lock().expect("poisoned");
                known
                    .get(v)
                    .is_some_and(|at| at.elapsed() < KNOWN_VERSION_TTL)
            };
            if cached {
                found.insert(v.to_owned());
                continue;
            }
            let info = self.reader().version(v).await?;
            if info.is_some_and(|i| i.status == topten_store::VersionStatus::Complete) {
                let mut known = self.inner.known_versions.lock().expect("poisoned");
                if known.len() > 1000 {
                    known.clear();
                }
                known.insert(v.to_owned(), Instant::now());
                found.insert(v.to_owned());
            }
        }
        Ok(found)
    }

    /// Saves this instance's answer counts (a read-only backend keeps none).
    pub async fn save_answer_counts(&self) -> Result<(), topten_store::StoreError> {
        if let Some(store) = self.writable() {
            store
                .save_answer_counts(&self.inner.answers.snapshot())
                .await?;
        }
        Ok(())
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The retrain lock: one retrain at a time per handler.
    pub fn retrain_lock(&self) -> &tokio::sync::Mutex<()> {
        &self.inner.retrain
    }

    /// The active version, from cache while fresh.
    ///
    /// The hit is a plain function and the store read a boxed future of its own, here and in
    /// [`AppState::servable`]: every request's future holds only the hit, so axum moves and
    /// boxes a small state machine per request, not one sized for the rare refresh
    /// (`cargo bench -p topten-functions --bench router`).
    pub async fn active(&self) -> Result<Arc<ActiveVersion>, ApiError> {
        match self.fresh_active() {
            Some(a) => Ok(a),
            None => Box::pin(self.reload_active()).await,
        }
    }

    fn fresh_active(&self) -> Option<Arc<ActiveVersion>> {
        let cached = self.inner.active.read().unwrap();
        let (a, at) = cached.as_ref()?;
        (at.elapsed() < self.inner.config.active_ttl()).then(|| a.clone())
    }

    async fn reload_active(&self) -> Result<Arc<ActiveVersion>, ApiError> {
        match self.reader().active().await? {
            Some(a) => {
                let a = Arc::new(a);
                *self.inner.active.write().unwrap() = Some((a.clone(), Instant::now()));
                Ok(a)
            }
            None => Err(ApiError::unavailable(
                "no_active_version",
                "no model version has been published and activated yet",
                30,
            )),
        }
    }

    /// Forgets the cached pointer (after this process activates a version itself).
    pub fn invalidate_active(&self) {
        *self.inner.active.write().unwrap() = None;
    }

    /// `version`'s serving model (item ids and factors); `None` when the version has none (a
    /// read-only list file). When the version has a content map, it also holds every item of
    /// the catalogue (with the live changes) that training never saw, with its content factor,
    /// so that an item added today is scored by fold-in, refill, ranking and similar items from
    /// the next request on; and item factors solved from live events replace or add rows. Made
    /// again when the catalogue or the folded items change.
    pub async fn serving_model(
        &self,
        version: &str,
    ) -> Result<Option<Arc<ServingModel>>, ApiError> {
        Ok(self.model_layers(version).await?.map(|l| l.serving))
    }

    /// `version`'s serving model in its layers ([`ModelLayers`]); `None` as for
    /// [`AppState::serving_model`].
    pub async fn model_layers(&self, version: &str) -> Result<Option<ModelLayers>, ApiError> {
        let Some(trained) = self.trained_serving_model(version).await? else {
            return Ok(None);
        };
        let catalogue = self.with_catalogue_items(version, trained.clone()).await?;
        self.poll_folded(version).await?;
        let (revision, any) = self.inner.folded.lock().unwrap().revision(version);
        let serving = if !any {
            catalogue.clone()
        } else {
            let hit = self
                .inner
                .with_folded
                .read()
                .unwrap()
                .as_ref()
                .and_then(|v| {
                    (Arc::ptr_eq(&v.from, &catalogue) && v.revision == revision)
                        .then(|| v.model.clone())
                });
            match hit {
                Some(model) => model,
                None => {
                    let (revision, factors) = self.inner.folded.lock().unwrap().factors(version);
                    let from = catalogue.clone();
                    let model = tokio::task::spawn_blocking(move || {
                        from.with_item_factors(
                            factors
                                .iter()
                                .map(|f| (f.item_id.as_str(), &f.factor[..], f.users)),
                        )
                    })
                    .await
                    .map_err(|e| ApiError::internal(format!("serving model task: {e}")))?;
                    let model = Arc::new(model);
                    *self.inner.with_folded.write().unwrap() = Some(FoldedView {
                        from: catalogue.clone(),
                        revision,
                        model: model.clone(),
                    });
                    model
                }
            }
        };
        Ok(Some(ModelLayers {
            trained,
            catalogue,
            serving,
        }))
    }

    /// `base` with the catalogue items it has no factor for at their content factors, when the
    /// version has a content map and a catalogue (cached per servable set); else `base`.
    async fn with_catalogue_items(
        &self,
        version: &str,
        base: Arc<ServingModel>,
    ) -> Result<Arc<ServingModel>, ApiError> {
        if base.content.is_none() {
            return Ok(base);
        }
        let Some(servable) = self.servable(version).await? else {
            return Ok(base);
        };
        if let Some((from, model)) = self.inner.with_new_items.read().unwrap().as_ref() {
            if Arc::ptr_eq(from, &servable) && model.version == version {
                return Ok(model.clone());
            }
        }
        let (made_from, trained) = (servable.clone(), base.clone());
        let extended = tokio::task::spawn_blocking(move || {
            trained.with_catalogue_items(made_from.catalogue().items())
        })
        .await
        .map_err(|e| ApiError::internal(format!("serving model task: {e}")))?;
        let model = match extended {
            Some(m) => {
                tracing::debug!(
                    version,
                    new_items = m.items.len() - m.trained_rows,
                    "catalogue items scored by their content factors"
                );
                Arc::new(m)
            }
            None => base,
        };
        *self.inner.with_new_items.write().unwrap() = Some((servable, model.clone()));
        Ok(model)
    }

    /// The new items of `version` that personal lists keep places for (`TOPTEN_NEW_ITEM_SLOTS`):
    /// rows of its serving model that training did not make (catalogue items at their content
    /// factors, items known by their live events), first seen less than `TOPTEN_NEW_ITEM_DAYS`
    /// ago. First seen: the item's first live change, or its first live event, whichever came
    /// first; else the version's publish. Made again once per pointer cache lifetime (at least
    /// once a second), so the GET path pays a cache lookup when nothing is new.
    pub async fn new_items(&self, version: &str) -> Result<Option<Arc<NewItems>>, ApiError> {
        let refresh = self
            .inner
            .config
            .active_ttl()
            .max(std::time::Duration::from_secs(1));
        if let Some((at, new)) = self.inner.new_items.read().unwrap().get(version) {
            if at.elapsed() < refresh {
                return Ok(new.clone());
            }
        }
        let new = match self.model_layers(version).await? {
            Some(layers) => {
                let model = layers.serving;
                let now = topten_model::clock::now_ms();
                let days_ms = (self.inner.config.new_item_days * 86_400_000.0) as i64;
                let rows: Vec<u32> = {
                    let live = self.inner.live.lock().unwrap();
                    let folded = self.inner.folded.lock().unwrap();
                    (model.trained_rows as u32..model.items.len() as u32)
                        .filter(|&row| {
                            let id = model.items.id(row);
                            let live_ms = live
                                .items
                                .get(id)
                                .map(|l| l.created_ms)
                                .filter(|&ms| ms > 0);
                            let event_ms = folded.first_event_ms(version, id);
                            let first = match (live_ms, event_ms) {
                                (Some(a), Some(b)) => a.min(b),
                                (Some(a), None) | (None, Some(a)) => a,
                                (None, None) => model.created_ms,
                            };
                            now - first < days_ms
                        })
                        .collect()
                };
                (!rows.is_empty()).then(|| Arc::new(NewItems { model, rows }))
            }
            None => None,
        };
        let mut cache = self.inner.new_items.write().unwrap();
        // The versions serving now (two while an experiment runs): the rest are gone.
        cache.retain(|_, (at, _)| at.elapsed() < 60 * refresh);
        cache.insert(version.to_owned(), (Instant::now(), new.clone()));
        Ok(new)
    }

    /// Reads the item factors solved for `version` since the last read, once per
    /// `TOPTEN_ACTIVE_TTL_MS`.
    async fn poll_folded(&self, version: &str) -> Result<(), ApiError> {
        let since = self
            .inner
            .folded
            .lock()
            .unwrap()
            .poll_due(version, self.inner.config.active_ttl());
        let Some(since) = since else {
            return Ok(());
        };
        let started = topten_model::clock::now_ms();
        let read = self.reader().item_factors_since(version, since).await?;
        self.inner
            .folded
            .lock()
            .unwrap()
            .merge(version, read, Some(started));
        Ok(())
    }

    /// Takes item factors this instance solved for `version` (served from the next request).
    pub fn merge_folded(&self, version: &str, factors: Vec<topten_store::ItemFactor>) {
        self.inner
            .folded
            .lock()
            .unwrap()
            .merge(version, factors, None);
    }

    /// The folded items of this instance ([`FoldedItems::schedule`] and friends).
    pub fn folded_items(&self) -> std::sync::MutexGuard<'_, FoldedItems> {
        self.inner.folded.lock().unwrap()
    }

    /// `version`'s serving model as published (trained items only), loaded once per version
    /// and kept in memory.
    async fn trained_serving_model(
        &self,
        version: &str,
    ) -> Result<Option<Arc<ServingModel>>, ApiError> {
        if let Some(s) = self
            .inner
            .serving_models
            .read()
            .unwrap()
            .iter()
            .find(|s| s.version == version)
        {
            return Ok(Some(s.clone()));
        }
        let Some(bytes) = self.reader().serving_model(version).await? else {
            return Ok(None);
        };
        let snap = tokio::task::spawn_blocking(move || ServingModel::decode(&bytes))
            .await
            .map_err(|e| ApiError::internal(format!("serving model task: {e}")))?
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let snap = Arc::new(snap);
        let mut cache = self.inner.serving_models.write().unwrap();
        cache.retain(|s| s.version != version);
        cache.insert(0, snap.clone());
        cache.truncate(SERVING_MODELS_KEPT);
        drop(cache);
        tracing::info!(version, items = snap.items.len(), "loaded serving model");
        Ok(Some(snap))
    }

    /// What `version`'s catalogue, with the live item changes on top, lets serve now; `None`
    /// when there is neither (everything is servable). The catalogue is read once per version;
    /// live changes are polled once per `TOPTEN_ACTIVE_TTL_MS`, so a change made on any
    /// instance is served within that time; the hidden set is made again when an expiry
    /// passes or a change arrives.
    pub async fn servable(&self, version: &str) -> Result<Option<Arc<Servable>>, ApiError> {
        let now = topten_model::clock::now_ms() / 1000;
        if !self.live_poll_due() {
            let live_rev = self.inner.live.lock().unwrap().rev;
            if let Some(hit) = self.cached_servable(version, live_rev, now) {
                return Ok(hit);
            }
        }
        Box::pin(self.refresh_servable(version, now)).await
    }

    /// [`AppState::servable`] past the cache: polls the live changes when due, then brings the
    /// cached set up to date.
    async fn refresh_servable(
        &self,
        version: &str,
        now: i64,
    ) -> Result<Option<Arc<Servable>>, ApiError> {
        self.poll_live_items().await?;
        let live_rev = self.inner.live.lock().unwrap().rev;
        // The common case: same version, no change, nothing expired; no allocation.
        if let Some(hit) = self.cached_servable(version, live_rev, now) {
            return Ok(hit);
        }
        // One request brings the cache up to date; the others wait for it (a rebase is a
        // pass over the whole catalogue, and concurrent requests would each make one).
        let _updating = self.inner.servable_update.lock().await;
        let live_rev = self.inner.live.lock().unwrap().rev;
        if let Some(hit) = self.cached_servable(version, live_rev, now) {
            return Ok(hit);
        }
        // A few changes since the cached one: put them on top of it, at the cost of what
        // changed (see crate::servable).
        let cached = {
            let cache = self.inner.servable.read().unwrap();
            cache
                .as_ref()
                .filter(|c| c.version == version)
                .and_then(|c| Some((c.live_rev, c.servable.clone()?)))
        };
        if let Some((from_rev, cached)) = cached.filter(|(_, s)| !s.stale(now)) {
            let changed = self.inner.live.lock().unwrap().changed_since(from_rev);
            if let Some(changed) =
                changed.filter(|c| cached.recent_changes() + c.len() <= REBASE_AFTER)
            {
                let servable = Some(Arc::new(cached.with_changes(changed, now)));
                let mut cache = self.inner.servable.write().unwrap();
                if let Some(c) = cache.as_mut().filter(|c| c.version == version) {
                    if c.live_rev <= live_rev {
                        c.live_rev = live_rev;
                        c.servable = servable.clone();
                    }
                }
                return Ok(servable);
            }
        }
        let base = self.version_catalogue(version).await?;
        let live: Vec<topten_model::catalogue::CatalogueItem> = {
            let overlay = self.inner.live.lock().unwrap();
            overlay.items.values().map(|l| l.effective()).collect()
        };
        let servable = if base.is_none() && live.is_empty() {
            None
        } else {
            // A pass over the whole catalogue: off the async workers.
            let base = base.clone();
            let made = tokio::task::spawn_blocking(move || {
                // A live change's title is served over the title stored with the lists (a
                // change without a title leaves the stored one).
                let titles: HashMap<String, String> = live
                    .iter()
                    .filter_map(|i| Some((i.item_id.clone(), i.title.clone()?)))
                    .collect();
                let mut catalogue = base.as_deref().cloned().unwrap_or_default();
                for item in live {
                    catalogue.upsert(item);
                }
                Servable::at(catalogue, now).with_titles(titles)
            })
            .await
            .map_err(|e| ApiError::internal(format!("catalogue task: {e}")))?;
            Some(Arc::new(made))
        };
        *self.inner.servable.write().unwrap() = Some(CatalogueCache {
            version: version.to_owned(),
            base,
            live_rev,
            servable: servable.clone(),
        });
        Ok(servable)
    }

    /// The cached servable set when it is `version`'s, made at live revision `live_rev`, and
    /// not stale at `now` (epoch seconds).
    fn cached_servable(
        &self,
        version: &str,
        live_rev: u64,
        now: i64,
    ) -> Option<Option<Arc<Servable>>> {
        let cached = self.inner.servable.read().unwrap();
        let c = cached.as_ref()?;
        if c.version != version || c.live_rev != live_rev {
            return None;
        }
        match &c.servable {
            None => Some(None),
            Some(s) if !s.stale(now) => Some(Some(s.clone())),
            Some(_) => None,
        }
    }

    /// `version`'s stored catalogue, read once per version.
    async fn version_catalogue(&self, version: &str) -> Result<Option<Arc<Catalogue>>, ApiError> {
        if let Some(c) = self.inner.servable.read().unwrap().as_ref() {
            if c.version == version {
                return Ok(c.base.clone());
            }
        }
        Ok(match self.reader().catalogue(version).await? {
            None => None,
            Some(bytes) => {
                let parsed =
                    tokio::task::spawn_blocking(move || Catalogue::from_json_lines(&bytes))
                        .await
                        .map_err(|e| ApiError::internal(format!("catalogue task: {e}")))?
                        .map_err(|e| ApiError::internal(format!("stored catalogue: {e}")))?;
                tracing::info!(version, items = parsed.len(), "loaded catalogue");
                Some(Arc::new(parsed))
            }
        })
    }

    /// Whether the live item changes are due to be polled ([`AppState::poll_live_items`]).
    fn live_poll_due(&self) -> bool {
        let live = self.inner.live.lock().unwrap();
        live.poll.due(self.inner.config.active_ttl())
    }

    /// Reads the live item changes made since the last poll, once per cache lifetime.
    async fn poll_live_items(&self) -> Result<(), ApiError> {
        // This request polls; the others go on.
        let since = self
            .inner
            .live
            .lock()
            .unwrap()
            .poll
            .begin(self.inner.config.active_ttl());
        let Some(since) = since else {
            return Ok(());
        };
        let Some(store) = self.writable().cloned() else {
            return Ok(());
        };
        let started = topten_model::clock::now_ms();
        let changes = store.live_items_since(since).await?;
        self.inner.live.lock().unwrap().poll.succeeded(started);
        self.merge_live_items(changes);
        Ok(())
    }

    /// Items by decayed interactions over the last `window_ms` (see
    /// [`topten_live::trending`]), recomputed from the store's events at most once per
    /// [`crate::trending_window::TRENDING_REFRESH`]; empty for a store without events.
    pub async fn trending(&self, window_ms: i64) -> Result<Arc<Vec<(String, f64)>>, ApiError> {
        if let Some((at, t)) = self.inner.trending.lock().unwrap().get(&window_ms) {
            if at.elapsed() < crate::trending_window::TRENDING_REFRESH {
                return Ok(t.clone());
            }
        }
        let now = topten_model::clock::now_ms();
        let ranked = match self.writable() {
            None => Vec::new(),
            Some(store) => {
                let events = self.trending_events(store.clone(), window_ms).await?;
                // A pass over the snapshot: off the async workers.
                tokio::task::spawn_blocking(move || {
                    topten_live::trending::trending(&events, now, window_ms)
                })
                .await
                .map_err(ApiError::internal)?
            }
        };
        let ranked = Arc::new(ranked);
        let mut cache = self.inner.trending.lock().unwrap();
        // Windows are canonical (crate::trending_window::window_ms), so this holds every one.
        if cache.len() > crate::trending_window::DISTINCT_WINDOWS {
            cache.clear();
        }
        cache.insert(window_ms, (Instant::now(), ranked.clone()));
        Ok(ranked)
    }

    /// The events of at least the last `window_ms` (and a minute), from the shared snapshot;
    /// concurrent callers wait for one read of the store instead of each reading it.
    async fn trending_events(
        &self,
        store: Arc<dyn topten_store::Store>,
        window_ms: i64,
    ) -> Result<Arc<Vec<topten_live::events::StoredEvent>>, ApiError> {
        let mut snapshot = self.inner.trending_events.lock().await;
        if let Some(s) = snapshot.as_ref() {
            if s.read_at.elapsed() < crate::trending_window::TRENDING_REFRESH
                && s.span_ms >= window_ms
            {
                return Ok(s.events.clone());
            }
        }
        let span_ms = snapshot
            .as_ref()
            .map_or(window_ms, |s| s.span_ms.max(window_ms));
        let now = topten_model::clock::now_ms();
        let events = Arc::new(store.events_since(now - span_ms - 60_000).await?);
        *snapshot = Some(EventSnapshot {
            read_at: Instant::now(),
            span_ms,
            events: events.clone(),
        });
        Ok(events)
    }

    /// Whether a live change withdrew `item_id` (as of the last poll).
    pub fn withdrawn(&self, item_id: &str) -> bool {
        self.inner
            .live
            .lock()
            .unwrap()
            .items
            .get(item_id)
            .is_some_and(|l| l.withdrawn)
    }

    /// Takes live item changes into the overlay (newer changes of an item replace older ones).
    pub fn merge_live_items(&self, changes: Vec<LiveItem>) {
        let mut live = self.inner.live.lock().unwrap();
        let mut touched = Vec::new();
        for c in changes {
            // A change replaces an older one, or a different one received in the same ms.
            let newer = live
                .items
                .get(&c.item.item_id)
                .is_none_or(|old| old.changed_ms <= c.changed_ms && *old != c);
            if newer {
                touched.push(c.item.item_id.clone());
                live.items.insert(c.item.item_id.clone(), c);
            }
        }
        if !touched.is_empty() {
            live.rev += 1;
            let rev = live.rev;
            live.log.extend(touched.into_iter().map(|id| (rev, id)));
            while live.log.len() > 2 * REBASE_AFTER {
                if let Some((r, _)) = live.log.pop_front() {
                    live.log_floor = r;
                }
            }
        }
    }

    /// The popular list of `version`, cached.
    pub async fn popular(&self, version: &str) -> Result<Arc<Vec<ItemScore>>, ApiError> {
        if let Some(p) = self.inner.popular.read().unwrap().get(version) {
            return Ok(p.clone());
        }
        let mut list = self.reader().popular(version).await?.unwrap_or_default();
        // On the scale of personal scores, also for versions stored with raw counts.
        topten_store::normalise_popular(&mut list);
        let list = Arc::new(list);
        let mut cache = self.inner.popular.write().unwrap();
        cache.retain(|v, _| v == version); // old versions' lists are no longer needed
        cache.insert(version.to_owned(), list.clone());
        Ok(list)
    }
}
