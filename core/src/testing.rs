//! Test support: starts the local stand-ins for Azure services that the tests of every crate
//! run against, on free 127.0.0.1 ports, and stops them when dropped.
//!
//! - [`CosmosServer`]: npm `@vercel/cosmosdb-server` behind the project's wrapper
//!   (`tests/azure/cosmos-wrapper.js`: wire fixes, request counts, injected 429s, outages);
//! - [`Azurite`]: Microsoft's Blob Storage emulator (npm `azurite`).
//!
//! Both come from `tests/azure/node_modules` (`npm ci` there; `.ci/run` does it). When they are
//! missing, [`CosmosServer::start`] and [`Azurite::start`] return `None` and the test skips
//! with a note, unless `TOPTEN_REQUIRE_AZURE_TESTS=1` (set by CI), which makes that a failure.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `tests/azure` of the workspace.
pub fn azure_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("tests")
        .join("azure")
}

fn available(what: &str) -> bool {
    let ok = azure_dir().join("node_modules").is_dir()
        && Command::new("node")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !ok {
        let msg = format!(
            "{what} not available: run `npm ci` in {} (node 20 needed)",
            azure_dir().display()
        );
        if std::env::var("TOPTEN_REQUIRE_AZURE_TESTS").is_ok_and(|v| v == "1") {
            panic!("{msg}");
        }
        eprintln!("SKIPPED: {msg}");
    }
    ok
}

/// A small HTTP request to a test server; returns the status and the JSON body.
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
    let json = raw
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(serde_json::Value::Null);
    (status, json)
}

/// The Cosmos DB stand-in (see the module docs).
pub struct CosmosServer {
    child: Child,
    /// Data port (what the SDK talks to).
    pub port: u16,
    /// Control port of the wrapper (`/stats`, `/reset`, `/throttle`, `/down`, `/up`, `/delay`).
    pub control: u16,
}

impl CosmosServer {
    /// Starts a fresh, empty server, or `None` (skip) when the npm packages are missing.
    pub fn start() -> Option<CosmosServer> {
        if !available("cosmosdb-server") {
            return None;
        }
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
        Some(CosmosServer {
            child,
            port: ports["port"].as_u64().unwrap() as u16,
            control: ports["control"].as_u64().unwrap() as u16,
        })
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

impl Drop for CosmosServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Blob Storage stand-in: Azurite's blob service, in memory.
pub struct Azurite {
    child: Child,
    _dir: tempfile_dir::TempDir,
    /// Blob service port.
    pub port: u16,
}

/// A minimal temporary directory (core has no tempfile dependency outside tests).
mod tempfile_dir {
    /// Removed on drop.
    pub struct TempDir(pub std::path::PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Azurite {
    /// Starts Azurite on a free port, or `None` (skip) when the npm packages are missing.
    pub fn start() -> Option<Azurite> {
        if !available("azurite") {
            return None;
        }
        let dir = azure_dir();
        let work = std::env::temp_dir().join(format!(
            "topten-azurite-{}-{}",
            std::process::id(),
            crate::model::now_rfc3339_millis().replace([':', '.'], "")
        ));
        std::fs::create_dir_all(&work).unwrap();
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
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
                .current_dir(&work) // where it would put its debug log
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
                    return Some(Azurite {
                        child,
                        _dir: tempfile_dir::TempDir(work),
                        port,
                    });
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
            crate::blob::AZURITE_ACCOUNT
        )
    }

    /// An account SAS signed with the development key (`AZURE_STORAGE_SAS`).
    pub fn sas(&self) -> String {
        crate::blob::account_sas(
            crate::blob::AZURITE_ACCOUNT,
            crate::blob::AZURITE_KEY,
            "2099-01-01T00:00:00Z",
        )
        .unwrap()
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
