//! The operations dashboard in a real browser: Debian's headless `chromium` loads
//! `/api/admin/dashboard` from a live `handler` (with an API key, a running experiment, answers,
//! impressions and clicks), runs its script, and the numbers it shows must equal
//! `/api/admin/stats`. A screenshot is kept as a CI artifact at `target/dashboard.png`.

use crate::common;

use std::collections::HashMap;
use std::process::Command;

use topten_store::Publisher;
use topten_testkit::http::get_json;

const KEY: &str = "dashboard-test-key-0123456789";

/// Runs headless Chromium on `url` with `args`, as the machine notes prescribe for root without
/// a network; returns stdout.
fn chromium(url: &str, args: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            // Long enough for the fetches and the first drawing; the page's own refresh is
            // set beyond it.
            "--virtual-time-budget=15000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs (Debian package chromium; .ci/run installs it)");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every `data-stat="NAME" data-value="VALUE"` pair of the page's markup (not of its script's
/// text).
fn shown_values(dom: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let markup = dom.split("<script").next().unwrap_or(dom);
    for part in markup.split("data-stat=\"").skip(1) {
        let (name, rest) = part.split_once('"').unwrap();
        if let Some(value) = rest
            .strip_prefix(" data-value=\"")
            .and_then(|v| v.split_once('"'))
        {
            out.insert(name.to_owned(), value.0.to_owned());
        }
    }
    out
}

/// The text of `dom` after the first `start`, up to the next `end`.
fn between<'a>(dom: &'a str, start: &str, end: &str) -> &'a str {
    let after = dom
        .split_once(start)
        .unwrap_or_else(|| panic!("no {start} in the page"))
        .1;
    after.split_once(end).map_or(after, |(inside, _)| inside)
}

/// `s` as the page's text nodes hold it after `--dump-dom` (the serialiser escapes &, <, >).
fn esc_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn as_f64(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[tokio::test]
#[ignore = "needs Debian's chromium (installed by .ci/run; scripts/test.sh runs ignored tests)"]
/// Long because it is one scenario: each step starts from the state the steps before it left,
/// so splitting it would only pass that state around.
async fn the_dashboard_shows_what_the_stats_say() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = topten_testkit::fixtures::ratings_file(dir.path());
    let (uri, control) = topten_testkit::fixtures::published_store(dir.path(), &ratings).await;
    let store = common::open(&uri);
    let model = topten_testkit::fixtures::small_model(&ratings, 2);
    let opts = topten_live::publish::PublishOptions {
        items_per_user: 30,
        activate: false,
        ..Default::default()
    };
    let candidate = topten_live::publish::publish(store.as_ref(), &model, &opts, &mut |_, _| {})
        .await
        .unwrap()
        .version;
    // An experiment that ended (its record kept), then the one that runs.
    store.start_experiment(&candidate, 0.5).await.unwrap();
    let ending = topten_live::online_report::Ending {
        decided_by: "Grace (test)".into(),
        rules: Default::default(),
    };
    let first = topten_live::publish::stop_experiment_caught_up(store.as_ref(), &ending)
        .await
        .unwrap();
    store.start_experiment(&candidate, 0.5).await.unwrap();
    drop(store);
    let handler = common::start_handler(&[
        ("TOPTEN_STORE", &uri),
        ("TOPTEN_API_KEY", KEY),
        ("TOPTEN_ACTIVE_TTL_MS", "0"),
    ])
    .await;
    let base = &handler.base;
    let client = reqwest::Client::new();

    // Traffic: every user gets an answer and is shown it; every other user clicks its top item.
    let users: Vec<String> = model.users.ids().iter().take(60).cloned().collect();
    for (n, user) in users.iter().enumerate() {
        let (status, answer) = get_json(&format!("{base}/api/recommendations/{user}?k=5")).await;
        assert_eq!(status, 200, "{answer}");
        let items = common::ids(&answer);
        let id = answer["recommendationId"].clone();
        let mut events = vec![serde_json::json!({"userId": user, "type": "impression",
            "itemIds": items, "recommendationId": id})];
        if n % 2 == 0 {
            let kind = if n % 6 == 0 { "purchase" } else { "click" };
            events.push(
                serde_json::json!({"userId": user, "itemId": items[0], "type": kind,
                "recommendationId": id}),
            );
        }
        let posted = client
            .post(format!("{base}/api/events"))
            .header("x-functions-key", KEY)
            .json(&serde_json::json!({ "events": events }))
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 200);
    }

    // A title no page may take for markup, on the item every shown answer leads with.
    let hostile = "<img src=x onerror=\"document.title='pwned'\">Ünïcode & \"quotes\"";
    let top_item = {
        let (_, stats) = get_json(&format!("{base}/api/admin/stats?code={KEY}")).await;
        stats["topItems"][0]["itemId"].as_str().unwrap().to_owned()
    };
    let put = client
        .put(format!("{base}/api/items/{top_item}"))
        .header("x-functions-key", KEY)
        .json(&serde_json::json!({ "title": hostile }))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200, "{}", put.text().await.unwrap());

    // Admin routes need the key.
    let (refused, _) = get_json(&format!("{base}/api/admin/stats")).await;
    assert_eq!(refused, 401);
    let (status, stats) = get_json(&format!("{base}/api/admin/stats?code={KEY}")).await;
    assert_eq!(status, 200, "{stats}");
    let report = &stats["experiment"];
    assert_eq!(
        as_f64(&report["control"]["answers"]) + as_f64(&report["candidate"]["answers"]),
        users.len() as f64,
        "{stats}"
    );

    let url = format!("{base}/api/admin/dashboard?code={KEY}&refresh=3600");
    let dom = chromium(&url, &["--dump-dom"]);
    assert!(
        dom.contains("data-ready=\"1\""),
        "the page did not finish: {dom}"
    );
    assert!(!dom.contains("src=\"http"), "no external scripts or images");
    let shown = shown_values(&dom);

    // Every number the page shows equals the stats.
    let mut compared = 0;
    let mut expect = |name: String, want: &serde_json::Value| {
        let got = shown
            .get(&name)
            .unwrap_or_else(|| panic!("the page shows no {name}; it shows {shown:?}"));
        match want.as_f64() {
            Some(w) => {
                let g: f64 = got.parse().unwrap_or_else(|_| panic!("{name}: {got:?}"));
                assert!(
                    (g - w).abs() <= 1e-9 * w.abs().max(1.0),
                    "{name}: page {g}, stats {w}"
                );
            }
            None => assert_eq!(got, want.as_str().unwrap_or(""), "{name}"),
        }
        compared += 1;
    };
    for t in stats["totals"].as_array().unwrap() {
        let v = t["version"].as_str().unwrap();
        for k in [
            "answers",
            "impressions",
            "clicks",
            "conversions",
            "listCtr",
            "itemCtr",
            "conversionPerAnswer",
        ] {
            expect(format!("totals.{v}.{k}"), &t[k]);
        }
    }
    for arm in ["control", "candidate"] {
        for k in ["users", "answers", "impressions", "clicks", "conversions"] {
            expect(format!("experiment.{arm}.{k}"), &report[arm][k]);
        }
        for k in ["listCtr", "itemCtr", "conversionPerAnswer"] {
            expect(
                format!("experiment.{arm}.{k}"),
                &report[arm][format!("{k}Estimate")]["value"],
            );
        }
        expect(
            format!("experiment.{arm}.conversionRate"),
            &report[arm]["conversionRate"]["value"],
        );
    }
    expect(
        "experiment.listCtr.difference".into(),
        &report["listCtrDifference"]["difference"],
    );
    expect(
        "experiment.listCtr.pValue".into(),
        &report["listCtrDifference"]["pValue"],
    );
    for v in stats["versions"].as_array().unwrap() {
        let name = v["version"].as_str().unwrap();
        expect(format!("versions.{name}.users"), &v["users"]);
        expect(format!("versions.{name}.label"), &v["label"]);
    }
    // The items and the coverage: every top item's figures, each rate within 0..1.
    let top = stats["topItems"].as_array().unwrap();
    assert!(!top.is_empty() && top.len() <= 10, "{stats}");
    for it in top {
        let id = it["itemId"].as_str().unwrap();
        for k in ["share", "shown", "clicked", "itemCtr"] {
            expect(format!("topItems.{id}.{k}"), &it[k]);
        }
        assert!((0.0..=1.0).contains(&as_f64(&it["itemCtr"])), "{it}");
    }
    for k in ["share", "itemsShown", "catalogueItems"] {
        expect(format!("coverage.{k}"), &stats["coverage"][k]);
    }
    // The verdict: a winner only where the test finds one, else what is still needed.
    expect("experiment.winner".into(), &report["verdict"]["winner"]);
    assert!(
        dom.contains(&*esc_html(report["verdict"]["summary"].as_str().unwrap())),
        "the verdict is shown"
    );
    assert!(compared >= 45, "{compared} numbers compared");
    // Every rate of the stats lies between 0 and 1.
    for row in stats["hourly"]
        .as_array()
        .unwrap()
        .iter()
        .chain(stats["totals"].as_array().unwrap())
    {
        for k in ["itemCtr", "listCtr", "conversionPerAnswer"] {
            if let Some(r) = row[k].as_f64() {
                assert!((0.0..=1.0).contains(&r), "{k} {r} in {row}");
            }
        }
    }
    // The ended experiment is listed with who ended it.
    let past = between(&dom, "id=\"past-experiments\"", "</table>");
    assert!(
        past.contains(&format!("data-experiment=\"{}\"", first.id)),
        "{past}"
    );
    assert!(past.contains("stopped by Grace (test)"), "{past}");
    // The hostile title is text, escaped, never markup.
    let items = between(&dom, "id=\"top-items\"", "</table>");
    assert!(
        items.contains(
            "&lt;img src=x onerror=\"document.title='pwned'\"&gt;Ünïcode &amp; \"quotes\""
        ),
        "{items}"
    );
    assert!(!dom.contains("<img src=x"), "markup got in");
    assert!(!dom.contains("<title>pwned"), "the title script ran");
    // Every panel is there.
    for panel in [
        "id=\"experiment-panel\"",
        "id=\"items-panel\"",
        "id=\"coverage-panel\"",
        "id=\"versions\"",
        "id=\"totals\"",
        "id=\"ctr-chart\"",
    ] {
        assert!(dom.contains(panel), "no {panel}");
    }
    assert!(
        dom.contains(&format!(
            "data-stat=\"activeVersion\" data-value=\"{control}\""
        )),
        "active version shown"
    );

    // The charts are drawn: a bar per minute of the last hour, totalling the stats' events,
    // and a CTR line per version.
    let chart = between(&dom, "id=\"events-chart\"", "</svg>");
    assert_eq!(chart.matches("<rect").count(), 60);
    let events_total = common::events_per_minute_total(&stats);
    assert!(
        dom.contains(&format!("data-total=\"{events_total}\"")),
        "events chart total"
    );
    let ctr_chart = between(&dom, "id=\"ctr-chart\"", "</svg>");
    for v in [&control, &candidate] {
        assert!(
            ctr_chart.contains(&format!("data-version=\"{v}\"")),
            "a CTR line for {v}"
        );
    }
    // Request rate and latency come from /api/metrics.
    let p50 = between(&dom, "id=\"p50\">", "<");
    assert!(
        p50.ends_with("ms") || p50.ends_with("µs"),
        "p50 shown: {p50:?}"
    );

    // The screenshot, kept for people.
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    std::fs::create_dir_all(&target).unwrap();
    let png = target.join("dashboard.png");
    let _ = std::fs::remove_file(&png);
    chromium(
        &url,
        &[
            "--window-size=1280,1600",
            &format!("--screenshot={}", png.display()),
        ],
    );
    let bytes = std::fs::read(&png).expect("a screenshot");
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000,
        "{} bytes",
        bytes.len()
    );
}
