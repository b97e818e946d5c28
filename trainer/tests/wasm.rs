//! `topten serve --wasm`: the WebAssembly component under wasmtime answers byte for byte like
//! the native handler, over real sockets. The test publishes a model, exports the snapshot,
//! builds the component with it (`crates/wasm/build.sh`, Debian's rustc-web), serves both and replays
//! the parity requests (sampled users, every error case, unknown user, unknown paths), then
//! checks that concurrent requests all succeed (one pooled instance each).
//!
//! Built only with `--features wasm` (wasmtime is heavy): `scripts/test.sh` runs it with the
//! workspace; alone, `cargo test --release -p topten-trainer --features wasm --test wasm`.
#![cfg(feature = "wasm")]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use topten_edge::snapshot::RecsSnapshot;
use topten_testkit::http::{client, send as get, send_to_both};
use topten_testkit::parity::{parity_requests, without_recommendation_id};
use topten_testkit::{free_port, wait_listening, KillOnDrop};

#[path = "it/common/mod.rs"]
mod common;
use common::{grid_ratings, model_and_store, ok, publish_args};

/// The answer-id key both targets sign with (the component gets it at build time).
const ID_KEY: &str = "the-wasm-test-id-key";

fn serve(args: &[&str]) -> (KillOnDrop, u16) {
    let port = free_port();
    let port_s = port.to_string();
    let mut all = vec!["serve", "--port", &port_s];
    all.extend_from_slice(args);
    let child = Command::new(env!("CARGO_BIN_EXE_topten"))
        .args(&all)
        .env("TOPTEN_LOG", "warn")
        .env("TOPTEN_ID_KEY", ID_KEY)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let server = KillOnDrop(child);
    wait_listening(port, Duration::from_secs(60), &format!("serve {args:?}"));
    (server, port)
}

/// Same status, content type and body for every parity request; 200 concurrent requests all
/// answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasm_component_answers_like_native_over_sockets() {
    let dir = tempfile::tempdir().unwrap();
    let data = grid_ratings(dir.path(), 80, 150, "u");
    let (model, store) = model_and_store(dir.path(), &data);
    ok(&publish_args(&model, &store, &["--items-per-user", "30"]));
    let snap = dir.path().join("recs.snap").display().to_string();
    ok(&["export-snapshot", "--store", &store, "--out", &snap]);
    let component = dir.path().join("topten.wasm");
    let build = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/wasm/build.sh"))
        .arg(&snap)
        .arg(&component)
        .env("TOPTEN_ID_KEY", ID_KEY)
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "crates/wasm/build.sh: {}",
        String::from_utf8_lossy(&build.stderr)
    );

    let (_native, native_port) = serve(&["--store", &store, "--log-requests", "false"]);
    let (_wasm, wasm_port) = serve(&[
        "--wasm",
        component.to_str().unwrap(),
        "--max-instances",
        "64",
    ]);

    let bytes = std::fs::read(&snap).unwrap();
    let s = RecsSnapshot::parse(&bytes).unwrap();
    let users: Vec<String> = (0..s.users())
        .step_by(9)
        .map(|i| s.entry(i).unwrap().0.to_owned())
        .collect();
    let users: Vec<&str> = users.iter().map(String::as_str).collect();
    let client = client();
    let (native, wasm) = (
        format!("http://127.0.0.1:{native_port}"),
        format!("http://127.0.0.1:{wasm_port}"),
    );
    let requests = parity_requests(&users);
    for (method, target) in &requests {
        let (want, got) = send_to_both(&client, method, target, &native, &wasm).await;
        // Both name each answer (recommendationId, unique per answer); everything else is
        // byte-identical.
        let want_body = without_recommendation_id(&want.2);
        if got.0 == 200 && target.starts_with("/api/recommendations/") {
            let body = String::from_utf8_lossy(&got.2);
            let id = body
                .split("\"recommendationId\":\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| {
                    panic!("{target}: the component gave no recommendationId: {body}")
                });
            let parsed = topten_edge::answer_id::AnswerId::parse(id).unwrap();
            assert_eq!(parsed.arm, "-", "{id}");
            assert!(
                parsed.issued_ms > 1_700_000_000_000,
                "{id}: the host's wall clock"
            );
            // Signed with the build's key, for the user who asked.
            let answer: serde_json::Value = serde_json::from_slice(&got.2).unwrap();
            let keys = topten_edge::answer_id::IdKeys::from_setting(ID_KEY).unwrap();
            let listed = keys
                .verify(&parsed, answer["userId"].as_str().unwrap())
                .unwrap_or_else(|e| panic!("{target}: {id}: {e}"));
            assert_eq!(listed.len(), answer["items"].as_array().unwrap().len());
        }
        let got_body = without_recommendation_id(&got.2);
        assert_eq!(
            (got.0, &got.1, String::from_utf8_lossy(&got_body)),
            (want.0, &want.1, String::from_utf8_lossy(&want_body)),
            "{method} {target}"
        );
    }

    // More requests at once than the pool's 64 slots would allow without reuse.
    let mut tasks = Vec::new();
    for n in 0..200 {
        let (client, user) = (client.clone(), users[n % users.len()].to_owned());
        tasks.push(tokio::spawn(async move {
            get(
                &client,
                "GET",
                &format!("http://127.0.0.1:{wasm_port}/api/recommendations/{user}?k=5"),
            )
            .await
            .0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }

    // An id the component signed is credited by the native handler, which serves the events.
    let user = users[0];
    let (status, _, body) = get(
        &client,
        "GET",
        &format!("http://127.0.0.1:{wasm_port}/api/recommendations/{user}?k=5"),
    )
    .await;
    assert_eq!(status, 200);
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let click = serde_json::json!({"events": [{"userId": user, "type": "click",
        "itemId": answer["items"][2]["itemId"], "recommendationId": answer["recommendationId"]}]});
    let posted: serde_json::Value = client
        .post(format!("http://127.0.0.1:{native_port}/api/events"))
        .json(&click)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(posted["attributed"], 1, "{posted}");
}
