//! `topten export-snapshot` honours the live catalogue changes made up to its export (issue
//! 27): items withdrawn, made unavailable or expired through the API are never served from the
//! list file, and a live title replaces the stored one. Real binary, real store, real servers
//! over sockets: one over the store to take the changes, one over the exported file.

use topten_testkit::http_json;

use crate::common::{ok, serve, train_with};

fn ids(body: &serde_json::Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|i| i["itemId"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_list_file_never_serves_what_live_changes_hid() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = dir.path().join("r.tsv");
    ok(&[
        "synth",
        "--users",
        "200",
        "--items",
        "80",
        "--interactions",
        "4000",
        "--out",
        ratings.to_str().unwrap(),
    ]);
    let model = dir.path().join("m").display().to_string();
    train_with(ratings.to_str().unwrap(), &model, "4", "3");
    let store = format!("embedded:{}", dir.path().join("s.db").display());
    ok(&["publish", "--model", &model, "--store", &store]);

    // The changes go through the API of a server over the store.
    let (server, port) = serve(&store);
    let (_, user) = http_json(port, "GET", "/api/recommendations/7?k=10", "");
    let (_, cold) = http_json(port, "GET", "/api/recommendations/nobody?k=10", "");
    let mut listed = ids(&user);
    listed.extend(ids(&cold));
    listed.dedup();
    let mut distinct: Vec<String> = Vec::new();
    for i in listed {
        if !distinct.contains(&i) {
            distinct.push(i);
        }
    }
    let (withdrawn, unavailable, expired, renamed) = (
        distinct[0].clone(),
        distinct[1].clone(),
        distinct[2].clone(),
        distinct[3].clone(),
    );
    let put = |id: &str, body: &str| {
        let (s, answer) = http_json(port, "PUT", &format!("/api/items/{id}"), body);
        assert_eq!(s, 200, "PUT {id} {body}: {answer}");
    };
    let (s, answer) = http_json(port, "DELETE", &format!("/api/items/{withdrawn}"), "");
    assert_eq!(s, 200, "{answer}");
    put(&unavailable, r#"{"available": false}"#);
    put(&expired, r#"{"expiresAt": "2001-01-01T00:00:00Z"}"#);
    put(&renamed, r#"{"title": "Renamed live"}"#);
    drop(server);

    let snap = dir.path().join("recs.snap");
    ok(&[
        "export-snapshot",
        "--store",
        &store,
        "--out",
        snap.to_str().unwrap(),
    ]);
    let (_edge, port) = serve(&format!("snapshot:{}", snap.display()));
    let hidden = [&withdrawn, &unavailable, &expired];
    let mut seen_renamed = false;
    for user in ["7", "nobody", "1", "2", "3", "50", "199"] {
        let (s, body) = http_json(
            port,
            "GET",
            &format!("/api/recommendations/{user}?k=50"),
            "",
        );
        assert_eq!(s, 200, "{body}");
        let got = ids(&body);
        for h in hidden {
            assert!(!got.contains(h), "user {user} is served {h}: {body}");
        }
        for item in body["items"].as_array().unwrap() {
            if item["itemId"] == renamed.as_str() {
                assert_eq!(item["title"], "Renamed live", "{body}");
                seen_renamed = true;
            }
        }
    }
    assert!(seen_renamed, "the renamed item is served to someone");
}
