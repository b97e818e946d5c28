//! `GET /api/items/{itemId}/similar?k=10`: items whose factors point the same way.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::Json;
use topten_live::realtime::to_items;

use crate::error::ApiError;
use crate::state::AppState;
use topten_edge::request;

use crate::query::{ListQuery, ListRoute};
use crate::request_filter::served;

/// The handler: cosine similarity on the active version's item factors (kept in memory).
pub async fn similar_get(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path(item_id) =
        path.map_err(|e| ApiError::bad_request("invalid_item_id", e.body_text()))?;
    let cfg = state.config();
    request::validate_id(
        &item_id,
        cfg.max_id_len,
        topten_edge::ids::IdKind::Item,
        "invalid_item_id",
    )?;
    let ListQuery {
        k, filter: wanted, ..
    } = ListQuery::parse(query.as_deref(), ListRoute::Similar, cfg)?;
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
    // Never an item the catalogue hides or the request's filters do not allow: candidates are
    // checked in similarity order until k pass.
    let servable = state.servable(&active.version).await?;
    if state.withdrawn(&item_id) {
        return Err(ApiError::not_found(
            "item_not_found",
            format!("item {item_id:?} was withdrawn"),
        ));
    }
    let keep = |id: &str| served(servable.as_deref(), wanted.as_ref(), id);
    let sims = serving.similar_items_where(item, k, &keep);
    let mut items = to_items(&serving, &sims);
    if let Some(s) = servable.as_deref() {
        s.retitle(&mut items);
    }
    // Similar items answer no user: they come from the active version, outside any arm.
    let answer = crate::answer::Answer::of(&active.version, None, state.answers());
    Ok(Json(serde_json::json!({
        "itemId": item_id,
        "modelVersion": active.version,
        "recommendationId": answer.id(
            state.id_keys(),
            None,
            items.iter().map(|i| i.item_id.as_str()),
        ),
        "items": items,
    })))
}
