//! `POST /retrain`: the timer trigger, as the Azure Functions host invokes a custom handler for
//! a non-HTTP trigger: body `{"Data": {"timer": {...}}, "Metadata": {...}}`, answer
//! `{"Outputs": {}, "Logs": [...], "ReturnValue": ...}`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use topten_core::retrain::{self, GateMetric, RetrainConfig};
use topten_core::store::publish::PublishOptions;

use crate::state::AppState;

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
    if cfg.training_input.is_empty() {
        return Err("TRAINING_INPUT is not set: nothing to retrain on".into());
    }
    let params = retrain::choose_params(cfg.retrain_params.as_deref(), &cfg.retrain_model)
        .map_err(|e| {
            let setting = if cfg.retrain_params.is_some() {
                "RETRAIN_PARAMS"
            } else {
                "RETRAIN_MODEL"
            };
            format!("{setting}: {e}")
        })?;
    let metric = GateMetric::parse(&cfg.quality_metric).ok_or_else(|| {
        format!(
            "QUALITY_METRIC {:?} is not a ranking metric",
            cfg.quality_metric
        )
    })?;
    Ok(RetrainConfig {
        tolerance: cfg.quality_tolerance,
        publish: PublishOptions {
            items_per_user: cfg.items_per_user,
            ..PublishOptions::default()
        },
        model_root: cfg
            .model_root
            .clone()
            .or_else(|| Some(topten_core::blob::Location::Local("./data/models".into()))),
        ..RetrainConfig::new(cfg.training_input.clone(), params, metric)
    })
}

/// The timer function.
pub async fn retrain_post(
    State(state): State<AppState>,
    body: Option<Json<serde_json::Value>>,
) -> (StatusCode, Json<serde_json::Value>) {
    let past_due = body
        .as_ref()
        .and_then(|Json(b)| {
            b.pointer("/Data/timer/IsPastDue")
                .or_else(|| b.pointer("/Data/myTimer/IsPastDue"))
        })
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
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
    cfg.events = match state.store().events_since(0).await {
        Ok(e) => e,
        Err(e) => return failed(format!("reading events: {e}")),
    };
    tracing::info!(inputs = ?cfg.inputs, events = cfg.events.len(), past_due, "retrain started");
    let train_cfg = cfg.clone();
    let trained = tokio::task::spawn_blocking(move || retrain::train_candidate(&train_cfg)).await;
    let (model, holdout) = match trained {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return failed(e.to_string()),
        Err(e) => return failed(format!("training task failed: {e}")),
    };
    match retrain::gate_and_publish(state.store(), &cfg, model, &holdout).await {
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
