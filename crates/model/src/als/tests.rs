//! Tests of the ALS solvers against independent computations.
// Index loops read like the linear algebra they check.
#![allow(clippy::needless_range_loop)]

use super::*;
use rand::Rng;

/// A random matrix `U Vᵀ` of exact rank `rank`, and a Bernoulli(`density`) mask of observed cells.
fn low_rank(
    users: usize,
    items: usize,
    rank: usize,
    density: f64,
    seed: u64,
) -> (Array2<f32>, Vec<(u32, u32, f32)>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let u = Array2::from_shape_fn((users, rank), |_| rng.gen_range(-1.0f32..1.0));
    let v = Array2::from_shape_fn((items, rank), |_| rng.gen_range(-1.0f32..1.0));
    let full = u.dot(&v.t());
    let mut observed = Vec::new();
    for a in 0..users {
        for b in 0..items {
            if rng.gen_bool(density) {
                observed.push((a as u32, b as u32, full[[a, b]]));
            }
        }
    }
    (full, observed)
}

fn csr(triplets: &[(u32, u32, f32)], rows: usize, cols: usize) -> Csr {
    Csr::from_triplets(triplets.iter().copied(), rows, cols)
}

/// Gaussian elimination with partial pivoting: deliberately a different algorithm from the
/// Cholesky and CG under test.
fn gauss_solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for col in 0..n {
        let piv = (col..n)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap();
        a.swap(col, piv);
        b.swap(col, piv);
        for r in col + 1..n {
            let f = a[r][col] / a[col][col];
            for c in col..n {
                a[r][c] -= f * a[col][c];
            }
            b[r] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|c| a[r][c] * x[c]).sum();
        x[r] = (b[r] - s) / a[r][r];
    }
    x
}

fn params(feedback: Feedback, factors: usize) -> AlsParams {
    let base = match feedback {
        Feedback::Explicit => AlsParams::explicit(),
        Feedback::Implicit => AlsParams::implicit(),
    };
    // The reference computations below use the linear confidence c = 1 + α r.
    AlsParams {
        factors,
        threads: 2,
        confidence: Confidence::Linear,
        ..base
    }
}

/// ALS is a descent method: each half-step minimises the objective over one side exactly (or,
/// with CG, lowers it), so the loss may never rise from one iteration to the next.
fn assert_loss_never_rises(model: &AlsModel) {
    for w in model.history.windows(2) {
        assert!(
            w[1].loss <= w[0].loss + 1e-9,
            "loss rose: {:?}",
            model.history
        );
    }
}

fn fit_quiet(m: &Csr, p: &AlsParams) -> AlsModel {
    fit(m, p, &mut |_| {}).unwrap()
}

#[test]
fn explicit_loss_decreases_every_iteration() {
    let (_, obs) = low_rank(60, 50, 4, 0.3, 1);
    let model = fit_quiet(
        &csr(&obs, 60, 50),
        &AlsParams {
            iterations: 10,
            ..params(Feedback::Explicit, 6)
        },
    );
    assert_loss_never_rises(&model);
    assert!(model.history.last().unwrap().loss < model.history[0].loss);
}

#[test]
fn explicit_loss_decreases_every_iteration_with_exact_solver() {
    let (_, obs) = low_rank(60, 50, 4, 0.3, 1);
    let p = AlsParams {
        iterations: 10,
        solver: Solver::Cholesky,
        ..params(Feedback::Explicit, 6)
    };
    let model = fit_quiet(&csr(&obs, 60, 50), &p);
    assert_loss_never_rises(&model);
}

#[test]
fn explicit_cg_agrees_with_cholesky() {
    let (_, obs) = low_rank(70, 50, 4, 0.3, 6);
    let noisy: Vec<_> = obs
        .iter()
        .enumerate()
        .map(|(j, &(u, i, r))| (u, i, 3.0 + r + ((j % 7) as f32 - 3.0) * 0.1))
        .collect();
    let m = csr(&noisy, 70, 50);
    let base = AlsParams {
        regularization: 0.05,
        ..params(Feedback::Explicit, 8)
    };
    let exact = fit_quiet(
        &m,
        &AlsParams {
            solver: Solver::Cholesky,
            iterations: 6,
            ..base.clone()
        },
    );
    // With as many CG steps as factors, each row solve is exact (up to rounding).
    let full = fit_quiet(
        &m,
        &AlsParams {
            solver: Solver::Cg,
            cg_steps: 8,
            iterations: 6,
            ..base.clone()
        },
    );
    let (se, sf) = (
        exact.user_factors.dot(&exact.item_factors.t()),
        full.user_factors.dot(&full.item_factors.t()),
    );
    let max_diff = (&se - &sf).iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(max_diff < 1e-2, "max score difference {max_diff}");
    // The default 3 steps per sweep reach (nearly) the exact solver's training error.
    let fast = fit_quiet(
        &m,
        &AlsParams {
            iterations: 15,
            ..base.clone()
        },
    );
    let exact = fit_quiet(
        &m,
        &AlsParams {
            solver: Solver::Cholesky,
            iterations: 15,
            ..base
        },
    );
    let (r_exact, r_fast) = (
        exact.history.last().unwrap().train_rmse.unwrap(),
        fast.history.last().unwrap().train_rmse.unwrap(),
    );
    assert!(
        r_fast <= r_exact * 1.02,
        "cg train RMSE {r_fast} vs exact {r_exact}"
    );
}

#[test]
fn implicit_loss_decreases_with_exact_solver() {
    let (_, obs) = low_rank(60, 50, 4, 0.2, 2);
    let positive: Vec<_> = obs.iter().map(|&(u, i, r)| (u, i, r.abs() * 3.0)).collect();
    let p = AlsParams {
        iterations: 8,
        solver: Solver::Cholesky,
        ..params(Feedback::Implicit, 8)
    };
    let model = fit_quiet(&csr(&positive, 60, 50), &p);
    assert_loss_never_rises(&model);
}

#[test]
fn explicit_recovers_held_out_entries_of_a_low_rank_matrix() {
    let (full, obs) = low_rank(80, 60, 3, 0.5, 3);
    let m = csr(&obs, 80, 60);
    let p = AlsParams {
        regularization: 0.001,
        iterations: 40,
        ..params(Feedback::Explicit, 3)
    };
    let model = fit_quiet(&m, &p);
    let pred = model.user_factors.dot(&model.item_factors.t());
    let observed: std::collections::HashSet<(u32, u32)> =
        obs.iter().map(|&(u, i, _)| (u, i)).collect();
    let (mut se, mut var, mut n) = (0.0f64, 0.0f64, 0usize);
    for u in 0..80 {
        for i in 0..60 {
            if !observed.contains(&(u as u32, i as u32)) {
                se += (pred[[u, i]] - full[[u, i]]).powi(2) as f64;
                var += (full[[u, i]] as f64).powi(2);
                n += 1;
            }
        }
    }
    let rmse = (se / n as f64).sqrt();
    let scale = (var / n as f64).sqrt();
    assert!(rmse < 0.05 * scale, "held-out RMSE {rmse} vs scale {scale}");
}

#[test]
fn cg_agrees_with_cholesky() {
    let (_, obs) = low_rank(50, 40, 4, 0.25, 4);
    let positive: Vec<_> = obs.iter().map(|&(u, i, r)| (u, i, r.abs() * 5.0)).collect();
    let m = csr(&positive, 50, 40);
    let exact = fit_quiet(
        &m,
        &AlsParams {
            solver: Solver::Cholesky,
            iterations: 6,
            ..params(Feedback::Implicit, 8)
        },
    );
    // Enough CG steps to converge per row (k = 8).
    let cg = fit_quiet(
        &m,
        &AlsParams {
            solver: Solver::Cg,
            cg_steps: 16,
            iterations: 6,
            ..params(Feedback::Implicit, 8)
        },
    );
    let (se, sc) = (
        exact.user_factors.dot(&exact.item_factors.t()),
        cg.user_factors.dot(&cg.item_factors.t()),
    );
    let max_diff = (&se - &sc).iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(max_diff < 1e-3, "max score difference {max_diff}");
    // The default 3 warm-started steps per row land close to the exact objective (measured: within 6% after 15 iterations here).
    let fast = fit_quiet(
        &m,
        &AlsParams {
            iterations: 15,
            ..params(Feedback::Implicit, 8)
        },
    );
    let exact = fit_quiet(
        &m,
        &AlsParams {
            solver: Solver::Cholesky,
            iterations: 15,
            ..params(Feedback::Implicit, 8)
        },
    );
    let (l_exact, l_fast) = (
        exact.history.last().unwrap().loss,
        fast.history.last().unwrap().loss,
    );
    assert!(
        l_fast <= l_exact * 1.10,
        "cg loss {l_fast} vs exact {l_exact}"
    );
}

/// The implicit row system, built independently over ALL items (c = 1 on unobserved cells):
/// `(Σ c y yᵀ + λI, Σ c p y)`.
fn dense_implicit(
    y: &Array2<f32>,
    seen: &[u32],
    vals: &[f32],
    alpha: f64,
    lambda: f64,
) -> (Vec<Vec<f64>>, Vec<f64>) {
    let k = y.ncols();
    let mut a = vec![vec![0f64; k]; k];
    let mut b = vec![0f64; k];
    for i in 0..y.nrows() {
        let (c, pref) = match seen.iter().position(|&s| s as usize == i) {
            Some(j) => (1.0 + alpha * vals[j] as f64, 1.0),
            None => (1.0, 0.0),
        };
        for s in 0..k {
            b[s] += c * pref * y[[i, s]] as f64;
            for t in 0..k {
                a[s][t] += c * y[[i, s]] as f64 * y[[i, t]] as f64;
            }
        }
    }
    for (s, row) in a.iter_mut().enumerate() {
        row[s] += lambda;
    }
    (a, b)
}

/// The explicit (ALS-WR) row system: `(Σ y yᵀ + λ·n I, Σ r y)` over the observed cells.
fn dense_explicit(
    y: &Array2<f32>,
    seen: &[u32],
    vals: &[f32],
    lambda: f64,
) -> (Vec<Vec<f64>>, Vec<f64>) {
    let k = y.ncols();
    let mut a = vec![vec![0f64; k]; k];
    let mut b = vec![0f64; k];
    for (&i, &r) in seen.iter().zip(vals) {
        for s in 0..k {
            b[s] += r as f64 * y[[i as usize, s]] as f64;
            for t in 0..k {
                a[s][t] += y[[i as usize, s]] as f64 * y[[i as usize, t]] as f64;
            }
        }
    }
    for (s, row) in a.iter_mut().enumerate() {
        row[s] += lambda * seen.len() as f64;
    }
    (a, b)
}

fn assert_close(got: &[f32], want: &[f64]) {
    for (g, w) in got.iter().zip(want) {
        assert!((*g as f64 - w).abs() < 1e-4, "got {got:?} want {want:?}");
    }
}

fn implicit_case() -> (Array2<f32>, Vec<u32>, Vec<f32>, AlsParams) {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (items, k) = (30, 5);
    let y = Array2::from_shape_fn((items, k), |_| rng.gen_range(-1.0f32..1.0));
    let p = AlsParams {
        alpha: 2.0,
        regularization: 0.3,
        ..params(Feedback::Implicit, k)
    };
    (y, vec![1, 4, 9, 17, 22], vec![1.0, 3.0, 2.0, 5.0, 1.0], p)
}

fn explicit_case() -> (Array2<f32>, Vec<u32>, Vec<f32>, AlsParams) {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let k = 4;
    let y = Array2::from_shape_fn((20, k), |_| rng.gen_range(-1.0f32..1.0));
    let p = AlsParams {
        regularization: 0.1,
        ..params(Feedback::Explicit, k)
    };
    (
        y,
        vec![0, 3, 5, 11, 19, 7],
        vec![4.0, 1.0, 3.5, 2.0, 5.0, 3.0],
        p,
    )
}

#[test]
fn implicit_row_solve_matches_dense_normal_equations() {
    let (y, seen, vals, p) = implicit_case();
    let got = fold_in_user(&y, &seen, &vals, &p, None);
    let (a, b) = dense_implicit(&y, &seen, &vals, 2.0, 0.3);
    assert_close(&got, &gauss_solve(a, b));
}

#[test]
fn explicit_row_solve_matches_dense_normal_equations() {
    let (y, seen, vals, p) = explicit_case();
    let got = fold_in_user(&y, &seen, &vals, &p, None);
    let (a, b) = dense_explicit(&y, &seen, &vals, 0.1);
    assert_close(&got, &gauss_solve(a, b));
}

/// With a prior x₀ the penalty is λ‖x − x₀‖²: the same systems with λx₀ (explicit: λ·n·x₀)
/// added to the right-hand side; with no evidence the answer is the prior itself.
#[test]
fn a_prior_moves_the_penalty_centre_in_both_models() {
    let (y, seen, vals, p) = implicit_case();
    let x0 = [0.5f32, -0.25, 1.0, 0.0, 2.0];
    let got = fold_in_towards(&y, &seen, &vals, &p, None, &x0);
    let (a, mut b) = dense_implicit(&y, &seen, &vals, 2.0, 0.3);
    b.iter_mut().zip(x0).for_each(|(b, x)| *b += 0.3 * x as f64);
    assert_close(&got, &gauss_solve(a, b));

    let (y, seen, vals, p) = explicit_case();
    let x0 = [1.0f32, -1.0, 0.5, 0.25];
    let got = fold_in_towards(&y, &seen, &vals, &p, None, &x0);
    let (a, mut b) = dense_explicit(&y, &seen, &vals, 0.1);
    let n = seen.len() as f64;
    b.iter_mut()
        .zip(x0)
        .for_each(|(b, x)| *b += 0.1 * n * x as f64);
    assert_close(&got, &gauss_solve(a, b));
    assert_eq!(fold_in_towards(&y, &[], &[], &p, None, &x0), x0);
}

#[test]
fn results_do_not_depend_on_thread_count() {
    let (_, obs) = low_rank(40, 30, 3, 0.3, 7);
    let m = csr(&obs, 40, 30);
    for fb in [Feedback::Explicit, Feedback::Implicit] {
        let one = fit_quiet(
            &m,
            &AlsParams {
                threads: 1,
                iterations: 3,
                ..params(fb, 5)
            },
        );
        let two = fit_quiet(
            &m,
            &AlsParams {
                threads: 2,
                iterations: 3,
                ..params(fb, 5)
            },
        );
        assert_eq!(one.user_factors, two.user_factors, "{fb:?}");
        assert_eq!(one.item_factors, two.item_factors, "{fb:?}");
    }
}

#[test]
fn nonnegative_factors_stay_nonnegative_and_fit() {
    let (_, obs) = low_rank(40, 30, 3, 0.4, 8);
    let positive: Vec<_> = obs.iter().map(|&(u, i, r)| (u, i, r + 3.0)).collect();
    let m = csr(&positive, 40, 30);
    let model = fit_quiet(
        &m,
        &AlsParams {
            nonnegative: true,
            iterations: 10,
            ..params(Feedback::Explicit, 4)
        },
    );
    assert!(model
        .user_factors
        .iter()
        .chain(model.item_factors.iter())
        .all(|&v| v >= 0.0));
    assert!(model.history.last().unwrap().train_rmse.unwrap() < 0.6);
}

#[test]
fn invalid_params_are_rejected() {
    let m = csr(&[(0, 0, 1.0)], 1, 1);
    let err = fit(
        &m,
        &AlsParams {
            factors: 0,
            ..AlsParams::explicit()
        },
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(
        err,
        AlsError::InvalidParam {
            name: "factors",
            ..
        }
    ));
    let empty = csr(&[], 2, 2);
    assert_eq!(
        fit(&empty, &AlsParams::explicit(), &mut |_| {}).unwrap_err(),
        AlsError::EmptyMatrix
    );
}

/// Successive halving extends trials with `resume`; that is only sound if resuming is exactly
/// the same computation as fitting with more iterations from the start.
#[test]
fn resume_equals_a_longer_fit() {
    let (_, obs) = low_rank(40, 30, 3, 0.3, 9);
    let m = csr(&obs, 40, 30);
    let p = AlsParams {
        iterations: 3,
        ..params(Feedback::Implicit, 5)
    };
    let short = fit_quiet(&m, &p);
    let resumed = resume(&m, short, 4, &mut |_| {}).unwrap();
    let long = fit_quiet(&m, &AlsParams { iterations: 7, ..p });
    assert_eq!(resumed.user_factors, long.user_factors);
    assert_eq!(resumed.item_factors, long.item_factors);
    assert_eq!(resumed.params, long.params);
    assert_eq!(
        resumed
            .history
            .iter()
            .map(|h| h.iteration)
            .collect::<Vec<_>>(),
        (1..=7).collect::<Vec<_>>()
    );
}

/// The log confidence is `1 + α ln(1 + r)`, and an old `model.json` without the field loads
/// as linear.
#[test]
fn log_confidence_and_serde_default() {
    assert_eq!(Confidence::Linear.of(2.0, 3.0), 7.0);
    assert!((Confidence::Log.of(2.0, 3.0) - (1.0 + 2.0 * 4f32.ln())).abs() < 1e-6);
    let mut json = serde_json::to_value(AlsParams::implicit()).unwrap();
    json.as_object_mut().unwrap().remove("confidence");
    let back: AlsParams = serde_json::from_value(json).unwrap();
    assert_eq!(back.confidence, Confidence::Linear);
    // A log-confidence fit differs from a linear one on non-binary data.
    let (_, obs) = low_rank(30, 20, 2, 0.4, 3);
    let pos: Vec<_> = obs
        .iter()
        .map(|&(u, i, r)| (u, i, r.abs() * 4.0 + 1.0))
        .collect();
    let m = csr(&pos, 30, 20);
    let lin = fit_quiet(
        &m,
        &AlsParams {
            iterations: 2,
            ..params(Feedback::Implicit, 4)
        },
    );
    let log = fit_quiet(
        &m,
        &AlsParams {
            iterations: 2,
            confidence: Confidence::Log,
            ..params(Feedback::Implicit, 4)
        },
    );
    assert_ne!(lin.user_factors, log.user_factors);
}

#[test]
fn explicit_objective_from_the_sweep_equals_a_separate_pass() {
    let (_, obs) = low_rank(50, 40, 3, 0.3, 9);
    let m = csr(&obs, 50, 40);
    // Rank 10 runs the fixed-rank kernel (see `fixed_rank`), rank 4 the general one.
    for (solver, nonnegative, factors) in [
        (Solver::Cg, false, 4),
        (Solver::Cg, false, 10),
        (Solver::Cholesky, false, 4),
        (Solver::Cholesky, true, 4),
    ] {
        let p = AlsParams {
            iterations: 3,
            solver,
            nonnegative,
            ..params(Feedback::Explicit, factors)
        };
        let model = fit_quiet(&m, &p);
        let (loss, rmse) = explicit::loss(&m, &model.user_factors, &model.item_factors, &p);
        let last = model.history.last().unwrap();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-4 * b.abs().max(1e-9);
        assert!(
            close(last.loss, loss),
            "{solver:?}/{nonnegative}: {} vs {loss}",
            last.loss
        );
        assert!(
            close(last.train_rmse.unwrap(), rmse),
            "{solver:?}/{nonnegative}: {:?} vs {rmse}",
            last.train_rmse
        );
    }
}

/// The fixed-rank kernels take the general kernel's CG steps, so they must give its factors
/// and squared error up to float rounding: for every specialised rank, and row lengths below,
/// at and around the 8-rating block (padding lanes must stay inert).
#[test]
fn fixed_rank_cg_kernels_match_the_general_kernel() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let mut ran = 0;
    for k in [
        8usize, 10, 12, 16, 20, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120, 128,
    ] {
        let y = Array2::from_shape_fn((300, k), |_| rng.gen_range(-1.0f32..1.0));
        let y_all = y.as_slice().unwrap();
        for n in [1usize, 5, 8, 9, 16, 23, 100, 299] {
            let items: Vec<u32> = (0..n).map(|_| rng.gen_range(0..300u32)).collect();
            let values: Vec<f32> = (0..n).map(|_| rng.gen_range(1.0f32..5.0)).collect();
            let start: Vec<f32> = (0..k).map(|_| rng.gen_range(-0.5f32..0.5)).collect();
            let p = AlsParams {
                regularization: 0.05,
                ..params(Feedback::Explicit, k)
            };
            let mut want = start.clone();
            let want_sq = explicit::solve_cg_general(
                &mut explicit::Scratch::new(k),
                y_all,
                &items,
                &values,
                &p,
                &mut want,
            );
            let mut got = start.clone();
            let Some(got_sq) = fixed_rank::solve_cg(
                &mut Default::default(),
                y_all,
                &items,
                &values,
                p.regularization,
                p.cg_steps,
                &mut got,
            ) else {
                // Only a CPU without AVX2+FMA may decline a specialised rank.
                #[cfg(target_arch = "x86_64")]
                assert!(!crate::linalg::has_avx2_fma(), "rank {k} not specialised");
                continue;
            };
            ran += 1;
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() <= 1e-4 * w.abs().max(1.0),
                    "k {k} n {n}: {got:?} vs {want:?}"
                );
            }
            assert!(
                // Relative, except near an exact fit (k ≥ n), where the residuals are rounding.
                (got_sq - want_sq).abs() <= 1e-4 * want_sq.max(1e-4 * n as f64),
                "k {k} n {n}: squared error {got_sq} vs {want_sq}"
            );
        }
    }
    // Other ranks go to the general kernel.
    for k in [4usize, 9, 50, 100, 136] {
        let y = vec![0.5f32; 10 * k];
        let mut x = vec![0.1f32; k];
        let none = fixed_rank::solve_cg(
            &mut Default::default(),
            &y,
            &[1, 2],
            &[3.0, 4.0],
            0.1,
            3,
            &mut x,
        );
        assert!(none.is_none(), "rank {k}");
    }
    eprintln!("{ran} fixed-rank solves compared");
}

/// The implicit model's fixed-rank kernels against its general kernel, the same way.
#[test]
fn fixed_rank_implicit_cg_kernels_match_the_general_kernel() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let mut ran = 0;
    for k in [
        8usize, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120, 128,
    ] {
        let y = Array2::from_shape_fn((300, k), |_| rng.gen_range(-0.3f32..0.3));
        let y_all = y.as_slice().unwrap();
        let g = implicit::gramian(&y, 2.0);
        let g = g.as_slice().unwrap();
        for n in [1usize, 5, 8, 9, 23, 100, 299] {
            let items: Vec<u32> = (0..n).map(|_| rng.gen_range(0..300u32)).collect();
            let weight: Vec<f32> = (0..n).map(|_| rng.gen_range(0.0f32..10.0)).collect();
            let target: Vec<f32> = weight.iter().map(|w| w + 1.0).collect();
            let start: Vec<f32> = (0..k).map(|_| rng.gen_range(-0.5f32..0.5)).collect();
            let mut want = start.clone();
            implicit::solve_cg_general_with(y_all, g, &items, &weight, &target, 3, &mut want);
            let mut got = start.clone();
            let done = fixed_rank::implicit_cg(
                &mut Default::default(),
                y_all,
                g,
                &items,
                &weight,
                &target,
                3,
                &mut got,
            );
            if !done {
                // Rank 8 has no implicit kernel; others only decline without AVX2+FMA.
                #[cfg(target_arch = "x86_64")]
                assert!(
                    k == 8 || !crate::linalg::has_avx2_fma(),
                    "rank {k} not specialised"
                );
                assert_eq!(got, start, "declined, so untouched");
                continue;
            }
            ran += 1;
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-3);
            for (a, b) in got.iter().zip(&want) {
                assert!(
                    (a - b).abs() <= 1e-3 * scale,
                    "k {k} n {n}: {got:?} vs {want:?}"
                );
            }
        }
    }
    assert!(ran > 0 || !cfg!(target_arch = "x86_64"));
    eprintln!("{ran} fixed-rank implicit solves compared");
}

#[test]
fn non_finite_training_fails_instead_of_making_a_model() {
    // Values far beyond f32's range (what the readers now refuse) overflow the loss or the
    // factors; both models must say so rather than return factors of inf or NaN.
    let (_, mut obs) = low_rank(30, 20, 3, 0.1, 2);
    obs[0].2 = 3.0e38;
    obs[1].2 = 3.0e38;
    for feedback in [Feedback::Explicit, Feedback::Implicit] {
        let err = fit(&csr(&obs, 30, 20), &params(feedback, 4), &mut |_| {}).unwrap_err();
        assert!(
            matches!(err, AlsError::Diverged { iteration: 1, .. }),
            "{feedback:?}: {err}"
        );
        assert!(err.to_string().contains("not finite"), "{err}");
    }
}
