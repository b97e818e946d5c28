//! `GET /api/health` and the bare `GET /api/ping` used as a benchmark baseline.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use crate::state::AppState;

/// 200 when the store answers, a version is active and that version reads back as serving
/// reads it (its popular list, catalogue and serving model: a version that cannot serve must
/// not look healthy); else 503, and the body says why (`reason`).
pub async fn health_get(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let store = state.reader();
    let reachable = store.health().await;
    let active = match &reachable {
        Ok(()) => store.active().await.ok().flatten(),
        Err(_) => None,
    };
    let unreadable = match &active {
        Some(a) => read_active(&state, &a.version).await.err(),
        None => None,
    };
    let reason = match (&reachable, &active, &unreadable) {
        (Err(_), _, _) => Some("store_unreachable"),
        (_, None, _) => Some("no_active_version"),
        (_, _, Some(_)) => Some("version_unreadable"),
        _ => None,
    };
    let ok = reason.is_none();
    let body = serde_json::json!({
        "status": if ok { "ok" } else { "unavailable" },
        "reason": reason,
        "detail": unreadable,
        "version": env!("CARGO_PKG_VERSION"),
        "store": {
            "backend": store.backend(),
            "reachable": reachable.is_ok(),
            "error": reachable.err().map(|e| e.to_string()),
        },
        "activeVersion": active.as_ref().map(|a| &a.version),
        "activatedAt": active.as_ref().map(|a| &a.activated_at),
    });
    (
        if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(body),
    )
}

/// One real read of `version`: what every answer needs (the popular list, and the catalogue
/// and serving model when the version has them). Both are cached by the state, so a health
/// probe costs a read only when the version or the live catalogue changed.
async fn read_active(state: &AppState, version: &str) -> Result<(), String> {
    let popular = state
        .reader()
        .popular(version)
        .await
        .map_err(|e| e.to_string())?;
    if popular.is_none() {
        return Err(format!("version {version} has no popular list"));
    }
    state.servable(version).await.map_err(|e| e.message)?;
    state.serving_model(version).await.map_err(|e| e.message)?;
    Ok(())
}

/// A route that does nothing: the load benchmark's baseline for the framework's own cost.
pub async fn ping_get() -> &'static str {
    "pong"
}
