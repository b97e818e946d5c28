//! `GET /api/openapi.json`: the OpenAPI 3 description of the whole API.

use axum::Json;

/// Error codes the API can return, with their HTTP status.
pub const ERROR_CODES: &[(&str, u16, &str)] = &[
    ("invalid_user_id", 400, "user id empty, too long or with control characters"),
    ("invalid_k", 400, "k is not an integer from 1 to TOPTEN_MAX_K"),
    ("invalid_exclude", 400, "too many or too long excluded ids"),
    ("invalid_query", 400, "malformed query string"),
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
    let code_doc: String = ERROR_CODES.iter().map(|(c, s, d)| format!("`{c}` ({s}): {d}. ")).collect();
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
