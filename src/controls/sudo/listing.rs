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

/// Variables that make a program run code of the caller's choosing
/// (the loader's, interpreters', shells', systemd's pager and editor).
fn dangerous_variable(name: &str) -> bool {
    let name = name.trim_matches('"');
    [
        "LD_",
        "PYTHON",
        "PERL",
        "RUBY",
        "NODE_",
        "SYSTEMD_",
        "GCONV_",
        "BASH_FUNC",
    ]
    .iter()
    .any(|p| name.starts_with(p))
        || matches!(
            name,
            "BASH_ENV"
                | "ENV"
                | "SHELLOPTS"
                | "BASHOPTS"
                | "PS4"
                | "IFS"
                | "PATH"
                | "PAGER"
                | "EDITOR"
                | "VISUAL"
                | "LESSOPEN"
                | "HOSTALIASES"
                | "*"
        )
}

/// The lines of a `sudo -l` section (after a header containing `header`),
/// up to the next blank line.
fn section<'a>(text: &'a str, header: &str) -> Vec<&'a str> {
    text.lines()
        .skip_while(|l| !l.contains(header))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect()
}

/// What in the Defaults that apply to the user lets it choose the
/// environment of a command run as root: `setenv` still on at the end,
/// `env_reset` off, `env_keep` keeping a variable that picks code, or any
/// of those in command-specific Defaults.
pub fn unsafe_defaults(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut setenv = false;
    let mut env_reset = true;
    let mut keep: Vec<String> = Vec::new();
    let entries: Vec<String> = section(text, "Matching Defaults entries")
        .join(" ")
        .split(", ")
        .map(|e| e.trim().trim_end_matches(',').to_string())
        .collect();
    for e in &entries {
        let e = e.as_str();
        match e {
            "setenv" => setenv = true,
            "!setenv" => setenv = false,
            "env_reset" => env_reset = true,
            "!env_reset" => env_reset = false,
            "!env_keep" => keep.clear(),
            _ => {
                let values = |v: &str| -> Vec<String> {
                    v.trim_matches('"')
                        .split_whitespace()
                        .map(str::to_string)
                        .collect()
                };
                if let Some(v) = e.strip_prefix("env_keep+=") {
                    keep.extend(values(v));
                } else if let Some(v) = e.strip_prefix("env_keep-=") {
                    let gone = values(v);
                    keep.retain(|k| !gone.contains(k));
                } else if let Some(v) = e.strip_prefix("env_keep=") {
                    keep = values(v);
                } else if e.starts_with("env_file") || e.starts_with("restricted_env_file") {
                    found.push(format!("Defaults {e}: variables come from a file"));
                }
            }
        }
    }
    if setenv {
        found.push("Defaults setenv: the user may set any variable for the command".into());
    }
    if !env_reset {
        found.push("Defaults !env_reset: the user's environment reaches the command".into());
    }
    for k in keep.iter().filter(|k| dangerous_variable(k)) {
        found.push(format!("Defaults env_keep keeps {k}"));
    }
    for line in section(text, "Command-specific defaults") {
        if line.contains("setenv") && !line.contains("!setenv")
            || line.contains("!env_reset")
            || line.contains("env_keep") && line.split(['=', ' ', '"']).any(dangerous_variable)
            || line.contains("env_file")
        {
            found.push(format!(
                "{line}: the user may choose the command's environment"
            ));
        }
    }
    found
}

/// Passes when every listed command is the deny (`!ALL`) or allowed, run
/// without `SETENV`, and no Defaults lets the user choose its environment.
pub fn judge(text: &str, allowed: &[String]) -> Result<ProbeResult> {
    let unsafe_env = unsafe_defaults(text);
    let setenv_tagged = text
        .lines()
        .skip_while(|l| !l.contains("may run the following commands"))
        .any(|l| l.contains("SETENV:") && !l.contains("NOSETENV:"));
    if !unsafe_env.is_empty() || setenv_tagged {
        let mut details = unsafe_env;
        if setenv_tagged {
            details.push("a rule carries the SETENV tag".into());
        }
        return Ok(ProbeResult {
            passed: false,
            skipped: false,
            evidence: "sudo lets the user choose the environment of a command it runs as root \
                       (sudo VAR=... COMMAND): LD_PRELOAD alone makes that root"
                .into(),
            details,
        });
    }
    if text.contains("a password is required") {
        return Ok(ProbeResult {
            passed: true,
            skipped: false,
            evidence: "sudo -n -l: a password is required, so no passwordless rule applies; \
                       rules that need a password are listed only to root"
                .into(),
            details: Vec::new(),
        });
    }
    let Some(commands) = listed(text) else {
        return Ok(ProbeResult {
            passed: true,
            skipped: false,
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
            skipped: false,
            evidence: format!("sudo lists only: {}", commands.join("; ")),
            details: Vec::new(),
        })
    } else {
        Ok(ProbeResult {
            details: Vec::new(),
            passed: false,
            skipped: false,
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
    fn defaults_that_let_the_user_choose_the_environment_fail() {
        let allowed = vec!["/usr/bin/systemctl restart jupyter-server".to_string()];
        let with = |defaults: &str| {
            format!(
                "Matching Defaults entries for ec2-user on vm:\n    {defaults}\n\nUser ec2-user may run the following commands on vm:\n    (ALL : ALL) !ALL\n    (root) NOPASSWD: NOSETENV: /usr/bin/systemctl restart jupyter-server\n"
            )
        };
        for bad in [
            "env_reset, setenv",
            "!env_reset",
            "env_reset, env_keep+=LD_PRELOAD",
            "env_keep+=\"LANG PYTHONPATH\"",
        ] {
            let r = judge(&with(bad), &allowed).expect("judged");
            assert!(!r.passed, "{bad}: {r:?}");
        }
        // nbwarden's own drop-in, read last, undoes them.
        for ok in [
            "env_reset, setenv, env_keep+=LD_PRELOAD, env_reset, !setenv, !env_keep",
            "env_reset, env_keep+=\"LANG LC_ALL\"",
        ] {
            let r = judge(&with(ok), &allowed).expect("judged");
            assert!(r.passed, "{ok}: {r:?}");
        }
        let tagged = STRIPPED.replace("NOPASSWD:", "NOPASSWD: SETENV:");
        assert!(!judge(&tagged, &allowed).expect("judged").passed);
        let specific = format!(
            "{}\nRunas and Command-specific defaults for ec2-user:\n    Defaults!/usr/bin/systemctl setenv\n",
            with("env_reset")
        );
        assert!(!judge(&specific, &allowed).expect("judged").passed);
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
