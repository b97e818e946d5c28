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

use std::collections::{BTreeMap, HashMap, HashSet};

use topten_experiments::{
    assign, compare_proportions, compare_ratios, Arm, Comparison, Estimate, Proportion, RatioSums,
};

use crate::attribution::{is_conversion, is_positive, Attribution, Rules};
use topten_store::answer_counts::AnswerCounts;
use topten_store::events::{StoredEvent, IMPRESSION};
use topten_store::Experiment;

const HOUR_MS: i64 = 3_600_000;
const MINUTE_MS: i64 = 60_000;

/// The start of the hour `ms` falls in.
pub fn hour_of(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// What the answer-level rates divide by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CtrBasis {
    /// The answers the caller reported showing (impressions).
    Impressions,
    /// Answers served (no impressions were reported): item CTR is then unknown.
    Answers,
}

/// Which answer an attributed event belongs to: the answer its id names, else the user's
/// served list in that version, arm and hour. Impressions and clicks of one answer share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum AnswerKey<'a> {
    Id(&'a str, &'a str),
    Served(&'a str, &'a str, Option<Arm>, i64),
}

fn answer_key<'a>(e: &'a StoredEvent, a: &'a Attribution) -> AnswerKey<'a> {
    match &a.recommendation_id {
        Some(id) => AnswerKey::Id(&e.user_id, id),
        None => AnswerKey::Served(&e.user_id, &a.version, a.arm, hour_of(a.shown_ms)),
    }
}

/// The attributed events of one group (an hour and version, a version, one user of an arm),
/// as sets, so that a rate counts each answer and each shown item once.
#[derive(Debug, Default)]
struct Tally<'a> {
    impressions: u64,
    items_shown: u64,
    clicks: u64,
    conversions: u64,
    shown_answers: HashSet<AnswerKey<'a>>,
    shown_items: HashSet<(AnswerKey<'a>, &'a str)>,
    clicked_answers: HashSet<AnswerKey<'a>>,
    converted_answers: HashSet<AnswerKey<'a>>,
    clicked_items: HashSet<(AnswerKey<'a>, &'a str)>,
}

impl<'a> Tally<'a> {
    fn add(&mut self, e: &'a StoredEvent, a: &'a Attribution, rules: &Rules) {
        let key = answer_key(e, a);
        if e.kind == IMPRESSION {
            self.impressions += 1;
            self.items_shown += e.item_ids.len() as u64;
            self.shown_answers.insert(key);
            self.shown_items
                .extend(e.item_ids.iter().map(|i| (key, i.as_str())));
        } else if is_positive(e, rules) {
            self.clicks += 1;
            self.clicked_answers.insert(key);
            self.clicked_items.insert((key, e.item_id.as_str()));
            if is_conversion(e) {
                self.conversions += 1;
                self.converted_answers.insert(key);
            }
        }
    }

    /// Clicked shown items, clicked shown answers, converted shown answers, shown answers.
    fn shown_counts(&self) -> (u64, u64, u64, u64) {
        let items = self
            .clicked_items
            .iter()
            .filter(|slot| self.shown_items.contains(slot))
            .count();
        let shown = |set: &HashSet<AnswerKey>| {
            set.iter()
                .filter(|k| self.shown_answers.contains(k))
                .count() as u64
        };
        (
            items as u64,
            shown(&self.clicked_answers),
            shown(&self.converted_answers),
            self.shown_answers.len() as u64,
        )
    }

    /// The rates, given the answers served to the group.
    fn rates(&self, answers: u64) -> Rates {
        if !self.shown_answers.is_empty() {
            let (items_clicked, answers_clicked, answers_converted, answers_shown) =
                self.shown_counts();
            return Rates::of(
                CtrBasis::Impressions,
                (items_clicked, self.items_shown),
                (answers_clicked, answers_converted, answers_shown),
            );
        }
        // No impressions: the answers served are what was shown, as far as anyone knows.
        // Counts are saved every few seconds, so clicked answers may briefly exceed them.
        let clicked = (self.clicked_answers.len() as u64).min(answers);
        let converted = (self.converted_answers.len() as u64).min(answers);
        Rates::of(CtrBasis::Answers, (0, 0), (clicked, converted, answers))
    }
}

/// The online rates of a group, each between 0 and 1 (definitions: docs/guide.md, "Online
/// figures").
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rates {
    /// Item CTR: shown items that were clicked (each item of an answer once) over items shown
    /// (the impressions' `itemIds`). `None` without impressions.
    pub item_ctr: Option<f64>,
    /// List CTR: answers with at least one click over answers shown.
    pub list_ctr: Option<f64>,
    /// Conversion per answer: answers with at least one purchase over answers shown.
    pub conversion_per_answer: Option<f64>,
    /// What "answers shown" is: answers with an impression, or (without impressions) answers
    /// served.
    pub rate_basis: CtrBasis,
    /// Items shown, from impressions.
    pub items_shown: u64,
    /// Shown items that were clicked.
    pub items_clicked: u64,
    /// Answers shown, on the basis.
    pub answers_shown: u64,
    /// Of those, answers with a click.
    pub answers_clicked: u64,
    /// Of those, answers with a purchase.
    pub answers_converted: u64,
}

impl Rates {
    fn of(
        basis: CtrBasis,
        (items_clicked, items_shown): (u64, u64),
        answers: (u64, u64, u64),
    ) -> Rates {
        let (answers_clicked, answers_converted, answers_shown) = answers;
        let share = |part: u64, whole: u64| (whole > 0).then(|| part as f64 / whole as f64);
        Rates {
            item_ctr: share(items_clicked, items_shown),
            list_ctr: share(answers_clicked, answers_shown),
            conversion_per_answer: share(answers_converted, answers_shown),
            rate_basis: basis,
            items_shown,
            items_clicked,
            answers_shown,
            answers_clicked,
            answers_converted,
        }
    }
}

/// One version (and arm) in one hour: the answers served in that hour and what became of them.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HourFigures {
    /// The hour's start, epoch milliseconds.
    pub hour_ms: i64,
    /// The version.
    pub version: String,
    /// The arm, while an experiment ran.
    pub arm: Option<Arm>,
    /// What the hour's answers did.
    #[serde(flatten)]
    pub figures: GroupFigures,
}

/// One version over the whole window.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionTotals {
    /// The version.
    pub version: String,
    /// What its answers did.
    #[serde(flatten)]
    pub figures: GroupFigures,
}

/// What a group of answers (an hour of a version, a version) did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupFigures {
    /// Answers served (from the instances' counts).
    pub answers: u64,
    /// Impressions reported.
    pub impressions: u64,
    /// Attributed positive events.
    pub clicks: u64,
    /// Attributed purchases.
    pub conversions: u64,
    /// The rates.
    #[serde(flatten)]
    pub rates: Rates,
}

impl GroupFigures {
    fn of(answers: u64, t: &Tally) -> GroupFigures {
        GroupFigures {
            answers,
            impressions: t.impressions,
            clicks: t.clicks,
            conversions: t.conversions,
            rates: t.rates(answers),
        }
    }
}

/// The answers served from `from_ms` on (the instances' counts) and the tally of their
/// attributed events, grouped by `group(serving hour, version, arm)`: events and counts fall in
/// the hour their answer was served.
fn grouped<'a, K: Ord>(
    events: &'a [StoredEvent],
    counts: &[AnswerCounts],
    from_ms: i64,
    rules: &Rules,
    group: impl Fn(i64, &str, Option<Arm>) -> K,
) -> BTreeMap<K, (u64, Tally<'a>)> {
    let from_hour = hour_of(from_ms);
    let mut groups: BTreeMap<K, (u64, Tally)> = BTreeMap::new();
    for row in counts.iter().flat_map(|c| &c.rows) {
        if row.hour_ms >= from_hour {
            groups
                .entry(group(row.hour_ms, &row.version, row.arm))
                .or_default()
                .0 += row.answers;
        }
    }
    for e in events {
        let Some(a) = &e.attribution else { continue };
        let hour = hour_of(a.shown_ms);
        if hour >= from_hour {
            groups
                .entry(group(hour, &a.version, a.arm))
                .or_default()
                .1
                .add(e, a, rules);
        }
    }
    groups
}

/// Figures per hour, version and arm, from `from_ms` on, oldest first.
pub fn hourly(
    events: &[StoredEvent],
    counts: &[AnswerCounts],
    from_ms: i64,
    rules: &Rules,
) -> Vec<HourFigures> {
    grouped(events, counts, from_ms, rules, |hour, version, arm| {
        (hour, version.to_owned(), arm)
    })
    .into_iter()
    .map(|((hour_ms, version, arm), (answers, t))| HourFigures {
        hour_ms,
        version,
        arm,
        figures: GroupFigures::of(answers, &t),
    })
    .collect()
}

/// Figures per version over the answers served from `from_ms` on (arms together).
pub fn totals(
    events: &[StoredEvent],
    counts: &[AnswerCounts],
    from_ms: i64,
    rules: &Rules,
) -> Vec<VersionTotals> {
    grouped(events, counts, from_ms, rules, |_, version, _| {
        version.to_owned()
    })
    .into_iter()
    .map(|(version, (answers, t))| VersionTotals {
        version,
        figures: GroupFigures::of(answers, &t),
    })
    .collect()
}

/// What one item did in the shown answers of a window.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemFigures {
    /// The item.
    pub item_id: String,
    /// Answers that showed it (impressions' `itemIds`, each answer once).
    pub shown: u64,
    /// Of those, answers where it got a positive event.
    pub clicked: u64,
    /// Its share of all shown slots (0 to 1).
    pub share: f64,
    /// `clicked / shown`.
    pub item_ctr: f64,
}

/// The items shown in a window, from impressions: the `n` most shown with their share of the
/// shown slots and their item CTR, and how many distinct items were shown at all.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShownItems {
    /// The most shown items, most shown first (ties by id).
    pub top: Vec<ItemFigures>,
    /// Distinct items shown.
    pub distinct: u64,
    /// Shown slots (answer, item) in all.
    pub slots: u64,
}

/// [`ShownItems`] of the answers served from `from_ms` on.
pub fn shown_items(events: &[StoredEvent], from_ms: i64, rules: &Rules, n: usize) -> ShownItems {
    let tally = grouped(events, &[], from_ms, rules, |_, _, _| ())
        .remove(&())
        .map(|(_, t)| t)
        .unwrap_or_default();
    let mut per_item: HashMap<&str, (u64, u64)> = HashMap::new();
    for (_, item) in &tally.shown_items {
        per_item.entry(item).or_default().0 += 1;
    }
    for slot in tally
        .clicked_items
        .iter()
        .filter(|s| tally.shown_items.contains(s))
    {
        per_item.entry(slot.1).or_default().1 += 1;
    }
    let slots = tally.shown_items.len() as u64;
    let mut top: Vec<ItemFigures> = per_item
        .iter()
        .map(|(id, &(shown, clicked))| ItemFigures {
            item_id: (*id).to_owned(),
            shown,
            clicked,
            share: shown as f64 / slots.max(1) as f64,
            item_ctr: clicked as f64 / shown.max(1) as f64,
        })
        .collect();
    top.sort_by(|a, b| {
        b.shown
            .cmp(&a.shown)
            .then_with(|| a.item_id.cmp(&b.item_id))
    });
    top.truncate(n);
    ShownItems {
        top,
        distinct: per_item.len() as u64,
        slots,
    }
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
    /// The arm's answers, attributed events and rates as sums (the estimates below carry the
    /// intervals); flattened, so the arm's JSON reads as a group's.
    #[serde(flatten)]
    pub figures: GroupFigures,
    /// List CTR with its 95% interval.
    pub list_ctr_estimate: Option<Estimate>,
    /// Item CTR with its 95% interval (with impressions only).
    pub item_ctr_estimate: Option<Estimate>,
    /// Conversion per answer with its 95% interval.
    pub conversion_per_answer_estimate: Option<Estimate>,
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
    /// Candidate list CTR minus control's: interval, p-value and the test's name. The
    /// experiment's primary figure.
    pub list_ctr_difference: Option<Comparison>,
    /// Candidate item CTR minus control's (with impressions in both arms).
    pub item_ctr_difference: Option<Comparison>,
    /// Candidate conversion per answer minus control's.
    pub conversion_per_answer_difference: Option<Comparison>,
    /// Candidate conversion rate (share of users) minus control's.
    pub conversion_difference: Option<Comparison>,
    /// What the report concludes, at [`DEFAULT_CONFIDENCE`] and [`DEFAULT_LIFT`] unless
    /// asked otherwise ([`verdict`]).
    pub verdict: Verdict,
}

/// The confidence a winner is named at, unless asked otherwise.
pub const DEFAULT_CONFIDENCE: f64 = 0.95;
/// The relative lift of list CTR the sample size is planned for, unless asked otherwise.
pub const DEFAULT_LIFT: f64 = 0.1;
/// The power the sample size is planned for.
pub const PLANNED_POWER: f64 = 0.8;

/// What an experiment's report concludes on its primary figure, list CTR.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// The confidence level of the test.
    pub confidence: f64,
    /// The relative lift the sample size is planned for.
    pub lift: f64,
    /// The arm with the higher list CTR, named only when the test at `confidence` rejects
    /// "no difference" (the difference's interval excludes zero).
    pub winner: Option<Arm>,
    /// Answers each arm needs to find `lift` at `confidence` with 80% power, from the control
    /// arm's list CTR (`None` while it is unknown or 0).
    pub answers_needed_per_arm: Option<u64>,
    /// Answers shown so far in the smaller arm.
    pub answers_so_far: u64,
    /// One sentence for people.
    pub summary: String,
}

/// The verdict on `report` at `confidence`, planning for a relative `lift`.
pub fn verdict(report: &ExperimentReport, confidence: f64, lift: f64) -> Verdict {
    let so_far = report
        .control
        .figures
        .rates
        .answers_shown
        .min(report.candidate.figures.rates.answers_shown);
    let baseline = report.control.figures.rates.list_ctr;
    let needed = baseline
        .and_then(|b| topten_experiments::answers_needed(b, lift, confidence, PLANNED_POWER));
    let alpha = 1.0 - confidence;
    let winner = report
        .list_ctr_difference
        .as_ref()
        .filter(|c| c.p_value < alpha && c.difference != 0.0)
        .map(|c| {
            if c.difference > 0.0 {
                Arm::Candidate
            } else {
                Arm::Control
            }
        });
    let level = format!("{:.0}%", confidence * 100.0);
    let summary = match (&report.list_ctr_difference, winner, needed) {
        (Some(c), Some(w), _) => format!(
            "{} wins on list CTR: candidate − control {:+.2} points, p = {:.4} < {:.2} ({level} \
             confidence)",
            w.as_str(),
            100.0 * c.difference,
            c.p_value,
            alpha
        ),
        (_, None, Some(n)) if so_far < n => format!(
            "no winner yet: about {n} shown answers per arm are needed to find a {:.0}% lift \
             of list CTR at {level} confidence with 80% power; the smaller arm has {so_far}",
            lift * 100.0
        ),
        (Some(c), None, _) => format!(
            "no difference found: candidate − control {:+.2} points of list CTR, p = {:.4} \
             (a winner needs p < {:.2})",
            100.0 * c.difference,
            c.p_value,
            alpha
        ),
        (None, _, _) => "not enough data yet: both arms need shown answers".to_owned(),
    };
    Verdict {
        confidence,
        lift,
        winner,
        answers_needed_per_arm: needed,
        answers_so_far: so_far,
        summary,
    }
}

/// One arm's sums over its users: the ratio sums of each rate (per user: numerator,
/// denominator), the users who converted, and the arm's tally.
#[derive(Default)]
struct ArmSums<'a> {
    tally: Tally<'a>,
    item_ctr: RatioSums,
    list_ctr: RatioSums,
    conversion_per_answer: RatioSums,
    converted: Proportion,
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
    // Each user's tally of the experiment's attributed events.
    let mut users: HashMap<&str, Tally> = HashMap::new();
    for e in events.iter().filter(|e| e.received_at_ms >= started_ms) {
        let tally = users.entry(e.user_id.as_str()).or_default();
        let Some(a) = &e.attribution else { continue };
        if a.experiment.as_deref() == Some(experiment.id.as_str()) {
            tally.add(e, a, rules);
        }
    }
    let mut arms: [ArmSums; 2] = Default::default();
    for (user, t) in &users {
        let arm = &mut arms
            [usize::from(assign(&experiment.id, user, experiment.share) == Arm::Candidate)];
        let (items_clicked, answers_clicked, answers_converted, answers_shown) = t.shown_counts();
        arm.item_ctr.add(items_clicked as f64, t.items_shown as f64);
        arm.list_ctr
            .add(answers_clicked as f64, answers_shown as f64);
        arm.conversion_per_answer
            .add(answers_converted as f64, answers_shown as f64);
        arm.converted.trials += 1;
        arm.converted.successes += u64::from(t.conversions > 0);
        // The arm's sets, for its sums (keys hold the user, so users never collide).
        let sums = &mut arm.tally;
        sums.impressions += t.impressions;
        sums.items_shown += t.items_shown;
        sums.clicks += t.clicks;
        sums.conversions += t.conversions;
        sums.shown_answers.extend(&t.shown_answers);
        sums.shown_items.extend(&t.shown_items);
        sums.clicked_answers.extend(&t.clicked_answers);
        sums.converted_answers.extend(&t.converted_answers);
        sums.clicked_items.extend(&t.clicked_items);
    }
    let start_hour = hour_of(started_ms);
    let served = |arm: Arm, version: &str| -> u64 {
        counts
            .iter()
            .flat_map(|c| &c.rows)
            .filter(|r| r.arm == Some(arm) && r.version == version && r.hour_ms >= start_hour)
            .map(|r| r.answers)
            .sum()
    };
    let by_impressions = arms.iter().all(|a| a.tally.impressions > 0);
    let report = |arm: Arm, version: &str, sums: &ArmSums| {
        let answers = served(arm, version);
        let rates = if by_impressions {
            sums.tally.rates(answers)
        } else {
            // One basis for both arms: answers served.
            let answered = Tally {
                clicked_answers: sums.tally.clicked_answers.clone(),
                converted_answers: sums.tally.converted_answers.clone(),
                ..Tally::default()
            };
            answered.rates(answers)
        };
        let per_answer = |part: u64| Proportion {
            successes: part.min(answers),
            trials: answers,
        };
        ArmReport {
            arm,
            version: version.to_owned(),
            users: sums.converted.trials,
            figures: GroupFigures {
                answers,
                impressions: sums.tally.impressions,
                clicks: sums.tally.clicks,
                conversions: sums.tally.conversions,
                rates,
            },
            list_ctr_estimate: if by_impressions {
                sums.list_ctr.estimate()
            } else {
                per_answer(rates.answers_clicked).estimate()
            },
            item_ctr_estimate: by_impressions.then(|| sums.item_ctr.estimate()).flatten(),
            conversion_per_answer_estimate: if by_impressions {
                sums.conversion_per_answer.estimate()
            } else {
                per_answer(rates.answers_converted).estimate()
            },
            conversion_rate: sums.converted.estimate(),
        }
    };
    let control = report(Arm::Control, control_version, &arms[0]);
    let candidate = report(Arm::Candidate, &experiment.candidate, &arms[1]);
    let over_answers = |part: fn(&Rates) -> u64| {
        let p = |r: &ArmReport| Proportion {
            successes: part(&r.figures.rates).min(r.figures.answers),
            trials: r.figures.answers,
        };
        compare_proportions(p(&control), p(&candidate)).map(|c| Comparison {
            method: "two-proportion z-test over answers (assumes independent answers: report \
                     impressions for a per-user test)",
            ..c
        })
    };
    let (list_ctr_difference, item_ctr_difference, conversion_per_answer_difference) =
        if by_impressions {
            (
                compare_ratios(&arms[0].list_ctr, &arms[1].list_ctr),
                compare_ratios(&arms[0].item_ctr, &arms[1].item_ctr),
                compare_ratios(
                    &arms[0].conversion_per_answer,
                    &arms[1].conversion_per_answer,
                ),
            )
        } else {
            (
                over_answers(|r| r.answers_clicked),
                None,
                over_answers(|r| r.answers_converted),
            )
        };
    let conversion_difference = compare_proportions(arms[0].converted, arms[1].converted);
    let mut report = ExperimentReport {
        experiment: experiment.clone(),
        control,
        candidate,
        list_ctr_difference,
        item_ctr_difference,
        conversion_per_answer_difference,
        conversion_difference,
        verdict: Verdict {
            confidence: DEFAULT_CONFIDENCE,
            lift: DEFAULT_LIFT,
            winner: None,
            answers_needed_per_arm: None,
            answers_so_far: 0,
            summary: String::new(),
        },
    };
    report.verdict = verdict(&report, DEFAULT_CONFIDENCE, DEFAULT_LIFT);
    report
}

/// Who or what ends an experiment, and the attribution rules its final report uses.
#[derive(Debug, Clone)]
pub struct Ending {
    /// `topten experiment promote` by a user, the retrain, ...
    pub decided_by: String,
    /// The rules of the report.
    pub rules: Rules,
}

/// The record of the running experiment as it ends now with `decision` (`stopped` or
/// `promoted`): its final report, when and by whom. `None` when none runs.
pub async fn end_record(
    store: &dyn topten_store::Store,
    decision: &str,
    ending: &Ending,
) -> Result<Option<topten_store::ExperimentRecord>, topten_store::StoreError> {
    let Some(report) = running_experiment_report(store, &ending.rules).await? else {
        return Ok(None);
    };
    Ok(Some(topten_store::ExperimentRecord {
        experiment: report.experiment.clone(),
        control: report.control.version.clone(),
        ended_at: topten_model::clock::now_rfc3339(),
        decision: decision.to_owned(),
        decided_by: ending.decided_by.clone(),
        report: serde_json::to_value(&report).map_err(|e| topten_store::StoreError::Backend {
            backend: store.backend(),
            message: format!("experiment report: {e}"),
        })?,
    }))
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

    /// The issue's "CTR of 523%": one impression of ten items and 52 clicks on them (some
    /// repeated, some on items it did not show) stay within 0 and 1 on every rate.
    #[test]
    fn rates_stay_between_zero_and_one_however_many_clicks_come() {
        let rules = Rules::default();
        let items: Vec<String> = (0..10).map(|i| format!("i{i}")).collect();
        let refs: Vec<&str> = items.iter().map(String::as_str).collect();
        let at = 10 * H + 1;
        let attribution = Some(Attribution {
            version: "v1".into(),
            arm: None,
            experiment: None,
            recommendation_id: Some("r".into()),
            via: Via::RecommendationId,
            shown_ms: at,
        });
        let mut events = vec![StoredEvent {
            attribution: attribution.clone(),
            ..StoredEvent::impression("u", &refs, at)
        }];
        for n in 0..52 {
            let kind = if n % 4 == 0 { "purchase" } else { "click" };
            events.push(StoredEvent {
                attribution: attribution.clone(),
                ..StoredEvent::interaction("u", &format!("i{}", n % 13), kind, 1.0, at + 1)
            });
        }
        let rows = hourly(
            &events,
            &[counts(&[("v1", None, 10 * H, 1)])],
            10 * H,
            &rules,
        );
        let r = rows[0].figures.rates;
        assert_eq!(rows[0].figures.clicks, 52);
        assert_eq!(
            (
                r.items_shown,
                r.items_clicked,
                r.answers_shown,
                r.answers_clicked
            ),
            (10, 10, 1, 1)
        );
        for rate in [r.item_ctr, r.list_ctr, r.conversion_per_answer] {
            let rate = rate.unwrap();
            assert!((0.0..=1.0).contains(&rate), "{r:?}");
        }
        let shown = shown_items(&events, 10 * H, &rules, 3);
        assert_eq!((shown.distinct, shown.slots), (10, 10));
        assert_eq!(shown.top.len(), 3);
        assert!(shown
            .top
            .iter()
            .all(|i| i.shown == 1 && i.clicked == 1 && i.item_ctr == 1.0));
        assert!((shown.top[0].share - 0.1).abs() < 1e-12);
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
        // hour, version, answers, impressions, clicks, conversions, item CTR, list CTR,
        // conversion per answer, basis
        type Row<'a> = (
            i64,
            &'a str,
            u64,
            u64,
            u64,
            u64,
            Option<f64>,
            Option<f64>,
            Option<f64>,
            CtrBasis,
        );
        let got: Vec<Row> = rows
            .iter()
            .map(|r| {
                (
                    r.hour_ms / H,
                    r.version.as_str(),
                    r.figures.answers,
                    r.figures.impressions,
                    r.figures.clicks,
                    r.figures.conversions,
                    r.figures.rates.item_ctr,
                    r.figures.rates.list_ctr,
                    r.figures.rates.conversion_per_answer,
                    r.figures.rates.rate_basis,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                // a's two impressions show one answer's item twice; a clicked it once (item
                // CTR 1 of 2), b bought from a list never reported shown: one of one shown
                // answer clicked, none bought.
                (
                    10,
                    "v1",
                    8,
                    2,
                    2,
                    1,
                    Some(0.5),
                    Some(1.0),
                    Some(0.0),
                    CtrBasis::Impressions
                ),
                (11, "v1", 0, 0, 0, 0, None, None, None, CtrBasis::Answers),
                (
                    11,
                    "v2",
                    4,
                    0,
                    1,
                    0,
                    None,
                    Some(0.25),
                    Some(0.0),
                    CtrBasis::Answers
                ),
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
