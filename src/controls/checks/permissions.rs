//! No world-writable files or directories in system paths, and no setuid or
//! setgid binary outside an allow-list. The walk reads metadata only, never
//! follows links, and stops at a time bound.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;

use super::Check;
use crate::engine::{Probe, ProbeResult};
use crate::host::Host;
use crate::policy::PermissionsCheck;

pub const ID: &str = "permissions";
pub const TITLE: &str = "No world-writable or unexpected setuid files in system paths";
const SHOWN: usize = 40;
const MAX_ENTRIES: usize = 500_000;

/// The control for `[verify.permissions]`.
pub fn control(check: PermissionsCheck) -> Check {
    Check::new(ID, TITLE, check.severity, move |_| {
        Ok(Box::new(Walk {
            check: check.clone(),
        }))
    })
}

struct Walk {
    check: PermissionsCheck,
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
                let Ok(meta) = std::fs::symlink_metadata(&real) else {
                    continue;
                };
                let ft = meta.file_type();
                if ft.is_symlink() {
                    continue;
                }
                let mode = meta.mode();
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
                if ft.is_dir()
                    && let Ok(entries) = std::fs::read_dir(&real)
                {
                    let mut names: Vec<_> = entries.flatten().map(|e| e.file_name()).collect();
                    names.sort();
                    stack.extend(names.into_iter().rev().map(|n| inside.join(n)));
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
