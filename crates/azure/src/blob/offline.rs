//! Blob Storage in a build without the Azure SDK (the `sdk` feature is off, as in
//! `scripts/quickstart.sh`): a blob location is refused where it is parsed, naming the
//! feature, so no operation below ever runs; each still answers with the same error rather
//! than panicking, should a `BlobLocation` be built by hand.

use super::{BlobError, BlobLocation, Progress};

fn not_built(display: &str) -> BlobError {
    BlobError::NotBuilt(display.to_owned())
}

/// Refuses `az://` and `http(s)://` locations; `None` for anything else (a local path).
pub fn parse_blob_url(s: &str) -> Option<Result<BlobLocation, BlobError>> {
    let is_url = ["az://", "https://", "http://"]
        .iter()
        .any(|p| s.starts_with(p));
    is_url.then(|| Err(not_built(s)))
}

/// See the module docs.
pub async fn read_all(b: &BlobLocation) -> Result<Vec<u8>, BlobError> {
    Err(not_built(&b.display))
}

/// See the module docs.
pub async fn exists(b: &BlobLocation) -> Result<bool, BlobError> {
    Err(not_built(&b.display))
}

/// See the module docs.
pub async fn delete(b: &BlobLocation) -> Result<(), BlobError> {
    Err(not_built(&b.display))
}

/// See the module docs.
pub async fn upload(
    b: &BlobLocation,
    _bytes: &[u8],
    _progress: Option<&Progress>,
) -> Result<(), BlobError> {
    Err(not_built(&b.display))
}

/// See the module docs.
pub async fn create_container(b: &BlobLocation) -> Result<(), BlobError> {
    Err(not_built(&b.display))
}

/// See the module docs.
pub async fn list(b: &BlobLocation) -> Result<Vec<BlobLocation>, BlobError> {
    Err(not_built(&b.display))
}

/// See the module docs.
pub fn open_read(
    b: &BlobLocation,
    _progress: Option<Progress>,
) -> Result<std::io::Empty, BlobError> {
    Err(not_built(&b.display))
}
