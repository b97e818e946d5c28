//! `GET /api/recommendations/{userId}?k=10&exclude=i1,i2`

use std::collections::HashMap;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Serialize;
use topten_core::store::ItemScore;

use crate::config::UnknownUser;
use crate::error::ApiError;
use crate::state::AppState;

/// Response body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecommendationsResponse {
    /// The user asked about.
    pub user_id: String,
    /// Version that produced the list.
    pub model_version: String,
    /// Best first.
    pub items: Vec<ItemScore>,
    /// `personalized` or `popular` (cold start).
    pub source: &'static str,
}

/// Validates a user id: 1 to `max` characters, no control characters.
pub fn validate_user_id(id: &str, max: usize) -> Result<(), ApiError> {
    let len = id.chars().count();
    if len == 0 || len > max {
        return Err(ApiError::bad_request("invalid_user_id", format!("user id must be 1 to {max} characters, got {len}")));
    }
    if id.chars().any(char::is_control) {
        return Err(ApiError::bad_request("invalid_user_id", "user id must not contain control characters"));
    }
    Ok(())
}

/// Parses `k`: an integer from 1 to `max`.
pub fn parse_k(raw: Option<&String>, default: usize, max: usize) -> Result<usize, ApiError> {
    let Some(raw) = raw else { return Ok(default) };
    match raw.trim().parse::<usize>() {
        Ok(k) if (1..=max).contains(&k) => Ok(k),
        _ => Err(ApiError::bad_request("invalid_k", format!("k must be an integer from 1 to {max}, got {raw:?}"))),
    }
}

/// Parses `exclude`: comma-separated item ids.
pub fn parse_exclude(raw: Option<&String>, max_len: usize) -> Result<Vec<String>, ApiError> {
    let Some(raw) = raw else { return Ok(Vec::new()) };
    let ids: Vec<String> = raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
    if ids.len() > 1000 {
        return Err(ApiError::bad_request("invalid_exclude", "exclude takes at most 1000 item ids"));
    }
    if ids.iter().any(|i| i.chars().count() > max_len) {
        return Err(ApiError::bad_request("invalid_exclude", format!("excluded item ids must be at most {max_len} characters")));
    }
    Ok(ids)
}

/// Filters `exclude` out of `items` and keeps the first `k`.
pub fn pick(items: &[ItemScore], exclude: &[String], k: usize) -> Vec<ItemScore> {
    items.iter().filter(|it| !exclude.iter().any(|e| *e == it.item_id)).take(k).cloned().collect()
}

/// The handler: one store read (the user's document), cached active pointer and popular list.
pub async fn recommendations_get(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<RecommendationsResponse>, ApiError> {
    let Path(user_id) = path.map_err(|e| ApiError::bad_request("invalid_user_id", e.body_text()))?;
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let cfg = state.config();
    validate_user_id(&user_id, cfg.max_id_len)?;
    let k = parse_k(query.get("k"), cfg.default_k, cfg.max_k)?;
    let exclude = parse_exclude(query.get("exclude"), cfg.max_id_len)?;
    let active = state.active().await?;
    if let Some(doc) = state.store().user_recs(&active.version, &user_id).await? {
        return Ok(Json(RecommendationsResponse {
            items: pick(&doc.items, &exclude, k),
            user_id,
            model_version: doc.model_version,
            source: "personalized",
        }));
    }
    if cfg.unknown_user == UnknownUser::NotFound {
        return Err(ApiError::not_found("user_not_found", format!("user {user_id:?} has no recommendations in version {}", active.version)));
    }
    let popular = state.popular(&active.version).await?;
    Ok(Json(RecommendationsResponse {
        items: pick(&popular, &exclude, k),
        user_id,
        model_version: active.version.clone(),
        source: "popular",
    }))
}

/// `GET /api/recommendations/` without an id.
pub async fn recommendations_missing_user() -> ApiError {
    ApiError::bad_request("invalid_user_id", "the path must end with a user id: /api/recommendations/{userId}")
}
