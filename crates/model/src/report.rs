//! The figures of a model report: ranking metrics at every cut-off, catalogue coverage and
//! popularity bias of the top-k lists. Rendering (HTML, PNG) is the CLI's job.

use rayon::prelude::*;

use crate::interactions::Ratings;
use crate::metrics::{self, RankingMetrics};
use crate::model::Model;

/// Ranking metrics on `test` for every cut-off `1..=max_k` (each user's list is computed once,
/// at `max_k`, and truncated; seen items excluded, as in [`crate::pipeline::evaluate`]).
pub fn metrics_at_k(model: &Model, test: &Ratings, max_k: usize) -> Vec<RankingMetrics> {
    let mut users: Vec<(u32, u32)> = Vec::new();
    let mut seen_user = vec![false; test.users.len()];
    for r in &test.records {
        if !std::mem::replace(&mut seen_user[r.user as usize], true) {
            if let Some(mu) = model.users.get(test.users.id(r.user)) {
                users.push((r.user, mu));
            }
        }
    }
    let lists: Vec<_> = users
        .par_iter()
        .map(|&(_, mu)| model.recommend(mu, max_k))
        .collect();
    let mut items = test.items.clone();
    let mut recs = Vec::new();
    for (&(tu, _), list) in users.iter().zip(&lists) {
        for s in list {
            recs.push((tu, items.intern(model.items.id(s.item)), s.score as f64));
        }
    }
    let truth: Vec<(u32, u32)> = test.records.iter().map(|r| (r.user, r.item)).collect();
    (1..=max_k)
        .into_par_iter()
        .map(|k| metrics::ranking_metrics(&truth, &recs, k))
        .collect()
}

/// What the top-k lists of all users do to the catalogue.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Coverage {
    /// List length.
    pub k: usize,
    /// Items in the catalogue (the model's items).
    pub catalogue: usize,
    /// Distinct items recommended to anyone.
    pub recommended_items: usize,
    /// `recommended_items / catalogue`.
    pub catalogue_coverage: f64,
    /// Number of items in the "top 1%" by training interactions (at least 1).
    pub top1pct_items: usize,
    /// Share of all recommendations that go to the top 1% most popular items.
    pub top1pct_share_of_recommendations: f64,
    /// The same share among training interactions, for comparison.
    pub top1pct_share_of_interactions: f64,
    /// Share of recommendations per popularity decile of items (0 = most popular 10%).
    pub recommendations_by_decile: Vec<f64>,
    /// Share of training interactions per popularity decile.
    pub interactions_by_decile: Vec<f64>,
    /// Gini coefficient of how often each item is recommended (0: even, 1: one item).
    pub gini: f64,
}

/// Coverage and popularity bias of every user's top `k`.
pub fn coverage(model: &Model, k: usize) -> Coverage {
    let n = model.items.len().max(1);
    let mut popularity = vec![0usize; model.items.len()];
    for &i in &model.seen.indices {
        popularity[i as usize] += 1;
    }
    // Items by popularity, most popular first (ties: lower index).
    let mut order: Vec<usize> = (0..model.items.len()).collect();
    order.sort_by(|&a, &b| popularity[b].cmp(&popularity[a]).then(a.cmp(&b)));
    let mut rank = vec![0usize; model.items.len()];
    for (r, &i) in order.iter().enumerate() {
        rank[i] = r;
    }
    let lists = model.recommend_all(k);
    let mut rec_count = vec![0usize; model.items.len()];
    for list in &lists {
        for s in list {
            rec_count[s.item as usize] += 1;
        }
    }
    let total_recs: usize = rec_count.iter().sum();
    let total_inter: usize = popularity.iter().sum();
    let top = (n as f64 * 0.01).ceil().max(1.0) as usize;
    let share = |counts: &[usize], total: usize, pred: &dyn Fn(usize) -> bool| -> f64 {
        if total == 0 {
            return 0.0;
        }
        counts
            .iter()
            .enumerate()
            .filter(|&(i, _)| pred(rank[i]))
            .map(|(_, &c)| c)
            .sum::<usize>() as f64
            / total as f64
    };
    let decile = |r: usize| (r * 10 / n).min(9);
    let by_decile = |counts: &[usize], total: usize| -> Vec<f64> {
        (0..10)
            .map(|d| share(counts, total, &|r| decile(r) == d))
            .collect()
    };
    let mut sorted = rec_count.clone();
    sorted.sort_unstable();
    let gini = if total_recs == 0 {
        0.0
    } else {
        let m = sorted.len() as f64;
        let weighted: f64 = sorted
            .iter()
            .enumerate()
            .map(|(i, &c)| (2.0 * (i as f64 + 1.0) - m - 1.0) * c as f64)
            .sum();
        weighted / (m * total_recs as f64)
    };
    let recommended = rec_count.iter().filter(|&&c| c > 0).count();
    Coverage {
        k,
        catalogue: model.items.len(),
        recommended_items: recommended,
        catalogue_coverage: recommended as f64 / n as f64,
        top1pct_items: top,
        top1pct_share_of_recommendations: share(&rec_count, total_recs, &|r| r < top),
        top1pct_share_of_interactions: share(&popularity, total_inter, &|r| r < top),
        recommendations_by_decile: by_decile(&rec_count, total_recs),
        interactions_by_decile: by_decile(&popularity, total_inter),
        gini,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::als::AlsParams;
    use crate::csr::Csr;
    use crate::interactions::IdMap;
    use ndarray::Array2;

    /// 3 users, 200 items. Training interactions only touch items 5 and 6 (the two most
    /// popular, the top 1%); scores favour items 0 then 1 for everyone, so every top 2 is
    /// [0, 1]: a herd that ignores the most popular items.
    fn herd() -> Model {
        let users = IdMap::from_ids((0..3).map(|u| format!("u{u}")));
        let items = IdMap::from_ids((0..200).map(|i| format!("i{i}")));
        let triplets: Vec<(u32, u32, f32)> = vec![
            (0, 5, 1.0),
            (1, 5, 1.0),
            (2, 5, 1.0),
            (0, 6, 1.0),
            (1, 6, 1.0),
        ];
        let seen = Csr::from_triplets(triplets.into_iter(), 3, 200);
        let user_factors =
            Array2::from_shape_vec((3, 2), vec![1.0, 0.0, 1.0, 0.0, 1.0, 0.0]).unwrap();
        let item_factors = Array2::from_shape_fn((200, 2), |(i, f)| {
            if i < 2 && f == 0 {
                1.0 - i as f32 * 0.1
            } else {
                0.0
            }
        });
        Model::from_parts(
            AlsParams::implicit(),
            (users, items),
            (user_factors, item_factors),
            seen,
        )
    }

    #[test]
    fn coverage_and_popularity_by_hand() {
        let m = herd();
        let c = coverage(&m, 2);
        assert_eq!((c.catalogue, c.recommended_items), (200, 2));
        assert!((c.catalogue_coverage - 0.01).abs() < 1e-12);
        // Top 1% of 200 items = 2 items: 5 and 6 (the only ones with interactions); nobody is
        // recommended them (seen), so the recommendation share is 0 and the interaction share 1.
        assert_eq!(c.top1pct_items, 2);
        assert_eq!(c.top1pct_share_of_recommendations, 0.0);
        assert_eq!(c.top1pct_share_of_interactions, 1.0);
        // Items 0 and 1 are ranks 2 and 3 of 200 -> decile 0 gets every recommendation.
        assert_eq!(c.recommendations_by_decile[0], 1.0);
        assert!((c.recommendations_by_decile.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // 2 of 200 items share all recommendations evenly: Gini = 1 - 2/200.
        assert!((c.gini - (1.0 - 2.0 / 200.0)).abs() < 1e-9, "{}", c.gini);
    }

    #[test]
    fn metrics_at_k_match_the_pipeline_at_each_k() {
        let m = herd();
        let mut test = Ratings::default();
        for (u, i) in [("u0", "i1"), ("u1", "i0"), ("u2", "i7")] {
            let (uu, ii) = (test.users.intern(u), test.items.intern(i));
            test.records.push(crate::interactions::Interaction {
                user: uu,
                item: ii,
                rating: 1.0,
                timestamp: 0,
            });
        }
        let at = metrics_at_k(&m, &test, 3);
        assert_eq!(at.len(), 3);
        for (j, r) in at.iter().enumerate() {
            assert_eq!(r.k, j + 1);
            assert_eq!(*r, crate::pipeline::evaluate(&m, &test, j + 1).ranking);
        }
        // k = 1: only u1 hits (item 0 first) -> precision 1/3.
        assert!((at[0].precision_at_k - 1.0 / 3.0).abs() < 1e-12);
    }
}
