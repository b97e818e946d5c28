//! `POST /api/recommendations/{userId}/rank`: orders the caller's own candidates (a search
//! page's results, a category's products) by the user's scores.
//!
//! The user's factor is folded in from their training history and live events, so a user
//! known only through events is ranked too. Items the version does not know, or that may not
//! be served, follow with `"score": null`, in the caller's order; so does every item for a
//! user with no interactions at all. Items the user has (their training history and every
//! item their live interaction events name) are marked `"seen": true` and go last, unscored,
//! in the caller's order: a caller that shows the top of the ranking never shows them first.
//! Each item carries its title where known (a live title change shows at once).

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use topten_edge::request;

use topten_live::realtime::UserHistory;
use topten_model::serving_model::ServingModel;

use crate::error::ApiError;
use crate::servable::Servable;
use crate::state::AppState;

/// Most items one request may rank.
pub const MAX_RANK_ITEMS: usize = 500;

/// The handler.
pub async fn rank_post(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path(user_id) =
        path.map_err(|e| ApiError::bad_request("invalid_user_id", e.body_text()))?;
    let cfg = state.config();
    request::validate_user_id(&user_id, cfg.max_id_len)?;
    let body = crate::body::read_json(cfg, &headers, body).await?;
    let item_ids = parse(&body, cfg.max_id_len)?;

    let active = state.active().await?;
    // The user's version: the active one, or their arm's while an experiment runs.
    let answer = crate::answer::Answer::for_user(&active, &user_id, state.answers());
    let serving = state.serving_model(answer.version).await?;
    let servable = state.servable(answer.version).await?;
    let history = history(&state, serving.as_deref(), &user_id).await?;
    let ranked = Ranking::of(&item_ids, serving.as_deref(), servable.as_deref(), &history);
    let title = |id: &str| crate::servable::item_title(servable.as_deref(), serving.as_deref(), id);
    let items: Vec<serde_json::Value> = ranked
        .order
        .iter()
        .map(|&i| {
            let (id, score, seen) = (&item_ids[i], ranked.scores[i], ranked.seen[i]);
            let mut item = serde_json::json!({"itemId": id, "score": score, "seen": seen});
            if let Some(t) = title(id) {
                item["title"] = serde_json::Value::String(t);
            }
            item
        })
        .collect();
    Ok(Json(serde_json::json!({
        "userId": user_id,
        "modelVersion": answer.version,
        "recommendationId": answer.id(
            state.id_keys(),
            Some(&user_id),
            ranked.order.iter().map(|&i| item_ids[i].as_str()),
        ),
        "items": items,
    })))
}

/// What the user has, and the interactions their scores come from (a version without factors
/// scores nothing, so only what the user's events name).
async fn history(
    state: &AppState,
    serving: Option<&ServingModel>,
    user_id: &str,
) -> Result<UserHistory, ApiError> {
    Ok(match (serving, state.writable()) {
        (Some(serving), Some(store)) => {
            topten_live::realtime::user_history(store.as_ref(), serving, user_id).await?
        }
        (None, Some(store)) => UserHistory {
            has: topten_live::realtime::event_item_set(store.as_ref(), user_id).await?,
            ..Default::default()
        },
        _ => Default::default(),
    })
}

/// The caller's items ranked: positions in the answer's order, and per requested item its
/// score (`None`: unknown, unservable or had) and whether the user has it.
struct Ranking {
    order: Vec<usize>,
    scores: Vec<Option<f32>>,
    seen: Vec<bool>,
}

impl Ranking {
    /// Scored items best first (ties in the caller's order), then the unscored, then the seen,
    /// each in the caller's order.
    fn of(
        item_ids: &[String],
        serving: Option<&ServingModel>,
        servable: Option<&Servable>,
        history: &UserHistory,
    ) -> Ranking {
        let seen: Vec<bool> = item_ids.iter().map(|id| history.has(id)).collect();
        let mut scores: Vec<Option<f32>> = vec![None; item_ids.len()];
        if let Some(serving) = serving {
            // Candidates the version can score, may serve and the user does not have:
            // (position in the request, factor row).
            let known: Vec<(usize, u32)> = item_ids
                .iter()
                .enumerate()
                .filter(|&(pos, id)| servable.is_none_or(|s| s.allows(id)) && !seen[pos])
                .filter_map(|(pos, id)| Some((pos, serving.items.get(id)?)))
                .collect();
            let rows: Vec<u32> = known.iter().map(|&(_, row)| row).collect();
            if let Some(s) = (!known.is_empty())
                .then(|| serving.score_items(&history.interactions, &rows))
                .flatten()
            {
                for (&(pos, _), score) in known.iter().zip(s) {
                    scores[pos] = Some(score);
                }
            }
        }
        let mut order: Vec<usize> = (0..item_ids.len()).collect();
        order.sort_by(|&a, &b| {
            seen[a].cmp(&seen[b]).then(match (scores[a], scores[b]) {
                (Some(x), Some(y)) => y.total_cmp(&x).then(a.cmp(&b)),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => a.cmp(&b),
            })
        });
        Ranking {
            order,
            scores,
            seen,
        }
    }
}

/// The `itemIds` of the body: 1 to [`MAX_RANK_ITEMS`] valid ids, repeats dropped (the first
/// stays).
fn parse(body: &[u8], max_id_len: usize) -> Result<Vec<String>, ApiError> {
    let invalid = |m: String| ApiError::bad_request("invalid_rank", m);
    let list = crate::body::json_list(body, "itemIds", MAX_RANK_ITEMS, "invalid_rank")?;
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let id = v
            .as_str()
            .ok_or_else(|| invalid(format!("itemIds[{i}]: not a string")))?;
        request::validate_id(
            id,
            max_id_len,
            topten_edge::ids::IdKind::Item,
            "invalid_rank",
        )
        .map_err(|r| invalid(format!("itemIds[{i}]: {}", r.message)))?;
        if !out.iter().any(|o| o == id) {
            out.push(id.to_owned());
        }
    }
    Ok(out)
}
