//! Request validation: user ids, `k`, `exclude`, and the query string. Every failure is a
//! [`Rejection`] with a stable code; the HTTP layers only turn it into a response.

use std::borrow::Cow;

use crate::body::error_body;

/// A request the API refuses: HTTP status, stable code, human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// HTTP status (400, 404, 405).
    pub status: u16,
    /// Stable machine-readable code (`invalid_k`, ...).
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
}

impl Rejection {
    /// A 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Rejection {
            status: 400,
            code,
            message: message.into(),
        }
    }

    /// A 404 with `code`.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Rejection {
            status: 404,
            code,
            message: message.into(),
        }
    }

    /// The JSON body `{"error":{"code","message"}}`.
    pub fn body(&self) -> Vec<u8> {
        error_body(self.code, &self.message)
    }
}

/// The 404 of a path no route serves.
pub fn no_such_route() -> Rejection {
    Rejection::not_found("not_found", "no such route; see /api/openapi.json")
}

/// The 405 of a known path with the wrong method.
pub fn method_not_allowed() -> Rejection {
    Rejection {
        status: 405,
        code: "method_not_allowed",
        message: "method not allowed on this route".into(),
    }
}

/// The 400 of `/api/recommendations/` without an id.
pub fn missing_user_id() -> Rejection {
    Rejection::bad_request(
        "invalid_user_id",
        "the path must end with a user id: /api/recommendations/{userId}",
    )
}

/// Request limits (the handler's `TOPTEN_DEFAULT_K`, `TOPTEN_MAX_K`, `TOPTEN_MAX_ID_LEN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `k` when the request has none.
    pub default_k: usize,
    /// Largest `k` accepted.
    pub max_k: usize,
    /// Longest id accepted (characters).
    pub max_id_len: usize,
}

impl Default for Limits {
    /// The documented defaults: 10, 100, 128.
    fn default() -> Self {
        Limits {
            default_k: 10,
            max_k: 100,
            max_id_len: 128,
        }
    }
}

/// Validates an id from a request against the one id rule ([`crate::ids`]) and the
/// deployment's `max` length (which may be lower than the rule's).
pub fn validate_id(
    id: &str,
    max: usize,
    kind: crate::ids::IdKind,
    code: &'static str,
) -> Result<(), Rejection> {
    let len = id.chars().count();
    let noun = kind.noun();
    if len == 0 || len > max {
        return Err(Rejection::bad_request(
            code,
            format!("{noun} must be 1 to {max} characters, got {len}"),
        ));
    }
    crate::ids::check(kind, id).map_err(|e| Rejection::bad_request(code, e.0))
}

/// Validates a user id.
pub fn validate_user_id(id: &str, max: usize) -> Result<(), Rejection> {
    validate_id(id, max, crate::ids::IdKind::User, "invalid_user_id")
}

/// Parses `k`: an integer from 1 to `max`.
pub fn parse_k(raw: Option<&str>, default: usize, max: usize) -> Result<usize, Rejection> {
    let Some(raw) = raw else { return Ok(default) };
    match raw.trim().parse::<usize>() {
        Ok(k) if (1..=max).contains(&k) => Ok(k),
        _ => Err(Rejection::bad_request(
            "invalid_k",
            format!("k must be an integer from 1 to {max}, got {raw:?}"),
        )),
    }
}

/// Parses `exclude`: comma-separated item ids.
pub fn parse_exclude(raw: Option<&str>, max_len: usize) -> Result<Vec<String>, Rejection> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    let ids: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if ids.len() > 1000 {
        return Err(Rejection::bad_request(
            "invalid_exclude",
            "exclude takes at most 1000 item ids",
        ));
    }
    if ids.iter().any(|i| i.chars().count() > max_len) {
        return Err(Rejection::bad_request(
            "invalid_exclude",
            format!("excluded item ids must be at most {max_len} characters"),
        ));
    }
    Ok(ids)
}

/// The query parameter every route takes besides its own: `code`, the function key Azure
/// Functions (and the API key check) reads from the query string.
pub const KEY_PARAMETER: &str = "code";

/// The parameters of `GET /api/recommendations/{userId}` (besides `code`, and the
/// `$parameters` a `filter` expression names).
pub const RECS_PARAMETERS: &[&str] = &[
    "k",
    "exclude",
    "explain",
    "category",
    "excludeCategory",
    "filter",
];

/// The catalogue-filter parameters (`category`, `excludeCategory`, `filter`).
const FILTER_PARAMETERS: &[&str] = &["category", "excludeCategory", "filter"];

/// The 400 `invalid_query` of a parameter the route does not take, naming it and the ones
/// it does.
pub fn unknown_parameter(name: &str, known: &[&str]) -> Rejection {
    let message = if known.is_empty() {
        format!("unknown query parameter {name:?}; this route takes none")
    } else {
        format!(
            "unknown query parameter {name:?}; known: {}",
            known.join(", ")
        )
    };
    Rejection::bad_request("invalid_query", message)
}

/// Checks that every parameter of `query` is in `known` (or is `code`): one pass, no
/// allocation unless a name is percent-encoded or unknown.
pub fn check_parameters(query: Option<&str>, known: &[&str]) -> Result<(), Rejection> {
    match first_unknown(query, known, &[]) {
        Some(name) => Err(unknown_parameter(&name, known)),
        None => Ok(()),
    }
}

/// The first parameter name of `query` that is neither in `known`, nor in `extra`, nor `code`.
pub fn first_unknown<'a>(
    query: Option<&'a str>,
    known: &[&str],
    extra: &[String],
) -> Option<Cow<'a, str>> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(key, _)| key)
        .find(|key| {
            key != KEY_PARAMETER
                && !known.contains(&key.as_ref())
                && !extra.iter().any(|e| e == key)
        })
}

/// The raw values of a recommendations query, from one pass over the query string
/// (form-urlencoded; the last occurrence wins): the hot path, so values stay borrowed unless
/// percent-encoded.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecsQuery<'a> {
    /// `k`.
    pub k: Option<Cow<'a, str>>,
    /// `exclude`.
    pub exclude: Option<Cow<'a, str>>,
    /// `explain`.
    pub explain: Option<Cow<'a, str>>,
    /// Whether a catalogue filter (`category`, `excludeCategory`, `filter`) is present.
    pub filtered: bool,
    /// The first parameter the route does not take (a `filter`'s `$parameters` may make it
    /// known: the caller decides).
    pub unknown: Option<Cow<'a, str>>,
}

impl<'a> RecsQuery<'a> {
    /// Parses `query` in one pass.
    pub fn parse(query: Option<&'a str>) -> Self {
        let mut q = RecsQuery::default();
        for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match key.as_ref() {
                "k" => q.k = Some(value),
                "exclude" => q.exclude = Some(value),
                "explain" => q.explain = Some(value),
                KEY_PARAMETER => {}
                name if FILTER_PARAMETERS.contains(&name) => q.filtered = true,
                _ => {
                    if q.unknown.is_none() {
                        q.unknown = Some(key);
                    }
                }
            }
        }
        q
    }
}

/// The raw `k` and `exclude` values of a query string (form-urlencoded; the last occurrence
/// wins).
pub fn query_k_exclude(query: Option<&str>) -> (Option<Cow<'_, str>>, Option<Cow<'_, str>>) {
    let q = RecsQuery::parse(query);
    (q.k, q.exclude)
}

/// Parses `explain`: `true`/`1`, or `false`/`0`/empty (the default).
pub fn parse_explain(raw: Option<&str>) -> Result<bool, Rejection> {
    match raw {
        None | Some("false" | "0" | "") => Ok(false),
        Some("true" | "1") => Ok(true),
        Some(other) => Err(Rejection::bad_request(
            "invalid_query",
            format!("explain must be true or false, got {other:?}"),
        )),
    }
}

/// A validated recommendations request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecsRequest {
    /// How many items to return.
    pub k: usize,
    /// Item ids to leave out.
    pub exclude: Vec<String>,
    /// `explain=true`.
    pub explain: bool,
    /// A catalogue filter is present (the caller parses it from the query).
    pub filtered: bool,
    /// The first parameter the route does not take, when there is one: without a `filter`
    /// this is a 400 `invalid_query`; with one, the caller checks it against the filter's
    /// `$parameters` ([`first_unknown`]).
    pub unknown: Option<String>,
}

impl RecsRequest {
    /// The 400 for an unknown parameter when no filter could name it.
    pub fn reject_unknown(&self) -> Result<(), Rejection> {
        match (&self.unknown, self.filtered) {
            (Some(name), false) => Err(unknown_parameter(name, RECS_PARAMETERS)),
            _ => Ok(()),
        }
    }
}

/// Validates the user id (already percent-decoded) and the query of a recommendations request,
/// in the order the API documents: user id, then `k`, then `exclude`, then `explain`.
pub fn recs_request(
    user_id: &str,
    query: Option<&str>,
    limits: &Limits,
) -> Result<RecsRequest, Rejection> {
    validate_user_id(user_id, limits.max_id_len)?;
    let q = RecsQuery::parse(query);
    let k = parse_k(q.k.as_deref(), limits.default_k, limits.max_k)?;
    let exclude = parse_exclude(q.exclude.as_deref(), limits.max_id_len)?;
    let explain = parse_explain(q.explain.as_deref())?;
    Ok(RecsRequest {
        k,
        exclude,
        explain,
        filtered: q.filtered,
        unknown: q.unknown.map(Cow::into_owned),
    })
}

/// Percent-decodes one path segment as the native router does (`None`: not UTF-8 after decoding).
pub fn decode_segment(raw: &str) -> Option<Cow<'_, str>> {
    percent_encoding::percent_decode_str(raw).decode_utf8().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The validation rules and messages the API documents (and the existing tests check).
    #[test]
    fn validation_rules() {
        assert_eq!(parse_k(None, 10, 100), Ok(10));
        assert_eq!(parse_k(Some(" 5 "), 10, 100), Ok(5));
        let e = parse_k(Some("0"), 10, 100).unwrap_err();
        assert_eq!(
            (e.status, e.code, e.message.as_str()),
            (
                400,
                "invalid_k",
                "k must be an integer from 1 to 100, got \"0\""
            )
        );
        assert!(parse_k(Some("101"), 10, 100).is_err());
        assert!(parse_k(Some("x"), 10, 100).is_err());
        assert_eq!(
            validate_user_id(&"a".repeat(129), 128).unwrap_err().message,
            "user id must be 1 to 128 characters, got 129"
        );
        assert_eq!(
            validate_user_id("a\u{7}", 128).unwrap_err().code,
            "invalid_user_id"
        );
        assert_eq!(
            parse_exclude(Some("a, b,,c"), 128).unwrap(),
            vec!["a", "b", "c"]
        );
        let many = vec!["x"; 1001].join(",");
        assert_eq!(
            parse_exclude(Some(&many), 128).unwrap_err().code,
            "invalid_exclude"
        );
    }

    /// Query parsing decodes values and keeps the last occurrence.
    #[test]
    fn query_values() {
        let (k, ex) = query_k_exclude(Some("k=1&exclude=a%2Cb&k=3&x=1"));
        assert_eq!(k.as_deref(), Some("3"));
        assert_eq!(ex.as_deref(), Some("a,b"));
        assert_eq!(query_k_exclude(None), (None, None));
        let q = RecsQuery::parse(Some("k=2&catgory=Horror&category=A&code=key&x=1"));
        assert_eq!(q.unknown.as_deref(), Some("catgory"));
        assert!(q.filtered);
        let e = check_parameters(Some("window=1h&code=k&windw=2"), &["k", "window"]).unwrap_err();
        assert_eq!(e.code, "invalid_query");
        assert!(e.message.contains("\"windw\""), "{}", e.message);
        assert!(check_parameters(Some("code=key&k=1"), &["k"]).is_ok());
        assert!(check_parameters(None, &[]).is_ok());
        assert!(check_parameters(Some("a=1"), &[]).is_err());
        assert_eq!(
            first_unknown(Some("max=3&filter=x"), &["filter"], &["max".into()]),
            None
        );
        assert_eq!(decode_segment("u%20%C3%A9").as_deref(), Some("u é"));
        assert_eq!(decode_segment("%FF"), None);
    }
}
