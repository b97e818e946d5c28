//! Real-time personalisation through the router: events in, fresh lists out, similar items,
//! and filters that still return k items.

use crate::common;

use crate::common::{ids, post_events, scores, send};

use topten_functions::{app, state_from_config, Config};

async fn fixture() -> (tempfile::TempDir, axum::Router, String) {
    let dir = tempfile::tempdir().unwrap();
    let ratings = topten_testkit::fixtures::ratings_file(dir.path());
    let (uri, _) = topten_testkit::fixtures::published_store(dir.path(), &ratings).await;
    let config = Config {
        store_uri: uri.clone(),
        active_ttl_ms: 0,
        items_per_user: 30,
        ..Config::default()
    };
    (dir, app(state_from_config(config).unwrap()), uri)
}

#[tokio::test]
async fn events_refresh_a_known_users_list_at_once() {
    let (_d, router, _) = fixture().await;
    let (_, before) = send(&router, "GET", "/api/recommendations/12?k=10", None).await;
    let liked: Vec<String> = ids(&before)[..3].to_vec();
    let events: Vec<serde_json::Value> = liked
        .iter()
        .map(|i| serde_json::json!({"userId": "12", "itemId": i, "type": "purchase"}))
        .collect();
    let (s, answer) = post_events(&router, &events).await;
    assert_eq!(s, 200, "{answer}");
    assert_eq!(
        (answer["accepted"].as_u64(), answer["stored"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(answer["refreshed"], serde_json::json!(["12"]));
    let (_, after) = send(&router, "GET", "/api/recommendations/12?k=10", None).await;
    assert_eq!(after["source"], "personalized");
    assert_eq!(after["modelVersion"], before["modelVersion"]);
    let fresh = ids(&after);
    assert_eq!(fresh.len(), 10);
    assert!(
        fresh.iter().all(|i| !liked.contains(i)),
        "items the user just bought are not recommended again"
    );
    assert_ne!(fresh, ids(&before));
}

#[tokio::test]
async fn a_brand_new_user_gets_personal_picks_after_a_few_events() {
    let (_d, router, _) = fixture().await;
    let (_, cold) = send(&router, "GET", "/api/recommendations/newbie?k=10", None).await;
    assert_eq!(cold["source"], "popular");
    let (_, seed) = send(&router, "GET", "/api/items/5/similar?k=3", None).await;
    let mut picks = vec!["5".to_string()];
    picks.extend(ids(&seed));
    let events: Vec<serde_json::Value> = picks
        .iter()
        .map(|i| serde_json::json!({"userId": "newbie", "itemId": i, "type": "rating", "value": 5}))
        .collect();
    let (s, answer) = post_events(&router, &events).await;
    assert_eq!(s, 200, "{answer}");
    let (_, warm) = send(&router, "GET", "/api/recommendations/newbie?k=10", None).await;
    assert_eq!(warm["source"], "personalized");
    assert!(ids(&warm).iter().all(|i| !picks.contains(i)));
    assert_ne!(ids(&warm), ids(&cold));
}

#[tokio::test]
async fn bad_events_name_the_index_and_store_nothing() {
    let (_d, router, uri) = fixture().await;
    let cases = [
        (
            serde_json::json!({"events": [{"userId": "a", "itemId": "1", "type": "click"}, {"userId": "a", "itemId": "2", "type": "rating"}]}),
            "events[1].value",
        ),
        (
            serde_json::json!({"events": [{"userId": "a", "itemId": "1", "type": "click"}, {"userId": "a", "itemId": "2", "type": "warp"}]}),
            "events[1].type",
        ),
        (
            serde_json::json!({"events": [{"userId": "a", "itemId": "1", "type": "click", "value": -1}]}),
            "events[0].value",
        ),
        (
            serde_json::json!({"events": [{"userId": "a", "itemId": "1", "type": "click"}, {"userId": "a", "type": "click"}]}),
            "events[1]",
        ),
        (
            serde_json::json!({"events": [{"userId": "a", "itemId": "1", "type": "click", "extra": 1}]}),
            "events[0]",
        ),
        (serde_json::json!({"events": []}), "events"),
        (serde_json::json!({"evnts": []}), "body must be"),
    ];
    for (body, needle) in cases {
        let (s, answer) = send(&router, "POST", "/api/events", Some(body.clone())).await;
        assert_eq!(s, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_events");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains(needle),
            "{needle}: {answer}"
        );
    }
    assert!(
        common::open(&uri)
            .user_events("a")
            .await
            .unwrap()
            .is_empty(),
        "nothing partial is stored"
    );
    // Without a body there is no Content-Type either: 415 before anything is read.
    let (s, answer) = send(&router, "POST", "/api/events", None).await;
    common::assert_error(s, &answer, 415, "unsupported_media_type");
}

#[tokio::test]
async fn event_ids_make_retries_idempotent() {
    let (_d, router, uri) = fixture().await;
    let body = serde_json::json!({"events": [{"eventId": "e-1", "userId": "3", "itemId": "9", "type": "click"}]});
    let (_, first) = send(&router, "POST", "/api/events", Some(body.clone())).await;
    let (_, second) = send(&router, "POST", "/api/events", Some(body)).await;
    assert_eq!(
        (
            first["stored"].as_u64(),
            second["stored"].as_u64(),
            second["duplicates"].as_u64()
        ),
        (Some(1), Some(0), Some(1))
    );
    assert_eq!(common::open(&uri).user_events("3").await.unwrap().len(), 1);
}

#[tokio::test]
async fn similar_items_and_errors() {
    let (_d, router, _) = fixture().await;
    let (s, body) = send(&router, "GET", "/api/items/7/similar?k=5", None).await;
    assert_eq!(s, 200, "{body}");
    let sims = ids(&body);
    assert_eq!(sims.len(), 5);
    assert!(!sims.contains(&"7".to_string()));
    let scores = scores(&body);
    assert!(scores.windows(2).all(|w| w[0] >= w[1]) && scores[0] <= 1.0 + 1e-6);
    let (s, body) = send(&router, "GET", "/api/items/no-such-item/similar", None).await;
    common::assert_error(s, &body, 404, "item_not_found");
    let (s, body) = send(&router, "GET", "/api/items/7/similar?k=0", None).await;
    common::assert_error(s, &body, 400, "invalid_k");
}

/// Asks for `user`'s 30 stored items, then for `k` while excluding the first 25 of them; checks
/// that k items come back, none excluded, the 5 stored ones left first and in order. Returns
/// the stored list's source and the answer.
async fn past_the_stored_list(
    router: &axum::Router,
    user: &str,
    k: usize,
) -> (serde_json::Value, serde_json::Value) {
    let (_, full) = send(
        router,
        "GET",
        &format!("/api/recommendations/{user}?k=30"),
        None,
    )
    .await;
    let stored = ids(&full);
    assert_eq!(stored.len(), 30);
    let exclude = stored[..25].join(",");
    let (s, body) = send(
        router,
        "GET",
        &format!("/api/recommendations/{user}?k={k}&exclude={exclude}"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let got = ids(&body);
    assert_eq!(got.len(), k, "{body}");
    assert!(got.iter().all(|i| !stored[..25].contains(i)));
    assert_eq!(
        &got[..5],
        &stored[25..],
        "the stored tail comes first, in order"
    );
    (full["source"].clone(), body)
}

#[tokio::test]
async fn exclude_filters_still_return_k_items_past_the_stored_list() {
    let (_d, router, _) = fixture().await;
    // The fixture stores 30 items per user.
    let (source, _) = past_the_stored_list(&router, "20", 10).await;
    assert_eq!(source, "personalized");
}

#[tokio::test]
async fn unknown_users_are_filled_to_k_past_the_popular_list() {
    let (_d, router, _) = fixture().await;
    // The stored popular list holds as many items as a user's list (30).
    for k in [10, 40] {
        let (source, body) = past_the_stored_list(&router, "stranger", k).await;
        assert_eq!(source, "popular");
        let got = ids(&body);
        let mut unique = got.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), k, "no item twice: {got:?}");
        // Filled items follow popularity: scores (interaction counts) never rise.
        let scores = scores(&body);
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    }
}

#[tokio::test]
async fn republishing_keeps_what_users_did_live() {
    let (dir, router, uri) = fixture().await;
    // A user known only from live events, and a known user who watched more.
    let (_, seed) = send(&router, "GET", "/api/items/5/similar?k=3", None).await;
    let mut picks = vec!["5".to_string()];
    picks.extend(ids(&seed));
    let mut events: Vec<serde_json::Value> = picks
        .iter()
        .map(|i| serde_json::json!({"userId": "live-only", "itemId": i, "type": "rating", "value": 5}))
        .collect();
    let (_, before) = send(&router, "GET", "/api/recommendations/12?k=5", None).await;
    let watched = ids(&before);
    events.extend(
        watched
            .iter()
            .map(|i| serde_json::json!({"userId": "12", "itemId": i, "type": "purchase"})),
    );
    let (s, answer) = post_events(&router, &events).await;
    assert_eq!(s, 200, "{answer}");

    // A model trained on the files alone (no live events) is published over it.
    let store = common::open(&uri);
    let (r, _) = topten_model::ingest::read_ratings(
        &topten_testkit::fixtures::ratings_file(dir.path()),
        &topten_model::ingest::ReadOptions::default(),
    )
    .unwrap();
    let params = topten_model::als::AlsParams {
        factors: 8,
        iterations: 6,
        threads: 1,
        ..topten_model::als::AlsParams::implicit()
    };
    let model = topten_model::pipeline::train(&r, &params, None, &mut |_| {}).unwrap();
    let opts = topten_live::publish::PublishOptions {
        items_per_user: 30,
        ..Default::default()
    };
    let v2 = topten_live::publish::publish(store.as_ref(), &model, &opts, &mut |_, _| {})
        .await
        .unwrap();

    let (_, after) = send(&router, "GET", "/api/recommendations/live-only?k=10", None).await;
    assert_eq!(after["modelVersion"], v2.version.as_str());
    assert_eq!(after["source"], "personalized", "{after}");
    assert!(ids(&after).iter().all(|i| !picks.contains(i)), "{after}");
    // The known user's purchases count in the new version too: they are not recommended again.
    let (_, known) = send(&router, "GET", "/api/recommendations/12?k=10", None).await;
    assert_eq!(known["modelVersion"], v2.version.as_str());
    assert!(ids(&known).iter().all(|i| !watched.contains(i)), "{known}");
}
