//! ALS-WR row solves for explicit ratings (Spark MLlib's formulation).

use ndarray::Array2;
use rayon::prelude::*;

use super::{AlsParams, Solver};
use crate::csr::Csr;
use crate::linalg::{axpy_kernel, dot, dot_kernel, nnls};

/// Per-thread buffers for one `k×k` system.
pub(super) struct Scratch {
    a: Vec<f64>,
    b: Vec<f64>,
    gram: Vec<f32>,
    rhs: Vec<f32>,
    gather: Vec<f32>,
    p: Vec<f32>,
    ap: Vec<f32>,
}

impl Scratch {
    pub(super) fn new(k: usize) -> Self {
        Scratch {
            a: vec![0.0; k * k],
            b: vec![0.0; k],
            gram: vec![0.0; k * k],
            rhs: vec![0.0; k],
            gather: Vec::new(),
            p: vec![0.0; k],
            ap: vec![0.0; k],
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

/// Solves one row exactly (see [`super::fold_in_user`]): with no previous factor to start
/// from, a few CG steps would stop short.
pub(super) fn solve_one(
    other: &Array2<f32>,
    items: &[u32],
    values: &[f32],
    params: &AlsParams,
    x: &mut [f32],
) {
    let exact = AlsParams {
        solver: Solver::Cholesky,
        ..params.clone()
    };
    solve_with(
        &mut Scratch::new(params.factors),
        other,
        items,
        values,
        &exact,
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
    let y_all = other.as_slice().expect("contiguous");
    if params.solver == Solver::Cg && !params.nonnegative {
        solve_cg(s, y_all, items, values, params, x);
        return;
    }
    s.b.fill(0.0);
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
        if crate::linalg::cholesky_solve_f32(&mut s.gram, &mut s.rhs, k) {
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

/// Warm-started conjugate gradient on `(Y_uᵀY_u + λ n_u I) x = Y_uᵀ r_u`, never forming the
/// `k×k` matrix: each step costs two passes over the row's `n_u × k` gathered factors
/// (`4 n_u k` flops) instead of the `n_u k² + k³/3` of building and factoring the system.
/// Each step lowers the row's objective, so every sweep still lowers the total loss; with
/// the previous sweep's factor as the start, a few steps per sweep track the exact solution
/// (the README's benchmark table compares the two).
fn solve_cg(
    s: &mut Scratch,
    y_all: &[f32],
    items: &[u32],
    values: &[f32],
    params: &AlsParams,
    x: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { solve_cg_avx2(s, y_all, items, values, params, x) };
        }
    }
    solve_cg_kernel::<false>(s, y_all, items, values, params, x)
}

/// [`solve_cg`] compiled for AVX2+FMA as a whole, so that its many short dot products and
/// axpys inline (at 10 factors, per-call dispatch would cost as much as the arithmetic).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn solve_cg_avx2(
    s: &mut Scratch,
    y_all: &[f32],
    items: &[u32],
    values: &[f32],
    params: &AlsParams,
    x: &mut [f32],
) {
    solve_cg_kernel::<true>(s, y_all, items, values, params, x)
}

#[inline(always)]
fn solve_cg_kernel<const FMA: bool>(
    s: &mut Scratch,
    y_all: &[f32],
    items: &[u32],
    values: &[f32],
    params: &AlsParams,
    x: &mut [f32],
) {
    let dot = dot_kernel::<FMA>;
    let axpy = axpy_kernel::<FMA>;
    let k = params.factors;
    let n = items.len();
    s.gather.clear();
    for &i in items {
        s.gather
            .extend_from_slice(&y_all[i as usize * k..(i as usize + 1) * k]);
    }
    let lambda = params.regularization * n as f32;
    // r = b − A x = Σ (r_j − y_jᵀx) y_j − λn x.
    let r = &mut s.rhs;
    r.iter_mut()
        .zip(x.iter())
        .for_each(|(ri, &xi)| *ri = -lambda * xi);
    for (y, &v) in s.gather.chunks_exact(k).zip(values) {
        axpy(v - dot(y, x), y, r);
    }
    let mut rs_old = dot(r, r);
    if rs_old < 1e-20 {
        return;
    }
    let (p, ap) = (&mut s.p, &mut s.ap);
    p.copy_from_slice(r);
    for _ in 0..params.cg_steps {
        ap.iter_mut()
            .zip(p.iter())
            .for_each(|(a, &pi)| *a = lambda * pi);
        for y in s.gather.chunks_exact(k) {
            axpy(dot(y, p), y, ap);
        }
        let step = rs_old / dot(p, ap);
        axpy(step, p, x);
        axpy(-step, ap, r);
        let rs_new = dot(r, r);
        if rs_new < 1e-20 {
            break;
        }
        let beta = rs_new / rs_old;
        p.iter_mut()
            .zip(r.iter())
            .for_each(|(pi, &ri)| *pi = ri + beta * *pi);
        rs_old = rs_new;
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
