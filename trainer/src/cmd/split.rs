//! `topten split`: write DIR/train.tsv and DIR/test.tsv (and DIR/split.json, which marks the
//! directory as a split topten wrote, so a later split may replace it).

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use topten_model::{output_dir, split};

use super::{InputArgs, SplitArgs};

/// Split a ratings file with Microsoft Recommenders' semantics (same seed, same rows).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Ratings file or blob (u.data, ratings.dat, ratings.csv or CSV/TSV with a header).
    #[arg(long)]
    pub ratings: topten_azure::blob::Location,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub split: SplitArgs,
    /// Seed of the random order (numpy-compatible; below 2^32).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output directory for train.tsv and test.tsv.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    let ratings = args.input.read(&args.ratings)?;
    let params = args.split.params(args.seed)?;
    let parts = split::split(&ratings, &params)?;
    let dir = args.out.clone();
    // The directory must be new, empty or an earlier split: never someone's own train.tsv.
    output_dir::create(&dir, &output_dir::SPLIT_DIR)?;
    for (name, rows) in [("train.tsv", &parts.train), ("test.tsv", &parts.test)] {
        let path = dir.join(name);
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}.tmp-"))
            .tempfile_in(&dir)
            .with_context(|| format!("cannot write {}", path.display()))?;
        {
            let mut out = BufWriter::new(tmp.as_file_mut());
            ratings.subset(rows).write_tsv(&mut out)?;
            out.flush()?;
        }
        tmp.persist(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let marker = serde_json::json!({
        "train": {"file": "train.tsv", "rows": parts.train.len()},
        "test": {"file": "test.tsv", "rows": parts.test.len()},
        "source": args.ratings.to_string(),
        "seed": args.seed,
    });
    std::fs::write(
        dir.join("split.json"),
        serde_json::to_string_pretty(&marker)? + "\n",
    )
    .with_context(|| format!("cannot write {}", dir.join("split.json").display()))?;
    tracing::info!(train = parts.train.len(), test = parts.test.len(), out = %dir.display(), "split written");
    Ok(())
}
