//! `topten import-spark`: a model Spark trained, as a topten model directory.

use std::path::PathBuf;

use anyhow::Context;
use topten_azure::blob::{self, Location};
use topten_azure::model_dir::SaveModel;
use topten_model::als::Feedback;
use topten_model::pipeline;
use topten_spark::{IdLabels, ImportSpec, SparkParams};

use super::InputArgs;

/// Import a Spark ALS model (`ALSModel.save()`) as a topten model directory: the factors as
/// Spark learnt them, the original ids through Spark StringIndexer models or mapping files,
/// and the training interactions that lists exclude. The result works with every command.
#[derive(clap::Args, Debug)]
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
    /// How to read --ratings and --test.
    #[command(flatten)]
    pub input: InputArgs,
}

/// A local directory for a location: the path itself, or a copy of a blob prefix in a
/// temporary directory that lives as long as the returned guard.
pub(crate) fn local_copy(loc: &Location) -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>)> {
    match loc {
        Location::Local(p) => Ok((p.clone(), None)),
        Location::Blob(b) => {
            let dir = tempfile::tempdir()?;
            let (bar, progress) = crate::progress::bytes(&format!("downloading {loc}"));
            let copied = blob::download_prefix(b, dir.path(), Some(progress));
            bar.finish_and_clear();
            copied.with_context(|| format!("cannot download {loc}"))?;
            Ok((dir.path().to_path_buf(), Some(dir)))
        }
    }
}

/// Reads an index location (StringIndexerModel directory or mapping file).
pub(crate) fn read_index(loc: Option<&Location>) -> anyhow::Result<IdLabels> {
    let Some(loc) = loc else {
        return Ok(IdLabels::Numeric);
    };
    let (path, _guard) = match loc {
        Location::Blob(b) if !b.is_prefix() && blob_is_file(b) => {
            let dir = tempfile::tempdir()?;
            let file = dir.path().join("index");
            blob::download_to(b, &file, None).with_context(|| format!("cannot download {loc}"))?;
            (file, Some(dir))
        }
        other => local_copy(other)?,
    };
    Ok(IdLabels::read(&path)?)
}

fn blob_is_file(b: &blob::BlobLocation) -> bool {
    let b = b.clone();
    blob::block_on(async move { blob::exists(&b).await }).unwrap_or(false)
}

/// What `run.json` of `spark/topten_als.py` says.
#[derive(Debug, serde::Deserialize)]
struct RunFile {
    format: String,
    params: RunParams,
    #[serde(default)]
    user_index: bool,
    #[serde(default)]
    item_index: bool,
}

#[derive(Debug, serde::Deserialize)]
struct RunParams {
    feedback: Feedback,
    regularization: Option<f32>,
    alpha: Option<f32>,
    iterations: Option<usize>,
}

/// The parts of a run directory, as locations.
struct RunParts {
    model: Location,
    ratings: Location,
    test: Option<Location>,
    user_index: Option<Location>,
    item_index: Option<Location>,
    params: SparkParams,
}

fn read_run(run: &Location) -> anyhow::Result<RunParts> {
    let file = run.join("run.json");
    let bytes = match &file {
        Location::Local(p) => std::fs::read(p).map_err(anyhow::Error::from),
        Location::Blob(b) => {
            let b = b.clone();
            blob::block_on(async move { blob::read_all(&b).await }).map_err(anyhow::Error::from)
        }
    }
    .with_context(|| format!("{file}: cannot read run.json (a run without it is incomplete)"))?;
    let r: RunFile = serde_json::from_slice(&bytes)
        .with_context(|| format!("{file}: not a run.json of spark/topten_als.py"))?;
    anyhow::ensure!(
        r.format.starts_with("topten-spark-run/"),
        "{file}: format {:?} is not a topten Spark run",
        r.format
    );
    let test = run.join("test");
    let has_test = match &test {
        Location::Local(p) => p.is_dir(),
        Location::Blob(_) => true, // listed when read; an absent holdout is reported then
    };
    Ok(RunParts {
        model: run.join("model"),
        ratings: run.join("train"),
        test: has_test.then_some(test),
        user_index: r.user_index.then(|| run.join("user_index")),
        item_index: r.item_index.then(|| run.join("item_index")),
        params: SparkParams {
            feedback: r.params.feedback,
            regularization: r.params.regularization,
            alpha: r.params.alpha,
            iterations: r.params.iterations,
        },
    })
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut model = import(&args)?;
    let progress = args
        .out
        .is_blob()
        .then(|| crate::progress::bytes(&format!("uploading to {}", args.out)));
    model
        .save_to(&args.out, progress.as_ref().map(|(_, p)| p.clone()))
        .with_context(|| format!("cannot save the model to {}", args.out))?;
    if let Some((bar, _)) = progress {
        bar.finish_and_clear();
    }
    if let Some(m) = &model.meta.metrics {
        super::outln!("{}", serde_json::to_string_pretty(m)?);
    }
    tracing::info!(out = %args.out, "model written");
    Ok(())
}

/// Reads, checks and builds the model (everything before anything is written).
pub(crate) fn import(args: &Args) -> anyhow::Result<topten_model::model::Model> {
    let run = args.run.as_ref().map(read_run).transpose()?;
    let model_loc = match (&args.model, &run) {
        (Some(m), _) => m.clone(),
        (None, Some(r)) => r.model.clone(),
        (None, None) => anyhow::bail!("give --model or --run"),
    };
    let pick = |given: &Option<Location>, from_run: Option<&Option<Location>>| {
        given.clone().or_else(|| from_run.cloned().flatten())
    };
    let ratings_loc = pick(
        &args.ratings,
        run.as_ref().map(|r| Some(r.ratings.clone())).as_ref(),
    );
    let test_loc = pick(&args.test, run.as_ref().map(|r| &r.test));
    let user_index = pick(&args.user_index, run.as_ref().map(|r| &r.user_index));
    let item_index = pick(&args.item_index, run.as_ref().map(|r| &r.item_index));
    let run_params = run.as_ref().map(|r| r.params.clone());
    let params = SparkParams {
        feedback: args
            .feedback
            .or(run_params.as_ref().map(|p| p.feedback))
            .unwrap_or(Feedback::Explicit),
        regularization: args
            .regularization
            .or(run_params.as_ref().and_then(|p| p.regularization)),
        alpha: args.alpha.or(run_params.as_ref().and_then(|p| p.alpha)),
        iterations: run_params.as_ref().and_then(|p| p.iterations),
    };
    let users = read_index(user_index.as_ref()).context("cannot read the user index")?;
    let items = read_index(item_index.as_ref()).context("cannot read the item index")?;
    let ratings = ratings_loc
        .as_ref()
        .map(|l| args.input.read(l))
        .transpose()?;
    let (dir, _guard) = local_copy(&model_loc)?;
    let spec = ImportSpec {
        model_dir: dir,
        users,
        items,
        ratings: ratings.as_ref(),
        params,
        source: model_loc.to_string(),
    };
    let (mut model, report) =
        topten_spark::import_model(&spec).context("cannot import the Spark model")?;
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
    if ratings.is_none() {
        tracing::warn!("no --ratings: lists may repeat what users already have, and fold-in starts from nothing");
    }
    if let Some(test_loc) = &test_loc {
        let test = args.input.read(test_loc)?;
        let eval = pipeline::evaluate(&model, &test, args.k);
        model.meta.metrics = Some(serde_json::to_value(eval)?);
    }
    Ok(model)
}
