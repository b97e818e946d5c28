//! `GET /api/items/trending?k=10&window=24h`: the items users interacted with most in the
//! window, recent interactions counting more ([`topten_store::trending`]), servable ones only,
//! filled up with the version's popular items when the window has too few.
//!
//! The ranking is computed from the store's live events at most once per
//! [`TRENDING_REFRESH`](crate::trending_window::TRENDING_REFRESH) per window on each instance, so the route costs no store read per
//! request.

use axum::extract::{RawQuery, State};
use axum::Json;
use topten_edge::request;
use topten_store::ItemScore;

use crate::error::ApiError;
use crate::state::AppState;
use crate::trending_window::window_ms;

/// The `k` trending servable items of the active version over `window_ms`.
pub async fn trending_items(
    state: &AppState,
    version: &str,
    k: usize,
    window_ms: i64,
) -> Result<Vec<ItemScore>, ApiError> {
    let ranked = state.trending(window_ms).await?;
    let servable = state.servable(version).await?;
    let serving = state.serving_model(version).await?;
    let allowed = |id: &str| servable.as_ref().is_none_or(|s| s.allows(id));
    let title = |id: &str| {
        serving.as_ref().and_then(|m| {
            m.items
                .get(id)
                .and_then(|i| m.titles.get(i as usize).cloned().flatten())
        })
    };
    let mut items: Vec<ItemScore> = ranked
        .iter()
        .filter(|(id, _)| allowed(id))
        .take(k)
        .map(|(id, score)| ItemScore {
            item_id: id.clone(),
            score: *score as f32,
            title: title(id),
        })
        .collect();
    if let Some(s) = servable.as_deref() {
        s.retitle(&mut items);
    }
    if items.len() < k {
        // Too few interactions in the window: the version's popular items follow, scored 0.
        for p in state.popular(version).await?.iter() {
            if items.len() == k {
                break;
            }
            if allowed(&p.item_id) && !items.iter().any(|i| i.item_id == p.item_id) {
                let mut item = ItemScore {
                    score: 0.0,
                    ..p.clone()
                };
                if let Some(s) = servable.as_deref() {
                    s.retitle(std::slice::from_mut(&mut item));
                }
                items.push(item);
            }
        }
    }
    Ok(items)
}

/// The handler.
pub async fn trending_get(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let cfg = state.config();
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let k = request::parse_k(get("k"), cfg.default_k, cfg.max_k)?;
    let window = window_ms(get("window"))?;
    let active = state.active().await?;
    let items = trending_items(&state, &active.version, k, window).await?;
    Ok(Json(serde_json::json!({
        "modelVersion": active.version,
        "window": get("window").unwrap_or("24h"),
        "items": items,
    })))
}
