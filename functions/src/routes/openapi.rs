//! `GET /api/openapi.json`: the OpenAPI 3 description of the whole API.

use axum::Json;

/// Error codes the API can return, with their HTTP status.
pub const ERROR_CODES: &[(&str, u16, &str)] = &[
    ("invalid_user_id", 400, "user id empty, too long or with control characters"),
    ("invalid_k", 400, "k is not an integer from 1 to TOPTEN_MAX_K"),
    ("invalid_exclude", 400, "too many or too long excluded ids"),
    ("invalid_query", 400, "malformed query string"),
    ("invalid_events", 400, "events body malformed or an event invalid (the message names events[i].field); nothing was stored"),
    ("invalid_item_id", 400, "item id empty, too long or with control characters"),
    ("item_not_found", 404, "the item is not in the active version"),
    ("no_item_factors", 404, "the active version carries no item factors (published by a backend without them)"),
    ("not_supported", 501, "the configured store does not support this operation"),
    ("user_not_found", 404, "unknown user, when TOPTEN_UNKNOWN_USER=not-found"),
    ("not_found", 404, "no such route"),
    ("method_not_allowed", 405, "the route exists for another method"),
    ("no_active_version", 503, "nothing published and activated yet"),
    ("store_unavailable", 503, "the store timed out or is shedding load; see Retry-After"),
    ("internal", 500, "unexpected failure (details are in the logs, not the response)"),
];

/// The OpenAPI document.
pub fn spec() -> serde_json::Value {
    let error = serde_json::json!({"$ref": "#/components/schemas/Error"});
    let err_resp = |desc: &str| serde_json::json!({"description": desc, "content": {"application/json": {"schema": error}}});
    let codes: Vec<&str> = ERROR_CODES.iter().map(|c| c.0).collect();
    let code_doc: String = ERROR_CODES
        .iter()
        .map(|(c, s, d)| format!("`{c}` ({s}): {d}. "))
        .collect();
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
                        {"name": "userId", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1, "maxLength": 128}},
                        {"name": "k", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}},
                        {"name": "exclude", "in": "query", "required": false, "description": "comma-separated item ids to leave out", "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": {"description": "recommendations, best first", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Recommendations"}}}},
                        "400": err_resp("invalid user id, k, exclude or query"),
                        "404": err_resp("unknown user (only when configured to 404)"),
                        "503": err_resp("no active version, or store unavailable (Retry-After)")
                    }
                }
            },
            "/api/events": {
                "post": {
                    "operationId": "events_post",
                    "summary": "Record interactions; users with new events get fresh recommendations at once",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Events"}}}},
                    "responses": {
                        "200": {"description": "stored (duplicates by eventId skipped) and folded in", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EventsAccepted"}}}},
                        "400": err_resp("invalid body or event; nothing stored"),
                        "501": err_resp("the store does not support events")
                    }
                }
            },
            "/api/items/{itemId}/similar": {
                "get": {
                    "operationId": "similar_get",
                    "summary": "Items most similar to an item (cosine of item factors)",
                    "parameters": [
                        {"name": "itemId", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1, "maxLength": 128}},
                        {"name": "k", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}}
                    ],
                    "responses": {
                        "200": {"description": "similar items, most similar first", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Similar"}}}},
                        "400": err_resp("invalid item id or k"),
                        "404": err_resp("unknown item, or no item factors"),
                        "503": err_resp("no active version")
                    }
                }
            },
            "/api/health": {
                "get": {
                    "operationId": "health_get",
                    "summary": "Store reachability and active version",
                    "responses": {
                        "200": {"description": "healthy", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}},
                        "503": {"description": "store unreachable or nothing active", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}
                    }
                }
            },
            "/api/openapi.json": {
                "get": {"operationId": "openapi_get", "summary": "This document", "responses": {"200": {"description": "OpenAPI 3 document"}}}
            }
        },
        "components": {
            "schemas": {
                "Recommendations": {
                    "type": "object",
                    "required": ["userId", "modelVersion", "items", "source"],
                    "properties": {
                        "userId": {"type": "string"},
                        "modelVersion": {"type": "string"},
                        "source": {"type": "string", "enum": ["personalized", "popular"]},
                        "items": {"type": "array", "items": {
                            "type": "object",
                            "required": ["itemId", "score"],
                            "properties": {"itemId": {"type": "string"}, "score": {"type": "number"}, "title": {"type": "string"}}
                        }}
                    }
                },
                "Events": {
                    "type": "object",
                    "required": ["events"],
                    "properties": {"events": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {
                        "type": "object",
                        "required": ["userId", "itemId", "type"],
                        "additionalProperties": false,
                        "properties": {
                            "eventId": {"type": "string", "maxLength": 128, "description": "makes retries idempotent"},
                            "userId": {"type": "string", "minLength": 1, "maxLength": 128},
                            "itemId": {"type": "string", "minLength": 1, "maxLength": 128},
                            "type": {"type": "string", "enum": topten_core::events::EVENT_TYPES.iter().map(|t| t.0).collect::<Vec<_>>()},
                            "value": {"type": "number", "minimum": 0, "description": "required for ratings; other types default to their strength"},
                            "timestamp": {"type": "integer", "description": "epoch seconds; default: now"}
                        }
                    }}}
                },
                "EventsAccepted": {
                    "type": "object",
                    "properties": {
                        "accepted": {"type": "integer"}, "stored": {"type": "integer"}, "duplicates": {"type": "integer"},
                        "refreshed": {"type": "array", "items": {"type": "string"}},
                        "modelVersion": {"type": "string", "nullable": true}
                    }
                },
                "Similar": {
                    "type": "object",
                    "properties": {
                        "itemId": {"type": "string"}, "modelVersion": {"type": "string"},
                        "items": {"type": "array", "items": {"type": "object", "properties": {"itemId": {"type": "string"}, "score": {"type": "number"}, "title": {"type": "string"}}}}
                    }
                },
                "Health": {
                    "type": "object",
                    "properties": {
                        "status": {"type": "string", "enum": ["ok", "unavailable"]},
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
