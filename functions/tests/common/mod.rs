//! Shared fixtures: a small trained model published into a temporary embedded store.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use topten_core::als::AlsParams;
use topten_core::ingest::{read_ratings, ReadOptions};
use topten_core::pipeline;
use topten_core::store::publish::{publish, PublishOptions};
use topten_core::store::{self, Store};
use topten_core::synth::{write_udata, SynthParams};

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
    let s = store::open(&uri).unwrap();
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
    store::open(uri).unwrap()
}
