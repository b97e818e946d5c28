//! One module per subcommand, each with its `Args` and `run`; shared argument groups here.

pub mod compact;
pub mod evaluate;
pub mod experiment;
pub mod export_snapshot;
pub mod forget;
pub mod import_spark;
pub mod predict;
#[cfg(feature = "parquet")]
pub mod publish_recs;
#[cfg(not(feature = "parquet"))]
pub mod publish_recs {
    //! `topten publish --recs` in a build without Parquet, which Spark writes.

    /// Names the feature this build lacks.
    pub fn publish_recs(
        _args: &super::store::PublishArgs,
        recs: &super::Location,
    ) -> anyhow::Result<()> {
        Err(super::not_built(
            &format!("publish --recs {recs}"),
            "parquet",
        ))
    }
}
pub mod recommend;
pub mod report;
pub mod retrain;
pub mod serve;
pub mod split;
pub mod store;
pub mod synth;
pub mod train;
pub mod tune;

use anyhow::Context;
use clap::ValueEnum;
use topten_azure::blob::{self, Location};
use topten_model::ingest::{DuplicatePolicy, Format, ReadOptions};
use topten_model::interactions::Ratings;
use topten_model::split::{FilterBy, SplitMethod, SplitParams};

/// The error of a command that needs a part this build leaves out (a cargo feature that is off;
/// `scripts/quickstart.sh` builds without the cloud backends and Parquet).
#[cfg(not(all(feature = "azure", feature = "redis", feature = "parquet")))]
pub fn not_built(what: &str, feature: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{what}: needs topten built with the `{feature}` feature (on by default: `cargo build --release --bin topten`)"
    )
}

/// File layout choices on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FormatArg {
    /// Detect from the first line.
    Auto,
    /// MovieLens 100K u.data: tab-separated, no header.
    Udata,
    /// MovieLens 1M/10M ratings.dat: `::`-separated, no header.
    Dat,
    /// Comma-separated with a header.
    Csv,
    /// Tab-separated with a header.
    Tsv,
}

/// Duplicate (user, item) handling on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DuplicatesArg {
    /// The later row wins.
    Last,
    /// The earlier row wins.
    First,
    /// Ratings add up (click counts).
    Sum,
    /// Stop with an error naming both lines.
    Error,
}

/// How to read an interactions file.
#[derive(clap::Args, Debug, Clone)]
pub struct InputArgs {
    /// File layout.
    #[arg(long, value_enum, default_value = "auto")]
    pub format: FormatArg,
    /// Header name of the user column (CSV/TSV with header).
    #[arg(long)]
    pub user_col: Option<String>,
    /// Header name of the item column.
    #[arg(long)]
    pub item_col: Option<String>,
    /// Header name of the rating column (absent: every row counts 1.0).
    #[arg(long)]
    pub rating_col: Option<String>,
    /// Header name of the timestamp column.
    #[arg(long)]
    pub time_col: Option<String>,
    /// Skip and count malformed rows instead of stopping at the first.
    #[arg(long)]
    pub skip_bad_rows: bool,
    /// What to do with repeated (user, item) pairs.
    #[arg(long, value_enum, default_value = "last")]
    pub duplicates: DuplicatesArg,
}

impl InputArgs {
    /// The core reader options.
    pub fn options(&self) -> ReadOptions {
        ReadOptions {
            format: match self.format {
                FormatArg::Auto => Format::Auto,
                FormatArg::Udata => Format::UData,
                FormatArg::Dat => Format::Dat,
                FormatArg::Csv => Format::Csv,
                FormatArg::Tsv => Format::Tsv,
            },
            user_col: self.user_col.clone(),
            item_col: self.item_col.clone(),
            rating_col: self.rating_col.clone(),
            time_col: self.time_col.clone(),
            skip_bad_rows: self.skip_bad_rows,
            duplicates: match self.duplicates {
                DuplicatesArg::Last => DuplicatePolicy::Last,
                DuplicatesArg::First => DuplicatePolicy::First,
                DuplicatesArg::Sum => DuplicatePolicy::Sum,
                DuplicatesArg::Error => DuplicatePolicy::Error,
            },
        }
    }

    /// Reads a file or blob with these options, logging what was found.
    pub fn read(&self, loc: &Location) -> anyhow::Result<Ratings> {
        read_with(loc, &self.options())
    }
}

/// Reads an interactions file or blob with explicit options (auto-detection for side files).
/// Blobs are parsed while they download, with a bytes/s progress bar.
pub fn read_with(loc: &Location, opts: &ReadOptions) -> anyhow::Result<Ratings> {
    let (ratings, report) = if loc.is_blob() {
        let (bar, progress) = crate::progress::bytes(&format!("reading {loc}"));
        let r = blob::read_ratings(loc, opts, Some(progress));
        bar.finish_and_clear();
        r?
    } else {
        blob::read_ratings(loc, opts, None)?
    };
    tracing::info!(
        file = %loc,
        rows = report.rows,
        users = ratings.users.len(),
        items = ratings.items.len(),
        skipped = report.skipped,
        duplicates = report.duplicates,
        "read interactions"
    );
    if report.skipped > 0 {
        tracing::warn!(file = %loc, skipped = report.skipped, "skipped malformed rows");
    }
    Ok(ratings)
}

/// Split method on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum MethodArg {
    /// Per user (or item), random order (python_stratified_split).
    Stratified,
    /// Uniformly random rows (python_random_split).
    Random,
    /// Per user (or item), oldest to train (python_chrono_split).
    Chrono,
}

/// Grouping column for stratified and chrono splits.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FilterByArg {
    /// Group by user.
    User,
    /// Group by item.
    Item,
}

/// How to split a ratings file (Microsoft Recommenders' semantics).
#[derive(clap::Args, Debug, Clone)]
pub struct SplitArgs {
    /// Split method.
    #[arg(long, value_enum, default_value = "stratified")]
    pub method: MethodArg,
    /// Share of rows that go to train.
    #[arg(long, default_value_t = 0.75)]
    pub ratio: f64,
    /// Group by user or item (stratified and chrono).
    #[arg(long, value_enum, default_value = "user")]
    pub filter_by: FilterByArg,
    /// Drop users (or items) with fewer rows first (stratified and chrono).
    #[arg(long, default_value_t = 1)]
    pub min_rating: usize,
}

impl SplitArgs {
    /// The core parameters, with the run's seed.
    pub fn params(&self, seed: u64) -> anyhow::Result<SplitParams> {
        Ok(SplitParams {
            method: match self.method {
                MethodArg::Stratified => SplitMethod::Stratified,
                MethodArg::Random => SplitMethod::Random,
                MethodArg::Chrono => SplitMethod::Chrono,
            },
            ratio: self.ratio,
            seed: u32::try_from(seed)
                .context("the split seed must be below 2^32 (numpy's limit)")?,
            filter_by: match self.filter_by {
                FilterByArg::User => FilterBy::User,
                FilterByArg::Item => FilterBy::Item,
            },
            min_rating: self.min_rating,
        })
    }
}

/// Saves a model to a directory or blob prefix, with an upload progress bar for blobs.
pub fn save_model(model: &mut topten_model::model::Model, out: &Location) -> anyhow::Result<()> {
    use topten_azure::model_dir::SaveModel;
    let progress = out
        .is_blob()
        .then(|| crate::progress::bytes(&format!("uploading to {out}")));
    model
        .save_to(out, progress.as_ref().map(|(_, p)| p.clone()))
        .with_context(|| format!("cannot save the model to {out}"))?;
    if let Some((bar, _)) = progress {
        bar.finish_and_clear();
    }
    Ok(())
}

/// Creates `dir` (and parents), naming it in the error.
/// `println!` that returns the write error instead of panicking, so a closed pipe ends the
/// command quietly (see `main`).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}
pub(crate) use outln;

/// What the commands that write a model do first: refuse a foreign `--out` before the work,
/// not after it (saving checks again), and size the global thread pool (top-k and evaluation
/// use it; training builds its own of the same size).
pub fn claim_out_and_threads(out: &Location, threads: usize) -> anyhow::Result<()> {
    if let Location::Local(dir) = out {
        topten_model::output_dir::claim(dir, &topten_model::output_dir::MODEL_DIR)?;
    }
    if threads > 0 {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global();
    }
    Ok(())
}
