//! Compacting an embedded store (`topten compact --store embedded:PATH`): an LMDB compacting
//! copy (`mdb_env_copy2` with `MDB_CP_COMPACT`, through heed's [`heed::Env::copy_to_file`])
//! written to a temporary sibling, fsynced, and renamed over the store file.
//!
//! Why it is needed: LMDB never gives pages back to the file system. `topten prune` frees the
//! pages of deleted versions for reuse by later writes, but the file keeps its size; a
//! compacting copy writes only the pages in use, renumbered from the start.
//!
//! # What other processes see
//!
//! LMDB keeps its shared state beside the data file, in `PATH-lock`: the reader table and the
//! id of the last committed transaction, which is how every process picks the current root
//! page. A compacted copy starts its transaction ids again at 1. Renaming it under a server
//! that still has the store open would therefore not just leave that server on the old file
//! (its memory map keeps the old inode alive; the events it accepts afterwards would go to that
//! unlinked file and be lost), it would also leave a lock file whose transaction id belongs to
//! the old file, so that any process opening the new file next (`topten versions`, a restarted
//! server) would read the wrong root page, and a writer could corrupt the copy.
//!
//! So compaction only runs while nothing else has the store open, and it makes sure of that
//! with the very lock LMDB uses to tell whether a process is alone: every process that has the
//! environment open holds a shared `fcntl` lock on byte 0 of `PATH-lock`; compaction takes it
//! exclusively (refusing, with the holder's pid, when a server or another command has the store
//! open) and keeps it until the copy is in place:
//!
//! - A running server: compaction refuses and changes nothing. Stop the server, compact,
//!   start it again (it then maps the smaller file). Serving goes on from the old file until
//!   the server is stopped; nothing it wrote is lost, since it is stopped before the copy.
//! - A process that starts while compaction runs (a server restarted too early, `topten
//!   versions`) waits inside LMDB's open for the exclusive lock, and then opens the new file.
//!   Before letting it in, compaction opens the new file once itself while it is still the only
//!   holder, which makes LMDB rebuild the lock table from the new file's meta pages.
//! - A crash or SIGKILL at any point leaves the store file whole: either the old file (the
//!   rename has not happened; a `.NAME.compact-PID` temporary may be left beside it, and is
//!   removed by the next compaction) or the complete, fsynced copy. The lock is released by
//!   the kernel when the process dies.
//!
//! The copy needs free space for the compacted size beside the store.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use heed::{CompactionOption, EnvFlags, EnvOpenOptions};

/// Sizes before and after a compaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CompactReport {
    /// Bytes of the store file before.
    pub before_bytes: u64,
    /// Bytes of the store file after.
    pub after_bytes: u64,
}

/// Why a compaction did not happen. In every case the store file is left as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompactError {
    /// There is no store file at the path.
    #[error("{}: no embedded store here", path.display())]
    Missing {
        /// The path given.
        path: PathBuf,
    },
    /// Another process (or this one) has the store open.
    #[error(
        "{}: the store is open in {}; stop it (servers, publishes, retrains) and compact again",
        path.display(),
        holder.map_or_else(|| "another process".to_owned(), |p| format!("process {p}"))
    )]
    InUse {
        /// The store file.
        path: PathBuf,
        /// The pid of a process holding it open, when the lock says so.
        holder: Option<i32>,
    },
    /// A file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// LMDB failed.
    #[error("{}: {source}", path.display())]
    Lmdb {
        /// The store file.
        path: PathBuf,
        /// The LMDB error.
        source: heed::Error,
    },
    /// Compaction needs POSIX record locks.
    #[error("compaction is only supported on Unix")]
    Unsupported,
}

/// Compacts the embedded store at `path` in place (see the module docs for what other
/// processes see). `progress` is told each step. Call it from a process that does not have
/// the store open itself (it refuses when this process opened it through
/// [`crate::embedded::EmbeddedStore::open`]).
pub fn compact(path: &Path, progress: &mut dyn FnMut(&str)) -> Result<CompactReport, CompactError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| CompactError::Io { path: p, source }
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) if m.is_file() => m,
        Ok(_) => return Err(CompactError::Missing { path: path.into() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CompactError::Missing { path: path.into() })
        }
        Err(e) => return Err(io(path)(e)),
    };
    let path = std::path::absolute(path).map_err(io(path))?;
    if crate::embedded::open_in_this_process(&path) {
        return Err(CompactError::InUse {
            path,
            holder: Some(std::process::id() as i32),
        });
    }
    let lock_path = lock_file(&path);
    progress("taking the store's lock");
    // Held until the end: released by the kernel if this process dies.
    let _lock = ExclusiveLock::take(&lock_path, &path)?;

    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    remove_stale_temporaries(dir, &name);
    let tmp = dir.join(format!(".{name}.compact-{}", std::process::id()));
    let lmdb = |p: &Path| {
        let p = p.to_path_buf();
        move |source| CompactError::Lmdb { path: p, source }
    };
    progress("writing the compacted copy");
    let written = (|| {
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io(&tmp))?;
        out.set_permissions(meta.permissions()).map_err(io(&tmp))?;
        {
            // No lock file: the exclusive lock above already keeps everyone else out.
            let env =
                open_env(&path, EnvFlags::NO_LOCK | EnvFlags::READ_ONLY).map_err(lmdb(&path))?;
            env.copy_to_file(&mut out, CompactionOption::Enabled)
                .map_err(lmdb(&path))?;
            env.prepare_for_closing().wait();
        }
        out.sync_all().map_err(io(&tmp))?;
        Ok(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    progress("replacing the store file");
    if let Err(e) = std::fs::rename(&tmp, &path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(&path)(e));
    }
    // Open the new file once while this process is the only lock holder: LMDB then rebuilds
    // the lock table (reader slots, last transaction id) from the new file's meta pages, before
    // any process waiting for the lock gets in. This comes before anything else can fail.
    progress("resetting the lock table");
    let env = open_env(&path, EnvFlags::empty()).map_err(lmdb(&path))?;
    drop(env.read_txn().map_err(lmdb(&path))?);
    env.prepare_for_closing().wait();
    // The rename itself is durable once the directory is.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    let after_bytes = std::fs::metadata(&path).map_err(io(&path))?.len();
    Ok(CompactReport {
        before_bytes: meta.len(),
        after_bytes,
    })
}

/// LMDB's lock file of a store opened with `NO_SUB_DIR`: the data file's path plus `-lock`.
fn lock_file(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push("-lock");
    PathBuf::from(s)
}

fn open_env(path: &Path, flags: EnvFlags) -> heed::Result<heed::Env> {
    let mut opts = EnvOpenOptions::new();
    opts.max_dbs(8);
    // SAFETY: the file is opened once in this process (checked against the store registry
    // and heed's own) and nothing else has it open (the exclusive lock).
    unsafe {
        opts.flags(EnvFlags::NO_SUB_DIR | flags);
        opts.open(path)
    }
}

/// Temporaries of compactions that died before their rename (their pids are gone).
fn remove_stale_temporaries(dir: &Path, name: &str) {
    let prefix = format!(".{name}.compact-");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name();
        let Some(pid) = file.to_str().and_then(|f| f.strip_prefix(&prefix)) else {
            continue;
        };
        let alive = pid
            .parse::<u32>()
            .is_ok_and(|p| Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// An exclusive `fcntl` lock on byte 0 of the LMDB lock file: the lock LMDB itself takes to
/// learn whether it is the only process with the environment open (`mdb_env_excl_lock`).
struct ExclusiveLock {
    _file: File,
}

impl ExclusiveLock {
    #[cfg(unix)]
    fn take(lock_path: &Path, store: &Path) -> Result<Self, CompactError> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::OpenOptionsExt;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(lock_path)
            .map_err(|source| CompactError::Io {
                path: lock_path.into(),
                source,
            })?;
        // SAFETY: plain fcntl record-lock calls on an open descriptor with a zeroed flock.
        let mut lock: libc::flock = unsafe { std::mem::zeroed() };
        lock.l_type = libc::F_WRLCK as _;
        lock.l_whence = libc::SEEK_SET as _;
        lock.l_start = 0;
        lock.l_len = 1;
        loop {
            if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &lock) } == 0 {
                return Ok(ExclusiveLock { _file: file });
            }
            let err = std::io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN | libc::EACCES) => {
                    let mut probe = lock;
                    let found =
                        unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut probe) } == 0;
                    let unlocked: libc::c_short = libc::F_UNLCK as _;
                    let holder = (found && probe.l_type != unlocked).then_some(probe.l_pid);
                    return Err(CompactError::InUse {
                        path: store.into(),
                        holder,
                    });
                }
                _ => {
                    return Err(CompactError::Io {
                        path: lock_path.into(),
                        source: err,
                    })
                }
            }
        }
    }

    #[cfg(not(unix))]
    fn take(_lock_path: &Path, _store: &Path) -> Result<Self, CompactError> {
        Err(CompactError::Unsupported)
    }
}
