//! The Cosmos DB backend against a real Cosmos-compatible server over HTTP (npm
//! `@vercel/cosmosdb-server` behind `tests/azure/cosmos-wrapper.js`), through the official SDK.

use std::time::{Duration, Instant};

use topten_azure::cosmos::{CosmosAuth, CosmosSettings, CosmosStore};
use topten_live::publish::{publish, PublishOptions};
use topten_model::als::AlsParams;
use topten_model::ingest::{read_ratings_str, ReadOptions};
use topten_model::pipeline;
use topten_store::prelude::*;
use topten_store::{contract, doc_id, ItemScore, StoreError, UserRecs, VersionInfo, VersionStatus};
use topten_testkit::CosmosServer;

/// A store on `server`, key auth, with the given tweaks.
fn store(
    server: &CosmosServer,
    container: &str,
    tweak: impl FnOnce(&mut CosmosSettings),
) -> CosmosStore {
    let mut s = CosmosSettings::from_uri(&server.uri("topten", container)).unwrap();
    s.auth = CosmosAuth::Key(server.key().into());
    s.create_if_missing = true;
    tweak(&mut s);
    CosmosStore::new(s)
}

fn info(version: &str, users: usize) -> VersionInfo {
    VersionInfo {
        version: version.into(),
        status: VersionStatus::Writing,
        created_at: format!("2026-01-01T00:00:00.{:03}Z", version.len()),
        expected_users: users,
        users: 0,
        items_per_user: 3,
        model: serde_json::json!({}),
        quality: None,
    }
}

fn docs(version: &str, users: usize) -> Vec<UserRecs> {
    (0..users)
        .map(|u| UserRecs {
            id: doc_id(version, &format!("u{u}")),
            user_id: format!("u{u}"),
            items: (0..3)
                .map(|i| ItemScore {
                    item_id: format!("i{i}"),
                    score: 1.0 - i as f32 * 0.1,
                    title: None,
                })
                .collect(),
            model_version: version.into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            factor: None,
            has_new: Vec::new(),
        })
        .collect()
}

/// The real-time part of the contract (snapshots in chunks, histories, write-back, events in
/// the users' partitions with idempotent ids), over the wire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Azure stand-ins (npm ci in tests/azure); scripts/test.sh runs it with --include-ignored"]
async fn cosmos_store_passes_the_realtime_contract() {
    let server = CosmosServer::start();
    let s = store(&server, "realtime", |_| {});
    contract::run_realtime(&s).await;
    // A snapshot larger than one document is split into chunks and joined back.
    s.create_version(&info("big", 0)).await.unwrap();
    let big: Vec<u8> = (0..2_500_000u32).map(|i| (i % 251) as u8).collect();
    s.write_serving_model("big", &big).await.unwrap();
    assert_eq!(s.serving_model("big").await.unwrap().unwrap(), big);
}

/// Retention passes and forgetting a user, over the wire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Azure stand-ins (npm ci in tests/azure); scripts/test.sh runs it with --include-ignored"]
async fn cosmos_store_passes_the_erasure_contract() {
    let server = CosmosServer::start();
    contract::erasure(&store(&server, "erasure", |_| {})).await;
    // With a retention for answer counts, their documents carry a TTL, which the server takes.
    let expiring = store(&server, "ttl", |s| {
        s.answer_counts_retention = Some(std::time::Duration::from_secs(3600))
    });
    contract::answer_counts(&expiring).await;
}

/// The same contract suite as the embedded store, over the wire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Azure stand-ins (npm ci in tests/azure); scripts/test.sh runs it with --include-ignored"]
async fn cosmos_store_passes_the_contract() {
    let server = CosmosServer::start();
    let s = store(&server, "contract", |_| {});
    contract::run(&s).await;
    contract::concurrent_item_edits(std::sync::Arc::new(store(&server, "conc", |_| {}))).await;
    // Ids Cosmos forbids ('/', '?', '#', '\') still round-trip.
    s.create_version(&info("vx", 1)).await.unwrap();
    let mut d = docs("vx", 1);
    d[0].user_id = "a/b?c#d".into();
    d[0].id = doc_id("vx", "a/b?c#d");
    s.write_users("vx", &d).await.unwrap();
    let back = s.user_recs("vx", "a/b?c#d").await.unwrap().unwrap();
    assert_eq!(back.items, d[0].items);
}

/// 30% of writes answered 429 with x-ms-retry-after-ms: every document is still written exactly
/// once, each 429 was seen and waited out, and the version completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Azure stand-ins (npm ci in tests/azure); scripts/test.sh runs it with --include-ignored"]
async fn throttled_writes_are_retried_after_the_hint_and_written_once() {
    let server = CosmosServer::start();
    let s = store(&server, "throttle", |s| s.write_concurrency = 16);
    s.health().await.unwrap(); // creates the container before counting
    server.control("/reset", serde_json::json!({}));
    server.control(
        "/throttle",
        serde_json::json!({"share": 0.3, "retryAfterMs": 25}),
    );
    let n = 300;
    s.create_version(&info("v1", n)).await.unwrap();
    let started = Instant::now();
    for chunk in docs("v1", n).chunks(100) {
        s.write_users("v1", chunk).await.unwrap();
    }
    let elapsed = started.elapsed();
    let done = s.finish_version("v1").await.unwrap();
    assert_eq!((done.status, done.users), (VersionStatus::Complete, n));
    let stats = server.stats();
    let throttled = stats["throttled"].as_u64().unwrap();
    assert!(
        throttled >= 90,
        "a 30% share of at least 300 writes is throttled: {stats}"
    );
    // Only the version info is written twice (created, then completed); no user document is.
    let dups: Vec<&str> = stats["duplicates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(dups.len(), 1, "{stats}");
    assert!(dups[0].ends_with("/docs/version:v1"), "{stats}");
    assert_eq!(
        stats["documentsWritten"].as_u64().unwrap(),
        n as u64 + 1,
        "users + version info: {stats}"
    );
    let ws = s.write_stats().unwrap();
    assert_eq!(
        ws.throttled, throttled,
        "every 429 the server sent was seen and retried"
    );
    assert!(ws.request_units > 0.0);
    // Each 429 asked for 25 ms; 16 writers in parallel still spend at least throttled/16 of those.
    assert!(
        elapsed >= Duration::from_millis(25 * throttled / 16),
        "{elapsed:?}"
    );
    eprintln!(
        "throttled publish: {n} docs in {elapsed:?}, {throttled} x 429, {:.0} RU",
        ws.request_units
    );
}

/// The server goes away in the middle of a publish: the publish fails with a clear error, the
/// version stays `writing` and cannot be activated, and once the server is back the old
/// version still serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Azure stand-ins (npm ci in tests/azure); scripts/test.sh runs it with --include-ignored"]
async fn server_stopped_mid_publish_leaves_the_old_version_serving() {
    let server = CosmosServer::start();
    let s = store(&server, "outage", |s| {
        s.max_retries = 2;
        s.write_timeout = Duration::from_secs(2);
    });
    let text: String = (0..60)
        .flat_map(|u| {
            (0..8).map(move |i| format!("u{u}\ti{}\t{}\n", (u * 7 + i * 3) % 40, 1 + (u + i) % 5))
        })
        .collect();
    let (ratings, _) = read_ratings_str(&text, "mem", &ReadOptions::default()).unwrap();
    let model = pipeline::train(
        &ratings,
        &AlsParams {
            factors: 4,
            iterations: 3,
            threads: 1,
            ..AlsParams::implicit()
        },
        None,
        &mut |_| {},
    )
    .unwrap();
    let v1 = publish(
        &s,
        &model,
        &PublishOptions {
            version: Some("v1".into()),
            ..Default::default()
        },
        &mut |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(s.active().await.unwrap().unwrap().version, "v1");

    let opts = PublishOptions {
        version: Some("v2".into()),
        batch_size: 20,
        ..Default::default()
    };
    let mut batches = 0;
    let err = publish(&s, &model, &opts, &mut |_, _| {
        batches += 1;
        if batches == 1 {
            server.control("/down", serde_json::json!({}));
        }
    })
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Unavailable { .. } | StoreError::Backend { .. }
        ),
        "{err}"
    );
    server.control("/up", serde_json::json!({}));

    assert_eq!(
        s.active().await.unwrap().unwrap().version,
        "v1",
        "the old version still serves"
    );
    assert_eq!(
        s.version("v2").await.unwrap().unwrap().status,
        VersionStatus::Writing
    );
    assert!(matches!(
        s.activate("v2").await,
        Err(StoreError::Conflict(_))
    ));
    let u = model.users.id(0);
    assert_eq!(
        s.user_recs("v1", u).await.unwrap().unwrap().model_version,
        v1.version
    );
}

/// A slow store gives fast 503s: reads time out, and after enough failures the breaker answers
/// at once without sending the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Azure stand-ins (npm ci in tests/azure); scripts/test.sh runs it with --include-ignored"]
async fn slow_reads_time_out_and_open_the_circuit_breaker() {
    let server = CosmosServer::start();
    // Published with the default settings: only the reads below are under the short timeout
    // (a publish on a busy machine may take longer than it, which is not what is tested).
    contract::publish_small(&store(&server, "slow", |_| {}), "v1", 2).await;
    let s = store(&server, "slow", |s| {
        s.read_timeout = Duration::from_millis(200);
        s.breaker_failures = 2;
        s.breaker_open = Duration::from_millis(1500);
    });
    server.control("/delay", serde_json::json!({"ms": 1000}));
    for _ in 0..2 {
        let t = Instant::now();
        assert!(matches!(
            s.user_recs_json("v1", "u0").await,
            Err(StoreError::Unavailable { .. })
        ));
        assert!(
            t.elapsed() < Duration::from_millis(900),
            "timed out after the read timeout, not the server's delay"
        );
    }
    let before = server.stats()["itemReads"].as_u64().unwrap();
    let t = Instant::now();
    match s.user_recs_json("v1", "u0").await {
        Err(StoreError::Unavailable {
            retry_after_secs, ..
        }) => assert!((1..=2).contains(&retry_after_secs)),
        other => panic!("expected the open breaker, got {other:?}"),
    }
    assert!(t.elapsed() < Duration::from_millis(50));
    assert_eq!(
        server.stats()["itemReads"].as_u64().unwrap(),
        before,
        "an open breaker sends nothing"
    );
    server.control("/delay", serde_json::json!({"ms": 0}));
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert!(
        s.user_recs_json("v1", "u0").await.unwrap().is_some(),
        "half-open: the next read goes through and closes it"
    );
}
