//! `cargo bench -p topten-functions --bench router`: what the service's own code costs per
//! request, without sockets, the kernel or a load generator sharing the cores: the whole router
//! (every layer, the handler, the store read, the body) driven in process, for
//! `GET /api/recommendations/{userId}?k=10` (random known users, the stored-list fast path),
//! the same with a category filter, and `GET /api/ping`, the bare-route baseline; then the
//! places kept for new items (`TOPTEN_NEW_ITEM_SLOTS`): the same GET switched off, on with no
//! new item (the cache lookup every GET pays), and on with five new items (scored for the
//! last place of every list).
//! `bench/load.sh` measures the same routes over sockets; the difference between the two
//! ratios is what the network stack and the larger body cost.
//!
//! The routes take turns within each round (so a noisy neighbour hits all of them alike);
//! prints each route's median microseconds per request over ROUNDS rounds of REQUESTS requests,
//! and the median of the rounds' ratios to ping. Environment: REQUESTS (default 5000),
//! ROUNDS (default 21).

use std::time::Instant;

use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt;

use topten_functions::{app, state_from_config, Config};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Microseconds per request of `n` requests of `paths` (cycled) through `router`.
async fn per_request(router: &axum::Router, paths: &[String], n: usize) -> f64 {
    let start = Instant::now();
    for i in 0..n {
        let req = Request::get(&paths[i % paths.len()])
            .body(Body::empty())
            .unwrap();
        let resp = router.clone().oneshot(req).await.unwrap();
        assert!(resp.status().is_success(), "{}", paths[i % paths.len()]);
        let _ = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
    }
    start.elapsed().as_secs_f64() * 1e6 / n as f64
}

/// The body of `GET path` through `router`.
async fn get(router: &axum::Router, path: &str) -> String {
    let req = Request::get(path).body(Body::empty()).unwrap();
    let body = axum::body::to_bytes(
        router.clone().oneshot(req).await.unwrap().into_body(),
        1 << 20,
    )
    .await
    .unwrap();
    String::from_utf8_lossy(&body).into_owned()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let (n, rounds) = (env("REQUESTS", 5_000), env("ROUNDS", 21));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let ratings = topten_testkit::fixtures::ratings_file(dir.path());
        let (uri, _) = topten_testkit::fixtures::published_store(dir.path(), &ratings).await;
        let router = app(state_from_config(Config {
            store_uri: uri,
            ..Config::default()
        })
        .unwrap());
        // The fixture's users are 1..=300 (synthetic ids); every one has a stored list.
        let users: Vec<String> = (1..=300).map(|u| u.to_string()).collect();
        let recs: Vec<String> = users
            .iter()
            .map(|u| format!("/api/recommendations/{u}?k=10"))
            .collect();
        let filtered: Vec<String> = users
            .iter()
            .map(|u| format!("/api/recommendations/{u}?k=10&excludeCategory=none"))
            .collect();
        let ping = vec!["/api/ping".to_string()];
        // Known users get their stored list (the fast path this measures).
        assert!(get(&router, &recs[0]).await.contains("\"personalized\""));
        // Warm the caches (active pointer, serving model, servable set).
        per_request(&router, &recs, 2_000).await;
        let routes = [
            ("GET /api/ping", &ping),
            ("GET /api/recommendations/{id}?k=10", &recs),
            ("… with excludeCategory", &filtered),
        ];
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); routes.len()];
        for _ in 0..rounds {
            for (t, (_, paths)) in times.iter_mut().zip(&routes) {
                t.push(per_request(&router, paths, n).await);
            }
        }
        let new_items = new_item_places(&recs, n, rounds).await;
        println!("| route | µs per request | ratio to ping (median of the rounds' ratios) |");
        println!("|---|---:|---:|");
        for (t, (name, _)) in times.iter().zip(&routes) {
            let ratios: Vec<f64> = times[0].iter().zip(t).map(|(p, r)| p / r).collect();
            println!(
                "| {name} | {:.2} | {:.3} |",
                median(t.clone()),
                median(ratios)
            );
        }
        println!();
        println!("{new_items}");
    });
}

/// The GET of known users' lists with the places for new items switched off, on without a
/// new item, and on with five (items no version trained, folded in from live events of 20
/// users each): each store its own, the three taking turns within each round. A table.
async fn new_item_places(recs: &[String], n: usize, rounds: usize) -> String {
    let mut routers = Vec::new();
    let mut dirs = Vec::new();
    for (slots, new) in [(0u32, false), (1, false), (1, true)] {
        let dir = tempfile::tempdir().unwrap();
        let ratings = topten_testkit::fixtures::ratings_file(dir.path());
        let (uri, _) = topten_testkit::fixtures::published_store(dir.path(), &ratings).await;
        let router = app(state_from_config(Config {
            store_uri: uri,
            new_item_slots: slots,
            ..Config::default()
        })
        .unwrap());
        if new {
            let events: Vec<serde_json::Value> = (0..5)
                .flat_map(|i| {
                    (1..=20).map(move |u| {
                        serde_json::json!({"userId": (u * 7 + i).to_string(), "itemId": format!("new-{i}"), "type": "click"})
                    })
                })
                .collect();
            let req = Request::post("/api/events")
                .header("content-type", "application/json")
                .body(Body::from(
                    serde_json::json!({ "events": events }).to_string(),
                ))
                .unwrap();
            let resp = router.clone().oneshot(req).await.unwrap();
            let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
                .await
                .unwrap();
            assert!(String::from_utf8_lossy(&body).contains("new-4"), "{body:?}");
            // Every list now ends with a new item.
            assert!(get(&router, &recs[0]).await.contains("\"reason\":\"new\""));
        }
        per_request(&router, recs, 2_000).await;
        routers.push(router);
        dirs.push(dir);
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); routers.len()];
    for _ in 0..rounds {
        for (t, router) in times.iter_mut().zip(&routers) {
            t.push(per_request(router, recs, n).await);
        }
    }
    let mut out = String::from(
        "| GET /api/recommendations/{id}?k=10 | µs per request | ratio to switched off (median of the rounds' ratios) |\n|---|---:|---:|\n",
    );
    for (t, name) in times.iter().zip([
        "places for new items switched off (TOPTEN_NEW_ITEM_SLOTS=0)",
        "on, no new item",
        "on, five new items",
    ]) {
        let ratios: Vec<f64> = times[0].iter().zip(t).map(|(o, r)| o / r).collect();
        out += &format!(
            "| {name} | {:.2} | {:.3} |\n",
            median(t.clone()),
            median(ratios)
        );
    }
    out
}
