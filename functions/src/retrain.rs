//! Scheduled retraining with a quality gate: train a candidate on fresh data (the input files
//! plus every live event the store holds), compare it with the active version on the same
//! holdout, and only let it serve if it is not worse.
//!
//! Comparison: both sides are scored on the candidate's holdout (the test side of a seeded
//! split of the new input), over the same sample of holdout users, with the ranking metric of
//! choice at k. The candidate's lists come from the model; the active version's lists are its
//! stored documents, so the gate needs nothing but the store. Items a user has in the new
//! training data are removed from both sides' lists first.

use std::path::PathBuf;
use topten_azure::model_dir::SaveModel;

use rustc_hash::{FxHashMap, FxHashSet};

use topten_azure::blob::{self, Location};
use topten_model::als::AlsParams;
use topten_model::ingest::ReadOptions;
use topten_model::metrics::{self, TargetMetric};
use topten_model::model::Model;
use topten_model::pipeline;
use topten_model::split::{self, SplitParams};
use topten_store::publish::{self, PublishOptions};
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
    pub events: Vec<topten_store::events::StoredEvent>,
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
    #[error(transparent)]
    Spark(#[from] topten_azure::spark_run::SparkRunError),
    /// The newest Spark run holds no data out, so the gate has nothing to compare on.
    #[error("{0}: the run has no test/ holdout, which the quality gate compares on; run spark/topten_als.py with --holdout above 0")]
    NoHoldout(String),
    /// The catalogue (`TRAINING_ITEMS`) could not be read.
    #[error("TRAINING_ITEMS: {0}")]
    Catalogue(#[from] topten_model::catalogue::CatalogueError),
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

/// The CPU-heavy half: read, split, train. Run it off the async runtime.
pub fn train_candidate(
    cfg: &RetrainConfig,
) -> Result<(Model, topten_model::interactions::Ratings), RetrainError> {
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
        append(&mut all, &r);
    }
    topten_store::events::append_to(&mut all, &cfg.events);
    let parts = split::split(&all, &cfg.split)?;
    let train = all.subset(&parts.train);
    let test = all.subset(&parts.test);
    let source = inputs
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let mut model = pipeline::train(&train, &cfg.params, Some(source), &mut |_| {})?;
    model.meta.split = serde_json::to_value(cfg.split).ok();
    model.meta.events_through_ms = cfg.events.iter().map(|e| e.received_at_ms).max();
    model.meta.metrics = serde_json::to_value(pipeline::evaluate(&model, &test, cfg.k)).ok();
    Ok((model, test))
}

/// The candidate of a Spark retrain: the newest complete run under `prefix`, imported, and
/// its holdout.
fn spark_candidate(
    cfg: &RetrainConfig,
    prefix: &Location,
) -> Result<(Model, topten_model::interactions::Ratings), RetrainError> {
    use topten_azure::spark_run;
    let run_loc = spark_run::newest_run(prefix)?;
    let run = spark_run::read_run(&run_loc)?;
    let test_loc = run
        .test
        .clone()
        .ok_or_else(|| RetrainError::NoHoldout(run_loc.to_string()))?;
    tracing::info!(run = %run_loc, "importing the newest Spark run");
    let (mut model, report, _) = spark_run::import(&(&run).into(), &ReadOptions::default(), None)?;
    tracing::info!(
        users = report.users,
        items = report.items,
        interactions = report.interactions,
        "imported Spark model"
    );
    let (test, _) = blob::read_ratings(&test_loc, &ReadOptions::default(), None)?;
    model.set_popularity_penalty(cfg.params.popularity_penalty);
    model.meta.metrics = serde_json::to_value(pipeline::evaluate(&model, &test, cfg.k)).ok();
    Ok((model, test))
}

fn append(
    all: &mut topten_model::interactions::Ratings,
    more: &topten_model::interactions::Ratings,
) {
    for r in &more.records {
        let u = all.users.intern(more.users.id(r.user));
        let i = all.items.intern(more.items.id(r.item));
        all.records.push(topten_model::interactions::Interaction {
            user: u,
            item: i,
            ..*r
        });
    }
    all.has_timestamps |= more.has_timestamps;
}

/// The gate and publish half: compares with the active version and publishes (and activates)
/// the candidate only if it passes. A rejected candidate is not written to the store; its model
/// directory (when `model_root` is set) keeps the decision in `model.json` for inspection.
pub async fn gate_and_publish(
    store: &dyn Store,
    cfg: &RetrainConfig,
    mut model: Model,
    holdout: &topten_model::interactions::Ratings,
) -> Result<(Option<VersionInfo>, RetrainOutcome), RetrainError> {
    let active = store.active().await?;
    if let Some(outcome) = already_published(store, cfg, &model).await? {
        return Ok((None, outcome));
    }
    // Holdout pairs the active version trained on cannot be hits for it (its stored lists leave
    // a user's training items out), so they would count against it alone: a candidate split
    // differently (a new Spark run, data that moved rows between train and test) would pass
    // on that alone. Those pairs are left out for both sides.
    let active_seen = match &active {
        Some(a) => ActiveHistories::load(store, &a.version).await?,
        None => ActiveHistories::default(),
    };
    // Sample of holdout users the candidate knows, in a deterministic order.
    let mut truth: FxHashMap<&str, Vec<&str>> = FxHashMap::default();
    for r in &holdout.records {
        truth
            .entry(holdout.users.id(r.user))
            .or_default()
            .push(holdout.items.id(r.item));
    }
    let mut users: Vec<&str> = truth
        .keys()
        .copied()
        .filter(|u| model.users.get(u).is_some())
        .collect();
    users.sort_unstable();
    let mut sampled = Vec::new();
    for u in users {
        if sampled.len() >= cfg.sample_users.max(1) {
            break;
        }
        let seen = active_seen.items_of(store, u).await?;
        let list = truth.get_mut(u).expect("a holdout user");
        list.retain(|i| !seen.contains(*i));
        if !list.is_empty() {
            sampled.push(u);
        }
    }
    let users = sampled;

    let mut ids: topten_model::interactions::IdMap = topten_model::interactions::IdMap::new();
    let mut pairs = Vec::new();
    for u in &users {
        for i in &truth[u] {
            pairs.push((
                ids.intern(&format!("u\x1f{u}")),
                ids.intern(&format!("i\x1f{i}")),
            ));
        }
    }
    let mut cand_recs = Vec::new();
    let mut active_recs = Vec::new();
    for u in &users {
        let uid = ids.intern(&format!("u\x1f{u}"));
        let mu = model.users.get(u).expect("filtered above");
        for s in model.recommend(mu, cfg.k) {
            cand_recs.push((
                uid,
                ids.intern(&format!("i\x1f{}", model.items.id(s.item))),
                s.score as f64,
            ));
        }
        if let Some(a) = &active {
            if let Some(doc) = store.user_recs(&a.version, u).await? {
                let seen: FxHashSet<&str> = model
                    .seen
                    .row(mu as usize)
                    .0
                    .iter()
                    .map(|&i| model.items.id(i))
                    .collect();
                for it in doc
                    .items
                    .iter()
                    .filter(|it| !seen.contains(it.item_id.as_str()))
                    .take(cfg.k)
                {
                    active_recs.push((
                        uid,
                        ids.intern(&format!("i\x1f{}", it.item_id)),
                        it.score as f64,
                    ));
                }
            }
        }
    }
    let candidate = cfg
        .metric
        .pick(&metrics::ranking_metrics(&pairs, &cand_recs, cfg.k));
    let active_figure = active.as_ref().map(|_| {
        cfg.metric
            .pick(&metrics::ranking_metrics(&pairs, &active_recs, cfg.k))
    });
    let (passes, gate) = match active_figure {
        None => (true, "no active version".to_string()),
        Some(a) if candidate >= a * (1.0 - cfg.tolerance) => (
            true,
            format!(
                "candidate {candidate:.4} >= active {a:.4} x (1 - {})",
                cfg.tolerance
            ),
        ),
        Some(a) => (
            false,
            format!(
                "candidate {candidate:.4} < active {a:.4} x (1 - {}): keeping the active version",
                cfg.tolerance
            ),
        ),
    };
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
        candidate,
        active = ?active_figure,
        active_version = ?active.as_ref().map(|a| &a.version),
        tolerance = cfg.tolerance,
        users = users.len(),
        activate,
        %reason,
        "quality gate"
    );
    let mut outcome = RetrainOutcome {
        experiment: None,
        candidate_version: String::new(),
        activated: activate,
        metric: cfg.metric,
        k: cfg.k,
        candidate,
        active: active_figure,
        active_version: active.map(|a| a.version),
        tolerance: cfg.tolerance,
        users: users.len(),
        reason,
    };
    let version = cfg
        .publish
        .version
        .clone()
        .unwrap_or_else(|| publish::new_version_id(&model));
    outcome.candidate_version = version.clone();
    if let Some(root) = &cfg.model_root {
        let mut metrics = model
            .meta
            .metrics
            .clone()
            .unwrap_or_else(|| serde_json::json!({}));
        metrics["qualityGate"] = serde_json::to_value(&outcome).unwrap_or_default();
        model.meta.metrics = Some(metrics);
        // A blob upload runs on the blob module's own runtime; this thread waits for it.
        model.save_to(&root.join(&version), None)?;
    }
    if then == Then::Reject {
        return Ok((None, outcome));
    }
    let catalogue = match &cfg.items {
        Some(loc) => Some(blob::read_catalogue(loc)?),
        None => cfg.publish.catalogue.clone(),
    };
    let opts = PublishOptions {
        version: Some(version.clone()),
        activate,
        quality: serde_json::to_value(&outcome).ok(),
        catalogue,
        ..cfg.publish.clone()
    };
    let info = publish::publish(store, &model, &opts, &mut |_, _| {}).await?;
    if let Then::Experiment(share) = then {
        let started = publish::start_experiment_caught_up(store, &version, share).await?;
        outcome.experiment = started.experiment.map(|e| e.id);
        tracing::info!(experiment = ?outcome.experiment, candidate = %version, share, "experiment started");
    }
    Ok((Some(info), outcome))
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
