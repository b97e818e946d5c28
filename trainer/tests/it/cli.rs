//! End-to-end tests of the `topten` binary: real processes, real files, generated data.

use std::path::{Path, PathBuf};

use crate::common::{ok, publish_args, publish_version, topten, train_with};

/// A u.data-style file with a planted structure: two taste groups, each mostly watching (85%)
/// and liking (ratings 4-5, else 1-2) its own half of the catalogue, with distinct timestamps.
fn write_ratings(dir: &Path) -> PathBuf {
    let mut text = String::new();
    let mut state = 12345u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    for u in 0..120usize {
        for _ in 0..25 {
            let own_half = next() % 100 < 85;
            let i = (next() % 40) * 2 + if own_half { u % 2 } else { 1 - u % 2 };
            let liked = (i % 2) == (u % 2);
            let r = if liked {
                4 + next() % 2
            } else {
                1 + next() % 2
            };
            text += &format!("{u}\t{i}\t{r}\t{}\n", 880000000 + u * 1000 + next() % 997);
        }
    }
    let path = dir.join("u.data");
    std::fs::write(&path, text).unwrap();
    path
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// `experiment start --store STORE --candidate VERSION EXTRA...`, which the scenario runs often.
fn experiment_start<'a>(store: &'a str, candidate: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "experiment",
        "start",
        "--store",
        store,
        "--candidate",
        candidate,
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn every_command_has_help() {
    for cmd in [
        "split",
        "train",
        "tune",
        "evaluate",
        "recommend",
        "predict",
        "report",
        "retrain",
        "import-spark",
        "publish",
        "experiment",
    ] {
        let out = ok(&[cmd, "--help"]);
        assert!(out.contains("Usage: topten"), "{cmd}: {out}");
    }
}

#[test]
/// Long because it is one scenario: each step starts from the state the steps before it left,
/// so splitting it would only pass that state around.
fn split_train_recommend_predict_evaluate() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = write_ratings(dir.path());
    let d = |p: &str| dir.path().join(p).display().to_string();
    ok(&[
        "split",
        "--ratings",
        ratings.to_str().unwrap(),
        "--method",
        "stratified",
        "--out",
        &d("split"),
    ]);
    let train_text = std::fs::read_to_string(dir.path().join("split/train.tsv")).unwrap();
    let test_text = std::fs::read_to_string(dir.path().join("split/test.tsv")).unwrap();
    assert!(train_text.starts_with("user_id\titem_id\trating\ttimestamp\n"));
    let total = std::fs::read_to_string(&ratings).unwrap().lines().count();
    assert!(train_text.lines().count() - 1 + test_text.lines().count() - 1 <= total);

    for model in ["implicit", "explicit"] {
        let out_dir = d(&format!("model-{model}"));
        // --no-refit: the research flow, whose written model is the scored one, so that
        // `evaluate` on its lists gives train's figures.
        let metrics = json(&ok(&[
            "train",
            "--train",
            &d("split/train.tsv"),
            "--test",
            &d("split/test.tsv"),
            "--no-refit",
            "--model",
            model,
            "--factors",
            "4",
            "--iterations",
            "10",
            "--out",
            &out_dir,
        ]));
        for key in [
            "rmse",
            "mae",
            "rsquared",
            "exp_var",
            "precision_at_k",
            "recall_at_k",
            "ndcg_at_k",
            "map_at_k",
            "map",
            "k",
        ] {
            assert!(
                metrics.get(key).is_some(),
                "{model}: metrics lack {key}: {metrics}"
            );
        }
        // About 5 test items per user among ~64 unseen: random picks score ~0.08; an oracle that
        // knows each user's group (and picks at random inside it) ~0.16.
        let p = metrics["precision_at_k"].as_f64().unwrap();
        assert!(p > 0.12, "{model}: precision@10 {p}");
        let on_disk =
            json(&std::fs::read_to_string(Path::new(&out_dir).join("metrics.json")).unwrap());
        assert_eq!(on_disk, metrics);
        for f in [
            "model.json",
            "user_factors.npy",
            "item_factors.npy",
            "user_ids.txt",
            "item_ids.txt",
        ] {
            assert!(Path::new(&out_dir).join(f).exists(), "{f}");
        }
    }

    // recommend never returns a training item, and lists are sorted best first.
    let model = d("model-implicit");
    let recs = ok(&["recommend", "--model", &model, "--all", "--k", "10"]);
    let train_pairs: std::collections::HashSet<(String, String)> = train_text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), f[1].to_string())
        })
        .collect();
    let mut last: Option<(String, f64)> = None;
    let mut rows = 0;
    for line in recs.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 3);
        assert!(
            !train_pairs.contains(&(f[0].to_string(), f[1].to_string())),
            "recommended a training item: {line}"
        );
        let score: f64 = f[2].parse().unwrap();
        if let Some((u, s)) = &last {
            if u == f[0] {
                assert!(score <= *s, "not sorted: {line}");
            }
        }
        last = Some((f[0].to_string(), score));
        rows += 1;
    }
    assert_eq!(rows, 120 * 10);

    // By default the written model is refitted on both files: its lists hold no test item
    // either, and it knows every row.
    let refit = d("model-refit");
    ok(&[
        "train",
        "--train",
        &d("split/train.tsv"),
        "--test",
        &d("split/test.tsv"),
        "--factors",
        "4",
        "--iterations",
        "10",
        "--out",
        &refit,
    ]);
    let all_pairs: std::collections::HashSet<(String, String)> = train_text
        .lines()
        .skip(1)
        .chain(test_text.lines().skip(1))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), f[1].to_string())
        })
        .collect();
    let refit_recs = ok(&["recommend", "--model", &refit, "--all", "--k", "10"]);
    assert_eq!(refit_recs.lines().count(), 120 * 10);
    for line in refit_recs.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        assert!(
            !all_pairs.contains(&(f[0].to_string(), f[1].to_string())),
            "recommended an item the user has: {line}"
        );
    }
    let meta = json(&std::fs::read_to_string(Path::new(&refit).join("model.json")).unwrap());
    assert_eq!(meta["interactions"], all_pairs.len());
    assert!(
        meta["metrics"]["holdout"]["madeBy"]
            .as_str()
            .unwrap()
            .starts_with("the file /"),
        "{meta}"
    );

    let one = ok(&["recommend", "--model", &model, "--user", "7", "--k", "3"]);
    assert_eq!(one.lines().count(), 3);
    assert!(one.lines().all(|l| l.starts_with("7\t")));
    let unknown = topten(&["recommend", "--model", &model, "--user", "nobody"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("\"nobody\" is not in the model"));

    // predict: known pairs get a number, unknown ones a note and no crash.
    std::fs::write(dir.path().join("pairs.tsv"), "7\t3\nghost\t3\n7\tnope\n").unwrap();
    let out = topten(&["predict", "--model", &model, "--pairs", &d("pairs.tsv")]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1);
    assert!(stdout.starts_with("7\t3\t"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("(ghost, 3): the user is not"), "{stderr}");
    assert!(stderr.contains("(7, nope): the item is not"), "{stderr}");

    // evaluate scores the recommend output identically to what train reported.
    std::fs::write(dir.path().join("recs.tsv"), &recs).unwrap();
    let eval = json(&ok(&[
        "evaluate",
        "--test",
        &d("split/test.tsv"),
        "--recs",
        &d("recs.tsv"),
        "--k",
        "10",
    ]));
    let trained = json(&std::fs::read_to_string(Path::new(&model).join("metrics.json")).unwrap());
    for key in [
        "precision_at_k",
        "recall_at_k",
        "ndcg_at_k",
        "map_at_k",
        "map",
    ] {
        let (a, b) = (eval[key].as_f64().unwrap(), trained[key].as_f64().unwrap());
        assert!((a - b).abs() < 1e-6, "{key}: evaluate {a} vs train {b}");
    }
}

#[test]
fn train_from_ratings_splits_internally_and_records_the_split() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = write_ratings(dir.path());
    let out = dir.path().join("m");
    ok(&[
        "train",
        "--ratings",
        ratings.to_str().unwrap(),
        "--method",
        "chrono",
        "--iterations",
        "3",
        "--factors",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    let meta = json(&std::fs::read_to_string(out.join("model.json")).unwrap());
    assert_eq!(meta["split"]["method"], "chrono");
    assert_eq!(meta["history"].as_array().unwrap().len(), 3);
    // Seven artifacts and metrics.json (the split left a test set), each with its checksum.
    let files: Vec<&str> = meta["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["file"].as_str().unwrap())
        .collect();
    assert_eq!(files.len(), 8, "{files:?}");
    assert!(files.contains(&"metrics.json"), "{files:?}");
    assert!(out.join("metrics.json").is_file());
}

#[test]
fn malformed_input_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.tsv");
    std::fs::write(&bad, "1\t2\t3\t100\n1\t3\tNaN\t101\n").unwrap();
    let out = topten(&[
        "split",
        "--ratings",
        bad.to_str().unwrap(),
        "--out",
        dir.path().join("o").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:2: rating \"NaN\" is not finite",
            bad.display()
        )),
        "{stderr}"
    );
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    let out = topten(&[
        "train",
        "--ratings",
        empty.to_str().unwrap(),
        "--out",
        dir.path().join("m").to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no interactions found"));
}

#[test]
fn corrupted_model_is_rejected_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = write_ratings(dir.path());
    let model = dir.path().join("m");
    train_with(ratings.to_str().unwrap(), model.to_str().unwrap(), "3", "2");
    let f = model.join("user_factors.npy");
    let mut bytes = std::fs::read(&f).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&f, bytes).unwrap();
    let out = topten(&["recommend", "--model", model.to_str().unwrap(), "--all"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("checksum mismatch"));
}

/// `publish --items` stores the catalogue with the version and takes titles from it; a bad row
/// stops the publish with FILE:LINE before anything is written.
#[test]
fn publish_stores_the_catalogue_with_the_version() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = write_ratings(dir.path());
    let model = dir.path().join("m");
    ok(&[
        "train",
        "--train",
        ratings.to_str().unwrap(),
        "--iterations",
        "2",
        "--factors",
        "4",
        "--out",
        model.to_str().unwrap(),
    ]);
    let items = dir.path().join("items.csv");
    let mut csv = String::from("itemId,title,categories,available,price\n");
    for i in 0..80 {
        csv += &format!(
            "{i},Item {i},{}|all,true,{}\n",
            ["odd", "even"][i % 2],
            i * 2
        );
    }
    csv += "catalogue-only,Never rated,new,false,1\n";
    std::fs::write(&items, csv).unwrap();
    let store_path = dir.path().join("store.db");
    let store = format!("embedded:{}", store_path.display());

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "itemId,available\n1,true\n2,sometimes\n").unwrap();
    let out = topten(&publish_args(
        model.to_str().unwrap(),
        &store,
        &["--items", bad.to_str().unwrap()],
    ));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:3:", bad.display())), "{err}");
    assert!(
        !store_path.exists(),
        "nothing is written for a bad catalogue"
    );

    let version = ok(&publish_args(
        model.to_str().unwrap(),
        &store,
        &["--items", items.to_str().unwrap()],
    ));
    let version = version.trim();
    let handle = topten_functions::backends::open(&store).unwrap();
    let reader = handle.reader();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stored = rt
        .block_on(reader.catalogue(version))
        .unwrap()
        .expect("the catalogue is stored with the version");
    let catalogue = topten_model::catalogue::Catalogue::from_json_lines(&stored).unwrap();
    assert_eq!(catalogue.len(), 81);
    assert!(!catalogue.servable("catalogue-only", 0));
    let doc = rt
        .block_on(reader.user_recs(version, "0"))
        .unwrap()
        .unwrap();
    for item in &doc.items {
        assert_eq!(
            item.title.as_deref(),
            Some(format!("Item {}", item.item_id).as_str()),
            "titles come from the catalogue"
        );
    }
}

/// The popularity dial end to end: `train --popularity-penalty` records it and its test
/// figures show lists moving to less popular items (higher novelty, no less coverage), and
/// publishing a plain model with `--popularity-penalty` stores exactly the lists of the model
/// trained with the dial, and different ones from the plain model.
#[test]
fn the_popularity_dial_from_train_to_published_lists() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = write_ratings(dir.path());
    let train = |out: &Path, beta: &str| {
        ok(&[
            "train",
            "--ratings",
            ratings.to_str().unwrap(),
            "--iterations",
            "3",
            "--factors",
            "8",
            "--popularity-penalty",
            beta,
            "--out",
            out.to_str().unwrap(),
        ]);
        json(&std::fs::read_to_string(out.join("model.json")).unwrap())
    };
    let (plain_dir, dial_dir) = (dir.path().join("plain"), dir.path().join("dial"));
    let plain = train(&plain_dir, "0");
    let dial = train(&dial_dir, "0.8");
    let beta = |v: &serde_json::Value| v["params"]["popularity_penalty"].as_f64().unwrap();
    assert!((beta(&dial) - 0.8).abs() < 1e-6);
    let (pm, dm) = (&plain["metrics"], &dial["metrics"]);
    assert_eq!(pm["item_similarity"], "item_cooccurrence_count");
    for figure in [
        "catalog_coverage",
        "distributional_coverage",
        "novelty",
        "diversity",
        "serendipity",
    ] {
        assert!(pm[figure].is_f64(), "{figure} in metrics.json: {pm}");
    }
    assert!(
        dm["novelty"].as_f64() > pm["novelty"].as_f64(),
        "novelty {} vs {}",
        dm["novelty"],
        pm["novelty"]
    );
    assert!(dm["catalog_coverage"].as_f64() >= pm["catalog_coverage"].as_f64());

    let store = format!("embedded:{}", dir.path().join("s.db").display());
    let publish =
        |model: &Path, extra: &[&str]| publish_version(model.to_str().unwrap(), &store, extra);
    let v_plain = publish(&plain_dir, &[]);
    let v_dial = publish(&dial_dir, &[]);
    let v_override = publish(&plain_dir, &["--popularity-penalty", "0.8"]);
    let handle = topten_functions::backends::open(&store).unwrap();
    let reader = handle.reader();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let list = |v: &str, u: &str| -> Vec<String> {
        rt.block_on(reader.user_recs(v, u))
            .unwrap()
            .unwrap()
            .items
            .into_iter()
            .map(|i| i.item_id)
            .collect()
    };
    let mut differ = 0;
    for u in ["0", "7", "64", "119"] {
        assert_eq!(list(&v_override, u), list(&v_dial, u), "user {u}");
        differ += usize::from(list(&v_plain, u) != list(&v_dial, u));
    }
    assert!(differ > 0, "the dial changed no published list");
    let info = rt.block_on(reader.version(&v_override)).unwrap().unwrap();
    assert!((beta(&info.model) - 0.8).abs() < 1e-6);
}

/// Parquet input trains exactly the model the same rows as TSV train; a Spark run imports into
/// a model every command takes; bad Spark input fails before anything is written.
#[test]
/// Long because it is one scenario: each step starts from the state the steps before it left,
/// so splitting it would only pass that state around.
fn parquet_input_and_spark_imports_end_to_end() {
    use topten_testkit::parquet::{write_ratings as write_parquet, IdType, Shape};
    let dir = tempfile::tempdir().unwrap();
    let tsv = write_ratings(dir.path());
    let rows: Vec<(String, String, f64, i64)> = std::fs::read_to_string(&tsv)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (
                f[0].into(),
                f[1].into(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
            )
        })
        .collect();
    let table = dir.path().join("ratings.parquet");
    std::fs::create_dir_all(&table).unwrap();
    std::fs::write(table.join("_SUCCESS"), "").unwrap();
    for (n, part) in rows.chunks(1000).enumerate() {
        write_parquet(
            &table.join(format!("part-{n:05}.snappy.parquet")),
            part,
            &Shape {
                ids: IdType::Int32,
                row_group_rows: 400,
                ..Shape::default()
            },
        );
    }
    let train = |input: &Path, out: &str| {
        let out = dir.path().join(out);
        ok(&[
            "train",
            "--ratings",
            input.to_str().unwrap(),
            "--model",
            "explicit",
            "--iterations",
            "3",
            "--factors",
            "4",
            "--out",
            out.to_str().unwrap(),
        ]);
        json(&std::fs::read_to_string(out.join("model.json")).unwrap())
    };
    let (mut a, mut b) = (train(&tsv, "from-tsv"), train(&table, "from-parquet"));
    assert_eq!(a["data_fingerprint"], b["data_fingerprint"]);
    // The same holdout rows, named after their files.
    assert_eq!(
        a["metrics"]["holdout"]["fingerprint"],
        b["metrics"]["holdout"]["fingerprint"]
    );
    a["metrics"]["holdout"]["madeBy"] = serde_json::Value::Null;
    b["metrics"]["holdout"]["madeBy"] = serde_json::Value::Null;
    assert_eq!(a["metrics"], b["metrics"]);

    // A run of the Spark job, imported and used by recommend, predict and publish.
    let train_rows = &rows[..2400];
    let test_rows = &rows[2400..];
    let run = dir.path().join("runs/20260101T000000Z");
    topten_testkit::spark::write_run(&run, 4, train_rows, test_rows, true);
    let model = dir.path().join("imported");
    let metrics = json(&ok(&[
        "import-spark",
        "--run",
        run.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
    ]));
    assert!(metrics["ndcg_at_k"].as_f64().is_some(), "{metrics}");
    let meta = json(&std::fs::read_to_string(model.join("model.json")).unwrap());
    assert_eq!(meta["params"]["factors"], 4);
    assert_eq!(meta["params"]["regularization"], 0.1);
    assert!(
        meta["source"]
            .as_str()
            .unwrap()
            .starts_with("spark ALSModel"),
        "{meta}"
    );
    let recs = ok(&[
        "recommend",
        "--model",
        model.to_str().unwrap(),
        "--user",
        &train_rows[0].0,
        "--k",
        "5",
    ]);
    assert_eq!(recs.lines().count(), 5);
    let seen: Vec<&str> = train_rows
        .iter()
        .filter(|r| r.0 == train_rows[0].0)
        .map(|r| r.1.as_str())
        .collect();
    for line in recs.lines() {
        let item = line.split('\t').nth(1).unwrap();
        assert!(
            !seen.contains(&item),
            "{item} is a training item of the user"
        );
    }
    let store = format!("embedded:{}", dir.path().join("store.db").display());
    publish_version(model.to_str().unwrap(), &store, &[]);

    // Not a Spark model: an error naming what is missing, and no output directory.
    let out = dir.path().join("never");
    let failed = topten(&[
        "import-spark",
        "--model",
        table.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!failed.status.success());
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(
        err.contains("not a saved Spark ALSModel: no metadata/"),
        "{err}"
    );
    assert!(!out.exists());
    // Lists that are not recommendForAllUsers output: refused before the store is touched.
    let store2 = dir.path().join("store2.db");
    let failed = topten(&[
        "publish",
        "--recs",
        table.to_str().unwrap(),
        "--store",
        &format!("embedded:{}", store2.display()),
    ]);
    assert!(!failed.status.success());
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(
        err.contains("column recommendations: missing (columns: user, item, rating, timestamp)"),
        "{err}"
    );
    assert!(!store2.exists());
}

/// `experiment report` over events whose sums are known: in each arm, every user was shown two
/// answers (one item each); control users clicked one, candidate users both, and every third
/// candidate user bought from the second. The events go in as the handler stores them
/// (attributed to the user's arm and answer).
fn experiment_report(store_uri: &str, experiment: &str, control: &str, candidate: &str) {
    use topten_live::attribution::{Attribution, Via};
    use topten_live::events::{StoredEvent, IMPRESSION};
    let store = topten_functions::backends::create_or_open(store_uri).unwrap();
    let now = topten_model::clock::now_ms();
    let mut events = Vec::new();
    let mut want = std::collections::HashMap::<&str, [u64; 4]>::new(); // users, impressions, clicks, conversions
    for u in 0..60 {
        let user = format!("shopper-{u}");
        let arm = topten_experiments::assign(experiment, &user, 0.25);
        let version = if arm == topten_experiments::Arm::Candidate {
            candidate
        } else {
            control
        };
        let event = |kind: &str, answer: &str| StoredEvent {
            attribution: Some(Attribution {
                version: version.into(),
                arm: Some(arm),
                experiment: Some(experiment.into()),
                recommendation_id: Some(format!("{answer}-{u}")),
                via: Via::Impression,
                shown_ms: now,
            }),
            ..if kind == IMPRESSION {
                StoredEvent::impression(&user, &["1"], now)
            } else {
                StoredEvent::interaction(&user, "1", kind, 1.0, now)
            }
        };
        let w = want.entry(arm.as_str()).or_default();
        w[0] += 1;
        events.extend([
            event(IMPRESSION, "first"),
            event(IMPRESSION, "second"),
            event("click", "first"),
        ]);
        w[1] += 2;
        w[2] += 1;
        if arm == topten_experiments::Arm::Candidate {
            let kind = if u % 3 == 0 { "purchase" } else { "like" };
            events.push(event(kind, "second"));
            w[2] += 1;
            w[3] += u64::from(u % 3 == 0);
        }
    }
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(store.append_events(&events))
        .unwrap();
    let report = json(&ok(&[
        "experiment",
        "report",
        "--store",
        store_uri,
        "--json",
    ]));
    for arm in ["control", "candidate"] {
        let r = &report[arm];
        let got = ["users", "impressions", "clicks", "conversions"].map(|k| r[k].as_u64().unwrap());
        assert_eq!(got, want[arm], "{arm}: {report}");
        // Each clicked answer once, over the answers shown: here clicks per impression.
        let ctr = want[arm][2] as f64 / want[arm][1] as f64;
        for k in ["listCtr", "itemCtr"] {
            assert!(
                (r[format!("{k}Estimate")]["value"].as_f64().unwrap() - ctr).abs() < 1e-12,
                "{k}: {report}"
            );
            assert!(
                (r[k].as_f64().unwrap() - ctr).abs() < 1e-12,
                "{k}: {report}"
            );
        }
        assert_eq!(r["rateBasis"], "impressions");
    }
    // Every control user clicks one of two answers, every candidate user both: the
    // difference is exactly 0.5, with no spread within an arm, so the candidate wins.
    assert!((report["listCtrDifference"]["difference"].as_f64().unwrap() - 0.5).abs() < 1e-12);
    assert_eq!(report["verdict"]["winner"], "candidate", "{report}");
    let text = ok(&["experiment", "report", "--store", store_uri]);
    assert!(
        text.contains("list CTR: candidate - control 50.00%"),
        "{text}"
    );
    assert!(
        text.contains("users converted: candidate - control"),
        "{text}"
    );
    assert!(
        text.contains("verdict: candidate wins on list CTR"),
        "{text}"
    );
    // A stricter confidence still finds it (no spread); the plan names a sample size.
    let strict = ok(&[
        "experiment",
        "report",
        "--store",
        store_uri,
        "--confidence",
        "0.999",
    ]);
    assert!(strict.contains("verdict: candidate wins"), "{strict}");
    // The plan for a next experiment starts from the active (control) version's list CTR:
    // one of every two shown answers clicked.
    let plan = ok(&["experiment", "plan", "--store", store_uri, "--lift", "0.2"]);
    assert!(
        plan.contains(&format!("{control}: list CTR 50.00% over ")),
        "{plan}"
    );
    let needed = topten_experiments::answers_needed(0.5, 0.2, 0.95, 0.8).unwrap();
    assert!(
        plan.contains(&format!("{needed} shown answers per arm")),
        "{plan}"
    );
}

/// An experiment from the command line: start, status, a refused activation while it runs,
/// stop (its record kept), start again, promote.
#[test]
/// Long because it is one scenario: each step starts from the state the steps before it left,
/// so splitting it would only pass that state around.
fn experiments_start_stop_and_promote() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = write_ratings(dir.path());
    let store = format!("embedded:{}", dir.path().join("store.db").display());
    let mut versions = Vec::new();
    for (name, iterations) in [("a", "3"), ("b", "2")] {
        let out = dir.path().join(name);
        ok(&[
            "train",
            "--ratings",
            ratings.to_str().unwrap(),
            "--iterations",
            iterations,
            "--factors",
            "4",
            "--out",
            out.to_str().unwrap(),
        ]);
        let extra: &[&str] = if name == "b" { &["--no-activate"] } else { &[] };
        versions.push(publish_version(out.to_str().unwrap(), &store, extra));
    }
    let (control, candidate) = (&versions[0], &versions[1]);
    assert!(ok(&["experiment", "status", "--store", &store]).contains("no experiment running"));
    let none = topten(&["experiment", "report", "--store", &store]);
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("no experiment is running"));
    let id = ok(&experiment_start(&store, candidate, &["--share", "0.25"]));
    assert!(id.trim().starts_with('x'), "{id}");
    let status = ok(&["experiment", "status", "--store", &store]);
    assert!(
        status.contains(&format!(
            "control {control} (75.0% of users), candidate {candidate} (25.0%)"
        )),
        "{status}"
    );
    let status_json = json(&ok(&["experiment", "status", "--store", &store, "--json"]));
    assert_eq!(
        status_json["active"]["experiment"]["candidate"],
        candidate.as_str()
    );
    let refused = topten(&["activate", candidate, "--store", &store]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("is running") && err.contains("stop or promote it"),
        "{err}"
    );
    experiment_report(&store, id.trim(), control, candidate);
    let twice = topten(&experiment_start(&store, candidate, &[]));
    assert!(!twice.status.success());
    assert_eq!(
        ok(&["experiment", "stop", "--store", &store, "--by", "Ada"]).trim(),
        id.trim()
    );
    // The stopped experiment keeps its record: listed, and reported as it ended.
    let listed = ok(&["experiment", "list", "--store", &store]);
    assert!(
        listed.contains(id.trim()) && listed.contains("stopped by Ada (topten experiment stop)"),
        "{listed}"
    );
    let past = json(&ok(&[
        "experiment",
        "report",
        "--store",
        &store,
        "--id",
        id.trim(),
        "--json",
    ]));
    assert_eq!(past["ended"]["decision"], "stopped", "{past}");
    assert_eq!(past["verdict"]["winner"], "candidate", "{past}");
    assert!(past["candidate"]["clicks"].as_u64().unwrap() > 0, "{past}");
    let unknown = topten(&["experiment", "report", "--store", &store, "--id", "x-none"]);
    assert!(!unknown.status.success());
    assert!(ok(&["experiment", "status", "--store", &store])
        .contains(&format!("active {control}; no experiment running")));
    ok(&experiment_start(&store, candidate, &[]));
    assert_eq!(
        ok(&["experiment", "promote", "--store", &store]).trim(),
        candidate.as_str()
    );
    // Both records survive the promotion, newest first.
    let list = json(&ok(&["experiment", "list", "--store", &store, "--json"]));
    let decisions: Vec<&str> = list["past"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions, ["promoted", "stopped"], "{list}");
    assert!(ok(&["experiment", "status", "--store", &store])
        .contains(&format!("active {candidate}; no experiment running")));
    // A share of 0, or one that reaches nobody (issue 28), is refused.
    for share in ["0", "1e-300"] {
        let bad = topten(&experiment_start(&store, control, &["--share", share]));
        assert!(!bad.status.success());
        assert!(String::from_utf8_lossy(&bad.stderr).contains("share must be from 0.0001"));
    }

    // A retrain in experiment mode starts one with its passing candidate; the next retrain,
    // while it runs, only publishes.
    let models = dir.path().join("models");
    let retrain = |extra: &[&str]| {
        let mut args = vec![
            "retrain",
            "--ratings",
            ratings.to_str().unwrap(),
            "--store",
            &store,
            "--tolerance",
            "1",
            "--model-root",
            models.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        json(&ok(&args))
    };
    let first = retrain(&["--mode", "experiment", "--experiment-share", "0.3"]);
    assert_eq!(first["activated"], false, "{first}");
    assert!(
        first["experiment"].as_str().unwrap().starts_with('x'),
        "{first}"
    );
    let status = json(&ok(&["experiment", "status", "--store", &store, "--json"]));
    assert_eq!(status["active"]["version"], candidate.as_str());
    assert_eq!(
        status["active"]["experiment"]["candidate"],
        first["candidateVersion"]
    );
    assert_eq!(status["active"]["experiment"]["share"], 0.3);
    let second = retrain(&[]);
    assert_eq!(second["activated"], false, "{second}");
    assert!(
        second["reason"]
            .as_str()
            .unwrap()
            .contains("is running, so the candidate is published without activation"),
        "{second}"
    );
    let listed = ok(&["versions", "--store", &store]);
    assert!(
        listed.contains(second["candidateVersion"].as_str().unwrap()),
        "{listed}"
    );
}
