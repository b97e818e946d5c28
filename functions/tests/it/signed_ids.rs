//! Signed recommendation ids against a hostile client: while an experiment runs, made-up,
//! edited, borrowed and off-list ids are stored unattributed, counted in `/api/metrics`, and
//! never reach the stats or the experiment's figures; a genuine id is credited, also after a
//! key rotation; version names that could carry markup are refused.

use crate::common;

use crate::common::{ids, post_events_ok, send};
use topten_edge::answer_id::AnswerId;
use topten_experiments::Arm;
use topten_functions::{app, state_from_config, Config};
use topten_live::publish::{publish, PublishOptions};
use topten_store::Publisher;

/// Two keys: `NEW` signs; `OLD` verifies ids issued before the rotation.
const OLD: &str = "the-key-before-rotation";
const NEW: &str = "the-key-after-rotation";

fn router_with_key(uri: &str, id_key: &str) -> axum::Router {
    let config = Config {
        store_uri: uri.to_owned(),
        active_ttl_ms: 0,
        id_key: Some(id_key.parse().unwrap()),
        ..Config::default()
    };
    app(state_from_config(config).unwrap())
}

async fn answer(router: &axum::Router, user: &str) -> serde_json::Value {
    let (s, body) = send(
        router,
        "GET",
        &format!("/api/recommendations/{user}?k=5"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    body
}

/// `topten_unattributed_ids_total{reason=...}` from `/api/metrics`.
async fn unattributed(router: &axum::Router, reason: &str) -> u64 {
    let req = axum::http::Request::get("/api/metrics")
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = tower::ServiceExt::oneshot(router.clone(), req)
        .await
        .unwrap();
    let text = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let text = String::from_utf8(text.to_vec()).unwrap();
    let line = format!("topten_unattributed_ids_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&line))
        .unwrap_or_else(|| panic!("no {line} in\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
/// Long because it is one scenario: the attack of the issue, then each variant, then what the
/// figures say about all of it.
async fn forged_borrowed_and_off_list_ids_never_reach_the_figures() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = topten_testkit::fixtures::ratings_file(dir.path());
    let (uri, control) = topten_testkit::fixtures::published_store(dir.path(), &ratings).await;
    let store = common::open(&uri);
    let (model, candidate) = common::unactivated_candidate(store.as_ref(), &ratings).await;
    let active = store.start_experiment(&candidate, 0.5).await.unwrap();
    let router = router_with_key(&uri, OLD);
    let users: Vec<String> = model.users.ids().iter().take(60).cloned().collect();
    let in_arm = |arm: Arm| -> Vec<String> {
        users
            .iter()
            .filter(|u| active.serving(u).1 == Some(arm))
            .cloned()
            .collect()
    };
    let controls = in_arm(Arm::Control);
    let (alice, bob) = (&controls[0], &controls[1]);
    let carol = in_arm(Arm::Candidate)[0].clone();

    let alices = answer(&router, alice).await;
    let alice_id = alices["recommendationId"].as_str().unwrap().to_owned();
    let carols = answer(&router, &carol).await;
    let carol_id = carols["recommendationId"].as_str().unwrap().to_owned();
    assert_eq!(AnswerId::parse(&carol_id).unwrap().version, candidate);
    let shown: Vec<String> = ids(&alices);
    let never_shown: Vec<String> = model
        .items
        .ids()
        .iter()
        .filter(|i| !shown.contains(i) && !ids(&carols).contains(i))
        .take(20)
        .cloned()
        .collect();
    assert_eq!(never_shown.len(), 20);

    // The attack: control-arm alice posts 20 purchases of never-shown items, each
    // with an id naming the candidate: carol's, and her own edited to name the candidate.
    let edited = alice_id.replacen(
        &format!(":{control}:control:"),
        &format!(":{candidate}:candidate:"),
        1,
    );
    assert_ne!(edited, alice_id);
    let forged: Vec<serde_json::Value> = never_shown
        .iter()
        .enumerate()
        .map(|(n, item)| {
            let id = if n % 2 == 0 { &carol_id } else { &edited };
            serde_json::json!({"userId": alice, "itemId": item, "type": "purchase",
                "recommendationId": id})
        })
        .collect();
    let body = post_events_ok(&router, serde_json::Value::Array(forged)).await;
    assert_eq!(
        (body["stored"].as_u64(), body["attributed"].as_u64()),
        (Some(20), Some(0))
    );
    assert_eq!(
        body["unattributedIds"],
        serde_json::json!({"signature": 20}),
        "{body}"
    );
    // Bob reuses alice's id for an item it listed; alice clicks an item it did not list; the
    // id of the guide's example of older releases, and a version that does not exist.
    let alice_item = shown[1].clone();
    let body = post_events_ok(
        &router,
        serde_json::json!([
            {"userId": bob, "itemId": alice_item, "type": "click", "recommendationId": alice_id},
            {"userId": alice, "itemId": never_shown[0], "type": "click",
                "recommendationId": alice_id},
            {"userId": alice, "itemId": alice_item, "type": "click",
                "recommendationId": "r1:v20261127T2100Z-1a2b3c:-:19ac2f0a1b2c3d4e5f607182"},
        ]),
    )
    .await;
    assert_eq!(body["attributed"], 0, "{body}");
    assert_eq!(unattributed(&router, "signature").await, 21);
    assert_eq!(unattributed(&router, "not_listed").await, 1);
    assert_eq!(unattributed(&router, "malformed").await, 1);

    // Alice's genuine click is credited, to her arm and version.
    let body = post_events_ok(
        &router,
        serde_json::json!([{"userId": alice, "itemId": alice_item, "type": "click",
            "recommendationId": alice_id}]),
    )
    .await;
    assert_eq!(body["attributed"], 1, "{body}");
    let last = store.user_events(alice).await.unwrap().pop().unwrap();
    let credited = last.attribution.unwrap();
    assert_eq!(
        (credited.version.as_str(), credited.arm),
        (control.as_str(), Some(Arm::Control))
    );

    // The figures: one click for control, none for the candidate; no version row but the two.
    let (s, stats) = send(&router, "GET", "/api/admin/stats?hours=2", None).await;
    assert_eq!(s, 200, "{stats}");
    let clicks = |version: &str| -> u64 {
        stats["totals"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["version"] == version)
            .map(|t| t["clicks"].as_u64().unwrap())
            .sum()
    };
    assert_eq!((clicks(&control), clicks(&candidate)), (1, 0), "{stats}");
    for t in stats["totals"].as_array().unwrap() {
        let v = t["version"].as_str().unwrap();
        assert!(v == control || v == candidate, "a row for {v:?}: {stats}");
    }
    let experiment = &stats["experiment"];
    assert_eq!(experiment["candidate"]["clicks"], 0, "{experiment}");
    assert_eq!(experiment["candidate"]["conversions"], 0, "{experiment}");
    assert_eq!(experiment["control"]["clicks"], 1, "{experiment}");

    // Rotation: NEW signs, OLD still verifies alice's id; once OLD is retired it does not.
    let rotated = router_with_key(&uri, &format!("{NEW},{OLD}"));
    let again = serde_json::json!([{"userId": alice, "itemId": shown[2], "type": "click",
        "recommendationId": alice_id}]);
    assert_eq!(post_events_ok(&rotated, again).await["attributed"], 1);
    let fresh = answer(&rotated, alice).await;
    let retired = router_with_key(&uri, NEW);
    let with_fresh = serde_json::json!([{"userId": alice, "itemId": ids(&fresh)[0],
        "type": "click", "recommendationId": fresh["recommendationId"]}]);
    assert_eq!(post_events_ok(&retired, with_fresh).await["attributed"], 1);
    let old_again = serde_json::json!([{"userId": alice, "itemId": shown[3], "type": "click",
        "recommendationId": alice_id}]);
    assert_eq!(post_events_ok(&retired, old_again).await["attributed"], 0);
}

#[tokio::test]
async fn version_names_that_could_carry_markup_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = topten_testkit::fixtures::ratings_file(dir.path());
    let (uri, _) = topten_testkit::fixtures::published_store(dir.path(), &ratings).await;
    let store = common::open(&uri);
    let model = topten_testkit::fixtures::small_model(&ratings, 2);
    for name in ["<img src=x onerror=alert(3)>", "v\u{0}1", "v 1", ""] {
        let opts = PublishOptions {
            version: Some(name.into()),
            activate: false,
            ..PublishOptions::default()
        };
        let err = publish(store.as_ref(), &model, &opts, &mut |_, _| {})
            .await
            .unwrap_err();
        assert!(err.to_string().contains("version name"), "{name:?}: {err}");
    }
    let names: Vec<String> = topten_store::RecsReader::versions(store.as_ref())
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}
