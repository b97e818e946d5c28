//! Rates with 95% intervals, and the difference between two arms with its interval and a
//! two-sided p-value.
//!
//! - **A proportion of independent units** (users who converted, out of users exposed):
//!   [`Proportion`] with the Wilson score interval; two arms by [`compare_proportions`], the
//!   two-proportion z-test (pooled standard error for the p-value, unpooled for the
//!   difference's Wald interval).
//! - **A ratio of sums over users** (clicks per answer, clicks per impression): [`RatioSums`]
//!   with the delta method, which treats users as the independent units and a user's answers as
//!   correlated; two arms by [`compare_ratios`], a z-test of the difference of two independent
//!   ratio estimates. When every user has one answer it is the unpooled two-proportion test.
//!   Testing clicks per answer as if answers were independent would understate the variance
//!   whenever users differ, and so would find differences that are not there
//!   (`tests/simulation.rs` shows it).
//!
//! The sums are plain counts and sums of squares, so they add up across partitions, hours and
//! instances without keeping per-user data.

use statrs::distribution::{ContinuousCDF, Normal};

/// The 97.5% quantile of the standard normal: the half-width of a 95% interval in standard
/// errors.
pub const Z95: f64 = 1.959_963_984_540_054;

/// An estimate with its standard error and 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Estimate {
    /// The point estimate.
    pub value: f64,
    /// Its standard error.
    pub se: f64,
    /// Lower end of the 95% interval.
    pub low: f64,
    /// Upper end of the 95% interval.
    pub high: f64,
}

/// The difference candidate − control, with its 95% interval and two-sided p-value.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    /// Candidate minus control.
    pub difference: f64,
    /// Lower end of the 95% interval of the difference.
    pub low: f64,
    /// Upper end.
    pub high: f64,
    /// The test statistic.
    pub z: f64,
    /// Two-sided p-value of "no difference".
    pub p_value: f64,
    /// The test, by name (for reports).
    pub method: &'static str,
}

impl Comparison {
    /// The difference with its 95% interval from `se`, and the two-sided p-value of `z` (whose
    /// standard error may differ from `se`, as the pooled one of the two-proportion test does).
    fn of(difference: f64, se: f64, z: f64, method: &'static str) -> Comparison {
        Comparison {
            difference,
            low: difference - Z95 * se,
            high: difference + Z95 * se,
            z,
            p_value: two_sided(z),
            method,
        }
    }
}

/// Successes out of trials, the trials independent (users, not answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Proportion {
    /// Units with the outcome.
    pub successes: u64,
    /// Units observed.
    pub trials: u64,
}

impl Proportion {
    /// The rate with its Wilson score interval (good at small counts and rates near 0, where
    /// the Wald interval undercovers); `None` without trials.
    pub fn estimate(&self) -> Option<Estimate> {
        if self.trials == 0 {
            return None;
        }
        let n = self.trials as f64;
        let p = self.successes as f64 / n;
        let z2 = Z95 * Z95;
        let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
        let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
        Some(Estimate {
            value: p,
            se: (p * (1.0 - p) / n).sqrt(),
            low: centre - half,
            high: centre + half,
        })
    }
}

/// Answers each arm needs so that a two-sided test at `confidence` finds a relative `lift`
/// of a rate `baseline` (candidate = baseline × (1 + lift)) with probability `power`: the
/// normal-approximation sample size of two proportions,
/// `n = (z₁₋α/₂ + z_power)² (p₀(1−p₀) + p₁(1−p₁)) / (p₁ − p₀)²`, rounded up. `None` when the
/// inputs leave nothing to find (a baseline of 0 or 1, no lift, a rate past 1).
pub fn answers_needed(baseline: f64, lift: f64, confidence: f64, power: f64) -> Option<u64> {
    let p1 = baseline * (1.0 + lift);
    let valid = |p: f64| p > 0.0 && p < 1.0;
    if !valid(baseline) || !valid(p1) || lift == 0.0 || !valid(confidence) || !valid(power) {
        return None;
    }
    let normal = Normal::standard();
    let z = normal.inverse_cdf(1.0 - (1.0 - confidence) / 2.0) + normal.inverse_cdf(power);
    let variance = baseline * (1.0 - baseline) + p1 * (1.0 - p1);
    Some((z * z * variance / ((p1 - baseline) * (p1 - baseline))).ceil() as u64)
}

/// Two-sided p-value of a standard normal statistic.
fn two_sided(z: f64) -> f64 {
    if z.is_nan() {
        return 1.0;
    }
    (2.0 * Normal::standard().sf(z.abs())).min(1.0)
}

/// `difference / se`, defined at a zero standard error (equal constant arms: 0).
fn z_of(difference: f64, se: f64) -> f64 {
    if se > 0.0 {
        difference / se
    } else if difference == 0.0 {
        0.0
    } else {
        f64::INFINITY.copysign(difference)
    }
}

/// The two-proportion z-test of candidate against control; `None` when an arm has no trials.
pub fn compare_proportions(control: Proportion, candidate: Proportion) -> Option<Comparison> {
    if control.trials == 0 || candidate.trials == 0 {
        return None;
    }
    let (na, nb) = (control.trials as f64, candidate.trials as f64);
    let (pa, pb) = (
        control.successes as f64 / na,
        candidate.successes as f64 / nb,
    );
    let pooled = (control.successes + candidate.successes) as f64 / (na + nb);
    let se_pooled = (pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb)).sqrt();
    let se = (pa * (1.0 - pa) / na + pb * (1.0 - pb) / nb).sqrt();
    let difference = pb - pa;
    Some(Comparison::of(
        difference,
        se,
        z_of(difference, se_pooled),
        "two-proportion z-test (pooled standard error; Wald interval of the difference)",
    ))
}

/// Sums over users of a ratio metric's numerator `x` and denominator `y` (e.g. a user's
/// clicks and answers): enough for the ratio and its delta-method variance.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct RatioSums {
    /// Users counted.
    pub users: u64,
    /// Σ x.
    pub x: f64,
    /// Σ y.
    pub y: f64,
    /// Σ x².
    pub xx: f64,
    /// Σ y².
    pub yy: f64,
    /// Σ x·y.
    pub xy: f64,
}

impl RatioSums {
    /// Adds one user's numerator and denominator.
    pub fn add(&mut self, x: f64, y: f64) {
        self.users += 1;
        self.x += x;
        self.y += y;
        self.xx += x * x;
        self.yy += y * y;
        self.xy += x * y;
    }

    /// Adds another set of sums (another partition, hour or instance).
    pub fn merge(&mut self, other: &RatioSums) {
        self.users += other.users;
        self.x += other.x;
        self.y += other.y;
        self.xx += other.xx;
        self.yy += other.yy;
        self.xy += other.xy;
    }

    /// Σx / Σy with its delta-method standard error over users,
    /// `Var(R) ≈ (s_xx − 2R s_xy + R² s_yy) / (n ȳ²)` with sample (co)variances; `None` with
    /// fewer than two users or no denominator.
    pub fn estimate(&self) -> Option<Estimate> {
        if self.users < 2 || self.y <= 0.0 {
            return None;
        }
        let n = self.users as f64;
        let r = self.x / self.y;
        let (mx, my) = (self.x / n, self.y / n);
        let sxx = (self.xx - n * mx * mx) / (n - 1.0);
        let syy = (self.yy - n * my * my) / (n - 1.0);
        let sxy = (self.xy - n * mx * my) / (n - 1.0);
        let var = ((sxx - 2.0 * r * sxy + r * r * syy) / (n * my * my)).max(0.0);
        let se = var.sqrt();
        Some(Estimate {
            value: r,
            se,
            low: r - Z95 * se,
            high: r + Z95 * se,
        })
    }
}

/// The z-test of the difference of two independent ratio estimates (delta method);
/// `None` when either arm has no estimate.
pub fn compare_ratios(control: &RatioSums, candidate: &RatioSums) -> Option<Comparison> {
    let (a, b) = (control.estimate()?, candidate.estimate()?);
    let difference = b.value - a.value;
    let se = (a.se * a.se + b.se * b.se).sqrt();
    Some(Comparison::of(
        difference,
        se,
        z_of(difference, se),
        "z-test of two ratio estimates, delta-method standard errors over users",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values computed independently in Python with `statistics.NormalDist`:
    /// `z = nd.inv_cdf(0.975) + nd.inv_cdf(0.8)`; `ceil(z*z*(p0*(1-p0)+p1*(1-p1))/(p1-p0)**2)`.
    #[test]
    fn answers_needed_matches_an_independent_computation() {
        assert_eq!(answers_needed(0.05, 0.2, 0.95, 0.8), Some(8_155));
        assert_eq!(answers_needed(0.10, 0.10, 0.95, 0.8), Some(14_749));
        assert_eq!(answers_needed(0.30, -0.1, 0.99, 0.9), Some(6_731));
        assert_eq!(answers_needed(0.0, 0.1, 0.95, 0.8), None);
        assert_eq!(answers_needed(0.6, 1.0, 0.95, 0.8), None);
        assert_eq!(answers_needed(0.1, 0.0, 0.95, 0.8), None);
    }

    /// Expected values computed independently in Python (`math.erfc` for the normal CDF).
    #[test]
    fn two_proportions_and_wilson_match_an_independent_computation() {
        let c = compare_proportions(
            Proportion {
                successes: 50,
                trials: 1000,
            },
            Proportion {
                successes: 70,
                trials: 1000,
            },
        )
        .unwrap();
        assert!((c.z - 1.883108942886774).abs() < 1e-12, "{c:?}");
        assert!((c.p_value - 0.05968560553242619).abs() < 1e-9, "{c:?}");
        assert!((c.low - -0.0007977946717953356).abs() < 1e-12);
        assert!((c.high - 0.04079779467179534).abs() < 1e-12);
        let w = Proportion {
            successes: 50,
            trials: 1000,
        }
        .estimate()
        .unwrap();
        assert!((w.low - 0.03813026239274882).abs() < 1e-12, "{w:?}");
        assert!((w.high - 0.06531382024425081).abs() < 1e-12, "{w:?}");
        assert!(compare_proportions(
            Proportion::default(),
            Proportion {
                successes: 1,
                trials: 2
            }
        )
        .is_none());
        let same = compare_proportions(
            Proportion {
                successes: 0,
                trials: 10,
            },
            Proportion {
                successes: 0,
                trials: 10,
            },
        )
        .unwrap();
        assert_eq!((same.z, same.p_value), (0.0, 1.0));
    }

    /// The delta method's variance against its linearised form computed from the raw users:
    /// Var(R) = Σ (x_i − R y_i)² / (n (n − 1) ȳ²).
    #[test]
    fn the_delta_method_matches_its_linearised_form() {
        let users: Vec<(f64, f64)> = (0..500)
            .map(|i| (((i * 7) % 5) as f64, (1 + (i * 13) % 9) as f64))
            .collect();
        let mut sums = RatioSums::default();
        for &(x, y) in &users {
            sums.add(x, y);
        }
        let e = sums.estimate().unwrap();
        let n = users.len() as f64;
        let r = users.iter().map(|u| u.0).sum::<f64>() / users.iter().map(|u| u.1).sum::<f64>();
        let ybar = users.iter().map(|u| u.1).sum::<f64>() / n;
        let var = users.iter().map(|&(x, y)| (x - r * y).powi(2)).sum::<f64>()
            / (n * (n - 1.0) * ybar * ybar);
        assert!((e.value - r).abs() < 1e-15);
        assert!(
            (e.se - var.sqrt()).abs() < 1e-12,
            "{} vs {}",
            e.se,
            var.sqrt()
        );
        // Sums merge: two halves give the whole.
        let (mut a, mut b) = (RatioSums::default(), RatioSums::default());
        for (i, &(x, y)) in users.iter().enumerate() {
            if i % 2 == 0 {
                a.add(x, y)
            } else {
                b.add(x, y)
            }
        }
        a.merge(&b);
        assert_eq!(a.users, sums.users);
        assert!((a.estimate().unwrap().se - e.se).abs() < 1e-12);
    }

    /// With one answer per user, the ratio test is the unpooled two-proportion test (up to the
    /// sample variance's n − 1).
    #[test]
    fn one_answer_per_user_is_the_two_proportion_test() {
        let arm = |clicks: u64, users: u64| {
            let mut s = RatioSums::default();
            for u in 0..users {
                s.add(if u < clicks { 1.0 } else { 0.0 }, 1.0);
            }
            s
        };
        let c = compare_ratios(&arm(50, 1000), &arm(70, 1000)).unwrap();
        let (pa, pb) = (0.05f64, 0.07f64);
        let se = (pa * (1.0 - pa) / 999.0 + pb * (1.0 - pb) / 999.0).sqrt();
        assert!((c.difference - 0.02).abs() < 1e-15);
        assert!(((c.high - c.low) / 2.0 - Z95 * se).abs() < 1e-12, "{c:?}");
    }
}
