//! The popularity dial: a re-scoring applied wherever a user's list is computed (at publish,
//! at fold-in, at refill, on re-ranking), trading a little accuracy for a lot of catalogue
//! coverage.
//!
//! `score'(u, i) = score(u, i) − β · s · ln(1 + c_i)`, with `c_i` the item's training
//! interactions, `s` the model's score spread (standard deviation of user-item scores over a
//! fixed sample of users and items) and β the setting (`--popularity-penalty`, stored with the
//! model and each version; 0, the default, changes nothing).
//!
//! Why this form: the penalty grows with the logarithm of popularity, so it separates the head
//! from the middle of the catalogue without burying the tail under noise, and measuring it in
//! units of the score spread makes one β mean the same for models of any scale (explicit
//! ratings, implicit preferences). It is an additive per-item bias, so it costs nothing at
//! request time: the all-users top-k adds it to each score tile before the threshold select
//! ([`crate::topk`]). On MovieLens 100K it reaches more coverage per unit of NDCG lost than a
//! multiplicative `score / c_i^β` (which explodes near zero scores), measured while choosing
//! it (docs/benchmarks.md, "Beyond accuracy").

use ndarray::Array2;

/// Users and items sampled for [`score_scale`]: at most this many of each, evenly strided.
const SAMPLE_USERS: usize = 256;
const SAMPLE_ITEMS: usize = 4096;

/// The standard deviation of `x_u · y_i` over an evenly strided sample of users and items
/// (deterministic); 0 for an empty model.
pub fn score_scale(user_factors: &Array2<f32>, item_factors: &Array2<f32>) -> f32 {
    let (nu, ni) = (user_factors.nrows(), item_factors.nrows());
    if nu == 0 || ni == 0 {
        return 0.0;
    }
    let users: Vec<usize> = (0..nu).step_by(nu.div_ceil(SAMPLE_USERS).max(1)).collect();
    let items: Vec<usize> = (0..ni).step_by(ni.div_ceil(SAMPLE_ITEMS).max(1)).collect();
    let (mut sum, mut sum_sq, mut n) = (0f64, 0f64, 0f64);
    for &u in &users {
        let x = user_factors.row(u);
        for &i in &items {
            let s = x.dot(&item_factors.row(i)) as f64;
            sum += s;
            sum_sq += s * s;
            n += 1.0;
        }
    }
    let mean = sum / n;
    ((sum_sq / n - mean * mean).max(0.0)).sqrt() as f32
}

/// The per-item bias `−β · s · ln(1 + c_i)` for the counts `counts`, or `None` when the dial
/// is at 0 (nothing to add).
pub fn popularity_bias(beta: f32, scale: f32, counts: &[u32]) -> Option<Vec<f32>> {
    if beta == 0.0 || scale == 0.0 {
        return None;
    }
    Some(
        counts
            .iter()
            .map(|&c| -beta * scale * (c as f32).ln_1p())
            .collect(),
    )
}

/// Training interactions per item (columns of a user×item matrix with `items` columns).
pub fn item_counts(seen: &crate::csr::Csr, items: usize) -> Vec<u32> {
    let mut counts = vec![0u32; items];
    for &i in &seen.indices {
        counts[i as usize] += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_is_the_standard_deviation_of_sampled_scores() {
        // Two users, three items, 1 factor: scores 1·[1, 2, 3] and 2·[1, 2, 3] → 1 2 3 2 4 6.
        let u = Array2::from_shape_vec((2, 1), vec![1.0, 2.0]).unwrap();
        let v = Array2::from_shape_vec((3, 1), vec![1.0, 2.0, 3.0]).unwrap();
        let scores = [1.0f64, 2.0, 3.0, 2.0, 4.0, 6.0];
        let mean = scores.iter().sum::<f64>() / 6.0;
        let var = scores.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / 6.0;
        assert!((score_scale(&u, &v) as f64 - var.sqrt()).abs() < 1e-6);
    }

    #[test]
    fn the_bias_grows_with_the_log_of_popularity_and_vanishes_at_zero() {
        assert_eq!(popularity_bias(0.0, 2.0, &[1, 10]), None);
        let b = popularity_bias(0.5, 2.0, &[0, 1, 99]).unwrap();
        assert_eq!(b[0], 0.0);
        assert!((b[1] - (-(2f32).ln())).abs() < 1e-6);
        assert!((b[2] - (-(100f32).ln())).abs() < 1e-5);
    }
}
