//! The experiment report end to end on synthetic users whose click probability is known: the
//! users are split by the experiment's own salted hash, their impressions and clicks are
//! stored events attributed to their arm, and `experiment_report` sums them and tests the
//! difference, as `topten experiment report` and the dashboard do.
//!
//! Each user has a click probability drawn from Beta(0.5, 9.5) (mean 5%, users differ a lot)
//! and 1 + Poisson(9) answers, each shown (one impression of one item) and clicked with the
//! user's probability; a click is a purchase with probability 0.3. The list CTR is then the
//! clicked share of shown answers. A truly better candidate multiplies every user's
//! probability by 1.2 (CTR 5% → 6%).
//!
//! - **A/A**: over 400 experiments of 4,000 users (half in each arm), the CTR difference is
//!   significant at 5% in 2.5% to 7.5% of them (±2 standard errors of a 5% rate over 400
//!   runs), and the conversion difference too.
//! - **Power**: at 4,000 users (about 2,000 per arm, 20,000 impressions each), the 20% lift is
//!   found with the right sign in at least 80% of 200 experiments, and never with the wrong
//!   sign.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Binomial, Distribution, Poisson};
use topten_experiments::{assign, Arm};
use topten_live::attribution::{Attribution, Rules, Via};
use topten_live::online_report::{experiment_report, CtrBasis, ExperimentReport};
use topten_store::events::{StoredEvent, IMPRESSION};
use topten_store::Experiment;

const USERS: usize = 4_000;

fn event(
    user: &str,
    kind: &str,
    experiment: &str,
    arm: Arm,
    at_ms: i64,
    answer: usize,
) -> StoredEvent {
    let event = if kind == IMPRESSION {
        StoredEvent::impression(user, &["item"], at_ms)
    } else {
        StoredEvent::interaction(user, "item", kind, 1.0, at_ms)
    };
    StoredEvent {
        attribution: Some(Attribution {
            version: match arm {
                Arm::Control => "v1".into(),
                Arm::Candidate => "v2".into(),
            },
            arm: Some(arm),
            experiment: Some(experiment.to_owned()),
            recommendation_id: Some(format!("answer-{answer}")),
            via: Via::Impression,
            shown_ms: at_ms,
        }),
        ..event
    }
}

/// One experiment over fresh users; the candidate's click probabilities are `lift` times.
fn run(rng: &mut ChaCha8Rng, id: &str, lift: f64) -> ExperimentReport {
    let experiment = Experiment {
        id: id.into(),
        candidate: "v2".into(),
        share: 0.5,
        started_at: "2026-11-27T00:00:00Z".into(),
    };
    let start_ms = 1_795_737_600_000; // 2026-11-27T00:00:00Z
    let taste = Beta::new(0.5, 9.5).unwrap();
    let visits = Poisson::new(9.0).unwrap();
    let mut events = Vec::new();
    for u in 0..USERS {
        let user = format!("user-{u}");
        let arm = assign(id, &user, experiment.share);
        let p = match arm {
            Arm::Control => taste.sample(rng),
            Arm::Candidate => (taste.sample(rng) * lift).min(1.0),
        };
        let shown = 1 + visits.sample(rng) as u64;
        let clicks = Binomial::new(shown, p).unwrap().sample(rng);
        let at = start_ms + 1000 * u as i64;
        for answer in 0..shown as usize {
            events.push(event(&user, IMPRESSION, id, arm, at, answer));
        }
        // Each click on its own shown answer (Binomial: at most one per answer).
        for answer in 0..clicks as usize {
            let kind = if rng.gen_bool(0.3) {
                "purchase"
            } else {
                "click"
            };
            events.push(event(&user, kind, id, arm, at + 1, answer));
        }
    }
    experiment_report(&experiment, "v1", &events, &[], &Rules::default())
}

#[test]
fn a_a_experiments_are_significant_at_the_nominal_rate() {
    let mut rng = ChaCha8Rng::seed_from_u64(20261127);
    let runs = 400;
    let (mut ctr_hits, mut conversion_hits) = (0, 0);
    for r in 0..runs {
        let report = run(&mut rng, &format!("aa-{r}"), 1.0);
        assert_eq!(
            report.control.figures.rates.rate_basis,
            CtrBasis::Impressions
        );
        assert_eq!(report.control.users + report.candidate.users, USERS as u64);
        let ctr = report
            .list_ctr_difference
            .expect("both arms have impressions");
        assert!(ctr.method.contains("delta-method"), "{}", ctr.method);
        ctr_hits += usize::from(ctr.p_value < 0.05);
        conversion_hits += usize::from(report.conversion_difference.unwrap().p_value < 0.05);
    }
    let (ctr_rate, conversion_rate) = (
        ctr_hits as f64 / runs as f64,
        conversion_hits as f64 / runs as f64,
    );
    eprintln!("A/A over {runs} experiments: CTR {ctr_rate}, conversion {conversion_rate}");
    for rate in [ctr_rate, conversion_rate] {
        assert!(
            (0.025..=0.075).contains(&rate),
            "false-positive rate {rate}"
        );
    }
}

#[test]
fn a_better_arm_is_found_with_the_right_sign() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let runs = 200;
    let (mut found, mut wrong_sign) = (0, 0);
    for r in 0..runs {
        let report = run(&mut rng, &format!("lift-{r}"), 1.2);
        let ctr = report.list_ctr_difference.unwrap();
        // The interval and the estimates agree with the sums they come from: one item per
        // answer, so item CTR is list CTR, and every click is on its own shown answer.
        let (a, b) = (
            report.control.list_ctr_estimate.unwrap(),
            report.candidate.list_ctr_estimate.unwrap(),
        );
        assert!(
            (a.value
                - report.control.figures.clicks as f64 / report.control.figures.impressions as f64)
                .abs()
                < 1e-12
        );
        assert!((a.value - report.control.figures.rates.item_ctr.unwrap()).abs() < 1e-12);
        assert!((a.value - report.control.figures.rates.list_ctr.unwrap()).abs() < 1e-12);
        assert!((ctr.difference - (b.value - a.value)).abs() < 1e-12);
        assert!(ctr.low < ctr.difference && ctr.difference < ctr.high);
        if ctr.p_value < 0.05 {
            if ctr.difference > 0.0 {
                found += 1;
            } else {
                wrong_sign += 1;
            }
        }
    }
    let power = found as f64 / runs as f64;
    eprintln!("a 20% lift over {runs} experiments: found {power}, wrong sign {wrong_sign}");
    assert!(power >= 0.80, "power {power}");
    assert_eq!(wrong_sign, 0);
}
