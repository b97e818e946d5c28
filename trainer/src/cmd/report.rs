//! `topten report`: a self-contained HTML page (PNG plots embedded as base64, also written
//! beside it) showing what a model does: training loss, metrics at k = 1..20, tuning trials,
//! catalogue coverage and popularity bias of the top-10.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine as _;
use topten_azure::blob::Location;
use topten_model::interactions::Ratings;
use topten_model::model::Model;
use topten_model::report;
use topten_model::split::{self, SplitParams};

use super::InputArgs;
use crate::plot::{Chart, Series, Style, PALETTE};

/// Write an HTML report with PNG plots for a model directory.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model directory (from train or tune).
    #[arg(long)]
    pub model: PathBuf,
    /// Test file for the metrics at k [default: the test side of the split recorded in
    /// model.json, re-made from its source file when that file is readable].
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// Ratings file to re-split with the recorded split (when the recorded source moved).
    #[arg(long, conflicts_with = "test")]
    pub ratings: Option<PathBuf>,
    #[command(flatten)]
    pub input: InputArgs,
    /// Length of the lists for coverage and popularity bias.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Largest cut-off of the metrics-at-k plot.
    #[arg(long, default_value_t = 20)]
    pub max_k: usize,
    /// Output directory [default: MODEL/report].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    let model = Model::load(&args.model)
        .with_context(|| format!("cannot load the model {}", args.model.display()))?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.model.join("report"));
    topten_model::output_dir::create(&out, &topten_model::output_dir::REPORT_DIR)?;
    let (test, train_side, mut test_note) = test_set(&args, &model)?;
    // A model refitted on every row saw the holdout: its holdout figures come from the same
    // parameters fitted without it, which is re-made here (the fit is seeded, so it is the one
    // metrics.json describes when the split is re-made from its source; from a --test file, the
    // training side is the model's seen rows outside it).
    let holdout_fit = match (&test, refitted(&model)) {
        (Some(test), true) => {
            let spin =
                crate::progress::spinner("fitting the model's parameters without the holdout");
            let fit = match &train_side {
                Some(train) => topten_model::pipeline::train(
                    train,
                    &model.meta.params,
                    model.meta.source.clone(),
                    &mut |_| {},
                )?,
                None => fit_without(&model, test)?,
            };
            spin.finish_and_clear();
            test_note += &format!(
                " (scored on the same parameters fitted on the {} interactions outside it: the published factors were refitted on every row, the holdout included)",
                fit.meta.interactions
            );
            Some(fit)
        }
        _ => None,
    };
    // The figures read the tuning record in its JSON form (`tuning.json`).
    let tuning = model
        .tuning
        .as_ref()
        .map(serde_json::to_value)
        .transpose()?;
    let input = ReportInput {
        model: &model,
        evaluated: holdout_fit.as_ref().unwrap_or(&model),
        test: test.as_ref(),
        test_note: &test_note,
        tuning: tuning.as_ref(),
        k: args.k,
        max_k: args.max_k,
    };
    let written = write_report(&input, &out)?;
    tracing::info!(out = %out.display(), figures = written, "report written");
    super::outln!("{}", out.join("report.html").display());
    Ok(())
}

/// The test set, the training side of the recorded split when it was re-made, and how the
/// test set was found.
type TestSet = (Option<Ratings>, Option<Ratings>, String);

fn test_set(args: &Args, model: &Model) -> anyhow::Result<TestSet> {
    if let Some(path) = &args.test {
        return Ok((
            Some(args.input.read(&Location::from(path.as_path()))?),
            None,
            format!("test file {}", path.display()),
        ));
    }
    let recorded: Option<SplitParams> = model
        .meta
        .split
        .clone()
        .and_then(|v| serde_json::from_value(v).ok());
    let Some(split_params) = recorded else {
        return Ok((
            None,
            None,
            "no test set: the model records no split; pass --test FILE".into(),
        ));
    };
    let source = match (&args.ratings, &model.meta.source) {
        (Some(r), _) => r.clone(),
        (None, Some(s)) if Path::new(s).is_file() => PathBuf::from(s),
        _ => {
            return Ok((
                None,
                None,
                "no test set: the recorded source is not readable; pass --ratings or --test".into(),
            ))
        }
    };
    let all = args.input.read(&Location::from(source.as_path()))?;
    let parts = split::split(&all, &split_params)?;
    let train = all.subset(&parts.train);
    // The re-made split must be the one the model was trained on (a refitted model records
    // the training side's size with its holdout figures).
    let expected = model
        .meta
        .metrics
        .as_ref()
        .and_then(|m| m.pointer("/holdout/trainInteractions"))
        .and_then(|v| v.as_u64())
        .map_or(model.meta.interactions, |n| n as usize);
    if train.records.len() != expected {
        anyhow::bail!(
            "re-splitting {} gives {} training rows, the model's holdout fit had {}: not the model's data (pass --test)",
            source.display(),
            train.records.len(),
            expected
        );
    }
    Ok((
        Some(all.subset(&parts.test)),
        Some(train),
        format!(
            "test side of the recorded split of {} ({})",
            source.display(),
            split_params
        ),
    ))
}

/// Whether `model`'s factors were refitted on every row after its holdout evaluation.
fn refitted(model: &Model) -> bool {
    model
        .meta
        .metrics
        .as_ref()
        .and_then(|m| m.pointer("/holdout/refitted"))
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

/// `model`'s parameters fitted on its seen interactions outside `test`: the holdout fit of a
/// model refitted on every row.
fn fit_without(model: &Model, test: &Ratings) -> anyhow::Result<Model> {
    let held: rustc_hash::FxHashSet<(&str, &str)> = test
        .records
        .iter()
        .map(|r| (test.users.id(r.user), test.items.id(r.item)))
        .collect();
    let mut train = Ratings::default();
    for u in 0..model.seen.nrows() {
        let user = model.users.id(u as u32);
        let (cols, vals) = model.seen.row(u);
        for (&i, &v) in cols.iter().zip(vals) {
            let item = model.items.id(i);
            if held.contains(&(user, item)) {
                continue;
            }
            let user = train.users.intern(user);
            let item = train.items.intern(item);
            train.records.push(topten_model::interactions::Interaction {
                user,
                item,
                rating: v as f64,
                timestamp: 0,
            });
        }
    }
    Ok(topten_model::pipeline::train(
        &train,
        &model.meta.params,
        model.meta.source.clone(),
        &mut |_| {},
    )?)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// What a report is made of.
pub struct ReportInput<'a> {
    /// The model written (refitted on all rows when the split was re-made).
    pub model: &'a Model,
    /// The model the test figures describe (the holdout fit, or `model`).
    pub evaluated: &'a Model,
    /// The test rows, if any.
    pub test: Option<&'a Ratings>,
    /// What the test set is, in words.
    pub test_note: &'a str,
    /// The tuning record (`tuning.json`), when the model was tuned.
    pub tuning: Option<&'a serde_json::Value>,
    /// The cut-off of the list figures.
    pub k: usize,
    /// The largest k of the metrics-at-k figure.
    pub max_k: usize,
}

/// A figure: its file name, caption and chart.
type Figure = (&'static str, String, Chart);

/// Renders every figure, writes the PNGs, `report.json` and `report.html` into `out`; returns
/// the number of figures.
pub fn write_report(input: &ReportInput<'_>, out: &Path) -> anyhow::Result<usize> {
    let k = input.k;
    let at_k = input
        .test
        .map(|t| report::metrics_at_k(input.evaluated, t, input.max_k.max(1)));
    let cov = report::coverage(input.model, k);
    let figures: Vec<Figure> = [
        input.loss_figure(),
        at_k.as_deref().map(|at| input.metrics_figure(at)),
        input.trials_figure(),
        input.dial_figure(),
        Some(popularity_figure(&cov, k)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut html = input.html_model();
    input.html_test_metrics(&mut html, at_k.as_deref());
    input.html_beyond(&mut html);
    input.html_dial(&mut html);
    input.html_tuning(&mut html);
    html_coverage(&mut html, &cov, k);
    html += "<h2>Figures</h2>\n";
    for (file, caption, chart) in &figures {
        let png = chart.png();
        std::fs::write(out.join(file), &png)
            .with_context(|| format!("cannot write {}", out.join(file).display()))?;
        let _ = writeln!(
            html,
            "<figure id=\"{}\"><img alt=\"{}\" src=\"data:image/png;base64,{}\"><figcaption>{} (<code>{}</code>)</figcaption></figure>",
            file.trim_end_matches(".png"),
            esc(&chart.title),
            base64::engine::general_purpose::STANDARD.encode(&png),
            esc(caption),
            file
        );
    }
    let summary = serde_json::json!({
        "coverage": cov,
        "metricsAtK": at_k,
        "figures": figures.iter().map(|f| f.0).collect::<Vec<_>>(),
    });
    let _ = write!(
        html,
        "<h2>Data</h2><pre>{}</pre>\n</body></html>\n",
        esc(&serde_json::to_string_pretty(&summary)?)
    );
    std::fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(&summary)? + "\n",
    )?;
    std::fs::write(out.join("report.html"), html)
        .with_context(|| format!("cannot write {}", out.join("report.html").display()))?;
    Ok(figures.len())
}

impl ReportInput<'_> {
    /// The training loss after each iteration.
    fn loss_figure(&self) -> Option<Figure> {
        let model = self.model;
        if model.meta.history.is_empty() {
            return None;
        }
        Some((
            "loss.png",
            "Training loss after each iteration (implicit: weighted squared error per unit of confidence; explicit: per rating).".into(),
        Chart {
            title: "Training loss per iteration".into(),
            x_label: "iteration".into(),
            y_label: "loss".into(),
            series: vec![Series {
                name: "loss".into(),
                points: model.meta.history.iter().map(|h| (h.iteration as f64, h.loss)).collect(),
                color: PALETTE[0],
                style: Style::Line,
            }],
            y_from_zero: false,
        },
        ))
    }

    /// Ranking metrics on the test set for every cut-off k.
    fn metrics_figure(&self, at: &[topten_model::metrics::RankingMetrics]) -> Figure {
        let test_note = self.test_note;
        let line =
            |name: &str, c: usize, f: &dyn Fn(&topten_model::metrics::RankingMetrics) -> f64| {
                Series {
                    name: name.into(),
                    points: at.iter().map(|m| (m.k as f64, f(m))).collect(),
                    color: PALETTE[c],
                    style: Style::Line,
                }
            };
        (
            "metrics_at_k.png",
            format!("Ranking metrics on the {test_note} for every cut-off k."),
            Chart {
                title: "Test metrics at k".into(),
                x_label: "k".into(),
                y_label: "metric".into(),
                series: vec![
                    line("precision@k", 0, &|m| m.precision_at_k),
                    line("recall@k", 1, &|m| m.recall_at_k),
                    line("NDCG@k", 2, &|m| m.ndcg_at_k),
                    line("MAP@k", 3, &|m| m.map_at_k),
                ],
                y_from_zero: true,
            },
        )
    }

    /// Every tuning trial's validation score, by successive-halving rung.
    fn trials_figure(&self) -> Option<Figure> {
        let tuning = self.tuning;
        let trials: &[serde_json::Value] = tuning
            .and_then(|t| t["trials"].as_array())
            .map_or(&[], Vec::as_slice);
        if trials.is_empty() {
            return None;
        }
        let max_rung = trials
            .iter()
            .filter_map(|t| t["rung"].as_u64())
            .max()
            .unwrap_or(0);
        let mut series: Vec<Series> = (0..=max_rung)
            .map(|r| {
                let its = trials
                    .iter()
                    .find(|t| t["rung"].as_u64() == Some(r))
                    .and_then(|t| t["params"]["iterations"].as_u64());
                Series {
                    name: format!("rung {r} ({} it.)", its.unwrap_or(0)),
                    points: trials
                        .iter()
                        .enumerate()
                        .filter(|(_, t)| t["rung"].as_u64() == Some(r))
                        .map(|(i, t)| ((i + 1) as f64, t["score"].as_f64().unwrap_or(0.0)))
                        .collect(),
                    color: PALETTE[r as usize % PALETTE.len()],
                    style: Style::Points,
                }
            })
            .collect();
        let best_score = trials
            .iter()
            .filter_map(|t| t["score"].as_f64())
            .fold(f64::NEG_INFINITY, f64::max);
        let running: Vec<(f64, f64)> = trials
            .iter()
            .enumerate()
            .scan(f64::NEG_INFINITY, |b, (i, t)| {
                *b = b.max(t["score"].as_f64().unwrap_or(0.0));
                Some(((i + 1) as f64, *b))
            })
            .collect();
        series.push(Series {
            name: "best so far".into(),
            points: running,
            color: [60, 60, 60],
            style: Style::Line,
        });
        let metric = tuning
            .and_then(|t| t["summary"]["metric"].as_str())
            .unwrap_or("score")
            .to_string();
        Some((
        "trials.png",
        format!(
            "Validation {metric} of every tuning trial in the order they ran (colour: successive-halving rung); best {best_score:.4}. The test set played no part."
        ),
        Chart {
            title: "Tuning trials (validation)".into(),
            x_label: "trial".into(),
            y_label: metric,
            series,
            y_from_zero: false,
        },
        ))
    }

    /// The chosen configuration across the popularity dial (validation), from `topten tune`.
    fn dial_figure(&self) -> Option<Figure> {
        let dial = self.dial();
        if dial.is_empty() {
            return None;
        }
        let point = |d: &serde_json::Value, name: &str| -> (f64, f64) {
            (
                d["beyond"]["catalog_coverage"].as_f64().unwrap_or(0.0),
                d["validation"][name].as_f64().unwrap_or(0.0),
            )
        };
        let steps: Vec<String> = dial
            .iter()
            .map(|d| format!("{}", d["popularity_penalty"].as_f64().unwrap_or(0.0) as f32))
            .collect();
        Some((
        "dial.png",
        format!(
            "Accuracy against catalogue coverage across the popularity dial β ({}), for the chosen configuration on the validation split: each step right buys coverage, each step down costs accuracy. Publish a point with `topten publish --popularity-penalty β`.",
            steps.join(", ")
        ),
        Chart {
            title: "Accuracy-coverage curve across the popularity dial (validation)".into(),
            x_label: "catalog coverage".into(),
            y_label: "accuracy at k".into(),
            series: vec![
                Series {
                    name: "NDCG@k".into(),
                    points: dial.iter().map(|d| point(d, "ndcg_at_k")).collect(),
                    color: PALETTE[2],
                    style: Style::Line,
                },
                Series {
                    name: "precision@k".into(),
                    points: dial.iter().map(|d| point(d, "precision_at_k")).collect(),
                    color: PALETTE[0],
                    style: Style::Line,
                },
            ],
            y_from_zero: true,
        },
        ))
    }

    /// The dial steps of the tuning record.
    fn dial(&self) -> &[serde_json::Value] {
        self.tuning
            .and_then(|t| t["dial"].as_array())
            .map_or(&[], Vec::as_slice)
    }

    /// The page's head and the model's parameters.
    fn html_model(&self) -> String {
        let (model, p) = (self.model, &self.model.meta.params);
        let mut html = String::new();
        let title = format!(
            "topten model report: {}",
            model.meta.source.as_deref().unwrap_or("model")
        );
        let _ = write!(
            html,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>body{{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222}}table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}th{{background:#f4f4f4}}td:first-child,th:first-child{{text-align:left}}img{{max-width:100%;border:1px solid #ddd}}figcaption{{color:#555;margin-bottom:2em}}</style></head><body>\n<h1>{}</h1>\n",
            esc(&title),
            esc(&title)
        );
        let _ = writeln!(
            html,
            "<h2>Model</h2><table><tr><th>what</th><th>value</th></tr>\
        <tr><td>family</td><td>{:?}</td></tr><tr><td>factors</td><td>{}</td></tr><tr><td>regularization</td><td>{}</td></tr>\
        <tr><td>alpha</td><td>{}</td></tr><tr><td>confidence</td><td>{:?}</td></tr><tr><td>iterations</td><td>{}</td></tr>\
        <tr><td>popularity penalty β</td><td>{}</td></tr><tr><td>users × items</td><td>{} × {}</td></tr><tr><td>training interactions</td><td>{}</td></tr>\
        <tr><td>training seconds</td><td>{:.3}</td></tr><tr><td>created</td><td>{}</td></tr></table>",
            p.feedback,
            p.factors,
            p.regularization,
            p.alpha,
            p.confidence,
            p.iterations,
            p.popularity_penalty,
            model.meta.users,
            model.meta.items,
            model.meta.interactions,
            model.meta.training_seconds,
            esc(&model.meta.created_at)
        );
        html
    }

    /// The test metrics at a few cut-offs.
    fn html_test_metrics(
        &self,
        html: &mut String,
        at_k: Option<&[topten_model::metrics::RankingMetrics]>,
    ) {
        let test_note = self.test_note;
        if let Some(at) = at_k {
            let _ = write!(*html, "<h2>Test metrics</h2><p>{}</p><table><tr><th>k</th><th>precision@k</th><th>recall@k</th><th>NDCG@k</th><th>MAP@k</th></tr>", esc(test_note));
            for m in at
                .iter()
                .filter(|m| [1, 5, 10, 20].contains(&m.k) || m.k == at.len())
            {
                let _ = write!(
                    *html,
                    "<tr><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td></tr>",
                    m.k, m.precision_at_k, m.recall_at_k, m.ndcg_at_k, m.map_at_k
                );
            }
            *html += "</table>\n";
        } else {
            let _ = writeln!(*html, "<h2>Test metrics</h2><p>{}</p>", esc(test_note));
        }
    }

    /// The beyond-accuracy figures of the test users.
    fn html_beyond(&self, html: &mut String) {
        let (k, evaluated) = (self.k, self.evaluated);
        if let Some(test) = self.test {
            let b = topten_model::pipeline::evaluate(evaluated, test, k)
                .beyond
                .unwrap_or_default();
            let _ = writeln!(
                *html,
                "<h2>Beyond accuracy (top {k}, test users)</h2><p>Microsoft Recommenders' definitions; diversity and serendipity use {}.</p><table><tr><th>figure</th><th>value</th></tr>\
        <tr><td>catalog coverage</td><td>{:.4}</td></tr><tr><td>distributional coverage (bits)</td><td>{:.4}</td></tr>\
        <tr><td>novelty (bits)</td><td>{:.4}</td></tr><tr><td>diversity</td><td>{:.4}</td></tr><tr><td>serendipity</td><td>{:.4}</td></tr></table>",
                match b.item_similarity {
                    topten_model::beyond_accuracy::SimilarityMeasure::ItemCooccurrenceCount => "item co-occurrence in the training data",
                    topten_model::beyond_accuracy::SimilarityMeasure::ItemFeatureVector => "the catalogue's categories",
                },
                b.catalog_coverage,
                b.distributional_coverage,
                b.novelty,
                b.diversity,
                b.serendipity
            );
        }
    }

    /// The popularity dial's table.
    fn html_dial(&self, html: &mut String) {
        let dial = self.dial();
        let p = &self.model.meta.params;
        if !dial.is_empty() {
            let _ = write!(*html, "<h2>The popularity dial (validation)</h2><p>The chosen configuration (β = {}) across the dial. Served coverage is that of every user's lists from the same configuration refitted on all training rows, the figure a coverage bound is checked on.</p><table><tr><th>β</th><th>NDCG@k</th><th>precision@k</th><th>catalog coverage</th><th>served coverage</th><th>novelty</th><th>diversity</th></tr>", p.popularity_penalty);
            for d in dial {
                // Coverage of every user's lists from the refit on all training rows, which
                // bounds are checked on (absent when the search had no list bound).
                let served = d["served"]["catalog_coverage"]
                    .as_f64()
                    .map_or("–".to_string(), |c| format!("{c:.4}"));
                let _ = write!(
                    *html,
                    "<tr><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{served}</td><td>{:.3}</td><td>{:.4}</td></tr>",
                    d["popularity_penalty"].as_f64().unwrap_or(0.0) as f32,
                    d["validation"]["ndcg_at_k"].as_f64().unwrap_or(0.0),
                    d["validation"]["precision_at_k"].as_f64().unwrap_or(0.0),
                    d["beyond"]["catalog_coverage"].as_f64().unwrap_or(0.0),
                    d["beyond"]["novelty"].as_f64().unwrap_or(0.0),
                    d["beyond"]["diversity"].as_f64().unwrap_or(0.0),
                );
            }
            *html += "</table>\n";
        }
    }

    /// The tuning summary.
    fn html_tuning(&self, html: &mut String) {
        if let Some(t) = self.tuning {
            let s = &t["summary"];
            let _ = writeln!(
                *html,
                "<h2>Tuning</h2><p>{} trials in {:.1} s, maximising validation {} (holdout: {} share {} of each user's training interactions; {} users). Best validation score {:.4} against {:.4} for the defaults.</p>",
                t["trials"].as_array().map_or(0, |a| a.len()),
                s["seconds"].as_f64().unwrap_or(0.0),
                esc(s["metric"].as_str().unwrap_or("?")),
                esc(s["validation"]["holdout"].as_str().unwrap_or("?")),
                s["validation"]["share"],
                s["validation"]["users"],
                s["bestScore"].as_f64().unwrap_or(0.0),
                s["defaultsScore"].as_f64().unwrap_or(0.0),
            );
        }
    }
}

/// Where top-k recommendations and training interactions fall by item popularity.
fn popularity_figure(cov: &report::Coverage, k: usize) -> Figure {
    (
        "popularity.png",
        format!(
            "Share of all top-{k} recommendations, and of training interactions, per popularity decile of items (decile 1: the 10% most popular). A recommender that only pushes blockbusters puts nearly everything in decile 1."
        ),
        Chart {
            title: format!("Popularity of recommended items (top {k})"),
            x_label: "item popularity decile (1 = most popular)".into(),
            y_label: "share".into(),
            series: vec![
                Series {
                    name: "recommendations".into(),
                    points: cov.recommendations_by_decile.iter().enumerate().map(|(d, &v)| ((d + 1) as f64, v)).collect(),
                    color: PALETTE[1],
                    style: Style::Bars,
                },
                Series {
                    name: "training interactions".into(),
                    points: cov.interactions_by_decile.iter().enumerate().map(|(d, &v)| ((d + 1) as f64, v)).collect(),
                    color: PALETTE[5],
                    style: Style::Bars,
                },
            ],
            y_from_zero: true,
        },
    )
}

/// The catalogue coverage and popularity-bias table.
fn html_coverage(html: &mut String, cov: &report::Coverage, k: usize) {
    let _ = writeln!(
        *html,
        "<h2>Catalogue coverage and popularity bias (top {k})</h2><table><tr><th>measure</th><th>value</th></tr>\
<tr><td>catalogue coverage (items recommended to anyone)</td><td>{:.1}% ({} of {})</td></tr>\
<tr><td>share of recommendations going to the top 1% of items ({} items)</td><td>{:.1}%</td></tr>\
<tr><td>share of training interactions on those items</td><td>{:.1}%</td></tr>\
<tr><td>Gini of recommendation counts over items</td><td>{:.3}</td></tr></table>",
        100.0 * cov.catalogue_coverage,
        cov.recommended_items,
        cov.catalogue,
        cov.top1pct_items,
        100.0 * cov.top1pct_share_of_recommendations,
        100.0 * cov.top1pct_share_of_interactions,
        cov.gini
    );
}
