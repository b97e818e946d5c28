//! Where the Redis store is and how to talk to it: the store URI and the `TOPTEN_REDIS_*`
//! settings that tune it.

use std::time::Duration;

use topten_store::env_setting::{env_millis, env_or as env};
use topten_store::StoreError;

/// How to authenticate.
#[derive(Clone, PartialEq, Eq)]
pub enum RedisAuth {
    /// No authentication (a local server without `requirepass`).
    None,
    /// A password (`REDIS_PASSWORD`): servers on this machine only.
    Password(String),
    /// Microsoft Entra ID (managed identity in Azure, developer tools locally; see
    /// [`topten_credential`]): the identity's object id as user name, an access token as
    /// password, refreshed before it expires.
    EntraId,
}

impl std::fmt::Debug for RedisAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedisAuth::None => f.write_str("None"),
            RedisAuth::Password(_) => f.write_str("Password(..)"),
            RedisAuth::EntraId => f.write_str("EntraId"),
        }
    }
}

/// Where the store is and how to talk to it; see [`RedisSettings::from_uri`].
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Database number.
    pub db: i64,
    /// TLS (`rediss://`).
    pub tls: bool,
    /// Authentication.
    pub auth: RedisAuth,
    /// Every key starts with `{prefix}:`; the braces make it a hash tag, so all of topten's keys
    /// share one slot and its scripts and transactions work behind a cluster proxy.
    pub prefix: String,
    /// PEM file of the certificate authority to trust instead of the system's (a private CA).
    pub ca_file: Option<std::path::PathBuf>,
    /// Timeout of one read.
    pub read_timeout: Duration,
    /// Timeout of one write round trip (a pipelined batch).
    pub write_timeout: Duration,
    /// Retries of one write after a connection failure or timeout.
    pub max_retries: u32,
    /// Consecutive read failures that open the circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker fails reads at once.
    pub breaker_open: Duration,
    /// User documents per pipelined round trip while publishing.
    pub batch: usize,
}

impl RedisSettings {
    /// Parses a store URI and reads the settings from the environment.
    ///
    /// URIs: `rediss://NAME.redis.cache.windows.net:6380` (Azure Cache for Redis, TLS, Entra
    /// ID), `rediss://NAME.REGION.redis.azure.net:10000` (Azure Managed Redis), and for a server
    /// on this machine `redis://127.0.0.1:6379/DB`. A path `/N` picks database N (0 by default);
    /// `?prefix=NAME` puts every key under `{NAME}:` (default `topten`), so several stores can
    /// share one server.
    ///
    /// Settings: `REDIS_PASSWORD` (password auth, servers on this machine only; otherwise TLS
    /// hosts use Entra ID, see [`topten_credential`]), `TOPTEN_REDIS_CA_FILE` (PEM of
    /// a private certificate authority), `TOPTEN_REDIS_TIMEOUT_MS` (read timeout, 1000),
    /// `TOPTEN_REDIS_WRITE_TIMEOUT_MS` (10000), `TOPTEN_REDIS_MAX_RETRIES` (5),
    /// `TOPTEN_REDIS_BREAKER_FAILURES` (5), `TOPTEN_REDIS_BREAKER_OPEN_MS` (5000),
    /// `TOPTEN_REDIS_BATCH` (documents per pipelined write, 500).
    pub fn from_uri(uri: &str) -> Result<Self, StoreError> {
        let invalid = |why: String| StoreError::InvalidUri {
            uri: uri.to_owned(),
            why,
        };
        let (scheme, rest) = uri.split_once("://").ok_or_else(|| {
            invalid("expected rediss://HOST:PORT or redis://127.0.0.1:PORT/DB".into())
        })?;
        let tls = match scheme {
            "rediss" => true,
            "redis" => false,
            other => return Err(invalid(format!("unknown scheme {other:?}"))),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        if rest.contains('@') {
            return Err(invalid(
                "credentials do not go in the URI: set REDIS_PASSWORD (local servers) or use Entra ID".into(),
            ));
        }
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| invalid(format!("port {p:?} is not a number")))?,
            ),
            None => (authority, if tls { 6380 } else { 6379 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(invalid("the host is missing".into()));
        }
        let db = match path.trim_end_matches('/') {
            "" => 0,
            n => n
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| invalid(format!("database {n:?} is not a number")))?,
        };
        let mut prefix = "topten".to_owned();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("prefix", p))
                    if !p.is_empty()
                        && p.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
                {
                    prefix = p.to_owned()
                }
                _ => {
                    return Err(invalid(format!(
                        "unknown or invalid parameter {pair:?}; supported: prefix=NAME (letters, digits, - _ .)"
                    )))
                }
            }
        }
        let loopback = topten_credential::is_loopback(host);
        if !tls && !loopback {
            return Err(invalid(
                "plain redis:// is only for servers on this machine (127.0.0.1, localhost); use rediss://".into(),
            ));
        }
        let auth = match std::env::var("REDIS_PASSWORD").ok().filter(|k| !k.is_empty()) {
            Some(_) if !loopback => {
                return Err(invalid(
                    "REDIS_PASSWORD is set, but access keys are only for servers on this machine; in Azure, topten uses Microsoft Entra ID (managed identity): unset REDIS_PASSWORD".into(),
                ))
            }
            Some(p) => RedisAuth::Password(p),
            None if loopback => RedisAuth::None,
            None => RedisAuth::EntraId,
        };
        let ms = |name: &str, d: u64| env_millis(name, d).map_err(&invalid);
        Ok(RedisSettings {
            host: host.to_owned(),
            port,
            db,
            tls,
            auth,
            prefix,
            ca_file: std::env::var_os("TOPTEN_REDIS_CA_FILE")
                .filter(|v| !v.is_empty())
                .map(Into::into),
            read_timeout: ms("TOPTEN_REDIS_TIMEOUT_MS", 1000)?,
            write_timeout: ms("TOPTEN_REDIS_WRITE_TIMEOUT_MS", 10_000)?,
            max_retries: env("TOPTEN_REDIS_MAX_RETRIES", 5u32).map_err(&invalid)?,
            breaker_failures: env("TOPTEN_REDIS_BREAKER_FAILURES", 5u32)
                .map_err(&invalid)?
                .max(1),
            breaker_open: ms("TOPTEN_REDIS_BREAKER_OPEN_MS", 5000)?,
            batch: env("TOPTEN_REDIS_BATCH", 500usize)
                .map_err(&invalid)?
                .max(1),
        })
    }

    /// `host:port/db` for messages (never a secret).
    pub fn describe(&self) -> String {
        format!(
            "{}://{}:{}/{}",
            if self.tls { "rediss" } else { "redis" },
            self.host,
            self.port,
            self.db
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_choose_host_port_db_tls_and_prefix() {
        let s = RedisSettings::from_uri("rediss://cache.redis.cache.windows.net:6380").unwrap();
        assert_eq!(
            (
                s.host.as_str(),
                s.port,
                s.db,
                s.tls,
                &s.auth,
                s.prefix.as_str()
            ),
            (
                "cache.redis.cache.windows.net",
                6380,
                0,
                true,
                &RedisAuth::EntraId,
                "topten"
            )
        );
        let s = RedisSettings::from_uri("redis://127.0.0.1:7000/3?prefix=shop-a").unwrap();
        assert_eq!(
            (s.port, s.db, s.tls, &s.auth, s.prefix.as_str()),
            (7000, 3, false, &RedisAuth::None, "shop-a")
        );
        assert_eq!(
            RedisSettings::from_uri("rediss://x.redis.azure.net")
                .unwrap()
                .port,
            6380
        );
        for bad in [
            "redis://cache.example.com:6379",
            "redis://127.0.0.1:x",
            "redis://127.0.0.1:6379/-1",
            "redis://127.0.0.1:6379?prefix=a}b",
            "redis://127.0.0.1:6379?db=2",
            "redis://user:pw@127.0.0.1:6379",
            "rediss://:6380",
            "memcached://127.0.0.1",
        ] {
            assert!(
                RedisSettings::from_uri(bad).is_err(),
                "{bad} must be refused"
            );
        }
    }
}
