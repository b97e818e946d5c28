//! `POST /api/events`: live interactions in, fresh recommendations out.
//!
//! The batch is validated as a whole (a bad event is a 400 naming its index and nothing is
//! stored), appended durably in one write, then each user with a new event is folded into the
//! active version and their document rewritten, so the next GET, on any instance, is fresh.
//!
//! The body must be declared `application/json` (415 otherwise, so that a web page cannot post
//! events cross-site without a CORS preflight). Fields the API does not know, at the top level
//! or in an event, and `null` for any field are 400s: a typo (`"valeu"`) or a `null` value must
//! not silently become a default.
//!
//! The store write and the fold-in run on Tokio's blocking pool, not on the async workers: an
//! LMDB commit waits for the disk, and a worker blocked on it stalls every GET queued behind
//! it (with ~1,000 events/s GET throughput fell tenfold; `bench/writes.sh` measures it).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use topten_model::serving_model::ServingModel;
use topten_store::events::{self, Event, StoredEvent};
use topten_store::realtime;
use topten_store::Store;

use crate::error::ApiError;
use crate::state::AppState;

/// Top-level fields of the body.
const BODY_FIELDS: &[&str] = &["events"];

/// Parses the body into events, naming the index of an event that is not an object of the
/// documented shape. Public for the fuzz target (`fuzz/`) and its corpus replay test.
pub fn parse(body: &[u8]) -> Result<Vec<Event>, ApiError> {
    let invalid = |m: String| ApiError::bad_request("invalid_events", m);
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| invalid(format!("body is not JSON: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| invalid("body must be {\"events\": [...]}".into()))?;
    if let Some(field) = obj.keys().find(|k| !BODY_FIELDS.contains(&k.as_str())) {
        return Err(invalid(format!(
            "body must be {{\"events\": [...]}}: unknown field {field:?}"
        )));
    }
    let list = obj
        .get("events")
        .and_then(|v| v.as_array())
        .ok_or_else(|| invalid("body must be {\"events\": [...]}".into()))?;
    list.iter()
        .enumerate()
        .map(|(i, v)| {
            if let Some(fields) = v.as_object() {
                if let Some((field, _)) = fields.iter().find(|(_, v)| v.is_null()) {
                    return Err(invalid(format!(
                        "events[{i}].{field}: null is not a value (leave the field out instead)"
                    )));
                }
            }
            // Event denies unknown fields; serde names the field in its message.
            serde_json::from_value::<Event>(v.clone())
                .map_err(|e| invalid(format!("events[{i}]: {e}")))
        })
        .collect()
}

/// Appends `events` on the blocking pool.
async fn append(store: Arc<dyn Store>, events: Vec<StoredEvent>) -> Result<usize, ApiError> {
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || rt.block_on(store.append_events(&events)))
        .await
        .map_err(|e| ApiError::internal(format!("event write task: {e}")))?
        .map_err(ApiError::from)
}

/// Folds each of `users` into `snapshot` and writes their lists back, on the blocking pool;
/// returns the users refreshed. A failed write-back is logged and counted: the events are
/// stored, the next retrain includes them.
async fn fold_in(
    state: &AppState,
    store: Arc<dyn Store>,
    serving: Arc<ServingModel>,
    users: Vec<String>,
) -> Vec<String> {
    let metrics = state.metrics().clone();
    let n = state.config().items_per_user;
    let rt = tokio::runtime::Handle::current();
    let task = tokio::task::spawn_blocking(move || {
        let mut refreshed = Vec::new();
        for user in users {
            let start = Instant::now();
            let result = rt.block_on(realtime::refresh_user(store.as_ref(), &serving, &user, n));
            metrics.foldin(start.elapsed(), result.is_ok());
            match result {
                Ok(Some(_)) => refreshed.push(user),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(user, error = %e, "fold-in write-back failed; events are stored")
                }
            }
        }
        refreshed
    });
    task.await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "fold-in task failed; events are stored");
        Vec::new()
    })
}

/// The handler.
pub async fn events_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    crate::body::require_json(&headers)?;
    let body = crate::body::read_configured(state.config(), &headers, body).await?;
    let parsed = parse(&body)?;
    let stored = events::validate(&parsed, topten_model::clock::now_ms())
        .map_err(|e| ApiError::bad_request("invalid_events", e.to_string()))?;
    let accepted = stored.len();
    let mut users: Vec<String> = stored.iter().map(|e| e.user_id.clone()).collect();
    users.sort_unstable();
    users.dedup();
    let store = state.store("events")?;
    let new = append(store.clone(), stored).await?;
    state.metrics().events(accepted, new);

    let mut refreshed = Vec::new();
    let mut version = None;
    if let Ok(active) = state.active().await {
        // Each user is folded into the version that serves them: their arm's while an
        // experiment runs.
        let mut by_version: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for user in users {
            let (v, _) = active.serving(&user);
            by_version.entry(v.to_owned()).or_default().push(user);
        }
        for (v, users) in by_version {
            if let Some(serving) = state.serving_model(&v).await? {
                refreshed.extend(fold_in(&state, store.clone(), serving, users).await);
            }
        }
        version = state
            .serving_model(&active.version)
            .await?
            .map(|_| active.version.clone());
    }
    Ok(Json(serde_json::json!({
        "accepted": accepted,
        "stored": new,
        "duplicates": accepted - new,
        "refreshed": refreshed,
        "modelVersion": version,
    })))
}
