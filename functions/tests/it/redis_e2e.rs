//! The real `handler` executable serving from a real Redis (Debian's `redis-server` over
//! TCP), with the settings the Functions app uses: one round trip per request, versions,
//! events with fold-in write-back, a Redis that goes away and comes back, one that lost its
//! data, and one that would evict keys.

use crate::common;

use std::time::{Duration, Instant};

use topten_live::publish::{publish, PublishOptions};
use topten_testkit::http::get_json as get;
use topten_testkit::{RedisOptions, RedisServer};

use crate::common::{ids, start_handler};

fn opts(v: &str) -> PublishOptions {
    PublishOptions {
        version: Some(v.into()),
        items_per_user: 20,
        ..PublishOptions::default()
    }
}

/// Publish, serve, count round trips, switch and roll back, take events, lose the server
/// and get it back: all against one handler process that is never restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package; .ci/run installs it); scripts/test.sh runs it with --include-ignored"]
/// Long because it is one scenario: each step starts from the state the steps before it left,
/// so splitting it would only pass that state around.
async fn handler_serves_from_redis_with_one_round_trip_per_request_and_survives_a_restart() {
    let mut server = RedisServer::start_with(RedisOptions {
        persistent: true,
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let ratings = topten_testkit::fixtures::ratings_file(dir.path());
    let model = topten_testkit::fixtures::small_model(&ratings, 4);
    let uri = server.uri("e2e");
    let store = common::open(&uri);
    publish(store.as_ref(), &model, &opts("v1"), &mut |_, _| {})
        .await
        .unwrap();

    let h = start_handler(&[
        ("TOPTEN_STORE", &uri),
        ("TOPTEN_ACTIVE_TTL_MS", "300"),
        ("TOPTEN_REDIS_BREAKER_OPEN_MS", "300"),
    ])
    .await;
    let user = common::assert_serves_model(&h.base, &model, "redis", "v1").await;

    // One round trip (one HGET, nothing else) per request once the pointer is cached.
    let total = |s: &RedisServer| -> u64 {
        s.command_calls()
            .into_iter()
            .filter(|(command, _)| command != "info")
            .map(|(_, calls)| calls)
            .sum()
    };
    let n = 20u64;
    let ((hget0, total0), elapsed) = common::time_known_users(&h.base, &model, n as u32, || {
        (server.calls("hget"), total(&server))
    })
    .await;
    let (hgets, all) = (server.calls("hget") - hget0, total(&server) - total0);
    // (INFO, which the test itself sends, is left out.)
    let extra = if elapsed < Duration::from_millis(300) {
        0
    } else {
        // A slow machine crossed pointer refreshes: a few reads per TTL period.
        4 * ((elapsed.as_millis() / 300) as u64 + 1)
    };
    assert_eq!(hgets, n, "one HGET per request");
    assert!(
        all <= n + extra,
        "{all} commands for {n} requests in {elapsed:?}: {}",
        server.cli(&["INFO", "commandstats"])
    );

    // Switch to v2, then roll back: the handler follows the pointer within its TTL.
    common::assert_switch_and_rollback(&h.base, store.as_ref(), &model, &user).await;

    // Events are stored in Redis and fold into the user's list, written back for every
    // instance.
    let (_, body) = get(&format!("{}/api/recommendations/{user}", h.base)).await;
    let liked = ids(&body)[..2].to_vec();
    let events: Vec<serde_json::Value> = liked
        .iter()
        .enumerate()
        .map(|(n, i)| serde_json::json!({"userId": user, "itemId": i, "type": "purchase", "eventId": format!("e{n}")}))
        .collect();
    let resp = reqwest::Client::new()
        .post(format!("{}/api/events", h.base))
        .json(&serde_json::json!({ "events": events }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let answer: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(answer["stored"], 2, "{answer}");
    assert_eq!(store.user_events(&user).await.unwrap().len(), 2);
    let (_, after) = get(&format!("{}/api/recommendations/{user}?k=10", h.base)).await;
    assert!(
        ids(&after).iter().all(|i| !liked.contains(i)),
        "bought items leave the list"
    );
    let written_back = store.user_recs("v1", &user).await.unwrap().unwrap();
    assert!(written_back
        .items
        .iter()
        .all(|i| !liked.contains(&i.item_id)));

    // Redis goes away: fast 503s with Retry-After and the stable code, not hanging requests.
    server.kill();
    tokio::time::sleep(Duration::from_millis(400)).await;
    for _ in 0..3 {
        let body = common::assert_fast_503(&h.base, &user, Duration::from_secs(3)).await;
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
    }
    // ... and comes back with its data: the same handler serves again.
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (s, body) = get(&format!("{}/api/recommendations/{user}?k=10", h.base)).await;
        if s == 200 {
            assert_eq!(body["source"], "personalized");
            assert_eq!(ids(&body), ids(&after));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no recovery after the restart: {s} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A Redis that restarted empty (no persistence) is refilled by publishing again, and the
/// running handler follows the new version without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server (Debian package; .ci/run installs it); scripts/test.sh runs it with --include-ignored"]
async fn a_redis_that_lost_its_data_is_refilled_by_publishing_again() {
    let mut server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let ratings = topten_testkit::fixtures::ratings_file(dir.path());
    let model = topten_testkit::fixtures::small_model(&ratings, 4);
    let uri = server.uri("refill");
    let store = common::open(&uri);
    publish(store.as_ref(), &model, &opts("v1"), &mut |_, _| {})
        .await
        .unwrap();
    let h = start_handler(&[("TOPTEN_STORE", &uri), ("TOPTEN_ACTIVE_TTL_MS", "200")]).await;
    let user = model.users.id(5).to_owned();
    let (s, _) = get(&format!("{}/api/recommendations/{user}", h.base)).await;
    assert_eq!(s, 200);

    server.restart();
    assert_eq!(
        server.cli(&["DBSIZE"]).trim(),
        "0",
        "the restart lost everything"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (s, body) = get(&format!("{}/api/recommendations/{user}", h.base)).await;
    assert_ne!(
        (s, body["source"].as_str()),
        (200, Some("personalized")),
        "nothing left to serve a personal list from: {body}"
    );

    // The documented refill: publish the model again.
    publish(store.as_ref(), &model, &opts("v2"), &mut |_, _| {})
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (s, body) = get(&format!("{}/api/recommendations/{user}", h.base)).await;
    assert_eq!(
        (s, body["source"].as_str(), body["modelVersion"].as_str()),
        (200, Some("personalized"), Some("v2")),
        "{body}"
    );
}

/// The handler refuses to start on a Redis that evicts keys, and says why.
#[test]
#[ignore = "needs redis-server (Debian package; .ci/run installs it); scripts/test.sh runs it with --include-ignored"]
fn the_handler_refuses_an_evicting_redis_at_start_up() {
    let server = RedisServer::start_with(RedisOptions {
        maxmemory_policy: "volatile-lru",
        ..Default::default()
    });
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_handler"))
        .env(
            "FUNCTIONS_CUSTOMHANDLER_PORT",
            topten_testkit::free_port().to_string(),
        )
        .env("TOPTEN_STORE", server.uri("evict"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the handler started: {stderr}");
    assert!(
        stderr.contains("volatile-lru") && stderr.contains("noeviction"),
        "{stderr}"
    );
}
