//! `rpm -V` of configured packages on RPM systems (Amazon Linux): files
//! that differ from the package database. Other systems are skipped.

use crate::engine::ControlInfo;
use std::time::Duration;

use anyhow::Result;

use super::Check;
use crate::engine::{Probe, ProbeResult};
use crate::host::Host;
use crate::policy::RpmCheck;

pub static INFO: ControlInfo = ControlInfo {
    id: "rpm",
    title: "Package files match the RPM database",
    section: "verify.rpm",
};
const RPM: &[&str] = &["/usr/bin/rpm", "/bin/rpm"];

/// The control for `[verify.rpm]`.
pub fn control(check: RpmCheck) -> Check {
    Check::new(&INFO, check.severity, move |_| {
        Ok(Box::new(Verify {
            packages: check.packages.clone(),
        }))
    })
}

/// One line of `rpm -V`: `S.5....T.  c /etc/sudoers` or `missing   /x`.
pub fn parse_line(line: &str) -> Option<String> {
    let line = line.trim_end();
    let (flags, rest) = line.split_once(char::is_whitespace)?;
    let path = rest.trim_start();
    let (kind, path) = match path.split_once(char::is_whitespace) {
        Some((k, p)) if k.len() == 1 && !p.trim().is_empty() => (Some(k), p.trim()),
        _ => (None, path),
    };
    if !path.starts_with('/') {
        return None;
    }
    let what = if flags == "missing" {
        "missing".to_string()
    } else {
        let mut changes = Vec::new();
        for (c, name) in [
            ('S', "size"),
            ('M', "mode"),
            ('5', "digest"),
            ('U', "owner"),
            ('G', "group"),
            ('T', "mtime"),
            ('L', "link"),
        ] {
            if flags.contains(c) {
                changes.push(name);
            }
        }
        format!("changed {}", changes.join(", "))
    };
    let config = if kind == Some("c") {
        " (config file)"
    } else {
        ""
    };
    Some(format!("{path}: {what}{config}"))
}

struct Verify {
    packages: Vec<String>,
}

impl Probe for Verify {
    fn describe(&self) -> String {
        "rpm -V".into()
    }

    fn check(&self, host: &Host) -> Result<ProbeResult> {
        let Some(rpm) = host.find_program(RPM) else {
            return Ok(ProbeResult::skipped("not an RPM system: nothing to verify"));
        };
        let mut details = Vec::new();
        for pkg in &self.packages {
            let out = host.run_in_root(&rpm, &["-V", pkg], Duration::from_secs(60))?;
            let text = format!("{}{}", out.stdout, out.stderr);
            if text.contains("is not installed") {
                details.push(format!("{pkg}: not installed"));
                continue;
            }
            details.extend(
                text.lines()
                    .filter_map(parse_line)
                    .map(|l| format!("{pkg}: {l}")),
            );
        }
        Ok(ProbeResult {
            passed: details.is_empty(),
            skipped: false,
            evidence: format!(
                "{} package(s) verified, {} finding(s)",
                self.packages.len(),
                details.len()
            ),
            details,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rpm_verify_lines() {
        assert_eq!(
            parse_line("S.5....T.  c /etc/sudoers"),
            Some("/etc/sudoers: changed size, digest, mtime (config file)".into())
        );
        assert_eq!(
            parse_line(".M.......    /usr/bin/sudo"),
            Some("/usr/bin/sudo: changed mode".into())
        );
        assert_eq!(
            parse_line("missing     /usr/share/doc/x"),
            Some("/usr/share/doc/x: missing".into())
        );
        assert_eq!(parse_line("package foo is not installed"), None);
    }
}
