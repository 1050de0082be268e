//! The precedence check: which index does pip (and which channels does
//! conda) really use for the notebook user, in each environment, and which
//! files or variables override or add to nbwarden's settings.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::super::envs;
use super::{conda, pip};
use crate::engine::{Probe, ProbeResult};
use crate::host::Host;
use crate::policy::{OnOverride, PackagesPolicy};

pub struct Overrides {
    pub policy: PackagesPolicy,
    pub conda_root: PathBuf,
    pub env_search: Vec<PathBuf>,
    pub home: PathBuf,
}

/// Where a setting came from and what it says.
struct Finding {
    source: String,
    what: String,
}

/// Shell files that may export variables for the user's shells.
fn shell_sources(host: &Host, home: &Path) -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("/etc/environment")];
    if let Ok(Some(entries)) = host.list(Path::new("/etc/profile.d")) {
        files.extend(
            entries
                .into_iter()
                .filter(|(n, _)| n.ends_with(".sh"))
                .map(|(n, _)| Path::new("/etc/profile.d").join(n)),
        );
    }
    for f in [".bashrc", ".bash_profile", ".profile"] {
        files.push(home.join(f));
    }
    files
}

/// `NAME=` assignments (optionally after `export`) of any of `vars`.
fn assigned_vars(text: &str, vars: &[&str]) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
            let (name, value) = line.split_once('=')?;
            vars.contains(&name.trim())
                .then(|| format!("{}={}", name.trim(), value.trim()))
        })
        .collect()
}

impl Overrides {
    fn read(&self, host: &Host, path: &Path, findings: &mut Vec<Finding>) -> Option<String> {
        match host.read_text(path) {
            Ok(text) => text,
            Err(e) => {
                // Whatever nbwarden may not read, pip or conda still may.
                findings.push(Finding {
                    source: path.display().to_string(),
                    what: format!("not checked: {e:#}"),
                });
                None
            }
        }
    }
}

impl Probe for Overrides {
    fn describe(&self) -> String {
        "package index precedence".into()
    }

    fn check(&self, host: &Host) -> Result<ProbeResult> {
        let (envs, mut details) = envs::discover(host, &self.conda_root, &self.env_search);
        let mut findings = Vec::new();

        if let Some(p) = &self.policy.pip {
            let mut user_index = None;
            for rel in pip::USER_FILES {
                let path = self.home.join(rel);
                if let Some(text) = self.read(host, &path, &mut findings) {
                    match pip::index_settings(&text) {
                        Ok(settings) => {
                            for (section, key, value) in settings {
                                if section == "global" && key == "index-url" {
                                    user_index = Some((value.clone(), path.display().to_string()));
                                }
                                findings.push(Finding {
                                    source: path.display().to_string(),
                                    what: format!("[{section}] {key} = {value}"),
                                });
                            }
                        }
                        Err(e) => findings.push(Finding {
                            source: path.display().to_string(),
                            what: format!("unreadable INI ({e}); pip may still use it"),
                        }),
                    }
                }
            }
            for env in &envs {
                let path = env.join("pip.conf");
                let mut effective = user_index
                    .clone()
                    .unwrap_or_else(|| (p.index_url.redacted(), pip::GLOBAL_FILES[1].to_string()));
                if let Some(text) = self.read(host, &path, &mut findings) {
                    for (section, key, value) in pip::index_settings(&text).unwrap_or_default() {
                        if section == "global" && key == "index-url" {
                            effective = (value.clone(), path.display().to_string());
                        }
                        findings.push(Finding {
                            source: path.display().to_string(),
                            what: format!("[{section}] {key} = {value}"),
                        });
                    }
                }
                details.push(format!(
                    "pip in {}: index {} (from {})",
                    env.display(),
                    effective.0,
                    effective.1
                ));
            }
            for path in shell_sources(host, &self.home) {
                if let Ok(Some(text)) = host.read_text(&path) {
                    for v in assigned_vars(&text, &pip::INDEX_VARS) {
                        findings.push(Finding {
                            source: path.display().to_string(),
                            what: v,
                        });
                    }
                }
            }
        }

        if self.policy.conda.is_some() {
            let root = self.conda_root.as_path();
            let mut files: Vec<PathBuf> = conda::SYSTEM_OTHERS.iter().map(PathBuf::from).collect();
            for dir in [
                Path::new("/etc/conda/condarc.d").to_path_buf(),
                root.join("condarc.d"),
            ] {
                if let Ok(Some(entries)) = host.list(&dir) {
                    files.extend(entries.into_iter().map(|(n, _)| dir.join(n)));
                }
            }
            files.push(root.join("condarc"));
            files.extend(conda::USER_FILES.iter().map(|f| self.home.join(f)));
            for env in envs.iter().filter(|e| e.as_path() != root) {
                files.push(env.join(".condarc"));
                files.push(env.join("condarc"));
            }
            for path in files {
                let Some(text) = self.read(host, &path, &mut findings) else {
                    continue;
                };
                match conda::channel_settings(&text) {
                    Ok(settings) => findings.extend(settings.into_iter().map(|(k, v)| Finding {
                        source: path.display().to_string(),
                        what: format!("{k}: {v}"),
                    })),
                    Err(e) => findings.push(Finding {
                        source: path.display().to_string(),
                        what: format!("unreadable YAML ({e}); conda may still use it"),
                    }),
                }
            }
            for path in shell_sources(host, &self.home) {
                if let Ok(Some(text)) = host.read_text(&path) {
                    for v in assigned_vars(&text, &conda::CHANNEL_VARS) {
                        findings.push(Finding {
                            source: path.display().to_string(),
                            what: v,
                        });
                    }
                }
            }
        }

        let warn = self.policy.on_user_override == OnOverride::Warn;
        let prefix = if warn {
            "warning: override"
        } else {
            "override"
        };
        let mut lines: Vec<String> = findings
            .iter()
            .map(|f| format!("{prefix} in {}: {}", f.source, f.what))
            .collect();
        lines.append(&mut details);
        let passed = findings.is_empty() || warn;
        let evidence = if findings.is_empty() {
            format!(
                "only nbwarden's settings choose the index ({} environment(s))",
                envs.len()
            )
        } else {
            format!(
                "{} setting(s) outside nbwarden's files choose or add an index",
                findings.len()
            )
        };
        Ok(ProbeResult {
            passed,
            evidence,
            details: lines,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_exported_and_plain_assignments() {
        let text = "export PIP_INDEX_URL=https://pypi.org/simple\n# PIP_NO_INDEX=1\nPIP_FIND_LINKS = /tmp\nOTHER=1\n";
        assert_eq!(
            assigned_vars(text, &pip::INDEX_VARS),
            [
                "PIP_INDEX_URL=https://pypi.org/simple",
                "PIP_FIND_LINKS=/tmp"
            ]
        );
    }
}
