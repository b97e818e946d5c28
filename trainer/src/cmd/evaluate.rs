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
    /// Training interactions of the system that made the recommendations: adds catalog and
    /// distributional coverage, novelty, diversity and serendipity of each user's k best.
    #[arg(long)]
    pub train: Option<Location>,
    /// Item catalogue (as `publish --items` takes it): its categories become the item
    /// similarity of diversity and serendipity instead of co-occurrence in `--train`.
    #[arg(long, requires = "train")]
    pub items: Option<Location>,
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
    let train = args
        .train
        .as_ref()
        .map(|t| args.input.read(t))
        .transpose()?;
    let catalogue = args
        .items
        .as_ref()
        .map(topten_azure::blob::read_catalogue)
        .transpose()?;
    let eval = pipeline::evaluate_files(
        &truth,
        &recs,
        preds.as_ref(),
        args.k,
        train.as_ref(),
        catalogue.as_ref(),
    );
    super::outln!("{}", serde_json::to_string_pretty(&eval)?);
    Ok(())
}
