//! Fewer repeats: items a user was shown again and again without responding sink in their list.
//!
//! The state is the user's own events (impressions and positive events), which fold-in reads
//! anyway, so the rule costs the GET path nothing: fold-in writes the list with the demoted
//! items after the others, and an impression that crosses the limit triggers that fold-in.
//! Items are demoted, not removed: a short list still fills, and a positive event on the item
//! clears its count.

use std::collections::{HashMap, HashSet};

use crate::attribution::{is_positive, Rules};
use topten_store::events::{StoredEvent, IMPRESSION};
use topten_store::ItemScore;

/// The default of `REPEAT_LIMIT`: demote an item after three impressions without a response.
pub const DEFAULT_REPEAT_LIMIT: u32 = 3;

/// Items `events` showed the user at least `limit` times since their last positive event on
/// the item (`limit` 0: none).
pub fn demoted(events: &[StoredEvent], limit: u32, rules: &Rules) -> HashSet<String> {
    if limit == 0 {
        return HashSet::new();
    }
    let mut shown: HashMap<&str, u32> = HashMap::new();
    for e in events {
        if e.kind == IMPRESSION {
            for item in &e.item_ids {
                *shown.entry(item.as_str()).or_default() += 1;
            }
        } else if is_positive(e, rules) {
            shown.remove(e.item_id.as_str());
        }
    }
    shown
        .into_iter()
        .filter(|&(_, n)| n >= limit)
        .map(|(item, _)| item.to_owned())
        .collect()
}

/// Moves the `demoted` items of `items` after the others, each group in its own order.
pub fn demote(items: &mut Vec<ItemScore>, demoted: &HashSet<String>) {
    if demoted.is_empty() {
        return;
    }
    let (mut kept, sunk): (Vec<_>, Vec<_>) = items
        .drain(..)
        .partition(|it| !demoted.contains(&it.item_id));
    kept.extend(sunk);
    *items = kept;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(items: &[&str]) -> StoredEvent {
        StoredEvent::impression("u", items, 1000)
    }

    fn event(kind: &str, item: &str) -> StoredEvent {
        StoredEvent::interaction("u", item, kind, 1.0, 1000)
    }

    #[test]
    fn three_ignored_impressions_demote_and_a_click_clears() {
        let rules = Rules::default();
        let mut events = vec![shown(&["a", "b"]), shown(&["a", "b"]), event("view", "b")];
        assert!(demoted(&events, 3, &rules).is_empty());
        events.push(shown(&["a", "b", "c"]));
        let d = demoted(&events, 3, &rules);
        assert_eq!(
            d,
            HashSet::from(["a".to_owned(), "b".to_owned()]),
            "a view is no response"
        );
        events.push(event("click", "a"));
        assert_eq!(demoted(&events, 3, &rules), HashSet::from(["b".to_owned()]));
        assert!(
            demoted(&events, 0, &rules).is_empty(),
            "0 turns the rule off"
        );

        let item = |id: &str| ItemScore {
            item_id: id.into(),
            score: 1.0,
            title: None,
        };
        let mut list = vec![item("b"), item("x"), item("a"), item("y")];
        demote(&mut list, &HashSet::from(["b".to_owned(), "a".to_owned()]));
        let ids: Vec<&str> = list.iter().map(|i| i.item_id.as_str()).collect();
        assert_eq!(ids, ["x", "y", "b", "a"]);
    }
}
