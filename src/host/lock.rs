//! Advisory locks (`flock`) on files under the root, waited on until a
//! deadline: the run lock that serialises runs and that `status --wait`
//! waits on.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use super::Host;

/// Which lock to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    /// One holder; the file is created (root's alone) when absent.
    Exclusive,
    /// Any number of holders; an absent file is not created.
    Shared,
}

/// A lock held until it is dropped.
pub struct HeldLock {
    _lock: Flock<std::fs::File>,
}

/// What became of a request for a lock.
pub enum Locked {
    Held(HeldLock),
    /// No such file, for a shared lock: no one has ever held it.
    Absent,
    /// Someone else still held it at the deadline.
    Busy,
}

impl Host {
    /// Takes a `kind` lock on `path`, waiting until `deadline` for whoever
    /// holds it.
    pub fn lock(&self, path: &Path, kind: LockKind, deadline: Instant) -> Result<Locked> {
        let create = kind == LockKind::Exclusive;
        let Some(mut file) = self.tree.open_lock(path, create, false)? else {
            return Ok(Locked::Absent);
        };
        let arg = match kind {
            LockKind::Exclusive => FlockArg::LockExclusiveNonblock,
            LockKind::Shared => FlockArg::LockSharedNonblock,
        };
        loop {
            match Flock::lock(file, arg) {
                Ok(lock) => return Ok(Locked::Held(HeldLock { _lock: lock })),
                Err((f, Errno::EWOULDBLOCK)) => {
                    if Instant::now() >= deadline {
                        return Ok(Locked::Busy);
                    }
                    file = f;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err((_, e)) => {
                    return Err(e).with_context(|| format!("cannot lock {}", path.display()));
                }
            }
        }
    }
}
