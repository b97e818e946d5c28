//! The native handler and the shared edge path (what the WebAssembly component and any other
//! target run) give byte-identical answers on the same data: the router over the embedded store
//! against `topten_edge::route::handle` over the snapshot exported from it, and the router over
//! that snapshot (`snapshot:PATH` store) too.

use crate::common;
use topten_edge::answer_id::{AnswerId, IdKeys};

use topten_edge::request::Limits;
use topten_edge::route::handle;
use topten_edge::snapshot::RecsSnapshot;
use topten_functions::{app, state_from_config, Config};
use topten_store::export::export_snapshot;
use topten_testkit::parity::{parity_requests, without_recommendation_id};

fn config(store: &str) -> Config {
    Config {
        store_uri: store.into(),
        ..Config::default()
    }
}

async fn native(router: &axum::Router, method: &str, uri: &str) -> (u16, String, Vec<u8>) {
    let resp = common::oneshot(router, method, uri).await;
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap()
        .to_vec();
    // The native handler names each answer; the edge path (list files, no experiments) does
    // not. Everything else must be identical.
    if status == 200 && uri.starts_with("/api/recommendations/") {
        assert!(
            String::from_utf8_lossy(&body).contains("\"recommendationId\":\"r2:"),
            "{uri}: no recommendationId"
        );
    }
    (status, ct, without_recommendation_id(&body))
}

/// Every parity request on a sample of users: same status, content type and body bytes.
#[tokio::test]
async fn native_and_edge_answers_are_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = topten_testkit::fixtures::ratings_file(dir.path());
    let (uri, version) = topten_testkit::fixtures::published_store(dir.path(), &ratings).await;
    let store = common::open(&uri);
    let (bytes, summary) = export_snapshot(store.as_ref(), &[], None).await.unwrap();
    assert_eq!(summary.version, version);
    let snap_path = dir.path().join("recs.snap");
    std::fs::write(&snap_path, &bytes).unwrap();
    let snap = RecsSnapshot::parse(&bytes).unwrap();

    let over_store = app(state_from_config(config(&uri)).unwrap());
    let over_snapshot =
        app(state_from_config(config(&format!("snapshot:{}", snap_path.display()))).unwrap());
    let users: Vec<String> = (0..snap.users())
        .step_by(17)
        .map(|i| snap.entry(i).unwrap().0.to_owned())
        .collect();
    let users: Vec<&str> = users.iter().map(String::as_str).collect();
    let requests = parity_requests(&users);
    assert!(requests.len() > 60);
    let mut statuses = std::collections::BTreeSet::new();
    let keys = IdKeys::from_setting("the-edge-parity-key").unwrap();
    for (method, target) in &requests {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target.as_str(), None),
        };
        let stamp = topten_edge::route::AnswerStamp {
            issued_ms: 1_795_800_000_000,
            nonce: 42,
            keys: &keys,
        };
        let edge = handle(&snap, &Limits::default(), method, path, query, Some(stamp));
        let want = native(&over_store, method, target).await;
        if edge.status == 200 && path.starts_with("/api/recommendations/") {
            // The edge path signs its answers too (arm "-": one version, no experiments),
            // for the user who asked and the items listed.
            let body: serde_json::Value = serde_json::from_slice(&edge.body).unwrap();
            let text = body["recommendationId"]
                .as_str()
                .expect("a recommendationId");
            let id = AnswerId::parse(text).unwrap();
            assert_eq!(
                (id.version, id.arm, id.issued_ms, id.nonce),
                (version.as_str(), "-", stamp.issued_ms, stamp.nonce),
                "{target}"
            );
            let listed = keys.verify(&id, body["userId"].as_str().unwrap()).unwrap();
            let items = body["items"].as_array().unwrap();
            assert_eq!(listed.len(), items.len(), "{target}");
            for item in items {
                assert!(
                    listed.contains(item["itemId"].as_str().unwrap()),
                    "{target}"
                );
            }
        }
        let got = (
            edge.status,
            edge.content_type.to_owned(),
            without_recommendation_id(&edge.body),
        );
        assert_eq!(
            (got.0, &got.1, String::from_utf8_lossy(&got.2)),
            (want.0, &want.1, String::from_utf8_lossy(&want.2)),
            "{method} {target}"
        );
        assert_eq!(
            native(&over_snapshot, method, target).await,
            want,
            "snapshot store: {method} {target}"
        );
        statuses.insert(want.0);
    }
    assert_eq!(
        statuses.into_iter().collect::<Vec<_>>(),
        [200, 400, 404, 405]
    );
}
