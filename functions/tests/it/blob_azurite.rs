//! Blob Storage against Azurite (Microsoft's emulator) through the official
//! `azure_storage_blob` crate: streaming ingest, model directories, prefixes, and the failures
//! that must give clear errors. One test function, because the blob settings are process
//! environment variables (`AZURE_STORAGE_ENDPOINT`, `AZURE_STORAGE_SAS`), as in production.

use topten_azure::blob::{self, BlobError, Location};
use topten_azure::model_dir::SaveModel;
use topten_functions::retrain::{self, RetrainConfig};
use topten_model::als::AlsParams;
use topten_model::ingest::{read_ratings, ReadOptions};
use topten_model::model::ModelError;
use topten_model::pipeline;
use topten_model::synth::{write_udata, SynthParams};
use topten_testkit::Azurite;

fn loc(s: &str) -> Location {
    Location::parse(s).unwrap()
}

fn upload(at: &str, bytes: Vec<u8>) {
    let Location::Blob(b) = loc(at) else {
        panic!("{at} is not a blob")
    };
    blob::block_on(async move { blob::upload(&b, &bytes, None).await }).unwrap();
}

#[test]
#[ignore = "needs the Azure stand-ins (npm ci in tests/azure); scripts/test.sh runs it with --include-ignored"]
/// Long because it is one scenario: each step starts from the state the steps before it left,
/// so splitting it would only pass that state around.
fn blobs_in_azurite_input_models_prefixes_and_failures() {
    let _env = crate::common::azure_storage_env();
    let azurite = Azurite::start();
    std::env::set_var("AZURE_STORAGE_ENDPOINT", azurite.endpoint());
    std::env::set_var("AZURE_STORAGE_SAS", azurite.sas());
    for c in ["data", "models"] {
        let Location::Blob(b) = loc(&format!("az://devstoreaccount1/{c}/")) else {
            unreachable!()
        };
        blob::block_on(async move { blob::create_container(&b).await }).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("ratings.tsv");
    write_udata(
        &SynthParams {
            users: 200,
            items: 150,
            interactions: 6000,
            rank: 4,
            seed: 5,
        },
        std::fs::File::create(&local).unwrap(),
    )
    .unwrap();
    let text = std::fs::read(&local).unwrap();

    // 1. A ratings blob parses (while downloading) to exactly what the local file gives.
    upload("az://devstoreaccount1/data/ratings.tsv", text.clone());
    let (from_blob, report) = blob::read_ratings(
        &loc("az://devstoreaccount1/data/ratings.tsv"),
        &ReadOptions::default(),
        None,
    )
    .unwrap();
    let (from_file, _) = read_ratings(&local, &ReadOptions::default()).unwrap();
    assert_eq!(from_blob.records, from_file.records);
    assert_eq!(report.rows, from_file.records.len());
    // The emulator's path-style URL names the same blob.
    let url = format!("{}/data/ratings.tsv", azurite.endpoint());
    assert_eq!(
        blob::read_ratings(&loc(&url), &ReadOptions::default(), None)
            .unwrap()
            .0
            .records
            .len(),
        from_file.records.len()
    );

    // 2. A model goes to a blob prefix and comes back identical and verified.
    let params = AlsParams {
        factors: 6,
        iterations: 3,
        threads: 1,
        ..AlsParams::implicit()
    };
    let mut model = pipeline::train(
        &from_blob,
        &params,
        Some("az://devstoreaccount1/data/ratings.tsv".into()),
        &mut |_| {},
    )
    .unwrap();
    let uploaded = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = uploaded.clone();
    let progress: blob::Progress = std::sync::Arc::new(move |n| {
        counter.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    });
    model
        .save_to(&loc("az://devstoreaccount1/models/m1"), Some(progress))
        .unwrap();
    let total: u64 = model.meta.artifacts.iter().map(|a| a.bytes).sum();
    assert!(
        uploaded.load(std::sync::atomic::Ordering::Relaxed) > total,
        "progress counts every artifact and model.json"
    );
    // Saving over our own model works; over someone else's blobs it is refused, untouched.
    model
        .save_to(&loc("az://devstoreaccount1/models/m1"), None)
        .unwrap();
    upload(
        "az://devstoreaccount1/models/theirs/notes.txt",
        b"mine".to_vec(),
    );
    let err = model
        .save_to(&loc("az://devstoreaccount1/models/theirs"), None)
        .unwrap_err();
    assert!(
        matches!(err, ModelError::Output(_)) && err.to_string().contains("notes.txt"),
        "{err}"
    );
    let Location::Blob(theirs) = loc("az://devstoreaccount1/models/theirs/") else {
        unreachable!()
    };
    let names = blob::block_on(async move { blob::list(&theirs).await }).unwrap();
    assert_eq!(names.len(), 1, "nothing was written beside their file");
    let back =
        topten_azure::model_dir::load_model(&loc("az://devstoreaccount1/models/m1")).unwrap();
    assert_eq!(back.user_factors, model.user_factors);
    assert_eq!(back.meta.artifacts, model.meta.artifacts);
    // Publishing from the loaded model works like from a local one.
    let store = topten_functions::backends::create_or_open(&format!(
        "embedded:{}",
        dir.path().join("s.db").display()
    ))
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let info = rt
        .block_on(topten_live::publish::publish(
            store.as_ref(),
            &back,
            &Default::default(),
            &mut |_, _| {},
        ))
        .unwrap();
    assert_eq!(info.users, back.users.len());

    // 3. A prefix of daily files is every blob under it, in name order.
    let lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
    let third = lines.len() / 3;
    for (day, part) in [
        ("2026-11-03", &lines[2 * third..]),
        ("2026-11-01", &lines[..third]),
        ("2026-11-02", &lines[third..2 * third]),
    ] {
        upload(
            &format!("az://devstoreaccount1/data/events/{day}.tsv"),
            part.concat(),
        );
    }
    let inputs = blob::expand_inputs(&[loc("az://devstoreaccount1/data/events/")]).unwrap();
    let names: Vec<String> = inputs.iter().map(|l| l.to_string()).collect();
    assert_eq!(
        names,
        ["2026-11-01", "2026-11-02", "2026-11-03"]
            .map(|d| format!("az://devstoreaccount1/data/events/{d}.tsv"))
    );
    let cfg = RetrainConfig {
        sample_users: 100,
        model_root: Some(loc("az://devstoreaccount1/models")),
        items: Some(loc("az://devstoreaccount1/data/items.csv")),
        ..RetrainConfig::new(
            vec![loc("az://devstoreaccount1/data/events/")],
            params.clone(),
            topten_model::metrics::TargetMetric::NdcgAtK,
        )
    };
    let candidate = retrain::train_candidate(&cfg).unwrap().published;
    // The catalogue a retrain publishes with comes from a blob the same way; a missing one is
    // named.
    upload(
        "az://devstoreaccount1/data/items.csv",
        b"itemId,title,categories,available\n1,One,A|B,true\n2,Two,,false\n".to_vec(),
    );
    let catalogue = blob::read_catalogue(&loc("az://devstoreaccount1/data/items.csv")).unwrap();
    assert_eq!(catalogue.len(), 2);
    assert_eq!(catalogue.get("1").unwrap().categories, ["A", "B"]);
    assert!(!catalogue.servable("2", 0));
    let err = blob::read_catalogue(&loc("az://devstoreaccount1/data/none.csv"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("az://devstoreaccount1/data/none.csv"), "{err}");
    assert_eq!(
        candidate.users.len(),
        from_file.users.len(),
        "all three days were read"
    );
    assert!(
        blob::expand_inputs(&[loc("az://devstoreaccount1/data/nothing-here/")])
            .unwrap_err()
            .to_string()
            .contains("no blobs under this prefix")
    );

    // 4. Missing blob and missing model: clear errors naming them.
    let err = blob::read_ratings(
        &loc("az://devstoreaccount1/data/missing.tsv"),
        &ReadOptions::default(),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("az://devstoreaccount1/data/missing.tsv") && err.contains("not found"),
        "{err}"
    );
    let err = topten_azure::model_dir::load_model(&loc("az://devstoreaccount1/models/none"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no model.json"), "{err}");

    // 5. An interrupted upload leaves no model.json, so nothing can load a half-written model;
    //    interrupting an overwrite of a good model does not leave the old model.json pointing
    //    at a mix of old and new files either.
    for target in [
        "az://devstoreaccount1/models/fresh",
        "az://devstoreaccount1/models/m1",
    ] {
        let mut m = model.clone();
        let err = m
            .save_to_with(&loc(target), None, &mut |file| {
                if file == "seen_indptr.npy" {
                    Err(ModelError::Corrupt {
                        path: file.into(),
                        message: "upload interrupted (test)".into(),
                    })
                } else {
                    Ok(())
                }
            })
            .unwrap_err();
        assert!(err.to_string().contains("interrupted"));
        let err = topten_azure::model_dir::load_model(&loc(target))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no model.json"), "{target}: {err}");
    }

    // 6. A corrupted artifact is rejected by its checksum.
    model
        .save_to(&loc("az://devstoreaccount1/models/m2"), None)
        .unwrap();
    let Location::Blob(f) = loc("az://devstoreaccount1/models/m2/item_factors.npy") else {
        unreachable!()
    };
    let mut bytes = blob::block_on({
        let f = f.clone();
        async move { blob::read_all(&f).await }
    })
    .unwrap();
    bytes.truncate(bytes.len() - 8);
    upload("az://devstoreaccount1/models/m2/item_factors.npy", bytes);
    let err = topten_azure::model_dir::load_model(&loc("az://devstoreaccount1/models/m2"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("item_factors.npy") && err.contains("truncated or corrupted"),
        "{err}"
    );

    // 7. Wrong credentials: a SAS signed with another key is refused, and the error says what to check.
    let wrong = topten_testkit::sas::account_sas(
        "devstoreaccount1",
        "d3Jvbmcga2V5IHdyb25nIGtleSB3cm9uZyBrZXk=",
        "2099-01-01T00:00:00Z",
    )
    .unwrap();
    std::env::set_var("AZURE_STORAGE_SAS", wrong);
    let err = blob::read_ratings(
        &loc("az://devstoreaccount1/data/ratings.tsv"),
        &ReadOptions::default(),
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("access denied") && err.contains("AZURE_STORAGE_SAS"),
        "{err}"
    );
    let Location::Blob(b) = loc("az://devstoreaccount1/models/x/model.json") else {
        unreachable!()
    };
    let e = blob::block_on(async move { blob::upload(&b, b"{}", None).await }).unwrap_err();
    assert!(matches!(e, BlobError::Denied(..)), "{e}");
    std::env::set_var("AZURE_STORAGE_SAS", azurite.sas());
}
