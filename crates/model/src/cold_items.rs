//! The cold-item protocol: how well new items are ranked before training has seen them
//! (`topten train --items CATALOGUE --cold-items 0.1`, `metrics.json` under `cold_items`).
//!
//! A fraction of the items is held out with every interaction it has; ALS is fitted on the
//! rest, and the [`ContentMap`] on that fit's item factors. Each user known to the fit who
//! interacted with held-out items is then given the held-out items ranked by the score of
//! their factor against the user's (the user's warm items are not candidates: only held-out
//! items are). The figures are Recommenders' precision, recall and NDCG at k over those users,
//! for these rankings:
//! - `content`: the held-out items' factors from their catalogue records alone;
//! - `random`: a seeded random order;
//! - `category_popularity`: each held-out item scored by the training interactions of its
//!   categories (their mean over the item's categories; the same order for every user);
//! - `fold_in`: after each item's first n interactions (by time, then input order) are
//!   revealed, its factor solved from the revealing users' factors (the ALS half-step of
//!   [`fold_in_user`], the users' side fixed); an item with none revealed keeps its content
//!   factor. The truth is then what was not revealed, and a revealing user does not get the
//!   item they revealed. `blended` solves the same half-step penalised towards the item's
//!   content factor instead of zero ([`fold_in_towards`]); `content` is reported again on
//!   the same truth, for comparison.

use std::collections::{HashMap, HashSet};

use ndarray::Array2;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::als::{
    fold_in_gramian, fold_in_towards, fold_in_user, AlsError, AlsParams, IterationReport,
};
use crate::catalogue::Catalogue;
use crate::content::{ContentError, ContentMap};
use crate::interactions::Ratings;
use crate::linalg::dot;
use crate::metrics::{ranking_metrics, RankingMetrics};
use crate::model::Model;
use crate::pipeline;

/// The protocol's settings.
#[derive(Debug, Clone)]
pub struct ColdItemOptions {
    /// Share of the items held out, in (0, 1).
    pub fraction: f64,
    /// Cut-off of the figures.
    pub k: usize,
    /// Seed of the held-out choice and of the random baseline.
    pub seed: u64,
    /// The interaction counts after which items are folded in.
    pub fold_in_after: Vec<usize>,
}

impl ColdItemOptions {
    /// `fraction` of the items, figures at `k`, folded in after 1, 3 and 10 interactions.
    pub fn new(fraction: f64, k: usize, seed: u64) -> Self {
        ColdItemOptions {
            fraction,
            k,
            seed,
            fold_in_after: vec![1, 3, 10],
        }
    }

    /// Refuses a fraction outside (0, 1), before anything is fitted.
    pub fn check(&self) -> Result<(), ColdItemError> {
        if self.fraction > 0.0 && self.fraction < 1.0 {
            return Ok(());
        }
        Err(ColdItemError::Setup(format!(
            "--cold-items {}: give a share of the items between 0 and 1, e.g. 0.1",
            self.fraction
        )))
    }
}

/// Precision, recall and NDCG at k of one ranking.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Figures {
    /// Precision at k.
    pub precision_at_k: f64,
    /// Recall at k.
    pub recall_at_k: f64,
    /// NDCG at k.
    pub ndcg_at_k: f64,
    /// Users scored.
    pub users: usize,
}

impl From<RankingMetrics> for Figures {
    fn from(m: RankingMetrics) -> Self {
        Figures {
            precision_at_k: m.precision_at_k,
            recall_at_k: m.recall_at_k,
            ndcg_at_k: m.ndcg_at_k,
            users: m.users,
        }
    }
}

/// The figures after items are folded in from their first interactions.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FoldInFigures {
    /// Interactions revealed per held-out item (at most).
    pub interactions: usize,
    /// Held-out items with at least one revealed interaction (the others keep their content
    /// factor).
    pub items_folded_in: usize,
    /// Ranking with the folded-in factors (the ALS half-step, penalised towards zero).
    pub fold_in: Figures,
    /// Ranking with factors folded in towards the content factor instead of zero
    /// ([`fold_in_towards`]): the content factor where evidence is thin, the interactions'
    /// as it grows.
    pub blended: Figures,
    /// Ranking with the content factors, on the same truth.
    pub content: Figures,
}

/// What [`evaluate`] found (`metrics.json`'s `cold_items`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ColdItemReport {
    /// The protocol in words.
    pub protocol: String,
    /// Share of the items held out.
    pub fraction: f64,
    /// Cut-off.
    pub k: usize,
    /// Items held out.
    pub items_held_out: usize,
    /// Held-out items whose catalogue record gives at least one feature the map knows.
    pub held_out_with_features: usize,
    /// Interactions of the held-out items by users the fit knows (the truth).
    pub interactions_held_out: usize,
    /// The chosen ridge penalty and the map's size.
    pub content_map: MapSummary,
    /// Held-out items ranked by their content factors.
    pub content: Figures,
    /// A seeded random order.
    pub random: Figures,
    /// Popularity of the items' categories in the training data.
    pub category_popularity: Figures,
    /// After 1, 3 and 10 interactions per held-out item.
    pub fold_in: Vec<FoldInFigures>,
}

/// The size of a fitted map.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MapSummary {
    /// Ridge penalty chosen on held-out training items.
    pub lambda: f64,
    /// Categorical features.
    pub categorical_features: usize,
    /// Numeric features.
    pub numeric_features: usize,
    /// Title hash buckets.
    pub title_buckets: usize,
    /// Training items with at least one feature.
    pub items_with_features: usize,
    /// Training items.
    pub fitted_items: usize,
}

/// Why the protocol could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ColdItemError {
    /// The fraction or the data do not allow a held-out set.
    #[error("{0}")]
    Setup(String),
    /// Fitting ALS failed.
    #[error(transparent)]
    Als(#[from] AlsError),
    /// Fitting the content map failed.
    #[error(transparent)]
    Content(#[from] ContentError),
}

/// One held-out interaction: the fit's user index, the held-out item's index, and its place
/// in time.
#[derive(Clone, Copy)]
struct Held {
    user: u32,
    item: u32,
    value: f32,
    order: (i64, usize),
}

/// Runs the protocol on every row of `all` (see the module doc).
pub fn evaluate(
    all: &Ratings,
    catalogue: &Catalogue,
    params: &AlsParams,
    opts: &ColdItemOptions,
    on_iteration: &mut dyn FnMut(&IterationReport),
) -> Result<ColdItemReport, ColdItemError> {
    opts.check()?;
    let mut present: Vec<u32> = all.records.iter().map(|r| r.item).collect();
    present.sort_unstable();
    present.dedup();
    if present.len() < 2 {
        return Err(ColdItemError::Setup(
            "the cold-item protocol needs at least two items".into(),
        ));
    }
    let n_cold =
        ((opts.fraction * present.len() as f64).round() as usize).clamp(1, present.len() - 1);
    present.shuffle(&mut ChaCha8Rng::seed_from_u64(opts.seed));
    let mut cold_index: HashMap<u32, u32> = HashMap::new();
    for (c, &item) in present[..n_cold].iter().enumerate() {
        cold_index.insert(item, c as u32);
    }
    let (cold_rows, warm_rows): (Vec<usize>, Vec<usize>) =
        (0..all.records.len()).partition(|&r| cold_index.contains_key(&all.records[r].item));
    let model = pipeline::train(&all.subset(&warm_rows), params, None, on_iteration)?;
    let map = ContentMap::for_model(&model, catalogue)?;

    let mut cold_ids = vec![""; n_cold];
    for (&item, &c) in &cold_index {
        cold_ids[c as usize] = all.items.id(item);
    }
    let held: Vec<Held> = cold_rows
        .iter()
        .filter_map(|&r| {
            let rec = &all.records[r];
            let user = model.users.get(all.users.id(rec.user))?;
            Some(Held {
                user,
                item: cold_index[&rec.item],
                value: rec.rating as f32,
                order: (rec.timestamp, r),
            })
        })
        .collect();
    let content = map.factors_for(&cold_ids, catalogue);
    let (items, k) = (n_cold as u32, opts.k);
    let truth: Vec<(u32, u32)> = held.iter().map(|h| (h.user, h.item)).collect();
    let none = HashSet::new();
    let content_figures = figures(&truth, &none, items, k, |u, c| {
        dot_row(&model, u, &content, c)
    });
    let seed = opts.seed;
    let random = figures(&truth, &none, items, k, |u, c| unit_hash(seed, u, c));
    let popularity = category_popularity(all, &warm_rows, catalogue, &cold_ids);
    let category_popularity = figures(&truth, &none, items, k, |_, c| popularity[c as usize]);

    let gram = fold_in_gramian(&model.user_factors, params);
    let mut fold_in = Vec::new();
    for &n in &opts.fold_in_after {
        let mut by_item: Vec<Vec<Held>> = vec![Vec::new(); n_cold];
        for h in &held {
            by_item[h.item as usize].push(*h);
        }
        let mut factors = content.clone();
        let mut blended = content.clone();
        let mut revealed: HashSet<(u32, u32)> = HashSet::new();
        let mut rest = Vec::new();
        let mut folded = 0;
        for (c, mut hs) in by_item.into_iter().enumerate() {
            hs.sort_by_key(|h| h.order);
            let shown = n.min(hs.len());
            if shown > 0 {
                folded += 1;
                let users: Vec<u32> = hs[..shown].iter().map(|h| h.user).collect();
                let values: Vec<f32> = hs[..shown].iter().map(|h| h.value).collect();
                let v = fold_in_user(&model.user_factors, &users, &values, params, gram.as_ref());
                factors
                    .row_mut(c)
                    .iter_mut()
                    .zip(v)
                    .for_each(|(o, v)| *o = v);
                let prior = content.row(c).to_vec();
                let v = fold_in_towards(
                    &model.user_factors,
                    &users,
                    &values,
                    params,
                    gram.as_ref(),
                    &prior,
                );
                blended
                    .row_mut(c)
                    .iter_mut()
                    .zip(v)
                    .for_each(|(o, v)| *o = v);
                revealed.extend(users.iter().map(|&u| (u, c as u32)));
            }
            rest.extend(hs[shown..].iter().map(|h| (h.user, h.item)));
        }
        fold_in.push(FoldInFigures {
            interactions: n,
            items_folded_in: folded,
            fold_in: figures(&rest, &revealed, items, k, |u, c| {
                dot_row(&model, u, &factors, c)
            }),
            blended: figures(&rest, &revealed, items, k, |u, c| {
                dot_row(&model, u, &blended, c)
            }),
            content: figures(&rest, &revealed, items, k, |u, c| {
                dot_row(&model, u, &content, c)
            }),
        });
    }
    let held_out_with_features = content
        .rows()
        .into_iter()
        .filter(|row| row.iter().ne(map.mean.iter()))
        .count();
    Ok(ColdItemReport {
        protocol: format!(
            "{n_cold} items ({:.0}%) held out with all their interactions; ALS fitted on the \
             rest; each user known to that fit ranks the held-out items",
            100.0 * opts.fraction
        ),
        fraction: opts.fraction,
        k: opts.k,
        items_held_out: n_cold,
        held_out_with_features,
        interactions_held_out: held.len(),
        content_map: MapSummary {
            lambda: map.lambda,
            categorical_features: map.vocabulary.len(),
            numeric_features: map.numeric.len(),
            title_buckets: map.title_buckets,
            items_with_features: map.items_with_features,
            fitted_items: map.fitted_items,
        },
        content: content_figures,
        random,
        category_popularity,
        fold_in,
    })
}

/// The figures of ranking the held-out items `0..items` by `score(user, item)` for each user
/// in `truth`, leaving out the pairs in `skip`.
fn figures(
    truth: &[(u32, u32)],
    skip: &HashSet<(u32, u32)>,
    items: u32,
    k: usize,
    score: impl Fn(u32, u32) -> f64 + Sync,
) -> Figures {
    let mut users: Vec<u32> = truth.iter().map(|t| t.0).collect();
    users.sort_unstable();
    users.dedup();
    let recs: Vec<(u32, u32, f64)> = users
        .par_iter()
        .flat_map_iter(|&u| {
            let mut scored: Vec<(u32, f64)> = (0..items)
                .filter(|&c| !skip.contains(&(u, c)))
                .map(|c| (c, score(u, c)))
                .collect();
            let k = k.min(scored.len());
            if k > 0 && k < scored.len() {
                scored.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
            }
            scored.truncate(k);
            scored.into_iter().map(move |(c, s)| (u, c, s))
        })
        .collect();
    ranking_metrics(truth, &recs, k).into()
}

fn dot_row(model: &Model, user: u32, items: &Array2<f32>, item: u32) -> f64 {
    let u = model.user_factors.row(user as usize);
    let v = items.row(item as usize);
    f64::from(dot(
        u.as_slice().expect("standard layout"),
        v.as_slice().expect("standard layout"),
    ))
}

/// A seeded number in [0, 1) for (user, item): the random baseline's score (splitmix64).
fn unit_hash(seed: u64, user: u32, item: u32) -> f64 {
    let mut z = seed ^ (u64::from(user) << 32 | u64::from(item));
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// For each held-out item, the mean over its categories of the category's training
/// interactions (0 for an item without categories or record).
fn category_popularity(
    all: &Ratings,
    warm_rows: &[usize],
    catalogue: &Catalogue,
    cold_ids: &[&str],
) -> Vec<f64> {
    let mut per_item: HashMap<u32, usize> = HashMap::new();
    for &r in warm_rows {
        *per_item.entry(all.records[r].item).or_default() += 1;
    }
    let mut per_category: HashMap<&str, usize> = HashMap::new();
    for (&item, &n) in &per_item {
        if let Some(rec) = catalogue.get(all.items.id(item)) {
            for c in &rec.categories {
                *per_category.entry(c.as_str()).or_default() += n;
            }
        }
    }
    cold_ids
        .iter()
        .map(|id| match catalogue.get(id) {
            Some(rec) if !rec.categories.is_empty() => {
                rec.categories
                    .iter()
                    .map(|c| per_category.get(c.as_str()).copied().unwrap_or(0) as f64)
                    .sum::<f64>()
                    / rec.categories.len() as f64
            }
            _ => 0.0,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::CatalogueItem;
    use crate::interactions::{IdMap, Interaction};
    use rand::Rng;

    /// Three tastes, one per category: every user interacts with items of their category
    /// only. A held-out item's category then says who wants it.
    fn tastes() -> (Ratings, Catalogue) {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (users, items, per_user) = (150u32, 90u32, 12);
        let mut records = Vec::new();
        for u in 0..users {
            let taste = u % 3;
            let mut mine: Vec<u32> = (0..items).filter(|i| i % 3 == taste).collect();
            mine.shuffle(&mut rng);
            for (t, &i) in mine.iter().take(per_user).enumerate() {
                records.push(Interaction {
                    user: u,
                    item: i,
                    rating: f64::from(rng.gen_range(1..=5)),
                    timestamp: i64::from(u) * 100 + t as i64,
                });
            }
        }
        let ratings = Ratings {
            users: IdMap::from_ids((0..users).map(|u| format!("u{u}"))),
            items: IdMap::from_ids((0..items).map(|i| format!("i{i}"))),
            records,
            has_timestamps: true,
        };
        let catalogue = Catalogue::from_items((0..items).map(|i| {
            let mut it = CatalogueItem::new(format!("i{i}"));
            it.categories = vec![["drama", "comedy", "horror"][(i % 3) as usize].into()];
            it
        }));
        (ratings, catalogue)
    }

    fn params() -> AlsParams {
        AlsParams {
            factors: 8,
            iterations: 8,
            regularization: 1.0,
            ..AlsParams::implicit()
        }
    }

    #[test]
    fn catalogue_records_rank_held_out_items_for_the_right_users() {
        let (ratings, catalogue) = tastes();
        let opts = ColdItemOptions::new(0.2, 5, 1);
        let report = evaluate(&ratings, &catalogue, &params(), &opts, &mut |_| {}).unwrap();
        assert_eq!(report.items_held_out, 18);
        assert_eq!(report.held_out_with_features, 18);
        assert_eq!(report.content_map.categorical_features, 3);
        // Every user keeps warm items, so every held-out interaction counts.
        let held_out = ratings
            .records
            .iter()
            .filter(|r| catalogue.get(ratings.items.id(r.item)).is_some())
            .count();
        assert!(report.interactions_held_out > 0 && report.interactions_held_out < held_out);
        assert!(report.content.users > 100, "{:?}", report.content);
        // A user has about 12·6/30 = 2.4 of the 18 held-out items (the six of their taste): a
        // random top 5 finds 5/18 of them, the content factors nearly all.
        assert!(
            report.content.recall_at_k > 0.7 && report.random.recall_at_k < 0.4,
            "content {:?} random {:?}",
            report.content,
            report.random
        );
        assert!(report.content.ndcg_at_k > 1.5 * report.random.ndcg_at_k);
        assert!(report.content.ndcg_at_k > 1.5 * report.category_popularity.ndcg_at_k);
        let levels: Vec<usize> = report.fold_in.iter().map(|f| f.interactions).collect();
        assert_eq!(levels, [1, 3, 10]);
        // Folded in from three interactions, items rank well above random too.
        let three = &report.fold_in[1];
        assert_eq!(three.items_folded_in, 18);
        assert!(
            three.fold_in.ndcg_at_k > 1.5 * report.random.ndcg_at_k,
            "{three:?}"
        );
    }

    #[test]
    fn the_random_baseline_is_about_k_over_the_candidates() {
        let (ratings, catalogue) = tastes();
        let opts = ColdItemOptions::new(0.2, 5, 3);
        let report = evaluate(&ratings, &catalogue, &params(), &opts, &mut |_| {}).unwrap();
        // A user with r relevant of 18 candidates: expected precision r/18 ≈ 0.1-0.3.
        assert!(
            report.random.precision_at_k > 0.02 && report.random.precision_at_k < 0.3,
            "{:?}",
            report.random
        );
    }

    #[test]
    fn bad_fractions_and_tiny_data_are_refused() {
        let (ratings, catalogue) = tastes();
        for f in [0.0, 1.0, -0.1, f64::NAN] {
            let opts = ColdItemOptions::new(f, 5, 1);
            let err = evaluate(&ratings, &catalogue, &params(), &opts, &mut |_| {}).unwrap_err();
            assert!(err.to_string().contains("between 0 and 1"), "{err}");
        }
    }
}
