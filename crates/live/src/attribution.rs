//! Attribution: which answer a positive event responds to.
//!
//! An event is attributed once, when it arrives, and the result is stored with it
//! ([`StoredEvent::attribution`]). The event log skips a retried event id, so a retry never
//! counts twice, and every report (per hour, per version, per experiment arm) is a sum over
//! stored events, with no counter to keep in step.
//!
//! The link, in order of preference:
//! 1. the event's `recommendationId`: exactly the answer the caller says it responds to, once
//!    the id checks ([`topten_edge::answer_id`]): signed by topten, served to this user, in a
//!    version that exists, listing the event's item (every item of an impression), within the
//!    window. An id that fails is not a link: the event is stored unattributed, the reason
//!    counted ([`Outcome::rejected`]), and no other link is tried, so a forged or borrowed id
//!    never reaches the figures;
//! 2. the user's most recent impression that listed the item;
//! 3. the list the user is served now (the first [`ANSWER_DEPTH`] items of their stored
//!    document in their arm's version), read on the event path, never on the GET path.
//!
//! An impression without an id is attributed to the answer the user is served now, and only
//! when every item it names is on that list: otherwise a client could post an impression of
//! anything and have its clicks credited.
//!
//! Each must lie within the window (`ATTRIBUTION_WINDOW`, default 24 hours) before the event.
//! Impressions are attributed too, to the answer whose list they show, so that impressions and
//! clicks count against the same version and arm.

use topten_edge::answer_id::{AnswerId, IdKeys, Rejected};
use topten_experiments::Arm;

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

/// What checking an event's `recommendationId` needs: the keys answers are signed with, and
/// which versions exist.
pub struct IdCheck<'a> {
    /// The id keys (`TOPTEN_ID_KEY`).
    pub keys: &'a IdKeys,
    /// Whether a version of that name exists (complete).
    pub version_exists: &'a (dyn Fn(&str) -> bool + Sync),
}

/// The versions the ids of `batch` name (parseable ids only): what [`IdCheck::version_exists`]
/// is asked about, so a caller can look them up before attributing.
pub fn versions_named(batch: &[StoredEvent]) -> Vec<&str> {
    let mut out: Vec<&str> = batch
        .iter()
        .filter_map(|e| e.recommendation_id.as_deref())
        .filter_map(|id| AnswerId::parse(id).ok())
        .map(|id| id.version)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// What attributing a batch found besides the attributions it stored with the events.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Events whose id did not check, and why: stored unattributed.
    pub rejected: Vec<Rejected>,
}

fn arm_of(text: &str) -> Option<Arm> {
    match text {
        "control" => Some(Arm::Control),
        "candidate" => Some(Arm::Candidate),
        _ => None,
    }
}

/// The attribution `e`'s id gives, if the id checks: signed for `e`'s user, in a version that
/// exists, listing `e`'s item (every item, for an impression), shown within the window.
fn from_id(
    e: &StoredEvent,
    id: &str,
    now: &ServingNow,
    check: &IdCheck,
    rules: &Rules,
) -> Result<Attribution, Rejected> {
    let parsed = AnswerId::parse(id)?;
    let listed = check.keys.verify(&parsed, &e.user_id)?;
    if !(check.version_exists)(parsed.version) {
        return Err(Rejected::UnknownVersion);
    }
    let shown = |item: &String| listed.contains(item);
    let all_listed = if e.kind == IMPRESSION {
        e.item_ids.iter().all(shown)
    } else {
        shown(&e.item_id)
    };
    if !all_listed {
        return Err(Rejected::NotListed);
    }
    let shown_ms = parsed.issued_ms.min(i64::MAX as u64) as i64;
    if !within(rules, shown_ms, event_ms(e)) {
        return Err(Rejected::OutsideWindow);
    }
    let arm = arm_of(parsed.arm);
    Ok(Attribution {
        experiment: arm.and(now.experiment).map(str::to_owned),
        version: parsed.version.to_owned(),
        arm,
        recommendation_id: Some(id.to_owned()),
        via: Via::RecommendationId,
        shown_ms,
    })
}

/// Attributes one user's new events (`batch`, in arrival order) given the user's `earlier`
/// stored events: impressions to the answer they show, positive events to the answer that
/// showed the item. Other events, and events whose id does not check, stay unattributed.
pub fn attribute(
    batch: &mut [StoredEvent],
    earlier: &[StoredEvent],
    now: &ServingNow,
    rules: &Rules,
    check: &IdCheck,
) -> Outcome {
    let mut outcome = Outcome::default();
    for i in 0..batch.len() {
        let (before, rest) = batch.split_at_mut(i);
        let e = &mut rest[0];
        let at = event_ms(e);
        let counts = e.kind == IMPRESSION || is_positive(e, rules);
        if let (true, Some(id)) = (counts, e.recommendation_id.as_deref()) {
            e.attribution = match from_id(e, id, now, check, rules) {
                Ok(a) => Some(a),
                Err(reason) => {
                    outcome.rejected.push(reason);
                    None
                }
            };
            continue;
        }
        e.attribution = if e.kind == IMPRESSION {
            // Without an id, only what the user is being served can have been shown: an
            // impression naming anything else cannot make its items creditable.
            e.item_ids
                .iter()
                .all(|i| now.listed.contains(i))
                .then(|| now.answer(at))
        } else if is_positive(e, rules) {
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
                .or_else(|| now.listed.contains(&e.item_id).then(|| now.answer(at)))
        } else {
            None
        };
    }
    outcome
}

/// Whether attributing `batch` may need the user's served list (an impression or a positive
/// event without an id), so that the list is read only then.
pub fn needs_list(batch: &[StoredEvent], rules: &Rules) -> bool {
    batch
        .iter()
        .any(|e| e.recommendation_id.is_none() && (e.kind == IMPRESSION || is_positive(e, rules)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use topten_edge::answer_id::Stamp;

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

    fn keys() -> IdKeys {
        IdKeys::from_setting("a-test-key-of-some-length").unwrap()
    }

    /// Versions v1 and v2 exist.
    fn check(keys: &IdKeys) -> IdCheck<'_> {
        IdCheck {
            keys,
            version_exists: &|v: &str| v == "v1" || v == "v2",
        }
    }

    fn id(
        keys: &IdKeys,
        version: &str,
        arm: &str,
        at_ms: u64,
        user: &str,
        items: &[&str],
    ) -> String {
        let stamp = Stamp {
            version,
            arm,
            issued_ms: at_ms,
            nonce: 7,
        };
        keys.sign(&stamp, Some(user), items.iter().copied())
    }

    #[test]
    fn an_id_wins_then_the_latest_impression_then_the_list() {
        let (rules, keys) = (Rules::default(), keys());
        let id = id(&keys, "v1", "control", 1_000_000, "u", &["a", "b"]);
        // An impression from an answer of v1 (control), shown at 1,000 s.
        let mut shown = event(IMPRESSION, "a,b", 1_000);
        shown.recommendation_id = Some(id.clone());
        let mut earlier = vec![shown];
        let outcome = attribute(&mut earlier, &[], &now(&[]), &rules, &check(&keys));
        assert_eq!(outcome, Outcome::default());
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
        attribute(&mut batch, &earlier, &now(&listed), &rules, &check(&keys));
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

    /// The attack and its variants: each id fails for its own reason, the event is
    /// stored unattributed, and no other link is tried for it.
    #[test]
    fn an_id_that_does_not_check_leaves_the_event_unattributed() {
        let (rules, keys) = (Rules::default(), keys());
        let at = 500_000_000;
        // What the server gave user u: v1 (candidate) listing a and b.
        let genuine = id(&keys, "v1", "candidate", at, "u", &["a", "b"]);
        let forged_key = IdKeys::from_setting("somebody-elses-key-123").unwrap();
        let cases: Vec<(String, &str, Rejected)> = vec![
            // Made up in the r1 form of older releases.
            (
                "r1:v1:candidate:4c4b400000000000000001".into(),
                "a",
                Rejected::Malformed,
            ),
            // Signed with another key.
            (
                id(&forged_key, "v1", "candidate", at, "u", &["a"]),
                "a",
                Rejected::Signature,
            ),
            // User w's id replayed by u.
            (
                id(&keys, "v1", "candidate", at, "w", &["a"]),
                "a",
                Rejected::Signature,
            ),
            // A version that does not exist.
            (
                id(&keys, "v9", "candidate", at, "u", &["a"]),
                "a",
                Rejected::UnknownVersion,
            ),
            // An item the answer did not list.
            (genuine.clone(), "z", Rejected::NotListed),
            // Issued two days before the event.
            (
                id(&keys, "v1", "-", at - 2 * 86_400_000, "u", &["a"]),
                "a",
                Rejected::OutsideWindow,
            ),
        ];
        // The user was served `a` now, and an impression listed it: neither may stand in.
        let listed = vec!["a".to_owned(), "z".to_owned()];
        let mut impression = event(IMPRESSION, "a,z", 499_990);
        impression.attribution = Some(now(&[]).answer(499_990_000));
        for (rid, item, reason) in cases {
            let mut e = event("purchase", item, 500_000);
            e.recommendation_id = Some(rid.clone());
            let mut batch = vec![e];
            let outcome = attribute(
                &mut batch,
                std::slice::from_ref(&impression),
                &now(&listed),
                &rules,
                &check(&keys),
            );
            assert_eq!(outcome.rejected, [reason], "{rid}");
            assert_eq!(batch[0].attribution, None, "{rid}");
        }
        // The genuine id for a listed item is credited.
        let mut e = event("purchase", "b", 500_000);
        e.recommendation_id = Some(genuine);
        let mut batch = vec![e];
        attribute(&mut batch, &[], &now(&[]), &rules, &check(&keys));
        let a = batch[0].attribution.as_ref().unwrap();
        assert_eq!((a.version.as_str(), a.arm), ("v1", Some(Arm::Candidate)));
        // An impression naming an item its id did not list is not credited either.
        let mut shown = event(IMPRESSION, "a,z", 500_000);
        shown.recommendation_id = Some(id(&keys, "v1", "-", at, "u", &["a", "b"]));
        let mut batch = vec![shown];
        let outcome = attribute(&mut batch, &[], &now(&[]), &rules, &check(&keys));
        assert_eq!(outcome.rejected, [Rejected::NotListed]);
        assert_eq!(batch[0].attribution, None);
    }

    /// Without an id, an impression counts only when it shows what the user is served.
    #[test]
    fn an_impression_without_an_id_must_show_the_served_list() {
        let (rules, keys) = (Rules::default(), keys());
        let listed = vec!["a".to_owned(), "b".to_owned()];
        let mut batch = vec![
            event(IMPRESSION, "a,b", 1_000),
            event(IMPRESSION, "a,x", 1_000),
            event("purchase", "x", 1_010),
        ];
        attribute(&mut batch, &[], &now(&listed), &rules, &check(&keys));
        assert!(batch[0].attribution.is_some());
        assert_eq!(batch[1].attribution, None);
        assert_eq!(batch[2].attribution, None);
        assert!(needs_list(&batch, &rules));
    }

    #[test]
    fn the_window_bounds_every_link() {
        let keys = keys();
        let rules = Rules {
            window_ms: 3_600_000,
            positive_rating: 4.0,
        };
        let listed = vec!["a".to_owned()];
        let mut shown = vec![event(IMPRESSION, "a", 1_000)];
        attribute(&mut shown, &[], &now(&listed), &rules, &check(&keys));
        assert!(shown[0].attribution.is_some());
        // An hour and a second later: too late for the impression.
        let mut late = vec![event("click", "a", 1_000 + 3_601)];
        attribute(&mut late, &shown, &now(&[]), &rules, &check(&keys));
        assert_eq!(late[0].attribution, None);
        // An id issued after the event (beyond the clock skew) is not what it responds to.
        let mut early = event("click", "a", 1_000);
        early.recommendation_id = Some(id(&keys, "v1", "-", 1_000_000 + 120_000, "u", &["a"]));
        let mut batch = vec![early];
        let outcome = attribute(&mut batch, &[], &now(&[]), &rules, &check(&keys));
        assert_eq!(outcome.rejected, [Rejected::OutsideWindow]);
        assert_eq!(batch[0].attribution, None);
        // Within the window: the impression in the same batch counts.
        let mut batch = vec![event(IMPRESSION, "a", 5_000), event("like", "a", 5_010)];
        attribute(&mut batch, &[], &now(&listed), &rules, &check(&keys));
        assert_eq!(batch[1].attribution.as_ref().unwrap().via, Via::Impression);
        // A low rating is not positive.
        let mut low = event("rating", "a", 5_020);
        low.value = 2.0;
        assert!(!is_positive(&low, &rules));
    }

    #[test]
    fn versions_named_lists_each_parseable_ids_version_once() {
        let keys = keys();
        let mut a = event("click", "a", 1);
        a.recommendation_id = Some(id(&keys, "v2", "-", 1, "u", &["a"]));
        let mut b = event("click", "a", 1);
        b.recommendation_id = Some(id(&keys, "v1", "-", 1, "u", &["a"]));
        let mut c = b.clone();
        c.recommendation_id = Some("junk".into());
        assert_eq!(versions_named(&[a.clone(), b, a, c]), ["v1", "v2"]);
    }
}
