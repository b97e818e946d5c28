//! `topten-wasm`: `GET /api/recommendations/{userId}` as a `wasi:http/proxy` component.
//!
//! The recommendations snapshot (`topten export-snapshot`) is embedded at build time as a data
//! segment: a host that instantiates the component per request (wasmtime with its pooling
//! allocator maps the segment copy-on-write) pays nothing to "load" it, and the lookup reads it
//! in place (binary search, no parsing). Every byte of every answer comes from
//! [`topten_edge::route::handle`], the functions the native handler calls, so answers are
//! byte-identical to the native handler's on the same snapshot, but for each answer's own
//! `recommendationId` (the time and a random nonce from the host, arm `-`), signed with the
//! `TOPTEN_ID_KEY` given when the component was built (`build.sh`): give it the key the
//! native handler serving the events has, or its ids are never credited.
//!
//! Served: `GET /api/recommendations/{userId}?k=&exclude=` (unknown users get the popular list)
//! and `GET /api/ping`; anything else is the native `not_found` / `method_not_allowed` answer.
//! Limits are the handler's defaults (k 10, at most 100, ids up to 128 characters).

use topten_edge::request::Limits;
use topten_edge::route::{self, Response};
use topten_edge::snapshot::RecsSnapshot;
use wasip2::http::types::{Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam};

/// The snapshot, embedded by build.rs (empty when the build was given none).
static SNAPSHOT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/recs.snap"));

/// `TOPTEN_ID_KEY` at build time (empty when none was given).
static ID_KEY: &str = include_str!(concat!(env!("OUT_DIR"), "/id.key"));

/// The keys that sign answer ids: the build's `TOPTEN_ID_KEY`, else a random key of this
/// instance, whose ids then verify nowhere (the host instantiates the component per request).
fn id_keys() -> topten_edge::answer_id::IdKeys {
    if !ID_KEY.is_empty() {
        if let Ok(keys) = topten_edge::answer_id::IdKeys::from_setting(ID_KEY) {
            return keys;
        }
    }
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(&wasip2::random::random::get_random_bytes(32));
    topten_edge::answer_id::IdKeys::from_random(bytes)
}

wasip2::http::proxy::export!(Component);

struct Component;

fn method_name(m: &Method) -> &str {
    match m {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Connect => "CONNECT",
        Method::Options => "OPTIONS",
        Method::Trace => "TRACE",
        Method::Patch => "PATCH",
        Method::Other(s) => s,
    }
}

/// The time and a random nonce for this answer's `recommendationId`, from the `wasi:clocks`
/// and `wasi:random` imports of the proxy world, and the keys that sign it.
fn stamp(keys: &topten_edge::answer_id::IdKeys) -> route::AnswerStamp<'_> {
    let now = wasip2::clocks::wall_clock::now();
    route::AnswerStamp {
        issued_ms: now.seconds * 1000 + u64::from(now.nanoseconds / 1_000_000),
        nonce: wasip2::random::random::get_random_u64(),
        keys,
    }
}

fn answer(request: &IncomingRequest) -> (Response, Option<&'static str>) {
    let method = request.method();
    let target = request.path_with_query().unwrap_or_else(|| "/".into());
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target.as_str(), None),
    };
    if SNAPSHOT.is_empty() {
        let body = topten_edge::body::error_body("no_active_version", "no model version has been published and activated yet");
        return (Response { status: 503, content_type: route::JSON, body }, Some("30"));
    }
    match RecsSnapshot::parse(SNAPSHOT) {
        Ok(snap) => {
            let keys = id_keys();
            (route::handle(&snap, &Limits::default(), method_name(&method), path, query, Some(stamp(&keys))), None)
        }
        Err(_) => {
            let body = topten_edge::body::error_body("internal", "internal error");
            (Response { status: 500, content_type: route::JSON, body }, None)
        }
    }
}

impl wasip2::exports::http::incoming_handler::Guest for Component {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let (resp, retry_after) = answer(&request);
        let mut headers: Vec<(String, Vec<u8>)> = vec![
            ("content-type".into(), resp.content_type.as_bytes().to_vec()),
            ("content-length".into(), resp.body.len().to_string().into_bytes()),
        ];
        if let Some(secs) = retry_after {
            headers.push(("retry-after".into(), secs.as_bytes().to_vec()));
        }
        let fields = Fields::from_list(&headers).expect("valid headers");
        let out = OutgoingResponse::new(fields);
        out.set_status_code(resp.status).expect("valid status");
        let body = out.body().expect("response body");
        ResponseOutparam::set(response_out, Ok(out));
        let stream = body.write().expect("body stream");
        // blocking_write_and_flush takes at most 4096 bytes per call.
        for chunk in resp.body.chunks(4096) {
            stream.blocking_write_and_flush(chunk).expect("write body");
        }
        drop(stream);
        OutgoingBody::finish(body, None).expect("finish body");
    }
}

/// Debian's 2022 wasi-libc start file is not linked (`link-self-contained=no`) and would not
/// run the constructors once: this `_start` runs them, then `main`, as newer wasi-libc does.
#[cfg(topten_start)]
mod start {
    extern "C" {
        fn __wasm_call_ctors();
        fn __original_main() -> i32;
    }

    #[no_mangle]
    extern "C" fn _start() {
        // SAFETY: called once by the host when the command starts, as crt1 would.
        let code = unsafe {
            __wasm_call_ctors();
            __original_main()
        };
        if code != 0 {
            std::process::exit(code);
        }
    }
}

fn main() {}
