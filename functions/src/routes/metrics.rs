//! `GET /api/metrics`: Prometheus text exposition of [`crate::metrics::Metrics`] (protected by
//! the API key like the other admin routes).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::metrics::CONTENT_TYPE;
use crate::state::AppState;

/// The handler.
pub async fn metrics_get(State(state): State<AppState>) -> impl IntoResponse {
    let text = state
        .metrics()
        .render(state.writable().and_then(|s| s.write_stats()));
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text)
}
