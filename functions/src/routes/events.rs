//! `POST /api/events`: live interactions in, fresh recommendations out.
//!
//! The batch is validated as a whole (a bad event is a 400 naming its index and nothing is
//! stored). Each user's earlier events are read once: they attribute the new events
//! (`topten_live::attribution`: an impression to the answer it shows, a positive event to the
//! answer that showed the item) and feed the fold-in. The batch is appended durably in one
//! write, then each user with a new interaction, or whose items shown too often without a
//! response changed (`topten_live::repeats`), is folded into the version that serves them
//! and their document rewritten, so the next GET, on any instance, is fresh.
//!
//! The body must be declared `application/json` (415 otherwise, so that a web page cannot post
//! events cross-site without a CORS preflight). Fields the API does not know, at the top level
//! or in an event, and `null` for any field are 400s: a typo (`"valeu"`) or a `null` value must
//! not silently become a default.
//!
//! The fold-in computations, and the store writes of a backend whose writes block the thread
//! (`topten_store::blocking`), run on Tokio's blocking pool, not on the async workers: an LMDB
//! commit waits for the disk, and a worker blocked on it stalls every GET queued behind it
//! (with ~1,000 events/s GET throughput fell tenfold; `bench/writes.sh` measures it).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use topten_live::events::{self, Event, StoredEvent};
use topten_live::realtime::ListRules;
use topten_live::{attribution, realtime, repeats};
use topten_model::serving_model::ServingModel;
use topten_store::prelude::*;
use topten_store::ActiveVersion;

use crate::error::ApiError;
use crate::state::AppState;

/// Top-level fields of the body.
const BODY_FIELDS: &[&str] = &["events"];

/// Parses the body into events, naming the index of an event that is not an object of the
/// documented shape. Public for the fuzz target (`fuzz/`) and its corpus replay test.
pub fn parse(body: &[u8]) -> Result<Vec<Event>, ApiError> {
    let invalid = |m: String| ApiError::bad_request("invalid_events", m);
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| invalid(format!("body is not JSON: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| invalid("body must be {\"events\": [...]}".into()))?;
    if let Some(field) = obj.keys().find(|k| !BODY_FIELDS.contains(&k.as_str())) {
        return Err(invalid(format!(
            "body must be {{\"events\": [...]}}: unknown field {field:?}"
        )));
    }
    let list = obj
        .get("events")
        .and_then(|v| v.as_array())
        .ok_or_else(|| invalid("body must be {\"events\": [...]}".into()))?;
    list.iter()
        .enumerate()
        .map(|(i, v)| {
            if let Some(fields) = v.as_object() {
                if let Some((field, _)) = fields.iter().find(|(_, v)| v.is_null()) {
                    return Err(invalid(format!(
                        "events[{i}].{field}: null is not a value (leave the field out instead)"
                    )));
                }
            }
            // Event denies unknown fields; serde names the field in its message.
            serde_json::from_value::<Event>(v.clone())
                .map_err(|e| invalid(format!("events[{i}]: {e}")))
        })
        .collect()
}

/// One user's events of the batch, attributed, beside the events the user had before.
struct UserBatch {
    user: String,
    /// The version serving the user (their arm's while an experiment runs), if any.
    version: Option<String>,
    earlier: Vec<StoredEvent>,
    events: Vec<StoredEvent>,
}

impl UserBatch {
    /// The batch's events the log did not skip as retries (an event id seen before for the
    /// user, or earlier in the batch).
    fn fresh(&self) -> impl Iterator<Item = &StoredEvent> {
        let mut seen: std::collections::HashSet<&str> = self
            .earlier
            .iter()
            .filter_map(|e| e.event_id.as_deref())
            .collect();
        self.events
            .iter()
            .filter(move |e| e.event_id.as_deref().is_none_or(|id| seen.insert(id)))
    }
}

/// Events whose `recommendationId` did not check, by reason (the answer's `unattributedIds`).
type Unattributed = BTreeMap<&'static str, u64>;

/// Reads each user's earlier events, attributes the new ones (ids checked: signature, user,
/// version, item; a failed check is counted in the metrics and in the answer), and appends the
/// whole batch in one write. Returns the batches, how many events were new, and the ids that
/// did not check.
async fn attribute_and_append(
    state: &AppState,
    store: &Arc<dyn Store>,
    active: Option<&ActiveVersion>,
    by_user: Vec<(String, Vec<StoredEvent>)>,
    rules: &attribution::Rules,
) -> Result<(Vec<UserBatch>, usize, Unattributed), ApiError> {
    let mut unattributed = Unattributed::new();
    let named: Vec<&str> = by_user
        .iter()
        .flat_map(|(_, events)| attribution::versions_named(events))
        .collect();
    let complete = if named.is_empty() {
        Default::default()
    } else {
        state.complete_versions(&named).await?
    };
    let exists = |v: &str| complete.contains(v);
    let check = attribution::IdCheck {
        keys: state.id_keys(),
        version_exists: &exists,
    };
    let mut batches = Vec::with_capacity(by_user.len());
    for (user, mut events) in by_user {
        let earlier = store.user_events(&user).await?;
        let mut version = None;
        if let Some(active) = active {
            let (v, arm) = active.serving(&user);
            // The list the user is served now, read only when an event needs it.
            let listed: Vec<String> = if attribution::needs_list(&events, rules) {
                store
                    .user_recs(v, &user)
                    .await?
                    .map(|doc| {
                        doc.items
                            .into_iter()
                            .take(attribution::ANSWER_DEPTH)
                            .map(|it| it.item_id)
                            .collect()
                    })
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
            let now = attribution::ServingNow {
                version: v,
                arm,
                experiment: active.experiment.as_ref().map(|e| e.id.as_str()),
                listed: &listed,
            };
            let outcome = attribution::attribute(&mut events, &earlier, &now, rules, &check);
            state.metrics().unattributed_ids(&outcome.rejected);
            for reason in &outcome.rejected {
                *unattributed.entry(reason.as_str()).or_default() += 1;
            }
            version = Some(v.to_owned());
        }
        batches.push(UserBatch {
            user,
            version,
            earlier,
            events,
        });
    }
    let all: Vec<StoredEvent> = batches
        .iter()
        .flat_map(|b| b.events.iter().cloned())
        .collect();
    let new = topten_store::blocking::append_events(store.clone(), all).await?;
    Ok((batches, new, unattributed))
}

/// Folds each user into `serving` with their events (all of them, as now stored) and writes
/// their lists back in one batch; returns the users refreshed. The histories are read here,
/// the lists computed on the blocking pool (CPU), and the write goes to the blocking pool only
/// where the backend's writes block the thread. A failed write-back is logged and counted:
/// the events are stored, the next retrain includes them.
pub(crate) async fn fold_in(
    state: &AppState,
    store: Arc<dyn Store>,
    serving: Arc<ServingModel>,
    users: Vec<(String, Vec<StoredEvent>)>,
) -> Vec<String> {
    let start = Instant::now();
    let count = users.len();
    let result = write_back(state, store, serving, users).await;
    let each = start.elapsed() / count.max(1) as u32;
    for _ in 0..count {
        state.metrics().foldin(each, result.is_ok());
    }
    result.unwrap_or_else(|e| {
        tracing::warn!(users = count, error = ?e, "fold-in write-back failed; events are stored");
        Vec::new()
    })
}

/// [`fold_in`]'s work: read, compute, write.
async fn write_back(
    state: &AppState,
    store: Arc<dyn Store>,
    serving: Arc<ServingModel>,
    users: Vec<(String, Vec<StoredEvent>)>,
) -> Result<Vec<String>, ApiError> {
    let histories = realtime::histories(store.as_ref(), &serving, &users).await?;
    let rules = state.config().list_rules();
    // The fold-ins are CPU work: off the async workers.
    let docs = tokio::task::spawn_blocking(move || {
        users
            .iter()
            .zip(&histories)
            .filter_map(|((user, events), history)| {
                realtime::fresh_list(&serving, user, history, events, &rules)
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| ApiError::internal(format!("fold-in task: {e}")))?;
    if docs.is_empty() {
        return Ok(Vec::new());
    }
    let written: Vec<String> = docs.iter().map(|d| d.user_id.clone()).collect();
    let batches = store.write_back_batches(&docs).await?;
    topten_store::blocking::put_users(store, batches).await?;
    Ok(written)
}

/// Each version's users to fold in, with all their events.
type UsersByVersion = BTreeMap<String, Vec<(String, Vec<StoredEvent>)>>;

/// Each version's items that the batch's new interactions name.
type ItemsByVersion = BTreeMap<String, std::collections::BTreeSet<String>>;

/// Solves the factors of the `items` that `version` folds in (items it does not know, or
/// trained from few interactions; [`topten_live::item_fold_in`]) from their live events,
/// stores them in the version and serves them from the next request; an item solved here
/// within `TOPTEN_ITEM_FOLD_IN_SECS` is solved once that has passed, in the background.
/// Returns the items solved now. A failure is logged and counted, as a failed user fold-in
/// is: the events are stored.
pub(crate) async fn fold_in_items(
    state: &AppState,
    store: &Arc<dyn Store>,
    version: &str,
    items: Vec<String>,
) -> Vec<String> {
    let schedule = {
        let layers = match state.model_layers(version).await {
            Ok(Some(layers)) => layers,
            Ok(None) => return Vec::new(),
            Err(e) => {
                tracing::warn!(version, error = ?e, "item fold-in: no serving model");
                return Vec::new();
            }
        };
        let rules = state.config().item_fold_in_rules();
        let wanted: Vec<String> = items
            .into_iter()
            .filter(|i| rules.wants(&layers.trained, i))
            .collect();
        state
            .folded_items()
            .schedule(version, wanted, state.config().item_fold_in_interval())
    };
    for (item, wait) in schedule.later {
        let (state, store, version) = (state.clone(), store.clone(), version.to_owned());
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            state.folded_items().release(&version, &item);
            solve_items(&state, &store, &version, vec![item]).await;
        });
    }
    if schedule.now.is_empty() {
        return Vec::new();
    }
    solve_items(state, store, version, schedule.now).await
}

/// [`fold_in_items`]'s work for items due now: read, solve, store, serve. Returns the items
/// solved.
async fn solve_items(
    state: &AppState,
    store: &Arc<dyn Store>,
    version: &str,
    items: Vec<String>,
) -> Vec<String> {
    let start = Instant::now();
    let result = async {
        let Some(layers) = state.model_layers(version).await? else {
            return Ok(Vec::new());
        };
        let rules = state.config().item_fold_in_rules();
        let gathered =
            topten_live::item_fold_in::gather(store.as_ref(), &layers.serving, &items, &rules)
                .await?;
        if gathered.is_empty() {
            return Ok(Vec::new());
        }
        let now = topten_model::clock::now_ms();
        let factors = tokio::task::spawn_blocking(move || {
            gathered.solve(&layers.serving, &layers.catalogue, now)
        })
        .await
        .map_err(|e| ApiError::internal(format!("item fold-in task: {e}")))?;
        store.put_item_factors(version, &factors).await?;
        Ok::<_, ApiError>(factors)
    }
    .await;
    match result {
        Ok(factors) => {
            state
                .metrics()
                .item_foldin(start.elapsed(), factors.len(), true);
            let solved = factors.iter().map(|f| f.item_id.clone()).collect();
            tracing::debug!(version, items = factors.len(), "items folded in");
            state.merge_folded(version, factors);
            solved
        }
        Err(e) => {
            state.metrics().item_foldin(start.elapsed(), 0, false);
            tracing::warn!(version, error = ?e, "item fold-in failed; events are stored");
            Vec::new()
        }
    }
}

/// Users to fold in, per version that serves them: each user with a new interaction, or whose
/// demoted items changed (a batch of impressions only), with all their events (each user's
/// history moves into the fold-in, uncopied); and the items their new interactions name.
/// Also counts the batch's attributed positive events.
fn to_fold_in(
    batches: Vec<UserBatch>,
    list_rules: &ListRules,
) -> (usize, UsersByVersion, ItemsByVersion) {
    let (rules, limit) = (&list_rules.attribution, list_rules.repeat_limit);
    let mut attributed = 0;
    let mut by_version = UsersByVersion::new();
    let mut items = ItemsByVersion::new();
    for batch in batches {
        let fresh: Vec<StoredEvent> = batch.fresh().cloned().collect();
        attributed += fresh
            .iter()
            .filter(|e| e.attribution.is_some() && attribution::is_positive(e, rules))
            .count();
        let Some(version) = batch.version else {
            continue;
        };
        let interacted = fresh.iter().any(|e| e.is_interaction());
        items.entry(version.clone()).or_default().extend(
            fresh
                .iter()
                .filter(|e| e.is_interaction() && !e.item_id.is_empty())
                .map(|e| e.item_id.clone()),
        );
        let demoted_before = (!interacted).then(|| repeats::demoted(&batch.earlier, limit, rules));
        let mut all = batch.earlier;
        all.extend(fresh);
        let demotions_changed =
            demoted_before.is_some_and(|before| before != repeats::demoted(&all, limit, rules));
        if interacted || demotions_changed {
            by_version
                .entry(version)
                .or_default()
                .push((batch.user, all));
        }
    }
    (attributed, by_version, items)
}

/// The handler.
pub async fn events_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let body = crate::body::read_json(state.config(), &headers, body).await?;
    let parsed = parse(&body)?;
    let stored = events::validate(&parsed, topten_model::clock::now_ms())
        .map_err(|e| ApiError::bad_request("invalid_events", e.to_string()))?;
    let accepted = stored.len();
    // Each user's events in arrival order.
    let mut by_user: BTreeMap<String, Vec<StoredEvent>> = BTreeMap::new();
    for e in stored {
        by_user.entry(e.user_id.clone()).or_default().push(e);
    }
    let store = state.store("events")?;
    let active = state.active().await.ok();
    let list_rules = state.config().list_rules();
    let rules = list_rules.attribution;
    let (batches, new, unattributed) = attribute_and_append(
        &state,
        &store,
        active.as_deref(),
        by_user.into_iter().collect(),
        &rules,
    )
    .await?;
    state.metrics().events(accepted, new);

    let (attributed, by_version, items) = to_fold_in(batches, &list_rules);
    // Items first, so the users' fresh lists already score them with what they just did.
    let mut items_folded_in = Vec::new();
    for (v, items) in items {
        items_folded_in
            .extend(fold_in_items(&state, &store, &v, items.into_iter().collect()).await);
    }
    let mut refreshed = Vec::new();
    for (v, users) in by_version {
        if let Some(serving) = state.serving_model(&v).await? {
            refreshed.extend(fold_in(&state, store.clone(), serving, users).await);
        }
    }
    let mut version = None;
    if let Some(active) = &active {
        version = state
            .serving_model(&active.version)
            .await?
            .map(|_| active.version.clone());
    }
    Ok(Json(serde_json::json!({
        "accepted": accepted,
        "stored": new,
        "duplicates": accepted - new,
        "attributed": attributed,
        "unattributedIds": unattributed,
        "refreshed": refreshed,
        "itemsFoldedIn": items_folded_in,
        "modelVersion": version,
    })))
}
