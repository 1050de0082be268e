//! `[service]`: nbwarden installs and starts its own systemd units. The
//! system drive is rebuilt at every start, so the lifecycle path (no RPM)
//! writes them from the content compiled into this binary, the same
//! templates the RPM and the bundle fill from `systemd/` (with
//! `scripts/render-units`): only the binary's path differs.

use crate::engine::ControlInfo;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use crate::engine::{
    Action, ActionOutcome, ActionState, Context, Control, DesiredState, FileState, ManagedFile,
};
use crate::host::{Host, Ownership};
use crate::policy::{Policy, ServicePolicy};

pub static INFO: ControlInfo = ControlInfo {
    id: "service",
    title: "nbwarden's own units are installed and running",
    section: "service",
};

/// Where `apply` puts the units: the administrator's directory, which wins
/// over a copy the RPM put in `/usr/lib/systemd/system`.
const UNIT_DIR: &str = "/etc/systemd/system";
const TIMER_DROP_IN: &str = "/etc/systemd/system/nbwarden-verify.timer.d/50-nbwarden-policy.conf";

/// Where the lifecycle script installs the binary (the RPM's is
/// `/usr/bin/nbwarden`).
pub const LIFECYCLE_BINARY: &str = "/usr/local/bin/nbwarden";
/// What `systemd/` templates hold in place of the binary's path.
pub const BINARY_PLACEHOLDER: &str = "@NBWARDEN@";

/// The RPM's binary.
pub const PACKAGED_BINARY: &str = "/usr/bin/nbwarden";

/// The binary the units run: the lifecycle path's when it is there (it is
/// what the start just installed and ran), else the RPM's on an image that
/// has only that, else the lifecycle path's. A link there (an alternatives
/// setup) serves when it and everything it leads through are root's and
/// it ends at a regular file: systemd follows it.
fn installed_binary(host: &Host) -> Result<Option<&'static str>> {
    use crate::host::EntryKind;
    for binary in [LIFECYCLE_BINARY, PACKAGED_BINARY] {
        match host.kind(Path::new(binary))? {
            Some(EntryKind::File) => return Ok(Some(binary)),
            Some(EntryKind::Symlink) => {
                if let Ok(target) = host.check_trusted(Path::new(binary))
                    && host.kind(&target)? == Some(EntryKind::File)
                {
                    return Ok(Some(binary));
                }
            }
            _ => {}
        }
    }
    Ok(None)
}

/// A unit template from [`UNITS`] with the binary's path filled in.
pub fn render_unit(template: &str, binary: &str) -> String {
    template.replace(BINARY_PLACEHOLDER, binary)
}

/// Every unit template nbwarden ships, by name, with its content.
pub const UNITS: &[(&str, &str)] = &[
    (
        "nbwarden-verify.service",
        include_str!("../../systemd/nbwarden-verify.service"),
    ),
    (
        "nbwarden-verify.timer",
        include_str!("../../systemd/nbwarden-verify.timer"),
    ),
    (
        "nbwarden-monitor.service",
        include_str!("../../systemd/nbwarden-monitor.service"),
    ),
    (
        "nbwarden-reapply@.service",
        include_str!("../../systemd/nbwarden-reapply@.service"),
    ),
    (
        "nbwarden-codeartifact.service",
        include_str!("../../systemd/nbwarden-codeartifact.service"),
    ),
    (
        "nbwarden-codeartifact.timer",
        include_str!("../../systemd/nbwarden-codeartifact.timer"),
    ),
];

/// The units `apply` enables and starts (the others are started by these).
const STARTED: &[&str] = &[
    "nbwarden-verify.timer",
    "nbwarden-monitor.service",
    "nbwarden-codeartifact.timer",
];

/// The unit the monitor starts to re-apply one control.
pub fn reapply_unit(control: &str) -> String {
    format!("nbwarden-reapply@{control}.service")
}

/// What the policy asks of systemd: which units exist, which run.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan {
    /// Units to write (the rest of [`UNITS`] are removed).
    install: Vec<&'static str>,
    /// Of those, the ones enabled and started (timers and the monitor).
    start: Vec<&'static str>,
    /// The verify timer's period, when not the shipped one.
    verify_every: Option<Duration>,
}

fn plan(service: &ServicePolicy, policy: &Policy) -> Plan {
    let mut install = Vec::new();
    let mut start = Vec::new();
    if service.verify_timer {
        install.extend(["nbwarden-verify.service", "nbwarden-verify.timer"]);
        start.push("nbwarden-verify.timer");
    }
    if let Some(m) = &policy.monitoring {
        install.push("nbwarden-monitor.service");
        start.push("nbwarden-monitor.service");
        if m.reapply {
            install.push("nbwarden-reapply@.service");
        }
    }
    if policy
        .packages
        .as_ref()
        .is_some_and(|p| p.codeartifact.is_some())
    {
        install.extend([
            "nbwarden-codeartifact.service",
            "nbwarden-codeartifact.timer",
        ]);
        start.push("nbwarden-codeartifact.timer");
    }
    let every = service.verify_every.duration();
    Plan {
        install,
        start,
        verify_every: (service.verify_timer && every != crate::policy::DEFAULT_VERIFY_EVERY)
            .then_some(every),
    }
}

/// The timer drop-in for a policy's period: the first check one period
/// after the start (not the shipped 15 minutes after boot), then every
/// period. Timer lists add up across files, and one empty assignment
/// resets all of a timer's monotonic triggers, so it comes first.
fn timer_drop_in(every: Duration) -> String {
    let secs = every.as_secs().max(1);
    // Spread a fleet's checks, but never past a quarter of the period.
    let spread = (secs / 4).clamp(1, 300);
    // systemd may otherwise fire up to a minute late (AccuracySec=1min).
    let accuracy = (secs / 10).clamp(1, 60);
    format!(
        "# Generated by nbwarden from [service] verify_every. Do not edit.\n\
         [Timer]\nOnBootSec=\nOnActiveSec={secs}s\nOnUnitActiveSec={secs}s\n\
         RandomizedDelaySec={spread}s\nAccuracySec={accuracy}s\n"
    )
}

pub struct Service {
    plan: Plan,
    /// The notebook user, when `/proc` must hide root's processes from it.
    hide_from: Option<String>,
}

impl Service {
    pub fn new(service: ServicePolicy, policy: &Policy) -> Self {
        Service {
            plan: plan(&service, policy),
            hide_from: service
                .hide_processes
                .then(|| policy.user.as_str().to_string()),
        }
    }
}

fn unit_path(name: &str) -> PathBuf {
    Path::new(UNIT_DIR).join(name)
}

impl Control for Service {
    fn info(&self) -> &'static ControlInfo {
        &INFO
    }
    // Long: the units, their drop-ins and the monitor's restart rule declared together.
    fn desired(&self, ctx: &Context<'_>) -> Result<DesiredState> {
        let mut notes = Vec::new();
        let binary = match installed_binary(ctx.host)? {
            Some(binary) => binary,
            None => {
                // Written all the same (the lifecycle installs it there
                // before its apply); said, so that a root without it is
                // not taken for one whose timers run.
                notes.push(format!(
                    "no nbwarden binary at {LIFECYCLE_BINARY} or {PACKAGED_BINARY} in this \
                     root: the units name {LIFECYCLE_BINARY}, where the lifecycle installs it, \
                     and run nothing until it is there"
                ));
                LIFECYCLE_BINARY
            }
        };
        let mut files = Vec::new();
        for (name, content) in UNITS {
            files.push(if self.plan.install.contains(name) {
                ManagedFile::root_owned(unit_path(name), render_unit(content, binary), 0o644)
            } else {
                ManagedFile::absent(unit_path(name))
            });
        }
        files.push(match self.plan.verify_every {
            Some(every) => ManagedFile::root_owned(TIMER_DROP_IN, timer_drop_in(every), 0o644),
            None => ManagedFile::absent(TIMER_DROP_IN),
        });
        let files_content = files
            .iter()
            .map(|f| match &f.state {
                FileState::Present { content, .. } => (f.path.clone(), Some(content.clone())),
                FileState::Absent => (f.path.clone(), None),
            })
            .collect();
        // Only what nbwarden starts itself is stopped when unwanted: the
        // oneshot services run when their timer fires (a running verify
        // is not drift), and the template when the monitor asks.
        let stop = STARTED
            .iter()
            .copied()
            .filter(|n| !self.plan.start.contains(n))
            .collect();
        let mut actions: Vec<Box<dyn Action>> = Vec::new();
        if let Some(user) = &self.hide_from {
            actions.push(Box::new(HiddenProcesses { user: user.clone() }));
        }
        actions.push(Box::new(Units {
            files: files_content,
            installed: self
                .plan
                .install
                .iter()
                .flat_map(|n| {
                    // A template is checked through every instance the
                    // monitor may start: one control's drop-in is enough.
                    let instances: Vec<String> = if n.contains("@.") {
                        crate::controls::known_ids()
                            .into_iter()
                            .map(reapply_unit)
                            .collect()
                    } else {
                        vec![n.to_string()]
                    };
                    instances.into_iter().map(move |i| (i, unit_path(n)))
                })
                .collect(),
            start: self.plan.start.clone(),
            stop,
            monitor: self
                .plan
                .start
                .contains(&MONITOR_UNIT)
                .then(|| MonitorWanted {
                    policy_sha256: ctx.policy_sha256.to_string(),
                    binary,
                }),
        }));
        Ok(DesiredState {
            files,
            actions,
            notes,
            ..DesiredState::default()
        })
    }
}

/// `/proc` mounted so that the notebook user sees only its own processes
/// (`hidepid=invisible`, `proc(5)`): nbwarden's runs and the monitor are
/// not there to be watched. The probes nbwarden runs as the user are the
/// user's own processes and stay visible to it (why the verdict rests on
/// egress). The check reads PID 1's table (`/proc/1/mountinfo`, readable
/// by all): nbwarden's units have a `/proc` of their own.
struct HiddenProcesses {
    user: String,
}

const PROC: &str = "/proc";

impl HiddenProcesses {
    /// Why `/proc` still shows the user other users' processes, if it does.
    fn exposed(&self, host: &Host) -> Result<Option<String>> {
        let Some(mount) = host.mount_at(Path::new(PROC))? else {
            return Ok(Some("nothing is mounted at /proc".into()));
        };
        if mount.fstype != "proc" {
            return Ok(Some(format!("/proc is a {} mount, not proc", mount.fstype)));
        }
        match mount.option("hidepid") {
            Some("invisible" | "2") => {}
            other => {
                return Ok(Some(format!(
                    "/proc shows every process to every user (hidepid={})",
                    other.unwrap_or("default")
                )));
            }
        }
        // `gid=N`: members of group N see every process all the same.
        if let Some(gid) = mount.option("gid").and_then(|g| g.parse::<u32>().ok()) {
            let accounts = host.accounts()?;
            let user = accounts.user(&self.user);
            let member = user.is_some_and(|u| u.gid == gid)
                || accounts.groups_of(&self.user).iter().any(|g| g.gid == gid);
            if member {
                return Ok(Some(format!(
                    "/proc is mounted gid={gid}, a group of {}: it sees every process",
                    self.user
                )));
            }
        }
        Ok(None)
    }
}

impl Action for HiddenProcesses {
    fn target(&self) -> String {
        "mount /proc hidepid=invisible".into()
    }

    fn state(&self, host: &Host) -> Result<ActionState> {
        // Like the units: a chroot's or --root's /proc is the machine
        // around it (or one mounted for the command); a booted instance's
        // apply remounts its own.
        if !host.systemd_runs()? {
            return Ok(ActionState::Done(
                "not checked: systemd is not PID 1 here (a chroot, --root or a container \
                 without it), so /proc is not this system's; a booted instance's apply \
                 remounts it"
                    .into(),
            ));
        }
        Ok(match self.exposed(host)? {
            None => ActionState::Done(format!(
                "/proc is mounted hidepid=invisible: {} sees only its own processes",
                self.user
            )),
            Some(why) => ActionState::Needed(why),
        })
    }

    fn perform(&self, ctx: &Context<'_>) -> Result<ActionOutcome> {
        // `2` is what kernels before 5.8 know; later ones show `invisible`.
        ctx.host.remount(Path::new(PROC), "hidepid=2")?;
        if let Some(why) = self.exposed(ctx.host)? {
            bail!("/proc was remounted hidepid=2, yet {why}");
        }
        Ok(ActionOutcome::Done(format!(
            "remounted /proc hidepid=invisible: {} sees only its own processes",
            self.user
        )))
    }
}

/// Loads the written units into systemd, then enables and starts the ones
/// the policy runs and stops the ones it no longer does.
struct Units {
    /// The unit files as they must be on disk, `None` for absent (to see a
    /// change before it is written: systemd only notices it after).
    files: Vec<(PathBuf, Option<Vec<u8>>)>,
    /// Every unit written, as systemd names it (a template by one of its
    /// instances), with the file it must be loaded from.
    installed: Vec<(String, PathBuf)>,
    start: Vec<&'static str>,
    stop: Vec<&'static str>,
    /// When the policy runs the monitor: what it must run.
    monitor: Option<MonitorWanted>,
}

/// What the running monitor must hold: this run's policy, and the binary
/// the units name.
struct MonitorWanted {
    policy_sha256: String,
    binary: &'static str,
}

const MONITOR_UNIT: &str = "nbwarden-monitor.service";

/// Why the monitor running as `main_pid` is behind: the file it runs was
/// replaced on disk since it started, or its record says it holds another
/// policy. A record of another process (a monitor starting now, which
/// loads the current policy) says nothing.
fn monitor_behind(
    wanted: &MonitorWanted,
    main_pid: u32,
    replaced: bool,
    record: Option<&MonitorRecord>,
) -> Option<String> {
    if replaced {
        return Some(format!(
            "it runs a binary {} replaced since it started",
            wanted.binary
        ));
    }
    let record = record.filter(|r| r.pid == main_pid)?;
    (record.policy_sha256 != wanted.policy_sha256).then(|| {
        format!(
            "it holds the policy {} with sha256 {}, not this run's {}",
            record.policy_source, record.policy_sha256, wanted.policy_sha256
        )
    })
}

/// One unit's state, from `systemctl show`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct UnitState {
    id: String,
    load: String,
    active: String,
    enabled: String,
    needs_reload: bool,
    fragment: String,
    drop_ins: Vec<String>,
    /// A running service's main process (0 when none).
    main_pid: u32,
    /// Dependencies that can keep the unit from running: `Requires=`,
    /// `Requisite=`, `BindsTo=`, `Conflicts=` and who conflicts with it.
    requires: Vec<String>,
    requisite: Vec<String>,
    binds_to: Vec<String>,
    conflicts: Vec<String>,
    conflicted_by: Vec<String>,
}

impl UnitState {
    fn running(&self) -> bool {
        matches!(self.active.as_str(), "active" | "reloading" | "activating")
    }
}

/// A property's list; systemd quotes names with escapes in them.
fn words(v: &str) -> Vec<String> {
    v.split_whitespace()
        .map(|w| w.trim_matches('"').to_string())
        .collect()
}

/// What systemd itself adds to nbwarden's units: the default dependencies
/// and the mounts their paths need. Anything else that a unit requires or
/// conflicts with was added around nbwarden's files (a `.requires/` link,
/// another unit's `Conflicts=`) and can keep it from running.
fn foreign_dependencies(u: &UnitState) -> Vec<String> {
    let mut found = Vec::new();
    // Slices: system.slice, and a template's own `system-NAME.slice`.
    let systemds =
        |d: &String| d == "sysinit.target" || d.ends_with(".slice") || d.ends_with(".mount");
    for d in u.requires.iter().filter(|d| !systemds(d)) {
        found.push(format!("requires {d}"));
    }
    for d in u.requisite.iter().chain(&u.binds_to) {
        found.push(format!("depends on {d}"));
    }
    for d in u.conflicts.iter().filter(|d| *d != "shutdown.target") {
        found.push(format!("conflicts with {d}"));
    }
    for d in &u.conflicted_by {
        found.push(format!("is stopped by {d}"));
    }
    found
}

fn parse_show(text: &str) -> Vec<UnitState> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut u = UnitState::default();
            for line in block.lines() {
                let Some((k, v)) = line.split_once('=') else {
                    continue;
                };
                match k {
                    "Id" => u.id = v.to_string(),
                    "LoadState" => u.load = v.to_string(),
                    "ActiveState" => u.active = v.to_string(),
                    "UnitFileState" => u.enabled = v.to_string(),
                    "NeedDaemonReload" => u.needs_reload = v == "yes",
                    "FragmentPath" => u.fragment = v.to_string(),
                    "MainPID" => u.main_pid = v.parse().unwrap_or(0),
                    "DropInPaths" => u.drop_ins = words(v),
                    "Requires" => u.requires = words(v),
                    "Requisite" => u.requisite = words(v),
                    "BindsTo" => u.binds_to = words(v),
                    "Conflicts" => u.conflicts = words(v),
                    "ConflictedBy" => u.conflicted_by = words(v),
                    _ => {}
                }
            }
            u
        })
        .collect()
}

const SYSTEMCTL_TIMEOUT: Duration = Duration::from_secs(30);

fn systemctl(host: &Host, args: &[&str]) -> Result<String> {
    let out = host
        .systemctl(args, SYSTEMCTL_TIMEOUT)?
        .checked(&format!("`systemctl {}`", args.join(" ")))?;
    Ok(out.stdout)
}

fn show(host: &Host, units: &[&str]) -> Result<Vec<UnitState>> {
    // Without a unit, `systemctl show` describes the manager itself.
    if units.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = vec![
        "show",
        "--property=Id,LoadState,ActiveState,UnitFileState,NeedDaemonReload,FragmentPath,\
         DropInPaths,Requires,Requisite,BindsTo,Conflicts,ConflictedBy,MainPID",
    ];
    args.extend_from_slice(units);
    let states = parse_show(&systemctl(host, &args)?);
    if states.len() != units.len() {
        bail!(
            "`systemctl show` described {} units, not the {} asked for",
            states.len(),
            units.len()
        );
    }
    Ok(states)
}

impl Units {
    fn all(&self) -> Vec<&'static str> {
        self.start.iter().chain(&self.stop).copied().collect()
    }

    /// Why the running monitor must be restarted, if it must: where to
    /// look for [`monitor_behind`].
    fn monitor_behind(&self, host: &Host) -> Result<Option<String>> {
        let Some(wanted) = &self.monitor else {
            return Ok(None);
        };
        let Some(state) = show(host, &[MONITOR_UNIT])?.pop() else {
            return Ok(None);
        };
        if state.active != "active" || state.main_pid == 0 {
            return Ok(None);
        }
        let replaced = host.runs_replaced_program(state.main_pid)?.unwrap_or(false);
        let record = load_monitor(host)?;
        Ok(monitor_behind(
            wanted,
            state.main_pid,
            replaced,
            record.as_ref(),
        ))
    }

    /// What is left to do, one phrase per unit; empty when none.
    fn work(&self, host: &Host) -> Result<Vec<String>> {
        let mut work = Vec::new();
        for (path, content) in &self.files {
            let on_disk = host.read(path)?.map(|f| f.content);
            if on_disk != *content {
                work.push(format!("load the changed {}", path.display()));
            }
        }
        // Another file that systemd reads for a unit (a drop-in in /etc or
        // /run, a unit in system.control) can neuter it while nbwarden's
        // own file stays as written.
        let names: Vec<&str> = self.installed.iter().map(|(n, _)| n.as_str()).collect();
        for ((name, ours), state) in self.installed.iter().zip(show(host, &names)?) {
            if state.load == "loaded" && Path::new(&state.fragment) != ours {
                work.push(format!(
                    "{name} is loaded from {}, not {}: remove that file",
                    state.fragment,
                    ours.display()
                ));
            }
            for d in foreign_dependencies(&state) {
                work.push(format!(
                    "{name} {d}, which nbwarden's units never ask for: remove what adds it"
                ));
            }
            for d in state
                .drop_ins
                .iter()
                .filter(|d| Path::new(d) != Path::new(TIMER_DROP_IN))
            {
                work.push(format!(
                    "{d} changes {name}: remove it (nbwarden's units take their settings \
                     from the policy only)"
                ));
            }
        }
        let all = self.all();
        for (name, state) in all.iter().zip(show(host, &all)?) {
            let wanted = self.start.contains(name);
            if state.needs_reload {
                work.push(format!("reload {name}"));
            }
            // Active, not merely activating: a monitor that crashed waits
            // in `activating (auto-restart)`.
            if wanted && (state.enabled != "enabled" || state.active != "active") {
                work.push(format!(
                    "enable and start {name} (now {}, {})",
                    state.active,
                    if state.enabled.is_empty() {
                        "not installed"
                    } else {
                        &state.enabled
                    }
                ));
            }
            if !wanted && (state.running() || state.enabled == "enabled") {
                work.push(format!(
                    "stop and disable {name} (the policy no longer runs it)"
                ));
            }
        }
        if let Some(why) = self.monitor_behind(host)? {
            work.push(format!("restart {MONITOR_UNIT}: {why}"));
        }
        Ok(work)
    }
}

impl Action for Units {
    fn target(&self) -> String {
        "systemd units nbwarden-*".into()
    }

    fn state(&self, host: &Host) -> Result<ActionState> {
        if !host.systemd_runs()? {
            return Ok(ActionState::Done(
                "systemd is not PID 1 here (a chroot, --root or a container without it): the \
                 unit files are written; a booted instance's apply starts them"
                    .into(),
            ));
        }
        let work = self.work(host)?;
        Ok(if work.is_empty() {
            ActionState::Done(format!("{} enabled and active", self.start.join(", ")))
        } else {
            ActionState::Needed(work.join("; "))
        })
    }

    fn perform(&self, ctx: &Context<'_>) -> Result<ActionOutcome> {
        let host = ctx.host;
        let all = self.all();
        // A running service whose file changed runs the old content until
        // restarted; note which before the reload clears the flag.
        let changed: Vec<&str> = all
            .iter()
            .zip(show(host, &all)?)
            .filter(|(_, s)| s.needs_reload && s.running())
            .map(|(n, _)| *n)
            .collect();
        let behind = self.monitor_behind(host)?;
        systemctl(host, &["daemon-reload"])?;
        let mut done = Vec::new();
        let stale: Vec<&str> = all
            .iter()
            .zip(show(host, &all)?)
            .filter(|(n, s)| !self.start.contains(n) && (s.running() || s.enabled == "enabled"))
            .map(|(n, _)| *n)
            .collect();
        if !stale.is_empty() {
            let mut args = vec!["disable", "--now"];
            args.extend(&stale);
            systemctl(host, &args)?;
            done.push(format!("stopped {}", stale.join(", ")));
        }
        if !self.start.is_empty() {
            let mut args = vec!["enable"];
            args.extend(&self.start);
            systemctl(host, &args)?;
            // Blocking: a timer or a simple service is active as soon as
            // systemd has started it, so the check after this sees it.
            let mut args = vec!["start"];
            args.extend(&self.start);
            systemctl(host, &args)?;
            done.push(format!("enabled and started {}", self.start.join(", ")));
        }
        let restart: Vec<&str> = changed
            .into_iter()
            .filter(|n| self.start.contains(n) && n.ends_with(".service"))
            .collect();
        if !restart.is_empty() {
            let mut args = vec!["try-restart"];
            args.extend(&restart);
            systemctl(host, &args)?;
            done.push(format!(
                "restarted {} (its unit changed)",
                restart.join(", ")
            ));
        }
        if let Some(why) = behind.filter(|_| !restart.contains(&MONITOR_UNIT)) {
            systemctl(host, &["try-restart", MONITOR_UNIT])?;
            done.push(format!("restarted {MONITOR_UNIT} ({why})"));
        }
        Ok(ActionOutcome::Done(format!(
            "reloaded systemd; {}",
            done.join("; ")
        )))
    }
}

/// What the running monitor loaded: `apply` restarts a monitor whose
/// policy or binary is not the one it applies.
const MONITOR: &str = "/var/lib/nbwarden/monitor.json";

/// The monitor's record of what it runs, written at its start and when it
/// takes a new policy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MonitorRecord {
    pub pid: u32,
    pub policy_source: String,
    pub policy_sha256: String,
}

pub fn save_monitor(host: &Host, record: &MonitorRecord) -> Result<()> {
    let mut text = serde_json::to_vec_pretty(record).context("cannot serialize the record")?;
    text.push(b'\n');
    host.write(Path::new(MONITOR), &text, Ownership::root(0o644), None)
}

/// The monitor's record; `None` when there is none or it cannot be read
/// (an older monitor wrote none: it is then taken as stale).
pub fn load_monitor(host: &Host) -> Result<Option<MonitorRecord>> {
    Ok(host
        .read_text(Path::new(MONITOR))?
        .and_then(|t| serde_json::from_str(&t).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> Policy {
        crate::policy::parse(&format!("version = 1\n{text}"), "test").expect("policy")
    }

    fn plan_of(text: &str) -> Plan {
        let p = policy(text);
        plan(p.service.as_ref().expect("[service]"), &p)
    }

    #[test]
    fn a_monitor_on_another_policy_or_an_old_binary_is_behind() {
        let wanted = MonitorWanted {
            policy_sha256: "new".into(),
            binary: LIFECYCLE_BINARY,
        };
        let record = |pid: u32, sha: &str| MonitorRecord {
            pid,
            policy_source: "s3://b/p.toml".into(),
            policy_sha256: sha.into(),
        };
        assert_eq!(
            monitor_behind(&wanted, 7, false, Some(&record(7, "new"))),
            None
        );
        let old = monitor_behind(&wanted, 7, false, Some(&record(7, "old"))).expect("behind");
        assert!(
            old.contains("s3://b/p.toml with sha256 old, not this run's new"),
            "{old}"
        );
        // A record of a process that is gone: the monitor starting now
        // loads the current policy.
        assert_eq!(
            monitor_behind(&wanted, 8, false, Some(&record(7, "old"))),
            None
        );
        let binary = monitor_behind(&wanted, 8, true, None).expect("behind");
        assert!(binary.contains("replaced since it started"), "{binary}");
    }

    #[test]
    fn the_policy_decides_which_units_run() {
        let bare = plan_of("[service]\n");
        assert_eq!(bare.start, ["nbwarden-verify.timer"]);
        assert_eq!(bare.verify_every, None);
        let full = plan_of(
            "[service]\nverify_every = \"20m\"\n[monitoring]\nreapply = true\n\
             [packages.codeartifact]\ndomain = \"d\"\ndomain_owner = \"123456789012\"\nrepository = \"r\"\n",
        );
        assert_eq!(
            full.start,
            [
                "nbwarden-verify.timer",
                "nbwarden-monitor.service",
                "nbwarden-codeartifact.timer"
            ]
        );
        assert!(full.install.contains(&"nbwarden-reapply@.service"));
        assert_eq!(full.verify_every, Some(Duration::from_secs(1200)));
        let none = plan_of("[service]\nverify_timer = false\n");
        assert!(none.install.is_empty() && none.start.is_empty());
    }

    #[test]
    fn a_timer_drop_in_resets_the_shipped_period() {
        let text = timer_drop_in(Duration::from_secs(20));
        assert!(
            text.contains("[Timer]\nOnBootSec=\nOnActiveSec=20s\nOnUnitActiveSec=20s\n"),
            "{text}"
        );
        assert!(text.contains("RandomizedDelaySec=5s"), "{text}");
        assert!(text.contains("AccuracySec=2s"), "{text}");
        assert!(timer_drop_in(Duration::from_secs(7200)).contains("RandomizedDelaySec=300s"));
    }

    #[test]
    fn the_units_run_the_binary_the_image_has() {
        let root = tempfile::tempdir().expect("tmp");
        let host = || Host::open(root.path()).expect("host");
        assert_eq!(installed_binary(&host()).expect("kind"), None);
        std::fs::create_dir_all(root.path().join("usr/bin")).expect("dir");
        std::fs::write(root.path().join("usr/bin/nbwarden"), "rpm").expect("rpm binary");
        assert_eq!(
            installed_binary(&host()).expect("kind"),
            Some(PACKAGED_BINARY)
        );
        std::fs::create_dir_all(root.path().join("usr/local/bin")).expect("dir");
        std::fs::write(root.path().join("usr/local/bin/nbwarden"), "lifecycle").expect("binary");
        assert_eq!(
            installed_binary(&host()).expect("kind"),
            Some(LIFECYCLE_BINARY)
        );
    }

    /// Issue 19's third red-team round: with the RPM's binary behind an
    /// alternatives-style link, the units named the lifecycle path, where
    /// no binary was, and verify passed them.
    #[test]
    fn a_root_owned_link_to_the_binary_serves_and_a_dangling_one_does_not() {
        let root = tempfile::tempdir().expect("tmp");
        let host = || Host::open(root.path()).expect("host");
        std::fs::create_dir_all(root.path().join("usr/bin")).expect("dir");
        std::fs::create_dir_all(root.path().join("opt/nbw")).expect("dir");
        std::os::unix::fs::symlink("/opt/nbw/nbwarden", root.path().join("usr/bin/nbwarden"))
            .expect("link");
        assert_eq!(installed_binary(&host()).expect("kind"), None);
        std::fs::write(root.path().join("opt/nbw/nbwarden"), "rpm").expect("binary");
        assert_eq!(
            installed_binary(&host()).expect("kind"),
            Some(PACKAGED_BINARY)
        );
    }

    #[test]
    fn every_unit_runs_the_binary_from_its_filled_in_path() {
        for (name, template) in UNITS {
            let unit = render_unit(template, LIFECYCLE_BINARY);
            assert!(!unit.contains(BINARY_PLACEHOLDER), "{name}");
            if name.ends_with(".service") {
                assert!(
                    unit.contains(&format!("ExecStart={LIFECYCLE_BINARY} ")),
                    "{name}: {unit}"
                );
            }
        }
    }

    #[test]
    fn every_shipped_unit_is_compiled_in() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd");
        let mut shipped: Vec<String> = std::fs::read_dir(&dir)
            .expect("systemd/")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        shipped.sort();
        let mut compiled: Vec<String> = UNITS.iter().map(|(n, _)| n.to_string()).collect();
        compiled.sort();
        assert_eq!(shipped, compiled);
    }

    #[test]
    fn only_systemds_own_dependencies_are_expected() {
        let own = UnitState {
            requires: words(
                "sysinit.target system.slice \"system-nbwarden\\x2dreapply.slice\" -.mount var-lib.mount",
            ),
            conflicts: words("shutdown.target"),
            ..UnitState::default()
        };
        assert!(foreign_dependencies(&own).is_empty());
        let neutered = UnitState {
            requires: words("sysinit.target zz-block.service"),
            binds_to: words("x.service"),
            conflicts: words("shutdown.target y.service"),
            conflicted_by: words("z.service"),
            ..UnitState::default()
        };
        assert_eq!(
            foreign_dependencies(&neutered),
            [
                "requires zz-block.service",
                "depends on x.service",
                "conflicts with y.service",
                "is stopped by z.service"
            ]
        );
    }

    #[test]
    fn systemctl_show_blocks_are_read_in_order() {
        let text = "Id=a.timer\nLoadState=loaded\nActiveState=active\nUnitFileState=enabled\n\
                    NeedDaemonReload=no\n\nId=b.service\nLoadState=not-found\nActiveState=inactive\n\
                    UnitFileState=\nNeedDaemonReload=yes\n";
        let s = parse_show(text);
        assert_eq!(s.len(), 2);
        assert!(s[0].running() && s[0].enabled == "enabled" && !s[0].needs_reload);
        assert!(!s[1].running() && s[1].needs_reload && s[1].load == "not-found");
    }
}
