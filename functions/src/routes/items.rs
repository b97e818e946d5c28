//! The catalogue, live: `GET`, `PUT` and `DELETE /api/items/{itemId}` and `POST /api/items`.
//!
//! A change is a partial document (`{"available": false}`) applied to the item as it stands
//! (its latest live change, else the active version's catalogue). Changes are stored durably
//! apart from versions ([`topten_store::ItemEdits`]), so they apply on top of every version's
//! catalogue, reach every instance within the pointer cache lifetime, and carry over into the
//! next published version. `DELETE` withdraws an item: it is never served again, and `GET`
//! answers 404, until a change (`PUT`) brings it back. A batch is validated whole before anything is stored; an error
//! names `items[i].field`.

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use topten_edge::request;
use topten_model::catalogue::live::{ItemPatch, LiveItem};
use topten_model::catalogue::CatalogueItem;

use crate::error::ApiError;
use crate::state::AppState;

/// Most items one `POST /api/items` may change.
pub const MAX_ITEMS_PER_REQUEST: usize = 1000;

/// An item as the API shows it: the catalogue document, `expiresAt` in RFC 3339, whether it
/// was withdrawn, and whether it may be served now.
fn item_json(item: &CatalogueItem, withdrawn: bool, now_secs: i64) -> serde_json::Value {
    let mut v = serde_json::to_value(item).expect("items serialise");
    if let Some(t) = item.expires_at {
        v["expiresAt"] = serde_json::Value::String(topten_model::clock::rfc3339(t));
    }
    v["withdrawn"] = serde_json::Value::Bool(withdrawn);
    v["servable"] = serde_json::Value::Bool(!withdrawn && item.servable_at(now_secs));
    v
}

/// The item as it stands: its latest live change, else the active version's catalogue entry,
/// else, for an item the version's model knows, a bare available item.
async fn current(state: &AppState, item_id: &str) -> Result<Option<LiveItem>, ApiError> {
    let store = state.store("the item catalogue")?;
    if let Some(live) = store.live_item(item_id).await? {
        return Ok(Some(live));
    }
    let Ok(active) = state.active().await else {
        return Ok(None);
    };
    let servable = state.servable(&active.version).await?;
    if let Some(item) = servable.as_ref().and_then(|s| s.catalogue().get(item_id)) {
        return Ok(Some(LiveItem {
            item: item.clone(),
            withdrawn: false,
            changed_ms: 0,
        }));
    }
    let known = state
        .serving_model(&active.version)
        .await?
        .is_some_and(|m| m.items.get(item_id).is_some());
    Ok(known.then(|| LiveItem {
        item: CatalogueItem::new(item_id),
        withdrawn: false,
        changed_ms: 0,
    }))
}

fn item_id_of(
    path: Result<Path<String>, PathRejection>,
    state: &AppState,
) -> Result<String, ApiError> {
    let Path(item_id) =
        path.map_err(|e| ApiError::bad_request("invalid_item_id", e.body_text()))?;
    request::validate_id(
        &item_id,
        state.config().max_id_len,
        "invalid_item_id",
        "item id",
    )?;
    Ok(item_id)
}

fn not_found(item_id: &str) -> ApiError {
    ApiError::not_found(
        "item_not_found",
        format!("item {item_id:?} is not in the catalogue or the active version"),
    )
}

/// `GET /api/items/{itemId}`: the current document; a withdrawn item is gone (404) until a
/// change brings it back.
pub async fn item_get(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let item_id = item_id_of(path, &state)?;
    let now = topten_model::clock::now_ms() / 1000;
    let live = current(&state, &item_id)
        .await?
        .filter(|l| !l.withdrawn)
        .ok_or_else(|| not_found(&item_id))?;
    Ok(Json(item_json(&live.item, false, now)))
}

/// Parses a patch, naming the field of an error with `at` (`items[3]` or nothing).
fn parse_patch(value: serde_json::Value, at: &str) -> Result<ItemPatch, ApiError> {
    let invalid = |m: String| ApiError::bad_request("invalid_items", m);
    let prefix = if at.is_empty() {
        String::new()
    } else {
        format!("{at}.")
    };
    let Some(fields) = value.as_object() else {
        return Err(invalid(format!(
            "{}must be an object",
            if at.is_empty() { "the body " } else { &prefix }
        )));
    };
    for (field, v) in fields {
        if v.is_null() && field != "expiresAt" {
            return Err(invalid(format!(
                "{prefix}{field}: null is not a value (leave the field out instead)"
            )));
        }
    }
    serde_json::from_value(value).map_err(|e| {
        invalid(format!(
            "{}{e}",
            if at.is_empty() {
                String::new()
            } else {
                format!("{at}: ")
            }
        ))
    })
}

/// Applies `patches` (with their item ids) to the items as they stand and stores them, all
/// or nothing; returns the new documents.
async fn apply(
    state: &AppState,
    patches: Vec<(String, ItemPatch, String)>,
) -> Result<Vec<LiveItem>, ApiError> {
    let store = state.store("the item catalogue")?;
    let now_ms = topten_model::clock::now_ms();
    let mut changed: Vec<LiveItem> = Vec::with_capacity(patches.len());
    for (item_id, patch, at) in patches {
        // A later change of the same item in one batch builds on the earlier one.
        let base = match changed.iter().rev().find(|l| l.item.item_id == item_id) {
            Some(l) => Some(l.clone()),
            None => current(state, &item_id).await?,
        };
        let item = patch
            .apply(&item_id, base.as_ref().map(|l| &l.item))
            .map_err(|(field, m)| {
                ApiError::bad_request("invalid_items", format!("{at}{field}: {m}"))
            })?;
        changed.push(LiveItem {
            item,
            withdrawn: false,
            changed_ms: now_ms,
        });
    }
    store.put_live_items(&changed).await?;
    state.merge_live_items(changed.clone());
    Ok(changed)
}

/// `PUT /api/items/{itemId}`: changes one item.
pub async fn item_put(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let item_id = item_id_of(path, &state)?;
    crate::body::require_json(&headers)?;
    let body = crate::body::read_configured(state.config(), &headers, body).await?;
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_items", format!("body is not JSON: {e}")))?;
    let patch = parse_patch(value, "")?;
    if patch.item_id.as_ref().is_some_and(|id| *id != item_id) {
        return Err(ApiError::bad_request(
            "invalid_items",
            "itemId: differs from the item in the path",
        ));
    }
    let changed = apply(&state, vec![(item_id, patch, String::new())]).await?;
    let now = topten_model::clock::now_ms() / 1000;
    Ok(Json(item_json(&changed[0].item, false, now)))
}

/// `POST /api/items`: changes many items, `{"items": [{"itemId", ...}, ...]}`.
pub async fn items_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    crate::body::require_json(&headers)?;
    let body = crate::body::read_configured(state.config(), &headers, body).await?;
    let invalid = |m: String| ApiError::bad_request("invalid_items", m);
    let list = crate::body::json_list(&body, "items", MAX_ITEMS_PER_REQUEST, "invalid_items")?;
    let mut patches = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let at = format!("items[{i}]");
        let patch = parse_patch(v.clone(), &at)?;
        let item_id = patch
            .item_id
            .clone()
            .ok_or_else(|| invalid(format!("{at}.itemId: missing")))?;
        request::validate_id(
            &item_id,
            state.config().max_id_len,
            "invalid_items",
            "item id",
        )
        .map_err(|r| invalid(format!("{at}.itemId: {}", r.message)))?;
        patches.push((item_id, patch, format!("{at}.")));
    }
    let changed = apply(&state, patches).await?;
    let now = topten_model::clock::now_ms() / 1000;
    Ok(Json(serde_json::json!({
        "items": changed.iter().map(|l| item_json(&l.item, false, now)).collect::<Vec<_>>(),
    })))
}

/// `DELETE /api/items/{itemId}`: withdraws the item.
pub async fn item_delete(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let item_id = item_id_of(path, &state)?;
    let store = state.store("the item catalogue")?;
    let live = current(&state, &item_id)
        .await?
        .filter(|l| !l.withdrawn)
        .ok_or_else(|| not_found(&item_id))?;
    let withdrawn = LiveItem {
        item: live.item,
        withdrawn: true,
        changed_ms: topten_model::clock::now_ms(),
    };
    store
        .put_live_items(std::slice::from_ref(&withdrawn))
        .await?;
    state.merge_live_items(vec![withdrawn.clone()]);
    let now = topten_model::clock::now_ms() / 1000;
    Ok(Json(item_json(&withdrawn.item, true, now)))
}
