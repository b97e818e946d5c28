//! Saved Spark models written here in Spark's layout (the real Spark runs in
//! tests/spark/run.sh): imports equal the factors, ids map through the indexes, and each kind
//! of bad input is an error naming the file and the column.

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::Int32Array;
use arrow_schema::Field;
use topten_model::als::Feedback;
use topten_model::ingest::{read_ratings_str, ReadOptions};
use topten_spark::{import_model, IdLabels, ImportSpec, SparkParams};
use topten_testkit::parquet::write_batch;
use topten_testkit::spark::{batch, write_als_model, write_metadata};

fn factor(i: i32, rank: usize) -> Vec<f32> {
    [i as f32 + 0.5, -(i as f32), 0.25 * i as f32][..rank].to_vec()
}

fn f3(i: i32) -> Vec<f32> {
    factor(i, 3)
}

fn write_factors(dir: &Path, ids: &[i32], rank: usize, bad: Option<(i32, Vec<f32>)>) {
    let f = move |i: i32| match &bad {
        Some((b, v)) if *b == i => v.clone(),
        _ => factor(i, rank),
    };
    topten_testkit::spark::write_factors(dir, ids, &f);
}

const ALS_META: &str = r#"{"class":"org.apache.spark.ml.recommendation.ALSModel","timestamp":1,"sparkVersion":"4.0.1","uid":"ALS_1","paramMap":{"userCol":"user","itemCol":"item"},"defaultParamMap":{},"rank":3}"#;

fn spark_model(dir: &Path) {
    write_als_model(dir, 3, &[0, 1, 2, 5], &[0, 1, 2, 3], &f3);
}

fn spec(dir: &Path) -> ImportSpec<'static> {
    ImportSpec {
        model_dir: dir.to_path_buf(),
        users: IdLabels::Numeric,
        items: IdLabels::Numeric,
        ratings: None,
        params: SparkParams {
            feedback: Feedback::Explicit,
            regularization: Some(0.1),
            alpha: None,
            iterations: None,
        },
        source: dir.display().to_string(),
    }
}

#[test]
fn factors_and_ids_are_spark_s() {
    let dir = tempfile::tempdir().unwrap();
    spark_model(dir.path());
    let ratings = read_ratings_str(
        "user\titem\trating\n5\t1\t4\n5\t3\t2\n1\t0\t5\n9\t1\t3\n0\t7\t1\n",
        "train.tsv",
        &ReadOptions::default(),
    )
    .unwrap()
    .0;
    let mut s = spec(dir.path());
    s.ratings = Some(&ratings);
    let (model, report) = import_model(&s).unwrap();
    assert_eq!(model.users.ids(), ["0", "1", "2", "5"]);
    assert_eq!(model.items.ids(), ["0", "1", "2", "3"]);
    for (u, id) in [0, 1, 2, 5].iter().enumerate() {
        assert_eq!(model.user_factors.row(u).to_vec(), factor(*id, 3));
    }
    // predict is the dot product of Spark's factors.
    let (u, i) = (model.users.get("5").unwrap(), model.items.get("2").unwrap());
    let want: f32 = factor(5, 3)
        .iter()
        .zip(factor(2, 3))
        .map(|(a, b)| a * b)
        .sum();
    assert_eq!(model.predict(u, i), want);
    // Seen items: user 5 has items 1 and 3; the unknown user 9 and item 7 are counted.
    assert_eq!(model.seen.row(u as usize).0, [1, 3]);
    assert_eq!(
        (
            report.interactions,
            report.unknown_user_rows,
            report.unknown_item_rows
        ),
        (3, 1, 1)
    );
    let listed: Vec<u32> = model.recommend(u, 10).iter().map(|s| s.item).collect();
    assert_eq!(listed.len(), 2);
    assert!(!listed.contains(&1) && !listed.contains(&3));
    assert_eq!(model.meta.params.factors, 3);
    assert_eq!(model.meta.params.regularization, 0.1);
}

#[test]
fn string_ids_come_from_a_string_indexer_or_a_mapping_file() {
    let dir = tempfile::tempdir().unwrap();
    spark_model(&dir.path().join("als"));
    let indexer = dir.path().join("user_index");
    write_metadata(
        &indexer,
        r#"{"class":"org.apache.spark.ml.feature.StringIndexerModel","sparkVersion":"4.0.1","uid":"si","paramMap":{"inputCol":"userId","outputCol":"user"},"defaultParamMap":{}}"#,
    );
    std::fs::create_dir_all(indexer.join("data")).unwrap();
    let mut labels = ListBuilder::new(ListBuilder::new(StringBuilder::new()));
    for l in ["ann", "bob", "cé", "dan", "eve", "fay"] {
        labels.values().values().append_value(l);
    }
    labels.values().append(true);
    labels.append(true);
    write_batch(
        &indexer.join("data/part-00000-x.snappy.parquet"),
        &batch(vec![("labelsArray", Arc::new(labels.finish()))]),
        10,
    );
    let mapping = dir.path().join("items.tsv");
    std::fs::write(
        &mapping,
        "index\titemId\n0\tbook-a\n1\tbook-b\n2\tbook-c\n3\tbook-d\n",
    )
    .unwrap();
    let mut s = spec(&dir.path().join("als"));
    s.users = IdLabels::read(&indexer).unwrap();
    s.items = IdLabels::read(&mapping).unwrap();
    let (model, _) = import_model(&s).unwrap();
    assert_eq!(model.users.ids(), ["ann", "bob", "cé", "fay"]);
    assert_eq!(model.items.ids(), ["book-a", "book-b", "book-c", "book-d"]);

    // An id beyond the index is an error naming the factors file, the column and the index.
    std::fs::write(&mapping, "0\tbook-a\n1\tbook-b\n").unwrap();
    s.items = IdLabels::read(&mapping).unwrap();
    let msg = import_model(&s).unwrap_err().to_string();
    assert!(
        msg.contains("itemFactors: column id: id 2 is missing from the index"),
        "{msg}"
    );
    assert!(msg.contains("items.tsv (2 labels)"), "{msg}");
    std::fs::write(&mapping, "0\tbook-a\n1\tbook-a\n").unwrap();
    let msg = IdLabels::read(&mapping).unwrap_err().to_string();
    assert!(msg.contains("\"book-a\" has two indexes"), "{msg}");
}

#[test]
fn bad_models_are_refused_naming_file_and_column() {
    let root = tempfile::tempdir().unwrap();
    let err = |name: &str, make: &dyn Fn(&Path)| -> String {
        let dir = root.path().join(name);
        make(&dir);
        import_model(&spec(&dir)).unwrap_err().to_string()
    };
    let msg = err("not-a-model", &|d| std::fs::create_dir_all(d).unwrap());
    assert!(
        msg.contains("not a saved Spark ALSModel: no metadata/"),
        "{msg}"
    );
    let msg = err("other-class", &|d| {
        write_metadata(
            d,
            r#"{"class":"org.apache.spark.ml.feature.StringIndexerModel","paramMap":{}}"#,
        )
    });
    assert!(
        msg.contains("a saved org.apache.spark.ml.feature.StringIndexerModel, not a ALSModel"),
        "{msg}"
    );
    let msg = err("rank", &|d| {
        spark_model(d);
        write_factors(
            &d.join("itemFactors"),
            &[0, 1, 2, 3],
            3,
            Some((2, vec![1.0, 2.0])),
        );
    });
    assert!(
        msg.contains("itemFactors/part-") && msg.contains("column features: row"),
        "{msg}"
    );
    assert!(
        msg.contains("(id 2): 2 values, but the model's rank is 3"),
        "{msg}"
    );
    let msg = err("nan", &|d| {
        spark_model(d);
        write_factors(
            &d.join("userFactors"),
            &[0, 1],
            3,
            Some((1, vec![1.0, f32::NAN, 0.0])),
        );
    });
    assert!(
        msg.contains("userFactors/part-") && msg.contains("(id 1): value 1 is NaN"),
        "{msg}"
    );
    let msg = err("no-items", &|d| {
        write_metadata(d, ALS_META);
        write_factors(&d.join("userFactors"), &[0], 3, None);
    });
    assert!(msg.contains("itemFactors: missing"), "{msg}");
    let msg = err("columns", &|d| {
        spark_model(d);
        let f = d.join("itemFactors/part-00000-x-c000.snappy.parquet");
        write_batch(
            &f,
            &batch(vec![("id", Arc::new(Int32Array::from(vec![9])))]),
            10,
        );
    });
    assert!(
        msg.contains("column features: missing (columns: id)"),
        "{msg}"
    );
}

#[test]
fn recommend_for_all_users_lists_map_through_the_indexes() {
    use arrow_array::builder::{Float32Builder, Int32Builder, StructBuilder};
    let dir = tempfile::tempdir().unwrap();
    let recs = dir.path().join("recs");
    std::fs::create_dir_all(&recs).unwrap();
    std::fs::write(recs.join("_SUCCESS"), "").unwrap();
    let fields = vec![
        Field::new("item", arrow_schema::DataType::Int32, true),
        Field::new("rating", arrow_schema::DataType::Float32, true),
    ];
    let mut lists = ListBuilder::new(StructBuilder::new(
        fields.clone(),
        vec![
            Box::new(Int32Builder::new()),
            Box::new(Float32Builder::new()),
        ],
    ));
    for list in [vec![(2, 0.9f32), (0, 0.5)], vec![(1, 0.7)]] {
        for (item, score) in list {
            let s = lists.values();
            s.field_builder::<Int32Builder>(0)
                .unwrap()
                .append_value(item);
            s.field_builder::<Float32Builder>(1)
                .unwrap()
                .append_value(score);
            s.append(true);
        }
        lists.append(true);
    }
    write_batch(
        &recs.join("part-00000.snappy.parquet"),
        &batch(vec![
            ("user", Arc::new(Int32Array::from(vec![1, 0]))),
            ("recommendations", Arc::new(lists.finish())),
        ]),
        10,
    );
    let files = topten_spark::recs::RecsFiles::open(&recs).unwrap();
    assert_eq!(files.users, 2);
    let items = dir.path().join("items.tsv");
    std::fs::write(&items, "0\ta\n1\tb\n2\tc\n").unwrap();
    let mut got = Vec::new();
    files
        .for_each(
            &IdLabels::Numeric,
            &IdLabels::read(&items).unwrap(),
            |b| -> Result<(), topten_spark::SparkError> {
                got.extend(b);
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(
        got,
        vec![
            (
                "1".to_string(),
                vec![("c".to_string(), 0.9), ("a".to_string(), 0.5)]
            ),
            ("0".to_string(), vec![("b".to_string(), 0.7)]),
        ]
    );
    std::fs::write(&items, "0\ta\n1\tb\n").unwrap();
    let msg = files
        .for_each(
            &IdLabels::Numeric,
            &IdLabels::read(&items).unwrap(),
            |_| -> Result<(), topten_spark::SparkError> { Ok(()) },
        )
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("column recommendations.item: id 2 is missing from the index"),
        "{msg}"
    );
    let wrong = dir.path().join("wrong.parquet");
    write_batch(
        &wrong,
        &batch(vec![("userId", Arc::new(Int32Array::from(vec![1])))]),
        10,
    );
    let msg = topten_spark::recs::RecsFiles::open(&wrong)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("wrong.parquet: column user: missing (columns: userId)"),
        "{msg}"
    );
}
