//! `lambda`: the topten HTTP API as an AWS Lambda function. The same axum router as the native
//! handler ([`topten_functions::app`]) runs behind `lambda_http`, which turns function-URL and
//! API Gateway v2 events into HTTP requests and the router's responses back into events.
//!
//! Where the recommendations come from, first match wins:
//! 1. `TOPTEN_STORE` (any store URI; in Lambda typically `snapshot:/var/task/recs.snap`, a file
//!    shipped in the deployment zip, since the function's file system is read-only);
//! 2. the snapshot embedded at build time (`TOPTEN_EMBED_SNAPSHOT=FILE cargo lambda build`);
//! 3. `recs.snap` beside the executable (`$LAMBDA_TASK_ROOT/recs.snap`).
//!
//! All other settings are the handler's app settings (`TOPTEN_MAX_K`, ...).

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use topten_functions::{app, AppState, Config};
use topten_store::{recs_snapshot::SnapshotStore, StoreHandle};

/// A snapshot embedded at build time (empty when none was given).
static EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/embedded.snap"));

/// Settings come from the environment only (a Lambda function gets no arguments).
#[derive(Parser)]
struct Settings {
    #[command(flatten)]
    config: Config,
}

fn open_store(config: &Config) -> anyhow::Result<StoreHandle> {
    if std::env::var_os("TOPTEN_STORE").is_some() {
        return topten_functions::backends::open(&config.store_uri)
            .with_context(|| format!("cannot open store {}", config.store_uri));
    }
    if !EMBEDDED.is_empty() {
        return Ok(StoreHandle::read_only(Arc::new(SnapshotStore::from_bytes(
            EMBEDDED.to_vec(),
        )?)));
    }
    let root = std::env::var("LAMBDA_TASK_ROOT").unwrap_or_else(|_| ".".into());
    let uri = format!("snapshot:{root}/recs.snap");
    topten_functions::backends::open(&uri)
        .with_context(|| format!("no TOPTEN_STORE, no embedded snapshot, and cannot open {uri}"))
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    // CloudWatch keeps stdout/stderr lines; JSON without colours.
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TOPTEN_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let Settings { config } = Settings::parse_from(["lambda"]);
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("invalid setting: {e}"))?;
    let store = open_store(&config)?;
    tracing::info!(store = store.reader().backend(), "lambda function starting");
    lambda_http::run(app(AppState::new(store, config))).await
}
