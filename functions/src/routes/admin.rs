//! `GET /api/admin/stats` and `GET /api/admin/dashboard`: how topten does online.
//!
//! The stats are sums over what is stored (events with their attribution, every instance's
//! answer counts; `topten_live::online_report`), so every instance gives the same figures.
//! They cost a scan of the window's events (`hours`, at most a week), which is why they are
//! an admin route and never on a serving path. This instance saves its own answer counts
//! first, so its latest answers are in.
//!
//! The dashboard is one self-contained page (`dashboard.html`: inline script and styles, no
//! external scripts or fonts) that reads the stats and `/api/metrics` with the key it was
//! opened with, and refreshes itself.

use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use topten_live::online_report::{self, ExperimentReport, HourFigures, VersionTotals};
use topten_store::quality::{HoldoutFigure, HoldoutLabels};
use topten_store::{VersionInfo, VersionStatus};

use crate::error::ApiError;
use crate::state::AppState;

/// Largest `hours` the stats accept: a week of events.
pub const MAX_HOURS: i64 = 24 * 7;

/// Minutes of `eventsPerMinute`.
const EVENT_MINUTES: i64 = 60;

/// A version as the dashboard lists it.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct VersionSummary {
    version: String,
    status: VersionStatus,
    created_at: String,
    users: usize,
    /// The offline metrics the model was published with.
    metrics: serde_json::Value,
    /// The quality-gate decision that published it (retrains only).
    quality: Option<serde_json::Value>,
    /// The headline holdout figure and what it was measured on.
    holdout: HoldoutSummary,
    /// The model's parameters in a few words ("implicit, 64 factors, λ 0.1").
    label: String,
}

/// A model summary's parameters in a few words, for people: "implicit, 64 factors, λ 0.1, α
/// 40, 15 iterations", or where the model came from when it has no parameters (a Spark run).
fn version_label(model: &serde_json::Value) -> String {
    let p = &model["params"];
    let Some(factors) = p["factors"].as_u64() else {
        return model["source"]
            .as_str()
            .or_else(|| model["kind"].as_str())
            .unwrap_or("parameters not recorded")
            .to_owned();
    };
    let feedback = p["feedback"].as_str().unwrap_or("als").to_lowercase();
    let mut label = format!("{feedback}, {factors} factors");
    if let Some(l) = p["regularization"].as_f64() {
        label.push_str(&format!(", λ {}", trim_float(l)));
    }
    if feedback == "implicit" {
        if let Some(a) = p["alpha"].as_f64() {
            label.push_str(&format!(", α {}", trim_float(a)));
        }
    }
    if let Some(i) = p["iterations"].as_u64() {
        label.push_str(&format!(", {i} iterations"));
    }
    label
}

/// `x` with at most four significant decimals and no trailing zeros (0.1, 40, 0.0125).
fn trim_float(x: f64) -> String {
    let s = format!("{:.4}", x);
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A version's holdout figure with the label of its holdout among the listed versions.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct HoldoutSummary {
    #[serde(flatten)]
    figure: HoldoutFigure,
    /// The holdout's letter among the listed versions (`?`: not recorded).
    label: String,
    /// The holdout in words, with its letter and size.
    description: String,
}

impl VersionSummary {
    fn new(v: VersionInfo, labels: &HoldoutLabels) -> Self {
        let figure = HoldoutFigure::of(&v);
        VersionSummary {
            status: v.status,
            metrics: v.model.get("metrics").cloned().unwrap_or_default(),
            holdout: HoldoutSummary {
                label: labels.label(&figure),
                description: labels.describe(&figure),
                figure,
            },
            label: version_label(&v.model),
            version: v.version,
            created_at: v.created_at,
            users: v.users,
            quality: v.quality,
        }
    }
}

/// An ended experiment as the dashboard lists it.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct PastExperiment {
    id: String,
    control: String,
    candidate: String,
    share: f64,
    started_at: String,
    ended_at: String,
    decision: String,
    decided_by: String,
    winner: Option<String>,
    summary: String,
}

impl PastExperiment {
    fn of(r: &topten_store::ExperimentRecord) -> Self {
        let verdict = &r.report["verdict"];
        PastExperiment {
            id: r.experiment.id.clone(),
            control: r.control.clone(),
            candidate: r.experiment.candidate.clone(),
            share: r.experiment.share,
            started_at: r.experiment.started_at.clone(),
            ended_at: r.ended_at.clone(),
            decision: r.decision.clone(),
            decided_by: r.decided_by.clone(),
            winner: verdict["winner"].as_str().map(str::to_owned),
            summary: verdict["summary"].as_str().unwrap_or("").to_owned(),
        }
    }
}

/// One of the most shown items, with its title.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct TopItem {
    #[serde(flatten)]
    figures: online_report::ItemFigures,
    title: Option<String>,
}

/// Distinct items shown in the window against the active version's catalogue.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Coverage {
    /// Distinct items in the window's impressions.
    items_shown: u64,
    /// Items the active version can recommend (its factors), if known.
    catalogue_items: Option<u64>,
    /// `items_shown / catalogue_items`.
    share: Option<f64>,
}

/// Items the dashboard ranks.
const TOP_ITEMS: usize = 10;

/// Events received in one minute.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct MinuteCount {
    minute_ms: i64,
    events: u64,
}

/// The stats document.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Stats {
    generated_at: String,
    hours: i64,
    from_ms: i64,
    to_ms: i64,
    active_version: Option<String>,
    versions: Vec<VersionSummary>,
    /// Set when the versions' holdout figures come from different holdouts.
    holdout_note: Option<String>,
    experiment: Option<ExperimentReport>,
    /// Ended experiments, most recent first, with their verdicts.
    past_experiments: Vec<PastExperiment>,
    totals: Vec<VersionTotals>,
    /// The most shown items of the window, with titles.
    top_items: Vec<TopItem>,
    /// How much of the active version's catalogue the window's shown answers covered.
    coverage: Coverage,
    hourly: Vec<HourFigures>,
    events_per_minute: Vec<MinuteCount>,
}

/// `hours` from the query: 1 to [`MAX_HOURS`], default 24.
fn hours_param(query: Option<&str>) -> Result<i64, ApiError> {
    let mut hours = 24;
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "hours" => {
                hours = v
                    .parse::<i64>()
                    .ok()
                    .filter(|h| (1..=MAX_HOURS).contains(h))
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_query",
                            format!("hours must be a whole number from 1 to {MAX_HOURS}"),
                        )
                    })?;
            }
            "code" => {} // the function key
            other => {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!("unknown query parameter {other:?}; known: hours"),
                ))
            }
        }
    }
    Ok(hours)
}

/// `GET /api/admin/stats?hours=24`.
pub async fn stats_get(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let hours = hours_param(query.as_deref())?;
    let store = state.store("online stats")?;
    state.save_answer_counts().await?;
    let rules = state.config().attribution_rules();
    let to_ms = topten_model::clock::now_ms();
    let from_ms = to_ms - hours * 3_600_000;
    let active = store.active().await?;
    let started_ms = active
        .as_ref()
        .and_then(|a| a.experiment.as_ref())
        .and_then(|e| topten_model::clock::parse_rfc3339_ms(&e.started_at));
    // One scan serves the window and the experiment.
    let since = started_ms.map_or(from_ms, |s| s.min(from_ms));
    let events = store.events_since(since).await?;
    let counts = store.answer_counts().await?;
    let hourly = online_report::hourly(&events, &counts, from_ms, &rules);
    let experiment = active.as_ref().and_then(|a| {
        a.experiment
            .as_ref()
            .map(|e| online_report::experiment_report(e, &a.version, &events, &counts, &rules))
    });
    let minute_from = to_ms - (EVENT_MINUTES - 1) * 60_000;
    let events_per_minute = online_report::events_per_minute(&events, minute_from, to_ms)
        .into_iter()
        .map(|(minute_ms, events)| MinuteCount { minute_ms, events })
        .collect();
    let shown = online_report::shown_items(&events, from_ms, &rules, TOP_ITEMS);
    let (top_items, coverage) = match &active {
        Some(a) => titled(&state, &a.version, shown).await?,
        None => titled(&state, "", shown).await?,
    };
    let past_experiments = active
        .iter()
        .flat_map(|a| &a.past_experiments)
        .map(PastExperiment::of)
        .collect();
    let listed = store.versions().await?;
    let labels = HoldoutLabels::of(&listed);
    let holdout_note = labels.note();
    let mut versions: Vec<VersionSummary> = listed
        .into_iter()
        .map(|v| VersionSummary::new(v, &labels))
        .collect();
    versions.reverse(); // newest first
    let stats = Stats {
        generated_at: topten_model::clock::now_rfc3339(),
        hours,
        from_ms,
        to_ms,
        active_version: active.map(|a| a.version),
        versions,
        holdout_note,
        experiment,
        past_experiments,
        totals: online_report::totals(&events, &counts, from_ms, &rules),
        top_items,
        coverage,
        hourly,
        events_per_minute,
    };
    Ok(Json(
        serde_json::to_value(stats).map_err(|e| ApiError::internal(format!("stats: {e}")))?,
    ))
}

/// The shown items with their titles (the live catalogue's, else the version's), and the
/// coverage of the version's items.
async fn titled(
    state: &AppState,
    version: &str,
    shown: online_report::ShownItems,
) -> Result<(Vec<TopItem>, Coverage), ApiError> {
    let serving = if version.is_empty() {
        None
    } else {
        state.serving_model(version).await?
    };
    let servable = if version.is_empty() {
        None
    } else {
        state.servable(version).await?
    };
    let title = |id: &str| crate::servable::item_title(servable.as_deref(), serving.as_deref(), id);
    let top = shown
        .top
        .into_iter()
        .map(|figures| TopItem {
            title: title(&figures.item_id),
            figures,
        })
        .collect();
    let catalogue_items = serving.as_ref().map(|m| m.items.len() as u64);
    let coverage = Coverage {
        items_shown: shown.distinct,
        catalogue_items,
        share: catalogue_items
            .filter(|n| *n > 0)
            .map(|n| (shown.distinct as f64 / n as f64).min(1.0)),
    };
    Ok((top, coverage))
}

/// The page.
const DASHBOARD: &str = include_str!("dashboard.html");

/// `GET /api/admin/dashboard`.
pub async fn dashboard_get() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // Nothing but this page's own inline script and styles, and its own API.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; \
                 frame-ancestors 'none'",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        DASHBOARD,
    )
        .into_response()
}
