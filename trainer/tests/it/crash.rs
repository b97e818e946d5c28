//! Crash safety of `topten retrain` (issue 15, part c): SIGKILLed at 20 seeded random moments
//! spread over a measured run, it always leaves the old version or the new one active and
//! complete, never a mix or a half-written version, and a restarted `topten serve` serves it.
//!
//! Everything is real: the `topten` binary retrains and publishes into an embedded (LMDB) store,
//! the test kills it with SIGKILL, reads the store back through the library and asks a freshly
//! started server over a socket. Run alone: `cargo test --release -p topten-trainer --test it -- crash::`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use topten_store::RecsReader;
use topten_testkit::http_json;

use crate::common::{grid_ratings, ok, serve, train_with};

/// Users in the generated data: enough that publishing takes several write batches (1,000
/// documents each), so that some kills land between batches.
const USERS: usize = 10_000;
const ITEMS: usize = 400;
const KILLS: usize = 20;
/// Seed of the kill moments (change it to explore other moments; a failure prints it).
const SEED: u64 = 0x5eed_0015;

/// `USERS` users × 20 interactions over `ITEMS` items, deterministic.
fn write_ratings(dir: &Path) -> String {
    grid_ratings(dir, USERS, ITEMS, "")
}

/// splitmix64: a small seeded generator, so the moments are reproducible without a dependency.
struct SplitMix(u64);

impl SplitMix {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The `retrain` command line: the gate always lets the candidate through (tolerance 1), so
/// every run that is not killed switches versions; the small model's parameters (`params`, a
/// model.json) keep training short, so that most of a run is publishing.
fn retrain_command(ratings: &str, store: &str, model_root: &str, params: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_topten"));
    cmd.args([
        "retrain",
        "--ratings",
        ratings,
        "--store",
        store,
        "--model-root",
        model_root,
        "--tolerance",
        "1",
        "--sample-users",
        "200",
        "--params",
        params,
    ])
    .env("TOPTEN_LOG", "warn")
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    cmd
}

/// `topten versions --json`: the active version and every version's info.
fn versions(store: &str) -> (Option<String>, Vec<serde_json::Value>) {
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["versions", "--store", store, "--json"])).unwrap();
    let active = json["active"]["version"].as_str().map(str::to_owned);
    (active, json["versions"].as_array().unwrap().clone())
}

/// Checks through the library that `version` is complete: its info says complete with every
/// user, exactly `USERS` documents exist and every one of them reads back as a non-empty list
/// of that version. Returns user 0's stored item ids (what the server must answer).
async fn check_complete(store: &dyn RecsReader, version: &str, context: &str) -> Vec<String> {
    let info = store
        .version(version)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{context}: active version {version} has no info"));
    assert_eq!(
        info.status,
        topten_store::VersionStatus::Complete,
        "{context}: active version {version} is not complete ({} of {} users written)",
        info.users,
        info.expected_users
    );
    assert_eq!(
        (info.users, info.expected_users),
        (USERS, USERS),
        "{context}: active version {version} has the wrong user count"
    );
    let ids = store.user_ids(version).await.unwrap();
    assert_eq!(
        ids.len(),
        USERS,
        "{context}: active version {version} holds {} user documents, {USERS} expected",
        ids.len()
    );
    let mut first = Vec::new();
    for u in &ids {
        let doc = store
            .user_recs(version, u)
            .await
            .unwrap_or_else(|e| panic!("{context}: user {u} of {version} unreadable: {e}"))
            .unwrap_or_else(|| panic!("{context}: user {u} of {version} listed but missing"));
        assert_eq!(doc.model_version, version, "{context}: user {u}: a mix");
        assert!(!doc.items.is_empty(), "{context}: user {u}: empty list");
        if u == "0" {
            first = doc.items.iter().map(|i| i.item_id.clone()).collect();
        }
    }
    assert!(
        store.popular(version).await.unwrap().is_some(),
        "{context}: {version} has no popular list"
    );
    first
}

/// A restarted server serves `version`: personalized lists of that version for a sample of
/// users, user 0's being the stored list.
fn check_served(store: &str, version: &str, user0_items: &[String], context: &str) {
    let (_server, port) = serve(store);
    for u in (0..USERS).step_by(USERS / 25) {
        let (status, body) = http_json(port, "GET", &format!("/api/recommendations/{u}?k=10"), "");
        assert_eq!(status, 200, "{context}: user {u}: {body}");
        assert_eq!(
            (body["modelVersion"].as_str(), body["source"].as_str()),
            (Some(version), Some("personalized")),
            "{context}: user {u}: {body}"
        );
        let items: Vec<&str> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["itemId"].as_str().unwrap())
            .collect();
        assert!(!items.is_empty(), "{context}: user {u}: no items");
        if u == 0 {
            let stored: Vec<&str> = user0_items.iter().take(10).map(String::as_str).collect();
            assert_eq!(
                items, stored,
                "{context}: user 0 served other items than stored"
            );
        }
    }
}

#[test]
fn retrain_killed_at_random_moments_leaves_old_or_new_version_complete_and_served() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = write_ratings(dir.path());
    let model = dir.path().join("m").display().to_string();
    let model_root = dir.path().join("models").display().to_string();
    let store = format!("embedded:{}", dir.path().join("s.db").display());
    train_with(&ratings, &model, "4", "2");
    ok(&["publish", "--model", &model, "--store", &store]);
    let params = format!("{model}/model.json");

    // One full run, timed, to spread the kills over what a run takes on this machine.
    let started = Instant::now();
    let status = retrain_command(&ratings, &store, &model_root, &params)
        .status()
        .unwrap();
    assert!(status.success(), "an unkilled retrain failed");
    let run = started.elapsed();
    eprintln!("a full retrain took {run:?}; killing at {KILLS} moments (seed {SEED:#x})");

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let lib_store = topten_functions::backends::open(&store).unwrap();
    let mut rng = SplitMix(SEED);
    let mut phases = [0usize; 4];
    for n in 0..KILLS {
        // One moment in each twentieth of the run, at a random place inside it.
        let at = run.mul_f64((n as f64 + rng.next_f64()) / KILLS as f64);
        let (before_active, before) = versions(&store);
        let before_active = before_active.expect("a version is active");
        let before: BTreeSet<String> = before
            .iter()
            .map(|v| v["version"].as_str().unwrap().to_owned())
            .collect();

        let mut child = retrain_command(&ratings, &store, &model_root, &params)
            .spawn()
            .unwrap();
        std::thread::sleep(at);
        let finished = child.try_wait().unwrap().is_some();
        child.kill().ok(); // SIGKILL
        child.wait().unwrap();

        let context = format!("kill {n} at {at:?} (seed {SEED:#x})");
        let (active, after) = versions(&store);
        let active = active.unwrap_or_else(|| panic!("{context}: no active version"));
        let new: Vec<&str> = after
            .iter()
            .map(|v| v["version"].as_str().unwrap())
            .filter(|v| !before.contains(*v))
            .collect();
        assert!(
            new.len() <= 1,
            "{context}: more than one new version: {new:?}"
        );
        assert!(
            active == before_active || new.contains(&active.as_str()),
            "{context}: active {active} is neither the old {before_active} nor the new {new:?}"
        );
        // Where the kill landed, for the summary: before the candidate version was created,
        // while it was being written, after it was complete, or after it was activated.
        let phase = match after
            .iter()
            .find(|v| v["version"].as_str() == new.first().copied())
        {
            None => 0,
            Some(v) if v["status"] == "writing" => 1,
            Some(_) if active == before_active => 2,
            Some(_) => 3,
        };
        phases[phase] += 1;
        assert!(
            !finished || active != before_active,
            "{context}: the retrain finished but did not switch versions"
        );
        let user0 = rt.block_on(check_complete(
            lib_store.reader().as_ref(),
            &active,
            &context,
        ));
        check_served(&store, &active, &user0, &context);

        // Keep the store small: leftovers of killed runs and old versions go; never the active.
        ok(&["prune", "--store", &store, "--keep", "1"]);
        let (still, _) = versions(&store);
        assert_eq!(
            still.as_deref(),
            Some(active.as_str()),
            "{context}: prune changed the active version"
        );
    }
    eprintln!(
        "{KILLS} kills: {} before the new version was created, {} while it was written, \
         {} after it was complete, {} after it was activated",
        phases[0], phases[1], phases[2], phases[3]
    );
}
