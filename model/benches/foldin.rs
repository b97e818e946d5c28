//! `cargo bench -p topten-core --bench foldin`: request-time fold-in cost (solve one user's
//! factor from their interactions, score every item, keep the top 50 unseen), against scoring
//! alone with an already-known factor (the baseline: what a precomputed factor would cost).

use std::time::Instant;

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use topten_model::als::{fold_in_user, AlsParams, Feedback};
use topten_model::topk;

fn main() {
    println!("| items | factors | model | history | fold-in + top-50 | scoring + top-50 only | fold-in share |");
    println!("|---|---|---|---|---|---|---|");
    for (items, factors) in [(1_682usize, 64usize), (100_000, 64), (1_682, 128)] {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let y = Array2::from_shape_fn((items, factors), |_| rng.gen_range(-0.1f32..0.1));
        for feedback in [Feedback::Implicit, Feedback::Explicit] {
            let params = match feedback {
                Feedback::Implicit => AlsParams {
                    factors,
                    ..AlsParams::implicit()
                },
                Feedback::Explicit => AlsParams {
                    factors,
                    ..AlsParams::explicit()
                },
            };
            // YᵀY + λI is computed once per version by the handler (ServingModel::gramian).
            let mut g = y.t().dot(&y);
            for p in 0..factors {
                g[[p, p]] += params.regularization;
            }
            let gram = (feedback == Feedback::Implicit).then_some(&g);
            let mut hist: Vec<u32> = (0..100).map(|_| rng.gen_range(0..items as u32)).collect();
            hist.sort_unstable();
            hist.dedup();
            let values: Vec<f32> = hist.iter().map(|_| rng.gen_range(1.0f32..5.0)).collect();
            let runs = if items > 10_000 { 50 } else { 500 };
            let start = Instant::now();
            let mut sink = 0usize;
            for _ in 0..runs {
                let x = fold_in_user(&y, &hist, &values, &params, gram);
                sink += topk::top_k_for_vector(&x, &y, 50, &hist).len();
            }
            let full = start.elapsed().as_secs_f64() / runs as f64;
            let x = fold_in_user(&y, &hist, &values, &params, gram);
            let start = Instant::now();
            for _ in 0..runs {
                sink += topk::top_k_for_vector(&x, &y, 50, &hist).len();
            }
            let score = start.elapsed().as_secs_f64() / runs as f64;
            assert!(sink > 0);
            println!(
                "| {items} | {factors} | {feedback:?} | {} items | {:.3} ms | {:.3} ms | {:.0}% |",
                hist.len(),
                full * 1e3,
                score * 1e3,
                100.0 * (full - score) / full
            );
        }
    }
}
