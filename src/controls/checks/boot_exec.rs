//! Nothing that runs as root at boot or on a schedule executes from the ML
//! volume or another user-writable path: systemd units (and drop-ins),
//! cron tables and cron directories, `/etc/profile.d` and `rc.local`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::Check;
use super::user_writable;
use crate::engine::{Probe, ProbeResult};
use crate::host::{EntryKind, Host};
use crate::policy::BootExecCheck;

pub const ID: &str = "boot-exec";
pub const TITLE: &str =
    "Nothing run as root at boot or on a schedule comes from a user-writable path";

const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];
const CRON_TABLES: &[&str] = &[
    "/etc/crontab",
    "/var/spool/cron/root",
    "/var/spool/cron/crontabs/root",
];
const CRON_DIRS: &[&str] = &[
    "/etc/cron.d",
    "/etc/cron.hourly",
    "/etc/cron.daily",
    "/etc/cron.weekly",
    "/etc/cron.monthly",
];
const SHELL_FILES: &[&str] = &["/etc/rc.local", "/etc/rc.d/rc.local"];

/// The control for `[verify.boot_exec]`: `user` is the notebook user.
pub fn control(check: BootExecCheck, user: String) -> Check {
    Check::new(ID, TITLE, check.severity, move |ctx| {
        let home = ctx
            .host
            .accounts()?
            .user(&user)
            .map(|u| PathBuf::from(&u.home))
            .unwrap_or_else(|| PathBuf::from("/home").join(&user));
        Ok(Box::new(Scan { home }))
    })
}

/// Absolute paths in a command line: words, `--opt=/path` values, with
/// quotes and systemd's `-@:+!` prefixes removed.
pub fn paths_in(command: &str) -> Vec<PathBuf> {
    command
        .split(|c: char| c.is_whitespace() || c == ';' || c == '|' || c == '&')
        .map(|w| w.trim_matches(|c| c == '"' || c == '\''))
        .map(|w| w.trim_start_matches(['-', '@', ':', '+', '!']))
        .filter_map(|w| {
            let candidate = w.split_once('=').map_or(w, |(_, v)| v);
            candidate.starts_with('/').then(|| PathBuf::from(candidate))
        })
        .collect()
}

struct Scan {
    home: PathBuf,
}

impl Scan {
    fn judge(&self, host: &Host, source: &Path, command: &str, out: &mut Vec<String>) {
        // Device and kernel files (/dev/null, /proc/…) are not code.
        let pseudo = |p: &Path| {
            ["/dev", "/proc", "/sys", "/run/systemd"]
                .iter()
                .any(|d| p.starts_with(d))
        };
        for path in paths_in(command).into_iter().filter(|p| !pseudo(p)) {
            if user_writable(host, &path, &self.home) {
                out.push(format!(
                    "{}: runs {} (user-writable) as root",
                    source.display(),
                    path.display()
                ));
            }
        }
    }

    fn file_itself(&self, host: &Host, file: &Path, out: &mut Vec<String>) {
        let real = host.root().join(file.strip_prefix("/").unwrap_or(file));
        if let Ok(meta) = std::fs::symlink_metadata(&real)
            && (meta.uid() != 0
                || meta.mode() & 0o002 != 0
                || (meta.mode() & 0o020 != 0 && meta.gid() != 0))
        {
            out.push(format!(
                "{} is itself writable by someone other than root",
                file.display()
            ));
        }
    }

    fn units(&self, host: &Host, out: &mut Vec<String>) -> usize {
        let mut count = 0;
        for dir in UNIT_DIRS {
            let dir = Path::new(dir);
            let Ok(Some(entries)) = host.list(dir) else {
                continue;
            };
            for (name, kind) in entries {
                let mut files = Vec::new();
                if kind == EntryKind::File
                    && (name.ends_with(".service") || name.ends_with(".socket"))
                {
                    files.push(dir.join(&name));
                } else if kind == EntryKind::Dir
                    && name.ends_with(".service.d")
                    && let Ok(Some(dropins)) = host.list(&dir.join(&name))
                {
                    files.extend(
                        dropins
                            .into_iter()
                            .filter(|(n, k)| *k == EntryKind::File && n.ends_with(".conf"))
                            .map(|(n, _)| dir.join(&name).join(n)),
                    );
                }
                for file in files {
                    let Ok(Some(text)) = host.read_text(&file) else {
                        continue;
                    };
                    count += 1;
                    let as_other = text.lines().any(|l| {
                        l.trim()
                            .strip_prefix("User=")
                            .is_some_and(|u| !matches!(u.trim(), "" | "root" | "0"))
                    });
                    if as_other {
                        continue;
                    }
                    self.file_itself(host, &file, out);
                    for line in text.lines() {
                        let line = line.trim();
                        if let Some((key, value)) = line.split_once('=')
                            && key.trim().starts_with("Exec")
                        {
                            self.judge(host, &file, value, out);
                        }
                    }
                }
            }
        }
        count
    }

    fn scripts(&self, host: &Host, out: &mut Vec<String>) -> usize {
        let mut files: Vec<PathBuf> = CRON_TABLES
            .iter()
            .chain(SHELL_FILES)
            .map(PathBuf::from)
            .collect();
        for dir in CRON_DIRS.iter().chain(["/etc/profile.d"].iter()) {
            if let Ok(Some(entries)) = host.list(Path::new(dir)) {
                files.extend(
                    entries
                        .into_iter()
                        .filter(|(_, k)| *k == EntryKind::File)
                        .map(|(n, _)| Path::new(dir).join(n)),
                );
            }
        }
        let mut count = 0;
        for file in files {
            let Ok(Some(text)) = host.read_text(&file) else {
                continue;
            };
            count += 1;
            self.file_itself(host, &file, out);
            for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
                self.judge(host, &file, line, out);
            }
        }
        count
    }
}

impl Probe for Scan {
    fn describe(&self) -> String {
        "root's boot and schedule".into()
    }

    fn check(&self, host: &Host) -> Result<ProbeResult> {
        let mut findings = Vec::new();
        let units = self.units(host, &mut findings);
        let scripts = self.scripts(host, &mut findings);
        findings.dedup();
        Ok(ProbeResult {
            passed: findings.is_empty(),
            evidence: format!(
                "{} finding(s) in {units} unit file(s) and {scripts} cron/profile/rc file(s)",
                findings.len()
            ),
            details: findings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_paths_in_systemd_and_shell_command_lines() {
        assert_eq!(
            paths_in("-/usr/bin/python3 /home/ec2-user/SageMaker/job.py --log=/var/log/x; echo"),
            [
                PathBuf::from("/usr/bin/python3"),
                PathBuf::from("/home/ec2-user/SageMaker/job.py"),
                PathBuf::from("/var/log/x")
            ]
        );
        assert_eq!(
            paths_in("@/bin/sh sh -c 'cd /opt && ./run'"),
            [PathBuf::from("/bin/sh"), PathBuf::from("/opt")]
        );
        assert!(paths_in("echo hello").is_empty());
    }
}
