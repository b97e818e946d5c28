//! `topten retrain`: what the timer function runs, from the command line.

use std::path::PathBuf;

use topten_azure::blob::Location;
use topten_functions::retrain::{self, RetrainConfig};
use topten_live::publish::PublishOptions;
use topten_model::metrics::TargetMetric;
use topten_model::split::SplitParams;

use super::store::StoreArgs;
use super::train::ModelArg;
use super::InputArgs;

/// Retrain on the given input plus the store's live events, compare with the active version
/// on a holdout, and publish and activate the candidate only if its metric is not worse than
/// the tolerance allows.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Interaction files, blobs (`az://ACCOUNT/CONTAINER/PATH`) or prefixes ending in `/`
    /// (repeat or comma-separate).
    #[arg(
        long = "ratings",
        required_unless_present = "spark_runs",
        value_delimiter = ','
    )]
    pub inputs: Vec<Location>,
    /// Instead of training: import the newest complete run of spark/topten_als.py under this
    /// prefix (a directory or `az://ACCOUNT/CONTAINER/runs/`), gate it on the run's test/ and
    /// publish it as the timer job does with RETRAIN_SOURCE=spark:PREFIX.
    #[arg(long, conflicts_with = "inputs")]
    pub spark_runs: Option<Location>,
    /// What a candidate that passes the gate does: `activate`, or `experiment` (serve it to
    /// --experiment-share of users until `topten experiment promote` or `stop`).
    #[arg(long, value_enum, default_value = "activate")]
    pub mode: topten_functions::config::RetrainModeSetting,
    /// The candidate's share of users with --mode experiment.
    #[arg(long, default_value_t = 0.1)]
    pub experiment_share: f64,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Model family.
    #[arg(long, value_enum, default_value = "implicit")]
    pub model: ModelArg,
    /// Gate metric (ndcg_at_k, precision_at_k, recall_at_k, map_at_k).
    #[arg(long, default_value = "ndcg_at_k")]
    pub metric: TargetMetric,
    /// Allowed relative drop of the metric against the active version.
    #[arg(long, default_value_t = 0.02, allow_negative_numbers = true)]
    pub tolerance: f64,
    /// Cut-off of the metric.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Holdout users compared.
    #[arg(long, default_value_t = 2000)]
    pub sample_users: usize,
    /// Items stored per user.
    #[arg(long, default_value_t = 50, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub items_per_user: usize,
    /// Directory (or blob prefix) under which the candidate's model directory is written.
    #[arg(long, default_value = "./data/models")]
    pub model_root: Location,
    /// Hyperparameters to retrain with: a tuned model's tuning.json, any model.json, or a
    /// parameters object [default: the implicit/explicit defaults].
    #[arg(long, env = "RETRAIN_PARAMS")]
    pub params: Option<PathBuf>,
    /// The item catalogue to publish with the candidate: a file or a blob (JSON Lines or CSV/TSV
    /// with a header).
    #[arg(long, env = "TRAINING_ITEMS")]
    pub items: Option<Location>,
    /// Seed of the holdout split.
    #[arg(long, default_value_t = 42)]
    pub seed: u32,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    let family = match args.model {
        ModelArg::Implicit => topten_model::als::Feedback::Implicit,
        ModelArg::Explicit => topten_model::als::Feedback::Explicit,
    };
    let params = retrain::choose_params(args.params.as_deref(), family)?;
    tracing::info!(?params, "retrain parameters");
    let metric = args.metric;
    let cfg = RetrainConfig {
        read: args.input.options(),
        split: SplitParams {
            seed: args.seed,
            ..SplitParams::default()
        },
        k: args.k,
        tolerance: args.tolerance,
        sample_users: args.sample_users,
        publish: PublishOptions {
            items_per_user: args.items_per_user,
            ..PublishOptions::default()
        },
        model_root: Some(args.model_root.clone()),
        items: args.items.clone(),
        spark_runs: args.spark_runs.clone(),
        mode: match args.mode {
            topten_functions::config::RetrainModeSetting::Activate => {
                retrain::RetrainMode::Activate
            }
            topten_functions::config::RetrainModeSetting::Experiment => {
                let min = topten_store::lifecycle::MIN_EXPERIMENT_SHARE;
                anyhow::ensure!(
                    (min..=1.0).contains(&args.experiment_share),
                    "--experiment-share must be from {min} to 1, got {}",
                    args.experiment_share
                );
                retrain::RetrainMode::Experiment {
                    share: args.experiment_share,
                }
            }
        },
        ..RetrainConfig::new(args.inputs.clone(), params, metric)
    };
    let store = topten_functions::backends::create_or_open(&args.store.store)?; // retraining publishes
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut cfg = cfg;
    cfg.events = rt.block_on(store.events_since(0))?;
    cfg.tombstones = rt.block_on(topten_live::forget::tombstones(store.as_ref()))?;
    cfg.retention = topten_live::retention::Retention::from_env()?;
    tracing::info!(events = cfg.events.len(), "live events included");
    let spin = crate::progress::spinner("training candidate");
    let candidate = retrain::train_candidate(&cfg)?;
    spin.set_message("comparing with the active version and publishing");
    let (_, outcome) = rt.block_on(retrain::gate_and_publish(store.as_ref(), &cfg, candidate))?;
    spin.finish_and_clear();
    // The gate's figures and reason are logged by `gate_and_publish` ("quality gate").
    tracing::info!(version = %outcome.candidate_version, activated = outcome.activated, "retrain finished");
    super::outln!("{}", serde_json::to_string_pretty(&outcome)?);
    Ok(())
}
