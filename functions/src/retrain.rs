//! Scheduled retraining with a quality gate: train a candidate on fresh data (the input files
//! plus every live event the store holds), compare it with the active version on the same
//! holdout, and only let it serve if it is not worse.
//!
//! Comparison: the candidate is fitted on the training side of a seeded split of the new input
//! and scored on its holdout. When the active version recorded a figure on the very same
//! holdout rows (a retrain of the same data), the two recorded figures compare directly.
//! Otherwise both sides are scored on the holdout interactions the active version did not
//! train on (it was refitted on every row it had), over the same sample of holdout users, with
//! the ranking metric of choice at k: the candidate's lists come from its model, the active
//! version's from its stored documents, so the gate needs nothing but the store. Items a user
//! has in either side's training data are removed from both sides' lists first. What a passing
//! candidate publishes is the same parameters refitted on every row.

use std::path::PathBuf;
use topten_azure::model_dir::SaveModel;

use rustc_hash::{FxHashMap, FxHashSet};

use topten_azure::blob::{self, Location};
use topten_live::publish::{self, PublishOptions};
use topten_model::als::AlsParams;
use topten_model::ingest::ReadOptions;
use topten_model::metrics::{self, TargetMetric};
use topten_model::model::Model;
use topten_model::pipeline;
use topten_model::split::{self, SplitParams};
use topten_store::{Store, VersionInfo};

/// Everything a retrain needs (the timer function reads it from app settings).
#[derive(Debug, Clone)]
pub struct RetrainConfig {
    /// Interaction files, read and concatenated in order: local paths or blobs; a blob prefix
    /// (`az://ACCOUNT/CONTAINER/events/`) or a local directory stands for every file under it.
    pub inputs: Vec<Location>,
    /// How to read them.
    pub read: ReadOptions,
    /// Holdout split.
    pub split: SplitParams,
    /// Model hyperparameters.
    pub params: AlsParams,
    /// Cut-off of the gate metric.
    pub k: usize,
    /// Gate metric.
    pub metric: TargetMetric,
    /// Allowed relative drop of the metric (0.02: the candidate may be 2% worse).
    pub tolerance: f64,
    /// Holdout users sampled for the comparison (each costs one store read for the active side).
    pub sample_users: usize,
    /// Publishing options (items per user, titles).
    pub publish: PublishOptions,
    /// The item catalogue to publish with the candidate (read when it is published, so each
    /// retrain takes the catalogue as it is then).
    pub items: Option<Location>,
    /// Where to write the candidate's model directory (`ROOT/{version}`, a local directory or
    /// a blob prefix such as `az://ACCOUNT/models`), if anywhere.
    pub model_root: Option<Location>,
    /// Live events to train on besides the input files (what `POST /api/events` stored).
    pub events: Vec<topten_live::events::StoredEvent>,
    /// Forgotten users: their rows up to their tombstone are left out of the training input,
    /// from the files as from the events (`topten_live::forget`).
    pub tombstones: topten_live::forget::Tombstones,
    /// Events past retention are not trained on, even while the store still holds them.
    pub retention: topten_live::retention::Retention,
    /// What to do with a candidate that passes the gate.
    pub mode: RetrainMode,
    /// Import the newest complete Spark run under this prefix instead of training
    /// (`RETRAIN_SOURCE=spark:PREFIX`): the run's `test/` is the gate's holdout, and live events
    /// are folded in when the version is published rather than trained on.
    pub spark_runs: Option<Location>,
}

impl RetrainConfig {
    /// A retrain of `inputs` with `params`, gated on `metric`@10 with a 2% tolerance over
    /// 2000 holdout users, publishing with the default options and writing no model directory:
    /// callers override what their settings say.
    pub fn new(inputs: Vec<Location>, params: AlsParams, metric: TargetMetric) -> Self {
        RetrainConfig {
            inputs,
            read: ReadOptions::default(),
            split: SplitParams::default(),
            params,
            k: 10,
            metric,
            tolerance: 0.02,
            sample_users: 2000,
            publish: PublishOptions::default(),
            items: None,
            model_root: None,
            events: Vec::new(),
            tombstones: Default::default(),
            retention: Default::default(),
            spark_runs: None,
            mode: RetrainMode::Activate,
        }
    }
}

/// The hyperparameters of a retrain: those of a parameters file when one is given (see
/// [`params_from_file`]; `--params` / `RETRAIN_PARAMS`), else the defaults of `model`
/// (`"implicit"` or `"explicit"`).
pub fn choose_params(
    file: Option<&std::path::Path>,
    model: topten_model::als::Feedback,
) -> Result<AlsParams, RetrainError> {
    match file {
        Some(path) => params_from_file(path),
        None => Ok(model.default_params()),
    }
}

/// What a retrain decided, kept with the new version and returned to the caller.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetrainOutcome {
    /// Version written for the candidate.
    pub candidate_version: String,
    /// Whether it became active.
    pub activated: bool,
    /// Metric compared.
    pub metric: TargetMetric,
    /// k of the metric.
    pub k: usize,
    /// Candidate's figure on the sample.
    pub candidate: f64,
    /// Active version's figure on the same sample (`null` when nothing was active).
    pub active: Option<f64>,
    /// Version that was active before.
    pub active_version: Option<String>,
    /// Allowed relative drop.
    pub tolerance: f64,
    /// Holdout users compared.
    pub users: usize,
    /// Why.
    pub reason: String,
    /// The experiment the candidate started instead of being activated
    /// (`RETRAIN_MODE=experiment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
}

/// What a retrain does with a candidate that passes the gate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RetrainMode {
    /// Activate it (`RETRAIN_MODE=activate`, the default).
    Activate,
    /// Start an experiment that serves it to `share` of users (`RETRAIN_MODE=experiment`);
    /// `topten experiment promote` or `stop` ends it.
    Experiment {
        /// The candidate's share of users.
        share: f64,
    },
}

/// Why a retrain failed.
#[derive(Debug, thiserror::Error)]
pub enum RetrainError {
    /// Input could not be read.
    #[error(transparent)]
    Ingest(#[from] topten_model::ingest::IngestError),
    /// Split failed.
    #[error(transparent)]
    Split(#[from] topten_model::split::SplitError),
    /// Training failed.
    #[error(transparent)]
    Als(#[from] topten_model::als::AlsError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] topten_store::StoreError),
    /// Writing the model directory failed.
    #[error(transparent)]
    Model(#[from] topten_model::model::ModelError),
    /// An input location could not be listed.
    #[error(transparent)]
    Blob(#[from] topten_azure::blob::BlobError),
    /// Nothing to train on.
    #[error("no training input configured")]
    NoInput,
    /// A Spark run could not be found or imported.
    #[cfg(feature = "parquet")]
    #[error(transparent)]
    Spark(#[from] topten_azure::spark_run::SparkRunError),
    /// The configuration needs a part this build leaves out (a cargo feature that is off).
    #[error("{what} need topten built with the `{feature}` feature (on by default: `cargo build --release`)")]
    NotBuilt {
        /// What could not be done.
        what: &'static str,
        /// The cargo feature that builds it.
        feature: &'static str,
    },
    /// The newest Spark run holds no data out, so the gate has nothing to compare on.
    #[error("{0}: the run has no test/ holdout, which the quality gate compares on; run spark/topten_als.py with --holdout above 0")]
    NoHoldout(String),
    /// The catalogue (`TRAINING_ITEMS`) could not be read.
    #[error("TRAINING_ITEMS: {0}")]
    Catalogue(#[from] topten_model::catalogue::CatalogueError),
    /// The map from catalogue records to item factors could not be fitted.
    #[error("content map: {0}")]
    Content(#[from] topten_model::content::ContentError),
    /// A parameters file could not be used.
    #[error("{path}: {message}")]
    Params {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Reads the hyperparameters a retrain should use from a file: a tuned model's `tuning.json`
/// (its `chosen` parameters), any `model.json` (its `params`), or a bare parameters object.
/// The thread count is reset to 0 (all cores of the machine that retrains).
pub fn params_from_file(path: &std::path::Path) -> Result<AlsParams, RetrainError> {
    let bad = |message: String| RetrainError::Params {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    // A tuned model's tuning.json, a model.json, or the parameters themselves, each typed.
    let params = if let Ok(t) = serde_json::from_str::<topten_model::tune::TuningRecord>(&text) {
        t.chosen
    } else if let Ok(m) = serde_json::from_str::<topten_model::model::ModelMeta>(&text) {
        m.params
    } else {
        serde_json::from_str::<AlsParams>(&text).map_err(|e| {
            bad(format!(
                "neither a tuning.json, a model.json nor ALS parameters: {e}"
            ))
        })?
    };
    params.check().map_err(|e| bad(e.to_string()))?;
    Ok(AlsParams {
        threads: 0,
        ..params
    })
}

/// What a retrain trained: the fit the gate judges, the model it publishes, and the holdout.
pub struct Candidate {
    /// The parameters fitted on the training side of the split, scored on `holdout`: the
    /// gate compares its lists with the active version's.
    pub evaluated: Model,
    /// What is published when the gate passes: the same parameters refitted on every row
    /// (a Spark run's refitted `model/`), so that its lists leave out every item a user has.
    pub published: Model,
    /// The held-out interactions.
    pub holdout: topten_model::interactions::Ratings,
}

/// The CPU-heavy half: read, split, train, evaluate, refit on every row. Run it off the async
/// runtime.
pub fn train_candidate(cfg: &RetrainConfig) -> Result<Candidate, RetrainError> {
    if let Some(prefix) = &cfg.spark_runs {
        return spark_candidate(cfg, prefix);
    }
    let mut all = topten_model::interactions::Ratings::default();
    if cfg.inputs.is_empty() {
        return Err(RetrainError::NoInput);
    }
    let inputs = blob::expand_inputs(&cfg.inputs)?;
    for loc in &inputs {
        let (r, _) = blob::read_ratings(loc, &cfg.read, None)?;
        all.append(&r);
    }
    let mut events = cfg.events.clone();
    let forgotten_events = topten_live::forget::drop_forgotten(&mut events, &cfg.tombstones);
    let now = topten_model::clock::now_ms();
    events.retain(|e| {
        !cfg.retention
            .event_expired(e.timestamp.saturating_mul(1000), now)
    });
    topten_live::events::append_to(&mut all, &events);
    let (all, forgotten_rows) = topten_live::forget::drop_forgotten_rows(all, &cfg.tombstones);
    if forgotten_rows + forgotten_events > 0 {
        tracing::info!(
            rows = forgotten_rows,
            events = forgotten_events,
            "left out the rows of forgotten users"
        );
    }
    let parts = split::split(&all, &cfg.split)?;
    let train = all.subset(&parts.train);
    let test = all.subset(&parts.test);
    let source = inputs
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let mut model = pipeline::train(&train, &cfg.params, Some(source.clone()), &mut |_| {})?;
    model.meta.split = serde_json::to_value(cfg.split).ok();
    model.meta.events_through_ms = cfg.events.iter().map(|e| e.received_at_ms).max();
    let holdout = pipeline::Holdout {
        refitted: true,
        ..pipeline::Holdout::new(
            format!(
                "{} split of {source}{}",
                cfg.split,
                if cfg.events.is_empty() {
                    ""
                } else {
                    " and the live events"
                }
            ),
            &train,
            &test,
        )
    };
    let eval = pipeline::evaluate(&model, &test, cfg.k);
    model.meta.metrics = Some(pipeline::labelled_metrics(&eval, &holdout));
    let published = pipeline::refit(&all, &model, &mut |_| {})?;
    tracing::info!(
        evaluated_on = train.len(),
        published_on = published.meta.interactions,
        "candidate trained, evaluated on the holdout and refitted on every row"
    );
    Ok(Candidate {
        evaluated: model,
        published,
        holdout: test,
    })
}

/// A build without Parquet (the `parquet` feature) cannot read Spark runs.
#[cfg(not(feature = "parquet"))]
fn spark_candidate(_cfg: &RetrainConfig, _prefix: &Location) -> Result<Candidate, RetrainError> {
    Err(RetrainError::NotBuilt {
        what: "Spark runs",
        feature: "parquet",
    })
}

/// The candidate of a Spark retrain: the newest complete run under `prefix`, imported, and
/// its holdout. A run of `spark/topten_als.py` holds the fit it scored (`holdout-model/`,
/// trained on `train/`) and the model refitted on every row (`model/`); an older run holds
/// only the former, which is then both judged and published, its lists leaving out the
/// holdout rows too.
#[cfg(feature = "parquet")]
fn spark_candidate(cfg: &RetrainConfig, prefix: &Location) -> Result<Candidate, RetrainError> {
    use topten_azure::spark_run;
    let run_loc = spark_run::newest_run(prefix)?;
    let run = spark_run::read_run(&run_loc)?;
    let test_loc = run
        .test
        .clone()
        .ok_or_else(|| RetrainError::NoHoldout(run_loc.to_string()))?;
    tracing::info!(run = %run_loc, "importing the newest Spark run");
    let (test, _) = blob::read_ratings(&test_loc, &ReadOptions::default(), None)?;
    let (evaluated, published) = spark_run::import_run_pair(&run, &ReadOptions::default(), &test)?;
    let mut evaluated = evaluated;
    evaluated.set_popularity_penalty(cfg.params.popularity_penalty);
    let mut published = published;
    published.set_popularity_penalty(cfg.params.popularity_penalty);
    let holdout = pipeline::Holdout {
        made_by: format!("the test/ of the Spark run {run_loc}"),
        fingerprint: pipeline::holdout_fingerprint(&test),
        train_interactions: evaluated
            .meta
            .fitted_on
            .as_ref()
            .map_or(0, |f| f.interactions),
        test_interactions: test.len(),
        refitted: published.meta.fitted_on.as_ref().map(|f| f.interactions)
            != evaluated.meta.fitted_on.as_ref().map(|f| f.interactions),
    };
    let eval = pipeline::evaluate(&evaluated, &test, cfg.k);
    let metrics = pipeline::labelled_metrics(&eval, &holdout);
    evaluated.meta.metrics = Some(metrics.clone());
    published.meta.metrics = Some(metrics);
    Ok(Candidate {
        evaluated,
        published,
        holdout: test,
    })
}

/// The gate and publish half: compares with the active version and publishes (and activates)
/// the candidate only if it passes. A rejected candidate is not written to the store; its model
/// directory (when `model_root` is set) keeps the decision in `model.json` for inspection.
pub async fn gate_and_publish(
    store: &dyn Store,
    cfg: &RetrainConfig,
    candidate: Candidate,
) -> Result<(Option<VersionInfo>, RetrainOutcome), RetrainError> {
    let Candidate {
        evaluated: model,
        published: mut model_out,
        holdout,
    } = candidate;
    let active = store.active().await?;
    if let Some(outcome) = already_published(store, cfg, &model_out).await? {
        return Ok((None, outcome));
    }
    let figures = gate_figures(store, cfg, &model, &holdout, active.as_ref()).await?;
    let (passes, gate) = gate_verdict(cfg, &figures, holdout.len());
    // What a passing candidate does: it is activated, or starts an experiment
    // (RETRAIN_MODE=experiment, once something is active); while an experiment holds the
    // pointer it is only published.
    let running = active.as_ref().and_then(|a| a.experiment.clone());
    let then = match (passes, &running, cfg.mode) {
        (false, _, _) => Then::Reject,
        (true, Some(_), _) => Then::PublishOnly,
        (true, None, RetrainMode::Experiment { share }) if active.is_some() => {
            Then::Experiment(share)
        }
        (true, None, _) => Then::Activate,
    };
    let reason = match (&then, &running) {
        (Then::PublishOnly, Some(e)) => format!(
            "{gate}; experiment {} (candidate {}) is running, so the candidate is published without activation",
            e.id, e.candidate
        ),
        (Then::Experiment(share), _) => format!(
            "{gate}; RETRAIN_MODE=experiment: the candidate serves {:.1}% of users in an experiment",
            share * 100.0
        ),
        _ => gate,
    };
    let activate = then == Then::Activate;
    tracing::info!(
        metric = ?cfg.metric,
        k = cfg.k,
        candidate = figures.candidate,
        active = ?figures.active,
        active_version = ?active.as_ref().map(|a| &a.version),
        tolerance = cfg.tolerance,
        users = figures.users,
        activate,
        %reason,
        "quality gate"
    );
    let version = cfg
        .publish
        .version
        .clone()
        .unwrap_or_else(|| publish::new_version_id(&model_out));
    let mut outcome = RetrainOutcome {
        experiment: None,
        candidate_version: version.clone(),
        activated: activate,
        metric: cfg.metric,
        k: cfg.k,
        candidate: figures.candidate,
        active: figures.active,
        active_version: active.map(|a| a.version),
        tolerance: cfg.tolerance,
        users: figures.users,
        reason,
    };
    // The catalogue as it is now: published with the candidate, and the source of the map
    // that gives items without interactions a factor.
    let catalogue = match &cfg.items {
        Some(loc) => Some(blob::read_catalogue(loc)?),
        None => cfg.publish.catalogue.clone(),
    };
    if let Some(c) = &catalogue {
        model_out.content = Some(topten_model::content::ContentMap::for_model(&model_out, c)?);
    }
    if let Some(root) = &cfg.model_root {
        let mut metrics = model_out
            .meta
            .metrics
            .clone()
            .unwrap_or_else(|| serde_json::json!({}));
        metrics["qualityGate"] = serde_json::to_value(&outcome).unwrap_or_default();
        model_out.meta.metrics = Some(metrics);
        // A blob upload runs on the blob module's own runtime; this thread waits for it.
        model_out.save_to(&root.join(&version), None)?;
    }
    if then == Then::Reject {
        return Ok((None, outcome));
    }
    let opts = PublishOptions {
        version: Some(version.clone()),
        activate,
        quality: serde_json::to_value(&outcome).ok(),
        catalogue,
        ..cfg.publish.clone()
    };
    let info = publish::publish(store, &model_out, &opts, &mut |_, _| {}).await?;
    if let Then::Experiment(share) = then {
        let started = publish::start_experiment_caught_up(store, &version, share).await?;
        outcome.experiment = started.experiment.map(|e| e.id);
        tracing::info!(experiment = ?outcome.experiment, candidate = %version, share, "experiment started");
    }
    Ok((Some(info), outcome))
}

/// What the gate compares: the candidate's figure, the active version's (none without one),
/// on how many holdout users, and whether both are the recorded figures of one holdout.
struct GateFigures {
    candidate: f64,
    active: Option<f64>,
    users: usize,
    same_holdout: bool,
    /// Holdout interactions left out for naming items the active version has no trained
    /// factor for (new items, served from content or live factors): the gate compares the two
    /// versions on the items both know.
    new_items_left_out: usize,
}

/// The figures of both sides. When the active version was scored on this very holdout (the
/// same rows: a retrain of the same data, with other parameters perhaps), its recorded figure
/// and the candidate's are two fits scored on one holdout, and they compare directly.
/// Otherwise both are scored here on a sample of holdout users ([`GateSample`]).
async fn gate_figures(
    store: &dyn Store,
    cfg: &RetrainConfig,
    model: &Model,
    holdout: &topten_model::interactions::Ratings,
    active: Option<&topten_store::ActiveVersion>,
) -> Result<GateFigures, RetrainError> {
    if let Some(a) = active {
        if let Some((candidate, recorded)) =
            same_holdout_figures(store, &a.version, model, cfg).await?
        {
            return Ok(GateFigures {
                candidate,
                active: Some(recorded),
                users: holdout_users(holdout),
                same_holdout: true,
                new_items_left_out: 0,
            });
        }
    }
    let sample = GateSample::draw(store, cfg, model, holdout, active).await?;
    let scored = sample.score(store, cfg, model, active).await?;
    Ok(GateFigures {
        candidate: cfg.metric.pick(&metrics::ranking_metrics(
            &scored.pairs,
            &scored.candidate,
            cfg.k,
        )),
        active: active.map(|_| {
            cfg.metric.pick(&metrics::ranking_metrics(
                &scored.pairs,
                &scored.active,
                cfg.k,
            ))
        }),
        users: sample.users.len(),
        same_holdout: false,
        new_items_left_out: sample.new_items_left_out,
    })
}

/// Whether the candidate passes, and why, in words for the log and the outcome.
fn gate_verdict(cfg: &RetrainConfig, f: &GateFigures, holdout_rows: usize) -> (bool, String) {
    let candidate = f.candidate;
    match f.active {
        None => (true, "no active version".to_string()),
        Some(a) if f.same_holdout => {
            let passes = candidate >= a * (1.0 - cfg.tolerance);
            (
                passes,
                format!(
                    "candidate {candidate:.4} {} active {a:.4} x (1 - {}), both scored on the holdout of the active version's own evaluation{}",
                    if passes { ">=" } else { "<" },
                    cfg.tolerance,
                    if passes { "" } else { ": keeping the active version" }
                ),
            )
        }
        // The active version was fitted on every row it had: holdout interactions it saw are
        // no test of it, and when no holdout interaction is new to it there is nothing to
        // compare on.
        Some(_) if f.users == 0 => (
            false,
            format!(
                "no holdout interaction is new to the active version (it trained on all {holdout_rows} of them): nothing to compare on; keeping the active version"
            ),
        ),
        Some(a) if candidate >= a * (1.0 - cfg.tolerance) => (
            true,
            format!(
                "candidate {candidate:.4} >= active {a:.4} x (1 - {}), {}",
                cfg.tolerance,
                known_items_only(f)
            ),
        ),
        Some(a) => (
            false,
            format!(
                "candidate {candidate:.4} < active {a:.4} x (1 - {}), {}: keeping the active version",
                cfg.tolerance,
                known_items_only(f)
            ),
        ),
    }
}

/// What the gate's comparison leaves out, in words: it ranks and scores only items the active
/// version trained (an item it serves from its content or live factor has none to compare).
fn known_items_only(f: &GateFigures) -> String {
    format!(
        "both scored on {} holdout users over the items the active version trained ({} holdout interactions with items new to it left out)",
        f.users, f.new_items_left_out
    )
}

/// The holdout users the gate scores both sides on, with what each has on the active side.
///
/// Holdout pairs the active version trained on cannot be hits for it (its stored lists leave
/// a user's training items out), so they would count against it alone: a candidate split
/// differently (a new Spark run, data that moved rows between train and test) would pass on
/// that alone. Those pairs are left out for both sides.
struct GateSample<'h> {
    /// Sampled users the candidate knows, in a deterministic order.
    users: Vec<&'h str>,
    /// Each sampled user's holdout items, without the ones the active version trained on.
    truth: FxHashMap<&'h str, Vec<&'h str>>,
    /// Items each sampled user is known to have from the active version's side: neither
    /// side's list may spend a slot on them (the active version's lists already leave them
    /// out).
    active_known: FxHashMap<&'h str, FxHashSet<String>>,
    /// The items the active version trained (`None`: no active version, or one without a
    /// serving model): the only items either side's lists and the truth may hold.
    active_items: Option<topten_model::interactions::IdMap>,
    /// Holdout interactions left out for naming an item outside `active_items`.
    new_items_left_out: usize,
}

/// Both sides' lists for the sampled users, with the holdout pairs, in one id space.
struct GateScores {
    pairs: Vec<(u32, u32)>,
    candidate: Vec<(u32, u32, f64)>,
    active: Vec<(u32, u32, f64)>,
}

impl<'h> GateSample<'h> {
    async fn draw(
        store: &dyn Store,
        cfg: &RetrainConfig,
        model: &Model,
        holdout: &'h topten_model::interactions::Ratings,
        active: Option<&topten_store::ActiveVersion>,
    ) -> Result<Self, RetrainError> {
        let active_seen = match active {
            Some(a) => ActiveHistories::load(store, &a.version).await?,
            None => ActiveHistories::default(),
        };
        let active_items = active_seen.items.clone();
        let knows = |i: &str| active_items.as_ref().is_none_or(|m| m.get(i).is_some());
        let mut truth: FxHashMap<&str, Vec<&str>> = FxHashMap::default();
        let mut new_items_left_out = 0;
        for r in &holdout.records {
            if !knows(holdout.items.id(r.item)) {
                new_items_left_out += 1;
                continue;
            }
            truth
                .entry(holdout.users.id(r.user))
                .or_default()
                .push(holdout.items.id(r.item));
        }
        let mut candidates: Vec<&str> = truth
            .keys()
            .copied()
            .filter(|u| model.users.get(u).is_some())
            .collect();
        candidates.sort_unstable();
        let mut users = Vec::new();
        let mut active_known = FxHashMap::default();
        for u in candidates {
            if users.len() >= cfg.sample_users.max(1) {
                break;
            }
            let seen = active_seen.items_of(store, u).await?;
            let list = truth.get_mut(u).expect("a holdout user");
            list.retain(|i| !seen.contains(*i));
            if !list.is_empty() {
                users.push(u);
                active_known.insert(u, seen);
            }
        }
        Ok(GateSample {
            users,
            truth,
            active_known,
            active_items,
            new_items_left_out,
        })
    }

    /// The candidate's top k (without what the active side knows the user has) and the
    /// active version's stored top k (without the candidate's training items) per user.
    async fn score(
        &self,
        store: &dyn Store,
        cfg: &RetrainConfig,
        model: &Model,
        active: Option<&topten_store::ActiveVersion>,
    ) -> Result<GateScores, RetrainError> {
        let mut ids = topten_model::interactions::IdMap::new();
        let mut user_id = |u: &str| ids.intern(&format!("u\x1f{u}"));
        let mut out = GateScores {
            pairs: Vec::new(),
            candidate: Vec::new(),
            active: Vec::new(),
        };
        let user_ids: Vec<u32> = self.users.iter().map(|u| user_id(u)).collect();
        let item_id =
            |ids: &mut topten_model::interactions::IdMap, i: &str| ids.intern(&format!("i\x1f{i}"));
        for (u, &uid) in self.users.iter().zip(&user_ids) {
            for i in &self.truth[u] {
                out.pairs.push((uid, item_id(&mut ids, i)));
            }
        }
        // The candidate's items the active version did not train: skipped in its lists.
        let new_to_active = self.active_items.as_ref().map_or(0, |m| {
            model
                .items
                .ids()
                .iter()
                .filter(|i| m.get(i).is_none())
                .count()
        });
        for (u, &uid) in self.users.iter().zip(&user_ids) {
            let mu = model
                .users
                .get(u)
                .expect("sampled users are the candidate's");
            let known = &self.active_known[u];
            let active_knows = |i: &str| {
                self.active_items
                    .as_ref()
                    .is_none_or(|m| m.get(i).is_some())
            };
            for s in model
                .recommend(mu, cfg.k + known.len() + new_to_active)
                .into_iter()
                .filter(|s| {
                    let id = model.items.id(s.item);
                    !known.contains(id) && active_knows(id)
                })
                .take(cfg.k)
            {
                out.candidate.push((
                    uid,
                    item_id(&mut ids, model.items.id(s.item)),
                    s.score as f64,
                ));
            }
            let Some(a) = active else { continue };
            let Some(doc) = store.user_recs(&a.version, u).await? else {
                continue;
            };
            let seen: FxHashSet<&str> = model
                .seen
                .row(mu as usize)
                .0
                .iter()
                .map(|&i| model.items.id(i))
                .collect();
            // A list folded in since publishing may hold new items: left out as on the
            // candidate's side.
            for it in doc
                .items
                .iter()
                .filter(|it| !seen.contains(it.item_id.as_str()) && active_knows(&it.item_id))
                .take(cfg.k)
            {
                out.active
                    .push((uid, item_id(&mut ids, &it.item_id), it.score as f64));
            }
        }
        Ok(out)
    }
}

/// The candidate's and the active version's recorded figures (`cfg.metric` at `cfg.k`) when
/// both were evaluated on the same holdout rows, else `None`.
async fn same_holdout_figures(
    store: &dyn Store,
    active: &str,
    candidate: &Model,
    cfg: &RetrainConfig,
) -> Result<Option<(f64, f64)>, RetrainError> {
    let recorded = |metrics: &serde_json::Value| -> Option<(String, f64)> {
        let fingerprint = metrics
            .pointer("/holdout/fingerprint")?
            .as_str()?
            .to_owned();
        (metrics.get("k")?.as_u64()? == cfg.k as u64).then_some(())?;
        Some((fingerprint, metrics.get(cfg.metric.to_string())?.as_f64()?))
    };
    let Some((fp, c)) = candidate.meta.metrics.as_ref().and_then(recorded) else {
        return Ok(None);
    };
    let versions = store.versions().await?;
    let Some((afp, a)) = versions
        .iter()
        .find(|v| v.version == active)
        .and_then(|v| v.model.get("metrics"))
        .and_then(recorded)
    else {
        return Ok(None);
    };
    Ok((fp == afp).then_some((c, a)))
}

/// How many users a holdout has.
fn holdout_users(holdout: &topten_model::interactions::Ratings) -> usize {
    let mut users: Vec<u32> = holdout.records.iter().map(|r| r.user).collect();
    users.sort_unstable();
    users.dedup();
    users.len()
}

/// What a retrain does with its candidate after the gate.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Then {
    /// Failed the gate: not published.
    Reject,
    /// Published and activated.
    Activate,
    /// Published, and an experiment started with this share.
    Experiment(f64),
    /// Published only (an experiment holds the pointer).
    PublishOnly,
}

/// The part of a model's `source` that names a Spark fit: the uid Spark gives every fitted
/// model (`spark ALSModel PATH (Spark 4.0.1, uid ALS_…)`, written by `topten_spark`), the same
/// however the run's path is spelled.
fn spark_fit(source: &str) -> Option<&str> {
    let rest = source.strip_prefix("spark ALSModel ")?;
    let uid = rest.rsplit_once(", uid ")?.1.strip_suffix(')')?;
    (!uid.is_empty()).then_some(uid)
}

/// With a Spark source: the outcome "nothing to publish" when the candidate's Spark fit is
/// already a version of the store (active, or rolled back from: a rollback is not undone by
/// the next retrain), else `None`.
async fn already_published(
    store: &dyn Store,
    cfg: &RetrainConfig,
    model: &Model,
) -> Result<Option<RetrainOutcome>, RetrainError> {
    let Some(fit) = cfg
        .spark_runs
        .as_ref()
        .and(model.meta.source.as_deref())
        .and_then(spark_fit)
    else {
        return Ok(None);
    };
    let versions = store.versions().await?;
    let Some(existing) = versions.iter().find(|v| {
        v.model
            .get("source")
            .and_then(|s| s.as_str())
            .and_then(spark_fit)
            == Some(fit)
    }) else {
        return Ok(None);
    };
    let active = store.active().await?.map(|a| a.version);
    let reason = if active.as_deref() == Some(existing.version.as_str()) {
        format!(
            "{} (Spark fit {fit}) is already the active version {}; nothing to publish",
            model.meta.source.as_deref().unwrap_or_default(),
            existing.version
        )
    } else {
        format!(
            "{} (Spark fit {fit}) is already version {} (not active: rolled back from or rejected); nothing to publish until a newer run",
            model.meta.source.as_deref().unwrap_or_default(),
            existing.version
        )
    };
    tracing::info!(%reason, "quality gate");
    let candidate = model
        .meta
        .metrics
        .as_ref()
        .and_then(|m| m.get(cfg.metric.to_string()))
        .and_then(|v| v.as_f64())
        .unwrap_or(0.0);
    Ok(Some(RetrainOutcome {
        candidate_version: existing.version.clone(),
        activated: false,
        metric: cfg.metric,
        k: cfg.k,
        candidate,
        active: None,
        active_version: active,
        tolerance: cfg.tolerance,
        users: 0,
        reason,
        experiment: None,
    }))
}

/// The training items of the active version's users, read from its stored histories (one
/// read per sampled user) and named through its serving model. Empty for a version without
/// them (lists published as they are).
#[derive(Default)]
struct ActiveHistories {
    version: String,
    items: Option<topten_model::interactions::IdMap>,
}

impl ActiveHistories {
    async fn load(store: &dyn Store, version: &str) -> Result<Self, RetrainError> {
        let items = match store.serving_model(version).await? {
            Some(bytes) => topten_model::serving_model::ServingModel::decode(&bytes)
                .ok()
                .map(|s| s.items),
            None => None,
        };
        Ok(ActiveHistories {
            version: version.to_owned(),
            items,
        })
    }

    async fn items_of(
        &self,
        store: &dyn Store,
        user: &str,
    ) -> Result<FxHashSet<String>, RetrainError> {
        let Some(items) = &self.items else {
            return Ok(FxHashSet::default());
        };
        let Some(bytes) = store.user_history(&self.version, user).await? else {
            return Ok(FxHashSet::default());
        };
        Ok(topten_model::serving_model::decode_history(&bytes)
            .into_iter()
            .filter(|&(i, _)| (i as usize) < items.len())
            .map(|(i, _)| items.id(i).to_owned())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same Spark fit is recognised however its run's path was spelled.
    #[test]
    fn spark_fits_are_named_by_uid() {
        let a = "spark ALSModel runs/20260101T000000Z/model (Spark 4.0.1, uid ALS_ea53d4dcd680)";
        let b = "spark ALSModel /tmp/d1/runs//20260101T000000Z/model (Spark 4.0.1, uid ALS_ea53d4dcd680)";
        assert_eq!(spark_fit(a), Some("ALS_ea53d4dcd680"));
        assert_eq!(spark_fit(a), spark_fit(b));
        assert_eq!(spark_fit("data/u.data"), None);
        assert_eq!(spark_fit("spark ALSModel x (Spark 4.0.1, uid )"), None);
    }
    use topten_model::als::Confidence;

    /// Retrains take parameters from a tuned model's tuning.json (`chosen`), a model.json
    /// (`params`) or a bare object; anything else is an error naming the file.
    #[test]
    fn params_from_tuning_model_or_bare_files() {
        let dir = tempfile::tempdir().unwrap();
        let tuned = AlsParams {
            factors: 96,
            regularization: 12.5,
            confidence: Confidence::Linear,
            threads: 3,
            ..AlsParams::implicit()
        };
        let write = |name: &str, v: serde_json::Value| {
            let p = dir.path().join(name);
            std::fs::write(&p, v.to_string()).unwrap();
            p
        };
        let want = AlsParams {
            threads: 0,
            ..tuned.clone()
        };
        // A tuning.json and a model.json as `topten tune` and `topten train` write them.
        let trial = topten_model::tune::Trial {
            config: 0,
            bracket: 0,
            rung: 0,
            params: tuned.clone(),
            validation: Default::default(),
            beyond: Default::default(),
            score: 0.1,
            feasible: true,
            seconds: 0.5,
            promoted: false,
            dial_sweep: false,
            served: None,
            refined: false,
        };
        let result = topten_model::tune::TuneResult {
            best: tuned.clone(),
            best_trial: 0,
            trials: vec![trial],
            fit_rows: 10,
            validation_rows: 2,
            validation_users: 2,
            holdout: topten_model::tune::Holdout::Random,
            seconds: 0.5,
            dial: vec![],
        };
        let record = topten_model::tune::TuningRecord::new(
            &topten_model::tune::TuneConfig::default(),
            &result,
            tuned.clone(),
        );
        let t = write("tuning.json", serde_json::to_value(&record).unwrap());
        assert_eq!(params_from_file(&t).unwrap(), want);
        let ratings = topten_testkit::fixtures::ratings_file(dir.path());
        let mut model = topten_testkit::fixtures::small_model(&ratings, 1);
        model.meta.params = tuned.clone();
        let m = write("model.json", serde_json::to_value(&model.meta).unwrap());
        assert_eq!(params_from_file(&m).unwrap(), want);
        let b = write("bare.json", serde_json::to_value(&tuned).unwrap());
        assert_eq!(params_from_file(&b).unwrap(), want);
        let bad = write("bad.json", serde_json::json!({"chosen": {"factors": 0}}));
        assert!(params_from_file(&bad)
            .unwrap_err()
            .to_string()
            .contains("bad.json"));
        let invalid = write(
            "invalid.json",
            serde_json::to_value(AlsParams {
                factors: 0,
                ..tuned
            })
            .unwrap(),
        );
        assert!(params_from_file(&invalid)
            .unwrap_err()
            .to_string()
            .contains("factors"));
    }
}
