//! Staying up when a networked store does not: a timeout and a circuit breaker around reads.
//!
//! A store that keeps failing gets no more reads for a while: the handler answers 503 with
//! `Retry-After` at once instead of queueing requests behind a dead connection. Cosmos DB and
//! Redis use the same breaker, so they fail and recover the same way.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::StoreError;

/// closed → (`threshold` consecutive failures) → open for `open_for` (reads fail fast) →
/// half-open (the next read tries again; a success closes it).
#[derive(Debug)]
pub struct Breaker {
    backend: &'static str,
    failures: AtomicU32,
    open_until: Mutex<Option<Instant>>,
    threshold: u32,
    open_for: Duration,
}

impl Breaker {
    /// A closed breaker for `backend` (named in its errors).
    pub fn new(backend: &'static str, threshold: u32, open_for: Duration) -> Self {
        Breaker {
            backend,
            failures: AtomicU32::new(0),
            open_until: Mutex::new(None),
            threshold: threshold.max(1),
            open_for,
        }
    }

    /// `Ok` unless the breaker is open; then the error says how long it stays open.
    pub fn check(&self) -> Result<(), StoreError> {
        let guard = self.open_until.lock().unwrap();
        match *guard {
            Some(until) if Instant::now() < until => {
                let secs = until
                    .saturating_duration_since(Instant::now())
                    .as_secs_f64()
                    .ceil()
                    .max(1.0) as u64;
                Err(StoreError::Unavailable {
                    backend: self.backend,
                    message: "circuit breaker open after repeated failures".into(),
                    retry_after_secs: secs,
                })
            }
            _ => Ok(()),
        }
    }

    /// Records a success: the breaker closes.
    pub fn success(&self) {
        self.failures.store(0, Ordering::Relaxed);
        *self.open_until.lock().unwrap() = None;
    }

    /// Records a failure: the breaker opens at the threshold.
    pub fn failure(&self) {
        let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= self.threshold {
            *self.open_until.lock().unwrap() = Some(Instant::now() + self.open_for);
        }
    }

    /// Runs a read under `timeout` and the breaker. Unavailability, backend failures and
    /// timeouts count as failures; answers (including "not found" and conflicts) as successes.
    pub async fn guarded<T, F>(&self, what: &str, timeout: Duration, f: F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>>,
    {
        self.check()?;
        match tokio::time::timeout(timeout, f).await {
            Ok(Ok(v)) => {
                self.success();
                Ok(v)
            }
            Ok(Err(e)) => {
                if matches!(
                    e,
                    StoreError::Unavailable { .. } | StoreError::Backend { .. }
                ) {
                    self.failure();
                }
                Err(e)
            }
            Err(_) => {
                self.failure();
                Err(StoreError::Unavailable {
                    backend: self.backend,
                    message: format!("{what} took longer than {} ms", timeout.as_millis()),
                    retry_after_secs: 1,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_after_threshold_and_recovers() {
        let b = Breaker::new("test", 2, Duration::from_millis(50));
        b.failure();
        assert!(b.check().is_ok());
        b.failure();
        assert!(matches!(
            b.check(),
            Err(StoreError::Unavailable {
                retry_after_secs: 1,
                backend: "test",
                ..
            })
        ));
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.check().is_ok(), "half-open after the cool-down");
        b.success();
        assert!(b.check().is_ok());
    }

    #[tokio::test]
    async fn a_slow_read_times_out_and_counts_as_a_failure() {
        let b = Breaker::new("test", 1, Duration::from_secs(60));
        let slow = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, StoreError>(())
        };
        let e = b.guarded("read", Duration::from_millis(10), slow).await;
        assert!(matches!(e, Err(StoreError::Unavailable { .. })), "{e:?}");
        assert!(
            b.check().is_err(),
            "one failure opens a threshold-1 breaker"
        );
        let not_found = async { Err::<(), _>(StoreError::NotFound("x".into())) };
        b.success();
        let _ = b.guarded("read", Duration::from_secs(1), not_found).await;
        assert!(b.check().is_ok(), "an answer is not a failure");
    }
}
