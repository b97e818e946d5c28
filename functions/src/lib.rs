//! The topten service: the HTTP API, built to run as an Azure Functions custom handler and
//! anywhere else (`topten serve`, a container, a laptop), and its timer job, the retrain.
//!
//! # Layout
//! - [`config`]: every setting, from app settings / environment variables, validated at start.
//! - [`backends`]: the store backends by URI (the one place that knows them all).
//! - [`retrain`]: the timer job: train a candidate, gate it against the active version, publish.
//! - [`servable`]: what the active version's catalogue lets serve now.
//! - [`folded_items`]: item factors solved from live events, as this instance knows them;
//!   [`poll_window`]: reading what other instances wrote, once per cache lifetime.
//! - [`trending_window`]: the bounded set of trending windows and how often each is ranked;
//!   [`trending_list`]: a version's servable trending list, filled with popular items.
//! - [`request_filter`]: a request's category and expression filters; [`query`]: the query
//!   parameters each route takes (any other is a 400 `invalid_query`).
//! - [`state`]: the shared handle (store, caches, metrics) every handler receives.
//! - [`route_table`]: every route once (method, path, access, Azure function, OpenAPI
//!   operation); the router, the metric labels, the function folders and the document read it.
//! - [`routes`]: one module per resource; handlers are thin.
//! - [`error`]: the JSON error type with stable codes.
//! - [`body`]: reading request bodies (size limit, deadline, JSON content type).
//! - [`auth`]: the API key of the write and admin routes.
//! - [`answer`]: which version answers a user and the id each answer carries;
//!   [`answer_counter`]: this instance's answer counts, saved in the background.
//! - [`metrics`]: Prometheus counters and histograms (`GET /api/metrics`).
//! - [`server`]: the HTTP/1 server (timeouts, request-head checks with JSON answers).
//! - [`app`] builds the router, [`serve`] runs it on a listener until a shutdown future fires,
//!   so tests start it on port 0 and the binary on `FUNCTIONS_CUSTOMHANDLER_PORT`.
//!
//! # Errors below the handlers
//! Every answer, also those to requests that never reach a handler, is JSON with a stable code
//! and an `x-request-id`: bad heads are turned into requests the router answers
//! ([`server::guard`]), body failures into 408/413/400 ([`body`]), panics into a 500, a
//! handler over its deadline into a 503, and `json_errors` converts whatever error is left
//! without a JSON body (an extractor rejection of axum) as a last resort.
#![deny(missing_docs)]

pub mod answer;
pub mod answer_counter;
pub mod auth;
pub mod backends;
pub mod body;
pub mod config;
pub mod error;
pub mod folded_items;
pub mod metrics;
pub mod poll_window;
pub mod query;
pub mod request_filter;
pub mod retrain;
pub mod route_table;
pub mod routes;
pub mod servable;
pub mod server;
pub mod state;
pub mod trending_list;
pub mod trending_window;

use std::future::Future;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;

pub use config::Config;
pub use server::{serve_with, ServeOptions};
pub use state::AppState;

use error::{ApiError, ErrorInfo, StoreFailure};

/// The router: every route of the [`route_table`], behind its access rule, plus the layers
/// every answer passes through.
pub fn app(state: AppState) -> Router {
    app_serving(state, None)
}

/// [`app`], also serving the files of `site` (a static web page such as the storefront) at
/// every path no route takes: `/` is its `index.html`. A missing file is the API's JSON 404,
/// and every answer passes through the same layers (request id, metrics, error shape).
pub fn app_serving(state: AppState, site: Option<&std::path::Path>) -> Router {
    let timeout = Duration::from_millis(state.config().request_timeout_ms);
    // Each route's own layers, innermost first: its query check (list routes check their own
    // query), the API key where it needs one, the deadline (all but the timer).
    let mut api = Router::<AppState>::new();
    for route in route_table::ROUTES {
        let mut handler = (route.handler)();
        if let query::Parameters::Known(_) = route.query {
            handler = handler.route_layer(middleware::from_fn_with_state(
                route.query,
                query::check_query,
            ));
        }
        if route.access.needs_key(state.config().protect_reads) {
            handler = handler.route_layer(middleware::from_fn_with_state(
                state.clone(),
                auth::require_key,
            ));
        }
        if route.has_deadline() {
            handler = handler.route_layer(middleware::from_fn_with_state(timeout, deadline));
        }
        api = api.route(route.path, handler);
    }
    let api = match site {
        Some(dir) => {
            use axum::handler::HandlerWithoutStateExt;
            let files = tower_http::services::ServeDir::new(dir)
                .append_index_html_on_directories(true)
                .fallback(not_found.into_service());
            api.fallback_service(files)
        }
        None => api.fallback(not_found),
    };
    api.method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(rejected_head))
        .layer(middleware::from_fn(json_errors))
        .layer(CatchPanicLayer::custom(
            |_panic: Box<dyn std::any::Any + Send>| {
                ApiError::internal("a handler panicked").into_response()
            },
        ))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn not_found() -> ApiError {
    topten_edge::request::no_such_route().into()
}

async fn method_not_allowed() -> ApiError {
    topten_edge::request::method_not_allowed().into()
}

/// 503 `server_timeout` when a handler runs past `TOPTEN_REQUEST_TIMEOUT_MS`.
async fn deadline(State(timeout): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::unavailable(
            "server_timeout",
            format!("the request took longer than {} ms", timeout.as_millis()),
            1,
        )
        .into_response(),
    }
}

/// Answers a request that stands for a head the server refused ([`server::guard`]).
async fn rejected_head(req: Request, next: Next) -> Response {
    match req.extensions().get::<server::RejectedRequest>() {
        Some(server::RejectedRequest(r)) => {
            let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
            ApiError::new(status, r.code, r.message.clone())
                .closing()
                .into_response()
        }
        None => next.run(req).await,
    }
}

/// Last resort: an error answer without a JSON body (an axum extractor's plain-text
/// rejection) gets the JSON shape and a code derived from its status.
async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    // Error answers of the API, health's 503 and the custom-handler envelope are JSON already.
    if !(status.is_client_error() || status.is_server_error())
        || is_json
        || resp.extensions().get::<ErrorInfo>().is_some()
    {
        return resp;
    }
    let code = match status.as_u16() {
        401 => "unauthorized",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        413 => "body_too_large",
        414 => "uri_too_long",
        415 => "unsupported_media_type",
        431 => "headers_too_large",
        400..=499 => "bad_request",
        503 => "unavailable",
        _ => "internal",
    };
    let (parts, body) = resp.into_parts();
    let detail = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let message = match std::str::from_utf8(&detail) {
        Ok(text) if !text.trim().is_empty() && status.is_client_error() => text.trim().to_owned(),
        _ => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    let mut fixed = ApiError::new(status, code, message).into_response();
    for name in [header::RETRY_AFTER, header::CONNECTION, header::ALLOW] {
        if let Some(v) = parts.headers.get(&name) {
            fixed.headers_mut().insert(name, v.clone());
        }
    }
    fixed
}

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Gives every request an id (the caller's `x-request-id`, else a new UUID) and echoes it in
/// the response; counts the request in the metrics; logs server errors and request timeouts
/// always, other requests only with `TOPTEN_LOG_REQUESTS`.
async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let id = match req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
    {
        Some(v) => v.to_owned(),
        None => uuid::Uuid::new_v4().to_string(),
    };
    let header = HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
    req.headers_mut().insert("x-request-id", header.clone());
    let method = method_label(req.method());
    let route = if req.extensions().get::<server::RejectedRequest>().is_some() {
        "rejected"
    } else {
        req.extensions()
            .get::<MatchedPath>()
            .and_then(|m| route_table::template(m.as_str()))
            .unwrap_or("unmatched")
    };
    let mut resp = next.run(req).await;
    resp.headers_mut().insert("x-request-id", header);
    let status = resp.status().as_u16();
    let took = start.elapsed();
    let metrics = state.metrics();
    metrics.request(route, method, status, took);
    let code = resp.extensions().get::<ErrorInfo>().map(|i| {
        if let Some(failure) = i.store {
            match failure {
                StoreFailure::Unavailable => metrics.store_error("unavailable", None),
                StoreFailure::BreakerOpen(d) => metrics.store_error("breaker_open", Some(d)),
                StoreFailure::Other => metrics.store_error("other", None),
            }
        }
        i.code
    });
    let latency_us = took.as_micros() as u64;
    let code = code.unwrap_or("");
    if status >= 500 || status == 408 {
        tracing::warn!(request_id = %id, method, route, status, code, latency_us, "request");
    } else if state.config().log_requests {
        tracing::info!(request_id = %id, method, route, status, code, latency_us, "request");
    }
    resp
}

/// Serves `app` on `listener` with the default [`ServeOptions`] until `shutdown` completes,
/// then drains in-flight requests. The binaries use [`serve_with`] and the configured options.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, shutdown, ServeOptions::default()).await
}

/// Serves `state` on `listener` as both binaries do (the handler and `topten serve`): with the
/// configured [`ServeOptions`], refusing a non-loopback address without `TOPTEN_API_KEY`.
/// `site`: a folder of static files to serve beside the API (`topten serve --static`; see
/// [`app_serving`]).
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    site: Option<&std::path::Path>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    if let Some(refusal) = auth::exposure_error(addr, state.config()) {
        anyhow::bail!(refusal);
    }
    preflight(&state).await?;
    let options = ServeOptions::from_state(&state);
    let saver = tokio::spawn(save_answer_counts_every(state.clone()));
    let sweeper = tokio::spawn(sweep_every(state.clone()));
    let served = serve_with(
        listener,
        app_serving(state.clone(), site),
        shutdown,
        options,
    )
    .await;
    saver.abort();
    sweeper.abort();
    // The answers since the last save, so a clean stop loses none.
    if let Err(e) = state.save_answer_counts().await {
        tracing::warn!(error = %e, "could not save the answer counts at shutdown");
    }
    served?;
    Ok(())
}

/// Saves this instance's answer counts every `TOPTEN_COUNTS_SAVE_SECS`, for the online figures.
async fn save_answer_counts_every(state: AppState) {
    let every = Duration::from_secs(state.config().counts_save_secs);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(e) = state.save_answer_counts().await {
            tracing::warn!(error = %e, "could not save the answer counts; retrying next time");
        }
    }
}

/// How often the retention pass runs: a tenth of the shortest retention, from one second to
/// five minutes (`None`: nothing ends).
pub fn sweep_interval(retention: &topten_live::retention::Retention) -> Option<Duration> {
    [
        retention.events,
        retention.item_changes,
        retention.answer_counts,
    ]
    .into_iter()
    .flatten()
    .min()
    .map(|d| (d / 10).clamp(Duration::from_secs(1), Duration::from_secs(300)))
}

/// Deletes what is past retention every [`sweep_interval`] (`topten_live::retention`). Each
/// pass runs on the blocking pool: the embedded store's deletes are LMDB commits that wait for
/// the disk, and no async worker (which GETs need) may wait with them. Every instance sweeps;
/// the deletes are idempotent, so two instances sweeping at once only repeat work.
async fn sweep_every(state: AppState) {
    let retention = state.config().retention();
    let (Some(every), Some(store)) = (sweep_interval(&retention), state.writable().cloned()) else {
        return;
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (store, runtime) = (store.clone(), tokio::runtime::Handle::current());
        let pass = tokio::task::spawn_blocking(move || {
            runtime.block_on(topten_live::retention::sweep(
                store.as_ref(),
                &retention,
                topten_model::clock::now_ms(),
                Duration::from_millis(10),
            ))
        })
        .await;
        match pass {
            Ok(Ok(swept)) => {
                state.metrics().swept(&swept);
                if swept != Default::default() {
                    tracing::info!(
                        events = swept.events,
                        item_changes = swept.item_changes,
                        answer_counts = swept.answer_counts,
                        "retention pass deleted what was past retention"
                    );
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "retention pass failed; retrying next time"),
            Err(e) => tracing::warn!(error = %e, "retention pass panicked; retrying next time"),
        }
    }
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

/// Refuses to serve from a store that is unsafe to serve from (an evicting Redis); a store
/// that is only unreachable now is logged, and served once it answers.
pub async fn preflight(state: &AppState) -> anyhow::Result<()> {
    match state.reader().preflight().await {
        Ok(()) => Ok(()),
        Err(e @ topten_store::StoreError::Unavailable { .. }) => {
            tracing::warn!(error = %e, "store not reachable at start-up; serving 503 until it is");
            Ok(())
        }
        Err(e) => Err(anyhow::anyhow!("refusing to serve: {e}")),
    }
}

/// Checks the configuration, opens the configured store and builds the state.
pub fn state_from_config(config: Config) -> anyhow::Result<AppState> {
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("invalid setting: {e}"))?;
    let store = crate::backends::open(&config.store_uri)?;
    Ok(AppState::new(store, config))
}
