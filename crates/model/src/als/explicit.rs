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
    /// Per-rating products and residuals of the CG solve.
    t: Vec<f32>,
    e: Vec<f32>,
    /// Buffers of the fixed-rank kernels (see [`super::fixed_rank`]).
    fixed_rank: super::fixed_rank::Buffers,
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
            t: Vec::new(),
            e: Vec::new(),
            fixed_rank: Default::default(),
        }
    }
}

/// Solves every row of `matrix` against the fixed factors `other`, writing into `out`.
/// Returns the sum of squared errors of all ratings at the new factors: the data term of the
/// objective, computed from factors the solves have already gathered rather than by another
/// pass over the ratings.
pub(super) fn solve_rows(
    matrix: &Csr,
    other: &Array2<f32>,
    out: &mut Array2<f32>,
    params: &AlsParams,
) -> f64 {
    let k = params.factors;
    let slice = out.as_slice_mut().expect("factor matrices are contiguous");
    slice
        .par_chunks_mut(k)
        .enumerate()
        .map_init(
            || Scratch::new(k),
            |scratch, (row, x)| {
                let (items, values) = matrix.row(row);
                solve_with(scratch, other, items, values, params, x)
            },
        )
        .sum()
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

/// Solves one row; returns the squared error of its ratings at the new factor.
fn solve_with(
    s: &mut Scratch,
    other: &Array2<f32>,
    items: &[u32],
    values: &[f32],
    params: &AlsParams,
    x: &mut [f32],
) -> f64 {
    let k = params.factors;
    if items.is_empty() {
        // No evidence: the regularised optimum is zero (also keeps unseen ids harmless).
        x.fill(0.0);
        return 0.0;
    }
    let y_all = other.as_slice().expect("contiguous");
    if params.solver == Solver::Cg && !params.nonnegative {
        return solve_cg(s, y_all, items, values, params, x);
    }
    // Σ y yᵀ as one SGEMM, then λ·n on the diagonal; b = Σ r y from the rows it gathered.
    crate::linalg::weighted_gram(y_all, k, items, None, &mut s.gather, &mut s.gram);
    s.b.fill(0.0);
    for (y, &r) in s.gather.chunks_exact(k).zip(values) {
        for (b, &yp) in s.b.iter_mut().zip(y) {
            *b += r as f64 * yp as f64;
        }
    }
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
    } else {
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
    // `gather` still holds the row's factors, one after another.
    s.gather
        .chunks_exact(k)
        .zip(values)
        .map(|(y, &v)| (v as f64 - dot(y, x) as f64).powi(2))
        .sum()
}

/// Warm-started conjugate gradient on `(Y_uᵀY_u + λ n_u I) x = Y_uᵀ r_u`, never forming the
/// `k×k` matrix: each step costs two passes over the row's `n_u × k` gathered factors
/// (`4 n_u k` flops) instead of the `n_u k² + k³/3` of building and factoring the system.
/// Each step lowers the row's objective, so every sweep still lowers the total loss; with
/// the previous sweep's factor as the start, a few steps per sweep track the exact solution
/// (the README's benchmark table compares the two). Returns the row's squared error.
///
/// Ranks that [`super::fixed_rank`] has a kernel for (8 to 20, multiples of 8 up to 128) run
/// there; others run [`solve_cg_general`].
fn solve_cg(
    s: &mut Scratch,
    y_all: &[f32],
    items: &[u32],
    values: &[f32],
    params: &AlsParams,
    x: &mut [f32],
) -> f64 {
    let (lambda, steps) = (params.regularization, params.cg_steps);
    if let Some(sq_err) =
        super::fixed_rank::solve_cg(&mut s.fixed_rank, y_all, items, values, lambda, steps, x)
    {
        return sq_err;
    }
    solve_cg_general(s, y_all, items, values, params, x)
}

/// [`solve_cg`] for any rank: the kernel the fixed-rank ones in [`super::fixed_rank`] are checked
/// against.
pub(super) fn solve_cg_general(
    s: &mut Scratch,
    y_all: &[f32],
    items: &[u32],
    values: &[f32],
    params: &AlsParams,
    x: &mut [f32],
) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::linalg::has_avx2_fma() {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { solve_cg_avx2(s, y_all, items, values, params, x) };
        }
    }
    solve_cg_kernel::<false>(s, y_all, items, values, params, x)
}

/// [`solve_cg`] compiled for AVX2+FMA as a whole, so that its many short dot products and
/// axpys inline.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn solve_cg_avx2(
    s: &mut Scratch,
    y_all: &[f32],
    items: &[u32],
    values: &[f32],
    params: &AlsParams,
    x: &mut [f32],
) -> f64 {
    solve_cg_kernel::<true>(s, y_all, items, values, params, x)
}

/// Below this many factors, [`solve_cg_kernel`] gathers factors transposed (see there). Most
/// ranks in this range take the faster fixed-rank kernels of [`super::fixed_rank`] instead.
/// Measured on the 10M synthetic set (15 iterations, 2 threads): at 10 factors 1.6 s
/// transposed vs 3.3 s by rows; at 64 factors 13.7 s transposed vs 5.8 s by rows.
const TRANSPOSED_BELOW: usize = 32;

/// One CG solve with the residuals `e = r − Y x` kept up to date from the products each step
/// computes anyway, which gives the squared error at the end for free.
///
/// With few factors the row's factors are gathered transposed (`k` columns of `n` values), so
/// both products of a step, `t = Y p` and `Yᵀ t`, run along the row's `n` ratings in full SIMD
/// width: `k` axpys and `k` dot products of length `n`, where one dot product of length `k`
/// per rating would be mostly horizontal sums. With many factors, rows (one dot product and
/// one axpy of length `k` per rating) are faster: the transposed copy is written with a
/// stride of `n` into `k` separate streams.
#[inline(always)]
fn solve_cg_kernel<const FMA: bool>(
    s: &mut Scratch,
    y_all: &[f32],
    items: &[u32],
    values: &[f32],
    params: &AlsParams,
    x: &mut [f32],
) -> f64 {
    let dot = dot_kernel::<FMA>;
    let axpy = axpy_kernel::<FMA>;
    let k = params.factors;
    let n = items.len();
    let transposed = k < TRANSPOSED_BELOW;
    let Scratch {
        gather: g,
        rhs: r,
        p,
        ap,
        t,
        e,
        ..
    } = s;
    if transposed {
        g.clear();
        g.resize(k * n, 0.0);
        let columns = &mut g[..];
        for (j, &i) in items.iter().enumerate() {
            if let Some(&next) = items.get(j + crate::linalg::PREFETCH_AHEAD) {
                crate::linalg::prefetch_row(y_all, k, next);
            }
            let y = &y_all[i as usize * k..(i as usize + 1) * k];
            debug_assert!(j < n && columns.len() == k * n);
            for (f, &v) in y.iter().enumerate() {
                // SAFETY: f < k and j < n, so f·n + j < k·n = columns.len(); this scatter is
                // the hottest loop of a sweep at small k, and the bounds check doubled it.
                unsafe { *columns.get_unchecked_mut(f * n + j) = v };
            }
        }
    } else {
        crate::linalg::gather_rows(y_all, k, items, g);
    }
    let g = &g[..];
    let lambda = params.regularization * n as f32;
    // e = r_u − Y x;  r = Yᵀe − λn x  (= b − A x).
    y_times::<FMA>(g, k, n, transposed, x, t);
    e.clear();
    e.extend(values.iter().zip(t.iter()).map(|(&v, &tv)| v - tv));
    yt_times_plus::<FMA>(g, k, n, transposed, e, -lambda, x, r);
    let mut rs_old = dot(r, r);
    if rs_old >= 1e-20 {
        p.copy_from_slice(r);
        for _ in 0..params.cg_steps {
            // t = Y p;  A p = Yᵀt + λn p.
            y_times::<FMA>(g, k, n, transposed, p, t);
            yt_times_plus::<FMA>(g, k, n, transposed, t, lambda, p, ap);
            let step = rs_old / dot(p, ap);
            axpy(step, p, x);
            axpy(-step, ap, r);
            axpy(-step, t, e);
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
    e.iter().map(|&v| (v as f64) * (v as f64)).sum()
}

/// `t = Y v` for the gathered factors `g` (`n` rows of `k`, or transposed). A function, not a
/// closure, so that it inlines into the AVX2 build of its caller (a closure would be compiled
/// without the caller's target features, and `mul_add` would become a library call).
#[inline(always)]
fn y_times<const FMA: bool>(
    g: &[f32],
    k: usize,
    n: usize,
    transposed: bool,
    v: &[f32],
    t: &mut Vec<f32>,
) {
    t.clear();
    if transposed {
        t.resize(n, 0.0);
        for (f, &vf) in v.iter().enumerate() {
            axpy_kernel::<FMA>(vf, &g[f * n..(f + 1) * n], t);
        }
    } else {
        // A plain loop: a closure here would lose the caller's target features.
        for y in g.chunks_exact(k) {
            t.push(dot_kernel::<FMA>(y, v));
        }
    }
}

/// `out = Yᵀ t + c·v` for the gathered factors `g` (see [`y_times`]).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn yt_times_plus<const FMA: bool>(
    g: &[f32],
    k: usize,
    n: usize,
    transposed: bool,
    t: &[f32],
    c: f32,
    v: &[f32],
    out: &mut [f32],
) {
    if transposed {
        for (f, o) in out.iter_mut().enumerate() {
            *o = dot_kernel::<FMA>(&g[f * n..(f + 1) * n], t) + c * v[f];
        }
    } else {
        for (o, &vf) in out.iter_mut().zip(v) {
            *o = c * vf;
        }
        for (y, &tj) in g.chunks_exact(k).zip(t) {
            axpy_kernel::<FMA>(tj, y, out);
        }
    }
}

/// Objective per rating and training RMSE from the squared error the item sweep returned
/// (`sq_err`, at the final factors): adds the ALS-WR penalty `λ Σ n_u‖x_u‖² + λ Σ n_i‖y_i‖²`.
pub(super) fn objective(
    matrix: &Csr,
    transpose: &Csr,
    users: &Array2<f32>,
    items: &Array2<f32>,
    sq_err: f64,
    params: &AlsParams,
) -> (f64, f64) {
    let penalty = |m: &Csr, factors: &Array2<f32>| -> f64 {
        factors
            .rows()
            .into_iter()
            .enumerate()
            .map(|(row, f)| {
                let n = if row < m.nrows() {
                    m.row(row).0.len()
                } else {
                    0
                };
                n as f64 * f.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>()
            })
            .sum()
    };
    let reg = penalty(matrix, users) + penalty(transpose, items);
    let nnz = matrix.nnz().max(1) as f64;
    let objective = sq_err + params.regularization as f64 * reg;
    (objective / nnz, (sq_err / nnz).sqrt())
}

/// Objective per rating and training RMSE by a separate pass over the ratings: the
/// independent computation [`objective`] is checked against.
#[cfg(test)]
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
