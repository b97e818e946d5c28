//! Recommendation ids: every answer names the version and the experiment arm that served it,
//! so a click that comes back with the id is attributed to exactly that answer, and reports
//! can count by version and arm without a lookup.
//!
//! Text form: `r1:{version}:{arm}:{issued ms, hex}{nonce, 16 hex}`, where arm is `control`,
//! `candidate` or `-` (no experiment). Version ids may hold any character but a line break,
//! so the id is parsed from the right: the last two fields have fixed forms. `r1` versions the
//! format.

use crate::Arm;

/// What a recommendation id says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecommendationId {
    /// The model version that served the answer.
    pub version: String,
    /// The experiment arm, when an experiment was running.
    pub arm: Option<Arm>,
    /// When the answer was served (epoch milliseconds).
    pub issued_ms: u64,
    /// Random bits that make ids of the same millisecond differ.
    pub nonce: u64,
}

/// Why a string is not a recommendation id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a recommendation id (r1:VERSION:ARM:TIME+NONCE)")]
pub struct NotARecommendationId(pub String);

impl RecommendationId {
    /// The text form.
    pub fn encode(&self) -> String {
        // The edge targets write the same text for their arm-less answers
        // (`topten_edge::body::recommendation_id`); a test of the service holds the two to it.
        format!(
            "r1:{}:{}:{:x}{:016x}",
            self.version,
            self.arm.map_or("-", Arm::as_str),
            self.issued_ms,
            self.nonce
        )
    }

    /// Parses the text form.
    pub fn parse(s: &str) -> Result<Self, NotARecommendationId> {
        let bad = || NotARecommendationId(s.chars().take(80).collect());
        let rest = s.strip_prefix("r1:").ok_or_else(bad)?;
        let (rest, stamp) = rest.rsplit_once(':').ok_or_else(bad)?;
        let (version, arm) = rest.rsplit_once(':').ok_or_else(bad)?;
        let arm = match arm {
            "-" => None,
            "control" => Some(Arm::Control),
            "candidate" => Some(Arm::Candidate),
            _ => return Err(bad()),
        };
        if version.is_empty()
            || version.contains(['\n', '\r'])
            || stamp.len() <= 16
            || stamp.len() > 32
        {
            return Err(bad());
        }
        let (ms, nonce) = stamp.split_at(stamp.len() - 16);
        Ok(RecommendationId {
            version: version.to_owned(),
            arm,
            issued_ms: u64::from_str_radix(ms, 16).map_err(|_| bad())?,
            nonce: u64::from_str_radix(nonce, 16).map_err(|_| bad())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_what_they_are_not() {
        for (version, arm) in [
            ("v20261127T192605Z-1402d2", None),
            ("v1", Some(Arm::Candidate)),
            ("nightly:2026:11", Some(Arm::Control)),
        ] {
            let id = RecommendationId {
                version: version.into(),
                arm,
                issued_ms: 1_764_270_000_123,
                nonce: 0xdead_beef,
            };
            let text = id.encode();
            assert_eq!(RecommendationId::parse(&text).unwrap(), id, "{text}");
        }
        let id = RecommendationId {
            version: "v1".into(),
            arm: None,
            issued_ms: 255,
            nonce: 1,
        };
        assert_eq!(id.encode(), "r1:v1:-:ff0000000000000001");
        for bad in [
            "",
            "r1:",
            "r2:v1:-:ff0000000000000001",
            "r1:v1:blue:ff0000000000000001",
            "r1::-:ff0000000000000001",
            "r1:v1:-:0000000000000001",
            "r1:v1:-:zz0000000000000001",
        ] {
            assert!(RecommendationId::parse(bad).is_err(), "{bad}");
        }
    }
}
