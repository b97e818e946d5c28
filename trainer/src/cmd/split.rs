//! `topten split`: write DIR/train.tsv and DIR/test.tsv.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use topten_core::split;

use super::{ensure_dir, InputArgs, SplitArgs};

/// Split a ratings file with Microsoft Recommenders' semantics (same seed, same rows).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Ratings file or blob (u.data, ratings.dat, ratings.csv or CSV/TSV with a header).
    #[arg(long)]
    pub ratings: topten_core::blob::Location,
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
    let dir = ensure_dir(&args.out)?;
    for (name, rows) in [("train.tsv", &parts.train), ("test.tsv", &parts.test)] {
        let path = dir.join(name);
        let file =
            File::create(&path).with_context(|| format!("cannot write {}", path.display()))?;
        let mut out = BufWriter::new(file);
        ratings.subset(rows).write_tsv(&mut out)?;
        out.flush()?;
    }
    tracing::info!(train = parts.train.len(), test = parts.test.len(), out = %dir.display(), "split written");
    Ok(())
}
