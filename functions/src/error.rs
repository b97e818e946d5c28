//! The API's one error type: a stable machine-readable code, a human message, JSON body
//! `{"error": {"code", "message"}}`. Internal details are logged, never sent.
//!
//! Every error answer carries an [`ErrorInfo`] in its response extensions (the code, and what
//! kind of store failure caused it, if any), which the request middleware counts in the
//! metrics: handlers stay free of metrics calls for errors.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use topten_edge::body::error_body;
use topten_edge::request::Rejection;
use topten_store::StoreError;

/// An error answer of the API.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code clients can match on (documented in the OpenAPI spec).
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// Seconds for a `Retry-After` header (503s).
    pub retry_after: Option<u64>,
    /// Answer with `connection: close` (the request was not read to its end).
    pub close: bool,
    /// The store failure behind this answer, if any.
    pub store: Option<StoreFailure>,
}

/// What kind of store failure an answer comes from (the `kind` label of
/// `topten_store_errors_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFailure {
    /// Timed out or shedding load.
    Unavailable,
    /// Refused at once by the store's circuit breaker, open for this long.
    BreakerOpen(std::time::Duration),
    /// Anything else (an internal error).
    Other,
}

/// Response extension set on every error answer (read by the request middleware).
#[derive(Debug, Clone, Copy)]
pub struct ErrorInfo {
    /// The stable code sent.
    pub code: &'static str,
    /// The store failure behind it.
    pub store: Option<StoreFailure>,
}

/// The most characters of one word of a request an error message repeats.
pub const MAX_ECHO_CHARS: usize = 60;

/// `message` with every word (a run without whitespace) longer than [`MAX_ECHO_CHARS`] cut
/// there with an ellipsis: a 400 names what was wrong, it does not mirror a 1,500-digit number
/// or a megabyte of text back to the client and into logs.
pub fn shorten_echoes(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(4096));
    let mut run = 0usize;
    let mut cut = false;
    for c in message.chars() {
        if c.is_whitespace() {
            run = 0;
            cut = false;
            out.push(c);
            continue;
        }
        run += 1;
        if run <= MAX_ECHO_CHARS {
            out.push(c);
        } else if !cut {
            out.push('…');
            cut = true;
        }
    }
    out
}

impl ApiError {
    /// An error with any status.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            close: false,
            store: None,
        }
    }

    /// The same error, answered with `connection: close`.
    pub fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    /// A 400 with `code`. The message never echoes more than [`MAX_ECHO_CHARS`] characters
    /// of any one word of the request ([`shorten_echoes`]).
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            code,
            shorten_echoes(&message.into()),
        )
    }

    /// A 401 `unauthorized`.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this route needs the API key: the x-functions-key header or the code query parameter",
        )
    }

    /// A 404 with `code`.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// A 500 whose details are logged, not sent.
    pub fn internal(details: impl std::fmt::Display) -> Self {
        tracing::error!(error = %details, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }

    /// A 503 with `code` and a retry hint.
    pub fn unavailable(code: &'static str, message: impl Into<String>, retry_after: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable {
                retry_after_secs,
                ref message,
                ..
            } => {
                tracing::warn!(error = %e, "store unavailable");
                // The Cosmos backend's breaker says so in its message (see metrics.rs).
                let failure = if message.contains("circuit breaker open") {
                    StoreFailure::BreakerOpen(std::time::Duration::from_secs(retry_after_secs))
                } else {
                    StoreFailure::Unavailable
                };
                ApiError {
                    store: Some(failure),
                    ..ApiError::unavailable(
                        "store_unavailable",
                        "the recommendation store is temporarily unavailable",
                        retry_after_secs,
                    )
                }
            }
            StoreError::Unsupported { .. } => {
                ApiError::new(StatusCode::NOT_IMPLEMENTED, "not_supported", e.to_string())
            }
            other => {
                tracing::error!(error = %other, "store error");
                ApiError {
                    store: Some(StoreFailure::Other),
                    ..Self::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal",
                        "internal error",
                    )
                }
            }
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
        Self::new(status, r.code, r.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The same writer as the WebAssembly component and the Lambda function.
        let body = error_body(self.code, &self.message);
        let mut resp = (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.close {
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp.extensions_mut().insert(ErrorInfo {
            code: self.code,
            store: self.store,
        });
        resp
    }
}
