//! Alternating least squares matrix factorisation.
//!
//! Two models share one driver ([`fit`]): each iteration fixes the item factors `Y` and solves
//! every user row, then fixes `X` and solves every item row, in parallel with rayon.
//!
//! **Explicit ratings (ALS-WR, as Spark MLlib):** minimise
//! `Σ_(u,i) observed (r_ui − x_uᵀy_i)² + λ(Σ_u n_u‖x_u‖² + Σ_i n_i‖y_i‖²)`, where `n_u`, `n_i`
//! count ratings. Each user row solves `(Σ_i y_i y_iᵀ + λ n_u I) x_u = Σ_i r_ui y_i` by Cholesky
//! (or by NNLS with non-negative factors).
//!
//! **Implicit feedback (Hu, Koren and Volinsky 2008):** every (u, i) cell counts, with
//! preference `p_ui = 1` where `r_ui > 0` (else 0) and confidence `c_ui = 1 + α|r_ui|` (1 for
//! unobserved cells); minimise `Σ_all c_ui (p_ui − x_uᵀy_i)² + λ(‖X‖² + ‖Y‖²)`. Each row solves
//! `(YᵀY + λI + Σ_i∈u (c_ui − 1) y_i y_iᵀ) x_u = Σ_i∈u c_ui p_ui y_i`, where `YᵀY` is shared by
//! all rows, so a row costs O(n_u k² ) (Cholesky: O(k³) more) or, with the conjugate-gradient
//! solver of benfred/implicit, O(cg_steps · (k² + n_u k)) warm-started from the previous factor.

mod explain;
mod explicit;
mod fixed_rank;
mod implicit;
mod params;

pub use explain::explain;
pub use params::{AlsError, AlsParams, Confidence, Feedback, Solver};

use std::time::Instant;

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::csr::Csr;

/// What one iteration achieved, for progress bars and the model's training history.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IterationReport {
    /// 1-based iteration number.
    pub iteration: usize,
    /// The model's objective after the iteration, normalised (explicit: by the number of
    /// ratings; implicit: by total confidence, as benfred/implicit reports it).
    pub loss: f64,
    /// Explicit models: RMSE on the training ratings; implicit: `null`.
    pub train_rmse: Option<f64>,
    /// Wall-clock seconds the iteration took.
    pub seconds: f64,
}

/// Fitted factors: row `u` of `user_factors` and row `i` of `item_factors` score `x_uᵀ y_i`.
#[derive(Debug, Clone)]
pub struct AlsModel {
    /// Users × factors.
    pub user_factors: Array2<f32>,
    /// Items × factors.
    pub item_factors: Array2<f32>,
    /// Parameters used.
    pub params: AlsParams,
    /// One report per iteration.
    pub history: Vec<IterationReport>,
}

/// Fits ALS on a user×item matrix, calling `on_iteration` after each iteration.
///
/// Runs on a rayon pool of `params.threads` threads (0: all cores). Results do not depend on
/// the thread count: every row solve reads only the other side's factors.
pub fn fit(
    matrix: &Csr,
    params: &AlsParams,
    on_iteration: &mut dyn FnMut(&IterationReport),
) -> Result<AlsModel, AlsError> {
    params.check()?;
    if matrix.nnz() == 0 {
        return Err(AlsError::EmptyMatrix);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let user_factors = init_factors(matrix.nrows(), params, &mut rng);
    let item_factors = init_factors(matrix.ncols, params, &mut rng);
    let start = AlsModel {
        user_factors,
        item_factors,
        params: AlsParams {
            iterations: 0,
            ..params.clone()
        },
        history: vec![],
    };
    iterate(matrix, start, params.iterations, on_iteration)
}

/// Runs `more` further iterations on a fitted model (same matrix), as if it had been fitted
/// with `iterations + more` in the first place: an iteration depends only on the factors, so
/// `resume(fit(m, p with n), k)` equals `fit(m, p with n + k)` bit for bit. Successive halving
/// in [`crate::tune`] uses this to extend the surviving trials instead of refitting them.
pub fn resume(
    matrix: &Csr,
    model: AlsModel,
    more: usize,
    on_iteration: &mut dyn FnMut(&IterationReport),
) -> Result<AlsModel, AlsError> {
    if matrix.nnz() == 0 {
        return Err(AlsError::EmptyMatrix);
    }
    iterate(matrix, model, more, on_iteration)
}

fn iterate(
    matrix: &Csr,
    model: AlsModel,
    more: usize,
    on_iteration: &mut dyn FnMut(&IterationReport),
) -> Result<AlsModel, AlsError> {
    let AlsModel {
        mut user_factors,
        mut item_factors,
        mut params,
        mut history,
    } = model;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(params.threads)
        .build()
        .map_err(|e| AlsError::ThreadPool(e.to_string()))?;
    let transpose = matrix.transpose();
    let done = params.iterations;
    history.reserve(more);
    for iteration in done + 1..=done + more {
        let start = Instant::now();
        let (loss, train_rmse) = pool.install(|| match params.feedback {
            Feedback::Explicit => {
                explicit::solve_rows(matrix, &item_factors, &mut user_factors, &params);
                let sq_err =
                    explicit::solve_rows(&transpose, &user_factors, &mut item_factors, &params);
                let (loss, rmse) = explicit::objective(
                    matrix,
                    &transpose,
                    &user_factors,
                    &item_factors,
                    sq_err,
                    &params,
                );
                (loss, Some(rmse))
            }
            Feedback::Implicit => {
                implicit::solve_rows(matrix, &item_factors, &mut user_factors, &params);
                implicit::solve_rows(&transpose, &user_factors, &mut item_factors, &params);
                (
                    implicit::loss(matrix, &user_factors, &item_factors, &params),
                    None,
                )
            }
        });
        // A non-finite loss or factor would make a model that serves zeros or that nothing
        // can load: stop here, before anything is written.
        let non_finite = |m: &Array2<f32>| m.iter().any(|v| !v.is_finite());
        let bad = if !loss.is_finite() || train_rmse.is_some_and(|r| !r.is_finite()) {
            Some("the loss")
        } else if non_finite(&user_factors) {
            Some("a user factor")
        } else if non_finite(&item_factors) {
            Some("an item factor")
        } else {
            None
        };
        if let Some(what) = bad {
            return Err(AlsError::Diverged { iteration, what });
        }
        let report = IterationReport {
            iteration,
            loss,
            train_rmse,
            seconds: start.elapsed().as_secs_f64(),
        };
        tracing::debug!(
            iteration,
            loss,
            ?train_rmse,
            seconds = report.seconds,
            "als iteration"
        );
        on_iteration(&report);
        history.push(report);
    }
    params.iterations = done + more;
    Ok(AlsModel {
        user_factors,
        item_factors,
        params,
        history,
    })
}

/// Computes one user's factor from their interactions, holding the item factors fixed: the
/// same maths as one ALS half-step. Serves users who were not in training (fold-in) and
/// checks the solvers against an independent computation in tests.
///
/// `items`/`values` are the user's item indices and ratings; `yty` is `YᵀY` (implicit only,
/// `None` computes it).
pub fn fold_in_user(
    item_factors: &Array2<f32>,
    items: &[u32],
    values: &[f32],
    params: &AlsParams,
    yty: Option<&Array2<f32>>,
) -> Vec<f32> {
    let k = item_factors.ncols();
    let mut x = vec![0f32; k];
    match params.feedback {
        Feedback::Explicit => explicit::solve_one(item_factors, items, values, params, &mut x),
        Feedback::Implicit => {
            x = implicit_fold_in(item_factors, items, values, params, yty, None);
        }
    }
    x
}

/// The exact implicit row solve, with `YᵀY + λI` computed here when not given.
fn implicit_fold_in(
    item_factors: &Array2<f32>,
    items: &[u32],
    values: &[f32],
    params: &AlsParams,
    yty: Option<&Array2<f32>>,
    prior: Option<&[f32]>,
) -> Vec<f32> {
    let mut x = vec![0f32; item_factors.ncols()];
    let owned;
    let yty = match yty {
        Some(g) => g,
        None => {
            owned = implicit::gramian(item_factors, params.regularization);
            &owned
        }
    };
    implicit::solve_exact(item_factors, yty, items, values, params, prior, &mut x);
    x
}

/// [`fold_in_user`] pulled towards `prior` instead of towards zero: the penalty `λ‖x‖²`
/// becomes `λ‖x − x₀‖²` (explicit: `λ·n‖x − x₀‖²`), so a row with little evidence stays near
/// its prior and moves away as evidence grows. Gives a new item's factor from its first
/// interactions with its content factor ([`crate::content`]) as the prior.
pub fn fold_in_towards(
    item_factors: &Array2<f32>,
    items: &[u32],
    values: &[f32],
    params: &AlsParams,
    yty: Option<&Array2<f32>>,
    prior: &[f32],
) -> Vec<f32> {
    let k = item_factors.ncols();
    match params.feedback {
        // Only observed cells count: solve for x − x₀ against the residuals r − y·x₀.
        Feedback::Explicit => {
            let rows = item_factors.as_slice().expect("contiguous");
            let residuals: Vec<f32> = items
                .iter()
                .zip(values)
                .map(|(&i, &r)| r - crate::linalg::dot(&rows[i as usize * k..][..k], prior))
                .collect();
            // The step may be negative where x₀ is positive: solved unconstrained, clamped after.
            let unconstrained = AlsParams {
                nonnegative: false,
                ..params.clone()
            };
            let step = fold_in_user(item_factors, items, &residuals, &unconstrained, None);
            step.iter()
                .zip(prior)
                .map(|(d, p)| {
                    let x = d + p;
                    if params.nonnegative {
                        x.max(0.0)
                    } else {
                        x
                    }
                })
                .collect()
        }
        Feedback::Implicit => {
            implicit_fold_in(item_factors, items, values, params, yty, Some(prior))
        }
    }
}

/// The part of every fold-in's system that does not depend on the row, `YᵀY + λI` over the
/// fixed side's `factors` (implicit only: an explicit solve has none). Computed once for many
/// [`fold_in_user`] calls.
pub fn fold_in_gramian(factors: &Array2<f32>, params: &AlsParams) -> Option<Array2<f32>> {
    (params.feedback == Feedback::Implicit)
        .then(|| implicit::gramian(factors, params.regularization))
}

fn init_factors(rows: usize, params: &AlsParams, rng: &mut ChaCha8Rng) -> Array2<f32> {
    let k = params.factors;
    let mut m = Array2::<f32>::zeros((rows, k));
    for mut row in m.rows_mut() {
        match params.feedback {
            // Spark: Gaussian rows scaled to unit length (absolute values when non-negative).
            Feedback::Explicit => {
                let mut norm = 0f32;
                for v in row.iter_mut() {
                    let g: f32 = rng.sample(StandardNormal);
                    *v = if params.nonnegative { g.abs() } else { g };
                    norm += *v * *v;
                }
                let norm = norm.sqrt().max(f32::MIN_POSITIVE);
                row.mapv_inplace(|v| v / norm);
            }
            // implicit: small uniform values, so the first solves are driven by the data.
            Feedback::Implicit => {
                for v in row.iter_mut() {
                    *v = rng.gen::<f32>() * 0.01;
                }
            }
        }
    }
    m
}

#[cfg(test)]
mod tests;
