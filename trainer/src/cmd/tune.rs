//! `topten tune`: search hyperparameters on a validation split of the training data, refit
//! the best on all training data, score the test set once, write a normal model directory
//! plus `tuning.json` and `trials.tsv`.

use topten_azure::blob::Location;

use anyhow::Context;
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use topten_model::als::{AlsParams, Confidence};
use topten_model::interactions::Ratings;
use topten_model::objective::{Constraint, Figure};
use topten_model::pipeline;
use topten_model::tune::{self, Budget, Holdout, SearchSpace, TuneConfig, ValidationSplit};

use super::train::SetsArgs;

/// Validation holdout on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum HoldoutArg {
    /// Each user's newest training interactions (random when the data has no timestamps).
    Last,
    /// A seeded random share of each user's training interactions.
    Random,
}

/// Confidence scalings searched.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ConfidenceArg {
    /// Search linear and log.
    Both,
    /// c = 1 + α·r only.
    Linear,
    /// c = 1 + α·ln(1 + r) only.
    Log,
}

/// Tune implicit ALS on a validation split carved from the training data (the test set is
/// only scored once, after every choice is made).
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub data: SetsArgs,
    /// Configurations to try (one successive-halving bracket) [default: 40 without --time].
    #[arg(long, conflicts_with = "time")]
    pub budget: Option<usize>,
    /// Search for this many seconds instead (brackets of 27 configurations).
    #[arg(long)]
    pub time: Option<f64>,
    /// Figure maximised on validation: ndcg_at_k, precision_at_k, recall_at_k, map_at_k,
    /// catalog_coverage, distributional_coverage, novelty, diversity or serendipity.
    #[arg(long, alias = "metric", default_value = "ndcg_at_k")]
    pub objective: Figure,
    /// A bound every chosen configuration keeps to on validation, e.g.
    /// `catalog_coverage>=0.30` or `novelty<=10` (repeatable). With a bound, or an objective
    /// that is not accuracy, the popularity dial is searched too.
    #[arg(long = "constraint", value_name = "FIGURE>=VALUE")]
    pub constraints: Vec<Constraint>,
    /// Smallest and largest popularity penalty β searched (when the dial is searched).
    #[arg(long, num_args = 2, value_names = ["MIN", "MAX"], default_values_t = [0.0, 1.0])]
    pub popularity_penalty: Vec<f32>,
    /// Cut-off of the metrics.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Which training interactions of each user are held out for validation.
    #[arg(long, value_enum, default_value = "random")]
    pub holdout: HoldoutArg,
    /// Share of the training interactions held out for validation (per user, or per item
    /// with --validation-filter-by item).
    #[arg(long, default_value_t = tune::DEFAULT_VALIDATION_SHARE)]
    pub validation_share: f64,
    /// Whose interactions the random validation holdout stratifies: each user's, or each
    /// item's (as Microsoft Recommenders' benchmark split does). `--holdout last` is per user.
    #[arg(long, value_enum, default_value = "user")]
    pub validation_filter_by: super::FilterByArg,
    /// Rounds of the refinement stage after the random search: each fits the best
    /// configuration's neighbours (factors, λ or α moved one step) and moves to the best of
    /// them; 0 turns the stage off.
    #[arg(long, default_value_t = tune::DEFAULT_REFINE_ROUNDS)]
    pub refine_rounds: usize,
    /// Validation splits the finalists are scored on, averaged (the search's own and more
    /// drawn with the next seeds; a `--holdout last` search has one).
    #[arg(long, default_value_t = tune::DEFAULT_VALIDATION_FOLDS as u8, value_parser = clap::value_parser!(u8).range(1..=20))]
    pub validation_folds: u8,
    /// Smallest and largest factors searched.
    #[arg(long, num_args = 2, value_names = ["MIN", "MAX"], default_values_t = [16, 256])]
    pub factors: Vec<usize>,
    /// Smallest and largest regularisation λ searched (log scale).
    #[arg(long, num_args = 2, value_names = ["MIN", "MAX"], default_values_t = [0.1, 300.0])]
    pub regularization: Vec<f32>,
    /// Smallest and largest α searched (log scale).
    #[arg(long, num_args = 2, value_names = ["MIN", "MAX"], default_values_t = [0.05, 50.0])]
    pub alpha: Vec<f32>,
    /// Iterations of the first and last successive-halving rung.
    #[arg(long, num_args = 2, value_names = ["FIRST", "LAST"], default_values_t = [5, 40])]
    pub iterations: Vec<usize>,
    /// Confidence scalings searched.
    #[arg(long, value_enum, default_value = "both")]
    pub confidence: ConfidenceArg,
    /// Keep the best 1/ETA at each rung and multiply iterations by ETA.
    #[arg(long, default_value_t = 2)]
    pub eta: usize,
    /// Seed of the split, the sampler and the factor initialisation.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Keep the written model fitted on the training side only (research use): by default,
    /// after the test set is scored the chosen parameters are fitted again on every row
    /// (training and test), and that model is written.
    #[arg(long)]
    pub no_refit: bool,
    /// Output model directory or blob prefix (with tuning.json, trials.tsv and metrics.json).
    #[arg(long)]
    pub out: Location,
}

/// Runs the subcommand: the search on the training side, then a refit of the best
/// configuration on all training rows, scored once on the test set and written.
pub fn run(args: Args) -> anyhow::Result<()> {
    super::claim_out_and_threads(&args.out, args.threads)?;
    let cfg = tune_config(&args)?;
    let sets = args.data.load(args.seed)?;
    let train = &sets.train;
    let result = search(train, &cfg, &args)?;
    let best = &result.trials[result.best_trial];
    // Refit on all training data; score the test set once.
    let params = AlsParams {
        threads: args.threads,
        ..result.best.clone()
    };
    let spin = crate::progress::spinner("refitting the best configuration on all training data");
    let mut model = pipeline::train(train, &params, Some(sets.source.clone()), &mut |_| {})?;
    model.meta.split = sets.split.clone();
    let mut record = tune::TuningRecord::new(&cfg, &result, params.clone());
    if let (Some(test), Some(mut holdout)) = (&sets.test, sets.holdout()) {
        spin.set_message("evaluating on the test set");
        let eval = pipeline::evaluate(&model, test, args.k);
        holdout.refitted = !args.no_refit;
        model.meta.metrics = Some(pipeline::labelled_metrics(&eval, &holdout));
    }
    record.test = model.meta.metrics.clone();
    model.meta.tuning = Some(record.summary.clone());
    model.tuning = Some(record);
    if sets.test.is_some() {
        if args.no_refit {
            pipeline::mark_not_refitted(&mut model);
        } else {
            // The written model sees the test rows too, so its lists leave them out; the
            // test figures stay those of the fit above.
            spin.set_message("refitting on every row");
            model = pipeline::refit(&sets.all, &model, &mut |_| {})?;
        }
    }
    spin.finish_and_clear();
    // One write: model.json, the artifacts, metrics.json, tuning.json and trials.tsv, checksummed
    // together, to a directory or a blob prefix.
    super::save_model(&mut model, &args.out)?;
    #[derive(serde::Serialize)]
    struct Printed<'a> {
        params: &'a AlsParams,
        validation: &'a topten_model::metrics::RankingMetrics,
        validation_beyond: &'a topten_model::beyond_accuracy::BeyondAccuracy,
        #[serde(skip_serializing_if = "Option::is_none")]
        served_beyond: &'a Option<topten_model::beyond_accuracy::BeyondAccuracy>,
        test: &'a Option<serde_json::Value>,
        trials: usize,
        seconds: f64,
        dial: &'a [tune::DialPoint],
    }
    let out = Printed {
        params: &params,
        validation: &best.validation,
        validation_beyond: &best.beyond,
        served_beyond: &best.served,
        test: &model.meta.metrics,
        trials: result.trials.len(),
        seconds: result.seconds,
        dial: &result.dial,
    };
    super::outln!("{}", serde_json::to_string_pretty(&out)?);
    tracing::info!(out = %args.out, "tuned model written");
    Ok(())
}

/// The search's configuration from the arguments.
fn tune_config(args: &Args) -> anyhow::Result<TuneConfig> {
    let metric = args.objective;
    anyhow::ensure!(
        args.popularity_penalty[0] >= 0.0
            && args.popularity_penalty[0] <= args.popularity_penalty[1],
        "--popularity-penalty MIN MAX must satisfy 0 <= MIN <= MAX"
    );
    let budget = match (args.budget, args.time) {
        (_, Some(s)) if s > 0.0 => Budget::Seconds(s),
        (_, Some(s)) => anyhow::bail!("--time must be positive, got {s}"),
        (Some(0), _) => anyhow::bail!("--budget must be at least 1"),
        (Some(n), _) => Budget::Trials(n),
        (None, None) => Budget::Trials(40),
    };
    Ok(TuneConfig {
        space: SearchSpace {
            factors: (args.factors[0], args.factors[1]),
            regularization: (args.regularization[0], args.regularization[1]),
            alpha: (args.alpha[0], args.alpha[1]),
            confidence: match args.confidence {
                ConfidenceArg::Both => vec![Confidence::Linear, Confidence::Log],
                ConfidenceArg::Linear => vec![Confidence::Linear],
                ConfidenceArg::Log => vec![Confidence::Log],
            },
            iterations: (args.iterations[0], args.iterations[1]),
            popularity_penalty: (args.popularity_penalty[0], args.popularity_penalty[1]),
        },
        budget,
        eta: args.eta,
        validation: ValidationSplit {
            holdout: match args.holdout {
                HoldoutArg::Last => Holdout::Last,
                HoldoutArg::Random => Holdout::Random,
            },
            share: args.validation_share,
            filter_by: match args.validation_filter_by {
                super::FilterByArg::User => topten_model::split::FilterBy::User,
                super::FilterByArg::Item => topten_model::split::FilterBy::Item,
            },
            seed: u32::try_from(args.seed).context("the seed must be below 2^32")?,
        },
        metric,
        constraints: args.constraints.clone(),
        k: args.k,
        seed: args.seed,
        base: AlsParams {
            seed: args.seed,
            threads: args.threads,
            ..AlsParams::implicit()
        },
        refine_rounds: args.refine_rounds,
        validation_folds: args.validation_folds.into(),
        ..TuneConfig::default()
    })
}

/// The search, with a progress bar and a log line per trial.
fn search(train: &Ratings, cfg: &TuneConfig, args: &Args) -> anyhow::Result<tune::TuneResult> {
    let bar = match cfg.budget {
        Budget::Trials(_) => ProgressBar::new(0),
        Budget::Seconds(_) => ProgressBar::new_spinner(),
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} tuning [{bar:30}] {pos}/{len} trials {msg} ({elapsed})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let result = tune::tune(train, cfg, &mut |t, p| {
        if let Some(n) = p.planned {
            bar.set_length(n as u64);
        }
        bar.set_position(p.done as u64);
        bar.set_message(format!("best {} {:.4}", args.objective, p.best));
        tracing::debug!(
            config = t.config,
            rung = t.rung,
            factors = t.params.factors,
            regularization = t.params.regularization,
            alpha = t.params.alpha,
            iterations = t.params.iterations,
            popularity_penalty = t.params.popularity_penalty,
            score = t.score,
            feasible = t.feasible,
            "trial"
        );
    })?;
    bar.finish_and_clear();
    let best = &result.trials[result.best_trial];
    tracing::info!(
        trials = result.trials.len(),
        configs = result.trials.iter().map(|t| t.config).max().unwrap_or(0) + 1,
        seconds = result.seconds,
        factors = best.params.factors,
        regularization = best.params.regularization,
        alpha = best.params.alpha,
        confidence = ?best.params.confidence,
        iterations = best.params.iterations,
        popularity_penalty = best.params.popularity_penalty,
        validation = best.score,
        defaults = result.trials[0].score,
        "search finished"
    );
    Ok(result)
}
