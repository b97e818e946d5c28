//! The small dense solvers ALS runs once per user and item row: Cholesky for the exact
//! normal equations, conjugate gradient for the implicit model's fast approximate solve,
//! and a non-negative least squares for ALS with non-negative factors.
//!
//! Systems are `k×k` (k = factors, tens to hundreds), so simple loops over row-major
//! slices beat calls into a general linear-algebra library here.

/// Solves `A x = b` for symmetric positive definite `A` (row-major `n×n`) in place:
/// `a` is overwritten by its Cholesky factor, `b` by the solution.
/// Returns false when `A` is not positive definite (then `b` is unspecified).
pub fn cholesky_solve(a: &mut [f64], b: &mut [f64], n: usize) -> bool {
    if !cholesky_factor(a, n) {
        return false;
    }
    cholesky_substitute(a, b, n);
    true
}

/// Overwrites the lower triangle of `a` (row-major `n×n`, symmetric positive definite) with
/// its Cholesky factor `L` (`A = LLᵀ`), for solving with several right-hand sides through
/// [`cholesky_substitute`]. Returns false when `A` is not positive definite.
pub fn cholesky_factor(a: &mut [f64], n: usize) -> bool {
    debug_assert_eq!(a.len(), n * n);
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= a[j * n + k] * a[j * n + k];
        }
        if d <= 0.0 || !d.is_finite() {
            return false;
        }
        let d = d.sqrt();
        a[j * n + j] = d;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s / d;
        }
    }
    true
}

/// Solves `LLᵀ x = b` in place for the factor [`cholesky_factor`] left in `l`.
pub fn cholesky_substitute(l: &[f64], b: &mut [f64], n: usize) {
    // Forward: L y = b.
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * n + k] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
    // Backward: L^T x = y.
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= l[k * n + i] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
}

/// [`cholesky_solve`] in f32, the row solves' hot path. Right-looking on the upper factor
/// `U` (`A = UᵀU`, row-major), so every inner loop is a contiguous `y −= s·x` over a row tail:
/// no horizontal reductions, which dominate dot-product (Crout) forms at k ≈ 64. The whole
/// routine is compiled for AVX2+FMA when the CPU has it (chosen at run time like [`dot`]).
/// Reads the upper triangle of `a` and overwrites it with `U` (the lower triangle is scratch).
/// Returns false when `A` is not positive definite.
pub fn cholesky_solve_f32(a: &mut [f32], b: &mut [f32], n: usize) -> bool {
    debug_assert_eq!(a.len(), n * n);
    debug_assert_eq!(b.len(), n);
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2_fma() {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { cholesky_solve_f32_avx2(a, b, n) };
        }
    }
    cholesky_solve_f32_kernel::<false>(a, b, n)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn cholesky_solve_f32_avx2(a: &mut [f32], b: &mut [f32], n: usize) -> bool {
    cholesky_solve_f32_kernel::<true>(a, b, n)
}

#[inline(always)]
fn cholesky_solve_f32_kernel<const FMA: bool>(a: &mut [f32], b: &mut [f32], n: usize) -> bool {
    // Factor: for each pivot row j, scale it by 1/√d, then subtract its outer product from the
    // trailing upper triangle, one row tail at a time.
    for j in 0..n {
        let (done, rest) = a.split_at_mut((j + 1) * n);
        let row_j = &mut done[j * n..];
        let d = row_j[j];
        if d <= 0.0 || !d.is_finite() {
            return false;
        }
        let d = d.sqrt();
        let inv = 1.0 / d;
        row_j[j] = d;
        for v in &mut row_j[j + 1..] {
            *v *= inv;
        }
        let row_j = &row_j[..];
        for i in j + 1..n {
            let s = -row_j[i];
            // Start at a multiple of 8 (but past the pivot column) so that the update runs in
            // whole 8-lane vectors; the few extra cells are below the diagonal, never read.
            let start = (i & !7).max(j + 1);
            let row_i = &mut rest[(i - j - 1) * n + start..(i - j) * n];
            axpy8_kernel::<FMA>(s, &row_j[start..], row_i);
        }
    }
    // Forward: Uᵀ y = b, as axpys over U's rows.
    for m in 0..n {
        let y = b[m] / a[m * n + m];
        b[m] = y;
        axpy_kernel::<FMA>(-y, &a[m * n + m + 1..(m + 1) * n], &mut b[m + 1..]);
    }
    // Backward: U x = y, as dot products with U's row tails.
    for i in (0..n).rev() {
        let s = b[i] - dot_kernel::<FMA>(&a[i * n + i + 1..(i + 1) * n], &b[i + 1..n]);
        b[i] = s / a[i * n + i];
    }
    true
}

/// Non-negative least squares on normal equations: minimises `½xᵀAx − bᵀx` subject to
/// `x ≥ 0` by cyclic coordinate descent (each step is the exact 1-D minimiser clipped at 0).
/// `x` holds the warm start on entry and the solution on exit.
pub fn nnls(a: &[f64], b: &[f64], x: &mut [f64], n: usize, sweeps: usize) {
    for xi in x.iter_mut() {
        *xi = xi.max(0.0);
    }
    for _ in 0..sweeps {
        let mut change = 0.0f64;
        for j in 0..n {
            let ajj = a[j * n + j];
            if ajj <= 0.0 {
                continue;
            }
            let grad: f64 = (0..n).map(|k| a[j * n + k] * x[k]).sum::<f64>() - b[j];
            let new = (x[j] - grad / ajj).max(0.0);
            change = change.max((new - x[j]).abs());
            x[j] = new;
        }
        if change < 1e-10 {
            break;
        }
    }
}

/// `out = Σ_j w_j y_j y_jᵀ` over the rows `rows` of the row-major `factors` (`k` columns), as
/// one SGEMM of the gathered (and `√w`-scaled) rows: the normal-equation matrix of a row solve,
/// computed at GEMM speed rather than as `n` rank-one updates. `gather` is scratch space; with
/// no weights it holds the rows themselves afterwards, which callers may reuse.
pub fn weighted_gram(
    factors: &[f32],
    k: usize,
    rows: &[u32],
    weights: Option<&[f32]>,
    gather: &mut Vec<f32>,
    out: &mut [f32],
) {
    let n = rows.len();
    gather_rows(factors, k, rows, gather);
    if let Some(w) = weights {
        for (y, &wj) in gather.chunks_exact_mut(k).zip(w) {
            let s = wj.max(0.0).sqrt();
            y.iter_mut().for_each(|v| *v *= s);
        }
    }
    debug_assert_eq!(out.len(), k * k);
    if n == 0 {
        out.fill(0.0);
        return;
    }
    // SAFETY: `gather` holds n×k floats (row stride k), `out` k×k; the strides below describe
    // Gᵀ (k×n) times G (n×k) into a row-major k×k matrix within those bounds.
    unsafe {
        matrixmultiply::sgemm(
            k,
            n,
            k,
            1.0,
            gather.as_ptr(),
            1,
            k as isize,
            gather.as_ptr(),
            k as isize,
            1,
            0.0,
            out.as_mut_ptr(),
            k as isize,
            1,
        );
    }
}

/// Copies rows `rows` of the row-major `matrix` (`k` columns) into `out`, one after another.
/// Rows are scattered over a matrix that is often larger than the caches, so the loop asks
/// the CPU to prefetch a few rows ahead: a row solve that reuses the copy several times then
/// waits on main memory once per row instead of once per use.
pub fn gather_rows(matrix: &[f32], k: usize, rows: &[u32], out: &mut Vec<f32>) {
    out.clear();
    out.reserve(rows.len() * k);
    for (j, &r) in rows.iter().enumerate() {
        if let Some(&next) = rows.get(j + PREFETCH_AHEAD) {
            prefetch_row(matrix, k, next);
        }
        out.extend_from_slice(&matrix[r as usize * k..(r as usize + 1) * k]);
    }
}

/// How many rows ahead [`gather_rows`] and its kin prefetch (measured on 10M interactions:
/// 4 rows gained nothing, 16 gained 10-20% of an ALS sweep, 32 no more than 16).
pub const PREFETCH_AHEAD: usize = 16;

/// Asks the CPU to start loading row `row` of the row-major `matrix` (`k` columns) into
/// cache; a hint with no effect on results (and none on other architectures).
#[inline(always)]
pub fn prefetch_row(matrix: &[f32], k: usize, row: u32) {
    #[cfg(target_arch = "x86_64")]
    {
        let row = &matrix[row as usize * k..(row as usize + 1) * k];
        for line in (0..k).step_by(16) {
            // SAFETY: prefetching is a hint with no memory effects; the address is in bounds.
            unsafe {
                std::arch::x86_64::_mm_prefetch(
                    row.as_ptr().add(line) as *const i8,
                    std::arch::x86_64::_MM_HINT_T0,
                )
            };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (matrix, k, row);
}

/// Whether the AVX2+FMA builds of the kernels may run on this CPU: the one run-time check
/// behind every `#[target_feature]` dispatch in the crate (the standard library caches the
/// CPUID answer, so calling it per row costs a load and a branch).
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// Dot product of two f32 slices: the innermost kernel of the CG solver and top-k.
///
/// Dispatches at run time to an AVX2+FMA build of the same loop where the CPU has it (every
/// x86-64 server of the last decade), so release binaries stay portable to any x86-64.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2_fma() {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { dot_avx2(a, b) };
        }
    }
    dot_kernel::<false>(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_kernel::<true>(a, b)
}

/// The loop behind [`dot`], for callers that are themselves compiled per instruction set:
/// 16 independent accumulators so the loop vectorises (2×8 lanes with AVX2); with `FMA`,
/// products are fused into the accumulation.
#[inline(always)]
pub(crate) fn dot_kernel<const FMA: bool>(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 16];
    let chunks = n / 16;
    for c in 0..chunks {
        let (x, y) = (&a[c * 16..c * 16 + 16], &b[c * 16..c * 16 + 16]);
        for l in 0..16 {
            acc[l] = if FMA {
                x[l].mul_add(y[l], acc[l])
            } else {
                acc[l] + x[l] * y[l]
            };
        }
    }
    let mut s = 0f32;
    for v in acc {
        s += v;
    }
    for i in chunks * 16..n {
        s += a[i] * b[i];
    }
    s
}

/// `y += alpha * x`, dispatched like [`dot`].
#[inline]
pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2_fma() {
            // SAFETY: as in `dot`.
            return unsafe { axpy_avx2(alpha, x, y) };
        }
    }
    axpy_kernel::<false>(alpha, x, y)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn axpy_avx2(alpha: f32, x: &[f32], y: &mut [f32]) {
    axpy_kernel::<true>(alpha, x, y)
}

/// The loop behind [`axpy`], for callers that are themselves compiled per instruction set.
#[inline(always)]
pub(crate) fn axpy_kernel<const FMA: bool>(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi = if FMA {
            alpha.mul_add(*xi, *yi)
        } else {
            *yi + alpha * xi
        };
    }
}

/// `y += alpha * x` in 8-lane AVX2 FMA vectors when `FMA` (only instantiated inside functions
/// compiled for AVX2+FMA), then a scalar tail.
#[inline(always)]
fn axpy8_kernel<const FMA: bool>(alpha: f32, x: &[f32], y: &mut [f32]) {
    let n = x.len().min(y.len());
    let whole = if FMA { n / 8 * 8 } else { 0 };
    #[cfg(target_arch = "x86_64")]
    if FMA {
        use std::arch::x86_64::*;
        // SAFETY: callers with FMA = true run only where AVX2 and FMA were detected; every
        // access is within the first `whole ≤ n` elements of both slices.
        unsafe {
            let a = _mm256_set1_ps(alpha);
            let (xp, yp) = (x.as_ptr(), y.as_mut_ptr());
            let mut c = 0;
            while c < whole {
                let v = _mm256_fmadd_ps(a, _mm256_loadu_ps(xp.add(c)), _mm256_loadu_ps(yp.add(c)));
                _mm256_storeu_ps(yp.add(c), v);
                c += 8;
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let whole = 0;
    axpy_kernel::<FMA>(alpha, &x[whole..n], &mut y[whole..n]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_known_system() {
        // A = [[4, 2], [2, 3]], b = [2, 1] -> x = [0.5, 0].
        let mut a = vec![4.0, 2.0, 2.0, 3.0];
        let mut b = vec![2.0, 1.0];
        assert!(cholesky_solve(&mut a, &mut b, 2));
        assert!((b[0] - 0.5).abs() < 1e-12 && b[1].abs() < 1e-12);
    }

    #[test]
    fn f32_cholesky_matches_f64_on_random_spd_systems() {
        for n in [1usize, 2, 5, 17, 63, 64, 100, 128] {
            // A = MᵀM + n·I is symmetric positive definite.
            let m: Vec<f64> = (0..n * n)
                .map(|v| ((v * 7919 % 97) as f64 - 48.0) / 50.0)
                .collect();
            let mut a64 = vec![0f64; n * n];
            for i in 0..n {
                for j in 0..n {
                    a64[i * n + j] = (0..n).map(|t| m[t * n + i] * m[t * n + j]).sum::<f64>()
                        + if i == j { n as f64 } else { 0.0 };
                }
            }
            let b64: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
            let (mut a32, mut b32): (Vec<f32>, Vec<f32>) = (
                a64.iter().map(|&v| v as f32).collect(),
                b64.iter().map(|&v| v as f32).collect(),
            );
            let (mut a, mut b) = (a64.clone(), b64.clone());
            assert!(cholesky_solve(&mut a, &mut b, n));
            let a32_in = a32.clone();
            assert!(cholesky_solve_f32(&mut a32, &mut b32, n));
            // Independent check: the residual of the original system.
            for i in 0..n {
                let ax: f64 = (0..n)
                    .map(|j| a32_in[i * n + j] as f64 * b32[j] as f64)
                    .sum();
                assert!(
                    (ax - b64[i]).abs() < 1e-3 * (1.0 + b64[i].abs()),
                    "n={n} row {i}: residual {}",
                    ax - b64[i]
                );
            }
            for i in 0..n {
                assert!(
                    (b32[i] as f64 - b[i]).abs() < 1e-4 * (1.0 + b[i].abs()),
                    "n={n} i={i}: {} vs {}",
                    b32[i],
                    b[i]
                );
            }
        }
        let mut bad = vec![1.0f32, 2.0, 2.0, 1.0];
        assert!(!cholesky_solve_f32(&mut bad, &mut [1.0, 1.0], 2));
    }

    #[test]
    fn cholesky_rejects_indefinite() {
        let mut a = vec![1.0, 2.0, 2.0, 1.0];
        let mut b = vec![1.0, 1.0];
        assert!(!cholesky_solve(&mut a, &mut b, 2));
    }

    #[test]
    fn nnls_matches_unconstrained_when_interior_and_clips_otherwise() {
        // Unconstrained solution [0.5, 0.25] is feasible.
        let a = [2.0, 0.0, 0.0, 4.0];
        let mut x = [0.0, 0.0];
        nnls(&a, &[1.0, 1.0], &mut x, 2, 100);
        assert!((x[0] - 0.5).abs() < 1e-9 && (x[1] - 0.25).abs() < 1e-9);
        // b = [1, -1]: x1 wants to be negative, so it is 0 and x0 = 0.5 (KKT: grad_1 = 1 >= 0).
        let mut x = [0.3, 0.3];
        nnls(&a, &[1.0, -1.0], &mut x, 2, 100);
        assert!((x[0] - 0.5).abs() < 1e-9 && x[1] == 0.0);
    }

    #[test]
    fn weighted_gram_matches_rank_one_updates() {
        let k = 5;
        let factors: Vec<f32> = (0..40)
            .map(|v| ((v * 37 % 11) as f32 - 5.0) / 3.0)
            .collect();
        let rows = [0u32, 3, 7, 3];
        let w = [1.0f32, 2.0, 0.5, 4.0];
        let mut out = vec![0f32; k * k];
        weighted_gram(&factors, k, &rows, Some(&w), &mut Vec::new(), &mut out);
        for p in 0..k {
            for q in 0..k {
                let want: f32 = rows
                    .iter()
                    .zip(&w)
                    .map(|(&r, &wj)| wj * factors[r as usize * k + p] * factors[r as usize * k + q])
                    .sum();
                assert!(
                    (out[p * k + q] - want).abs() < 1e-4,
                    "({p},{q}) {} vs {want}",
                    out[p * k + q]
                );
            }
        }
        weighted_gram(&factors, k, &[], None, &mut Vec::new(), &mut out);
        assert!(out.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn dot_and_axpy_match_naive_for_every_length() {
        for n in [0usize, 1, 7, 15, 16, 17, 37, 64, 128, 131] {
            let a: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 3.0).collect();
            let b: Vec<f32> = (0..n).map(|i| 1.0 - i as f32 * 0.01).collect();
            let naive: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            assert!(
                (dot(&a, &b) as f64 - naive).abs() < 1e-3 * (1.0 + naive.abs()),
                "n={n}"
            );
            assert!(
                (dot_kernel::<false>(&a, &b) as f64 - naive).abs() < 1e-3 * (1.0 + naive.abs())
            );
            let mut y = b.clone();
            axpy(2.0, &a, &mut y);
            for i in 0..n {
                assert!((y[i] - (b[i] + 2.0 * a[i])).abs() < 1e-4);
            }
        }
    }
}
