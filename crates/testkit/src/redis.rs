//! A real Redis: Debian's `redis-server` on a free 127.0.0.1 port, in its own directory, that a
//! test can kill, restart on the same port (with or without its data), and query with
//! `redis-cli`.
//!
//! Tests that need it are `#[ignore]`d with that reason; `.ci/run` installs the package and
//! `scripts/test.sh` runs them with `--include-ignored`. When `redis-server` is missing,
//! [`RedisServer::start`] fails the test and says what to install, never skips it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{free_port, wait_listening, KillOnDrop};

/// How a [`RedisServer`] runs.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// `maxmemory-policy` (topten refuses anything but `noeviction`).
    pub maxmemory_policy: &'static str,
    /// Append-only file with fsync on every write, so a killed server restarts with its data.
    pub persistent: bool,
    /// TLS only (no plain port), with a server certificate for `localhost` and 127.0.0.1 from
    /// a certificate authority made for the test ([`RedisServer::ca_file`]); needs `openssl`.
    pub tls: bool,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            maxmemory_policy: "noeviction",
            persistent: false,
            tls: false,
        }
    }
}

/// A `redis-server` child process (see the module docs).
pub struct RedisServer {
    child: Option<KillOnDrop>,
    /// The port it listens on (kept across restarts).
    pub port: u16,
    options: RedisOptions,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts a server with the default options.
    pub fn start() -> RedisServer {
        Self::start_with(RedisOptions::default())
    }

    /// Starts a server with `options`.
    pub fn start_with(options: RedisOptions) -> RedisServer {
        assert!(
            crate::runs("redis-server"),
            "redis-server not available: `apt-get install redis-server` (Debian's package; .ci/run installs it)"
        );
        let mut server = RedisServer {
            child: None,
            port: free_port(),
            options,
            dir: tempfile::tempdir().expect("temp dir for redis"),
        };
        if server.options.tls {
            make_certificates(server.dir.path());
        }
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new("redis-server");
        if self.options.tls {
            let file = |name: &str| self.dir.path().join(name);
            cmd.args(["--port", "0", "--tls-port", &self.port.to_string()])
                .arg("--tls-cert-file")
                .arg(file("server.pem"))
                .arg("--tls-key-file")
                .arg(file("server.key"))
                .arg("--tls-ca-cert-file")
                .arg(file("ca.pem"))
                .args(["--tls-auth-clients", "no"]);
        } else {
            cmd.args(["--port", &self.port.to_string()]);
        }
        cmd.args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--maxmemory-policy", self.options.maxmemory_policy])
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--daemonize", "no", "--loglevel", "warning"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if self.options.persistent {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        let child = cmd.spawn().expect("start redis-server");
        self.child = Some(KillOnDrop(child));
        wait_listening(self.port, Duration::from_secs(20), "redis-server");
        // Listening is not loaded: wait until it answers commands (an AOF replay takes a moment).
        for _ in 0..200 {
            if self.cli(&["PING"]).trim() == "PONG" {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server on port {} does not answer PING", self.port);
    }

    /// The store URI of this server, with its own key prefix.
    pub fn uri(&self, prefix: &str) -> String {
        let scheme = if self.options.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}/0?prefix={prefix}", self.port)
    }

    /// The PEM file of the certificate authority that signed a TLS server's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Kills the server at once (SIGKILL: no shutdown, no save).
    pub fn kill(&mut self) {
        self.child = None;
    }

    /// Starts it again on the same port and directory (its data survives when persistent).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Runs `redis-cli` against it and returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-p", &self.port.to_string()]);
        if self.options.tls {
            cmd.arg("--tls").arg("--cacert").arg(self.ca_file());
        }
        let out = cmd.args(args).output().expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// How many times the server ran each command (`INFO commandstats`), by lower-case name.
    pub fn command_calls(&self) -> BTreeMap<String, u64> {
        command_calls(&self.cli(&["INFO", "commandstats"]))
    }

    /// How many times the server ran `command`.
    pub fn calls(&self, command: &str) -> u64 {
        self.command_calls()
            .get(&command.to_ascii_lowercase())
            .copied()
            .unwrap_or(0)
    }

    /// Its working directory.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }
}

/// The calls per command in the text of `INFO commandstats` (`cmdstat_hget:calls=20,...`).
pub fn command_calls(stats: &str) -> BTreeMap<String, u64> {
    stats
        .lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(":calls=")?;
            let calls = rest.split(',').next()?.trim().parse().ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
}

/// A certificate authority and a server certificate for `localhost` and 127.0.0.1 in `dir`
/// (`ca.pem`, `server.pem`, `server.key`), made with the `openssl` command.
fn make_certificates(dir: &std::path::Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl not available: `apt-get install openssl` (.ci/run installs it)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=topten test CA"];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    run(&ca);
    let mut csr = vec!["req", "-subj", "/CN=localhost"];
    csr.extend(ec);
    csr.extend(["-keyout", "server.key", "-out", "server.csr"]);
    run(&csr);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ]);
}
