//! The Lambda function answers like the native handler. `cargo lambda watch` (PyPI
//! `cargo-lambda`, offline) emulates the Lambda runtime API and function URLs on 127.0.0.1; the
//! test runs the already built `lambda` binary against it (`--only-lambda-apis`, so no second
//! cargo build inside the test), reading the snapshot exported from a published store, and
//! replays the parity requests on it and on the native router over the original store.
//!
//! Needs `cargo-lambda` on PATH (or `CARGO_LAMBDA=/path/to/cargo-lambda`); without it the test
//! says so and passes, unless `TOPTEN_REQUIRE_CARGO_LAMBDA=1` (CI) makes that a failure.

use std::process::{Command, Stdio};
use std::time::Duration;

use topten_model::als::AlsParams;
use topten_model::ingest::{read_ratings, ReadOptions};
use topten_model::pipeline;
use topten_store::export::export_snapshot;
use topten_store::publish::{publish, PublishOptions};
use topten_model::synth::{write_udata, SynthParams};
use topten_testkit::{free_port, wait_listening, KillOnDrop};
use topten_edge::route::parity_requests;
use topten_edge::snapshot::RecsSnapshot;

fn cargo_lambda() -> Option<String> {
    if let Ok(p) = std::env::var("CARGO_LAMBDA") {
        return Some(p);
    }
    let found = Command::new("cargo-lambda")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    found.then(|| "cargo-lambda".to_owned())
}

async fn get(client: &reqwest::Client, method: &str, url: &str) -> (u16, String, Vec<u8>) {
    let resp = client
        .request(method.parse().unwrap(), url)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, resp.bytes().await.unwrap().to_vec())
}

/// Function-URL answers of the Lambda function equal the native handler's, byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_under_cargo_lambda_watch_answers_like_native() {
    let Some(cargo_lambda) = cargo_lambda() else {
        assert!(
            std::env::var_os("TOPTEN_REQUIRE_CARGO_LAMBDA").is_none(),
            "cargo-lambda not found (pip install cargo-lambda)"
        );
        eprintln!("skipped: cargo-lambda not found (pip install cargo-lambda)");
        return;
    };
    // A published store and its snapshot.
    let dir = tempfile::tempdir().unwrap();
    let ratings = dir.path().join("ratings.tsv");
    let p = SynthParams {
        users: 300,
        items: 200,
        interactions: 9000,
        rank: 4,
        seed: 11,
    };
    write_udata(&p, std::fs::File::create(&ratings).unwrap()).unwrap();
    let (r, _) = read_ratings(&ratings, &ReadOptions::default()).unwrap();
    let params = AlsParams {
        factors: 8,
        iterations: 5,
        threads: 1,
        ..AlsParams::implicit()
    };
    let model = pipeline::train(&r, &params, None, &mut |_| {}).unwrap();
    let uri = format!("embedded:{}", dir.path().join("store.db").display());
    let store = topten_functions::backends::create_or_open(&uri).unwrap();
    publish(
        store.as_ref(),
        &model,
        &PublishOptions {
            items_per_user: 30,
            ..PublishOptions::default()
        },
        &mut |_, _| {},
    )
    .await
    .unwrap();
    let (bytes, _) = export_snapshot(store.as_ref(), None).await.unwrap();
    let snap_path = dir.path().join("recs.snap");
    std::fs::write(&snap_path, &bytes).unwrap();

    // The native handler over the original store.
    let config = {
        #[derive(clap::Parser)]
        struct Wrap {
            #[command(flatten)]
            config: topten_functions::Config,
        }
        <Wrap as clap::Parser>::parse_from(["t", "--store", &uri, "--log-requests", "false"]).config
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
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut compared = 0;
    for (method, target) in parity_requests(&users) {
        let want = get(
            &client,
            method,
            &format!("http://127.0.0.1:{native_port}{target}"),
        )
        .await;
        // With --only-lambda-apis the emulator knows the function as `_`.
        let got = get(
            &client,
            method,
            &format!("http://127.0.0.1:{port}/lambda-url/_{target}"),
        )
        .await;
        assert_eq!(
            (got.0, &got.1, String::from_utf8_lossy(&got.2)),
            (want.0, &want.1, String::from_utf8_lossy(&want.2)),
            "{method} {target}"
        );
        compared += 1;
    }
    eprintln!("lambda: {compared} requests answered exactly as the native handler answers");
    assert!(compared > 40);
}
