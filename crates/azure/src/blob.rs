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

use azure_core::http::{RequestContent, StatusCode, Url};
use azure_storage_blob::models::{BlobContainerClientListBlobsOptions, BlockLookupList};
use azure_storage_blob::BlobClient;
use futures::TryStreamExt;

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
        let invalid = |why: &str| BlobError::InvalidUri(s.to_owned(), why.to_owned());
        if let Some(rest) = s.strip_prefix("az://") {
            let mut parts = rest.splitn(3, '/');
            let (Some(account), Some(container)) = (parts.next(), parts.next()) else {
                return Err(invalid("expected az://ACCOUNT/CONTAINER/PATH"));
            };
            if account.is_empty() || container.is_empty() {
                return Err(invalid("expected az://ACCOUNT/CONTAINER/PATH"));
            }
            let endpoint = match std::env::var("AZURE_STORAGE_ENDPOINT")
                .ok()
                .filter(|e| !e.is_empty())
            {
                Some(e) => e.trim_end_matches('/').to_owned(),
                None => format!("https://{account}.blob.core.windows.net"),
            };
            return Ok(Location::Blob(BlobLocation {
                container_url: format!("{endpoint}/{container}"),
                path: parts.next().unwrap_or("").to_owned(),
                display: s.to_owned(),
            }));
        }
        if s.starts_with("https://") || s.starts_with("http://") {
            let url = Url::parse(s).map_err(|e| invalid(&e.to_string()))?;
            let host = url.host_str().unwrap_or("").to_owned();
            let segments: Vec<&str> = url.path().trim_start_matches('/').splitn(3, '/').collect();
            let (base, rest): (String, &[&str]) = if host.ends_with(".blob.core.windows.net") {
                if url.scheme() != "https" {
                    return Err(invalid("Azure Storage URLs must use https"));
                }
                (format!("https://{host}"), &segments[..])
            } else if topten_credential::is_loopback(&host) && segments.len() >= 2 {
                // Emulator path style: http://127.0.0.1:10000/ACCOUNT/CONTAINER/PATH.
                let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
                (
                    format!("{}://{host}{port}/{}", url.scheme(), segments[0]),
                    &segments[1..],
                )
            } else {
                return Err(invalid("expected https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH (or an emulator on 127.0.0.1)"));
            };
            let container = rest
                .first()
                .copied()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| invalid("missing container"))?;
            let path = rest.get(1..).map(|r| r.join("/")).unwrap_or_default();
            return Ok(Location::Blob(BlobLocation {
                container_url: format!("{base}/{container}"),
                path,
                display: s.to_owned(),
            }));
        }
        Ok(Location::Local(PathBuf::from(s)))
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

fn url_with_sas(url: &str) -> Result<Url, BlobError> {
    let mut u =
        Url::parse(url).map_err(|e| BlobError::InvalidUri(url.to_owned(), e.to_string()))?;
    if let Some(sas) = std::env::var("AZURE_STORAGE_SAS")
        .ok()
        .filter(|s| !s.is_empty())
    {
        let sas = sas.trim_start_matches('?');
        let q = match u.query() {
            Some(q) if !q.is_empty() => format!("{q}&{sas}"),
            _ => sas.to_owned(),
        };
        u.set_query(Some(&q));
    }
    Ok(u)
}

fn credential() -> Result<Option<Arc<dyn azure_core::credentials::TokenCredential>>, BlobError> {
    if std::env::var("AZURE_STORAGE_SAS").is_ok_and(|s| !s.is_empty()) {
        return Ok(None);
    }
    topten_credential::credential()
        .map(Some)
        .map_err(|e| BlobError::Denied("Azure credential".into(), e))
}

fn blob_client(b: &BlobLocation) -> Result<BlobClient, BlobError> {
    let encoded: String = b
        .path
        .split('/')
        .map(encode_segment)
        .collect::<Vec<_>>()
        .join("/");
    let url = url_with_sas(&format!("{}/{}", b.container_url, encoded))?;
    let options = azure_storage_blob::BlobClientOptions {
        client_options: client_options(),
        ..Default::default()
    };
    BlobClient::new(url, credential()?, Some(options))
        .map_err(|e| BlobError::Service(b.display.clone(), e.to_string()))
}

fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Default bound on retrying one blob request, in seconds (`TOPTEN_BLOB_RETRY_SECS`).
const DEFAULT_RETRY_SECS: i64 = 10;

/// Retries bounded in time: the SDK's default keeps an unreachable endpoint busy for over a
/// minute before failing, which reads as a hang; an unreachable endpoint fails within
/// `TOPTEN_BLOB_RETRY_SECS` of retrying (10 s by default; under 15 s in all), naming the endpoint
/// and the cause.
fn client_options() -> azure_core::http::ClientOptions {
    use azure_core::http::{ExponentialRetryOptions, RetryOptions};
    use azure_core::time::Duration;
    let secs = std::env::var("TOPTEN_BLOB_RETRY_SECS")
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|s| *s >= 0)
        .unwrap_or(DEFAULT_RETRY_SECS);
    azure_core::http::ClientOptions {
        retry: RetryOptions::exponential(ExponentialRetryOptions {
            initial_delay: Duration::milliseconds(200),
            max_retries: 8,
            max_total_elapsed: Duration::seconds(secs),
            max_delay: Duration::seconds(4),
        }),
        ..Default::default()
    }
}

/// An SDK error with its causes, each once ("retry policy expired" alone hides why).
fn with_causes(e: &azure_core::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = cause.source();
    }
    msg
}

/// Turns an SDK error into a message that names the blob and says what to check.
fn classify(display: &str, e: azure_core::Error) -> BlobError {
    match e.http_status() {
        Some(StatusCode::NotFound) => BlobError::NotFound(display.to_owned()),
        Some(StatusCode::Forbidden) | Some(StatusCode::Unauthorized) => {
            let code = match e.kind() {
                azure_core::error::ErrorKind::HttpResponse {
                    error_code: Some(c),
                    ..
                } => c.clone(),
                _ => "forbidden".into(),
            };
            BlobError::Denied(display.to_owned(), code)
        }
        _ => BlobError::Service(display.to_owned(), with_causes(&e)),
    }
}

/// Downloads a whole blob into memory (model artifacts, which are loaded whole anyway).
pub async fn read_all(b: &BlobLocation) -> Result<Vec<u8>, BlobError> {
    let client = blob_client(b)?;
    let resp = client
        .download(None)
        .await
        .map_err(|e| classify(&b.display, e))?;
    let body = resp
        .body
        .collect()
        .await
        .map_err(|e| classify(&b.display, e))?;
    Ok(body.to_vec())
}

/// Whether the blob exists.
pub async fn exists(b: &BlobLocation) -> Result<bool, BlobError> {
    blob_client(b)?
        .exists()
        .await
        .map_err(|e| classify(&b.display, e))
}

/// Deletes a blob; a missing blob is fine.
pub async fn delete(b: &BlobLocation) -> Result<(), BlobError> {
    match blob_client(b)?.delete(None).await {
        Ok(_) => Ok(()),
        Err(e) if e.http_status() == Some(StatusCode::NotFound) => Ok(()),
        Err(e) => Err(classify(&b.display, e)),
    }
}

/// Uploads `bytes` as a block blob in [`BLOCK_SIZE`] blocks, committed in one final call: the
/// blob appears under its name complete or not at all.
pub async fn upload(
    b: &BlobLocation,
    bytes: &[u8],
    progress: Option<&Progress>,
) -> Result<(), BlobError> {
    let client = blob_client(b)?.block_blob_client();
    let mut ids = Vec::new();
    for (n, chunk) in bytes.chunks(BLOCK_SIZE).enumerate() {
        // Block ids must all have the same length within a blob.
        let id = format!("topten-{n:08}").into_bytes();
        client
            .stage_block(
                &id,
                chunk.len() as u64,
                RequestContent::from(chunk.to_vec()),
                None,
            )
            .await
            .map_err(|e| classify(&b.display, e))?;
        ids.push(id);
        if let Some(p) = progress {
            p(chunk.len() as u64);
        }
    }
    if ids.is_empty() {
        let id = b"topten-00000000".to_vec();
        client
            .stage_block(&id, 0, RequestContent::from(Vec::new()), None)
            .await
            .map_err(|e| classify(&b.display, e))?;
        ids.push(id);
    }
    let list = BlockLookupList {
        latest: Some(ids),
        ..Default::default()
    };
    let content = list
        .try_into()
        .map_err(|e: azure_core::Error| BlobError::Service(b.display.clone(), e.to_string()))?;
    client
        .commit_block_list(content, None)
        .await
        .map_err(|e| classify(&b.display, e))?;
    Ok(())
}

/// The client of a location's container.
fn container_client(
    b: &BlobLocation,
) -> Result<azure_storage_blob::BlobContainerClient, BlobError> {
    azure_storage_blob::BlobContainerClient::new(
        url_with_sas(&b.container_url)?,
        credential()?,
        Some(azure_storage_blob::BlobContainerClientOptions {
            client_options: client_options(),
            ..Default::default()
        }),
    )
    .map_err(|e| BlobError::Service(b.display.clone(), e.to_string()))
}

/// Creates the container of a location if it does not exist.
pub async fn create_container(b: &BlobLocation) -> Result<(), BlobError> {
    let container = container_client(b)?;
    match container.create(None).await {
        Ok(_) => Ok(()),
        Err(e) if e.http_status() == Some(StatusCode::Conflict) => Ok(()),
        Err(e) => Err(classify(&b.display, e)),
    }
}

/// Blob names under a prefix location, in name order, as locations.
pub async fn list(b: &BlobLocation) -> Result<Vec<BlobLocation>, BlobError> {
    let container = container_client(b)?;
    let opts = BlobContainerClientListBlobsOptions {
        prefix: Some(b.path.clone()).filter(|p| !p.is_empty()),
        ..Default::default()
    };
    let mut pager = container
        .list_blobs(Some(opts))
        .map_err(|e| classify(&b.display, e))?;
    let mut names = Vec::new();
    while let Some(item) = pager
        .try_next()
        .await
        .map_err(|e| classify(&b.display, e))?
    {
        if let Some(name) = item.name {
            if !name.ends_with('/') {
                names.push(name);
            }
        }
    }
    names.sort();
    let root = b
        .display
        .strip_suffix(&b.path)
        .unwrap_or(&b.display)
        .to_owned();
    Ok(names
        .into_iter()
        .map(|n| BlobLocation {
            container_url: b.container_url.clone(),
            display: format!("{root}{n}"),
            path: n,
        })
        .collect())
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

/// A `Read` over chunks that a download task sends through a bounded channel: the parser
/// pulls, the network pushes, and at most a few chunks are in memory.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<Result<bytes::Bytes, std::io::Error>>,
    current: bytes::Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.recv() {
                Ok(Ok(b)) => self.current = b,
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0), // sender finished: end of blob
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

/// Opens a streaming reader over a blob. The first error (missing blob, denied) is returned
/// here, before any byte is read; later network errors surface as I/O errors of the reader.
pub fn open_read(
    b: &BlobLocation,
    progress: Option<Progress>,
) -> Result<impl Read + Send, BlobError> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<bytes::Bytes, std::io::Error>>(8);
    let (first_tx, first_rx) = std::sync::mpsc::sync_channel::<Result<(), BlobError>>(1);
    let b = b.clone();
    runtime().spawn(async move {
        let client = match blob_client(&b) {
            Ok(c) => c,
            Err(e) => return drop(first_tx.send(Err(e))),
        };
        let resp = match client.download(None).await {
            Ok(r) => r,
            Err(e) => return drop(first_tx.send(Err(classify(&b.display, e)))),
        };
        let _ = first_tx.send(Ok(()));
        let mut body = resp.body;
        loop {
            match body.try_next().await {
                Ok(Some(chunk)) => {
                    if let Some(p) = &progress {
                        p(chunk.len() as u64);
                    }
                    let tx = tx.clone();
                    // The channel is bounded: a slow parser slows the download, not memory.
                    let sent = tokio::task::spawn_blocking(move || tx.send(Ok(chunk)).is_ok())
                        .await
                        .unwrap_or(false);
                    if !sent {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(format!(
                        "{}: download interrupted: {e}",
                        b.display
                    ))));
                    break;
                }
            }
        }
    });
    first_rx
        .recv()
        .map_err(|_| BlobError::Service("blob download".into(), "task ended".into()))??;
    Ok(ChannelReader {
        rx,
        current: bytes::Bytes::new(),
    })
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

    #[test]
    fn channel_reader_concatenates_chunks() {
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        tx.send(Ok(bytes::Bytes::from_static(b"1\t2\t3\n4")))
            .unwrap();
        tx.send(Ok(bytes::Bytes::from_static(b"\t5\t1\n"))).unwrap();
        drop(tx);
        let mut s = String::new();
        ChannelReader {
            rx,
            current: bytes::Bytes::new(),
        }
        .read_to_string(&mut s)
        .unwrap();
        assert_eq!(s, "1\t2\t3\n4\t5\t1\n");
    }
}
