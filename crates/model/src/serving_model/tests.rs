//! Fold-in checks: it reproduces trained users, and replaying live events beats a stale cache.

use super::*;
use crate::als::fit;
use crate::csr::Csr;
use crate::metrics::ranking_metrics;
use crate::synth::{generate, SynthParams, SynthRow};

fn model_from(seen: Csr, params: &AlsParams) -> Model {
    let fitted = fit(&seen, params, &mut |_| {}).unwrap();
    let users = IdMap::from_ids((0..seen.nrows()).map(|u| u.to_string()));
    let items = IdMap::from_ids((0..seen.ncols).map(|i| format!("i{i}")));
    Model::from_parts(
        params.clone(),
        (users, items),
        (fitted.user_factors, fitted.item_factors),
        seen,
    )
}

/// A small implicit model (`factors`, 3 sweeps) fitted on generated data, as served.
fn serving_for(
    users: usize,
    items: usize,
    interactions: usize,
    seed: u64,
    factors: usize,
) -> ServingModel {
    let seen = seen_matrix(users, items, interactions, seed);
    let params = AlsParams {
        factors,
        iterations: 3,
        ..AlsParams::implicit()
    };
    ServingModel::from_model(&model_from(seen, &params), "v1", None)
}

/// The user × item matrix of [`rows`].
fn seen_matrix(users: usize, items: usize, interactions: usize, seed: u64) -> Csr {
    let data = rows(users, items, interactions, seed);
    Csr::from_triplets(
        data.iter().map(|r| (r.user, r.item, r.rating as f32)),
        users,
        items,
    )
}

fn rows(users: usize, items: usize, interactions: usize, seed: u64) -> Vec<SynthRow> {
    let mut out = Vec::new();
    generate(
        &SynthParams {
            users,
            items,
            interactions,
            rank: 6,
            seed,
        },
        |r| out.push(r),
    );
    out
}

#[test]
fn snapshot_round_trips() {
    let seen = seen_matrix(50, 40, 800, 1);
    let model = model_from(
        seen,
        &AlsParams {
            factors: 4,
            iterations: 2,
            ..AlsParams::implicit()
        },
    );
    let mut titles = HashMap::new();
    titles.insert("i3".to_string(), "Three".to_string());
    let snap = ServingModel::from_model(&model, "v1", Some(&titles));
    let back = ServingModel::decode(&snap.encode()).unwrap();
    assert_eq!((back.version.as_str(), back.items.len()), ("v1", 40));
    assert_eq!(back.item_factors, model.item_factors);
    assert_eq!(back.titles[3].as_deref(), Some("Three"));
    assert!(ServingModel::decode(&snap.encode()[..100]).is_err());
    assert!(back.content.is_none());

    // A model trained with a catalogue carries its content map into the version.
    let mut model = model;
    let items: Vec<crate::catalogue::CatalogueItem> = (0..40)
        .map(|i| {
            let mut it = crate::catalogue::CatalogueItem::new(format!("i{i}"));
            it.categories = vec![["x", "y"][i % 2].to_string()];
            it
        })
        .collect();
    let records: Vec<_> = items.iter().map(Some).collect();
    let map = crate::content::ContentMap::fit(&records, model.item_factors.view()).unwrap();
    model.content = Some(map.clone());
    let back =
        ServingModel::decode(&ServingModel::from_model(&model, "v2", None).encode()).unwrap();
    assert_eq!(back.content, Some(map));
    let h = encode_history(&[3, 9], &[1.5, 2.0]);
    assert_eq!(decode_history(&h), vec![(3, 1.5), (9, 2.0)]);
}

/// Folding in a training user's whole history with the final item factors lands close to the
/// factor training gave them (training solved it against the previous sweep's item factors).
#[test]
fn fold_in_of_a_training_user_reproduces_their_factor() {
    let seen = seen_matrix(300, 200, 12_000, 2);
    for params in [
        AlsParams {
            factors: 8,
            iterations: 25,
            regularization: 1.0,
            alpha: 2.0,
            threads: 2,
            ..AlsParams::implicit()
        },
        AlsParams {
            factors: 8,
            iterations: 25,
            regularization: 0.1,
            threads: 2,
            ..AlsParams::explicit()
        },
    ] {
        let model = model_from(seen.clone(), &params);
        let snap = ServingModel::from_model(&model, "v", None);
        let mut worst = 1.0f32;
        for u in (0..300).step_by(7) {
            let (items, values) = model.seen.row(u);
            let x = fold_in_user(&model.item_factors, items, values, &params, snap.gramian());
            let t = model.user_factors.row(u);
            let cos = x.iter().zip(t.iter()).map(|(a, b)| a * b).sum::<f32>()
                / (x.iter().map(|v| v * v).sum::<f32>().sqrt() * t.dot(&t).sqrt());
            worst = worst.min(cos);
            // And the served lists agree with the trained model's.
            let history: Vec<(u32, f32)> =
                items.iter().copied().zip(values.iter().copied()).collect();
            let fresh: Vec<u32> = snap
                .recommend_for_history(&history, 10)
                .iter()
                .map(|s| s.item)
                .collect();
            let trained: Vec<u32> = model
                .recommend(u as u32, 10)
                .iter()
                .map(|s| s.item)
                .collect();
            let overlap = fresh.iter().filter(|i| trained.contains(i)).count();
            assert!(
                overlap >= 7,
                "{:?} user {u}: overlap {overlap}",
                params.feedback
            );
        }
        assert!(worst > 0.98, "{:?}: worst cosine {worst}", params.feedback);
    }
}

/// The replay: each live user's events in time order are split into what training saw (first
/// 20%), what arrives live after the model was built (next 60%) and what they do next (last
/// 20%, the truth). Folding the live events in must rank the truth better than the stale
/// precomputed list does.
#[test]
fn replaying_live_events_beats_the_stale_cache() {
    let data = rows(800, 300, 48_000, 3);
    let mut per_user: Vec<Vec<SynthRow>> = vec![Vec::new(); 800];
    for r in &data {
        per_user[r.user as usize].push(*r);
    }
    let mut train = Vec::new();
    let mut live: Vec<Vec<(u32, f32)>> = vec![Vec::new(); 800];
    let mut truth = Vec::new();
    for (u, events) in per_user.iter_mut().enumerate() {
        events.sort_by_key(|r| r.timestamp);
        let is_live = u % 4 == 0 && events.len() >= 20;
        let (cut_train, cut_live) = if is_live {
            (events.len() / 5, events.len() * 4 / 5)
        } else {
            (events.len(), events.len())
        };
        for (j, r) in events.iter().enumerate() {
            if j < cut_train {
                train.push((r.user, r.item, r.rating as f32));
            } else if j < cut_live {
                live[u].push((r.item, r.rating as f32));
            } else {
                truth.push((r.user, r.item));
            }
        }
    }
    let seen = Csr::from_triplets(train.iter().copied(), 800, 300);
    let params = AlsParams {
        factors: 16,
        iterations: 15,
        regularization: 2.0,
        alpha: 1.0,
        threads: 2,
        ..AlsParams::implicit()
    };
    let model = model_from(seen, &params);
    let snap = ServingModel::from_model(&model, "v", None);
    let live_users: Vec<u32> = (0..800u32)
        .filter(|&u| !live[u as usize].is_empty())
        .collect();
    assert!(live_users.len() > 100, "{} live users", live_users.len());
    let mut stale = Vec::new();
    let mut fresh = Vec::new();
    for &u in &live_users {
        // The stale cache still recommends what the user did since; a client would not see
        // those as new, so both sides drop the live items before taking the top 10.
        let live_items: Vec<u32> = live[u as usize].iter().map(|p| p.0).collect();
        for s in model
            .recommend(u, 60)
            .into_iter()
            .filter(|s| !live_items.contains(&s.item))
            .take(10)
        {
            stale.push((u, s.item, s.score as f64));
        }
        let (items, values) = model.seen.row(u as usize);
        let mut history: Vec<(u32, f32)> =
            items.iter().copied().zip(values.iter().copied()).collect();
        history.extend(live[u as usize].iter().copied());
        for s in snap.recommend_for_history(&history, 10) {
            fresh.push((u, s.item, s.score as f64));
        }
    }
    let truth: Vec<(u32, u32)> = truth
        .into_iter()
        .filter(|(u, _)| live_users.contains(u))
        .collect();
    let (stale_m, fresh_m) = (
        ranking_metrics(&truth, &stale, 10),
        ranking_metrics(&truth, &fresh, 10),
    );
    eprintln!(
        "stale NDCG@10 {:.4} P@10 {:.4}; fresh NDCG@10 {:.4} P@10 {:.4}",
        stale_m.ndcg_at_k, stale_m.precision_at_k, fresh_m.ndcg_at_k, fresh_m.precision_at_k
    );
    assert!(
        fresh_m.ndcg_at_k > stale_m.ndcg_at_k * 1.05,
        "fresh {} vs stale {}",
        fresh_m.ndcg_at_k,
        stale_m.ndcg_at_k
    );
}

#[test]
fn similar_items_are_ranked_by_cosine() {
    let seen = seen_matrix(100, 60, 2000, 4);
    // Parameters pinned (the implicit defaults before λ 50 / log confidence): on this tiny
    // matrix, the stronger default regularisation makes item factors nearly collinear, and
    // cosines then tie to float precision.
    let params = AlsParams {
        factors: 5,
        iterations: 5,
        regularization: 20.0,
        alpha: 1.0,
        confidence: crate::als::Confidence::Linear,
        ..AlsParams::implicit()
    };
    let model = model_from(seen, &params);
    let snap = ServingModel::from_model(&model, "v", None);
    let sims = snap.similar_items(7, 5);
    assert!(sims.iter().all(|s| s.item != 7));
    let cos = |a: usize, b: usize| {
        let (x, y) = (model.item_factors.row(a), model.item_factors.row(b));
        x.dot(&y) / (x.dot(&x).sqrt() * y.dot(&y).sqrt())
    };
    let mut brute: Vec<(usize, f32)> = (0..60)
        .filter(|&i| i != 7)
        .map(|i| (i, cos(7, i)))
        .collect();
    brute.sort_by(|a, b| b.1.total_cmp(&a.1));
    assert_eq!(
        sims.iter().map(|s| s.item as usize).collect::<Vec<_>>(),
        brute[..5].iter().map(|b| b.0).collect::<Vec<_>>()
    );
}

/// Bytes of a snapshot with `header` and `values` as factor data, built by hand so that the
/// header can say what `encode` never writes.
fn raw_snapshot(header: &Header, values: &[f32]) -> Vec<u8> {
    let json = serde_json::to_vec(header).unwrap();
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

fn header(items: &[&str], factors: usize) -> Header {
    Header {
        version: "v1".into(),
        params: AlsParams {
            factors,
            ..AlsParams::implicit()
        },
        items: items.iter().map(|s| s.to_string()).collect(),
        titles: vec![None; items.len()],
        factors,
        created_ms: 0,
        item_counts: vec![1; items.len()],
        events_after_ms: None,
        score_scale: 0.0,
        content: None,
        user_gramian: None,
    }
}

/// Found by the `snapshots` fuzz target: a header whose parameters name another factor count
/// than the factor data was accepted, and fold-in then indexed past a row (a panic in serving).
#[test]
fn decode_refuses_parameters_that_disagree_with_the_factor_data() {
    let mut h = header(&["a", "b"], 1);
    h.params.factors = 2;
    let err = ServingModel::decode(&raw_snapshot(&h, &[0.5, 0.25])).unwrap_err();
    assert!(err.to_string().contains("factor count"), "{err}");
    let good = ServingModel::decode(&raw_snapshot(&header(&["a", "b"], 1), &[0.5, 0.25])).unwrap();
    assert_eq!(good.recommend_for_history(&[(0, 1.0)], 5).len(), 1);
}

/// A repeated item id left a factor row without an id: `popular` (the cold-start fill) then
/// indexed past the id list.
#[test]
fn decode_refuses_repeated_item_ids() {
    let err =
        ServingModel::decode(&raw_snapshot(&header(&["a", "a"], 1), &[0.5, 0.25])).unwrap_err();
    assert!(err.to_string().contains("twice"), "{err}");
}

/// A factor count so large that items x factors x 4 overflows is refused, not wrapped to a
/// size that matches the data.
#[test]
fn decode_refuses_a_factor_count_that_overflows() {
    let h = header(&["a", "b", "c", "d"], 1 << 62);
    let err = ServingModel::decode(&raw_snapshot(&h, &[])).unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
}

/// Recommending with a `keep` predicate gives the unfiltered ranking with the rejected items
/// taken out, in the same order, however deep the rejected items reach.
#[test]
fn recommending_with_a_predicate_skips_exactly_the_rejected_items() {
    let serving = serving_for(60, 200, 3000, 5, 6);
    let history = [(1u32, 1.0f32), (7, 2.0), (30, 1.0)];
    let all = serving.recommend_for_history(&history, 200);
    assert_eq!(
        serving.recommend_for_history_where(&history, 10, &|_| true),
        all[..10]
    );
    // Reject the 40 best: the answer is the 41st to the 50th.
    let rejected: std::collections::HashSet<String> = all[..40]
        .iter()
        .map(|s| serving.items.id(s.item).to_owned())
        .collect();
    let got = serving.recommend_for_history_where(&history, 10, &|id| !rejected.contains(id));
    assert_eq!(got, all[40..50]);
    // Fewer than n pass: every one of them, in order.
    let odd = |id: &str| id.trim_start_matches('i').parse::<u32>().unwrap() % 50 == 1;
    let got = serving.recommend_for_history_where(&history, 10, &odd);
    let want: Vec<_> = all
        .iter()
        .filter(|s| odd(serving.items.id(s.item)))
        .cloned()
        .collect();
    assert_eq!(got, want);
}

/// Scores of chosen items are the scores the full ranking gives them.
#[test]
fn scoring_chosen_items_agrees_with_the_ranking() {
    let serving = serving_for(40, 60, 900, 9, 5);
    let history = [(2u32, 1.0f32), (9, 3.0)];
    let ranked = serving.recommend_for_history(&history, 10);
    let chosen: Vec<u32> = ranked.iter().rev().map(|s| s.item).collect();
    let scores = serving.score_items(&history, &chosen).unwrap();
    for (s, item) in scores.iter().zip(&chosen) {
        let want = ranked.iter().find(|r| r.item == *item).unwrap().score;
        assert!((s - want).abs() < 1e-5, "{s} vs {want}");
    }
    assert!(serving.score_items(&[], &chosen).is_none());
}

/// The popularity dial travels with the serving model and reaches fold-in, refill and
/// re-ranking: with β > 0 every request-time list is the model's own list with the bias
/// `−β·s·ln(1 + c_i)` added (computed here independently), and lists move to less popular
/// items.
#[test]
fn the_popularity_dial_reaches_fold_in_refill_and_reranking() {
    let seen = seen_matrix(200, 120, 6_000, 9);
    let params = AlsParams {
        factors: 8,
        iterations: 4,
        ..AlsParams::implicit()
    };
    let mut model = model_from(seen.clone(), &params);
    let plain = ServingModel::from_model(&model, "v1", None);
    model.set_popularity_penalty(0.6);
    let dialled = ServingModel::decode(&ServingModel::from_model(&model, "v2", None).encode())
        .expect("round trip");
    assert_eq!(dialled.params.popularity_penalty, 0.6);
    assert!(dialled.score_scale > 0.0 && dialled.score_scale == model.meta.score_scale);

    let counts: Vec<u32> = (0..120)
        .map(|i| seen.indices.iter().filter(|&&c| c == i).count() as u32)
        .collect();
    let popularity = |list: &[Scored]| -> f64 {
        list.iter()
            .map(|s| counts[s.item as usize] as f64)
            .sum::<f64>()
            / list.len() as f64
    };
    let (mut plain_pop, mut dial_pop) = (0.0, 0.0);
    for u in [0usize, 17, 99, 150] {
        let (items, values) = seen.row(u);
        let history: Vec<(u32, f32)> = items.iter().copied().zip(values.iter().copied()).collect();
        // Independent: fold-in scores without the dial, plus the bias by the formula.
        let raw = plain
            .score_items(&history, &(0..120).collect::<Vec<u32>>())
            .unwrap();
        let want: Vec<f32> = raw
            .iter()
            .zip(&counts)
            .map(|(s, &c)| s - 0.6 * dialled.score_scale * (c as f32).ln_1p())
            .collect();
        let mut order: Vec<u32> = (0..120u32).filter(|i| !items.contains(i)).collect();
        order.sort_by(|&a, &b| {
            want[b as usize]
                .total_cmp(&want[a as usize])
                .then(a.cmp(&b))
        });
        let got = dialled.recommend_for_history(&history, 10);
        assert_eq!(
            got.iter().map(|s| s.item).collect::<Vec<_>>(),
            order[..10].to_vec(),
            "fold-in, user {u}"
        );
        let refill = dialled.recommend_for_history_where(&history, 10, &|_| true);
        assert_eq!(refill, got, "refill ranks as fold-in");
        let rescored = dialled.score_items(&history, &[order[0]]).unwrap()[0];
        assert!(
            (rescored - want[order[0] as usize]).abs() < 1e-4,
            "re-ranking scores"
        );
        plain_pop += popularity(&plain.recommend_for_history(&history, 10));
        dial_pop += popularity(&got);
    }
    assert!(
        dial_pop < plain_pop,
        "the dial moves lists to the tail: {dial_pop} vs {plain_pop}"
    );
    // Similar items are item to item: the dial leaves them alone.
    assert_eq!(dialled.similar_items(3, 5), plain.similar_items(3, 5));
}

/// The item's ALS system built independently over every user (implicit: unobserved cells
/// count with confidence 1; explicit: λ·n over the observed ones), solved in f64.
fn dense_item_solve(model: &Model, item: usize, params: &AlsParams) -> Vec<f64> {
    let k = params.factors;
    let x = &model.user_factors;
    let column: Vec<(usize, f32)> = (0..model.seen.nrows())
        .filter_map(|u| {
            let (items, values) = model.seen.row(u);
            items
                .iter()
                .position(|&i| i as usize == item)
                .map(|j| (u, values[j]))
        })
        .collect();
    let mut a = vec![0f64; k * k];
    let mut b = vec![0f64; k];
    let mut add = |u: usize, c: f64, target: f64| {
        for s in 0..k {
            b[s] += c * target * x[[u, s]] as f64;
            for t in 0..k {
                a[s * k + t] += c * x[[u, s]] as f64 * x[[u, t]] as f64;
            }
        }
    };
    let lambda = params.regularization as f64;
    match params.feedback {
        Feedback::Implicit => {
            for u in 0..x.nrows() {
                match column.iter().find(|(v, _)| *v == u) {
                    Some(&(_, r)) => add(u, params.confidence.of(params.alpha, r) as f64, 1.0),
                    None => add(u, 1.0, 0.0),
                }
            }
            for s in 0..k {
                a[s * k + s] += lambda;
            }
        }
        Feedback::Explicit => {
            for &(u, r) in &column {
                add(u, 1.0, r as f64);
            }
            for s in 0..k {
                a[s * k + s] += lambda * column.len() as f64;
            }
        }
    }
    assert!(crate::linalg::cholesky_solve(&mut a, &mut b, k));
    b
}

/// An item's factor solved from only the users who touched it, with the version's stored
/// `XᵀX + λI`, is the ALS half-step over every user, and it survives the round trip.
#[test]
fn item_fold_in_solves_the_half_step_over_every_user() {
    let seen = seen_matrix(120, 60, 2_400, 7);
    for params in [
        AlsParams {
            factors: 6,
            iterations: 3,
            ..AlsParams::implicit()
        },
        AlsParams {
            factors: 6,
            iterations: 3,
            ..AlsParams::explicit()
        },
    ] {
        let model = model_from(seen.clone(), &params);
        let serving =
            ServingModel::decode(&ServingModel::from_model(&model, "v1", None).encode()).unwrap();
        assert_eq!(
            serving.user_gramian.is_some(),
            params.feedback == Feedback::Implicit
        );
        for item in [0usize, 17, 42] {
            let users: Vec<(Vec<f32>, f32)> = (0..seen.nrows())
                .filter_map(|u| {
                    let (items, values) = seen.row(u);
                    let j = items.iter().position(|&i| i as usize == item)?;
                    Some((model.user_factors.row(u).to_vec(), values[j]))
                })
                .collect();
            assert!(!users.is_empty());
            let got = serving.fold_in_item(&users, None).unwrap();
            let want = dense_item_solve(&model, item, &params);
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (*g as f64 - w).abs() < 1e-3 * (1.0 + w.abs()),
                    "{:?} item {item}: got {got:?} want {want:?}",
                    params.feedback
                );
            }
        }
        // Without users there is nothing to solve from.
        assert!(serving.fold_in_item(&[], None).is_none());
    }
    // An implicit serving model written before the Gramian was recorded cannot fold items in.
    let mut old = serving_for(50, 30, 600, 3, 4);
    old.user_gramian = None;
    assert!(old.fold_in_item(&[(vec![0.1; 4], 1.0)], None).is_none());
}

/// A folded-in factor replaces a known item's row or adds a row for an unknown item; either
/// is then ranked and has similar items like any other.
#[test]
fn folded_factors_replace_or_add_rows() {
    let mut serving = serving_for(80, 40, 1_600, 4, 5);
    // Distinct directions (a few sweeps on synthetic data leave the items nearly parallel).
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(9);
    serving.item_factors =
        Array2::from_shape_fn((40, 5), |_| rand::Rng::gen_range(&mut rng, -1.0f32..1.0));
    let twin = serving.item_factors.row(7).to_vec();
    let other = serving.item_factors.row(3).to_vec();
    let out = serving.with_item_factors([("new", &twin[..], 4), ("i3", &twin[..], 2)]);
    assert_eq!(out.items.len(), 41);
    assert_eq!(out.trained_rows, serving.trained_rows);
    let new = out.items.get("new").unwrap();
    assert_eq!(new, 40);
    assert_eq!(out.item_factors.row(40).to_vec(), twin);
    assert_eq!(out.item_factors.row(3).to_vec(), twin);
    assert_ne!(other, twin);
    assert_eq!(out.item_counts[40], 4);
    assert_eq!(out.item_counts[3], serving.item_counts[3] + 2);
    let similar: Vec<u32> = out.similar_items(new, 2).iter().map(|s| s.item).collect();
    assert!(similar.contains(&7) && similar.contains(&3), "{similar:?}");
    // A factor of the wrong length is not taken.
    let short = [0.5f32; 2];
    assert_eq!(
        out.with_item_factors([("bad", &short[..], 1)]).items.len(),
        41
    );
}
