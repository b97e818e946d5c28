//! Parquet input: a file, or a directory of part files as Spark and Delta write them, read with
//! the Apache Arrow `parquet` crate.
//!
//! - **Columns** are found by name exactly as in a CSV header ([`resolve_header`]: `userId`,
//!   `user_id`, `item`, `movieId`, `rating`, `timestamp`, ... or `--user-col` and friends).
//!   Only those columns are decoded (a projection), whatever else the table holds.
//! - **Types:** ids may be integers (8 to 64 bits, signed or not), floating point numbers with
//!   integral values (pandas turns integer columns with nulls into doubles) or strings
//!   (including dictionary-encoded and large strings); an integer id `42` is the same id as the
//!   text `42` of a CSV file. Ratings may be any integer, floating point or decimal type, or
//!   numeric strings. Timestamps may be Parquet timestamps (any unit, read as epoch seconds),
//!   dates, integers, floating point or numeric strings.
//! - **Checks** are the text reader's: a null or empty id, an id with a control character, a
//!   null or non-finite rating, a rating beyond [`MAX_ABS_VALUE`] is an error naming the file,
//!   the 1-based row and the column (`part-0.parquet:17: column rating: ...`), or is skipped
//!   and counted with `skip_bad_rows`.
//! - **Streaming:** row groups are decoded in batches of 64 Ki rows, a few row groups
//!   at a time (one per core), so memory holds the result plus a few batches, never a whole
//!   file. Each row group becomes a [`Piece`] with its own ids, merged in file order as the
//!   text reader merges its pieces: ids are numbered by first appearance in the data set, in
//!   the order of its files' names.
//! - **Directories:** every file below the directory, in path order, except names that start
//!   with `_` or `.` (`_SUCCESS`, `.crc` side files, `_committed_*`) and `.crc` files.
//!   Anything left that is not Parquet is an error naming it: a stray file is never silently
//!   read as, or instead of, data. Hive partition directories (`day=2026-11-27/`) are
//!   descended into; their values are not columns. A directory with a `_delta_log/` is a Delta
//!   table: its log names the live files ([`super::delta`]), so removed files are not read.

//!
//! The decoding itself ([`read_parquet_files`]) is in `decode`, built with the `parquet` cargo
//! feature (on by default; the Apache Arrow crates are a third of a fresh build, so
//! `scripts/quickstart.sh` leaves them out). Without it, finding the files still works and
//! reading them is [`IngestError::NotBuilt`].

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::*;

#[cfg(feature = "parquet")]
mod decode;
#[cfg(feature = "parquet")]
pub use decode::read_parquet_files;

/// Reads interactions from Parquet files: this build has no Parquet decoder (see the module
/// docs), so it names the data set and the feature instead.
#[cfg(not(feature = "parquet"))]
pub fn read_parquet_files(
    _files: &[(PathBuf, String)],
    source_name: &str,
    _opts: &ReadOptions,
) -> Result<(Ratings, ReadReport), IngestError> {
    Err(IngestError::NotBuilt {
        source_name: source_name.to_owned(),
        what: "Parquet input",
        feature: "parquet",
    })
}

/// The first (and last) four bytes of every Parquet file.
const MAGIC: &[u8; 4] = b"PAR1";

/// Whether `path` is a Parquet file (by its leading magic bytes, whatever its name).
pub fn is_parquet_file(path: &Path) -> bool {
    let mut head = [0u8; 4];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head == MAGIC)
}

/// Whether `bytes` start like a Parquet file.
pub fn starts_like_parquet(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// Whether a file or directory name is bookkeeping rather than data: Spark's `_SUCCESS` and
/// `_committed_*`, Delta's `_delta_log`, Hadoop's `.crc` checksums, hidden files.
pub fn is_side_file(name: &str) -> bool {
    name.starts_with('_') || name.starts_with('.') || name.ends_with(".crc")
}

/// The data files of a directory of part files, in path order (see the module docs).
pub fn data_files(dir: &Path) -> Result<Vec<PathBuf>, IngestError> {
    let io = |path: &Path, source| IngestError::Io {
        source_name: path.display().to_string(),
        source,
    };
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| io(&d, e))? {
            let entry = entry.map_err(|e| io(&d, e))?;
            let name = entry.file_name();
            if is_side_file(&name.to_string_lossy()) {
                continue;
            }
            let path = entry.path();
            if entry.file_type().map_err(|e| io(&path, e))?.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The files of a table directory, relative to it, in order: the live files of a Delta table
/// (its log decides, see [`super::delta`]), else every data file ([`data_files`]).
pub fn table_files(dir: &Path) -> Result<Vec<String>, IngestError> {
    if let Some(live) = super::delta::live_files(dir)? {
        return Ok(live);
    }
    Ok(data_files(dir)?
        .into_iter()
        .map(|f| {
            f.strip_prefix(dir)
                .unwrap_or(&f)
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect())
}

/// Reads interactions from a Parquet file, a directory of Parquet part files or a Delta table.
pub fn read_parquet(path: &Path, opts: &ReadOptions) -> Result<(Ratings, ReadReport), IngestError> {
    let named: Vec<(PathBuf, String)> = if path.is_dir() {
        table_files(path)?
            .into_iter()
            .map(|rel| {
                let file = path.join(&rel);
                let name = file.display().to_string();
                (file, name)
            })
            .collect()
    } else {
        vec![(path.to_path_buf(), path.display().to_string())]
    };
    read_parquet_files(&named, &path.display().to_string(), opts)
}
