//! Store commands: `publish`, `versions`, `activate`, `rollback`, `prune`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use topten_live::publish::{self, PublishOptions};
use topten_store::prelude::*;
use topten_store::StoreHandle;

/// Where the store is.
#[derive(clap::Args, Debug, Clone)]
pub struct StoreArgs {
    /// Store URI: embedded:PATH, cosmos://ACCOUNT.documents.azure.com/DB/CONTAINER, cosmos+http://127.0.0.1:PORT/DB/CONTAINER (emulator), rediss://HOST:PORT (Azure Cache for Redis), redis://127.0.0.1:PORT/DB (local Redis), or snapshot:PATH (read-only).
    #[arg(
        long,
        env = "TOPTEN_STORE",
        default_value = "embedded:./data/topten.db"
    )]
    pub store: String,
    /// Create an embedded store that does not exist yet (`publish` always may); without it, a
    /// missing store is an error rather than a new empty one.
    #[arg(long)]
    pub create: bool,
}

impl StoreArgs {
    /// Opens the store to read; it must exist unless `--create` was given.
    pub fn open(&self) -> anyhow::Result<StoreHandle> {
        let opened = if self.create {
            topten_functions::backends::create_or_open(&self.store).map(StoreHandle::read_write)
        } else {
            topten_functions::backends::open(&self.store)
        };
        opened.with_context(|| format!("cannot open store {}", self.store))
    }

    /// Opens the store for `what` (activating, pruning): it must exist unless `--create` was
    /// given, and its backend must be able to write.
    pub fn open_writable(&self, what: &'static str) -> anyhow::Result<Arc<dyn Store>> {
        Ok(self
            .open()?
            .store(what)
            .with_context(|| format!("cannot use store {}", self.store))?
            .clone())
    }

    /// Opens the store, creating it if needed (publishing a version).
    pub fn open_for_publish(&self) -> anyhow::Result<Arc<dyn Store>> {
        topten_functions::backends::create_or_open(&self.store)
            .with_context(|| format!("cannot open store {}", self.store))
    }
}

/// A runtime for the store commands' async calls.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Reads an `item_id<TAB>title` file (header optional, RFC 4180 quoting) into a map; a bad
/// line is an error naming file and line.
pub fn read_titles(path: &Path) -> anyhow::Result<HashMap<String, String>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let name = path.display().to_string();
    let mut titles = HashMap::new();
    for (n, (line, fields)) in topten_model::ingest::read_records(&bytes, b'\t', &name)?
        .into_iter()
        .enumerate()
    {
        if n == 0 && fields[0].trim().to_ascii_lowercase().starts_with("item") {
            continue;
        }
        let [id, title] = &fields[..] else {
            anyhow::bail!(
                "{name}:{line}: expected item_id<TAB>title, found {} field(s)",
                fields.len()
            );
        };
        anyhow::ensure!(!id.trim().is_empty(), "{name}:{line}: empty item id");
        titles.insert(id.trim().to_owned(), title.trim().to_owned());
    }
    Ok(titles)
}

/// Publish a model directory as a new version and activate it.
#[derive(clap::Args, Debug)]
pub struct PublishArgs {
    /// Model directory written by `topten train` (or `import-spark`).
    #[arg(long, required_unless_present = "recs", conflicts_with = "recs")]
    pub model: Option<topten_azure::blob::Location>,
    /// Instead of a model: the Parquet output of Spark's `recommendForAllUsers(k)` (`user`,
    /// `recommendations: array<struct<item, rating>>`; a file, a directory of part files or a
    /// blob prefix), published as it is. Such a version has no factors: no fold-in of live
    /// events, re-ranking or similar items.
    #[arg(long)]
    pub recs: Option<topten_azure::blob::Location>,
    /// With --recs: the user index (StringIndexerModel directory or `index<TAB>id` file).
    #[arg(long, requires = "recs")]
    pub user_index: Option<topten_azure::blob::Location>,
    /// With --recs: the item index.
    #[arg(long, requires = "recs")]
    pub item_index: Option<topten_azure::blob::Location>,
    /// With --recs: every interaction the users have (original ids; a file, a Parquet
    /// directory or a blob; for a Spark run, its train/ and test/ together, repeatable). Items
    /// a user has are removed from their list, which Spark's `recommendForAllUsers` does not
    /// do. Without it the lists are published as they are, and may repeat what users have.
    #[arg(long, requires = "recs")]
    pub ratings: Vec<topten_azure::blob::Location>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Items stored per user (request-time filters still leave k).
    #[arg(long, default_value_t = 50, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub items_per_user: usize,
    /// Item titles (`item_id<TAB>title`) to store beside ids (over the catalogue's titles).
    #[arg(long)]
    pub titles: Option<PathBuf>,
    /// The item catalogue, stored with the version: a file or a blob, JSON Lines or CSV/TSV with
    /// a header (itemId, title, categories, available, expiresAt, further attributes).
    #[arg(long)]
    pub items: Option<topten_azure::blob::Location>,
    /// Write the version but leave the active one serving.
    #[arg(long)]
    pub no_activate: bool,
    /// Documents per write batch.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
    /// Pause between batches in milliseconds (spreads load on provisioned throughput).
    #[arg(long, default_value_t = 0)]
    pub throttle_ms: u64,
    /// The popularity dial β for this version [default: the model's]: the stored lists,
    /// fold-in and refill penalise popular items by β score-spreads per unit of
    /// ln(1 + interactions); 0 turns it off.
    #[arg(long)]
    pub popularity_penalty: Option<f32>,
}

/// The publish options of the command line (reads the titles and the catalogue).
pub(super) fn publish_options(args: &PublishArgs) -> anyhow::Result<PublishOptions> {
    Ok(PublishOptions {
        items_per_user: args.items_per_user,
        batch_size: args.batch_size,
        titles: args.titles.as_deref().map(read_titles).transpose()?,
        catalogue: args
            .items
            .as_ref()
            .map(topten_azure::blob::read_catalogue)
            .transpose()?,
        activate: !args.no_activate,
        throttle: std::time::Duration::from_millis(args.throttle_ms),
        ..PublishOptions::default()
    })
}

/// A progress bar of users published.
pub(super) fn publish_bar(users: usize) -> ProgressBar {
    let bar = ProgressBar::new(users as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} publishing [{bar:30}] {pos}/{len} users ({per_sec}, {elapsed}) {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar
}

/// Runs `publish`.
pub fn publish(args: PublishArgs) -> anyhow::Result<()> {
    if let Some(recs) = &args.recs {
        return super::publish_recs::publish_recs(&args, recs);
    }
    let model_loc = args
        .model
        .as_ref()
        .expect("clap requires --model or --recs");
    let mut model = topten_azure::model_dir::load_model(model_loc)
        .with_context(|| format!("cannot load model {model_loc}"))?;
    if let Some(beta) = args.popularity_penalty {
        anyhow::ensure!(
            beta.is_finite() && beta >= 0.0,
            "--popularity-penalty must be a number >= 0, got {beta}"
        );
        model.set_popularity_penalty(beta);
    }
    // Every input is read and checked before the store is opened (or created).
    let opts = publish_options(&args)?;
    let store = args.store.open_for_publish()?;
    let bar = publish_bar(model.users.len());
    let started = std::time::Instant::now();
    let stats_store = store.clone();
    let info = runtime()?.block_on(publish::publish(
        store.as_ref(),
        &model,
        &opts,
        &mut |done, _| {
            bar.set_position(done as u64);
            // Cosmos DB: request units so far and throttled writes (retried after x-ms-retry-after-ms).
            if let Some(s) = stats_store.write_stats() {
                bar.set_message(format!(
                    "{:.0} RU, {} throttled",
                    s.request_units, s.throttled
                ));
            }
        },
    ))?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        version = %info.version,
        users = info.users,
        activated = opts.activate,
        store = %args.store.store,
        seconds,
        docs_per_sec = info.users as f64 / seconds.max(1e-9),
        "published"
    );
    // Request units and throttling exist on Cosmos DB only.
    if let Some(stats) = store.write_stats() {
        tracing::info!(
            request_units = stats.request_units,
            throttled = stats.throttled,
            retries = stats.retries,
            "Cosmos DB writes"
        );
    }
    super::outln!("{}", info.version);
    Ok(())
}

/// List the versions in a store.
#[derive(clap::Args, Debug)]
pub struct VersionsArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `versions`.
pub fn versions(args: VersionsArgs) -> anyhow::Result<()> {
    let handle = args.store.open()?;
    let store = handle.reader();
    let rt = runtime()?;
    let versions = rt.block_on(store.versions())?;
    let active = rt.block_on(store.active())?;
    if args.json {
        super::outln!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"active": active, "versions": versions})
            )?
        );
        return Ok(());
    }
    // Holdout figures compare only when measured on the same rows: each distinct holdout gets
    // a letter, and the table says when there is more than one.
    let holdouts = topten_store::quality::HoldoutLabels::of(&versions);
    super::outln!(
        "{:<2} {:<28} {:<9} {:>9} {:<21} {:>8}  HOLDOUT",
        "",
        "VERSION",
        "STATUS",
        "USERS",
        "CREATED",
        "NDCG@10"
    );
    for v in &versions {
        let mark = if active.as_ref().is_some_and(|a| a.version == v.version) {
            "*"
        } else {
            ""
        };
        let figure = topten_store::quality::HoldoutFigure::of(v);
        let ndcg = figure
            .ndcg
            .map(|x| format!("{x:.4}"))
            .unwrap_or_else(|| "-".into());
        let holdout = holdouts.describe(&figure);
        let status = serde_json::to_value(v.status)?
            .as_str()
            .unwrap_or("?")
            .to_owned();
        super::outln!(
            "{mark:<2} {:<28} {status:<9} {:>9} {:<21} {ndcg:>8}  {holdout}",
            v.version,
            v.users,
            v.created_at
        );
    }
    if let Some(note) = holdouts.note() {
        super::outln!("\n{note}");
    }
    Ok(())
}

/// Make a complete version the active one.
#[derive(clap::Args, Debug)]
pub struct ActivateArgs {
    /// Version id (see `topten versions`).
    pub version: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Runs `activate`.
pub fn activate(args: ActivateArgs) -> anyhow::Result<()> {
    let store = args.store.open_writable("activating versions")?;
    let a = runtime()?.block_on(publish::activate_caught_up(store.as_ref(), &args.version))?;
    tracing::info!(version = %a.version, "activated");
    super::outln!("{}", a.version);
    Ok(())
}

/// Re-activate the previously active version.
#[derive(clap::Args, Debug)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Runs `rollback`.
pub fn rollback(args: RollbackArgs) -> anyhow::Result<()> {
    let store = args.store.open_writable("rollback")?;
    let a = runtime()?.block_on(publish::rollback_caught_up(store.as_ref()))?;
    tracing::info!(version = %a.version, "rolled back");
    super::outln!("{}", a.version);
    Ok(())
}

/// Delete old versions, keeping the active one and the N newest complete ones.
#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Complete versions to keep besides the active one.
    #[arg(long, default_value_t = 2)]
    pub keep: usize,
    /// Also delete incomplete versions newer than the newest complete one (leftovers of a
    /// killed publish; make sure no publish is running).
    #[arg(long)]
    pub incomplete: bool,
}

/// Runs `prune`.
pub fn prune(args: PruneArgs) -> anyhow::Result<()> {
    let store = args.store.open_writable("deleting versions")?;
    let deleted = runtime()?.block_on(topten_store::lifecycle::prune(
        store.as_ref(),
        args.keep,
        args.incomplete,
    ))?;
    for v in &deleted {
        super::outln!("deleted {v}");
    }
    tracing::info!(deleted = deleted.len(), "pruned");
    Ok(())
}
