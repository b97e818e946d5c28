//! Closing the loop through the router, end to end over the embedded store: answers carry ids
//! that events point back at, clicks are attributed (by id, by impression, by the served list)
//! once however often they are retried, items shown again and again without a response sink,
//! and `/api/admin/stats` adds it all up per version and hour, and per experiment arm.

use crate::common;

use crate::common::{ids, post_events_ok, send};
use topten_edge::answer_id::AnswerId;
use topten_functions::{app, state_from_config, Config};
use topten_store::Publisher;
use topten_testkit::http::get_json;

struct Fixture {
    _dir: tempfile::TempDir,
    router: axum::Router,
    store: std::sync::Arc<dyn topten_store::Store>,
    version: String,
    users: Vec<String>,
    model: topten_model::model::Model,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let ratings = topten_testkit::fixtures::ratings_file(dir.path());
    let (uri, version) = topten_testkit::fixtures::published_store(dir.path(), &ratings).await;
    let store = common::open(&uri);
    let model = topten_testkit::fixtures::small_model(&ratings, 2);
    let config = Config {
        store_uri: uri,
        active_ttl_ms: 0,
        ..Config::default()
    };
    let router = app(state_from_config(config).unwrap());
    let users = model.users.ids().iter().take(40).cloned().collect();
    Fixture {
        _dir: dir,
        router,
        store,
        version,
        users,
        model,
    }
}

async fn recs(router: &axum::Router, user: &str) -> serde_json::Value {
    let (s, body) = send(
        router,
        "GET",
        &format!("/api/recommendations/{user}?k=10"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    body
}

async fn stats(router: &axum::Router) -> serde_json::Value {
    let (s, body) = send(router, "GET", "/api/admin/stats?hours=2", None).await;
    assert_eq!(s, 200, "{body}");
    body
}

/// The totals row of `version`.
fn totals<'a>(stats: &'a serde_json::Value, version: &str) -> &'a serde_json::Value {
    stats["totals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["version"] == version)
        .unwrap_or_else(|| panic!("no totals for {version}: {stats}"))
}

#[tokio::test]
async fn clicks_are_attributed_once_by_id_impression_or_list() {
    let f = fixture().await;
    let (alice, bob, carol) = (&f.users[0], &f.users[1], &f.users[2]);

    // By id: the click names the answer.
    let answer = recs(&f.router, alice).await;
    let id = answer["recommendationId"].as_str().unwrap().to_owned();
    assert_eq!(AnswerId::parse(&id).unwrap().version, f.version);
    let clicked = ids(&answer)[3].clone();
    let click = serde_json::json!([{"eventId": "a-1", "userId": alice, "itemId": clicked,
        "type": "click", "recommendationId": id}]);
    assert_eq!(
        post_events_ok(&f.router, click.clone()).await["attributed"],
        1
    );
    // A retry is stored once and attributed once.
    let retried = post_events_ok(&f.router, click).await;
    assert_eq!(
        (retried["stored"].as_u64(), retried["attributed"].as_u64()),
        (Some(0), Some(0))
    );
    let stored = f.store.user_events(alice).await.unwrap();
    let a = stored[0].attribution.as_ref().unwrap();
    assert_eq!(
        (a.version.as_str(), a.recommendation_id.as_deref(), a.via),
        (
            f.version.as_str(),
            Some(id.as_str()),
            topten_live::attribution::Via::RecommendationId
        )
    );

    // By impression: the caller reported what it showed (a page of 20, with the answer's
    // id), then a purchase without an id. The item is past the first ten, so only the
    // impression can attribute it.
    let (status, page) = send(
        &f.router,
        "GET",
        &format!("/api/recommendations/{bob}?k=20"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let shown = ids(&page);
    assert!(shown.len() > 10, "{page}");
    let unlisted = shown.last().unwrap().clone();
    let impression = post_events_ok(
        &f.router,
        serde_json::json!([{"userId": bob, "type": "impression", "itemIds": [unlisted],
            "recommendationId": page["recommendationId"]}]),
    )
    .await;
    assert_eq!(impression["stored"], 1);
    let bought = post_events_ok(
        &f.router,
        serde_json::json!([{"userId": bob, "itemId": unlisted,
        "type": "purchase"}]),
    )
    .await;
    assert_eq!(bought["attributed"], 1);
    let last = f.store.user_events(bob).await.unwrap().pop().unwrap();
    assert_eq!(
        last.attribution.unwrap().via,
        topten_live::attribution::Via::Impression
    );

    // By the served list: a like of the item carol is served first; a like of something she
    // was never shown stays unattributed, and so does a view (not positive).
    let top = ids(&recs(&f.router, carol).await)[0].clone();
    let other = f
        .model
        .items
        .ids()
        .iter()
        .find(|i| **i != top)
        .cloned()
        .unwrap();
    let liked = post_events_ok(
        &f.router,
        serde_json::json!([
            {"userId": carol, "itemId": top, "type": "like"},
            {"userId": carol, "itemId": "never-shown", "type": "like"},
            {"userId": carol, "itemId": other, "type": "view"}
        ]),
    )
    .await;
    assert_eq!(liked["attributed"], 1);

    // The stats add it up: answers (the 3 GETs above), impressions, clicks.
    let s = stats(&f.router).await;
    let t = totals(&s, &f.version);
    assert_eq!(t["answers"], 3, "{s}");
    assert_eq!(
        (
            t["impressions"].as_u64(),
            t["clicks"].as_u64(),
            t["conversions"].as_u64()
        ),
        (Some(1), Some(3), Some(1))
    );
    // The rates count per shown answer and item, not per event: 3 clicks but one answer
    // shown (bob's), and its one shown item clicked and bought. Clicks on answers nobody
    // reported showing (alice's by id, carol's by the list) are in `clicks`, not in a rate.
    for (rate, want) in [
        ("listCtr", 1.0),
        ("itemCtr", 1.0),
        ("conversionPerAnswer", 1.0),
    ] {
        assert_eq!(t[rate], want, "{rate}: {t}");
    }
    assert_eq!(
        (t["answersShown"].as_u64(), t["itemsShown"].as_u64()),
        (Some(1), Some(1)),
        "{t}"
    );
    let hour = &s["hourly"][0];
    assert_eq!(
        (hour["version"].as_str(), hour["rateBasis"].as_str()),
        (Some(f.version.as_str()), Some("impressions"))
    );
    let minutes = common::events_per_minute_total(&s);
    assert_eq!(
        minutes, 6,
        "every stored event of the last hour, retries once"
    );
    assert_eq!(s["activeVersion"], f.version.as_str());
    assert!(s["experiment"].is_null());
    assert_eq!(s["versions"][0]["status"], "complete", "{s}");
    assert!(
        s["versions"][0].get("metrics").is_some(),
        "offline metrics (none for this fixture model)"
    );

    // The window is checked.
    for bad in ["hours=0", "hours=169", "hours=x", "colour=red"] {
        let (status, body) = send(&f.router, "GET", &format!("/api/admin/stats?{bad}"), None).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

#[tokio::test]
async fn items_shown_three_times_without_a_response_sink() {
    let f = fixture().await;
    let user = &f.users[5];
    let before = ids(&recs(&f.router, user).await);
    let (first, second) = (before[0].clone(), before[1].clone());
    let show =
        serde_json::json!([{"userId": user, "type": "impression", "itemIds": [first, second]}]);
    // Two impressions: nothing changes, and nothing is folded in (no interaction).
    for _ in 0..2 {
        let body = post_events_ok(&f.router, show.clone()).await;
        assert_eq!(body["refreshed"], serde_json::json!([]), "{body}");
    }
    assert_eq!(ids(&recs(&f.router, user).await), before);
    // The third crosses REPEAT_LIMIT (3): both sink below the rest, in the user's stored list.
    let body = post_events_ok(&f.router, show.clone()).await;
    assert_eq!(body["refreshed"], serde_json::json!([user]), "{body}");
    let after = ids(&recs(&f.router, user).await);
    assert!(
        !after.contains(&first) && !after.contains(&second),
        "{before:?} -> {after:?}"
    );
    let doc = f.store.user_recs(&f.version, user).await.unwrap().unwrap();
    let stored: Vec<&str> = doc.items.iter().map(|i| i.item_id.as_str()).collect();
    assert_eq!(
        &stored[stored.len() - 2..],
        [first.as_str(), second.as_str()],
        "demoted, not removed"
    );
    // A click on one clears its count: it comes back (the click also folds it into the
    // history, so it is seen now and left out); the other stays down.
    post_events_ok(
        &f.router,
        serde_json::json!([{"userId": user, "itemId": first, "type": "click"}]),
    )
    .await;
    let doc = f.store.user_recs(&f.version, user).await.unwrap().unwrap();
    let stored: Vec<&str> = doc.items.iter().map(|i| i.item_id.as_str()).collect();
    assert_eq!(stored.last(), Some(&second.as_str()));
    // Other users are not affected.
    let other = &f.users[6];
    let theirs = f.store.user_recs(&f.version, other).await.unwrap().unwrap();
    assert_eq!(
        ids(&recs(&f.router, other).await),
        theirs
            .items
            .iter()
            .take(10)
            .map(|i| i.item_id.clone())
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn the_experiment_report_counts_each_arm() {
    let f = fixture().await;
    let opts = topten_live::publish::PublishOptions {
        items_per_user: 30,
        activate: false,
        ..Default::default()
    };
    let candidate =
        topten_live::publish::publish(f.store.as_ref(), &f.model, &opts, &mut |_, _| {})
            .await
            .unwrap()
            .version;
    let active = f.store.start_experiment(&candidate, 0.5).await.unwrap();
    let mut want = std::collections::HashMap::<&str, (u64, u64)>::new(); // arm -> (answers, clicks)
    for (n, user) in f.users.iter().enumerate() {
        let answer = recs(&f.router, user).await;
        let arm = active.serving(user).1.unwrap().as_str();
        want.entry(arm).or_default().0 += 1;
        if n % 3 == 0 {
            let item = ids(&answer)[0].clone();
            post_events_ok(
                &f.router,
                serde_json::json!([{"userId": user, "itemId": item, "type": "click",
                "recommendationId": answer["recommendationId"]}]),
            )
            .await;
            want.entry(arm).or_default().1 += 1;
        }
    }
    let s = stats(&f.router).await;
    let report = &s["experiment"];
    for arm in ["control", "candidate"] {
        let r = &report[arm];
        assert_eq!(
            (
                r["answers"].as_u64().unwrap(),
                r["clicks"].as_u64().unwrap()
            ),
            want[arm],
            "{arm}: {report}"
        );
        assert_eq!(r["impressions"], 0);
        assert_eq!(
            r["rateBasis"], "answers",
            "no impressions: rates per answer served"
        );
        assert!(r["itemCtr"].is_null(), "item CTR needs impressions: {r}");
        let ctr = r["listCtrEstimate"]["value"].as_f64().unwrap();
        assert!((ctr - want[arm].1 as f64 / want[arm].0 as f64).abs() < 1e-12);
        assert_eq!(r["listCtr"].as_f64().unwrap(), ctr);
        assert!(
            r["listCtrEstimate"]["low"].as_f64().unwrap() <= ctr
                && ctr <= r["listCtrEstimate"]["high"].as_f64().unwrap()
        );
    }
    assert!(report["listCtrDifference"]["method"]
        .as_str()
        .unwrap()
        .contains("answers"));
    // The arms are a random split of the users, so either verdict can come out: it must be
    // the one the list-CTR test gives.
    let p = report["listCtrDifference"]["pValue"].as_f64().unwrap();
    let (control_ctr, candidate_ctr) = (
        report["control"]["listCtr"].as_f64().unwrap(),
        report["candidate"]["listCtr"].as_f64().unwrap(),
    );
    let verdict = &report["verdict"];
    if p < 0.05 {
        let better = if candidate_ctr > control_ctr {
            "candidate"
        } else {
            "control"
        };
        assert_eq!(verdict["winner"], better, "{report}");
    } else {
        assert!(verdict["winner"].is_null(), "{report}");
    }
    assert!(verdict["summary"].as_str().unwrap().len() > 10);
    assert_eq!(report["experiment"]["candidate"], candidate.as_str());
}

/// The same over real sockets, against the `handler` binary with `REPEAT_LIMIT=2`: after two
/// impressions without a click the shown items leave the user's top 10 on every instance,
/// and the stats count what happened.
#[tokio::test]
async fn fewer_repeats_over_sockets() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = topten_testkit::fixtures::ratings_file(dir.path());
    let (uri, version) = topten_testkit::fixtures::published_store(dir.path(), &ratings).await;
    let handler = common::start_handler(&[
        ("TOPTEN_STORE", &uri),
        ("TOPTEN_ACTIVE_TTL_MS", "0"),
        ("REPEAT_LIMIT", "2"),
    ])
    .await;
    let base = &handler.base;
    let client = reqwest::Client::new();
    let model = topten_testkit::fixtures::small_model(&ratings, 2);
    let user = &model.users.ids()[7];
    let get = || async {
        let (status, body) = get_json(&format!("{base}/api/recommendations/{user}?k=10")).await;
        assert_eq!(status, 200, "{body}");
        body
    };
    let first = get().await;
    let shown: Vec<String> = ids(&first)[..3].to_vec();
    for round in 0..2 {
        let answer = get().await;
        let r = client
            .post(format!("{base}/api/events"))
            .json(
                &serde_json::json!({"events": [{"userId": user, "type": "impression",
                "itemIds": shown, "recommendationId": answer["recommendationId"]}]}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "round {round}");
    }
    let after = ids(&get().await);
    assert!(
        shown.iter().all(|i| !after.contains(i)),
        "{shown:?} still in {after:?}"
    );
    assert_eq!(after.len(), 10, "the list still fills");
    let (status, stats) = get_json(&format!("{base}/api/admin/stats")).await;
    assert_eq!(status, 200, "{stats}");
    let t = totals(&stats, &version);
    assert_eq!(
        (
            t["answers"].as_u64(),
            t["impressions"].as_u64(),
            t["clicks"].as_u64()
        ),
        (Some(4), Some(2), Some(0))
    );
}
