//! The `topten` binary against the local Azure stand-ins, with the settings a deployment uses:
//! ratings uploaded to Blob Storage (Azurite) → `train --ratings az://… --out az://…` →
//! `publish --model az://… --store cosmos+http://…` (cosmosdb-server through the official SDK)
//! → `versions`, `recommend --model az://…`, `serve` answering from Cosmos.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use topten_azure::blob::{self, Location};
use topten_model::synth::{write_udata, SynthParams};
use topten_testkit::{Azurite, CosmosServer};

struct Env {
    vars: Vec<(String, String)>,
}

impl Env {
    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_topten"));
        cmd.args(args)
            .env("TOPTEN_LOG", "info")
            .env("TOPTEN_LOG_JSON", "0");
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        cmd.output().expect("run topten")
    }

    fn ok(&self, args: &[&str]) -> (String, String) {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "topten {args:?} failed: {stderr}");
        (String::from_utf8(out.stdout).unwrap(), stderr)
    }
}

#[test]
#[ignore = "needs the Azure stand-ins (npm ci in tests/azure); scripts/test.sh runs it with --include-ignored"]
/// Long because it is one scenario: each step starts from the state the steps before it left,
/// so splitting it would only pass that state around.
fn train_from_blob_model_to_blob_publish_to_cosmos_and_serve() {
    let (azurite, cosmos) = (Azurite::start(), CosmosServer::start());
    let env = Env {
        vars: vec![
            ("AZURE_STORAGE_ENDPOINT".into(), azurite.endpoint()),
            ("AZURE_STORAGE_SAS".into(), azurite.sas()),
            ("COSMOS_KEY".into(), cosmos.key().into()),
            ("TOPTEN_STORE".into(), cosmos.uri("topten", "recs")),
        ],
    };
    // Upload the ratings the way a data pipeline would (this process uses the same settings).
    for (k, v) in &env.vars {
        std::env::set_var(k, v);
    }
    let mut text = Vec::new();
    write_udata(
        &SynthParams {
            users: 400,
            items: 300,
            interactions: 12_000,
            rank: 4,
            seed: 9,
        },
        &mut text,
    )
    .unwrap();
    let Location::Blob(data) = Location::parse("az://devstoreaccount1/data/ratings.tsv").unwrap()
    else {
        unreachable!()
    };
    blob::block_on(async move {
        blob::create_container(&data).await?;
        blob::upload(&data, &text, None).await
    })
    .unwrap();
    let Location::Blob(models) = Location::parse("az://devstoreaccount1/models/").unwrap() else {
        unreachable!()
    };
    blob::block_on(async move { blob::create_container(&models).await }).unwrap();

    let (metrics, _) = env.ok(&[
        "train",
        "--ratings",
        "az://devstoreaccount1/data/ratings.tsv",
        "--factors",
        "8",
        "--iterations",
        "4",
        "--out",
        "az://devstoreaccount1/models/m1",
    ]);
    assert!(metrics.contains("ndcg_at_k"), "{metrics}");

    // A tuned model goes to a blob prefix the same way, with its tuning record and trials table
    // written and checksummed with it; `recommend` loads it back (verifying every checksum).
    env.ok(&[
        "tune",
        "--ratings",
        "az://devstoreaccount1/data/ratings.tsv",
        "--budget",
        "2",
        "--factors",
        "4",
        "8",
        "--iterations",
        "2",
        "4",
        "--out",
        "az://devstoreaccount1/models/tuned",
    ]);
    let Location::Blob(tuned) = Location::parse("az://devstoreaccount1/models/tuned/").unwrap()
    else {
        unreachable!()
    };
    let names: Vec<String> = blob::block_on(async move { blob::list(&tuned).await })
        .unwrap()
        .into_iter()
        .map(|b| b.path)
        .collect();
    for file in ["model.json", "tuning.json", "trials.tsv", "metrics.json"] {
        assert!(
            names.iter().any(|n| n.ends_with(&format!("tuned/{file}"))),
            "{file} not in {names:?}"
        );
    }
    env.ok(&[
        "recommend",
        "--model",
        "az://devstoreaccount1/models/tuned",
        "--user",
        "7",
    ]);

    // A missing input names the blob; a wrong location form is refused before any request.
    let out = env.run(&[
        "train",
        "--ratings",
        "az://devstoreaccount1/data/nope.tsv",
        "--out",
        "az://devstoreaccount1/models/x",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("az://devstoreaccount1/data/nope.tsv") && err.contains("not found"),
        "{err}"
    );

    let (version, stderr) = env.ok(&[
        "publish",
        "--model",
        "az://devstoreaccount1/models/m1",
        "--items-per-user",
        "20",
    ]);
    let version = version.trim().to_owned();
    assert!(
        stderr.contains("published") && stderr.contains("request_units"),
        "{stderr}"
    );
    let (listing, _) = env.ok(&["versions", "--json"]);
    let listing: serde_json::Value = serde_json::from_str(&listing).unwrap();
    assert_eq!(listing["active"]["version"], version.as_str(), "{listing}");
    let v = listing["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == version.as_str())
        .unwrap_or_else(|| panic!("{listing}"));
    assert_eq!(
        (v["status"].as_str(), v["users"].as_u64()),
        (Some("complete"), Some(400)),
        "{listing}"
    );

    let (recs, _) = env.ok(&[
        "recommend",
        "--model",
        "az://devstoreaccount1/models/m1",
        "--user",
        "7",
        "--k",
        "3",
    ]);
    let from_model: Vec<&str> = recs
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap())
        .collect();

    // `topten serve` (the handler's code) answers from Cosmos with the same list.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_topten"));
    serve
        .args(["serve", "--port", &port.to_string()])
        .env("TOPTEN_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (k, v) in &env.vars {
        serve.env(k, v);
    }
    let mut child = serve.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        let (status, body) = http_get(port, "/api/recommendations/7?k=3");
        if status == 200 {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not answer: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    let served: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["itemId"].as_str().unwrap())
        .collect();
    assert_eq!(served, from_model);
    assert_eq!(body["modelVersion"], version.as_str());
}

fn http_get(port: u16, path: &str) -> (u16, serde_json::Value) {
    match std::net::TcpStream::connect(("127.0.0.1", port)) {
        Ok(_) => topten_testkit::http_json(port, "GET", path, ""),
        Err(_) => (0, serde_json::Value::Null),
    }
}
