//! `GET /api/recommendations/{userId}?k=10&exclude=i1,i2`

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use topten_edge::{body, request};
use topten_store::{ItemFilter, ItemScore, TopItems};

use crate::answer::{item_ids, Answer};
use crate::config::UnknownUser;
use crate::error::ApiError;
use crate::query::{ListQuery, ListRoute};
use crate::request_filter::served;
use crate::servable::Servable;
use crate::state::AppState;
use crate::trending_list::trending_items;
use topten_edge::answer_id::IdKeys;

/// Response body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecommendationsResponse {
    /// The user asked about.
    pub user_id: String,
    /// Version that produced the list.
    pub model_version: String,
    /// This answer's signed id (`r2:VERSION:ARM:…`): events that point back at it are
    /// attributed to it.
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

/// The items an answer lists, as JSON, and where they come from.
struct Selection {
    items_json: Vec<u8>,
    source: &'static str,
    /// Where the items' ids lie in `items_json`, when the selection read them
    /// ([`TopItems::id_spans`]); otherwise the id is signed over the ids parsed from the JSON.
    id_spans: Option<Vec<(u32, u32)>>,
}

impl Selection {
    fn of(items_json: Vec<u8>, source: &'static str) -> Self {
        Selection {
            items_json,
            source,
            id_spans: None,
        }
    }

    /// Wraps the items into the response body, with the answer's id signed over them: the same
    /// bytes serialising a [`RecommendationsResponse`] would give (the shared writer of every
    /// target).
    fn answer_body(
        &self,
        answer: &Answer,
        keys: &IdKeys,
        user_id: &str,
    ) -> Result<Vec<u8>, ApiError> {
        let spanned = self
            .id_spans
            .as_deref()
            .and_then(|spans| topten_store::ids_at(&self.items_json, spans));
        let id = match spanned {
            Some(ids) => answer.id(keys, Some(user_id), ids),
            None => {
                let ids = item_ids(&self.items_json).map_err(ApiError::internal)?;
                answer.id(keys, Some(user_id), ids.iter().map(|i| i.as_ref()))
            }
        };
        Ok(body::answer_body(
            user_id,
            answer.version,
            Some(&id),
            &self.items_json,
            self.source,
        ))
    }
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
    request::validate_user_id(&user_id, cfg.max_id_len)?;
    let query = ListQuery::parse(query.as_deref(), ListRoute::Recommendations, cfg)?;
    let active = state.active().await?;
    // The user's version: the active one, or their arm's while an experiment runs.
    let answer = Answer::for_user(&active, &user_id, state.answers());
    let servable = state.servable(answer.version).await?;
    let request = ListRequest {
        state: &state,
        version: answer.version,
        user_id: &user_id,
        query: &query,
        servable: servable.as_deref(),
    };
    let mut selection = request.select().await?;
    if query.explain && selection.source == "personalized" {
        let explained = explained(&state, answer.version, &user_id, &selection.items_json);
        selection = Selection::of(Box::pin(explained).await?, selection.source);
    }
    let body = selection.answer_body(&answer, state.id_keys(), &user_id)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// One recommendations request, past validation: what [`ListRequest::select`] needs to pick
/// the items.
struct ListRequest<'a> {
    state: &'a AppState,
    version: &'a str,
    user_id: &'a str,
    query: &'a ListQuery,
    /// What the version's catalogue lets serve now (`None`: no catalogue, everything).
    servable: Option<&'a Servable>,
}

impl ListRequest<'_> {
    /// The items (as JSON) and where they come from: the user's stored list, refilled from a
    /// fresh scoring when the filters leave too few; or, for a user without one, the popular
    /// or trending fallback. Never an item the catalogue hides (unavailable, expired), nor one
    /// the request excludes or its filters do not allow.
    async fn select(&self) -> Result<Selection, ApiError> {
        let allow = |id: &str| served(self.servable, self.query.filter.as_ref(), id);
        let filter = ItemFilter {
            exclude: &self.query.exclude,
            hidden: None,
            has: None,
            allow: (self.query.filter.is_some() || self.servable.is_some_and(Servable::hides_any))
                .then_some(&allow as &(dyn Fn(&str) -> bool + Sync)),
        };
        let k = self.query.k;
        let stored = self.state.reader();
        let new = match self.state.config().new_item_slots {
            0 => None,
            _ => self.state.new_items(self.version).await?,
        };
        if let Some(new) = new {
            // Boxed, as every path off the stored list: the request's future stays the size
            // of the common path (see `AppState::active`).
            return Box::pin(self.with_new_items(new, filter)).await;
        }
        match stored
            .user_top_items(self.version, self.user_id, k, &filter)
            .await?
        {
            Some(top) => self.personal(top, &filter).await,
            None => Box::pin(self.fallback(filter)).await,
        }
    }

    /// [`ListRequest::select`] while the version has new items: the user's stored list with
    /// its last places kept for their best-scoring new items ([`explore`]), from the same read
    /// of the document (it holds the user's factor).
    async fn with_new_items(
        &self,
        new: std::sync::Arc<crate::state::NewItems>,
        filter: ItemFilter<'_>,
    ) -> Result<Selection, ApiError> {
        let k = self.query.k;
        let Some((top, tail)) = self
            .state
            .reader()
            .user_top_items_and_tail(self.version, self.user_id, k, &filter)
            .await?
        else {
            return self.fallback(filter).await;
        };
        let selection = self.personal(top, &filter).await?;
        let slots = (k * self.state.config().new_item_slots as usize).div_ceil(10);
        let explored = explore(
            &selection.items_json,
            &Explore {
                new: &new,
                tail: &tail,
                filter: &filter,
                k,
                slots,
                servable: self.servable,
            },
        )?;
        Ok(match explored {
            Some(json) => Selection::of(json, selection.source),
            None => selection,
        })
    }

    /// The user's stored list (which already leaves out what the user has: publishing and
    /// every fold-in write it so), filled up from a fresh scoring of the whole catalogue when
    /// the filters removed more than it can spare.
    async fn personal(
        &self,
        top: TopItems,
        filter: &ItemFilter<'_>,
    ) -> Result<Selection, ApiError> {
        let k = self.query.k;
        if top.exhausted && !filter.is_empty() {
            let rescored = rescore(self.state, self.version, self.user_id, k, filter);
            if let Some(extra) = Box::pin(rescored).await? {
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
                return Ok(Selection::of(self.items_json(items)?, "personalized"));
            }
        }
        let retitled = match self.servable {
            Some(s) => s
                .retitle_json(&top.items_json)
                .map_err(ApiError::internal)?,
            None => None,
        };
        Ok(match retitled {
            Some(json) => Selection::of(json, "personalized"),
            None => Selection {
                items_json: top.items_json,
                source: "personalized",
                id_spans: top.id_spans,
            },
        })
    }

    /// For a user without a stored list: a 404 under `TOPTEN_UNKNOWN_USER=not-found`, else
    /// the trending or popular items, without what the user's live events name (a user may
    /// have events for items the model does not know, or in a version without factors).
    async fn fallback(&self, filter: ItemFilter<'_>) -> Result<Selection, ApiError> {
        let (cfg, k) = (self.state.config(), self.query.k);
        if cfg.unknown_user == UnknownUser::NotFound {
            return Err(ApiError::not_found(
                "user_not_found",
                format!(
                    "user {:?} has no recommendations in version {}",
                    self.user_id, self.version
                ),
            ));
        }
        let has = match self.state.writable() {
            Some(store) => {
                topten_live::realtime::event_item_set(store.as_ref(), self.user_id).await?
            }
            None => Default::default(),
        };
        let filter = ItemFilter {
            has: (!has.is_empty()).then_some(&has),
            ..filter
        };
        if cfg.unknown_user == UnknownUser::Trending {
            // The last day's trending items (servable ones, filled with popular items), with
            // the request's exclude and filters applied to a deeper list.
            let deep = (4 * k).min(cfg.max_k.max(k) * 4) + self.query.exclude.len() + has.len();
            let items: Vec<ItemScore> = trending_items(self.state, self.version, deep, 86_400_000)
                .await?
                .into_iter()
                .filter(|i| !filter.skips(&i.item_id))
                .take(k)
                .collect();
            // Titled by `trending_items` already.
            let items_json = serde_json::to_vec(&items).map_err(ApiError::internal)?;
            return Ok(Selection::of(items_json, "trending"));
        }
        let popular = self.state.popular(self.version).await?;
        let mut items = pick(&popular, &filter, k);
        if items.len() < k {
            // Filters removed more than the popular list can spare: fill up to k from the whole
            // catalogue by popularity, as a known user's list is filled by scoring.
            if let Some(serving) = self.state.serving_model(self.version).await? {
                let keep = |id: &str| !filter.skips(id) && !items.iter().any(|i| i.item_id == id);
                let extra = serving.popular(k - items.len(), &keep);
                items.extend(topten_live::realtime::to_items(&serving, &extra));
            }
        }
        Ok(Selection::of(self.items_json(items)?, "popular"))
    }

    /// `items` as JSON, with the titles of live catalogue changes.
    fn items_json(&self, mut items: Vec<ItemScore>) -> Result<Vec<u8>, ApiError> {
        if let Some(s) = self.servable {
            s.retitle(&mut items);
        }
        serde_json::to_vec(&items).map_err(ApiError::internal)
    }
}

/// What [`explore`] fills a list's places for new items from.
struct Explore<'a> {
    new: &'a crate::state::NewItems,
    tail: &'a topten_store::DocTail,
    filter: &'a ItemFilter<'a>,
    k: usize,
    slots: usize,
    servable: Option<&'a Servable>,
}

/// `items_json` (a personal list) with its last `slots` places given to the user's
/// best-scoring new items (by the factor their document keeps), marked `"reason": "new"`: new
/// items already in the list count towards the places, and a new item takes a place only if
/// the request's filters and the catalogue allow it and the user does not have it. `None`
/// when nothing changes (no factor, no eligible new item, every place already held).
fn explore(items_json: &[u8], e: &Explore<'_>) -> Result<Option<Vec<u8>>, ApiError> {
    /// An item's id, read from its JSON without the rest.
    #[derive(serde::Deserialize)]
    struct Id<'a> {
        #[serde(borrow, rename = "itemId")]
        item_id: std::borrow::Cow<'a, str>,
    }
    /// A new item in its place.
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Placed<'a> {
        item_id: &'a str,
        score: f32,
        #[serde(skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        reason: &'static str,
    }
    let model = &e.new.model;
    let Some(x) = e
        .tail
        .factor
        .as_deref()
        .filter(|x| x.len() == model.item_factors.ncols())
    else {
        return Ok(None);
    };
    // The items as they are, and their ids: the answer is spliced, not parsed and rewritten.
    let items: Vec<&serde_json::value::RawValue> =
        serde_json::from_slice(items_json).map_err(ApiError::internal)?;
    let ids: Vec<std::borrow::Cow<'_, str>> = items
        .iter()
        .map(|raw| serde_json::from_str::<Id>(raw.get()).map(|i| i.item_id))
        .collect::<Result<_, _>>()
        .map_err(ApiError::internal)?;
    let is_new = |id: &str| {
        model
            .items
            .get(id)
            .is_some_and(|row| e.new.rows.binary_search(&row).is_ok())
    };
    let held = ids.iter().filter(|id| is_new(id)).count();
    let wanted = e.slots.min(e.k).saturating_sub(held);
    if wanted == 0 {
        return Ok(None);
    }
    let bias = model.item_bias();
    let mut scored: Vec<(f32, u32)> = e
        .new
        .rows
        .iter()
        .filter(|&&row| {
            let id = model.items.id(row);
            !ids.iter().any(|listed| listed == id)
                && !e.filter.skips(id)
                && e.tail
                    .has_new
                    .binary_search_by(|h| h.as_str().cmp(id))
                    .is_err()
        })
        .map(|&row| {
            let y = model.item_factors.row(row as usize);
            let score = topten_model::linalg::dot(x, y.as_slice().expect("contiguous rows"))
                + bias.map_or(0.0, |b| b[row as usize]);
            (score, row)
        })
        .collect();
    if scored.is_empty() {
        return Ok(None);
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.truncate(wanted);
    // The places are the list's last ones: the new items replace the weakest items that are
    // not new themselves, or fill a list shorter than k.
    let displaced = scored.len().saturating_sub(e.k.saturating_sub(items.len()));
    let mut dropped: Vec<usize> = (0..items.len())
        .rev()
        .filter(|&i| !is_new(&ids[i]))
        .take(displaced)
        .collect();
    dropped.sort_unstable();
    let mut out = Vec::with_capacity(items_json.len() + 96 * scored.len());
    out.push(b'[');
    let mut first = true;
    let mut push = |out: &mut Vec<u8>, bytes: &[u8]| {
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(bytes);
    };
    for (i, raw) in items.iter().enumerate() {
        if dropped.binary_search(&i).is_err() {
            push(&mut out, raw.get().as_bytes());
        }
    }
    for (score, row) in scored {
        let id = model.items.id(row);
        let placed = Placed {
            item_id: id,
            score,
            title: crate::servable::item_title(e.servable, Some(model), id),
            reason: "new",
        };
        push(
            &mut out,
            &serde_json::to_vec(&placed).map_err(ApiError::internal)?,
        );
    }
    out.push(b']');
    Ok(Some(out))
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
    let history = topten_live::realtime::user_history(store.as_ref(), &serving, user_id).await?;
    if history.interactions.is_empty() {
        return Ok(None);
    }
    // The best servable items the filter allows and the user does not have, in score order.
    let scored = serving.recommend_for_history_where(&history.interactions, k, &|id| {
        !filter.skips(id) && !history.has(id)
    });
    Ok(Some(topten_live::realtime::to_items(&serving, &scored)))
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
            topten_live::realtime::user_interactions(store.as_ref(), serving, user_id).await?
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
            factor: None,
            has_new: Vec::new(),
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
            let keys = IdKeys::from_setting("a-key-for-this-test").unwrap();
            let items = pick(&doc.items, &ItemFilter::exclude(&exclude), k);
            let typed = RecommendationsResponse {
                user_id: doc.user_id.clone(),
                model_version: "v1".into(),
                recommendation_id: answer.id(
                    &keys,
                    Some(&doc.user_id),
                    items.iter().map(|i| i.item_id.as_str()),
                ),
                items,
                source: "personalized",
            };
            let want = serde_json::to_vec(&typed).unwrap();
            let top = topten_store::top_items_from_json(&stored, k, &ItemFilter::exclude(&exclude))
                .unwrap();
            assert_eq!(top.model_version, "v1");
            // Signed over the ids the selection read, and over the ids parsed from the JSON:
            // the same body.
            let spans = top.id_spans.as_deref().unwrap();
            assert_eq!(
                topten_store::ids_at(&top.items_json, spans).unwrap().len(),
                top.count
            );
            let spanned = Selection {
                items_json: top.items_json.clone(),
                source: "personalized",
                id_spans: top.id_spans.clone(),
            };
            let parsed = Selection::of(top.items_json.clone(), "personalized");
            for selection in [spanned, parsed] {
                let got = selection.answer_body(&answer, &keys, &doc.user_id).unwrap();
                assert_eq!(
                    String::from_utf8(got).unwrap(),
                    String::from_utf8(want.clone()).unwrap()
                );
            }
        }
    }
}
