//! nbwarden's own state in `ROOT/var/lib/nbwarden`: the last run's report and
//! the lock that serialises runs (`status --wait` waits on it, like
//! `cloud-init status --wait`).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::host::os::{self, ProcessSeen};
use crate::host::{HeldLock, Host, LockKind, Locked, Ownership};
use crate::report::{ManagedEntry, Report, RunContext, RunKind};

pub const STATE_DIR: &str = "/var/lib/nbwarden";
pub const LAST_RUN: &str = "/var/lib/nbwarden/last-run.json";
pub const MANIFEST: &str = "/var/lib/nbwarden/manifest.json";
pub const BOOT: &str = "/var/lib/nbwarden/boot.json";
const DRIVE_ID: &str = "/var/lib/nbwarden/drive-id";
/// On the ML volume, which survives stop/start: only marks that this
/// notebook has been seen. The user can delete or forge it; it only labels
/// runs (`first-ever`) and no decision depends on it.
const FIRST_SEEN: &str = "SageMaker/.nbwarden-first-seen";
const LOCK: &str = "/var/lib/nbwarden/run.lock";
/// When the last recorded kind of run (a full apply or verify as root)
/// started, written before it runs.
const RUN_STARTED: &str = "/var/lib/nbwarden/run-started";

/// Held for the whole of an apply or verify.
pub struct RunLock {
    _lock: HeldLock,
}

impl RunLock {
    /// Takes the run lock, waiting until `deadline` for another run to end.
    pub fn acquire(host: &Host, deadline: Instant) -> Result<RunLock> {
        match host.lock(Path::new(LOCK), LockKind::Exclusive, deadline)? {
            Locked::Held(lock) => Ok(RunLock { _lock: lock }),
            Locked::Absent => bail!("cannot create the run lock {LOCK}"),
            Locked::Busy => bail!(
                "another nbwarden run holds {}{LOCK} and did not finish before the deadline",
                host.root().display()
            ),
        }
    }
}

/// Keeps `report` as the last run, readable by everyone (`status` works
/// without root): reports hold no secrets, and the diffs of files that are
/// not world-readable (sudoers, gshadow) are left out of this copy.
pub fn save(host: &Host, report: &Report) -> Result<()> {
    let report = redacted(report);
    let mut text = serde_json::to_vec_pretty(&report).context("cannot serialize the report")?;
    text.push(b'\n');
    host.write(Path::new(LAST_RUN), &text, Ownership::root(0o644), None)
}

/// Records that a run which will record its result has started.
pub fn mark_run_started(host: &Host, at: std::time::SystemTime) -> Result<()> {
    let text = format!("{}\n", humantime::format_rfc3339_millis(at));
    host.write(
        Path::new(RUN_STARTED),
        text.as_bytes(),
        Ownership::root(0o644),
        None,
    )
}

/// The start of a run that began after `last` and recorded nothing: one
/// still running, or one that died. `None` when `last` is the newest.
pub fn unrecorded_run(host: &Host, last: &Report) -> Result<Option<String>> {
    let Some(text) = host.read_text(Path::new(RUN_STARTED))? else {
        return Ok(None);
    };
    let started = text.trim();
    // Both are RFC 3339 UTC with milliseconds: they order as text.
    Ok((started > last.started_at.as_str()).then(|| started.to_string()))
}

/// `report` without what only root may read.
pub fn redacted(report: &Report) -> Report {
    let mut copy = report.clone();
    for control in &mut copy.controls {
        for change in control.changes.iter_mut().filter(|c| c.private) {
            change.diff = change
                .diff
                .as_ref()
                .map(|_| "(diff not kept: the file is not world-readable)\n".to_string());
        }
    }
    copy
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

/// The process a start in progress left in the start mark (`PID
/// STARTTIME`), while it lives. Only on the live system: another root's
/// PIDs mean nothing here.
fn start_in_progress(host: &Host) -> Result<Option<u32>> {
    if !host.is_live() {
        return Ok(None);
    }
    let Some(text) = host.read_text(Path::new(crate::base::paths::START_MARK))? else {
        return Ok(None);
    };
    let mut fields = text.split_whitespace();
    let Some(pid) = fields.next().and_then(|p| p.parse::<u32>().ok()) else {
        return Ok(None);
    };
    let started = fields.next();
    Ok(match os::process(pid) {
        // With /proc mounted hidepid, root's processes are invisible to
        // the user: a mark then means a start in progress (it is removed
        // at the script's exit, and /run is emptied at boot).
        ProcessSeen::Hidden => Some(pid),
        // A start that was killed left its mark: nothing runs.
        ProcessSeen::Gone => None,
        ProcessSeen::Started(now) => match started {
            Some(recorded) if recorded != now => None,
            _ => Some(pid),
        },
    })
}

/// The last recorded run, when its verdict still stands: `wait` first lets
/// a start or run in progress finish and, on a notebook that has recorded
/// nothing yet, waits for its first run (as `cloud-init status --wait`
/// does), up to that long. Fails when nothing was recorded, or when a later
/// run (or an admin command) started without recording a verdict.
pub fn last_verdict(host: &Host, wait: Option<Duration>) -> Result<Report> {
    let shown_root = if host.is_live() {
        String::new()
    } else {
        host.root().display().to_string()
    };
    let report = match wait {
        None => load(host)?,
        Some(timeout) => {
            let deadline = Instant::now() + timeout;
            loop {
                wait_idle(host, deadline.saturating_duration_since(Instant::now()))?;
                match load(host)? {
                    Some(report) => break Some(report),
                    None if Instant::now() >= deadline => break None,
                    None => std::thread::sleep(Duration::from_millis(200)),
                }
            }
        }
    };
    let Some(report) = report else {
        let waited = wait
            .map(|t| format!(" after waiting {t:?}"))
            .unwrap_or_default();
        bail!("no run recorded yet in {shown_root}{LAST_RUN}{waited}: run `nbwarden apply` first");
    };
    if let Some(unrecorded) = unrecorded_run(host, &report)? {
        bail!(
            "a run started at {unrecorded} has recorded no verdict (still running, it died: \
             `journalctl -t nbwarden`, or it was an admin command such as `sudo restore`); the \
             last recorded verdict, from {}, no longer stands: run `nbwarden verify`",
            report.started_at
        );
    }
    Ok(report)
}

/// Waits until the lifecycle's start (apply, then verify) has ended and no
/// run holds the lock, or `timeout` passes.
pub fn wait_idle(host: &Host, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while let Some(pid) = start_in_progress(host)? {
        if Instant::now() >= deadline {
            bail!("the lifecycle start (process {pid}) is still running after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // The run lock is root's alone (anyone who can open it can hold it):
    // other users wait for the start only.
    if host.euid() != 0 {
        return Ok(());
    }
    match host.lock(Path::new(LOCK), LockKind::Shared, deadline)? {
        Locked::Held(_) | Locked::Absent => Ok(()),
        Locked::Busy => bail!("a run still holds the lock after {timeout:?}"),
    }
}

/// Tells a new system drive from one seen before, and a notebook never seen
/// from one that was; records it. `home` is the notebook user's home; the
/// mark on the ML volume is left only by a run that completed (`complete`),
/// so a run stopped by bad input leaves nothing outside nbwarden's state.
pub fn observe_boot(
    host: &Host,
    home: Option<&Path>,
    instance_id: Option<String>,
    complete: bool,
) -> Result<RunContext> {
    let boot_id = if host.is_live() {
        os::boot_id().unwrap_or_else(|| "unknown".into())
    } else {
        "unknown (not the live system)".into()
    };
    let seen_drive = host.read_text(Path::new(DRIVE_ID))?;
    let first_seen = home.map(|h| h.join(FIRST_SEEN));
    let seen_before = match &first_seen {
        Some(p) => host.read(p).ok().flatten().is_some(),
        None => false,
    };
    let (kind, drive_id) = match seen_drive {
        Some(id) => (RunKind::SameDrive, id.trim().to_string()),
        None => {
            let id = crate::host::random_hex();
            host.write(
                Path::new(DRIVE_ID),
                format!("{id}\n").as_bytes(),
                Ownership::root(0o644),
                None,
            )?;
            let kind = if seen_before {
                RunKind::NewDrive
            } else {
                RunKind::FirstEver
            };
            (kind, id)
        }
    };
    if let (Some(p), false, true) = (&first_seen, seen_before, complete) {
        let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        if let Err(e) = host.write(
            p,
            format!("{stamp}\n").as_bytes(),
            Ownership::root(0o644),
            None,
        ) {
            tracing::warn!("could not mark the ML volume as seen: {e:#}");
        }
    }
    let context = RunContext {
        kind,
        boot_id,
        drive_id,
        instance_id,
    };
    let text = serde_json::to_vec_pretty(&context).context("cannot serialize the boot record")?;
    // Unchanged within a boot: rewriting it would cost two fsyncs a run.
    let current = host.read(Path::new(BOOT)).ok().flatten();
    if current.is_none_or(|f| f.content != text) {
        host.write(Path::new(BOOT), &text, Ownership::root(0o644), None)?;
    }
    Ok(context)
}

/// `manifest.json`: what the last apply manages, and what it relied on.
#[derive(serde::Serialize)]
struct Manifest<'a> {
    schema_version: u32,
    written_at: &'a str,
    nbwarden_version: &'a str,
    policy: &'a crate::report::PolicyRef,
    host: &'a crate::report::HostFacts,
    context: Option<&'a RunContext>,
    files: &'a [ManagedEntry],
}

/// Every file `apply` manages, with its digest, mode and owner, and the
/// facts it relied on.
pub fn save_manifest(host: &Host, report: &Report, entries: &[ManagedEntry]) -> Result<()> {
    let doc = Manifest {
        schema_version: 1,
        written_at: &report.finished_at,
        nbwarden_version: &report.nbwarden_version,
        policy: &report.policy,
        host: &report.host,
        context: report.context.as_ref(),
        files: entries,
    };
    let mut text = serde_json::to_vec_pretty(&doc).context("cannot serialize the manifest")?;
    text.push(b'\n');
    host.write(Path::new(MANIFEST), &text, Ownership::root(0o644), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> (tempfile::TempDir, Host) {
        let dir = tempfile::tempdir().expect("tmp");
        let host = Host::open(dir.path()).expect("host");
        (dir, host)
    }

    #[test]
    #[cfg_attr(
        not(feature = "system-tier"),
        ignore = "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)"
    )]
    fn the_last_verdict_stands_until_a_later_run_starts_without_recording() {
        let (_dir, host) = host();
        let err = last_verdict(&host, None).expect_err("nothing recorded");
        assert!(
            format!("{err:#}").contains("no run recorded yet"),
            "{err:#}"
        );
        let report = crate::report::tests::sample();
        save(&host, &report).expect("saved");
        let kept = last_verdict(&host, None).expect("stands");
        assert_eq!(kept.started_at, report.started_at);
        // A run that started later and recorded nothing unseats it.
        let later = humantime::parse_rfc3339("2026-01-01T00:00:01Z").expect("time");
        mark_run_started(&host, later).expect("marked");
        let err = last_verdict(&host, None).expect_err("unseated");
        assert!(format!("{err:#}").contains("no longer stands"), "{err:#}");
        // An earlier start (the recorded run's own) does not.
        let earlier = humantime::parse_rfc3339("2025-12-31T23:59:59Z").expect("time");
        mark_run_started(&host, earlier).expect("marked");
        assert!(last_verdict(&host, None).is_ok());
    }

    #[test]
    #[cfg_attr(
        not(feature = "system-tier"),
        ignore = "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)"
    )]
    fn the_saved_run_leaves_out_private_diffs() {
        let (dir, host) = host();
        let mut report = crate::report::tests::sample();
        report.controls[0].changes[0].private = true;
        save(&host, &report).expect("saved");
        let text = std::fs::read_to_string(dir.path().join("var/lib/nbwarden/last-run.json"))
            .expect("state");
        assert!(!text.contains("+++ b"), "{text}");
    }
}
