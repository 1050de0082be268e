//! Judging what `sudo -l` printed: the proof that the user holds nothing
//! beyond the allow-list.

use anyhow::{Result, bail};

use crate::engine::ProbeResult;

/// Tags sudo prints before commands (`NOPASSWD: /usr/bin/x`).
fn strip_tags(mut entry: &str) -> &str {
    loop {
        let trimmed = entry.trim_start();
        let Some((word, rest)) = trimmed.split_once(':') else {
            return trimmed;
        };
        if !word.is_empty() && word.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
            entry = rest;
        } else {
            return trimmed;
        }
    }
}

/// The commands `sudo -l` lists, one per entry, or `None` when it says the
/// user may not run sudo at all.
pub fn listed(text: &str) -> Option<Vec<String>> {
    if text.contains("is not allowed to run sudo") || text.contains("may not run sudo") {
        return None;
    }
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.contains("may run the following commands") {
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        if !line.starts_with(char::is_whitespace) || line.trim().is_empty() {
            inside = !line.trim().is_empty() && line.starts_with(char::is_whitespace);
            continue;
        }
        let entry = line.trim();
        let entry = match entry.strip_prefix('(') {
            Some(rest) => rest.split_once(')').map_or(rest, |(_, cmds)| cmds),
            None => entry,
        };
        for cmd in strip_tags(entry).split(", ") {
            out.push(cmd.trim().to_string());
        }
    }
    Some(out)
}

/// Passes when every listed command is the deny (`!ALL`) or allowed.
pub fn judge(text: &str, allowed: &[String]) -> Result<ProbeResult> {
    if text.contains("a password is required") {
        return Ok(ProbeResult {
            passed: true,
            evidence: "sudo -n -l: a password is required, so no passwordless rule applies; \
                       rules that need a password are listed only to root"
                .into(),
            details: Vec::new(),
        });
    }
    let Some(commands) = listed(text) else {
        return Ok(ProbeResult {
            passed: true,
            evidence: "sudo says the user is not allowed to run sudo".into(),
            details: Vec::new(),
        });
    };
    if commands.is_empty() && !text.contains("may run the following commands") {
        bail!("unexpected answer from sudo: {}", text.trim());
    }
    let extra: Vec<&String> = commands
        .iter()
        .filter(|c| *c != "!ALL" && !allowed.contains(c))
        .collect();
    if extra.is_empty() {
        Ok(ProbeResult {
            passed: true,
            evidence: format!("sudo lists only: {}", commands.join("; ")),
            details: Vec::new(),
        })
    } else {
        Ok(ProbeResult {
            details: Vec::new(),
            passed: false,
            evidence: format!(
                "sudo still grants: {}",
                extra
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRIPPED: &str = "Matching Defaults entries for ec2-user on vm:\n    env_reset, mail_badpass,\n    use_pty\n\nUser ec2-user may run the following commands on vm:\n    (ALL : ALL) !ALL\n    (root) NOPASSWD: /usr/bin/systemctl restart jupyter-server\n";

    #[test]
    fn a_stripped_listing_passes_only_with_the_allowed_command() {
        let allowed = vec!["/usr/bin/systemctl restart jupyter-server".to_string()];
        assert!(judge(STRIPPED, &allowed).expect("judged").passed);
        let r = judge(STRIPPED, &[]).expect("judged");
        assert!(!r.passed);
        assert!(r.evidence.contains("systemctl restart jupyter-server"));
    }

    #[test]
    fn full_grants_fail_and_refusals_pass() {
        let full = "User ec2-user may run the following commands on vm:\n    (ALL : ALL) ALL\n    (ALL) NOPASSWD: ALL\n";
        let r = judge(full, &[]).expect("judged");
        assert!(!r.passed);
        assert_eq!(
            listed(full),
            Some(vec!["ALL".to_string(), "ALL".to_string()])
        );
        assert!(
            judge("User ec2-user is not allowed to run sudo on vm.\n", &[])
                .expect("j")
                .passed
        );
        assert!(judge("sudo: something odd\n", &[]).is_err());
    }
}
