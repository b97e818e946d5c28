//! Test support shared by topten's crates; only ever a dev-dependency (`publish = false`).
//!
//! # Layout
//! - this file: the local stand-ins for Azure services, started on free 127.0.0.1 ports and
//!   stopped when dropped, and the port helpers ([`free_port`], [`wait_listening`]);
//! - [`fixtures`]: generated ratings, a small trained model, a published embedded store;
//! - [`http`]: requests over real sockets ([`http::send`], [`http::send_to_both`],
//!   [`http::get_json`]);
//! - [`parity`]: the requests every serving target must answer alike;
//! - [`parquet`]: Parquet files in the shapes Spark, pandas and Delta write;
//! - [`spark`]: saved Spark ALS models and job runs, written without Spark;
//! - [`sas`]: Azurite's shared-key signatures;
//! - [`redis`]: a real `redis-server` that a test can kill and restart.
//!
//! # Stand-ins
//! - [`CosmosServer`]: npm `@vercel/cosmosdb-server` behind the project's wrapper
//!   (`tests/azure/cosmos-wrapper.js`: wire fixes, request counts, injected 429s, outages);
//! - [`Azurite`]: Microsoft's Blob Storage emulator (npm `azurite`).
//!
//! Both come from `tests/azure/node_modules` (`npm ci` there; `scripts/test.sh` does it). Tests
//! that need them are `#[ignore]`d with that reason, and `scripts/test.sh` runs them with
//! `--include-ignored`; when the servers are missing, [`CosmosServer::start`] and
//! [`Azurite::start`] fail the test and say what to install, never skip it.

pub mod fixtures;
pub mod http;
pub mod parity;
pub mod parquet;
pub mod redis;
pub mod sas;
pub mod spark;

pub use redis::{RedisOptions, RedisServer};

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `tests/azure` of the workspace.
pub fn azure_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join("tests")
        .join("azure")
}

/// Whether `program --version` runs and succeeds here.
pub fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Fails the test, saying what to install, when the stand-ins cannot run here.
fn require_stand_ins(what: &str) {
    let ok = azure_dir().join("node_modules").is_dir() && runs("node");
    assert!(
        ok,
        "{what} not available: run `npm ci` in {} (node 20 needed)",
        azure_dir().display()
    );
}

/// A child process killed and reaped when dropped, so that a failing test leaves no server
/// running.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free 127.0.0.1 port: bound, read and released for a server about to start.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free 127.0.0.1 port")
        .port()
}

/// Waits until something accepts connections on 127.0.0.1:`port`; panics naming `what` after
/// `timeout` (a server that never comes up should fail the test, not hang it).
pub fn wait_listening(port: u16, timeout: Duration, what: &str) {
    let deadline = Instant::now() + timeout;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on 127.0.0.1:{port} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A small HTTP/1.1 request to a test server over a plain socket; returns the status and the
/// JSON body (`Null` when the body is not JSON). Chunked bodies are decoded.
pub fn http_json(port: u16, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to test server");
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, payload) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let chunked = head
        .lines()
        .any(|l| l.to_ascii_lowercase().replace(' ', "") == "transfer-encoding:chunked");
    let payload = if chunked {
        dechunk(payload)
    } else {
        payload.to_owned()
    };
    let json = serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null);
    (status, json)
}

/// The data of a chunked HTTP/1.1 body (`size-in-hex CRLF data CRLF`, ending with size 0).
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size =
            usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].strip_prefix("\r\n").unwrap_or(&after[size..]);
    }
    out
}

/// The Cosmos DB stand-in (see the module docs).
pub struct CosmosServer {
    _child: KillOnDrop,
    /// Data port (what the SDK talks to).
    pub port: u16,
    /// Control port of the wrapper (`/stats`, `/reset`, `/throttle`, `/down`, `/up`, `/delay`).
    pub control: u16,
}

impl CosmosServer {
    /// Starts a fresh, empty server; fails the test when the npm packages are missing.
    pub fn start() -> CosmosServer {
        require_stand_ins("cosmosdb-server");
        let dir = azure_dir();
        let mut child = Command::new("node")
            .arg(dir.join("cosmos-wrapper.js"))
            .current_dir(&dir)
            .stdin(Stdio::piped()) // the wrapper exits when this closes (our exit, even a crash)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node cosmos-wrapper.js");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("wrapper prints its ports");
        let ports: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("wrapper said {line:?}: {e}"));
        CosmosServer {
            _child: KillOnDrop(child),
            port: ports["port"].as_u64().unwrap() as u16,
            control: ports["control"].as_u64().unwrap() as u16,
        }
    }

    /// Store URI of a container on this server.
    pub fn uri(&self, database: &str, container: &str) -> String {
        format!(
            "cosmos+http://127.0.0.1:{}/{database}/{container}",
            self.port
        )
    }

    /// The emulator key (any key works with this server; the SDK needs one to sign).
    pub fn key(&self) -> &'static str {
        "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
    }

    /// A control call; returns the wrapper's JSON answer.
    pub fn control(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        http_json(self.control, "POST", path, &body.to_string()).1
    }

    /// Request counts since the last reset: `itemReads`, `writes`, `writesOk`, `queries`,
    /// `deletes`, `throttled`, `duplicateWrites`, `documentsWritten`.
    pub fn stats(&self) -> serde_json::Value {
        self.control("/stats", serde_json::json!({}))
    }
}

/// The Blob Storage stand-in: Azurite's blob service, in memory.
pub struct Azurite {
    _child: KillOnDrop,
    _dir: tempfile::TempDir,
    /// Blob service port.
    pub port: u16,
}

impl Azurite {
    /// Starts Azurite on a free port; fails the test when the npm packages are missing.
    pub fn start() -> Azurite {
        require_stand_ins("azurite");
        let dir = azure_dir();
        let work = tempfile::Builder::new()
            .prefix("topten-azurite-")
            .tempdir()
            .unwrap();
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new("node")
                .arg(dir.join("node_modules/azurite/dist/src/blob/main.js"))
                .args([
                    "--blobHost",
                    "127.0.0.1",
                    "--blobPort",
                    &port.to_string(),
                    "--inMemoryPersistence",
                    "--skipApiVersionCheck",
                ])
                .current_dir(work.path()) // where it would put its debug log
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start azurite");
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(status)) = child.try_wait() {
                    last_err = format!("azurite exited with {status}");
                    break;
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Azurite {
                        _child: KillOnDrop(child),
                        _dir: work,
                        port,
                    };
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("azurite did not start: {last_err}");
    }

    /// Endpoint of the development account (`AZURE_STORAGE_ENDPOINT`).
    pub fn endpoint(&self) -> String {
        format!(
            "http://127.0.0.1:{}/{}",
            self.port,
            crate::sas::AZURITE_ACCOUNT
        )
    }

    /// An account SAS signed with the development key (`AZURE_STORAGE_SAS`).
    pub fn sas(&self) -> String {
        crate::sas::account_sas(
            crate::sas::AZURITE_ACCOUNT,
            crate::sas::AZURITE_KEY,
            "2099-01-01T00:00:00Z",
        )
        .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined_and_plain_ones_read_as_is() {
        assert_eq!(
            dechunk("7\r\n{\"a\": 1\r\n3;ext=1\r\n, 2\r\n1\r\n}\r\n0\r\n\r\n"),
            "{\"a\": 1, 2}"
        );
        assert_eq!(dechunk("0\r\n\r\n"), "");
        // A real server: one answer with a chunked body, one with a length.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            for answer in [
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n{\"ok\": true\r\n1\r\n}\r\n0\r\n\r\n",
                "HTTP/1.1 404 Not Found\r\nContent-Length: 15\r\n\r\n{\"code\": \"no\"}",
            ] {
                let (mut s, _) = listener.accept().unwrap();
                // Read the whole request (headers; the body is empty) before answering, so
                // that closing does not reset the connection under unread bytes.
                let mut seen = Vec::new();
                let mut buf = [0u8; 1024];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = s.read(&mut buf).unwrap();
                    assert!(n > 0, "request ended early");
                    seen.extend_from_slice(&buf[..n]);
                }
                s.write_all(answer.as_bytes()).unwrap();
                s.shutdown(std::net::Shutdown::Write).unwrap();
            }
        });
        assert_eq!(
            http_json(port, "GET", "/", ""),
            (200, serde_json::json!({"ok": true}))
        );
        assert_eq!(
            http_json(port, "GET", "/", ""),
            (404, serde_json::json!({"code": "no"}))
        );
        server.join().unwrap();
    }
}
