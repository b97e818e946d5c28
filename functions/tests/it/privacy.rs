//! Data that ends: forgetting a user (route, tombstones in retrain and publish), merging a
//! visitor into an account, protected reads, and the retention pass against what serving
//! versions still need.

use std::time::Duration;

use crate::common::{self, ids, scores, send};

use topten_functions::{app, state_from_config, Config};
use topten_live::retention::{self, Retention};
use topten_model::clock::now_ms;
use topten_store::events::StoredEvent;
use topten_store::prelude::*;

const KEY: &str = "privacy-key-0123456789";

async fn fixture(config: Config) -> (tempfile::TempDir, axum::Router, String) {
    let dir = tempfile::tempdir().unwrap();
    let ratings = topten_testkit::fixtures::ratings_file(dir.path());
    let (uri, _) = topten_testkit::fixtures::published_store(dir.path(), &ratings).await;
    let config = Config {
        store_uri: uri.clone(),
        active_ttl_ms: 0,
        items_per_user: 30,
        ..config
    };
    (dir, app(state_from_config(config).unwrap()), uri)
}

/// `method uri` with the key and an optional JSON body.
async fn send_key(
    router: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    crate::common::send_with_key(router, method, uri, body, Some(KEY)).await
}

fn keyed() -> Config {
    Config {
        api_key: Some(KEY.parse().unwrap()),
        ..Config::default()
    }
}

#[tokio::test]
async fn forgetting_a_user_removes_their_events_and_lists_everywhere_and_repeats_safely() {
    let (_d, router, uri) = fixture(keyed()).await;
    let store = crate::common::open(&uri);
    let events: Vec<serde_json::Value> = ["3", "7"]
        .iter()
        .map(|i| serde_json::json!({"userId": "12", "itemId": i, "type": "click"}))
        .chain([serde_json::json!({"userId": "12", "itemIds": ["1", "2"], "type": "impression"})])
        .collect();
    let (s, body) = send_key(
        &router,
        "POST",
        "/api/events",
        Some(serde_json::json!({"events": events})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (_, before) = send(&router, "GET", "/api/recommendations/12?k=5", None).await;
    assert_eq!(before["source"], "personalized");

    let (s, body) = send(&router, "DELETE", "/api/users/12", None).await;
    common::assert_error(s, &body, 401, "unauthorized");
    let (s, gone) = send_key(&router, "DELETE", "/api/users/12", None).await;
    assert_eq!(s, 200, "{gone}");
    assert_eq!(gone["userId"], "12");
    assert_eq!(gone["events"], 3);
    assert_eq!(gone["lists"], 1);
    assert_eq!(gone["histories"], 1);
    assert!(gone["forgottenMs"].as_i64().unwrap() > 0);

    let (_, after) = send(&router, "GET", "/api/recommendations/12?k=5", None).await;
    assert_eq!(after["source"], "popular", "{after}");
    assert!(store.user_events("12").await.unwrap().is_empty());
    assert!(!store
        .events_since(0)
        .await
        .unwrap()
        .iter()
        .any(|e| e.user_id == "12"));
    let version = before["modelVersion"].as_str().unwrap();
    assert!(store.user_history(version, "12").await.unwrap().is_none());
    // Others keep theirs.
    let (_, other) = send(&router, "GET", "/api/recommendations/13?k=5", None).await;
    assert_eq!(other["source"], "personalized");

    let (s, again) = send_key(&router, "DELETE", "/api/users/12", None).await;
    assert_eq!(s, 200);
    assert_eq!(
        (again["events"].as_u64(), again["lists"].as_u64()),
        (Some(0), Some(0))
    );
    let stones = store.tombstones().await.unwrap();
    assert_eq!(stones.len(), 1);
    assert_eq!(stones[0].user_id, "12");

    // Back as a new user: events after the tombstone are theirs, and personal again.
    let back = serde_json::json!({"events": [{"userId": "12", "itemId": "9", "type": "click"}]});
    let (s, _) = send_key(&router, "POST", "/api/events", Some(back)).await;
    assert_eq!(s, 200);
    assert_eq!(store.user_events("12").await.unwrap().len(), 1);

    let (s, bad) = send_key(&router, "DELETE", "/api/users/%20x", None).await;
    common::assert_error(s, &bad, 400, "invalid_user_id");
}

#[tokio::test]
async fn tombstones_keep_retrains_and_publishes_from_learning_a_forgotten_user() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = topten_testkit::fixtures::ratings_file(dir.path());
    let model = topten_testkit::fixtures::small_model(&ratings, 2);
    assert!(model.users.get("12").is_some());
    let store = topten_store::embedded::EmbeddedStore::open(dir.path().join("s.db")).unwrap();
    // Forgotten after the model was trained: its list and history are not published, and the
    // version still completes.
    topten_live::forget::forget_user(&store, "12", now_ms() + 1)
        .await
        .unwrap();
    let version = topten_testkit::fixtures::publish_active(&store, &model).await;
    assert!(store.user_recs(&version, "12").await.unwrap().is_none());
    assert!(store.user_history(&version, "12").await.unwrap().is_none());
    assert!(store.user_recs(&version, "13").await.unwrap().is_some());
    let info = store.version(&version).await.unwrap().unwrap();
    assert_eq!(info.users, model.users.len() - 1);

    // The retrain leaves the user's rows out of the files and the events.
    let params = topten_model::als::AlsParams {
        factors: 4,
        iterations: 2,
        threads: 1,
        ..topten_model::als::AlsParams::implicit()
    };
    let mut cfg = topten_functions::retrain::RetrainConfig::new(
        vec![topten_azure::blob::Location::parse(ratings.to_str().unwrap()).unwrap()],
        params,
        topten_model::metrics::TargetMetric::NdcgAtK,
    );
    cfg.events = vec![
        StoredEvent::interaction("12", "5", "click", 1.0, now_ms() - 1000),
        StoredEvent::interaction("13", "5", "click", 1.0, now_ms() - 1000),
    ];
    cfg.tombstones = topten_live::forget::tombstones(&store).await.unwrap();
    let candidate = topten_functions::retrain::train_candidate(&cfg).unwrap();
    assert!(candidate.published.users.get("12").is_none());
    assert!(candidate.published.users.get("13").is_some());
    // Without the tombstone the same retrain learns the user.
    cfg.tombstones.clear();
    let candidate = topten_functions::retrain::train_candidate(&cfg).unwrap();
    assert!(candidate.published.users.get("12").is_some());
}

#[tokio::test]
async fn merging_a_visitor_moves_their_events_refreshes_the_account_and_forgets_the_session() {
    let (_d, router, uri) = fixture(keyed()).await;
    let store = crate::common::open(&uri);
    let visited = ["4", "8", "15"];
    let events: Vec<serde_json::Value> = visited
        .iter()
        .map(|i| serde_json::json!({"userId": "visitor-7f3a", "itemId": i, "type": "click", "eventId": format!("v-{i}")}))
        .collect();
    let (s, _) = send_key(
        &router,
        "POST",
        "/api/events",
        Some(serde_json::json!({"events": events})),
    )
    .await;
    assert_eq!(s, 200);
    let (_, before) = send(&router, "GET", "/api/recommendations/20?k=10", None).await;

    let merge = serde_json::json!({"from": "visitor-7f3a"});
    let (s, body) = send(&router, "POST", "/api/users/20/merge", Some(merge.clone())).await;
    assert_eq!(s, 401, "{body}");
    let (s, merged) = send_key(&router, "POST", "/api/users/20/merge", Some(merge.clone())).await;
    assert_eq!(s, 200, "{merged}");
    assert_eq!(
        (merged["moved"].as_u64(), merged["refreshed"].as_bool()),
        (Some(3), Some(true))
    );
    assert_eq!(merged["forgotten"]["events"], 3);

    let mine: Vec<String> = store
        .user_events("20")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.item_id)
        .collect();
    assert_eq!(mine, visited);
    assert!(store.user_events("visitor-7f3a").await.unwrap().is_empty());
    let (_, after) = send(&router, "GET", "/api/recommendations/20?k=10", None).await;
    assert_eq!(after["source"], "personalized");
    assert!(
        ids(&after).iter().all(|i| !visited.contains(&i.as_str())),
        "{after}"
    );
    // Folded in afresh: the user's factor now includes the visit.
    assert_ne!(scores(&after), scores(&before));

    // A retry moves nothing twice.
    let (s, again) = send_key(&router, "POST", "/api/users/20/merge", Some(merge)).await;
    assert_eq!((s, again["moved"].as_u64()), (200, Some(0)));
    assert_eq!(store.user_events("20").await.unwrap().len(), 3);
    let (s, e) = send_key(
        &router,
        "POST",
        "/api/users/20/merge",
        Some(serde_json::json!({"from": "20"})),
    )
    .await;
    common::assert_error(s, &e, 409, "merge_into_itself");
    assert_eq!(store.user_events("20").await.unwrap().len(), 3);
    for bad in [
        serde_json::json!({"from": ""}),
        serde_json::json!({"form": "x"}),
        serde_json::json!({"from": "x", "extra": 1}),
    ] {
        let (s, e) = send_key(&router, "POST", "/api/users/20/merge", Some(bad.clone())).await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (400, Some("invalid_merge")),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn protected_reads_need_the_key_and_health_does_not() {
    let (_d, router, _) = fixture(Config {
        protect_reads: true,
        ..keyed()
    })
    .await;
    for uri in [
        "/api/recommendations/12",
        "/api/items/5/similar",
        "/api/items/trending",
    ] {
        let (s, e) = send(&router, "GET", uri, None).await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (401, Some("unauthorized")),
            "{uri}"
        );
        let (s, body) = send_key(&router, "GET", uri, None).await;
        assert_eq!(s, 200, "{uri}: {body}");
    }
    let (s, e) = send(
        &router,
        "POST",
        "/api/recommendations/12/rank",
        Some(serde_json::json!({"itemIds": ["1"]})),
    )
    .await;
    common::assert_error(s, &e, 401, "unauthorized");
    let (s, _) = send(&router, "GET", "/api/health", None).await;
    assert_eq!(s, 200);
    // Off by default.
    let (_d, open, _) = fixture(keyed()).await;
    assert_eq!(
        send(&open, "GET", "/api/recommendations/12", None).await.0,
        200
    );
}

#[tokio::test]
async fn retention_deletes_old_events_but_never_one_a_serving_version_folds_in() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = topten_testkit::fixtures::ratings_file(dir.path());
    let mut model = topten_testkit::fixtures::small_model(&ratings, 2);
    let now = now_ms();
    let day = 86_400_000;
    // The version trained on the events received up to a day ago.
    model.meta.events_through_ms = Some(now - day);
    let store = topten_store::embedded::EmbeddedStore::open(dir.path().join("s.db")).unwrap();
    topten_testkit::fixtures::publish_active(&store, &model).await;
    let at = |user: &str, item: &str, happened: i64, received: i64| StoredEvent {
        timestamp: happened / 1000,
        ..StoredEvent::interaction(user, item, "click", 1.0, received)
    };
    store
        .append_events(&[
            // Old and seen by the version: goes.
            at("12", "old", now - 40 * day, now - 40 * day),
            // Old by its own time, but received after the version's data: the version folds
            // it in, so it stays until a version trained on it serves.
            at("12", "late", now - 40 * day, now - 1000),
            // Recent: stays.
            at("12", "new", now - day / 2, now - day / 2),
        ])
        .await
        .unwrap();
    let thirty_days = Retention {
        events: Some(Duration::from_secs(30 * 86_400)),
        ..Retention::default()
    };
    // One pass, then the items of the events user 12 has left.
    let sweep_then_left = || async {
        let swept = retention::sweep(&store, &thirty_days, now, Duration::ZERO)
            .await
            .unwrap();
        let left: Vec<String> = store
            .user_events("12")
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.item_id)
            .collect();
        (swept.events, left)
    };
    assert_eq!(
        sweep_then_left().await,
        (1, vec!["late".to_string(), "new".into()])
    );
    // A version trained on everything up to now serves: the late event goes too.
    model.meta.events_through_ms = Some(now);
    topten_testkit::fixtures::publish_active(&store, &model).await;
    assert_eq!(sweep_then_left().await, (1, vec!["new".to_string()]));
    // Nothing is set: nothing goes.
    let none = retention::sweep(
        &store,
        &Retention::default(),
        now + 100 * day,
        Duration::ZERO,
    )
    .await
    .unwrap();
    assert_eq!(none.events, 0);
}

#[test]
fn retention_settings_are_validated_at_start_up() {
    use clap::Parser;
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }
    let parse = |value: &str| {
        Cli::try_parse_from(["handler", "--events-retention", value])
            .map(|c| c.config.events_retention)
    };
    assert_eq!(
        parse("90d").unwrap(),
        Some(Duration::from_secs(90 * 86_400))
    );
    assert_eq!(parse("60s").unwrap(), Some(Duration::from_secs(60)));
    let err = parse("90").unwrap_err().to_string();
    assert!(
        err.contains("TOPTEN_EVENTS_RETENTION") && err.contains("unit"),
        "{err}"
    );
    assert!(parse("0s").is_err());
}

#[tokio::test]
async fn a_users_data_export_holds_their_events_lists_histories_and_arm() {
    let (_d, router, uri) = fixture(keyed()).await;
    // What the user was shown (two items of an answer, with its id) and a click on one.
    let (s, answer) = send(&router, "GET", "/api/recommendations/12?k=5", None).await;
    assert_eq!(s, 200, "{answer}");
    let (first, second) = (&answer["items"][0]["itemId"], &answer["items"][1]["itemId"]);
    let events = serde_json::json!({"events": [
        {"userId": "12", "itemIds": [first, second], "type": "impression",
            "recommendationId": answer["recommendationId"]},
        {"userId": "12", "itemId": second, "type": "click"},
    ]});
    let (s, _) = send_key(&router, "POST", "/api/events", Some(events)).await;
    assert_eq!(s, 200);
    let (s, e) = send(&router, "GET", "/api/users/12/data", None).await;
    common::assert_error(s, &e, 401, "unauthorized");
    let (s, data) = send_key(&router, "GET", "/api/users/12/data", None).await;
    assert_eq!(s, 200, "{data}");
    assert_eq!(data["userId"], "12");
    let kinds: Vec<&str> = data["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["impression", "click"]);
    assert_eq!(data["attributedEvents"], 2, "{data}");
    let lists = data["lists"].as_array().unwrap();
    assert_eq!(lists.len(), 1);
    assert_eq!(lists[0]["serving"], true);
    let store = crate::common::open(&uri);
    let version = lists[0]["version"].as_str().unwrap();
    let stored = store.user_recs(version, "12").await.unwrap().unwrap();
    assert_eq!(
        lists[0]["items"].as_array().unwrap().len(),
        stored.items.len()
    );
    // The history names the items the model was trained on for the user, as in the ratings.
    let history = data["histories"][0]["items"].as_array().unwrap();
    assert!(!history.is_empty());
    assert!(history
        .iter()
        .all(|p| p[0].as_str().is_some_and(|id| !id.starts_with('#'))));
    assert!(data["experiment"].is_null());
    assert!(data["tombstone"].is_null());
    // After a forget: nothing but the tombstone.
    send_key(&router, "DELETE", "/api/users/12", None).await;
    let (_, after) = send_key(&router, "GET", "/api/users/12/data", None).await;
    assert_eq!(after["events"], serde_json::json!([]));
    assert_eq!(after["lists"], serde_json::json!([]));
    assert_eq!(after["histories"], serde_json::json!([]));
    assert_eq!(after["tombstone"]["userId"], "12");
}
