//! The experiment statistics on synthetic users whose click probability is known.
//!
//! Each user has a click probability drawn from Beta(0.5, 9.5) (mean 5%, and users differ a
//! lot, as on real sites) and 1 + Poisson(9) answers; each answer is clicked with the user's
//! probability. A candidate that is truly better multiplies every user's probability by 1.2
//! (CTR 5% → 6%).
//!
//! - Over 1,000 A/A experiments (both arms the same) with 2,000 users per arm, clicks per answer
//!   tested with the delta method, and converting users with the two-proportion test, are
//!   each significant at 5% in 3% to 7% of the experiments. Clicks per answer tested as if
//!   answers were independent are "significant" far more often: the reason the report tests
//!   over users.
//! - With 2,000 users per arm (about 20,000 answers each), the 20% lift is detected, with the
//!   right sign, in at least 80% of 300 experiments (expected power about 91%), and never with
//!   the wrong sign.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Binomial, Distribution, Poisson};
use topten_experiments::{compare_proportions, compare_ratios, Comparison, Proportion, RatioSums};

const USERS_PER_ARM: usize = 2_000;

/// One arm's sums: clicks per answer over users, converting users, and the answer-level counts.
struct Arm {
    ratio: RatioSums,
    converted: Proportion,
    clicks: u64,
    answers: u64,
}

fn simulate(rng: &mut ChaCha8Rng, lift: f64) -> Arm {
    let taste = Beta::new(0.5, 9.5).unwrap();
    let visits = Poisson::new(9.0).unwrap();
    let mut arm = Arm {
        ratio: RatioSums::default(),
        converted: Proportion::default(),
        clicks: 0,
        answers: 0,
    };
    for _ in 0..USERS_PER_ARM {
        let p = (taste.sample(rng) * lift).min(1.0);
        let answers = 1 + visits.sample(rng) as u64;
        let clicks = Binomial::new(answers, p).unwrap().sample(rng);
        arm.ratio.add(clicks as f64, answers as f64);
        arm.converted.trials += 1;
        arm.converted.successes += u64::from(clicks > 0);
        arm.clicks += clicks;
        arm.answers += answers;
    }
    arm
}

fn significant(c: &Comparison) -> bool {
    c.p_value < 0.05
}

#[test]
fn a_a_experiments_are_significant_at_the_nominal_rate() {
    let mut rng = ChaCha8Rng::seed_from_u64(20261127);
    let runs = 1_000;
    let (mut ratio, mut converted, mut naive) = (0, 0, 0);
    for _ in 0..runs {
        let (a, b) = (simulate(&mut rng, 1.0), simulate(&mut rng, 1.0));
        ratio += usize::from(significant(&compare_ratios(&a.ratio, &b.ratio).unwrap()));
        converted += usize::from(significant(
            &compare_proportions(a.converted, b.converted).unwrap(),
        ));
        let answers_as_units = compare_proportions(
            Proportion {
                successes: a.clicks,
                trials: a.answers,
            },
            Proportion {
                successes: b.clicks,
                trials: b.answers,
            },
        )
        .unwrap();
        naive += usize::from(significant(&answers_as_units));
    }
    let rate = |n: usize| n as f64 / runs as f64;
    eprintln!(
        "A/A over {runs} experiments: delta method {}, converting users {}, answers as units {}",
        rate(ratio),
        rate(converted),
        rate(naive)
    );
    // Binomial(1000, 0.05): sd 0.0069; the tolerance is about ±2.9 sd.
    assert!(
        (0.03..=0.07).contains(&rate(ratio)),
        "delta method: {}",
        rate(ratio)
    );
    assert!(
        (0.03..=0.07).contains(&rate(converted)),
        "converting users: {}",
        rate(converted)
    );
    assert!(
        rate(naive) > 0.10,
        "answers as independent units: {}",
        rate(naive)
    );
}

#[test]
fn a_better_arm_is_found_with_the_right_sign() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let runs = 300;
    let (mut found, mut wrong_sign) = (0, 0);
    for _ in 0..runs {
        let (a, b) = (simulate(&mut rng, 1.0), simulate(&mut rng, 1.2));
        let c = compare_ratios(&a.ratio, &b.ratio).unwrap();
        if significant(&c) {
            if c.difference > 0.0 {
                found += 1;
            } else {
                wrong_sign += 1;
            }
        }
        assert!(c.low < c.high);
    }
    let power = found as f64 / runs as f64;
    eprintln!("a 20% lift over {runs} experiments: found {power}, wrong sign {wrong_sign}");
    assert!(power >= 0.80, "power {power}");
    assert_eq!(wrong_sign, 0);
}
