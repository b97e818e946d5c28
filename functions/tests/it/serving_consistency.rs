//! What every answer honours, over real sockets against the `handler` binary: no list serves
//! an item the user has (training history or any live event, whatever the version's cut-off),
//! popular scores sit on the personal scale, a live title change shows in the next answers,
//! and an unknown query parameter is a 400 naming it on every route.

use crate::common::{ids, scores, start_handler};
use serde_json::{json, Value};
use topten_live::events::StoredEvent;
use topten_live::publish::{publish_lists, PublishOptions};
use topten_model::clock::now_ms;
use topten_store::embedded::EmbeddedStore;
use topten_store::prelude::*;

async fn call(method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut req = client.request(method.parse().unwrap(), url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn get(url: &str) -> (u16, Value) {
    call("GET", url, None).await
}

/// A store whose active version's model did not train on some of user 0's live events
/// although they came before its cut-off (a version whose training held them out): returns
/// the directory, the store URI, the user and the items those events name.
async fn store_with_untrained_events() -> (tempfile::TempDir, String, String, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let ratings = topten_testkit::fixtures::ratings_file(dir.path());
    let mut model = topten_testkit::fixtures::small_model(&ratings, 5);
    let user = model.users.id(0).to_owned();
    // The items the model ranks highest for the user: what their list would lead with.
    let best: Vec<String> = model.recommend_all(5)[0]
        .iter()
        .take(3)
        .map(|s| model.items.id(s.item).to_owned())
        .collect();
    let path = dir.path().join("store.db");
    let store = EmbeddedStore::open(&path).unwrap();
    let received = now_ms() - 60_000;
    let events: Vec<StoredEvent> = best
        .iter()
        .map(|i| StoredEvent::interaction(&user, i, "purchase", 3.0, received))
        .collect();
    store.append_events(&events).await.unwrap();
    // The version counts every event received so far as part of its training data.
    model.meta.events_through_ms = Some(now_ms());
    topten_testkit::fixtures::publish_active(&store, &model).await;
    (dir, format!("embedded:{}", path.display()), user, best)
}

#[tokio::test]
async fn no_answer_serves_an_item_the_user_bought_before_the_versions_cut_off() {
    let (_dir, uri, user, bought) = store_with_untrained_events().await;
    let h = start_handler(&[("TOPTEN_STORE", &uri), ("TOPTEN_ACTIVE_TTL_MS", "0")]).await;
    let base = &h.base;
    let has = |list: &[String]| {
        list.iter()
            .filter(|i| bought.contains(i))
            .cloned()
            .collect::<Vec<_>>()
    };

    // The published list as served.
    let (s, recs) = get(&format!("{base}/api/recommendations/{user}?k=30")).await;
    assert_eq!(s, 200, "{recs}");
    assert_eq!(recs["source"], "personalized");
    assert_eq!(
        has(&ids(&recs)),
        Vec::<String>::new(),
        "published list: {recs}"
    );

    // The refill: exclude the whole stored list, the rest comes from a fresh scoring.
    let stored = ids(&recs).join(",");
    let (s, refill) = get(&format!(
        "{base}/api/recommendations/{user}?k=10&exclude={stored}"
    ))
    .await;
    assert_eq!(s, 200, "{refill}");
    assert_eq!(ids(&refill).len(), 10, "{refill}");
    assert_eq!(has(&ids(&refill)), Vec::<String>::new(), "refill: {refill}");

    // Re-ranking marks what the user has and puts it last, unscored.
    let mut candidates = bought.clone();
    candidates.extend(ids(&recs).into_iter().take(3));
    let (s, ranked) = call(
        "POST",
        &format!("{base}/api/recommendations/{user}/rank"),
        Some(json!({ "itemIds": candidates })),
    )
    .await;
    assert_eq!(s, 200, "{ranked}");
    let items = ranked["items"].as_array().unwrap();
    let order: Vec<&str> = items
        .iter()
        .map(|i| i["itemId"].as_str().unwrap())
        .collect();
    assert_eq!(
        order[3..],
        bought.iter().map(String::as_str).collect::<Vec<_>>()[..],
        "{ranked}"
    );
    for item in &items[..3] {
        assert_eq!(item["seen"], false, "{ranked}");
        assert!(item["score"].is_number(), "{ranked}");
    }
    for item in &items[3..] {
        assert_eq!(item["seen"], true, "{ranked}");
        assert!(item["score"].is_null(), "{ranked}");
    }

    // A fresh event folds the user in again: still nothing they have, old or new.
    let new_item = ids(&recs)[0].clone();
    let (s, ack) = call(
        "POST",
        &format!("{base}/api/events"),
        Some(json!({"events": [{"userId": user, "itemId": new_item, "type": "click"}]})),
    )
    .await;
    assert_eq!(s, 200, "{ack}");
    assert_eq!(ack["refreshed"], json!([user]));
    let (_, after) = get(&format!("{base}/api/recommendations/{user}?k=30")).await;
    let mut all = bought.clone();
    all.push(new_item);
    assert!(
        ids(&after).iter().all(|i| !all.contains(i)),
        "after a new event: {after}"
    );
}

#[tokio::test]
async fn the_fallbacks_leave_out_what_a_user_without_a_list_has() {
    // A version of lists computed elsewhere: no factors, so no fold-in; a user known only
    // through events gets the popular list minus what they interacted with.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = EmbeddedStore::open(&path).unwrap();
    let lists: Vec<(String, Vec<(String, f32)>)> = (0..20)
        .map(|u| {
            let items = (0..5).map(|i| (format!("i{}", (u + i) % 8), 1.0 - i as f32 / 10.0));
            (format!("u{u}"), items.collect())
        })
        .collect();
    let mut batches = vec![lists];
    publish_lists(
        &store,
        json!({"source": "test"}),
        20,
        &PublishOptions::default(),
        &mut || Ok(batches.pop()),
        &mut |_, _| {},
    )
    .await
    .unwrap();
    drop(store);
    let uri = format!("embedded:{}", path.display());
    let h = start_handler(&[("TOPTEN_STORE", &uri)]).await;
    let (_, cold) = get(&format!("{}/api/recommendations/ghost?k=5", h.base)).await;
    assert_eq!(cold["source"], "popular");
    let first = ids(&cold)[0].clone();
    // Popular scores on the personal scale: a share of the most popular item, in [0, 1].
    let scores = scores(&cold);
    assert_eq!(scores[0], 1.0, "{cold}");
    assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)), "{cold}");
    let (s, ack) = call(
        "POST",
        &format!("{}/api/events", h.base),
        Some(json!({"events": [{"userId": "ghost", "itemId": first, "type": "purchase"}]})),
    )
    .await;
    assert_eq!(s, 200, "{ack}");
    let (_, warm) = get(&format!("{}/api/recommendations/ghost?k=5", h.base)).await;
    assert_eq!(warm["source"], "popular");
    assert!(!ids(&warm).contains(&first), "popular fallback: {warm}");
    assert_eq!(ids(&warm).len(), 5, "{warm}");

    // The trending fallback: an item the model does not know trends through events, the
    // user whose event made it trend is not served it.
    let dir = tempfile::tempdir().unwrap();
    let ratings = topten_testkit::fixtures::ratings_file(dir.path());
    let (uri, _) = topten_testkit::fixtures::published_store(dir.path(), &ratings).await;
    let h = start_handler(&[("TOPTEN_STORE", &uri), ("TOPTEN_UNKNOWN_USER", "trending")]).await;
    let events: Vec<Value> = ["ghost", "other-1", "other-2"]
        .iter()
        .map(|u| json!({"userId": u, "itemId": "brand-new", "type": "purchase"}))
        .collect();
    let (s, ack) = call(
        "POST",
        &format!("{}/api/events", h.base),
        Some(json!({ "events": events })),
    )
    .await;
    assert_eq!(s, 200, "{ack}");
    let (_, other) = get(&format!("{}/api/recommendations/newcomer?k=5", h.base)).await;
    assert_eq!(other["source"], "trending");
    assert_eq!(ids(&other)[0], "brand-new", "{other}");
    let (_, ghost) = get(&format!("{}/api/recommendations/ghost?k=5", h.base)).await;
    assert_eq!(ghost["source"], "trending");
    assert!(!ids(&ghost).contains(&"brand-new".to_string()), "{ghost}");
    assert_eq!(ids(&ghost).len(), 5, "{ghost}");
}

#[tokio::test]
async fn popular_scores_are_on_the_personal_scale_also_when_refilled() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = topten_testkit::fixtures::ratings_file(dir.path());
    let (uri, _) = topten_testkit::fixtures::published_store(dir.path(), &ratings).await;
    let h = start_handler(&[("TOPTEN_STORE", &uri)]).await;
    let (_, cold) = get(&format!("{}/api/recommendations/nobody?k=30", h.base)).await;
    assert_eq!(cold["source"], "popular");
    let stored = ids(&cold).join(",");
    // Everything stored excluded: the rest comes from the serving model's popularity.
    let (_, refill) = get(&format!(
        "{}/api/recommendations/nobody?k=10&exclude={stored}",
        h.base
    ))
    .await;
    let (_, user) = get(&format!("{}/api/recommendations/12?k=10", h.base)).await;
    let (c, r, u) = (scores(&cold), scores(&refill), scores(&user));
    assert_eq!(c[0], 1.0, "{cold}");
    assert!(c.windows(2).all(|w| w[0] >= w[1]), "{cold}");
    assert_eq!(r.len(), 10, "{refill}");
    assert!(
        r.iter().all(|s| *s <= c[29] && *s >= 0.0),
        "refill {refill} after {cold}"
    );
    // The personal scale: implicit-feedback scores, predicted preferences near [0, 1].
    assert!(u.iter().all(|s| s.abs() <= 1.5), "{user}");
}

#[tokio::test]
async fn a_live_title_change_shows_in_the_next_answers() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = topten_testkit::fixtures::ratings_file(dir.path());
    let (uri, _) = topten_testkit::fixtures::published_store(dir.path(), &ratings).await;
    let h = start_handler(&[("TOPTEN_STORE", &uri), ("TOPTEN_ACTIVE_TTL_MS", "0")]).await;
    let base = &h.base;
    let (_, recs) = get(&format!("{base}/api/recommendations/12?k=5")).await;
    let item = ids(&recs)[0].clone();
    let (_, cold) = get(&format!("{base}/api/recommendations/nobody?k=5")).await;
    let popular = ids(&cold).into_iter().find(|i| *i != item).unwrap();
    let (_, similar) = get(&format!("{base}/api/items/{item}/similar?k=3")).await;
    let neighbour = ids(&similar).into_iter().find(|i| *i != popular).unwrap();
    for (id, title) in [
        (&item, "Renamed \"one\""),
        (&popular, "Renamed popular"),
        (&neighbour, "Renamed neighbour"),
    ] {
        let (s, changed) = call(
            "PUT",
            &format!("{base}/api/items/{id}"),
            Some(json!({"title": title})),
        )
        .await;
        assert_eq!(
            (s, changed["title"].as_str()),
            (200, Some(title)),
            "{changed}"
        );
    }
    let title_of = |v: &Value, id: &str| -> Option<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["itemId"] == id)
            .and_then(|i| i["title"].as_str().map(str::to_owned))
    };
    let (_, recs) = get(&format!("{base}/api/recommendations/12?k=5")).await;
    assert_eq!(
        title_of(&recs, &item).as_deref(),
        Some("Renamed \"one\""),
        "{recs}"
    );
    let (_, cold) = get(&format!("{base}/api/recommendations/nobody?k=5")).await;
    assert_eq!(
        title_of(&cold, &popular).as_deref(),
        Some("Renamed popular"),
        "{cold}"
    );
    let (_, similar) = get(&format!("{base}/api/items/{item}/similar?k=3")).await;
    assert_eq!(
        title_of(&similar, &neighbour).as_deref(),
        Some("Renamed neighbour"),
        "{similar}"
    );
    let (_, ranked) = call(
        "POST",
        &format!("{base}/api/recommendations/12/rank"),
        Some(json!({"itemIds": [item, neighbour]})),
    )
    .await;
    assert_eq!(
        title_of(&ranked, &item).as_deref(),
        Some("Renamed \"one\""),
        "{ranked}"
    );
    let (_, trending) = get(&format!("{base}/api/items/trending?k=30")).await;
    assert_eq!(
        title_of(&trending, &popular).as_deref(),
        Some("Renamed popular"),
        "{trending}"
    );
    // The refill path too.
    let (_, full) = get(&format!("{base}/api/recommendations/12?k=30")).await;
    let skip: Vec<String> = ids(&full).into_iter().filter(|i| *i != item).collect();
    let (_, refill) = get(&format!(
        "{base}/api/recommendations/12?k=5&exclude={}",
        skip.join(",")
    ))
    .await;
    assert_eq!(
        title_of(&refill, &item).as_deref(),
        Some("Renamed \"one\""),
        "{refill}"
    );
}

#[tokio::test]
async fn unknown_query_parameters_are_refused_on_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = topten_testkit::fixtures::ratings_file(dir.path());
    let (uri, _) = topten_testkit::fixtures::published_store(dir.path(), &ratings).await;
    let key = "a-test-key-of-enough-length";
    let h = start_handler(&[("TOPTEN_STORE", &uri), ("TOPTEN_API_KEY", key)]).await;
    let base = &h.base;
    let cases: &[(&str, &str, Option<Value>)] = &[
        ("GET", "/api/recommendations/12?catgory=Horror", None),
        ("GET", "/api/recommendations/12?k=2&catgory=Horror", None),
        (
            "GET",
            "/api/recommendations/12?category=A&catgory=Horror",
            None,
        ),
        ("GET", "/api/items/5/similar?catgory=Horror", None),
        ("GET", "/api/items/trending?catgory=Horror", None),
        ("GET", "/api/health?catgory=Horror", None),
        ("GET", "/api/ping?catgory=Horror", None),
        ("GET", "/api/openapi.json?catgory=Horror", None),
        (
            "POST",
            "/api/recommendations/12/rank?catgory=Horror",
            Some(json!({"itemIds": ["5"]})),
        ),
        (
            "POST",
            "/api/events?catgory=Horror",
            Some(json!({"events": [{"userId": "1", "itemId": "5", "type": "view"}]})),
        ),
        ("GET", "/api/items/5?catgory=Horror", None),
        (
            "PUT",
            "/api/items/5?catgory=Horror",
            Some(json!({"title": "x"})),
        ),
        ("GET", "/api/metrics?catgory=Horror", None),
        ("GET", "/api/admin/stats?catgory=Horror", None),
        ("GET", "/api/admin/dashboard?catgory=Horror", None),
    ];
    for (method, target, body) in cases {
        let sep = if target.contains('?') { '&' } else { '?' };
        let url = format!("{base}{target}{sep}code={key}");
        let (s, answer) = call(method, &url, body.clone()).await;
        assert_eq!(s, 400, "{method} {target}: {answer}");
        assert_eq!(
            answer["error"]["code"], "invalid_query",
            "{method} {target}: {answer}"
        );
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("\"catgory\""),
            "{method} {target}: {message}"
        );
    }
    // The function key, the route's own parameters and a filter's $parameters are accepted.
    for target in [
        "/api/recommendations/12?k=2&exclude=1&explain=false",
        "/api/recommendations/12?filter=itemId%20!%3D%20%24skip&skip=5",
        "/api/items/5/similar?k=2&excludeCategory=X",
        "/api/items/trending?k=2&window=1h",
        "/api/health",
        "/api/admin/stats?hours=2",
        "/api/admin/dashboard?refresh=5",
        "/api/metrics",
    ] {
        let sep = if target.contains('?') { '&' } else { '?' };
        let (s, answer) = get(&format!("{base}{target}{sep}code={key}")).await;
        assert_eq!(s, 200, "{target}: {answer}");
    }
    // Without the key the write routes still answer 401 for a known query.
    let (s, _) = get(&format!("{base}/api/metrics")).await;
    assert_eq!(s, 401);
}
