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

/// Appends `value` in lower-case hex, zero-padded to at least `width` digits (`{:0width$x}`).
fn push_hex(out: &mut String, value: u64, width: usize) {
    let digits = (16 - value.leading_zeros() as usize / 4).max(width);
    for shift in (0..digits).rev() {
        let nibble = (value >> (4 * shift)) as u8 & 0xf;
        out.push(char::from(b"0123456789abcdef"[nibble as usize]));
    }
}

impl RecommendationId {
    /// The text form.
    pub fn encode(&self) -> String {
        // The edge targets write the same text for their arm-less answers
        // (`topten_edge::body::recommendation_id`); a test of the service holds the two to it.
        // Written by hand, not with `format!`: every answer makes one, on the GET path.
        let arm = self.arm.map_or("-", Arm::as_str);
        let mut out = String::with_capacity(6 + self.version.len() + arm.len() + 32);
        out.push_str("r1:");
        out.push_str(&self.version);
        out.push(':');
        out.push_str(arm);
        out.push(':');
        push_hex(&mut out, self.issued_ms, 1);
        push_hex(&mut out, self.nonce, 16);
        out
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

    /// The hand-written hex is `format!`'s, at both widths the ids use.
    #[test]
    fn push_hex_is_formats_hex() {
        for v in [
            0,
            1,
            0xf,
            0x10,
            0xdead_beef,
            1_764_270_000_123,
            u64::MAX >> 4,
            u64::MAX,
        ] {
            for width in [1, 16] {
                let mut out = String::new();
                push_hex(&mut out, v, width);
                assert_eq!(out, format!("{v:0width$x}"), "{v} at width {width}");
            }
        }
    }

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
