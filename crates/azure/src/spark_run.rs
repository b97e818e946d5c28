//! Spark's output wherever it lives: models, indexes and the run directories of
//! `spark/topten_als.py`, in a local directory or under a blob prefix.
//!
//! Spark writes directory trees of part files; [`local_copy`] brings a blob prefix down to a
//! temporary directory first (the factors of even 100M users are a few GB, written once a
//! night), and `topten_spark` reads local files only.
//!
//! A run directory (`PREFIX/RUN_ID/`) holds `model/`, optional `user_index/` and
//! `item_index/`, `train/`, optional `test/`, and `run.json`, written last: a run without it
//! is incomplete and [`newest_run`] never picks it. A run with a holdout also holds
//! `holdout-model/`, the fit on `train/` that its metrics describe; `model/` is then the same
//! parameters refitted on every row, which is what gets published (runs written before the
//! refit have `model/` only, fitted on `train/`).

use std::path::PathBuf;

use topten_model::als::Feedback;
use topten_model::ingest::{IngestError, ReadOptions};
use topten_model::interactions::Ratings;
use topten_model::model::Model;
use topten_spark::{IdLabels, ImportReport, ImportSpec, SparkError, SparkParams};

use crate::blob::{self, BlobError, Location};

/// Why a Spark model or run could not be imported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SparkRunError {
    /// Blob Storage failed (missing prefix, access).
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// What Spark wrote is not readable or not consistent.
    #[error(transparent)]
    Spark(#[from] SparkError),
    /// The interactions could not be read.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// A run directory is incomplete or not one of ours.
    #[error("{location}: {message}")]
    Run {
        /// The run or prefix.
        location: String,
        /// What is wrong.
        message: String,
    },
    /// A local file operation failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A local directory for a location: the path itself, or a copy of a blob prefix in a
/// temporary directory that lives as long as the returned guard.
pub fn local_copy(
    loc: &Location,
    progress: Option<blob::Progress>,
) -> Result<(PathBuf, Option<tempfile::TempDir>), SparkRunError> {
    match loc {
        Location::Local(p) => Ok((p.clone(), None)),
        Location::Blob(b) => {
            let dir = tempfile::tempdir()?;
            blob::download_prefix(b, dir.path(), progress)?;
            Ok((dir.path().to_path_buf(), Some(dir)))
        }
    }
}

/// Reads an id index: a StringIndexerModel directory or a mapping file, local or in a blob;
/// `None` means the ids are Spark's integers.
pub fn read_index(loc: Option<&Location>) -> Result<IdLabels, SparkRunError> {
    let Some(loc) = loc else {
        return Ok(IdLabels::Numeric);
    };
    let (path, _guard) = match loc {
        Location::Blob(b) if !b.is_prefix() && blob_exists(b) => {
            let dir = tempfile::tempdir()?;
            let file = dir.path().join("index");
            blob::download_to(b, &file, None)?;
            (file, Some(dir))
        }
        other => local_copy(other, None)?,
    };
    Ok(IdLabels::read(&path)?)
}

fn blob_exists(b: &blob::BlobLocation) -> bool {
    let b = b.clone();
    blob::block_on(async move { blob::exists(&b).await }).unwrap_or(false)
}

/// What `run.json` says.
#[derive(Debug, serde::Deserialize)]
struct RunFile {
    format: String,
    params: RunParams,
    #[serde(default)]
    user_index: bool,
    #[serde(default)]
    item_index: bool,
    #[serde(default)]
    counts: serde_json::Value,
    /// Whether `model/` was refitted on every row after the holdout evaluation (then the
    /// evaluated fit is `holdout-model/`).
    #[serde(default)]
    refitted: bool,
}

#[derive(Debug, serde::Deserialize)]
struct RunParams {
    feedback: Feedback,
    regularization: Option<f32>,
    alpha: Option<f32>,
    iterations: Option<usize>,
}

/// The parts of a run directory.
#[derive(Debug, Clone)]
pub struct SparkRun {
    /// The run directory.
    pub location: Location,
    /// `model/`: what is published (refitted on every row when `holdout_model` is set).
    pub model: Location,
    /// `holdout-model/`: the fit on `train/` that the run's metrics describe, when `model/`
    /// was refitted on every row.
    pub holdout_model: Option<Location>,
    /// `train/`: the training interactions with original ids.
    pub train: Location,
    /// `test/`, when the run held data out.
    pub test: Option<Location>,
    /// `user_index/`, when users were indexed.
    pub user_index: Option<Location>,
    /// `item_index/`, when items were indexed.
    pub item_index: Option<Location>,
    /// The parameters Spark's model metadata does not keep.
    pub params: SparkParams,
}

/// Reads `run.json` of a run directory.
pub fn read_run(run: &Location) -> Result<SparkRun, SparkRunError> {
    let file = run.join("run.json");
    let bad = |message: String| SparkRunError::Run {
        location: file.to_string(),
        message,
    };
    let bytes = match &file {
        Location::Local(p) => std::fs::read(p).map_err(|e| {
            bad(format!(
                "cannot read run.json ({e}); a run without it is incomplete"
            ))
        })?,
        Location::Blob(b) => {
            let b = b.clone();
            blob::block_on(async move { blob::read_all(&b).await })?
        }
    };
    let r: RunFile = serde_json::from_slice(&bytes)
        .map_err(|e| bad(format!("not a run.json of spark/topten_als.py: {e}")))?;
    if !r.format.starts_with("topten-spark-run/") {
        return Err(bad(format!(
            "format {:?} is not a topten Spark run",
            r.format
        )));
    }
    let has_test = r
        .counts
        .get("test_rows")
        .and_then(|n| n.as_u64())
        .map_or_else(
            || matches!(run.join("test"), Location::Local(p) if p.is_dir()),
            |n| n > 0,
        );
    Ok(SparkRun {
        location: run.clone(),
        model: run.join("model"),
        holdout_model: r.refitted.then(|| run.join("holdout-model")),
        train: run.join("train"),
        test: has_test.then(|| run.join("test")),
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

/// The newest complete run under a prefix: the greatest RUN_ID (a UTC time, so names sort by
/// age) whose `run.json` exists.
pub fn newest_run(prefix: &Location) -> Result<Location, SparkRunError> {
    let runs: Vec<String> = match prefix {
        Location::Local(dir) => std::fs::read_dir(dir)
            .map_err(|e| SparkRunError::Run {
                location: dir.display().to_string(),
                message: e.to_string(),
            })?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("run.json").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Location::Blob(b) => {
            let p = b.as_prefix();
            let listed = {
                let p = p.clone();
                blob::block_on(async move { blob::list(&p).await })?
            };
            listed
                .iter()
                .filter_map(|f| {
                    let rel = f.path.strip_prefix(&p.path)?;
                    let (run, rest) = rel.split_once('/')?;
                    (rest == "run.json").then(|| run.to_owned())
                })
                .collect()
        }
    };
    let newest = runs
        .into_iter()
        .filter(|r| !r.starts_with(['_', '.']))
        .max()
        .ok_or_else(|| SparkRunError::Run {
            location: prefix.to_string(),
            message: "no complete Spark run (no RUN_ID/run.json under this prefix)".into(),
        })?;
    Ok(match prefix {
        Location::Local(dir) => Location::Local(dir.join(newest)),
        Location::Blob(b) => Location::Blob(b.as_prefix()).join(&newest),
    })
}

/// What to import: a model with its optional parts, as locations.
#[derive(Debug, Clone)]
pub struct ImportLocations {
    /// The `ALSModel.save()` directory.
    pub model: Location,
    /// Training interactions (original ids).
    pub train: Option<Location>,
    /// User index.
    pub user_index: Option<Location>,
    /// Item index.
    pub item_index: Option<Location>,
    /// What the metadata lacks.
    pub params: SparkParams,
}

impl From<&SparkRun> for ImportLocations {
    fn from(run: &SparkRun) -> Self {
        ImportLocations {
            model: run.model.clone(),
            train: Some(run.train.clone()),
            user_index: run.user_index.clone(),
            item_index: run.item_index.clone(),
            params: run.params.clone(),
        }
    }
}

/// Reads, checks and imports a Spark model from wherever it lives; returns the model, what
/// the import found and the training interactions it read.
pub fn import(
    what: &ImportLocations,
    read: &ReadOptions,
    progress: Option<blob::Progress>,
) -> Result<(Model, ImportReport, Option<Ratings>), SparkRunError> {
    let users = read_index(what.user_index.as_ref())?;
    let items = read_index(what.item_index.as_ref())?;
    let train = what
        .train
        .as_ref()
        .map(|l| blob::read_ratings(l, read, None).map(|(r, _)| r))
        .transpose()?;
    let (model, report) = import_factors(what, &users, &items, train.as_ref(), progress)?;
    Ok((model, report, train))
}

/// The factors of `what.model` with `train` as the seen lists.
fn import_factors(
    what: &ImportLocations,
    users: &IdLabels,
    items: &IdLabels,
    train: Option<&Ratings>,
    progress: Option<blob::Progress>,
) -> Result<(Model, ImportReport), SparkRunError> {
    let (dir, _guard) = local_copy(&what.model, progress)?;
    let spec = ImportSpec {
        model_dir: dir,
        users: users.clone(),
        items: items.clone(),
        ratings: train,
        params: what.params.clone(),
        source: what.model.to_string(),
    };
    let (mut model, report) = topten_spark::import_model(&spec)?;
    model.meta.fitted_on = Some(topten_model::model::FittedOn {
        rows: topten_model::model::FittedRows::Imported,
        interactions: model.meta.interactions,
    });
    Ok((model, report))
}

/// A run's two models: the fit its holdout figures describe (`holdout-model/`, or `model/` for
/// a run written before the refit) and the model to publish (`model/`), whose seen lists hold
/// every row of the run, `test` included, so that its lists never offer a holdout item back.
pub fn import_run_pair(
    run: &SparkRun,
    read: &ReadOptions,
    test: &Ratings,
) -> Result<(Model, Model), SparkRunError> {
    let what = ImportLocations::from(run);
    let users = read_index(what.user_index.as_ref())?;
    let items = read_index(what.item_index.as_ref())?;
    let (train, _) = blob::read_ratings(&run.train, read, None)?;
    let evaluated_what = ImportLocations {
        model: run
            .holdout_model
            .clone()
            .unwrap_or_else(|| run.model.clone()),
        ..what.clone()
    };
    let (evaluated, _) = import_factors(&evaluated_what, &users, &items, Some(&train), None)?;
    let mut published = match &run.holdout_model {
        Some(_) => {
            let all = Ratings::union(&train, test);
            let (m, _) = import_factors(&what, &users, &items, Some(&all), None)?;
            m
        }
        None => evaluated.clone(),
    };
    published.extend_history(test);
    Ok((evaluated, published))
}
