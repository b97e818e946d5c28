//! Publishing a model as a new version, and switching versions, each brought up to date with
//! the live events on the way (the `*_caught_up` calls); written once against the [`Store`]
//! trait so every backend behaves the same. Pruning old versions is
//! [`topten_store::lifecycle::prune`].

use std::collections::HashMap;

use topten_model::catalogue::Catalogue;
use topten_model::clock::{now_rfc3339, now_rfc3339_millis};
use topten_model::model::Model;
use topten_store::{
    doc_id, ActiveVersion, ItemScore, Publisher, Store, StoreError, UserRecs, VersionInfo,
    VersionStatus,
};

/// How to publish.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    /// Items stored per user (more than served, so request-time filters still leave k).
    pub items_per_user: usize,
    /// Documents per write batch.
    pub batch_size: usize,
    /// Item titles to store beside ids, when known (over the catalogue's titles).
    pub titles: Option<HashMap<String, String>>,
    /// The item catalogue, stored with the version; its titles are used where `titles` has none.
    pub catalogue: Option<Catalogue>,
    /// Switch the active pointer once the version is complete.
    pub activate: bool,
    /// Explicit version id (default: generated from the time and the data fingerprint).
    pub version: Option<String>,
    /// Quality-gate record to keep with the version.
    pub quality: Option<serde_json::Value>,
    /// Pause between batches, to spread the write load on a store with provisioned throughput.
    pub throttle: std::time::Duration,
    /// The "fewer repeats" limit the catch-up applies to users' lists (`REPEAT_LIMIT`).
    pub repeat_limit: u32,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions {
            items_per_user: 50,
            batch_size: 1000,
            titles: None,
            catalogue: None,
            activate: true,
            version: None,
            quality: None,
            throttle: std::time::Duration::ZERO,
            repeat_limit: crate::repeats::DEFAULT_REPEAT_LIMIT,
        }
    }
}

/// A new version id: `vYYYYMMDDTHHMMSSZ-` plus six hex digits of the data fingerprint and time,
/// so ids sort by creation time and two publishes in one second still differ.
pub fn new_version_id(model: &Model) -> String {
    let fp = model.meta.data_fingerprint.trim_start_matches("sha256:");
    version_id(u32::from_str_radix(fp.get(..6).unwrap_or("0"), 16).unwrap_or(0))
}

/// `vYYYYMMDDTHHMMSSZ-` plus six hex digits of `seed` mixed with the clock's nanoseconds.
fn version_id(seed: u32) -> String {
    let now = now_rfc3339().replace(['-', ':'], "");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("v{now}-{:06x}", (seed ^ nanos) & 0xff_ffff)
}

/// A model summary kept with the version (what `topten versions` shows).
pub fn model_summary(model: &Model) -> serde_json::Value {
    serde_json::json!({
        "kind": model.meta.kind,
        "params": model.meta.params,
        "users": model.meta.users,
        "items": model.meta.items,
        "interactions": model.meta.interactions,
        "createdAt": model.meta.created_at,
        "dataFingerprint": model.meta.data_fingerprint,
        "metrics": model.meta.metrics,
        "source": model.meta.source,
    })
}

/// The catalogue to store with a new version: `opts.catalogue`, else the active version's,
/// with the live item changes on top; `None` when there is none of these.
async fn version_catalogue(
    store: &dyn Store,
    opts: &PublishOptions,
) -> Result<Option<Catalogue>, StoreError> {
    let base =
        match &opts.catalogue {
            Some(c) => Some(c.clone()),
            None => match store.active().await? {
                None => None,
                Some(a) => match store.catalogue(&a.version).await? {
                    None => None,
                    Some(bytes) => Some(Catalogue::from_json_lines(&bytes).map_err(|e| {
                        StoreError::Backend {
                            backend: store.backend(),
                            message: format!("stored catalogue of {}: {e}", a.version),
                        }
                    })?),
                },
            },
        };
    let live = store.live_items_since(0).await?;
    if base.is_none() && live.is_empty() {
        return Ok(None);
    }
    let mut catalogue = base.unwrap_or_default();
    for change in live {
        // A change stored before the id rule existed is left out rather than published into
        // a catalogue that would not read back.
        if let Err(e) =
            topten_model::ids::check(topten_model::ids::IdKind::Item, &change.item.item_id)
        {
            tracing::warn!(error = %e, "a live item change is left out of the version");
            continue;
        }
        catalogue.upsert(change.effective());
    }
    Ok(Some(catalogue))
}

/// The titles to store: the catalogue's, with the given titles over them.
fn titles_of(
    given: Option<&HashMap<String, String>>,
    catalogue: Option<&Catalogue>,
) -> Option<HashMap<String, String>> {
    let mut titles = catalogue.map(Catalogue::titles);
    if let Some(given) = given {
        titles
            .get_or_insert_with(HashMap::new)
            .extend(given.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    titles
}

/// Refuses, before anything is written, a publish of empty lists, and one that would activate
/// while an experiment runs (activation would be refused only after the whole version was
/// written).
async fn check_before_writing(store: &dyn Store, opts: &PublishOptions) -> Result<(), StoreError> {
    if opts.items_per_user == 0 {
        // A complete version of empty lists would serve nothing but the fallback.
        return Err(StoreError::InvalidArgument(
            "items per user must be at least 1".into(),
        ));
    }
    if !opts.activate {
        return Ok(());
    }
    topten_store::lifecycle::no_experiment(
        store.active().await?.as_ref(),
        "publishing an activated version, or publish without activating",
    )
}

/// Reads a written version back the way serving reads it, before it is marked complete: the
/// catalogue parses, the serving model decodes, `user`'s list and the popular list are there.
/// A version that fails stays `writing`, so it is never activated.
async fn read_back(store: &dyn Store, version: &str, user: Option<&str>) -> Result<(), StoreError> {
    let unreadable = |what: &str, e: &dyn std::fmt::Display| StoreError::Backend {
        backend: store.backend(),
        message: format!(
            "version {version} is left unactivated: its {what} does not read back: {e}"
        ),
    };
    if let Some(bytes) = store.catalogue(version).await? {
        Catalogue::from_json_lines(&bytes).map_err(|e| unreadable("catalogue", &e))?;
    }
    if let Some(bytes) = store.serving_model(version).await? {
        topten_model::serving_model::ServingModel::decode(&bytes)
            .map_err(|e| unreadable("serving model", &e))?;
    }
    if let Some(user) = user {
        if store.user_recs(version, user).await?.is_none() {
            return Err(unreadable(
                "lists",
                &format!("user {user:?} has no stored list"),
            ));
        }
    }
    if store.popular(version).await?.is_none() {
        return Err(unreadable("popular list", &"it is missing"));
    }
    Ok(())
}

/// Publishes `model` as a new version: writes the serving serving (item factors), every
/// user's top `items_per_user` (seen items excluded) with their training history, and the
/// popular list; completes the version only when the count matches, then activates it if
/// asked. `progress(written, total)` is called after each batch.
pub async fn publish(
    store: &dyn Store,
    model: &Model,
    opts: &PublishOptions,
    progress: &mut (dyn FnMut(usize, usize) + Send),
) -> Result<VersionInfo, StoreError> {
    check_before_writing(store, opts).await?;
    let version = opts
        .version
        .clone()
        .unwrap_or_else(|| new_version_id(model));
    let created_at = now_rfc3339_millis();
    let forgotten = forgotten_in(store, model).await?;
    let info = VersionInfo {
        version: version.clone(),
        status: VersionStatus::Writing,
        created_at: created_at.clone(),
        expected_users: model.users.len() - forgotten.len(),
        users: 0,
        items_per_user: opts.items_per_user,
        model: model_summary(model),
        quality: opts.quality.clone(),
    };
    // The version's catalogue: the one given, else the active version's, with every live item
    // change on top, so changes made through the API carry over into the new version.
    let catalogue = version_catalogue(store, opts).await?;
    let titles = titles_of(opts.titles.as_ref(), catalogue.as_ref());
    store.create_version(&info).await?;
    let serving =
        topten_model::serving_model::ServingModel::from_model(model, &version, titles.as_ref());
    store
        .write_serving_model(&version, &serving.encode())
        .await?;
    if let Some(catalogue) = &catalogue {
        store
            .write_catalogue(&version, &catalogue.to_json_lines())
            .await?;
    }
    let item = |i: u32, score: f32| ItemScore {
        item_id: model.items.id(i).to_owned(),
        score,
        title: titles
            .as_ref()
            .and_then(|t| t.get(model.items.id(i)).cloned()),
    };
    let lists = model.recommend_all(opts.items_per_user);
    let total = lists.len() - forgotten.len();
    let mut written = 0;
    for chunk in lists.chunks(opts.batch_size.max(1)).enumerate() {
        let (c, chunk) = chunk;
        let users: Vec<(usize, &Vec<topten_model::topk::Scored>)> = chunk
            .iter()
            .enumerate()
            .map(|(j, list)| (c * opts.batch_size.max(1) + j, list))
            .filter(|(u, _)| !forgotten.contains(&(*u as u32)))
            .collect();
        let docs: Vec<UserRecs> = users
            .iter()
            .map(|&(u, list)| {
                let user_id = model.users.id(u as u32).to_owned();
                UserRecs {
                    id: doc_id(&version, &user_id),
                    user_id,
                    items: list.iter().map(|s| item(s.item, s.score)).collect(),
                    model_version: version.clone(),
                    created_at: created_at.clone(),
                    factor: Some(model.user_factors.row(u).to_vec()),
                    has_new: Vec::new(),
                }
            })
            .collect();
        store.write_users(&version, &docs).await?;
        let histories: Vec<(String, Vec<u8>)> = users
            .iter()
            .zip(&docs)
            .map(|(&(u, _), d)| {
                let (items, values) = model.seen.row(u);
                (
                    d.user_id.clone(),
                    topten_model::serving_model::encode_history(items, values),
                )
            })
            .collect();
        store.write_histories(&version, &histories).await?;
        written += docs.len();
        progress(written, total);
        if !opts.throttle.is_zero() && written < total {
            tokio::time::sleep(opts.throttle).await;
        }
    }
    let mut popular: Vec<ItemScore> = model
        .popular_items(opts.items_per_user)
        .iter()
        .map(|s| item(s.item, s.score))
        .collect();
    topten_store::normalise_popular(&mut popular);
    store.write_popular(&version, &popular).await?;
    let first_user = (0..model.users.len() as u32)
        .find(|u| !forgotten.contains(u))
        .map(|u| model.users.id(u));
    read_back(store, &version, first_user).await?;
    let done = store.finish_version(&version).await?;
    // Users' live events the model was not trained on are folded in before the version
    // serves, and again after activation for the events that arrived meanwhile (those were
    // written back to the previously active version).
    let started = topten_model::clock::now_ms();
    let rules = crate::realtime::ListRules {
        repeat_limit: opts.repeat_limit,
        ..crate::realtime::ListRules::new(opts.items_per_user)
    };
    let mut folded = crate::realtime::catch_up_version(store, &serving, &rules).await?;
    if opts.activate {
        store.activate(&version).await?;
        folded += crate::realtime::catch_up(store, &serving, started, &rules).await?;
    }
    tracing::info!(%version, users = folded, "live events folded into the version");
    Ok(done)
}

/// The users of `model` forgotten after it was trained (their tombstone is not older than the
/// model): it learned from their rows, so their lists and histories are not published. A user
/// forgotten before the model was trained came back as a new user, and is published.
async fn forgotten_in(
    store: &dyn Store,
    model: &Model,
) -> Result<std::collections::HashSet<u32>, StoreError> {
    let tombstones = store.tombstones().await?;
    if tombstones.is_empty() {
        return Ok(Default::default());
    }
    // A creation time that does not parse: every tombstone counts (the safe side).
    let trained_ms =
        topten_model::clock::parse_rfc3339_ms(&model.meta.created_at).unwrap_or(i64::MIN);
    Ok(tombstones
        .iter()
        .filter(|t| t.forgotten_ms >= trained_ms)
        .filter_map(|t| model.users.get(&t.user_id))
        .collect())
}

/// One user's list computed elsewhere: user id, then (item id, score) best first.
pub type UserList = (String, Vec<(String, f32)>);

/// Yields the next batch of lists, `None` at the end, or an error that stops publishing.
pub type NextLists<'a> = dyn FnMut() -> Result<Option<Vec<UserList>>, String> + Send + 'a;

/// A version made of lists computed elsewhere (Spark's `recommendForAllUsers`), published as
/// they are: no serving model (so no fold-in, re-ranking or similar items for it), no
/// histories, and the items recommended most often as the fallback list. The same
/// versioning as [`publish`]: the version is `writing` until all `expected_users` lists are
/// stored and the count matches, and only then activated.
///
/// `next_batch` yields lists in batches until `None`; an error from it stops the publish and
/// leaves the version `writing` (never served, deletable). `summary` is kept as the version's
/// model summary.
pub async fn publish_lists(
    store: &dyn Store,
    summary: serde_json::Value,
    expected_users: usize,
    opts: &PublishOptions,
    next_batch: &mut NextLists<'_>,
    progress: &mut (dyn FnMut(usize, usize) + Send),
) -> Result<VersionInfo, StoreError> {
    check_before_writing(store, opts).await?;
    // Lists have no data fingerprint: the id is time and clock bits only.
    let version = opts.version.clone().unwrap_or_else(|| version_id(0));
    let created_at = now_rfc3339_millis();
    let info = VersionInfo {
        version: version.clone(),
        status: VersionStatus::Writing,
        created_at: created_at.clone(),
        expected_users,
        users: 0,
        items_per_user: opts.items_per_user,
        model: summary,
        quality: opts.quality.clone(),
    };
    let catalogue = version_catalogue(store, opts).await?;
    let titles = titles_of(opts.titles.as_ref(), catalogue.as_ref());
    store.create_version(&info).await?;
    if let Some(catalogue) = &catalogue {
        store
            .write_catalogue(&version, &catalogue.to_json_lines())
            .await?;
    }
    let item = |id: &str, score: f32| ItemScore {
        item_id: id.to_owned(),
        score,
        title: titles.as_ref().and_then(|t| t.get(id).cloned()),
    };
    let mut counts: HashMap<String, f32> = HashMap::new();
    let mut written = 0;
    let mut pending: Vec<UserRecs> = Vec::new();
    let mut first_user: Option<String> = None;
    loop {
        let batch = next_batch().map_err(StoreError::InvalidArgument)?;
        let done = batch.is_none();
        for (user_id, list) in batch.into_iter().flatten() {
            use topten_model::ids::{check, IdKind};
            check(IdKind::User, &user_id).map_err(|e| StoreError::InvalidArgument(e.0))?;
            for (item_id, _) in &list {
                check(IdKind::Item, item_id).map_err(|e| {
                    StoreError::InvalidArgument(format!("user {user_id:?}'s list: {}", e.0))
                })?;
            }
            first_user.get_or_insert_with(|| user_id.clone());
            let items: Vec<ItemScore> = list
                .iter()
                .take(opts.items_per_user)
                .map(|(id, score)| {
                    *counts.entry(id.clone()).or_default() += 1.0;
                    item(id, *score)
                })
                .collect();
            pending.push(UserRecs {
                id: doc_id(&version, &user_id),
                user_id,
                items,
                model_version: version.clone(),
                created_at: created_at.clone(),
                factor: None,
                has_new: Vec::new(),
            });
        }
        while pending.len() >= opts.batch_size.max(1) || (done && !pending.is_empty()) {
            let rest = pending.split_off(pending.len().min(opts.batch_size.max(1)));
            let docs = std::mem::replace(&mut pending, rest);
            store.write_users(&version, &docs).await?;
            written += docs.len();
            progress(written, expected_users);
            if !opts.throttle.is_zero() {
                tokio::time::sleep(opts.throttle).await;
            }
        }
        if done {
            break;
        }
    }
    let mut popular: Vec<(String, f32)> = counts.into_iter().collect();
    popular.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut popular: Vec<ItemScore> = popular
        .iter()
        .take(opts.items_per_user)
        .map(|(id, n)| item(id, *n))
        .collect();
    topten_store::normalise_popular(&mut popular);
    store.write_popular(&version, &popular).await?;
    read_back(store, &version, first_user.as_deref()).await?;
    let done = store.finish_version(&version).await?;
    if opts.activate {
        store.activate(&version).await?;
    }
    Ok(done)
}

/// `active`, after its version has caught up on the live events.
async fn caught_up(store: &dyn Store, active: ActiveVersion) -> Result<ActiveVersion, StoreError> {
    catch_up_version(store, &active.version).await?;
    Ok(active)
}

/// Activates a complete `version` (by hand, or rolling back) and folds in the live events its
/// training data lacks, as [`publish`] does, so no activation makes users' lists forget what
/// they did.
pub async fn activate_caught_up(
    store: &dyn Store,
    version: &str,
) -> Result<ActiveVersion, StoreError> {
    caught_up(store, store.activate(version).await?).await
}

/// [`activate_caught_up`] for `rollback`: the previously active version, caught up.
pub async fn rollback_caught_up(store: &dyn Store) -> Result<ActiveVersion, StoreError> {
    caught_up(store, store.rollback().await?).await
}

/// Starts an experiment and catches its candidate up on the live events it lacks first, so
/// users moved into the candidate arm keep what they did since the candidate was published.
pub async fn start_experiment_caught_up(
    store: &dyn Store,
    candidate: &str,
    share: f64,
) -> Result<ActiveVersion, StoreError> {
    let active = store.start_experiment(candidate, share).await?;
    catch_up_version(store, candidate).await?;
    Ok(active)
}

/// [`activate_caught_up`] for promoting the running experiment's candidate: its control-arm
/// users' events of the experiment are folded in too. The experiment's final report is kept
/// in the pointer's past experiments, with who or what promoted it.
pub async fn promote_experiment_caught_up(
    store: &dyn Store,
    ending: &crate::online_report::Ending,
) -> Result<ActiveVersion, StoreError> {
    let record = crate::online_report::end_record(store, "promoted", ending).await?;
    caught_up(store, store.promote_experiment(record.as_ref()).await?).await
}

/// Stops the running experiment and catches the active version up on the events its
/// candidate-arm users made meanwhile (they were folded into the candidate), so no user's
/// list forgets what they did when they move back. The final report is kept as for a
/// promotion.
pub async fn stop_experiment_caught_up(
    store: &dyn Store,
    ending: &crate::online_report::Ending,
) -> Result<topten_store::Experiment, StoreError> {
    let record = crate::online_report::end_record(store, "stopped", ending).await?;
    let stopped = store.stop_experiment(record.as_ref()).await?;
    if let Some(active) = store.active().await? {
        catch_up_version(store, &active.version).await?;
    }
    Ok(stopped)
}

async fn catch_up_version(store: &dyn Store, version: &str) -> Result<(), StoreError> {
    let Some(bytes) = store.serving_model(version).await? else {
        return Ok(()); // a version without factors cannot fold in; it serves its lists
    };
    let serving = topten_model::serving_model::ServingModel::decode(&bytes)
        .map_err(|e| StoreError::Conflict(format!("version {version}: {e}")))?;
    let items_per_user = store
        .versions()
        .await?
        .into_iter()
        .find(|v| v.version == version)
        .map_or(50, |v| v.items_per_user.max(1));
    let rules = crate::realtime::ListRules::new(items_per_user);
    let folded = crate::realtime::catch_up_version(store, &serving, &rules).await?;
    tracing::info!(%version, users = folded, "live events folded into the version");
    Ok(())
}
