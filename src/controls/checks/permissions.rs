//! No entry in system paths that the notebook user could change or use to
//! gain rights: nothing world-writable, nothing owned by a login user,
//! nothing writable by a group the user is in (or a login group), and no
//! setuid, setgid or file-capability binary outside an allow-list (a
//! `cap_setuid` copy of python is root). The walk reads metadata only,
//! never follows links, stops at a time bound, and counts whatever it
//! cannot inspect as a finding: it fails closed.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;

use super::Check;
use crate::engine::{Probe, ProbeResult};
use crate::host::Host;
use crate::policy::PermissionsCheck;

pub const ID: &str = "permissions";
pub const TITLE: &str = "No user-changeable, setuid or capability-bearing files in system paths";
/// uids and gids from here up belong to login users (useradd's UID_MIN).
const LOGIN_ID_MIN: u32 = 1000;
const SHOWN: usize = 40;
const MAX_ENTRIES: usize = 500_000;

/// The control for `[verify.permissions]`.
pub fn control(check: PermissionsCheck) -> Check {
    Check::new(ID, TITLE, check.severity, move |ctx| {
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

/// The raw `security.capability` attribute of `path`, without following a
/// link; `Ok(None)` when it has none.
fn file_capabilities(path: &Path) -> std::io::Result<Option<usize>> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let mut buf = [0u8; 64];
    // SAFETY: both pointers are valid for the given lengths.
    let n = unsafe {
        nix::libc::lgetxattr(
            c.as_ptr(),
            c"security.capability".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n >= 0 {
        return Ok(Some(n as usize));
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(nix::libc::ENODATA) | Some(nix::libc::ENOTSUP) => Ok(None),
        _ => Err(err),
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
                let real = host
                    .root()
                    .join(inside.strip_prefix("/").unwrap_or(&inside));
                let meta = match std::fs::symlink_metadata(&real) {
                    Ok(m) => m,
                    // A start path the image does not have holds nothing.
                    Err(e)
                        if e.kind() == std::io::ErrorKind::NotFound
                            && inside == start.as_path() =>
                    {
                        continue;
                    }
                    Err(e) => {
                        findings.push(format!("cannot inspect {}: {e}", inside.display()));
                        continue;
                    }
                };
                let ft = meta.file_type();
                if ft.is_symlink() {
                    // A link is what it leads to: a root-owned link to the
                    // user's file hands that file root's place.
                    let user_gids = &self.user_gids;
                    let weak = |m: &std::fs::Metadata| -> Option<String> {
                        if m.uid() >= LOGIN_ID_MIN {
                            return Some(format!("is owned by uid {}", m.uid()));
                        }
                        if m.mode() & 0o002 != 0 {
                            return Some("is writable by everyone".into());
                        }
                        let g = m.gid();
                        (m.mode() & 0o020 != 0
                            && g != 0
                            && (g >= LOGIN_ID_MIN || user_gids.contains(&g)))
                        .then(|| format!("is writable by group {g}"))
                    };
                    if let Err(e) =
                        crate::host::trust::check_with(host.root(), &inside, true, &weak)
                    {
                        findings.push(format!(
                            "{} is a link to a place the notebook user can change: {e:#}",
                            inside.display()
                        ));
                    }
                    continue;
                }
                let mode = meta.mode();
                if meta.uid() >= LOGIN_ID_MIN {
                    findings.push(format!(
                        "{} is owned by uid {}, a login user, who can change it",
                        inside.display(),
                        meta.uid()
                    ));
                }
                if mode & 0o020 != 0
                    && meta.gid() != 0
                    && (meta.gid() >= LOGIN_ID_MIN || self.user_gids.contains(&meta.gid()))
                {
                    findings.push(format!(
                        "{} is writable by group {}, which the notebook user is in or could be",
                        inside.display(),
                        meta.gid()
                    ));
                }
                if mode & 0o002 != 0 {
                    let kind = if ft.is_dir() { "directory" } else { "file" };
                    findings.push(format!(
                        "world-writable {kind} {} ({:04o})",
                        inside.display(),
                        mode & 0o7777
                    ));
                }
                if ft.is_file() && mode & 0o6000 != 0 && !allowed.contains(&inside.as_path()) {
                    let bits = if mode & 0o4000 != 0 {
                        "setuid"
                    } else {
                        "setgid"
                    };
                    findings.push(format!(
                        "{bits} {} (owner {}, {:04o}) is not in setuid_allow",
                        inside.display(),
                        meta.uid(),
                        mode & 0o7777
                    ));
                }
                if ft.is_file() && !allowed.contains(&inside.as_path()) {
                    match file_capabilities(&real) {
                        Ok(None) => {}
                        Ok(Some(_)) => findings.push(format!(
                            "{} carries file capabilities (security.capability) and is not in \
                             setuid_allow",
                            inside.display()
                        )),
                        Err(e) => findings.push(format!(
                            "cannot read the capabilities of {}: {e}",
                            inside.display()
                        )),
                    }
                }
                if ft.is_dir() {
                    match std::fs::read_dir(&real) {
                        Ok(entries) => {
                            let mut names = Vec::new();
                            for entry in entries {
                                match entry {
                                    Ok(e) => names.push(e.file_name()),
                                    Err(e) => findings
                                        .push(format!("cannot list {}: {e}", inside.display())),
                                }
                            }
                            names.sort();
                            stack.extend(names.into_iter().rev().map(|n| inside.join(n)));
                        }
                        Err(e) => findings.push(format!("cannot list {}: {e}", inside.display())),
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
            evidence: format!("{} finding(s) in {seen} entries", findings.len()),
            details,
        })
    }
}
