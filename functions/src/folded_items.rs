//! The item factors solved from live events ([`topten_live::item_fold_in`]) as this instance
//! knows them: read from the store once per pointer cache lifetime (the ones solved since the
//! previous read, so an item solved on any instance is served everywhere within that time),
//! merged with the ones this instance solves, and the rule that an item is solved at most once
//! per `TOPTEN_ITEM_FOLD_IN_SECS` here: events for an item solved more recently wait, and the
//! item is solved once more when its interval has passed.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use topten_store::ItemFactor;

use crate::poll_window::PollWindow;

/// The folded items of one version, as this instance knows them.
#[derive(Default)]
pub struct FoldedItems {
    version: String,
    factors: HashMap<String, ItemFactor>,
    /// Moves on with every change of `factors`, so the serving model over them is made again.
    revision: u64,
    /// When the factors were last read ([`crate::poll_window`]).
    poll: PollWindow,
    /// When this instance last solved each item.
    solved: HashMap<String, Instant>,
    /// Items with events waiting for their interval to pass (a solve is scheduled).
    pending: HashSet<String>,
}

/// What [`FoldedItems::schedule`] decided for a batch's items.
#[derive(Debug, Default, PartialEq)]
pub struct Schedule {
    /// Items to solve now.
    pub now: Vec<String>,
    /// Items to solve once their interval has passed, and after how long.
    pub later: Vec<(String, Duration)>,
}

impl FoldedItems {
    /// Starts over for `version` when it is not the one held.
    fn for_version(&mut self, version: &str) {
        if self.version != version {
            *self = FoldedItems {
                version: version.to_owned(),
                ..FoldedItems::default()
            };
        }
    }

    /// The factors held for `version` and their revision.
    pub fn factors(&mut self, version: &str) -> (u64, Vec<ItemFactor>) {
        self.for_version(version);
        (self.revision, self.factors.values().cloned().collect())
    }

    /// The revision of the factors held for `version`, and whether there are any.
    pub fn revision(&mut self, version: &str) -> (u64, bool) {
        self.for_version(version);
        (self.revision, !self.factors.is_empty())
    }

    /// When `item`'s first live event the version lacks was received, if a factor records it.
    pub fn first_event_ms(&self, version: &str, item: &str) -> Option<i64> {
        (self.version == version)
            .then(|| self.factors.get(item))
            .flatten()
            .map(|f| f.first_event_ms)
            .filter(|&ms| ms > 0)
    }

    /// The time to read from when a poll of `version` is due (once per `ttl`), marking it
    /// begun; `None` when it is not due.
    pub fn poll_due(&mut self, version: &str, ttl: Duration) -> Option<i64> {
        self.for_version(version);
        self.poll.begin(ttl)
    }

    /// Takes what a poll of `version` begun at `started_ms` read, and factors this instance
    /// solved: an item's newer factor replaces its older one.
    pub fn merge(&mut self, version: &str, read: Vec<ItemFactor>, started_ms: Option<i64>) {
        self.for_version(version);
        if let Some(ms) = started_ms {
            self.poll.succeeded(ms);
        }
        let mut changed = false;
        for f in read {
            let newer = self
                .factors
                .get(&f.item_id)
                .is_none_or(|held| f.solved_ms >= held.solved_ms && *held != f);
            if newer {
                self.factors.insert(f.item_id.clone(), f);
                changed = true;
            }
        }
        if changed {
            self.revision += 1;
        }
    }

    /// Which of `items` (with events just now) `version` solves now and which later: an item
    /// solved here within `interval` waits for the rest of it, once (an item already waiting
    /// is left to its scheduled solve).
    pub fn schedule(&mut self, version: &str, items: Vec<String>, interval: Duration) -> Schedule {
        self.for_version(version);
        let mut out = Schedule::default();
        for item in items {
            if self.pending.contains(&item) {
                continue;
            }
            match self.solved.get(&item).map(Instant::elapsed) {
                Some(since) if since < interval => {
                    self.pending.insert(item.clone());
                    out.later.push((item, interval - since));
                }
                _ => {
                    self.solved.insert(item.clone(), Instant::now());
                    out.now.push(item);
                }
            }
        }
        out
    }

    /// `item`'s waiting time is over: it is solved now (by the caller).
    pub fn release(&mut self, version: &str, item: &str) {
        if self.version == version {
            self.pending.remove(item);
            self.solved.insert(item.to_owned(), Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn factor(item: &str, at: i64) -> ItemFactor {
        ItemFactor {
            item_id: item.into(),
            factor: vec![at as f32],
            users: 1,
            solved_ms: at,
            first_event_ms: 0,
        }
    }

    #[test]
    fn an_item_is_solved_at_most_once_per_interval() {
        let mut f = FoldedItems::default();
        let hour = Duration::from_secs(3600);
        let first = f.schedule("v1", vec!["a".into(), "b".into()], hour);
        assert_eq!(first.now, vec!["a".to_string(), "b".to_string()]);
        let second = f.schedule("v1", vec!["a".into(), "c".into()], hour);
        assert_eq!(second.now, vec!["c".to_string()]);
        assert_eq!(second.later.len(), 1);
        assert!(second.later[0].1 <= hour && second.later[0].1 > hour / 2);
        // Already waiting: no second scheduled solve.
        assert_eq!(
            f.schedule("v1", vec!["a".into()], hour),
            Schedule::default()
        );
        f.release("v1", "a");
        assert_eq!(f.schedule("v1", vec!["a".into()], hour).later.len(), 1);
        // With no interval, every batch solves.
        let mut f = FoldedItems::default();
        f.schedule("v1", vec!["a".into()], Duration::ZERO);
        assert_eq!(
            f.schedule("v1", vec!["a".into()], Duration::ZERO).now,
            vec!["a".to_string()]
        );
        // Another version starts over.
        assert_eq!(
            f.schedule("v2", vec!["a".into()], hour).now,
            vec!["a".to_string()]
        );
    }

    #[test]
    fn newer_factors_replace_older_ones_and_move_the_revision() {
        let mut f = FoldedItems::default();
        f.merge("v1", vec![factor("a", 10), factor("b", 10)], Some(100));
        let (rev, held) = f.factors("v1");
        assert_eq!((rev, held.len()), (1, 2));
        // An older or identical factor read again changes nothing.
        f.merge("v1", vec![factor("a", 5), factor("b", 10)], None);
        assert_eq!(f.factors("v1").0, 1);
        f.merge("v1", vec![factor("a", 20)], None);
        let (rev, held) = f.factors("v1");
        assert_eq!(rev, 2);
        assert!(held.contains(&factor("a", 20)));
        // Polls look back past the previous one, once per lifetime.
        let ttl = Duration::from_secs(60);
        assert_eq!(
            f.poll_due("v1", ttl),
            Some(100 - crate::poll_window::CLOCK_SKEW_MS)
        );
        assert_eq!(f.poll_due("v1", ttl), None);
        assert_eq!(f.factors("v2").1, vec![]);
    }
}
