//! Shared fixtures: a small trained model published into a temporary embedded store, and the
//! real `handler` executable started on a free port the way the Functions host starts it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use topten_model::als::AlsParams;
use topten_model::ingest::{read_ratings, ReadOptions};
use topten_model::pipeline;
use topten_store::publish::{publish, PublishOptions};
use topten_store::{self, Store};
use topten_model::synth::{write_udata, SynthParams};

/// Generated ratings file (300 users, 200 items).
pub fn ratings_file(dir: &Path) -> PathBuf {
    let path = dir.join("ratings.tsv");
    let p = SynthParams {
        users: 300,
        items: 200,
        interactions: 9000,
        rank: 4,
        seed: 11,
    };
    write_udata(&p, std::fs::File::create(&path).unwrap()).unwrap();
    path
}

/// Trains on `ratings` and publishes one active version; returns (store URI, version).
pub async fn published_store(dir: &Path, ratings: &Path) -> (String, String) {
    let (r, _) = read_ratings(ratings, &ReadOptions::default()).unwrap();
    let params = AlsParams {
        factors: 8,
        iterations: 5,
        threads: 1,
        ..AlsParams::implicit()
    };
    let model = pipeline::train(&r, &params, None, &mut |_| {}).unwrap();
    let uri = format!("embedded:{}", dir.join("store.db").display());
    let s = topten_functions::backends::create_or_open(&uri).unwrap();
    let opts = PublishOptions {
        items_per_user: 30,
        ..PublishOptions::default()
    };
    let info = publish(s.as_ref(), &model, &opts, &mut |_, _| {})
        .await
        .unwrap();
    (uri, info.version)
}

/// Opens a store by URI.
pub fn open(uri: &str) -> std::sync::Arc<dyn Store> {
    topten_functions::backends::create_or_open(uri).unwrap()
}

/// A running `handler` process, killed when dropped.
pub struct Handler {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Drop for Handler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the handler binary with `FUNCTIONS_CUSTOMHANDLER_PORT` set to a free port and the
/// given environment, and waits until /api/health answers.
pub async fn start_handler(envs: &[(&str, &str)]) -> Handler {
    let port = topten_testkit::free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_handler"));
    cmd.env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("TOPTEN_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let handler = Handler {
        child: cmd.spawn().unwrap(),
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if reqwest::get(format!("{}/api/health", handler.base))
            .await
            .is_ok()
        {
            return handler;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("handler did not listen within 20 s");
}

/// GET `url`: status and JSON body.
pub async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let resp = reqwest::get(url).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}
