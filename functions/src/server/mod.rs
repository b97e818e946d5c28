//! The HTTP/1.1 server under the router: connection limits and timeouts, and JSON answers for
//! what goes wrong before a request reaches a handler.
//!
//! # Why not `axum::serve`
//! `axum::serve` sets no timer, so hyper's header-read timeout is off and an idle or
//! slow-header connection is held forever; and hyper answers malformed heads (bad
//! `Content-Length`, bad `Transfer-Encoding`, a URI over 64 KiB, too many or too large
//! headers) itself, with a bare 400/414/431 that has no body and no request id. So this module
//! runs hyper's HTTP/1 connection directly:
//! - `header_read_timeout` ([`ServeOptions::header_timeout`]) with a Tokio timer. hyper starts it
//!   whenever it waits for a request head, including between requests on a kept-alive
//!   connection, so it is both the slow-header and the idle timeout: such a connection is closed
//!   (there is no request yet to answer) and counted in `/api/metrics`.
//! - every connection's bytes pass through [`guard::Guarded`], which checks each request head
//!   with hyper's own rules before hyper sees it and turns a bad one into a JSON error through
//!   the router (see [`guard`] for why that design: a response rewriter would have to find
//!   response boundaries in hyper's output, a middleware comes too late).
//! - a stalled or broken request *body* reaches the handler as a body error; handlers read
//!   bodies with [`crate::body`], which answers 408 / 413 / 400 in JSON.
//!
//! HTTP/2 is not served: the Functions host, the Lambda runtime and every client of the API
//! speak HTTP/1.1 to it.

pub mod guard;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tower::ServiceExt;

use crate::metrics::Metrics;
use guard::{Guarded, HeadLimits, RejectSlot, Rejected};

/// Server settings (from [`crate::Config`] through [`ServeOptions::from_state`]).
#[derive(Clone)]
pub struct ServeOptions {
    /// Longest wait for a complete request head, and for the next request on an idle
    /// kept-alive connection.
    pub header_timeout: Duration,
    /// Request head limits.
    pub limits: HeadLimits,
    /// How long in-flight requests may take to finish after the shutdown signal.
    pub drain_timeout: Duration,
    /// Where connection-level events (header timeouts) are counted.
    pub metrics: Option<Arc<Metrics>>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            header_timeout: Duration::from_secs(10),
            limits: HeadLimits {
                max_uri_bytes: 8 * 1024,
                max_head_bytes: 32 * 1024,
            },
            drain_timeout: Duration::from_secs(30),
            metrics: None,
        }
    }
}

impl ServeOptions {
    /// The options a handler with `state` runs with.
    pub fn from_state(state: &crate::AppState) -> Self {
        let c = state.config();
        ServeOptions {
            header_timeout: Duration::from_millis(c.header_timeout_ms),
            limits: HeadLimits {
                max_uri_bytes: c.max_uri_bytes,
                max_head_bytes: c.max_header_bytes,
            },
            metrics: Some(state.metrics().clone()),
            ..ServeOptions::default()
        }
    }
}

/// Marks a request that stands for a head the guard refused; the router answers it with the
/// JSON error (see [`crate::app`]).
#[derive(Debug, Clone)]
pub struct RejectedRequest(pub Rejected);

/// Serves `app` on `listener` until `shutdown` completes, then lets in-flight requests finish
/// (for at most [`ServeOptions::drain_timeout`]).
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
) -> std::io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_timeout)
        // Above the guard's head limit, so hyper's own 431 never fires.
        .max_buf_size((options.limits.max_head_bytes * 2).max(64 * 1024));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(s) => s,
                Err(e) => {
                    // Out of file descriptors and the like: keep serving the open connections.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let slot: RejectSlot = Arc::new(Mutex::new(None));
        let io = TokioIo::new(Guarded::new(stream, options.limits, slot.clone()));
        let router = app.clone();
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            if req.uri().path() == guard::REJECTED_PATH {
                if let Some(r) = slot.lock().unwrap().take() {
                    req.extensions_mut().insert(RejectedRequest(r));
                }
            }
            router.clone().oneshot(req.map(axum::body::Body::new))
        });
        let conn = graceful.watch(http.serve_connection(io, service));
        let metrics = options.metrics.clone();
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                // Nothing to answer: no request was read (timeouts) or the client went away.
                let kind = if e.is_timeout() {
                    "header_timeout"
                } else if e.is_incomplete_message() {
                    "incomplete_request"
                } else {
                    "other"
                };
                tracing::debug!(error = %e, kind, "connection closed with an error");
                if let Some(m) = metrics {
                    m.connection_error(kind);
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(options.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests still running after the drain timeout; exiting");
    }
    Ok(())
}
