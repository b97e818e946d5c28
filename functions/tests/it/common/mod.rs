//! The real `handler` executable started on a free port the way the Functions host starts it;
//! the data and store fixtures come from `topten-testkit`.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use topten_store::Store;

/// Held by every test that points the process-wide Blob Storage settings
/// (`AZURE_STORAGE_ENDPOINT`, `AZURE_STORAGE_SAS`) at its own Azurite: the tests share one
/// process, so two of them must not hold the variables at once.
pub fn azure_storage_env() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Opens a store by URI.
pub fn open(uri: &str) -> std::sync::Arc<dyn Store> {
    topten_functions::backends::create_or_open(uri).unwrap()
}

/// A running `handler` process, killed when dropped.
pub struct Handler {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Drop for Handler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the handler binary with `FUNCTIONS_CUSTOMHANDLER_PORT` set to a free port and the
/// given environment, and waits until /api/health answers.
pub async fn start_handler(envs: &[(&str, &str)]) -> Handler {
    let port = topten_testkit::free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_handler"));
    cmd.env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("TOPTEN_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let handler = Handler {
        child: cmd.spawn().unwrap(),
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if reqwest::get(format!("{}/api/health", handler.base))
            .await
            .is_ok()
        {
            return handler;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("handler did not listen within 20 s");
}

/// Sends `method uri` with no body to `router` without a socket: the raw response, for the tests
/// that read its status, headers and bytes themselves.
pub async fn oneshot(router: &axum::Router, method: &str, uri: &str) -> axum::response::Response {
    let req = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .body(axum::body::Body::empty())
        .unwrap();
    tower::ServiceExt::oneshot(router.clone(), req)
        .await
        .unwrap()
}

/// `POST /api/events` of `events` (the `events` array's items) through [`send`].
pub async fn post_events(
    router: &axum::Router,
    events: &[serde_json::Value],
) -> (u16, serde_json::Value) {
    let body = serde_json::json!({ "events": events });
    send(router, "POST", "/api/events", Some(body)).await
}

/// Sends `method uri` (with a JSON body when given) to the router without a socket: the
/// status and the JSON body (`null` when the body is not JSON).
pub async fn send(
    router: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    send_with_key(router, method, uri, body, None).await
}

/// [`send`] with the API key in `x-functions-key` when one is given.
pub async fn send_with_key(
    router: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<serde_json::Value>,
    key: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut req = axum::http::Request::builder().method(method).uri(uri);
    if let Some(key) = key {
        req = req.header("x-functions-key", key);
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(
            body.map(|b| axum::body::Body::from(b.to_string()))
                .unwrap_or_else(axum::body::Body::empty),
        )
        .unwrap();
    let resp = tower::ServiceExt::oneshot(router.clone(), req)
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// Asserts that an answer is the API's JSON error with this status and stable code.
pub fn assert_error(status: u16, body: &serde_json::Value, want_status: u16, want_code: &str) {
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (want_status, Some(want_code)),
        "{body}"
    );
}

/// `POST /api/events` of an array of events through [`send`], which must answer 200: the
/// answer's body.
pub async fn post_events_ok(router: &axum::Router, events: serde_json::Value) -> serde_json::Value {
    let body = serde_json::json!({ "events": events });
    let (status, answer) = send(router, "POST", "/api/events", Some(body)).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// A second version beside the active one of `published_store`: trained with fewer sweeps,
/// published without activation. The model and the version's name.
pub async fn unactivated_candidate(
    store: &dyn topten_store::Store,
    ratings: &std::path::Path,
) -> (topten_model::model::Model, String) {
    let model = topten_testkit::fixtures::small_model(ratings, 2);
    let opts = topten_live::publish::PublishOptions {
        items_per_user: 30,
        activate: false,
        ..topten_live::publish::PublishOptions::default()
    };
    let version = topten_live::publish::publish(store, &model, &opts, &mut |_, _| {})
        .await
        .unwrap()
        .version;
    (model, version)
}

/// The events `GET /api/admin/stats` counts over its minutes.
pub fn events_per_minute_total(stats: &serde_json::Value) -> u64 {
    stats["eventsPerMinute"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["events"].as_u64().unwrap())
        .sum()
}

/// The item scores of a recommendations answer, in order, for the tests of how they are ordered
/// and scaled.
pub fn scores(body: &serde_json::Value) -> Vec<f64> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["score"].as_f64().unwrap())
        .collect()
}

/// The item ids of a recommendations answer, in order.
pub fn ids(body: &serde_json::Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["itemId"].as_str().unwrap().to_owned())
        .collect()
}

/// Publishes `model` as `v2` (over the active `v1`) and rolls back, checking after each that
/// the handler at `base` follows the pointer within its cache lifetime (at most 300 ms).
pub async fn assert_switch_and_rollback(
    base: &str,
    store: &dyn Store,
    model: &topten_model::model::Model,
    user: &str,
) {
    use topten_store::prelude::*;
    use topten_testkit::http::get_json as get;
    let opts = topten_live::publish::PublishOptions {
        version: Some("v2".into()),
        items_per_user: 20,
        ..Default::default()
    };
    topten_live::publish::publish(store, model, &opts, &mut |_, _| {})
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, body) = get(&format!("{base}/api/recommendations/{user}")).await;
    assert_eq!(body["modelVersion"], "v2");
    assert_eq!(store.rollback().await.unwrap().version, "v1");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, body) = get(&format!("{base}/api/recommendations/{user}")).await;
    assert_eq!(body["modelVersion"], "v1");
}

/// Warms the handler's pointer cache with one GET, runs `after_warming` (the caller's counter
/// reset or baseline), then GETs the lists of the model's first `n` users, each answered 200.
/// Returns what `after_warming` gave and the time since the warming request: the pointer's
/// cache lifetime starts there, so the request-counting tests allow for refreshes by it.
pub async fn time_known_users<T>(
    base: &str,
    model: &topten_model::model::Model,
    n: u32,
    after_warming: impl FnOnce() -> T,
) -> (T, Duration) {
    use topten_testkit::http::get_json as get;
    let warmed = Instant::now();
    let (s, _) = get(&format!("{base}/api/recommendations/{}", model.users.id(0))).await;
    assert_eq!(s, 200);
    let baseline = after_warming();
    for u in 0..n {
        let (s, _) = get(&format!("{base}/api/recommendations/{}", model.users.id(u))).await;
        assert_eq!(s, 200);
    }
    (baseline, warmed.elapsed())
}

/// GETs `user`'s list from the handler at `base` while its store is down and checks that it
/// fails fast (a 503 with Retry-After within `limit`) instead of hanging; returns the body.
pub async fn assert_fast_503(base: &str, user: &str, limit: Duration) -> Vec<u8> {
    let t = Instant::now();
    let resp = reqwest::get(format!("{base}/api/recommendations/{user}"))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert!(resp.headers().get("retry-after").is_some());
    let body = resp.bytes().await.unwrap().to_vec();
    assert!(t.elapsed() < limit, "{:?}", t.elapsed());
    body
}

/// Checks that the handler at `base` serves `version` from the `backend` store, and that a
/// known user's list is the model's own top 5 (the user of model row 3, returned).
pub async fn assert_serves_model(
    base: &str,
    model: &topten_model::model::Model,
    backend: &str,
    version: &str,
) -> String {
    use topten_testkit::http::get_json as get;
    let (s, health) = get(&format!("{base}/api/health")).await;
    assert_eq!(
        (
            s,
            health["activeVersion"].as_str(),
            health["store"]["backend"].as_str()
        ),
        (200, Some(version), Some(backend)),
        "{health}"
    );
    let user = model.users.id(3).to_owned();
    let (s, body) = get(&format!("{base}/api/recommendations/{user}?k=5")).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        (body["modelVersion"].as_str(), body["source"].as_str()),
        (Some(version), Some("personalized"))
    );
    let want: Vec<String> = model
        .recommend(3, 5)
        .iter()
        .map(|s| model.items.id(s.item).to_owned())
        .collect();
    assert_eq!(ids(&body), want, "served lists are the model's top 5");
    user
}
