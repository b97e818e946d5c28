//! What a version's offline figure was measured on.
//!
//! Every version records its holdout figures and the holdout they were measured on
//! (`metrics.holdout` of its model summary: how it was made, a fingerprint of its rows). Two
//! versions trained on different data are usually scored on different holdouts, and their
//! figures then do not compare: `topten versions` and the dashboard label each distinct
//! holdout with a letter and say so when there is more than one.

use crate::VersionInfo;

/// One version's headline holdout figure (NDCG@k) and what it was measured on.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HoldoutFigure {
    /// NDCG at the metrics' cut-off, when the version was evaluated.
    pub ndcg: Option<f64>,
    /// The cut-off k of the figure.
    pub k: Option<u64>,
    /// How the holdout was made, in words; `None` for versions published before holdouts
    /// were recorded, or without an evaluation.
    pub made_by: Option<String>,
    /// The fingerprint of the holdout's rows.
    pub fingerprint: Option<String>,
    /// Interactions held out.
    pub test_interactions: Option<u64>,
    /// Whether the published model was refitted on every row after the evaluation.
    pub refitted: Option<bool>,
}

impl HoldoutFigure {
    /// The figure of `version`, read from its model summary.
    pub fn of(version: &VersionInfo) -> Self {
        let metrics = version.model.get("metrics");
        let holdout = metrics.and_then(|m| m.get("holdout"));
        let text = |key: &str| {
            holdout
                .and_then(|h| h.get(key))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        HoldoutFigure {
            ndcg: metrics
                .and_then(|m| m.get("ndcg_at_k"))
                .and_then(|v| v.as_f64()),
            k: metrics.and_then(|m| m.get("k")).and_then(|v| v.as_u64()),
            made_by: text("madeBy"),
            fingerprint: text("fingerprint"),
            test_interactions: holdout
                .and_then(|h| h.get("testInteractions"))
                .and_then(|v| v.as_u64()),
            refitted: holdout
                .and_then(|h| h.get("refitted"))
                .and_then(|v| v.as_bool()),
        }
    }
}

/// A letter for each distinct holdout among some versions, in the order the versions come.
#[derive(Debug, Clone, Default)]
pub struct HoldoutLabels {
    /// Distinct fingerprints, the first one labelled A.
    fingerprints: Vec<String>,
    /// Whether some version has a figure but no recorded holdout.
    unrecorded: bool,
}

impl HoldoutLabels {
    /// The labels of the holdouts of `versions`' figures.
    pub fn of(versions: &[VersionInfo]) -> Self {
        let mut labels = HoldoutLabels::default();
        for v in versions {
            let f = HoldoutFigure::of(v);
            match (&f.fingerprint, f.ndcg) {
                (Some(fp), _) if !labels.fingerprints.contains(fp) => {
                    labels.fingerprints.push(fp.clone())
                }
                (None, Some(_)) => labels.unrecorded = true,
                _ => {}
            }
        }
        labels
    }

    /// The letter of `figure`'s holdout (A, B, …, then A2, B2, … past Z), `?` when it records
    /// none.
    pub fn label(&self, figure: &HoldoutFigure) -> String {
        let Some(fp) = &figure.fingerprint else {
            return "?".into();
        };
        match self.fingerprints.iter().position(|f| f == fp) {
            Some(n) => {
                let letter = char::from(b'A' + (n % 26) as u8);
                match n / 26 {
                    0 => letter.to_string(),
                    round => format!("{letter}{}", round + 1),
                }
            }
            None => "?".into(),
        }
    }

    /// `figure`'s holdout in a table cell: its letter, how it was made and its size.
    pub fn describe(&self, figure: &HoldoutFigure) -> String {
        if figure.ndcg.is_none() {
            return "-".into();
        }
        match (&figure.made_by, figure.test_interactions) {
            (Some(made_by), Some(n)) => format!(
                "{} ({n} rows of {made_by}{})",
                self.label(figure),
                if figure.refitted == Some(true) {
                    "; then refitted on every row"
                } else {
                    ""
                }
            ),
            _ => "? (not recorded)".into(),
        }
    }

    /// Whether all figures were measured on one recorded holdout.
    pub fn comparable(&self) -> bool {
        self.fingerprints.len() <= 1 && !self.unrecorded
    }

    /// A warning when the figures come from more than one holdout (or from unrecorded ones).
    pub fn note(&self) -> Option<String> {
        if self.comparable() {
            return None;
        }
        let distinct = self.fingerprints.len() + usize::from(self.unrecorded);
        Some(format!(
            "These figures were measured on {distinct} different holdouts{}: only figures with the same HOLDOUT letter compare. The retrain gate compares a candidate and the active version on one holdout.",
            if self.unrecorded {
                " (some not recorded, shown as ?)"
            } else {
                ""
            }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VersionStatus;

    fn version(id: &str, metrics: serde_json::Value) -> VersionInfo {
        VersionInfo {
            version: id.into(),
            status: VersionStatus::Complete,
            created_at: "2026-12-06T00:00:00Z".into(),
            expected_users: 1,
            users: 1,
            items_per_user: 10,
            model: serde_json::json!({ "metrics": metrics }),
            quality: None,
        }
    }

    fn holdout(fp: &str) -> serde_json::Value {
        serde_json::json!({"ndcg_at_k": 0.4, "k": 10, "holdout": {
            "madeBy": "stratified by user, 75% train, seed 42 split of u.data",
            "fingerprint": fp, "trainInteractions": 75, "testInteractions": 25, "refitted": true}})
    }

    /// Versions on one holdout compare; a second holdout, or an unrecorded one, is named.
    #[test]
    fn different_holdouts_are_flagged() {
        let same = [
            version("a", holdout("sha256:1")),
            version("b", holdout("sha256:1")),
        ];
        let labels = HoldoutLabels::of(&same);
        assert!(labels.comparable());
        assert_eq!(labels.note(), None);
        let f = HoldoutFigure::of(&same[1]);
        assert_eq!(labels.label(&f), "A");
        assert_eq!(
            labels.describe(&f),
            "A (25 rows of stratified by user, 75% train, seed 42 split of u.data; then refitted on every row)"
        );

        let mixed = [
            version("a", holdout("sha256:1")),
            version("b", holdout("sha256:2")),
        ];
        let labels = HoldoutLabels::of(&mixed);
        assert!(!labels.comparable());
        assert_eq!(labels.label(&HoldoutFigure::of(&mixed[1])), "B");
        assert!(labels.note().unwrap().contains("2 different holdouts"));

        let old = [
            version("a", holdout("sha256:1")),
            version("b", serde_json::json!({"ndcg_at_k": 0.5})),
        ];
        let labels = HoldoutLabels::of(&old);
        assert!(!labels.comparable());
        assert_eq!(
            labels.describe(&HoldoutFigure::of(&old[1])),
            "? (not recorded)"
        );
        assert!(labels.note().unwrap().contains("not recorded"));
    }
}
