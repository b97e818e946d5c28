//! Why a user got an item: the ALS explanation of Hu, Koren and Volinsky (section 5 of
//! "Collaborative Filtering for Implicit Feedback Datasets"), as benfred/implicit's `explain`
//! computes it.
//!
//! A folded-in user factor is `x = A⁻¹ b` with `b = Σⱼ cⱼ yⱼ` over the user's interactions, so
//! an item's score splits into one term per interaction: `ŷᵢ = yᵢᵀ x = Σⱼ cⱼ (yᵢᵀ A⁻¹ yⱼ)`.
//! The term of interaction `j` is how much it contributed. Implicit model:
//! `A = YᵀY + λI + Σⱼ (cⱼ − 1) yⱼyⱼᵀ`, `cⱼ` the confidence times the preference. Explicit
//! model (ALS-WR): `A = Σⱼ yⱼyⱼᵀ + λ n I`, `cⱼ = rⱼ`. The non-negative solver is not linear in
//! `b`, so it has no such split.

use ndarray::Array2;

use super::{AlsParams, Feedback};

/// The contributions of the user's interactions `(items, values)` to the score of `target`,
/// largest first, at most `n`; `None` for the non-negative model.
pub fn explain(
    item_factors: &Array2<f32>,
    items: &[u32],
    values: &[f32],
    params: &AlsParams,
    target: u32,
    n: usize,
) -> Option<Vec<(u32, f32)>> {
    if params.nonnegative || items.is_empty() {
        return if params.nonnegative {
            None
        } else {
            Some(Vec::new())
        };
    }
    let k = item_factors.ncols();
    let y = |i: u32| item_factors.row(i as usize);
    // A in f64, and each interaction's coefficient in b.
    let mut a = vec![0f64; k * k];
    let mut coef = Vec::with_capacity(items.len());
    match params.feedback {
        Feedback::Implicit => {
            let g = item_factors.t().dot(item_factors);
            for p in 0..k {
                for q in 0..k {
                    a[p * k + q] = g[[p, q]] as f64;
                }
                a[p * k + p] += params.regularization as f64;
            }
            for (&i, &r) in items.iter().zip(values) {
                let c = params.confidence.of(params.alpha, r) as f64;
                let pref = if r > 0.0 { 1.0 } else { 0.0 };
                add_outer(&mut a, y(i).as_slice().unwrap(), c - 1.0);
                coef.push(c * pref);
            }
        }
        Feedback::Explicit => {
            for (&i, &r) in items.iter().zip(values) {
                add_outer(&mut a, y(i).as_slice().unwrap(), 1.0);
                coef.push(r as f64);
            }
            let lambda = params.regularization as f64 * items.len() as f64;
            for p in 0..k {
                a[p * k + p] += lambda;
            }
        }
    }
    // w = A⁻¹ y_target, then each term cⱼ (w · yⱼ).
    let mut w: Vec<f64> = y(target).iter().map(|&v| v as f64).collect();
    if !crate::linalg::cholesky_solve(&mut a, &mut w, k) {
        return Some(Vec::new());
    }
    let mut terms: Vec<(u32, f32)> = items
        .iter()
        .zip(&coef)
        .map(|(&j, &c)| {
            let dot: f64 = w.iter().zip(y(j)).map(|(a, &b)| a * b as f64).sum();
            (j, (c * dot) as f32)
        })
        .collect();
    terms.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    terms.truncate(n);
    Some(terms)
}

fn add_outer(a: &mut [f64], v: &[f32], weight: f64) {
    let k = v.len();
    for p in 0..k {
        for q in 0..k {
            a[p * k + q] += weight * v[p] as f64 * v[q] as f64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::als::fold_in_user;
    use rand::{Rng, SeedableRng};

    /// Brute force: A built entry by entry, inverted by Gauss-Jordan elimination, every term
    /// `cⱼ yₜᵀ A⁻¹ yⱼ` computed directly; the terms add up to the fold-in score.
    fn brute(
        y: &Array2<f32>,
        items: &[u32],
        values: &[f32],
        p: &AlsParams,
        t: u32,
    ) -> Vec<(u32, f64)> {
        let k = y.ncols();
        let mut a = vec![vec![0f64; k]; k];
        let mut c = Vec::new();
        for r in 0..k {
            for s in 0..k {
                if p.feedback == Feedback::Implicit {
                    for i in 0..y.nrows() {
                        a[r][s] += y[[i, r]] as f64 * y[[i, s]] as f64;
                    }
                }
            }
        }
        for (&j, &v) in items.iter().zip(values) {
            let w = match p.feedback {
                Feedback::Implicit => p.confidence.of(p.alpha, v) as f64 - 1.0,
                Feedback::Explicit => 1.0,
            };
            c.push(match p.feedback {
                Feedback::Implicit => p.confidence.of(p.alpha, v) as f64,
                Feedback::Explicit => v as f64,
            });
            for r in 0..k {
                for s in 0..k {
                    a[r][s] += w * y[[j as usize, r]] as f64 * y[[j as usize, s]] as f64;
                }
            }
        }
        let lambda = match p.feedback {
            Feedback::Implicit => p.regularization as f64,
            Feedback::Explicit => p.regularization as f64 * items.len() as f64,
        };
        for (r, row) in a.iter_mut().enumerate() {
            row[r] += lambda;
        }
        // Gauss-Jordan inverse.
        let mut inv = vec![vec![0f64; k]; k];
        for (r, row) in inv.iter_mut().enumerate() {
            row[r] = 1.0;
        }
        for col in 0..k {
            let piv = (col..k)
                .max_by(|&x, &z| a[x][col].abs().total_cmp(&a[z][col].abs()))
                .unwrap();
            a.swap(col, piv);
            inv.swap(col, piv);
            let d = a[col][col];
            for s in 0..k {
                a[col][s] /= d;
                inv[col][s] /= d;
            }
            for r in 0..k {
                if r != col {
                    let f = a[r][col];
                    for s in 0..k {
                        a[r][s] -= f * a[col][s];
                        inv[r][s] -= f * inv[col][s];
                    }
                }
            }
        }
        items
            .iter()
            .zip(&c)
            .map(|(&j, &cj)| {
                let mut v = 0.0;
                for r in 0..k {
                    for s in 0..k {
                        v += y[[t as usize, r]] as f64 * inv[r][s] * y[[j as usize, s]] as f64;
                    }
                }
                (j, cj * v)
            })
            .collect()
    }

    #[test]
    fn contributions_match_brute_force_and_add_up_to_the_score() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let (n_items, k) = (30, 5);
        let y = Array2::from_shape_fn((n_items, k), |_| rng.gen_range(-0.5f32..0.5));
        let items: Vec<u32> = vec![1, 4, 7, 11, 19, 25];
        let values: Vec<f32> = items.iter().map(|_| rng.gen_range(1.0f32..5.0)).collect();
        for p in [
            AlsParams {
                factors: k,
                ..AlsParams::implicit()
            },
            AlsParams {
                factors: k,
                ..AlsParams::explicit()
            },
        ] {
            let target = 13;
            let got = explain(&y, &items, &values, &p, target, items.len()).unwrap();
            let want = brute(&y, &items, &values, &p, target);
            for (j, w) in &want {
                let g = got.iter().find(|(i, _)| i == j).unwrap().1 as f64;
                assert!(
                    (g - w).abs() < 1e-3 * (1.0 + w.abs()),
                    "{:?} item {j}: {g} vs {w}",
                    p.feedback
                );
            }
            // The terms add up to the score the fold-in gives.
            let x = fold_in_user(&y, &items, &values, &p, None);
            let score: f64 = (0..k)
                .map(|r| x[r] as f64 * y[[target as usize, r]] as f64)
                .sum();
            let total: f64 = want.iter().map(|(_, w)| w).sum();
            assert!(
                (score - total).abs() < 1e-3 * (1.0 + score.abs()),
                "{:?}: {score} vs {total}",
                p.feedback
            );
            // Largest first, truncated.
            let top = explain(&y, &items, &values, &p, target, 3).unwrap();
            assert_eq!(top.len(), 3);
            assert!(top.windows(2).all(|w| w[0].1 >= w[1].1));
        }
        let nn = AlsParams {
            nonnegative: true,
            factors: k,
            ..AlsParams::explicit()
        };
        assert!(explain(&y, &items, &values, &nn, 0, 3).is_none());
    }
}
