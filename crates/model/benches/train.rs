//! `cargo bench -p topten-core --bench train`: fit and top-10 timings with same-run baselines.
//!
//! Prints one table. Data: a synthetic power-law set (size from `TOPTEN_BENCH_INTERACTIONS`,
//! default 1,000,000) and MovieLens 100K when `data/ml-100k/u.data` exists. Baselines:
//! the exact Cholesky solver for implicit ALS (against CG), and a naive top-10 (score every
//! item per user, full sort) against the blocked GEMM + partial selection.

use std::path::Path;
use std::time::Instant;

use topten_model::als::{fit, AlsParams, Solver};
use topten_model::csr::Csr;
use topten_model::ingest::{read_ratings, ReadOptions};
use topten_model::synth::{generate, SynthParams};
use topten_model::topk::{self, Scored};

fn time<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed().as_secs_f64())
}

fn naive_top_k(m: &topten_model::als::AlsModel, seen: &Csr, k: usize) -> Vec<Vec<Scored>> {
    use rayon::prelude::*;
    (0..m.user_factors.nrows())
        .into_par_iter()
        .map(|u| {
            let x = m.user_factors.row(u);
            let mut all: Vec<Scored> = (0..m.item_factors.nrows())
                .filter(|i| seen.row(u).0.binary_search(&(*i as u32)).is_err())
                .map(|i| Scored {
                    item: i as u32,
                    score: x.dot(&m.item_factors.row(i)),
                })
                .collect();
            all.sort_by(|a, b| b.score.total_cmp(&a.score));
            all.truncate(k);
            all
        })
        .collect()
}

fn bench(name: &str, seen: &Csr) {
    let iterations = 5;
    println!(
        "\n## {name}: {} users, {} items, {} interactions, {} threads",
        seen.nrows(),
        seen.ncols,
        seen.nnz(),
        rayon::current_num_threads()
    );
    println!("| step | seconds | s/iteration | baseline | baseline s | speed-up |");
    println!("|---|---|---|---|---|---|");
    for factors in [64, 128] {
        let cg = AlsParams {
            factors,
            iterations,
            ..AlsParams::implicit()
        };
        let (model, t_cg) = time(|| fit(seen, &cg, &mut |_| {}).unwrap());
        let chol = AlsParams {
            solver: Solver::Cholesky,
            iterations: 1,
            ..cg.clone()
        };
        let (_, t_chol) = time(|| fit(seen, &chol, &mut |_| {}).unwrap());
        println!(
            "| implicit ALS, CG, {factors} factors | {t_cg:.3} | {:.4} | Cholesky (1 iteration) | {t_chol:.4} | {:.1}x |",
            t_cg / iterations as f64,
            t_chol / (t_cg / iterations as f64)
        );
        if factors == 64 {
            // Every top-10 timed here is of this model, with or without a popularity bias.
            let top_10 = |bias: Option<&[f32]>| {
                topk::top_k_all(
                    &model.user_factors,
                    &model.item_factors,
                    bias,
                    10,
                    Some(seen),
                )
            };
            let (fast, t_fast) = time(|| top_10(None));
            let (slow, t_slow) = time(|| naive_top_k(&model, seen, 10));
            let agree = fast
                .iter()
                .zip(&slow)
                .filter(|(a, b)| a.iter().map(|s| s.item).eq(b.iter().map(|s| s.item)))
                .count();
            println!(
                "| top-10 all users, 64 factors | {t_fast:.3} | - | naive score + sort | {t_slow:.3} | {:.1}x (same lists for {agree}/{} users) |",
                t_slow / t_fast,
                fast.len()
            );
            // The popularity dial adds a per-item bias to every score tile; measured against
            // the same top-k without it, alternately, best of three each.
            let counts = topten_model::rescoring::item_counts(seen, model.item_factors.nrows());
            let scale =
                topten_model::rescoring::score_scale(&model.user_factors, &model.item_factors);
            let bias = topten_model::rescoring::popularity_bias(0.3, scale, &counts);
            let (mut plain, mut dial) = (f64::INFINITY, f64::INFINITY);
            for _ in 0..3 {
                let (_, t) = time(|| top_10(None));
                plain = plain.min(t);
                let (_, t) = time(|| top_10(bias.as_deref()));
                dial = dial.min(t);
            }
            println!(
                "| top-10 all users, 64 factors, popularity dial β 0.3 | {dial:.3} | - | the same without the dial | {plain:.3} | {:.2}x |",
                dial / plain
            );
        }
    }
    let explicit = AlsParams {
        iterations,
        ..AlsParams::explicit()
    };
    let (_, t_exp) = time(|| fit(seen, &explicit, &mut |_| {}).unwrap());
    println!(
        "| explicit ALS-WR, 10 factors | {t_exp:.3} | {:.4} | - | - | - |",
        t_exp / iterations as f64
    );
}

fn main() {
    let movielens = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/ml-100k/u.data");
    if movielens.exists() {
        let (r, _) = read_ratings(&movielens, &ReadOptions::default()).unwrap();
        let seen = Csr::from_interactions(&r.records, r.users.len(), r.items.len());
        bench("MovieLens 100K", &seen);
    } else {
        println!("(MovieLens 100K not found: run scripts/fetch-movielens.sh to include it)");
    }
    let n: usize = std::env::var("TOPTEN_BENCH_INTERACTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let p = SynthParams {
        users: n / 50,
        items: (n / 125).max(100),
        interactions: n,
        rank: 8,
        seed: 7,
    };
    let mut triplets = Vec::with_capacity(n);
    generate(&p, |r| triplets.push((r.user, r.item, r.rating as f32)));
    let seen = Csr::from_triplets(triplets.iter().copied(), p.users, p.items);
    bench("synthetic", &seen);
}
