//! Azure Blob Storage as a place for training input and model directories, through the
//! official `azure_storage_blob` crate (on the same `azure_core` as the Cosmos DB SDK).
//!
//! A [`Location`] is a local path or a blob location:
//! - `az://ACCOUNT/CONTAINER/PATH`: the account's endpoint is
//!   `https://ACCOUNT.blob.core.windows.net`, or `AZURE_STORAGE_ENDPOINT` when set (an emulator,
//!   e.g. Azurite's `http://127.0.0.1:10000/devstoreaccount1`);
//! - `https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH`, or an emulator's path-style URL
//!   `http://127.0.0.1:PORT/ACCOUNT/CONTAINER/PATH` (loopback hosts only).
//!
//! A PATH ending in `/` is a prefix: [`list`] expands it to every blob under it, in name order
//! (daily event files for the retrain function).
//!
//! Auth: a SAS token in `AZURE_STORAGE_SAS` (emulators; the crate has no shared-key auth) is
//! appended to every request URL; otherwise Microsoft Entra ID ([`topten_credential::credential`]:
//! managed identity in Azure).
//!
//! Reads stream: [`read_ratings`] parses a blob while it downloads, holding a few chunks in a
//! bounded channel (no full copy in memory, no temporary file). Uploads are chunked into
//! blocks ([`BLOCK_SIZE`]) committed at the end, so a failed upload never leaves a partial blob
//! under its name. All network work runs on a small runtime of this module's own, so the sync
//! callers (the CLI, the training half of the retrain job) need no runtime of theirs.

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

#[cfg(feature = "sdk")]
mod client;
#[cfg(feature = "sdk")]
use client as imp;
#[cfg(not(feature = "sdk"))]
mod offline;
pub use imp::{create_container, delete, exists, list, open_read, read_all, upload};
#[cfg(not(feature = "sdk"))]
use offline as imp;

use topten_model::ingest::{IngestError, ReadOptions, ReadReport};
use topten_model::interactions::Ratings;

/// Size of one uploaded block (and of one progress step).
pub const BLOCK_SIZE: usize = 4 << 20;

/// Called with the number of bytes just transferred (progress bars).
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// The location string is not a path, `az://` URI or blob URL.
    #[error("invalid blob location {0:?}: {1}")]
    InvalidUri(String, String),
    /// The blob (or container) does not exist.
    #[error("{0}: blob not found")]
    NotFound(String),
    /// The service refused the credentials (wrong or expired SAS, missing role assignment).
    #[error("{0}: access denied ({1}); check AZURE_STORAGE_SAS or the identity's Storage Blob Data role")]
    Denied(String, String),
    /// This build leaves Blob Storage out (the `sdk` feature is off).
    #[error("{0}: Blob Storage needs topten built with the `azure` feature (on by default: `cargo build --release --bin topten`)")]
    NotBuilt(String),
    /// Any other failure (network, service).
    #[error("{0}: {1}")]
    Service(String, String),
}

/// A blob, or a prefix of blobs, in one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobLocation {
    /// Container URL without query, e.g. `https://acct.blob.core.windows.net/models`.
    pub container_url: String,
    /// Blob name or prefix inside the container (no leading `/`).
    pub path: String,
    /// The location as the user wrote it (for messages).
    pub display: String,
}

impl BlobLocation {
    /// Whether this names a prefix (a "directory": empty or ending in `/`) rather than a blob.
    pub fn is_prefix(&self) -> bool {
        self.path.is_empty() || self.path.ends_with('/')
    }

    /// The same location as a prefix (`PATH/`): what Spark writes as a "file" is a directory.
    pub fn as_prefix(&self) -> BlobLocation {
        if self.is_prefix() {
            return self.clone();
        }
        BlobLocation {
            container_url: self.container_url.clone(),
            path: format!("{}/", self.path),
            display: format!("{}/", self.display),
        }
    }
}

/// Where a file or directory lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local path.
    Local(PathBuf),
    /// A blob or a blob prefix.
    Blob(BlobLocation),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::Blob(b) => f.write_str(&b.display),
        }
    }
}

impl std::str::FromStr for Location {
    type Err = BlobError;
    fn from_str(s: &str) -> Result<Self, BlobError> {
        Location::parse(s)
    }
}

impl From<PathBuf> for Location {
    fn from(p: PathBuf) -> Self {
        Location::Local(p)
    }
}

impl From<&Path> for Location {
    fn from(p: &Path) -> Self {
        Location::Local(p.to_path_buf())
    }
}

impl Location {
    /// Parses a local path, `az://ACCOUNT/CONTAINER/PATH` or a blob URL.
    pub fn parse(s: &str) -> Result<Location, BlobError> {
        match imp::parse_blob_url(s) {
            Some(blob) => blob.map(Location::Blob),
            None => Ok(Location::Local(PathBuf::from(s))),
        }
    }

    /// The location of `name` inside this directory (or prefix).
    pub fn join(&self, name: &str) -> Location {
        match self {
            Location::Local(p) => Location::Local(p.join(name)),
            Location::Blob(b) => {
                let sep = if b.path.is_empty() || b.path.ends_with('/') {
                    ""
                } else {
                    "/"
                };
                let disp = if b.display.ends_with('/') { "" } else { "/" };
                Location::Blob(BlobLocation {
                    container_url: b.container_url.clone(),
                    path: format!("{}{sep}{name}", b.path),
                    display: format!("{}{disp}{name}", b.display),
                })
            }
        }
    }

    /// Whether this is a blob location.
    pub fn is_blob(&self) -> bool {
        matches!(self, Location::Blob(_))
    }
}

/// The runtime that runs blob I/O for sync callers.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("topten-blob")
            .enable_all()
            .build()
            .expect("blob I/O runtime starts")
    })
}

/// Runs `fut` on the blob runtime and waits for it; safe from any thread, including threads
/// of another runtime's blocking pool.
pub fn block_on<T: Send + 'static>(
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime().spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().expect("blob task completes")
}

/// Expands input locations: a blob prefix (`.../`) or a local directory becomes every file
/// under it in name order, without side files (`_SUCCESS`, `.crc`); a local directory of
/// Parquet part files and a Delta table (local or a prefix) stay one data set; anything else
/// stays as it is. An empty prefix is an error.
pub fn expand_inputs(inputs: &[Location]) -> Result<Vec<Location>, BlobError> {
    let mut out = Vec::new();
    for loc in inputs {
        match loc {
            Location::Blob(b) if b.is_prefix() => {
                let b2 = b.clone();
                let listed = block_on(async move { list(&b2).await })?;
                // A Delta table is one data set: its log decides which files count.
                if listed
                    .iter()
                    .any(|f| relative_path(b, f).starts_with("_delta_log/"))
                {
                    out.push(loc.clone());
                    continue;
                }
                let found: Vec<BlobLocation> = listed
                    .into_iter()
                    .filter(|f| {
                        !relative_path(b, f)
                            .split('/')
                            .any(topten_model::ingest::parquet::is_side_file)
                    })
                    .collect();
                if found.is_empty() {
                    return Err(BlobError::NotFound(format!(
                        "{} (no blobs under this prefix)",
                        b.display
                    )));
                }
                out.extend(found.into_iter().map(Location::Blob));
            }
            Location::Local(p) if p.is_dir() => {
                let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                    .map_err(|e| BlobError::Service(p.display().to_string(), e.to_string()))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.file_name().is_some_and(|n| {
                            !topten_model::ingest::parquet::is_side_file(&n.to_string_lossy())
                        })
                    })
                    .collect();
                // A directory of Parquet part files (with partition subdirectories) is one
                // data set: read whole, as Spark wrote it.
                if files
                    .iter()
                    .any(|f| f.is_dir() || topten_model::ingest::parquet::is_parquet_file(f))
                {
                    out.push(loc.clone());
                    continue;
                }
                files.sort();
                out.extend(files.into_iter().map(Location::Local));
            }
            other => out.push(other.clone()),
        }
    }
    Ok(out)
}

/// Reads an item catalogue (JSON Lines, CSV or TSV) from a local file or a blob.
pub fn read_catalogue(
    loc: &Location,
) -> Result<topten_model::catalogue::Catalogue, topten_model::catalogue::CatalogueError> {
    use topten_model::catalogue::{self, CatalogueError};
    match loc {
        Location::Local(p) => catalogue::read_catalogue(p),
        Location::Blob(b) => {
            let reader = open_read(b, None).map_err(|e| CatalogueError::Io {
                source_name: b.display.clone(),
                source: std::io::Error::other(e.to_string()),
            })?;
            catalogue::read_catalogue_from(reader, &b.display)
        }
    }
}

/// Reads interactions from a local file or directory, a blob or a blob prefix.
///
/// Text blobs are parsed while they download. Parquet (known by its magic bytes, or a prefix
/// ending in `/` of part files as Spark writes them) is read from a temporary copy on disk,
/// because a Parquet reader starts at the footer: the copy streams to disk and is read row
/// group by row group, so memory never holds a whole file. Side files under a prefix
/// (`_SUCCESS`, `_delta_log/`, `.crc`) are skipped; anything else must be Parquet.
pub fn read_ratings(
    loc: &Location,
    opts: &ReadOptions,
    progress: Option<Progress>,
) -> Result<(Ratings, ReadReport), IngestError> {
    use topten_model::ingest::parquet;
    // IngestError::Io prints "{source_name}: {source}"; blob errors that already start with
    // the location (not found, listing) are not prefixed with it again.
    let io = |name: &str, e: &dyn std::fmt::Display| {
        let text = e.to_string();
        let text = text
            .strip_prefix(name)
            .and_then(|t| t.strip_prefix(": "))
            .map(str::to_owned)
            .unwrap_or(text);
        IngestError::Io {
            source_name: name.to_owned(),
            source: std::io::Error::other(text),
        }
    };
    match loc {
        Location::Local(p) => topten_model::ingest::read_ratings(p, opts),
        Location::Blob(b) if b.is_prefix() => {
            let b2 = b.clone();
            let found = block_on(async move { list(&b2).await }).map_err(|e| io(&b.display, &e))?;
            if found
                .iter()
                .any(|f| relative_path(b, f).starts_with("_delta_log/"))
            {
                // A Delta table: its log decides which files are live, so the whole prefix
                // (log included) is copied and read as a local table.
                let dir = tempfile::tempdir().map_err(|e| io(&b.display, &e))?;
                download_prefix(b, dir.path(), progress).map_err(|e| io(&b.display, &e))?;
                let files: Vec<(PathBuf, String)> = parquet::table_files(dir.path())?
                    .into_iter()
                    .map(|rel| (dir.path().join(&rel), format!("{}{rel}", b.display)))
                    .collect();
                return parquet::read_parquet_files(&files, &b.display, opts);
            }
            let parts: Vec<BlobLocation> = found
                .into_iter()
                .filter(|f| !relative_path(b, f).split('/').any(parquet::is_side_file))
                .collect();
            if parts.is_empty() {
                return Err(IngestError::Empty {
                    source_name: format!("{} (no data files under this prefix)", b.display),
                });
            }
            let dir = tempfile::tempdir().map_err(|e| io(&b.display, &e))?;
            let mut files = Vec::with_capacity(parts.len());
            for (n, part) in parts.iter().enumerate() {
                let path = dir.path().join(format!("part-{n:06}"));
                download_to(part, &path, progress.clone()).map_err(|e| io(&part.display, &e))?;
                files.push((path, part.display.clone()));
            }
            parquet::read_parquet_files(&files, &b.display, opts)
        }
        Location::Blob(b) => {
            let mut reader = match open_read(b, progress.clone()) {
                Ok(r) => r,
                // `ratings.parquet` written by Spark is a prefix of part files.
                Err(BlobError::NotFound(_)) if prefix_exists(b) => {
                    return read_ratings(&Location::Blob(b.as_prefix()), opts, progress)
                }
                Err(e) => return Err(io(&b.display, &e)),
            };
            let mut head = Vec::with_capacity(4);
            (&mut reader)
                .take(4)
                .read_to_end(&mut head)
                .map_err(|e| io(&b.display, &e))?;
            if parquet::starts_like_parquet(&head) {
                let mut copy = tempfile::NamedTempFile::new().map_err(|e| io(&b.display, &e))?;
                copy.write_all(&head).map_err(|e| io(&b.display, &e))?;
                std::io::copy(&mut reader, &mut copy).map_err(|e| io(&b.display, &e))?;
                let files = [(copy.path().to_path_buf(), b.display.clone())];
                return parquet::read_parquet_files(&files, &b.display, opts);
            }
            topten_model::ingest::read_ratings_from(
                BufReader::with_capacity(1 << 20, std::io::Cursor::new(head).chain(reader)),
                &b.display,
                opts,
            )
        }
    }
}

/// Copies every blob under a prefix into `dir`, keeping the names below the prefix as relative
/// paths (a Spark model directory stays a directory tree); returns how many blobs it copied.
pub fn download_prefix(
    b: &BlobLocation,
    dir: &Path,
    progress: Option<Progress>,
) -> Result<usize, BlobError> {
    let prefix = b.as_prefix();
    let p2 = prefix.clone();
    let blobs = block_on(async move { list(&p2).await })?;
    if blobs.is_empty() {
        return Err(BlobError::NotFound(format!(
            "{} (no blobs under this prefix)",
            prefix.display
        )));
    }
    for blob in &blobs {
        let rel = relative_path(&prefix, blob);
        if rel.split('/').any(|c| c == ".." || c.is_empty()) {
            return Err(BlobError::InvalidUri(
                blob.display.clone(),
                "unsafe blob name for a local copy".into(),
            ));
        }
        let target = dir.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| BlobError::Service(parent.display().to_string(), e.to_string()))?;
        }
        download_to(blob, &target, progress.clone())?;
    }
    Ok(blobs.len())
}

/// Whether any blob lies under `b` read as a prefix.
fn prefix_exists(b: &BlobLocation) -> bool {
    let p = b.as_prefix();
    block_on(async move { list(&p).await }).is_ok_and(|l| !l.is_empty())
}

/// A listed blob's name below the prefix it was listed under.
fn relative_path<'a>(prefix: &BlobLocation, blob: &'a BlobLocation) -> &'a str {
    blob.path.strip_prefix(&prefix.path).unwrap_or(&blob.path)
}

/// Streams a blob into a local file (a few chunks in memory at a time).
pub fn download_to(
    b: &BlobLocation,
    path: &Path,
    progress: Option<Progress>,
) -> Result<(), BlobError> {
    let fail = |e: std::io::Error| BlobError::Service(b.display.clone(), e.to_string());
    let mut reader = open_read(b, progress)?;
    let mut file = std::fs::File::create(path).map_err(fail)?;
    std::io::copy(&mut reader, &mut file).map_err(fail)?;
    file.sync_all().map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_az_https_emulator_and_local() {
        let Location::Blob(b) =
            Location::parse("https://acct.blob.core.windows.net/data/events/2026/").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (b.container_url.as_str(), b.path.as_str()),
            ("https://acct.blob.core.windows.net/data", "events/2026/")
        );
        let Location::Blob(b) =
            Location::parse("http://127.0.0.1:10000/devstoreaccount1/models/m1").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (b.container_url.as_str(), b.path.as_str()),
            ("http://127.0.0.1:10000/devstoreaccount1/models", "m1")
        );
        assert!(Location::parse("http://acct.blob.core.windows.net/data/x").is_err());
        assert!(Location::parse("http://example.com/a/b").is_err());
        assert_eq!(
            Location::parse("data/u.data").unwrap(),
            Location::Local("data/u.data".into())
        );
        if std::env::var_os("AZURE_STORAGE_ENDPOINT").is_none() {
            let Location::Blob(b) = Location::parse("az://acct/models/v1").unwrap() else {
                panic!()
            };
            assert_eq!(
                (b.container_url.as_str(), b.path.as_str()),
                ("https://acct.blob.core.windows.net/models", "v1")
            );
            let j = Location::Blob(b).join("model.json");
            assert_eq!(j.to_string(), "az://acct/models/v1/model.json");
            let Location::Blob(j) = j else { panic!() };
            assert_eq!(j.path, "v1/model.json");
        }
    }
}
