//! `POST /retrain`: the timer trigger, as the Azure Functions host invokes a custom handler for
//! a non-HTTP trigger: body `{"Data": {"timer": {...}}, "Metadata": {...}}`, answer
//! `{"Outputs": {}, "Logs": [...], "ReturnValue": ...}`.
//!
//! Only that envelope is accepted: `Data.timer` an object (the binding name of
//! retrain/function.json), `Metadata` an object if present, nothing else at the top level.
//! Anything else is a 400 `invalid_timer_payload` and starts no retrain. The route needs the
//! API key when `TOPTEN_API_KEY` is set; under Azure Functions the host invokes it internally.

use crate::retrain::{self, RetrainConfig};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use topten_live::publish::PublishOptions;

use crate::error::ApiError;
use crate::state::AppState;

/// The timer binding's name in retrain/function.json.
const TIMER_BINDING: &str = "timer";

/// Checks the custom-handler envelope; returns `IsPastDue`.
fn timer_envelope(body: &[u8]) -> Result<bool, ApiError> {
    let invalid = |m: &str| {
        ApiError::bad_request(
            "invalid_timer_payload",
            format!("{m}: this route takes the Azure Functions timer invocation {{\"Data\": {{\"{TIMER_BINDING}\": {{...}}}}, \"Metadata\": {{...}}}}"),
        )
    };
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| invalid("the body is not JSON"))?;
    let obj = value
        .as_object()
        .ok_or_else(|| invalid("the body is not an object"))?;
    if obj.keys().any(|k| k != "Data" && k != "Metadata") {
        return Err(invalid("unknown top-level field"));
    }
    if obj.get("Metadata").is_some_and(|m| !m.is_object()) {
        return Err(invalid("Metadata is not an object"));
    }
    let timer = obj
        .get("Data")
        .and_then(|d| d.get(TIMER_BINDING))
        .and_then(|t| t.as_object())
        .ok_or_else(|| invalid("Data.timer is missing or not an object"))?;
    match timer.get("IsPastDue") {
        None => Ok(false),
        Some(serde_json::Value::Bool(b)) => Ok(*b),
        Some(_) => Err(invalid("Data.timer.IsPastDue is not a boolean")),
    }
}

/// The custom-handler invocation answer.
fn answer(
    status: StatusCode,
    logs: Vec<String>,
    value: serde_json::Value,
) -> (StatusCode, Json<serde_json::Value>) {
    (
        status,
        Json(serde_json::json!({ "Outputs": {}, "Logs": logs, "ReturnValue": value })),
    )
}

/// Builds the retrain configuration from the handler settings.
pub fn retrain_config(state: &AppState) -> Result<RetrainConfig, String> {
    let cfg = state.config();
    let spark_runs = cfg
        .retrain_source
        .as_ref()
        .map(|crate::config::RetrainSource::Spark(prefix)| prefix.clone());
    if cfg.training_input.is_empty() && spark_runs.is_none() {
        return Err("TRAINING_INPUT is not set (nor RETRAIN_SOURCE): nothing to retrain on".into());
    }
    let params = retrain::choose_params(cfg.retrain_params.as_deref(), cfg.retrain_model)
        .map_err(|e| format!("RETRAIN_PARAMS: {e}"))?;
    let metric = cfg.quality_metric;
    Ok(RetrainConfig {
        tolerance: cfg.quality_tolerance,
        publish: PublishOptions {
            items_per_user: cfg.items_per_user,
            repeat_limit: cfg.repeat_limit,
            ..PublishOptions::default()
        },
        model_root: Some(cfg.model_root.clone()),
        items: cfg.training_items.clone(),
        spark_runs,
        mode: match cfg.retrain_mode {
            crate::config::RetrainModeSetting::Activate => retrain::RetrainMode::Activate,
            crate::config::RetrainModeSetting::Experiment => retrain::RetrainMode::Experiment {
                share: cfg.retrain_experiment_share,
            },
        },
        ..RetrainConfig::new(cfg.training_input.clone(), params, metric)
    })
}

/// The timer function.
pub async fn retrain_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = crate::body::read_configured(state.config(), &headers, body).await?;
    let past_due = timer_envelope(&body)?;
    Ok(run(state, past_due).await.into_response())
}

async fn run(state: AppState, past_due: bool) -> (StatusCode, Json<serde_json::Value>) {
    let Ok(_guard) = state.retrain_lock().try_lock() else {
        return answer(
            StatusCode::OK,
            vec!["a retrain is already running; skipped".into()],
            serde_json::json!({"skipped": true}),
        );
    };
    let mut cfg = match retrain_config(&state) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "retrain misconfigured");
            return answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                vec![e],
                serde_json::Value::Null,
            );
        }
    };
    let store = match state.store("retraining") {
        Ok(s) => s,
        Err(e) => return failed(e.message),
    };
    cfg.events = match store.events_since(0).await {
        Ok(e) => e,
        Err(e) => return failed(format!("reading events: {e}")),
    };
    cfg.tombstones = match topten_live::forget::tombstones(store.as_ref()).await {
        Ok(t) => t,
        Err(e) => return failed(format!("reading tombstones: {e}")),
    };
    cfg.retention = state.config().retention();
    tracing::info!(inputs = ?cfg.inputs, events = cfg.events.len(), past_due, "retrain started");
    let train_cfg = cfg.clone();
    let trained = tokio::task::spawn_blocking(move || retrain::train_candidate(&train_cfg)).await;
    let candidate = match trained {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return failed(e.to_string()),
        Err(e) => return failed(format!("training task failed: {e}")),
    };
    match retrain::gate_and_publish(store.as_ref(), &cfg, candidate).await {
        Ok((_, outcome)) => {
            state.invalidate_active();
            // The gate's figures and reason are logged by `gate_and_publish` ("quality gate").
            tracing::info!(version = %outcome.candidate_version, activated = outcome.activated, "retrain finished");
            let log = format!(
                "retrain: candidate {} {} ({})",
                outcome.candidate_version,
                if outcome.activated {
                    "published and activated"
                } else {
                    "rejected, not published"
                },
                outcome.reason
            );
            answer(
                StatusCode::OK,
                vec![log],
                serde_json::to_value(&outcome).unwrap_or_default(),
            )
        }
        Err(e) => failed(e.to_string()),
    }
}

fn failed(message: String) -> (StatusCode, Json<serde_json::Value>) {
    tracing::error!(error = %message, "retrain failed");
    answer(
        StatusCode::INTERNAL_SERVER_ERROR,
        vec![format!("retrain failed: {message}")],
        serde_json::Value::Null,
    )
}
