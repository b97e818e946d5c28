//! A real Redis: Debian's `redis-server` on a free 127.0.0.1 port, in its own directory, that a
//! test can kill, restart on the same port (with or without its data), and query with
//! `redis-cli`.
//!
//! Tests that need it are `#[ignore]`d with that reason; `.ci/run` installs the package and
//! `scripts/test.sh` runs them with `--include-ignored`. When `redis-server` is missing,
//! [`RedisServer::start`] fails the test and says what to install, never skips it.

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
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            maxmemory_policy: "noeviction",
            persistent: false,
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
        let ok = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "redis-server not available: `apt-get install redis-server` (Debian's package; .ci/run installs it)"
        );
        let mut server = RedisServer {
            child: None,
            port: free_port(),
            options,
            dir: tempfile::tempdir().expect("temp dir for redis"),
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
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
        format!("redis://127.0.0.1:{}/0?prefix={prefix}", self.port)
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
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// How many times the server ran `command` (from `INFO commandstats`).
    pub fn calls(&self, command: &str) -> u64 {
        let stats = self.cli(&["INFO", "commandstats"]);
        let prefix = format!("cmdstat_{}:calls=", command.to_ascii_lowercase());
        stats
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Its working directory.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }
}
