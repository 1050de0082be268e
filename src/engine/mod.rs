//! Controls declare, the engine converges. Diffing, writing, dry runs and
//! reporting exist once, here, for every control.

mod desired;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};

pub use desired::{
    Action, ActionOutcome, ActionState, DesiredState, FileState, ManagedFile, Membership, Probe,
    ProbeResult,
};

use crate::host::{FileSnapshot, Host, accounts};
use crate::policy::Policy;
use crate::report::{Change, ChangeAction, ControlReport, Mode, Status};

/// What controls may look at while declaring their state.
pub struct Context<'a> {
    pub host: &'a Host,
    pub policy: &'a Policy,
    /// The policy's sha256, as loaded (what the running monitor must hold).
    pub policy_sha256: &'a str,
    pub deadline: Instant,
    /// AWS clients, connected on first use.
    pub aws: &'a crate::aws::Aws,
    /// The notebook's identity, tags and control-plane settings, fetched
    /// once per run for every control.
    pub facts: &'a crate::facts::Facts<'a>,
}

/// What names a control, stated once in its module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlInfo {
    /// Stable identifier used by `--only` and in reports.
    pub id: &'static str,
    pub title: &'static str,
    /// The policy section that turns it on (`sudo`, `verify.permissions`).
    pub section: &'static str,
}

/// One capability of nbwarden (sudo, packages, variables…).
pub trait Control {
    fn info(&self) -> &'static ControlInfo;
    fn id(&self) -> &'static str {
        self.info().id
    }
    fn title(&self) -> &'static str {
        self.info().title
    }
    /// Checks the policy against the host before anything runs (for
    /// example that the policy's user exists). An error here is a policy
    /// error: exit 2, nothing changed.
    fn preflight(&self, _ctx: &Context<'_>) -> Result<(), String> {
        Ok(())
    }
    /// Whether this control's failure may block the start (`[verify]`).
    fn severity(&self) -> crate::policy::Severity {
        crate::policy::Severity::Block
    }
    /// The remote inputs `desired` will read through the run's facts (SSM
    /// values, the notebook's tags or description), fetched on a thread of
    /// their own while earlier controls do local work.
    fn remote_inputs(&self) -> Vec<crate::facts::RemoteInput> {
        Vec::new()
    }
    /// The state this control wants, computed from the policy and the host.
    fn desired(&self, ctx: &Context<'_>) -> Result<DesiredState>;
}

/// Runs one control in `mode`: converge, then its live checks. Never panics
/// on a control's failure: an error becomes an `error` status.
pub fn run_control(mode: Mode, ctx: &Context<'_>, control: &dyn Control) -> ControlReport {
    run_controls(mode, ctx, &[control])
        .pop()
        .unwrap_or_else(|| ControlReport::skipped(control.id(), control.title(), "not run"))
}

/// Runs controls in the order that keeps a run's verdicts honest, and
/// returns their reports in the order given. First every control converges
/// (or is judged); then every probe that runs the notebook user's code (an
/// environment's Python, its pip); last the passive checks, which so see
/// whatever that code changed. Run in one pass per control, a `.pth` run by
/// the import proof could rewrite the user's `pip.conf` after the packages
/// control had read it, and the run would report what no longer holds.
pub fn run_controls(
    mode: Mode,
    ctx: &Context<'_>,
    controls: &[&dyn Control],
) -> Vec<ControlReport> {
    let mut runs: Vec<InProgress> = controls
        .iter()
        .map(|control| start_control(mode, ctx, *control))
        .collect();
    for user_code in [true, false] {
        for run in &mut runs {
            run.probe(ctx, user_code);
        }
    }
    runs.into_iter().map(InProgress::finish).collect()
}

/// A control part-way through a run: converged or judged, its live checks
/// not all made yet.
struct InProgress {
    id: &'static str,
    report: ControlReport,
    probes: Vec<Box<dyn Probe>>,
    /// The managed files in a directory the user could change, judged again
    /// after the user's code has run.
    exposed: Vec<ManagedFile>,
    managed_files: usize,
    /// Files and actions judged: what the control checked besides probes.
    judged: usize,
    /// Live checks made, and those that could not be (not applicable, or
    /// plan, which makes none).
    probes_made: usize,
    probes_skipped: usize,
    spent: std::time::Duration,
}

fn start_control(mode: Mode, ctx: &Context<'_>, control: &dyn Control) -> InProgress {
    let started = Instant::now();
    tracing::info!(
        control = control.id(),
        mode = mode.name(),
        "control started"
    );
    let mut run = InProgress {
        id: control.id(),
        report: ControlReport::new(control.id(), control.title()),
        probes: Vec::new(),
        exposed: Vec::new(),
        managed_files: 0,
        judged: 0,
        probes_made: 0,
        probes_skipped: 0,
        spent: std::time::Duration::ZERO,
    };
    if started >= ctx.deadline {
        run.report.status = Status::Error;
        run.report.error = Some("the run's deadline passed before this control started".into());
    } else {
        match converge(mode, ctx, control, &mut run.report) {
            Ok(Converged {
                probes,
                exposed,
                managed_files,
                judged,
                not_run,
            }) => {
                run.probes = probes;
                run.exposed = exposed;
                run.managed_files = managed_files;
                run.judged = judged;
                run.probes_skipped = not_run;
            }
            Err(e) => {
                run.report.status = Status::Error;
                run.report.error = Some(format!("{e:#}"));
            }
        }
    }
    run.spent = started.elapsed();
    run
}

impl InProgress {
    /// Runs this control's probes that do (or do not) run the user's code.
    /// A probe that cannot run makes the control an error; the rest of its
    /// probes are not made.
    fn probe(&mut self, ctx: &Context<'_>, user_code: bool) {
        if self.report.status == Status::Error {
            return;
        }
        let started = Instant::now();
        if !user_code && let Err(e) = self.judge_exposed_again(ctx) {
            self.report.status = Status::Error;
            self.report.error = Some(format!("{e:#}"));
            return;
        }
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.probes)
            .into_iter()
            .partition(|p| p.runs_user_code() == user_code);
        self.probes = later;
        for probe in &now {
            let outcome = match probe.check(ctx.host) {
                Ok(outcome) => outcome,
                Err(e) => {
                    self.report.status = Status::Error;
                    self.report.error =
                        Some(format!("probe `{}` could not run: {e:#}", probe.describe()));
                    self.probes.clear();
                    break;
                }
            };
            if outcome.skipped {
                self.probes_skipped += 1;
                self.report.evidence.push(format!(
                    "{}: skipped: {}",
                    probe.describe(),
                    outcome.evidence
                ));
                self.report.evidence.extend(outcome.details);
                continue;
            }
            self.probes_made += 1;
            let verdict = if outcome.passed { "ok" } else { "FAILED" };
            self.report.evidence.push(format!(
                "{}: {verdict}: {}",
                probe.describe(),
                outcome.evidence
            ));
            self.report.evidence.extend(outcome.details);
            if !outcome.passed {
                self.report.status = Status::Fail;
            }
        }
        self.spent += started.elapsed();
    }

    /// A managed file in a directory the user can change (the conda base,
    /// an environment's site-packages) was as desired when the control
    /// converged, before the user's code ran in the proofs; that code could
    /// have renamed another file over it since. Judged again here, it is
    /// drift in this run's verdict.
    fn judge_exposed_again(&mut self, ctx: &Context<'_>) -> Result<()> {
        for file in std::mem::take(&mut self.exposed) {
            let now = ctx.host.read(&file.path)?;
            if let Some(change) = difference(&file, now.as_ref()) {
                self.report.status = Status::Fail;
                self.report.evidence.push(format!(
                    "drift after the user's code ran: {} ({})",
                    change.path, change.detail
                ));
            }
        }
        Ok(())
    }

    fn finish(mut self) -> ControlReport {
        let report = &mut self.report;
        // Nothing was judged and no live check was made: not a pass.
        if report.status == Status::Pass
            && self.judged == 0
            && self.probes_made == 0
            && self.probes_skipped > 0
        {
            report.status = Status::Skip;
        }
        if report.status == Status::Pass && report.evidence.is_empty() {
            report
                .evidence
                .push(format!("{} managed file(s) as desired", self.managed_files));
        }
        cap_evidence(&mut report.evidence);
        report.duration_ms = self.spent.as_millis() as u64;
        tracing::info!(
            control = self.id,
            status = report.status.as_str(),
            changes = report.changes.len(),
            duration_ms = report.duration_ms,
            "control finished"
        );
        self.report
    }
}

/// How long an apply waits for `/etc/.pwd.lock`, as `lckpwdf(3)` does.
const USER_DATABASE_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Evidence lines kept per control, and characters per line.
const MAX_EVIDENCE_LINES: usize = 200;
const MAX_EVIDENCE_CHARS: usize = 2000;

/// Bounds a control's evidence: much of it quotes what the user wrote, and
/// reports, the state file and journal events must not grow with it.
fn cap_evidence(evidence: &mut Vec<String>) {
    if evidence.len() > MAX_EVIDENCE_LINES {
        let more = evidence.len() - (MAX_EVIDENCE_LINES - 1);
        evidence.truncate(MAX_EVIDENCE_LINES - 1);
        evidence.push(format!("… and {more} more line(s) not shown"));
    }
    for line in evidence.iter_mut() {
        if line.chars().count() > MAX_EVIDENCE_CHARS {
            let cut: String = line.chars().take(MAX_EVIDENCE_CHARS).collect();
            *line = format!("{cut}… (cut)");
        }
    }
}

/// A file whose live state differs from the desired one.
struct Pending<'a> {
    file: &'a ManagedFile,
    change: Change,
    /// What was on disk when the change was computed.
    before: Option<FileSnapshot>,
}

/// What `converge` leaves for the checks that follow.
struct Converged {
    probes: Vec<Box<dyn Probe>>,
    /// Managed files in directories the user can change.
    exposed: Vec<ManagedFile>,
    managed_files: usize,
    /// Files and actions judged.
    judged: usize,
    /// Live checks not run (plan makes none).
    not_run: usize,
}

/// Converges (apply) or judges (plan, verify) the control's files and
/// actions, and hands back its probes, run later by the caller, and its
/// files in directories the user can change, judged again after them.
// Long: the plan/apply/verify state machine for one control, kept in one place so every control
// converges the same way.
fn converge(
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
    let mut pending = Vec::new();
    for file in &desired.files {
        let current = ctx.host.read(&file.path)?;
        if let Some(change) = difference(file, current.as_ref()) {
            pending.push(Pending {
                file,
                change,
                before: current,
            });
        }
    }
    let mut actions = Vec::new();
    for action in &desired.actions {
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

    match mode {
        Mode::Plan => {
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
            if !probes.is_empty() {
                report.evidence.push(format!(
                    "{} live check(s) not run: plan makes none (verify does)",
                    probes.len()
                ));
            }
            return Ok(Converged {
                not_run: probes.len(),
                probes: Vec::new(),
                exposed: Vec::new(),
                managed_files: desired.files.len(),
                judged: desired.files.len() + desired.actions.len(),
            });
        }
        Mode::Verify => {
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
        Mode::Apply => {
            let mut accounts_lock = None;
            for p in &pending {
                // The account files are written under shadow-utils' lock, as
                // `useradd` or `gpasswd` write them, and only if nobody
                // changed them since the edit was computed from them.
                if accounts_lock.is_none()
                    && GROUP_FILES.iter().any(|g| p.file.path == Path::new(g))
                {
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
        }
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

fn run_change(action: &dyn Action, why: String) -> Change {
    Change {
        private: false,
        path: action.target(),
        action: ChangeAction::Run,
        detail: why,
        diff: None,
    }
}

fn manifest_entry(control: &str, file: &ManagedFile) -> crate::report::ManagedEntry {
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

fn apply_file(host: &Host, file: &ManagedFile) -> Result<()> {
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

/// The change that would turn `current` into the desired file, if any.
fn difference(file: &ManagedFile, current: Option<&FileSnapshot>) -> Option<Change> {
    let path = file.path.display().to_string();
    let world_readable = |mode: u32| mode & 0o004 != 0;
    let private = current.is_some_and(|c| !world_readable(c.mode))
        || matches!(&file.state, FileState::Present { own, .. } if !world_readable(own.mode));
    match (&file.state, current) {
        (FileState::Absent, None) => None,
        (FileState::Absent, Some(cur)) => Some(Change {
            path,
            action: ChangeAction::Remove,
            detail: "remove".into(),
            diff: Some(render_diff(file, &cur.content, b"")),
            private,
        }),
        (FileState::Present { content, own }, None) => Some(Change {
            path,
            action: ChangeAction::Create,
            detail: format!(
                "create, mode {:04o}, owner {}:{}",
                own.mode, own.uid, own.gid
            ),
            diff: Some(render_diff(file, b"", content)),
            private,
        }),
        (FileState::Present { content, own }, Some(cur)) => {
            let content_differs = cur.content != *content;
            let mut details = Vec::new();
            if content_differs {
                details.push("content".to_string());
            }
            if cur.mode != own.mode {
                details.push(format!("mode {:04o} -> {:04o}", cur.mode, own.mode));
            }
            if (cur.uid, cur.gid) != (own.uid, own.gid) {
                details.push(format!(
                    "owner {}:{} -> {}:{}",
                    cur.uid, cur.gid, own.uid, own.gid
                ));
            }
            if details.is_empty() {
                return None;
            }
            Some(Change {
                path,
                action: if content_differs {
                    ChangeAction::Update
                } else {
                    ChangeAction::Metadata
                },
                detail: details.join(", "),
                diff: content_differs.then(|| render_diff(file, &cur.content, content)),
                private,
            })
        }
    }
}

fn render_diff(file: &ManagedFile, old: &[u8], new: &[u8]) -> String {
    if file.sensitive {
        return "(content not shown: this file holds secrets)\n".into();
    }
    let (Ok(old), Ok(new)) = (std::str::from_utf8(old), std::str::from_utf8(new)) else {
        return "(binary content differs)\n".into();
    };
    let path = file.path.display();
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a{path}"), &format!("b{path}"))
        .to_string()
}

const GROUP_FILES: [&str; 2] = ["/etc/group", "/etc/gshadow"];

/// Turns membership wishes into whole-file edits of group and gshadow that
/// keep each file's mode and owner (gshadow is not world readable).
fn membership_edits(host: &Host, wanted: &[Membership]) -> Result<Vec<ManagedFile>> {
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::policy;

    #[test]
    fn evidence_is_bounded_and_says_what_it_left_out() {
        let mut lines: Vec<String> = (0..1000).map(|i| format!("finding {i}")).collect();
        lines[0] = "x".repeat(10_000);
        cap_evidence(&mut lines);
        assert_eq!(lines.len(), MAX_EVIDENCE_LINES);
        assert_eq!(
            lines.last().map(String::as_str),
            Some("… and 801 more line(s) not shown")
        );
        assert!(lines[0].ends_with("… (cut)") && lines[0].chars().count() < 2100);
        assert_eq!(lines[1], "finding 1");
    }

    /// A test control's name.
    const fn info(id: &'static str, title: &'static str) -> ControlInfo {
        ControlInfo {
            id,
            title,
            section: "test",
        }
    }

    struct Files(Vec<(&'static str, &'static str)>);
    impl Control for Files {
        fn info(&self) -> &'static ControlInfo {
            const INFO: ControlInfo = info("files", "test files");
            &INFO
        }
        fn desired(&self, _: &Context<'_>) -> Result<DesiredState> {
            Ok(DesiredState {
                files: self
                    .0
                    .iter()
                    .map(|(p, c)| ManagedFile::root_owned(*p, c.as_bytes(), 0o644))
                    .collect(),
                ..DesiredState::default()
            })
        }
    }

    struct Broken;
    impl Control for Broken {
        fn info(&self) -> &'static ControlInfo {
            const INFO: ControlInfo = info("broken", "always errors");
            &INFO
        }
        fn desired(&self, _: &Context<'_>) -> Result<DesiredState> {
            bail!("cannot reach the parameter store")
        }
    }

    /// Passes when the file at `path` does not list `user` in a group line.
    struct NotInGroupFile(&'static str);
    impl Probe for NotInGroupFile {
        fn describe(&self) -> String {
            format!("ec2-user absent from {}", self.0)
        }
        fn check(&self, host: &Host) -> Result<ProbeResult> {
            let text = host.read_text(Path::new(self.0))?.unwrap_or_default();
            let found = text
                .lines()
                .any(|l| l.starts_with("wheel:") && l.ends_with("ec2-user"));
            Ok(ProbeResult {
                passed: !found,
                skipped: false,
                evidence: format!("wheel line lists ec2-user: {found}"),
                details: Vec::new(),
            })
        }
    }

    struct LeaveWheel;
    impl Control for LeaveWheel {
        fn info(&self) -> &'static ControlInfo {
            const INFO: ControlInfo = info("groups", "leave wheel");
            &INFO
        }
        fn desired(&self, _: &Context<'_>) -> Result<DesiredState> {
            Ok(DesiredState {
                memberships: vec![Membership {
                    user: "ec2-user".into(),
                    group: "wheel".into(),
                    member: false,
                }],
                probes: vec![Box::new(NotInGroupFile("/etc/group"))],
                ..DesiredState::default()
            })
        }
    }

    /// Records its name in a shared log when it runs.
    struct Logged {
        name: &'static str,
        user_code: bool,
        log: std::rc::Rc<std::cell::RefCell<Vec<&'static str>>>,
    }
    impl Probe for Logged {
        fn describe(&self) -> String {
            self.name.into()
        }
        fn check(&self, _: &Host) -> Result<ProbeResult> {
            self.log.borrow_mut().push(self.name);
            Ok(ProbeResult {
                passed: true,
                skipped: false,
                evidence: "ran".into(),
                details: Vec::new(),
            })
        }
        fn runs_user_code(&self) -> bool {
            self.user_code
        }
    }

    struct Probing(
        Vec<(&'static str, bool)>,
        std::rc::Rc<std::cell::RefCell<Vec<&'static str>>>,
    );
    impl Control for Probing {
        fn info(&self) -> &'static ControlInfo {
            const INFO: ControlInfo = info("probing", "probes only");
            &INFO
        }
        fn desired(&self, _: &Context<'_>) -> Result<DesiredState> {
            Ok(DesiredState {
                probes: self
                    .0
                    .iter()
                    .map(|&(name, user_code)| {
                        Box::new(Logged {
                            name,
                            user_code,
                            log: self.1.clone(),
                        }) as Box<dyn Probe>
                    })
                    .collect(),
                ..DesiredState::default()
            })
        }
    }

    #[test]
    fn every_probe_running_user_code_comes_before_every_passive_one() {
        with_host(|_, ctx| {
            let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
            let first = Probing(vec![("overrides", false), ("pip", true)], log.clone());
            let second = Probing(vec![("import", true), ("walk", false)], log.clone());
            let reports = run_controls(Mode::Verify, ctx, &[&first, &second]);
            assert_eq!(*log.borrow(), ["pip", "import", "overrides", "walk"]);
            // Each report keeps its own evidence, in the order its checks ran.
            assert_eq!(reports[0].evidence, ["pip: ok: ran", "overrides: ok: ran"]);
            assert_eq!(reports[1].evidence, ["import: ok: ran", "walk: ok: ran"]);
            log.borrow_mut().clear();
            let plan = run_controls(Mode::Plan, ctx, &[&first]);
            assert!(log.borrow().is_empty(), "plan made live checks");
            // Checks plan did not run are not a pass (they used to be).
            assert_eq!(plan[0].status, Status::Skip);
            assert!(
                plan[0]
                    .evidence
                    .iter()
                    .any(|e| e.contains("2 live check(s) not run")),
                "{:?}",
                plan[0].evidence
            );
        });
    }

    /// A check that does not apply here (no RPM database, no Python).
    struct NotApplicable;
    impl Probe for NotApplicable {
        fn describe(&self) -> String {
            "rpm -V".into()
        }
        fn check(&self, _: &Host) -> Result<ProbeResult> {
            Ok(ProbeResult::skipped("not an RPM system: nothing to verify"))
        }
    }

    struct SkippedChecks(bool);
    impl Control for SkippedChecks {
        fn info(&self) -> &'static ControlInfo {
            const INFO: ControlInfo = info("skipped", "checks that do not apply");
            &INFO
        }
        fn desired(&self, _: &Context<'_>) -> Result<DesiredState> {
            let files = if self.0 {
                vec![ManagedFile::root_owned("/etc/hostname", b"nb\n", 0o644)]
            } else {
                Vec::new()
            };
            Ok(DesiredState {
                files,
                probes: vec![Box::new(NotApplicable)],
                ..DesiredState::default()
            })
        }
    }

    /// A control that checked nothing (its only check does not apply) is
    /// `skip`, not `pass` as it used to be; with files judged it is what
    /// they are, its skipped check named in the evidence.
    #[test]
    fn a_control_whose_checks_do_not_apply_is_skipped_not_passed() {
        with_host(|_, ctx| {
            let alone = run_control(Mode::Verify, ctx, &SkippedChecks(false));
            assert_eq!(alone.status, Status::Skip, "{alone:?}");
            assert_eq!(
                alone.evidence,
                ["rpm -V: skipped: not an RPM system: nothing to verify"]
            );
            let with_files = run_control(Mode::Verify, ctx, &SkippedChecks(true));
            assert_ne!(with_files.status, Status::Skip, "{with_files:?}");
            assert!(
                with_files.evidence.iter().any(|e| e.contains("skipped")),
                "{with_files:?}"
            );
        });
    }

    fn with_host(f: impl FnOnce(&tempfile::TempDir, &Context<'_>)) {
        let dir = crate::test_support::notebook_root();
        let host = Host::open(dir.path()).expect("host");
        let policy = policy::parse("version = 1\n", "t.toml").expect("policy");
        let aws = crate::aws::Aws::new(Instant::now() + Duration::from_secs(60));
        let ctx = Context {
            host: &host,
            policy: &policy,
            policy_sha256: "",
            deadline: Instant::now() + Duration::from_secs(60),
            aws: &aws,
            facts: &crate::facts::Facts::given(None, None, None),
        };
        f(&dir, &ctx);
    }

    #[test]
    #[cfg_attr(
        not(feature = "system-tier"),
        ignore = "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)"
    )]
    fn an_erroring_control_does_not_stop_the_others() {
        with_host(|dir, ctx| {
            let controls: Vec<Box<dyn Control>> = vec![
                Box::new(Broken),
                Box::new(Files(vec![("/etc/a.conf", "a\n")])),
            ];
            let reports: Vec<ControlReport> = controls
                .iter()
                .map(|c| run_control(Mode::Apply, ctx, c.as_ref()))
                .collect();
            assert_eq!(reports[0].status, Status::Error);
            assert!(
                reports[0]
                    .error
                    .as_deref()
                    .is_some_and(|e| e.contains("parameter store"))
            );
            assert_eq!(reports[1].status, Status::Fixed);
            assert!(dir.path().join("etc/a.conf").exists());
        });
    }

    #[test]
    fn memberships_become_edits_of_group_and_gshadow_and_probes_confirm() {
        with_host(|dir, ctx| {
            let plan = run_control(Mode::Plan, ctx, &LeaveWheel);
            // "Would change", not "fail" as plan used to say.
            assert_eq!(plan.status, Status::Change);
            assert_eq!(plan.changes.len(), 2);
            let gshadow_diff = plan.changes[1].diff.as_deref().unwrap_or_default();
            assert!(
                gshadow_diff.contains("not shown"),
                "gshadow content is sensitive"
            );

            let verify = run_control(Mode::Verify, ctx, &LeaveWheel);
            assert_eq!(verify.status, Status::Fail);
            assert!(
                verify.evidence.iter().any(|e| e.contains("FAILED")),
                "{:?}",
                verify.evidence
            );

            let apply = run_control(Mode::Apply, ctx, &LeaveWheel);
            assert_eq!(apply.status, Status::Fixed, "{:?}", apply);
            let group = std::fs::read_to_string(dir.path().join("etc/group")).expect("group");
            assert_eq!(group, "wheel:x:10:\nec2-user:x:1000:\n");
            let gshadow = std::fs::read_to_string(dir.path().join("etc/gshadow")).expect("gs");
            assert_eq!(gshadow, "wheel:!::\nec2-user:!::\n");
            assert_eq!(
                run_control(Mode::Apply, ctx, &LeaveWheel).status,
                Status::Pass
            );
        });
    }

    #[test]
    fn a_control_past_the_deadline_errors_without_running() {
        with_host(|dir, ctx| {
            let late = Context {
                deadline: Instant::now() - Duration::from_millis(1),
                ..*ctx
            };
            let r = run_control(Mode::Apply, &late, &Files(vec![("/etc/a", "a")]));
            assert_eq!(r.status, Status::Error);
            assert!(!dir.path().join("etc/a").exists());
        });
    }
}
