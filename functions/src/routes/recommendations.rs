//! `GET /api/recommendations/{userId}?k=10&exclude=i1,i2`

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use topten_edge::{body, request};
use topten_store::{ItemFilter, ItemScore};

use crate::answer::Answer;
use crate::config::UnknownUser;
use crate::error::ApiError;
use crate::request_filter::RequestFilter;
use crate::servable::Servable;
use crate::state::AppState;

/// Response body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecommendationsResponse {
    /// The user asked about.
    pub user_id: String,
    /// Version that produced the list.
    pub model_version: String,
    /// This answer's id (`r1:VERSION:ARM:…`): events that point back at it are attributed to
    /// it.
    pub recommendation_id: String,
    /// Best first.
    pub items: Vec<ItemScore>,
    /// `personalized` or `popular` (cold start).
    pub source: &'static str,
}

// Validation lives in `topten_edge::request`, shared with the WebAssembly component and the
// Lambda function; its rejections convert into `ApiError`s.

/// The first `k` of `items` that `filter` does not skip.
fn pick(items: &[ItemScore], filter: &ItemFilter<'_>, k: usize) -> Vec<ItemScore> {
    items
        .iter()
        .filter(|it| !filter.skips(&it.item_id))
        .take(k)
        .cloned()
        .collect()
}

/// Wraps the selected items (already JSON) into the response body: the same bytes serialising
/// a [`RecommendationsResponse`] would give (the shared writer of every target).
fn answer_body(answer: &Answer, user_id: &str, items_json: &[u8], source: &str) -> Vec<u8> {
    body::answer_body(
        user_id,
        answer.version,
        Some(&answer.recommendation_id),
        items_json,
        source,
    )
}

/// The handler: one store read (the user's document), cached active pointer and popular list.
pub async fn recommendations_get(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let Path(user_id) =
        path.map_err(|e| ApiError::bad_request("invalid_user_id", e.body_text()))?;
    let cfg = state.config();
    let limits = request::Limits {
        default_k: cfg.default_k,
        max_k: cfg.max_k,
        max_id_len: cfg.max_id_len,
    };
    // One pass over the query; filters (rare) parse it again for their own values.
    let req = request::recs_request(&user_id, query.as_deref(), &limits)?;
    let (k, explain) = (req.k, req.explain);
    let wanted = if req.filtered {
        RequestFilter::from_query(query.as_deref(), cfg.filters.as_ref())?
    } else {
        None
    };
    if req.unknown.is_some() {
        RequestFilter::check_query(query.as_deref(), request::RECS_PARAMETERS, wanted.as_ref())?;
    }
    let exclude = req.exclude;
    let active = state.active().await?;
    // The user's version: the active one, or their arm's while an experiment runs.
    let answer = Answer::for_user(&active, &user_id, state.answers());
    let version = answer.version;
    // Never serve what the catalogue hides (unavailable, expired), nor what the request excludes
    // or its filters do not allow.
    let servable = state.servable(version).await?;
    let allow = |id: &str| {
        servable.as_ref().is_none_or(|s| s.allows(id))
            && wanted
                .as_ref()
                .is_none_or(|w| w.allows(servable.as_ref().and_then(|s| s.get(id)), id))
    };
    let filter = ItemFilter {
        exclude: &exclude,
        hidden: None,
        has: None,
        allow: (wanted.is_some() || servable.as_deref().is_some_and(Servable::hides_any))
            .then_some(&allow as &(dyn Fn(&str) -> bool + Sync)),
    };
    let retitle = |items_json: Vec<u8>| match servable.as_deref() {
        Some(s) => s.retitle_json(items_json).map_err(ApiError::internal),
        None => Ok(items_json),
    };
    if let Some(top) = state
        .reader()
        .user_top_items(version, &user_id, k, &filter)
        .await?
    {
        // The stored list already leaves out what the user has: publishing and every fold-in
        // write it so.
        if top.exhausted && !filter.is_empty() {
            // Filters removed more than the stored list can spare: keep what is left of it, then
            // fill up from a fresh scoring of the whole catalogue.
            if let Some(extra) = rescore(&state, version, &user_id, k, &filter).await? {
                let mut items: Vec<ItemScore> =
                    serde_json::from_slice(&top.items_json).map_err(ApiError::internal)?;
                for item in extra {
                    if items.len() == k {
                        break;
                    }
                    if !items.iter().any(|i| i.item_id == item.item_id) {
                        items.push(item);
                    }
                }
                if let Some(s) = servable.as_deref() {
                    s.retitle(&mut items);
                }
                let mut items_json = serde_json::to_vec(&items).map_err(ApiError::internal)?;
                if explain {
                    items_json = explained(&state, version, &user_id, &items_json).await?;
                }
                let body = answer_body(&answer, &user_id, &items_json, "personalized");
                return Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response());
            }
        }
        let items_json = retitle(top.items_json)?;
        let items_json = if explain {
            explained(&state, version, &user_id, &items_json).await?
        } else {
            items_json
        };
        let body = answer_body(&answer, &user_id, &items_json, "personalized");
        return Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response());
    }
    if cfg.unknown_user == UnknownUser::NotFound {
        return Err(ApiError::not_found(
            "user_not_found",
            format!(
                "user {user_id:?} has no recommendations in version {}",
                version
            ),
        ));
    }
    // A user without a list may still have live events (for items the model does not know, or
    // in a version without factors): the fallback leaves out what they name.
    let has = match state.writable() {
        Some(store) => topten_store::realtime::event_item_set(store.as_ref(), &user_id).await?,
        None => Default::default(),
    };
    let filter = ItemFilter {
        has: (!has.is_empty()).then_some(&has),
        ..filter
    };
    if cfg.unknown_user == UnknownUser::Trending {
        // Trending items of the last day (servable ones, filled with popular items), with the
        // request's exclude and filters applied to a deeper list.
        let deep = (4 * k).min(cfg.max_k.max(k) * 4);
        let items: Vec<ItemScore> = crate::routes::trending::trending_items(
            &state,
            version,
            deep + exclude.len() + has.len(),
            86_400_000,
        )
        .await?
        .into_iter()
        .filter(|i| !filter.skips(&i.item_id))
        .take(k)
        .collect();
        let items_json = serde_json::to_vec(&items).map_err(ApiError::internal)?;
        let body = answer_body(&answer, &user_id, &items_json, "trending");
        return Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response());
    }
    let popular = state.popular(version).await?;
    let mut items = pick(&popular, &filter, k);
    if items.len() < k {
        // Filters removed more than the stored list can spare: fill up to k from the whole
        // catalogue by popularity, as a known user's list is filled by scoring.
        if let Some(serving) = state.serving_model(version).await? {
            let keep = |id: &str| !filter.skips(id) && !items.iter().any(|i| i.item_id == id);
            let extra = serving.popular(k - items.len(), &keep);
            items.extend(topten_store::realtime::to_items(&serving, &extra));
        }
    }
    if let Some(s) = servable.as_deref() {
        s.retitle(&mut items);
    }
    let items_json = serde_json::to_vec(&items).map_err(ApiError::internal)?;
    let body = answer_body(&answer, &user_id, &items_json, "popular");
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The k best items for a user after `filter` and without what the user has, scored from the
/// version's item factors and the user's interactions (fold-in), for when the stored list runs
/// out. `None` without factors.
async fn rescore(
    state: &AppState,
    version: &str,
    user_id: &str,
    k: usize,
    filter: &ItemFilter<'_>,
) -> Result<Option<Vec<ItemScore>>, ApiError> {
    let Some(serving) = state.serving_model(version).await? else {
        return Ok(None);
    };
    let Some(store) = state.writable() else {
        return Ok(None);
    };
    let history = topten_store::realtime::user_history(store.as_ref(), &serving, user_id).await?;
    if history.interactions.is_empty() {
        return Ok(None);
    }
    // The best servable items the filter allows and the user does not have, in score order.
    let scored = serving.recommend_for_history_where(&history.interactions, k, &|id| {
        !filter.skips(id) && !history.has(id)
    });
    Ok(Some(topten_store::realtime::to_items(&serving, &scored)))
}

/// Most interactions named per recommended item by `explain=true`.
const BECAUSE: usize = 3;

/// The selected items with `because`: for each, the up to three items of the user's history
/// that contributed most to its score, with their weights (Hu, Koren and Volinsky's
/// explanation; [`topten_model::als::explain`]). Empty where the version has no factors or the
/// user no interactions.
async fn explained(
    state: &AppState,
    version: &str,
    user_id: &str,
    items_json: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let mut items: Vec<serde_json::Value> =
        serde_json::from_slice(items_json).map_err(ApiError::internal)?;
    let serving = state.serving_model(version).await?;
    let history = match (&serving, state.writable()) {
        (Some(serving), Some(store)) => {
            topten_store::realtime::user_interactions(store.as_ref(), serving, user_id).await?
        }
        _ => Vec::new(),
    };
    for item in &mut items {
        let because: Vec<serde_json::Value> = match (&serving, item["itemId"].as_str()) {
            (Some(serving), Some(id)) if !history.is_empty() => match serving.items.get(id) {
                Some(row) => serving
                    .explain(&history, row, BECAUSE)
                    .into_iter()
                    .map(|(j, w)| serde_json::json!({"itemId": serving.items.id(j), "weight": w}))
                    .collect(),
                None => Vec::new(),
            },
            _ => Vec::new(),
        };
        item["because"] = serde_json::Value::Array(because);
    }
    serde_json::to_vec(&items).map_err(ApiError::internal)
}

/// `GET /api/recommendations/` without an id.
pub async fn recommendations_missing_user() -> ApiError {
    request::missing_user_id().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use topten_store::UserRecs;

    /// The fast path produces exactly what serialising the parsed document would.
    #[test]
    fn raw_body_equals_typed_serialisation() {
        let doc = UserRecs {
            id: "v1:u\"1".into(),
            user_id: "u\"1".into(),
            items: (0..20)
                .map(|i| ItemScore {
                    item_id: format!("i{i}"),
                    score: 1.0 / (i as f32 + 1.0),
                    title: (i % 2 == 0).then(|| format!("Title \"{i}\" é")),
                })
                .collect(),
            model_version: "v1".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
        };
        let stored = serde_json::to_vec(&doc).unwrap();
        for (exclude, k) in [
            (vec![], 10),
            (vec!["i0".to_string(), "i3".to_string()], 10),
            (vec![], 25),
            (vec!["i1".into()], 1),
        ] {
            let answer = Answer::of(
                "v1",
                None,
                &crate::answer_counter::AnswerCounter::new("test".into()),
            );
            let typed = RecommendationsResponse {
                user_id: doc.user_id.clone(),
                model_version: "v1".into(),
                recommendation_id: answer.recommendation_id.clone(),
                items: pick(&doc.items, &ItemFilter::exclude(&exclude), k),
                source: "personalized",
            };
            let want = serde_json::to_vec(&typed).unwrap();
            let top = topten_store::top_items_from_json(&stored, k, &ItemFilter::exclude(&exclude))
                .unwrap();
            assert_eq!(top.model_version, "v1");
            let got = answer_body(&answer, &doc.user_id, &top.items_json, "personalized");
            assert_eq!(
                String::from_utf8(got).unwrap(),
                String::from_utf8(want).unwrap()
            );
        }
    }
}
