//! `GET /api/items/{itemId}/similar?k=10`: items whose factors point the same way.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::Json;
use topten_store::realtime::to_items;

use crate::error::ApiError;
use crate::state::AppState;
use topten_edge::request;

/// The handler: cosine similarity on the active version's item factors (kept in memory).
pub async fn similar_get(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path(item_id) =
        path.map_err(|e| ApiError::bad_request("invalid_item_id", e.body_text()))?;
    let cfg = state.config();
    request::validate_id(&item_id, cfg.max_id_len, "invalid_item_id", "item id")?;
    let k_raw = form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
        .find(|(key, _)| key == "k")
        .map(|(_, v)| v);
    let k = request::parse_k(k_raw.as_deref(), cfg.default_k, cfg.max_k)?;
    let active = state.active().await?;
    let serving = state.serving_model(&active.version).await?.ok_or_else(|| {
        ApiError::not_found(
            "no_item_factors",
            format!("version {} has no item factors to compare", active.version),
        )
    })?;
    let item = serving.items.get(&item_id).ok_or_else(|| {
        ApiError::not_found(
            "item_not_found",
            format!("item {item_id:?} is not in version {}", active.version),
        )
    })?;
    // Never an item the catalogue hides: ask for enough to fill k after them.
    let servable = state.servable(&active.version).await?;
    let hidden = servable.as_ref().map_or(0, |s| s.hidden().len());
    let sims: Vec<_> = serving
        .similar_items(item, k + hidden)
        .into_iter()
        .filter(|s| {
            servable
                .as_ref()
                .is_none_or(|c| c.allows(serving.items.id(s.item)))
        })
        .take(k)
        .collect();
    Ok(Json(serde_json::json!({
        "itemId": item_id,
        "modelVersion": active.version,
        "items": to_items(&serving, &sims),
    })))
}
