//! Readers for the rating files users bring: MovieLens 100K `u.data`, MovieLens 1M/10M
//! `ratings.dat`, MovieLens 20M+ `ratings.csv` and generic CSV/TSV with named columns.
//!
//! The layout is detected from the first line unless overridden:
//! - a line containing `::` is a headerless `ratings.dat` (`user::item::rating::timestamp`);
//! - otherwise the delimiter is a tab, else a comma, else a semicolon;
//! - the first line is a header when one of its fields is a known column name
//!   (`userId`, `user_id:token`, `item`, `movieId`, `rating`, `timestamp`, ...), or when a
//!   field in the rating/timestamp position is not a number. Headerless files are positional:
//!   `user, item[, rating[, timestamp]]` (a missing rating means 1.0, an implicit event).
//!
//! Comma, tab and semicolon files are read as RFC 4180 CSV by the `csv` crate: a quoted field
//! may hold the delimiter, doubled quotes or line breaks (in columns other than the ids). Files
//! are cut into blocks and pieces only between records (outside quotes), so every piece parses
//! on its own thread with the same result as one sequential pass.
//!
//! Defined behaviour for awkward input (documented in docs/guide.md):
//! - a malformed row (too few fields, unparsable rating or timestamp, NaN/inf rating, a rating
//!   beyond [`MAX_ABS_VALUE`], empty id, an id with a line break or control character, invalid
//!   UTF-8) is an error naming file and line, or is skipped and counted with `skip_bad_rows`;
//!   messages quote at most 60 characters of the input;
//! - a UTF-8 byte-order mark at the start of the file is dropped;
//! - a file with no data rows is an error;
//! - duplicate (user, item) pairs follow [`DuplicatePolicy`] (default: the last row wins).
//!
//! # Layout
//! - this file: the entry points ([`read_ratings`] for files, [`read_ratings_from`] for any
//!   reader such as a blob download, [`read_records`] for side files), options and errors;
//! - `layout`: delimiter, header and column detection;
//! - `rows`: parsing and checking one row, and the error messages;
//! - `pieces`: blocks, cuts between records, parallel pieces and the merge of their ids;
//! - `duplicates`: the duplicate policy;
//! - `parquet`: Parquet files and directories of part files (the same checks and id order);
//! - `delta`: which files of a Delta table are live, from its transaction log.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::interactions::{IdMap, Interaction, Ratings, MAX_ABS_VALUE};

pub mod delta;
mod duplicates;
mod layout;
pub mod parquet;
mod pieces;
mod rows;

use duplicates::*;
use layout::*;
use pieces::*;
pub(crate) use rows::excerpt;
use rows::*;

/// What the reader should assume about the file layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Detect from the first line.
    #[default]
    Auto,
    /// Tab-separated, no header: `user item [rating [timestamp]]` (MovieLens 100K `u.data`).
    UData,
    /// `::`-separated, no header (MovieLens 1M/10M `ratings.dat`).
    Dat,
    /// Comma-separated with a header line (MovieLens `ratings.csv`, exports).
    Csv,
    /// Tab-separated with a header line (what `topten split` writes).
    Tsv,
}

/// What to do when the same (user, item) pair appears more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DuplicatePolicy {
    /// The later row replaces the earlier one's rating and timestamp (re-ratings win).
    #[default]
    Last,
    /// The earlier row is kept, later ones dropped.
    First,
    /// Ratings are summed and the latest timestamp kept (click logs: counts add up).
    Sum,
    /// A duplicate is an error naming both lines.
    Error,
}

/// Options for [`read_ratings`].
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Layout override; [`Format::Auto`] detects it.
    pub format: Format,
    /// Header name of the user column (defaults to the first known user-like name).
    pub user_col: Option<String>,
    /// Header name of the item column.
    pub item_col: Option<String>,
    /// Header name of the rating column; without one, every row counts as 1.0.
    pub rating_col: Option<String>,
    /// Header name of the timestamp column.
    pub time_col: Option<String>,
    /// Skip and count malformed rows instead of failing on the first one.
    pub skip_bad_rows: bool,
    /// Duplicate (user, item) handling.
    pub duplicates: DuplicatePolicy,
}

/// What reading a file found, for logs and for users who wonder where rows went.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReadReport {
    /// Data rows parsed successfully (before duplicate handling).
    pub rows: usize,
    /// Malformed rows skipped (only with `skip_bad_rows`).
    pub skipped: usize,
    /// Duplicate (user, item) rows folded into an earlier one.
    pub duplicates: usize,
    /// Whether a header line was present.
    pub header: bool,
}

/// Errors while reading interactions. Every variant names the source so that users can act.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The file could not be opened or read.
    #[error("{source_name}: {source}")]
    Io {
        /// File name or URI.
        source_name: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A row could not be parsed.
    #[error("{source_name}:{line}: {message}")]
    Malformed {
        /// File name or URI.
        source_name: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the row.
        message: String,
    },
    /// The header lacks a column the reader needs.
    #[error("{source_name}:1: no {role} column in header {header}; name it with --{role}-col")]
    MissingColumn {
        /// File name or URI.
        source_name: String,
        /// `user`, `item`, `rating` or `time`.
        role: &'static str,
        /// The header as read.
        header: String,
    },
    /// A duplicate (user, item) pair under [`DuplicatePolicy::Error`].
    #[error("{source_name}:{line}: duplicate pair (user {user}, item {item}), first seen on line {first_line}")]
    Duplicate {
        /// File name or URI.
        source_name: String,
        /// Line of the duplicate.
        line: usize,
        /// Line where the pair first appeared.
        first_line: usize,
        /// User id.
        user: String,
        /// Item id.
        item: String,
    },
    /// A Parquet file that cannot be read as interactions: not Parquet, a needed column
    /// missing, or a column of a type that cannot hold ids, ratings or times.
    #[error("{source_name}: {message}")]
    Schema {
        /// File name or URI.
        source_name: String,
        /// What is wrong, naming the column.
        message: String,
    },
    /// The input needs a part this build leaves out (a cargo feature that is off).
    #[error("{source_name}: reading {what} needs topten built with the `{feature}` feature (on by default: `cargo build --release --bin topten`)")]
    NotBuilt {
        /// File name or URI.
        source_name: String,
        /// What could not be read.
        what: &'static str,
        /// The cargo feature that builds it.
        feature: &'static str,
    },
    /// The file holds no data rows.
    #[error("{source_name}: no interactions found (empty file or header only)")]
    Empty {
        /// File name or URI.
        source_name: String,
    },
}

/// Reads a ratings file from disk, parsing blocks of lines on all cores. See the module docs
/// for the formats understood; results are identical to [`read_ratings_from`]'s. A Parquet
/// file (known by its magic bytes) or a directory (of Parquet part files, as Spark writes
/// them) is read by [`parquet::read_parquet`].
pub fn read_ratings(path: &Path, opts: &ReadOptions) -> Result<(Ratings, ReadReport), IngestError> {
    if path.is_dir() || parquet::is_parquet_file(path) {
        return parquet::read_parquet(path, opts);
    }
    let name = path.display().to_string();
    let file = File::open(path).map_err(|source| IngestError::Io {
        source_name: name.clone(),
        source,
    })?;
    read_ratings_parallel(file, &name, opts)
}

/// Reads interactions from any reader; `source_name` names it in errors.
///
/// This is the streaming entry point (blob downloads, standard input): it reads the stream in
/// blocks of 16 MiB, so memory stays bounded without a temporary copy, and it
/// parses exactly as [`read_ratings`] does (the same code, with smaller blocks).
pub fn read_ratings_from<R: Read>(
    reader: R,
    source_name: &str,
    opts: &ReadOptions,
) -> Result<(Ratings, ReadReport), IngestError> {
    read_blocks(reader, source_name, opts, STREAM_BLOCK_BYTES)
}

/// [`read_ratings_from`] in blocks of `block_bytes` (at least 1) instead of 16 MiB: the same
/// code, so that tests and the fuzz targets (`fuzz/`) reach the block cuts (a quoted newline
/// at a cut, a record longer than a block) with small inputs. Not for production use.
#[doc(hidden)]
pub fn read_ratings_in_blocks<R: Read>(
    reader: R,
    source_name: &str,
    opts: &ReadOptions,
    block_bytes: usize,
) -> Result<(Ratings, ReadReport), IngestError> {
    read_blocks(reader, source_name, opts, block_bytes.max(1))
}

/// Reads a small delimited side file (item titles, a catalogue) into records of text fields
/// with their 1-based line numbers: RFC 4180 quoting, a leading byte-order mark dropped, blank
/// lines skipped, invalid UTF-8 an error naming the line.
pub fn read_records(
    bytes: &[u8],
    delimiter: u8,
    source_name: &str,
) -> Result<Vec<(usize, Vec<String>)>, IngestError> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv_reader(delimiter).from_reader(body);
    let mut record = csv::ByteRecord::new();
    let mut out = Vec::new();
    loop {
        let more = reader.read_byte_record(&mut record);
        let start = match &more {
            Err(e) => e.position(),
            Ok(_) => record.position(),
        };
        let line = start.map_or(1, |p| p.line() + blank_lines_at(body, p.byte() as usize)) as usize;
        let malformed = |message| IngestError::Malformed {
            source_name: source_name.to_owned(),
            line,
            message,
        };
        match more {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(malformed(format!("unreadable CSV: {e}"))),
        }
        let fields = record
            .iter()
            .map(|f| field_str(f, false).map(str::to_owned))
            .collect::<Result<Vec<_>, _>>()
            .map_err(malformed)?;
        if fields.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        out.push((line, fields));
    }
    Ok(out)
}

/// Convenience for tests and small inputs: reads ratings from an in-memory string.
pub fn read_ratings_str(
    text: &str,
    source_name: &str,
    opts: &ReadOptions,
) -> Result<(Ratings, ReadReport), IngestError> {
    read_ratings_from(text.as_bytes(), source_name, opts)
}

/// Reads everything from `reader` into a string (used for small side files such as item titles).
pub fn read_to_string<R: Read>(mut reader: R) -> std::io::Result<String> {
    let mut s = String::new();
    reader.read_to_string(&mut s)?;
    Ok(s)
}

#[cfg(test)]
mod tests;
