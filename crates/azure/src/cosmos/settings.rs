//! Where the Cosmos DB store is and how to talk to it: the store URI and the `COSMOS_*`
//! settings that tune it.

use std::time::Duration;

use azure_data_cosmos::options::ReadConsistencyStrategy;

use topten_store::env_setting::{env_millis, env_or as env};
use topten_store::StoreError;

/// How to authenticate.
#[derive(Clone)]
pub enum CosmosAuth {
    /// Microsoft Entra ID (managed identity in Azure, developer tools locally): see [`crate::credential`].
    EntraId,
    /// Account key: local emulators only (`COSMOS_KEY`).
    Key(String),
}

impl std::fmt::Debug for CosmosAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CosmosAuth::EntraId => f.write_str("EntraId"),
            CosmosAuth::Key(_) => f.write_str("Key(..)"),
        }
    }
}

/// Where the store is and how to talk to it; see [`CosmosSettings::from_uri`] for the settings.
#[derive(Debug, Clone)]
pub struct CosmosSettings {
    /// Account endpoint, e.g. `https://ACCOUNT.documents.azure.com:443/`.
    pub endpoint: String,
    /// Database name.
    pub database: String,
    /// Container name.
    pub container: String,
    /// Authentication.
    pub auth: CosmosAuth,
    /// Read consistency: `Session` (default) or `Eventual` (cheaper, may lag a fresh publish).
    pub consistency: ReadConsistencyStrategy,
    /// Timeout of one read.
    pub read_timeout: Duration,
    /// Timeout of one write attempt.
    pub write_timeout: Duration,
    /// Upserts in flight while publishing.
    pub write_concurrency: usize,
    /// Retries of one write on 429, 5xx, timeouts and transport errors.
    pub max_retries: u32,
    /// Consecutive read failures that open the circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker fails reads at once.
    pub breaker_open: Duration,
    /// Create the database and container when missing (needs key auth or control-plane rights).
    pub create_if_missing: bool,
    /// Preferred region for routing (`TOPTEN_COSMOS_REGION`, else the Functions `REGION_NAME`).
    pub region: String,
    /// `TOPTEN_ANSWER_COUNTS_RETENTION`: each instance's answer-count document carries it as
    /// its per-document TTL, so Cosmos DB deletes the counts of an instance that stopped
    /// saving by itself.
    pub answer_counts_retention: Option<Duration>,
}

/// Upserts in flight for a provisioned throughput: an upsert of a 50-item document costs about
/// 10 RU and takes about 10 ms, so one writer uses about 1,000 RU/s. Without a figure
/// (serverless, autoscale, emulators): 32, and 429s pace the rest.
pub(super) fn default_concurrency(ru_per_sec: u64) -> usize {
    match ru_per_sec {
        0 => 32,
        ru => (ru / 1000).clamp(1, 256) as usize,
    }
}

impl CosmosSettings {
    /// Parses a store URI and reads the settings from the environment.
    ///
    /// URIs: `cosmos://ACCOUNT.documents.azure.com/DB/CONTAINER` (HTTPS on 443), or for an
    /// emulator `cosmos+http://127.0.0.1:PORT/DB/CONTAINER` (also `cosmos+https://`, and plain
    /// `http(s)://HOST:PORT/DB/CONTAINER`).
    ///
    /// Settings: `COSMOS_KEY` (key auth, loopback emulators only; otherwise Entra ID, see
    /// [`crate::credential`]), `TOPTEN_COSMOS_CONSISTENCY` (`session` | `eventual`),
    /// `TOPTEN_COSMOS_TIMEOUT_MS` (read timeout, 2000), `TOPTEN_COSMOS_WRITE_TIMEOUT_MS` (10000),
    /// `TOPTEN_COSMOS_CONCURRENCY` (upserts in flight; default from `TOPTEN_COSMOS_RU_PER_SEC`,
    /// the provisioned throughput, else 32), `TOPTEN_COSMOS_MAX_RETRIES` (10),
    /// `TOPTEN_COSMOS_BREAKER_FAILURES` (5), `TOPTEN_COSMOS_BREAKER_OPEN_MS` (5000),
    /// `TOPTEN_COSMOS_CREATE` (create database and container; default: with key auth),
    /// `TOPTEN_COSMOS_REGION`.
    pub fn from_uri(uri: &str) -> Result<Self, StoreError> {
        let invalid = |why: String| StoreError::InvalidUri {
            uri: uri.to_owned(),
            why,
        };
        let (scheme, rest) = uri.split_once("://").ok_or_else(|| {
            invalid("expected cosmos://ACCOUNT.documents.azure.com/DB/CONTAINER".into())
        })?;
        let (host, path) = rest
            .split_once('/')
            .ok_or_else(|| invalid("missing /DB/CONTAINER".into()))?;
        let mut parts = path.trim_end_matches('/').split('/');
        let (Some(database), Some(container), None) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid(
                "expected exactly /DB/CONTAINER after the host".into(),
            ));
        };
        if host.is_empty() || database.is_empty() || container.is_empty() {
            return Err(invalid(
                "host, database and container must not be empty".into(),
            ));
        }
        let endpoint = match scheme {
            "cosmos" | "cosmos+https" | "https" if host.contains(':') => format!("https://{host}/"),
            "cosmos" | "cosmos+https" | "https" => format!("https://{host}:443/"),
            "cosmos+http" | "http" => format!("http://{host}/"),
            other => return Err(invalid(format!("unknown scheme {other:?}"))),
        };
        let hostname = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
        let loopback = topten_credential::is_loopback(hostname);
        if endpoint.starts_with("http://") && !loopback {
            return Err(invalid(
                "plain http:// is only for emulators on this machine (127.0.0.1, localhost)".into(),
            ));
        }
        let auth = match std::env::var("COSMOS_KEY").ok().filter(|k| !k.is_empty()) {
            Some(_) if !loopback => {
                return Err(invalid(
                    "COSMOS_KEY is set, but key auth is only for local emulators; in Azure, topten uses Microsoft Entra ID (managed identity): unset COSMOS_KEY".into(),
                ))
            }
            Some(k) => CosmosAuth::Key(k),
            None => CosmosAuth::EntraId,
        };
        let consistency = match std::env::var("TOPTEN_COSMOS_CONSISTENCY")
            .unwrap_or_default()
            .to_ascii_lowercase()
            .as_str()
        {
            "" | "session" => ReadConsistencyStrategy::Session,
            "eventual" => ReadConsistencyStrategy::Eventual,
            other => {
                return Err(invalid(format!(
                    "TOPTEN_COSMOS_CONSISTENCY={other:?}: expected session or eventual"
                )))
            }
        };
        let ms = |name: &str, d: u64| env_millis(name, d).map_err(&invalid);
        Ok(CosmosSettings {
            endpoint,
            database: database.to_owned(),
            container: container.to_owned(),
            create_if_missing: env("TOPTEN_COSMOS_CREATE", matches!(auth, CosmosAuth::Key(_)))
                .map_err(&invalid)?,
            auth,
            consistency,
            read_timeout: ms("TOPTEN_COSMOS_TIMEOUT_MS", 2000)?,
            write_timeout: ms("TOPTEN_COSMOS_WRITE_TIMEOUT_MS", 10_000)?,
            write_concurrency: env(
                "TOPTEN_COSMOS_CONCURRENCY",
                default_concurrency(env("TOPTEN_COSMOS_RU_PER_SEC", 0u64).map_err(&invalid)?),
            )
            .map_err(&invalid)?
            .max(1),
            max_retries: env("TOPTEN_COSMOS_MAX_RETRIES", 10u32).map_err(&invalid)?,
            breaker_failures: env("TOPTEN_COSMOS_BREAKER_FAILURES", 5u32)
                .map_err(&invalid)?
                .max(1),
            breaker_open: ms("TOPTEN_COSMOS_BREAKER_OPEN_MS", 5000)?,
            region: std::env::var("TOPTEN_COSMOS_REGION")
                .or_else(|_| std::env::var("REGION_NAME"))
                .unwrap_or_else(|_| "East US".into()),
            answer_counts_retention: topten_store::env_setting::env_retention(
                "TOPTEN_ANSWER_COUNTS_RETENTION",
            )
            .map_err(&invalid)?,
        })
    }
}
