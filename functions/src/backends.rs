//! The store backends by URI: the one place that knows every backend, so the serving side
//! and the CLI open stores the same way.
//!
//! - `embedded:PATH`: an LMDB file ([`topten_store::embedded`]);
//! - `cosmos://ACCOUNT.documents.azure.com/DB/CONTAINER` (Entra ID auth) and, for a local
//!   emulator, `cosmos+http://127.0.0.1:PORT/DB/CONTAINER` (see
//!   [`topten_azure::cosmos::CosmosSettings`]);
//! - `rediss://HOST:PORT` (Azure Cache for Redis, Azure Managed Redis; Entra ID auth) and, for a
//!   server on this machine, `redis://127.0.0.1:PORT/DB` (see
//!   [`topten_redis::RedisSettings`]);
//! - `snapshot:PATH`: a read-only list file written by `topten export-snapshot`
//!   ([`topten_store::recs_snapshot`]), which serves but cannot publish or take events.
//!
//! Cosmos DB and Redis are built with the `azure` and `redis` cargo features (on by default);
//! a build without one refuses its URIs with an error that names the feature.

use std::sync::Arc;

use topten_store::embedded::EmbeddedStore;
use topten_store::recs_snapshot::SnapshotStore;
use topten_store::{Store, StoreError, StoreHandle};

/// Opens an existing store.
///
/// A mistyped embedded path is an error, not a new empty store that a server would then fill
/// with events; only [`create_or_open`] (publishing, `--create`) makes one.
pub fn open(uri: &str) -> Result<StoreHandle, StoreError> {
    open_with(uri, false)
}

/// Opens a store to write to, creating an embedded store file (and its directory) when it does
/// not exist yet. A read-only backend is refused here, before any work is done.
pub fn create_or_open(uri: &str) -> Result<Arc<dyn Store>, StoreError> {
    open_with(uri, true)?.store("publishing").cloned()
}

/// [`open`] for a command that writes: the full store, or why this backend cannot write.
pub fn open_writable(uri: &str, what: &'static str) -> Result<Arc<dyn Store>, StoreError> {
    open(uri)?.store(what).cloned()
}

fn open_with(uri: &str, create: bool) -> Result<StoreHandle, StoreError> {
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
            Ok(StoreHandle::read_write(Arc::new(EmbeddedStore::open(path)?)))
        }
        Some(("embedded", _)) => Err(invalid(
            "expected embedded:PATH, e.g. embedded:./data/topten.db",
        )),
        Some(("cosmos" | "cosmos+http" | "cosmos+https" | "http" | "https", _)) => cosmos(uri),
        Some(("redis" | "rediss", _)) => redis(uri),
        Some(("snapshot", path)) if !path.is_empty() => Ok(StoreHandle::read_only(Arc::new(
            SnapshotStore::open(path.trim_start_matches("//"))?,
        ))),
        Some(("snapshot", _)) => Err(invalid(
            "expected snapshot:PATH, e.g. snapshot:./data/recs.snap",
        )),
        Some((scheme, _)) => Err(invalid(&format!(
            "unknown backend {scheme:?}; supported: embedded:PATH, cosmos://ACCOUNT.documents.azure.com/DB/CONTAINER, rediss://HOST:PORT, snapshot:PATH"
        ))),
        None => Err(invalid(
            "expected BACKEND:LOCATION, e.g. embedded:./data/topten.db",
        )),
    }
}

#[cfg(feature = "azure")]
fn cosmos(uri: &str) -> Result<StoreHandle, StoreError> {
    use topten_azure::cosmos::{CosmosSettings, CosmosStore};
    let settings = CosmosSettings::from_uri(uri)?;
    Ok(StoreHandle::read_write(Arc::new(CosmosStore::new(
        settings,
    ))))
}

#[cfg(not(feature = "azure"))]
fn cosmos(uri: &str) -> Result<StoreHandle, StoreError> {
    Err(not_built(uri, "Cosmos DB", "azure"))
}

#[cfg(feature = "redis")]
fn redis(uri: &str) -> Result<StoreHandle, StoreError> {
    use topten_redis::{RedisSettings, RedisStore};
    let settings = RedisSettings::from_uri(uri)?;
    Ok(StoreHandle::read_write(Arc::new(RedisStore::new(settings))))
}

#[cfg(not(feature = "redis"))]
fn redis(uri: &str) -> Result<StoreHandle, StoreError> {
    Err(not_built(uri, "Redis", "redis"))
}

/// A backend this build leaves out (see the module docs).
#[cfg(not(all(feature = "azure", feature = "redis")))]
fn not_built(uri: &str, backend: &str, feature: &str) -> StoreError {
    StoreError::InvalidUri {
        uri: uri.to_owned(),
        why: format!(
            "this topten was built without {backend} (cargo feature `{feature}`, on by default: \
             `cargo build --release --bin topten`)"
        ),
    }
}
