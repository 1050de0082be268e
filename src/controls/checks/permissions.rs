//! No entry in system paths that the notebook user could change or use to
//! gain rights: nothing world-writable, nothing owned by a login user,
//! nothing writable by a group the user is in (or a login group), and no
//! setuid, setgid or file-capability binary outside an allow-list (a
//! `cap_setuid` copy of python is root). The walk reads metadata only,
//! never follows links, stops at a time bound, and counts whatever it
//! cannot inspect as a finding: it fails closed.

use crate::engine::ControlInfo;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;

use super::Check;
use crate::engine::{Probe, ProbeResult};
use crate::host::{EntryKind, Host, Stat};
use crate::policy::PermissionsCheck;

pub static INFO: ControlInfo = ControlInfo {
    id: "permissions",
    title: "No user-changeable, setuid or capability-bearing files in system paths",
    section: "verify.permissions",
};
/// uids and gids from here up belong to login users (useradd's UID_MIN).
const LOGIN_ID_MIN: u32 = 1000;
const SHOWN: usize = 40;
const MAX_ENTRIES: usize = 500_000;

/// The control for `[verify.permissions]`.
pub fn control(check: PermissionsCheck) -> Check {
    Check::new(&INFO, check.severity, move |ctx| {
        // The groups the notebook user is in: a system path writable by
        // one of them is writable by the user.
        let accounts = ctx.host.accounts()?;
        let user = ctx.policy.user.as_str();
        let user_gids = accounts.groups_of(user).iter().map(|g| g.gid).collect();
        Ok(Box::new(Walk {
            check: check.clone(),
            user_gids,
        }))
    })
}

struct Walk {
    check: PermissionsCheck,
    user_gids: Vec<u32>,
}

/// Whether `link` names `/dev/null` and that is root's null device (1:3),
/// not a file or a FIFO (in a root whose `/dev` is not the kernel's,
/// anything could be there).
fn links_to_null_device(host: &Host, link: &Path) -> bool {
    let null = Path::new("/dev/null");
    let names_null = host
        .read_link(link)
        .ok()
        .flatten()
        .is_some_and(|t| link.parent().unwrap_or(Path::new("/")).join(t) == null);
    names_null
        && host
            .stat(null)
            .ok()
            .flatten()
            .is_some_and(|m| m.char_device == Some((1, 3)) && m.uid == 0)
}

impl Walk {
    /// What is wrong with a link: it is what it leads to.
    fn judge_link(&self, host: &Host, inside: &Path) -> Option<String> {
        // systemd masks a unit with a link to /dev/null, the
        // root's own device: nothing is read from it or
        // written through it, so it is no user's place.
        if links_to_null_device(host, inside) {
            return None;
        }
        // A link is what it leads to: a root-owned link to the
        // user's file hands that file root's place.
        let user_gids = &self.user_gids;
        let weak = |m: &Stat| -> Option<String> {
            if m.uid >= LOGIN_ID_MIN {
                return Some(format!("is owned by uid {}", m.uid));
            }
            if m.mode & 0o002 != 0 {
                return Some("is writable by everyone".into());
            }
            let g = m.gid;
            (m.mode & 0o020 != 0 && g != 0 && (g >= LOGIN_ID_MIN || user_gids.contains(&g)))
                .then(|| format!("is writable by group {g}"))
        };
        host.check_trusted_with(inside, &weak).err().map(|e| {
            format!(
                "{} is a link to a place the notebook user can change: {e:#}",
                inside.display()
            )
        })
    }

    /// What is wrong with one entry that is not a link: an owner, group or
    /// mode that lets the notebook user change it, or a privilege (setuid,
    /// setgid, file capabilities) the policy does not allow.
    fn judge_entry(
        &self,
        host: &Host,
        inside: &Path,
        meta: &Stat,
        allowed: &[&Path],
    ) -> Vec<String> {
        let mut findings = Vec::new();
        let mode = meta.mode;
        let (is_dir, is_file) = (meta.kind == EntryKind::Dir, meta.kind == EntryKind::File);
        if meta.uid >= LOGIN_ID_MIN {
            findings.push(format!(
                "{} is owned by uid {}, a login user, who can change it",
                inside.display(),
                meta.uid
            ));
        }
        if mode & 0o020 != 0
            && meta.gid != 0
            && (meta.gid >= LOGIN_ID_MIN || self.user_gids.contains(&meta.gid))
        {
            findings.push(format!(
                "{} is writable by group {}, which the notebook user is in or could be",
                inside.display(),
                meta.gid
            ));
        }
        if mode & 0o002 != 0 {
            let kind = if is_dir { "directory" } else { "file" };
            findings.push(format!(
                "world-writable {kind} {} ({:04o})",
                inside.display(),
                mode & 0o7777
            ));
        }
        if is_file && mode & 0o6000 != 0 && !allowed.contains(&inside) {
            let bits = if mode & 0o4000 != 0 {
                "setuid"
            } else {
                "setgid"
            };
            findings.push(format!(
                "{bits} {} (owner {}, {:04o}) is not in setuid_allow",
                inside.display(),
                meta.uid,
                mode & 0o7777
            ));
        }
        if is_file && !allowed.contains(&inside) {
            match host.has_capabilities(inside) {
                Ok(false) => {}
                Ok(true) => findings.push(format!(
                    "{} carries file capabilities (security.capability) and is not in \
                     setuid_allow",
                    inside.display()
                )),
                Err(e) => findings.push(format!("{e:#}")),
            }
        }
        findings
    }
}

impl Probe for Walk {
    fn describe(&self) -> String {
        "file permissions".into()
    }

    fn check(&self, host: &Host) -> Result<ProbeResult> {
        let started = Instant::now();
        let limit = Duration::from_secs(u64::from(self.check.time_limit_s));
        let allowed: Vec<&Path> = self
            .check
            .setuid_allow
            .iter()
            .map(|p| p.as_path())
            .collect();
        let mut findings = Vec::new();
        let mut seen = 0usize;
        let mut cut_short = None;
        for start in &self.check.paths {
            let mut stack: Vec<PathBuf> = vec![start.as_path().to_path_buf()];
            while let Some(inside) = stack.pop() {
                if started.elapsed() > limit || seen > MAX_ENTRIES {
                    cut_short = Some(inside.clone());
                    break;
                }
                seen += 1;
                let meta = match host.stat(&inside) {
                    Ok(Some(m)) => m,
                    // A start path the image does not have holds nothing.
                    Ok(None) if inside == start.as_path() => continue,
                    Ok(None) => {
                        findings.push(format!("{} vanished during the walk", inside.display()));
                        continue;
                    }
                    Err(e) => {
                        findings.push(format!("cannot inspect {}: {e:#}", inside.display()));
                        continue;
                    }
                };
                if meta.kind == EntryKind::Symlink {
                    findings.extend(self.judge_link(host, &inside));
                    continue;
                }
                findings.extend(self.judge_entry(host, &inside, &meta, &allowed));
                let is_dir = meta.kind == EntryKind::Dir;
                if is_dir {
                    match host.list(&inside) {
                        Ok(Some(entries)) => {
                            stack.extend(entries.into_iter().rev().map(|(n, _)| inside.join(n)));
                        }
                        Ok(None) => {}
                        Err(e) => findings.push(format!("cannot list {}: {e:#}", inside.display())),
                    }
                }
            }
            if cut_short.is_some() {
                break;
            }
        }
        let mut details: Vec<String> = findings.iter().take(SHOWN).cloned().collect();
        if findings.len() > SHOWN {
            details.push(format!("… and {} more", findings.len() - SHOWN));
        }
        if let Some(at) = &cut_short {
            details.push(format!(
                "stopped at {} after {seen} entries and {:?}: the rest was not checked",
                at.display(),
                started.elapsed()
            ));
        }
        Ok(ProbeResult {
            passed: findings.is_empty() && cut_short.is_none(),
            skipped: false,
            evidence: format!("{} finding(s) in {seen} entries", findings.len()),
            details,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::links_to_null_device;
    use crate::host::Host;
    use std::path::Path;

    /// Only the kernel's null device makes a link a mask: a FIFO (or a
    /// file) at the root's `/dev/null` is something writes reach.
    #[test]
    fn a_link_to_dev_null_is_a_mask_only_when_that_is_the_null_device() {
        let root = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(root.path().join("dev")).expect("dev");
        std::fs::create_dir_all(root.path().join("etc")).expect("etc");
        std::os::unix::fs::symlink("/dev/null", root.path().join("etc/masked.service"))
            .expect("link");
        nix::unistd::mkfifo(
            &root.path().join("dev/null"),
            nix::sys::stat::Mode::from_bits_truncate(0o666),
        )
        .expect("fifo");
        let host = Host::open(root.path()).expect("host");
        assert!(!links_to_null_device(
            &host,
            Path::new("/etc/masked.service")
        ));

        // The machine's own /dev/null is the device.
        let live = Host::open(Path::new("/")).expect("host");
        assert_eq!(
            live.stat(Path::new("/dev/null"))
                .expect("stat")
                .map(|s| s.char_device),
            Some(Some((1, 3)))
        );
    }
}
