//! Rating and ranking metrics with exactly the definitions of Microsoft Recommenders'
//! `recommenders.evaluation.python_evaluation` (version 1.2.1, `relevancy_method="top_k"`),
//! which CI checks to 1e-9 against the Python package itself.
//!
//! Rating metrics join truth and predictions on (user, item) and compare the matched pairs:
//! RMSE, MAE, R² (`sklearn.metrics.r2_score`) and explained variance
//! (`sklearn.metrics.explained_variance_score`).
//!
//! Ranking metrics take each user's k highest-scored recommendations; relevance is binary
//! (every test item of the user is relevant). With `common` = users present in both truth and
//! recommendations, `hits_u` = relevant items in the user's top k, `rank` 1-based:
//! - precision@k = Σ_u hits_u / k / |common| (users with fewer than k recommendations still
//!   divide by k, as Spark and Recommenders do);
//! - recall@k = Σ_u hits_u / |truth_u| / |common|;
//! - MAP@k = Σ_u (Σ_(j-th hit at rank r) j / r) / min(|truth_u|, k) / |common|; MAP divides by
//!   |truth_u| instead;
//! - NDCG@k: DCG = Σ_hits 1/ln(1 + rank), ideal DCG = Σ_(i=1..min(|truth_u|, k)) 1/ln(1 + i).
//!   Recommenders 1.2.1 averages NDCG over every user in the *truth* (users with no
//!   recommendations count as 0), unlike the other ranking metrics; this follows it.
//!
//! Every metric is 0 when no recommendation hits. Inputs must have unique (user, item) pairs
//! (the readers guarantee it).

use rustc_hash::{FxHashMap, FxHashSet};

/// Rating-prediction metrics; `None` where no prediction matched a truth pair.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct RatingMetrics {
    /// Root mean squared error.
    pub rmse: Option<f64>,
    /// Mean absolute error.
    pub mae: Option<f64>,
    /// Coefficient of determination.
    pub rsquared: Option<f64>,
    /// Explained variance.
    pub exp_var: Option<f64>,
    /// Number of (user, item) pairs present in both truth and predictions.
    pub pairs: usize,
}

/// Ranking metrics at k.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct RankingMetrics {
    /// Cut-off.
    pub k: usize,
    /// Precision at k.
    pub precision_at_k: f64,
    /// Recall at k.
    pub recall_at_k: f64,
    /// Normalised discounted cumulative gain at k.
    pub ndcg_at_k: f64,
    /// Mean average precision at k.
    pub map_at_k: f64,
    /// Mean average precision of the top k, normalised by all relevant items.
    pub map: f64,
    /// Users present in both truth and recommendations.
    pub users: usize,
}

/// Compares predicted with true ratings on the pairs both contain.
/// `truth` and `predictions` are `(user, item, value)`.
pub fn rating_metrics(truth: &[(u32, u32, f64)], predictions: &[(u32, u32, f64)]) -> RatingMetrics {
    let pred: FxHashMap<(u32, u32), f64> =
        predictions.iter().map(|&(u, i, p)| ((u, i), p)).collect();
    let pairs: Vec<(f64, f64)> = truth
        .iter()
        .filter_map(|&(u, i, t)| pred.get(&(u, i)).map(|&p| (t, p)))
        .collect();
    if pairs.is_empty() {
        return RatingMetrics::default();
    }
    let n = pairs.len() as f64;
    let mse = pairs.iter().map(|(t, p)| (t - p).powi(2)).sum::<f64>() / n;
    let mae = pairs.iter().map(|(t, p)| (t - p).abs()).sum::<f64>() / n;
    let mean_t = pairs.iter().map(|(t, _)| t).sum::<f64>() / n;
    let ss_tot = pairs.iter().map(|(t, _)| (t - mean_t).powi(2)).sum::<f64>();
    let ss_res = mse * n;
    let mean_diff = pairs.iter().map(|(t, p)| t - p).sum::<f64>() / n;
    let var_diff = pairs
        .iter()
        .map(|(t, p)| (t - p - mean_diff).powi(2))
        .sum::<f64>()
        / n;
    let var_t = ss_tot / n;
    RatingMetrics {
        rmse: Some(mse.sqrt()),
        mae: Some(mae),
        rsquared: Some(sklearn_ratio_score(ss_res, ss_tot)),
        exp_var: Some(sklearn_ratio_score(var_diff, var_t)),
        pairs: pairs.len(),
    }
}

/// `1 − num/den` with scikit-learn's `force_finite` rule for a constant truth.
fn sklearn_ratio_score(num: f64, den: f64) -> f64 {
    if den == 0.0 {
        if num == 0.0 {
            1.0
        } else {
            0.0
        }
    } else {
        1.0 - num / den
    }
}

/// Scores recommendation lists against truth. `truth` is `(user, item)`; `recs` is
/// `(user, item, score)` in any order and any length per user (the k best scores count;
/// equal scores keep input order).
pub fn ranking_metrics(truth: &[(u32, u32)], recs: &[(u32, u32, f64)], k: usize) -> RankingMetrics {
    let mut truth_sets: FxHashMap<u32, FxHashSet<u32>> = FxHashMap::default();
    for &(u, i) in truth {
        truth_sets.entry(u).or_default().insert(i);
    }
    let lists: Vec<(u32, Vec<u32>)> = top_k_lists(recs, k)
        .into_iter()
        .filter(|(u, _)| truth_sets.contains_key(u))
        .collect();
    let mut out = RankingMetrics {
        k,
        ..Default::default()
    };
    let mut ndcg_sum = 0.0;
    let mut any_hit = false;
    for (u, list) in &lists {
        let relevant = &truth_sets[u];
        let (mut hits, mut rr, mut dcg) = (0usize, 0.0f64, 0.0f64);
        for (rank0, item) in list.iter().enumerate() {
            if relevant.contains(item) {
                hits += 1;
                let rank = (rank0 + 1) as f64;
                rr += hits as f64 / rank;
                dcg += 1.0 / (1.0 + rank).ln();
            }
        }
        if hits == 0 {
            continue;
        }
        any_hit = true;
        let actual = relevant.len() as f64;
        out.precision_at_k += hits as f64 / k as f64;
        out.recall_at_k += hits as f64 / actual;
        out.map_at_k += rr / actual.min(k as f64);
        out.map += rr / actual;
        let ideal: f64 = (1..=relevant.len().min(k))
            .map(|i| 1.0 / (1.0 + i as f64).ln())
            .sum();
        ndcg_sum += dcg / ideal;
    }
    out.users = lists.len();
    if !any_hit {
        return RankingMetrics {
            users: out.users,
            ..RankingMetrics {
                k,
                ..Default::default()
            }
        };
    }
    let n = lists.len() as f64;
    out.precision_at_k /= n;
    out.recall_at_k /= n;
    out.map_at_k /= n;
    out.map /= n;
    out.ndcg_at_k = ndcg_sum / truth_sets.len() as f64;
    out
}

/// Each user's `k` highest-scored items, best first, users ascending: the lists the ranking
/// metrics score (`relevancy_method="top_k"`; equal scores keep their input order).
pub fn top_k_lists(recs: &[(u32, u32, f64)], k: usize) -> Vec<(u32, Vec<u32>)> {
    let mut lists: FxHashMap<u32, Vec<(u32, f64)>> = FxHashMap::default();
    for &(u, i, s) in recs {
        lists.entry(u).or_default().push((i, s));
    }
    let mut out: Vec<(u32, Vec<u32>)> = lists
        .into_iter()
        .map(|(u, mut list)| {
            list.sort_by(|a, b| b.1.total_cmp(&a.1));
            (u, list.into_iter().take(k).map(|(i, _)| i).collect())
        })
        .collect();
    out.sort_unstable_by_key(|(u, _)| *u);
    out
}

/// The ranking metric a search maximises and a quality gate compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetMetric {
    /// NDCG@k (default).
    NdcgAtK,
    /// Precision@k.
    PrecisionAtK,
    /// Recall@k.
    RecallAtK,
    /// MAP@k.
    MapAtK,
}

impl std::str::FromStr for TargetMetric {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        TargetMetric::parse(s).ok_or_else(|| {
            format!(
                "{s:?} is not a ranking metric; expected ndcg_at_k, precision_at_k, recall_at_k or map_at_k"
            )
        })
    }
}

impl std::fmt::Display for TargetMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TargetMetric::NdcgAtK => "ndcg_at_k",
            TargetMetric::PrecisionAtK => "precision_at_k",
            TargetMetric::RecallAtK => "recall_at_k",
            TargetMetric::MapAtK => "map_at_k",
        })
    }
}

impl TargetMetric {
    /// Parses a metric name as used in `metrics.json`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "ndcg_at_k" | "ndcg" => Some(TargetMetric::NdcgAtK),
            "precision_at_k" | "precision" => Some(TargetMetric::PrecisionAtK),
            "recall_at_k" | "recall" => Some(TargetMetric::RecallAtK),
            "map_at_k" | "map" => Some(TargetMetric::MapAtK),
            _ => None,
        }
    }

    /// The metric's value in `m`.
    pub fn pick(self, m: &RankingMetrics) -> f64 {
        match self {
            TargetMetric::NdcgAtK => m.ndcg_at_k,
            TargetMetric::PrecisionAtK => m.precision_at_k,
            TargetMetric::RecallAtK => m.recall_at_k,
            TargetMetric::MapAtK => m.map_at_k,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-worked case. User 1: truth {10, 11, 12}, top-3 [10, 99, 12] -> hits at ranks 1, 3.
    /// User 2: truth {20}, top-3 [98, 97, 20] -> hit at rank 3. User 3: truth only (no recs).
    /// User 4: recs only.
    #[test]
    fn ranking_metrics_by_hand() {
        let truth = [(1, 10), (1, 11), (1, 12), (2, 20), (3, 30)];
        let recs = [
            (1, 10, 0.9),
            (1, 99, 0.8),
            (1, 12, 0.7),
            (1, 11, 0.1),
            (2, 98, 0.9),
            (2, 20, 0.5),
            (2, 97, 0.6),
            (4, 40, 1.0),
        ];
        let m = ranking_metrics(&truth, &recs, 3);
        assert_eq!(m.users, 2);
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        close(m.precision_at_k, (2.0 / 3.0 + 1.0 / 3.0) / 2.0);
        close(m.recall_at_k, (2.0 / 3.0 + 1.0) / 2.0);
        // AP@3 user 1: (1/1 + 2/3) / min(3, 3); user 2: (1/3) / 1.
        close(m.map_at_k, ((1.0 + 2.0 / 3.0) / 3.0 + 1.0 / 3.0) / 2.0);
        close(m.map, ((1.0 + 2.0 / 3.0) / 3.0 + 1.0 / 3.0) / 2.0);
        let l = |r: f64| 1.0 / (1.0 + r).ln();
        let ndcg1 = (l(1.0) + l(3.0)) / (l(1.0) + l(2.0) + l(3.0));
        let ndcg2 = l(3.0) / l(1.0);
        // Averaged over the 3 truth users, as Recommenders 1.2.1 does.
        close(m.ndcg_at_k, (ndcg1 + ndcg2) / 3.0);
    }

    #[test]
    fn map_at_k_caps_the_denominator_at_k() {
        let truth: Vec<(u32, u32)> = (0..5).map(|i| (1, i)).collect();
        let recs = [(1, 0, 2.0), (1, 1, 1.0)];
        let m = ranking_metrics(&truth, &recs, 2);
        assert!((m.map_at_k - 1.0).abs() < 1e-12);
        assert!((m.map - 2.0 / 5.0).abs() < 1e-12);
        assert!((m.ndcg_at_k - 1.0).abs() < 1e-12);
    }

    #[test]
    fn no_hits_means_zero() {
        let m = ranking_metrics(&[(1, 1)], &[(1, 2, 1.0)], 10);
        assert_eq!(
            (m.precision_at_k, m.ndcg_at_k, m.map, m.users),
            (0.0, 0.0, 0.0, 1)
        );
    }

    #[test]
    fn rating_metrics_by_hand_and_sklearn_edge_cases() {
        let truth = [(1, 1, 3.0), (1, 2, 4.0), (2, 1, 5.0), (3, 3, 1.0)];
        let pred = [(1, 1, 2.5), (1, 2, 4.5), (2, 1, 4.0), (9, 9, 1.0)];
        let m = rating_metrics(&truth, &pred);
        assert_eq!(m.pairs, 3);
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        close(m.rmse.unwrap(), ((0.25 + 0.25 + 1.0) / 3.0f64).sqrt());
        close(m.mae.unwrap(), 2.0 / 3.0);
        // truth mean 4, SS_tot = 2, SS_res = 1.5 -> R² = 0.25.
        close(m.rsquared.unwrap(), 0.25);
        // errors 0.5, -0.5, 1.0: mean 1/3, var = ((1/6)² + (5/6)² + (2/3)²)/3; var(t) = 2/3.
        let var_e =
            ((1.0f64 / 6.0).powi(2) + (5.0f64 / 6.0).powi(2) + (2.0f64 / 3.0).powi(2)) / 3.0;
        close(m.exp_var.unwrap(), 1.0 - var_e / (2.0 / 3.0));
        let constant = rating_metrics(&[(1, 1, 3.0), (1, 2, 3.0)], &[(1, 1, 3.0), (1, 2, 3.0)]);
        assert_eq!(constant.rsquared, Some(1.0));
        assert_eq!(rating_metrics(&truth, &[]), RatingMetrics::default());
    }
}
