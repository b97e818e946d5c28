//! Delta tables: which Parquet files hold the table's current rows.
//!
//! A Delta table is a directory of Parquet part files and a transaction log, `_delta_log/`.
//! Updates, deletes, merges and compaction write new files and *remove* old ones only in the
//! log; the old files stay on disk until `VACUUM`. Reading every file would read stale and
//! duplicate rows, so the log decides: the newest checkpoint (`_last_checkpoint`, then
//! `N.checkpoint.parquet` or its parts) gives the live files at version N, and the JSON
//! commits after it (`N+1.json`, ...) add and remove files in order.
//!
//! Hand-written rather than a Delta crate: topten needs the list of live files and nothing
//! else (no writes, no time travel, no cloud I/O: the blob reader copies the prefix first),
//! and the Delta crates bring DataFusion or an object-store stack of their own. What this
//! reader cannot honour is refused, never ignored: deletion vectors (rows removed without
//! removing their file) and files outside the table directory.

use std::collections::BTreeSet;
use std::path::Path;

use super::IngestError;

/// The live data files of the Delta table at `dir` (paths relative to it, in name order), or
/// `None` when `dir` holds no `_delta_log/`.
pub fn live_files(dir: &Path) -> Result<Option<Vec<String>>, IngestError> {
    let log = dir.join("_delta_log");
    if !log.is_dir() {
        return Ok(None);
    }
    let bad = |path: &Path, message: String| IngestError::Schema {
        source_name: path.display().to_string(),
        message,
    };
    let io = |path: &Path, source| IngestError::Io {
        source_name: path.display().to_string(),
        source,
    };
    let mut live = BTreeSet::new();
    let mut after = -1i64;
    let last = log.join("_last_checkpoint");
    if last.is_file() {
        let text = std::fs::read_to_string(&last).map_err(|e| io(&last, e))?;
        let v: serde_json::Value = serde_json::from_str(text.trim())
            .map_err(|e| bad(&last, format!("not a Delta checkpoint pointer: {e}")))?;
        let version = v["version"]
            .as_i64()
            .ok_or_else(|| bad(&last, "no version".into()))?;
        let mut parts: Vec<_> = std::fs::read_dir(&log)
            .map_err(|e| io(&log, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy();
                    n.starts_with(&format!("{version:020}.checkpoint")) && n.ends_with(".parquet")
                })
            })
            .collect();
        parts.sort();
        if parts.is_empty() {
            return Err(bad(
                &last,
                format!("checkpoint {version} is missing from _delta_log/"),
            ));
        }
        for part in &parts {
            checkpoint_adds(part, &mut live)?;
        }
        after = version;
    }
    let mut commits: Vec<(i64, std::path::PathBuf)> = std::fs::read_dir(&log)
        .map_err(|e| io(&log, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let n = p.file_name()?.to_string_lossy().into_owned();
            let v = n.strip_suffix(".json")?.parse::<i64>().ok()?;
            Some((v, p))
        })
        .filter(|(v, _)| *v > after)
        .collect();
    commits.sort();
    if after < 0 && commits.first().is_none_or(|(v, _)| *v != 0) {
        return Err(bad(
            &log,
            "no checkpoint and no commit 0: not a readable Delta log".into(),
        ));
    }
    for (n, (v, _)) in commits.iter().enumerate() {
        if *v != after + 1 + n as i64 {
            return Err(bad(
                &log,
                format!(
                    "commit {} is missing (the log jumps to {v})",
                    after + 1 + n as i64
                ),
            ));
        }
    }
    for (_, path) in &commits {
        let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let action: serde_json::Value =
                serde_json::from_str(line).map_err(|e| IngestError::Malformed {
                    source_name: path.display().to_string(),
                    line: n + 1,
                    message: format!("not a Delta action: {e}"),
                })?;
            if let Some(add) = action.get("add") {
                if add.get("deletionVector").is_some_and(|d| !d.is_null()) {
                    return Err(deletion_vectors(path));
                }
                live.insert(relative(add, path)?);
            } else if let Some(remove) = action.get("remove") {
                live.remove(&relative(remove, path)?);
            }
        }
    }
    Ok(Some(live.into_iter().collect()))
}

fn deletion_vectors(path: &Path) -> IngestError {
    IngestError::Schema {
        source_name: path.display().to_string(),
        message: "the Delta table uses deletion vectors (rows deleted without rewriting their file), which topten cannot apply; run REORG TABLE ... APPLY (PURGE) or export a snapshot as Parquet".into(),
    }
}

/// The relative path of an add or remove action, percent-decoded, checked to stay inside the
/// table.
fn relative(action: &serde_json::Value, log_file: &Path) -> Result<String, IngestError> {
    let raw = action["path"].as_str().ok_or_else(|| IngestError::Schema {
        source_name: log_file.display().to_string(),
        message: "an add or remove action without a path".into(),
    })?;
    decode_path(raw).ok_or_else(|| IngestError::Schema {
        source_name: log_file.display().to_string(),
        message: format!(
            "data file {raw:?} is not inside the table directory (absolute or shallow-cloned paths are not supported)"
        ),
    })
}

/// Percent-decodes a Delta file path; `None` for an absolute URI or a path leaving the table.
fn decode_path(raw: &str) -> Option<String> {
    if raw.contains("://") || raw.starts_with('/') || raw.starts_with("file:") {
        return None;
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let path = String::from_utf8(out).ok()?;
    if path.split('/').any(|c| c == ".." || c.is_empty()) {
        return None;
    }
    Some(path)
}

/// The files a checkpoint lists as added: a checkpoint is Parquet, which this build cannot
/// decode (the `parquet` feature is off).
#[cfg(not(feature = "parquet"))]
fn checkpoint_adds(part: &Path, _live: &mut BTreeSet<String>) -> Result<(), IngestError> {
    Err(IngestError::NotBuilt {
        source_name: part.display().to_string(),
        what: "a Delta checkpoint (Parquet)",
        feature: "parquet",
    })
}

/// The files a checkpoint lists as added (its `add` struct column's `path`).
#[cfg(feature = "parquet")]
fn checkpoint_adds(part: &Path, live: &mut BTreeSet<String>) -> Result<(), IngestError> {
    use ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use arrow_array::cast::AsArray;
    use arrow_array::Array;
    use std::fs::File;

    let unreadable = |e: &dyn std::fmt::Display| IngestError::Schema {
        source_name: part.display().to_string(),
        message: format!("not a readable Delta checkpoint: {e}"),
    };
    let file = File::open(part).map_err(|source| IngestError::Io {
        source_name: part.display().to_string(),
        source,
    })?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| unreadable(&e))?;
    for batch in reader {
        let batch = batch.map_err(|e| unreadable(&e))?;
        let Some(add) = batch.column_by_name("add") else {
            continue;
        };
        let add = add.as_struct();
        let paths = add
            .column_by_name("path")
            .ok_or_else(|| unreadable(&"add has no path"))?;
        let paths = arrow_cast::cast::cast(paths, &arrow_schema::DataType::Utf8)
            .map_err(|e| unreadable(&e))?;
        let paths = paths.as_string::<i32>();
        let dv = add.column_by_name("deletionVector");
        for row in 0..batch.num_rows() {
            if add.is_null(row) || paths.is_null(row) {
                continue;
            }
            if dv.is_some_and(|d| d.is_valid(row)) {
                return Err(deletion_vectors(part));
            }
            let raw = paths.value(row);
            let path = decode_path(raw).ok_or_else(|| IngestError::Schema {
                source_name: part.display().to_string(),
                message: format!("data file {raw:?} is not inside the table directory"),
            })?;
            live.insert(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::decode_path;

    #[test]
    fn paths_are_percent_decoded_and_kept_inside_the_table() {
        assert_eq!(
            decode_path("day=2026-11-27/part-0.parquet").as_deref(),
            Some("day=2026-11-27/part-0.parquet")
        );
        assert_eq!(
            decode_path("city=S%C3%A3o%20Paulo/part-0.parquet").as_deref(),
            Some("city=São Paulo/part-0.parquet")
        );
        assert_eq!(
            decode_path("abfss://c@a.dfs.core.windows.net/t/part-0.parquet"),
            None
        );
        assert_eq!(decode_path("/abs/part-0.parquet"), None);
        assert_eq!(decode_path("../other/part-0.parquet"), None);
        assert_eq!(decode_path("bad%2"), None);
    }
}
