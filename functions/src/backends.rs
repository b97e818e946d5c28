//! The store backends by URI: the one place that knows every backend, so the serving side
//! and the CLI open stores the same way (`embedded:`, `cosmos://`, `snapshot:`).

use std::sync::Arc;

use topten_store::{Store, StoreError};

/// Opens an existing store from a URI: `embedded:PATH` (an LMDB file), Cosmos DB:
/// `cosmos://ACCOUNT.documents.azure.com/DB/CONTAINER` (Entra ID auth) and, for a local
/// emulator, `cosmos+http://127.0.0.1:PORT/DB/CONTAINER` (see [`topten_azure::cosmos::CosmosSettings`]), or
/// `snapshot:PATH` (a read-only file written by `topten export-snapshot`).
///
/// A mistyped embedded path is an error, not a new empty store that a server would then fill
/// with events; only [`create_or_open`] (publishing, `--create`) makes one.
pub fn open(uri: &str) -> Result<Arc<dyn Store>, StoreError> {
    open_with(uri, false)
}

/// [`open`], creating an embedded store file (and its directory) when it does not exist yet.
pub fn create_or_open(uri: &str) -> Result<Arc<dyn Store>, StoreError> {
    open_with(uri, true)
}

fn open_with(uri: &str, create: bool) -> Result<Arc<dyn Store>, StoreError> {
    let invalid = |why: &str| StoreError::InvalidUri {
        uri: uri.to_owned(),
        why: why.to_owned(),
    };
    match uri.split_once(':') {
        Some(("embedded", path)) if !path.is_empty() => {
            let path = path.trim_start_matches("//");
            if !create && !std::path::Path::new(path).exists() {
                return Err(StoreError::Missing { uri: uri.to_owned() });
            }
            Ok(Arc::new(topten_store::embedded::EmbeddedStore::open(path)?))
        }
        Some(("embedded", _)) => Err(invalid("expected embedded:PATH, e.g. embedded:./data/topten.db")),
        Some(("cosmos" | "cosmos+http" | "cosmos+https" | "http" | "https", _)) => {
            Ok(Arc::new(topten_azure::cosmos::CosmosStore::new(topten_azure::cosmos::CosmosSettings::from_uri(uri)?)))
        }
        Some(("snapshot", path)) if !path.is_empty() => Ok(Arc::new(topten_store::recs_snapshot::SnapshotStore::open(path.trim_start_matches("//"))?)),
        Some(("snapshot", _)) => Err(invalid("expected snapshot:PATH, e.g. snapshot:./data/recs.snap")),
        Some((scheme, _)) => Err(invalid(&format!(
            "unknown backend {scheme:?}; supported: embedded:PATH, cosmos://ACCOUNT.documents.azure.com/DB/CONTAINER, snapshot:PATH"
        ))),
        None => Err(invalid("expected BACKEND:LOCATION, e.g. embedded:./data/topten.db")),
    }
}

