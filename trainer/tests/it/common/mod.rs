//! Shared helpers of the `topten` binary's end-to-end tests: run it as a real process.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use topten_testkit::{free_port, wait_listening, KillOnDrop};

/// Runs `topten ARGS` with `TOPTEN_LOG=level` and returns what it did.
pub fn run_at(level: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_topten"))
        .args(args)
        .env("TOPTEN_LOG", level)
        .output()
        .expect("run topten")
}

/// `topten ARGS` at log level warn.
pub fn topten(args: &[&str]) -> Output {
    run_at("warn", args)
}

/// Runs `topten ARGS` at `level`, requires success (showing stderr otherwise), returns stdout.
pub fn ok_at(level: &str, args: &[&str]) -> String {
    let out = run_at(level, args);
    assert!(
        out.status.success(),
        "topten {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// [`ok_at`] at log level warn.
pub fn ok(args: &[&str]) -> String {
    ok_at("warn", args)
}

/// `topten train` of a small model from `ratings` into `out`.
pub fn train_with(ratings: &str, out: &str, factors: &str, iterations: &str) -> String {
    ok(&[
        "train",
        "--ratings",
        ratings,
        "--factors",
        factors,
        "--iterations",
        iterations,
        "--out",
        out,
    ])
}

/// `users` users × 20 ratings over `items` items in `dir/r.tsv`, deterministic, user ids
/// `{user_prefix}{n}`: data whose size each test picks without its own generator. Returns the path.
pub fn grid_ratings(dir: &Path, users: usize, items: usize, user_prefix: &str) -> String {
    let mut text = String::with_capacity(users * 20 * 16);
    for u in 0..users {
        for j in 0..20 {
            let i = (u * 7 + j * 13 + j * j) % items;
            text += &format!("{user_prefix}{u}\t{i}\t{}\t{}\n", 1 + (u + i) % 5, 1000 + j);
        }
    }
    let path = dir.join("r.tsv");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// A small model (4 factors, 3 iterations) trained from `ratings` into `dir/m`, and the URI of
/// an embedded store `dir/s.db` to publish it to: `(model, store)`, where serving tests start.
pub fn model_and_store(dir: &Path, ratings: &str) -> (String, String) {
    let model = dir.join("m").display().to_string();
    train_with(ratings, &model, "4", "3");
    let store = format!("embedded:{}", dir.join("s.db").display());
    (model, store)
}

/// `publish --model MODEL --store STORE EXTRA...`: every publish of a trained model starts so.
pub fn publish_args<'a>(model: &'a str, store: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["publish", "--model", model, "--store", store];
    args.extend_from_slice(extra);
    args
}

/// Publishes `model` to `store` (with `extra` arguments) and returns the new version, which the
/// tests then activate, list or compare.
pub fn publish_version(model: &str, store: &str, extra: &[&str]) -> String {
    ok(&publish_args(model, store, extra)).trim().to_owned()
}

/// Starts `topten serve` over `store` on a free port (the active version read on every
/// request) and waits until it listens; the server is killed when the handle drops.
pub fn serve(store: &str) -> (KillOnDrop, u16) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_topten"))
        .args([
            "serve",
            "--store",
            store,
            "--port",
            &port.to_string(),
            "--active-ttl-ms",
            "0",
        ])
        .env("TOPTEN_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let server = KillOnDrop(child);
    wait_listening(port, Duration::from_secs(30), "topten serve");
    (server, port)
}
