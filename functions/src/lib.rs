//! The topten HTTP API, built to run as an Azure Functions custom handler and anywhere else
//! (`topten serve`, a container, a laptop).
//!
//! # Layout
//! - [`config`]: settings from app settings / environment variables.
//! - [`state`]: the shared handle (store, caches) every handler receives.
//! - [`routes`]: one module per resource; handlers are thin.
//! - [`error`]: the JSON error type with stable codes.
//! - [`app`] builds the router, [`serve`] runs it on a listener until a shutdown future fires,
//!   so tests start it on port 0 and the binary on `FUNCTIONS_CUSTOMHANDLER_PORT`.
#![deny(missing_docs)]

pub mod config;
pub mod error;
pub mod routes;
pub mod state;

use std::future::Future;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

pub use config::Config;
pub use state::AppState;

use error::ApiError;

/// The router: every route of the API plus the timer trigger.
pub fn app(state: AppState) -> Router {
    let timeout = Duration::from_millis(state.config().request_timeout_ms);
    Router::new()
        .route(
            "/api/recommendations/{user_id}",
            get(routes::recommendations::recommendations_get),
        )
        .route(
            "/api/recommendations/",
            get(routes::recommendations::recommendations_missing_user),
        )
        .route(
            "/api/events",
            post(routes::events::events_post).layer(axum::extract::DefaultBodyLimit::max(1 << 20)),
        )
        .route(
            "/api/items/{item_id}/similar",
            get(routes::similar::similar_get),
        )
        .route("/api/health", get(routes::health::health_get))
        .route("/api/openapi.json", get(routes::openapi::openapi_get))
        .route("/api/ping", get(routes::health::ping_get))
        .route("/retrain", post(routes::retrain::retrain_post))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), request_log))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(CatchPanicLayer::new())
        .with_state(state)
}

async fn not_found() -> ApiError {
    topten_edge::request::no_such_route().into()
}

async fn method_not_allowed() -> ApiError {
    topten_edge::request::method_not_allowed().into()
}

/// Gives every request an id (the caller's `x-request-id`, else a new UUID), echoes it in the
/// response and logs one structured line with status and latency.
async fn request_log(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let id = match req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 128)
    {
        Some(v) => v.to_owned(),
        None => uuid::Uuid::new_v4().to_string(),
    };
    let header = HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
    req.headers_mut().insert("x-request-id", header.clone());
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut resp = next.run(req).await;
    resp.headers_mut().insert("x-request-id", header);
    let status = resp.status().as_u16();
    let latency_us = start.elapsed().as_micros() as u64;
    if status >= 500 {
        tracing::warn!(request_id = %id, %method, %path, status, latency_us, "request");
    } else if state.config().log_requests {
        tracing::info!(request_id = %id, %method, %path, status, latency_us, "request");
    }
    resp
}

/// Serves `app` on `listener` until `shutdown` completes, then drains in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Resolves on Ctrl-C or SIGTERM (what the Functions host and container runtimes send).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

/// Opens the configured store and builds the state.
pub fn state_from_config(config: Config) -> anyhow::Result<AppState> {
    let store = topten_core::store::open(&config.store_uri)?;
    Ok(AppState::new(store, config))
}
