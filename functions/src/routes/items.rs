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

/// The item as it stands: its latest live change, else [`version_item`].
async fn current(state: &AppState, item_id: &str) -> Result<Option<LiveItem>, ApiError> {
    let store = state.store("the item catalogue")?;
    if let Some(live) = store.live_item(item_id).await? {
        return Ok(Some(live));
    }
    version_item(state, item_id).await
}

/// The item as the active version has it, for an item with no live change: the version's
/// catalogue entry, else, for an item the version's model knows, a bare available item.
async fn version_item(state: &AppState, item_id: &str) -> Result<Option<LiveItem>, ApiError> {
    let Ok(active) = state.active().await else {
        return Ok(None);
    };
    let servable = state.servable(&active.version).await?;
    if let Some(item) = servable.as_ref().and_then(|s| s.get(item_id)) {
        return Ok(Some(LiveItem {
            item: item.clone(),
            withdrawn: false,
            changed_ms: 0,
            created_ms: 0,
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
        created_ms: 0,
    }))
}

/// The entity tag of an item as it stands (its document and whether it is withdrawn), for
/// `If-Match`: a strong, quoted tag that changes with every change of the item.
pub fn etag(live: &LiveItem) -> String {
    use sha2::{Digest, Sha256};
    let doc = serde_json::to_vec(&(&live.item, live.withdrawn)).expect("items serialise");
    let digest = Sha256::digest(&doc);
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// The `If-Match` header, if any: `*` or one or more tags.
fn if_match(headers: &HeaderMap) -> Result<Option<Vec<String>>, ApiError> {
    let Some(v) = headers.get(axum::http::header::IF_MATCH) else {
        return Ok(None);
    };
    let invalid = |m: &str| ApiError::bad_request("invalid_if_match", m);
    let v = v
        .to_str()
        .map_err(|_| invalid("If-Match is not visible ASCII"))?;
    // An empty header sets no condition (as if it were absent; the OpenAPI pattern admits it).
    if v.trim().is_empty() {
        return Ok(None);
    }
    if v.trim() == "*" {
        return Ok(Some(vec!["*".to_owned()]));
    }
    entity_tags(v).map(Some).ok_or_else(|| {
        invalid("If-Match must be * or quoted entity tags (the ETag of a GET of the item)")
    })
}

/// The entity tags of a list (`"a", W/"b,c"`; RFC 9110: a tag may hold commas), each as
/// written with its quotes, or `None` when the list is malformed.
fn entity_tags(v: &str) -> Option<Vec<String>> {
    let mut tags = Vec::new();
    let mut rest = v.trim_start();
    while !rest.is_empty() {
        let weak = rest.starts_with("W/");
        let body = if weak { &rest[2..] } else { rest };
        let inner = body.strip_prefix('"')?;
        let end = inner.find('"')?;
        let tag = &body[..end + 2];
        tags.push(if weak {
            format!("W/{tag}")
        } else {
            tag.to_owned()
        });
        rest = body[end + 2..].trim_start();
        match rest.strip_prefix(',') {
            Some(r) => rest = r.trim_start(),
            None if rest.is_empty() => {}
            None => return None,
        }
    }
    (!tags.is_empty()).then_some(tags)
}

/// Whether `tags` (from `If-Match`, `None` when there was none) admit `now`, the item as it
/// stands (`None`: absent); a 412 when they do not.
fn check_if_match(
    tags: Option<&[String]>,
    item_id: &str,
    now: Option<&LiveItem>,
) -> Result<(), ApiError> {
    let Some(tags) = tags else { return Ok(()) };
    let admitted = now.is_some_and(|live| {
        let tag = etag(live);
        tags.iter()
            .any(|t| t == "*" || *t == tag || t.strip_prefix("W/") == Some(tag.as_str()))
    });
    if admitted {
        Ok(())
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
            format!("item {item_id:?} changed since the ETag given in If-Match (GET it again)"),
        ))
    }
}

/// An item document with its `ETag` header.
fn with_etag(live: &LiveItem, body: serde_json::Value) -> impl axum::response::IntoResponse {
    ([(axum::http::header::ETAG, etag(live))], Json(body))
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
        topten_edge::ids::IdKind::Item,
        "invalid_item_id",
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
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let item_id = item_id_of(path, &state)?;
    let now = topten_model::clock::now_ms() / 1000;
    let live = current(&state, &item_id)
        .await?
        .filter(|l| !l.withdrawn)
        .ok_or_else(|| not_found(&item_id))?;
    let body = item_json(&live.item, false, now);
    Ok(with_etag(&live, body))
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
        return Err(invalid(if at.is_empty() {
            "the body must be an object".to_owned()
        } else {
            format!("{at}: must be an object")
        }));
    };
    for (field, v) in fields {
        if v.is_null() && field != "expiresAt" {
            return Err(invalid(format!(
                "{prefix}{field}: null is not a value (leave the field out instead)"
            )));
        }
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        // The field that failed, as `items[i].field` (`attributes.colour` for an attribute).
        let path = e.path().to_string();
        let field = if path == "." {
            String::new()
        } else {
            format!("{path}: ")
        };
        let inner = e.into_inner().to_string();
        let why = if inner.contains("untagged enum AttributeValue") {
            "must be a number, a string or a boolean".to_owned()
        } else {
            inner
        };
        invalid(format!("{prefix}{field}{why}"))
    })
}

/// What to do to each item of a write, given the item as it stands (`None`: unknown).
type Change<'a> = dyn Fn(&str, Option<&LiveItem>) -> Result<LiveItem, ApiError> + Send + Sync + 'a;

/// Applies `changes` (item id, change) to the items as they stand and stores the results,
/// as one atomic read-modify-write of the store ([`topten_store::ItemEdits::update_live_items`]):
/// a change made meanwhile by another request is built on, never overwritten. Returns each
/// changed item once, in the order of its last change.
async fn apply(
    state: &AppState,
    changes: Vec<(String, Box<Change<'_>>)>,
) -> Result<Vec<LiveItem>, ApiError> {
    let store = state.store("the item catalogue")?;
    let mut ids: Vec<String> = Vec::new();
    for (id, _) in &changes {
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    // What the active version says of items without a live change (it changes only with a
    // publish, so it is read before the store's transaction, not inside it).
    let mut in_version = Vec::with_capacity(ids.len());
    for id in &ids {
        in_version.push(version_item(state, id).await?);
    }
    let refusal: std::sync::Mutex<Option<ApiError>> = std::sync::Mutex::new(None);
    let update = |stored: &[Option<LiveItem>]| -> Option<Vec<LiveItem>> {
        let mut now: Vec<Option<LiveItem>> = stored
            .iter()
            .zip(&in_version)
            .map(|(s, v)| s.clone().or_else(|| v.clone()))
            .collect();
        let mut order: Vec<usize> = Vec::new();
        for (id, change) in &changes {
            let j = ids
                .iter()
                .position(|i| i == id)
                .expect("every id is listed");
            match change(id, now[j].as_ref()) {
                Ok(next) => now[j] = Some(next),
                Err(e) => {
                    *refusal.lock().unwrap() = Some(e);
                    return None;
                }
            }
            order.retain(|&k| k != j);
            order.push(j);
        }
        Some(
            order
                .into_iter()
                .map(|j| now[j].clone().expect("changed"))
                .collect(),
        )
    };
    match store.update_live_items(&ids, &update).await? {
        Some(changed) => {
            state.merge_live_items(changed.clone());
            Ok(changed)
        }
        None => Err(refusal
            .into_inner()
            .unwrap()
            .unwrap_or_else(|| ApiError::internal("an item change was refused without a reason"))),
    }
}

/// When an item changed at `now_ms` first came live: kept from its earlier live change (or
/// that change's time, for one stored before this was recorded); 0 for an item of the
/// published catalogue or known to the model; now for an item first seen here.
fn created_ms(base: Option<&LiveItem>, now_ms: i64) -> i64 {
    match base {
        None => now_ms,
        Some(b) if b.created_ms > 0 => b.created_ms,
        Some(b) => b.changed_ms,
    }
}

/// The change a patch makes: applied to the item as it stands, or refused naming the field
/// (`at` is `items[i].` or empty); with `If-Match` tags, refused with 412 unless they match.
fn patch_change<'a>(
    patch: ItemPatch,
    at: String,
    tags: Option<Vec<String>>,
    now_ms: i64,
) -> Box<Change<'a>> {
    Box::new(move |item_id: &str, base: Option<&LiveItem>| {
        check_if_match(tags.as_deref(), item_id, base)?;
        let item = patch
            .apply(item_id, base.map(|l| &l.item))
            .map_err(|(field, m)| {
                ApiError::bad_request("invalid_items", format!("{at}{field}: {m}"))
            })?;
        Ok(LiveItem {
            item,
            withdrawn: false,
            changed_ms: now_ms,
            created_ms: created_ms(base, now_ms),
        })
    })
}

/// `PUT /api/items/{itemId}`: changes one item.
pub async fn item_put(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let item_id = item_id_of(path, &state)?;
    let tags = if_match(&headers)?;
    let body = crate::body::read_json(state.config(), &headers, body).await?;
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_items", format!("body is not JSON: {e}")))?;
    let patch = parse_patch(value, "")?;
    if patch.item_id.as_ref().is_some_and(|id| *id != item_id) {
        return Err(ApiError::bad_request(
            "invalid_items",
            "itemId: differs from the item in the path",
        ));
    }
    let now_ms = topten_model::clock::now_ms();
    let change = patch_change(patch, String::new(), tags, now_ms);
    let changed = apply(&state, vec![(item_id, change)]).await?;
    let body = item_json(&changed[0].item, false, now_ms / 1000);
    Ok(with_etag(&changed[0], body))
}

/// `POST /api/items`: changes many items, `{"items": [{"itemId", ...}, ...]}`.
pub async fn items_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let body = crate::body::read_json(state.config(), &headers, body).await?;
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
            topten_edge::ids::IdKind::Item,
            "invalid_items",
        )
        .map_err(|r| invalid(format!("{at}.itemId: {}", r.message)))?;
        patches.push((item_id, patch, format!("{at}.")));
    }
    let now_ms = topten_model::clock::now_ms();
    let changes = patches
        .into_iter()
        .map(|(id, patch, at)| (id, patch_change(patch, at, None, now_ms)))
        .collect();
    let changed = apply(&state, changes).await?;
    let now = topten_model::clock::now_ms() / 1000;
    Ok(Json(serde_json::json!({
        "items": changed.iter().map(|l| item_json(&l.item, false, now)).collect::<Vec<_>>(),
    })))
}

/// `DELETE /api/items/{itemId}`: withdraws the item (`If-Match` as for `PUT`).
pub async fn item_delete(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let item_id = item_id_of(path, &state)?;
    let tags = if_match(&headers)?;
    let now_ms = topten_model::clock::now_ms();
    let withdraw: Box<Change<'_>> = Box::new(move |item_id: &str, base: Option<&LiveItem>| {
        let Some(live) = base.filter(|l| !l.withdrawn) else {
            return Err(not_found(item_id));
        };
        check_if_match(tags.as_deref(), item_id, base)?;
        Ok(LiveItem {
            item: live.item.clone(),
            withdrawn: true,
            changed_ms: now_ms,
            created_ms: live.created_ms,
        })
    });
    let changed = apply(&state, vec![(item_id, withdraw)]).await?;
    let body = item_json(&changed[0].item, true, now_ms / 1000);
    Ok(with_etag(&changed[0], body))
}

#[cfg(test)]
mod tests {
    use super::{entity_tags, if_match};

    #[test]
    fn entity_tag_lists_parse_with_commas_inside_tags() {
        assert_eq!(
            entity_tags(r#""a", W/"b,c","",W/"d""#).unwrap(),
            [r#""a""#, r#"W/"b,c""#, r#""""#, r#"W/"d""#]
        );
        for bad in [r#"a"#, r#""a" b"#, r#""a"#, r#"W/a"#, r#""a",,x"#] {
            assert!(entity_tags(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn an_empty_if_match_sets_no_condition() {
        let mut headers = axum::http::HeaderMap::new();
        assert_eq!(if_match(&headers).unwrap(), None);
        for empty in ["", " "] {
            headers.insert(axum::http::header::IF_MATCH, empty.parse().unwrap());
            assert_eq!(if_match(&headers).unwrap(), None);
        }
        headers.insert(axum::http::header::IF_MATCH, "*".parse().unwrap());
        assert_eq!(if_match(&headers).unwrap(), Some(vec!["*".to_owned()]));
        headers.insert(axum::http::header::IF_MATCH, "x".parse().unwrap());
        assert_eq!(if_match(&headers).unwrap_err().code, "invalid_if_match");
    }
}
