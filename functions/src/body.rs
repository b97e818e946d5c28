//! Reading request bodies: every way a body can go wrong becomes a JSON error with a stable
//! code, instead of axum's plain-text extractor rejections.
//!
//! - declared or actual size over the limit: 413 `body_too_large`;
//! - not complete within `TOPTEN_BODY_TIMEOUT_MS` (a client that stalls mid-body): 408
//!   `request_timeout`, logged by the request middleware. The whole body has one deadline, not
//!   one per read, so a client cannot hold a worker by trickling a byte at a time;
//! - broken framing (a malformed chunk) or a connection lost mid-body: 400 `invalid_body`.
//!
//! The 408 and 413 answers carry `connection: close`: the rest of the body was not read, so the
//! connection cannot carry another request.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::error::ApiError;

/// A JSON body: its content type checked first (415 otherwise), then read whole as
/// [`read_configured`] does.
pub async fn read_json(
    config: &crate::Config,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, ApiError> {
    require_json(headers)?;
    read_configured(config, headers, body).await
}

/// Reads `body` whole within the configured limits (`max_body_bytes`, `body_timeout_ms`): what
/// every route with a body calls.
pub async fn read_configured(
    config: &crate::Config,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, ApiError> {
    read(
        headers,
        body,
        config.max_body_bytes,
        Duration::from_millis(config.body_timeout_ms),
    )
    .await
}

/// Reads `body` whole, within `limit` bytes and `timeout`.
pub async fn read(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request body did not arrive within {} ms",
                timeout.as_millis()
            ),
        )
        .closing()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large(limit)),
        Ok(Err(e)) => Err(ApiError::bad_request(
            "invalid_body",
            format!("the request body could not be read: {e}"),
        )
        .closing()),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the request body is larger than {limit} bytes"),
    )
    .closing()
}

/// 415 `unsupported_media_type` unless the body is declared `application/json` (parameters
/// such as `charset=utf-8` allowed). Requiring it makes a cross-site form or `fetch` without
/// CORS preflight unable to post: browsers send only form and text types without preflight.
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim())
        .is_some_and(|media| media.eq_ignore_ascii_case("application/json"));
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be sent with Content-Type: application/json",
        ))
    }
}

/// The list of a JSON body of the shape `{"FIELD": [...]}` with 1 to `max` entries; anything
/// else (not JSON, another shape, an unknown field, too few or too many entries) is a 400
/// with `code` that says what is wrong.
pub fn json_list(
    body: &[u8],
    field: &str,
    max: usize,
    code: &'static str,
) -> Result<Vec<serde_json::Value>, ApiError> {
    let invalid = |m: String| ApiError::bad_request(code, m);
    let shape = format!("body must be {{\"{field}\": [...]}}");
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| invalid(format!("body is not JSON: {e}")))?;
    let serde_json::Value::Object(mut obj) = value else {
        return Err(invalid(shape));
    };
    if let Some(other) = obj.keys().find(|k| k.as_str() != field) {
        return Err(invalid(format!("{shape}: unknown field {other:?}")));
    }
    let Some(serde_json::Value::Array(list)) = obj.remove(field) else {
        return Err(invalid(shape));
    };
    if list.is_empty() || list.len() > max {
        return Err(invalid(format!(
            "{field}: 1 to {max} per request, got {}",
            list.len()
        )));
    }
    Ok(list)
}
