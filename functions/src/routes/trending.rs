//! `GET /api/items/trending?k=10&window=24h`: the items users interacted with most in the
//! window, recent interactions counting more ([`topten_store::trending`]), servable ones only,
//! filled up with the version's popular items when the window has too few.
//!
//! The ranking is computed from the store's live events at most once per
//! [`TRENDING_REFRESH`] per window on each instance, so the route costs no store read per
//! request.

use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::Json;
use topten_edge::request;
use topten_store::ItemScore;

use crate::error::ApiError;
use crate::state::AppState;

/// How often an instance recomputes a window's ranking.
pub const TRENDING_REFRESH: Duration = Duration::from_secs(10);

/// Longest window accepted: 999 days (the OpenAPI pattern allows up to three digits).
/// The longest window: 30 days.
pub const MAX_WINDOW_MS: i64 = 30 * 86_400_000;

/// How many canonical windows there are (minutes up to an hour, hours up to two days, days up
/// to [`MAX_WINDOW_MS`]): the cache holds them all, so requests with distinct windows cannot
/// make an instance rank more than this many windows per [`TRENDING_REFRESH`].
pub const DISTINCT_WINDOWS: usize = 60 + 47 + 28;

/// A window in milliseconds from `30m`, `24h` or `7d`, made canonical: longer than an hour,
/// rounded up to whole hours; longer than two days, to whole days; at most 30 days.
fn window_ms(raw: Option<&str>) -> Result<i64, ApiError> {
    let raw = raw.unwrap_or("24h").trim();
    let bad = || {
        ApiError::bad_request(
            "invalid_query",
            format!("window must be a number of minutes, hours or days (30m, 24h, 7d), at most 30 days, got {raw:?}"),
        )
    };
    let (n, unit) = raw.split_at(raw.len().saturating_sub(1));
    let n: i64 = n.parse().map_err(|_| bad())?;
    let ms = match unit {
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    let w = n.checked_mul(ms).ok_or_else(bad)?;
    if w <= 0 || w > MAX_WINDOW_MS {
        return Err(bad());
    }
    let round_up = |w: i64, unit: i64| (w + unit - 1) / unit * unit;
    Ok(if w > 2 * 86_400_000 {
        round_up(w, 86_400_000)
    } else if w > 3_600_000 {
        round_up(w, 3_600_000)
    } else {
        w
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_in_minutes_hours_and_days() {
        assert_eq!(window_ms(None).unwrap(), 86_400_000);
        assert_eq!(window_ms(Some("30m")).unwrap(), 1_800_000);
        assert_eq!(window_ms(Some("7d")).unwrap(), 7 * 86_400_000);
        // Canonical: whole hours past an hour, whole days past two days; 30 days at most.
        assert_eq!(window_ms(Some("90m")).unwrap(), 2 * 3_600_000);
        assert_eq!(window_ms(Some("49h")).unwrap(), 3 * 86_400_000);
        assert_eq!(window_ms(Some("30d")).unwrap(), 30 * 86_400_000);
        assert_eq!(window_ms(Some("720h")).unwrap(), 30 * 86_400_000);
        let mut distinct = std::collections::HashSet::new();
        for unit in ["m", "h", "d"] {
            for n in 1..=43_200 {
                if let Ok(w) = window_ms(Some(&format!("{n}{unit}"))) {
                    distinct.insert(w);
                }
            }
        }
        assert_eq!(distinct.len(), DISTINCT_WINDOWS);
        for bad in [
            "31d",
            "721h",
            "",
            "h",
            "0h",
            "-1h",
            "1000d",
            "24",
            "1.5h",
            "99999999999999d",
        ] {
            assert!(window_ms(Some(bad)).is_err(), "{bad}");
        }
    }
}
