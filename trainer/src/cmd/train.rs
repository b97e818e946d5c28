//! `topten train`: fit ALS, evaluate on the test side, write the model directory.

use clap::ValueEnum;
use topten_azure::blob::Location;
use topten_model::als::{AlsParams, Confidence, Solver};
use topten_model::interactions::Ratings;
use topten_model::{pipeline, split};

use super::{InputArgs, SplitArgs};
use crate::progress;

/// Model family on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ModelArg {
    /// Implicit-feedback ALS (Hu-Koren-Volinsky): best top-10 ranking.
    Implicit,
    /// Explicit-rating ALS (ALS-WR, as Spark MLlib): best rating prediction (RMSE).
    Explicit,
}

/// Confidence scaling on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ConfidenceArg {
    /// c = 1 + α·r.
    Linear,
    /// c = 1 + α·ln(1 + r).
    Log,
}

/// Row solver on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SolverArg {
    /// A few warm-started conjugate-gradient steps per row and sweep (the default).
    Cg,
    /// Exact Cholesky.
    Cholesky,
}

/// Train ALS on a ratings file (split internally) or on given train/test files.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub data: SetsArgs,
    /// Model family.
    #[arg(long, value_enum, default_value = "implicit")]
    pub model: ModelArg,
    /// Latent factors [default: implicit 64, explicit 10].
    #[arg(long)]
    pub factors: Option<usize>,
    /// ALS iterations [default: 15].
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Regularisation λ [default: implicit 50, explicit 0.05 (scaled per rating count)].
    #[arg(long)]
    pub regularization: Option<f32>,
    /// Implicit confidence slope α in c = 1 + α·r or 1 + α·ln(1 + r) [default: 3].
    #[arg(long)]
    pub alpha: Option<f32>,
    /// Implicit confidence scaling: linear (1 + α·r) or log (1 + α·ln(1 + r)) [default: log].
    #[arg(long, value_enum)]
    pub confidence: Option<ConfidenceArg>,
    /// Row solver: cg (a few warm-started conjugate-gradient steps per row and sweep) or
    /// cholesky (exact) [default: cg].
    #[arg(long, value_enum)]
    pub solver: Option<SolverArg>,
    /// Conjugate-gradient steps per row [default: 3].
    #[arg(long)]
    pub cg_steps: Option<usize>,
    /// Constrain explicit factors to be non-negative.
    #[arg(long)]
    pub nonnegative: bool,
    /// Seed of the split and of the factor initialisation.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Cut-off of the ranking metrics.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// The popularity dial β: lists penalise popular items by β score-spreads per unit of
    /// ln(1 + interactions) (0: off). Stored with the model and every version published from
    /// it; publish, fold-in and refill honour it (docs/guide.md, "Beyond accuracy").
    #[arg(long, default_value_t = 0.0)]
    pub popularity_penalty: f32,
    /// Item catalogue: its categories become the item similarity of the test diversity and
    /// serendipity (instead of co-occurrence in the training data), and the model learns a
    /// map from its records to item factors (`content_map.json`), which gives items no
    /// interaction has reached a factor.
    #[arg(long)]
    pub items: Option<Location>,
    /// Hold out this share of the items with all their interactions, and report in
    /// metrics.json (`cold_items`) how well they are ranked from their catalogue records,
    /// against random and category-popularity orders, and after 1, 3 and 10 interactions
    /// each (needs --items; docs/guide.md, "New items").
    #[arg(long, requires = "items", value_name = "FRACTION")]
    pub cold_items: Option<f64>,
    /// Keep the model fitted on the training side only (research use): by default, after the
    /// holdout evaluation the same parameters are fitted again on every row, and that model
    /// is written, so that published lists leave out every item a user has.
    #[arg(long)]
    pub no_refit: bool,
    /// Output model directory or blob prefix (metrics.json is written inside it too).
    #[arg(long)]
    pub out: Location,
}

impl Args {
    /// The ALS parameters: family defaults overridden by what the user typed.
    pub fn params(&self) -> AlsParams {
        let base = match self.model {
            ModelArg::Implicit => AlsParams::implicit(),
            ModelArg::Explicit => AlsParams::explicit(),
        };
        AlsParams {
            factors: self.factors.unwrap_or(base.factors),
            iterations: self.iterations.unwrap_or(base.iterations),
            regularization: self.regularization.unwrap_or(base.regularization),
            alpha: self.alpha.unwrap_or(base.alpha),
            confidence: match self.confidence {
                Some(ConfidenceArg::Linear) => Confidence::Linear,
                Some(ConfidenceArg::Log) => Confidence::Log,
                None => base.confidence,
            },
            solver: match self.solver {
                Some(SolverArg::Cg) => Solver::Cg,
                Some(SolverArg::Cholesky) => Solver::Cholesky,
                None => base.solver,
            },
            cg_steps: self.cg_steps.unwrap_or(base.cg_steps),
            nonnegative: self.nonnegative,
            seed: self.seed,
            threads: self.threads,
            popularity_penalty: self.popularity_penalty,
            ..base
        }
    }
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    let params = args.params();
    params.check()?;
    super::claim_out_and_threads(&args.out, args.threads)?;
    let sets = args.data.load(args.seed)?;
    let catalogue = args
        .items
        .as_ref()
        .map(topten_azure::blob::read_catalogue)
        .transpose()?;
    let cold_items = args.cold_items.map(|fraction| {
        topten_model::cold_items::ColdItemOptions::new(fraction, args.k, args.seed)
    });
    if let Some(opts) = &cold_items {
        opts.check()?;
    }

    let bar = progress::iterations(params.iterations);
    let mut on_iteration = |it: &topten_model::als::IterationReport| {
        let msg = match it.train_rmse {
            Some(rmse) => format!("loss {:.5} train-rmse {:.4}", it.loss, rmse),
            None => format!("loss {:.6}", it.loss),
        };
        bar.set_message(msg);
        bar.inc(1);
        tracing::debug!(
            iteration = it.iteration,
            loss = it.loss,
            train_rmse = it.train_rmse,
            seconds = it.seconds,
            "iteration"
        );
    };
    let mut model = pipeline::train(
        &sets.train,
        &params,
        Some(sets.source.clone()),
        &mut on_iteration,
    )?;
    tracing::info!(
        users = model.meta.users,
        items = model.meta.items,
        interactions = model.meta.interactions,
        seconds = model.meta.training_seconds,
        "trained"
    );
    model.meta.split = sets.split.clone();

    if let (Some(test), Some(mut holdout)) = (&sets.test, sets.holdout()) {
        bar.set_message("evaluating on the holdout");
        let eval = pipeline::evaluate_with(&model, test, args.k, catalogue.as_ref());
        holdout.refitted = !args.no_refit;
        model.meta.metrics = Some(pipeline::labelled_metrics(&eval, &holdout));
        if args.no_refit {
            pipeline::mark_not_refitted(&mut model);
        } else {
            // The published model sees every row, so its lists leave out the holdout items
            // each user has too; the figures above stay those of the holdout fit.
            bar.reset();
            bar.set_message("refitting on every row");
            model = pipeline::refit(&sets.all, &model, &mut on_iteration)?;
            tracing::info!(
                interactions = model.meta.interactions,
                seconds = model.meta.training_seconds,
                "refitted on every row"
            );
        }
    }
    if let Some(catalogue) = &catalogue {
        let map = topten_model::content::ContentMap::for_model(&model, catalogue)?;
        tracing::info!(
            lambda = map.lambda,
            features = map.vocabulary.len() + map.numeric.len() + map.title_buckets,
            items_with_features = map.items_with_features,
            "content map fitted"
        );
        model.content = Some(map);
        if let Some(opts) = &cold_items {
            bar.reset();
            bar.set_message(format!(
                "cold items: fitting without {:.0}% of the items",
                100.0 * opts.fraction
            ));
            let report = topten_model::cold_items::evaluate(
                &sets.all,
                catalogue,
                &params,
                opts,
                &mut on_iteration,
            )?;
            let metrics = model
                .meta
                .metrics
                .get_or_insert_with(|| serde_json::json!({}));
            metrics["cold_items"] = serde_json::to_value(&report)?;
        }
    }
    bar.finish_and_clear();
    super::save_model(&mut model, &args.out)?;
    if let Some(m) = &model.meta.metrics {
        super::outln!("{}", serde_json::to_string_pretty(m)?);
    }
    tracing::info!(out = %args.out, "model written");
    Ok(())
}

/// The data of `train` and `tune`: what the evaluated fit trains on, the holdout it is scored
/// on, and every row, which the written model is refitted on.
pub struct Sets {
    /// The training side (of the split, or the `--train` file).
    pub train: Ratings,
    /// The holdout (the split's test side, or the `--test` file), if any.
    pub test: Option<Ratings>,
    /// Every row: the file that was split, or `--train` and `--test` together.
    pub all: Ratings,
    /// The split's parameters, when this command made the split.
    pub split: Option<serde_json::Value>,
    /// How the holdout was made, in words (the `holdout.madeBy` of metrics.json).
    pub holdout_made_by: Option<String>,
    /// Where the data came from (an absolute path for a local file, so that `report` finds
    /// it from any directory).
    pub source: String,
}

impl Sets {
    /// The holdout label of a fit on these sets, when there is a holdout.
    pub fn holdout(&self) -> Option<pipeline::Holdout> {
        let test = self.test.as_ref()?;
        let made_by = self.holdout_made_by.clone().unwrap_or_default();
        Some(pipeline::Holdout::new(made_by, &self.train, test))
    }
}

/// Where the training and test sets come from, for `train` and `tune`: one file split here,
/// or a train file and an optional test file.
#[derive(clap::Args, Debug)]
pub struct SetsArgs {
    /// Ratings file or blob (`az://ACCOUNT/CONTAINER/PATH`) to split into train and test.
    #[arg(long, required_unless_present = "train", conflicts_with_all = ["train", "test"])]
    pub ratings: Option<Location>,
    /// Training file or blob (instead of --ratings).
    #[arg(long)]
    pub train: Option<Location>,
    /// Test file or blob, scored once at the end (with --train; optional).
    #[arg(long, requires = "train")]
    pub test: Option<Location>,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub split: SplitArgs,
}

impl SetsArgs {
    /// Reads `--ratings` and splits it (seeded by `seed`), or reads `--train` and `--test`.
    pub fn load(&self, seed: u64) -> anyhow::Result<Sets> {
        match (&self.ratings, &self.train) {
            (Some(path), _) => {
                let all = self.input.read(path)?;
                let split_params = self.split.params(seed)?;
                let parts = split::split(&all, &split_params)?;
                tracing::info!(train = parts.train.len(), test = parts.test.len(), "split");
                let source = source_name(path);
                Ok(Sets {
                    train: all.subset(&parts.train),
                    test: Some(all.subset(&parts.test)),
                    split: Some(serde_json::to_value(split_params)?),
                    holdout_made_by: Some(format!("{split_params} split of {source}")),
                    all,
                    source,
                })
            }
            (None, Some(train_path)) => {
                let train = self.input.read(train_path)?;
                let test = self.test.as_ref().map(|t| self.input.read(t)).transpose()?;
                let all = match &test {
                    Some(test) => Ratings::union(&train, test),
                    None => train.clone(),
                };
                Ok(Sets {
                    train,
                    test,
                    all,
                    split: None,
                    holdout_made_by: self
                        .test
                        .as_ref()
                        .map(|t| format!("the file {}", source_name(t))),
                    source: source_name(train_path),
                })
            }
            (None, None) => anyhow::bail!("give --ratings FILE or --train FILE"),
        }
    }
}

/// A location as model.json records it: local paths made absolute (they are read again by
/// `report`, perhaps from another directory), blobs as given.
fn source_name(loc: &Location) -> String {
    match loc {
        Location::Local(path) => std::fs::canonicalize(path)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| loc.to_string()),
        _ => loc.to_string(),
    }
}
