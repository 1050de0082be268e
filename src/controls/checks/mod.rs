//! Checks beyond nbwarden's own files (`[verify.*]`): each is a control
//! that declares no files, only a probe, with the severity the policy gives.

pub mod boot_exec;
pub mod control_plane;
pub mod egress;
pub mod permissions;
pub mod rpm;

use std::path::Path;

use anyhow::Result;

use crate::engine::{Context, Control, ControlInfo, DesiredState, Probe};
use crate::host::Host;
use crate::policy::Severity;

type MakeProbe = dyn Fn(&Context<'_>) -> Result<Box<dyn Probe>>;

/// A check: a control that declares no files, only one probe, with the
/// severity its policy section gives.
pub struct Check {
    info: &'static ControlInfo,
    severity: Severity,
    probe: Box<MakeProbe>,
    remote: Vec<crate::facts::RemoteInput>,
}

impl Check {
    pub fn new(
        info: &'static ControlInfo,
        severity: Severity,
        probe: impl Fn(&Context<'_>) -> Result<Box<dyn Probe>> + 'static,
    ) -> Check {
        Check {
            info,
            severity,
            probe: Box::new(probe),
            remote: Vec::new(),
        }
    }

    /// Names a remote input the probe's maker reads (see
    /// `Control::remote_inputs`).
    pub fn reading(mut self, input: crate::facts::RemoteInput) -> Check {
        self.remote.push(input);
        self
    }
}

impl Control for Check {
    fn info(&self) -> &'static ControlInfo {
        self.info
    }
    fn severity(&self) -> Severity {
        self.severity
    }
    fn remote_inputs(&self) -> Vec<crate::facts::RemoteInput> {
        self.remote.clone()
    }
    fn desired(&self, ctx: &Context<'_>) -> Result<DesiredState> {
        Ok(DesiredState {
            probes: vec![(self.probe)(ctx)?],
            ..DesiredState::default()
        })
    }
}

/// Whether someone other than root can write `path` (inside the root), or
/// create it, or replace what it leads to: [`crate::host::trust`]'s rule,
/// with links resolved (a root-owned link to the user's file counts as the
/// user's file), and a missing path judged by what exists above it. Paths
/// under `home` (the notebook user's) always count.
pub fn user_writable(host: &Host, path: &Path, home: &Path) -> bool {
    path.starts_with(home) || host.check_trusted_or_nearest(path).is_err()
}
