//! Retention: what the store keeps, for how long, and the pass that deletes the rest.
//!
//! Three settings, each a duration with a unit (`60s`, `12h`, `90d`); unset keeps forever:
//! - `TOPTEN_EVENTS_RETENTION`: events, judged by the time each event *happened* (its own
//!   timestamp), so an old event that arrives late is already past retention;
//! - `TOPTEN_ITEM_CHANGES_RETENTION`: live item changes, by the time they were made;
//! - `TOPTEN_ANSWER_COUNTS_RETENTION`: the answer counts of instances that stopped saving.
//!
//! # What each version still needs
//! A version serves a user from their stored list and, on fold-in, from the training history
//! stored with the version plus the user's events received at or after the version's
//! `events_after_ms` (the events its training did not see). So the versions that serve now
//! (the active one, and an experiment's candidate) need every event received at or after the
//! smallest of their `events_after_ms`; older events are in their histories already. A pass
//! never deletes an event a serving version needs: an event past retention that a serving
//! version still folds in goes at the first pass after a version trained on later data serves
//! (every retrain moves the bound forward). The retrain itself never trains on an event past
//! retention. Likewise a live item change goes only once every serving version was published
//! after it (publishing carries live changes into the version's catalogue).
//!
//! The pass deletes in batches of [`BATCH`], one bounded write each, pausing between batches,
//! so GETs are never stalled behind one long write.

use std::time::Duration;

use topten_model::clock::parse_rfc3339_ms;
use topten_model::serving_model::ServingModel;
use topten_store::{EventsDue, Store, StoreError};

/// Deletions per write of a pass.
pub const BATCH: usize = 500;

/// How long each kind of data is kept (`None`: forever).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// `TOPTEN_EVENTS_RETENTION`.
    pub events: Option<Duration>,
    /// `TOPTEN_ITEM_CHANGES_RETENTION`.
    pub item_changes: Option<Duration>,
    /// `TOPTEN_ANSWER_COUNTS_RETENTION`.
    pub answer_counts: Option<Duration>,
}

/// A retention setting that is not a duration with a unit (the message names the setting).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RetentionError(pub String);

/// Parses a retention duration ([`topten_store::env_setting::retention`]).
pub fn parse_duration(setting: &'static str, value: &str) -> Result<Duration, RetentionError> {
    topten_store::env_setting::retention(setting, value).map_err(RetentionError)
}

impl Retention {
    /// From the environment (unset or empty: kept forever).
    pub fn from_env() -> Result<Self, RetentionError> {
        let read = |setting: &'static str| {
            topten_store::env_setting::env_retention(setting).map_err(RetentionError)
        };
        Ok(Retention {
            events: read("TOPTEN_EVENTS_RETENTION")?,
            item_changes: read("TOPTEN_ITEM_CHANGES_RETENTION")?,
            answer_counts: read("TOPTEN_ANSWER_COUNTS_RETENTION")?,
        })
    }

    /// Whether anything ends.
    pub fn is_set(&self) -> bool {
        self.events.is_some() || self.item_changes.is_some() || self.answer_counts.is_some()
    }

    /// Whether an event that happened at `happened_ms` is past retention at `now_ms`.
    pub fn event_expired(&self, happened_ms: i64, now_ms: i64) -> bool {
        self.events
            .is_some_and(|d| happened_ms < now_ms.saturating_sub(d.as_millis() as i64))
    }
}

/// What the serving versions still need: events received at or after `events_from_ms`, and
/// live item changes made at or after `changes_from_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InUse {
    /// The smallest `events_after_ms` of the serving versions that fold in (`i64::MAX` when none
    /// does).
    pub events_from_ms: i64,
    /// The oldest creation time of the serving versions (`i64::MAX` without one).
    pub changes_from_ms: i64,
}

/// What the versions serving now (the active one and an experiment's candidate) need.
pub async fn in_use(store: &dyn Store) -> Result<InUse, StoreError> {
    let mut in_use = InUse {
        events_from_ms: i64::MAX,
        changes_from_ms: i64::MAX,
    };
    let Some(active) = store.active().await? else {
        return Ok(in_use);
    };
    let mut serving = vec![active.version.clone()];
    serving.extend(active.experiment.map(|e| e.candidate));
    for version in serving {
        if let Some(bytes) = store.serving_model(&version).await? {
            let from =
                ServingModel::decode_events_after_ms(&bytes).map_err(|e| StoreError::Backend {
                    backend: store.backend(),
                    message: format!("version {version}: {e}"),
                })?;
            in_use.events_from_ms = in_use.events_from_ms.min(from);
        }
        if let Some(info) = store.version(&version).await? {
            // A creation time that does not parse keeps every change (the safe side).
            let created = parse_rfc3339_ms(&info.created_at).unwrap_or(i64::MIN);
            in_use.changes_from_ms = in_use.changes_from_ms.min(created);
        }
    }
    Ok(in_use)
}

/// What one pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Swept {
    /// Events.
    pub events: usize,
    /// Live item changes.
    pub item_changes: usize,
    /// Answer-count documents of instances that stopped saving.
    pub answer_counts: usize,
}

/// One retention pass at `now_ms`: deletes in batches of [`BATCH`], sleeping `pause` between
/// batches, until nothing more is due.
pub async fn sweep(
    store: &dyn Store,
    retention: &Retention,
    now_ms: i64,
    pause: Duration,
) -> Result<Swept, StoreError> {
    let mut swept = Swept::default();
    if !retention.is_set() {
        return Ok(swept);
    }
    let in_use = in_use(store).await?;
    let cutoff = |d: Duration| now_ms.saturating_sub(d.as_millis() as i64);
    if let Some(d) = retention.events {
        loop {
            let due = EventsDue {
                happened_before_ms: cutoff(d),
                received_before_ms: in_use.events_from_ms,
            };
            let n = store.prune_events(due, BATCH).await?;
            swept.events += n;
            if n < BATCH {
                break;
            }
            tokio::time::sleep(pause).await;
        }
    }
    if let Some(d) = retention.item_changes {
        let before = cutoff(d).min(in_use.changes_from_ms);
        loop {
            let n = store.prune_item_changes(before, BATCH).await?;
            swept.item_changes += n;
            if n < BATCH {
                break;
            }
            tokio::time::sleep(pause).await;
        }
    }
    if let Some(d) = retention.answer_counts {
        swept.answer_counts = store.prune_answer_counts(cutoff(d)).await?;
    }
    Ok(swept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("X", "60s").unwrap(), Duration::from_secs(60));
        assert_eq!(
            parse_duration("X", "12h").unwrap(),
            Duration::from_secs(12 * 3600)
        );
        assert_eq!(
            parse_duration("X", "90d").unwrap(),
            Duration::from_secs(90 * 86_400)
        );
        assert_eq!(
            parse_duration("X", " 1h 30m ").unwrap(),
            Duration::from_secs(5400)
        );
        for bad in ["60", "", "soon", "0s", "500ms", "-1d", "1 fortnight"] {
            let e = parse_duration("TOPTEN_EVENTS_RETENTION", bad).unwrap_err();
            assert!(e.to_string().contains("TOPTEN_EVENTS_RETENTION"), "{e}");
        }
    }

    #[test]
    fn events_expire_by_their_own_time() {
        let r = Retention {
            events: Some(Duration::from_secs(60)),
            ..Retention::default()
        };
        assert!(r.event_expired(0, 60_001));
        assert!(!r.event_expired(1, 60_001));
        assert!(!Retention::default().event_expired(0, i64::MAX));
    }
}
