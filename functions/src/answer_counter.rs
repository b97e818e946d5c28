//! This instance's answer counts: one in-memory add per answer on the GET path, saved to the
//! store by a background task (`TOPTEN_COUNTS_SAVE_SECS`) under this instance's own id
//! ([`topten_store::answer_counts`]).
//!
//! The rows are few (versions × arms × hours), so a short vector under a mutex beats a hash
//! map: counting compares a version string with the newest rows and allocates nothing.

use std::sync::Mutex;

use topten_experiments::Arm;
use topten_live::online_report::hour_of;
use topten_store::answer_counts::{AnswerCountRow, AnswerCounts, KEEP_HOURS};

/// Answers counted by this instance since it started.
pub struct AnswerCounter {
    instance: String,
    rows: Mutex<Vec<AnswerCountRow>>,
}

impl AnswerCounter {
    /// A counter under `instance`: unique per process start, so a restarted instance never
    /// overwrites the counts its previous life saved.
    pub fn new(instance: String) -> Self {
        AnswerCounter {
            instance,
            rows: Mutex::new(Vec::new()),
        }
    }

    /// An id for this process: `TOPTEN_INSTANCE_ID` (the Functions host's
    /// `WEBSITE_INSTANCE_ID` otherwise), the host name, the process id and the start time.
    pub fn instance_id() -> String {
        let host = std::env::var("TOPTEN_INSTANCE_ID")
            .or_else(|_| std::env::var("WEBSITE_INSTANCE_ID"))
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "host".into());
        let host: String = host.chars().filter(|c| !c.is_control()).take(64).collect();
        format!(
            "{host}:{}:{}",
            std::process::id(),
            topten_model::clock::now_ms()
        )
    }

    /// Counts one answer of `version` (and `arm`) at `now_ms`.
    pub fn count(&self, version: &str, arm: Option<Arm>, now_ms: i64) {
        let hour_ms = hour_of(now_ms);
        let mut rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        // The current hour's rows are the newest.
        if let Some(row) = rows
            .iter_mut()
            .rev()
            .take_while(|r| r.hour_ms == hour_ms)
            .find(|r| r.arm == arm && r.version == version)
        {
            row.answers += 1;
            return;
        }
        rows.retain(|r| r.hour_ms >= hour_ms - KEEP_HOURS * 3_600_000);
        rows.push(AnswerCountRow {
            version: version.to_owned(),
            arm,
            hour_ms,
            answers: 1,
        });
    }

    /// The counts as this instance's document.
    pub fn snapshot(&self) -> AnswerCounts {
        AnswerCounts {
            instance: self.instance.clone(),
            saved_ms: topten_model::clock::now_ms(),
            rows: self.rows.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_version_arm_and_hour() {
        let c = AnswerCounter::new("i".into());
        let h = 3_600_000;
        for (v, arm, t) in [
            ("v1", None, 10 * h),
            ("v1", None, 10 * h + 5),
            ("v2", Some(Arm::Candidate), 10 * h + 7),
            ("v1", Some(Arm::Control), 10 * h + 9),
            ("v1", None, 11 * h),
            ("v1", None, 10 * h + 100), // a late request of the previous hour
        ] {
            c.count(v, arm, t);
        }
        let rows: Vec<(String, Option<Arm>, i64, u64)> = c
            .snapshot()
            .rows
            .into_iter()
            .map(|r| (r.version, r.arm, r.hour_ms, r.answers))
            .collect();
        let mut summed: std::collections::BTreeMap<(String, Option<&str>, i64), u64> =
            Default::default();
        for (v, a, hour, n) in &rows {
            *summed
                .entry((v.clone(), a.map(Arm::as_str), *hour))
                .or_default() += n;
        }
        assert_eq!(summed[&("v1".to_owned(), None, 10 * h)], 3);
        assert_eq!(summed[&("v1".to_owned(), None, 11 * h)], 1);
        assert_eq!(summed[&("v2".to_owned(), Some("candidate"), 10 * h)], 1);
        assert_eq!(summed[&("v1".to_owned(), Some("control"), 10 * h)], 1);
        assert_eq!(rows.iter().map(|r| r.3).sum::<u64>(), 6);
    }
}
