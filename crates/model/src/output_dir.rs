//! Claiming a directory to write into: topten creates new directories and replaces only what it
//! wrote itself.
//!
//! Every command that writes a directory (`train --out`, `tune --out`, `report`, the retrain's
//! model root) asks [`claim`] first. The answer depends only on what is at the path now:
//!
//! - nothing: the directory is created ([`Claim::New`]);
//! - an empty directory: it is used ([`Claim::Empty`]);
//! - a directory carrying the kind's marker file, written by topten (a `model.json` that parses
//!   as a topten model, a `report.json` of a topten report): it may be replaced
//!   ([`Claim::Replace`]);
//! - anything else (a regular file, a device, a symbolic link, a directory with other files, a
//!   marker that is not topten's): [`OutputError::NotOurs`], and the path is left untouched.
//!
//! Symbolic links are judged by themselves, never followed: replacing the link's target is the
//! kind of surprise this module exists to prevent.

use std::fs;
use std::path::{Path, PathBuf};

/// What kind of directory a command writes, and how to recognise one it wrote before.
#[derive(Debug, Clone, Copy)]
pub struct OutputKind {
    /// Name for messages ("model directory").
    pub what: &'static str,
    /// The file whose presence (and content) marks a directory topten wrote.
    pub marker: &'static str,
    /// Whether the marker's bytes are topten's.
    pub is_ours: fn(&[u8]) -> bool,
}

/// A model directory: `model.json` with topten's format version, kind and artifact list.
pub const MODEL_DIR: OutputKind = OutputKind {
    what: "model directory",
    marker: "model.json",
    is_ours: |bytes| {
        serde_json::from_slice::<serde_json::Value>(bytes)
            .map(|v| {
                v.get("format_version").is_some_and(|f| f.is_u64())
                    && v.get("kind").is_some_and(|k| k.is_string())
                    && v.get("artifacts").is_some_and(|a| a.is_array())
            })
            .unwrap_or(false)
    },
};

/// A report directory: `report.json` with the report's summary keys.
pub const REPORT_DIR: OutputKind = OutputKind {
    what: "report directory",
    marker: "report.json",
    is_ours: |bytes| {
        serde_json::from_slice::<serde_json::Value>(bytes)
            .map(|v| v.get("metricsAtK").is_some() && v.get("figures").is_some())
            .unwrap_or(false)
    },
};

/// A split directory: `split.json` (written last by `topten split`) naming both files.
pub const SPLIT_DIR: OutputKind = OutputKind {
    what: "split directory",
    marker: "split.json",
    is_ours: |bytes| {
        serde_json::from_slice::<serde_json::Value>(bytes)
            .map(|v| v.get("train").is_some() && v.get("test").is_some())
            .unwrap_or(false)
    },
};

/// What [`claim`] found, which decides how the caller writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Nothing is at the path.
    New,
    /// An empty directory is at the path.
    Empty,
    /// A directory of this kind that topten wrote is at the path.
    Replace,
}

/// Why a path cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// Something topten did not write is at the path.
    #[error(
        "refusing to write a {what} to {path}: it is {found}, not a {what} topten wrote; \
         choose a new path (topten never deletes or overwrites what it did not create)"
    )]
    NotOurs {
        /// Kind of directory that was to be written.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// What is there, in words.
        found: String,
    },
    /// The path could not be inspected.
    #[error("cannot inspect {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Decides whether `dir` may be written as a `kind` directory (see the module docs).
pub fn claim(dir: &Path, kind: &OutputKind) -> Result<Claim, OutputError> {
    let io = |source| OutputError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let refuse = |found: String| OutputError::NotOurs {
        what: kind.what,
        path: dir.to_path_buf(),
        found,
    };
    let meta = match fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Claim::New),
        Err(e) => return Err(io(e)),
    };
    let ft = meta.file_type();
    if ft.is_symlink() {
        return Err(refuse("a symbolic link".into()));
    }
    if ft.is_file() {
        return Err(refuse("a regular file".into()));
    }
    if !ft.is_dir() {
        return Err(refuse("a device, socket or other special file".into()));
    }
    let mut entries: Vec<String> = fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    if entries.is_empty() {
        return Ok(Claim::Empty);
    }
    let marker = dir.join(kind.marker);
    let marker_is_ours = fs::symlink_metadata(&marker).is_ok_and(|m| m.is_file())
        && fs::read(&marker).is_ok_and(|bytes| (kind.is_ours)(&bytes));
    if marker_is_ours {
        return Ok(Claim::Replace);
    }
    entries.sort();
    let shown: Vec<&str> = entries.iter().take(3).map(String::as_str).collect();
    let more = if entries.len() > 3 { ", ..." } else { "" };
    Err(refuse(format!(
        "a directory with {} other entr{} ({}{more})",
        entries.len(),
        if entries.len() == 1 { "y" } else { "ies" },
        shown.join(", ")
    )))
}

/// Creates `dir` (and its parents) after [`claim`] allowed it; a no-op for an existing directory.
pub fn create(dir: &Path, kind: &OutputKind) -> Result<Claim, OutputError> {
    let claim = claim(dir, kind)?;
    if claim == Claim::New {
        fs::create_dir_all(dir).map_err(|source| OutputError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    Ok(claim)
}

/// Decides whether the file `path` may be written: it must not exist, or be a regular file whose
/// first bytes `is_ours` recognises as topten's (`None`: no existing file is ever ours).
pub fn claim_file(
    path: &Path,
    what: &'static str,
    is_ours: Option<fn(&[u8]) -> bool>,
) -> Result<Claim, OutputError> {
    let refuse = |found: &str| OutputError::NotOurs {
        what,
        path: path.to_path_buf(),
        found: found.into(),
    };
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Claim::New),
        Err(source) => {
            return Err(OutputError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let ft = meta.file_type();
    if ft.is_symlink() {
        return Err(refuse("a symbolic link"));
    }
    if ft.is_dir() {
        return Err(refuse("a directory"));
    }
    if !ft.is_file() {
        return Err(refuse("a device, socket or other special file"));
    }
    let mut head = Vec::with_capacity(64);
    use std::io::Read;
    fs::File::open(path)
        .and_then(|f| f.take(64).read_to_end(&mut head))
        .map_err(|source| OutputError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    match is_ours {
        Some(is_ours) if is_ours(&head) => Ok(Claim::Replace),
        _ => Err(refuse("an existing file")),
    }
}

/// Writes `bytes` to `path` after [`claim_file`] allowed it: a fresh temporary sibling, synced,
/// then renamed over the final name, so readers see the old file or the new one, never a part.
pub fn write_file(
    path: &Path,
    what: &'static str,
    is_ours: Option<fn(&[u8]) -> bool>,
    write: impl FnOnce(&mut fs::File) -> std::io::Result<()>,
) -> Result<(), OutputError> {
    claim_file(path, what, is_ours)?;
    let io = |source| OutputError::Io {
        path: path.to_path_buf(),
        source,
    };
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(io)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.tmp-"))
        .tempfile_in(parent)
        .map_err(io)?;
    write(tmp.as_file_mut()).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds_found(dir: &Path) -> String {
        match claim(dir, &MODEL_DIR) {
            Err(OutputError::NotOurs { found, .. }) => found,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn new_empty_and_own_directories_are_claimed() {
        let tmp = tempfile::tempdir().unwrap();
        let new = tmp.path().join("new");
        assert_eq!(claim(&new, &MODEL_DIR).unwrap(), Claim::New);
        fs::create_dir(&new).unwrap();
        assert_eq!(claim(&new, &MODEL_DIR).unwrap(), Claim::Empty);
        fs::write(
            new.join("model.json"),
            r#"{"format_version":1,"kind":"als","artifacts":[]}"#,
        )
        .unwrap();
        assert_eq!(claim(&new, &MODEL_DIR).unwrap(), Claim::Replace);
    }

    #[test]
    fn anything_else_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file");
        fs::write(&file, "x").unwrap();
        assert_eq!(kinds_found(&file), "a regular file");
        assert!(kinds_found(Path::new("/dev/null")).contains("special file"));
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(tmp.path(), &link).unwrap();
        assert_eq!(kinds_found(&link), "a symbolic link");
        let other = tmp.path().join("other");
        fs::create_dir(&other).unwrap();
        fs::write(other.join("notes.txt"), "mine").unwrap();
        assert!(kinds_found(&other).contains("notes.txt"));
        // A model.json that is not topten's does not make the directory ours.
        fs::write(other.join("model.json"), r#"{"name":"someone else's"}"#).unwrap();
        assert!(kinds_found(&other).contains("model.json"));
        assert!(matches!(
            claim(&other, &REPORT_DIR),
            Err(OutputError::NotOurs { .. })
        ));
    }

    #[test]
    fn files_are_written_new_or_over_our_own_only() {
        let tmp = tempfile::tempdir().unwrap();
        let is_ours: Option<fn(&[u8]) -> bool> = Some(|head| head.starts_with(b"MINE"));
        let path = tmp.path().join("sub/out.bin");
        write_file(&path, "test file", is_ours, |f| {
            std::io::Write::write_all(f, b"MINE 1")
        })
        .unwrap();
        write_file(&path, "test file", is_ours, |f| {
            std::io::Write::write_all(f, b"MINE 2")
        })
        .unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"MINE 2");
        let theirs = tmp.path().join("theirs.txt");
        fs::write(&theirs, "precious").unwrap();
        let err = write_file(&theirs, "test file", is_ours, |_| Ok(())).unwrap_err();
        assert!(err.to_string().contains("an existing file"), "{err}");
        assert_eq!(fs::read(&theirs).unwrap(), b"precious");
        assert!(claim_file(Path::new("/dev/null"), "test file", is_ours).is_err());
        // A failed write leaves no temporary file behind.
        let failed = tmp.path().join("failed.bin");
        write_file(&failed, "test file", is_ours, |_| {
            Err(std::io::Error::other("disk on fire"))
        })
        .unwrap_err();
        let left: Vec<_> = fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(left.len(), 2, "{left:?}"); // sub/ and theirs.txt: nothing for failed.bin
    }
}
