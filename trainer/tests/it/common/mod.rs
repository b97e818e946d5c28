//! Shared helpers of the `topten` binary's end-to-end tests: run it as a real process.

#![allow(dead_code)]

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
