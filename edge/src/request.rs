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

/// Validates an id from a path: 1 to `max` characters, no control characters.
pub fn validate_id(id: &str, max: usize, code: &'static str, what: &str) -> Result<(), Rejection> {
    let len = id.chars().count();
    if len == 0 || len > max {
        return Err(Rejection::bad_request(
            code,
            format!("{what} must be 1 to {max} characters, got {len}"),
        ));
    }
    if id.chars().any(char::is_control) {
        return Err(Rejection::bad_request(
            code,
            format!("{what} must not contain control characters"),
        ));
    }
    Ok(())
}

/// Validates a user id.
pub fn validate_user_id(id: &str, max: usize) -> Result<(), Rejection> {
    validate_id(id, max, "invalid_user_id", "user id")
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

/// The raw `k` and `exclude` values of a query string (form-urlencoded; the last occurrence
/// wins). Parsed by hand, without a map of owned strings: this is the hot path.
pub fn query_k_exclude(query: Option<&str>) -> (Option<Cow<'_, str>>, Option<Cow<'_, str>>) {
    let (mut k, mut exclude) = (None, None);
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "k" => k = Some(value),
            "exclude" => exclude = Some(value),
            _ => {}
        }
    }
    (k, exclude)
}

/// A validated recommendations request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecsRequest {
    /// How many items to return.
    pub k: usize,
    /// Item ids to leave out.
    pub exclude: Vec<String>,
}

/// Validates the user id (already percent-decoded) and the query of a recommendations request,
/// in the order the API documents: user id, then `k`, then `exclude`.
pub fn recs_request(
    user_id: &str,
    query: Option<&str>,
    limits: &Limits,
) -> Result<RecsRequest, Rejection> {
    validate_user_id(user_id, limits.max_id_len)?;
    let (k_raw, exclude_raw) = query_k_exclude(query);
    let k = parse_k(k_raw.as_deref(), limits.default_k, limits.max_k)?;
    let exclude = parse_exclude(exclude_raw.as_deref(), limits.max_id_len)?;
    Ok(RecsRequest { k, exclude })
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
        assert_eq!(decode_segment("u%20%C3%A9").as_deref(), Some("u é"));
        assert_eq!(decode_segment("%FF"), None);
    }
}
