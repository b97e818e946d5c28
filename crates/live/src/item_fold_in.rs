//! Item fold-in: the factor of an item the version does not know, or knows from only a few
//! interactions, solved from its live events against the users who touched it.
//!
//! It is the user fold-in turned round: one ALS half-step for the item, the users' factors
//! held fixed ([`ServingModel::fold_in_item`]). Those factors are not stored with a version, so
//! each is folded in from the user's history (the stored training history plus their live
//! events), as the lists use it; a user known only by a session id counts by their events. The
//! solve is pulled towards a prior, the item's factor before any live event: its trained
//! factor, or its content factor from the catalogue ([`topten_model::content`]), or zero,
//! which is what measured best on held-out items (`docs/benchmarks.md`, "New items"). The
//! factors go into the version ([`topten_store::ItemFactor`]), and serving puts them over the
//! version's rows, so fold-in, refill, `rank` and similar items all use them.
//!
//! Cost: [`gather`] reads the events the version's training lacks once for a batch of items,
//! and one stored history per user (at most [`ItemFoldInRules::max_users`] per item, the
//! latest); [`Gathered::solve`] is CPU only (a fold-in per user, one solve per item). The
//! handler solves an item at most once per interval.

use std::collections::{BTreeMap, HashMap};

use topten_model::serving_model::ServingModel;
use topten_store::events::StoredEvent;
use topten_store::{ItemFactor, Store, StoreError};

use crate::realtime::{history_with, UserHistory};

/// Which items are folded in, and from how many users.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ItemFoldInRules {
    /// A trained item is folded in while it has fewer training interactions than this (0:
    /// only items the version does not know).
    pub below: u32,
    /// The most users an item is solved from: its latest.
    pub max_users: usize,
}

/// Trained items with fewer interactions than this are folded in by default.
pub const DEFAULT_BELOW: u32 = 10;

/// The most users one item is solved from by default.
pub const DEFAULT_MAX_USERS: usize = 500;

impl Default for ItemFoldInRules {
    fn default() -> Self {
        ItemFoldInRules {
            below: DEFAULT_BELOW,
            max_users: DEFAULT_MAX_USERS,
        }
    }
}

impl ItemFoldInRules {
    /// Whether `item_id` is folded in against `trained` (the version as published): it has no
    /// trained row, or a row trained from fewer than [`ItemFoldInRules::below`] interactions.
    pub fn wants(&self, trained: &ServingModel, item_id: &str) -> bool {
        match trained.trained_row(item_id) {
            None => true,
            Some(row) => trained
                .item_counts
                .get(row as usize)
                .is_some_and(|&n| n < self.below),
        }
    }
}

/// What one item is solved from: each user's history and their merged value for the item.
struct ItemInput {
    item_id: String,
    users: Vec<(usize, f32)>,
    first_event_ms: i64,
}

/// The reads of an item fold-in, done: [`Gathered::solve`] needs no store.
pub struct Gathered {
    items: Vec<ItemInput>,
    histories: Vec<UserHistory>,
}

impl Gathered {
    /// Whether no item has live interactions to solve from.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Each item's factor (CPU only): every user folded in against `view` (the version as it
    /// serves, with the item factors solved so far), the item solved towards its row in
    /// `priors` (the version with catalogue items at their content factors, without live
    /// solves, so no event counts twice), or the content map's factor of an item with no
    /// record, or zero. Items that cannot be solved (an implicit version published before the
    /// user Gramian was stored) are left out.
    pub fn solve(
        &self,
        view: &ServingModel,
        priors: &ServingModel,
        now_ms: i64,
    ) -> Vec<ItemFactor> {
        let factors: Vec<Option<Vec<f32>>> = self
            .histories
            .iter()
            .map(|h| (!h.interactions.is_empty()).then(|| view.user_factor(&h.interactions)))
            .collect();
        let fallback: Option<Vec<f32>> = priors.content.as_ref().map(|m| m.factor(None));
        self.items
            .iter()
            .filter_map(|input| {
                let users: Vec<(Vec<f32>, f32)> = input
                    .users
                    .iter()
                    .filter_map(|&(u, value)| Some((factors[u].clone()?, value)))
                    .collect();
                let prior: Option<Vec<f32>> = match priors.items.get(&input.item_id) {
                    Some(row) => Some(priors.item_factors.row(row as usize).to_vec()),
                    None => fallback.clone(),
                };
                let factor = view.fold_in_item(&users, prior.as_deref())?;
                Some(ItemFactor {
                    item_id: input.item_id.clone(),
                    factor,
                    users: users.len() as u32,
                    solved_ms: now_ms,
                    first_event_ms: input.first_event_ms,
                })
            })
            .collect()
    }
}

/// Reads what folding in `items` needs against `view`'s version: the live interactions the
/// version's training lacks (one read of the events since its cut-off), and the history of
/// each user who touched one of the items (their latest [`ItemFoldInRules::max_users`] per
/// item), with their events.
pub async fn gather(
    store: &dyn Store,
    view: &ServingModel,
    items: &[String],
    rules: &ItemFoldInRules,
) -> Result<Gathered, StoreError> {
    let events = store.events_since(view.events_after_ms).await?;
    let wanted: std::collections::HashSet<&str> = items.iter().map(String::as_str).collect();
    // Each item's users, with their merged value and their latest event time.
    let mut per_item: BTreeMap<&str, HashMap<&str, (f32, i64)>> = BTreeMap::new();
    let mut first_event: HashMap<&str, i64> = HashMap::new();
    for e in events.iter().filter(|e| e.is_interaction()) {
        if !wanted.contains(e.item_id.as_str()) {
            continue;
        }
        let first = first_event.entry(&e.item_id).or_insert(e.received_at_ms);
        *first = (*first).min(e.received_at_ms);
        let users = per_item.entry(&e.item_id).or_default();
        let value = e.value as f32;
        users
            .entry(&e.user_id)
            .and_modify(|(v, at)| {
                *v = view.merge_values(*v, value);
                *at = (*at).max(e.received_at_ms);
            })
            .or_insert((value, e.received_at_ms));
    }
    let chosen: Vec<(&str, Vec<(&str, f32)>)> = per_item
        .into_iter()
        .map(|(item, users)| {
            let mut users: Vec<(&str, (f32, i64))> = users.into_iter().collect();
            // The latest users, ties by id so the choice does not depend on hashing.
            users.sort_by(|a, b| b.1 .1.cmp(&a.1 .1).then(a.0.cmp(b.0)));
            users.truncate(rules.max_users);
            (item, users.into_iter().map(|(u, (v, _))| (u, v)).collect())
        })
        .collect();
    // The chosen users' events (their fold-in input beside the stored history).
    let mut by_user: HashMap<&str, Vec<StoredEvent>> = chosen
        .iter()
        .flat_map(|(_, users)| users.iter().map(|&(u, _)| (u, Vec::new())))
        .collect();
    for e in &events {
        if let Some(list) = by_user.get_mut(e.user_id.as_str()) {
            list.push(e.clone());
        }
    }
    let mut user_index: HashMap<&str, usize> = HashMap::new();
    let mut histories = Vec::new();
    let mut inputs = Vec::with_capacity(chosen.len());
    for (item, users) in chosen {
        let mut input = ItemInput {
            item_id: item.to_owned(),
            users: Vec::with_capacity(users.len()),
            first_event_ms: first_event[item],
        };
        for (user, value) in users {
            let index = match user_index.get(user) {
                Some(&i) => i,
                None => {
                    let events = by_user.get(user).map(Vec::as_slice).unwrap_or_default();
                    histories.push(history_with(store, view, user, events).await?);
                    user_index.insert(user, histories.len() - 1);
                    histories.len() - 1
                }
            };
            input.users.push((index, value));
        }
        inputs.push(input);
    }
    Ok(Gathered {
        items: inputs,
        histories,
    })
}
