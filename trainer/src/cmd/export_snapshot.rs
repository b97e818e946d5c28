//! `topten export-snapshot`: the active version (or `--version`) as a recommendations snapshot
//! file, the data of the WebAssembly component and of `snapshot:PATH` stores (Lambda). The live
//! catalogue changes made up to the export apply: withdrawn, unavailable and expired items are
//! left out, later expiries travel with the file, live titles replace stored ones.

use std::path::PathBuf;

use anyhow::Context;
use topten_store::export::export_snapshot;

use super::store::StoreArgs;

/// Export one version's recommendations as a compact binary snapshot.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Output file (written to a temporary sibling, then renamed).
    #[arg(long)]
    pub out: PathBuf,
    /// Version to export (default: the active one).
    #[arg(long)]
    pub version: Option<String>,
}

/// Runs the subcommand; prints the version exported.
pub fn run(args: Args) -> anyhow::Result<()> {
    let store = args.store.open()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // The live catalogue changes made up to now (a read-only source has none).
    let live = match store.store("live item changes") {
        Ok(s) => rt
            .block_on(s.live_items_since(0))
            .context("reading live item changes")?,
        Err(_) => Vec::new(),
    };
    let (bytes, summary) = rt
        .block_on(export_snapshot(
            store.reader().as_ref(),
            &live,
            args.version.as_deref(),
        ))
        .context("export failed")?;
    // A new file, or one `export-snapshot` wrote before (it starts with the snapshot magic).
    topten_model::output_dir::write_file(
        &args.out,
        "snapshot file",
        Some(|head| head.starts_with(b"TTRECS1\0")),
        |f| std::io::Write::write_all(f, &bytes),
    )?;
    tracing::info!(version = %summary.version, users = summary.users, items = summary.items, popular = summary.popular, bytes = bytes.len(), "snapshot written to {}", args.out.display());
    super::outln!("{}", summary.version);
    Ok(())
}
