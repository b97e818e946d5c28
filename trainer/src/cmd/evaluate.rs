//! `topten evaluate`: score any system's recommendation and prediction files.

use topten_azure::blob::Location;

use topten_model::ingest::ReadOptions;
use topten_model::pipeline;

use super::{read_with, InputArgs};

/// Score a recommendation file (`user<TAB>item<TAB>score`) and optionally a prediction file
/// (`user<TAB>item<TAB>prediction`) against a test file, with Microsoft Recommenders'
/// metric definitions. Prints JSON.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Test (ground truth) file.
    #[arg(long)]
    pub test: Location,
    /// Recommendations: user, item, score (any order; the k best scores per user count).
    #[arg(long)]
    pub recs: Location,
    /// Rating predictions: user, item, prediction (for RMSE, MAE, R², explained variance).
    #[arg(long)]
    pub predictions: Option<Location>,
    /// Cut-off of the ranking metrics.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// How to read the test file (recommendation and prediction files are auto-detected).
    #[command(flatten)]
    pub input: InputArgs,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.k > 0, "--k must be at least 1");
    let truth = args.input.read(&args.test)?;
    let recs = read_with(&args.recs, &ReadOptions::default())?;
    let preds = args
        .predictions
        .as_ref()
        .map(|p| read_with(p, &ReadOptions::default()))
        .transpose()?;
    let eval = pipeline::evaluate_files(&truth, &recs, preds.as_ref(), args.k);
    super::outln!("{}", serde_json::to_string_pretty(&eval)?);
    Ok(())
}
