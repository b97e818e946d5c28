//! Request-time personalisation: fold a user's fresh events into the active version and write
//! the fresh list back, so every instance then serves it with one read.
//!
//! # What a user has
//! A user's list never holds an item of their known history ([`UserHistory::has`]): the
//! training history stored with the version, and every item their live interaction events
//! name, whenever they were received, whether or not the model knows the item or its training
//! included the event. Fold-in scores from the history plus the events the training lacks
//! ([`ServingModel::events_after_ms`]), and excludes all of it.

use std::collections::HashSet;

use topten_model::clock::now_rfc3339;
use topten_model::serving_model::{decode_history, ServingModel};
use topten_model::topk::Scored;
use topten_store::events::StoredEvent;
use topten_store::{doc_id, ItemScore, Publisher, Store, StoreError, UserRecs};

/// A user's interactions as the serving model's item indices: the training history stored with the
/// version plus the user's events its training data did not include (received at or after
/// [`ServingModel::events_after_ms`]). Events for items the model does not know are left out (they
/// count from the next retrain on).
pub async fn user_interactions(
    store: &dyn Store,
    serving: &ServingModel,
    user_id: &str,
) -> Result<Vec<(u32, f32)>, StoreError> {
    let events: Vec<StoredEvent> = store.user_events(user_id).await?;
    interactions_with(store, serving, user_id, &events).await
}

/// What serving knows a user has: the interactions fold-in scores from, and every item id of
/// their known history, which no list of theirs may hold.
#[derive(Debug, Default, Clone)]
pub struct UserHistory {
    /// Fold-in input ([`user_interactions`]).
    pub interactions: Vec<(u32, f32)>,
    /// Every item of the stored training history and of every live interaction event (any
    /// time, known to the model or not).
    pub has: HashSet<String>,
}

impl UserHistory {
    /// Whether the user has `item_id`.
    pub fn has(&self, item_id: &str) -> bool {
        self.has.contains(item_id)
    }
}

/// The item ids of `events` that are interactions (not impressions), any time.
pub fn event_items(events: &[StoredEvent]) -> impl Iterator<Item = &str> {
    events
        .iter()
        .filter(|e| e.is_interaction() && !e.item_id.is_empty())
        .map(|e| e.item_id.as_str())
}

/// [`UserHistory`] of `user_id` against `serving`'s version (one history read, one events read).
pub async fn user_history(
    store: &dyn Store,
    serving: &ServingModel,
    user_id: &str,
) -> Result<UserHistory, StoreError> {
    let events: Vec<StoredEvent> = store.user_events(user_id).await?;
    history_with(store, serving, user_id, &events).await
}

/// [`user_history`] with the user's events already read.
pub async fn history_with(
    store: &dyn Store,
    serving: &ServingModel,
    user_id: &str,
    events: &[StoredEvent],
) -> Result<UserHistory, StoreError> {
    let interactions = interactions_with(store, serving, user_id, events).await?;
    let mut has: HashSet<String> = interactions
        .iter()
        .filter(|(i, _)| (*i as usize) < serving.items.len())
        .map(|&(i, _)| serving.items.id(i).to_owned())
        .collect();
    has.extend(event_items(events).map(str::to_owned));
    Ok(UserHistory { interactions, has })
}

/// The items `user_id`'s live interaction events name (for a version without a serving model,
/// or a user without a list: the popular and trending fallbacks).
pub async fn event_item_set(
    store: &dyn Store,
    user_id: &str,
) -> Result<HashSet<String>, StoreError> {
    let events = store.user_events(user_id).await?;
    Ok(event_items(&events).map(str::to_owned).collect())
}

/// [`user_interactions`] with the user's events already read.
async fn interactions_with(
    store: &dyn Store,
    serving: &ServingModel,
    user_id: &str,
    events: &[StoredEvent],
) -> Result<Vec<(u32, f32)>, StoreError> {
    let mut history = match store.user_history(&serving.version, user_id).await? {
        Some(bytes) => decode_history(&bytes),
        None => Vec::new(),
    };
    history.extend(
        events
            .iter()
            .filter(|e| e.is_interaction() && e.received_at_ms >= serving.events_after_ms)
            .filter_map(|e| serving.items.get(&e.item_id).map(|i| (i, e.value as f32))),
    );
    Ok(history)
}

/// How fold-in shapes a user's list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ListRules {
    /// Items written per user.
    pub items_per_user: usize,
    /// Impressions without a response after which an item sinks (`REPEAT_LIMIT`; 0: never).
    pub repeat_limit: u32,
    /// What counts as a response.
    pub attribution: crate::attribution::Rules,
}

impl ListRules {
    /// The defaults, with `items_per_user` items.
    pub fn new(items_per_user: usize) -> Self {
        ListRules {
            items_per_user,
            repeat_limit: crate::repeats::DEFAULT_REPEAT_LIMIT,
            attribution: Default::default(),
        }
    }
}

/// Scored items as stored/served items, with titles from the serving model.
pub fn to_items(serving: &ServingModel, scored: &[Scored]) -> Vec<ItemScore> {
    scored
        .iter()
        .map(|s| ItemScore {
            item_id: serving.items.id(s.item).to_owned(),
            score: s.score,
            title: serving.titles.get(s.item as usize).cloned().flatten(),
        })
        .collect()
}

/// Each user's [`UserHistory`] against `serving`'s version, their events (all of them, as
/// stored) already read: the reads of a fold-in, one stored-history read per user. The lists
/// then come from [`fresh_list`], with no store access, and are written in one batch
/// ([`topten_store::Publisher::upsert_users_recs`]): one commit for an event batch's
/// write-backs instead of one per user (on a 2-core machine per-user commits kept the core in
/// the kernel, bench/writes.sh).
pub async fn histories(
    store: &dyn Store,
    serving: &ServingModel,
    users: &[(String, Vec<StoredEvent>)],
) -> Result<Vec<UserHistory>, StoreError> {
    let mut out = Vec::with_capacity(users.len());
    for (user_id, events) in users {
        out.push(history_with(store, serving, user_id, events).await?);
    }
    Ok(out)
}

/// `user_id`'s list in the serving model's version from history + fresh events, with the items
/// shown too often without a response demoted ([`crate::repeats`]); not yet written.
async fn fresh_recs(
    store: &dyn Store,
    serving: &ServingModel,
    user_id: &str,
    events: &[StoredEvent],
    rules: &ListRules,
) -> Result<Option<UserRecs>, StoreError> {
    let history = history_with(store, serving, user_id, events).await?;
    Ok(fresh_list(serving, user_id, &history, events, rules))
}

/// `user_id`'s list from their `history` and `events` (CPU only: a fold-in and a scoring of
/// every item); `None` when the user has no interaction the model knows.
pub fn fresh_list(
    serving: &ServingModel,
    user_id: &str,
    history: &UserHistory,
    events: &[StoredEvent],
    rules: &ListRules,
) -> Option<UserRecs> {
    if history.interactions.is_empty() {
        return None;
    }
    // Never an item the user has: the history's items are skipped by the fold-in itself, the
    // items of events its training included (or that came before the version) by `has`.
    let (factor, scored) =
        serving.factor_and_best_where(&history.interactions, rules.items_per_user, &|id| {
            !history.has(id)
        });
    let mut items = to_items(serving, &scored);
    // The untrained items the user has: a new item's reserved place must leave them out too.
    let mut has_new: Vec<String> = history
        .has
        .iter()
        .filter(|id| serving.trained_row(id).is_none())
        .cloned()
        .collect();
    has_new.sort_unstable();
    let demoted = crate::repeats::demoted(events, rules.repeat_limit, &rules.attribution);
    crate::repeats::demote(&mut items, &demoted);
    Some(UserRecs {
        id: doc_id(&serving.version, user_id),
        user_id: user_id.to_owned(),
        items,
        model_version: serving.version.clone(),
        created_at: now_rfc3339(),
        factor: Some(factor),
        has_new,
    })
}

/// Users whose fresh lists [`catch_up`] writes in one batch (one transaction where the store
/// has them, instead of one sync per user).
const CATCH_UP_BATCH: usize = 512;

/// Folds every user with events received at or after `since_ms` into `snapshot`'s (complete)
/// version, writing their fresh lists, and returns how many users were refreshed.
///
/// A version must not forget what users did: publishing a model trained without the live
/// events (or with only the older ones) would otherwise serve those users the list of the
/// training data, or the popular list if they only ever had live events. Publishing calls this
/// before and after activation, and activation or rollback by hand calls it too.
pub async fn catch_up(
    store: &dyn Store,
    serving: &ServingModel,
    since_ms: i64,
    rules: &ListRules,
) -> Result<usize, StoreError> {
    let events = store.events_since(since_ms).await?;
    let mut users: Vec<&str> = events.iter().map(|e| e.user_id.as_str()).collect();
    users.sort_unstable();
    users.dedup();
    refresh_caught_up(store, serving, &users, events.len(), rules).await
}

/// [`catch_up`] for a version about to serve (publish, activation, rollback, the end of an
/// experiment): every user with events at or after the version's cut-off
/// ([`ServingModel::events_after_ms`]), and every user with older events whose list may hold
/// an item they have: an event naming an item the model knows that the user's stored history
/// lacks (the training held it out, or did not include it). Returns the users refreshed.
pub async fn catch_up_version(
    store: &dyn Store,
    serving: &ServingModel,
    rules: &ListRules,
) -> Result<usize, StoreError> {
    let events = store.events_since(0).await?;
    let mut fresh: Vec<&str> = Vec::new();
    let mut older: std::collections::BTreeMap<&str, Vec<u32>> = Default::default();
    for e in &events {
        if e.received_at_ms >= serving.events_after_ms {
            fresh.push(&e.user_id);
        } else if e.is_interaction() {
            let rows = older.entry(&e.user_id).or_default();
            rows.extend(serving.items.get(&e.item_id));
        }
    }
    fresh.sort_unstable();
    fresh.dedup();
    let mut users = fresh.clone();
    for (user, rows) in older {
        if rows.is_empty() || fresh.binary_search(&user).is_ok() {
            continue;
        }
        let trained: HashSet<u32> = match store.user_history(&serving.version, user).await? {
            Some(bytes) => decode_history(&bytes).into_iter().map(|(i, _)| i).collect(),
            None => HashSet::new(),
        };
        if rows.iter().any(|r| !trained.contains(r)) {
            users.push(user);
        }
    }
    users.sort_unstable();
    refresh_caught_up(store, serving, &users, events.len(), rules).await
}

/// [`refresh_users`] for a catch-up over `events` events. Logged at debug: the callers
/// (publishing, activation) log one total, as publishing catches up twice.
async fn refresh_caught_up(
    store: &dyn Store,
    serving: &ServingModel,
    users: &[&str],
    events: usize,
    rules: &ListRules,
) -> Result<usize, StoreError> {
    let refreshed = refresh_users(store, serving, users, rules).await?;
    tracing::debug!(version = %serving.version, events, users = refreshed, "caught up");
    Ok(refreshed)
}

/// Writes the fresh lists of `users`, [`CATCH_UP_BATCH`] at a time; returns how many.
async fn refresh_users(
    store: &dyn Store,
    serving: &ServingModel,
    users: &[&str],
    rules: &ListRules,
) -> Result<usize, StoreError> {
    let mut refreshed = 0;
    for batch in users.chunks(CATCH_UP_BATCH) {
        let mut docs = Vec::with_capacity(batch.len());
        for user in batch {
            let events = store.user_events(user).await?;
            if let Some(doc) = fresh_recs(store, serving, user, &events, rules).await? {
                docs.push(doc);
            }
        }
        store.upsert_users_recs(&docs).await?;
        refreshed += docs.len();
    }
    Ok(refreshed)
}
