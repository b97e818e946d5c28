//! Shared handler state: the store, the configuration and two small caches.
//!
//! The active-version pointer is cached for `active_ttl` so that a request costs exactly one
//! store read (the user's document); popular lists are immutable per version, so they are
//! cached until the version changes. std's `RwLock` is enough: critical sections are a clone
//! of an `Arc` and never cross an `.await`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use topten_model::serving_model::ServingModel;
use topten_store::{ActiveVersion, ItemScore, RecsReader, Store, StoreHandle};

use crate::config::Config;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::servable::Servable;

/// Cheap-to-clone handle given to every handler.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: StoreHandle,
    config: Config,
    active: RwLock<Option<(Arc<ActiveVersion>, Instant)>>,
    popular: RwLock<HashMap<String, Arc<Vec<ItemScore>>>>,
    serving_model: RwLock<Option<Arc<ServingModel>>>,
    servable: RwLock<Option<(String, Option<Arc<Servable>>)>>,
    retrain: tokio::sync::Mutex<()>,
    metrics: Arc<Metrics>,
}

impl AppState {
    /// State over an opened store.
    pub fn new(store: StoreHandle, config: Config) -> Self {
        AppState {
            inner: Arc::new(Inner {
                store,
                config,
                active: RwLock::new(None),
                popular: RwLock::new(HashMap::new()),
                serving_model: RwLock::new(None),
                servable: RwLock::new(None),
                retrain: tokio::sync::Mutex::new(()),
                metrics: Arc::new(Metrics::new()),
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

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The retrain lock: one retrain at a time per handler.
    pub fn retrain_lock(&self) -> &tokio::sync::Mutex<()> {
        &self.inner.retrain
    }

    /// The active version, from cache while fresh.
    pub async fn active(&self) -> Result<Arc<ActiveVersion>, ApiError> {
        if let Some((a, at)) = self.inner.active.read().unwrap().as_ref() {
            if at.elapsed() < self.inner.config.active_ttl() {
                return Ok(a.clone());
            }
        }
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

    /// The serving model (item ids and factors) of `version`, loaded once per version and kept
    /// in memory; `None` when the version has none (a read-only list file).
    pub async fn serving_model(
        &self,
        version: &str,
    ) -> Result<Option<Arc<ServingModel>>, ApiError> {
        if let Some(s) = self.inner.serving_model.read().unwrap().as_ref() {
            if s.version == version {
                return Ok(Some(s.clone()));
            }
        }
        let Some(bytes) = self.reader().serving_model(version).await? else {
            return Ok(None);
        };
        let snap = tokio::task::spawn_blocking(move || ServingModel::decode(&bytes))
            .await
            .map_err(|e| ApiError::internal(format!("serving model task: {e}")))?
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let snap = Arc::new(snap);
        *self.inner.serving_model.write().unwrap() = Some(snap.clone());
        tracing::info!(version, items = snap.items.len(), "loaded serving model");
        Ok(Some(snap))
    }

    /// What `version`'s catalogue lets serve now; `None` when the version has no catalogue
    /// (everything is servable). The catalogue is read once per version; the hidden set is
    /// made again when an expiry passes.
    pub async fn servable(&self, version: &str) -> Result<Option<Arc<Servable>>, ApiError> {
        let now = topten_model::clock::now_ms() / 1000;
        let stale = {
            // The common case: this version, nothing expired since; no allocation.
            let cached = self.inner.servable.read().unwrap();
            match cached.as_ref() {
                Some((v, s)) if v == version => match s {
                    None => return Ok(None),
                    Some(s) if !s.stale(now) => return Ok(Some(s.clone())),
                    Some(s) => Some(s.clone()),
                },
                _ => None,
            }
        };
        if let Some(s) = stale {
            let fresh = Arc::new(s.refreshed(now).expect("stale"));
            *self.inner.servable.write().unwrap() = Some((version.to_owned(), Some(fresh.clone())));
            return Ok(Some(fresh));
        }
        let servable = match self.reader().catalogue(version).await? {
            None => None,
            Some(bytes) => {
                let parsed = tokio::task::spawn_blocking(move || {
                    topten_model::catalogue::Catalogue::from_json_lines(&bytes)
                })
                .await
                .map_err(|e| ApiError::internal(format!("catalogue task: {e}")))?
                .map_err(|e| ApiError::internal(format!("stored catalogue: {e}")))?;
                tracing::info!(version, items = parsed.len(), "loaded catalogue");
                Some(Arc::new(Servable::at(parsed, now)))
            }
        };
        *self.inner.servable.write().unwrap() = Some((version.to_owned(), servable.clone()));
        Ok(servable)
    }

    /// The popular list of `version`, cached.
    pub async fn popular(&self, version: &str) -> Result<Arc<Vec<ItemScore>>, ApiError> {
        if let Some(p) = self.inner.popular.read().unwrap().get(version) {
            return Ok(p.clone());
        }
        let list = Arc::new(self.reader().popular(version).await?.unwrap_or_default());
        let mut cache = self.inner.popular.write().unwrap();
        cache.retain(|v, _| v == version); // old versions' lists are no longer needed
        cache.insert(version.to_owned(), list.clone());
        Ok(list)
    }
}
