//! `DELETE /api/users/{userId}` (forget a user), `GET /api/users/{userId}/data` (everything
//! held about them) and `POST /api/users/{userId}/merge` (a visitor's session into their
//! account). All need the key; the writes are idempotent.
//!
//! The rules (tombstone first, then events, then each version's list and history) are
//! `topten_live::forget`'s. Each forget leaves an audit line (target `topten::audit`): what was
//! asked and when, with a digest of the user id, never the deleted data.

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use sha2::{Digest, Sha256};
use topten_edge::request;
use topten_live::forget::{self, Forgotten};
use topten_model::clock::now_ms;

use crate::error::ApiError;
use crate::state::AppState;

/// A digest of a user id for audit lines: the same user gives the same digest, so a request
/// can be matched to its line, but the line does not hold the id.
pub fn audit_digest(user_id: &str) -> String {
    let d = Sha256::digest(user_id.as_bytes());
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Writes the audit line of a forget.
pub fn audit(via: &str, done: &Forgotten) {
    tracing::info!(
        target: "topten::audit",
        action = "forget",
        via,
        user_digest = %audit_digest(&done.user_id),
        forgotten_ms = done.forgotten_ms,
        events = done.events,
        lists = done.lists,
        histories = done.histories,
        "user forgotten"
    );
}

fn user_path(
    path: Result<Path<String>, PathRejection>,
    state: &AppState,
) -> Result<String, ApiError> {
    let Path(user_id) =
        path.map_err(|e| ApiError::bad_request("invalid_user_id", e.body_text()))?;
    request::validate_user_id(&user_id, state.config().max_id_len)?;
    Ok(user_id)
}

/// `DELETE /api/users/{userId}`: 200 with what was deleted.
pub async fn user_delete(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Forgotten>, ApiError> {
    let user_id = user_path(path, &state)?;
    let store = state.store("forgetting a user")?;
    let done = forget::forget_user(store.as_ref(), &user_id, now_ms()).await?;
    audit("DELETE /api/users/{userId}", &done);
    Ok(Json(done))
}

/// `GET /api/users/{userId}/data`: everything topten holds about the user.
pub async fn user_data_get(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<forget::UserData>, ApiError> {
    let user_id = user_path(path, &state)?;
    let store = state.store("exporting a user's data")?;
    Ok(Json(forget::export_user(store.as_ref(), &user_id).await?))
}

/// The merge body: `{"from": SESSION_ID}`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MergeBody {
    from: String,
}

/// What a merge did.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Merged {
    /// The account.
    pub user_id: String,
    /// The session merged into it (now forgotten).
    pub from: String,
    /// The session's events now the account's (a retried merge moves none again).
    pub moved: usize,
    /// Whether the account's list was folded in afresh.
    pub refreshed: bool,
    /// What forgetting the session deleted.
    pub forgotten: Forgotten,
}

/// `POST /api/users/{userId}/merge`: moves the session's events to the user, folds the user in,
/// forgets the session.
pub async fn user_merge_post(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Merged>, ApiError> {
    let user_id = user_path(path, &state)?;
    let body = crate::body::read_json(state.config(), &headers, body).await?;
    let invalid = |m: String| ApiError::bad_request("invalid_merge", m);
    let MergeBody { from } = serde_json::from_slice(&body)
        .map_err(|e| invalid(format!("body must be {{\"from\": SESSION_ID}}: {e}")))?;
    request::validate_user_id(&from, state.config().max_id_len)
        .map_err(|r| invalid(format!("from: {}", r.message)))?;
    if from == user_id {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "merge_into_itself",
            "the session to merge is the user itself; nothing changed",
        ));
    }
    let store = state.store("merging a visitor")?;
    let session = store.user_events(&from).await?;
    let moved_events = forget::moved_events(&session, &user_id, &from);
    let moved = topten_store::blocking::append_events(store.clone(), moved_events).await?;
    // The account's list from everything it now has, in the version that serves it.
    let mut refreshed = false;
    if let Ok(active) = state.active().await {
        let (version, _) = active.serving(&user_id);
        if let Some(serving) = state.serving_model(version).await? {
            let events = store.user_events(&user_id).await?;
            let done = super::events::fold_in(
                &state,
                store.clone(),
                serving,
                vec![(user_id.clone(), events)],
            )
            .await;
            refreshed = !done.is_empty();
        }
    }
    let forgotten = forget::forget_user(store.as_ref(), &from, now_ms()).await?;
    audit("POST /api/users/{userId}/merge", &forgotten);
    Ok(Json(Merged {
        user_id,
        from,
        moved,
        refreshed,
        forgotten,
    }))
}
