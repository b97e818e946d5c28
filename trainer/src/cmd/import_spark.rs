//! `topten import-spark`: a model Spark trained, as a topten model directory.

#[cfg(feature = "parquet")]
use anyhow::Context;
use topten_azure::blob::Location;
#[cfg(feature = "parquet")]
use topten_azure::spark_run::{self, ImportLocations};
use topten_model::als::Feedback;
#[cfg(feature = "parquet")]
use topten_model::pipeline;
#[cfg(feature = "parquet")]
use topten_spark::SparkParams;

use super::InputArgs;

/// Import a Spark ALS model (`ALSModel.save()`) as a topten model directory: the factors as
/// Spark learnt them, the original ids through Spark StringIndexer models or mapping files,
/// and the training interactions that lists exclude. The result works with every command.
#[derive(clap::Args, Debug)]
#[cfg_attr(not(feature = "parquet"), allow(dead_code))]
pub struct Args {
    /// The `ALSModel.save()` directory: a local path or a blob prefix (`az://ACCOUNT/CONTAINER/PATH/`).
    #[arg(long, required_unless_present = "run", conflicts_with = "run")]
    pub model: Option<Location>,
    /// A run directory of `spark/topten_als.py` (PREFIX/RUN_ID): takes model/, the indexes,
    /// train/ as --ratings, test/ as --test and the parameters from run.json.
    #[arg(long)]
    pub run: Option<Location>,
    /// Output model directory or blob prefix.
    #[arg(long)]
    pub out: Location,
    /// The training interactions (original ids; a file, a Parquet directory or a blob): their
    /// items are left out of each user's list, and fold-in starts from them.
    #[arg(long)]
    pub ratings: Option<Location>,
    /// User index: a saved StringIndexerModel directory, or a mapping file (`index<TAB>id`).
    #[arg(long)]
    pub user_index: Option<Location>,
    /// Item index, as --user-index.
    #[arg(long)]
    pub item_index: Option<Location>,
    /// The objective Spark trained (`implicitPrefs`), which Spark's saved metadata does not
    /// record: fold-in of live events solves with it [default: explicit, or run.json's].
    #[arg(long)]
    pub feedback: Option<Feedback>,
    /// Spark's `regParam` (fold-in uses it) [default: run.json's, else the family's default].
    #[arg(long)]
    pub regularization: Option<f32>,
    /// Spark's `alpha` (implicit fold-in) [default: run.json's, else 1].
    #[arg(long)]
    pub alpha: Option<f32>,
    /// A holdout to evaluate the imported model on (metrics.json, as `train` writes it).
    #[arg(long)]
    pub test: Option<Location>,
    /// Cut-off of the ranking metrics.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Write the model exactly as it was evaluated (research use): a run's `holdout-model/`
    /// instead of its refitted `model/`, and seen lists without the --test rows. By default,
    /// after the evaluation the written model is the run's refit on every row (when the run
    /// has one), and its lists leave out the holdout items a user has too.
    #[arg(long)]
    pub no_refit: bool,
    /// How to read --ratings and --test.
    #[command(flatten)]
    pub input: InputArgs,
}

/// Names the feature this build lacks: Spark writes its models in Parquet.
#[cfg(not(feature = "parquet"))]
pub fn run(_args: Args) -> anyhow::Result<()> {
    Err(super::not_built("import-spark", "parquet"))
}

/// Runs the subcommand.
#[cfg(feature = "parquet")]
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut model = import(&args)?;
    super::save_model(&mut model, &args.out)?;
    if let Some(m) = &model.meta.metrics {
        super::outln!("{}", serde_json::to_string_pretty(m)?);
    }
    tracing::info!(out = %args.out, "model written");
    Ok(())
}

/// Reads, checks and builds the model (everything before anything is written).
#[cfg(feature = "parquet")]
pub(crate) fn import(args: &Args) -> anyhow::Result<topten_model::model::Model> {
    let run = args.run.as_ref().map(spark_run::read_run).transpose()?;
    let from_run = run.as_ref().map(ImportLocations::from);
    let pick = |given: &Option<Location>, run: Option<Option<Location>>| {
        given.clone().or_else(|| run.flatten())
    };
    let what = ImportLocations {
        model: match (&args.model, &from_run) {
            (Some(m), _) => m.clone(),
            (None, Some(r)) => r.model.clone(),
            (None, None) => anyhow::bail!("give --model or --run"),
        },
        train: pick(&args.ratings, from_run.as_ref().map(|r| r.train.clone())),
        user_index: pick(
            &args.user_index,
            from_run.as_ref().map(|r| r.user_index.clone()),
        ),
        item_index: pick(
            &args.item_index,
            from_run.as_ref().map(|r| r.item_index.clone()),
        ),
        params: SparkParams {
            feedback: args
                .feedback
                .or(from_run.as_ref().map(|r| r.params.feedback))
                .unwrap_or(Feedback::Explicit),
            regularization: args
                .regularization
                .or(from_run.as_ref().and_then(|r| r.params.regularization)),
            alpha: args
                .alpha
                .or(from_run.as_ref().and_then(|r| r.params.alpha)),
            iterations: from_run.as_ref().and_then(|r| r.params.iterations),
        },
    };
    let test_loc = pick(&args.test, run.as_ref().map(|r| r.test.clone()));
    let test = test_loc.as_ref().map(|t| args.input.read(t)).transpose()?;
    let made_by = |loc: &topten_azure::blob::Location| match &args.run {
        Some(r) if args.test.is_none() => format!("the test/ of the Spark run {r}"),
        _ => format!("the file {loc}"),
    };
    // A run refitted on every row: judge its holdout fit, write its refit.
    if let (Some(run), Some(test), Some(test_loc), false) = (&run, &test, &test_loc, args.no_refit)
    {
        if run.holdout_model.is_some() && args.model.is_none() {
            let (evaluated, mut published) =
                spark_run::import_run_pair(run, &args.input.options(), test)
                    .context("cannot import the Spark run")?;
            let eval = pipeline::evaluate(&evaluated, test, args.k);
            let holdout = holdout_of(made_by(test_loc), &evaluated, test, true);
            published.meta.metrics = Some(pipeline::labelled_metrics(&eval, &holdout));
            return Ok(published);
        }
    }
    let what = match (&run, args.no_refit, &args.model) {
        (Some(run), true, None) => ImportLocations {
            model: run
                .holdout_model
                .clone()
                .unwrap_or_else(|| run.model.clone()),
            ..what
        },
        _ => what,
    };
    let (bar, progress) = crate::progress::bytes(&format!("reading {}", what.model));
    let imported = spark_run::import(
        &what,
        &args.input.options(),
        what.model.is_blob().then_some(progress),
    );
    bar.finish_and_clear();
    let (mut model, report, train) = imported.context("cannot import the Spark model")?;
    tracing::info!(
        spark = %report.spark_version,
        rank = report.rank,
        users = report.users,
        items = report.items,
        interactions = report.interactions,
        "imported"
    );
    if report.unknown_user_rows + report.unknown_item_rows > 0 {
        tracing::warn!(
            unknown_user_rows = report.unknown_user_rows,
            unknown_item_rows = report.unknown_item_rows,
            "training rows whose user or item has no Spark factors (Spark drops what it did not train on); they are not in the seen lists"
        );
    }
    if train.is_none() {
        tracing::warn!("no --ratings: lists may repeat what users already have, and fold-in starts from nothing");
    }
    if let (Some(test), Some(test_loc)) = (&test, &test_loc) {
        let eval = pipeline::evaluate(&model, test, args.k);
        let holdout = holdout_of(made_by(test_loc), &model, test, false);
        model.meta.metrics = Some(pipeline::labelled_metrics(&eval, &holdout));
        if !args.no_refit {
            // Spark's factors stay as they are; the holdout rows join the seen lists, so that
            // lists never offer a user an item they have.
            let added = model.extend_history(test);
            tracing::info!(
                added,
                "holdout rows added to the seen lists (the factors are Spark's, fitted without them; --no-refit keeps them out)"
            );
        }
    }
    Ok(model)
}

/// The `holdout` label of an evaluation of `evaluated` on `test`.
#[cfg(feature = "parquet")]
fn holdout_of(
    made_by: String,
    evaluated: &topten_model::model::Model,
    test: &topten_model::interactions::Ratings,
    refitted: bool,
) -> pipeline::Holdout {
    pipeline::Holdout {
        made_by,
        fingerprint: pipeline::holdout_fingerprint(test),
        train_interactions: evaluated.meta.interactions,
        test_interactions: test.len(),
        refitted,
    }
}
