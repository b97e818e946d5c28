//! The operation object of each documented route, in route-table order; the table
//! ([`crate::route_table::ROUTES`]) adds `operationId` and, for routes behind the key,
//! `security`, and [`super::spec`] places them under their paths.

use serde_json::{json, Value};

use super::ID_PATTERN;

/// An error answer with its description.
fn err_resp(desc: &str) -> Value {
    json!({"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

/// Adds the answers any request can get before its handler runs (request-head checks, a query
/// parameter the route does not take).
fn common(mut responses: Value) -> Value {
    if responses.get("400").is_none() {
        responses["400"] = err_resp("a query parameter the route does not take (invalid_query)");
    }
    for (status, desc) in [
        ("414", "request target too long (uri_too_long)"),
        ("431", "request head too large (headers_too_large)"),
    ] {
        responses[status] = err_resp(desc);
    }
    responses
}

/// [`common`] plus the answers of routes that read a body.
fn with_body(mut responses: Value) -> Value {
    for (status, desc) in [
        ("408", "the body did not arrive in time (request_timeout)"),
        ("413", "body too large (body_too_large)"),
    ] {
        responses[status] = err_resp(desc);
    }
    common(responses)
}

fn item_param() -> Value {
    json!({"name": "itemId", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": ID_PATTERN}})
}

fn if_match() -> Value {
    json!({"name": "If-Match", "in": "header", "required": false, "description": "the ETag of a GET: change only if the item is still as read (412 otherwise); * requires only that it exists; empty sets no condition", "schema": {"type": "string", "pattern": "^(|\\*|(W/)?\"[!#-~]*\"(, ?(W/)?\"[!#-~]*\")*)$"}})
}

fn etag() -> Value {
    json!({"ETag": {"description": "the item's entity tag, for If-Match", "schema": {"type": "string"}}})
}

/// `GET /api/recommendations/{userId}`.
pub fn recommendations_get() -> Value {
    json!({
            "summary": "A user's top-k recommendations",
            "parameters": [
                {"name": "userId", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": ID_PATTERN}},
                {"name": "k", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}},
                {"name": "exclude", "in": "query", "required": false, "description": "comma-separated item ids to leave out", "schema": {"type": "string"}},
                {"name": "explain", "in": "query", "required": false, "description": "add to each personalized item `because`: the up to 3 items of the user's history that contributed most to its score, with their weights", "schema": {"type": "boolean"}},
                {"name": "category", "in": "query", "required": false, "description": "comma-separated categories: only items in any of them", "schema": {"type": "string"}},
                {"name": "excludeCategory", "in": "query", "required": false, "description": "comma-separated categories: no item in any of them", "schema": {"type": "string"}},
                {"name": "filter", "in": "query", "required": false, "description": "a filter expression over categories and attributes, or the name of one defined in TOPTEN_FILTERS; its $parameters come from other query parameters (400 invalid_filter when malformed)", "schema": {"type": "string"}}
            ],
            "responses": common(json!({
                "200": {"description": "recommendations, best first", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Recommendations"}}}},
                "400": err_resp("invalid user id, k, exclude, filter or explain, or a query parameter the route does not take (invalid_query, naming it)"),
                "404": err_resp("unknown user (only when configured to 404)"),
                "503": err_resp("no active version, or store unavailable (Retry-After)")
            }))
    })
}

/// `POST /api/recommendations/{userId}/rank`.
pub fn rank_post() -> Value {
    json!({
            "summary": "Order the caller's candidates by the user's scores; unknown or unservable items last with score null, in the caller's order",
            "parameters": [
                {"name": "userId", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": ID_PATTERN}}
            ],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {
                "type": "object", "required": ["itemIds"], "additionalProperties": false,
                "properties": {"itemIds": {"type": "array", "minItems": 1, "maxItems": 500, "items": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": ID_PATTERN}}}
            }}}},
            "responses": with_body(json!({
                "200": {"description": "the items, best first", "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "userId": {"type": "string"}, "modelVersion": {"type": "string"}, "recommendationId": {"type": "string"},
                    "items": {"type": "array", "items": {"type": "object", "required": ["itemId", "score", "seen"], "properties": {"itemId": {"type": "string"}, "score": {"type": "number", "nullable": true}, "seen": {"type": "boolean", "description": "the user has the item (training history or a live event): unscored, last"}, "title": {"type": "string"}}}}
                }}}}},
                "400": err_resp("invalid user id or body (invalid_rank)"),
                "415": err_resp("Content-Type is not application/json (unsupported_media_type)"),
                "503": err_resp("no active version, or store unavailable")
            }))
    })
}

/// `POST /api/events`.
pub fn events_post() -> Value {
    json!({
            "summary": "Record interactions; users with new events get fresh recommendations at once",
            "description": "Needs Content-Type: application/json. Unknown fields and null values are refused. When TOPTEN_API_KEY is set (or under Azure Functions, with function-level auth) the key is required.",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Events"}}}},
            "responses": with_body(json!({
                "200": {"description": "stored (duplicates by eventId skipped) and folded in", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EventsAccepted"}}}},
                "400": err_resp("invalid body or event; nothing stored"),
                "401": err_resp("API key missing or wrong (unauthorized)"),
                "415": err_resp("Content-Type is not application/json (unsupported_media_type)"),
                "501": err_resp("the store does not support events"),
                "503": err_resp("store unavailable (Retry-After), or the request took too long (server_timeout)")
            }))
    })
}

/// `GET /api/items/trending`.
pub fn trending_get() -> Value {
    json!({
            "summary": "Items users interacted with most in a recent window, recent interactions counting more; servable ones only, filled with popular items",
            "parameters": [
                {"name": "k", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}},
                {"name": "window", "in": "query", "required": false, "description": "minutes, hours or days, e.g. 30m, 24h, 7d", "schema": {"type": "string", "pattern": "^[1-9][0-9]{0,2}[mhd]$", "default": "24h"}}
            ],
            "responses": common(json!({
                "200": {"description": "trending items, most first", "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "modelVersion": {"type": "string"}, "window": {"type": "string"},
                    "items": {"type": "array", "items": {"type": "object", "properties": {"itemId": {"type": "string"}, "score": {"type": "number"}, "title": {"type": "string"}}}}
                }}}}},
                "400": err_resp("invalid k or window (invalid_query)"),
                "503": err_resp("no active version")
            }))
    })
}

/// `GET /api/items/{itemId}`.
pub fn item_get() -> Value {
    json!({
            "summary": "An item as it stands: the active version's catalogue entry with the live changes on top",
            "parameters": [item_param()],
            "responses": common(json!({
                "200": {"description": "the item", "headers": etag(), "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}},
                "400": err_resp("invalid item id"),
                "401": err_resp("API key missing or wrong (unauthorized)"),
                "404": err_resp("not in the catalogue or the active version (item_not_found)"),
                "501": err_resp("the store is read-only")
            }))
    })
}

/// `PUT /api/items/{itemId}`.
pub fn item_put() -> Value {
    json!({
            "summary": "Change one item: the fields given replace the item's; served from the next request on every instance (within TOPTEN_ACTIVE_TTL_MS)",
            "parameters": [item_param(), if_match()],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ItemChange"}}}},
            "responses": with_body(json!({
                "200": {"description": "the item after the change", "headers": etag(), "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}},
                "400": err_resp("invalid item id or change (invalid_items), or If-Match (invalid_if_match)"),
                "412": err_resp("If-Match does not match the item's ETag (precondition_failed); nothing stored"),
                "401": err_resp("API key missing or wrong (unauthorized)"),
                "415": err_resp("Content-Type is not application/json (unsupported_media_type)"),
                "501": err_resp("the store is read-only")
            }))
    })
}

/// `DELETE /api/items/{itemId}`.
pub fn item_delete() -> Value {
    json!({
            "summary": "Withdraw an item: never served again until a change makes it available",
            "parameters": [item_param(), if_match()],
            "responses": common(json!({
                "200": {"description": "the withdrawn item", "headers": etag(), "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}},
                "400": err_resp("invalid item id, or If-Match (invalid_if_match)"),
                "412": err_resp("If-Match does not match the item's ETag (precondition_failed); nothing stored"),
                "401": err_resp("API key missing or wrong (unauthorized)"),
                "404": err_resp("not in the catalogue or the active version (item_not_found)"),
                "501": err_resp("the store is read-only")
            }))
    })
}

/// `POST /api/items`.
pub fn items_post() -> Value {
    json!({
            "summary": "Change many items at once; all or nothing, an error names items[i].field",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ItemChanges"}}}},
            "responses": with_body(json!({
                "200": {"description": "the items after the changes", "content": {"application/json": {"schema": {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}}}}}}},
                "400": err_resp("invalid body or change; nothing stored (invalid_items)"),
                "401": err_resp("API key missing or wrong (unauthorized)"),
                "415": err_resp("Content-Type is not application/json (unsupported_media_type)"),
                "501": err_resp("the store is read-only")
            }))
    })
}

/// `GET /api/items/{itemId}/similar`.
pub fn similar_get() -> Value {
    json!({
            "summary": "Items most similar to an item (cosine of item factors)",
            "parameters": [
                {"name": "itemId", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": ID_PATTERN}},
                {"name": "k", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}},
                {"name": "category", "in": "query", "required": false, "description": "comma-separated categories: only items in any of them", "schema": {"type": "string"}},
                {"name": "excludeCategory", "in": "query", "required": false, "description": "comma-separated categories: no item in any of them", "schema": {"type": "string"}},
                {"name": "filter", "in": "query", "required": false, "description": "a filter expression or the name of one defined in TOPTEN_FILTERS (400 invalid_filter when malformed)", "schema": {"type": "string"}}
            ],
            "responses": common(json!({
                "200": {"description": "similar items, most similar first", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Similar"}}}},
                "400": err_resp("invalid item id, k or filter"),
                "404": err_resp("unknown item, or no item factors"),
                "503": err_resp("no active version")
            }))
    })
}

/// `GET /api/health`.
pub fn health_get() -> Value {
    json!({
            "summary": "Store reachability and active version",
            "responses": {
                "200": {"description": "healthy", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}},
                "400": err_resp("a query parameter the route does not take (invalid_query)"),
                "503": {"description": "store unreachable, nothing active, or the active version does not read (reason)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}
            }
    })
}

/// `GET /api/openapi.json`.
pub fn openapi_get() -> Value {
    json!({"summary": "This document", "responses": {"200": {"description": "OpenAPI 3 document"}, "400": err_resp("a query parameter the route does not take (invalid_query)")}})
}

/// `GET /api/metrics`.
pub fn metrics_get() -> Value {
    json!({
            "summary": "Counters and latency histograms in the Prometheus text format (0.0.4)",
            "description": "Requests by route template, method and status with latency histograms, connections closed on the header timeout, store errors and breaker state, events accepted and stored, fold-in latency. Needs the API key when TOPTEN_API_KEY is set (function-level auth under Azure Functions).",
            "responses": common(json!({
                "200": {"description": "the exposition", "content": {"text/plain": {"schema": {"type": "string"}}}},
                "401": err_resp("API key missing or wrong (unauthorized)")
            }))
    })
}

/// `GET /api/admin/stats`.
pub fn admin_stats_get() -> Value {
    json!({
            "summary": "Online figures: per version and hour, the running experiment's report, events per minute, the versions",
            "description": "Sums over the stored events (with their attribution) and every instance's answer counts, so every instance answers the same. Scans the window's events: an admin route. Needs the API key when TOPTEN_API_KEY is set (function-level auth under Azure Functions).",
            "parameters": [
                {"name": "hours", "in": "query", "required": false, "description": "the window, in hours", "schema": {"type": "integer", "minimum": 1, "maximum": crate::routes::admin::MAX_HOURS, "default": 24}}
            ],
            "responses": common(json!({
                "200": {"description": "the figures", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Stats"}}}},
                "400": err_resp("hours not a whole number from 1 to 168, or another query parameter (invalid_query)"),
                "401": err_resp("API key missing or wrong (unauthorized)"),
                "501": err_resp("the backend is a read-only list file (unsupported)")
            }))
    })
}

/// `GET /api/admin/dashboard`.
pub fn admin_dashboard_get() -> Value {
    json!({
            "summary": "The operations dashboard: one self-contained HTML page that reads /api/admin/stats and /api/metrics and refreshes itself",
            "description": "Open it with the key as ?code=KEY; the page sends it on its own requests. ?refresh=SECONDS sets the refresh period (default 10).",
            "parameters": [
                {"name": "refresh", "in": "query", "required": false, "description": "seconds between refreshes (read by the page)", "schema": {"type": "string"}}
            ],
            "responses": common(json!({
                "200": {"description": "the page", "content": {"text/html": {"schema": {"type": "string"}}}},
                "401": err_resp("API key missing or wrong (unauthorized)")
            }))
    })
}

fn user_param() -> Value {
    json!({"name": "userId", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": ID_PATTERN}})
}

/// The answer of forgetting a user.
fn forgotten_schema() -> Value {
    json!({
        "type": "object",
        "required": ["userId", "events", "lists", "histories", "versions", "forgottenMs"],
        "properties": {
            "userId": {"type": "string"},
            "events": {"type": "integer", "minimum": 0, "description": "events deleted (interactions and impressions, with their attribution)"},
            "lists": {"type": "integer", "minimum": 0, "description": "versions in which the user's list was deleted"},
            "histories": {"type": "integer", "minimum": 0, "description": "versions in which the user's training history was deleted"},
            "versions": {"type": "integer", "minimum": 0},
            "forgottenMs": {"type": "integer", "description": "the tombstone's time, epoch milliseconds"}
        }
    })
}

/// `DELETE /api/users/{userId}`.
pub fn user_delete() -> Value {
    json!({
        "summary": "Forget a user: their events, their list and training history in every version; a tombstone keeps retrains from learning them again (idempotent)",
        "parameters": [user_param()],
        "responses": common(json!({
            "200": {"description": "what was deleted", "content": {"application/json": {"schema": forgotten_schema()}}},
            "400": err_resp("invalid user id (invalid_user_id)"),
            "401": err_resp("API key missing or wrong (unauthorized)"),
            "501": err_resp("the store is read-only")
        }))
    })
}

/// `POST /api/users/{userId}/merge`.
pub fn user_merge_post() -> Value {
    json!({
        "summary": "Merge a visitor's session into the account: the session's events become the user's, the user is folded in, the session is forgotten (idempotent)",
        "parameters": [user_param()],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
            "type": "object", "required": ["from"], "additionalProperties": false,
            "properties": {"from": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": ID_PATTERN, "description": "the session id the visitor's events were sent under"}}
        }}}},
        "responses": with_body(json!({
            "200": {"description": "what the merge did", "content": {"application/json": {"schema": {
                "type": "object",
                "required": ["userId", "from", "moved", "refreshed", "forgotten"],
                "properties": {
                    "userId": {"type": "string"},
                    "from": {"type": "string"},
                    "moved": {"type": "integer", "minimum": 0, "description": "session events stored as the user's (0 on a retry)"},
                    "refreshed": {"type": "boolean", "description": "whether the user's list was folded in afresh"},
                    "forgotten": forgotten_schema()
                }
            }}}},
            "400": err_resp("invalid user id (invalid_user_id) or body (invalid_merge)"),
            "409": err_resp("the session is the user itself (merge_into_itself); nothing changed"),
            "401": err_resp("API key missing or wrong (unauthorized)"),
            "415": err_resp("Content-Type is not application/json (unsupported_media_type)"),
            "501": err_resp("the store is read-only")
        }))
    })
}

/// `GET /api/users/{userId}/data`.
pub fn user_data_get() -> Value {
    json!({
        "summary": "Everything topten holds about a user (GDPR article 15): events with their attribution, lists and training histories in every version, experiment arm, tombstone",
        "parameters": [user_param()],
        "responses": common(json!({
            "200": {"description": "the user's data", "content": {"application/json": {"schema": {
                "type": "object",
                "required": ["userId", "events", "attributedEvents", "lists", "histories", "experiment", "tombstone"],
                "properties": {
                    "userId": {"type": "string"},
                    "events": {"type": "array", "items": {"type": "object"}},
                    "attributedEvents": {"type": "integer", "minimum": 0},
                    "lists": {"type": "array", "items": {"type": "object", "required": ["version", "serving", "createdAt", "items"], "properties": {
                        "version": {"type": "string"}, "serving": {"type": "boolean"}, "createdAt": {"type": "string"},
                        "items": {"type": "array", "items": {"type": "object"}}
                    }}},
                    "histories": {"type": "array", "items": {"type": "object", "required": ["version", "items"], "properties": {
                        "version": {"type": "string"},
                        "items": {"type": "array", "items": {"type": "array", "minItems": 2, "maxItems": 2}}
                    }}},
                    "experiment": {"type": "object", "nullable": true},
                    "tombstone": {"type": "object", "nullable": true}
                }
            }}}},
            "400": err_resp("invalid user id (invalid_user_id)"),
            "401": err_resp("API key missing or wrong (unauthorized)"),
            "501": err_resp("the store is read-only")
        }))
    })
}
