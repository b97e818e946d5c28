//! Small generated data, a model trained on it and a store it is published to: the fixture
//! most end-to-end tests start from.

use std::path::{Path, PathBuf};

use topten_live::publish::{publish, PublishOptions};
use topten_model::als::AlsParams;
use topten_model::ingest::{read_ratings, ReadOptions};
use topten_model::model::Model;
use topten_model::pipeline;
use topten_model::synth::{write_udata, SynthParams};
use topten_store::embedded::EmbeddedStore;
use topten_store::Store;

/// A generated ratings file in `dir` (300 users, 200 items, 9,000 ratings, seed 11).
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

/// A small implicit model (8 factors, `iterations` sweeps, one thread) trained on `ratings`.
pub fn small_model(ratings: &Path, iterations: usize) -> Model {
    let (r, _) = read_ratings(ratings, &ReadOptions::default()).unwrap();
    let params = AlsParams {
        factors: 8,
        iterations,
        threads: 1,
        ..AlsParams::implicit()
    };
    pipeline::train(&r, &params, None, &mut |_| {}).unwrap()
}

/// Publishes `model` to `store` with 30 items per user and activates it; returns the version.
pub async fn publish_active(store: &dyn Store, model: &Model) -> String {
    let opts = PublishOptions {
        items_per_user: 30,
        ..PublishOptions::default()
    };
    publish(store, model, &opts, &mut |_, _| {})
        .await
        .unwrap()
        .version
}

/// Trains [`small_model`] on `ratings` (5 sweeps) and publishes it as the active version of a
/// new embedded store in `dir`; returns the store URI and the version.
pub async fn published_store(dir: &Path, ratings: &Path) -> (String, String) {
    let model = small_model(ratings, 5);
    let path = dir.join("store.db");
    let store = EmbeddedStore::open(&path).unwrap();
    let version = publish_active(&store, &model).await;
    (format!("embedded:{}", path.display()), version)
}

/// A store whose active version was made as `topten train --ratings` makes one: [`small_model`]'s
/// parameters fitted on the training side of the default split (stratified by user, 75/25,
/// seed 42; the retrain's too), scored on its holdout, refitted on every row and published.
pub async fn evaluated_store(dir: &Path, ratings: &Path) -> (String, String) {
    let (all, _) = read_ratings(ratings, &ReadOptions::default()).unwrap();
    let split_params = topten_model::split::SplitParams::default();
    let parts = topten_model::split::split(&all, &split_params).unwrap();
    let (train, test) = (all.subset(&parts.train), all.subset(&parts.test));
    let params = small_model(ratings, 5).meta.params;
    let mut model = pipeline::train(&train, &params, None, &mut |_| {}).unwrap();
    let holdout = pipeline::Holdout {
        refitted: true,
        ..pipeline::Holdout::new(format!("{split_params} split"), &train, &test)
    };
    let eval = pipeline::evaluate(&model, &test, 10);
    model.meta.metrics = Some(pipeline::labelled_metrics(&eval, &holdout));
    let model = pipeline::refit(&all, &model, &mut |_| {}).unwrap();
    let path = dir.join("store.db");
    let store = EmbeddedStore::open(&path).unwrap();
    let version = publish_active(&store, &model).await;
    (format!("embedded:{}", path.display()), version)
}
