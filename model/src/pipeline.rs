//! The steps the CLI and the retrain function share: fit a model on a training set and
//! evaluate it (or any recommendation file) against a test set.

use std::time::Instant;

use rayon::prelude::*;

use crate::als::{self, AlsError, AlsParams, Feedback, IterationReport};
use crate::beyond_accuracy::{self, BeyondAccuracy, ItemSimilarity};
use crate::catalogue::Catalogue;
use crate::csr::Csr;
use crate::interactions::{IdMap, Ratings};
use crate::metrics::{self, RankingMetrics, RatingMetrics};
use crate::model::Model;

/// Test-set scores, serialised as `metrics.json` with Recommenders' function names as keys.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Evaluation {
    /// Ranking metrics at k (and k itself, and how many users counted).
    #[serde(flatten)]
    pub ranking: RankingMetrics,
    /// Rating metrics (`null` for implicit models, whose scores are not ratings).
    #[serde(flatten)]
    pub rating: RatingMetrics,
    /// Coverage, novelty, diversity and serendipity of the top-k lists, when the training
    /// interactions are known.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub beyond: Option<BeyondAccuracy>,
}

/// Each item's catalogue categories as sorted ids, by index of `items` (the item features of
/// diversity and serendipity when a catalogue is given).
pub fn category_features(items: &IdMap, catalogue: &Catalogue) -> Vec<Vec<u32>> {
    let mut names = IdMap::new();
    (0..items.len() as u32)
        .map(|i| {
            let mut ids: Vec<u32> = catalogue
                .get(items.id(i))
                .map(|c| c.categories.iter().map(|n| names.intern(n)).collect())
                .unwrap_or_default();
            ids.sort_unstable();
            ids.dedup();
            ids
        })
        .collect()
}

/// Fits ALS on `train` (ids are compacted to those present) and packages a [`Model`].
pub fn train(
    train: &Ratings,
    params: &AlsParams,
    source: Option<String>,
    on_iteration: &mut dyn FnMut(&IterationReport),
) -> Result<Model, AlsError> {
    let mut users = IdMap::new();
    let mut items = IdMap::new();
    let triplets: Vec<(u32, u32, f32)> = train
        .records
        .iter()
        .map(|r| {
            (
                users.intern(train.users.id(r.user)),
                items.intern(train.items.id(r.item)),
                r.rating as f32,
            )
        })
        .collect();
    let seen = Csr::from_triplets(triplets.iter().copied(), users.len(), items.len());
    let start = Instant::now();
    let fitted = als::fit(&seen, params, on_iteration)?;
    let training_seconds = start.elapsed().as_secs_f64();
    let mut model = Model::from_parts(
        params.clone(),
        users,
        items,
        fitted.user_factors,
        fitted.item_factors,
        seen,
    );
    model.meta.training_seconds = training_seconds;
    model.meta.history = fitted.history;
    model.meta.source = source;
    Ok(model)
}

/// Scores a model on a test set: top-k for every test user the model knows (seen items
/// excluded) and, for explicit models, predictions for every test pair it knows; the
/// beyond-accuracy figures use item co-occurrence.
pub fn evaluate(model: &Model, test: &Ratings, k: usize) -> Evaluation {
    evaluate_with(model, test, k, None)
}

/// [`evaluate`], with the catalogue's categories as the item similarity of diversity and
/// serendipity when a catalogue is given.
pub fn evaluate_with(
    model: &Model,
    test: &Ratings,
    k: usize,
    catalogue: Option<&Catalogue>,
) -> Evaluation {
    let truth: Vec<(u32, u32, f64)> = test
        .records
        .iter()
        .map(|r| (r.user, r.item, r.rating))
        .collect();
    let mut items = test.items.clone();
    let test_users: Vec<(u32, u32)> = {
        let mut seen_user = vec![false; test.users.len()];
        test.records
            .iter()
            .filter_map(|r| {
                if std::mem::replace(&mut seen_user[r.user as usize], true) {
                    return None;
                }
                model
                    .users
                    .get(test.users.id(r.user))
                    .map(|mu| (r.user, mu))
            })
            .collect()
    };
    let lists: Vec<Vec<crate::topk::Scored>> = test_users
        .par_iter()
        .map(|&(_, mu)| model.recommend(mu, k))
        .collect();
    let mut recs = Vec::with_capacity(lists.len() * k);
    let mut model_recs = Vec::with_capacity(lists.len() * k);
    for (&(tu, mu), list) in test_users.iter().zip(&lists) {
        for s in list {
            recs.push((tu, items.intern(model.items.id(s.item)), s.score as f64));
            model_recs.push((mu, s.item));
        }
    }
    let pairs: Vec<(u32, u32)> = truth.iter().map(|&(u, i, _)| (u, i)).collect();
    let ranking = metrics::ranking_metrics(&pairs, &recs, k);
    let features = catalogue.map(|c| category_features(&model.items, c));
    let similarity = match &features {
        Some(f) => ItemSimilarity::Features(f),
        None => ItemSimilarity::Cooccurrence,
    };
    let beyond = Some(beyond_accuracy::beyond_accuracy(
        &model.seen.pairs(),
        &model_recs,
        similarity,
    ));
    let rating = match model.meta.params.feedback {
        Feedback::Implicit => RatingMetrics::default(),
        Feedback::Explicit => {
            let preds: Vec<(u32, u32, f64)> = test
                .records
                .iter()
                .filter_map(|r| {
                    let mu = model.users.get(test.users.id(r.user))?;
                    let mi = model.items.get(test.items.id(r.item))?;
                    Some((r.user, r.item, model.predict(mu, mi) as f64))
                })
                .collect();
            metrics::rating_metrics(&truth, &preds)
        }
    };
    Evaluation {
        ranking,
        rating,
        beyond,
    }
}

/// Scores recommendation and prediction files read from any system against a test set; with
/// the training interactions, also the beyond-accuracy figures of each user's k best
/// recommendations (item co-occurrence, or the catalogue's categories when given).
pub fn evaluate_files(
    truth: &Ratings,
    recs: &Ratings,
    predictions: Option<&Ratings>,
    k: usize,
    train: Option<&Ratings>,
    catalogue: Option<&Catalogue>,
) -> Evaluation {
    let mut users = IdMap::new();
    let mut items = IdMap::new();
    let mut remap = |r: &Ratings| -> Vec<(u32, u32, f64)> {
        r.records
            .iter()
            .map(|x| {
                (
                    users.intern(r.users.id(x.user)),
                    items.intern(r.items.id(x.item)),
                    x.rating,
                )
            })
            .collect()
    };
    let truth_rows = remap(truth);
    let rec_rows = remap(recs);
    let pred_rows = predictions.map(&mut remap);
    let train_rows = train.map(&mut remap);
    let pairs: Vec<(u32, u32)> = truth_rows.iter().map(|&(u, i, _)| (u, i)).collect();
    let beyond = train_rows.map(|train_rows| {
        let top: Vec<(u32, u32)> = metrics::top_k_lists(&rec_rows, k)
            .into_iter()
            .flat_map(|(u, items)| items.into_iter().map(move |i| (u, i)))
            .collect();
        let train_pairs: Vec<(u32, u32)> = train_rows.iter().map(|&(u, i, _)| (u, i)).collect();
        let features = catalogue.map(|c| category_features(&items, c));
        let similarity = match &features {
            Some(f) => ItemSimilarity::Features(f),
            None => ItemSimilarity::Cooccurrence,
        };
        beyond_accuracy::beyond_accuracy(&train_pairs, &top, similarity)
    });
    Evaluation {
        ranking: metrics::ranking_metrics(&pairs, &rec_rows, k),
        rating: pred_rows
            .map(|p| metrics::rating_metrics(&truth_rows, &p))
            .unwrap_or_default(),
        beyond,
    }
}
