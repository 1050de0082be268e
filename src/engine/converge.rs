//! Converging one control: its files and actions judged (plan, verify) or
//! applied (apply), group memberships edited under the user database's
//! lock, and what the checks that follow need handed back.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use super::diff::difference;
use super::{
    Action, ActionOutcome, ActionState, Context, Control, FileState, ManagedFile, Membership, Probe,
};
use crate::host::{FileSnapshot, Host, accounts};
use crate::report::{Change, ChangeAction, ControlReport, Mode, Status};

/// How long an apply waits for `/etc/.pwd.lock`, as `lckpwdf(3)` does.
pub(super) const USER_DATABASE_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// A file whose live state differs from the desired one.
pub(super) struct Pending<'a> {
    file: &'a ManagedFile,
    change: Change,
    /// What was on disk when the change was computed.
    before: Option<FileSnapshot>,
}

/// What `converge` leaves for the checks that follow.
pub(super) struct Converged {
    pub(super) probes: Vec<Box<dyn Probe>>,
    /// Managed files in directories the user can change.
    pub(super) exposed: Vec<ManagedFile>,
    pub(super) managed_files: usize,
    /// Files and actions judged.
    pub(super) judged: usize,
    /// Live checks not run (plan makes none).
    pub(super) not_run: usize,
}

/// Converges (apply) or judges (plan, verify) the control's files and
/// actions, and hands back its probes, run later by the caller, and its
/// files in directories the user can change, judged again after them.
pub(super) fn converge(
    mode: Mode,
    ctx: &Context<'_>,
    control: &dyn Control,
    report: &mut ControlReport,
) -> Result<Converged> {
    let mut desired = control.desired(ctx)?;
    let probes = std::mem::take(&mut desired.probes);
    report.evidence.append(&mut desired.notes);
    let membership_files = membership_edits(ctx.host, &desired.memberships)?;
    desired.files.extend(membership_files);

    report.managed = desired
        .files
        .iter()
        .map(|f| manifest_entry(control.id(), f))
        .collect();
    let pending = pending_files(ctx.host, &desired.files)?;
    let actions = action_changes(mode, ctx, &desired.actions, report)?;

    match mode {
        Mode::Plan => {
            record_plan(report, pending, actions, probes.len());
            return Ok(Converged {
                not_run: probes.len(),
                probes: Vec::new(),
                exposed: Vec::new(),
                managed_files: desired.files.len(),
                judged: desired.files.len() + desired.actions.len(),
            });
        }
        Mode::Verify => record_drift(report, pending, actions),
        Mode::Apply => apply(ctx, pending, actions, report)?,
    }

    let managed_files = desired.files.len();
    let judged = managed_files + desired.actions.len();
    // What verify already reports as drift is not judged twice; what apply
    // wrote is, as the user's code may replace it.
    let drifted: Vec<&str> = match mode {
        Mode::Verify => report.changes.iter().map(|c| c.path.as_str()).collect(),
        _ => Vec::new(),
    };
    let exposed = desired
        .files
        .into_iter()
        .filter(|f| {
            !drifted.contains(&f.path.display().to_string().as_str())
                && f.path
                    .parent()
                    .is_none_or(|dir| ctx.host.check_trusted(dir).is_err())
        })
        .collect();
    Ok(Converged {
        probes,
        exposed,
        managed_files,
        judged,
        not_run: 0,
    })
}

/// plan: the changes apply would make, and the live checks plan does not run.
fn record_plan(
    report: &mut ControlReport,
    pending: Vec<Pending<'_>>,
    actions: Vec<(&dyn Action, Change)>,
    probes: usize,
) {
    report.status = if pending.is_empty() && actions.is_empty() {
        Status::Pass
    } else {
        Status::Change
    };
    report.changes = pending.into_iter().map(|p| p.change).collect();
    report.changes.extend(actions.into_iter().map(|(_, c)| c));
    if report.changes.is_empty() {
        report.evidence.push("nothing to change".into());
    }
    // plan only shows changes: its live checks are not run.
    if probes > 0 {
        report.evidence.push(format!(
            "{probes} live check(s) not run: plan makes none (verify does)"
        ));
    }
}

/// verify: every pending change is drift, and fails the control.
fn record_drift(
    report: &mut ControlReport,
    pending: Vec<Pending<'_>>,
    actions: Vec<(&dyn Action, Change)>,
) {
    if !pending.is_empty() || !actions.is_empty() {
        report.status = Status::Fail;
    }
    report.changes = pending.into_iter().map(|p| p.change).collect();
    report.changes.extend(actions.into_iter().map(|(_, c)| c));
    for c in &report.changes {
        report
            .evidence
            .push(format!("drift: {} ({})", c.path, c.detail));
    }
}

pub(super) fn run_change(action: &dyn Action, why: String) -> Change {
    Change {
        private: false,
        path: action.target(),
        action: ChangeAction::Run,
        detail: why,
        diff: None,
    }
}

pub(super) fn manifest_entry(control: &str, file: &ManagedFile) -> crate::report::ManagedEntry {
    let path = file.path.display().to_string();
    match &file.state {
        FileState::Present { content, own } => crate::report::ManagedEntry {
            path,
            control: control.to_string(),
            kind: crate::report::ManagedKind::File,
            // The manifest is world-readable: a secret's digest would let
            // anyone confirm a guess of it.
            sha256: (!file.sensitive && own.mode & 0o004 != 0)
                .then(|| crate::base::digest::sha256_hex(content)),
            mode: Some(format!("{:04o}", own.mode)),
            owner: Some(format!("{}:{}", own.uid, own.gid)),
        },
        FileState::Absent => crate::report::ManagedEntry {
            path,
            control: control.to_string(),
            kind: crate::report::ManagedKind::Absent,
            sha256: None,
            mode: None,
            owner: None,
        },
    }
}

pub(super) fn apply_file(host: &Host, file: &ManagedFile) -> Result<()> {
    match &file.state {
        FileState::Present { content, own } => match file.check.as_deref() {
            Some(check) => {
                let bound = |candidate: &Path| check(host, candidate);
                host.write(&file.path, content, *own, Some(&bound))
            }
            None => host.write(&file.path, content, *own, None),
        },
        FileState::Absent => host.remove(&file.path),
    }
}

pub(super) const GROUP_FILES: [&str; 2] = ["/etc/group", "/etc/gshadow"];

/// Turns membership wishes into whole-file edits of group and gshadow that
/// keep each file's mode and owner (gshadow is not world readable).
pub(super) fn membership_edits(host: &Host, wanted: &[Membership]) -> Result<Vec<ManagedFile>> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let accounts = host.accounts()?;
    for m in wanted.iter().filter(|m| m.member) {
        if accounts.group(&m.group).is_none() {
            bail!("group `{}` does not exist in /etc/group", m.group);
        }
    }
    let mut files = Vec::new();
    for name in GROUP_FILES {
        let path = PathBuf::from(name);
        let Some(current) = host.read(Path::new(name))? else {
            continue;
        };
        let text = String::from_utf8(current.content.clone())
            .with_context(|| format!("{name} is not valid UTF-8"))?;
        let shadow = name.ends_with("gshadow");
        let edited = wanted.iter().fold(text, |t, m| {
            let t = accounts::set_membership(&t, &m.group, &m.user, m.member);
            // Leaving a group also ends administering it (gshadow's third
            // field): an administrator can `gpasswd -a` itself back.
            if shadow && !m.member {
                accounts::clear_admin(&t, &m.group, &m.user)
            } else {
                t
            }
        });
        files.push(ManagedFile {
            path,
            state: FileState::Present {
                content: edited.into_bytes(),
                own: crate::host::Ownership {
                    mode: current.mode,
                    uid: current.uid,
                    gid: current.gid,
                },
            },
            sensitive: name.ends_with("gshadow"),
            check: None,
        });
    }
    Ok(files)
}

/// Reads each desired file and keeps those that differ.
fn pending_files<'a>(host: &Host, files: &'a [ManagedFile]) -> Result<Vec<Pending<'a>>> {
    let mut pending = Vec::new();
    for file in files {
        let current = host.read(&file.path)?;
        if let Some(change) = difference(file, current.as_ref()) {
            pending.push(Pending {
                file,
                change,
                before: current,
            });
        }
    }
    Ok(pending)
}

/// Asks each action whether it is needed; records in the evidence those
/// that are not (or are in progress elsewhere) and returns the rest with
/// the change each would make.
fn action_changes<'a>(
    mode: Mode,
    ctx: &Context<'_>,
    wanted: &'a [Box<dyn Action>],
    report: &mut ControlReport,
) -> Result<Vec<(&'a dyn Action, Change)>> {
    let mut actions = Vec::new();
    for action in wanted {
        match action.state(ctx.host)? {
            ActionState::Done(why) => report
                .evidence
                .push(format!("{}: as desired: {why}", action.target())),
            // apply does the work itself (the unit it was handed to runs
            // apply); plan and verify do not count it as drift.
            ActionState::HandedOff(why) if mode == Mode::Apply => {
                actions.push((action.as_ref(), run_change(&**action, why)))
            }
            ActionState::HandedOff(why) => report
                .evidence
                .push(format!("{}: in progress: {why}", action.target())),
            ActionState::Needed(why) => actions.push((action.as_ref(), run_change(&**action, why))),
        }
    }
    Ok(actions)
}

/// Writes the pending files (the account files under shadow-utils' lock)
/// and performs the actions, confirming each by looking again.
fn apply(
    ctx: &Context<'_>,
    pending: Vec<Pending<'_>>,
    actions: Vec<(&dyn Action, Change)>,
    report: &mut ControlReport,
) -> Result<()> {
    let mut accounts_lock = None;
    for p in &pending {
        // The account files are written under shadow-utils' lock, as
        // `useradd` or `gpasswd` write them, and only if nobody
        // changed them since the edit was computed from them.
        if accounts_lock.is_none() && GROUP_FILES.iter().any(|g| p.file.path == Path::new(g)) {
            accounts_lock = Some(ctx.host.lock_user_database(USER_DATABASE_WAIT)?);
            for q in pending
                .iter()
                .filter(|q| GROUP_FILES.iter().any(|g| q.file.path == Path::new(g)))
            {
                if ctx.host.read(&q.file.path)? != q.before {
                    bail!(
                        "{} changed while nbwarden prepared its edit (another tool edited \
                         the user database); it was not written: run apply again",
                        q.file.path.display()
                    );
                }
            }
        }
        apply_file(ctx.host, p.file)?;
        // Confirm by reading back what is now on disk.
        let now = ctx.host.read(&p.file.path)?;
        if let Some(left) = difference(p.file, now.as_ref()) {
            bail!(
                "{} still differs after writing it: {}",
                left.path,
                left.detail
            );
        }
    }
    let changed = !pending.is_empty() || !actions.is_empty();
    report.changes = pending.into_iter().map(|p| p.change).collect();
    for (action, change) in actions {
        let outcome = action
            .perform(ctx)
            .with_context(|| format!("{} failed", action.target()))?;
        match outcome {
            ActionOutcome::Done(what) => {
                // Confirm by looking again, as for files.
                if let ActionState::Needed(why) = action.state(ctx.host)? {
                    bail!("{} still needed after running it: {why}", action.target());
                }
                report.evidence.push(format!("{}: {what}", action.target()));
            }
            ActionOutcome::HandedOff(what) => {
                report
                    .evidence
                    .push(format!("{}: handed off: {what}", action.target()));
            }
        }
        report.changes.push(change);
    }
    report.status = if changed { Status::Fixed } else { Status::Pass };
    Ok(())
}
