//! `topten experiment`: serve a share of users from a candidate version, and end it.

use anyhow::Context;
use topten_live::publish;

use super::store::{runtime, StoreArgs};

/// Compare a candidate version with the active one on live traffic: a stable, salted share of
/// users is served from the candidate until the experiment is stopped (everyone back on the
/// active version) or promoted (the candidate activated). One experiment runs at a time.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

/// What to do.
#[derive(clap::Subcommand, Debug)]
pub enum Action {
    /// Start serving `--share` of users from `--candidate` (a complete version).
    Start {
        #[command(flatten)]
        store: StoreArgs,
        /// The candidate version.
        #[arg(long)]
        candidate: String,
        /// The share of users served from the candidate (from 0.0001, one user in ten thousand, to 1).
        #[arg(long, default_value_t = 0.1)]
        share: f64,
    },
    /// Show the active version and the running experiment.
    Status {
        #[command(flatten)]
        store: StoreArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Report an experiment: per arm users, answers, impressions, attributed clicks and
    /// conversions, list CTR, item CTR and conversion per answer with 95% intervals, the
    /// differences between the arms with their intervals and p-values, and the verdict: a
    /// winner only when the test at --confidence finds one, else how many shown answers are
    /// needed (methods and definitions: docs/guide.md, "Experiments"). The running experiment,
    /// or an ended one with --id (its report as it ended).
    Report {
        #[command(flatten)]
        store: StoreArgs,
        /// An experiment id from `topten experiment list` (default: the running one).
        #[arg(long)]
        id: Option<String>,
        #[command(flatten)]
        verdict: VerdictArgs,
        /// A rating at or above this counts as a click (as POSITIVE_RATING in the handler).
        #[arg(long, default_value_t = 4.0)]
        positive_rating: f64,
        /// Print JSON (the `experiment` of GET /api/admin/stats).
        #[arg(long)]
        json: bool,
    },
    /// List the running experiment and the ended ones (the last 20), newest first: start and
    /// end, arms and share, how it ended and by whom, and its verdict.
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Before starting: how many shown answers each arm needs to find --lift of the active
    /// version's list CTR over the last --days, and how long that takes at --share of its
    /// traffic.
    Plan {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        verdict: VerdictArgs,
        /// The share of users the candidate would serve.
        #[arg(long, default_value_t = 0.1)]
        share: f64,
        /// Days of the active version's figures to plan from.
        #[arg(long, default_value_t = 7)]
        days: u32,
        /// A rating at or above this counts as a click (as POSITIVE_RATING in the handler).
        #[arg(long, default_value_t = 4.0)]
        positive_rating: f64,
    },
    /// Stop the experiment: every user is served from the active version again. Its final
    /// report is kept (`experiment list`, `experiment report --id`).
    Stop {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        ending: EndingArgs,
    },
    /// Promote the candidate: activate it (the normal version rules) and end the experiment.
    /// Its final report is kept.
    Promote {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        ending: EndingArgs,
    },
}

/// How the verdict is reached.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct VerdictArgs {
    /// The confidence a winner is named at (two-sided test of list CTR).
    #[arg(long, default_value_t = topten_live::online_report::DEFAULT_CONFIDENCE, value_parser = unit_interval)]
    confidence: f64,
    /// The relative lift of list CTR to plan the sample size for (0.1: 10%).
    #[arg(long, default_value_t = topten_live::online_report::DEFAULT_LIFT)]
    lift: f64,
}

/// Who ends an experiment.
#[derive(clap::Args, Debug, Clone)]
pub struct EndingArgs {
    /// Who decides, kept with the experiment's record (default: the user running this).
    #[arg(long)]
    by: Option<String>,
    /// A rating at or above this counts as a click in the final report.
    #[arg(long, default_value_t = 4.0)]
    positive_rating: f64,
}

impl EndingArgs {
    fn ending(&self, command: &str) -> topten_live::online_report::Ending {
        let who = self
            .by
            .clone()
            .unwrap_or_else(|| std::env::var("USER").unwrap_or_else(|_| "someone".into()));
        topten_live::online_report::Ending {
            decided_by: format!("{who} (topten experiment {command})"),
            rules: rules_with(self.positive_rating),
        }
    }
}

/// The attribution rules of the reports, with the command's `--positive-rating`.
fn rules_with(positive_rating: f64) -> topten_live::attribution::Rules {
    topten_live::attribution::Rules {
        positive_rating,
        ..Default::default()
    }
}

fn unit_interval(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if v > 0.0 && v < 1.0 {
        Ok(v)
    } else {
        Err("must lie strictly between 0 and 1 (0.95: 95%)".into())
    }
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = runtime()?;
    match args.action {
        Action::Start {
            store,
            candidate,
            share,
        } => {
            let s = store.open_writable("starting experiments")?;
            let a = rt
                .block_on(publish::start_experiment_caught_up(
                    s.as_ref(),
                    &candidate,
                    share,
                ))
                .with_context(|| format!("cannot start an experiment with {candidate}"))?;
            let e = a.experiment.expect("started");
            tracing::info!(experiment = %e.id, control = %a.version, candidate = %e.candidate, share = e.share, "experiment started");
            super::outln!("{}", e.id);
        }
        Action::Status { store, json } => {
            let handle = store.open()?;
            let active = rt.block_on(handle.reader().active())?;
            if json {
                super::outln!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({"active": active}))?
                );
                return Ok(());
            }
            match active {
                None => super::outln!("no active version"),
                Some(a) => match &a.experiment {
                    None => super::outln!("active {}; no experiment running", a.version),
                    Some(e) => super::outln!(
                        "experiment {} since {}: control {} ({:.1}% of users), candidate {} ({:.1}%)",
                        e.id,
                        e.started_at,
                        a.version,
                        (1.0 - e.share) * 100.0,
                        e.candidate,
                        e.share * 100.0
                    ),
                },
            }
        }
        Action::Report {
            store,
            id,
            verdict,
            positive_rating,
            json,
        } => {
            let s = store.open_writable("experiment reports (they read the event log)")?;
            let rules = rules_with(positive_rating);
            let report = rt.block_on(report_of(s.as_ref(), id.as_deref(), &rules, verdict))?;
            if json {
                super::outln!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_report(&report)?;
            }
        }
        Action::List { store, json } => {
            let handle = store.open()?;
            let active = rt.block_on(handle.reader().active())?;
            print_list(active.as_ref(), json)?;
        }
        Action::Plan {
            store,
            verdict,
            share,
            days,
            positive_rating,
        } => {
            let s = store.open_writable("experiment plans (they read the event log)")?;
            let rules = rules_with(positive_rating);
            rt.block_on(print_plan(s.as_ref(), &rules, verdict, share, days))?;
        }
        Action::Stop { store, ending } => {
            let s = store.open_writable("stopping experiments")?;
            let e = rt.block_on(publish::stop_experiment_caught_up(
                s.as_ref(),
                &ending.ending("stop"),
            ))?;
            tracing::info!(experiment = %e.id, "experiment stopped; every user is served from the active version");
            super::outln!("{}", e.id);
        }
        Action::Promote { store, ending } => {
            let s = store.open_writable("promoting experiments")?;
            let a = rt.block_on(publish::promote_experiment_caught_up(
                s.as_ref(),
                &ending.ending("promote"),
            ))?;
            tracing::info!(version = %a.version, "candidate promoted to the active version");
            super::outln!("{}", a.version);
        }
    }
    Ok(())
}

fn pct(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

/// The report of experiment `id` as JSON: the running one (computed now, with the verdict at
/// the given confidence and lift), or an ended one as it ended.
async fn report_of(
    store: &dyn topten_store::Store,
    id: Option<&str>,
    rules: &topten_live::attribution::Rules,
    v: VerdictArgs,
) -> anyhow::Result<serde_json::Value> {
    use topten_live::online_report::{running_experiment_report, verdict};
    let running = running_experiment_report(store, rules).await?;
    if let Some(mut r) = running.filter(|r| id.is_none_or(|id| r.experiment.id == id)) {
        r.verdict = verdict(&r, v.confidence, v.lift);
        return Ok(serde_json::to_value(&r)?);
    }
    let Some(id) = id else {
        anyhow::bail!(
            "no experiment is running; `topten experiment list` shows the ended ones, and \
             `topten experiment report --id ID` reports one"
        );
    };
    let active = store.active().await?;
    let past = active
        .iter()
        .flat_map(|a| &a.past_experiments)
        .find(|p| p.experiment.id == id)
        .with_context(|| format!("no experiment {id:?} (see `topten experiment list`)"))?;
    let mut report = past.report.clone();
    report["ended"] = serde_json::json!({"at": past.ended_at, "decision": past.decision,
        "decidedBy": past.decided_by, "control": past.control});
    Ok(report)
}

fn print_list(active: Option<&topten_store::ActiveVersion>, json: bool) -> anyhow::Result<()> {
    let Some(a) = active else {
        super::outln!("no active version");
        return Ok(());
    };
    if json {
        super::outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "running": a.experiment, "control": a.version, "past": a.past_experiments}))?
        );
        return Ok(());
    }
    if let Some(e) = &a.experiment {
        super::outln!(
            "{}  running since {}: control {}, candidate {} ({:.1}% of users)",
            e.id,
            e.started_at,
            a.version,
            e.candidate,
            e.share * 100.0
        );
    }
    for p in &a.past_experiments {
        super::outln!(
            "{}  {} to {}: control {}, candidate {} ({:.1}%); {} by {}; {}",
            p.experiment.id,
            p.experiment.started_at,
            p.ended_at,
            p.control,
            p.experiment.candidate,
            p.experiment.share * 100.0,
            p.decision,
            p.decided_by,
            p.report["verdict"]["summary"]
                .as_str()
                .unwrap_or("no verdict")
        );
    }
    if a.experiment.is_none() && a.past_experiments.is_empty() {
        super::outln!("no experiments yet");
    }
    Ok(())
}

async fn print_plan(
    store: &dyn topten_store::Store,
    rules: &topten_live::attribution::Rules,
    v: VerdictArgs,
    share: f64,
    days: u32,
) -> anyhow::Result<()> {
    let active = store
        .active()
        .await?
        .context("no active version to plan an experiment against")?;
    let to_ms = topten_model::clock::now_ms();
    let from_ms = to_ms - i64::from(days) * 86_400_000;
    let events = store.events_since(from_ms).await?;
    let counts = store.answer_counts().await?;
    let totals = topten_live::online_report::totals(&events, &counts, from_ms, rules);
    let Some(t) = totals.iter().find(|t| t.version == active.version) else {
        super::outln!(
            "{} served no answers in the last {days} days: nothing to plan from yet",
            active.version
        );
        return Ok(());
    };
    let Some(baseline) = t.figures.rates.list_ctr.filter(|b| *b > 0.0) else {
        super::outln!(
            "{}: no clicked answers in the last {days} days; list CTR is unknown, so no sample \
             size can be planned yet",
            active.version
        );
        return Ok(());
    };
    let needed = topten_experiments::answers_needed(
        baseline,
        v.lift,
        v.confidence,
        topten_live::online_report::PLANNED_POWER,
    )
    .context("--lift takes list CTR past 100%: choose a smaller lift")?;
    // The pace of the time the figures span (a version served for an hour is not a week's
    // traffic); the smaller arm sets it.
    let first_ms = counts
        .iter()
        .flat_map(|c| &c.rows)
        .filter(|r| r.version == active.version && r.hour_ms >= from_ms - 3_600_000)
        .map(|r| r.hour_ms)
        .min()
        .unwrap_or(from_ms)
        .max(from_ms);
    let span_days = ((to_ms - first_ms) as f64 / 86_400_000.0).max(1.0 / 24.0);
    let per_day = t.figures.rates.answers_shown as f64 / span_days;
    let arm_share = share.min(1.0 - share).max(f64::EPSILON);
    super::outln!(
        "{}: list CTR {} over {} shown answers ({}) in the last {:.1} days",
        active.version,
        pct(baseline),
        t.figures.rates.answers_shown,
        basis_name(t.figures.rates.rate_basis),
        span_days
    );
    super::outln!(
        "to find a {:.0}% lift at {:.0}% confidence with {:.0}% power: {needed} shown answers per arm",
        v.lift * 100.0,
        v.confidence * 100.0,
        topten_live::online_report::PLANNED_POWER * 100.0
    );
    if per_day > 0.0 {
        super::outln!(
            "at --share {share}: about {:.1} days ({:.0} shown answers a day, {:.0}% of them in the smaller arm)",
            needed as f64 / (per_day * arm_share),
            per_day,
            arm_share * 100.0
        );
    }
    Ok(())
}

fn basis_name(b: topten_live::online_report::CtrBasis) -> &'static str {
    match b {
        topten_live::online_report::CtrBasis::Impressions => "answers with impressions",
        topten_live::online_report::CtrBasis::Answers => "answers served: no impressions reported",
    }
}

/// An estimate from the report's JSON as "v% [low%, high%]".
fn with_interval(e: &serde_json::Value) -> String {
    match (e["value"].as_f64(), e["low"].as_f64(), e["high"].as_f64()) {
        (Some(v), Some(l), Some(h)) => format!("{} [{}, {}]", pct(v), pct(l), pct(h)),
        _ => "-".into(),
    }
}

fn print_report(r: &serde_json::Value) -> std::io::Result<()> {
    let e = &r["experiment"];
    super::outln!(
        "experiment {} since {}: candidate {} serves {:.1}% of users",
        e["id"].as_str().unwrap_or("?"),
        e["startedAt"].as_str().unwrap_or("?"),
        e["candidate"].as_str().unwrap_or("?"),
        e["share"].as_f64().unwrap_or(0.0) * 100.0
    );
    if let Some(end) = r.get("ended") {
        super::outln!(
            "ended {} at {}, by {}",
            end["decision"].as_str().unwrap_or("?"),
            end["at"].as_str().unwrap_or("?"),
            end["decidedBy"].as_str().unwrap_or("?")
        );
    }
    let basis = r["control"]["rateBasis"].as_str().unwrap_or("answers");
    super::outln!(
        "{:<10} {:<28} {:>7} {:>8} {:>11} {:>7} {:>11}  {:<26} {:<26} {:<26} {:<26}",
        "arm",
        "version",
        "users",
        "answers",
        "impressions",
        "clicks",
        "conversions",
        "list CTR [95%]",
        "item CTR [95%]",
        "conversion/answer [95%]",
        "users converted [95%]"
    );
    for arm in ["control", "candidate"] {
        let a = &r[arm];
        let n = |k: &str| a[k].as_u64().unwrap_or(0);
        super::outln!(
            "{:<10} {:<28} {:>7} {:>8} {:>11} {:>7} {:>11}  {:<26} {:<26} {:<26} {:<26}",
            arm,
            a["version"].as_str().unwrap_or("?"),
            n("users"),
            n("answers"),
            n("impressions"),
            n("clicks"),
            n("conversions"),
            with_interval(&a["listCtrEstimate"]),
            with_interval(&a["itemCtrEstimate"]),
            with_interval(&a["conversionPerAnswerEstimate"]),
            with_interval(&a["conversionRate"])
        );
    }
    super::outln!(
        "rates per shown answer: {}",
        if basis == "impressions" {
            "answers the caller reported showing (impressions)"
        } else {
            "answers served (no impressions reported; item CTR needs them)"
        }
    );
    for (name, key) in [
        ("list CTR", "listCtrDifference"),
        ("item CTR", "itemCtrDifference"),
        ("conversion per answer", "conversionPerAnswerDifference"),
        ("users converted", "conversionDifference"),
    ] {
        let c = &r[key];
        match (
            c["difference"].as_f64(),
            c["low"].as_f64(),
            c["high"].as_f64(),
        ) {
            (Some(d), Some(l), Some(h)) => super::outln!(
                "{name}: candidate - control {} [{}, {}], p = {:.4} ({})",
                pct(d),
                pct(l),
                pct(h),
                c["pValue"].as_f64().unwrap_or(1.0),
                c["method"].as_str().unwrap_or("")
            ),
            _ => super::outln!("{name}: not enough data for a test yet"),
        }
    }
    super::outln!(
        "verdict: {}",
        r["verdict"]["summary"].as_str().unwrap_or("none")
    );
    Ok(())
}
