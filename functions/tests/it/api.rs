//! Router tests without sockets (`oneshot`), and the contract between the function folders
//! (what the Azure Functions host routes) and the handler's routes.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

use topten_functions::config::UnknownUser;
use topten_functions::{app, state_from_config, Config};

fn config(store: &str, unknown_user: UnknownUser) -> Config {
    Config {
        store_uri: store.into(),
        unknown_user,
        ..Config::default()
    }
}

async fn call(router: &axum::Router, method: &str, uri: &str) -> (StatusCode, serde_json::Value) {
    let resp = crate::common::oneshot(router, method, uri).await;
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::String(
        String::from_utf8_lossy(&bytes).into(),
    ));
    (status, json)
}

async fn fixture(unknown_user: UnknownUser) -> (tempfile::TempDir, axum::Router, String) {
    let dir = tempfile::tempdir().unwrap();
    let ratings = topten_testkit::fixtures::ratings_file(dir.path());
    let (uri, version) = topten_testkit::fixtures::published_store(dir.path(), &ratings).await;
    let router = app(state_from_config(config(&uri, unknown_user)).unwrap());
    (dir, router, version)
}

#[tokio::test]
async fn personalised_recommendations_respect_k_and_exclude() {
    let (_d, router, version) = fixture(UnknownUser::Popular).await;
    let (status, body) = call(&router, "GET", "/api/recommendations/5?k=12").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["source"], "personalized");
    assert_eq!(body["modelVersion"], version.as_str());
    assert_eq!(body["userId"], "5");
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 12);
    let scores: Vec<f64> = items.iter().map(|i| i["score"].as_f64().unwrap()).collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "not best first: {scores:?}"
    );
    // Excluding the first three still returns k items, none of them excluded.
    let ex: Vec<&str> = items[..3]
        .iter()
        .map(|i| i["itemId"].as_str().unwrap())
        .collect();
    let (_, body2) = call(
        &router,
        "GET",
        &format!("/api/recommendations/5?k=12&exclude={}", ex.join(",")),
    )
    .await;
    let items2 = body2["items"].as_array().unwrap();
    assert_eq!(items2.len(), 12);
    assert!(items2
        .iter()
        .all(|i| !ex.contains(&i["itemId"].as_str().unwrap())));
    assert_eq!(items2[0]["itemId"], items[3]["itemId"]);
    // Default k is 10.
    let (_, body3) = call(&router, "GET", "/api/recommendations/5").await;
    assert_eq!(body3["items"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn unknown_user_gets_popular_items_or_404_when_configured() {
    let (_d, router, _) = fixture(UnknownUser::Popular).await;
    let (status, body) = call(&router, "GET", "/api/recommendations/stranger?k=5").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["source"], "popular");
    assert_eq!(body["items"].as_array().unwrap().len(), 5);
    let (_d2, strict, _) = fixture(UnknownUser::NotFound).await;
    let (status, body) = call(&strict, "GET", "/api/recommendations/stranger").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "user_not_found");
}

#[tokio::test]
async fn bad_requests_get_documented_json_errors() {
    let (_d, router, _) = fixture(UnknownUser::Popular).await;
    let long = "x".repeat(129);
    let cases = [
        ("/api/recommendations/5?k=abc", 400, "invalid_k"),
        ("/api/recommendations/5?k=0", 400, "invalid_k"),
        ("/api/recommendations/5?k=101", 400, "invalid_k"),
        ("/api/recommendations/5?k=-3", 400, "invalid_k"),
        (
            &format!("/api/recommendations/{long}") as &str,
            400,
            "invalid_user_id",
        ),
        ("/api/recommendations/%01bad", 400, "invalid_user_id"),
        ("/api/recommendations/", 400, "invalid_user_id"),
        ("/api/nope", 404, "not_found"),
        ("/", 404, "not_found"),
    ];
    for (uri, status, code) in cases {
        let (s, body) = call(&router, "GET", uri).await;
        assert_eq!(s.as_u16(), status, "{uri}: {body}");
        assert_eq!(body["error"]["code"], code, "{uri}: {body}");
        assert!(body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        // Every code the API returns is documented in the OpenAPI spec.
        assert!(topten_functions::routes::openapi::ERROR_CODES
            .iter()
            .any(|c| c.0 == code && c.1 == status));
    }
    let (s, body) = call(&router, "DELETE", "/api/recommendations/5").await;
    assert_eq!(
        (s.as_u16(), body["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
}

#[tokio::test]
async fn empty_store_answers_503_no_active_version() {
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("embedded:{}", dir.path().join("empty.db").display());
    drop(topten_functions::backends::create_or_open(&uri).unwrap()); // an existing, empty store
    let router = app(state_from_config(config(&uri, UnknownUser::Popular)).unwrap());
    let (s, body) = call(&router, "GET", "/api/recommendations/1").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "no_active_version");
    let (s, body) = call(&router, "GET", "/api/health").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["store"]["reachable"], true);
    assert!(body["activeVersion"].is_null());
}

#[tokio::test]
async fn health_and_openapi() {
    let (_d, router, version) = fixture(UnknownUser::Popular).await;
    let (s, body) = call(&router, "GET", "/api/health").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["activeVersion"], version.as_str());
    let (s, spec) = call(&router, "GET", "/api/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(spec["openapi"], "3.0.3");
    assert!(spec["paths"]["/api/recommendations/{userId}"]["get"].is_object());
}

/// A route template with its one-word regex segments (`{section:regex(^admin$)}`, how a
/// function reaches `/api/admin/...`, which the host reserves as a literal) as that word.
fn literal_segments(route: &str) -> String {
    route
        .split('/')
        .map(|seg| {
            seg.strip_prefix('{')
                .and_then(|s| s.split_once(":regex(^"))
                .and_then(|(_, rest)| rest.strip_suffix("$)}"))
                .unwrap_or(seg)
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every generated function folder's bindings match a handler route: HTTP triggers are
/// forwarded to `/api/<route>` with their methods; other triggers arrive as
/// `POST /<FunctionName>`. Checked through the router, not the table, so a generator that
/// drifts from what the handler serves fails here.
#[tokio::test]
async fn function_folders_match_handler_routes() {
    let (_d, router, _) = fixture(UnknownUser::Popular).await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let host: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("host.json")).unwrap()).unwrap();
    assert_eq!(host["customHandler"]["enableForwardingHttpRequest"], true);
    assert_eq!(
        host["customHandler"]["description"]["defaultExecutablePath"],
        "handler"
    );
    let spec = topten_functions::routes::openapi::spec();
    let folders = topten_functions::route_table::function_folders();
    for (name, f) in &folders {
        let trigger = f["bindings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["direction"] == "in")
            .unwrap();
        match trigger["type"].as_str().unwrap() {
            "httpTrigger" => {
                let route = literal_segments(trigger["route"].as_str().unwrap());
                let route = route.as_str();
                // A DELETE withdraws its item: it gets one the other calls do not use.
                let path_for = |method: &str| {
                    let item = if method == "DELETE" { "7" } else { "5" };
                    format!(
                        "/api/{}",
                        route.replace("{userId}", "5").replace("{itemId}", item)
                    )
                };
                assert!(
                    spec["paths"][format!("/api/{route}")].is_object(),
                    "{name}: /api/{route} is not in the OpenAPI spec"
                );
                for m in trigger["methods"].as_array().unwrap() {
                    let method = m.as_str().unwrap().to_uppercase();
                    assert!(
                        spec["paths"][format!("/api/{route}")][method.to_lowercase()].is_object(),
                        "{name}: {method} not in the spec"
                    );
                    // The route exists for this method (a body-less POST may still be a 400).
                    let path = path_for(&method);
                    let (s, body) = call(&router, &method, &path).await;
                    assert!(
                        !["not_found", "method_not_allowed"]
                            .contains(&body["error"]["code"].as_str().unwrap_or("")),
                        "{name}: {m} {path} -> {s} {body}"
                    );
                    if method == "GET" {
                        assert!(s.is_success(), "{name}: {m} {path} -> {s} {body}");
                    }
                }
                assert!(["function", "anonymous"].contains(&trigger["authLevel"].as_str().unwrap()));
            }
            "timerTrigger" => {
                let schedule = trigger["schedule"].as_str().unwrap();
                assert!(
                    schedule.starts_with('%') && schedule.ends_with('%'),
                    "{name}: schedule comes from an app setting"
                );
                let setting = schedule.trim_matches('%');
                let example: serde_json::Value = serde_json::from_str(
                    &std::fs::read_to_string(root.join("local.settings.json.example")).unwrap(),
                )
                .unwrap();
                let cron = example["Values"][setting]
                    .as_str()
                    .unwrap_or_else(|| panic!("{setting} missing in local.settings.json.example"));
                assert_eq!(
                    cron.split_whitespace().count(),
                    6,
                    "{cron} is not 6-field NCRONTAB"
                );
                // The host posts to /<FunctionName>; without TRAINING_INPUT the handler answers
                // with the custom-handler envelope (a 500 that names the missing setting).
                let req = Request::builder()
                    .method("POST")
                    .uri(format!("/{name}"))
                    .header("content-type", "application/json")
                    .body(Body::from(
                        r#"{"Data":{"timer":{"IsPastDue":false}},"Metadata":{}}"#,
                    ))
                    .unwrap();
                let resp = router.clone().oneshot(req).await.unwrap();
                let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
                    .await
                    .unwrap();
                let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                assert!(
                    body.get("Outputs").is_some() && body.get("Logs").is_some(),
                    "{name}: {body}"
                );
                assert!(body["Logs"][0].as_str().unwrap().contains("TRAINING_INPUT"));
            }
            other => panic!("{name}: unexpected trigger {other}"),
        }
    }
    // Every documented operation is carried by a function (the API deploys whole).
    let carried: usize = folders
        .iter()
        .filter_map(|(_, f)| f["bindings"][0]["methods"].as_array())
        .map(|m| m.len())
        .sum();
    let documented: usize = spec["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(carried, documented);
}
