//! `topten synth`: realistic synthetic interaction data for benchmarks and tests.

use std::path::PathBuf;

use anyhow::Context;
use topten_model::synth::{write_udata, SynthParams};

/// Write a synthetic ratings file (u.data layout: user, item, rating 1-5, timestamp) with
/// power-law popularity and activity and a hidden low-rank taste model.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Number of users.
    #[arg(long)]
    pub users: usize,
    /// Number of items.
    #[arg(long)]
    pub items: usize,
    /// Approximate number of interactions.
    #[arg(long)]
    pub interactions: usize,
    /// Hidden taste dimensions.
    #[arg(long, default_value_t = 8)]
    pub rank: usize,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output file.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.users > 0 && args.items > 1 && args.interactions > 0,
        "users, items and interactions must be positive"
    );
    let spin = crate::progress::spinner(&format!("writing {}", args.out.display()));
    let p = SynthParams {
        users: args.users,
        items: args.items,
        interactions: args.interactions,
        rank: args.rank,
        seed: args.seed,
    };
    // Never over an existing file: synthetic data has no mark that would tell ours apart.
    let mut n = 0;
    topten_model::output_dir::write_file(&args.out, "synthetic data file", None, |f| {
        n = write_udata(&p, f)?;
        Ok(())
    })
    .with_context(|| format!("cannot create {}", args.out.display()))?;
    spin.finish_and_clear();
    tracing::info!(rows = n, out = %args.out.display(), "synthetic data written");
    Ok(())
}
