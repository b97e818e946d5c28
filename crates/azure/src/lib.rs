//! topten on Azure: where training input and model directories live in Blob Storage, and the
//! Cosmos DB implementation of the store interfaces.
//!
//! Everything here talks to Azure through the official SDK crates (`azure_core`,
//! `azure_identity`, `azure_storage_blob`, `azure_data_cosmos`, pinned exactly), on a Tokio
//! runtime. Local stand-ins (Azurite, the Cosmos-compatible server) speak the same protocols,
//! and the tests run against them.
//!
//! Entra ID credentials (managed identity or the developer's login) come from
//! `topten_credential`, which the Redis store shares.
//!
//! Two cargo features, both on by default, hold the heavy parts: `sdk` (the Azure SDK: Blob
//! Storage and Cosmos DB) and `spark` (Spark runs, through `topten_spark`'s Parquet reader).
//! Without `sdk`, [`blob::Location`] still names local files and refuses blob URLs with an error
//! that names the feature; `scripts/quickstart.sh` builds that way, in half the time.
//!
//! # Layout
//! - [`blob`]: `az://` and blob URLs ([`blob::Location`]: a local path or a blob): streaming
//!   reads, chunked uploads, listing, and reading ratings straight from a blob.
//! - [`model_dir`]: model directories under a blob prefix, uploaded so that a half-written one
//!   can never be loaded.
//! - [`spark_run`]: Spark models, id indexes and run directories, local or under a blob prefix.
//! - [`cosmos`]: the Cosmos DB store (settings, resilience, stored documents, the store itself).
#![deny(missing_docs)]

pub mod blob;
#[cfg(feature = "sdk")]
pub mod cosmos;
pub mod model_dir;
#[cfg(feature = "spark")]
pub mod spark_run;
