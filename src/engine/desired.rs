//! What a control declares: the state the host must be in, and live probes
//! that prove what file contents alone cannot.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::host::{Host, Ownership};

/// Checks a fully written candidate, named by its path inside the root,
/// before it is renamed over the real file.
pub type CheckFn = dyn Fn(&Host, &Path) -> Result<()>;

/// Everything one control wants of the host.
#[derive(Default)]
pub struct DesiredState {
    /// Observations made while computing the state (for the report).
    pub notes: Vec<String>,
    pub files: Vec<ManagedFile>,
    pub memberships: Vec<Membership>,
    pub probes: Vec<Box<dyn Probe>>,
    /// Steps that are not files (installing a package, loading an agent's
    /// configuration), run in order after the files are written.
    pub actions: Vec<Box<dyn Action>>,
}

/// A file the control owns, by absolute path inside the root.
pub struct ManagedFile {
    pub path: PathBuf,
    pub state: FileState,
    /// Diffs and reports never show this file's content (it holds secrets).
    pub sensitive: bool,
    /// Run on the fully written candidate before it replaces the file
    /// (`visudo -c -f` for sudoers); a failure leaves the old file in place.
    pub check: Option<Box<CheckFn>>,
}

pub enum FileState {
    Present { content: Vec<u8>, own: Ownership },
    Absent,
}

impl ManagedFile {
    /// A root-owned file with the given mode.
    pub fn root_owned(path: impl Into<PathBuf>, content: impl Into<Vec<u8>>, mode: u32) -> Self {
        ManagedFile {
            path: path.into(),
            state: FileState::Present {
                content: content.into(),
                own: Ownership::root(mode),
            },
            sensitive: false,
            check: None,
        }
    }

    pub fn absent(path: impl Into<PathBuf>) -> Self {
        ManagedFile {
            path: path.into(),
            state: FileState::Absent,
            sensitive: false,
            check: None,
        }
    }
}

/// `user` must (or must not) be a member of `group`, in `/etc/group` and
/// `/etc/gshadow`. The engine turns these into edits of those two files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub user: String,
    pub group: String,
    pub member: bool,
}

/// The outcome of one live check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub passed: bool,
    /// Nothing was checked: the check does not apply here (no RPM
    /// database, no Python to import with) or could not be made (the
    /// mirror did not answer a probe that is only tried). Neither a pass
    /// nor a failure; a control whose every check is skipped is `skip`.
    pub skipped: bool,
    /// What was observed, in one line, for the report (never a secret).
    pub evidence: String,
    /// Further observations, one report line each.
    pub details: Vec<String>,
}

impl ProbeResult {
    /// A check that was not made, and why.
    pub fn skipped(why: impl Into<String>) -> ProbeResult {
        ProbeResult {
            passed: true,
            skipped: true,
            evidence: why.into(),
            details: Vec::new(),
        }
    }
}

/// A live, read-only check of the host (for example `sudo -l -U ec2-user`).
pub trait Probe {
    fn describe(&self) -> String;
    fn check(&self, host: &Host) -> Result<ProbeResult>;
    /// Whether the check runs the notebook user's code (an environment's
    /// Python or pip). The engine makes those checks before every passive
    /// one, so that what the user's code changes is seen by the run.
    fn runs_user_code(&self) -> bool {
        false
    }
}

/// Whether an action still has work to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionState {
    /// The host already has what the action would do.
    Done(String),
    /// Handed to a systemd unit that has not finished yet: not drift.
    HandedOff(String),
    /// The action must run; the reason is reported.
    Needed(String),
}

/// What `perform` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionOutcome {
    Done(String),
    /// The work would overrun the run's deadline and was handed to a unit.
    HandedOff(String),
}

/// A step with an effect other than a file's content, such as
/// `dpkg -i` or `amazon-cloudwatch-agent-ctl -a append-config`.
pub trait Action {
    /// What the step changes, in a report's `path` column
    /// (for example `package falcon-sensor`).
    fn target(&self) -> String;
    /// Looks, never changes.
    fn state(&self, host: &Host) -> Result<ActionState>;
    /// Makes the change, within the run's deadline.
    fn perform(&self, ctx: &super::Context<'_>) -> Result<ActionOutcome>;
}
