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
use crate::model::{FittedOn, FittedRows, Model};

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

/// What a holdout figure was measured on: the `holdout` block of `metrics.json`, beside the
/// figures it qualifies.
///
/// Figures from two holdouts do not compare: a version trained on more data is often scored
/// on a different split. The fingerprint is what `topten versions` and the dashboard compare
/// before putting two figures side by side.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Holdout {
    /// How the holdout was made, in words: a split of a source, or a file given as such.
    pub made_by: String,
    /// [`holdout_fingerprint`] of the held-out rows.
    pub fingerprint: String,
    /// Interactions the evaluated fit was trained on.
    pub train_interactions: usize,
    /// Interactions held out.
    pub test_interactions: usize,
    /// Whether the written model was refitted on every row after this evaluation (then the
    /// figures describe the same parameters fitted without the holdout, not its factors).
    pub refitted: bool,
}

impl Holdout {
    /// The holdout of a fit on `train` scored on `test`, made as `made_by` says; not (yet)
    /// refitted.
    pub fn new(made_by: String, train: &Ratings, test: &Ratings) -> Self {
        Holdout {
            made_by,
            fingerprint: holdout_fingerprint(test),
            train_interactions: train.len(),
            test_interactions: test.len(),
            refitted: false,
        }
    }
}

/// sha256 over a holdout's (user, item, rating) rows in sorted order, so the same rows in
/// another order (another reader, a re-made split) give the same fingerprint.
pub fn holdout_fingerprint(test: &Ratings) -> String {
    use sha2::Digest;
    let mut rows: Vec<(&str, &str, u64)> = test
        .records
        .iter()
        .map(|r| {
            (
                test.users.id(r.user),
                test.items.id(r.item),
                r.rating.to_bits(),
            )
        })
        .collect();
    rows.sort_unstable();
    let mut h = sha2::Sha256::new();
    for (u, i, v) in rows {
        h.update(u.as_bytes());
        h.update(b"\t");
        h.update(i.as_bytes());
        h.update(b"\t");
        h.update(f64::from_bits(v).to_string().as_bytes());
        h.update(b"\n");
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// `evaluation` as `metrics.json` holds it: Recommenders' names for the figures, and what
/// they were measured on under `holdout`.
pub fn labelled_metrics(evaluation: &Evaluation, holdout: &Holdout) -> serde_json::Value {
    let mut value = serde_json::to_value(evaluation).expect("metrics serialise");
    value["holdout"] = serde_json::to_value(holdout).expect("holdout serialises");
    value
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
        (users, items),
        (fitted.user_factors, fitted.item_factors),
        seen,
    );
    model.meta.training_seconds = training_seconds;
    model.meta.history = fitted.history;
    model.meta.source = source;
    model.meta.fitted_on = Some(FittedOn {
        rows: FittedRows::All,
        interactions: model.meta.interactions,
    });
    Ok(model)
}

/// The model a command writes after evaluating `evaluated` on a holdout: the same parameters
/// fitted again on `all` (the training side and the holdout), so that the published factors
/// see every row and every list leaves out every item a user has. It keeps the evaluated
/// model's split, holdout figures (now marked refitted), tuning record and live-event mark.
pub fn refit(
    all: &Ratings,
    evaluated: &Model,
    on_iteration: &mut dyn FnMut(&IterationReport),
) -> Result<Model, AlsError> {
    let mut model = train(
        all,
        &evaluated.meta.params,
        evaluated.meta.source.clone(),
        on_iteration,
    )?;
    model.meta.split = evaluated.meta.split.clone();
    model.meta.metrics = evaluated.meta.metrics.clone();
    if let Some(h) = model
        .meta
        .metrics
        .as_mut()
        .and_then(|m| m.get_mut("holdout"))
    {
        h["refitted"] = serde_json::Value::Bool(true);
    }
    model.meta.tuning = evaluated.meta.tuning.clone();
    model.tuning = evaluated.tuning.clone();
    model.meta.events_through_ms = evaluated.meta.events_through_ms;
    Ok(model)
}

/// Marks `model` as fitted on the training side of its holdout only (`--no-refit`).
pub fn mark_not_refitted(model: &mut Model) {
    model.meta.fitted_on = Some(FittedOn {
        rows: FittedRows::TrainingSide,
        interactions: model.meta.interactions,
    });
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
