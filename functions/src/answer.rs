//! Which version answers a user, and the id each answer carries.
//!
//! While an experiment runs, a user's version follows their arm (the stable split of the
//! experiment kept in the active pointer, which every instance caches), so the choice costs
//! no store read. Every recommendations, similar-items and re-rank answer carries a
//! `recommendationId` naming its version and arm, for events to point back at.

use topten_experiments::{Arm, RecommendationId};
use topten_store::ActiveVersion;

use crate::answer_counter::AnswerCounter;

/// The version that answers `user_id`, its arm, and a fresh recommendation id for the answer.
/// The version is borrowed from the active pointer: choosing it allocates nothing. Making an
/// answer counts it (per version, arm and hour) for the online figures.
pub struct Answer<'a> {
    /// The version to read and score from.
    pub version: &'a str,
    /// The user's arm while an experiment runs.
    pub arm: Option<Arm>,
    /// The answer's id.
    pub recommendation_id: String,
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
        let recommendation_id = RecommendationId {
            version: version.to_owned(),
            arm,
            issued_ms: now_ms.max(0) as u64,
            nonce: rand::random(),
        }
        .encode();
        Answer {
            version,
            arm,
            recommendation_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The native answers' ids (`topten_experiments`) and the edge targets' ids
    /// (`topten_edge::body`) are one format: each reads what the other writes.
    #[test]
    fn native_and_edge_ids_are_one_format() {
        for (version, ms, nonce) in [("v1", 1u64, 0u64), ("v:2 é", 0x18f_0000_0000, u64::MAX)] {
            let native = RecommendationId {
                version: version.into(),
                arm: None,
                issued_ms: ms,
                nonce,
            };
            let edge = topten_edge::body::recommendation_id(version, "-", ms, nonce);
            assert_eq!(native.encode(), edge);
            assert_eq!(RecommendationId::parse(&edge).unwrap(), native);
        }
    }
}
