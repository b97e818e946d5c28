//! Automatic hyperparameter search for implicit ALS on a validation split carved out of the
//! training data only.
//!
//! - **Validation:** each user's interactions in the training set are split again (per user:
//!   the newest share when timestamps exist and [`Holdout::Last`] is asked for, else a seeded
//!   random share, with the stratified splitter's rounding). The test set is not an argument of
//!   [`tune`], so no choice can depend on it.
//! - **Search:** configurations are drawn by Latin-hypercube sampling over factors (log scale,
//!   rounded to a multiple of 8), regularisation λ (log scale), α (log scale) and the
//!   confidence scaling (linear or log); the current defaults are always trial 0, so the search
//!   can only match or beat them on validation.
//! - **Successive halving on iterations:** every configuration trains for the first rung's
//!   iterations and is scored; the best `1/eta` go on to `eta×` the iterations, and so on up to
//!   the largest rung. Survivors are extended with [`crate::als::resume`], which is exactly a
//!   longer fit, so a promotion costs only the extra iterations. Every (configuration, rung) is
//!   a scored candidate, so the iteration count is searched too.
//! - **Budget:** a number of configurations (one bracket), or seconds (brackets of
//!   [`TuneConfig::bracket`] configurations until the time is used; the running fit finishes).
//! - **Objective and bounds:** the search maximises one figure of the validation run
//!   ([`Figure`]: accuracy, or coverage, novelty, diversity, serendipity) among the
//!   configurations that keep to every [`Constraint`] (`catalog_coverage>=0.30`). With bounds
//!   or a non-accuracy objective, the popularity dial ([`crate::rescoring`]) is searched in a
//!   second stage: the [`DIAL_CANDIDATES`] best configurations of the search (by the
//!   objective, dial off) are fitted once more and scored at every step of the dial's range,
//!   and the choice is the best feasible (configuration, β). Accuracy is judged on
//!   validation; a list figure (coverage, novelty, diversity, serendipity) on the lists that a
//!   refit of the same configuration on every training row serves to every user, because
//!   those figures grow with the rows a model sees: a coverage floor checked on the fitting
//!   rows' lists is over-enforced on the model that is written. No test row is read for
//!   either. Sweeping β on a few good,
//!   converged models finds the trade-off far more reliably than sampling β at random beside
//!   the other parameters, where most draws land on poor or barely trained models.
//! - **Finalists on several folds:** the dial stage's and the refinement's configurations are
//!   scored on the mean of [`TuneConfig::validation_folds`] validation splits (the search's
//!   own and more drawn with the next seeds). One holdout's noise is as large as the gaps
//!   between the best configurations, so a single split picks among them almost at random.
//! - **Refinement:** a pattern search around the best configuration so far
//!   ([`TuneConfig::refine_rounds`]): each round fits the neighbours that move factors, λ or
//!   α one step, at full iterations and across the dial, and moves to the best if it scores
//!   higher, else narrows the step. Sampling lands near the good region far more often than
//!   in it; a few local steps close that gap, so the choice depends less on the seed.
//! - **The dial's curve:** the chosen configuration is fitted once more on the fitting rows
//!   and scored across the dial ([`DialPoint`]), so a user sees what each step of β costs in
//!   accuracy and buys in coverage.
//!
//! The caller refits the winner on all training data ([`crate::pipeline::train`]) and scores the
//! test set once.

use std::time::Instant;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::als::{self, AlsError, AlsModel, AlsParams, Confidence, Feedback};
use crate::beyond_accuracy::{self, BeyondAccuracy, ItemSimilarity};
use crate::csr::Csr;
use crate::interactions::Ratings;
use crate::metrics::{self, RankingMetrics};
use crate::objective::{Constraint, Figure};
use crate::split::{self, FilterBy, SplitError, SplitMethod, SplitParams};

/// Which of each user's training interactions are held out for validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Holdout {
    /// The newest (needs timestamps; without them, falls back to random and says so).
    Last,
    /// A seeded random share.
    Random,
}

/// The validation split inside the training data.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ValidationSplit {
    /// Newest or random interactions of each user.
    pub holdout: Holdout,
    /// Share of each user's interactions held out (Python rounding per user, so users with
    /// very few interactions keep them all for training).
    pub share: f64,
    /// Seed of the random holdout.
    pub seed: u32,
    /// Whose interactions the random holdout stratifies: each user's (the default) or each
    /// item's, as Microsoft Recommenders' benchmark split does. `last` is always per user.
    #[serde(default = "by_user")]
    pub filter_by: FilterBy,
}

fn by_user() -> FilterBy {
    FilterBy::User
}

/// The default share of the training rows held out for validation. Small, so the
/// validation fits see nearly the rows the written model is refitted on: on MovieLens 100K a
/// share of 0.2 chose models that scored well on validation and poorly on the test split (a
/// high α that pays off on the smaller fitting set only); see docs/benchmarks.md.
pub const DEFAULT_VALIDATION_SHARE: f64 = 0.1;

impl Default for ValidationSplit {
    fn default() -> Self {
        ValidationSplit {
            holdout: Holdout::Random,
            share: DEFAULT_VALIDATION_SHARE,
            seed: 7,
            filter_by: FilterBy::User,
        }
    }
}

/// Ranges searched. Log-scale ranges are sampled uniformly in the logarithm.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SearchSpace {
    /// Factors, log scale, rounded to a multiple of 8.
    pub factors: (usize, usize),
    /// Regularisation λ, log scale.
    pub regularization: (f32, f32),
    /// Confidence slope α, log scale.
    pub alpha: (f32, f32),
    /// Confidence scalings to try (sampled in equal shares).
    pub confidence: Vec<Confidence>,
    /// Iterations of the first and of the last rung of successive halving.
    pub iterations: (usize, usize),
    /// The popularity dial β, uniform (searched only with bounds or a non-accuracy
    /// objective; see [`TuneConfig::searches_dial`]).
    #[serde(default = "default_dial_range")]
    pub popularity_penalty: (f32, f32),
}

fn default_dial_range() -> (f32, f32) {
    (0.0, 1.0)
}

impl Default for SearchSpace {
    fn default() -> Self {
        SearchSpace {
            factors: (16, 256),
            regularization: (0.1, 300.0),
            alpha: (0.05, 50.0),
            confidence: vec![Confidence::Linear, Confidence::Log],
            iterations: (5, 40),
            popularity_penalty: default_dial_range(),
        }
    }
}

/// How much searching to do.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Budget {
    /// This many configurations, in one successive-halving bracket.
    Trials(usize),
    /// Brackets until this many seconds have passed.
    Seconds(f64),
}

/// Everything a search needs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TuneConfig {
    /// Ranges searched.
    pub space: SearchSpace,
    /// How much to search.
    pub budget: Budget,
    /// Configurations per bracket with a time budget.
    pub bracket: usize,
    /// Keep the best `1/eta` at each rung and multiply iterations by `eta`.
    pub eta: usize,
    /// Validation split inside the training data.
    pub validation: ValidationSplit,
    /// The figure maximised on validation (the objective).
    pub metric: Figure,
    /// Bounds every chosen configuration keeps to on validation.
    #[serde(default)]
    pub constraints: Vec<Constraint>,
    /// Cut-off of the metric.
    pub k: usize,
    /// Seed of the sampler.
    pub seed: u64,
    /// Parameters not searched (solver, CG steps, seed, threads) and trial 0.
    pub base: AlsParams,
    /// Rounds of the refinement stage: a pattern search around the best configuration found
    /// (each round fits its neighbours, one of factors, λ and α moved at a time, at full
    /// iterations and across the dial, and moves to the best if it scores higher; otherwise
    /// it narrows the step). Random sampling lands near the good region far more often than
    /// in it; a few local steps close that gap, so the choice depends less on the seed.
    /// (A record written before the stage existed reads as 0: its search had none.)
    #[serde(default)]
    pub refine_rounds: usize,
    /// Validation splits the finalists (the dial stage's and the refinement's configurations)
    /// are scored on, averaged: the search's own and more drawn with the next seeds. One
    /// holdout's noise is as large as the differences between the best configurations, so
    /// a single split picks among them almost at random. A chronological holdout has one.
    /// (A record written before folds existed reads as 1: its search had one split.)
    #[serde(default = "one_fold")]
    pub validation_folds: usize,
}

/// Validation splits of the finalists unless asked otherwise.
pub const DEFAULT_VALIDATION_FOLDS: usize = 3;

fn one_fold() -> usize {
    1
}

/// Rounds of the refinement stage unless asked otherwise.
pub const DEFAULT_REFINE_ROUNDS: usize = 3;

impl Default for TuneConfig {
    fn default() -> Self {
        TuneConfig {
            space: SearchSpace::default(),
            budget: Budget::Trials(40),
            bracket: 27,
            eta: 2,
            validation: ValidationSplit::default(),
            metric: Figure::NdcgAtK,
            constraints: Vec::new(),
            k: 10,
            seed: 42,
            base: AlsParams::implicit(),
            refine_rounds: DEFAULT_REFINE_ROUNDS,
            validation_folds: DEFAULT_VALIDATION_FOLDS,
        }
    }
}

impl TuneConfig {
    /// Whether a validation run keeps to every bound.
    pub fn keeps_bounds(&self, ranking: &RankingMetrics, beyond: &BeyondAccuracy) -> bool {
        self.constraints.iter().all(|c| c.holds(ranking, beyond))
    }

    /// Whether the popularity dial is searched: only when something other than accuracy
    /// counts (bounds, or a non-accuracy objective); otherwise the search maximises accuracy
    /// with the base configuration's dial, as before the dial existed.
    pub fn searches_dial(&self) -> bool {
        !self.constraints.is_empty() || !self.metric.is_accuracy()
    }
}

/// One point of the dial's curve: the chosen configuration at one β, on validation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DialPoint {
    /// β.
    pub popularity_penalty: f32,
    /// Validation accuracy at k.
    pub validation: RankingMetrics,
    /// Validation coverage, novelty, diversity, serendipity.
    pub beyond: BeyondAccuracy,
    /// The same figures for every user's lists from a refit on all training rows, where the
    /// search measured them ([`Trial::served`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served: Option<BeyondAccuracy>,
}

/// Configurations whose dial is swept in the second stage of a bounded search.
pub const DIAL_CANDIDATES: usize = 5;

/// Steps of the dial in the second stage (evenly over the searched range, both ends included).
pub const DIAL_SEARCH_STEPS: usize = 41;

/// The steps of the dial's curve.
pub const DIAL_STEPS: [f32; 13] = [
    0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.8, 1.0,
];

/// One scored (configuration, iterations) pair.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Trial {
    /// Configuration number (0 is the defaults).
    pub config: usize,
    /// Successive-halving bracket.
    pub bracket: usize,
    /// Rung within the bracket (0 = fewest iterations).
    pub rung: usize,
    /// Parameters, with the iterations trained so far.
    pub params: AlsParams,
    /// Validation metrics at k.
    pub validation: RankingMetrics,
    /// Validation coverage, novelty, diversity and serendipity.
    #[serde(default)]
    pub beyond: BeyondAccuracy,
    /// The optimised figure (a copy of the matching field of `validation` or `beyond`).
    pub score: f64,
    /// Whether the trial keeps to every bound.
    #[serde(default = "yes")]
    pub feasible: bool,
    /// Fit seconds for this configuration so far.
    pub seconds: f64,
    /// Whether the configuration went on to the next rung.
    pub promoted: bool,
    /// A point of the second stage's dial sweep (not a successive-halving trial).
    #[serde(default)]
    pub dial_sweep: bool,
    /// Coverage, novelty, diversity and serendipity of the lists a refit on every training
    /// row serves to every user (dial-sweep trials only): the figures a list bound is checked
    /// on, since a fit on the fitting rows alone understates them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served: Option<BeyondAccuracy>,
    /// A configuration of the refinement stage ([`TuneConfig::refine_rounds`]).
    #[serde(default)]
    pub refined: bool,
}

fn yes() -> bool {
    true
}

/// Progress after each scored trial.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Trials scored so far.
    pub done: usize,
    /// Trials planned (`None` with a time budget).
    pub planned: Option<usize>,
    /// Best score so far.
    pub best: f64,
    /// Seconds since the search started.
    pub elapsed: f64,
}

/// What the search found.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TuneResult {
    /// The best parameters (iterations included).
    pub best: AlsParams,
    /// Index of the best trial in `trials`.
    pub best_trial: usize,
    /// Every scored trial, in the order they ran.
    pub trials: Vec<Trial>,
    /// Interactions the validation fits trained on.
    pub fit_rows: usize,
    /// Interactions held out for validation.
    pub validation_rows: usize,
    /// Users with validation interactions.
    pub validation_users: usize,
    /// The holdout actually used (`random` when `last` was asked without timestamps).
    pub holdout: Holdout,
    /// Seconds the search took.
    pub seconds: f64,
    /// The chosen configuration across the dial ([`DIAL_STEPS`]), on validation.
    pub dial: Vec<DialPoint>,
}

/// Why a search could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TuneError {
    /// The validation split failed (too little data).
    #[error("validation split: {0}")]
    Split(#[from] SplitError),
    /// A fit failed.
    #[error(transparent)]
    Als(#[from] AlsError),
    /// The configuration is unusable.
    #[error("invalid tuning configuration: {0}")]
    Config(String),
    /// No configuration kept to the bounds.
    #[error("no configuration kept to {constraints} on validation ({trials} trials); the closest: {closest}. Loosen the bounds, widen the search space, or give a larger budget")]
    Infeasible {
        /// The bounds, as given.
        constraints: String,
        /// Trials scored.
        trials: usize,
        /// The best value reached for each bound.
        closest: String,
    },
}

/// Splits the training rows into fitting and validation rows (indices into `train.records`),
/// per user. Returns the holdout actually used.
pub fn validation_split(
    train: &Ratings,
    v: &ValidationSplit,
) -> Result<(split::Split, Holdout), TuneError> {
    if !(v.share > 0.0 && v.share < 1.0) {
        return Err(TuneError::Config(format!(
            "validation share must be in (0, 1), got {}",
            v.share
        )));
    }
    let holdout = if v.holdout == Holdout::Last && train.has_timestamps {
        Holdout::Last
    } else {
        Holdout::Random
    };
    let params = SplitParams {
        method: if holdout == Holdout::Last {
            SplitMethod::Chrono
        } else {
            SplitMethod::Stratified
        },
        ratio: 1.0 - v.share,
        seed: v.seed,
        // Newest interactions are always each user's own.
        filter_by: if holdout == Holdout::Last {
            FilterBy::User
        } else {
            v.filter_by
        },
        min_rating: 1,
    };
    Ok((split::split(train, &params)?, holdout))
}

/// Latin-hypercube sample of `n` configurations (each dimension cut into `n` strata, one draw
/// per stratum, strata shuffled independently per dimension).
pub fn sample(
    space: &SearchSpace,
    base: &AlsParams,
    n: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<AlsParams> {
    let strata = |rng: &mut ChaCha8Rng| -> Vec<f64> {
        let mut s: Vec<usize> = (0..n).collect();
        s.shuffle(rng);
        s.into_iter()
            .map(|j| (j as f64 + rng.gen::<f64>()) / n as f64)
            .collect()
    };
    let log_lerp = |(lo, hi): (f64, f64), u: f64| (lo.ln() + u * (hi.ln() - lo.ln())).exp();
    let f = strata(rng);
    let r = strata(rng);
    let a = strata(rng);
    let c = strata(rng);
    let confidences = if space.confidence.is_empty() {
        vec![base.confidence]
    } else {
        space.confidence.clone()
    };
    (0..n)
        .map(|j| {
            let factors = log_lerp((space.factors.0 as f64, space.factors.1 as f64), f[j]);
            let factors = (((factors / 8.0).round() as usize) * 8)
                .clamp(space.factors.0.max(1), space.factors.1.max(1));
            AlsParams {
                feedback: Feedback::Implicit,
                factors,
                regularization: log_lerp(
                    (space.regularization.0 as f64, space.regularization.1 as f64),
                    r[j],
                ) as f32,
                alpha: log_lerp((space.alpha.0 as f64, space.alpha.1 as f64), a[j]) as f32,
                confidence: confidences
                    [((c[j] * confidences.len() as f64) as usize).min(confidences.len() - 1)],
                iterations: space.iterations.0,
                ..base.clone()
            }
        })
        .collect()
}

/// The iteration counts of the rungs: `first, first·eta, ...`, the last capped at `last`.
pub fn rungs(first: usize, last: usize, eta: usize) -> Vec<usize> {
    let mut out = vec![first.max(1)];
    while *out.last().unwrap() < last {
        let next = (out.last().unwrap() * eta.max(2)).min(last);
        out.push(next);
    }
    out
}

/// Runs the search on `train` (the training side only), calling `on_trial` after each scored
/// trial. Deterministic for a configuration (a time budget may stop at a different trial).
///
/// Three stages over one [`Search`]: successive halving over sampled configurations
/// ([`Search::halving`]), the popularity dial swept on the best of them
/// ([`Search::dial_stage`]), and a pattern search around the best eligible one
/// ([`Search::refine`]); then the choice ([`Search::finish`]).
pub fn tune(
    train: &Ratings,
    cfg: &TuneConfig,
    on_trial: &mut dyn FnMut(&Trial, &Progress),
) -> Result<TuneResult, TuneError> {
    let start = Instant::now();
    if cfg.base.feedback != Feedback::Implicit {
        return Err(TuneError::Config(
            "tuning searches the implicit model".into(),
        ));
    }
    if cfg.space.factors.0 == 0
        || cfg.space.factors.0 > cfg.space.factors.1
        || cfg.space.iterations.0 == 0
    {
        return Err(TuneError::Config(format!("bad ranges: {:?}", cfg.space)));
    }
    let (parts, holdout) = validation_split(train, &cfg.validation)?;
    // The finalists' other validation splits (a chronological holdout has only one).
    let mut folds = vec![];
    if holdout == Holdout::Random {
        for f in 1..cfg.validation_folds.max(1) {
            let v = ValidationSplit {
                seed: cfg.validation.seed.wrapping_add(f as u32),
                ..cfg.validation
            };
            folds.push(Fold::new(train, &validation_split(train, &v)?.0));
        }
    }
    let mut search = Search::new(train, cfg, Fold::new(train, &parts), folds, start, on_trial);
    search.halving()?;
    if search.trials.is_empty() {
        return Err(TuneError::Config(
            "the time budget ended before the first trial".into(),
        ));
    }
    search.dial_stage()?;
    let refined = search.refine()?;
    let mut result = search.finish(refined)?;
    result.fit_rows = parts.train.len();
    result.validation_rows = parts.test.len();
    result.holdout = holdout;
    Ok(result)
}

/// What every user would be served by a fit on all training rows: list figures (coverage and
/// the like) grow with the rows a model sees, so checking a coverage floor on the fitting
/// rows' lists over-enforces it on the model that is actually written.
struct ServedLists {
    matrix: Csr,
    pairs: Vec<(u32, u32)>,
    counts: Vec<u32>,
    users: Vec<u32>,
}

/// The state of one search: its inputs, the trials so far and the sweeps of the dial.
struct Search<'a> {
    cfg: &'a TuneConfig,
    /// The search's own validation split.
    first: Fold,
    /// The finalists' other validation splits.
    folds: Vec<Fold>,
    served: ServedLists,
    /// Whether the dial is searched, and whether a list figure is in play.
    search_dial: bool,
    list_bounds: bool,
    /// The dial steps a configuration is scored at in a sweep (the base β alone when the
    /// dial is not searched).
    grid: Vec<f32>,
    start: Instant,
    deadline: Option<f64>,
    on_trial: &'a mut dyn FnMut(&Trial, &Progress),
    trials: Vec<Trial>,
    best: f64,
    next_config: usize,
    /// Each swept configuration's dial points.
    sweeps: Vec<(usize, Vec<DialPoint>)>,
}

impl<'a> Search<'a> {
    fn new(
        train: &Ratings,
        cfg: &'a TuneConfig,
        first: Fold,
        folds: Vec<Fold>,
        start: Instant,
        on_trial: &'a mut dyn FnMut(&Trial, &Progress),
    ) -> Self {
        let (nu, ni) = (train.users.len(), train.items.len());
        let matrix = Csr::from_interactions(&train.records, nu, ni);
        let served = ServedLists {
            pairs: matrix.pairs(),
            counts: crate::rescoring::item_counts(&matrix, ni),
            users: (0..nu as u32)
                .filter(|&u| !matrix.row(u as usize).0.is_empty())
                .collect(),
            matrix,
        };
        let search_dial = cfg.searches_dial();
        let grid: Vec<f32> = if search_dial {
            let (lo, hi) = cfg.space.popularity_penalty;
            (0..DIAL_SEARCH_STEPS)
                .map(|j| lo + (hi - lo) * j as f32 / (DIAL_SEARCH_STEPS - 1) as f32)
                .collect()
        } else {
            vec![cfg.base.popularity_penalty]
        };
        let deadline = match cfg.budget {
            Budget::Trials(_) => None,
            Budget::Seconds(s) => Some(s),
        };
        Search {
            cfg,
            first,
            folds,
            served,
            search_dial,
            list_bounds: !cfg.metric.is_accuracy()
                || cfg.constraints.iter().any(|c| !c.figure.is_accuracy()),
            grid,
            start,
            deadline,
            on_trial,
            trials: Vec::new(),
            best: f64::NEG_INFINITY,
            next_config: 0,
            sweeps: Vec::new(),
        }
    }

    fn out_of_time(&self) -> bool {
        self.deadline
            .is_some_and(|d| self.start.elapsed().as_secs_f64() >= d)
    }

    /// Adds a trial and reports it.
    fn push(&mut self, trial: Trial, planned: Option<usize>) {
        self.best = self.best.max(trial.score);
        self.trials.push(trial);
        let progress = Progress {
            done: self.trials.len(),
            planned,
            best: self.best,
            elapsed: self.start.elapsed().as_secs_f64(),
        };
        (self.on_trial)(self.trials.last().unwrap(), &progress);
    }

    /// First stage: successive halving. Each bracket samples configurations (the first's
    /// first is the base), trains them rung by rung on the fitting rows, scores each on the
    /// validation split and promotes the best 1/eta (ties: lower config id, for determinism).
    /// Bounds wait for the dial stage: with the dial off, few configurations keep to them.
    fn halving(&mut self) -> Result<(), TuneError> {
        let cfg = self.cfg;
        let ladder = rungs(cfg.space.iterations.0, cfg.space.iterations.1, cfg.eta);
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let per_bracket = match cfg.budget {
            Budget::Trials(n) => n.max(1),
            Budget::Seconds(_) => cfg.bracket.max(1),
        };
        let planned = match cfg.budget {
            Budget::Trials(n) => {
                let mut alive = n.max(1);
                let mut total = 0;
                for _ in &ladder {
                    total += alive;
                    alive = survivors(alive, cfg.eta);
                }
                Some(total)
            }
            Budget::Seconds(_) => None,
        };
        for bracket in 0.. {
            let mut configs = sample(&cfg.space, &cfg.base, per_bracket, &mut rng);
            if bracket == 0 {
                configs[0] = AlsParams {
                    iterations: ladder[0],
                    ..cfg.base.clone()
                };
            }
            let mut alive: Vec<Rung> = configs
                .into_iter()
                .map(|params| {
                    self.next_config += 1;
                    Rung {
                        config: self.next_config - 1,
                        model: None,
                        params,
                        seconds: 0.0,
                        latest: usize::MAX,
                    }
                })
                .collect();
            let mut trained_to = 0usize;
            for (rung, &iters) in ladder.iter().enumerate() {
                for entry in alive.iter_mut() {
                    if self.out_of_time() {
                        return Ok(());
                    }
                    let trial = self.train_rung(entry, bracket, rung, iters, trained_to)?;
                    entry.latest = self.trials.len();
                    self.push(trial, planned);
                }
                trained_to = iters;
                if rung + 1 == ladder.len() {
                    break;
                }
                let trials = &mut self.trials;
                alive.sort_by(|a, b| {
                    trials[b.latest]
                        .score
                        .total_cmp(&trials[a.latest].score)
                        .then(a.config.cmp(&b.config))
                });
                alive.truncate(survivors(alive.len(), cfg.eta));
                for entry in &alive {
                    trials[entry.latest].promoted = true;
                }
            }
            if self.deadline.is_none() || self.out_of_time() {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Trains `entry` on to `iters` iterations (from `trained_to`) and scores it.
    fn train_rung(
        &self,
        entry: &mut Rung,
        bracket: usize,
        rung: usize,
        iters: usize,
        trained_to: usize,
    ) -> Result<Trial, TuneError> {
        let t0 = Instant::now();
        let fit_matrix = &self.first.matrix;
        let model = match entry.model.take() {
            None => als::fit(
                fit_matrix,
                &AlsParams {
                    iterations: iters,
                    ..entry.params.clone()
                },
                &mut |_| {},
            )?,
            Some(m) => als::resume(fit_matrix, m, iters - trained_to, &mut |_| {})?,
        };
        entry.seconds += t0.elapsed().as_secs_f64();
        let beta = entry.params.popularity_penalty;
        let bias = dial_biases(&model, &self.first.counts, &[beta])
            .pop()
            .flatten();
        let (validation, beyond) = self.first.score(&model, bias.as_deref(), self.cfg.k);
        let score = self.cfg.metric.value(&validation, &beyond);
        let trial = Trial {
            config: entry.config,
            bracket,
            rung,
            params: AlsParams {
                popularity_penalty: beta,
                ..model.params.clone()
            },
            validation,
            beyond,
            score,
            feasible: self.cfg.keeps_bounds(&validation, &beyond),
            seconds: entry.seconds,
            promoted: false,
            dial_sweep: false,
            served: None,
            refined: false,
        };
        tracing::debug!(
            config = entry.config,
            rung,
            iterations = iters,
            score,
            "trial"
        );
        entry.model = Some(model);
        Ok(trial)
    }

    /// A point's score and feasibility; a list figure is judged on the served lists when they
    /// were measured.
    fn judge(
        &self,
        validation: &RankingMetrics,
        beyond: &BeyondAccuracy,
        served: Option<&BeyondAccuracy>,
    ) -> (f64, bool) {
        let cfg = self.cfg;
        let lists = served.unwrap_or(beyond);
        let pick = |accuracy: bool| if accuracy { beyond } else { lists };
        let score = cfg.metric.value(validation, pick(cfg.metric.is_accuracy()));
        let feasible = cfg
            .constraints
            .iter()
            .all(|c| c.holds(validation, pick(c.figure.is_accuracy())));
        (score, feasible)
    }

    /// The beyond-accuracy figures of every user's lists from `model` (a fit on all rows).
    fn served_figures(&self, model: &AlsModel, bias: Option<&[f32]>) -> BeyondAccuracy {
        let s = &self.served;
        let lists = top_lists(model, &s.users, &s.matrix, bias, self.cfg.k);
        let pairs: Vec<(u32, u32)> = s
            .users
            .iter()
            .zip(&lists)
            .flat_map(|(&u, l)| l.iter().map(move |s| (u, s.item)))
            .collect();
        beyond_accuracy::beyond_accuracy(&s.pairs, &pairs, ItemSimilarity::Cooccurrence)
    }

    /// A configuration fitted at its full iterations and scored at every step of the grid,
    /// on every fold: each point's mean figures, served-list figures where measured, score
    /// and feasibility, and the seconds of the first fold's fit.
    fn sweep(&self, params: &AlsParams) -> SweepResult {
        let grid = &self.grid;
        let mut runs: Vec<Vec<(RankingMetrics, BeyondAccuracy)>> = vec![Vec::new(); grid.len()];
        let mut seconds = 0.0;
        for (f, fold) in std::iter::once(&self.first).chain(&self.folds).enumerate() {
            let t0 = Instant::now();
            let model = als::fit(&fold.matrix, params, &mut |_| {})?;
            if f == 0 {
                seconds = t0.elapsed().as_secs_f64();
            }
            let biases = dial_biases(&model, &fold.counts, grid);
            for (run, bias) in runs.iter_mut().zip(&biases) {
                run.push(fold.score(&model, bias.as_deref(), self.cfg.k));
            }
        }
        let refit = if self.list_bounds {
            Some(als::fit(&self.served.matrix, params, &mut |_| {})?)
        } else {
            None
        };
        let served_biases = refit
            .as_ref()
            .map(|m| dial_biases(m, &self.served.counts, grid));
        let mut points = Vec::with_capacity(grid.len());
        let mut judged = Vec::with_capacity(grid.len());
        for (j, (&beta, run)) in grid.iter().zip(&runs).enumerate() {
            let (validation, beyond) = mean_figures(run);
            let lists = refit
                .as_ref()
                .zip(served_biases.as_ref())
                .map(|(m, b)| self.served_figures(m, b[j].as_deref()));
            judged.push(self.judge(&validation, &beyond, lists.as_ref()));
            points.push(DialPoint {
                popularity_penalty: beta,
                validation,
                beyond,
                served: lists,
            });
        }
        Ok((points, judged, seconds))
    }

    /// Sweeps `base`'s configuration and records its points as trials of `base` (its config,
    /// bracket and rung); returns the index of the first and the points.
    fn sweep_and_record(&mut self, base: &Trial) -> Result<(usize, Vec<DialPoint>), TuneError> {
        let (points, judged, seconds) = self.sweep(&base.params)?;
        let from = self.trials.len();
        for (point, &(score, feasible)) in points.iter().zip(&judged) {
            let trial = Trial {
                params: AlsParams {
                    popularity_penalty: point.popularity_penalty,
                    ..base.params.clone()
                },
                validation: point.validation,
                beyond: point.beyond,
                score,
                feasible,
                seconds,
                promoted: false,
                dial_sweep: self.search_dial,
                served: point.served,
                ..base.clone()
            };
            self.push(trial, None);
        }
        Ok((from, points))
    }

    /// Second stage: the dial swept on the best configurations (each one's deepest trial).
    fn dial_stage(&mut self) -> Result<(), TuneError> {
        if !self.search_dial {
            return Ok(());
        }
        let trials = &self.trials;
        let mut deepest: Vec<usize> = Vec::new();
        for (t, trial) in trials.iter().enumerate() {
            match deepest
                .iter_mut()
                .find(|d| trials[**d].config == trial.config)
            {
                Some(d) if trials[*d].rung <= trial.rung => *d = t,
                Some(_) => {}
                None => deepest.push(t),
            }
        }
        deepest.sort_by(|&a, &b| {
            trials[b]
                .score
                .total_cmp(&trials[a].score)
                .then(trials[a].config.cmp(&trials[b].config))
        });
        let candidates: Vec<Trial> = deepest
            .iter()
            .take(DIAL_CANDIDATES)
            .map(|&t| trials[t].clone())
            .collect();
        for base in candidates {
            let (_, points) = self.sweep_and_record(&base)?;
            self.sweeps.push((base.config, points));
        }
        Ok(())
    }

    /// Whether a trial may be chosen: feasible, and with a list figure in play, measured on
    /// the served lists by a sweep.
    fn eligible(&self, t: &Trial) -> bool {
        t.feasible && (!self.list_bounds || !self.search_dial || t.dial_sweep)
    }

    /// Third stage: a pattern search around the best eligible configuration (see
    /// [`TuneConfig::refine_rounds`]). Returns whether it ran.
    fn refine(&mut self) -> Result<bool, TuneError> {
        let cfg = self.cfg;
        let start_at = if cfg.refine_rounds > 0 {
            best_of(&self.trials, |t| self.eligible(t))
        } else {
            None
        };
        let Some(first) = start_at else {
            return Ok(false);
        };
        let mut center = self.trials[first].clone();
        if !center.dial_sweep {
            // Scored on one fold: score it on all of them, as its neighbours will be.
            let base = Trial {
                refined: true,
                ..center.clone()
            };
            let (from, _) = self.sweep_and_record(&base)?;
            center = self.trials[from].clone();
        }
        let mut step = REFINE_FIRST_STEP;
        let mut tried: Vec<(usize, u32, u32, Confidence)> = vec![refine_key(&center.params)];
        for _ in 0..cfg.refine_rounds {
            let mut moved: Option<Trial> = None;
            for params in neighbours(&center.params, step, &cfg.space) {
                if self.out_of_time() || tried.contains(&refine_key(&params)) {
                    continue;
                }
                tried.push(refine_key(&params));
                let base = Trial {
                    config: self.next_config,
                    refined: true,
                    params,
                    ..center.clone()
                };
                self.next_config += 1;
                let (from, points) = self.sweep_and_record(&base)?;
                if self.search_dial {
                    self.sweeps.push((base.config, points));
                }
                let top = best_of(&self.trials[from..], |t| self.eligible(t))
                    .map(|t| &self.trials[from + t]);
                if let Some(top) = top {
                    let bar = moved.as_ref().map_or(center.score, |m| m.score);
                    if top.score > bar {
                        moved = Some(top.clone());
                    }
                }
            }
            match moved {
                Some(better) => center = better,
                None => step = step.sqrt(),
            }
        }
        Ok(true)
    }

    /// The choice: the best feasible score; ties go to the cheaper model (fewer factors, then
    /// fewer iterations, then less of the dial). With a list figure in play, only the sweep's
    /// trials count: theirs were measured on the lists that are served. Finalists scored on
    /// every fold are not compared with trials scored on one. Then the chosen configuration
    /// across the dial: its sweep, or one more fit on the fitting rows.
    fn finish(self, refined: bool) -> Result<TuneResult, TuneError> {
        let best_trial = best_of(&self.trials, |t| {
            self.eligible(t) && (self.search_dial || !refined || t.refined)
        })
        .ok_or_else(|| infeasible(self.cfg, &self.trials))?;
        let chosen = self.trials[best_trial].params.clone();
        let swept = self
            .sweeps
            .iter()
            .find(|(c, _)| {
                self.trials[best_trial].dial_sweep && *c == self.trials[best_trial].config
            })
            .map(|(_, sweep)| sweep.clone());
        let dial = match swept {
            Some(sweep) => sweep,
            None => {
                let model = als::fit(&self.first.matrix, &chosen, &mut |_| {})?;
                let biases = dial_biases(&model, &self.first.counts, &DIAL_STEPS);
                DIAL_STEPS
                    .iter()
                    .zip(&biases)
                    .map(|(&beta, bias)| {
                        let (validation, beyond) =
                            self.first.score(&model, bias.as_deref(), self.cfg.k);
                        DialPoint {
                            popularity_penalty: beta,
                            validation,
                            beyond,
                            served: None,
                        }
                    })
                    .collect()
            }
        };
        Ok(TuneResult {
            best: chosen,
            best_trial,
            fit_rows: 0,
            validation_rows: 0,
            validation_users: self.first.users.len(),
            holdout: Holdout::Random,
            trials: self.trials,
            seconds: self.start.elapsed().as_secs_f64(),
            dial,
        })
    }
}

/// A configuration alive in a bracket of the halving stage.
struct Rung {
    config: usize,
    /// Its model so far (trained to the previous rung).
    model: Option<AlsModel>,
    params: AlsParams,
    /// Fit seconds so far.
    seconds: f64,
    /// The index of its latest trial.
    latest: usize,
}

/// Each of `users`' top `k` of `model` (with the dial's `bias`), leaving out what `seen` holds
/// for them.
fn top_lists(
    model: &AlsModel,
    users: &[u32],
    seen: &Csr,
    bias: Option<&[f32]>,
    k: usize,
) -> Vec<Vec<crate::topk::Scored>> {
    users
        .par_iter()
        .map(|&u| {
            let x = model.user_factors.row(u as usize);
            crate::topk::top_k_for_vector(
                x.as_slice().unwrap(),
                &model.item_factors,
                bias,
                k,
                seen.row(u as usize).0,
            )
        })
        .collect()
}

/// The dial's per-item bias for `model` at each of `betas` ([`crate::rescoring`]): the
/// model's score spread is measured once for all of them, and not at all when every β is 0.
fn dial_biases(model: &AlsModel, counts: &[u32], betas: &[f32]) -> Vec<Option<Vec<f32>>> {
    if betas.iter().all(|&b| b == 0.0) {
        return vec![None; betas.len()];
    }
    let scale = crate::rescoring::score_scale(&model.user_factors, &model.item_factors);
    betas
        .iter()
        .map(|&beta| crate::rescoring::popularity_bias(beta, scale, counts))
        .collect()
}

/// The error of a search where no trial kept to the bounds, with the best value each bound saw.
fn infeasible(cfg: &TuneConfig, trials: &[Trial]) -> TuneError {
    let closest: Vec<String> = cfg
        .constraints
        .iter()
        .map(|c| {
            let values = trials
                .iter()
                .map(|t| match (&t.served, c.figure.is_accuracy()) {
                    (Some(served), false) => c.figure.value(&t.validation, served),
                    _ => c.figure.value(&t.validation, &t.beyond),
                });
            let best = match c.bound {
                crate::objective::Bound::AtLeast => values.fold(f64::NEG_INFINITY, f64::max),
                crate::objective::Bound::AtMost => values.fold(f64::INFINITY, f64::min),
            };
            format!("{} {best:.4}", c.figure)
        })
        .collect();
    TuneError::Infeasible {
        constraints: cfg
            .constraints
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        trials: trials.len(),
        closest: closest.join(", "),
    }
}

/// A configuration's sweep across the dial: each point, its (score, feasible), fit seconds.
type SweepResult = Result<(Vec<DialPoint>, Vec<(f64, bool)>, f64), TuneError>;

/// One validation split of the training rows: what its fits train on and are scored against.
struct Fold {
    /// The fitting rows.
    matrix: Csr,
    /// (user, item) pairs of the fitting rows.
    pairs: Vec<(u32, u32)>,
    /// Fitting rows per item (the dial's popularity).
    counts: Vec<u32>,
    /// The held-out (user, item) pairs.
    truth: Vec<(u32, u32)>,
    /// Users with held-out rows, ascending.
    users: Vec<u32>,
}

impl Fold {
    fn new(train: &Ratings, parts: &split::Split) -> Fold {
        let (nu, ni) = (train.users.len(), train.items.len());
        let matrix = Csr::from_interactions(&train.subset(&parts.train).records, nu, ni);
        let truth: Vec<(u32, u32)> = parts
            .test
            .iter()
            .map(|&r| (train.records[r].user, train.records[r].item))
            .collect();
        let mut users: Vec<u32> = truth.iter().map(|&(u, _)| u).collect();
        users.sort_unstable();
        users.dedup();
        Fold {
            pairs: matrix.pairs(),
            counts: crate::rescoring::item_counts(&matrix, ni),
            matrix,
            truth,
            users,
        }
    }

    /// The validation lists of `model` with the dial's `bias` ([`dial_biases`]), and their
    /// figures.
    fn score(
        &self,
        model: &AlsModel,
        bias: Option<&[f32]>,
        k: usize,
    ) -> (RankingMetrics, BeyondAccuracy) {
        let lists = top_lists(model, &self.users, &self.matrix, bias, k);
        let recs: Vec<(u32, u32, f64)> = self
            .users
            .iter()
            .zip(&lists)
            .flat_map(|(&u, l)| l.iter().map(move |s| (u, s.item, s.score as f64)))
            .collect();
        let pairs: Vec<(u32, u32)> = recs.iter().map(|&(u, i, _)| (u, i)).collect();
        (
            metrics::ranking_metrics(&self.truth, &recs, k),
            beyond_accuracy::beyond_accuracy(&self.pairs, &pairs, ItemSimilarity::Cooccurrence),
        )
    }
}

/// The mean of each figure over validation folds (counts and the similarity from the first).
fn mean_figures(runs: &[(RankingMetrics, BeyondAccuracy)]) -> (RankingMetrics, BeyondAccuracy) {
    let n = runs.len().max(1) as f64;
    let (mut r, mut b) = runs[0];
    let mean = |get: &dyn Fn(&(RankingMetrics, BeyondAccuracy)) -> f64| {
        runs.iter().map(get).sum::<f64>() / n
    };
    r.precision_at_k = mean(&|x| x.0.precision_at_k);
    r.recall_at_k = mean(&|x| x.0.recall_at_k);
    r.ndcg_at_k = mean(&|x| x.0.ndcg_at_k);
    r.map_at_k = mean(&|x| x.0.map_at_k);
    r.map = mean(&|x| x.0.map);
    b.catalog_coverage = mean(&|x| x.1.catalog_coverage);
    b.distributional_coverage = mean(&|x| x.1.distributional_coverage);
    b.novelty = mean(&|x| x.1.novelty);
    b.diversity = mean(&|x| x.1.diversity);
    b.serendipity = mean(&|x| x.1.serendipity);
    (r, b)
}

/// The best eligible trial of `trials` (its index): the highest score; ties go to the cheaper
/// model (fewer factors, then fewer iterations, then less of the dial).
fn best_of(trials: &[Trial], eligible: impl Fn(&Trial) -> bool) -> Option<usize> {
    (0..trials.len())
        .filter(|&t| eligible(&trials[t]))
        .max_by(|&a, &b| {
            let (ta, tb) = (&trials[a], &trials[b]);
            ta.score
                .total_cmp(&tb.score)
                .then(tb.params.factors.cmp(&ta.params.factors))
                .then(tb.params.iterations.cmp(&ta.params.iterations))
                .then(
                    tb.params
                        .popularity_penalty
                        .total_cmp(&ta.params.popularity_penalty),
                )
        })
}

/// The first multiplicative step of the refinement stage: λ and α are tried at ×2 and ÷2 of
/// the centre, factors at ×1.5 and ÷1.5; a round that finds nothing better takes the square
/// root of the step.
pub const REFINE_FIRST_STEP: f32 = 2.0;

/// What makes two refinement configurations the same (factors, λ and α to 1e-4 relative,
/// confidence).
fn refine_key(p: &AlsParams) -> (usize, u32, u32, Confidence) {
    let q = |x: f32| (x.max(f32::MIN_POSITIVE).ln() * 1e4).round() as i64 as u32;
    (p.factors, q(p.regularization), q(p.alpha), p.confidence)
}

/// The refinement stage's neighbours of `center` at `step`: one dimension moved up or down
/// at a time, kept inside `space`.
fn neighbours(center: &AlsParams, step: f32, space: &SearchSpace) -> Vec<AlsParams> {
    let factor_step = 1.0 + (step - 1.0) / 2.0;
    let round8 = |f: f32| ((((f / 8.0).round()) as usize) * 8).max(8);
    let (flo, fhi) = (space.factors.0.max(1), space.factors.1.max(1));
    let up = round8(center.factors as f32 * factor_step).max(center.factors + 8);
    let down = round8(center.factors as f32 / factor_step).min(center.factors.saturating_sub(8));
    let mut out = Vec::new();
    for factors in [up, down] {
        if (flo..=fhi).contains(&factors) && factors != center.factors {
            out.push(AlsParams {
                factors,
                ..center.clone()
            });
        }
    }
    let within = |(lo, hi): (f32, f32), x: f32| x.clamp(lo, hi);
    for m in [step, 1.0 / step] {
        let regularization = within(space.regularization, center.regularization * m);
        if regularization != center.regularization {
            out.push(AlsParams {
                regularization,
                ..center.clone()
            });
        }
    }
    for m in [step, 1.0 / step] {
        let alpha = within(space.alpha, center.alpha * m);
        if alpha != center.alpha {
            out.push(AlsParams {
                alpha,
                ..center.clone()
            });
        }
    }
    out
}

fn survivors(n: usize, eta: usize) -> usize {
    n.div_ceil(eta.max(2)).max(1)
}

/// `tuning.json` of a tuned model directory: the parameters chosen, the search in brief, the
/// test figures, the configuration and every trial. Retrains read [`TuningRecord::chosen`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TuningRecord {
    /// The parameters the model was refitted with (the best trial's, threads as run).
    pub chosen: AlsParams,
    /// The search in brief (also in `model.json`).
    pub summary: TuningSummary,
    /// Test-set figures of the refitted model, when a test set was held out.
    #[serde(default)]
    pub test: Option<serde_json::Value>,
    /// How the search was configured.
    pub config: TuneConfig,
    /// Every scored trial, in the order they ran.
    pub trials: Vec<Trial>,
    /// The chosen configuration across the popularity dial, on validation.
    #[serde(default)]
    pub dial: Vec<DialPoint>,
}

/// The search in brief.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TuningSummary {
    /// Figure maximised on validation.
    pub metric: Figure,
    /// Cut-off of the metric.
    pub k: usize,
    /// How much was searched.
    pub budget: Budget,
    /// Trials scored.
    pub trials: usize,
    /// Seconds the search took.
    pub seconds: f64,
    /// The validation split inside the training data.
    pub validation: ValidationSummary,
    /// Index of the best trial.
    pub best_trial: usize,
    /// The best trial's score.
    pub best_score: f64,
    /// The best trial's validation metrics.
    pub best_validation: RankingMetrics,
    /// The defaults' score (trial 0), for comparison.
    pub defaults_score: f64,
}

/// The validation split a search used.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationSummary {
    /// The holdout actually used.
    pub holdout: Holdout,
    /// Share of each user's interactions held out.
    pub share: f64,
    /// Interactions the validation fits trained on.
    pub fit_rows: usize,
    /// Interactions held out.
    pub validation_rows: usize,
    /// Users with validation interactions.
    pub users: usize,
}

impl TuningRecord {
    /// The record of `result`, searched with `config`, refitted with `chosen`.
    pub fn new(config: &TuneConfig, result: &TuneResult, chosen: AlsParams) -> Self {
        let best = &result.trials[result.best_trial];
        TuningRecord {
            chosen,
            summary: TuningSummary {
                metric: config.metric,
                k: config.k,
                budget: config.budget,
                trials: result.trials.len(),
                seconds: result.seconds,
                validation: ValidationSummary {
                    holdout: result.holdout,
                    share: config.validation.share,
                    fit_rows: result.fit_rows,
                    validation_rows: result.validation_rows,
                    users: result.validation_users,
                },
                best_trial: result.best_trial,
                best_score: best.score,
                best_validation: best.validation,
                defaults_score: result.trials[0].score,
            },
            test: None,
            config: config.clone(),
            trials: result.trials.clone(),
            dial: result.dial.clone(),
        }
    }

    /// The `trials.tsv` beside `tuning.json`.
    pub fn trials_tsv(&self) -> String {
        trials_table(&self.trials, self.summary.best_trial)
    }
}

/// Tab-separated trials table with a header, one row per scored trial (the `trials.tsv` of
/// a tuned model directory).
pub fn trials_tsv(result: &TuneResult) -> String {
    trials_table(&result.trials, result.best_trial)
}

fn trials_table(trials: &[Trial], best_trial: usize) -> String {
    let mut out = String::from(
        "config\tbracket\trung\tfactors\tregularization\talpha\tconfidence\titerations\tpopularity_penalty\tprecision_at_k\tndcg_at_k\trecall_at_k\tmap_at_k\tcatalog_coverage\tnovelty\tscore\tfeasible\tseconds\tpromoted\tdial_sweep\trefined\tbest\n",
    );
    for (i, t) in trials.iter().enumerate() {
        let conf = match t.params.confidence {
            Confidence::Linear => "linear",
            Confidence::Log => "log",
        };
        out += &format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{:.6}\t{:.6}\t{:.6}\t{:.6}\t{:.6}\t{:.6}\t{:.6}\t{}\t{:.3}\t{}\t{}\t{}\t{}\n",
            t.config,
            t.bracket,
            t.rung,
            t.params.factors,
            t.params.regularization,
            t.params.alpha,
            conf,
            t.params.iterations,
            t.params.popularity_penalty,
            t.validation.precision_at_k,
            t.validation.ndcg_at_k,
            t.validation.recall_at_k,
            t.validation.map_at_k,
            t.beyond.catalog_coverage,
            t.beyond.novelty,
            t.score,
            t.feasible,
            t.seconds,
            t.promoted,
            t.dial_sweep,
            t.refined,
            i == best_trial
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interactions::Interaction;

    /// Users in `groups` blocks each like the items of their block; a few cross-block rows add
    /// noise. Strong regularisation (λ ≥ 100) with 1 factor cannot separate the blocks, so a
    /// search that works must leave that region.
    fn blocks(users: usize, items: usize, groups: usize, seed: u64) -> Ratings {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut r = Ratings::default();
        for u in 0..users {
            let g = u % groups;
            let uid = r.users.intern(&format!("u{u}"));
            let mut chosen = std::collections::BTreeSet::new();
            while chosen.len() < 12 {
                let i = if rng.gen_bool(0.9) {
                    g * (items / groups) + rng.gen_range(0..items / groups)
                } else {
                    rng.gen_range(0..items)
                };
                chosen.insert(i);
            }
            for (t, i) in chosen.into_iter().enumerate() {
                let iid = r.items.intern(&format!("i{i}"));
                r.records.push(Interaction {
                    user: uid,
                    item: iid,
                    rating: 1.0 + (t % 5) as f64,
                    timestamp: t as i64,
                });
            }
        }
        r.has_timestamps = true;
        r
    }

    fn small_cfg(space: SearchSpace, trials: usize) -> TuneConfig {
        TuneConfig {
            space,
            budget: Budget::Trials(trials),
            base: AlsParams {
                factors: 8,
                threads: 2,
                ..AlsParams::implicit()
            },
            ..TuneConfig::default()
        }
    }

    #[test]
    fn rungs_grow_by_eta_and_stop_at_the_last() {
        assert_eq!(rungs(5, 40, 2), vec![5, 10, 20, 40]);
        assert_eq!(rungs(4, 30, 3), vec![4, 12, 30]);
        assert_eq!(rungs(10, 10, 2), vec![10]);
    }

    #[test]
    fn latin_hypercube_covers_every_stratum_within_bounds() {
        let space = SearchSpace::default();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let n = 20;
        let s = sample(&space, &AlsParams::implicit(), n, &mut rng);
        assert!(
            s.iter().all(|p| p.popularity_penalty == 0.0),
            "the dial is not sampled"
        );
        let mut strata = vec![0usize; n];
        for p in &s {
            assert!((16..=256).contains(&p.factors) && p.factors % 8 == 0);
            assert!(p.regularization >= 0.1 && p.regularization <= 300.0);
            let u = (p.alpha as f64 / 0.05).ln() / (50.0f64 / 0.05).ln();
            strata[((u * n as f64) as usize).min(n - 1)] += 1;
        }
        assert!(
            strata.iter().all(|&c| c == 1),
            "one α per stratum: {strata:?}"
        );
        let logs = s.iter().filter(|p| p.confidence == Confidence::Log).count();
        assert_eq!(logs, n / 2);
    }

    /// Validation rows come from the training rows only, every user keeps training rows, and
    /// `last` holds out each user's newest interactions.
    #[test]
    fn validation_is_carved_from_training_rows_per_user() {
        let r = blocks(60, 80, 4, 3);
        let (s, h) = validation_split(
            &r,
            &ValidationSplit {
                holdout: Holdout::Last,
                share: 0.25,
                seed: 1,
                // Ignored for `last`: newest interactions are per user.
                filter_by: FilterBy::Item,
            },
        )
        .unwrap();
        assert_eq!(h, Holdout::Last);
        assert_eq!(s.train.len() + s.test.len(), r.len());
        for u in 0..r.users.len() as u32 {
            let newest_fit = s
                .train
                .iter()
                .filter(|&&i| r.records[i].user == u)
                .map(|&i| r.records[i].timestamp)
                .max();
            let oldest_val = s
                .test
                .iter()
                .filter(|&&i| r.records[i].user == u)
                .map(|&i| r.records[i].timestamp)
                .min();
            assert!(newest_fit.is_some() && newest_fit < oldest_val);
        }
        let mut no_time = r.clone();
        no_time.has_timestamps = false;
        let (_, h) = validation_split(
            &no_time,
            &ValidationSplit {
                holdout: Holdout::Last,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(h, Holdout::Random);
    }

    /// The search must find the good region: with a space whose defaults (trial 0) are poor
    /// (1 factor, λ 300), sampled configurations that separate the blocks score far higher on
    /// validation, and the winner is one of them.
    #[test]
    fn search_finds_a_better_region_than_bad_defaults() {
        let r = blocks(120, 120, 6, 5);
        let space = SearchSpace {
            factors: (8, 32),
            regularization: (0.01, 300.0),
            alpha: (0.1, 10.0),
            confidence: vec![Confidence::Linear, Confidence::Log],
            iterations: (2, 8),
            popularity_penalty: (0.0, 1.0),
        };
        let mut cfg = small_cfg(space, 12);
        cfg.base = AlsParams {
            factors: 1,
            regularization: 300.0,
            ..cfg.base
        };
        let mut calls = 0;
        let result = tune(&r, &cfg, &mut |_, p| {
            calls += 1;
            assert_eq!(p.done, calls);
        })
        .unwrap();
        assert_eq!(Some(calls), Some(result.trials.len()));
        let default_score = result.trials[0].score;
        let best = &result.trials[result.best_trial];
        assert!(best.config != 0, "defaults won: {:?}", best.params);
        assert!(
            best.score > default_score + 0.1,
            "best {} vs defaults {default_score}",
            best.score
        );
        assert!(best.params.regularization < 300.0 && best.params.factors >= 8);
        assert_eq!(result.best, best.params);
        // Successive halving: 12 at rung 0, 6 at rung 1, 3 at rung 2 (2, 4, 8 iterations).
        let per_rung: Vec<usize> = (0..3)
            .map(|g| {
                result
                    .trials
                    .iter()
                    .filter(|t| t.rung == g && !t.refined)
                    .count()
            })
            .collect();
        assert_eq!(per_rung, vec![12, 6, 3]);
        assert!(result
            .trials
            .iter()
            .filter(|t| t.rung == 2)
            .all(|t| t.params.iterations == 8));
        // Deterministic.
        let again = tune(&r, &cfg, &mut |_, _| {}).unwrap();
        assert_eq!(
            again.trials.iter().map(|t| t.score).collect::<Vec<_>>(),
            result.trials.iter().map(|t| t.score).collect::<Vec<_>>()
        );
        let tsv = trials_tsv(&result);
        assert_eq!(tsv.lines().count(), result.trials.len() + 1);
        assert_eq!(tsv.lines().filter(|l| l.ends_with("\ttrue")).count(), 1);
    }

    /// From a single poor configuration, the refinement stage walks to better ones: each of
    /// its configurations differs from an earlier one in one parameter, stays inside the
    /// space, and the choice scores above the start. Without the stage, the start is chosen.
    #[test]
    fn refinement_walks_away_from_a_poor_start() {
        let r = blocks(120, 120, 6, 5);
        let space = SearchSpace {
            factors: (8, 32),
            regularization: (0.01, 300.0),
            alpha: (0.1, 10.0),
            confidence: vec![Confidence::Linear],
            iterations: (8, 8),
            popularity_penalty: (0.0, 1.0),
        };
        let mut cfg = small_cfg(space.clone(), 1);
        cfg.base = AlsParams {
            factors: 8,
            regularization: 300.0,
            ..cfg.base
        };
        cfg.refine_rounds = 0;
        let plain = tune(&r, &cfg, &mut |_, _| {}).unwrap();
        assert_eq!(plain.best_trial, 0);
        assert!(plain.trials.iter().all(|t| !t.refined));
        cfg.refine_rounds = 3;
        let refined = tune(&r, &cfg, &mut |_, _| {}).unwrap();
        let best = &refined.trials[refined.best_trial];
        assert!(best.refined, "{:?}", best.params);
        assert!(
            best.score > plain.trials[0].score * 1.5,
            "{} -> {} {:?}",
            plain.trials[0].score,
            best.score,
            best.params
        );
        let walked: Vec<&Trial> = refined.trials.iter().filter(|t| t.refined).collect();
        assert!(walked.len() >= 6, "{} refinement trials", walked.len());
        for (n, t) in walked.iter().enumerate() {
            let p = &t.params;
            assert!((space.factors.0..=space.factors.1).contains(&p.factors));
            assert!(p.regularization >= 0.01 && p.regularization <= 300.0);
            assert!(p.alpha >= 0.1 && p.alpha <= 10.0);
            let earlier = std::iter::once(&refined.trials[0].params)
                .chain(walked[..n].iter().map(|t| &t.params));
            let one_step = earlier.into_iter().any(|e| {
                [
                    e.factors != p.factors,
                    e.regularization != p.regularization,
                    e.alpha != p.alpha,
                ]
                .iter()
                .filter(|&&d| d)
                .count()
                    <= 1
            });
            assert!(
                one_step,
                "{p:?} is not one step from an earlier configuration"
            );
        }
    }

    /// The mean over folds is each figure's arithmetic mean.
    #[test]
    fn fold_figures_are_averaged() {
        let mut a = (RankingMetrics::default(), BeyondAccuracy::default());
        let mut b = a;
        a.0.ndcg_at_k = 0.2;
        b.0.ndcg_at_k = 0.4;
        a.1.catalog_coverage = 0.1;
        b.1.catalog_coverage = 0.3;
        a.0.users = 7;
        let (r, c) = mean_figures(&[a, b]);
        assert!((r.ndcg_at_k - 0.3).abs() < 1e-12);
        assert!((c.catalog_coverage - 0.2).abs() < 1e-12);
        assert_eq!(r.users, 7);
    }

    /// With a floor on catalogue coverage the search keeps only configurations that reach it
    /// (searching the popularity dial too), picks the most accurate of those, and draws the
    /// dial's curve for it; an unreachable floor is an error that says how close it came.
    #[test]
    fn bounds_choose_among_feasible_trials_and_the_dial_curve_is_drawn() {
        // Power-law popularity, so accurate lists crowd into the head.
        let mut r = Ratings::default();
        crate::synth::generate(
            &crate::synth::SynthParams {
                users: 150,
                items: 200,
                interactions: 4000,
                rank: 4,
                seed: 3,
            },
            |row| {
                let user = r.users.intern(&format!("u{}", row.user));
                let item = r.items.intern(&format!("i{}", row.item));
                r.records.push(Interaction {
                    user,
                    item,
                    rating: row.rating as f64,
                    timestamp: row.timestamp,
                });
            },
        );
        let space = SearchSpace {
            factors: (8, 16),
            iterations: (2, 4),
            ..SearchSpace::default()
        };
        let mut cfg = small_cfg(space.clone(), 8);
        // The dial stage alone (refinement has its own test).
        cfg.refine_rounds = 0;
        let free = tune(&r, &cfg, &mut |_, _| {}).unwrap();
        assert!(
            free.trials
                .iter()
                .all(|t| t.params.popularity_penalty == 0.0),
            "without bounds the dial stays off"
        );
        let floor = free.trials[free.best_trial].beyond.catalog_coverage + 0.05;
        cfg.constraints = vec![format!("catalog_coverage>={floor}").parse().unwrap()];
        let bound = tune(&r, &cfg, &mut |_, _| {}).unwrap();
        let best = &bound.trials[bound.best_trial];
        let served = best
            .served
            .expect("a list bound is judged on the served lists");
        assert!(best.feasible && served.catalog_coverage >= floor);
        assert!(best.dial_sweep && best.params.popularity_penalty > 0.0);
        assert_eq!(
            bound
                .trials
                .iter()
                .filter(|t| t.dial_sweep && !t.refined)
                .count(),
            DIAL_CANDIDATES * DIAL_SEARCH_STEPS
        );
        let feasible_best = bound
            .trials
            .iter()
            .filter(|t| t.feasible)
            .map(|t| t.score)
            .fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(best.score, feasible_best);
        assert_eq!(
            bound.dial.len(),
            DIAL_SEARCH_STEPS,
            "the chosen configuration's sweep"
        );
        let (first, last) = (&bound.dial[0], bound.dial.last().unwrap());
        assert!(
            last.beyond.catalog_coverage > first.beyond.catalog_coverage,
            "turning the dial up widens coverage: {} -> {}",
            first.beyond.catalog_coverage,
            last.beyond.catalog_coverage
        );

        // Refinement only adds candidates: the choice keeps the bound and scores no lower.
        cfg.refine_rounds = 2;
        let refined = tune(&r, &cfg, &mut |_, _| {}).unwrap();
        let chosen = &refined.trials[refined.best_trial];
        assert!(chosen.feasible && chosen.served.unwrap().catalog_coverage >= floor);
        assert!(chosen.score >= best.score);
        assert!(refined.trials.iter().any(|t| t.refined));
        cfg.refine_rounds = 0;

        cfg.constraints = vec!["catalog_coverage>=2".parse().unwrap()];
        let err = tune(&r, &cfg, &mut |_, _| {}).unwrap_err().to_string();
        assert!(
            err.contains("catalog_coverage>=2") && err.contains("closest"),
            "{err}"
        );
    }

    #[test]
    fn a_time_budget_stops() {
        let r = blocks(60, 60, 3, 2);
        let mut cfg = small_cfg(
            SearchSpace {
                factors: (8, 16),
                iterations: (2, 4),
                ..SearchSpace::default()
            },
            1,
        );
        cfg.budget = Budget::Seconds(0.3);
        cfg.bracket = 4;
        let result = tune(&r, &cfg, &mut |_, _| {}).unwrap();
        assert!(!result.trials.is_empty());
        assert!(result.seconds < 5.0, "{}", result.seconds);
    }
}
