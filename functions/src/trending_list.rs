//! A version's trending list: the ranked items of a window ([`AppState::trending`]) that the
//! catalogue lets serve, with their titles, filled up with the version's popular items when
//! the window has too few. `GET /api/items/trending` serves it, and so does
//! `GET /api/recommendations/{userId}` for an unknown user under `TOPTEN_UNKNOWN_USER=trending`.

use topten_store::ItemScore;

use crate::error::ApiError;
use crate::state::AppState;

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
