//! The Lambda function answers like the native handler. `cargo lambda watch` (PyPI
//! `cargo-lambda`, offline) emulates the Lambda runtime API and function URLs on 127.0.0.1; the
//! test runs the already built `lambda` binary against it (`--only-lambda-apis`, so no second
//! cargo build inside the test), reading the snapshot exported from a published store, and
//! replays the parity requests on it and on the native router over the original store.
//!
//! Needs `cargo-lambda` on PATH (or `CARGO_LAMBDA=/path/to/cargo-lambda`), so it is
//! `#[ignore]`d; `scripts/test.sh` installs cargo-lambda and runs it with `--include-ignored`.
//! Without cargo-lambda it fails and says what to install.

use std::process::{Command, Stdio};
use std::time::Duration;

use topten_edge::snapshot::RecsSnapshot;
use topten_store::export::export_snapshot;
use topten_testkit::http::{client, send_to_both};
use topten_testkit::parity::{parity_requests, without_recommendation_id};
use topten_testkit::{free_port, wait_listening, KillOnDrop};

/// The cargo-lambda to run; fails the test, saying what to install, when there is none.
fn cargo_lambda() -> String {
    if let Ok(p) = std::env::var("CARGO_LAMBDA") {
        return p;
    }
    let found = Command::new("cargo-lambda")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "cargo-lambda not found: pip install cargo-lambda==1.9.2 (scripts/test.sh does)"
    );
    "cargo-lambda".to_owned()
}

/// Function-URL answers of the Lambda function equal the native handler's, byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs cargo-lambda (PyPI); scripts/test.sh installs it and runs this with --include-ignored"]
async fn lambda_under_cargo_lambda_watch_answers_like_native() {
    let cargo_lambda = cargo_lambda();
    // A published store and its snapshot.
    let dir = tempfile::tempdir().unwrap();
    let ratings = topten_testkit::fixtures::ratings_file(dir.path());
    let (uri, _) = topten_testkit::fixtures::published_store(dir.path(), &ratings).await;
    let store = topten_functions::backends::open(&uri).unwrap();
    let store = store.reader();
    let (bytes, _) = export_snapshot(store.as_ref(), &[], None).await.unwrap();
    let snap_path = dir.path().join("recs.snap");
    std::fs::write(&snap_path, &bytes).unwrap();

    // The native handler over the original store.
    let config = topten_functions::Config {
        store_uri: uri.clone(),
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let native_port = listener.local_addr().unwrap().port();
    let router = topten_functions::app(topten_functions::state_from_config(config).unwrap());
    tokio::spawn(topten_functions::serve(
        listener,
        router,
        std::future::pending(),
    ));

    // The runtime emulator, then the function polling it.
    let port = free_port();
    let _watch = KillOnDrop(
        Command::new(&cargo_lambda)
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "-A",
                "127.0.0.1",
                "-P",
                &port.to_string(),
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start cargo lambda watch"),
    );
    wait_listening(port, Duration::from_secs(30), "cargo lambda watch");
    let _function = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_lambda"))
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{port}/.rt"),
            )
            .env("TOPTEN_STORE", format!("snapshot:{}", snap_path.display()))
            .env("TOPTEN_LOG", "warn")
            .env("TOPTEN_LOG_REQUESTS", "false")
            .spawn()
            .expect("start the lambda binary"),
    );

    let snap = RecsSnapshot::parse(&bytes).unwrap();
    let users: Vec<String> = (0..snap.users())
        .step_by(37)
        .map(|i| snap.entry(i).unwrap().0.to_owned())
        .collect();
    let users: Vec<&str> = users.iter().map(String::as_str).collect();
    let client = client();
    let native = format!("http://127.0.0.1:{native_port}");
    // With --only-lambda-apis the emulator knows the function as `_`.
    let function = format!("http://127.0.0.1:{port}/lambda-url/_");
    let mut compared = 0;
    for (method, target) in parity_requests(&users) {
        let (want, got) = send_to_both(&client, method, &target, &native, &function).await;
        // Both name each answer with a fresh recommendationId; the rest is byte-identical.
        assert_eq!(
            String::from_utf8_lossy(&got.2).contains("\"recommendationId\""),
            String::from_utf8_lossy(&want.2).contains("\"recommendationId\""),
            "{method} {target}"
        );
        let (got_body, want_body) = (
            without_recommendation_id(&got.2),
            without_recommendation_id(&want.2),
        );
        assert_eq!(
            (got.0, &got.1, String::from_utf8_lossy(&got_body)),
            (want.0, &want.1, String::from_utf8_lossy(&want_body)),
            "{method} {target}"
        );
        compared += 1;
    }
    eprintln!("lambda: {compared} requests answered exactly as the native handler answers");
    assert!(compared > 40);
}
