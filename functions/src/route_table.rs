//! The route table: every route of the service, written once.
//!
//! Each [`Route`] names its method, path template, who may call it, the Azure Functions
//! function that carries it and its OpenAPI operation. Everything that lists routes reads this
//! table rather than keeping its own copy:
//! - the router ([`crate::app`]) mounts each entry's handler behind its access rule;
//! - the metrics label a request with its entry's template (anything else is `unmatched`);
//! - [`function_folders`] generates the `function.json` of every function, and the
//!   `.funcignore` of the package, which `infra/package.sh` writes with
//!   `handler --write-function-folders DIR`;
//! - the OpenAPI document ([`crate::routes::openapi::spec`]) builds its `paths` from it;
//! - tests hold the route table of `docs/api.md` and the edge router to it.
//!
//! Adding a route is one entry here plus its handler (and its OpenAPI operation).

use axum::routing::{delete, get, post, put, MethodRouter};
use serde_json::{json, Value};

use crate::query::{self, Parameters};
use crate::routes;
use crate::state::AppState;

/// An HTTP method of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// GET (axum also answers HEAD on it).
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
}

impl Verb {
    /// As in a request line: `GET`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Delete => "DELETE",
        }
    }

    /// As in `function.json` and OpenAPI: `get`.
    pub fn lower(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Post => "post",
            Verb::Put => "put",
            Verb::Delete => "delete",
        }
    }
}

/// Who may call a route in topten itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, always: health, the OpenAPI document, the bare route.
    Public,
    /// Anyone, unless `TOPTEN_PROTECT_READS=true` (the read routes, which answer about users
    /// and the catalogue): then they need the key too.
    Open,
    /// Needs `TOPTEN_API_KEY` when one is set (writes, erasure and admin).
    Key,
}

impl Access {
    /// The route table's column in docs/api.md: `key`, `reads` (the key under
    /// `TOPTEN_PROTECT_READS`) or empty.
    pub fn label(self) -> &'static str {
        match self {
            Access::Public => "",
            Access::Open => "reads",
            Access::Key => "key",
        }
    }

    /// Whether a request needs the key, given `TOPTEN_PROTECT_READS`.
    pub fn needs_key(self, protect_reads: bool) -> bool {
        match self {
            Access::Public => false,
            Access::Open => protect_reads,
            Access::Key => true,
        }
    }
}

/// How the Azure Functions host triggers the function that carries a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Not deployed as a function (served by `topten serve` and tests only).
    None,
    /// An HTTP trigger, forwarded to the handler; `auth_level` is the host's own key check
    /// (`function` or `anonymous`), in front of topten's [`Access`].
    Http {
        /// `function.json`'s `authLevel`.
        auth_level: &'static str,
    },
    /// A timer trigger: the host posts its envelope to `/<function>` on the schedule.
    Timer {
        /// NCRONTAB, usually an app setting reference.
        schedule: &'static str,
    },
}

/// Builds an OpenAPI operation object (without `operationId` and `security`, which the table
/// adds).
pub type Operation = fn() -> Value;

/// One route.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// Method.
    pub verb: Verb,
    /// axum's path template (`/api/items/{item_id}`); the metric label.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// The Azure Functions function (folder) that carries it, and how.
    pub function: &'static str,
    /// How the host triggers that function.
    pub trigger: Trigger,
    /// OpenAPI `operationId`, and the operation object (`None`: not in the document).
    pub operation: Option<(&'static str, Operation)>,
    /// The query parameters it takes (besides `code`); any other is a 400 `invalid_query`.
    pub query: Parameters,
    /// Whether the edge targets (WebAssembly, Lambda's snapshot mode) serve it too.
    pub edge: bool,
    /// The handler, as an axum method router.
    pub handler: fn() -> MethodRouter<AppState>,
}

impl Route {
    /// The path with OpenAPI's and `function.json`'s camelCase parameters (`{itemId}`).
    pub fn public_path(&self) -> String {
        camel_params(self.path)
    }

    /// Whether it runs under the request deadline (everything but the timer).
    pub fn has_deadline(&self) -> bool {
        !matches!(self.trigger, Trigger::Timer { .. })
    }
}

use crate::routes::openapi::operations as ops;

const HTTP_FUNCTION: Trigger = Trigger::Http {
    auth_level: "function",
};
const HTTP_ANONYMOUS: Trigger = Trigger::Http {
    auth_level: "anonymous",
};

/// Every route of the service.
pub const ROUTES: &[Route] = &[
    Route {
        verb: Verb::Get,
        path: "/api/recommendations/{user_id}",
        access: Access::Open,
        function: "recommendations",
        trigger: HTTP_FUNCTION,
        operation: Some(("recommendations_get", ops::recommendations_get)),
        query: Parameters::Handler,
        edge: true,
        handler: || get(routes::recommendations::recommendations_get),
    },
    Route {
        verb: Verb::Get,
        path: "/api/recommendations/",
        access: Access::Public,
        function: "",
        trigger: Trigger::None,
        operation: None,
        query: Parameters::Handler,
        edge: true,
        handler: || get(routes::recommendations::recommendations_missing_user),
    },
    Route {
        verb: Verb::Post,
        path: "/api/recommendations/{user_id}/rank",
        access: Access::Open,
        function: "rank",
        trigger: HTTP_FUNCTION,
        operation: Some(("rank_post", ops::rank_post)),
        query: Parameters::NONE,
        edge: false,
        handler: || post(routes::rank::rank_post),
    },
    Route {
        verb: Verb::Post,
        path: "/api/events",
        access: Access::Key,
        function: "events",
        trigger: HTTP_FUNCTION,
        operation: Some(("events_post", ops::events_post)),
        query: Parameters::NONE,
        edge: false,
        handler: || post(routes::events::events_post),
    },
    Route {
        verb: Verb::Get,
        path: "/api/items/trending",
        access: Access::Open,
        function: "trending",
        trigger: HTTP_FUNCTION,
        operation: Some(("trending_get", ops::trending_get)),
        query: Parameters::Known(query::TRENDING_PARAMETERS),
        edge: false,
        handler: || get(routes::trending::trending_get),
    },
    Route {
        verb: Verb::Get,
        path: "/api/items/{item_id}",
        access: Access::Key,
        function: "item",
        trigger: HTTP_FUNCTION,
        operation: Some(("item_get", ops::item_get)),
        query: Parameters::NONE,
        edge: false,
        handler: || get(routes::items::item_get),
    },
    Route {
        verb: Verb::Put,
        path: "/api/items/{item_id}",
        access: Access::Key,
        function: "item",
        trigger: HTTP_FUNCTION,
        operation: Some(("item_put", ops::item_put)),
        query: Parameters::NONE,
        edge: false,
        handler: || put(routes::items::item_put),
    },
    Route {
        verb: Verb::Delete,
        path: "/api/items/{item_id}",
        access: Access::Key,
        function: "item",
        trigger: HTTP_FUNCTION,
        operation: Some(("item_delete", ops::item_delete)),
        query: Parameters::NONE,
        edge: false,
        handler: || delete(routes::items::item_delete),
    },
    Route {
        verb: Verb::Post,
        path: "/api/items",
        access: Access::Key,
        function: "items",
        trigger: HTTP_FUNCTION,
        operation: Some(("items_post", ops::items_post)),
        query: Parameters::NONE,
        edge: false,
        handler: || post(routes::items::items_post),
    },
    Route {
        verb: Verb::Get,
        path: "/api/items/{item_id}/similar",
        access: Access::Open,
        function: "similar",
        trigger: HTTP_FUNCTION,
        operation: Some(("similar_get", ops::similar_get)),
        query: Parameters::Handler,
        edge: false,
        handler: || get(routes::similar::similar_get),
    },
    Route {
        verb: Verb::Get,
        path: "/api/health",
        access: Access::Public,
        function: "health",
        trigger: HTTP_ANONYMOUS,
        operation: Some(("health_get", ops::health_get)),
        query: Parameters::NONE,
        edge: false,
        handler: || get(routes::health::health_get),
    },
    Route {
        verb: Verb::Get,
        path: "/api/openapi.json",
        access: Access::Public,
        function: "openapi",
        trigger: HTTP_ANONYMOUS,
        operation: Some(("openapi_get", ops::openapi_get)),
        query: Parameters::NONE,
        edge: false,
        handler: || get(routes::openapi::openapi_get),
    },
    Route {
        verb: Verb::Get,
        path: "/api/ping",
        access: Access::Public,
        function: "",
        trigger: Trigger::None,
        operation: None,
        query: Parameters::NONE,
        edge: true,
        handler: || get(routes::health::ping_get),
    },
    Route {
        verb: Verb::Delete,
        path: "/api/users/{user_id}",
        access: Access::Key,
        function: "user",
        trigger: HTTP_FUNCTION,
        operation: Some(("user_delete", ops::user_delete)),
        query: Parameters::NONE,
        edge: false,
        handler: || delete(routes::users::user_delete),
    },
    Route {
        verb: Verb::Get,
        path: "/api/users/{user_id}/data",
        access: Access::Key,
        function: "user-data",
        trigger: HTTP_FUNCTION,
        operation: Some(("user_data_get", ops::user_data_get)),
        query: Parameters::NONE,
        edge: false,
        handler: || get(routes::users::user_data_get),
    },
    Route {
        verb: Verb::Post,
        path: "/api/users/{user_id}/merge",
        access: Access::Key,
        function: "user-merge",
        trigger: HTTP_FUNCTION,
        operation: Some(("user_merge_post", ops::user_merge_post)),
        query: Parameters::NONE,
        edge: false,
        handler: || post(routes::users::user_merge_post),
    },
    Route {
        verb: Verb::Get,
        path: "/api/metrics",
        access: Access::Key,
        function: "metrics",
        trigger: HTTP_FUNCTION,
        operation: Some(("metrics_get", ops::metrics_get)),
        query: Parameters::NONE,
        edge: false,
        handler: || get(routes::metrics::metrics_get),
    },
    Route {
        verb: Verb::Get,
        path: "/api/admin/stats",
        access: Access::Key,
        function: "ops-stats",
        trigger: HTTP_FUNCTION,
        operation: Some(("admin_stats_get", ops::admin_stats_get)),
        query: Parameters::Known(query::STATS_PARAMETERS),
        edge: false,
        handler: || get(routes::admin::stats_get),
    },
    Route {
        verb: Verb::Get,
        path: "/api/admin/dashboard",
        access: Access::Key,
        function: "ops-dashboard",
        trigger: HTTP_FUNCTION,
        operation: Some(("admin_dashboard_get", ops::admin_dashboard_get)),
        query: Parameters::Known(query::DASHBOARD_PARAMETERS),
        edge: false,
        handler: || get(routes::admin::dashboard_get),
    },
    Route {
        verb: Verb::Post,
        path: "/retrain",
        access: Access::Key,
        function: "retrain",
        trigger: Trigger::Timer {
            schedule: "%RETRAIN_SCHEDULE%",
        },
        operation: None,
        query: Parameters::NONE,
        edge: false,
        handler: || post(routes::retrain::retrain_post),
    },
];

/// The entry whose template axum matched (`MatchedPath`), for the metric label.
pub fn template(matched: &str) -> Option<&'static str> {
    ROUTES.iter().find(|r| r.path == matched).map(|r| r.path)
}

/// `{user_id}` → `{userId}`: the parameter names of OpenAPI and `function.json`.
pub fn camel_params(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_param = false;
    let mut upper_next = false;
    for c in path.chars() {
        match c {
            '{' => in_param = true,
            '}' => in_param = false,
            '_' if in_param => {
                upper_next = true;
                continue;
            }
            _ => {}
        }
        if upper_next {
            out.extend(c.to_uppercase());
            upper_next = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The `route` of an HTTP trigger: the path under the host's `/api` prefix. The host reserves
/// routes that start with `admin`, so those match the segment with a constraint instead.
fn host_route(path: &str) -> String {
    let route = camel_params(path.strip_prefix("/api/").unwrap_or(path));
    match route.strip_prefix("admin/") {
        Some(rest) => format!("{{section:regex(^admin$)}}/{rest}"),
        None => route,
    }
}

/// The function folders of the Functions package: each function's name and its
/// `function.json`, in table order.
pub fn function_folders() -> Vec<(&'static str, Value)> {
    let mut folders: Vec<(&'static str, Value)> = Vec::new();
    for route in ROUTES {
        let bindings = match route.trigger {
            Trigger::None => continue,
            Trigger::Timer { schedule } => json!([{
                "type": "timerTrigger", "direction": "in", "name": "timer",
                "schedule": schedule, "runOnStartup": false, "useMonitor": true
            }]),
            Trigger::Http { auth_level } => {
                if let Some((_, existing)) = folders.iter_mut().find(|f| f.0 == route.function) {
                    let methods = existing["bindings"][0]["methods"]
                        .as_array_mut()
                        .expect("an HTTP function has methods");
                    methods.push(json!(route.verb.lower()));
                    continue;
                }
                json!([
                    {"type": "httpTrigger", "direction": "in", "name": "req",
                     "authLevel": auth_level, "methods": [route.verb.lower()],
                     "route": host_route(route.path)},
                    {"type": "http", "direction": "out", "name": "res"}
                ])
            }
        };
        folders.push((route.function, json!({ "bindings": bindings })));
    }
    folders
}

/// The package's `.funcignore`, in its allow-list form: `host.json`, the handler and the
/// function folders, nothing else (for `func azure functionapp publish` from the package).
pub fn funcignore(executable: &str) -> String {
    let mut out = String::from(
        "# Generated by `handler --write-function-folders`: only host.json, the handler and the\n\
         # function folders belong in the Functions package.\n*\n!host.json\n",
    );
    out.push_str(&format!("!{executable}\n"));
    for (name, _) in function_folders() {
        out.push_str(&format!("!{name}/\n!{name}/function.json\n"));
    }
    out
}

/// Writes every function folder and `.funcignore` into `dir` (the package folder, which
/// `infra/package.sh` always assembles afresh); returns how many folders it wrote.
pub fn write_function_folders(dir: &std::path::Path, executable: &str) -> std::io::Result<usize> {
    let folders = function_folders();
    for (name, function) in &folders {
        let folder = dir.join(name);
        std::fs::create_dir_all(&folder)?;
        let mut text = serde_json::to_string_pretty(function).expect("JSON values serialise");
        text.push('\n');
        std::fs::write(folder.join("function.json"), text)?;
    }
    std::fs::write(dir.join(".funcignore"), funcignore(executable))?;
    Ok(folders.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_camel_case() {
        assert_eq!(
            camel_params("/api/recommendations/{user_id}/rank"),
            "/api/recommendations/{userId}/rank"
        );
        assert_eq!(camel_params("/api/items/{item_id}"), "/api/items/{itemId}");
        assert_eq!(camel_params("/api/items_x"), "/api/items_x");
    }

    #[test]
    fn admin_routes_avoid_the_reserved_prefix() {
        assert_eq!(
            host_route("/api/admin/stats"),
            "{section:regex(^admin$)}/stats"
        );
        assert_eq!(host_route("/api/items/{item_id}"), "items/{itemId}");
    }

    #[test]
    fn one_folder_per_function_with_all_its_methods() {
        let folders = function_folders();
        let names: Vec<&str> = folders.iter().map(|f| f.0).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(names.len(), unique.len(), "{names:?}");
        let item = &folders.iter().find(|f| f.0 == "item").unwrap().1;
        assert_eq!(
            item["bindings"][0]["methods"],
            json!(["get", "put", "delete"])
        );
        let retrain = &folders.iter().find(|f| f.0 == "retrain").unwrap().1;
        assert_eq!(retrain["bindings"][0]["type"], "timerTrigger");
        // Routes outside Azure have no folder; every other route has exactly one.
        for route in ROUTES {
            assert_eq!(
                names.contains(&route.function),
                route.trigger != Trigger::None,
                "{}",
                route.path
            );
        }
    }

    #[test]
    fn every_route_is_unique_and_documented_unless_internal() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    (a.verb, a.path) != (b.verb, b.path),
                    "{} {} twice",
                    a.verb.as_str(),
                    a.path
                );
            }
            // Only the timer and the two routes Azure never sees stay out of the document.
            assert_eq!(
                a.operation.is_none(),
                a.trigger == Trigger::None || matches!(a.trigger, Trigger::Timer { .. }),
                "{}",
                a.path
            );
        }
    }

    /// The edge router (`topten_edge::route::handle`, shared by the WebAssembly component and
    /// Lambda's snapshot mode) serves exactly the routes marked `edge`.
    #[test]
    fn the_edge_router_serves_the_edge_routes() {
        use topten_edge::request::Limits;
        use topten_edge::snapshot::{RecsSnapshot, SnapshotWriter};
        let bytes = SnapshotWriter::new("v1").finish();
        let snap = RecsSnapshot::parse(&bytes).unwrap();
        for route in ROUTES {
            let path = route
                .path
                .replace("{user_id}", "u1")
                .replace("{item_id}", "i1");
            let answer = topten_edge::route::handle(
                &snap,
                &Limits::default(),
                route.verb.as_str(),
                &path,
                None,
                None,
            );
            let unknown = String::from_utf8_lossy(&answer.body).contains("\"not_found\"");
            assert_eq!(
                !unknown,
                route.edge,
                "{} {path}: {} {}",
                route.verb.as_str(),
                answer.status,
                String::from_utf8_lossy(&answer.body)
            );
        }
    }

    /// The query parameters each documented operation lists are the ones its entry takes.
    #[test]
    fn documented_query_parameters_are_the_tables() {
        for route in ROUTES {
            let Some((id, operation)) = route.operation else {
                continue;
            };
            let operation = operation();
            let mut documented: Vec<&str> = operation["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "query")
                        .map(|p| p["name"].as_str().unwrap())
                        .collect()
                })
                .unwrap_or_default();
            documented.sort_unstable();
            let mut taken: Vec<&str> = match route.query {
                Parameters::Known(names) => names.to_vec(),
                Parameters::Handler if route.path.starts_with("/api/recommendations/") => {
                    topten_edge::request::RECS_PARAMETERS.to_vec()
                }
                Parameters::Handler => query::SIMILAR_PARAMETERS.to_vec(),
            };
            taken.sort_unstable();
            assert_eq!(documented, taken, "{id}");
        }
    }
}
