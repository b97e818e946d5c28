//! The Cosmos DB (NoSQL API) store, through the official `azure_data_cosmos` SDK: what serves
//! in Azure.
//!
//! # Document model
//! One container, partition key path `/userId`:
//! - a user's list in a version: `{id: "{version}:{userId}", userId, items, modelVersion,
//!   createdAt}` (exactly [`topten_store::UserRecs`]), partition key = the user id, so serving is one point
//!   read (id + partition key: 1 RU for a 1 KB document, the cheapest operation Cosmos has);
//! - metadata in the one logical partition [`META_PARTITION`]: `active` (the pointer the
//!   handler caches), `version:{v}` (a [`topten_store::VersionInfo`]) and `popular:{v}` (the cold-start
//!   list). One small partition keeps `topten versions` a single-partition query and the
//!   pointer switch one atomic single-document write.
//!
//! Versioning by id prefix (rather than a container per version) keeps the switch atomic
//! without control-plane rights, which Entra ID data-plane roles do not grant. Old versions'
//! documents stay until `topten prune` deletes them.
//!
//! Characters Cosmos forbids in ids (`/ \ ? #`) are percent-escaped in the stored id (and `%`
//! with them); ids of ordinary users are exactly `{version}:{userId}`.
//!
//! # Writes
//! Upserts fan out with bounded concurrency ([`CosmosSettings::write_concurrency`]); the SDK's
//! own throttling retries are turned off for writes so that this module sees each 429, waits
//! what `x-ms-retry-after-ms` says, counts it and retries (also on 5xx, timeouts and transport
//! errors, with exponential backoff), up to [`CosmosSettings::max_retries`] times. Upserts are
//! idempotent, so a retried write never duplicates a document. Request units are summed from
//! `x-ms-request-charge` for the progress bar. `finish_version` counts the version's documents
//! with a query before marking it complete.
//!
//! # Reads
//! Every read runs under a timeout and a circuit breaker: after
//! [`CosmosSettings::breaker_failures`] consecutive failures, reads fail at once for
//! [`CosmosSettings::breaker_open`] with [`StoreError::Unavailable`] (the API answers 503 with
//! `Retry-After`) instead of piling up requests on a store that does not answer.

mod documents;
mod erasure;
mod resilience;
mod settings;
mod store;

pub use documents::META_PARTITION;
pub use settings::{CosmosAuth, CosmosSettings};
pub use store::CosmosStore;

use topten_store::StoreError;

const BACKEND: &str = "cosmos";

fn backend_err(message: impl std::fmt::Display) -> StoreError {
    StoreError::Backend {
        backend: BACKEND,
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::documents::*;
    use super::settings::*;

    #[test]
    fn uris_and_ids() {
        let s = CosmosSettings::from_uri("cosmos://acct.documents.azure.com/db/recs").unwrap();
        assert_eq!(
            (
                s.endpoint.as_str(),
                s.database.as_str(),
                s.container.as_str()
            ),
            ("https://acct.documents.azure.com:443/", "db", "recs")
        );
        let s = CosmosSettings::from_uri("cosmos+http://127.0.0.1:8081/db/recs").unwrap();
        assert_eq!(s.endpoint, "http://127.0.0.1:8081/");
        assert!(
            CosmosSettings::from_uri("cosmos+http://example.com:8081/db/recs").is_err(),
            "plain http only on loopback"
        );
        assert!(CosmosSettings::from_uri("cosmos://acct.documents.azure.com/db").is_err());
        assert!(CosmosSettings::from_uri("cosmos://acct.documents.azure.com/db/c/x").is_err());
        assert_eq!(
            (
                default_concurrency(0),
                default_concurrency(400),
                default_concurrency(10_000)
            ),
            (32, 1, 10)
        );
        assert_eq!(escape_id("v1:alice"), "v1:alice");
        assert_eq!(escape_id("v1:a/b?c#d%e\\"), "v1:a%2Fb%3Fc%23d%25e%5C");
    }
}
