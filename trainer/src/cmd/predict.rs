//! `topten predict`: scores for given (user, item) pairs.

use std::io::{BufWriter, Write};
use topten_azure::blob::Location;

use anyhow::Context;
use topten_model::ingest::ReadOptions;

use super::read_with;

/// Print `user<TAB>item<TAB>prediction` for each pair of a file (user, item[, ...] rows).
/// Pairs with an unknown user or item get a note on stderr instead of a prediction.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model directory written by `topten train`.
    #[arg(long)]
    pub model: Location,
    /// File of (user, item) pairs; extra columns are ignored.
    #[arg(long)]
    pub pairs: Location,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    let model = topten_azure::model_dir::load_model(&args.model)
        .with_context(|| format!("cannot load model {}", args.model))?;
    let pairs = read_with(&args.pairs, &ReadOptions::default())?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut unknown = 0usize;
    for r in &pairs.records {
        let (user, item) = (pairs.users.id(r.user), pairs.items.id(r.item));
        match (model.users.get(user), model.items.get(item)) {
            (Some(u), Some(i)) => writeln!(out, "{user}\t{item}\t{}", model.predict(u, i))?,
            (u, i) => {
                unknown += 1;
                let what = match (u, i) {
                    (None, None) => "user and item are",
                    (None, _) => "user is",
                    _ => "item is",
                };
                eprintln!("note: no prediction for ({user}, {item}): the {what} not in the model's training data");
            }
        }
    }
    out.flush()?;
    if unknown > 0 {
        tracing::warn!(
            unknown,
            total = pairs.len(),
            "pairs without prediction (unknown user or item)"
        );
    }
    Ok(())
}
