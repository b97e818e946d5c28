//! `POST /api/events`: live interactions in, fresh recommendations out.
//!
//! The batch is validated as a whole (a bad event is a 400 naming its index and nothing is
//! stored), appended durably in one write, then each user with a new event is folded into the
//! active version and their document rewritten, so the next GET, on any instance, is fresh.

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use topten_core::events::{self, Event};
use topten_core::realtime;

use crate::error::ApiError;
use crate::state::AppState;

/// Parses the body into events, naming the index of an event that is not an object of the
/// documented shape.
fn parse(body: &[u8]) -> Result<Vec<Event>, ApiError> {
    let invalid = |m: String| ApiError::bad_request("invalid_events", m);
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| invalid(format!("body is not JSON: {e}")))?;
    let list = value
        .get("events")
        .and_then(|v| v.as_array())
        .ok_or_else(|| invalid("body must be {\"events\": [...]}".into()))?;
    list.iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value::<Event>(v.clone())
                .map_err(|e| invalid(format!("events[{i}]: {e}")))
        })
        .collect()
}

/// The handler.
pub async fn events_post(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let parsed = parse(&body)?;
    let stored = events::validate(&parsed, events::now_ms())
        .map_err(|e| ApiError::bad_request("invalid_events", e.to_string()))?;
    let new = state.store().append_events(&stored).await?;
    let mut users: Vec<&str> = stored.iter().map(|e| e.user_id.as_str()).collect();
    users.sort_unstable();
    users.dedup();

    let mut refreshed = Vec::new();
    let mut version = None;
    if let Ok(active) = state.active().await {
        if let Some(snapshot) = state.snapshot(&active.version).await? {
            let n = state.config().items_per_user;
            for user in &users {
                match realtime::refresh_user(state.store(), &snapshot, user, n).await {
                    Ok(Some(_)) => refreshed.push(user.to_string()),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(user, error = %e, "fold-in write-back failed; events are stored")
                    }
                }
            }
            version = Some(active.version.clone());
        }
    }
    Ok(Json(serde_json::json!({
        "accepted": stored.len(),
        "stored": new,
        "duplicates": stored.len() - new,
        "refreshed": refreshed,
        "modelVersion": version,
    })))
}
