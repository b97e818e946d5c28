//! Blob Storage through the Azure SDK (`azure_storage_blob`, `azure_core`), built with the
//! `sdk` feature: parsing blob URLs, the client and its auth, and the network operations the
//! parent module's functions use.

use std::io::Read;
use std::sync::Arc;

use azure_core::http::{RequestContent, StatusCode, Url};
use azure_storage_blob::models::{BlobContainerClientListBlobsOptions, BlockLookupList};
use azure_storage_blob::BlobClient;
use futures::TryStreamExt;

use super::{runtime, BlobError, BlobLocation, Progress, BLOCK_SIZE};

/// Parses `az://ACCOUNT/CONTAINER/PATH` or a blob URL; `None` for anything else (a local path).
pub fn parse_blob_url(s: &str) -> Option<Result<BlobLocation, BlobError>> {
    let invalid = |why: &str| BlobError::InvalidUri(s.to_owned(), why.to_owned());
    if let Some(rest) = s.strip_prefix("az://") {
        let mut parts = rest.splitn(3, '/');
        let (Some(account), Some(container)) = (parts.next(), parts.next()) else {
            return Some(Err(invalid("expected az://ACCOUNT/CONTAINER/PATH")));
        };
        if account.is_empty() || container.is_empty() {
            return Some(Err(invalid("expected az://ACCOUNT/CONTAINER/PATH")));
        }
        let endpoint = match std::env::var("AZURE_STORAGE_ENDPOINT")
            .ok()
            .filter(|e| !e.is_empty())
        {
            Some(e) => e.trim_end_matches('/').to_owned(),
            None => format!("https://{account}.blob.core.windows.net"),
        };
        return Some(Ok(BlobLocation {
            container_url: format!("{endpoint}/{container}"),
            path: parts.next().unwrap_or("").to_owned(),
            display: s.to_owned(),
        }));
    }
    if s.starts_with("https://") || s.starts_with("http://") {
        let url = match Url::parse(s) {
            Ok(url) => url,
            Err(e) => return Some(Err(invalid(&e.to_string()))),
        };
        let host = url.host_str().unwrap_or("").to_owned();
        let segments: Vec<&str> = url.path().trim_start_matches('/').splitn(3, '/').collect();
        let (base, rest): (String, &[&str]) = if host.ends_with(".blob.core.windows.net") {
            if url.scheme() != "https" {
                return Some(Err(invalid("Azure Storage URLs must use https")));
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
            return Some(Err(invalid("expected https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH (or an emulator on 127.0.0.1)")));
        };
        let Some(container) = rest.first().copied().filter(|c| !c.is_empty()) else {
            return Some(Err(invalid("missing container")));
        };
        let path = rest.get(1..).map(|r| r.join("/")).unwrap_or_default();
        return Some(Ok(BlobLocation {
            container_url: format!("{base}/{container}"),
            path,
            display: s.to_owned(),
        }));
    }
    None
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
    topten_credential::install_tls_provider();
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

#[cfg(test)]
mod tests {
    use super::*;

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
