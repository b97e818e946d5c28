//! Beyond accuracy: what the recommended lists do to the catalogue and to users, with exactly
//! the definitions of Microsoft Recommenders 1.2.1 `python_evaluation` (`catalog_coverage`,
//! `distributional_coverage`, `novelty`, `diversity`, `serendipity`), which the parity suite
//! checks against the Python package.
//!
//! With `train` the training interactions (unique user-item pairs, `N` of them), `c_i` the
//! training interactions of item i, and `recs` the recommended (user, item) pairs (`R` rows):
//! - **catalog coverage** = distinct recommended items / distinct training items;
//! - **distributional coverage** = −Σ_i p_i log2 p_i, p_i = share of `recs` rows with item i;
//! - **novelty** = Σ_rows −log2(c_i / N) / R (an item never trained on adds 0 to the sum and
//!   still counts in R, as Recommenders' inner merge does);
//! - **diversity** = mean over users with two or more recommended items of
//!   1 − (mean similarity over their pairs of distinct recommended items);
//! - **serendipity** = mean over users with training interactions of the mean over their
//!   recommended items r of 1 − (mean over their training items j of sim(r, j)).
//!
//! The item similarity is Recommenders' default, the co-occurrence cosine
//! `|users(i) ∩ users(j)| / sqrt(c_i · c_j)` (Zhang et al., Auralist, WSDM 2012), or, when the
//! caller has item features (topten: the catalogue's categories), the cosine of the items'
//! binary feature vectors, as Recommenders' `item_feature_vector` measure computes it; a pair
//! with no similarity (never co-occurring, or an item without features) counts as 0.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

/// Which similarity between two items diversity and serendipity use.
#[derive(Debug, Clone, Copy)]
pub enum ItemSimilarity<'a> {
    /// Co-occurrence in the training data (Recommenders' `item_cooccurrence_count`).
    Cooccurrence,
    /// Cosine of binary feature vectors: each item's feature ids (sorted, unique), by item
    /// index; items past the end have none (Recommenders' `item_feature_vector`).
    Features(&'a [Vec<u32>]),
}

/// The similarity measure a report used, named as in Recommenders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimilarityMeasure {
    /// Co-occurrence in the training data.
    #[default]
    ItemCooccurrenceCount,
    /// The catalogue's categories as binary feature vectors.
    ItemFeatureVector,
}

/// The five figures, named as Recommenders' functions.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct BeyondAccuracy {
    /// Distinct recommended items / distinct training items.
    pub catalog_coverage: f64,
    /// Entropy (bits) of how recommendations spread over items.
    pub distributional_coverage: f64,
    /// Mean self-information (bits) of recommended items under training popularity.
    pub novelty: f64,
    /// Mean intra-list dissimilarity.
    pub diversity: f64,
    /// Mean dissimilarity of recommended items to each user's history.
    pub serendipity: f64,
    /// Which item similarity `diversity` and `serendipity` used.
    pub item_similarity: SimilarityMeasure,
}

/// Computes the figures. `train` and `recs` are (user, item) index pairs; duplicates in
/// `train` are dropped (Recommenders assumes none), `recs` must not repeat a pair nor contain a
/// training pair (recommended lists exclude seen items).
pub fn beyond_accuracy(
    train: &[(u32, u32)],
    recs: &[(u32, u32)],
    similarity: ItemSimilarity<'_>,
) -> BeyondAccuracy {
    let mut train: Vec<(u32, u32)> = train.to_vec();
    train.sort_unstable();
    train.dedup();
    let n_items = train
        .iter()
        .chain(recs)
        .map(|&(_, i)| i as usize + 1)
        .max()
        .unwrap_or(0);
    let mut count = vec![0u32; n_items];
    for &(_, i) in &train {
        count[i as usize] += 1;
    }
    let n_train = train.len() as f64;
    let train_items = count.iter().filter(|&&c| c > 0).count();
    let mut reco_count = vec![0u32; n_items];
    for &(_, i) in recs {
        reco_count[i as usize] += 1;
    }
    let n_recs = recs.len() as f64;
    let reco_items = reco_count.iter().filter(|&&c| c > 0).count();

    let catalog_coverage = if train_items == 0 {
        0.0
    } else {
        reco_items as f64 / train_items as f64
    };
    let distributional_coverage = -reco_count
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n_recs;
            p * p.log2()
        })
        .sum::<f64>();
    let novelty = if recs.is_empty() {
        0.0
    } else {
        reco_count
            .iter()
            .zip(&count)
            .filter(|&(&r, &c)| r > 0 && c > 0)
            .map(|(&r, &c)| r as f64 * -(c as f64 / n_train).log2())
            .sum::<f64>()
            / n_recs
    };

    let (diversity, serendipity) = list_similarities(&train, recs, &count, similarity);
    BeyondAccuracy {
        catalog_coverage,
        distributional_coverage,
        novelty,
        diversity,
        serendipity,
        item_similarity: match similarity {
            ItemSimilarity::Cooccurrence => SimilarityMeasure::ItemCooccurrenceCount,
            ItemSimilarity::Features(_) => SimilarityMeasure::ItemFeatureVector,
        },
    }
}

/// Cosine of two sorted id sets (binary vectors).
fn set_cosine(a: &[u32], b: &[u32]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut both) = (0, 0, 0u32);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                both += 1;
                i += 1;
                j += 1;
            }
        }
    }
    both as f64 / ((a.len() * b.len()) as f64).sqrt()
}

/// Diversity and serendipity. For each distinct recommended item r, the similarities it needs
/// (to the other items of each list it is in, to the histories of the users it went to) come
/// from one pass: with co-occurrence, one dense row `|users(r) ∩ users(j)|` over all items j.
fn list_similarities(
    train: &[(u32, u32)],
    recs: &[(u32, u32)],
    count: &[u32],
    similarity: ItemSimilarity<'_>,
) -> (f64, f64) {
    let n_items = count.len();
    // Training items by user, and users by item (both sorted: `train` is sorted by user).
    let mut history: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
    let mut users_of: Vec<Vec<u32>> = vec![Vec::new(); n_items];
    for &(u, i) in train {
        history.entry(u).or_default().push(i);
        users_of[i as usize].push(u);
    }
    let mut lists: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
    let mut receivers: Vec<Vec<u32>> = vec![Vec::new(); n_items];
    for &(u, i) in recs {
        lists.entry(u).or_default().push(i);
        receivers[i as usize].push(u);
    }
    let features = |i: u32| -> &[u32] {
        match similarity {
            ItemSimilarity::Features(f) => f.get(i as usize).map_or(&[], Vec::as_slice),
            ItemSimilarity::Cooccurrence => &[],
        }
    };
    let reco_items: Vec<u32> = (0..n_items as u32)
        .filter(|&i| !receivers[i as usize].is_empty())
        .collect();
    // Per recommended item: (user, mean similarity to the user's history) and
    // (user, other item of the list, similarity) for the pairs where it is the smaller item.
    type PerItem = (Vec<(u32, f64)>, Vec<(u32, f64)>);
    let per_item: Vec<PerItem> = reco_items
        .par_iter()
        .map_init(
            || vec![0u32; n_items],
            |row, &r| {
                let sim: Box<dyn Fn(u32) -> f64 + '_> = match similarity {
                    ItemSimilarity::Cooccurrence => {
                        row.fill(0);
                        for &v in &users_of[r as usize] {
                            for &j in history.get(&v).map_or(&[][..], Vec::as_slice) {
                                row[j as usize] += 1;
                            }
                        }
                        let row = &*row;
                        let cr = count[r as usize] as f64;
                        Box::new(move |j: u32| {
                            let both = row[j as usize];
                            if both == 0 {
                                0.0
                            } else {
                                both as f64 / (cr * count[j as usize] as f64).sqrt()
                            }
                        })
                    }
                    ItemSimilarity::Features(_) => {
                        let fr = features(r);
                        Box::new(move |j: u32| set_cosine(fr, features(j)))
                    }
                };
                let mut to_history = Vec::new();
                let mut pairs = Vec::new();
                for &u in &receivers[r as usize] {
                    if let Some(h) = history.get(&u) {
                        let mean = h.iter().map(|&j| sim(j)).sum::<f64>() / h.len() as f64;
                        to_history.push((u, mean));
                    }
                    for &other in &lists[&u] {
                        if other > r {
                            pairs.push((u, sim(other)));
                        }
                    }
                }
                (to_history, pairs)
            },
        )
        .collect();
    // user → (Σ (1 − mean similarity to history), items) and (Σ pair similarity, pairs)
    let mut seren: FxHashMap<u32, (f64, usize)> = FxHashMap::default();
    let mut intra: FxHashMap<u32, (f64, usize)> = FxHashMap::default();
    for (to_history, pairs) in &per_item {
        for &(u, mean) in to_history {
            let e = seren.entry(u).or_default();
            e.0 += 1.0 - mean;
            e.1 += 1;
        }
        for &(u, s) in pairs {
            let e = intra.entry(u).or_default();
            e.0 += s;
            e.1 += 1;
        }
    }
    let mean_over_users = |m: &FxHashMap<u32, (f64, usize)>, f: &dyn Fn(f64, usize) -> f64| {
        if m.is_empty() {
            return 0.0;
        }
        let mut users: Vec<&u32> = m.keys().collect();
        users.sort_unstable();
        users.iter().map(|u| f(m[u].0, m[u].1)).sum::<f64>() / users.len() as f64
    };
    let diversity = mean_over_users(&intra, &|sum, n| 1.0 - sum / n as f64);
    let serendipity = mean_over_users(&seren, &|sum, n| sum / n as f64);
    (diversity, serendipity)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }

    /// A case worked by hand. Training: user 0 {0, 1}, user 1 {0, 2}, user 2 {1, 2, 3}.
    /// Counts: c0 = 2, c1 = 2, c2 = 2, c3 = 1; N = 7. Co-occurrence (users in common):
    /// (0,1) = 1, (0,2) = 1, (1,2) = 1, (1,3) = 1, (2,3) = 1, (0,3) = 0.
    /// Recommendations: user 0 [2, 3], user 1 [1, 3], user 2 [0].
    #[test]
    fn figures_by_hand() {
        let train = [
            (0, 0),
            (0, 1),
            (1, 0),
            (1, 2),
            (2, 1),
            (2, 2),
            (2, 3),
            (2, 3),
        ];
        let recs = [(0, 2), (0, 3), (1, 1), (1, 3), (2, 0)];
        let b = beyond_accuracy(&train, &recs, ItemSimilarity::Cooccurrence);
        close(b.catalog_coverage, 4.0 / 4.0);
        // Item shares: 2 → 1/5, 3 → 2/5, 1 → 1/5, 0 → 1/5.
        let h = |p: f64| -p * p.log2();
        close(b.distributional_coverage, 3.0 * h(0.2) + h(0.4));
        let nov = |c: f64| -(c / 7.0).log2();
        close(b.novelty, (nov(2.0) * 3.0 + nov(1.0) * 2.0) / 5.0);
        let s = |both: f64, ci: f64, cj: f64| both / (ci * cj).sqrt();
        // Lists: user 0 pair (2,3): s(1; 2,1); user 1 pair (1,3): s(1; 2,1); user 2: one item,
        // no pair, not counted.
        close(b.diversity, 1.0 - s(1.0, 2.0, 1.0));
        // Serendipity: user 0 (history 0,1): item 2 → mean(s(1;2,2), s(1;2,2)), item 3 →
        // mean(0, s(1;1,2)). User 1 (history 0,2): item 1 → mean(s(1;2,2), s(1;2,2)), item 3 →
        // mean(0, s(1;1,2)). User 2 (history 1,2,3): item 0 → mean(s(1;2,2), s(1;2,2), 0).
        let half = s(1.0, 2.0, 2.0);
        let u0 = ((1.0 - half) + (1.0 - s(1.0, 1.0, 2.0) / 2.0)) / 2.0;
        let u2 = 1.0 - (2.0 * half) / 3.0;
        close(b.serendipity, (u0 + u0 + u2) / 3.0);
        assert_eq!(b.item_similarity, SimilarityMeasure::ItemCooccurrenceCount);
    }

    #[test]
    fn feature_vectors_give_the_cosine_of_shared_categories() {
        // Items 0: {a}, 1: {a, b}, 2: {c}, 3: none.
        let features = vec![vec![0], vec![0, 1], vec![2], vec![]];
        let train = [(0, 0), (1, 1)];
        let recs = [(0, 1), (0, 2), (0, 3), (1, 0)];
        let b = beyond_accuracy(&train, &recs, ItemSimilarity::Features(&features));
        // User 0 pairs (1,2) = 0, (1,3) = 0, (2,3) = 0 → diversity 1; user 1 has one item.
        close(b.diversity, 1.0);
        // User 0 (history {0}): item 1 → 1/√2, items 2 and 3 → 0. User 1 (history {1}): item
        // 0 → 1/√2.
        let c = 1.0 / 2f64.sqrt();
        close(
            b.serendipity,
            ((1.0 - c) + 1.0 + 1.0) / 3.0 / 2.0 + (1.0 - c) / 2.0,
        );
        assert_eq!(b.item_similarity, SimilarityMeasure::ItemFeatureVector);
    }

    #[test]
    fn empty_inputs_give_zeros() {
        let b = beyond_accuracy(&[], &[], ItemSimilarity::Cooccurrence);
        assert_eq!(
            (b.catalog_coverage, b.novelty, b.diversity, b.serendipity),
            (0.0, 0.0, 0.0, 0.0)
        );
    }
}
