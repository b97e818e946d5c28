//! Hu-Koren-Volinsky row solves for implicit feedback, with the conjugate-gradient scheme of
//! benfred/implicit and an exact Cholesky mode to check it against.

use ndarray::Array2;
use rayon::prelude::*;

use super::{AlsParams, Solver};
use crate::csr::Csr;
use crate::linalg::{axpy_kernel, dot, dot_kernel};

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
    slice.par_chunks_mut(k).enumerate().for_each_init(
        || CgScratch::new(k),
        |scratch, (row, x)| {
            let (items, values) = matrix.row(row);
            if exact {
                solve_exact(other, &yty, items, values, params, None, x);
            } else {
                solve_cg(scratch, other, &yty, items, values, params, x);
            }
        },
    );
}

/// Solves one row exactly, by Cholesky (fold-in, the exact solver, and the reference CG is
/// tested against).
pub(super) fn solve_exact(
    other: &Array2<f32>,
    yty: &Array2<f32>,
    items: &[u32],
    values: &[f32],
    params: &AlsParams,
    prior: Option<&[f32]>,
    x: &mut [f32],
) {
    let k = params.factors;
    let y_all = other.as_slice().expect("contiguous");
    let g = yty.as_slice().expect("contiguous");
    let y_of = |i: u32| &y_all[i as usize * k..(i as usize + 1) * k];
    let mut b = vec![0f64; k];
    let mut weights = Vec::with_capacity(items.len());
    for (&i, &r) in items.iter().zip(values) {
        let (c, p) = confidence(params, r);
        weights.push(c - 1.0);
        for (bs, &ys) in b.iter_mut().zip(y_of(i)) {
            *bs += (c * p) as f64 * ys as f64;
        }
    }
    // A prior x₀ turns the penalty λ‖x‖² into λ‖x − x₀‖²: λx₀ joins the right-hand side.
    if let Some(x0) = prior {
        for (bs, &p) in b.iter_mut().zip(x0) {
            *bs += f64::from(params.regularization) * f64::from(p);
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
}

/// Per-thread buffers of the CG solve, reused across rows so that a sweep allocates nothing
/// per row.
struct CgScratch {
    r: Vec<f32>,
    p: Vec<f32>,
    ap: Vec<f32>,
    /// `c − 1` and `c·p` of each of the row's interactions, computed once per row rather than
    /// once per CG step (the log confidence costs a logarithm).
    weight: Vec<f32>,
    target: Vec<f32>,
    /// The row's item factors copied together: read once from a matrix too big for cache,
    /// then reused by every CG step from L1/L2.
    gathered: Vec<f32>,
    /// Buffers of the fixed-rank kernels (see [`super::fixed_rank`]).
    fixed_rank: super::fixed_rank::Buffers,
}

impl CgScratch {
    fn new(k: usize) -> Self {
        CgScratch {
            r: vec![0.0; k],
            p: vec![0.0; k],
            ap: vec![0.0; k],
            weight: Vec::new(),
            target: Vec::new(),
            gathered: Vec::new(),
            fixed_rank: Default::default(),
        }
    }
}

/// A few warm-started conjugate-gradient steps on `(YᵀY + λI + Σ (c − 1) y yᵀ) x = Σ c p y`,
/// as benfred/implicit does them: `O(cg_steps · (k² + n k))` per row.
fn solve_cg(
    s: &mut CgScratch,
    other: &Array2<f32>,
    yty: &Array2<f32>,
    items: &[u32],
    values: &[f32],
    params: &AlsParams,
    x: &mut [f32],
) {
    s.weight.clear();
    s.target.clear();
    for &v in values {
        let (c, p) = confidence(params, v);
        s.weight.push(c - 1.0);
        s.target.push(c * p);
    }
    let y_all = other.as_slice().expect("contiguous");
    let g = yty.as_slice().expect("contiguous");
    let (w, b) = (&s.weight[..], &s.target[..]);
    if super::fixed_rank::implicit_cg(&mut s.fixed_rank, y_all, g, items, w, b, params.cg_steps, x)
    {
        return;
    }
    solve_cg_general(s, y_all, g, items, params.cg_steps, x)
}

/// [`solve_cg_general`] on given weights (`c − 1`) and targets (`c·p`), for the tests.
#[cfg(test)]
pub(super) fn solve_cg_general_with(
    y_all: &[f32],
    g: &[f32],
    items: &[u32],
    weight: &[f32],
    target: &[f32],
    steps: usize,
    x: &mut [f32],
) {
    let mut s = CgScratch::new(x.len());
    s.weight.extend_from_slice(weight);
    s.target.extend_from_slice(target);
    solve_cg_general(&mut s, y_all, g, items, steps, x)
}

/// [`solve_cg`] for any rank, once the weights and targets are in `s`: the kernel the
/// fixed-rank ones in [`super::fixed_rank`] are checked against.
fn solve_cg_general(
    s: &mut CgScratch,
    y_all: &[f32],
    g: &[f32],
    items: &[u32],
    steps: usize,
    x: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::linalg::has_avx2_fma() {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { cg_avx2(s, y_all, g, items, steps, x) };
        }
    }
    cg_kernel::<false>(s, y_all, g, items, steps, x)
}

/// [`cg_kernel`] compiled for AVX2+FMA as a whole, so its short dot products and axpys inline.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn cg_avx2(
    s: &mut CgScratch,
    y_all: &[f32],
    g: &[f32],
    items: &[u32],
    steps: usize,
    x: &mut [f32],
) {
    cg_kernel::<true>(s, y_all, g, items, steps, x)
}

#[inline(always)]
fn cg_kernel<const FMA: bool>(
    s: &mut CgScratch,
    y_all: &[f32],
    g: &[f32],
    items: &[u32],
    steps: usize,
    x: &mut [f32],
) {
    let dot = dot_kernel::<FMA>;
    let axpy = axpy_kernel::<FMA>;
    let k = x.len();
    let CgScratch {
        r,
        p,
        ap,
        weight,
        target,
        gathered,
        ..
    } = s;
    crate::linalg::gather_rows(y_all, k, items, gathered);
    // r = b − A x, with A x = (YᵀY + λI) x + Σ (c − 1)(yᵀx) y.
    symv::<FMA>(g, x, r, k);
    r.iter_mut().for_each(|v| *v = -*v);
    for ((y, &w), &t) in gathered
        .chunks_exact(k)
        .zip(weight.iter())
        .zip(target.iter())
    {
        axpy(t - w * dot(y, x), y, r);
    }
    p.copy_from_slice(r);
    let mut rs_old = dot(r, r);
    if rs_old < 1e-20 {
        return;
    }
    for _ in 0..steps {
        symv::<FMA>(g, p, ap, k);
        for (y, &w) in gathered.chunks_exact(k).zip(weight.iter()) {
            axpy(w * dot(y, p), y, ap);
        }
        let step = rs_old / dot(p, ap);
        axpy(step, p, x);
        axpy(-step, ap, r);
        let rs_new = dot(r, r);
        if rs_new < 1e-20 {
            break;
        }
        let beta = rs_new / rs_old;
        for (pi, ri) in p.iter_mut().zip(r.iter()) {
            *pi = ri + beta * *pi;
        }
        rs_old = rs_new;
    }
}

/// `out = G v` for a symmetric row-major `k×k` matrix, as `k` axpys of its rows (= columns):
/// no horizontal sums, unlike `k` dot products.
#[inline(always)]
fn symv<const FMA: bool>(g: &[f32], v: &[f32], out: &mut [f32], k: usize) {
    out.fill(0.0);
    for (j, &vj) in v.iter().enumerate() {
        axpy_kernel::<FMA>(vj, &g[j * k..(j + 1) * k], out);
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
