//! Checks beyond nbwarden's own files (`[verify.*]`): each is a control
//! that declares no files, only a probe, with the severity the policy gives.

pub mod boot_exec;
pub mod control_plane;
pub mod egress;
pub mod permissions;
pub mod rpm;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::Result;

use crate::engine::{Context, Control, DesiredState, Probe};
use crate::host::Host;
use crate::policy::Severity;

type MakeProbe = dyn Fn(&Context<'_>) -> Result<Box<dyn Probe>>;

/// A check: a control that declares no files, only one probe, with the
/// severity its policy section gives.
pub struct Check {
    id: &'static str,
    title: &'static str,
    severity: Severity,
    probe: Box<MakeProbe>,
}

impl Check {
    pub fn new(
        id: &'static str,
        title: &'static str,
        severity: Severity,
        probe: impl Fn(&Context<'_>) -> Result<Box<dyn Probe>> + 'static,
    ) -> Check {
        Check {
            id,
            title,
            severity,
            probe: Box::new(probe),
        }
    }
}

impl Control for Check {
    fn id(&self) -> &'static str {
        self.id
    }
    fn title(&self) -> &'static str {
        self.title
    }
    fn severity(&self) -> Severity {
        self.severity
    }
    fn desired(&self, ctx: &Context<'_>) -> Result<DesiredState> {
        Ok(DesiredState {
            probes: vec![(self.probe)(ctx)?],
            ..DesiredState::default()
        })
    }
}

/// Whether someone other than root can write `path` (inside the root), or
/// create it: it, or a directory above it, is owned by another user, group
/// writable for a group other than root's, or world writable (a sticky
/// directory such as /tmp still lets anyone create new names). Paths under
/// `home` (the notebook user's) always count.
pub fn user_writable(host: &Host, path: &Path, home: &Path) -> bool {
    if path.starts_with(home) {
        return true;
    }
    let mut cur = Some(path);
    while let Some(p) = cur {
        let real = host.root().join(p.strip_prefix("/").unwrap_or(p));
        if let Ok(meta) = std::fs::symlink_metadata(&real) {
            // A link's own mode bits mean nothing; only who owns it counts.
            let mode = if meta.file_type().is_symlink() {
                0
            } else {
                meta.mode()
            };
            if meta.uid() != 0 || (mode & 0o020 != 0 && meta.gid() != 0) || mode & 0o002 != 0 {
                return true;
            }
        }
        cur = p.parent();
    }
    false
}
