//! Reading what other instances wrote, once per cache lifetime, from a little before the
//! previous read began: the live catalogue changes and the item factors solved from live
//! events are both read this way.
//!
//! Each read starts from when the previous read *began* (this instance's clock), less a margin
//! for instances whose clocks run behind, not from the newest change seen: after a bulk
//! change and quiet, every read would otherwise fetch the whole bulk again. Only a read that
//! succeeded moves the window on, so a failed one is read again next time.

use std::time::{Duration, Instant};

/// How far back each read looks before the previous one began: the clocks of the instances
/// that write may differ by this much.
pub const CLOCK_SKEW_MS: i64 = 5_000;

/// When the previous read began and was due, for one kind of change.
#[derive(Debug, Default)]
pub struct PollWindow {
    /// When the previous read was begun (for the cache lifetime).
    begun: Option<Instant>,
    /// When the previous read that succeeded began (epoch ms; 0 before the first).
    read_from_ms: i64,
}

impl PollWindow {
    /// Whether a read is due (none yet, or the last begun `ttl` or more ago).
    pub fn due(&self, ttl: Duration) -> bool {
        self.begun.is_none_or(|at| at.elapsed() >= ttl)
    }

    /// Begins a read when one is due: the time to read from (epoch ms). `None` when not due,
    /// so one request reads and the others go on.
    pub fn begin(&mut self, ttl: Duration) -> Option<i64> {
        if !self.due(ttl) {
            return None;
        }
        self.begun = Some(Instant::now());
        Some(if self.read_from_ms == 0 {
            0
        } else {
            self.read_from_ms - CLOCK_SKEW_MS
        })
    }

    /// A read begun at `started_ms` (epoch ms) succeeded: the next reads from there.
    pub fn succeeded(&mut self, started_ms: i64) {
        self.read_from_ms = self.read_from_ms.max(started_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_due_once_per_lifetime_and_look_back_past_the_last_success() {
        let ttl = Duration::from_secs(60);
        let mut w = PollWindow::default();
        assert!(w.due(ttl));
        assert_eq!(w.begin(ttl), Some(0));
        assert!(!w.due(ttl));
        assert_eq!(w.begin(ttl), None);
        w.succeeded(100_000);
        w.succeeded(50_000); // an older read finishing late does not move it back
        let mut w2 = PollWindow { begun: None, ..w };
        assert_eq!(w2.begin(ttl), Some(100_000 - CLOCK_SKEW_MS));
        // With no lifetime, every request reads.
        assert_eq!(w2.begin(Duration::ZERO), Some(100_000 - CLOCK_SKEW_MS));
    }
}
