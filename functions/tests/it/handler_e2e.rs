//! The real `handler` executable over real sockets, started the way the Azure Functions host
//! starts a custom handler (`FUNCTIONS_CUSTOMHANDLER_PORT`), including the timer invocation.

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{start_handler, Handler};
use topten_testkit::http::get_json as get;

/// The handler as the Functions app runs it for the timer retrain: serving `uri`, retraining
/// from `ratings` into `models` behind a quality gate with `tolerance`.
async fn retrain_handler(
    uri: &str,
    ratings: &std::path::Path,
    models: &std::path::Path,
    tolerance: &str,
) -> Handler {
    start_handler(&[
        ("TOPTEN_STORE", uri),
        ("TRAINING_INPUT", ratings.to_str().unwrap()),
        ("TOPTEN_MODEL_ROOT", models.to_str().unwrap()),
        ("QUALITY_TOLERANCE", tolerance),
    ])
    .await
}

/// POSTs the timer `payload` to the handler's `/retrain`, the way the Functions host invokes it.
async fn invoke_retrain(base: &str, payload: &serde_json::Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/retrain"))
        .json(payload)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_recommendations_and_runs_the_timer_retrain() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = topten_testkit::fixtures::ratings_file(dir.path());
    let (uri, v1) = topten_testkit::fixtures::evaluated_store(dir.path(), &ratings).await;
    let models = dir.path().join("models");
    let h = retrain_handler(&uri, &ratings, &models, "0.5").await;

    let (s, health) = get(&format!("{}/api/health", h.base)).await;
    assert_eq!(
        (s, health["activeVersion"].as_str()),
        (200, Some(v1.as_str()))
    );
    let (s, body) = get(&format!("{}/api/recommendations/7?k=5", h.base)).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["items"].as_array().unwrap().len(), 5);
    assert_eq!(body["modelVersion"], v1.as_str());
    let resp = reqwest::get(format!("{}/api/recommendations/7?k=nope", h.base))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert!(resp.headers().get("x-request-id").is_some());
    let (_, err) = (0, resp.json::<serde_json::Value>().await.unwrap());
    assert_eq!(err["error"]["code"], "invalid_k");

    // The timer payload exactly as the Functions host sends it to a custom handler.
    let payload = serde_json::json!({
        "Data": {"timer": {
            "Schedule": {"AdjustForDST": true},
            "ScheduleStatus": {"Last": "2026-11-25T03:00:00.0000000+00:00", "Next": "2026-11-26T03:00:00+00:00", "LastUpdated": "2026-11-25T03:00:00.0000000+00:00"},
            "IsPastDue": false
        }},
        "Metadata": {"sys": {"MethodName": "retrain", "UtcNow": "2026-11-26T03:00:00.0123456Z", "RandGuid": "0b5f4b1e-3c2a-4a8b-9a77-5f4ad1f3c2b1"}}
    });
    let resp = invoke_retrain(&h.base, &payload).await;
    assert_eq!(resp.status().as_u16(), 200);
    let answer: serde_json::Value = resp.json().await.unwrap();
    assert!(answer["Outputs"].is_object(), "{answer}");
    assert!(
        answer["Logs"][0].as_str().unwrap().contains("retrain"),
        "{answer}"
    );
    let outcome = &answer["ReturnValue"];
    assert_eq!(outcome["activated"], true, "{answer}");
    // The active version was scored on this very holdout: the recorded figures compare.
    assert!(
        outcome["reason"]
            .as_str()
            .unwrap()
            .contains("both scored on the holdout of the active version's own evaluation"),
        "{answer}"
    );
    assert_eq!(outcome["activeVersion"], v1.as_str());
    let v2 = outcome["candidateVersion"].as_str().unwrap().to_owned();
    assert_ne!(v2, v1);
    assert!(models.join(&v2).join("model.json").exists());

    let (_, health) = get(&format!("{}/api/health", h.base)).await;
    assert_eq!(health["activeVersion"], v2.as_str());
    let (_, body) = get(&format!("{}/api/recommendations/7?k=5", h.base)).await;
    assert_eq!(body["modelVersion"], v2.as_str());

    // With an impossible bar (no drop allowed and a metric the candidate cannot beat: the same
    // data gives the same figure, so a negative tolerance rejects it) the active version stays.
    drop(h);
    let h = retrain_handler(&uri, &ratings, &models, "-0.5").await;
    let resp = invoke_retrain(&h.base, &payload).await;
    let answer: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(answer["ReturnValue"]["activated"], false, "{answer}");
    assert!(
        answer["Logs"][0].as_str().unwrap().contains("rejected"),
        "{answer}"
    );
    let (_, health) = get(&format!("{}/api/health", h.base)).await;
    assert_eq!(health["activeVersion"], v2.as_str());
    let versions = common::open(&uri).versions().await.unwrap();
    assert_eq!(versions.len(), 2, "a rejected candidate is not published");
}

/// An active version fitted on every row, with no holdout figure of its own, saw every
/// interaction a retrain of the same data holds out: the gate has nothing to compare on, says
/// so, and keeps it. Once live interactions arrive, the holdout has rows new to it, and both
/// sides are scored on those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retrain_compares_only_on_what_the_active_version_did_not_see() {
    use topten_functions::retrain::{self, RetrainConfig};
    let dir = tempfile::tempdir().unwrap();
    let ratings = topten_testkit::fixtures::ratings_file(dir.path());
    let (uri, v1) = topten_testkit::fixtures::published_store(dir.path(), &ratings).await;
    let store = common::open(&uri);
    let mut cfg = RetrainConfig::new(
        vec![topten_azure::blob::Location::Local(ratings.clone())],
        topten_testkit::fixtures::small_model(&ratings, 5)
            .meta
            .params,
        topten_model::metrics::TargetMetric::NdcgAtK,
    );
    let train = |cfg: &RetrainConfig| {
        let cfg = cfg.clone();
        std::thread::spawn(move || retrain::train_candidate(&cfg).unwrap())
            .join()
            .unwrap()
    };
    let (published, outcome) = retrain::gate_and_publish(store.as_ref(), &cfg, train(&cfg))
        .await
        .unwrap();
    assert!(published.is_none());
    assert!(!outcome.activated);
    assert!(
        outcome.reason.contains("nothing to compare on"),
        "{}",
        outcome.reason
    );

    // New interactions: every user rates three items they have not rated.
    let (all, _) = topten_model::ingest::read_ratings(&ratings, &Default::default()).unwrap();
    let mut has: std::collections::HashMap<u32, std::collections::HashSet<u32>> =
        Default::default();
    for r in &all.records {
        has.entry(r.user).or_default().insert(r.item);
    }
    let mut events = Vec::new();
    for (u, items) in &has {
        let new = (0..all.items.len() as u32)
            .filter(|i| !items.contains(i))
            .take(3);
        for i in new {
            events.push(topten_live::events::StoredEvent::interaction(
                all.users.id(*u),
                all.items.id(i),
                "rating",
                1.0,
                1_000,
            ));
        }
    }
    // And an item v1 never trained, which every user touches: the gate compares on the
    // items v1 trained only, and says how many holdout interactions it left out.
    for u in has.keys() {
        events.push(topten_live::events::StoredEvent::interaction(
            all.users.id(*u),
            "brand-new",
            "rating",
            1.0,
            1_000,
        ));
    }
    cfg.events = events;
    cfg.tolerance = 1.0; // this checks what is compared, not which side wins
    let (_, outcome) = retrain::gate_and_publish(store.as_ref(), &cfg, train(&cfg))
        .await
        .unwrap();
    assert!(outcome.users > 0, "{}", outcome.reason);
    let left_out: usize = outcome
        .reason
        .split("over the items the active version trained (")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", outcome.reason));
    assert!(left_out > 0, "{}", outcome.reason);
    assert_eq!(outcome.active_version.as_deref(), Some(v1.as_str()));
    assert!(outcome.activated, "{}", outcome.reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("embedded:{}", dir.path().join("s.db").display());
    drop(topten_functions::backends::create_or_open(&uri).unwrap()); // an existing, empty store
    let mut h = start_handler(&[("TOPTEN_STORE", &uri)]).await;
    let pid = h.child.id();
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = h.child.try_wait().unwrap() {
            assert!(status.success(), "handler exited with {status}");
            break;
        }
        assert!(Instant::now() < deadline, "handler ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}
