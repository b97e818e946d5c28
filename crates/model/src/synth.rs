//! Synthetic interaction data with the shape of real logs: power-law item popularity and
//! user activity (a few heavy users and blockbusters, a long tail), and a hidden low-rank taste
//! model that drives both *which* items a user picks (a popular draw is kept with probability
//! `sigmoid(3·affinity)`) and how they rate them (plus noise), so that, as on MovieLens, a
//! personalised recommender beats popularity.
//!
//! Used by benchmarks, tests and `topten synth`; streams rows, so size is bounded by disk.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Shape of a synthetic data set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SynthParams {
    /// Number of users.
    pub users: usize,
    /// Number of items.
    pub items: usize,
    /// Approximate number of interactions (repeated pairs are dropped, so slightly fewer).
    pub interactions: usize,
    /// Hidden taste dimensions.
    pub rank: usize,
    /// Seed.
    pub seed: u64,
}

/// One generated row with dense ids.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SynthRow {
    /// User index.
    pub user: u32,
    /// Item index.
    pub item: u32,
    /// Rating 1-5.
    pub rating: u8,
    /// Epoch seconds, increasing per user.
    pub timestamp: i64,
}

/// Generates rows user by user, calling `emit` for each; returns the number emitted.
pub fn generate(p: &SynthParams, mut emit: impl FnMut(SynthRow)) -> usize {
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let gauss = |rng: &mut ChaCha8Rng| -> f32 { StandardNormal.sample(rng) };
    let rank = p.rank.max(1);
    let user_taste: Vec<f32> = (0..p.users * rank).map(|_| gauss(&mut rng)).collect();
    let item_taste: Vec<f32> = (0..p.items * rank).map(|_| gauss(&mut rng)).collect();
    // Zipf-like popularity over a random permutation of items.
    let mut cumulative = Vec::with_capacity(p.items);
    let mut acc = 0f64;
    for r in 0..p.items {
        acc += 1.0 / (r as f64 + 10.0).powf(0.9);
        cumulative.push(acc);
    }
    let mut perm: Vec<u32> = (0..p.items as u32).collect();
    for i in (1..perm.len()).rev() {
        perm.swap(i, rng.gen_range(0..=i));
    }
    // Pareto-like activity, scaled to the requested total.
    let activity: Vec<f64> = (0..p.users)
        .map(|_| (1.0 - rng.gen::<f64>()).powf(-1.0 / 1.5))
        .collect();
    let total: f64 = activity.iter().sum();
    let scale = p.interactions as f64 / total;
    let mut emitted = 0;
    let mut seen = rustc_hash::FxHashSet::default();
    for u in 0..p.users {
        let n = ((activity[u] * scale).round() as usize).clamp(1, p.items / 2 + 1);
        seen.clear();
        let mut t = 880_000_000i64 + rng.gen_range(0..30_000_000);
        let x = &user_taste[u * rank..(u + 1) * rank];
        for _ in 0..n {
            // Popular draws, kept with a probability that grows with the user's affinity; a
            // repeat of an item the user already has is redrawn (a few times at most).
            let mut pick = None;
            for _ in 0..8 {
                let draw = rng.gen::<f64>() * acc;
                let item = perm[cumulative.partition_point(|&c| c < draw).min(p.items - 1)];
                let y = &item_taste[item as usize * rank..(item as usize + 1) * rank];
                let affinity: f32 =
                    x.iter().zip(y).map(|(a, b)| a * b).sum::<f32>() / (rank as f32).sqrt();
                if rng.gen::<f32>() < 1.0 / (1.0 + (-3.0 * affinity).exp()) && !seen.contains(&item)
                {
                    pick = Some((item, affinity));
                    break;
                }
            }
            let Some((item, affinity)) = pick else {
                continue;
            };
            seen.insert(item);
            let r = (3.5 + 1.2 * affinity + 0.5 * gauss(&mut rng))
                .round()
                .clamp(1.0, 5.0) as u8;
            t += rng.gen_range(1..5_000);
            emit(SynthRow {
                user: u as u32,
                item,
                rating: r,
                timestamp: t,
            });
            emitted += 1;
        }
    }
    emitted
}

/// Writes a generated data set as MovieLens `u.data` rows (`user<TAB>item<TAB>rating<TAB>ts`,
/// 1-based ids); returns the number of rows.
pub fn write_udata<W: std::io::Write>(p: &SynthParams, out: W) -> std::io::Result<usize> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(out);
    let mut err = None;
    let n = generate(p, |r| {
        if err.is_none() {
            if let Err(e) = writeln!(
                out,
                "{}\t{}\t{}\t{}",
                r.user + 1,
                r.item + 1,
                r.rating,
                r.timestamp
            ) {
                err = Some(e);
            }
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    out.flush()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn popularity_is_skewed_and_ratings_in_range() {
        let p = SynthParams {
            users: 500,
            items: 400,
            interactions: 20_000,
            rank: 4,
            seed: 1,
        };
        let mut per_item = vec![0usize; 400];
        let n = generate(&p, |r| {
            assert!((1..=5).contains(&r.rating));
            per_item[r.item as usize] += 1;
        });
        assert!(n > 15_000 && n <= 20_000 + 500, "{n}");
        per_item.sort_unstable_by(|a, b| b.cmp(a));
        let top_decile: usize = per_item[..40].iter().sum();
        assert!(
            top_decile as f64 > 0.25 * n as f64,
            "top 10% of items hold {top_decile} of {n}"
        );
    }
}
