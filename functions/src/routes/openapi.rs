//! `GET /api/openapi.json`: the OpenAPI 3 description of the whole API.

use axum::Json;
use serde_json::Value;

use crate::route_table::{Access, ROUTES};

pub mod operations;

/// Error codes the API can return, with their HTTP status.
pub const ERROR_CODES: &[(&str, u16, &str)] = &[
    ("invalid_user_id", 400, "user id empty, too long, with control characters or whitespace at either end"),
    ("invalid_k", 400, "k is not an integer from 1 to TOPTEN_MAX_K"),
    ("invalid_exclude", 400, "too many or too long excluded ids"),
    ("invalid_query", 400, "a malformed query parameter, or one the route does not take (the message names it)"),
    ("invalid_filter", 400, "a filter expression is malformed (the message names the position), a named filter does not exist, a $parameter has no value, or a category list is too long"),
    ("invalid_rank", 400, "the re-rank body is malformed: {\"itemIds\": [...]} with 1 to 500 valid ids (the message names itemIds[i])"),
    ("invalid_items", 400, "an item change is malformed (the message names items[i].field or the field); nothing was stored"),
    ("invalid_merge", 400, "a merge body that is not {\"from\": SESSION_ID} with a valid id (the message says why)"),
    ("merge_into_itself", 409, "a merge whose session is the user itself; nothing changed"),
    ("invalid_events", 400, "events body malformed or an event invalid (the message names events[i].field); nothing was stored"),
    ("invalid_item_id", 400, "item id empty, too long, with control characters or whitespace at either end, or reserved (trending)"),
    ("precondition_failed", 412, "If-Match on an item route does not match the item's current ETag; nothing was stored"),
    ("invalid_if_match", 400, "the If-Match header is not * or quoted entity tags"),
    ("item_not_found", 404, "the item is not in the active version"),
    ("no_item_factors", 404, "the active version carries no item factors (published by a backend without them)"),
    ("not_supported", 501, "the configured store does not support this operation"),
    ("user_not_found", 404, "unknown user, when TOPTEN_UNKNOWN_USER=not-found"),
    ("not_found", 404, "no such route"),
    ("method_not_allowed", 405, "the route exists for another method"),
    ("no_active_version", 503, "nothing published and activated yet"),
    ("store_unavailable", 503, "the store timed out or is shedding load; see Retry-After"),
    ("internal", 500, "unexpected failure (details are in the logs, not the response)"),
    ("unauthorized", 401, "TOPTEN_API_KEY is set and the request lacks it (x-functions-key header or code query parameter); events, the item routes, metrics, admin stats, the dashboard and the retrain trigger"),
    ("request_timeout", 408, "the request body did not arrive within TOPTEN_BODY_TIMEOUT_MS; the connection is closed"),
    ("body_too_large", 413, "the request body is larger than TOPTEN_MAX_BODY_BYTES"),
    ("uri_too_long", 414, "the request target is longer than TOPTEN_MAX_URI_BYTES"),
    ("unsupported_media_type", 415, "POST /api/events without Content-Type: application/json"),
    ("headers_too_large", 431, "the request head is larger than TOPTEN_MAX_HEADER_BYTES or has more than 100 headers"),
    ("malformed_request", 400, "the request line or a header is not valid HTTP/1.1"),
    ("invalid_content_length", 400, "Content-Length is not one decimal number, or several disagree"),
    ("invalid_transfer_encoding", 400, "Transfer-Encoding does not end with chunked, or on an HTTP/1.0 request"),
    ("invalid_body", 400, "the body could not be read: malformed chunked framing or the connection broke"),
    ("invalid_timer_payload", 400, "POST /retrain without the Azure Functions timer envelope"),
    ("server_timeout", 503, "the request took longer than TOPTEN_REQUEST_TIMEOUT_MS"),
];

/// What ids (user, item, event) may hold, as `topten_edge::ids` checks: no control characters
/// (Rust's `char::is_control`, the Unicode category Cc) and no whitespace at either end.
pub(crate) const ID_PATTERN: &str = "^[^\\s\\u0000-\\u001F\\u007F-\\u009F]([^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F])?$";

/// The OpenAPI document: the paths from the route table, the shared components.
pub fn spec() -> Value {
    let key = serde_json::json!([{"functionKeyHeader": []}, {"functionKeyQuery": []}]);
    let mut paths = serde_json::Map::new();
    for route in ROUTES {
        let Some((operation_id, operation)) = route.operation else {
            continue;
        };
        let mut operation = operation();
        operation["operationId"] = operation_id.into();
        if route.access == Access::Key {
            operation["security"] = key.clone();
        }
        let path = paths
            .entry(route.public_path())
            .or_insert_with(|| serde_json::json!({}));
        path[route.verb.lower()] = operation;
    }
    serde_json::json!({
        "openapi": "3.0.3",
        "info": {
            "title": "topten",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Precomputed personalised top-k recommendations, served from the active model version."
        },
        "paths": paths,
        "components": components(),
    })
}

/// The security schemes and schemas the operations refer to.
fn components() -> Value {
    let codes: Vec<&str> = ERROR_CODES.iter().map(|c| c.0).collect();
    let code_doc: String = ERROR_CODES
        .iter()
        .map(|(c, s, d)| format!("`{c}` ({s}): {d}. "))
        .collect();
    serde_json::json!({
        "securitySchemes": {
            "functionKeyHeader": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
            "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code"}
        },
        "schemas": {
            "Recommendations": {
                "type": "object",
                "required": ["userId", "modelVersion", "items", "source"],
                "properties": {
                    "userId": {"type": "string"},
                    "modelVersion": {"type": "string"},
                    "recommendationId": {"type": "string", "description": "this answer's signed id, r2:VERSION:ARM:STAMP:SCOPE:ITEMS:MAC (ARM is control, candidate or - outside experiments); send it back with events of the same user about its items (docs/guide.md, Signed recommendation ids)"},
                    "source": {"type": "string", "enum": ["personalized", "popular", "trending"]},
                    "items": {"type": "array", "items": {
                        "type": "object",
                        "required": ["itemId", "score"],
                        "properties": {"itemId": {"type": "string"}, "score": {"type": "number"}, "title": {"type": "string"},
                            "reason": {"type": "string", "enum": ["new"], "description": "why the item holds its place when not by its score alone: new, a place kept for new items (TOPTEN_NEW_ITEM_SLOTS)"},
                            "because": {"type": "array", "items": {"type": "object", "properties": {"itemId": {"type": "string"}, "weight": {"type": "number"}}}}}
                    }}
                }
            },
            "Events": events_schema(),
            "EventsAccepted": {
                "type": "object",
                "properties": {
                    "accepted": {"type": "integer"}, "stored": {"type": "integer"}, "duplicates": {"type": "integer"},
                    "attributed": {"type": "integer", "description": "positive events of the batch attributed to an answer (retries not counted)"},
                    "unattributedIds": {"type": "object", "additionalProperties": {"type": "integer"}, "description": "events whose recommendationId did not check, by reason (malformed, signature, unknown_version, not_listed, outside_window): stored, never credited"},
                    "refreshed": {"type": "array", "items": {"type": "string"}},
                    "itemsFoldedIn": {"type": "array", "items": {"type": "string"}, "description": "items whose factors this batch's events solved (new items and items trained from few interactions; each at most once per TOPTEN_ITEM_FOLD_IN_SECS, later events then solve it when that has passed)"},
                    "modelVersion": {"type": "string", "nullable": true}
                }
            },
            "Stats": stats_schema(),
            "Item": {
                "type": "object",
                "required": ["itemId", "available", "withdrawn", "servable"],
                "properties": {
                    "itemId": {"type": "string"}, "title": {"type": "string"},
                    "categories": {"type": "array", "items": {"type": "string"}},
                    "available": {"type": "boolean"}, "expiresAt": {"type": "string"},
                    "attributes": {"type": "object"},
                    "withdrawn": {"type": "boolean"}, "servable": {"type": "boolean", "description": "available, not withdrawn and not expired"}
                }
            },
            "ItemChange": item_change(false),
            "ItemChanges": {
                "type": "object",
                "required": ["items"],
                "additionalProperties": false,
                "properties": {"items": {"type": "array", "minItems": 1, "maxItems": 1000, "items": item_change(true)}}
            },
            "Similar": {
                "type": "object",
                "properties": {
                    "itemId": {"type": "string"}, "modelVersion": {"type": "string"},
                    "recommendationId": {"type": "string"},
                    "items": {"type": "array", "items": {"type": "object", "properties": {"itemId": {"type": "string"}, "score": {"type": "number"}, "title": {"type": "string"}}}}
                }
            },
            "Health": {
                "type": "object",
                "properties": {
                    "status": {"type": "string", "enum": ["ok", "unavailable"]},
                    "reason": {"type": "string", "nullable": true, "enum": ["store_unreachable", "no_active_version", "version_unreadable", null]},
                    "detail": {"type": "string", "nullable": true},
                    "version": {"type": "string"},
                    "store": {"type": "object", "properties": {"backend": {"type": "string"}, "reachable": {"type": "boolean"}, "error": {"type": "string", "nullable": true}}},
                    "activeVersion": {"type": "string", "nullable": true},
                    "activatedAt": {"type": "string", "nullable": true}
                }
            },
            "Error": {
                "type": "object",
                "required": ["error"],
                "description": code_doc,
                "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
                    "code": {"type": "string", "enum": codes},
                    "message": {"type": "string"}
                }}}
            }
        }
    })
}

/// The schema of `GET /api/admin/stats`.
fn stats_schema() -> Value {
    // Apart, as serde_json's macro would otherwise recurse past the compiler's limit.
    let holdout_schema = serde_json::json!({"type": "object", "description": "the headline holdout figure and what it was measured on", "properties": {
        "ndcg": {"type": "number", "nullable": true}, "k": {"type": "integer", "nullable": true},
        "madeBy": {"type": "string", "nullable": true}, "fingerprint": {"type": "string", "nullable": true},
        "testInteractions": {"type": "integer", "nullable": true}, "refitted": {"type": "boolean", "nullable": true},
        "label": {"type": "string", "description": "a letter per distinct holdout among the versions; ? when not recorded"},
        "description": {"type": "string"}}});
    let version_schema = serde_json::json!({"type": "object", "properties": {
        "version": {"type": "string"}, "status": {"type": "string"}, "createdAt": {"type": "string"},
        "users": {"type": "integer"}, "metrics": {"description": "offline metrics the version was published with"},
        "quality": {"type": "object", "nullable": true, "description": "the quality-gate decision (retrains)"},
        "holdout": holdout_schema}});
    // The rates of a group (docs/guide.md, "Online figures"): each from 0 to 1.
    let rate = |what: &str| serde_json::json!({"type": "number", "minimum": 0, "maximum": 1, "nullable": true, "description": what});
    let rates = serde_json::json!({
        "itemCtr": rate("shown items clicked over items shown (impressions' itemIds); null without impressions"),
        "listCtr": rate("answers with at least one click over answers shown"),
        "conversionPerAnswer": rate("answers with a purchase over answers shown"),
        "rateBasis": {"type": "string", "enum": ["impressions", "answers"], "description": "what answers shown are: answers with an impression, or (without impressions) answers served"},
        "itemsShown": {"type": "integer"}, "itemsClicked": {"type": "integer"},
        "answersShown": {"type": "integer"}, "answersClicked": {"type": "integer"},
        "answersConverted": {"type": "integer"}});
    let past_experiments = serde_json::json!({"type": "array", "description": "ended experiments, most recent first, with their verdicts", "items": {"type": "object", "properties": {
        "id": {"type": "string"}, "control": {"type": "string"}, "candidate": {"type": "string"},
        "share": {"type": "number"}, "startedAt": {"type": "string"}, "endedAt": {"type": "string"},
        "decision": {"type": "string"}, "decidedBy": {"type": "string"},
        "winner": {"type": "string", "nullable": true}, "summary": {"type": "string"}}}});
    let top_items = serde_json::json!({"type": "array", "description": "the most shown items of the window (impressions), with titles", "items": {"type": "object", "properties": {
        "itemId": {"type": "string"}, "title": {"type": "string", "nullable": true},
        "shown": {"type": "integer", "description": "answers that showed it"},
        "clicked": {"type": "integer", "description": "of those, answers where it got a positive event"},
        "share": {"type": "number", "description": "its share of all shown slots (0 to 1)"},
        "itemCtr": {"type": "number", "description": "clicked / shown"}}}});
    let coverage = serde_json::json!({"type": "object", "description": "how much of the active version's catalogue the window's shown answers covered", "properties": {
        "itemsShown": {"type": "integer"}, "catalogueItems": {"type": "integer", "nullable": true},
        "share": {"type": "number", "nullable": true}}});
    let with_rates = |mut fields: Value| {
        if let (Some(f), Some(r)) = (fields.as_object_mut(), rates.as_object()) {
            f.extend(r.clone());
        }
        fields
    };
    serde_json::json!({
        "type": "object",
        "required": ["generatedAt", "hours", "fromMs", "toMs", "versions", "totals", "hourly", "eventsPerMinute"],
        "properties": {
            "generatedAt": {"type": "string"}, "hours": {"type": "integer"},
            "fromMs": {"type": "integer"}, "toMs": {"type": "integer"},
            "activeVersion": {"type": "string", "nullable": true},
            "versions": {"type": "array", "items": version_schema},
            "holdoutNote": {"type": "string", "nullable": true, "description": "set when the versions' figures come from different holdouts, which do not compare"},
            "experiment": {"type": "object", "nullable": true, "description": "the running experiment's report (as topten experiment report --json)"},
            "totals": {"type": "array", "items": {"type": "object", "properties": with_rates(serde_json::json!({
                "version": {"type": "string"}, "answers": {"type": "integer"}, "impressions": {"type": "integer"},
                "clicks": {"type": "integer"}, "conversions": {"type": "integer"}}))}},
            "hourly": {"type": "array", "items": {"type": "object", "properties": with_rates(serde_json::json!({
                "hourMs": {"type": "integer", "description": "the hour the answers were served"}, "version": {"type": "string"},
                "arm": {"type": "string", "enum": ["control", "candidate"], "nullable": true},
                "answers": {"type": "integer"}, "impressions": {"type": "integer"},
                "clicks": {"type": "integer"}, "conversions": {"type": "integer"}}))}},
            "eventsPerMinute": {"type": "array", "items": {"type": "object", "properties": {
                "minuteMs": {"type": "integer"}, "events": {"type": "integer"}}}},
            "pastExperiments": past_experiments,
            "topItems": top_items,
            "coverage": coverage
        }
    })
}

/// The schema of `POST /api/events`'s body.
fn events_schema() -> Value {
    serde_json::json!({
        "type": "object",
        "required": ["events"],
        "additionalProperties": false,
        "properties": {"events": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {
            "type": "object",
            "required": ["userId", "type"],
            "additionalProperties": false,
            "properties": {
                "eventId": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": ID_PATTERN, "description": "makes retries idempotent"},
                "userId": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": ID_PATTERN},
                "itemId": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": ID_PATTERN, "description": "every type but impression"},
                "itemIds": {"type": "array", "minItems": 1, "maxItems": topten_live::events::MAX_ITEMS_PER_IMPRESSION, "uniqueItems": true, "items": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": ID_PATTERN}, "description": "impression only: the items shown, in order"},
                "recommendationId": {"type": "string", "maxLength": topten_live::events::MAX_RECOMMENDATION_ID_LEN, "pattern": "^r2:[^\\r\\n]+:(control|candidate|-):[0-9a-fA-F]{17,32}:(u|-):([A-Za-z0-9_-]{4})*:[A-Za-z0-9_-]{20}$|^r1:[^\\r\\n]+:(control|candidate|-):[0-9a-fA-F]{17,32}$", "description": "the recommendationId of the answer the event responds to (an impression: whose list was shown). Credited only when it checks (signed by this service, served to this event's user, in a version that exists, listing the item); otherwise the event is stored unattributed. The unsigned r1 form of older releases is accepted and never credited."},
                "type": {"type": "string", "enum": topten_live::events::EVENT_TYPES.iter().map(|t| t.0).collect::<Vec<_>>()},
                "value": {"type": "number", "minimum": 0, "maximum": topten_model::interactions::MAX_ABS_VALUE, "description": "required for ratings; other types default to their strength"},
                "timestamp": {"type": "integer", "minimum": 0, "maximum": 4_102_444_800_i64, "description": "epoch seconds (1970 to 2100); default: now"}
            },
            // A rating needs its value; the other types default to their strength.
            // An impression lists itemIds and has no value.
            "anyOf": [
                {"properties": {"type": {"enum": ["rating"]}}, "required": ["itemId", "value"], "not": {"required": ["itemIds"]}},
                {"properties": {"type": {"enum": ["impression"]}}, "required": ["itemIds"], "not": {"anyOf": [{"required": ["itemId"]}, {"required": ["value"]}]}},
                {"properties": {"type": {"enum": topten_live::events::EVENT_TYPES.iter().map(|t| t.0).filter(|t| !["rating", "impression"].contains(t)).collect::<Vec<_>>()}}, "required": ["itemId"], "not": {"required": ["itemIds"]}}
            ]
        }}}
    })
}

/// Serves [`spec`].
pub async fn openapi_get() -> Json<serde_json::Value> {
    Json(spec())
}

/// The schema of an item change; `with_id`: in a batch, where `itemId` names the item.
fn item_change(with_id: bool) -> serde_json::Value {
    use topten_model::catalogue::live;
    let mut properties = serde_json::json!({
        "title": {"type": "string", "maxLength": live::MAX_TITLE_CHARS},
        "categories": {"type": "array", "maxItems": live::MAX_CATEGORIES, "items": {"type": "string", "maxLength": live::MAX_CATEGORY_CHARS}},
        "available": {"type": "boolean"},
        "expiresAt": {"type": "string", "format": "date-time", "nullable": true, "description": "RFC 3339; null removes the expiry"},
        "attributes": {"type": "object", "maxProperties": live::MAX_ATTRIBUTES_PER_CHANGE, "description": format!("values are numbers, strings or booleans; null removes the attribute; names of at most {} characters; an item keeps at most {} attributes", live::MAX_ATTRIBUTE_NAME_CHARS, live::MAX_ATTRIBUTES), "additionalProperties": {"nullable": true, "oneOf": [{"type": "number"}, {"type": "string", "maxLength": live::MAX_ATTRIBUTE_TEXT_CHARS}, {"type": "boolean"}]}}
    });
    let mut schema = serde_json::json!({"type": "object", "additionalProperties": false});
    if with_id {
        properties["itemId"] = serde_json::json!({"type": "string", "minLength": 1, "maxLength": 128, "pattern": ID_PATTERN});
        schema["required"] = serde_json::json!(["itemId"]);
    }
    schema["properties"] = properties;
    schema
}
