//! Which version answers a user, and the signed id each answer carries.
//!
//! While an experiment runs, a user's version follows their arm (the stable split of the
//! experiment kept in the active pointer, which every instance caches), so the choice costs
//! no store read. Every recommendations, similar-items and re-rank answer carries a
//! `recommendationId` (`topten_edge::answer_id`): signed, naming its version, arm, user and
//! items, for events to point back at. The id is made last, from the items the answer holds.

use std::borrow::Cow;

use topten_edge::answer_id::{IdKeys, Stamp};
use topten_experiments::Arm;
use topten_store::ActiveVersion;

use crate::answer_counter::AnswerCounter;

/// The version that answers `user_id`, its arm, and when the answer is given. The version is
/// borrowed from the active pointer: choosing it allocates nothing. Making an answer counts
/// it (per version, arm and hour) for the online figures.
pub struct Answer<'a> {
    /// The version to read and score from.
    pub version: &'a str,
    /// The user's arm while an experiment runs.
    pub arm: Option<Arm>,
    /// When the answer is given (epoch milliseconds).
    pub issued_ms: u64,
    /// Random bits of its id.
    pub nonce: u64,
}

impl<'a> Answer<'a> {
    /// The answer for `user_id` under `active`.
    pub fn for_user(
        active: &'a ActiveVersion,
        user_id: &str,
        counter: &AnswerCounter,
    ) -> Answer<'a> {
        let (version, arm) = active.serving(user_id);
        Answer::of(version, arm, counter)
    }

    /// An answer from `version` that no user decides (similar items; trending).
    pub fn of(version: &'a str, arm: Option<Arm>, counter: &AnswerCounter) -> Answer<'a> {
        let now_ms = topten_model::clock::now_ms();
        counter.count(version, arm, now_ms);
        Answer {
            version,
            arm,
            issued_ms: now_ms.max(0) as u64,
            nonce: rand::random(),
        }
    }

    /// The answer's id, for `user` (`None`: no user asked) listing `items`.
    pub fn id<'i>(
        &self,
        keys: &IdKeys,
        user: Option<&str>,
        items: impl IntoIterator<Item = &'i str>,
    ) -> String {
        let stamp = Stamp {
            version: self.version,
            arm: self.arm.map_or("-", Arm::as_str),
            issued_ms: self.issued_ms,
            nonce: self.nonce,
        };
        keys.sign(&stamp, user, items)
    }
}

/// One item of an answer's JSON array: its id only (other fields are skipped unread).
#[derive(serde::Deserialize)]
struct ListedItem<'a> {
    #[serde(rename = "itemId", borrow)]
    item_id: Cow<'a, str>,
}

/// The item ids of an answer's items, as JSON (`[{"itemId":..}, ..]`), in order: what its id
/// lists. Every list path ends in such an array, so one reader serves them all.
pub fn item_ids(items_json: &[u8]) -> Result<Vec<Cow<'_, str>>, serde_json::Error> {
    let items: Vec<ListedItem<'_>> = serde_json::from_slice(items_json)?;
    Ok(items.into_iter().map(|i| i.item_id).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use topten_edge::answer_id::AnswerId;

    /// The native answers' ids (`functions`) and the edge targets' (`topten_edge::route`) are
    /// one format: each verifies what the other writes.
    #[test]
    fn ids_list_the_items_of_the_json_and_verify() {
        let keys = IdKeys::from_setting("a-key-for-this-test").unwrap();
        let counter = AnswerCounter::new("test".into());
        let answer = Answer::of("v1", Some(Arm::Control), &counter);
        let json = br#"[{"itemId":"a","score":1.0,"title":"{\"itemId\":\"x\"}"},{"because":[{"itemId":"y"}],"itemId":"b\u00e9"}]"#;
        let ids = item_ids(json).unwrap();
        assert_eq!(ids, ["a", "bé"]);
        let id = answer.id(&keys, Some("u1"), ids.iter().map(|c| c.as_ref()));
        let parsed = AnswerId::parse(&id).unwrap();
        assert_eq!((parsed.version, parsed.arm), ("v1", "control"));
        let listed = keys.verify(&parsed, "u1").unwrap();
        assert!(listed.contains("a") && listed.contains("bé"));
        assert!(!listed.contains("x") && !listed.contains("y"));
    }
}
