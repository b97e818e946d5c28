//! The real `handler` executable over real sockets, started the way the Azure Functions host
//! starts a custom handler (`FUNCTIONS_CUSTOMHANDLER_PORT`), including the timer invocation.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::start_handler;
use topten_testkit::http::get_json as get;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_recommendations_and_runs_the_timer_retrain() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = topten_testkit::fixtures::ratings_file(dir.path());
    let (uri, v1) = topten_testkit::fixtures::published_store(dir.path(), &ratings).await;
    let models = dir.path().join("models");
    let h = start_handler(&[
        ("TOPTEN_STORE", &uri),
        ("TRAINING_INPUT", ratings.to_str().unwrap()),
        ("TOPTEN_MODEL_ROOT", models.to_str().unwrap()),
        ("QUALITY_TOLERANCE", "0.5"),
    ])
    .await;

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
    let resp = reqwest::Client::new()
        .post(format!("{}/retrain", h.base))
        .json(&payload)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let answer: serde_json::Value = resp.json().await.unwrap();
    assert!(answer["Outputs"].is_object(), "{answer}");
    assert!(
        answer["Logs"][0].as_str().unwrap().contains("retrain"),
        "{answer}"
    );
    let outcome = &answer["ReturnValue"];
    assert_eq!(outcome["activated"], true, "{answer}");
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
    let h = start_handler(&[
        ("TOPTEN_STORE", &uri),
        ("TRAINING_INPUT", ratings.to_str().unwrap()),
        ("TOPTEN_MODEL_ROOT", models.to_str().unwrap()),
        ("QUALITY_TOLERANCE", "-0.5"),
    ])
    .await;
    let resp = reqwest::Client::new()
        .post(format!("{}/retrain", h.base))
        .json(&payload)
        .send()
        .await
        .unwrap();
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
