//! nbwarden's own state in `ROOT/var/lib/nbwarden`: the last run's report and
//! the lock that serialises runs (`status --wait` waits on it, like
//! `cloud-init status --wait`).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::host::{Host, Ownership};
use crate::report::Report;

pub const STATE_DIR: &str = "/var/lib/nbwarden";
pub const LAST_RUN: &str = "/var/lib/nbwarden/last-run.json";
const LOCK: &str = "/var/lib/nbwarden/run.lock";

/// Held for the whole of an apply or verify.
pub struct RunLock {
    _lock: Flock<std::fs::File>,
}

fn poll_lock(
    file: std::fs::File,
    arg: FlockArg,
    deadline: Instant,
) -> Result<Option<Flock<std::fs::File>>> {
    let mut file = file;
    loop {
        match Flock::lock(file, arg) {
            Ok(lock) => return Ok(Some(lock)),
            Err((f, Errno::EWOULDBLOCK)) => {
                if Instant::now() >= deadline {
                    return Ok(None);
                }
                file = f;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err((_, e)) => return Err(e).context("cannot lock the run lock"),
        }
    }
}

impl RunLock {
    /// Takes the run lock, waiting until `deadline` for another run to end.
    pub fn acquire(host: &Host, deadline: Instant) -> Result<RunLock> {
        let file = host
            .open_lock(Path::new(LOCK), true)?
            .context("cannot create the run lock")?;
        match poll_lock(file, FlockArg::LockExclusiveNonblock, deadline)? {
            Some(lock) => Ok(RunLock { _lock: lock }),
            None => bail!(
                "another nbwarden run holds {}{LOCK} and did not finish before the deadline",
                host.root().display()
            ),
        }
    }
}

/// Keeps `report` as the last run. Reports hold no secrets, so 0644.
pub fn save(host: &Host, report: &Report) -> Result<()> {
    let mut text = serde_json::to_vec_pretty(report).context("cannot serialize the report")?;
    text.push(b'\n');
    let own = Ownership {
        mode: 0o644,
        uid: 0,
        gid: 0,
    };
    host.write(Path::new(LAST_RUN), &text, own, None)
}

/// The last run's report, if any run was recorded.
pub fn load(host: &Host) -> Result<Option<Report>> {
    let Some(text) = host.read_text(Path::new(LAST_RUN))? else {
        return Ok(None);
    };
    serde_json::from_str(&text)
        .with_context(|| format!("{LAST_RUN} is not a report this nbwarden understands"))
        .map(Some)
}

/// Waits until no run holds the lock (or `timeout` passes).
pub fn wait_idle(host: &Host, timeout: Duration) -> Result<()> {
    let Some(file) = host.open_lock(Path::new(LOCK), false)? else {
        return Ok(());
    };
    match poll_lock(file, FlockArg::LockSharedNonblock, Instant::now() + timeout)? {
        Some(_) => Ok(()),
        None => bail!("a run still holds the lock after {timeout:?}"),
    }
}
