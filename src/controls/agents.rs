//! `[[monitoring.packages]]`: agents (security, logs, APM) installed on
//! every start from a download pinned by sha256, with the distribution's
//! own tool. A receipt per agent makes a second run a no-op; an install
//! that would overrun the run's deadline is handed to a transient systemd
//! unit that runs `nbwarden apply --only agents` without the start's limit.

use crate::engine::ControlInfo;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result, bail};
use serde::{Deserialize, Serialize};

use crate::engine::{Action, ActionOutcome, ActionState, Context, Control, DesiredState};
use crate::host::{EntryKind, Host, Ownership};
use crate::policy::{AgentPackage, PackageKind, Severity};

pub static INFO: ControlInfo = ControlInfo {
    id: "agents",
    title: "monitoring agents installed from pinned downloads",
    section: "monitoring.packages",
};

const RECEIPTS: &str = "/var/lib/nbwarden/agents";
const DOWNLOADS: &str = "/var/lib/nbwarden/downloads";
/// The transient unit a deferred install runs in.
pub const HANDOFF_UNIT: &str = "nbwarden-agents";
/// How long the handed-off run may take.
const HANDOFF_DEADLINE: &str = "20m";
const QUERY_TIMEOUT: Duration = Duration::from_secs(20);

pub struct Agents {
    packages: Vec<AgentPackage>,
}

impl Agents {
    pub fn new(packages: Vec<AgentPackage>) -> Self {
        Agents { packages }
    }
}

impl Control for Agents {
    fn info(&self) -> &'static ControlInfo {
        &INFO
    }
    /// A missing agent weakens monitoring, not the instance's isolation.
    fn severity(&self) -> Severity {
        Severity::Warn
    }
    fn desired(&self, _ctx: &Context<'_>) -> Result<DesiredState> {
        Ok(DesiredState {
            actions: self
                .packages
                .iter()
                .map(|p| Box::new(Install(p.clone())) as Box<dyn Action>)
                .collect(),
            ..DesiredState::default()
        })
    }
}

/// What nbwarden installed, kept on the system drive (a refresh wipes it
/// together with the package).
#[derive(Debug, Serialize, Deserialize)]
struct Receipt {
    sha256: String,
    source: String,
    installed_at: String,
}

/// Written when an install is handed to the unit: not drift until it ends.
#[derive(Debug, Serialize, Deserialize)]
struct HandOff {
    sha256: String,
    unit: String,
    at: String,
}

struct Install(AgentPackage);

impl Install {
    fn receipt_path(&self) -> PathBuf {
        Path::new(RECEIPTS).join(format!("{}.json", self.0.name.as_str()))
    }
    fn handoff_path(&self) -> PathBuf {
        Path::new(RECEIPTS).join(format!("{}.handed-off.json", self.0.name.as_str()))
    }
    fn download_path(&self) -> PathBuf {
        Path::new(DOWNLOADS).join(format!(
            "{}.{}",
            self.0.name.as_str(),
            self.0.kind.extension()
        ))
    }

    fn read_json<T: serde::de::DeserializeOwned>(host: &Host, path: &Path) -> Result<Option<T>> {
        match host.read(path)? {
            None => Ok(None),
            // A damaged receipt means "install again", not an error.
            Some(f) => Ok(serde_json::from_slice(&f.content).ok()),
        }
    }

    /// Whether the distribution still has the package (an admin may have
    /// removed it since the receipt was written).
    fn is_installed(&self, host: &Host) -> Result<bool> {
        let p = &self.0;
        match p.kind {
            PackageKind::Deb => {
                let out = host.run_in_root(
                    "dpkg-query",
                    &["-W", "-f=${db:Status-Status}", p.package.as_str()],
                    QUERY_TIMEOUT,
                )?;
                Ok(out.success() && out.stdout.trim() == "installed")
            }
            PackageKind::Rpm => {
                let out = host.run_in_root("rpm", &["-q", p.package.as_str()], QUERY_TIMEOUT)?;
                Ok(out.success())
            }
            PackageKind::TarGz => {
                let dir = p.install_dir.as_ref().map(|d| d.as_path());
                Ok(match dir {
                    Some(d) => host.kind(d)? == Some(EntryKind::Dir),
                    None => false,
                })
            }
        }
    }

    fn install(&self, host: &Host, file: &Path, timeout: Duration) -> Result<String> {
        let p = &self.0;
        let file_arg = file.to_string_lossy();
        let (program, args): (&str, Vec<&str>) = match p.kind {
            PackageKind::Deb => (
                "env",
                vec![
                    "DEBIAN_FRONTEND=noninteractive",
                    "dpkg",
                    "--force-confold",
                    "-i",
                    &file_arg,
                ],
            ),
            PackageKind::Rpm => match host.find_program(&["/usr/bin/dnf", "/usr/bin/yum"]) {
                // dnf and yum resolve the package's dependencies from the
                // instance's repositories; rpm alone cannot.
                Some(tool) if tool.ends_with("dnf") => ("dnf", vec!["install", "-y", &file_arg]),
                Some(_) => ("yum", vec!["install", "-y", &file_arg]),
                None => ("rpm", vec!["-U", "--replacepkgs", &file_arg]),
            },
            PackageKind::TarGz => return self.unpack(host, file, timeout),
        };
        host.run_in_root(program, &args, timeout)?
            .checked(&format!("`{program} {}`", args.join(" ")))?;
        Ok(format!("installed with {program}"))
    }

    /// Unpacks beside the install directory, then swaps it in, so a broken
    /// archive leaves the previous version in place.
    fn unpack(&self, host: &Host, file: &Path, timeout: Duration) -> Result<String> {
        let dir = self
            .0
            .install_dir
            .as_ref()
            .context("a tar.gz needs install_dir")?
            .as_path();
        host.create_trusted_parents(dir)
            .context("refusing to install there")?;
        let staging = PathBuf::from(format!("{}.nbwarden-new", dir.display()));
        let previous = PathBuf::from(format!("{}.nbwarden-old", dir.display()));
        for leftover in [&staging, &previous] {
            host.remove_tree(leftover)?;
        }
        host.make_dir(&staging, 0o755)?;
        let staging_arg = staging.to_string_lossy();
        let file_arg = file.to_string_lossy();
        // GNU tar drops leading `/` and refuses `..` members by default.
        let out = host.run_in_root(
            "tar",
            &[
                "-xzf",
                &file_arg,
                "-C",
                &staging_arg,
                "--no-same-owner",
                "--no-overwrite-dir",
            ],
            timeout,
        )?;
        if !out.success() {
            host.remove_tree(&staging)?;
            bail!("cannot unpack {}: {}", file.display(), out.stderr.trim());
        }
        if host.kind(dir)?.is_some() {
            host.rename(dir, &previous)
                .with_context(|| format!("cannot move the old {} aside", dir.display()))?;
        }
        host.rename(&staging, dir)
            .with_context(|| format!("cannot move the new {} in place", dir.display()))?;
        host.remove_tree(&previous)?;
        Ok(format!("unpacked into {}", dir.display()))
    }

    fn enable_service(&self, host: &Host, timeout: Duration) -> Result<Option<String>> {
        let Some(unit) = &self.0.service else {
            return Ok(None);
        };
        host.systemctl(&["enable", unit.as_str()], timeout)?
            .checked(&format!("`systemctl enable {}`", unit.as_str()))?;
        if !host.systemd_runs()? {
            return Ok(Some(format!(
                "{} enabled (systemd not running here: not started)",
                unit.as_str()
            )));
        }
        // Never wait for an agent's start: it must not hold up Jupyter.
        host.systemctl(&["--no-block", "start", unit.as_str()], timeout)?
            .checked(&format!("`systemctl --no-block start {}`", unit.as_str()))?;
        Ok(Some(format!("{} enabled and started", unit.as_str())))
    }

    fn hand_off(&self, host: &Host, left: Duration) -> Result<ActionOutcome> {
        let needs = self.0.install_timeout;
        if !host.systemd_runs()? {
            bail!(
                "installing {} may take up to {} but only {} of the run's deadline is left, \
                 and no systemd runs here to finish it later: raise --deadline or lower \
                 install_timeout",
                self.0.name.as_str(),
                humantime::format_duration(needs),
                humantime::format_duration(Duration::from_secs(left.as_secs())),
            );
        }
        let deadline = format!("--deadline={HANDOFF_DEADLINE}");
        host.run_nbwarden_in_unit(
            HANDOFF_UNIT,
            &["apply", "--only", INFO.id, &deadline, "-q"],
            None,
        )?;
        let mark = HandOff {
            sha256: self.0.sha256.as_str().to_string(),
            unit: format!("{HANDOFF_UNIT}.service"),
            at: now(),
        };
        write_json(host, &self.handoff_path(), &mark)?;
        Ok(ActionOutcome::HandedOff(format!(
            "{} needs up to {}, {}s left: {HANDOFF_UNIT}.service installs it",
            self.0.name.as_str(),
            humantime::format_duration(needs),
            left.as_secs()
        )))
    }
}

impl Action for Install {
    fn target(&self) -> String {
        format!("package {}", self.0.name.as_str())
    }

    fn state(&self, host: &Host) -> Result<ActionState> {
        let want = self.0.sha256.as_str();
        let receipt: Option<Receipt> = Self::read_json(host, &self.receipt_path())?;
        if let Some(r) = &receipt
            && r.sha256 == want
        {
            if self.is_installed(host)? {
                return Ok(ActionState::Done(format!(
                    "sha256 {} installed at {}",
                    short(want),
                    r.installed_at
                )));
            }
            return Ok(ActionState::Needed(
                "installed by nbwarden, since removed".into(),
            ));
        }
        let handed: Option<HandOff> = Self::read_json(host, &self.handoff_path())?;
        if let Some(h) = handed.filter(|h| h.sha256 == want) {
            return Ok(ActionState::HandedOff(format!(
                "handed to {} at {}",
                h.unit, h.at
            )));
        }
        Ok(ActionState::Needed(match receipt {
            Some(r) => format!(
                "install sha256 {} over {} from {}",
                short(want),
                short(&r.sha256),
                self.0.source
            ),
            None => format!("install sha256 {} from {}", short(want), self.0.source),
        }))
    }

    fn perform(&self, ctx: &Context<'_>) -> Result<ActionOutcome> {
        let host = ctx.host;
        let left = ctx.deadline.saturating_duration_since(Instant::now());
        if left < self.0.install_timeout {
            return self.hand_off(host, left);
        }
        let budget_end = Instant::now() + self.0.install_timeout;
        let budget = || budget_end.saturating_duration_since(Instant::now());
        let file = self.download_path();
        let size = super::download::fetch_pinned(
            host,
            ctx.aws,
            &self.0.source,
            self.0.sha256.as_str(),
            self.0.max_bytes,
            budget(),
            &file,
        )?;
        let result = (|| {
            let mut done = vec![
                format!("{size} bytes, sha256 {}", short(self.0.sha256.as_str())),
                self.install(host, &file, budget())?,
            ];
            done.extend(self.enable_service(host, budget())?);
            Ok::<_, anyhow::Error>(done)
        })();
        // The download is only needed until installed (or refused).
        host.remove(&file)?;
        let done = result?;
        let receipt = Receipt {
            sha256: self.0.sha256.as_str().to_string(),
            source: self.0.source.to_string(),
            installed_at: now(),
        };
        write_json(host, &self.receipt_path(), &receipt)?;
        host.remove(&self.handoff_path())?;
        Ok(ActionOutcome::Done(done.join("; ")))
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

fn write_json<T: Serialize>(host: &Host, path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_vec_pretty(value)?;
    text.push(b'\n');
    host.write(path, &text, Ownership::root(0o644), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tight_deadline_without_systemd_is_a_clear_error_not_a_half_install() {
        let root = tempfile::tempdir().unwrap();
        let host = Host::open(root.path()).unwrap();
        let policy = crate::policy::parse(
            r#"version = 1
[[monitoring.packages]]
name = "agent"
source = "s3://b/agent.deb"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
kind = "deb"
install_timeout = "10m"
"#,
            "test",
        )
        .unwrap();
        let aws = crate::aws::Aws::new(Instant::now() + Duration::from_secs(60));
        let ctx = Context {
            host: &host,
            policy: &policy,
            policy_sha256: "",
            deadline: Instant::now() + Duration::from_secs(60),
            aws: &aws,
            facts: &crate::facts::Facts::given(None, None, None),
        };
        let pkg = policy.monitoring.as_ref().unwrap().packages[0].clone();
        let err = Install(pkg).perform(&ctx).unwrap_err().to_string();
        assert!(err.contains("only 59s") || err.contains("only 1m"), "{err}");
        assert!(err.contains("raise --deadline"), "{err}");
        assert!(!aws.is_connected(), "nothing was downloaded");
        assert_eq!(host.kind(Path::new(RECEIPTS)).unwrap(), None);
    }
}
