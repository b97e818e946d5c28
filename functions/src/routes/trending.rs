//! `GET /api/items/trending?k=10&window=24h`: the items users interacted with most in the
//! window, recent interactions counting more ([`topten_live::trending`]), servable ones only,
//! filled up with the version's popular items when the window has too few.
//!
//! The ranking is computed from the store's live events at most once per
//! [`TRENDING_REFRESH`](crate::trending_window::TRENDING_REFRESH) per window on each instance, so the route costs no store read per
//! request.

use axum::extract::{RawQuery, State};
use axum::Json;
use topten_edge::request;

use crate::error::ApiError;
use crate::state::AppState;
use crate::trending_list::trending_items;
use crate::trending_window::window_ms;

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
