//! Staying up when Cosmos DB does not: a timeout and a circuit breaker around every read
//! ([`topten_store::breaker`]), and bounded retries with backoff (honouring `x-ms-retry-after-ms`) around every write.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use azure_data_cosmos::CosmosError;

use topten_store::breaker::Breaker;
use topten_store::{StoreError, WriteStats};

use super::settings::CosmosSettings;
use super::{backend_err, BACKEND};

/// Whether an error is worth retrying, and how long the service asked to wait.
pub(super) fn retryable(e: &CosmosError) -> (bool, Option<Duration>) {
    let status = e.status();
    let wait = e
        .response()
        .and_then(|r| r.headers().retry_after_ms)
        .map(Duration::from_millis);
    let code = u16::from(status);
    let transient = status.is_throttled()
        || status.is_timeout()
        || status.is_service_unavailable()
        || status.is_transient()
        || code >= 500
        || code == 0;
    (transient, wait)
}

pub(super) fn map_err(e: CosmosError) -> StoreError {
    let status = e.status();
    if status.is_conflict() || status.is_precondition_failed() {
        return StoreError::Conflict(format!("cosmos: {e}"));
    }
    if retryable(&e).0 {
        let retry_after_secs = e
            .response()
            .and_then(|r| r.headers().retry_after_ms)
            .map(|ms| ms.div_ceil(1000).max(1))
            .unwrap_or(1);
        return StoreError::Unavailable {
            backend: BACKEND,
            message: e.to_string(),
            retry_after_secs,
        };
    }
    backend_err(e)
}

/// The resilience of one store: its breaker, its timeouts and retry budget, and what the
/// writes have cost (request units, throttling, retries).
#[derive(Debug)]
pub(super) struct Resilience {
    breaker: Breaker,
    read_timeout: Duration,
    write_timeout: Duration,
    max_retries: u32,
    request_units_milli: AtomicU64,
    throttled: AtomicU64,
    retries: AtomicU64,
}

impl Resilience {
    /// The policy `settings` ask for, with nothing counted yet.
    pub(super) fn new(settings: &CosmosSettings) -> Self {
        Resilience {
            breaker: Breaker::new(BACKEND, settings.breaker_failures, settings.breaker_open),
            read_timeout: settings.read_timeout,
            write_timeout: settings.write_timeout,
            max_retries: settings.max_retries,
            request_units_milli: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            retries: AtomicU64::new(0),
        }
    }

    /// Request units, throttled writes and retries so far.
    pub(super) fn stats(&self) -> WriteStats {
        WriteStats {
            request_units: self.request_units_milli.load(Ordering::Relaxed) as f64 / 1000.0,
            throttled: self.throttled.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
        }
    }

    /// Counts one retry (of a query, which retries on its own).
    pub(super) fn count_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Runs a read under the timeout and the circuit breaker.
    pub(super) async fn guarded<T, F>(&self, what: &str, f: F) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = Result<T, StoreError>>,
    {
        self.breaker.guarded(what, self.read_timeout, f).await
    }

    pub(super) fn add_charge(&self, ru: Option<f64>) {
        if let Some(ru) = ru {
            self.request_units_milli
                .fetch_add((ru * 1000.0).round() as u64, Ordering::Relaxed);
        }
    }

    /// One write with retries on throttling and transient failures.
    pub(super) async fn write_with_retry<F, Fut>(
        &self,
        what: &str,
        mut op: F,
    ) -> Result<(), StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<
            Output = azure_data_cosmos::Result<azure_data_cosmos::models::ItemResponse>,
        >,
    {
        let mut attempt = 0u32;
        loop {
            let outcome = tokio::time::timeout(self.write_timeout, op()).await;
            let (err, transient, wait) = match outcome {
                Ok(Ok(resp)) => {
                    self.add_charge(resp.headers().request_charge().map(|c| f64::from(*c)));
                    return Ok(());
                }
                Ok(Err(e)) => {
                    let (transient, wait) = retryable(&e);
                    if e.status().is_throttled() {
                        self.throttled.fetch_add(1, Ordering::Relaxed);
                    }
                    if !transient {
                        return Err(map_err(e));
                    }
                    (e.to_string(), true, wait)
                }
                Err(_) => (
                    format!("no answer within {} ms", self.write_timeout.as_millis()),
                    true,
                    None,
                ),
            };
            if !transient || attempt >= self.max_retries {
                return Err(StoreError::Unavailable {
                    backend: BACKEND,
                    message: format!("{what}: gave up after {} attempts: {err}", attempt + 1),
                    retry_after_secs: 5,
                });
            }
            // The service's own hint wins; otherwise exponential backoff from 100 ms, capped at 5 s.
            let backoff = wait.unwrap_or_else(|| {
                Duration::from_millis(100u64 << attempt.min(6)).min(Duration::from_secs(5))
            });
            tracing::debug!(what, attempt, wait_ms = backoff.as_millis() as u64, error = %err, "cosmos write retry");
            self.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(backoff).await;
            attempt += 1;
        }
    }
}
