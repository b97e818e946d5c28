//! What a search optimises: one figure of a validation run (accuracy, or a beyond-accuracy
//! figure) and any number of bounds on others, such as `catalog_coverage>=0.30`.

use crate::beyond_accuracy::BeyondAccuracy;
use crate::metrics::RankingMetrics;

/// A figure of a validation run, named as in `metrics.json` (Recommenders' function names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    /// NDCG@k.
    NdcgAtK,
    /// Precision@k.
    PrecisionAtK,
    /// Recall@k.
    RecallAtK,
    /// MAP@k.
    MapAtK,
    /// Distinct recommended items / distinct training items.
    CatalogCoverage,
    /// Entropy of the recommendations over items.
    DistributionalCoverage,
    /// Mean self-information of recommended items.
    Novelty,
    /// Mean intra-list dissimilarity.
    Diversity,
    /// Mean dissimilarity to each user's history.
    Serendipity,
}

const NAMES: [(&str, Figure); 9] = [
    ("ndcg_at_k", Figure::NdcgAtK),
    ("precision_at_k", Figure::PrecisionAtK),
    ("recall_at_k", Figure::RecallAtK),
    ("map_at_k", Figure::MapAtK),
    ("catalog_coverage", Figure::CatalogCoverage),
    ("distributional_coverage", Figure::DistributionalCoverage),
    ("novelty", Figure::Novelty),
    ("diversity", Figure::Diversity),
    ("serendipity", Figure::Serendipity),
];

impl Figure {
    /// The figure's value in a validation run.
    pub fn value(self, ranking: &RankingMetrics, beyond: &BeyondAccuracy) -> f64 {
        match self {
            Figure::NdcgAtK => ranking.ndcg_at_k,
            Figure::PrecisionAtK => ranking.precision_at_k,
            Figure::RecallAtK => ranking.recall_at_k,
            Figure::MapAtK => ranking.map_at_k,
            Figure::CatalogCoverage => beyond.catalog_coverage,
            Figure::DistributionalCoverage => beyond.distributional_coverage,
            Figure::Novelty => beyond.novelty,
            Figure::Diversity => beyond.diversity,
            Figure::Serendipity => beyond.serendipity,
        }
    }

    /// Whether it measures accuracy against held-out interactions.
    pub fn is_accuracy(self) -> bool {
        matches!(
            self,
            Figure::NdcgAtK | Figure::PrecisionAtK | Figure::RecallAtK | Figure::MapAtK
        )
    }
}

impl std::str::FromStr for Figure {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        NAMES
            .iter()
            .find(|(n, _)| *n == s || n.strip_suffix("_at_k") == Some(s))
            .map(|&(_, f)| f)
            .ok_or_else(|| {
                let names: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
                format!(
                    "{s:?} is not a figure; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

impl std::fmt::Display for Figure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = NAMES.iter().find(|(_, x)| x == self).map(|(n, _)| *n);
        f.write_str(name.expect("every figure has a name"))
    }
}

/// Which side of the bound a figure must stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// `>=`: a floor.
    AtLeast,
    /// `<=`: a ceiling.
    AtMost,
}

/// A bound on one figure: `catalog_coverage>=0.30`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Constraint {
    /// The figure bounded.
    pub figure: Figure,
    /// Floor or ceiling.
    pub bound: Bound,
    /// The bound.
    pub value: f64,
}

impl Constraint {
    /// Whether a validation run keeps to it.
    pub fn holds(&self, ranking: &RankingMetrics, beyond: &BeyondAccuracy) -> bool {
        let v = self.figure.value(ranking, beyond);
        match self.bound {
            Bound::AtLeast => v >= self.value,
            Bound::AtMost => v <= self.value,
        }
    }
}

impl std::str::FromStr for Constraint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, bound, value) = if let Some((n, v)) = s.split_once(">=") {
            (n, Bound::AtLeast, v)
        } else if let Some((n, v)) = s.split_once("<=") {
            (n, Bound::AtMost, v)
        } else {
            return Err(format!(
                "{s:?}: expected FIGURE>=VALUE or FIGURE<=VALUE, e.g. catalog_coverage>=0.30"
            ));
        };
        let value: f64 = value
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| format!("{s:?}: {value:?} is not a number"))?;
        Ok(Constraint {
            figure: name.parse()?,
            bound,
            value,
        })
    }
}

impl std::fmt::Display for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = match self.bound {
            Bound::AtLeast => ">=",
            Bound::AtMost => "<=",
        };
        write!(f, "{}{op}{}", self.figure, self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_parse_and_hold() {
        let c: Constraint = "catalog_coverage>=0.30".parse().unwrap();
        assert_eq!(
            (c.figure, c.bound, c.value),
            (Figure::CatalogCoverage, Bound::AtLeast, 0.30)
        );
        assert_eq!(c.to_string(), "catalog_coverage>=0.3");
        let beyond = BeyondAccuracy {
            catalog_coverage: 0.31,
            ..Default::default()
        };
        assert!(c.holds(&RankingMetrics::default(), &beyond));
        let ceiling: Constraint = " novelty <= 9".parse().unwrap();
        assert!(!ceiling.holds(
            &RankingMetrics::default(),
            &BeyondAccuracy {
                novelty: 9.5,
                ..Default::default()
            }
        ));
        for bad in [
            "coverage>=0.3",
            "catalog_coverage=0.3",
            "ndcg>=x",
            "ndcg>=inf",
        ] {
            assert!(bad.parse::<Constraint>().is_err(), "{bad}");
        }
        assert_eq!("ndcg".parse::<Figure>().unwrap(), Figure::NdcgAtK);
        assert!(Figure::NdcgAtK.is_accuracy() && !Figure::Novelty.is_accuracy());
    }
}
