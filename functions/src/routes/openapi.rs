//! `GET /api/openapi.json`: the OpenAPI 3 description of the whole API.

use axum::Json;

/// Error codes the API can return, with their HTTP status.
pub const ERROR_CODES: &[(&str, u16, &str)] = &[
    ("invalid_user_id", 400, "user id empty, too long, with control characters or whitespace at either end"),
    ("invalid_k", 400, "k is not an integer from 1 to TOPTEN_MAX_K"),
    ("invalid_exclude", 400, "too many or too long excluded ids"),
    ("invalid_query", 400, "a malformed query parameter, or one the route does not take (the message names it)"),
    ("invalid_filter", 400, "a filter expression is malformed (the message names the position), a named filter does not exist, a $parameter has no value, or a category list is too long"),
    ("invalid_rank", 400, "the re-rank body is malformed: {\"itemIds\": [...]} with 1 to 500 valid ids (the message names itemIds[i])"),
    ("invalid_items", 400, "an item change is malformed (the message names items[i].field or the field); nothing was stored"),
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
const ID_PATTERN: &str = "^[^\\s\\u0000-\\u001F\\u007F-\\u009F]([^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F])?$";

/// The OpenAPI document.
pub fn spec() -> serde_json::Value {
    let item_param = serde_json::json!({"name": "itemId", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": ID_PATTERN}});
    let if_match = serde_json::json!({"name": "If-Match", "in": "header", "required": false, "description": "the ETag of a GET: change only if the item is still as read (412 otherwise); * requires only that it exists", "schema": {"type": "string", "pattern": "^(\\*|(W/)?\"[!#-~]*\"(, ?(W/)?\"[!#-~]*\")*)$"}});
    let etag = serde_json::json!({"ETag": {"description": "the item's entity tag, for If-Match", "schema": {"type": "string"}}});
    let error = serde_json::json!({"$ref": "#/components/schemas/Error"});
    let err_resp = |desc: &str| serde_json::json!({"description": desc, "content": {"application/json": {"schema": error}}});
    // Answers any request can get before its handler runs (request-head checks, timeouts, a
    // query parameter the route does not take).
    let common = |mut responses: serde_json::Value| {
        if responses.get("400").is_none() {
            responses["400"] =
                err_resp("a query parameter the route does not take (invalid_query)");
        }
        for (status, desc) in [
            ("414", "request target too long (uri_too_long)"),
            ("431", "request head too large (headers_too_large)"),
        ] {
            responses[status] = err_resp(desc);
        }
        responses
    };
    let with_body = |mut responses: serde_json::Value| {
        for (status, desc) in [
            ("408", "the body did not arrive in time (request_timeout)"),
            ("413", "body too large (body_too_large)"),
        ] {
            responses[status] = err_resp(desc);
        }
        common(responses)
    };
    let key = serde_json::json!([{"functionKeyHeader": []}, {"functionKeyQuery": []}]);
    let codes: Vec<&str> = ERROR_CODES.iter().map(|c| c.0).collect();
    let code_doc: String = ERROR_CODES
        .iter()
        .map(|(c, s, d)| format!("`{c}` ({s}): {d}. "))
        .collect();
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
    let stats_schema = serde_json::json!({
        "type": "object",
        "required": ["generatedAt", "hours", "fromMs", "toMs", "versions", "totals", "hourly", "eventsPerMinute"],
        "properties": {
            "generatedAt": {"type": "string"}, "hours": {"type": "integer"},
            "fromMs": {"type": "integer"}, "toMs": {"type": "integer"},
            "activeVersion": {"type": "string", "nullable": true},
            "versions": {"type": "array", "items": version_schema},
            "holdoutNote": {"type": "string", "nullable": true, "description": "set when the versions' figures come from different holdouts, which do not compare"},
            "experiment": {"type": "object", "nullable": true, "description": "the running experiment's report (as topten experiment report --json)"},
            "totals": {"type": "array", "items": {"type": "object", "properties": {
                "version": {"type": "string"}, "answers": {"type": "integer"}, "impressions": {"type": "integer"},
                "clicks": {"type": "integer"}, "conversions": {"type": "integer"}, "ctr": {"type": "number", "nullable": true}}}},
            "hourly": {"type": "array", "items": {"type": "object", "properties": {
                "hourMs": {"type": "integer"}, "version": {"type": "string"},
                "arm": {"type": "string", "enum": ["control", "candidate"], "nullable": true},
                "answers": {"type": "integer"}, "impressions": {"type": "integer"},
                "clicks": {"type": "integer"}, "conversions": {"type": "integer"},
                "ctr": {"type": "number", "nullable": true},
                "ctrBasis": {"type": "string", "enum": ["impressions", "answers"]}}}},
            "eventsPerMinute": {"type": "array", "items": {"type": "object", "properties": {
                "minuteMs": {"type": "integer"}, "events": {"type": "integer"}}}}
        }
    });
    serde_json::json!({
        "openapi": "3.0.3",
        "info": {
            "title": "topten",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Precomputed personalised top-k recommendations, served from the active model version."
        },
        "paths": {
            "/api/recommendations/{userId}": {
                "get": {
                    "operationId": "recommendations_get",
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
                    "responses": common(serde_json::json!({
                        "200": {"description": "recommendations, best first", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Recommendations"}}}},
                        "400": err_resp("invalid user id, k, exclude, filter or explain, or a query parameter the route does not take (invalid_query, naming it)"),
                        "404": err_resp("unknown user (only when configured to 404)"),
                        "503": err_resp("no active version, or store unavailable (Retry-After)")
                    }))
                }
            },
            "/api/recommendations/{userId}/rank": {
                "post": {
                    "operationId": "rank_post",
                    "summary": "Order the caller's candidates by the user's scores; unknown or unservable items last with score null, in the caller's order",
                    "parameters": [
                        {"name": "userId", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": ID_PATTERN}}
                    ],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {
                        "type": "object", "required": ["itemIds"], "additionalProperties": false,
                        "properties": {"itemIds": {"type": "array", "minItems": 1, "maxItems": 500, "items": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": ID_PATTERN}}}
                    }}}},
                    "responses": with_body(serde_json::json!({
                        "200": {"description": "the items, best first", "content": {"application/json": {"schema": {"type": "object", "properties": {
                            "userId": {"type": "string"}, "modelVersion": {"type": "string"}, "recommendationId": {"type": "string"},
                            "items": {"type": "array", "items": {"type": "object", "required": ["itemId", "score", "seen"], "properties": {"itemId": {"type": "string"}, "score": {"type": "number", "nullable": true}, "seen": {"type": "boolean", "description": "the user has the item (training history or a live event): unscored, last"}, "title": {"type": "string"}}}}
                        }}}}},
                        "400": err_resp("invalid user id or body (invalid_rank)"),
                        "415": err_resp("Content-Type is not application/json (unsupported_media_type)"),
                        "503": err_resp("no active version, or store unavailable")
                    }))
                }
            },
            "/api/events": {
                "post": {
                    "operationId": "events_post",
                    "summary": "Record interactions; users with new events get fresh recommendations at once",
                    "description": "Needs Content-Type: application/json. Unknown fields and null values are refused. When TOPTEN_API_KEY is set (or under Azure Functions, with function-level auth) the key is required.",
                    "security": key,
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Events"}}}},
                    "responses": with_body(serde_json::json!({
                        "200": {"description": "stored (duplicates by eventId skipped) and folded in", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EventsAccepted"}}}},
                        "400": err_resp("invalid body or event; nothing stored"),
                        "401": err_resp("API key missing or wrong (unauthorized)"),
                        "415": err_resp("Content-Type is not application/json (unsupported_media_type)"),
                        "501": err_resp("the store does not support events"),
                        "503": err_resp("store unavailable (Retry-After), or the request took too long (server_timeout)")
                    }))
                }
            },
            "/api/items/trending": {
                "get": {
                    "operationId": "trending_get",
                    "summary": "Items users interacted with most in a recent window, recent interactions counting more; servable ones only, filled with popular items",
                    "parameters": [
                        {"name": "k", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}},
                        {"name": "window", "in": "query", "required": false, "description": "minutes, hours or days, e.g. 30m, 24h, 7d", "schema": {"type": "string", "pattern": "^[1-9][0-9]{0,2}[mhd]$", "default": "24h"}}
                    ],
                    "responses": common(serde_json::json!({
                        "200": {"description": "trending items, most first", "content": {"application/json": {"schema": {"type": "object", "properties": {
                            "modelVersion": {"type": "string"}, "window": {"type": "string"},
                            "items": {"type": "array", "items": {"type": "object", "properties": {"itemId": {"type": "string"}, "score": {"type": "number"}, "title": {"type": "string"}}}}
                        }}}}},
                        "400": err_resp("invalid k or window (invalid_query)"),
                        "503": err_resp("no active version")
                    }))
                }
            },
            "/api/items/{itemId}": {
                "get": {
                    "operationId": "item_get",
                    "summary": "An item as it stands: the active version's catalogue entry with the live changes on top",
                    "security": key,
                    "parameters": [item_param],
                    "responses": common(serde_json::json!({
                        "200": {"description": "the item", "headers": etag, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}},
                        "400": err_resp("invalid item id"),
                        "401": err_resp("API key missing or wrong (unauthorized)"),
                        "404": err_resp("not in the catalogue or the active version (item_not_found)"),
                        "501": err_resp("the store is read-only")
                    }))
                },
                "put": {
                    "operationId": "item_put",
                    "summary": "Change one item: the fields given replace the item's; served from the next request on every instance (within TOPTEN_ACTIVE_TTL_MS)",
                    "security": key,
                    "parameters": [item_param, if_match],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ItemChange"}}}},
                    "responses": with_body(serde_json::json!({
                        "200": {"description": "the item after the change", "headers": etag, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}},
                        "400": err_resp("invalid item id or change (invalid_items), or If-Match (invalid_if_match)"),
                        "412": err_resp("If-Match does not match the item's ETag (precondition_failed); nothing stored"),
                        "401": err_resp("API key missing or wrong (unauthorized)"),
                        "415": err_resp("Content-Type is not application/json (unsupported_media_type)"),
                        "501": err_resp("the store is read-only")
                    }))
                },
                "delete": {
                    "operationId": "item_delete",
                    "summary": "Withdraw an item: never served again until a change makes it available",
                    "security": key,
                    "parameters": [item_param, if_match],
                    "responses": common(serde_json::json!({
                        "200": {"description": "the withdrawn item", "headers": etag, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}},
                        "400": err_resp("invalid item id, or If-Match (invalid_if_match)"),
                        "412": err_resp("If-Match does not match the item's ETag (precondition_failed); nothing stored"),
                        "401": err_resp("API key missing or wrong (unauthorized)"),
                        "404": err_resp("not in the catalogue or the active version (item_not_found)"),
                        "501": err_resp("the store is read-only")
                    }))
                }
            },
            "/api/items": {
                "post": {
                    "operationId": "items_post",
                    "summary": "Change many items at once; all or nothing, an error names items[i].field",
                    "security": key,
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ItemChanges"}}}},
                    "responses": with_body(serde_json::json!({
                        "200": {"description": "the items after the changes", "content": {"application/json": {"schema": {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}}}}}}},
                        "400": err_resp("invalid body or change; nothing stored (invalid_items)"),
                        "401": err_resp("API key missing or wrong (unauthorized)"),
                        "415": err_resp("Content-Type is not application/json (unsupported_media_type)"),
                        "501": err_resp("the store is read-only")
                    }))
                }
            },
            "/api/items/{itemId}/similar": {
                "get": {
                    "operationId": "similar_get",
                    "summary": "Items most similar to an item (cosine of item factors)",
                    "parameters": [
                        {"name": "itemId", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": ID_PATTERN}},
                        {"name": "k", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}},
                        {"name": "category", "in": "query", "required": false, "description": "comma-separated categories: only items in any of them", "schema": {"type": "string"}},
                        {"name": "excludeCategory", "in": "query", "required": false, "description": "comma-separated categories: no item in any of them", "schema": {"type": "string"}},
                        {"name": "filter", "in": "query", "required": false, "description": "a filter expression or the name of one defined in TOPTEN_FILTERS (400 invalid_filter when malformed)", "schema": {"type": "string"}}
                    ],
                    "responses": common(serde_json::json!({
                        "200": {"description": "similar items, most similar first", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Similar"}}}},
                        "400": err_resp("invalid item id, k or filter"),
                        "404": err_resp("unknown item, or no item factors"),
                        "503": err_resp("no active version")
                    }))
                }
            },
            "/api/health": {
                "get": {
                    "operationId": "health_get",
                    "summary": "Store reachability and active version",
                    "responses": {
                        "200": {"description": "healthy", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}},
                        "400": err_resp("a query parameter the route does not take (invalid_query)"),
                        "503": {"description": "store unreachable, nothing active, or the active version does not read (reason)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}
                    }
                }
            },
            "/api/openapi.json": {
                "get": {"operationId": "openapi_get", "summary": "This document", "responses": {"200": {"description": "OpenAPI 3 document"}, "400": err_resp("a query parameter the route does not take (invalid_query)")}}
            },
            "/api/metrics": {
                "get": {
                    "operationId": "metrics_get",
                    "summary": "Counters and latency histograms in the Prometheus text format (0.0.4)",
                    "description": "Requests by route template, method and status with latency histograms, connections closed on the header timeout, store errors and breaker state, events accepted and stored, fold-in latency. Needs the API key when TOPTEN_API_KEY is set (function-level auth under Azure Functions).",
                    "security": key,
                    "responses": common(serde_json::json!({
                        "200": {"description": "the exposition", "content": {"text/plain": {"schema": {"type": "string"}}}},
                        "401": err_resp("API key missing or wrong (unauthorized)")
                    }))
                }
            },
            "/api/admin/stats": {
                "get": {
                    "operationId": "admin_stats_get",
                    "summary": "Online figures: per version and hour, the running experiment's report, events per minute, the versions",
                    "description": "Sums over the stored events (with their attribution) and every instance's answer counts, so every instance answers the same. Scans the window's events: an admin route. Needs the API key when TOPTEN_API_KEY is set (function-level auth under Azure Functions).",
                    "security": key,
                    "parameters": [
                        {"name": "hours", "in": "query", "required": false, "description": "the window, in hours", "schema": {"type": "integer", "minimum": 1, "maximum": crate::routes::admin::MAX_HOURS, "default": 24}}
                    ],
                    "responses": common(serde_json::json!({
                        "200": {"description": "the figures", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Stats"}}}},
                        "400": err_resp("hours not a whole number from 1 to 168, or another query parameter (invalid_query)"),
                        "401": err_resp("API key missing or wrong (unauthorized)"),
                        "501": err_resp("the backend is a read-only list file (unsupported)")
                    }))
                }
            },
            "/api/admin/dashboard": {
                "get": {
                    "operationId": "admin_dashboard_get",
                    "summary": "The operations dashboard: one self-contained HTML page that reads /api/admin/stats and /api/metrics and refreshes itself",
                    "description": "Open it with the key as ?code=KEY; the page sends it on its own requests. ?refresh=SECONDS sets the refresh period (default 10).",
                    "security": key,
                    "parameters": [
                        {"name": "refresh", "in": "query", "required": false, "description": "seconds between refreshes (read by the page)", "schema": {"type": "string"}}
                    ],
                    "responses": common(serde_json::json!({
                        "200": {"description": "the page", "content": {"text/html": {"schema": {"type": "string"}}}},
                        "401": err_resp("API key missing or wrong (unauthorized)")
                    }))
                }
            }
        },
        "components": {
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
                        "recommendationId": {"type": "string", "description": "this answer's id, r1:VERSION:ARM:STAMP (ARM is control, candidate or - outside experiments); send it back with events"},
                        "source": {"type": "string", "enum": ["personalized", "popular", "trending"]},
                        "items": {"type": "array", "items": {
                            "type": "object",
                            "required": ["itemId", "score"],
                            "properties": {"itemId": {"type": "string"}, "score": {"type": "number"}, "title": {"type": "string"},
                                "because": {"type": "array", "items": {"type": "object", "properties": {"itemId": {"type": "string"}, "weight": {"type": "number"}}}}}
                        }}
                    }
                },
                "Events": {
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
                            "itemIds": {"type": "array", "minItems": 1, "maxItems": topten_store::events::MAX_ITEMS_PER_IMPRESSION, "uniqueItems": true, "items": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": ID_PATTERN}, "description": "impression only: the items shown, in order"},
                            "recommendationId": {"type": "string", "maxLength": topten_store::events::MAX_RECOMMENDATION_ID_LEN, "pattern": "^r1:[^\\r\\n]+:(control|candidate|-):[0-9a-fA-F]{17,32}$", "description": "the recommendationId of the answer the event responds to (an impression: whose list was shown)"},
                            "type": {"type": "string", "enum": topten_store::events::EVENT_TYPES.iter().map(|t| t.0).collect::<Vec<_>>()},
                            "value": {"type": "number", "minimum": 0, "maximum": topten_model::interactions::MAX_ABS_VALUE, "description": "required for ratings; other types default to their strength"},
                            "timestamp": {"type": "integer", "minimum": 0, "maximum": 4_102_444_800_i64, "description": "epoch seconds (1970 to 2100); default: now"}
                        },
                        // A rating needs its value; the other types default to their strength.
                        // An impression lists itemIds and has no value.
                        "anyOf": [
                            {"properties": {"type": {"enum": ["rating"]}}, "required": ["itemId", "value"], "not": {"required": ["itemIds"]}},
                            {"properties": {"type": {"enum": ["impression"]}}, "required": ["itemIds"], "not": {"anyOf": [{"required": ["itemId"]}, {"required": ["value"]}]}},
                            {"properties": {"type": {"enum": topten_store::events::EVENT_TYPES.iter().map(|t| t.0).filter(|t| !["rating", "impression"].contains(t)).collect::<Vec<_>>()}}, "required": ["itemId"], "not": {"required": ["itemIds"]}}
                        ]
                    }}}
                },
                "EventsAccepted": {
                    "type": "object",
                    "properties": {
                        "accepted": {"type": "integer"}, "stored": {"type": "integer"}, "duplicates": {"type": "integer"},
                        "attributed": {"type": "integer", "description": "positive events of the batch attributed to an answer (retries not counted)"},
                        "refreshed": {"type": "array", "items": {"type": "string"}},
                        "modelVersion": {"type": "string", "nullable": true}
                    }
                },
                "Stats": stats_schema,
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
        }
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
