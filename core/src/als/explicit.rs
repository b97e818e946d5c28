//! ALS-WR row solves for explicit ratings (Spark MLlib's formulation).

use ndarray::Array2;
use rayon::prelude::*;

use super::AlsParams;
use crate::csr::Csr;
use crate::linalg::{dot, nnls};

/// Per-thread buffers for one `k×k` system.
pub(super) struct Scratch {
    a: Vec<f64>,
    b: Vec<f64>,
    gram: Vec<f32>,
    rhs: Vec<f32>,
    gather: Vec<f32>,
    transposed: Vec<f32>,
}

impl Scratch {
    pub(super) fn new(k: usize) -> Self {
        Scratch {
            a: vec![0.0; k * k],
            b: vec![0.0; k],
            gram: vec![0.0; k * k],
            rhs: vec![0.0; k],
            gather: Vec::new(),
            transposed: Vec::new(),
        }
    }
}

/// Solves every row of `matrix` against the fixed factors `other`, writing into `out`.
pub(super) fn solve_rows(
    matrix: &Csr,
    other: &Array2<f32>,
    out: &mut Array2<f32>,
    params: &AlsParams,
) {
    let k = params.factors;
    let slice = out.as_slice_mut().expect("factor matrices are contiguous");
    slice.par_chunks_mut(k).enumerate().for_each_init(
        || Scratch::new(k),
        |scratch, (row, x)| {
            let (items, values) = matrix.row(row);
            solve_with(scratch, other, items, values, params, x);
        },
    );
}

/// Solves one row (see [`super::fold_in_user`]).
pub(super) fn solve_one(
    other: &Array2<f32>,
    items: &[u32],
    values: &[f32],
    params: &AlsParams,
    x: &mut [f32],
) {
    solve_with(
        &mut Scratch::new(params.factors),
        other,
        items,
        values,
        params,
        x,
    );
}

fn solve_with(
    s: &mut Scratch,
    other: &Array2<f32>,
    items: &[u32],
    values: &[f32],
    params: &AlsParams,
    x: &mut [f32],
) {
    let k = params.factors;
    if items.is_empty() {
        // No evidence: the regularised optimum is zero (also keeps unseen ids harmless).
        x.fill(0.0);
        return;
    }
    s.b.fill(0.0);
    let y_all = other.as_slice().expect("contiguous");
    for (&i, &r) in items.iter().zip(values) {
        let y = &y_all[i as usize * k..(i as usize + 1) * k];
        for (b, &yp) in s.b.iter_mut().zip(y) {
            *b += r as f64 * yp as f64;
        }
    }
    // Σ y yᵀ as one SGEMM, then λ·n on the diagonal.
    crate::linalg::weighted_gram(y_all, k, items, None, &mut s.gather, &mut s.gram);
    let lambda = params.regularization as f64 * items.len() as f64;
    if !params.nonnegative {
        for p in 0..k {
            s.gram[p * k + p] += lambda as f32;
        }
        for (r, &b) in s.rhs.iter_mut().zip(&s.b) {
            *r = b as f32;
        }
        if crate::linalg::cholesky_solve_f32(&mut s.gram, &mut s.rhs, k, &mut s.transposed) {
            x.copy_from_slice(&s.rhs);
        }
        // Else (λ = 0 and fewer ratings than factors) the previous factor stays.
        return;
    }
    for (a, &g) in s.a.iter_mut().zip(&s.gram) {
        *a = g as f64;
    }
    for p in 0..k {
        s.a[p * k + p] += lambda;
    }
    let mut warm: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    nnls(&s.a, &s.b, &mut warm, k, 200);
    for (xi, w) in x.iter_mut().zip(warm) {
        *xi = w as f32;
    }
}

/// Objective per rating and training RMSE.
pub(super) fn loss(
    matrix: &Csr,
    users: &Array2<f32>,
    items: &Array2<f32>,
    params: &AlsParams,
) -> (f64, f64) {
    let k = params.factors;
    let (u_all, i_all) = (users.as_slice().unwrap(), items.as_slice().unwrap());
    let (sq_err, reg_users) = (0..matrix.nrows())
        .into_par_iter()
        .map(|u| {
            let x = &u_all[u * k..(u + 1) * k];
            let (cols, vals) = matrix.row(u);
            let err: f64 = cols
                .iter()
                .zip(vals)
                .map(|(&i, &r)| {
                    let e = r as f64 - dot(x, &i_all[i as usize * k..(i as usize + 1) * k]) as f64;
                    e * e
                })
                .sum();
            (err, cols.len() as f64 * dot(x, x) as f64)
        })
        .reduce(|| (0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
    let mut item_counts = vec![0usize; matrix.ncols];
    for &i in &matrix.indices {
        item_counts[i as usize] += 1;
    }
    let reg_items: f64 = item_counts
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            n as f64 * dot(&i_all[i * k..(i + 1) * k], &i_all[i * k..(i + 1) * k]) as f64
        })
        .sum();
    let nnz = matrix.nnz().max(1) as f64;
    let objective = sq_err + params.regularization as f64 * (reg_users + reg_items);
    (objective / nnz, (sq_err / nnz).sqrt())
}
