//! What happened online: figures per version and hour, and the report of the running
//! experiment, summed from stored events (each carrying its attribution) and the instances'
//! answer counts.
//!
//! Nothing here keeps a counter of its own: events are attributed once, when they arrive
//! ([`crate::attribution`]), so every figure is a pure function of what is stored, the same on
//! every instance and after every retry.
//!
//! **CTR** is attributed clicks per list shown. Lists shown are the impressions the caller
//! reports; when a row (or an arm) has none, its answers stand in and `ctrBasis` says so. In
//! the experiment report the units are users, not answers (one user's answers are not
//! independent): CTR on impressions is a ratio over users with a delta-method interval, and
//! the conversion rate is the share of users with an attributed purchase, with a Wilson
//! interval and the pooled two-proportion z-test ([`topten_experiments::stats`]). CTR on
//! answers has no per-user denominator (answers are counted per instance, not per user), so
//! it gets the answer-level Wilson interval and test, which assume independent answers and are
//! marked as such.

use std::collections::{BTreeMap, HashMap};

use topten_experiments::{
    assign, compare_proportions, compare_ratios, Arm, Comparison, Estimate, Proportion, RatioSums,
};

use crate::attribution::{is_conversion, is_positive, Rules};
use topten_store::answer_counts::AnswerCounts;
use topten_store::events::{StoredEvent, IMPRESSION};
use topten_store::Experiment;

const HOUR_MS: i64 = 3_600_000;
const MINUTE_MS: i64 = 60_000;

/// The start of the hour `ms` falls in.
pub fn hour_of(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// What a CTR divides by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CtrBasis {
    /// Impressions the caller reported.
    Impressions,
    /// Answers served (no impressions were reported).
    Answers,
}

/// One version (and arm) in one hour.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HourFigures {
    /// The hour's start, epoch milliseconds.
    pub hour_ms: i64,
    /// The version.
    pub version: String,
    /// The arm, while an experiment ran.
    pub arm: Option<Arm>,
    /// Answers served (from the instances' counts).
    pub answers: u64,
    /// Impressions reported.
    pub impressions: u64,
    /// Attributed positive events.
    pub clicks: u64,
    /// Attributed purchases.
    pub conversions: u64,
    /// Clicks per list shown (`None` with nothing shown).
    pub ctr: Option<f64>,
    /// What `ctr` divides by.
    pub ctr_basis: CtrBasis,
}

fn ctr_of(clicks: u64, impressions: u64, answers: u64) -> (Option<f64>, CtrBasis) {
    if impressions > 0 {
        (
            Some(clicks as f64 / impressions as f64),
            CtrBasis::Impressions,
        )
    } else if answers > 0 {
        (Some(clicks as f64 / answers as f64), CtrBasis::Answers)
    } else {
        (None, CtrBasis::Answers)
    }
}

/// Figures per hour, version and arm, from `from_ms` on, oldest first.
pub fn hourly(
    events: &[StoredEvent],
    counts: &[AnswerCounts],
    from_ms: i64,
    rules: &Rules,
) -> Vec<HourFigures> {
    // (hour, version, arm) -> [answers, impressions, clicks, conversions]
    let mut sums: BTreeMap<(i64, String, Option<Arm>), [u64; 4]> = BTreeMap::new();
    let from_hour = hour_of(from_ms);
    for row in counts.iter().flat_map(|c| &c.rows) {
        if row.hour_ms >= from_hour {
            sums.entry((row.hour_ms, row.version.clone(), row.arm))
                .or_default()[0] += row.answers;
        }
    }
    for e in events.iter().filter(|e| e.received_at_ms >= from_ms) {
        let Some(a) = &e.attribution else { continue };
        let entry = sums
            .entry((hour_of(e.received_at_ms), a.version.clone(), a.arm))
            .or_default();
        if e.kind == IMPRESSION {
            entry[1] += 1;
        } else if is_positive(e, rules) {
            entry[2] += 1;
            entry[3] += u64::from(is_conversion(e));
        }
    }
    sums.into_iter()
        .map(
            |((hour_ms, version, arm), [answers, impressions, clicks, conversions])| {
                let (ctr, ctr_basis) = ctr_of(clicks, impressions, answers);
                HourFigures {
                    hour_ms,
                    version,
                    arm,
                    answers,
                    impressions,
                    clicks,
                    conversions,
                    ctr,
                    ctr_basis,
                }
            },
        )
        .collect()
}

/// Events received per minute from `from_ms` to `to_ms`, every minute present (zeros too),
/// oldest first.
pub fn events_per_minute(events: &[StoredEvent], from_ms: i64, to_ms: i64) -> Vec<(i64, u64)> {
    let first = from_ms.div_euclid(MINUTE_MS);
    let last = to_ms.div_euclid(MINUTE_MS);
    if last < first {
        return Vec::new();
    }
    let mut counts = vec![0u64; (last - first + 1) as usize];
    for e in events {
        let m = e.received_at_ms.div_euclid(MINUTE_MS);
        if (first..=last).contains(&m) {
            counts[(m - first) as usize] += 1;
        }
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, n)| ((first + i as i64) * MINUTE_MS, n))
        .collect()
}

/// One arm of the experiment report.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArmReport {
    /// The arm.
    pub arm: Arm,
    /// The version serving it.
    pub version: String,
    /// Users of the arm with any event or impression since the experiment started.
    pub users: u64,
    /// Answers served by the arm.
    pub answers: u64,
    /// Impressions attributed to the arm.
    pub impressions: u64,
    /// Positive events attributed to the arm.
    pub clicks: u64,
    /// Purchases attributed to the arm.
    pub conversions: u64,
    /// Clicks per list shown, with its 95% interval.
    pub ctr: Option<Estimate>,
    /// What `ctr` divides by.
    pub ctr_basis: CtrBasis,
    /// The share of `users` with an attributed purchase, with its Wilson 95% interval.
    pub conversion_rate: Option<Estimate>,
}

/// The report of an experiment.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentReport {
    /// The experiment.
    pub experiment: Experiment,
    /// The arm served by the active version.
    pub control: ArmReport,
    /// The arm served by the candidate.
    pub candidate: ArmReport,
    /// Candidate CTR minus control CTR: interval, p-value and the test's name.
    pub ctr_difference: Option<Comparison>,
    /// Candidate conversion rate minus control's.
    pub conversion_difference: Option<Comparison>,
}

/// Per-user sums of one arm.
#[derive(Default, Clone, Copy)]
struct UserSums {
    impressions: u64,
    clicks: u64,
    conversions: u64,
}

/// The report of `experiment` (served against `control_version`) from the events received
/// since it started and the instances' answer counts.
pub fn experiment_report(
    experiment: &Experiment,
    control_version: &str,
    events: &[StoredEvent],
    counts: &[AnswerCounts],
    rules: &Rules,
) -> ExperimentReport {
    let started_ms =
        topten_model::clock::parse_rfc3339_ms(&experiment.started_at).unwrap_or(i64::MIN);
    let mut users: HashMap<&str, UserSums> = HashMap::new();
    for e in events.iter().filter(|e| e.received_at_ms >= started_ms) {
        let sums = users.entry(e.user_id.as_str()).or_default();
        let Some(a) = &e.attribution else { continue };
        if a.experiment.as_deref() != Some(experiment.id.as_str()) {
            continue;
        }
        if e.kind == IMPRESSION {
            sums.impressions += 1;
        } else if is_positive(e, rules) {
            sums.clicks += 1;
            sums.conversions += u64::from(is_conversion(e));
        }
    }
    let start_hour = hour_of(started_ms);
    let arm_report = |arm: Arm, version: &str| {
        let answers: u64 = counts
            .iter()
            .flat_map(|c| &c.rows)
            .filter(|r| r.arm == Some(arm) && r.version == version && r.hour_ms >= start_hour)
            .map(|r| r.answers)
            .sum();
        let mut ratio = RatioSums::default();
        let mut converted = Proportion::default();
        let (mut impressions, mut clicks, mut conversions) = (0, 0, 0);
        for (_, s) in users
            .iter()
            .filter(|(user, _)| assign(&experiment.id, user, experiment.share) == arm)
        {
            ratio.add(s.clicks as f64, s.impressions as f64);
            converted.trials += 1;
            converted.successes += u64::from(s.conversions > 0);
            impressions += s.impressions;
            clicks += s.clicks;
            conversions += s.conversions;
        }
        let report = ArmReport {
            arm,
            version: version.to_owned(),
            users: converted.trials,
            answers,
            impressions,
            clicks,
            conversions,
            ctr: None,
            ctr_basis: CtrBasis::Answers,
            conversion_rate: converted.estimate(),
        };
        (report, ratio, converted)
    };
    let (mut control, control_ratio, control_converted) = arm_report(Arm::Control, control_version);
    let (mut candidate, candidate_ratio, candidate_converted) =
        arm_report(Arm::Candidate, &experiment.candidate);
    let by_impressions = control.impressions > 0 && candidate.impressions > 0;
    let ctr_difference = if by_impressions {
        control.ctr = control_ratio.estimate();
        candidate.ctr = candidate_ratio.estimate();
        control.ctr_basis = CtrBasis::Impressions;
        candidate.ctr_basis = CtrBasis::Impressions;
        compare_ratios(&control_ratio, &candidate_ratio)
    } else {
        let per_answer = |r: &ArmReport| Proportion {
            successes: r.clicks.min(r.answers),
            trials: r.answers,
        };
        let (a, b) = (per_answer(&control), per_answer(&candidate));
        control.ctr = a.estimate();
        candidate.ctr = b.estimate();
        compare_proportions(a, b).map(|c| Comparison {
            method: "two-proportion z-test over answers (assumes independent answers: report \
                     impressions for a per-user test)",
            ..c
        })
    };
    let conversion_difference = compare_proportions(control_converted, candidate_converted);
    ExperimentReport {
        experiment: experiment.clone(),
        control,
        candidate,
        ctr_difference,
        conversion_difference,
    }
}

/// The running experiment's report, read from `store`: the events received since it started
/// and every instance's answer counts. `None` when no experiment runs.
pub async fn running_experiment_report(
    store: &dyn topten_store::Store,
    rules: &Rules,
) -> Result<Option<ExperimentReport>, topten_store::StoreError> {
    let Some(active) = store.active().await? else {
        return Ok(None);
    };
    let Some(experiment) = &active.experiment else {
        return Ok(None);
    };
    let started_ms = topten_model::clock::parse_rfc3339_ms(&experiment.started_at).unwrap_or(0);
    let events = store.events_since(started_ms).await?;
    let counts = store.answer_counts().await?;
    Ok(Some(experiment_report(
        experiment,
        &active.version,
        &events,
        &counts,
        rules,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::{Attribution, Via};
    use topten_store::answer_counts::AnswerCountRow;

    const H: i64 = HOUR_MS;

    fn event(user: &str, kind: &str, at_ms: i64, to: Option<(&str, Option<Arm>)>) -> StoredEvent {
        let event = if kind == IMPRESSION {
            StoredEvent::impression(user, &["i"], at_ms)
        } else {
            StoredEvent::interaction(user, "i", kind, 1.0, at_ms)
        };
        StoredEvent {
            attribution: to.map(|(version, arm)| Attribution {
                version: version.into(),
                arm,
                experiment: arm.map(|_| "exp".to_owned()),
                recommendation_id: None,
                via: Via::Answer,
                shown_ms: at_ms,
            }),
            ..event
        }
    }

    fn counts(rows: &[(&str, Option<Arm>, i64, u64)]) -> AnswerCounts {
        AnswerCounts {
            instance: "i".into(),
            saved_ms: 0,
            rows: rows
                .iter()
                .map(|&(version, arm, hour_ms, answers)| AnswerCountRow {
                    version: version.into(),
                    arm,
                    hour_ms,
                    answers,
                })
                .collect(),
        }
    }

    #[test]
    fn hourly_figures_sum_counts_and_attributed_events() {
        let rules = Rules::default();
        let events = vec![
            event("a", IMPRESSION, 10 * H + 1, Some(("v1", None))),
            event("a", IMPRESSION, 10 * H + 2, Some(("v1", None))),
            event("a", "click", 10 * H + 3, Some(("v1", None))),
            event("b", "purchase", 10 * H + 4, Some(("v1", None))),
            event("b", "click", 10 * H + 5, None), // not attributed
            event("c", "view", 11 * H + 1, Some(("v1", None))), // not positive
            event("c", "click", 11 * H + 2, Some(("v2", None))),
            event("c", "click", 8 * H, Some(("v2", None))), // before the window
        ];
        let instances = [
            counts(&[("v1", None, 10 * H, 5), ("v2", None, 11 * H, 4)]),
            counts(&[("v1", None, 10 * H, 3), ("v1", None, 9 * H, 100)]),
        ];
        let rows = hourly(&events, &instances, 10 * H, &rules);
        // hour, version, answers, impressions, clicks, conversions, ctr, basis
        type Row<'a> = (i64, &'a str, u64, u64, u64, u64, Option<f64>, CtrBasis);
        let got: Vec<Row> = rows
            .iter()
            .map(|r| {
                (
                    r.hour_ms / H,
                    r.version.as_str(),
                    r.answers,
                    r.impressions,
                    r.clicks,
                    r.conversions,
                    r.ctr,
                    r.ctr_basis,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (10, "v1", 8, 2, 2, 1, Some(1.0), CtrBasis::Impressions),
                (11, "v1", 0, 0, 0, 0, None, CtrBasis::Answers),
                (11, "v2", 4, 0, 1, 0, Some(0.25), CtrBasis::Answers),
            ]
        );
        let per_minute = events_per_minute(&events, 10 * H, 10 * H + 2 * MINUTE_MS);
        assert_eq!(
            per_minute,
            [
                (10 * H, 5),
                (10 * H + MINUTE_MS, 0),
                (10 * H + 2 * MINUTE_MS, 0)
            ]
        );
    }
}
