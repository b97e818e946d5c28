//! Experiments through the router: each user is served from their arm's version, every
//! answer names its version and arm, events fold into the arm's version, and stopping or
//! promoting moves everyone at once.

use crate::common;

use crate::common::{ids, send};
use topten_edge::answer_id::AnswerId;
use topten_experiments::Arm;
use topten_functions::{app, state_from_config, Config};
use topten_store::Publisher;

/// GET /api/recommendations/{user}?k=5: the status and the body.
async fn get_recs(router: &axum::Router, user: &str) -> (u16, serde_json::Value) {
    send(
        router,
        "GET",
        &format!("/api/recommendations/{user}?k=5"),
        None,
    )
    .await
}

#[tokio::test]
/// Long because it is one scenario: each step starts from the state the steps before it left,
/// so splitting it would only pass that state around.
async fn users_are_served_from_their_arm() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = topten_testkit::fixtures::ratings_file(dir.path());
    let (uri, control) = topten_testkit::fixtures::published_store(dir.path(), &ratings).await;
    let store = common::open(&uri);
    // A candidate trained differently (fewer sweeps), published without activation.
    let (model, candidate) = common::unactivated_candidate(store.as_ref(), &ratings).await;
    let config = Config {
        store_uri: uri.clone(),
        active_ttl_ms: 0,
        ..Config::default()
    };
    let router = app(state_from_config(config).unwrap());
    let users: Vec<String> = model.users.ids().iter().take(120).cloned().collect();

    // Before: everyone on the active version, ids without an arm, all different.
    let mut seen_ids = std::collections::HashSet::new();
    for u in &users[..20] {
        let (s, body) = get_recs(&router, u).await;
        assert_eq!(s, 200, "{body}");
        let id = AnswerId::parse(body["recommendationId"].as_str().unwrap()).unwrap();
        assert_eq!((id.version, id.arm), (control.as_str(), "-"));
        assert!(
            seen_ids.insert(body["recommendationId"].to_string()),
            "ids are unique per answer"
        );
    }

    let active = store.start_experiment(&candidate, 0.5).await.unwrap();
    let mut arms = [0usize; 2];
    for u in &users {
        let (s, body) = get_recs(&router, u).await;
        assert_eq!(s, 200, "{body}");
        let (want_version, want_arm) = active.serving(u);
        assert_eq!(body["modelVersion"], want_version, "user {u}");
        let id = AnswerId::parse(body["recommendationId"].as_str().unwrap()).unwrap();
        assert_eq!(
            (id.version, id.arm),
            (want_version, want_arm.map_or("-", Arm::as_str))
        );
        // The list is the arm version's stored list.
        let doc = store.user_recs(want_version, u).await.unwrap().unwrap();
        let stored: Vec<String> = doc
            .items
            .iter()
            .take(5)
            .map(|i| i.item_id.clone())
            .collect();
        assert_eq!(ids(&body), stored, "user {u}");
        arms[usize::from(want_arm == Some(Arm::Candidate))] += 1;
        // The same user stays in the same arm, and re-ranking follows the arm too.
        let (_, again) = get_recs(&router, u).await;
        assert_eq!(again["modelVersion"], want_version);
        let (s, ranked) = send(
            &router,
            "POST",
            &format!("/api/recommendations/{u}/rank"),
            Some(serde_json::json!({"itemIds": stored})),
        )
        .await;
        assert_eq!(s, 200, "{ranked}");
        assert_eq!(ranked["modelVersion"], want_version);
        assert!(ranked["recommendationId"]
            .as_str()
            .unwrap()
            .contains(want_arm.unwrap().as_str()));
    }
    assert!(arms[0] > 30 && arms[1] > 30, "both arms serve: {arms:?}");

    // Events fold into the version that serves the user.
    let member = users
        .iter()
        .find(|u| active.serving(u).1 == Some(Arm::Candidate))
        .unwrap();
    let (_, before) = get_recs(&router, member).await;
    let bought = ids(&before)[0].clone();
    let (s, answer) = send(
        &router,
        "POST",
        "/api/events",
        Some(serde_json::json!({"events": [{"userId": member, "itemId": bought, "type": "purchase"}]})),
    )
    .await;
    assert_eq!(s, 200, "{answer}");
    assert_eq!(answer["refreshed"], serde_json::json!([member]));
    let doc = store.user_recs(&candidate, member).await.unwrap().unwrap();
    assert!(
        doc.items.iter().all(|i| i.item_id != bought),
        "the candidate's list was refreshed"
    );

    // Stop: everyone back on the active version; promote: everyone on the candidate.
    store.stop_experiment(None).await.unwrap();
    for u in &users[..30] {
        let (_, body) = get_recs(&router, u).await;
        assert_eq!(body["modelVersion"], control.as_str());
    }
    store.start_experiment(&candidate, 0.2).await.unwrap();
    store.promote_experiment(None).await.unwrap();
    for u in &users[..30] {
        let (_, body) = get_recs(&router, u).await;
        assert_eq!(body["modelVersion"], candidate.as_str());
        assert!(AnswerId::parse(body["recommendationId"].as_str().unwrap()).is_ok());
        assert!(
            body["recommendationId"].as_str().unwrap().contains(":-:"),
            "no arm after the experiment"
        );
    }
    // Similar items name their answer too, outside any arm.
    let item = &ids(&before)[1];
    let (s, similar) = send(
        &router,
        "GET",
        &format!("/api/items/{item}/similar?k=3"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{similar}");
    let id = AnswerId::parse(similar["recommendationId"].as_str().unwrap()).unwrap();
    assert_eq!(
        (id.version, id.arm, id.personal),
        (candidate.as_str(), "-", false)
    );
}
