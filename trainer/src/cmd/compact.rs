//! `topten compact`: give the space of pruned versions back to the file system (embedded store).

use anyhow::Context;
use topten_store::compact;

/// Rewrite an embedded store without its free pages (an LMDB compacting copy), fsynced and
/// atomically renamed over the store file. `prune` frees pages for reuse but never shrinks the
/// file; run this after it. Nothing else may have the store open: a running server makes it
/// refuse (stop the server, compact, start it again); a command started meanwhile waits.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The store: embedded:PATH (Cosmos DB reclaims deleted documents itself).
    #[arg(
        long,
        env = "TOPTEN_STORE",
        default_value = "embedded:./data/topten.db"
    )]
    pub store: String,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    let path = match args.store.split_once(':') {
        Some(("embedded", path)) if !path.is_empty() => path.trim_start_matches("//"),
        _ => anyhow::bail!(
            "compact works on embedded stores (embedded:PATH), not {:?}: other backends reclaim space themselves",
            args.store
        ),
    };
    let spin = crate::progress::spinner("compacting");
    let report = compact::compact(std::path::Path::new(path), &mut |step| {
        spin.set_message(format!("compacting {path}: {step}"))
    });
    spin.finish_and_clear();
    let report = report.with_context(|| format!("cannot compact {}", args.store))?;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    tracing::info!(
        before_bytes = report.before_bytes,
        after_bytes = report.after_bytes,
        "compacted"
    );
    super::outln!(
        "{path}: {:.1} MiB -> {:.1} MiB",
        mib(report.before_bytes),
        mib(report.after_bytes)
    );
    Ok(())
}
