//! Parquet input against the same data as TSV: every id type, several files and row groups,
//! the side files Spark and Delta leave, and the errors that name file, row and column.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{BooleanArray, Float64Array, Int32Array};
use arrow_schema::DataType;
use topten_model::ingest::{read_ratings, DuplicatePolicy, IngestError, ReadOptions};
use topten_model::interactions::Ratings;
use topten_testkit::parquet::{write_batch, write_ratings, IdType, Shape};
use topten_testkit::spark::batch;

type Row = (String, String, f64, i64);

/// Rows with repeated pairs (the duplicate policy applies), half-star ratings and times.
fn rows(n: usize, textual: bool) -> Vec<Row> {
    let mut state = 12345u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .map(|_| {
            let (u, i) = (next() % 97, next() % 131);
            let id = |p: &str, v: u64| {
                if textual {
                    format!("{p}-{v}")
                } else {
                    v.to_string()
                }
            };
            (
                id("u", u),
                id("i", i),
                (next() % 10) as f64 / 2.0 + 0.5,
                1_700_000_000 + (next() % 1_000_000) as i64,
            )
        })
        .collect()
}

fn write_tsv(path: &Path, rows: &[Row]) {
    let mut text = String::from("user\titem\trating\ttimestamp\n");
    for (u, i, r, t) in rows {
        text.push_str(&format!("{u}\t{i}\t{r}\t{t}\n"));
    }
    std::fs::write(path, text).unwrap();
}

/// Spark's layout: part files, `_SUCCESS`, `_committed_*` and `.crc` side files.
fn write_part_dir(dir: &Path, rows: &[Row], shape: &Shape) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("_SUCCESS"), "").unwrap();
    std::fs::write(dir.join("_committed_8127"), "{}").unwrap();
    for (n, chunk) in rows.chunks(rows.len().div_ceil(3)).enumerate() {
        let name = format!("part-{n:05}-c000.snappy.parquet");
        write_ratings(&dir.join(&name), chunk, shape);
        std::fs::write(dir.join(format!(".{name}.crc")), "crc").unwrap();
    }
}

fn same(a: &Ratings, b: &Ratings) {
    assert_eq!(a.users.ids(), b.users.ids());
    assert_eq!(a.items.ids(), b.items.ids());
    assert_eq!(a.records.len(), b.records.len());
    for (x, y) in a.records.iter().zip(&b.records) {
        assert_eq!((x.user, x.item, x.timestamp), (y.user, y.item, y.timestamp));
        assert_eq!(x.rating, y.rating);
    }
    assert_eq!(a.has_timestamps, b.has_timestamps);
}

#[test]
fn every_id_type_reads_as_the_same_tsv() {
    let dir = tempfile::tempdir().unwrap();
    for textual in [false, true] {
        let data = rows(5000, textual);
        let tsv = dir.path().join(format!("ratings-{textual}.tsv"));
        write_tsv(&tsv, &data);
        let (want, want_report) = read_ratings(&tsv, &ReadOptions::default()).unwrap();
        assert!(want_report.duplicates > 0, "the data repeats pairs");
        let types: &[IdType] = if textual {
            &[IdType::Utf8, IdType::Dictionary]
        } else {
            &[IdType::Int32, IdType::Int64, IdType::Float64, IdType::Utf8]
        };
        for &ids in types {
            for timestamp_type in [false, true] {
                let shape = Shape {
                    ids,
                    timestamp_type,
                    row_group_rows: 700,
                    ..Shape::default()
                };
                let parts = dir
                    .path()
                    .join(format!("parts-{textual}-{ids:?}-{timestamp_type}"));
                write_part_dir(&parts, &data, &shape);
                let (got, report) = read_ratings(&parts, &ReadOptions::default()).unwrap();
                same(&got, &want);
                assert_eq!(report.rows, want_report.rows);
                assert_eq!(report.duplicates, want_report.duplicates);
                // One file alone, with the same rows, reads the same too.
                let single = dir
                    .path()
                    .join(format!("one-{textual}-{ids:?}-{timestamp_type}.parquet"));
                write_ratings(&single, &data, &shape);
                same(
                    &read_ratings(&single, &ReadOptions::default()).unwrap().0,
                    &want,
                );
            }
        }
    }
}

#[test]
fn columns_are_found_by_name_and_options() {
    let dir = tempfile::tempdir().unwrap();
    let data = rows(300, false);
    let file = dir.path().join("spark.parquet");
    let shape = Shape {
        names: ["customer", "product", "score", "eventTime"],
        float_ratings: true,
        ..Shape::default()
    };
    write_ratings(&file, &data, &shape);
    let err = read_ratings(&file, &ReadOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, IngestError::Schema { .. }), "{msg}");
    assert!(
        msg.contains("spark.parquet") && msg.contains("no user column"),
        "{msg}"
    );
    assert!(msg.contains("customer, product, score, eventTime"), "{msg}");
    let opts = ReadOptions {
        user_col: Some("customer".into()),
        item_col: Some("product".into()),
        rating_col: Some("score".into()),
        time_col: Some("eventTime".into()),
        ..ReadOptions::default()
    };
    let (got, _) = read_ratings(&file, &opts).unwrap();
    let tsv = dir.path().join("r.tsv");
    write_tsv(&tsv, &data);
    let (want, _) = read_ratings(&tsv, &ReadOptions::default()).unwrap();
    same(&got, &want); // float ratings are half stars: exact in f32
                       // Without a rating column every row is an implicit event.
    let implicit = dir.path().join("implicit.parquet");
    write_ratings(
        &implicit,
        &data,
        &Shape {
            rating: false,
            time: false,
            ..Shape::default()
        },
    );
    let (got, _) = read_ratings(
        &implicit,
        &ReadOptions {
            duplicates: DuplicatePolicy::Sum,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(got.records.iter().all(|r| r.rating >= 1.0));
    assert!(!got.has_timestamps);
}

#[test]
fn bad_values_name_file_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nulls.parquet");
    let b = batch(vec![
        ("userId", Arc::new(Int32Array::from(vec![1, 2, 3, 4]))),
        ("itemId", Arc::new(Int32Array::from(vec![10, 20, 30, 40]))),
        (
            "rating",
            Arc::new(Float64Array::from(vec![
                Some(4.0),
                Some(3.0),
                None,
                Some(f64::NAN),
            ])),
        ),
    ]);
    write_batch(&file, &b, 2); // the bad rows are in the second row group
    let msg = read_ratings(&file, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("nulls.parquet:3: column rating: no rating (null)"),
        "{msg}"
    );
    let (r, report) = read_ratings(
        &file,
        &ReadOptions {
            skip_bad_rows: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!((r.records.len(), report.skipped), (2, 2));

    let floats = dir.path().join("floats.parquet");
    let b = batch(vec![
        ("user_id", Arc::new(Float64Array::from(vec![1.0, 2.5]))),
        ("item_id", Arc::new(Float64Array::from(vec![1.0, 2.0]))),
    ]);
    write_batch(&floats, &b, 10);
    let msg = read_ratings(&floats, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("floats.parquet:2: column user_id: user id 2.5 is not an integer"),
        "{msg}"
    );

    let wrong = dir.path().join("bool.parquet");
    let b = batch(vec![
        ("user", Arc::new(BooleanArray::from(vec![true]))),
        ("item", Arc::new(Int32Array::from(vec![1]))),
    ]);
    write_batch(&wrong, &b, 10);
    let msg = read_ratings(&wrong, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("bool.parquet: column user (user) has type Boolean"),
        "{msg}"
    );
    assert_eq!(DataType::Boolean.to_string(), "Boolean");
}

#[test]
fn a_directory_holds_only_parquet_besides_side_files() {
    let dir = tempfile::tempdir().unwrap();
    let parts = dir.path().join("table");
    write_part_dir(&parts, &rows(100, false), &Shape::default());
    std::fs::write(parts.join("notes.csv"), "user,item\n1,2\n").unwrap();
    let msg = read_ratings(&parts, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("notes.csv: not a readable Parquet file"),
        "{msg}"
    );

    // Partition directories are read; a directory of side files only is empty.
    let hive = dir.path().join("hive");
    std::fs::create_dir_all(hive.join("day=1")).unwrap();
    std::fs::create_dir_all(hive.join("day=2")).unwrap();
    let data = rows(400, false);
    write_ratings(
        &hive.join("day=1/part-0.parquet"),
        &data[..150],
        &Shape::default(),
    );
    write_ratings(
        &hive.join("day=2/part-0.parquet"),
        &data[150..],
        &Shape::default(),
    );
    let tsv = dir.path().join("r.tsv");
    write_tsv(&tsv, &data);
    same(
        &read_ratings(&hive, &ReadOptions::default()).unwrap().0,
        &read_ratings(&tsv, &ReadOptions::default()).unwrap().0,
    );
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("_SUCCESS"), "").unwrap();
    let err = read_ratings(&empty, &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, IngestError::Empty { .. }), "{err}");
    // A Delta log without commits is not a table to read.
    std::fs::create_dir_all(empty.join("_delta_log")).unwrap();
    let msg = read_ratings(&empty, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("_delta_log: no checkpoint and no commit 0"),
        "{msg}"
    );
}

/// A Delta table whose log removed a file (compaction) and added one in a percent-encoded
/// partition: only the live files are read, from JSON commits or from a checkpoint.
#[test]
fn delta_tables_read_only_their_live_files() {
    use arrow_array::{ArrayRef, StringArray, StructArray};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let data = rows(900, false);
    let parts = [&data[..300], &data[300..600], &data[600..]];
    let table = dir.path().join("table");
    std::fs::create_dir_all(table.join("_delta_log")).unwrap();
    std::fs::create_dir_all(table.join("city=São Paulo")).unwrap();
    let names = [
        "part-0.parquet",
        "part-1.parquet",
        "city=São Paulo/part-2.parquet",
    ];
    for (name, part) in names.iter().zip(parts) {
        write_ratings(&table.join(name), part, &Shape::default());
    }
    // A stale file that only the log knows is gone, and the removed part-0.
    write_ratings(
        &table.join("part-old.parquet"),
        &data[..50],
        &Shape::default(),
    );
    let add = |p: &str| format!(r#"{{"add":{{"path":"{p}","size":1,"dataChange":true}}}}"#);
    let log = table.join("_delta_log");
    let commit = |v: u32, lines: &[String]| {
        std::fs::write(log.join(format!("{v:020}.json")), lines.join("\n") + "\n").unwrap()
    };
    commit(
        0,
        &[
            r#"{"protocol":{"minReaderVersion":1}}"#.into(),
            add("part-old.parquet"),
            add("part-0.parquet"),
        ],
    );
    commit(
        1,
        &[
            r#"{"remove":{"path":"part-old.parquet"}}"#.into(),
            add("part-1.parquet"),
        ],
    );
    commit(
        2,
        &[
            r#"{"remove":{"path":"part-0.parquet","dataChange":false}}"#.into(),
            add("city=S%C3%A3o%20Paulo/part-2.parquet"),
        ],
    );
    // Live, in path order: the partition file, then part-1.
    let mut want_rows = parts[2].to_vec();
    want_rows.extend_from_slice(parts[1]);
    let tsv = dir.path().join("live.tsv");
    write_tsv(&tsv, &want_rows);
    let want = read_ratings(&tsv, &ReadOptions::default()).unwrap().0;
    same(
        &read_ratings(&table, &ReadOptions::default()).unwrap().0,
        &want,
    );

    // The same state from a checkpoint at version 1 and commit 2, older commits cleaned up.
    let adds: ArrayRef = Arc::new(StringArray::from(vec!["part-0.parquet", "part-1.parquet"]));
    let checkpoint = topten_testkit::spark::batch(vec![(
        "add",
        Arc::new(StructArray::from(vec![(
            Arc::new(arrow_schema::Field::new("path", DataType::Utf8, true)),
            adds,
        )])),
    )]);
    write_batch(
        &log.join(format!("{:020}.checkpoint.parquet", 1)),
        &checkpoint,
        10,
    );
    std::fs::write(log.join("_last_checkpoint"), r#"{"version":1,"size":2}"#).unwrap();
    std::fs::remove_file(log.join(format!("{:020}.json", 0))).unwrap();
    std::fs::remove_file(log.join(format!("{:020}.json", 1))).unwrap();
    same(
        &read_ratings(&table, &ReadOptions::default()).unwrap().0,
        &want,
    );

    // What the reader cannot honour is refused: deletion vectors, a gap in the log.
    commit(3, &[r#"{"add":{"path":"part-1.parquet","deletionVector":{"storageType":"u","pathOrInlineDv":"x"}}}"#.into()]);
    let msg = read_ratings(&table, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("deletion vectors"), "{msg}");
    std::fs::remove_file(log.join(format!("{:020}.json", 3))).unwrap();
    commit(4, &[add("part-1.parquet")]);
    let msg = read_ratings(&table, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("commit 3 is missing"), "{msg}");
}
