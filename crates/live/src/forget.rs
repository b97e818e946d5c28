//! Forgetting a user (GDPR article 17), and merging a visitor's session into their account.
//!
//! Forgetting writes the user's tombstone first, then deletes their events (interactions,
//! impressions, and with them every attribution record), then their list and training history
//! in every version. Each step is idempotent, so a forget killed half-way is completed by
//! running it again; and because the tombstone comes first, a retrain that runs in between
//! already leaves the user out ([`drop_forgotten`]). Serving instances cache no per-user
//! state: the next read of the user finds no list and serves the cold-start answer.
//!
//! A tombstone keeps every retrain from learning the user's rows older than it, wherever they
//! come from (training files still holding them, or the event log), so "forgotten" holds
//! after the next retrain too. Events received after the tombstone are a new user's.

use topten_model::clock::now_ms;
use topten_store::events::StoredEvent;
use topten_store::{Store, StoreError, Tombstone};

/// What forgetting one user deleted: the answer of `DELETE /api/users/{userId}` and of
/// `topten forget`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Forgotten {
    /// The user.
    pub user_id: String,
    /// Events deleted (interactions and impressions, with their attribution).
    pub events: usize,
    /// Versions in which the user's list was deleted.
    pub lists: usize,
    /// Versions in which the user's training history was deleted.
    pub histories: usize,
    /// Versions looked at.
    pub versions: usize,
    /// When the tombstone was written, epoch milliseconds.
    pub forgotten_ms: i64,
}

/// Forgets `user_id` at `forgotten_ms` (see the module doc).
pub async fn forget_user(
    store: &dyn Store,
    user_id: &str,
    forgotten_ms: i64,
) -> Result<Forgotten, StoreError> {
    store
        .put_tombstone(&Tombstone {
            user_id: user_id.to_owned(),
            forgotten_ms,
        })
        .await?;
    let events = store.delete_user_events(user_id).await?;
    let versions = store.versions().await?;
    let mut out = Forgotten {
        user_id: user_id.to_owned(),
        events,
        lists: 0,
        histories: 0,
        versions: versions.len(),
        forgotten_ms,
    };
    for info in &versions {
        let gone = store.delete_user_in_version(&info.version, user_id).await?;
        out.lists += usize::from(gone.list);
        out.histories += usize::from(gone.history);
    }
    Ok(out)
}

/// The tombstones as a lookup: user id → forgotten at (epoch ms).
pub type Tombstones = std::collections::HashMap<String, i64>;

/// Every tombstone of `store`, as a lookup.
pub async fn tombstones(store: &dyn Store) -> Result<Tombstones, StoreError> {
    Ok(store
        .tombstones()
        .await?
        .into_iter()
        .map(|t| (t.user_id, t.forgotten_ms))
        .collect())
}

/// Whether a row of `user_id` that happened at `at_ms` (`None`: unknown) belongs to a
/// forgotten user: rows at or before the tombstone do, and rows of unknown time do too (they
/// cannot be shown to be newer).
pub fn is_forgotten(tombstones: &Tombstones, user_id: &str, at_ms: Option<i64>) -> bool {
    match tombstones.get(user_id) {
        Some(&forgotten) => at_ms.is_none_or(|t| t <= forgotten),
        None => false,
    }
}

/// Leaves out of `events` those of forgotten users received before their tombstone. Returns
/// how many were left out.
pub fn drop_forgotten(events: &mut Vec<StoredEvent>, tombstones: &Tombstones) -> usize {
    let before = events.len();
    events.retain(|e| !is_forgotten(tombstones, &e.user_id, Some(e.received_at_ms)));
    before - events.len()
}

/// A visitor's events as the account's: the same events under `user_id`, received now (so the
/// serving version folds them in, whenever they were first received), with event ids derived
/// from the session and each event's place in it, so a retried merge stores nothing twice.
pub fn moved_events(session: &[StoredEvent], user_id: &str, session_id: &str) -> Vec<StoredEvent> {
    let now = now_ms();
    session
        .iter()
        .enumerate()
        .map(|(i, e)| StoredEvent {
            event_id: Some(format!(
                "merged:{session_id}:{}",
                e.event_id.clone().unwrap_or_else(|| i.to_string())
            )),
            user_id: user_id.to_owned(),
            received_at_ms: now,
            ..e.clone()
        })
        .collect()
}

/// `ratings` without the rows of forgotten users that are not newer than their tombstone (all
/// their rows when the source has no timestamps), with id maps of what is left (a forgotten
/// user with no rows left has no index, so no factor and no list). Returns the rows dropped.
pub fn drop_forgotten_rows(
    ratings: topten_model::interactions::Ratings,
    tombstones: &Tombstones,
) -> (topten_model::interactions::Ratings, usize) {
    if tombstones.is_empty() {
        return (ratings, 0);
    }
    let keep: Vec<usize> = ratings
        .records
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            let at = ratings
                .has_timestamps
                .then(|| r.timestamp.saturating_mul(1000));
            !is_forgotten(tombstones, ratings.users.id(r.user), at)
        })
        .map(|(i, _)| i)
        .collect();
    let dropped = ratings.records.len() - keep.len();
    if dropped == 0 {
        return (ratings, 0);
    }
    let mut kept = topten_model::interactions::Ratings {
        has_timestamps: ratings.has_timestamps,
        ..Default::default()
    };
    kept.append(&ratings.subset(&keep));
    (kept, dropped)
}

/// One version's list of a user, as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedList {
    /// The version.
    pub version: String,
    /// Whether this version serves the user now (the active one, or their experiment arm's).
    pub serving: bool,
    /// When the list was written.
    pub created_at: String,
    /// The items, best first.
    pub items: Vec<topten_store::ItemScore>,
}

/// One version's training history of a user: the interactions the model was trained on.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedHistory {
    /// The version.
    pub version: String,
    /// `(item id, strength)` pairs.
    pub items: Vec<(String, f32)>,
}

/// The user's experiment arm now.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedArm {
    /// The experiment.
    pub experiment: String,
    /// `control` or `candidate`.
    pub arm: topten_experiments::Arm,
    /// The version that serves the arm.
    pub version: String,
}

/// Everything topten holds about a user (GDPR article 15): `GET /api/users/{userId}/data`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserData {
    /// The user.
    pub user_id: String,
    /// Their events, oldest first, each with its attribution when it has one.
    pub events: Vec<StoredEvent>,
    /// How many of the events are attributed to an answer (the attribution records).
    pub attributed_events: usize,
    /// Their list in every version that holds one.
    pub lists: Vec<ExportedList>,
    /// Their training history in every version that holds one.
    pub histories: Vec<ExportedHistory>,
    /// Their arm, while an experiment runs.
    pub experiment: Option<ExportedArm>,
    /// Their tombstone, when they were forgotten before.
    pub tombstone: Option<Tombstone>,
}

/// Reads everything `store` holds about `user_id`.
pub async fn export_user(store: &dyn Store, user_id: &str) -> Result<UserData, StoreError> {
    let events = store.user_events(user_id).await?;
    let active = store.active().await?;
    let serving_version = active.as_ref().map(|a| a.serving(user_id).0.to_owned());
    let experiment = active.as_ref().and_then(|a| {
        let (version, arm) = a.serving(user_id);
        Some(ExportedArm {
            experiment: a.experiment.as_ref()?.id.clone(),
            arm: arm?,
            version: version.to_owned(),
        })
    });
    let mut lists = Vec::new();
    let mut histories = Vec::new();
    for info in store.versions().await? {
        let v = info.version;
        if let Some(doc) = store.user_recs(&v, user_id).await? {
            lists.push(ExportedList {
                serving: serving_version.as_deref() == Some(v.as_str()),
                version: v.clone(),
                created_at: doc.created_at,
                items: doc.items,
            });
        }
        if let Some(bytes) = store.user_history(&v, user_id).await? {
            let ids = match store.serving_model(&v).await? {
                Some(model) => topten_model::serving_model::ServingModel::decode_item_ids(&model)
                    .map_err(|e| StoreError::Backend {
                    backend: store.backend(),
                    message: format!("version {v}: {e}"),
                })?,
                None => Vec::new(),
            };
            let items = topten_model::serving_model::decode_history(&bytes)
                .into_iter()
                .map(|(i, value)| {
                    let id = ids
                        .get(i as usize)
                        .cloned()
                        .unwrap_or_else(|| format!("#{i}"));
                    (id, value)
                })
                .collect();
            histories.push(ExportedHistory { version: v, items });
        }
    }
    let tombstone = store
        .tombstones()
        .await?
        .into_iter()
        .find(|t| t.user_id == user_id);
    Ok(UserData {
        user_id: user_id.to_owned(),
        attributed_events: events.iter().filter(|e| e.attribution.is_some()).count(),
        events,
        lists,
        histories,
        experiment,
        tombstone,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tombstones_drop_rows_up_to_their_time() {
        let t: Tombstones = [("gone".to_string(), 1_000)].into();
        assert!(is_forgotten(&t, "gone", Some(1_000)));
        assert!(is_forgotten(&t, "gone", None));
        assert!(!is_forgotten(&t, "gone", Some(1_001)));
        assert!(!is_forgotten(&t, "kept", Some(0)));
        let mut events = vec![
            StoredEvent::interaction("gone", "a", "click", 1.0, 500),
            StoredEvent::interaction("gone", "b", "click", 1.0, 2_000),
            StoredEvent::interaction("kept", "c", "click", 1.0, 500),
        ];
        assert_eq!(drop_forgotten(&mut events, &t), 1);
        let left: Vec<&str> = events.iter().map(|e| e.item_id.as_str()).collect();
        assert_eq!(left, ["b", "c"]);
    }

    #[test]
    fn moved_events_are_the_accounts_and_idempotent() {
        let session = vec![
            StoredEvent {
                event_id: Some("e1".into()),
                ..StoredEvent::interaction("s-1", "a", "click", 1.0, 10)
            },
            StoredEvent::impression("s-1", &["a", "b"], 20),
        ];
        let moved = moved_events(&session, "alice", "s-1");
        assert_eq!(moved.len(), 2);
        assert!(moved
            .iter()
            .all(|e| e.user_id == "alice" && e.received_at_ms >= 20));
        assert_eq!(moved[0].event_id.as_deref(), Some("merged:s-1:e1"));
        assert_eq!(moved[1].event_id.as_deref(), Some("merged:s-1:1"));
        assert_eq!(moved[1].item_ids, ["a", "b"]);
        let again = moved_events(&session, "alice", "s-1");
        assert_eq!(
            again.iter().map(|e| &e.event_id).collect::<Vec<_>>(),
            moved.iter().map(|e| &e.event_id).collect::<Vec<_>>()
        );
    }
}
