//! Query parameters: each route takes a known set, plus `code` (the function key); any other
//! is a 400 `invalid_query` naming it. Checked once per request, after routing, without
//! allocating unless a name is unknown or percent-encoded. The recommendations and similar-items
//! routes check their own queries, because a `filter` expression's `$parameters` come from the
//! query string too ([`topten_edge::request::RecsQuery`], [`crate::request_filter`]).

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use topten_edge::request::check_parameters;

use crate::error::ApiError;

/// The parameters of `GET /api/items/{itemId}/similar` (besides `code` and a filter's
/// `$parameters`).
pub const SIMILAR_PARAMETERS: &[&str] = &["k", "category", "excludeCategory", "filter"];
/// The parameters of `GET /api/items/trending`.
pub const TRENDING_PARAMETERS: &[&str] = &["k", "window"];
/// The parameters of `GET /api/admin/stats`.
pub const STATS_PARAMETERS: &[&str] = &["hours"];
/// The parameters of `GET /api/admin/dashboard` (read by the page's own script).
pub const DASHBOARD_PARAMETERS: &[&str] = &["refresh"];

/// What a route's query may hold: these names, or whatever its handler decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parameters {
    /// Exactly these (and `code`).
    Known(&'static [&'static str]),
    /// The handler checks (its filters name further parameters).
    Handler,
}

/// The parameters of the route template `route` (every route of [`crate::app`]).
pub fn parameters(route: &str) -> Parameters {
    match route {
        // The missing-id route answers `invalid_user_id` whatever its query.
        "/api/recommendations/{user_id}"
        | "/api/recommendations/"
        | "/api/items/{item_id}/similar" => Parameters::Handler,
        "/api/items/trending" => Parameters::Known(TRENDING_PARAMETERS),
        "/api/admin/stats" => Parameters::Known(STATS_PARAMETERS),
        "/api/admin/dashboard" => Parameters::Known(DASHBOARD_PARAMETERS),
        _ => Parameters::Known(&[]),
    }
}

/// The middleware: refuses a parameter the matched route does not take.
pub async fn check_query(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>();
    if let (Some(route), Some(q)) = (route, req.uri().query()) {
        if let Parameters::Known(known) = parameters(route.as_str()) {
            if let Err(r) = check_parameters(Some(q), known) {
                return ApiError::from(r).into_response();
            }
        }
    }
    next.run(req).await
}
