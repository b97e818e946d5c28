//! Top-k selection from factor matrices: scores `x_uᵀ y_i` for every item, skips the items a
//! user already has, and keeps the k best without sorting whole rows.
//!
//! For all users at once, scores come from a blocked matrix product (a block of users times
//! all item factors, through ndarray's `matrixmultiply` GEMM), each block handled by one rayon
//! task, so memory stays bounded at `block × items` floats per thread.
//!
//! Knows nothing of ALS: any model that scores by dot products can use it.

use ndarray::{s, Array2, ArrayView1};
use rayon::prelude::*;

use crate::csr::Csr;
use crate::linalg::dot;

/// One recommended item and its score.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scored {
    /// Dense item index.
    pub item: u32,
    /// Model score (higher is better).
    pub score: f32,
}

/// Keeps the k best (score, item) pairs seen so far, best first; ties go to the lower item
/// index so that results are deterministic.
#[derive(Debug, Clone)]
pub struct TopK {
    k: usize,
    best: Vec<Scored>,
}

impl TopK {
    /// An empty selection of capacity `k`.
    pub fn new(k: usize) -> Self {
        TopK {
            k,
            best: Vec::with_capacity(k + 1),
        }
    }

    #[inline]
    fn beats(a: Scored, b: Scored) -> bool {
        a.score > b.score || (a.score == b.score && a.item < b.item)
    }

    /// Offers one candidate.
    #[inline]
    pub fn push(&mut self, item: u32, score: f32) {
        if self.k == 0 || score.is_nan() {
            return;
        }
        let cand = Scored { item, score };
        if self.best.len() == self.k {
            if !Self::beats(cand, *self.best.last().unwrap()) {
                return;
            }
            self.best.pop();
        }
        let pos = self.best.partition_point(|&b| Self::beats(b, cand));
        self.best.insert(pos, cand);
    }

    /// The selection, best first.
    pub fn into_sorted_vec(self) -> Vec<Scored> {
        self.best
    }
}

/// Selects the k best of `scores`, skipping the item indices in `exclude` (sorted ascending).
pub fn select(scores: &[f32], k: usize, exclude: &[u32]) -> Vec<Scored> {
    let mut top = TopK::new(k);
    let mut ex = exclude.iter().peekable();
    for (i, &s) in scores.iter().enumerate() {
        while ex.peek().is_some_and(|&&e| (e as usize) < i) {
            ex.next();
        }
        if ex.peek().is_some_and(|&&e| e as usize == i) {
            continue;
        }
        top.push(i as u32, s);
    }
    top.into_sorted_vec()
}

/// Top k for one user vector (fold-in, request-time scoring).
pub fn top_k_for_vector(
    user: &[f32],
    item_factors: &Array2<f32>,
    k: usize,
    exclude: &[u32],
) -> Vec<Scored> {
    let scores: Vec<f32> = item_factors
        .rows()
        .into_iter()
        .map(|y| dot_view(user, y))
        .collect();
    select(&scores, k, exclude)
}

fn dot_view(x: &[f32], y: ArrayView1<f32>) -> f32 {
    match y.as_slice() {
        Some(s) => dot(x, s),
        None => x.iter().zip(y.iter()).map(|(a, b)| a * b).sum(),
    }
}

/// Top k for every user (row of `user_factors`), excluding each user's row of `seen` when given.
/// Returns one list per user, best first.
pub fn top_k_all(
    user_factors: &Array2<f32>,
    item_factors: &Array2<f32>,
    k: usize,
    seen: Option<&Csr>,
) -> Vec<Vec<Scored>> {
    let users = user_factors.nrows();
    let items = item_factors.nrows().max(1);
    // About 16 MB of scores per block and thread: tall enough blocks for GEMM to run near peak,
    // small enough to stay bounded with a catalogue of millions.
    let block = (4_000_000 / items).clamp(16, 1024);
    let item_t = item_factors.t();
    let starts: Vec<usize> = (0..users).step_by(block).collect();
    starts
        .par_iter()
        .flat_map_iter(|&start| {
            let end = (start + block).min(users);
            let scores = user_factors.slice(s![start..end, ..]).dot(&item_t);
            (start..end)
                .map(|u| {
                    let row = scores.row(u - start);
                    // ndarray may return a column-major product (e.g. with one factor).
                    let owned: Vec<f32>;
                    let row = match row.as_slice() {
                        Some(r) => r,
                        None => {
                            owned = row.to_vec();
                            &owned
                        }
                    };
                    let exclude: &[u32] =
                        seen.map_or(&[], |m| if u < m.nrows() { m.row(u).0 } else { &[] });
                    select(row, k, exclude)
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::als::{fit, AlsParams};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Brute force: sort every unseen item by (score desc, index asc).
    fn brute(scores: &[f32], k: usize, exclude: &[u32]) -> Vec<Scored> {
        let mut all: Vec<Scored> = scores
            .iter()
            .enumerate()
            .filter(|(i, _)| !exclude.contains(&(*i as u32)))
            .map(|(i, &s)| Scored {
                item: i as u32,
                score: s,
            })
            .collect();
        all.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.item.cmp(&b.item)));
        all.truncate(k);
        all
    }

    #[test]
    fn select_matches_brute_force_including_ties() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..200 {
            let n = rng.gen_range(0..60);
            // Few distinct values, so ties are common.
            let scores: Vec<f32> = (0..n).map(|_| rng.gen_range(0..8) as f32).collect();
            let mut exclude: Vec<u32> = (0..n as u32).filter(|_| rng.gen_bool(0.3)).collect();
            exclude.sort_unstable();
            let k = rng.gen_range(0..15);
            assert_eq!(select(&scores, k, &exclude), brute(&scores, k, &exclude));
        }
    }

    #[test]
    fn blocked_all_users_matches_per_user_brute_force() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let u = Array2::from_shape_fn((1100, 6), |_| rng.gen_range(-1.0f32..1.0));
        let v = Array2::from_shape_fn((2500, 6), |_| rng.gen_range(-1.0f32..1.0));
        let triplets: Vec<(u32, u32, f32)> = (0..1100u32)
            .flat_map(|a| (0..5).map(move |j| (a, (a * 13 + j * 101) % 2500, 1.0)))
            .collect();
        let seen = Csr::from_triplets(triplets.into_iter(), 1100, 2500);
        let all = top_k_all(&u, &v, 10, Some(&seen));
        assert_eq!(all.len(), 1100);
        for a in [0usize, 1, 511, 512, 1099] {
            let scores: Vec<f32> = (0..2500).map(|i| u.row(a).dot(&v.row(i))).collect();
            let want = brute(&scores, 10, seen.row(a).0);
            let got_items: Vec<u32> = all[a].iter().map(|s| s.item).collect();
            let want_items: Vec<u32> = want.iter().map(|s| s.item).collect();
            assert_eq!(got_items, want_items, "user {a}");
            assert!(all[a].iter().all(|s| !seen.row(a).0.contains(&s.item)));
        }
    }

    /// benfred/implicit's contract test: a checkerboard of two user groups and two item groups;
    /// each user has every item of their group but one, and that held-out item must come first.
    #[test]
    fn checkerboard_held_out_item_comes_first() {
        let (n_users, n_items) = (50u32, 50u32);
        let mut triplets = Vec::new();
        for u in 0..n_users {
            for i in 0..n_items {
                if u % 2 == i % 2 && i != u {
                    triplets.push((u, i, 1.0f32));
                }
            }
        }
        let m = Csr::from_triplets(triplets.into_iter(), n_users as usize, n_items as usize);
        for solver in [crate::als::Solver::Cg, crate::als::Solver::Cholesky] {
            let params = AlsParams {
                factors: 3,
                regularization: 0.1,
                alpha: 10.0,
                confidence: crate::als::Confidence::Linear,
                iterations: 15,
                solver,
                threads: 2,
                ..AlsParams::implicit()
            };
            let model = fit(&m, &params, &mut |_| {}).unwrap();
            let recs = top_k_all(&model.user_factors, &model.item_factors, 1, Some(&m));
            for u in 0..n_users {
                assert_eq!(recs[u as usize][0].item, u, "{solver:?}: user {u}");
            }
        }
    }
}
