//! The real `handler` executable under hostile and broken clients, over raw TCP sockets: heads
//! hyper would answer itself with bare responses, broken and stalled bodies, slow and idle
//! connections, the API key, content types, and the metrics endpoint. Every error must be JSON
//! with a stable code and an `x-request-id`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use topten_testkit::{free_port, wait_listening, KillOnDrop};

const KEY: &str = "test-key-0123456789abcdef";

/// A handler process on a free port, its stderr (JSON log lines) going to `log`.
struct Server {
    _child: KillOnDrop,
    port: u16,
    log: std::path::PathBuf,
}

fn start(dir: &Path, store: &str, envs: &[(&str, &str)]) -> Server {
    let port = free_port();
    let log = dir.join(format!("handler-{port}.log"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_handler"));
    cmd.env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("TOPTEN_STORE", store)
        .env("TOPTEN_LOG", "info")
        .env_remove("TOPTEN_API_KEY")
        .env_remove("TOPTEN_LOG_REQUESTS")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let child = KillOnDrop(cmd.spawn().unwrap());
    wait_listening(port, Duration::from_secs(20), "handler");
    Server {
        _child: child,
        port,
        log,
    }
}

/// One parsed HTTP response.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} body is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    /// Asserts a JSON error with `status` and `code` and a request id.
    fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{self:?}"
        );
        assert_eq!(self.json()["error"]["code"], code, "{self:?}");
        assert!(
            self.header("x-request-id").is_some_and(|v| !v.is_empty()),
            "no x-request-id: {self:?}"
        );
    }
}

/// Parses the complete responses at the start of `buf` (bodies sized by Content-Length).
fn parse_responses(mut buf: &[u8]) -> Vec<Resp> {
    let mut out = Vec::new();
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut r = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(len)) = r.parse(buf) else {
            return out;
        };
        let headers: Vec<(String, String)> = r
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_owned(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        let cl: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().unwrap())
            .unwrap_or(0);
        if buf.len() < len + cl {
            return out;
        }
        out.push(Resp {
            status: r.code.unwrap(),
            headers,
            body: buf[len..len + cl].to_vec(),
        });
        buf = &buf[len + cl..];
    }
}

/// Sends `parts` (with `gap` between them), then reads until `want` responses arrived (and,
/// with `until_closed`, until the server closes the connection) or `wait` passed; returns the
/// responses and whether the server closed the connection.
fn exchange(
    port: u16,
    parts: &[&[u8]],
    gap: Duration,
    want: usize,
    until_closed: bool,
    wait: Duration,
) -> (Vec<Resp>, bool) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(gap);
        }
        // The server may have answered and closed already: later parts then fail to send.
        if s.write_all(p).is_err() {
            break;
        }
    }
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let deadline = Instant::now() + wait;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let mut closed = false;
    while Instant::now() < deadline {
        match s.read(&mut chunk) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
        if !until_closed && parse_responses(&buf).len() >= want {
            break;
        }
    }
    (parse_responses(&buf), closed)
}

fn one(port: u16, raw: &[u8]) -> Resp {
    let (mut r, _) = exchange(
        port,
        &[raw],
        Duration::ZERO,
        1,
        false,
        Duration::from_secs(5),
    );
    assert!(
        !r.is_empty(),
        "no answer to {:?}",
        String::from_utf8_lossy(&raw[..raw.len().min(200)])
    );
    r.remove(0)
}

async fn published(dir: &Path) -> String {
    let ratings = topten_testkit::fixtures::ratings_file(dir);
    topten_testkit::fixtures::published_store(dir, &ratings)
        .await
        .0
}

/// Heads that hyper answers on its own with a bare 400/414/431 (no body, no request id) are
/// answered with the API's JSON errors, also on a kept-alive connection after a good request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_heads_get_json_errors_with_request_ids() {
    let dir = tempfile::tempdir().unwrap();
    let store = published(dir.path()).await;
    let srv = start(dir.path(), &store, &[]);
    let p = srv.port;

    one(
        p,
        b"POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    )
    .assert_error(400, "invalid_content_length");
    one(p, b"POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello")
        .assert_error(400, "invalid_content_length");
    one(
        p,
        b"POST /api/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
    )
    .assert_error(400, "invalid_transfer_encoding");
    one(
        p,
        b"GET /api/health HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n",
    )
    .assert_error(400, "malformed_request");
    one(p, b"GET /api/he\x01alth HTTP/1.1\r\nHost: x\r\n\r\n")
        .assert_error(400, "malformed_request");

    // Over the API's URI limit, and over hyper's own 64 KiB limit.
    for len in [10_000, 70_000] {
        let raw = format!(
            "GET /api/recommendations/{} HTTP/1.1\r\nHost: x\r\n\r\n",
            "a".repeat(len)
        );
        one(p, raw.as_bytes()).assert_error(414, "uri_too_long");
    }
    // Too many headers, and one header too large.
    let many: String = (0..150).map(|i| format!("x-h{i}: 1\r\n")).collect();
    one(
        p,
        format!("GET /api/health HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes(),
    )
    .assert_error(431, "headers_too_large");
    let big = format!(
        "GET /api/health HTTP/1.1\r\nHost: x\r\nx-big: {}\r\n\r\n",
        "b".repeat(40_000)
    );
    one(p, big.as_bytes()).assert_error(431, "headers_too_large");

    // The caller's request id is kept on a refused head.
    let r = one(
        p,
        b"GET /api/health HTTP/1.1\r\nx-request-id: trace-42\r\nContent-Length: -1\r\n\r\n",
    );
    r.assert_error(400, "invalid_content_length");
    assert_eq!(r.header("x-request-id"), Some("trace-42"));

    // Kept-alive: a good request with a body, then a bad head, in one write (pipelined) and in
    // two: the first is answered normally, the second with JSON, and the connection closes.
    let good = b"POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    let bad = b"GET /api/health HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n";
    let pipelined = [&good[..], &bad[..]].concat();
    for parts in [vec![&pipelined[..]], vec![&good[..], &bad[..]]] {
        let (rs, closed) = exchange(
            p,
            &parts,
            Duration::from_millis(200),
            2,
            true,
            Duration::from_secs(3),
        );
        assert_eq!(rs.len(), 2, "{rs:?}");
        rs[0].assert_error(400, "invalid_events");
        rs[1].assert_error(400, "invalid_content_length");
        assert!(closed, "the connection closes after a refused head");
    }
    // A chunked body followed by a good request on the same connection: framing is followed.
    let chunked = b"POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1;ext=1\r\n{\r\n1\r\n}\r\n0\r\nx-trailer: 1\r\n\r\nGET /api/health HTTP/1.1\r\nHost: x\r\n\r\n";
    let (rs, _) = exchange(
        p,
        &[chunked],
        Duration::ZERO,
        2,
        false,
        Duration::from_secs(3),
    );
    assert_eq!(rs.len(), 2, "{rs:?}");
    rs[0].assert_error(400, "invalid_events");
    assert_eq!(rs[1].status, 200, "{:?}", rs[1]);
}

/// Bodies: too large (declared or streamed), malformed chunk framing, malformed JSON and
/// envelopes to /retrain, the wrong content type, unknown fields and nulls in events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_bodies_get_json_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = published(dir.path()).await;
    let srv = start(dir.path(), &store, &[("TOPTEN_MAX_BODY_BYTES", "1000")]);
    let p = srv.port;
    let post = |path: &str, ctype: &str, body: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };

    one(p, b"POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\n\r\n{")
        .assert_error(413, "body_too_large");
    let chunk = "a".repeat(600);
    let raw = format!("POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n");
    one(p, raw.as_bytes()).assert_error(413, "body_too_large");
    one(p, b"POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n")
        .assert_error(400, "invalid_body");
    one(p, b"POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n")
        .assert_error(400, "invalid_body");

    // The timer route takes only the Functions timer envelope.
    for body in [
        "{not json",
        "[]",
        r#"{"Data":{}}"#,
        r#"{"Data":{"timer":{"IsPastDue":"no"}}}"#,
        r#"{"Data":{"timer":{}},"Extra":1}"#,
    ] {
        one(p, post("/retrain", "application/json", body).as_bytes())
            .assert_error(400, "invalid_timer_payload");
    }

    // Events: JSON content type required; unknown fields and nulls named.
    let ev = r#"{"events":[{"userId":"u1","itemId":"3","type":"click"}]}"#;
    for ctype in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        one(p, post("/api/events", ctype, ev).as_bytes())
            .assert_error(415, "unsupported_media_type");
    }
    let r = one(
        p,
        post("/api/events", "application/json; charset=utf-8", ev).as_bytes(),
    );
    assert_eq!(r.status, 200, "{r:?}");
    for (body, needle) in [
        (
            r#"{"events":[{"userId":"u1","itemId":"3","type":"click","colour":"red"}]}"#,
            "colour",
        ),
        (r#"{"events":[],"extra":true}"#, "extra"),
        (
            r#"{"events":[{"userId":"u1","itemId":"3","type":"rating","value":null}]}"#,
            "events[0].value",
        ),
        (
            r#"{"events":[{"userId":null,"itemId":"3","type":"click"}]}"#,
            "events[0].userId",
        ),
        (
            r#"{"events":[{"userId":"u1","itemId":"3","type":"click","timestamp":null}]}"#,
            "events[0].timestamp",
        ),
    ] {
        let r = one(p, post("/api/events", "application/json", body).as_bytes());
        r.assert_error(400, "invalid_events");
        let msg = r.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(msg.contains(needle), "{needle}: {msg}");
    }
}

/// A stalled body gets a JSON 408 (with request id and a log line) and the connection is
/// closed; a slow head and an idle kept-alive connection are closed after the header timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_bodies_get_408_and_slow_or_idle_connections_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let store = published(dir.path()).await;
    let srv = start(
        dir.path(),
        &store,
        &[
            ("TOPTEN_BODY_TIMEOUT_MS", "500"),
            ("TOPTEN_HEADER_TIMEOUT_MS", "700"),
        ],
    );
    let p = srv.port;

    let start_at = Instant::now();
    let (rs, closed) = exchange(
        p,
        &[b"POST /api/events HTTP/1.1\r\nHost: x\r\nx-request-id: stall-1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"events\":"],
        Duration::ZERO,
        1,
        true,
        Duration::from_secs(4),
    );
    assert_eq!(rs.len(), 1, "{rs:?}");
    rs[0].assert_error(408, "request_timeout");
    assert_eq!(rs[0].header("x-request-id"), Some("stall-1"));
    assert!(closed, "the connection of a stalled body is closed");
    assert!(start_at.elapsed() < Duration::from_secs(3));
    let log = std::fs::read_to_string(&srv.log).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("stall-1") && l.contains("408") && l.contains("request_timeout")),
        "no log line for the 408: {log}"
    );

    // A head that never ends: closed after the header timeout, not held.
    let start_at = Instant::now();
    let (rs, closed) = exchange(
        p,
        &[b"GET /api/health HTTP/1.1\r\nHost: x\r\n"],
        Duration::ZERO,
        0,
        true,
        Duration::from_secs(4),
    );
    assert!(closed && rs.is_empty(), "{rs:?}");
    assert!(
        start_at.elapsed() < Duration::from_secs(3),
        "{:?}",
        start_at.elapsed()
    );

    // A kept-alive connection left idle after a request: closed too.
    let start_at = Instant::now();
    let (rs, closed) = exchange(
        p,
        &[b"GET /api/ping HTTP/1.1\r\nHost: x\r\n\r\n"],
        Duration::ZERO,
        1,
        true,
        Duration::from_secs(4),
    );
    assert_eq!(rs.len(), 1);
    assert!(closed, "idle connection still open");
    assert!(
        start_at.elapsed() < Duration::from_secs(3),
        "{:?}",
        start_at.elapsed()
    );

    // The metrics count the closed connections.
    let m = one(p, b"GET /api/metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    let text = String::from_utf8(m.body).unwrap();
    assert!(
        text.contains("topten_http_connection_errors_total{kind=\"header_timeout\"}"),
        "{text}"
    );
}

/// With TOPTEN_API_KEY the write and admin routes need it (header or `code`), compared exactly;
/// read routes stay open; the metrics count by route template and status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_protects_write_and_admin_routes_and_metrics_count_requests() {
    let dir = tempfile::tempdir().unwrap();
    let store = published(dir.path()).await;
    let srv = start(dir.path(), &store, &[("TOPTEN_API_KEY", KEY)]);
    let p = srv.port;
    let ev = r#"{"events":[{"userId":"u9","itemId":"3","type":"click"}]}"#;
    let post = |path: &str, extra: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{ev}",
            ev.len()
        )
    };
    one(p, post("/api/events", "").as_bytes()).assert_error(401, "unauthorized");
    one(
        p,
        post("/api/events", "x-functions-key: wrong-key-0123456789\r\n").as_bytes(),
    )
    .assert_error(401, "unauthorized");
    one(
        p,
        post("/api/events?code=test-key-0123456789abcde", "").as_bytes(),
    )
    .assert_error(401, "unauthorized");
    one(p, post("/retrain", "").as_bytes()).assert_error(401, "unauthorized");
    one(p, b"GET /api/metrics HTTP/1.1\r\nHost: x\r\n\r\n").assert_error(401, "unauthorized");
    let r = one(
        p,
        post("/api/events", &format!("x-functions-key: {KEY}\r\n")).as_bytes(),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let r = one(p, post(&format!("/api/events?code={KEY}"), "").as_bytes());
    assert_eq!(r.status, 200, "{r:?}");
    for user in ["1", "2", "3"] {
        let r = one(
            p,
            format!("GET /api/recommendations/{user}?k=3 HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
        );
        assert_eq!(r.status, 200, "read routes need no key: {r:?}");
    }

    let m = one(
        p,
        format!("GET /api/metrics?code={KEY} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    );
    assert_eq!(m.status, 200);
    assert!(m
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = String::from_utf8(m.body).unwrap();
    for line in [
        "topten_http_requests_total{route=\"/api/recommendations/{user_id}\",method=\"GET\",status=\"200\"} 3",
        "topten_http_requests_total{route=\"/api/events\",method=\"POST\",status=\"401\"} 3",
        "topten_http_requests_total{route=\"/api/events\",method=\"POST\",status=\"200\"} 2",
        "topten_events_accepted_total 2",
        "topten_events_stored_total 2",
        "topten_store_breaker_open 0",
        "# TYPE topten_http_request_duration_seconds histogram",
        "# TYPE topten_foldin_duration_seconds histogram",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in:\n{text}");
    }
    assert!(
        text.contains("topten_http_request_duration_seconds_bucket{le=\"+Inf\",route=\"/api/recommendations/{user_id}\",method=\"GET\",status=\"200\"} 3")
            || text.contains("route=\"/api/recommendations/{user_id}\",method=\"GET\",status=\"200\",le=\"+Inf\"} 3"),
        "{text}"
    );
    assert!(
        !text.contains("/api/recommendations/1"),
        "raw paths must not become labels"
    );
}
