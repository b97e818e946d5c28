//! `GET /api/health` and the bare `GET /api/ping` used as a benchmark baseline.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use crate::state::AppState;

/// 200 when the store answers and a version is active, else 503; the body says which.
pub async fn health_get(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let store = state.reader();
    let reachable = store.health().await;
    let active = match &reachable {
        Ok(()) => store.active().await.ok().flatten(),
        Err(_) => None,
    };
    let ok = reachable.is_ok() && active.is_some();
    let body = serde_json::json!({
        "status": if ok { "ok" } else { "unavailable" },
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

/// A route that does nothing: the load benchmark's baseline for the framework's own cost.
pub async fn ping_get() -> &'static str {
    "pong"
}
