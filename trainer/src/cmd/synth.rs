//! `topten synth`: write a synthetic ratings file (power-law popularity and activity, ratings
//! from a hidden low-rank taste model) in MovieLens `u.data` layout.

use std::path::PathBuf;

use anyhow::Context;
use topten_core::synth::{self, SynthParams};

/// Write a synthetic u.data-style ratings file.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Users.
    #[arg(long, default_value_t = 2000)]
    pub users: usize,
    /// Items.
    #[arg(long, default_value_t = 1000)]
    pub items: usize,
    /// Approximate interactions.
    #[arg(long, default_value_t = 50_000)]
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
    let p = SynthParams { users: args.users, items: args.items, interactions: args.interactions, rank: args.rank, seed: args.seed };
    let file = std::fs::File::create(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let rows = synth::write_udata(&p, file)?;
    tracing::info!(rows, out = %args.out.display(), "synthetic ratings written");
    Ok(())
}
