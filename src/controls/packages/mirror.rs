//! The live proof: the mirror answers, and pip, run as the notebook user
//! with nothing but its configuration, downloads the probe package from it.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::base::deadline::{DeadlineReached, deadline_passed, within_deadline};
use crate::engine::{Probe, ProbeResult};
use crate::host::{Host, User};
use crate::policy::{PipPolicy, ProbeMode};

const INDEX_TIMEOUT: Duration = Duration::from_secs(5);
const PIP_TIMEOUT: Duration = Duration::from_secs(90);

pub struct Mirror {
    pub pip: PipPolicy,
    pub mode: ProbeMode,
    pub user: User,
    /// The environment whose pip runs the download.
    pub env: Option<PathBuf>,
}

fn index_answers(host: &Host, p: &PipPolicy) -> Result<u16> {
    let timeout = within_deadline(INDEX_TIMEOUT, "the mirror's index request")?;
    let mut builder = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout);
    if let Some(cert) = &p.cert {
        // The bundle pip is told to use: the root's file.
        let pem = host
            .read(cert.as_path())
            .with_context(|| format!("cannot read the CA bundle {}", cert.as_path().display()))?
            .with_context(|| format!("the CA bundle {} does not exist", cert.as_path().display()))?
            .content;
        for c in reqwest::Certificate::from_pem_bundle(&pem)? {
            builder = builder.add_root_certificate(c);
        }
    }
    let client = builder.build()?;
    match client.get(p.index_url.as_str()).send() {
        Ok(response) => Ok(response.status().as_u16()),
        Err(e) if timeout < INDEX_TIMEOUT && deadline_passed() => Err(anyhow::Error::new(
            DeadlineReached("while the mirror's index was asked".into()),
        )
        .context(e)),
        Err(e) => Err(e.into()),
    }
}

impl Probe for Mirror {
    fn describe(&self) -> String {
        format!("mirror {}", self.pip.index_url.redacted())
    }

    fn runs_user_code(&self) -> bool {
        true
    }

    // Long: the mirror probe's steps (index, pip's own resolution, the deadline) share one
    // piece of evidence.
    fn check(&self, host: &Host) -> Result<ProbeResult> {
        let required = self.mode == ProbeMode::Required;
        match index_answers(host, &self.pip) {
            Ok(code) if (200..400).contains(&code) => {}
            // The deadline, not the mirror, ended the request: unproven.
            Err(e) if DeadlineReached::caused(&e) => return Err(e),
            outcome => {
                let why = match outcome {
                    Ok(code) => format!("answered HTTP {code}"),
                    Err(e) => format!("did not answer within {INDEX_TIMEOUT:?}: {e:#}"),
                };
                if !required {
                    return Ok(ProbeResult::skipped(format!(
                        "the index {why}; live checks not run (probe = \"auto\")"
                    )));
                }
                return Ok(ProbeResult {
                    passed: false,
                    skipped: false,
                    evidence: format!("the index {why}"),
                    details: Vec::new(),
                });
            }
        }
        let (Some(package), Some(env)) = (&self.pip.probe_package, &self.env) else {
            return Ok(ProbeResult {
                passed: true,
                skipped: false,
                evidence: "the index answers (set probe_package for a download as the user)".into(),
                details: Vec::new(),
            });
        };
        let pip = env.join("bin/pip");
        let dest = format!("/tmp/nbwarden-pip-probe-{}", std::process::id());
        let out = host.run_as(
            &self.user,
            &pip.to_string_lossy(),
            &[
                "download",
                "--no-deps",
                "--no-cache-dir",
                "--disable-pip-version-check",
                "-v",
                "-d",
                &dest,
                package,
            ],
            PIP_TIMEOUT,
        )?;
        // The download is the user's (their pip wrote it, and a tree of
        // any shape can be made there): the user removes it, confined and
        // bounded like the download, never root.
        match host.run_as(&self.user, "rm", &["-rf", "--", &dest], PIP_TIMEOUT) {
            Ok(rm) if rm.success() => {}
            Ok(rm) => tracing::warn!(
                "cannot remove the probe's download {dest}: {}",
                rm.stderr.trim()
            ),
            Err(e) => tracing::warn!("cannot remove the probe's download {dest}: {e:#}"),
        }
        let looked_in = out
            .stdout
            .lines()
            .chain(out.stderr.lines())
            .find_map(|l| {
                l.trim()
                    .strip_prefix("Looking in indexes: ")
                    .map(str::to_string)
            })
            .unwrap_or_default();
        // Every index pip named must be the mirror, compared whole
        // (scheme, host, port, path; pip shows credentials as ****).
        let wanted: Vec<Option<String>> = std::iter::once(self.pip.index_url.as_str())
            .chain(self.pip.extra_index_urls.iter().map(|u| u.as_str()))
            .map(comparable)
            .collect();
        let named: Vec<&str> = looked_in.split(", ").filter(|u| !u.is_empty()).collect();
        let via_mirror = named.first().map(|u| comparable(u)) == Some(wanted[0].clone())
            && named.iter().all(|u| {
                let c = comparable(u);
                c.is_some() && wanted.contains(&c)
            });
        let passed = out.success() && via_mirror;
        let evidence = if passed {
            format!(
                "`pip download {package}` as {} with {} reported {} (the environment's own \
                 code could alter this report; egress is the barrier)",
                self.user.name,
                pip.display(),
                looked_in
            )
        } else {
            let tail: Vec<&str> = out.stderr.lines().rev().take(3).collect();
            format!(
                "`pip download {package}` as {} with {} failed or used another index \
                 (looked in: {}): {}",
                self.user.name,
                pip.display(),
                if looked_in.is_empty() {
                    "the default index"
                } else {
                    &looked_in
                },
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            )
        };
        Ok(ProbeResult {
            passed,
            skipped: false,
            evidence,
            details: Vec::new(),
        })
    }
}

/// A URL without credentials and trailing slash, for comparing indexes.
pub(super) fn comparable(url: &str) -> Option<String> {
    let mut u = url::Url::parse(url.trim()).ok()?;
    let _ = u.set_username("");
    let _ = u.set_password(None);
    Some(u.as_str().trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::comparable;

    #[test]
    fn indexes_are_compared_whole() {
        assert_eq!(
            comparable("https://u:****@m.example/simple/"),
            comparable("https://m.example/simple")
        );
        assert_ne!(
            comparable("https://m.example/other/simple"),
            comparable("https://m.example/simple")
        );
        assert_ne!(
            comparable("http://m.example/simple"),
            comparable("https://m.example/simple")
        );
    }
}
