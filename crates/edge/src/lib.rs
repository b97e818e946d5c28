//! The pure request path of `GET /api/recommendations/{userId}`: validate the request, look the
//! user up, apply `exclude` and `k`, write the JSON bytes; and the error bodies. The native
//! handler (`functions`, axum), the WebAssembly component (`wasm/`, `wasi:http/proxy`) and the
//! Lambda function (`lambda/`) all answer through these functions, so their responses are
//! byte-identical by construction, not by imitation.
//!
//! # Layout
//! - [`answer_id`]: the signed `recommendationId` of every answer, and its check when an event
//!   sends it back.
//! - [`ids`]: the one id rule every user, item and event id keeps at every entry point (files,
//!   the API, events); `topten_model` re-exports it.
//! - [`request`]: validation of ids, `k` and `exclude`, query parsing, [`request::Rejection`].
//! - [`body`]: the response bytes (recommendations, errors) and the item-list join.
//! - [`snapshot`]: the exported recommendations snapshot of one version (`topten
//!   export-snapshot`): every user's stored items and the popular list, read in place.
//! - [`route`]: the whole request path over a snapshot, routing included: what the wasm guest runs.
//!
//! The crate depends on `serde_json` (string escaping), `form_urlencoded`, `percent-encoding`,
//! and RustCrypto's `hmac`/`sha2`, `siphasher` and `base64` for the answer ids, all pure Rust:
//! it compiles to `wasm32-wasip2`.
//!
//! ```
//! use topten_edge::{route, snapshot::SnapshotWriter, request::Limits};
//! let mut w = SnapshotWriter::new("v1");
//! w.add_user("7", vec![("i1".into(), br#"{"itemId":"i1","score":0.5}"#.to_vec())]);
//! let bytes = w.finish();
//! let snap = topten_edge::snapshot::RecsSnapshot::parse(&bytes).unwrap();
//! let keys = topten_edge::answer_id::IdKeys::from_setting("an-id-key-of-16-bytes").unwrap();
//! let stamp = route::AnswerStamp { issued_ms: 0x19ac, nonce: 7, keys: &keys };
//! let resp = route::handle(&snap, &Limits::default(), "GET", "/api/recommendations/7", Some("k=1"), Some(stamp));
//! assert_eq!(resp.status, 200);
//! let body = String::from_utf8(resp.body).unwrap();
//! assert!(body.starts_with(r#"{"userId":"7","modelVersion":"v1","recommendationId":"r2:v1:-:19ac0000000000000007:u:"#));
//! assert!(body.ends_with(r#"","items":[{"itemId":"i1","score":0.5}],"source":"personalized"}"#));
//! ```
#![deny(missing_docs)]

pub mod answer_id;
pub mod body;
pub mod ids;
pub mod request;
pub mod route;
pub mod snapshot;
