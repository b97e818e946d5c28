//! Hu-Koren-Volinsky row solves for implicit feedback, with the conjugate-gradient scheme of
//! benfred/implicit and an exact Cholesky mode to check it against.

use ndarray::Array2;
use rayon::prelude::*;

use super::{AlsParams, Solver};
use crate::csr::Csr;
use crate::linalg::{axpy, dot};

/// `YᵀY + λI`: the part of every row's system that does not depend on the row.
pub(super) fn gramian(factors: &Array2<f32>, regularization: f32) -> Array2<f32> {
    let mut g = factors.t().dot(factors);
    for p in 0..g.nrows() {
        g[[p, p]] += regularization;
    }
    g
}

/// Confidence and preference of an observed cell: `c = 1 + α|r|` (or `1 + α ln(1 + |r|)`),
/// `p = [r > 0]`.
#[inline]
fn confidence(params: &AlsParams, r: f32) -> (f32, f32) {
    (
        params.confidence.of(params.alpha, r),
        if r > 0.0 { 1.0 } else { 0.0 },
    )
}

/// Solves every row of `matrix` against the fixed factors `other`, warm-starting from `out`.
pub(super) fn solve_rows(
    matrix: &Csr,
    other: &Array2<f32>,
    out: &mut Array2<f32>,
    params: &AlsParams,
) {
    let k = params.factors;
    let yty = gramian(other, params.regularization);
    let slice = out.as_slice_mut().expect("factor matrices are contiguous");
    let exact = params.solver == Solver::Cholesky;
    slice.par_chunks_mut(k).enumerate().for_each(|(row, x)| {
        let (items, values) = matrix.row(row);
        solve_one(other, &yty, items, values, params, x, exact);
    });
}

/// Solves one row; `exact` picks Cholesky over warm-started CG.
pub(super) fn solve_one(
    other: &Array2<f32>,
    yty: &Array2<f32>,
    items: &[u32],
    values: &[f32],
    params: &AlsParams,
    x: &mut [f32],
    exact: bool,
) {
    let k = params.factors;
    let y_all = other.as_slice().expect("contiguous");
    let g = yty.as_slice().expect("contiguous");
    let y_of = |i: u32| &y_all[i as usize * k..(i as usize + 1) * k];
    if exact {
        let mut b = vec![0f64; k];
        let mut weights = Vec::with_capacity(items.len());
        for (&i, &r) in items.iter().zip(values) {
            let (c, p) = confidence(params, r);
            weights.push(c - 1.0);
            for (bs, &ys) in b.iter_mut().zip(y_of(i)) {
                *bs += (c * p) as f64 * ys as f64;
            }
        }
        // YᵀY + λI + Σ (c − 1) y yᵀ, the last term as one SGEMM.
        let mut a = vec![0f32; k * k];
        crate::linalg::weighted_gram(y_all, k, items, Some(&weights), &mut Vec::new(), &mut a);
        for (av, &gv) in a.iter_mut().zip(g) {
            *av += gv;
        }
        let mut rhs: Vec<f32> = b.iter().map(|&v| v as f32).collect();
        if crate::linalg::cholesky_solve_f32(&mut a, &mut rhs, k) {
            x.copy_from_slice(&rhs);
        } else {
            x.fill(0.0);
        }
        return;
    }
    // r = b − A x, with A x = (YᵀY + λI) x + Σ (c − 1)(yᵀx) y.
    let mut r = vec![0f32; k];
    gemv(g, x, &mut r, k);
    r.iter_mut().for_each(|v| *v = -*v);
    for (&i, &v) in items.iter().zip(values) {
        let (c, p) = confidence(params, v);
        let y = y_of(i);
        axpy(c * p - (c - 1.0) * dot(y, x), y, &mut r);
    }
    let mut p = r.clone();
    let mut rs_old = dot(&r, &r);
    if rs_old < 1e-20 {
        return;
    }
    let mut ap = vec![0f32; k];
    for _ in 0..params.cg_steps {
        gemv(g, &p, &mut ap, k);
        for (&i, &v) in items.iter().zip(values) {
            let (c, _) = confidence(params, v);
            let y = y_of(i);
            axpy((c - 1.0) * dot(y, &p), y, &mut ap);
        }
        let step = rs_old / dot(&p, &ap);
        axpy(step, &p, x);
        axpy(-step, &ap, &mut r);
        let rs_new = dot(&r, &r);
        if rs_new < 1e-20 {
            break;
        }
        let beta = rs_new / rs_old;
        for (pi, ri) in p.iter_mut().zip(&r) {
            *pi = ri + beta * *pi;
        }
        rs_old = rs_new;
    }
}

/// `out = G v` for a row-major `k×k` matrix.
#[inline]
fn gemv(g: &[f32], v: &[f32], out: &mut [f32], k: usize) {
    for (s, o) in out.iter_mut().enumerate() {
        *o = dot(&g[s * k..(s + 1) * k], v);
    }
}

/// The full weighted objective (all cells), divided by total confidence as implicit reports it.
pub(super) fn loss(
    matrix: &Csr,
    users: &Array2<f32>,
    items: &Array2<f32>,
    params: &AlsParams,
) -> f64 {
    let k = params.factors;
    let yty = gramian(items, 0.0);
    let g = yty.as_slice().unwrap();
    let (u_all, i_all) = (users.as_slice().unwrap(), items.as_slice().unwrap());
    let (total, conf, user_norm) = (0..matrix.nrows())
        .into_par_iter()
        .map(|u| {
            let x = &u_all[u * k..(u + 1) * k];
            let mut gx = vec![0f32; k];
            gemv(g, x, &mut gx, k);
            // Σ_all-items s² (each unobserved cell has c = 1, p = 0) ...
            let mut l = dot(x, &gx) as f64;
            let mut conf = 0f64;
            let (cols, vals) = matrix.row(u);
            for (&i, &v) in cols.iter().zip(vals) {
                let (c, p) = confidence(params, v);
                let s = dot(x, &i_all[i as usize * k..(i as usize + 1) * k]) as f64;
                // ... corrected on observed cells to c (p − s)².
                l += c as f64 * (p as f64 - s).powi(2) - s * s;
                conf += c as f64;
            }
            (l, conf, dot(x, x) as f64)
        })
        .reduce(|| (0.0, 0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
    let item_norm: f64 = i_all.chunks(k).map(|y| dot(y, y) as f64).sum();
    let objective = total + params.regularization as f64 * (user_norm + item_norm);
    let cells = (matrix.nrows() * matrix.ncols) as f64 - matrix.nnz() as f64 + conf;
    objective / cells.max(1.0)
}
