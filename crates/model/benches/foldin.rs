//! `cargo bench -p topten-core --bench foldin`: request-time fold-in cost (solve one user's
//! factor from their interactions, score every item, keep the top 50 unseen), against scoring
//! alone with an already-known factor (the baseline: what a precomputed factor would cost);
//! then the catalogue refill (fold-in and the best k a filter allows) against no filter; then
//! item fold-in at 100,000 users × 64 factors against one user's fold-in and scoring.

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
                sink += topk::top_k_for_vector(&x, &y, None, 50, &hist).len();
            }
            let full = start.elapsed().as_secs_f64() / runs as f64;
            let x = fold_in_user(&y, &hist, &values, &params, gram);
            let start = Instant::now();
            for _ in 0..runs {
                sink += topk::top_k_for_vector(&x, &y, None, 50, &hist).len();
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
    dial();
    refill();
    item_fold_in();
}

/// Request-time scoring of one folded-in user with the popularity dial (one more pass adding
/// the per-item bias) against the same without it: 100,000 items, 64 factors, best of runs.
fn dial() {
    let (items, factors, runs) = (100_000usize, 64usize, 200usize);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let y = Array2::from_shape_fn((items, factors), |_| rng.gen_range(-0.1f32..0.1));
    let x: Vec<f32> = (0..factors).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
    let counts: Vec<u32> = (0..items).map(|i| (items / (i + 1)) as u32).collect();
    let bias = topten_model::rescoring::popularity_bias(0.3, 0.05, &counts).unwrap();
    let (mut plain, mut dial) = (f64::INFINITY, f64::INFINITY);
    let mut sink = 0usize;
    for _ in 0..runs {
        let t = Instant::now();
        sink += topk::top_k_for_vector(&x, &y, None, 50, &[]).len();
        plain = plain.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        sink += topk::top_k_for_vector(&x, &y, Some(&bias), 50, &[]).len();
        dial = dial.min(t.elapsed().as_secs_f64());
    }
    assert!(sink > 0);
    println!(
        "\n| score and select 50 of {items} items ({factors} factors) | best of {runs} |\n|---|---|\n| without the dial | {:.3} ms |\n| with the popularity dial | {:.3} ms ({:.2}x) |",
        plain * 1e3,
        dial * 1e3,
        dial / plain
    );
}

/// The catalogue refill of a served list: fold-in, score every item, keep the best k that a
/// filter allows (by external id, checked in score order), as the handler does when the stored
/// list runs short. Per-request latency percentiles, against the same fold-in without a filter.
fn refill() {
    use std::collections::HashSet;
    use topten_model::csr::Csr;
    use topten_model::interactions::IdMap;
    use topten_model::model::Model;
    use topten_model::serving_model::ServingModel;

    let (items, factors, k, runs) = (100_000usize, 64usize, 10usize, 200usize);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let y = Array2::from_shape_fn((items, factors), |_| rng.gen_range(-0.1f32..0.1));
    let users = Array2::from_shape_fn((1, factors), |_| rng.gen_range(-0.1f32..0.1));
    let model = Model::from_parts(
        AlsParams {
            factors,
            ..AlsParams::implicit()
        },
        (
            IdMap::from_ids(["u0".to_string()]),
            IdMap::from_ids((0..items).map(|i| format!("i{i}"))),
        ),
        (users, y),
        Csr::from_triplets(std::iter::empty(), 1, items),
    );
    let serving = ServingModel::from_model(&model, "v1", None);
    let history: Vec<(u32, f32)> = (0..100)
        .map(|_| (rng.gen_range(0..items as u32), rng.gen_range(1.0f32..5.0)))
        .collect();
    // Hidden sets as a catalogue makes them, and a category-like filter keeping one item in 5.
    let hidden_10: HashSet<String> = (0..items)
        .filter(|i| i % 10 == 0)
        .map(|i| format!("i{i}"))
        .collect();
    let hidden_50: HashSet<String> = (0..items)
        .filter(|i| i % 2 == 0)
        .map(|i| format!("i{i}"))
        .collect();
    let one_in_5 = |id: &str| {
        id[1..]
            .parse::<usize>()
            .map(|n| n % 5 == 3)
            .unwrap_or(false)
    };

    let time = |f: &dyn Fn() -> usize| percentiles_ms(runs, f);
    println!();
    println!(
        "Catalogue refill at {items} items x {factors} factors, k = {k}, {runs} requests each:"
    );
    println!();
    println!("| filter | p50 | p99 | p50 / no filter |");
    println!("|---|---|---|---|");
    let (base50, base99) = time(&|| serving.recommend_for_history(&history, k).len());
    println!("| none (baseline) | {base50:.3} ms | {base99:.3} ms | 1.00 |");
    for (name, keep) in [
        (
            "10% hidden",
            &(|id: &str| !hidden_10.contains(id)) as &dyn Fn(&str) -> bool,
        ),
        ("50% hidden", &|id: &str| !hidden_50.contains(id)),
        ("1 item in 5 allowed", &one_in_5),
    ] {
        let (p50, p99) = time(&|| serving.recommend_for_history_where(&history, k, keep).len());
        println!(
            "| {name} | {p50:.3} ms | {p99:.3} ms | {:.2} |",
            p50 / base50
        );
    }
}

/// Item fold-in (`ServingModel::fold_in_item`) at 100,000 users × 64 factors (and 100,000
/// items): the solve alone from the users' factors, and what the server does per item (fold
/// each user in from a 20-item history, then solve), for items touched by 10, 100 and 500
/// users; against the baseline of one user's fold-in and scoring of every item (a refilled
/// list). Per-item latency percentiles; the Gramian `XᵀX + λI` is computed once at publish.
fn item_fold_in() {
    use topten_model::csr::Csr;
    use topten_model::interactions::IdMap;
    use topten_model::model::Model;
    use topten_model::serving_model::ServingModel;

    let (users, items, factors) = (100_000usize, 100_000usize, 64usize);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let x = Array2::from_shape_fn((users, factors), |_| rng.gen_range(-0.1f32..0.1));
    let y = Array2::from_shape_fn((items, factors), |_| rng.gen_range(-0.1f32..0.1));
    let params = AlsParams {
        factors,
        ..AlsParams::implicit()
    };
    let model = Model::from_parts(
        params,
        (
            IdMap::from_ids((0..users).map(|u| format!("u{u}"))),
            IdMap::from_ids((0..items).map(|i| format!("i{i}"))),
        ),
        (x.clone(), y),
        Csr::from_triplets(std::iter::empty(), users, items),
    );
    let start = Instant::now();
    let serving = ServingModel::from_model(&model, "v1", None);
    let publish_ms = start.elapsed().as_secs_f64() * 1e3;
    let histories: Vec<Vec<(u32, f32)>> = (0..500)
        .map(|_| {
            (0..20)
                .map(|_| (rng.gen_range(0..items as u32), 1.0f32))
                .collect()
        })
        .collect();
    // The item Gramian of user fold-in is made on first use, once per version.
    let _ = serving.user_factor(&histories[0]);

    let runs = 200;
    let time = |f: &dyn Fn() -> usize| percentiles_ms(runs, f);
    println!();
    println!(
        "Item fold-in at {users} users x {factors} factors ({items} items, implicit), {runs} runs each; XᵀX + λI at publish: {publish_ms:.0} ms (ServingModel::from_model, once per version):"
    );
    println!();
    println!("| what | users who touched the item | p50 | p99 | p50 / baseline |");
    println!("|---|---|---|---|---|");
    let (base50, base99) = time(&|| serving.recommend_for_history(&histories[0], 10).len());
    println!("| one user's fold-in + scoring of every item (baseline) | - | {base50:.3} ms | {base99:.3} ms | 1.00 |");
    for m in [10usize, 100, 500] {
        let touched: Vec<(Vec<f32>, f32)> = (0..m).map(|u| (x.row(u * 7).to_vec(), 1.0)).collect();
        let (p50, p99) = time(&|| serving.fold_in_item(&touched, None).unwrap().len());
        println!(
            "| solve from the users' factors | {m} | {p50:.3} ms | {p99:.3} ms | {:.2} |",
            p50 / base50
        );
        let (p50, p99) = time(&|| {
            let users: Vec<(Vec<f32>, f32)> = histories[..m]
                .iter()
                .map(|h| (serving.user_factor(h), 1.0))
                .collect();
            serving.fold_in_item(&users, None).unwrap().len()
        });
        println!(
            "| fold each user in (20-item history), then solve | {m} | {p50:.3} ms | {p99:.3} ms | {:.2} |",
            p50 / base50
        );
    }
}

/// p50 and p99 in milliseconds of `runs` calls of `f` (which returns something to keep, so
/// the work is not optimised away).
fn percentiles_ms(runs: usize, f: &dyn Fn() -> usize) -> (f64, f64) {
    let mut t = Vec::with_capacity(runs);
    let mut sink = 0;
    for _ in 0..runs {
        let start = Instant::now();
        sink += f();
        t.push(start.elapsed().as_secs_f64());
    }
    assert!(sink > 0);
    t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (t[t.len() / 2] * 1e3, t[t.len() * 99 / 100] * 1e3)
}
