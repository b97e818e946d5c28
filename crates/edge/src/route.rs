//! The whole request path over a [`RecsSnapshot`], routing included: what the WebAssembly
//! component runs per request. It mirrors the native router for the routes an edge copy can
//! serve (`GET /api/recommendations/{userId}`, `GET /api/ping`); anything else is the same
//! `not_found` answer the native router gives for an unknown path. Unknown users get the
//! popular list (the native default, `TOPTEN_UNKNOWN_USER=popular`). A query parameter the
//! route does not take is a 400 `invalid_query` naming it, as natively.

use crate::answer_id::{IdKeys, Stamp};
use crate::body::{answer_body, join_items};
use crate::request::{
    check_parameters, decode_segment, method_not_allowed, missing_user_id, no_such_route,
    recs_request, Limits, Rejection,
};
use crate::snapshot::RecsSnapshot;

/// Content type of JSON answers.
pub const JSON: &str = "application/json";
/// Content type of `GET /api/ping` (what axum gives a `&'static str`).
pub const TEXT: &str = "text/plain; charset=utf-8";

/// An answer: status, content type, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type` header.
    pub content_type: &'static str,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl From<Rejection> for Response {
    fn from(r: Rejection) -> Self {
        Response {
            status: r.status,
            content_type: JSON,
            body: r.body(),
        }
    }
}

const RECS_PREFIX: &str = "/api/recommendations/";

/// When and with which random nonce an answer is given, and the keys that sign its
/// `recommendationId` (the caller supplies all three, so this crate stays free of clocks,
/// randomness and settings).
#[derive(Debug, Clone, Copy)]
pub struct AnswerStamp<'k> {
    /// Epoch milliseconds.
    pub issued_ms: u64,
    /// Random bits.
    pub nonce: u64,
    /// The id keys.
    pub keys: &'k IdKeys,
}

/// Answers one request. `path` is the raw (percent-encoded) path, `query` the raw query string.
/// With a `stamp`, a recommendations answer carries its `recommendationId` (arm `-`: a list
/// file serves one version, outside experiments).
pub fn handle(
    snap: &RecsSnapshot<'_>,
    limits: &Limits,
    method: &str,
    path: &str,
    query: Option<&str>,
    stamp: Option<AnswerStamp<'_>>,
) -> Response {
    let get = method == "GET";
    if path == "/api/ping" {
        if !get {
            return method_not_allowed().into();
        }
        if let Err(r) = check_parameters(query, &[]) {
            return r.into();
        }
        return Response {
            status: 200,
            content_type: TEXT,
            body: b"pong".to_vec(),
        };
    }
    let Some(raw_id) = path.strip_prefix(RECS_PREFIX) else {
        return no_such_route().into();
    };
    if raw_id.contains('/') {
        return no_such_route().into();
    }
    if !get {
        return method_not_allowed().into();
    }
    if raw_id.is_empty() {
        return missing_user_id().into();
    }
    let Some(user_id) = decode_segment(raw_id) else {
        return // The message axum's `Path` rejection gives.
        Rejection::bad_request("invalid_user_id", "Invalid URL: Invalid UTF-8 in `user_id`").into();
    };
    match recommendations(snap, limits, &user_id, query, stamp) {
        Ok(body) => Response {
            status: 200,
            content_type: JSON,
            body,
        },
        Err(r) => r.into(),
    }
}

/// The body of `GET /api/recommendations/{user_id}?{query}`: the user's first `k` stored items
/// not excluded and not expired at the stamp's time, or the popular list for an unknown user.
pub fn recommendations(
    snap: &RecsSnapshot<'_>,
    limits: &Limits,
    user_id: &str,
    query: Option<&str>,
    stamp: Option<AnswerStamp<'_>>,
) -> Result<Vec<u8>, Rejection> {
    let req = recs_request(user_id, query, limits)?;
    // An edge copy has no catalogue: with a filter present it cannot tell the filter's
    // `$parameters`, so only a query without one is checked for unknown parameters.
    req.reject_unknown()?;
    let internal = |_| Rejection {
        status: 500,
        code: "internal",
        message: "internal error".into(),
    };
    let (list, source) = match snap.user(user_id).map_err(internal)? {
        Some(list) => (list, "personalized"),
        None => (snap.popular().map_err(internal)?, "popular"),
    };
    // Items past an expiry the file lists are left out, as of the answer's time.
    let now_secs = stamp.map(|s| (s.issued_ms / 1000) as i64);
    let servable = |(id, _): &(&str, &[u8])| now_secs.is_none_or(|now| snap.servable_at(id, now));
    let chosen: Vec<(&str, &[u8])> = list
        .iter()
        .filter(servable)
        .filter(|(id, _)| !req.exclude.iter().any(|e| e == id))
        .take(req.k)
        .collect();
    let (items, _) = join_items(chosen.iter().copied(), req.k, &[]);
    let id = stamp.map(|s| {
        let fields = Stamp {
            version: snap.version(),
            arm: "-",
            issued_ms: s.issued_ms,
            nonce: s.nonce,
        };
        s.keys
            .sign(&fields, Some(user_id), chosen.iter().map(|(id, _)| *id))
    });
    Ok(answer_body(
        user_id,
        snap.version(),
        id.as_deref(),
        &items,
        source,
    ))
}
