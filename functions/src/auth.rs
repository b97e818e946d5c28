//! The API key of the write and admin routes (`TOPTEN_API_KEY`), taken the way Azure Functions
//! takes function keys (`x-functions-key` header, else the `code` query parameter), so callers
//! are the same under the Functions host and under `topten serve`.
//!
//! Keys are compared as SHA-256 digests in constant time: neither the content nor the length of
//! the key leaks through response timing.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::state::AppState;

/// Whether `req` carries `key`.
pub fn carries_key(req: &Request, key: &str) -> bool {
    let from_header = req
        .headers()
        .get("x-functions-key")
        .map(|v| v.as_bytes().to_vec());
    let given = from_header.or_else(|| {
        form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.as_bytes().to_vec())
    });
    match given {
        Some(given) => {
            let a = Sha256::digest(&given);
            let b = Sha256::digest(key.as_bytes());
            a.ct_eq(&b).into()
        }
        None => false,
    }
}

/// Middleware of the protected routes: 401 `unauthorized` without the key (when one is set).
pub async fn require_key(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match &state.config().api_key {
        Some(key) if !carries_key(&req, key.expose()) => ApiError::unauthorized().into_response(),
        _ => next.run(req).await,
    }
}

/// Whether serving on `addr` without a key is refused: only loopback is safe without one.
pub fn exposure_error(addr: std::net::SocketAddr, config: &crate::Config) -> Option<String> {
    (config.api_key.is_none() && !addr.ip().is_loopback()).then(|| {
        format!(
            "refusing to serve on {addr} without an API key: set TOPTEN_API_KEY (at least 16 \
             characters; clients send it as the x-functions-key header or the code query \
             parameter) or bind a loopback address such as 127.0.0.1"
        )
    })
}
