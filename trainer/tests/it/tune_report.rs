//! End-to-end tests of `topten tune`, `topten report` and `topten retrain --params`: real
//! processes, real files, generated data.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common;

/// These tests read the info-level log lines (the quality gate's figures).
fn topten(args: &[&str]) -> Output {
    common::run_at("info", args)
}

fn ok(args: &[&str]) -> String {
    common::ok_at("info", args)
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Three taste groups of 50 users, each mostly (85%) rating its own third of 90 items.
fn write_ratings(dir: &Path) -> PathBuf {
    let mut text = String::new();
    let mut state = 987654321u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    for u in 0..150usize {
        let mut seen = std::collections::BTreeSet::new();
        while seen.len() < 20 {
            let group = if next() % 100 < 85 { u % 3 } else { next() % 3 };
            seen.insert(group * 30 + next() % 30);
        }
        for (t, i) in seen.into_iter().enumerate() {
            text += &format!(
                "{u}\t{i}\t{}\t{}\n",
                1 + next() % 5,
                880000000 + t * 100 + u
            );
        }
    }
    let path = dir.join("u.data");
    std::fs::write(&path, text).unwrap();
    path
}

const SMALL: [&str; 12] = [
    "--budget",
    "6",
    "--factors",
    "8",
    "16",
    "--iterations",
    "2",
    "4",
    "--threads",
    "2",
    "--regularization",
    "0.1",
];

/// `tune INPUTS` over the [`SMALL`] search space (and regularization 100), so every run stays quick.
fn tune_small(inputs: &[&str]) -> String {
    let mut args = vec!["tune"];
    args.extend_from_slice(inputs);
    args.extend_from_slice(&SMALL);
    args.push("100");
    ok(&args)
}

fn tune(train: &Path, test: &Path, out: &Path) -> serde_json::Value {
    json(&tune_small(&[
        "--train",
        train.to_str().unwrap(),
        "--test",
        test.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]))
}

/// Generated ratings in `dir` and the model tuned on them in `dir/m`, which the report and
/// retrain tests start from; returns (ratings, model).
fn tuned_model(dir: &Path) -> (PathBuf, PathBuf) {
    let ratings = write_ratings(dir);
    let model = dir.join("m");
    tune_small(&[
        "--ratings",
        ratings.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
    ]);
    (ratings, model)
}

/// Drops the timing column of trials.tsv (the only field allowed to differ between runs).
fn trials_without_seconds(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("trials.tsv")).unwrap();
    let seconds = text
        .lines()
        .next()
        .unwrap()
        .split('\t')
        .position(|h| h == "seconds")
        .expect("a seconds column");
    text.lines()
        .map(|l| {
            l.split('\t')
                .enumerate()
                .filter(|(i, _)| *i != seconds)
                .map(|(_, f)| f)
                .collect::<Vec<_>>()
                .join("\t")
        })
        .collect()
}

/// `tune` writes a normal model directory with the trial table and chosen parameters, and
/// nothing it chooses depends on the test set: replacing the test file with a different one
/// leaves every trial and the chosen parameters identical, while the test metrics change.
#[test]
fn tune_writes_a_model_directory_and_never_looks_at_the_test_set() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = write_ratings(dir.path());
    let split = dir.path().join("split");
    ok(&[
        "split",
        "--ratings",
        ratings.to_str().unwrap(),
        "--out",
        split.to_str().unwrap(),
    ]);
    let (train, test) = (split.join("train.tsv"), split.join("test.tsv"));
    let a = dir.path().join("a");
    let out_a = tune(&train, &test, &a);
    for f in [
        "model.json",
        "tuning.json",
        "trials.tsv",
        "metrics.json",
        "user_factors.npy",
    ] {
        assert!(a.join(f).exists(), "{f} missing");
    }
    let tuning = json(&std::fs::read_to_string(a.join("tuning.json")).unwrap());
    let meta = json(&std::fs::read_to_string(a.join("model.json")).unwrap());
    assert_eq!(meta["params"]["factors"], tuning["chosen"]["factors"]);
    assert_eq!(meta["params"]["iterations"], tuning["chosen"]["iterations"]);
    assert_eq!(
        meta["tuning"]["trials"],
        tuning["trials"].as_array().unwrap().len()
    );
    // 6 configurations at 2 iterations, 3 promoted to 4; then the refinement's.
    let trials = tuning["trials"].as_array().unwrap();
    let sampled = trials.iter().filter(|t| t["refined"] == false).count();
    assert_eq!(sampled, 9);
    assert!(
        trials.iter().any(|t| t["refined"] == true),
        "the refinement stage ran"
    );
    // Validation rows are the training file's rows, split again.
    let train_rows = std::fs::read_to_string(&train).unwrap().lines().count() - 1;
    let v = &tuning["summary"]["validation"];
    assert_eq!(
        v["fitRows"].as_u64().unwrap() + v["validationRows"].as_u64().unwrap(),
        train_rows as u64
    );
    // The directory is a normal model directory.
    let recs = ok(&[
        "recommend",
        "--model",
        a.to_str().unwrap(),
        "--user",
        "7",
        "--k",
        "5",
    ]);
    assert_eq!(recs.lines().count(), 5);

    // Another test set (the test rows of only the first 40 users) changes nothing but the test figures.
    let text = std::fs::read_to_string(&test).unwrap();
    let other: String = text
        .lines()
        .filter(|l| {
            l.starts_with("user_id") || l.split('\t').next().unwrap().parse::<usize>().unwrap() < 40
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let other_test = dir.path().join("other_test.tsv");
    std::fs::write(&other_test, other).unwrap();
    let b = dir.path().join("b");
    let out_b = tune(&train, &other_test, &b);
    assert_eq!(trials_without_seconds(&a), trials_without_seconds(&b));
    assert_eq!(out_a["params"], out_b["params"]);
    assert_eq!(out_a["validation"], out_b["validation"]);
    assert_ne!(out_a["test"], out_b["test"]);
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The report of a tuned model has the four figures as PNG files that decode, embeds exactly
/// those files in the HTML (self-contained), and states coverage and popularity bias.
#[test]
fn report_is_self_contained_with_decodable_plots() {
    let dir = tempfile::tempdir().unwrap();
    let (_, model) = tuned_model(dir.path());
    // No --test: the split recorded in model.json is re-made from its source.
    let printed = ok(&["report", "--model", model.to_str().unwrap()]);
    let out = model.join("report");
    assert_eq!(
        printed.trim(),
        out.join("report.html").display().to_string()
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    for fig in [
        "loss.png",
        "metrics_at_k.png",
        "trials.png",
        "dial.png",
        "popularity.png",
    ] {
        let bytes = std::fs::read(out.join(fig)).unwrap_or_else(|_| panic!("{fig} missing"));
        let mut reader = png::Decoder::new(std::io::Cursor::new(&bytes))
            .read_info()
            .unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert!(info.width >= 400 && info.height >= 300, "{fig}");
        let ink = buf.chunks(3).filter(|p| p.iter().any(|&c| c < 200)).count();
        assert!(ink > 2000, "{fig} is nearly blank ({ink} dark pixels)");
        assert!(
            html.contains(&format!("data:image/png;base64,{}", base64(&bytes))),
            "{fig} not embedded"
        );
    }
    assert_eq!(html.matches("data:image/png;base64,").count(), 5);
    assert!(html.contains("Beyond accuracy") && html.contains("The popularity dial"));
    assert!(
        !html.contains("src=\"http") && !html.contains("<link"),
        "external references"
    );
    assert!(html.contains("catalogue coverage") && html.contains("top 1% of items"));
    assert!(html.contains("Tuning") && html.contains("Test metrics"));
    let summary = json(&std::fs::read_to_string(out.join("report.json")).unwrap());
    assert_eq!(summary["metricsAtK"].as_array().unwrap().len(), 20);
    let cov = &summary["coverage"];
    assert!(
        cov["catalogue_coverage"].as_f64().unwrap() > 0.0
            && cov["catalogue_coverage"].as_f64().unwrap() <= 1.0
    );
    // Metrics at k = 10 are the test metrics the tune run reported.
    let metrics = json(&std::fs::read_to_string(model.join("metrics.json")).unwrap());
    let at10 = &summary["metricsAtK"][9];
    assert!(
        (at10["ndcg_at_k"].as_f64().unwrap() - metrics["ndcg_at_k"].as_f64().unwrap()).abs()
            < 1e-12
    );
}

/// `retrain --params tuning.json` trains with the tuned parameters; the gate's decision and
/// both figures are logged and kept in the candidate's model.json; a stricter bar keeps the
/// active version.
#[test]
fn retrain_uses_tuned_params_and_records_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let (ratings, model) = tuned_model(dir.path());
    let chosen =
        json(&std::fs::read_to_string(model.join("tuning.json")).unwrap())["chosen"].clone();
    let store = format!("embedded:{}", dir.path().join("s.db").display());
    let root = dir.path().join("models");
    let params = model.join("tuning.json");
    let run = |tolerance: &str| {
        topten(&[
            "retrain",
            "--ratings",
            ratings.to_str().unwrap(),
            "--store",
            &store,
            "--params",
            params.to_str().unwrap(),
            "--model-root",
            root.to_str().unwrap(),
            "--tolerance",
            tolerance,
        ])
    };
    let first = run("0.02");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let outcome = json(&String::from_utf8_lossy(&first.stdout));
    assert_eq!(outcome["activated"], true);
    let v1 = outcome["candidateVersion"].as_str().unwrap();
    let meta = json(&std::fs::read_to_string(root.join(v1).join("model.json")).unwrap());
    for key in [
        "factors",
        "regularization",
        "alpha",
        "iterations",
        "confidence",
    ] {
        assert_eq!(meta["params"][key], chosen[key], "{key}");
    }
    // A negative tolerance demands a better figure than the same model on the same data: rejected.
    let second = run("-0.5");
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let outcome = json(&String::from_utf8_lossy(&second.stdout));
    assert_eq!(outcome["activated"], false);
    assert_eq!(outcome["activeVersion"], v1);
    let (cand, active) = (
        outcome["candidate"].as_f64().unwrap(),
        outcome["active"].as_f64().unwrap(),
    );
    assert!(cand > 0.0 && active > 0.0);
    let v2 = outcome["candidateVersion"].as_str().unwrap();
    let meta = json(&std::fs::read_to_string(root.join(v2).join("model.json")).unwrap());
    assert_eq!(meta["metrics"]["qualityGate"]["activated"], false);
    assert_eq!(
        meta["metrics"]["qualityGate"]["active"].as_f64().unwrap(),
        active
    );
    let log = String::from_utf8_lossy(&second.stderr);
    assert!(
        log.contains("quality gate") && log.contains(&format!("candidate={cand}")),
        "{log}"
    );
    let versions = ok(&["versions", "--store", &store, "--json"]);
    assert!(
        versions.contains(v1) && !versions.contains(v2),
        "{versions}"
    );
}
