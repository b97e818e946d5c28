//! `topten compact` (issue 15, item 14): after `prune`, the embedded store file shrinks and
//! holds the same data; it refuses while a server has the store open, and the store keeps
//! working (serving, publishing) after it. Real binary, real files, real server over a socket.

use std::path::Path;

use topten_testkit::http_json;

use crate::common::{grid_ratings, ok, serve, topten, train_with};

/// 3,000 users × 20 ratings over 300 items.
fn write_ratings(dir: &Path) -> String {
    grid_ratings(dir, 3000, 300, "")
}

/// What the store holds, as the binary reports it: the versions listing and a snapshot export
/// of the active version (every user's list, the popular list).
fn contents(store: &str, dir: &Path, name: &str) -> (String, Vec<u8>) {
    let listing = ok(&["versions", "--store", store, "--json"]);
    let out = dir.join(name);
    ok(&[
        "export-snapshot",
        "--store",
        store,
        "--out",
        out.to_str().unwrap(),
    ]);
    (listing, std::fs::read(out).unwrap())
}

#[test]
fn compact_after_prune_shrinks_the_file_and_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = write_ratings(dir.path());
    let model = dir.path().join("m").display().to_string();
    train_with(&ratings, &model, "4", "2");
    let file = dir.path().join("s.db");
    let store = format!("embedded:{}", file.display());
    for _ in 0..4 {
        ok(&["publish", "--model", &model, "--store", &store]);
    }
    let pruned = ok(&["prune", "--store", &store, "--keep", "0"]);
    assert_eq!(pruned.lines().count(), 3, "{pruned}");
    let before = std::fs::metadata(&file).unwrap().len();
    let (listing, snapshot) = contents(&store, dir.path(), "before.snap");

    // A running server has the store open: compaction refuses, naming it, and changes nothing.
    let (server, port) = serve(&store);
    let refused = topten(&["compact", "--store", &store]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains(&format!("open in process {}", server.0.id())),
        "{stderr}"
    );
    assert_eq!(std::fs::metadata(&file).unwrap().len(), before);
    let (status, body) = http_json(port, "GET", "/api/recommendations/7", "");
    assert_eq!(status, 200, "{body}");
    drop(server);

    let said = ok(&["compact", "--store", &store]);
    assert!(said.contains("MiB ->"), "{said}");
    let after = std::fs::metadata(&file).unwrap().len();
    assert!(
        after * 2 < before,
        "one version of four left, yet {before} bytes -> {after} bytes"
    );
    assert_eq!(
        contents(&store, dir.path(), "after.snap"),
        (listing, snapshot),
        "the compacted store holds other data"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("compact"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // The compacted store works as before: a server serves it, a publish writes into it, and
    // a second compaction of an already compact file is harmless.
    let (_server, port) = serve(&store);
    let (status, body) = http_json(
        port,
        "POST",
        "/api/events",
        r#"{"events":[{"userId":"7","itemId":"3","type":"click"}]}"#,
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = http_json(port, "GET", "/api/recommendations/7", "");
    assert_eq!(status, 200, "{body}");
    let v = ok(&["publish", "--model", &model, "--store", &store])
        .trim()
        .to_owned();
    let (_, body) = http_json(port, "GET", "/api/recommendations/8", "");
    assert_eq!(body["modelVersion"], v.as_str(), "{body}");
    drop(_server);
    ok(&["compact", "--store", &store]);
    let listing = ok(&["versions", "--store", &store]);
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with('*') && l.contains(&v)),
        "{listing}"
    );
}

#[test]
fn compact_refuses_what_is_not_an_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("embedded:{}", dir.path().join("nope.db").display());
    let out = topten(&["compact", "--store", &missing]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no embedded store here"));
    assert!(!dir.path().join("nope.db").exists());
    let out = topten(&["compact", "--store", "cosmos+http://127.0.0.1:1/db/c"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("embedded stores"));
}
