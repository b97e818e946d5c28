//! The real `handler` executable serving from Cosmos DB (a Cosmos-compatible server over HTTP,
//! reached through the official SDK), with the settings the Functions app uses.

use crate::common;

use std::time::Duration;

use topten_live::publish::{publish, PublishOptions};
use topten_testkit::CosmosServer;

use crate::common::start_handler;
use topten_testkit::http::get_json as get;

/// Publish two versions to Cosmos, serve them through the handler binary, switch and roll
/// back, ask for an unknown user, and count what reaches the server: exactly one item read per
/// recommendation request once the active pointer is cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the Azure stand-ins (npm ci in tests/azure); scripts/test.sh runs it with --include-ignored"]
async fn handler_serves_published_versions_from_cosmos_with_one_read_per_request() {
    let server = CosmosServer::start();
    let dir = tempfile::tempdir().unwrap();
    let ratings = topten_testkit::fixtures::ratings_file(dir.path());
    let model = topten_testkit::fixtures::small_model(&ratings, 4);

    // The publisher uses the same settings the handler gets: URI + emulator key.
    std::env::set_var("COSMOS_KEY", server.key());
    let uri = server.uri("topten", "recs");
    let store = topten_functions::backends::create_or_open(&uri).unwrap();
    let opts = |v: &str| PublishOptions {
        version: Some(v.into()),
        items_per_user: 20,
        ..PublishOptions::default()
    };
    publish(store.as_ref(), &model, &opts("v1"), &mut |_, _| {})
        .await
        .unwrap();

    let h = start_handler(&[
        ("TOPTEN_STORE", &uri),
        ("COSMOS_KEY", server.key()),
        ("TOPTEN_ACTIVE_TTL_MS", "300"),
        ("TOPTEN_LOG_REQUESTS", "false"),
    ])
    .await;
    let user = common::assert_serves_model(&h.base, &model, "cosmos", "v1").await;

    // Unknown user: the cold-start list (the point read answers 404).
    let (s, body) = get(&format!("{}/api/recommendations/nobody-here?k=3", h.base)).await;
    assert_eq!(
        (s, body["source"].as_str()),
        (200, Some("popular")),
        "{body}"
    );

    // Request counting, inside one pointer-cache lifetime: one item read per request.
    let n = 20;
    let ((), elapsed) = common::time_known_users(&h.base, &model, n, || {
        server.control("/reset", serde_json::json!({}));
    })
    .await;
    let stats = server.stats();
    // Within one pointer-cache lifetime (300 ms): exactly one point read per request and no
    // query. A slow machine crosses refreshes: each period may add one pointer read and one
    // query of the live item changes (polled once per lifetime).
    let extra = if elapsed < Duration::from_millis(300) {
        0
    } else {
        (elapsed.as_millis() / 300) as u64 + 1
    };
    let (reads, queries) = (
        stats["itemReads"].as_u64().unwrap(),
        stats["queries"].as_u64().unwrap(),
    );
    assert!(
        reads >= n as u64 && reads <= n as u64 + extra,
        "one point read per request: {reads} reads for {n} requests in {elapsed:?}: {stats}"
    );
    assert!(
        queries <= extra,
        "serving never queries but to poll the live changes: {queries} in {elapsed:?}: {stats}"
    );

    // Switch to v2, then roll back: the handler follows the pointer within its TTL.
    common::assert_switch_and_rollback(&h.base, store.as_ref(), &model, &user).await;

    // The store goes away: fast 503s with Retry-After, not hanging requests.
    server.control("/down", serde_json::json!({}));
    tokio::time::sleep(Duration::from_millis(400)).await;
    common::assert_fast_503(&h.base, &user, Duration::from_secs(5)).await;
    server.control("/up", serde_json::json!({}));
}
