//! The catalogue in every answer: items it hides (unavailable, expired) never appear in a
//! personal list, the popular fallback or similar items, and the answer is filled up to k from
//! the rest of the catalogue.

use std::collections::HashSet;

use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt;

use crate::common::{ids, send};
use topten_functions::{app, state_from_config, Config};
use topten_live::publish::{publish, PublishOptions};
use topten_model::catalogue::{Catalogue, CatalogueItem};
use topten_store::embedded::EmbeddedStore;
use topten_testkit::fixtures::{ratings_file, small_model};

async fn get(router: &axum::Router, uri: &str) -> serde_json::Value {
    let req = Request::builder().uri(uri).body(Body::empty()).unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), 200, "{uri}");
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The store file, under `dir`, of [`served`].
fn store_of(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join("store.db")
}

/// [`served`] with no catalogue and the default publish options and settings.
async fn served_plain(dir: &std::path::Path) -> (topten_model::model::Model, axum::Router) {
    served(dir, |_| None, PublishOptions::default(), Config::default()).await
}

/// A model trained on generated ratings, published as the active version of a new embedded
/// store in `dir` with `opts` (its catalogue is `catalogue(&model)`), and a router over it
/// with the settings of `config` (its store URI set here).
async fn served(
    dir: &std::path::Path,
    catalogue: impl FnOnce(&topten_model::model::Model) -> Option<Catalogue>,
    opts: PublishOptions,
    config: Config,
) -> (topten_model::model::Model, axum::Router) {
    let ratings = ratings_file(dir);
    let model = small_model(&ratings, 5);
    let store = EmbeddedStore::open(store_of(dir)).unwrap();
    let opts = PublishOptions {
        catalogue: catalogue(&model),
        ..opts
    };
    publish(&store, &model, &opts, &mut |_, _| {})
        .await
        .unwrap();
    drop(store);
    let router = app(state_from_config(Config {
        store_uri: format!("embedded:{}", store_of(dir).display()),
        ..config
    })
    .unwrap());
    (model, router)
}

/// [`served`] with item 12 of the model sold out, which the trending and health tests need
/// as one hidden item with known popularity.
async fn served_without_item_12(
    dir: &std::path::Path,
    config: Config,
) -> (topten_model::model::Model, axum::Router) {
    served(
        dir,
        |m| sold_out(m.items.id(12)),
        PublishOptions::default(),
        config,
    )
    .await
}

/// One unavailable item.
fn sold_out(item_id: &str) -> Option<Catalogue> {
    let mut gone = CatalogueItem::new(item_id);
    gone.available = false;
    Some(Catalogue::from_items([gone]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_items_never_appear_and_answers_are_filled_to_k() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = ratings_file(dir.path());
    let model = small_model(&ratings, 5);
    let store_path = dir.path().join("store.db");

    // What user 5 and an unknown user get without a catalogue.
    let plain = EmbeddedStore::open(dir.path().join("plain.db")).unwrap();
    // Twelve stored items per user: hiding four of ten needs the refill from the catalogue.
    let stored = PublishOptions {
        items_per_user: 12,
        ..PublishOptions::default()
    };
    publish(&plain, &model, &stored, &mut |_, _| {})
        .await
        .unwrap();
    drop(plain);
    let plain_router = app(state_from_config(Config {
        store_uri: format!("embedded:{}", dir.path().join("plain.db").display()),
        ..Config::default()
    })
    .unwrap());
    let before = ids(&get(&plain_router, "/api/recommendations/5?k=10").await);
    let popular_before = ids(&get(&plain_router, "/api/recommendations/nobody?k=10").await);
    let similar_before = ids(&get(
        &plain_router,
        &format!("/api/items/{}/similar?k=5", before[0]),
    )
    .await);

    // A catalogue that withdraws user 5's top three, expires the fourth, and hides the most
    // popular item and the first similar item.
    let mut items: Vec<CatalogueItem> = Vec::new();
    for (n, id) in before.iter().take(4).enumerate() {
        let mut item = CatalogueItem::new(id.clone());
        if n < 3 {
            item.available = false;
        } else {
            item.expires_at = Some(1); // long past
        }
        items.push(item);
    }
    for id in [&popular_before[0], &similar_before[0]] {
        let mut item = CatalogueItem::new(id.clone());
        item.available = false;
        items.push(item);
    }
    let hidden: HashSet<String> = items.iter().map(|i| i.item_id.clone()).collect();
    let store = EmbeddedStore::open(&store_path).unwrap();
    let opts = PublishOptions {
        catalogue: Some(Catalogue::from_items(items)),
        ..stored
    };
    publish(&store, &model, &opts, &mut |_, _| {})
        .await
        .unwrap();
    drop(store);
    let router = app(state_from_config(Config {
        store_uri: format!("embedded:{}", store_path.display()),
        ..Config::default()
    })
    .unwrap());

    let personal = ids(&get(&router, "/api/recommendations/5?k=10").await);
    assert_eq!(personal.len(), 10, "filled up to k: {personal:?}");
    let unique: HashSet<&String> = personal.iter().collect();
    assert_eq!(unique.len(), 10, "no item twice: {personal:?}");
    assert!(personal.iter().all(|i| !hidden.contains(i)), "{personal:?}");
    // What the list keeps, it keeps in order: the servable items of the plain list come first.
    let kept: Vec<&String> = before.iter().filter(|i| !hidden.contains(*i)).collect();
    assert_eq!(personal.iter().take(kept.len()).collect::<Vec<_>>(), kept);

    // With exclude on top, still k items, none hidden or excluded.
    let body = get(
        &router,
        &format!("/api/recommendations/5?k=10&exclude={}", personal[0]),
    )
    .await;
    let excluded = ids(&body);
    assert_eq!(excluded.len(), 10);
    assert!(!excluded.contains(&personal[0]));
    assert!(excluded.iter().all(|i| !hidden.contains(i)));

    let popular = get(&router, "/api/recommendations/nobody?k=10").await;
    assert_eq!(popular["source"], "popular");
    let popular = ids(&popular);
    assert_eq!(popular.len(), 10);
    assert!(popular.iter().all(|i| !hidden.contains(i)), "{popular:?}");

    let similar = ids(&get(&router, &format!("/api/items/{}/similar?k=5", before[0])).await);
    assert_eq!(similar.len(), 5);
    assert!(similar.iter().all(|i| !hidden.contains(i)), "{similar:?}");
}

async fn status_and_body(router: &axum::Router, uri: &str) -> (u16, serde_json::Value) {
    let req = Request::builder().uri(uri).body(Body::empty()).unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

/// Category filters and filter expressions (inline, with parameters, or named in settings)
/// choose among the servable items, on personal lists, the popular fallback and similar items;
/// a malformed filter is a 400 naming the position.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// Long because it is one scenario: each step starts from the state the steps before it left,
/// so splitting it would only pass that state around.
async fn category_and_expression_filters_choose_among_servable_items() {
    let dir = tempfile::tempdir().unwrap();
    // Every item: category "even" or "odd" by its number, a price equal to its number, and
    // every seventh one sold out.
    let catalogue = |model: &topten_model::model::Model| {
        let items = model.items.ids().iter().map(|id| {
            let n: i64 = id.parse().unwrap();
            let mut item = CatalogueItem::new(id.clone());
            item.categories = vec![if n % 2 == 0 { "even" } else { "odd" }.into(), "all".into()];
            item.attributes.insert(
                "price".into(),
                topten_model::catalogue::AttributeValue::Number(n as f64),
            );
            item.available = n % 7 != 0;
            item
        });
        Some(Catalogue::from_items(items))
    };
    let (_model, router) = served(
        dir.path(),
        catalogue,
        PublishOptions {
            items_per_user: 12,
            ..PublishOptions::default()
        },
        Config {
            filters: Some(
                r#"{"cheap": "price < $max", "odd-only": "category = 'odd'"}"#
                    .parse()
                    .unwrap(),
            ),
            ..Config::default()
        },
    )
    .await;
    let num = |id: &String| id.parse::<i64>().unwrap();

    for user in ["5", "nobody"] {
        let even = ids(&get(
            &router,
            &format!("/api/recommendations/{user}?k=10&category=even"),
        )
        .await);
        assert_eq!(even.len(), 10, "{user}: {even:?}");
        assert!(
            even.iter().all(|i| num(i) % 2 == 0 && num(i) % 7 != 0),
            "{user}: {even:?}"
        );

        let not_odd = ids(&get(
            &router,
            &format!("/api/recommendations/{user}?k=10&excludeCategory=odd"),
        )
        .await);
        assert!(
            not_odd.iter().all(|i| num(i) % 2 == 0),
            "{user}: {not_odd:?}"
        );

        let cheap = ids(&get(
            &router,
            &format!("/api/recommendations/{user}?k=10&filter=cheap&max=60"),
        )
        .await);
        assert_eq!(cheap.len(), 10, "{user}: {cheap:?}");
        assert!(
            cheap.iter().all(|i| num(i) < 60 && num(i) % 7 != 0),
            "{user}: {cheap:?}"
        );

        let expr = "price >= 100 and not category in ('odd')";
        let body = get(
            &router,
            &format!("/api/recommendations/{user}?k=5&filter={}", urlencode(expr)),
        )
        .await;
        let got = ids(&body);
        assert_eq!(got.len(), 5, "{user}: {body}");
        assert!(got.iter().all(|i| num(i) >= 100 && num(i) % 2 == 0));

        // A filter on an attribute no item has matches nothing.
        let none = ids(&get(
            &router,
            &format!(
                "/api/recommendations/{user}?k=5&filter={}",
                urlencode("colour = 'red'")
            ),
        )
        .await);
        assert!(none.is_empty(), "{user}: {none:?}");
    }

    let similar = ids(&get(&router, "/api/items/1/similar?k=5&filter=odd-only").await);
    assert_eq!(similar.len(), 5);
    assert!(
        similar.iter().all(|i| num(i) % 2 == 1 && num(i) % 7 != 0),
        "{similar:?}"
    );

    for (query, code, says) in [
        (
            format!("filter={}", urlencode("price <")),
            "invalid_filter",
            "position 8",
        ),
        (
            "filter=nosuch".to_string(),
            "invalid_filter",
            "no filter named",
        ),
        ("filter=cheap".to_string(), "invalid_filter", "$max"),
    ] {
        let (status, body) =
            status_and_body(&router, &format!("/api/recommendations/5?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["code"], code, "{query}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(says),
            "{query}: {body}"
        );
    }
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Live changes: a PUT or DELETE takes an item out of every answer at once, on every instance
/// (here two routers over one store, pointer cache off), a batch with a bad item stores
/// nothing and names the field, and the next published version carries the changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// Long because it is one scenario: each step starts from the state the steps before it left,
/// so splitting it would only pass that state around.
async fn live_changes_apply_everywhere_and_carry_over() {
    use topten_store::RecsReader;
    let dir = tempfile::tempdir().unwrap();
    let ratings = ratings_file(dir.path());
    let model = small_model(&ratings, 5);
    let store_path = dir.path().join("store.db");
    let uri = format!("embedded:{}", store_path.display());
    {
        let store = EmbeddedStore::open(&store_path).unwrap();
        let mut first = CatalogueItem::new(model.items.id(0));
        first.title = Some("First".into());
        let opts = PublishOptions {
            catalogue: Some(Catalogue::from_items([first])),
            items_per_user: 12,
            ..PublishOptions::default()
        };
        publish(&store, &model, &opts, &mut |_, _| {})
            .await
            .unwrap();
    }
    let instance = || {
        app(state_from_config(Config {
            store_uri: uri.clone(),
            active_ttl_ms: 0,
            ..Config::default()
        })
        .unwrap())
    };
    let (a, b) = (instance(), instance());
    let top = ids(&get(&a, "/api/recommendations/5?k=10").await);
    let (one, two) = (top[0].clone(), top[1].clone());

    let (status, item) = send(&a, "GET", &format!("/api/items/{one}"), None).await;
    assert_eq!(
        (status, item["servable"].as_bool()),
        (200, Some(true)),
        "{item}"
    );
    let (status, _) = send(&a, "GET", "/api/items/no-such-item", None).await;
    assert_eq!(status, 404);

    // PUT on instance a; instance b serves without it at once.
    let (status, item) = send(
        &a,
        "PUT",
        &format!("/api/items/{one}"),
        Some(serde_json::json!({"available": false, "categories": ["gone"]})),
    )
    .await;
    assert_eq!(status, 200, "{item}");
    assert_eq!(
        (item["available"].as_bool(), item["servable"].as_bool()),
        (Some(false), Some(false))
    );
    for router in [&a, &b] {
        let now = ids(&get(router, "/api/recommendations/5?k=10").await);
        assert_eq!(now.len(), 10);
        assert!(!now.contains(&one), "{now:?}");
    }
    // DELETE withdraws.
    let (status, item) = send(&b, "DELETE", &format!("/api/items/{two}"), None).await;
    assert_eq!(
        (status, item["withdrawn"].as_bool()),
        (200, Some(true)),
        "{item}"
    );
    let now = ids(&get(&a, "/api/recommendations/5?k=10").await);
    assert!(!now.contains(&two) && !now.contains(&one), "{now:?}");
    let (status, item) = send(&a, "GET", &format!("/api/items/{two}"), None).await;
    assert_eq!(
        (status, item["error"]["code"].as_str()),
        (404, Some("item_not_found"))
    );
    let (status, _) = send(&a, "GET", &format!("/api/items/{two}/similar?k=3"), None).await;
    assert_eq!(status, 404, "a withdrawn item has no similar items");

    // A batch with one bad item stores nothing and names it.
    let third = top[2].clone();
    let (status, err) = send(
        &a,
        "POST",
        "/api/items",
        Some(serde_json::json!({"items": [
            {"itemId": third, "available": false},
            {"itemId": "x", "expiresAt": "soon"}
        ]})),
    )
    .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["code"], "invalid_items");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("items[1].expiresAt"),
        "{err}"
    );
    let (_, item) = send(&a, "GET", &format!("/api/items/{third}"), None).await;
    assert_eq!(
        item["available"], true,
        "nothing of the bad batch was stored"
    );
    // A good batch: both stored, and the answer lists them.
    let (status, done) = send(
        &a,
        "POST",
        "/api/items",
        Some(serde_json::json!({"items": [
            {"itemId": third, "title": "Third", "attributes": {"price": 3}},
            {"itemId": "brand-new", "categories": ["new"]}
        ]})),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["items"].as_array().unwrap().len(), 2);

    // The next version (published without a catalogue file) carries every change.
    let store = EmbeddedStore::open(&store_path).unwrap();
    let info = publish(&store, &model, &PublishOptions::default(), &mut |_, _| {})
        .await
        .unwrap();
    let stored = store.catalogue(&info.version).await.unwrap().unwrap();
    let carried = Catalogue::from_json_lines(&stored).unwrap();
    assert!(!carried.get(&one).unwrap().available);
    assert!(!carried.get(&two).unwrap().available);
    assert_eq!(carried.get(&third).unwrap().title.as_deref(), Some("Third"));
    assert!(carried.get("brand-new").is_some());
    assert_eq!(
        carried.get(model.items.id(0)).unwrap().title.as_deref(),
        Some("First"),
        "the previous version's catalogue carries over"
    );
}

/// Re-ranking orders the caller's candidates by the user's scores (the same order the user's
/// recommendations have), puts unknown and unservable items last with a null score in the
/// caller's order, and works for a user known only through live events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rank_orders_the_callers_items_by_the_users_scores() {
    let dir = tempfile::tempdir().unwrap();
    let mut hidden_item = String::new();
    let (_model, router) = served(
        dir.path(),
        |m| {
            hidden_item = m.items.id(3).to_owned();
            sold_out(&hidden_item)
        },
        PublishOptions::default(),
        Config::default(),
    )
    .await;
    let top = ids(&get(&router, "/api/recommendations/5?k=6").await);
    // The caller sends them shuffled, with an unknown and a hidden item in between.
    let mut asked: Vec<String> = top.iter().rev().cloned().collect();
    asked.insert(2, "not-an-item".into());
    asked.insert(4, hidden_item.clone());
    let (status, body) = send(
        &router,
        "POST",
        "/api/recommendations/5/rank",
        Some(serde_json::json!({"itemIds": asked})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let items = body["items"].as_array().unwrap();
    let order: Vec<&str> = items
        .iter()
        .map(|i| i["itemId"].as_str().unwrap())
        .collect();
    let mut want: Vec<&str> = top.iter().map(String::as_str).collect();
    want.extend(["not-an-item", hidden_item.as_str()]);
    assert_eq!(order, want, "{body}");
    assert!(items[..6].iter().all(|i| i["score"].is_number()));
    assert!(items[6..].iter().all(|i| i["score"].is_null()));

    // A user known only through live events.
    let (status, _) = send(
        &router,
        "POST",
        "/api/events",
        Some(serde_json::json!({"events": [
            {"userId": "fresh", "itemId": top[0], "type": "purchase"},
            {"userId": "fresh", "itemId": top[1], "type": "purchase"}
        ]})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = send(
        &router,
        "POST",
        "/api/recommendations/fresh/rank",
        Some(serde_json::json!({"itemIds": [top[2], top[3]]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["score"].is_number()),
        "{body}"
    );

    let (status, err) = send(
        &router,
        "POST",
        "/api/recommendations/5/rank",
        Some(serde_json::json!({"itemIds": ["a", 7]})),
    )
    .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("invalid_rank"))
    );
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("itemIds[1]"));
}

/// `explain=true` names, for each recommended item, up to three items of the user's history
/// with their weights, largest first; the weights are the model's own explanation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explanations_name_items_from_the_users_history() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = ratings_file(dir.path());
    let (uri, _) = topten_testkit::fixtures::published_store(dir.path(), &ratings).await;
    let router = app(state_from_config(Config {
        store_uri: uri,
        ..Config::default()
    })
    .unwrap());
    let history: HashSet<String> = std::fs::read_to_string(&ratings)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0] == "5").then(|| f[1].to_owned())
        })
        .collect();
    let plain = get(&router, "/api/recommendations/5?k=5").await;
    let body = get(&router, "/api/recommendations/5?k=5&explain=true").await;
    assert_eq!(
        ids(&plain),
        ids(&body),
        "explanations do not change the answer"
    );
    for item in body["items"].as_array().unwrap() {
        let because = item["because"].as_array().unwrap();
        assert!(!because.is_empty() && because.len() <= 3, "{item}");
        let weights: Vec<f64> = because
            .iter()
            .map(|b| b["weight"].as_f64().unwrap())
            .collect();
        assert!(weights.windows(2).all(|w| w[0] >= w[1]), "{item}");
        for b in because {
            assert!(
                history.contains(b["itemId"].as_str().unwrap()),
                "{b} is not in user 5's history"
            );
        }
    }
    let (status, _) = send(&router, "GET", "/api/recommendations/5?explain=maybe", None).await;
    assert_eq!(status, 400);
}

/// Trending items follow recent events (servable ones only), fill up with popular items, and
/// serve unknown users when `TOPTEN_UNKNOWN_USER=trending`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trending_follows_recent_events_and_serves_unknown_users() {
    let dir = tempfile::tempdir().unwrap();
    let (model, router) = served_without_item_12(
        dir.path(),
        Config {
            unknown_user: topten_functions::config::UnknownUser::Trending,
            ..Config::default()
        },
    )
    .await;
    let (hot, warm, sold_out) = (model.items.id(10), model.items.id(11), model.items.id(12));
    let mut events = Vec::new();
    for u in 0..6 {
        events.push(
            serde_json::json!({"userId": format!("t{u}"), "itemId": hot, "type": "purchase"}),
        );
        events.push(
            serde_json::json!({"userId": format!("t{u}"), "itemId": sold_out, "type": "purchase"}),
        );
    }
    events.push(serde_json::json!({"userId": "t9", "itemId": warm, "type": "click"}));
    let (status, _) = send(
        &router,
        "POST",
        "/api/events",
        Some(serde_json::json!({"events": events})),
    )
    .await;
    assert_eq!(status, 200);

    let body = get(&router, "/api/items/trending?k=5&window=1h").await;
    let got = ids(&body);
    assert_eq!(got.len(), 5, "{body}");
    assert_eq!(&got[..2], [hot, warm], "{body}");
    assert!(!got.iter().any(|i| i == sold_out), "{body}");
    let cold = get(&router, "/api/recommendations/nobody-at-all?k=3").await;
    assert_eq!(cold["source"], "trending");
    assert_eq!(ids(&cold)[0], hot);
    let (status, _) = send(&router, "GET", "/api/items/trending?window=forever", None).await;
    assert_eq!(status, 400);
}

/// A request with headers, answering status, headers and JSON body.
async fn send_with(
    router: &axum::Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<serde_json::Value>,
) -> (u16, axum::http::HeaderMap, serde_json::Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(
            body.map(|b| Body::from(b.to_string()))
                .unwrap_or_else(Body::empty),
        )
        .unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// Issue 28, defects 1, 6 and 8: ids that would break the published catalogue, collide with
/// a route, or count an impression twice are refused at every entry point of the API; a
/// change stored before the rule existed is left out of the next version, which serves; and
/// health reads the active version for real.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// Long because it is one scenario: each step starts from the state the steps before it left,
/// so splitting it would only pass that state around.
async fn ids_that_would_break_serving_are_refused_and_health_reads_the_version() {
    use topten_store::{ItemEdits, Publisher, RecsReader};
    let dir = tempfile::tempdir().unwrap();
    let (model, router) = served_without_item_12(
        dir.path(),
        Config {
            active_ttl_ms: 0,
            ..Config::default()
        },
    )
    .await;
    for path in ["%20", "%2050%20", "a%09b", "%C2%A0x"] {
        let (status, body) = send(
            &router,
            "PUT",
            &format!("/api/items/{path}"),
            Some(serde_json::json!({"title": "x"})),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_item_id")),
            "{path}: {body}"
        );
    }
    let (status, body) = send(
        &router,
        "POST",
        "/api/items",
        Some(serde_json::json!({"items": [{"itemId": "ok-1"}, {"itemId": "trending"}]})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("items[1].itemId: ") && message.contains("reserved"),
        "{body}"
    );
    let (status, _) = send(&router, "GET", "/api/items/ok-1", None).await;
    assert_eq!(status, 404, "a refused batch stores nothing");
    for item in [" 50", "50 ", ""] {
        let (status, body) = send(
            &router,
            "POST",
            "/api/events",
            Some(serde_json::json!({"events": [{"userId": "5", "itemId": item, "type": "click"}]})),
        )
        .await;
        assert_eq!(status, 400, "{item:?}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("events[0].itemId"),
            "{body}"
        );
    }
    let top = model.items.id(3);
    let (status, body) = send(
        &router,
        "POST",
        "/api/events",
        Some(serde_json::json!({"events": [
            {"userId": "5", "itemIds": [top, "x", top], "type": "impression"}]})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("twice"),
        "{body}"
    );

    // A live change stored before the id rule (written to the store directly) does not reach
    // the next version, and that version serves.
    let path = store_of(dir.path());
    let store = EmbeddedStore::open(&path).unwrap();
    let mut legacy = CatalogueItem::new(" ");
    legacy.title = Some("x".into());
    store
        .put_live_items(&[topten_model::catalogue::live::LiveItem {
            item: legacy,
            withdrawn: false,
            changed_ms: 1,
            created_ms: 0,
        }])
        .await
        .unwrap();
    let next = publish(&store, &model, &PublishOptions::default(), &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(store.active().await.unwrap().unwrap().version, next.version);
    let (status, body) = send(&router, "GET", "/api/recommendations/5?k=5", None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(&router, "GET", "/api/health", None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("ok")),
        "{body}"
    );

    // Publish reads a version back before completing it: one whose catalogue does not read
    // is never activated.
    let refused = publish(
        &store,
        &model,
        &PublishOptions {
            catalogue: Some(Catalogue::from_items([CatalogueItem::new(" ")])),
            ..PublishOptions::default()
        },
        &mut |_, _| {},
    )
    .await
    .unwrap_err();
    assert!(
        refused.to_string().contains("does not read back"),
        "{refused}"
    );
    assert_eq!(store.active().await.unwrap().unwrap().version, next.version);

    // A version whose catalogue does not read (as an older topten could write one): health
    // says so with a 503 instead of "ok".
    use topten_store::{ItemScore, UserRecs, VersionInfo, VersionStatus};
    let bad = "vbad";
    store
        .create_version(&VersionInfo {
            version: bad.into(),
            status: VersionStatus::Writing,
            created_at: "2026-12-01T00:00:00Z".into(),
            expected_users: 1,
            users: 0,
            items_per_user: 1,
            model: serde_json::json!({}),
            quality: None,
        })
        .await
        .unwrap();
    let item = ItemScore {
        item_id: "1".into(),
        score: 1.0,
        title: None,
    };
    store
        .write_users(
            bad,
            &[UserRecs {
                id: topten_store::doc_id(bad, "5"),
                user_id: "5".into(),
                items: vec![item.clone()],
                model_version: bad.into(),
                created_at: "2026-12-01T00:00:00Z".into(),
                factor: None,
                has_new: Vec::new(),
            }],
        )
        .await
        .unwrap();
    store.write_popular(bad, &[item]).await.unwrap();
    store
        .write_catalogue(bad, b"{\"itemId\": \" \"}\n")
        .await
        .unwrap();
    store.finish_version(bad).await.unwrap();
    store.activate(bad).await.unwrap();
    drop(store);
    let fresh = app(state_from_config(Config {
        store_uri: format!("embedded:{}", path.display()),
        ..Config::default()
    })
    .unwrap());
    let (status, body) = send(&fresh, "GET", "/api/health", None).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (503, Some("version_unreadable")),
        "{body}"
    );
}

/// Issue 28, defect 2: concurrent changes of one item all land (each builds on the one before),
/// `GET` gives the item's ETag, and `If-Match` with a stale ETag is refused with 412.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_item_changes_all_land_and_if_match_guards_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let (model, router) = served_plain(dir.path()).await;
    let writers: Vec<_> = (0..40)
        .map(|i| {
            let router = router.clone();
            tokio::spawn(async move {
                send(
                    &router,
                    "PUT",
                    "/api/items/conc",
                    Some(serde_json::json!({"attributes": {format!("k{i}"): i}})),
                )
                .await
            })
        })
        .collect();
    for w in writers {
        let (status, body) = w.await.unwrap();
        assert_eq!(status, 200, "{body}");
    }
    let (status, item) = send(&router, "GET", "/api/items/conc", None).await;
    assert_eq!(status, 200);
    let attributes = item["attributes"].as_object().unwrap();
    assert_eq!(attributes.len(), 40, "{item}");

    let one = model.items.id(0);
    let uri = format!("/api/items/{one}");
    let (status, headers, _) = send_with(&router, "GET", &uri, &[], None).await;
    assert_eq!(status, 200);
    let tag = headers["etag"].to_str().unwrap().to_owned();
    assert!(tag.starts_with('"') && tag.ends_with('"'), "{tag}");
    let (status, headers, body) = send_with(
        &router,
        "PUT",
        &uri,
        &[("if-match", &tag)],
        Some(serde_json::json!({"title": "New"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let newer = headers["etag"].to_str().unwrap().to_owned();
    assert_ne!(newer, tag);
    // The stale tag no longer matches: a sold-out marking based on it is refused.
    let (status, _, body) = send_with(
        &router,
        "PUT",
        &uri,
        &[("if-match", &tag)],
        Some(serde_json::json!({"available": false})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (412, Some("precondition_failed")),
        "{body}"
    );
    let (status, _, item) = send_with(&router, "GET", &uri, &[], None).await;
    assert_eq!((status, item["available"].as_bool()), (200, Some(true)));
    let (status, _, _) = send_with(&router, "DELETE", &uri, &[("if-match", &tag)], None).await;
    assert_eq!(status, 412);
    let (status, _, item) = send_with(&router, "DELETE", &uri, &[("if-match", &newer)], None).await;
    assert_eq!((status, item["withdrawn"].as_bool()), (200, Some(true)));
}

/// Issue 28, defects 4 and 7: item changes beyond the documented limits are refused at once,
/// naming the field; every 400 names `items[i].field` (or the field) once and echoes at most 60
/// characters of what was sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_or_malformed_item_changes_are_refused_naming_the_field() {
    use topten_model::catalogue::live::{MAX_ATTRIBUTES_PER_CHANGE, MAX_CATEGORIES};
    let dir = tempfile::tempdir().unwrap();
    let (_, router) = served_plain(dir.path()).await;
    let refused = |status: u16, body: &serde_json::Value| -> String {
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_items")),
            "{body}"
        );
        body["error"]["message"].as_str().unwrap().to_owned()
    };
    // 125,000 categories (the probe's 827 KB body) and one too many.
    for n in [125_000, MAX_CATEGORIES + 1] {
        let cats: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        let (status, body) = send(
            &router,
            "PUT",
            "/api/items/big",
            Some(serde_json::json!({"categories": cats})),
        )
        .await;
        let m = refused(status, &body);
        assert!(
            m.starts_with("categories: ") && m.contains("at most 100"),
            "{m}"
        );
    }
    let attrs: serde_json::Map<String, serde_json::Value> = (0..=MAX_ATTRIBUTES_PER_CHANGE)
        .map(|i| (format!("a{i}"), serde_json::json!(i)))
        .collect();
    let (status, body) = send(
        &router,
        "POST",
        "/api/items",
        Some(serde_json::json!({"items": [{"itemId": "x"}, {"itemId": "y", "attributes": attrs}]})),
    )
    .await;
    assert!(
        refused(status, &body).starts_with("items[1].attributes: "),
        "{body}"
    );
    let cases = [
        (
            serde_json::json!({"items": [{"itemId": "x", "available": "yes"}]}),
            "items[0].available: invalid type",
        ),
        (
            serde_json::json!({"items": [{"itemId": "x", "attributes": {"colour": {"r": 1}}}]}),
            "items[0].attributes.colour: must be a number, a string or a boolean",
        ),
        (
            serde_json::json!({"items": [{"itemId": "x", "expiresAt": "soon"}]}),
            "items[0].expiresAt: \"soon\" is not an RFC 3339 time",
        ),
        (
            serde_json::json!({"items": ["x"]}),
            "items[0]: must be an object",
        ),
    ];
    for (body, want) in cases {
        let (status, answer) = send(&router, "POST", "/api/items", Some(body)).await;
        let m = refused(status, &answer);
        assert!(m.starts_with(want), "{m}");
    }
    // A 1,500-digit title is echoed 60 characters at most.
    let long = "9".repeat(1500);
    let (status, body) = send(
        &router,
        "PUT",
        "/api/items/x",
        Some(serde_json::json!({"available": long})),
    )
    .await;
    let m = refused(status, &body);
    assert!(m.len() < 200 && m.contains('…'), "{m}");
    // An empty event batch is named once.
    let (status, body) = send(
        &router,
        "POST",
        "/api/events",
        Some(serde_json::json!({"events": []})),
    )
    .await;
    assert_eq!(status, 400);
    let m = body["error"]["message"].as_str().unwrap();
    assert!(m.starts_with("events: must hold"), "{m}");
}

/// Issue 28, defect 5: live changes apply incrementally (a layer of recent changes above a
/// shared base, made again after `REBASE_AFTER` changes). Through thousands of changes, past
/// several rebases, every answer agrees with the changes made so far: a hidden item never
/// appears, an item shown again may, and a live title is served from the next request on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_live_changes_apply_incrementally_and_every_answer_follows_them() {
    let dir = tempfile::tempdir().unwrap();
    let (model, router) = served(
        dir.path(),
        |_| None,
        PublishOptions {
            items_per_user: 30,
            ..PublishOptions::default()
        },
        Config {
            active_ttl_ms: 0,
            ..Config::default()
        },
    )
    .await;
    let rebase = topten_functions::servable::REBASE_AFTER;
    // Many live-changed items the model does not know, in batches (each one merge).
    let extra = 3 * rebase;
    for start in (0..extra).step_by(1000) {
        let items: Vec<serde_json::Value> = (start..(start + 1000).min(extra))
            .map(|i| serde_json::json!({"itemId": format!("extra-{i}"), "title": format!("E{i}")}))
            .collect();
        let (status, body) = send(
            &router,
            "POST",
            "/api/items",
            Some(serde_json::json!({ "items": items })),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let user = "5";
    let top = ids(&get(&router, &format!("/api/recommendations/{user}?k=10")).await);
    let mut hidden: HashSet<String> = HashSet::new();
    // Hide the user's current top item, one change at a time, many times over; now and then
    // show one again and retitle another.
    for round in 0..(rebase + 200) {
        let now = ids(&get(&router, &format!("/api/recommendations/{user}?k=10")).await);
        assert!(
            now.iter().all(|i| !hidden.contains(i)),
            "round {round}: a hidden item is served: {now:?}"
        );
        let change = if round % 50 == 49 && !hidden.is_empty() {
            let back = hidden.iter().next().unwrap().clone();
            hidden.remove(&back);
            (
                back,
                serde_json::json!({"available": true, "title": format!("Back {round}")}),
            )
        } else if let Some(first) = now.first() {
            hidden.insert(first.clone());
            (first.clone(), serde_json::json!({"available": false}))
        } else {
            // Every item of the model is hidden: change an extra item instead.
            (
                format!("extra-{round}"),
                serde_json::json!({"title": format!("R{round}")}),
            )
        };
        let (status, body) = send(
            &router,
            "PUT",
            &format!("/api/items/{}", change.0),
            Some(change.1),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        if round == rebase / 2 {
            // A live title shows in the next answer.
            let (status, _) = send(
                &router,
                "PUT",
                &format!("/api/items/{}", top[9]),
                Some(serde_json::json!({"title": "Retitled", "available": true})),
            )
            .await;
            assert_eq!(status, 200);
            hidden.remove(&top[9]);
            let (_, item) = send(&router, "GET", &format!("/api/items/{}", top[9]), None).await;
            assert_eq!(item["title"], "Retitled", "{item}");
        }
    }
    // What is served agrees with a count from scratch: every item the model knows that is not
    // hidden is servable, and the number of items served equals that.
    let known: HashSet<String> = (0..model.items.len())
        .map(|i| model.items.id(i as u32).to_owned())
        .collect();
    let open = known.iter().filter(|i| !hidden.contains(*i)).count();
    let answer = get(&router, &format!("/api/recommendations/{user}?k=100")).await;
    let served: Vec<String> = ids(&answer);
    assert!(served.iter().all(|i| !hidden.contains(i)), "{served:?}");
    assert!(served.len() <= open, "{} served, {open} open", served.len());
}
