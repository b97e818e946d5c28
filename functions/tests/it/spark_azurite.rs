//! Spark's output in Blob Storage (Azurite): Parquet part-file prefixes read as one data set
//! (side files skipped, a Spark "file" that is a prefix found), a saved model imported from a
//! prefix exactly as from a directory, and the Spark retrain source picking the newest
//! complete run. One test function: the blob settings are process environment variables.

use std::path::Path;

use topten_azure::blob::{self, Location};
use topten_azure::spark_run::{self, ImportLocations};
use topten_functions::retrain::{self, RetrainConfig};
use topten_model::als::AlsParams;
use topten_model::ingest::{read_ratings, ReadOptions};
use topten_model::metrics::TargetMetric;
use topten_testkit::parquet::{write_ratings, IdType, Shape};
use topten_testkit::Azurite;

fn loc(s: &str) -> Location {
    Location::parse(s).unwrap()
}

/// Uploads every file under `dir` to `prefix` + its relative path.
fn upload_tree(dir: &Path, prefix: &str) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let Location::Blob(b) = loc(&format!("{prefix}{rel}")) else {
                unreachable!()
            };
            let bytes = std::fs::read(&p).unwrap();
            blob::block_on(async move { blob::upload(&b, &bytes, None).await }).unwrap();
        }
    }
}

fn rows(n: usize, seed: u64) -> Vec<(String, String, f64, i64)> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let (u, i) = ((s >> 33) % 60, (s >> 17) % 40);
            (
                u.to_string(),
                i.to_string(),
                ((s >> 7) % 5 + 1) as f64,
                1_700_000_000 + (s % 1000) as i64,
            )
        })
        .collect()
}

#[test]
#[ignore = "needs the Azure stand-ins (npm ci in tests/azure); scripts/test.sh runs it with --include-ignored"]
/// Long because it is one scenario: each step starts from the state the steps before it left,
/// so splitting it would only pass that state around.
fn spark_output_in_blob_storage() {
    let _env = crate::common::azure_storage_env();
    let azurite = Azurite::start();
    std::env::set_var("AZURE_STORAGE_ENDPOINT", azurite.endpoint());
    std::env::set_var("AZURE_STORAGE_SAS", azurite.sas());
    let Location::Blob(c) = loc("az://devstoreaccount1/lake/") else {
        unreachable!()
    };
    blob::block_on(async move { blob::create_container(&c).await }).unwrap();
    let dir = tempfile::tempdir().unwrap();

    // 1. A table of Parquet part files with Spark's side files, as a prefix.
    let table = dir.path().join("table");
    std::fs::create_dir_all(&table).unwrap();
    std::fs::write(table.join("_SUCCESS"), "").unwrap();
    let data = rows(3000, 7);
    for (n, part) in data.chunks(1000).enumerate() {
        let name = format!("part-{n:05}-c000.snappy.parquet");
        write_ratings(
            &table.join(&name),
            part,
            &Shape {
                ids: IdType::Int32,
                row_group_rows: 300,
                ..Shape::default()
            },
        );
        std::fs::write(table.join(format!(".{name}.crc")), "crc").unwrap();
    }
    upload_tree(&table, "az://devstoreaccount1/lake/table/");
    let (local, _) = read_ratings(&table, &ReadOptions::default()).unwrap();
    for at in [
        "az://devstoreaccount1/lake/table/",
        "az://devstoreaccount1/lake/table",
    ] {
        let (remote, report) = blob::read_ratings(&loc(at), &ReadOptions::default(), None).unwrap();
        assert_eq!(remote.records, local.records, "{at}");
        assert_eq!(remote.users.ids(), local.users.ids());
        assert_eq!(report.rows, data.len());
    }
    // One part file as a blob; the retrain's input expansion drops the side files.
    let one = blob::read_ratings(
        &loc("az://devstoreaccount1/lake/table/part-00001-c000.snappy.parquet"),
        &ReadOptions::default(),
        None,
    )
    .unwrap()
    .0;
    assert_eq!(one.records.len(), 1000 - rows_dup(&data[1000..2000]));
    let inputs = blob::expand_inputs(&[loc("az://devstoreaccount1/lake/table/")]).unwrap();
    assert_eq!(inputs.len(), 3, "{inputs:?}");
    assert!(inputs
        .iter()
        .all(|l| l.to_string().ends_with(".snappy.parquet")));
    // The same parts as a Delta table whose log removed an older file: only live files count,
    // from the blob prefix as from the directory, and the retrain keeps the table whole.
    let delta = dir.path().join("delta");
    std::fs::create_dir_all(delta.join("_delta_log")).unwrap();
    let mut log = vec![r#"{"protocol":{"minReaderVersion":1}}"#.to_string()];
    for n in 0..3 {
        let name = format!("part-{n:05}-c000.snappy.parquet");
        std::fs::copy(table.join(&name), delta.join(&name)).unwrap();
        log.push(format!(r#"{{"add":{{"path":"{name}"}}}}"#));
    }
    write_ratings(
        &delta.join("part-stale.parquet"),
        &data[..10],
        &Shape::default(),
    );
    log.push(r#"{"add":{"path":"part-stale.parquet"}}"#.into());
    std::fs::write(
        delta.join("_delta_log/00000000000000000000.json"),
        log.join("\n"),
    )
    .unwrap();
    std::fs::write(
        delta.join("_delta_log/00000000000000000001.json"),
        r#"{"remove":{"path":"part-stale.parquet"}}"#,
    )
    .unwrap();
    upload_tree(&delta, "az://devstoreaccount1/lake/delta/");
    let (from_delta, _) = blob::read_ratings(
        &loc("az://devstoreaccount1/lake/delta/"),
        &ReadOptions::default(),
        None,
    )
    .unwrap();
    assert_eq!(from_delta.records, local.records);
    assert_eq!(
        read_ratings(&delta, &ReadOptions::default())
            .unwrap()
            .0
            .records,
        local.records
    );
    let inputs = blob::expand_inputs(&[loc("az://devstoreaccount1/lake/delta/")]).unwrap();
    assert_eq!(inputs, [loc("az://devstoreaccount1/lake/delta/")]);
    // A stray non-Parquet blob among the parts is named.
    upload_tree(
        &{
            let d = dir.path().join("stray");
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("notes.txt"), "hello").unwrap();
            d
        },
        "az://devstoreaccount1/lake/table/",
    );
    let msg = blob::read_ratings(
        &loc("az://devstoreaccount1/lake/table/"),
        &ReadOptions::default(),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        msg.contains("az://devstoreaccount1/lake/table/notes.txt: not a readable Parquet file"),
        "{msg}"
    );

    // 2. Runs of the Spark job under a prefix: an older complete run, the newest complete one,
    //    and a later incomplete one (no run.json) that must be ignored.
    let train = rows(2000, 11);
    let test = rows(400, 12);
    for (name, complete) in [
        ("20260101T000000Z", true),
        ("20260102T000000Z", true),
        ("20260103T000000Z", false),
    ] {
        let run = dir.path().join("runs").join(name);
        topten_testkit::spark::write_run(&run, 6, &train, &test, complete);
    }
    upload_tree(&dir.path().join("runs"), "az://devstoreaccount1/lake/runs/");
    let newest = spark_run::newest_run(&loc("az://devstoreaccount1/lake/runs/")).unwrap();
    assert_eq!(
        newest.to_string(),
        "az://devstoreaccount1/lake/runs/20260102T000000Z"
    );
    assert_eq!(
        spark_run::newest_run(&Location::Local(dir.path().join("runs"))).unwrap(),
        Location::Local(dir.path().join("runs/20260102T000000Z"))
    );
    // Imported from the prefix exactly as from the directory.
    let remote_run = spark_run::read_run(&newest).unwrap();
    let local_run =
        spark_run::read_run(&Location::Local(dir.path().join("runs/20260102T000000Z"))).unwrap();
    let (a, report, _) = spark_run::import(
        &ImportLocations::from(&remote_run),
        &ReadOptions::default(),
        None,
    )
    .unwrap();
    let (b, _, _) = spark_run::import(
        &ImportLocations::from(&local_run),
        &ReadOptions::default(),
        None,
    )
    .unwrap();
    assert_eq!(a.user_factors, b.user_factors);
    assert_eq!(a.item_factors, b.item_factors);
    assert_eq!(a.users.ids(), b.users.ids());
    assert_eq!(a.seen.indices, b.seen.indices);
    assert!(report.interactions > 0 && report.users > 0);

    // 3. The retrain source: imports the newest run, gates it, publishes; again: nothing new.
    let store = topten_functions::backends::create_or_open(&format!(
        "embedded:{}",
        dir.path().join("store.db").display()
    ))
    .unwrap();
    let cfg = RetrainConfig {
        spark_runs: Some(loc("az://devstoreaccount1/lake/runs/")),
        model_root: Some(Location::Local(dir.path().join("models"))),
        ..RetrainConfig::new(vec![], AlsParams::explicit(), TargetMetric::NdcgAtK)
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let retrain = || {
        let candidate = retrain::train_candidate(&cfg).unwrap();
        assert_eq!(
            candidate.holdout.records.len(),
            test.len() - rows_dup(&test)
        );
        rt.block_on(retrain::gate_and_publish(store.as_ref(), &cfg, candidate))
            .unwrap()
    };
    let (published, outcome) = retrain();
    assert!(outcome.activated && published.is_some(), "{outcome:?}");
    let (published, outcome) = retrain();
    assert!(!outcome.activated && published.is_none(), "{outcome:?}");
    assert!(
        outcome.reason.contains("already the active version"),
        "{}",
        outcome.reason
    );
    assert_eq!(rt.block_on(store.versions()).unwrap().len(), 1);
}

/// Rows folded away as repeated (user, item) pairs.
fn rows_dup(rows: &[(String, String, f64, i64)]) -> usize {
    let mut pairs: Vec<(&str, &str)> = rows.iter().map(|r| (r.0.as_str(), r.1.as_str())).collect();
    pairs.sort_unstable();
    let n = pairs.len();
    pairs.dedup();
    n - pairs.len()
}
