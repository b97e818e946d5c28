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
    /// Report the running experiment: per arm users, answers, impressions, attributed clicks
    /// and conversions, CTR and conversion rate with 95% intervals, and the difference between
    /// the arms with its interval and p-value (methods: docs/guide.md, "Experiments").
    Report {
        #[command(flatten)]
        store: StoreArgs,
        /// A rating at or above this counts as a click (as POSITIVE_RATING in the handler).
        #[arg(long, default_value_t = 4.0)]
        positive_rating: f64,
        /// Print JSON (the `experiment` of GET /api/admin/stats).
        #[arg(long)]
        json: bool,
    },
    /// Stop the experiment: every user is served from the active version again.
    Stop {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Promote the candidate: activate it (the normal version rules) and end the experiment.
    Promote {
        #[command(flatten)]
        store: StoreArgs,
    },
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
            positive_rating,
            json,
        } => {
            let s = store.open_writable("experiment reports (they read the event log)")?;
            let rules = topten_live::attribution::Rules {
                positive_rating,
                ..Default::default()
            };
            let report = rt
                .block_on(topten_live::online_report::running_experiment_report(
                    s.as_ref(),
                    &rules,
                ))?
                .context("no experiment is running (start one with `topten experiment start`)")?;
            if json {
                super::outln!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_report(&report)?;
            }
        }
        Action::Stop { store } => {
            let s = store.open_writable("stopping experiments")?;
            let e = rt.block_on(publish::stop_experiment_caught_up(s.as_ref()))?;
            tracing::info!(experiment = %e.id, "experiment stopped; every user is served from the active version");
            super::outln!("{}", e.id);
        }
        Action::Promote { store } => {
            let s = store.open_writable("promoting experiments")?;
            let a = rt.block_on(publish::promote_experiment_caught_up(s.as_ref()))?;
            tracing::info!(version = %a.version, "candidate promoted to the active version");
            super::outln!("{}", a.version);
        }
    }
    Ok(())
}

fn pct(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

fn with_interval(e: Option<topten_experiments::Estimate>) -> String {
    e.map_or("-".into(), |e| {
        format!("{} [{}, {}]", pct(e.value), pct(e.low), pct(e.high))
    })
}

fn print_report(r: &topten_live::online_report::ExperimentReport) -> std::io::Result<()> {
    let e = &r.experiment;
    super::outln!(
        "experiment {} since {}: candidate {} serves {:.1}% of users",
        e.id,
        e.started_at,
        e.candidate,
        e.share * 100.0
    );
    super::outln!(
        "{:<10} {:<28} {:>8} {:>9} {:>11} {:>8} {:>11}  {:<28} {:<28}",
        "arm",
        "version",
        "users",
        "answers",
        "impressions",
        "clicks",
        "conversions",
        "CTR [95%]",
        "conversion rate [95%]"
    );
    for a in [&r.control, &r.candidate] {
        super::outln!(
            "{:<10} {:<28} {:>8} {:>9} {:>11} {:>8} {:>11}  {:<28} {:<28}",
            a.arm.as_str(),
            a.version,
            a.users,
            a.answers,
            a.impressions,
            a.clicks,
            a.conversions,
            with_interval(a.ctr),
            with_interval(a.conversion_rate)
        );
    }
    let basis = match r.control.ctr_basis {
        topten_live::online_report::CtrBasis::Impressions => "clicks per impression",
        topten_live::online_report::CtrBasis::Answers => "clicks per answer",
    };
    for (name, c) in [
        (format!("CTR ({basis})"), &r.ctr_difference),
        ("conversion rate".to_owned(), &r.conversion_difference),
    ] {
        match c {
            Some(c) => super::outln!(
                "{name}: candidate - control {} [{}, {}], p = {:.4} ({})",
                pct(c.difference),
                pct(c.low),
                pct(c.high),
                c.p_value,
                c.method
            ),
            None => super::outln!("{name}: not enough data for a test yet"),
        }
    }
    Ok(())
}
