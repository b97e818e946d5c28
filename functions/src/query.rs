//! Query parameters: each route takes a known set (its entry in the route table), plus `code`
//! (the function key); any other is a 400 `invalid_query` naming it. Checked once per request,
//! after routing, without allocating unless a name is unknown or percent-encoded. The list
//! routes (recommendations, similar items) parse theirs into a [`ListQuery`], because a
//! `filter` expression's `$parameters` come from the query string too.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::borrow::Cow;

use topten_edge::request::{check_parameters, KEY_PARAMETER};

use crate::config::Config;
use crate::error::ApiError;
use crate::request_filter::RequestFilter;

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

impl Parameters {
    /// No parameters but `code`.
    pub const NONE: Parameters = Parameters::Known(&[]);
}

/// The middleware each route of the table with [`Parameters::Known`] gets: refuses a
/// parameter the route does not take.
pub async fn check_query(
    State(parameters): State<Parameters>,
    req: Request,
    next: Next,
) -> Response {
    if let (Parameters::Known(known), Some(q)) = (parameters, req.uri().query()) {
        if let Err(r) = check_parameters(Some(q), known) {
            return ApiError::from(r).into_response();
        }
    }
    next.run(req).await
}

/// Which list route a [`ListQuery`] is for: they share `k` and the catalogue filters;
/// recommendations also take `exclude` and `explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListRoute {
    /// `GET /api/recommendations/{userId}`.
    Recommendations,
    /// `GET /api/items/{itemId}/similar`.
    Similar,
}

impl ListRoute {
    /// The route's own parameters (a filter's `$parameters` come on top).
    pub fn parameters(self) -> &'static [&'static str] {
        match self {
            ListRoute::Recommendations => topten_edge::request::RECS_PARAMETERS,
            ListRoute::Similar => SIMILAR_PARAMETERS,
        }
    }
}

/// The query of a list route, parsed once into what the handler needs: a parameter that is
/// neither the route's own, `code`, nor a `$parameter` of its filter is a 400 `invalid_query`
/// naming it. Rules and messages are `topten_edge::request`'s, so every target answers a bad
/// query alike. Repeated `k`, `exclude` and `explain`: the last counts; repeated `category` and
/// `excludeCategory` add up; of several `filter`s the first non-empty one counts.
#[derive(Debug)]
pub struct ListQuery {
    /// How many items to return.
    pub k: usize,
    /// Item ids to leave out (recommendations only).
    pub exclude: Vec<String>,
    /// `explain=true` (recommendations only).
    pub explain: bool,
    /// The catalogue filters, if any.
    pub filter: Option<RequestFilter>,
}

impl ListQuery {
    /// Parses `raw` (the query string) in one pass.
    pub fn parse(raw: Option<&str>, route: ListRoute, config: &Config) -> Result<Self, ApiError> {
        use topten_edge::request::{parse_exclude, parse_explain, parse_k, unknown_parameter};
        let recs = route == ListRoute::Recommendations;
        let (mut k, mut exclude, mut explain, mut filter) = (None, None, None, None);
        let (mut category, mut exclude_category) = (Vec::new(), Vec::new());
        // Everything else, for the filter's `$parameters` (allocated only when present).
        let mut others: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::new();
        for (key, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            match key.as_ref() {
                "k" => k = Some(value),
                "exclude" if recs => exclude = Some(value),
                "explain" if recs => explain = Some(value),
                "category" => category.push(value),
                "excludeCategory" => exclude_category.push(value),
                "filter" => {
                    if filter
                        .as_ref()
                        .is_none_or(|f: &Cow<'_, str>| f.trim().is_empty())
                    {
                        filter = Some(value);
                    }
                }
                KEY_PARAMETER => {}
                _ => others.push((key, value)),
            }
        }
        let k = parse_k(k.as_deref(), config.default_k, config.max_k)?;
        let exclude = parse_exclude(exclude.as_deref(), config.max_id_len)?;
        let explain = parse_explain(explain.as_deref())?;
        let filter = if category.is_empty() && exclude_category.is_empty() && filter.is_none() {
            None
        } else {
            let values: Vec<(&str, &str)> = others
                .iter()
                .map(|(k, v)| (k.as_ref(), v.as_ref()))
                .collect();
            let category: Vec<&str> = category.iter().map(AsRef::as_ref).collect();
            let exclude_category: Vec<&str> = exclude_category.iter().map(AsRef::as_ref).collect();
            RequestFilter::from_parts(
                &category,
                &exclude_category,
                filter.as_deref(),
                &values,
                config.filters.as_ref(),
            )?
        };
        let taken = filter.as_ref().map_or(&[][..], RequestFilter::params);
        if let Some((name, _)) = others
            .iter()
            .find(|(name, _)| !taken.iter().any(|t| t == name))
        {
            return Err(unknown_parameter(name, route.parameters()).into());
        }
        Ok(ListQuery {
            k,
            exclude,
            explain,
            filter,
        })
    }
}
