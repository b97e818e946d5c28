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
    /// serendipity (instead of co-occurrence in the training data).
    #[arg(long)]
    pub items: Option<Location>,
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
    // Refuse a foreign --out before training, not after it (saving checks again).
    if let Location::Local(dir) = &args.out {
        topten_model::output_dir::claim(dir, &topten_model::output_dir::MODEL_DIR)?;
    }
    if args.threads > 0 {
        // Top-k and evaluation use the global pool; training builds its own of the same size.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(args.threads)
            .build_global();
    }
    let (train, test, split_info, source) = args.data.load(args.seed)?;

    let bar = progress::iterations(params.iterations);
    let mut model = pipeline::train(&train, &params, Some(source), &mut |it| {
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
    })?;
    bar.finish_and_clear();
    tracing::info!(
        users = model.meta.users,
        items = model.meta.items,
        interactions = model.meta.interactions,
        seconds = model.meta.training_seconds,
        "trained"
    );
    model.meta.split = split_info;

    let metrics = match &test {
        Some(test) => {
            let spin = progress::spinner("evaluating");
            let catalogue = args
                .items
                .as_ref()
                .map(topten_azure::blob::read_catalogue)
                .transpose()?;
            let eval = pipeline::evaluate_with(&model, test, args.k, catalogue.as_ref());
            spin.finish_and_clear();
            Some(serde_json::to_value(eval)?)
        }
        None => None,
    };
    model.meta.metrics = metrics.clone();
    super::save_model(&mut model, &args.out)?;
    if let Some(m) = &metrics {
        super::outln!("{}", serde_json::to_string_pretty(m)?);
    }
    tracing::info!(out = %args.out, "model written");
    Ok(())
}

/// Training and (optional) test sets, the split's parameters when one was made, and the source.
pub type Sets = (Ratings, Option<Ratings>, Option<serde_json::Value>, String);

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
        load_sets(
            self.ratings.as_ref(),
            self.train.as_ref(),
            self.test.as_ref(),
            &self.input,
            &self.split,
            seed,
        )
    }
}

fn load_sets(
    ratings: Option<&Location>,
    train: Option<&Location>,
    test: Option<&Location>,
    input: &InputArgs,
    split_args: &SplitArgs,
    seed: u64,
) -> anyhow::Result<Sets> {
    match (ratings, train) {
        (Some(path), _) => {
            let all = input.read(path)?;
            let split_params = split_args.params(seed)?;
            let parts = split::split(&all, &split_params)?;
            tracing::info!(train = parts.train.len(), test = parts.test.len(), "split");
            let info = serde_json::to_value(split_params)?;
            Ok((
                all.subset(&parts.train),
                Some(all.subset(&parts.test)),
                Some(info),
                path.to_string(),
            ))
        }
        (None, Some(train_path)) => {
            let train = input.read(train_path)?;
            let test = test.map(|t| input.read(t)).transpose()?;
            Ok((train, test, None, train_path.to_string()))
        }
        (None, None) => anyhow::bail!("give --ratings FILE or --train FILE"),
    }
}
