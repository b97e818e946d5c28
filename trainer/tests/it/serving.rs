//! Publishing and serving through the `topten` binary: versions, rollback, prune, and a
//! publish killed mid-way (SIGKILL) that must leave the old version fully served.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use topten_testkit::{free_port, http_json, wait_listening, KillOnDrop};

use crate::common::{
    grid_ratings, model_and_store, ok, publish_args, publish_version, serve, topten,
};

/// Generated ratings: `users` users × 20 ratings over 150 items.
fn ratings(dir: &Path, users: usize) -> String {
    grid_ratings(dir, users, 150, "")
}

/// The store's versions listing (`versions --json`), which the tests read after each step.
fn versions(store: &str) -> serde_json::Value {
    serde_json::from_str(&ok(&["versions", "--store", store, "--json"])).unwrap()
}

/// The answers, without their ids, of every 37th of the first 400 users: what a killed
/// publish must leave unchanged.
fn sampled_answers(port: u16) -> Vec<serde_json::Value> {
    (0..400)
        .step_by(37)
        .map(|u| without_id(http_get(port, &format!("/api/recommendations/{u}?k=10")).1))
        .collect()
}

fn http_get(port: u16, path: &str) -> (u16, serde_json::Value) {
    http_json(port, "GET", path, "")
}

#[test]
fn publish_versions_rollback_prune_and_serve() {
    let dir = tempfile::tempdir().unwrap();
    let data = ratings(dir.path(), 60);
    let (model, store) = model_and_store(dir.path(), &data);
    let v1 = publish_version(&model, &store, &[]);
    let v2 = publish_version(&model, &store, &["--items-per-user", "20"]);
    assert_ne!(v1, v2);
    let listing = ok(&["versions", "--store", &store]);
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with('*') && l.contains(&v2)),
        "{listing}"
    );

    let (_server, port) = serve(&store);
    let (s, body) = http_get(port, "/api/recommendations/3?k=5");
    assert_eq!((s, body["modelVersion"].as_str()), (200, Some(v2.as_str())));
    assert_eq!(ok(&["rollback", "--store", &store]).trim(), v1);
    let (_, body) = http_get(port, "/api/recommendations/3?k=5");
    assert_eq!(
        body["modelVersion"],
        v1.as_str(),
        "rollback is seen by the running server"
    );
    assert_eq!(ok(&["activate", &v2, "--store", &store]).trim(), v2);
    let v3 = publish_version(&model, &store, &["--no-activate"]);
    let (_, body) = http_get(port, "/api/recommendations/3");
    assert_eq!(
        body["modelVersion"],
        v2.as_str(),
        "--no-activate leaves the active version serving"
    );
    let pruned = ok(&["prune", "--store", &store, "--keep", "1"]);
    assert!(pruned.contains(&format!("deleted {v1}")), "{pruned}");
    let json = versions(&store);
    let left: Vec<&str> = json["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(left, vec![v2.as_str(), v3.as_str()]);
    let bad = topten(&["activate", "v-none", "--store", &store]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("version v-none not found"));
}

#[test]
fn publish_killed_midway_leaves_the_old_version_fully_served() {
    let dir = tempfile::tempdir().unwrap();
    let data = ratings(dir.path(), 400);
    let (model, store) = model_and_store(dir.path(), &data);
    let v1 = publish_version(&model, &store, &[]);
    let (_server, port) = serve(&store);
    let before = sampled_answers(port);

    // A slow publish (batches of 10 users, 40 ms apart): kill it once some batches are in.
    let mut child = Command::new(env!("CARGO_BIN_EXE_topten"))
        .args(publish_args(
            &model,
            &store,
            &["--batch-size", "10", "--throttle-ms", "40"],
        ))
        .env("TOPTEN_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let partial = loop {
        let json = versions(&store);
        let writing = json["versions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["status"] == "writing")
            .cloned();
        if let Some(v) = writing {
            break v["version"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "publish never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    std::thread::sleep(Duration::from_millis(150));
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "publish finished before it was killed; slow it down further"
    );

    // Old version still active and every sampled user gets exactly what they got before.
    assert_eq!(versions(&store)["active"]["version"], v1.as_str());
    assert_eq!(before, sampled_answers(port));
    // The half-written version cannot be activated. A plain prune keeps it (it could be a
    // publish in progress); `--incomplete` removes it.
    let refused = topten(&["activate", &partial, "--store", &store]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is not complete"));
    assert!(!ok(&["prune", "--store", &store, "--keep", "1"]).contains(&partial));
    let pruned = ok(&["prune", "--store", &store, "--keep", "1", "--incomplete"]);
    assert!(pruned.contains(&partial), "{pruned}");
}

/// `topten serve` on a non-loopback address refuses to start without TOPTEN_API_KEY (saying
/// so), and with the key serves, requiring it on the write and admin routes only.
#[test]
fn serve_beyond_loopback_needs_an_api_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("embedded:{}", dir.path().join("s.db").display());
    drop(topten_functions::backends::create_or_open(&store).unwrap()); // an existing (empty) store
    let port = free_port();
    let args = [
        "serve",
        "--bind",
        "0.0.0.0",
        "--port",
        &port.to_string(),
        "--store",
        &store,
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_topten"))
        .args(args)
        .env("TOPTEN_LOG", "warn")
        .env_remove("TOPTEN_API_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "serve on 0.0.0.0 without a key kept running"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(stderr.contains("TOPTEN_API_KEY"), "{stderr}");

    let key = "serve-test-key-0123456789";
    let server = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_topten"))
            .args(args)
            .env("TOPTEN_LOG", "warn")
            .env("TOPTEN_API_KEY", key)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(port, Duration::from_secs(20), "topten serve");
    let (s, body) = http_json(port, "GET", "/api/metrics", "");
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let (s, _) = http_json(port, "GET", &format!("/api/metrics?code={key}"), "");
    assert_eq!(s, 200);
    let (s, _) = http_json(port, "GET", "/api/health", "");
    assert_eq!(s, 503, "read routes need no key (nothing published: 503)");
    drop(server);
}

/// An answer without its `recommendationId` (unique per answer): what must not change.
fn without_id(mut answer: serde_json::Value) -> serde_json::Value {
    if let Some(o) = answer.as_object_mut() {
        o.remove("recommendationId");
    }
    answer
}

/// Each user's items in a ratings file written by [`ratings`] (or any `user\titem…` TSV).
fn histories(path: &str) -> std::collections::HashMap<String, std::collections::HashSet<String>> {
    let mut h: std::collections::HashMap<String, std::collections::HashSet<String>> =
        Default::default();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let mut f = line.split('\t');
        let (u, i) = (f.next().unwrap(), f.next().unwrap());
        h.entry(u.to_owned()).or_default().insert(i.to_owned());
    }
    h
}

/// Served slots, over every user, that are items the user has in `history`.
fn repeats(
    port: u16,
    history: &std::collections::HashMap<String, std::collections::HashSet<String>>,
) -> (usize, usize) {
    let (mut slots, mut repeated) = (0, 0);
    for (user, items) in history {
        let (s, body) = http_get(port, &format!("/api/recommendations/{user}?k=20"));
        assert_eq!(s, 200, "{body}");
        assert_eq!(body["source"], "personalized", "{user}: {body}");
        for it in body["items"].as_array().unwrap() {
            slots += 1;
            repeated += usize::from(items.contains(it["itemId"].as_str().unwrap()));
        }
    }
    (slots, repeated)
}

/// `train --ratings` splits, scores the holdout, then refits on every row: no user is ever
/// served an item of their whole history, the holdout's items included. With `--no-refit`
/// (the old behaviour, kept for research) the same check finds repeats, which shows it can.
#[test]
fn published_lists_never_repeat_a_users_history() {
    let dir = tempfile::tempdir().unwrap();
    let data = ratings(dir.path(), 80);
    let history = histories(&data);
    let train = |out: &str, extra: &[&str]| {
        let mut args = vec![
            "train",
            "--ratings",
            &data,
            "--factors",
            "8",
            "--iterations",
            "5",
            "--out",
            out,
        ];
        args.extend_from_slice(extra);
        ok(&args);
    };
    let refit = dir.path().join("refit").display().to_string();
    let research = dir.path().join("research").display().to_string();
    train(&refit, &[]);
    train(&research, &["--no-refit"]);

    // model.json and metrics.json say which rows the factors saw and what was held out.
    let meta = |m: &str, file: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(Path::new(m).join(file)).unwrap()).unwrap()
    };
    let all_rows = history.values().map(|s| s.len()).sum::<usize>();
    assert_eq!(meta(&refit, "model.json")["fitted_on"]["rows"], "all");
    assert_eq!(
        meta(&refit, "model.json")["fitted_on"]["interactions"],
        all_rows
    );
    assert_eq!(meta(&refit, "model.json")["interactions"], all_rows);
    let holdout = &meta(&refit, "metrics.json")["holdout"];
    assert_eq!(holdout["refitted"], true, "{holdout}");
    assert_eq!(
        holdout["trainInteractions"].as_u64().unwrap()
            + holdout["testInteractions"].as_u64().unwrap(),
        all_rows as u64,
        "{holdout}"
    );
    assert!(
        holdout["madeBy"]
            .as_str()
            .unwrap()
            .starts_with("stratified by user, 75% train, seed 42 split of /"),
        "{holdout}"
    );
    assert_eq!(
        meta(&research, "model.json")["fitted_on"]["rows"],
        "training_side"
    );
    assert_eq!(
        meta(&research, "metrics.json")["holdout"]["refitted"],
        false
    );
    // The holdout figures are the same evaluation either way.
    assert_eq!(
        meta(&refit, "metrics.json")["ndcg_at_k"],
        meta(&research, "metrics.json")["ndcg_at_k"]
    );

    let store = format!("embedded:{}", dir.path().join("s.db").display());
    ok(&["publish", "--model", &refit, "--store", &store]);
    let (server, port) = serve(&store);
    let (slots, repeated) = repeats(port, &history);
    assert_eq!(slots, history.len() * 20);
    assert_eq!(
        repeated, 0,
        "{repeated} of {slots} served slots are items users have"
    );
    drop(server);

    let store2 = format!("embedded:{}", dir.path().join("s2.db").display());
    ok(&["publish", "--model", &research, "--store", &store2]);
    let (_server, port) = serve(&store2);
    let (_, repeated) = repeats(port, &history);
    assert!(repeated > 0, "--no-refit keeps the holdout recommendable");

    // Versions scored on different holdouts are not shown as comparable.
    let other = dir.path().join("other").display().to_string();
    train(&other, &["--seed", "7"]);
    ok(&["publish", "--model", &other, "--store", &store]);
    let listing = ok(&["versions", "--store", &store]);
    assert!(listing.contains("2 different holdouts"), "{listing}");
    assert!(
        listing.contains(" A (") && listing.contains(" B ("),
        "{listing}"
    );
}

/// A rejected API key is never repeated in the error (issue 28): neither from the flag nor
/// from the environment.
#[test]
fn a_rejected_api_key_is_not_printed() {
    let secret = "s3cr3t-short";
    for (flag, env) in [(true, false), (false, true)] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_topten"));
        cmd.args(["serve", "--store", "embedded:/nonexistent/x.db"]);
        if flag {
            cmd.args(["--api-key", secret]);
        }
        if env {
            cmd.env("TOPTEN_API_KEY", secret);
        } else {
            cmd.env_remove("TOPTEN_API_KEY");
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains("at least 16 characters"), "{stderr}");
        assert!(!stderr.contains(secret), "the key leaked: {stderr}");
    }
}
