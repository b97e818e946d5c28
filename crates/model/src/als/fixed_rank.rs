//! CG row solves with the rank a compile-time constant, so that a row's running sums and CG
//! vectors live in registers: [`solve_cg`] for explicit ratings, [`implicit_cg`] for implicit
//! feedback. Each is the same iteration as its general kernel (`explicit::solve_cg_kernel`,
//! `implicit::cg_kernel`: same start, same steps, same stopping rule), so they agree to float
//! rounding; the tests hold them to that.
//!
//! **Small ranks (8, 10, 12, 16, 20; Spark's default is 10): transposed blocks.** A row
//! solve is all data movement there. The general kernel scatters each gathered factor row into
//! `K` columns one float at a time and then reads the columns twice per CG step. Here factors
//! are gathered 8 ratings at a time and transposed in registers (8×8 AVX2 transposes) into
//! blocks of `K` vectors of 8 ratings, and each CG step is one pass over the blocks that
//! computes both `t = Y p` and `Yᵀt`.
//!
//! **Wider ranks (multiples of 8 from 24 to 128): rows.** Factors stay in rows; `t = Y p`
//! takes 8 ratings at a time and reduces their 8 dot products together (one transposing
//! reduction instead of 8 horizontal sums), and `Yᵀt` keeps its `K/8` running sums in
//! registers where the general kernel adds each rating into a vector in memory.
//!
//! Measured on the 10M synthetic set (15 iterations, 2 threads, seconds; general kernel →
//! transposed blocks / rows): rank 10: 1.53 → 0.78 / n.a.; 16: 2.13 → 1.14 / 1.54; 24: 3.04 →
//! 1.90 / 1.70; 32: 3.93 → 2.47 / 1.81; 48: 4.81 → 3.84 / 2.55; 64: 6.03 → n.a. / 3.75; 128:
//! 9.82 → n.a. / 7.43. The implicit model uses the row layout from rank 16 (1M synthetic set:
//! 64 factors 0.86 → 0.51 s, 128 factors 1.85 → 1.38 s). Other ranks run the general kernels.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// 8 floats aligned for AVX loads: one rating block's value of one factor.
#[repr(C, align(32))]
#[derive(Clone, Copy, Default)]
pub(super) struct Lanes([f32; 8]);

/// Per-thread buffers, grown to the longest row seen and then reused.
#[derive(Default)]
pub(super) struct Buffers {
    /// Block `b` holds `K` vectors: factor `f` of the row's ratings `8b..8b+8`.
    blocks: Vec<Lanes>,
    values: Vec<Lanes>,
    t: Vec<Lanes>,
    e: Vec<Lanes>,
    /// The wide kernels' gathered rows (`n × K`), products and residuals (`n` rounded up to 8).
    rows: Vec<f32>,
    t_rows: Vec<f32>,
    e_rows: Vec<f32>,
}

/// The implicit model's CG row solve (see `implicit::cg_kernel`, the same iteration) with the
/// row-layout products of the wide explicit kernel: `A p = G p + Σ w_j (y_j·p) y_j` where `G =
/// YᵀY + λI`, `w_j = c_j − 1`, `b = Σ target_j y_j`. Returns false (nothing done) when the
/// rank has no kernel here or the CPU lacks AVX2+FMA.
#[allow(clippy::too_many_arguments)]
pub(super) fn implicit_cg(
    buffers: &mut Buffers,
    y_all: &[f32],
    g: &[f32],
    items: &[u32],
    weight: &[f32],
    target: &[f32],
    steps: usize,
    x: &mut [f32],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if !crate::linalg::has_avx2_fma() {
            return false;
        }
        let args = (buffers, y_all, g, items, weight, target, steps, x);
        // SAFETY: the CPU supports the features the kernels are compiled for.
        unsafe {
            match args.7.len() {
                16 => implicit_rows_avx2::<16, 2>(args),
                24 => implicit_rows_avx2::<24, 3>(args),
                32 => implicit_rows_avx2::<32, 4>(args),
                40 => implicit_rows_avx2::<40, 5>(args),
                48 => implicit_rows_avx2::<48, 6>(args),
                56 => implicit_rows_avx2::<56, 7>(args),
                64 => implicit_rows_avx2::<64, 8>(args),
                72 => implicit_rows_avx2::<72, 9>(args),
                80 => implicit_rows_avx2::<80, 10>(args),
                88 => implicit_rows_avx2::<88, 11>(args),
                96 => implicit_rows_avx2::<96, 12>(args),
                104 => implicit_rows_avx2::<104, 13>(args),
                112 => implicit_rows_avx2::<112, 14>(args),
                120 => implicit_rows_avx2::<120, 15>(args),
                128 => implicit_rows_avx2::<128, 16>(args),
                _ => return false,
            }
        }
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (buffers, y_all, g, items, weight, target, steps, x);
        false
    }
}

#[cfg(target_arch = "x86_64")]
type ImplicitArgs<'a> = (
    &'a mut Buffers,
    &'a [f32],
    &'a [f32],
    &'a [u32],
    &'a [f32],
    &'a [f32],
    usize,
    &'a mut [f32],
);

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn implicit_rows_avx2<const K: usize, const L: usize>(
    (buffers, y_all, g, items, weight, target, steps, x): ImplicitArgs,
) {
    assert!(K == 8 * L && x.len() == K && g.len() == K * K);
    assert!(items.len() == weight.len() && items.len() == target.len());
    let Buffers {
        rows,
        t_rows: t,
        e_rows: w,
        ..
    } = buffers;
    let padded = gather_padded::<K>(y_all, items, rows, t);
    // Weights padded with zeros: padding rows add nothing.
    w.clear();
    w.extend_from_slice(weight);
    w.resize(padded, 0.0);

    let mut xs = [0.0f32; K];
    xs.copy_from_slice(x);
    // r = b − A x = Σ (target_j − w_j (y_j·x)) y_j − G x.
    dots::<K, L>(rows, &xs, t);
    for ((tj, &wj), &bj) in t.iter_mut().zip(w.iter()).zip(target) {
        *tj = bj - wj * *tj;
    }
    let b_minus = weighted_sum::<K, L>(rows, t);
    let gx = weighted_sum::<K, L>(g, &xs);
    let mut r = [0.0f32; K];
    for f in 0..K {
        r[f] = b_minus[f] - gx[f];
    }
    let Some(mut cg) = Cg::start(r) else {
        return;
    };
    for _ in 0..steps {
        dots::<K, L>(rows, &cg.p, t);
        for (tj, &wj) in t.iter_mut().zip(w.iter()) {
            *tj *= wj;
        }
        let wyp = weighted_sum::<K, L>(rows, t);
        let gp = weighted_sum::<K, L>(g, &cg.p);
        let mut ap = [0.0f32; K];
        for f in 0..K {
            ap[f] = gp[f] + wyp[f];
        }
        if cg.advance(&ap, &mut xs).1 {
            break;
        }
    }
    x.copy_from_slice(&xs);
}

/// Solves one row if its rank has a specialised kernel and the CPU has AVX2+FMA; returns the
/// squared error of the row's ratings at the new factor, or `None` to use the general kernel.
/// `x` holds the previous factor on entry (the warm start) and the new one on return.
pub(super) fn solve_cg(
    buffers: &mut Buffers,
    y_all: &[f32],
    items: &[u32],
    values: &[f32],
    lambda: f32,
    cg_steps: usize,
    x: &mut [f32],
) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        if !crate::linalg::has_avx2_fma() {
            return None;
        }
        let args = (buffers, y_all, items, values, lambda, cg_steps, x);
        // SAFETY (every arm): the CPU supports the features the kernels are compiled for.
        unsafe {
            match args.6.len() {
                8 => Some(solve_transposed_avx2::<8>(args)),
                10 => Some(solve_transposed_avx2::<10>(args)),
                12 => Some(solve_transposed_avx2::<12>(args)),
                16 => Some(solve_transposed_avx2::<16>(args)),
                20 => Some(solve_transposed_avx2::<20>(args)),
                24 => Some(solve_rows_avx2::<24, 3>(args)),
                32 => Some(solve_rows_avx2::<32, 4>(args)),
                40 => Some(solve_rows_avx2::<40, 5>(args)),
                48 => Some(solve_rows_avx2::<48, 6>(args)),
                56 => Some(solve_rows_avx2::<56, 7>(args)),
                64 => Some(solve_rows_avx2::<64, 8>(args)),
                72 => Some(solve_rows_avx2::<72, 9>(args)),
                80 => Some(solve_rows_avx2::<80, 10>(args)),
                88 => Some(solve_rows_avx2::<88, 11>(args)),
                96 => Some(solve_rows_avx2::<96, 12>(args)),
                104 => Some(solve_rows_avx2::<104, 13>(args)),
                112 => Some(solve_rows_avx2::<112, 14>(args)),
                120 => Some(solve_rows_avx2::<120, 15>(args)),
                128 => Some(solve_rows_avx2::<128, 16>(args)),
                _ => None,
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (buffers, y_all, items, values, lambda, cg_steps, x);
        None
    }
}

#[cfg(target_arch = "x86_64")]
type Args<'a> = (
    &'a mut Buffers,
    &'a [f32],
    &'a [u32],
    &'a [f32],
    f32,
    usize,
    &'a mut [f32],
);

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn solve_transposed_avx2<const K: usize>(
    (buffers, y_all, items, values, lambda, cg_steps, x): Args,
) -> f64 {
    assert!(K >= 8 && x.len() == K && items.len() == values.len());
    let n = items.len();
    let blocks_n = n.div_ceil(8);
    let Buffers {
        blocks,
        values: v,
        t,
        e,
        ..
    } = buffers;
    gather_transposed::<K>(y_all, items, blocks);
    v.clear();
    v.resize(blocks_n, Lanes::default());
    for (j, &r) in values.iter().enumerate() {
        v[j / 8].0[j % 8] = r;
    }
    t.clear();
    t.resize(blocks_n, Lanes::default());
    e.clear();
    e.resize(blocks_n, Lanes::default());

    let lambda_n = lambda * n as f32;
    let mut xs = [0.0f32; K];
    xs.copy_from_slice(x);
    // e = r_u − Y x;  r = Yᵀe − λn x  (= b − A x). Padding lanes have zero factors and zero
    // ratings, so their residuals stay zero throughout.
    let yte = products::<K>(blocks, &xs, Some(v), e);
    let mut r = [0.0f32; K];
    for f in 0..K {
        r[f] = yte[f] - lambda_n * xs[f];
    }
    if let Some(mut cg) = Cg::start(r) {
        for _ in 0..cg_steps {
            // t = Y p;  A p = Yᵀt + λn p.
            let ytt = products::<K>(blocks, &cg.p, None, t);
            let mut ap = [0.0f32; K];
            for f in 0..K {
                ap[f] = ytt[f] + lambda_n * cg.p[f];
            }
            let (step, done) = cg.advance(&ap, &mut xs);
            let minus_step = _mm256_set1_ps(-step);
            for (eb, tb) in e.iter_mut().zip(t.iter()) {
                let updated = _mm256_fmadd_ps(minus_step, load(tb), load(eb));
                _mm256_store_ps(eb.0.as_mut_ptr(), updated);
            }
            if done {
                break;
            }
        }
    }
    x.copy_from_slice(&xs);
    // Σ e² in f64, like the general kernel.
    let mut lo = _mm256_setzero_pd();
    let mut hi = _mm256_setzero_pd();
    for eb in e.iter() {
        let ev = load(eb);
        let el = _mm256_cvtps_pd(_mm256_castps256_ps128(ev));
        let eh = _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(ev));
        lo = _mm256_fmadd_pd(el, el, lo);
        hi = _mm256_fmadd_pd(eh, eh, hi);
    }
    let mut sums = [0.0f64; 4];
    _mm256_storeu_pd(sums.as_mut_ptr(), _mm256_add_pd(lo, hi));
    sums.iter().sum()
}

/// The wide-rank solve (`K = 8·L`): factors gathered as rows, see the module docs.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn solve_rows_avx2<const K: usize, const L: usize>(
    (buffers, y_all, items, values, lambda, cg_steps, x): Args,
) -> f64 {
    assert!(K == 8 * L && x.len() == K && items.len() == values.len());
    let n = items.len();
    let Buffers {
        rows,
        t_rows: t,
        e_rows: e,
        ..
    } = buffers;
    let padded = gather_padded::<K>(y_all, items, rows, t);
    // Padding rows have zero ratings, so their residuals stay zero.
    e.clear();
    e.resize(padded, 0.0);

    let lambda_n = lambda * n as f32;
    let mut xs = [0.0f32; K];
    xs.copy_from_slice(x);
    // e = r_u − Y x;  r = Yᵀe − λn x  (= b − A x).
    dots::<K, L>(rows, &xs, t);
    for ((ej, &tj), &v) in e.iter_mut().zip(t.iter()).zip(values) {
        *ej = v - tj;
    }
    let yte = weighted_sum::<K, L>(rows, e);
    let mut r = [0.0f32; K];
    for f in 0..K {
        r[f] = yte[f] - lambda_n * xs[f];
    }
    if let Some(mut cg) = Cg::start(r) {
        for _ in 0..cg_steps {
            // t = Y p;  A p = Yᵀt + λn p.
            dots::<K, L>(rows, &cg.p, t);
            let ytt = weighted_sum::<K, L>(rows, t);
            let mut ap = [0.0f32; K];
            for f in 0..K {
                ap[f] = ytt[f] + lambda_n * cg.p[f];
            }
            let (step, done) = cg.advance(&ap, &mut xs);
            for (ej, &tj) in e.iter_mut().zip(t.iter()) {
                *ej -= step * tj;
            }
            if done {
                break;
            }
        }
    }
    x.copy_from_slice(&xs);
    e.iter().map(|&v| (v as f64) * (v as f64)).sum()
}

/// Copies the factor rows of `items` into `rows`, then zero rows up to a multiple of 8 so that
/// [`dots`] needs no tail (their products are zero); `t` becomes that many zeros. Returns the
/// padded length.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn gather_padded<const K: usize>(
    y_all: &[f32],
    items: &[u32],
    rows: &mut Vec<f32>,
    t: &mut Vec<f32>,
) -> usize {
    let padded = items.len().next_multiple_of(8);
    crate::linalg::gather_rows(y_all, K, items, rows);
    rows.resize(padded * K, 0.0);
    t.clear();
    t.resize(padded, 0.0);
    padded
}

/// `t[j] = y_j · v` for the gathered rows (a multiple of 8 of them), 8 rows at a time: their 8
/// running sums are reduced together into one vector of 8 dot products.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn dots<const K: usize, const L: usize>(rows: &[f32], v: &[f32; K], t: &mut [f32]) {
    debug_assert!(rows.len() == t.len() * K && t.len().is_multiple_of(8));
    for (block, out) in rows.chunks_exact(8 * K).zip(t.chunks_exact_mut(8)) {
        let mut sums = [_mm256_setzero_ps(); 8];
        for (r, sum) in sums.iter_mut().enumerate() {
            let row = &block[r * K..(r + 1) * K];
            let mut acc = _mm256_mul_ps(_mm256_loadu_ps(row.as_ptr()), _mm256_loadu_ps(v.as_ptr()));
            for l in 1..L {
                acc = _mm256_fmadd_ps(
                    _mm256_loadu_ps(row.as_ptr().add(8 * l)),
                    _mm256_loadu_ps(v.as_ptr().add(8 * l)),
                    acc,
                );
            }
            *sum = acc;
        }
        _mm256_storeu_ps(out.as_mut_ptr(), hsum8(sums));
    }
}

/// `Σ_j w_j y_j` over the gathered rows, with the `L` running sums in registers.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn weighted_sum<const K: usize, const L: usize>(rows: &[f32], w: &[f32]) -> [f32; K] {
    let mut acc = [_mm256_setzero_ps(); L];
    for (row, &wj) in rows.chunks_exact(K).zip(w) {
        let wv = _mm256_set1_ps(wj);
        for (l, a) in acc.iter_mut().enumerate() {
            *a = _mm256_fmadd_ps(wv, _mm256_loadu_ps(row.as_ptr().add(8 * l)), *a);
        }
    }
    let mut out = [0.0f32; K];
    for (chunk, a) in out.chunks_exact_mut(8).zip(acc) {
        _mm256_storeu_ps(chunk.as_mut_ptr(), a);
    }
    out
}

/// The 8 horizontal sums of `a`, as one vector (`[Σa[0], …, Σa[7]]`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn hsum8(a: [__m256; 8]) -> __m256 {
    let s01 = _mm256_hadd_ps(a[0], a[1]);
    let s23 = _mm256_hadd_ps(a[2], a[3]);
    let s45 = _mm256_hadd_ps(a[4], a[5]);
    let s67 = _mm256_hadd_ps(a[6], a[7]);
    let s0123 = _mm256_hadd_ps(s01, s23);
    let s4567 = _mm256_hadd_ps(s45, s67);
    _mm256_add_ps(
        _mm256_permute2f128_ps::<0x20>(s0123, s4567),
        _mm256_permute2f128_ps::<0x31>(s0123, s4567),
    )
}

/// Copies the factor rows of `items` into `blocks` transposed: block `b`, vector `f` holds
/// factor `f` of ratings `8b..8b+8` (zeros past the end). Each group of 8 factors is an 8×8
/// register transpose; a rank that is not a multiple of 8 transposes its last 8 factors
/// (overlapping the group before) and keeps only the new ones.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gather_transposed<const K: usize>(y_all: &[f32], items: &[u32], blocks: &mut Vec<Lanes>) {
    let n = items.len();
    let blocks_n = n.div_ceil(8);
    blocks.clear();
    blocks.resize(blocks_n * K, Lanes::default());
    let zero = [0.0f32; K];
    for b in 0..blocks_n {
        let mut rows = [zero.as_ptr(); 8];
        for (lane, row) in rows.iter_mut().enumerate() {
            let j = b * 8 + lane;
            if j < n {
                if let Some(&next) = items.get(j + crate::linalg::PREFETCH_AHEAD) {
                    crate::linalg::prefetch_row(y_all, K, next);
                }
                // Bounds-checked once per rating; the loads below read within this row.
                *row = y_all[items[j] as usize * K..][..K].as_ptr();
            }
        }
        let out = &mut blocks[b * K..(b + 1) * K];
        let mut first = 0;
        while first < K {
            let from = first.min(K - 8);
            let mut m = [_mm256_setzero_ps(); 8];
            for lane in 0..8 {
                // SAFETY: from + 8 ≤ K, and each row pointer addresses K floats.
                m[lane] = _mm256_loadu_ps(rows[lane].add(from));
            }
            let columns = transpose8(m);
            for f in first..from + 8 {
                _mm256_store_ps(out[f].0.as_mut_ptr(), columns[f - from]);
            }
            first = from + 8;
        }
    }
}

/// `w = Y v` (or `w = minus − Y v` when `minus` is given), stored in `w`, and returns `Yᵀw`:
/// both products of a CG step in one pass over the blocks.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn products<const K: usize>(
    blocks: &[Lanes],
    v: &[f32; K],
    minus: Option<&[Lanes]>,
    w: &mut [Lanes],
) -> [f32; K] {
    let mut vb = [_mm256_setzero_ps(); K];
    for f in 0..K {
        vb[f] = _mm256_set1_ps(v[f]);
    }
    let mut acc = [_mm256_setzero_ps(); K];
    for (b, wb) in w.iter_mut().enumerate() {
        let cols = &blocks[b * K..(b + 1) * K];
        // Two partial sums halve the dependency chain of the K multiply-adds.
        let mut even = _mm256_mul_ps(vb[0], load(&cols[0]));
        let mut odd = _mm256_mul_ps(vb[1], load(&cols[1]));
        let mut f = 2;
        while f + 1 < K {
            even = _mm256_fmadd_ps(vb[f], load(&cols[f]), even);
            odd = _mm256_fmadd_ps(vb[f + 1], load(&cols[f + 1]), odd);
            f += 2;
        }
        if f < K {
            even = _mm256_fmadd_ps(vb[f], load(&cols[f]), even);
        }
        let mut t = _mm256_add_ps(even, odd);
        if let Some(minus) = minus {
            t = _mm256_sub_ps(load(&minus[b]), t);
        }
        _mm256_store_ps(wb.0.as_mut_ptr(), t);
        for f in 0..K {
            acc[f] = _mm256_fmadd_ps(t, load(&cols[f]), acc[f]);
        }
    }
    let mut out = [0.0f32; K];
    for f in 0..K {
        out[f] = hsum(acc[f]);
    }
    out
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn load(l: &Lanes) -> __m256 {
    _mm256_load_ps(l.0.as_ptr())
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s));
    _mm_cvtss_f32(s)
}

/// The conjugate-gradient state of one row: residual `r`, direction `p`, `r·r`. The kernels
/// compute `A p` their own way; this does the rest of each step, identically for all of them
/// and as the general kernels do it.
#[cfg(target_arch = "x86_64")]
struct Cg<const K: usize> {
    r: [f32; K],
    p: [f32; K],
    rs: f32,
}

#[cfg(target_arch = "x86_64")]
impl<const K: usize> Cg<K> {
    /// Starts from the residual `r = b − A x`; `None` when `x` already solves the system.
    #[inline(always)]
    fn start(r: [f32; K]) -> Option<Self> {
        let rs = dot::<K>(&r, &r);
        (rs >= 1e-20).then_some(Cg { r, p: r, rs })
    }

    /// One step given `ap = A p`: moves `x` along `p` and updates the residual and direction.
    /// Returns the step length and whether the residual has vanished (stop).
    #[inline(always)]
    fn advance(&mut self, ap: &[f32; K], x: &mut [f32; K]) -> (f32, bool) {
        let step = self.rs / dot::<K>(&self.p, ap);
        for f in 0..K {
            x[f] += step * self.p[f];
            self.r[f] -= step * ap[f];
        }
        let rs_new = dot::<K>(&self.r, &self.r);
        if rs_new < 1e-20 {
            return (step, true);
        }
        let beta = rs_new / self.rs;
        for f in 0..K {
            self.p[f] = self.r[f] + beta * self.p[f];
        }
        self.rs = rs_new;
        (step, false)
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn dot<const K: usize>(a: &[f32; K], b: &[f32; K]) -> f32 {
    let mut s = 0.0;
    for f in 0..K {
        s += a[f] * b[f];
    }
    s
}

/// Transposes the 8×8 matrix whose rows are `r` (the usual unpack / shuffle / lane-permute
/// sequence): returns its columns.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
    let t0 = _mm256_unpacklo_ps(r[0], r[1]);
    let t1 = _mm256_unpackhi_ps(r[0], r[1]);
    let t2 = _mm256_unpacklo_ps(r[2], r[3]);
    let t3 = _mm256_unpackhi_ps(r[2], r[3]);
    let t4 = _mm256_unpacklo_ps(r[4], r[5]);
    let t5 = _mm256_unpackhi_ps(r[4], r[5]);
    let t6 = _mm256_unpacklo_ps(r[6], r[7]);
    let t7 = _mm256_unpackhi_ps(r[6], r[7]);
    let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
    let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
    let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
    let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
    let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
    let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
    let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
    let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
    [
        _mm256_permute2f128_ps::<0x20>(s0, s4),
        _mm256_permute2f128_ps::<0x20>(s1, s5),
        _mm256_permute2f128_ps::<0x20>(s2, s6),
        _mm256_permute2f128_ps::<0x20>(s3, s7),
        _mm256_permute2f128_ps::<0x31>(s0, s4),
        _mm256_permute2f128_ps::<0x31>(s1, s5),
        _mm256_permute2f128_ps::<0x31>(s2, s6),
        _mm256_permute2f128_ps::<0x31>(s3, s7),
    ]
}
