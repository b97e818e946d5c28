//! What Spark writes, in Spark's layout, for tests that must not start Spark: a saved
//! `ALSModel` (metadata JSON line, `userFactors/` and `itemFactors/` part files in reverse id
//! order with `_SUCCESS`), and a run directory of `spark/topten_als.py`. tests/spark checks
//! the real thing.

use std::path::Path;
use std::sync::Arc;

use arrow_array::types::Float32Type;
use arrow_array::{ArrayRef, Int32Array, ListArray, RecordBatch};
use arrow_schema::{Field, Schema};

use crate::parquet::{write_batch, write_ratings, IdType, Shape};

/// A record batch of named, nullable columns.
pub fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .expect("consistent columns")
}

/// `dir/metadata/` as Spark 4 writes it: one JSON line in a part file, and `_SUCCESS`.
pub fn write_metadata(dir: &Path, json: &str) {
    std::fs::create_dir_all(dir.join("metadata")).unwrap();
    std::fs::write(
        dir.join("metadata/part-00000-abc-c000.txt"),
        format!("{json}\n"),
    )
    .unwrap();
    std::fs::write(dir.join("metadata/_SUCCESS"), "").unwrap();
}

/// A factors directory: `(id, features)` rows of `factor(id)`, in two part files in reverse
/// id order (Spark's blocks come in no id order).
pub fn write_factors(dir: &Path, ids: &[i32], factor: &dyn Fn(i32) -> Vec<f32>) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("_SUCCESS"), "").unwrap();
    let mut ids = ids.to_vec();
    ids.reverse();
    for (n, part) in ids.chunks(ids.len().div_ceil(2).max(1)).enumerate() {
        let features: Vec<Option<Vec<Option<f32>>>> = part
            .iter()
            .map(|&i| Some(factor(i).into_iter().map(Some).collect()))
            .collect();
        let b = batch(vec![
            ("id", Arc::new(Int32Array::from(part.to_vec()))),
            (
                "features",
                Arc::new(ListArray::from_iter_primitive::<Float32Type, _, _>(
                    features,
                )),
            ),
        ]);
        write_batch(
            &dir.join(format!("part-{n:05}-x-c000.snappy.parquet")),
            &b,
            100,
        );
    }
}

/// The metadata line of an ALSModel of `rank`.
pub fn als_metadata(rank: usize) -> String {
    format!(
        r#"{{"class":"org.apache.spark.ml.recommendation.ALSModel","timestamp":1,"sparkVersion":"4.0.1","uid":"ALS_test","paramMap":{{"userCol":"user","itemCol":"item"}},"defaultParamMap":{{}},"rank":{rank}}}"#
    )
}

/// A saved ALSModel with the given users' and items' factors.
pub fn write_als_model(
    dir: &Path,
    rank: usize,
    users: &[i32],
    items: &[i32],
    factor: &dyn Fn(i32) -> Vec<f32>,
) {
    write_metadata(dir, &als_metadata(rank));
    write_factors(&dir.join("userFactors"), users, factor);
    write_factors(&dir.join("itemFactors"), items, factor);
}

/// A run directory of `spark/topten_als.py` with integer ids: `model/`, `train/`, `test/`
/// (Parquet part directories), and `run.json` last unless `complete` is false.
pub fn write_run(
    dir: &Path,
    rank: usize,
    train: &[(String, String, f64, i64)],
    test: &[(String, String, f64, i64)],
    complete: bool,
) {
    let ids = |rows: &[(String, String, f64, i64)],
               pick: fn(&(String, String, f64, i64)) -> &String| {
        let mut v: Vec<i32> = rows.iter().map(|r| pick(r).parse().unwrap()).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let factor = move |i: i32| -> Vec<f32> {
        (0..rank)
            .map(|k| (((i as usize * 31 + k * 17) % 23) as f32 - 11.0) / 10.0)
            .collect()
    };
    write_als_model(
        &dir.join("model"),
        rank,
        &ids(train, |r| &r.0),
        &ids(train, |r| &r.1),
        &factor,
    );
    for (name, rows) in [("train", train), ("test", test)] {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        write_ratings(
            &d.join("part-00000-x-c000.snappy.parquet"),
            rows,
            &Shape {
                ids: IdType::Int64,
                ..Shape::default()
            },
        );
        std::fs::write(d.join("_SUCCESS"), "").unwrap();
    }
    if complete {
        let run = serde_json::json!({
            "format": "topten-spark-run/1",
            "run_id": dir.file_name().unwrap().to_string_lossy(),
            "params": {"feedback": "explicit", "factors": rank, "regularization": 0.1, "alpha": 1.0, "iterations": 5},
            "counts": {"train_rows": train.len(), "test_rows": test.len()},
            "user_index": false,
            "item_index": false,
        });
        std::fs::write(
            dir.join("run.json"),
            serde_json::to_vec_pretty(&run).unwrap(),
        )
        .unwrap();
    }
}
