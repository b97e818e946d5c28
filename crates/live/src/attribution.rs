//! Attribution: which answer a positive event responds to.
//!
//! An event is attributed once, when it arrives, and the result is stored with it
//! ([`StoredEvent::attribution`]). The event log skips a retried event id, so a retry never
//! counts twice, and every report (per hour, per version, per experiment arm) is a sum over
//! stored events, with no counter to keep in step.
//!
//! The link, in order of preference:
//! 1. the event's `recommendationId`: exactly the answer the caller says it responds to;
//! 2. the user's most recent impression that listed the item;
//! 3. the list the user is served now (the first [`ANSWER_DEPTH`] items of their stored
//!    document in their arm's version), read on the event path, never on the GET path.
//!
//! Each must lie within the window (`ATTRIBUTION_WINDOW`, default 24 hours) before the event.
//! Impressions are attributed too, to the answer whose list they show, so that impressions and
//! clicks count against the same version and arm.

use topten_experiments::{Arm, RecommendationId};

pub use topten_store::events::{Attribution, Via};
use topten_store::events::{StoredEvent, IMPRESSION};

/// How many items of the stored list count as shown when neither an id nor an impression
/// names the answer: a page shows the top 10 by default.
pub const ANSWER_DEPTH: usize = 10;

/// How far an answer's time may lie after the event's and still count: client clocks (and the
/// whole seconds of event timestamps) are not the server's.
const CLOCK_SKEW_MS: i64 = 60_000;

/// The settings attribution follows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    /// How long after an answer an event may still be attributed to it (milliseconds).
    pub window_ms: i64,
    /// A rating at or above this counts as positive.
    pub positive_rating: f64,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            window_ms: 24 * 3_600_000,
            positive_rating: 4.0,
        }
    }
}

/// Whether `e` is positive feedback: a click, like, add to cart or purchase, or a rating at
/// or above the threshold. Views are not: a view says the item was opened, not liked.
pub fn is_positive(e: &StoredEvent, rules: &Rules) -> bool {
    match e.kind.as_str() {
        "click" | "like" | "add_to_cart" | "purchase" => true,
        "rating" => e.value >= rules.positive_rating,
        _ => false,
    }
}

/// Whether `e` is a conversion (a purchase).
pub fn is_conversion(e: &StoredEvent) -> bool {
    e.kind == "purchase"
}

/// What serves the user when their events arrive.
#[derive(Debug, Clone, Copy)]
pub struct ServingNow<'a> {
    /// Their version (their arm's while an experiment runs).
    pub version: &'a str,
    /// Their arm.
    pub arm: Option<Arm>,
    /// The running experiment's id.
    pub experiment: Option<&'a str>,
    /// The first [`ANSWER_DEPTH`] items of their stored list, if read.
    pub listed: &'a [String],
}

impl ServingNow<'_> {
    /// The answer the user is being served, as of `at_ms`: what an event without a better link
    /// is attributed to.
    fn answer(&self, at_ms: i64) -> Attribution {
        Attribution {
            version: self.version.to_owned(),
            arm: self.arm,
            experiment: self.experiment.map(str::to_owned),
            recommendation_id: None,
            via: Via::Answer,
            shown_ms: at_ms,
        }
    }
}

/// When `e` happened, epoch milliseconds.
fn event_ms(e: &StoredEvent) -> i64 {
    e.timestamp.saturating_mul(1000)
}

fn within(rules: &Rules, shown_ms: i64, at_ms: i64) -> bool {
    shown_ms <= at_ms.saturating_add(CLOCK_SKEW_MS) && at_ms - shown_ms <= rules.window_ms
}

/// The attribution an answer id gives, with the experiment the arm belongs to.
fn from_id(id: &str, now: &ServingNow, via: Via) -> Option<Attribution> {
    let parsed = RecommendationId::parse(id).ok()?;
    Some(Attribution {
        experiment: parsed.arm.and(now.experiment).map(str::to_owned),
        version: parsed.version,
        arm: parsed.arm,
        recommendation_id: Some(id.to_owned()),
        via,
        shown_ms: parsed.issued_ms.min(i64::MAX as u64) as i64,
    })
}

/// Attributes one user's new events (`batch`, in arrival order) given the user's `earlier`
/// stored events: impressions to the answer they show, positive events to the answer that
/// showed the item. Other events stay unattributed.
pub fn attribute(
    batch: &mut [StoredEvent],
    earlier: &[StoredEvent],
    now: &ServingNow,
    rules: &Rules,
) {
    for i in 0..batch.len() {
        let (before, rest) = batch.split_at_mut(i);
        let e = &mut rest[0];
        let at = event_ms(e);
        e.attribution = if e.kind == IMPRESSION {
            let by_id = e
                .recommendation_id
                .as_deref()
                .and_then(|id| from_id(id, now, Via::RecommendationId));
            Some(by_id.unwrap_or_else(|| now.answer(at)))
        } else if is_positive(e, rules) {
            let by_id = e
                .recommendation_id
                .as_deref()
                .and_then(|id| from_id(id, now, Via::RecommendationId))
                .filter(|a| within(rules, a.shown_ms, at));
            by_id
                .or_else(|| {
                    earlier
                        .iter()
                        .chain(before.iter())
                        .rev()
                        .filter(|s| s.kind == IMPRESSION && within(rules, event_ms(s), at))
                        .find(|s| s.item_ids.contains(&e.item_id))
                        .and_then(|s| s.attribution.clone())
                        .map(|a| Attribution {
                            via: Via::Impression,
                            ..a
                        })
                })
                .or_else(|| now.listed.contains(&e.item_id).then(|| now.answer(at)))
        } else {
            None
        };
    }
}

/// Whether attributing `batch` may need the user's served list (a positive event without an
/// id), so that the list is read only then.
pub fn needs_list(batch: &[StoredEvent], rules: &Rules) -> bool {
    batch
        .iter()
        .any(|e| e.recommendation_id.is_none() && is_positive(e, rules))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, item: &str, at_s: i64) -> StoredEvent {
        if kind == IMPRESSION {
            let items: Vec<&str> = item.split(',').collect();
            StoredEvent::impression("u", &items, at_s * 1000)
        } else {
            let value = if kind == "rating" { 5.0 } else { 1.0 };
            StoredEvent::interaction("u", item, kind, value, at_s * 1000)
        }
    }

    fn now<'a>(listed: &'a [String]) -> ServingNow<'a> {
        ServingNow {
            version: "v2",
            arm: Some(Arm::Candidate),
            experiment: Some("exp-1"),
            listed,
        }
    }

    #[test]
    fn an_id_wins_then_the_latest_impression_then_the_list() {
        let rules = Rules::default();
        let id = RecommendationId {
            version: "v1".into(),
            arm: Some(Arm::Control),
            issued_ms: 1_000_000,
            nonce: 7,
        }
        .encode();
        // An impression from an answer of v1 (control), shown at 1,000 s.
        let mut shown = event(IMPRESSION, "a,b", 1_000);
        shown.recommendation_id = Some(id.clone());
        let mut earlier = vec![shown];
        attribute(&mut earlier, &[], &now(&[]), &rules);
        let a = earlier[0].attribution.clone().unwrap();
        assert_eq!(
            (a.version.as_str(), a.arm, a.via),
            ("v1", Some(Arm::Control), Via::RecommendationId)
        );
        assert_eq!(a.experiment.as_deref(), Some("exp-1"));

        let listed = vec!["c".to_owned()];
        let mut batch = vec![
            event("click", "b", 2_000),  // the impression
            event("click", "c", 2_000),  // the list
            event("click", "z", 2_000),  // nothing showed it
            event("view", "a", 2_000),   // not positive
            event("rating", "a", 2_000), // positive rating: the impression
        ];
        attribute(&mut batch, &earlier, &now(&listed), &rules);
        let via: Vec<Option<Via>> = batch
            .iter()
            .map(|e| e.attribution.as_ref().map(|a| a.via))
            .collect();
        assert_eq!(
            via,
            [
                Some(Via::Impression),
                Some(Via::Answer),
                None,
                None,
                Some(Via::Impression)
            ]
        );
        let b = batch[0].attribution.as_ref().unwrap();
        assert_eq!(
            (b.version.as_str(), b.recommendation_id.as_deref()),
            ("v1", Some(id.as_str()))
        );
        assert_eq!(b.shown_ms, 1_000_000);
        let c = batch[1].attribution.as_ref().unwrap();
        assert_eq!((c.version.as_str(), c.arm), ("v2", Some(Arm::Candidate)));
    }

    #[test]
    fn the_window_bounds_every_link() {
        let rules = Rules {
            window_ms: 3_600_000,
            positive_rating: 4.0,
        };
        let mut shown = vec![event(IMPRESSION, "a", 1_000)];
        attribute(&mut shown, &[], &now(&[]), &rules);
        // An hour and a second later: too late for the impression.
        let mut late = vec![event("click", "a", 1_000 + 3_601)];
        attribute(&mut late, &shown, &now(&[]), &rules);
        assert_eq!(late[0].attribution, None);
        // An id issued after the event (beyond the clock skew) is not what it responds to.
        let mut early = event("click", "a", 1_000);
        early.recommendation_id = Some(
            RecommendationId {
                version: "v1".into(),
                arm: None,
                issued_ms: 1_000_000 + 120_000,
                nonce: 1,
            }
            .encode(),
        );
        let mut batch = vec![early];
        attribute(&mut batch, &[], &now(&[]), &rules);
        assert_eq!(batch[0].attribution, None);
        // Within the window: the impression in the same batch counts.
        let mut batch = vec![event(IMPRESSION, "a", 5_000), event("like", "a", 5_010)];
        attribute(&mut batch, &[], &now(&[]), &rules);
        assert_eq!(batch[1].attribution.as_ref().unwrap().via, Via::Impression);
        // A low rating is not positive.
        let mut low = event("rating", "a", 5_020);
        low.value = 2.0;
        assert!(!is_positive(&low, &rules));
    }
}
