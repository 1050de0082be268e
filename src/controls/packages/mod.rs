//! `[packages]`: pip and conda find packages only on the private mirror.
//! System-wide files the notebook user cannot edit carry the settings; a
//! precedence check names every user- or environment-level file or
//! variable that overrides them; a live probe downloads a package as the
//! user through the mirror.

mod barrier;
mod codeartifact;
pub(super) mod conda;
mod mirror;
pub mod overrides;
mod pdm;
pub(super) mod pip;
mod resolved;
pub mod sightings;
mod toml_text;
pub(super) mod uv;

use crate::engine::ControlInfo;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::python_envs;
use crate::engine::{Context, Control, DesiredState, FileState, ManagedFile, Probe};
use crate::host::{EntryKind, Ownership};
use crate::policy::{PackagesPolicy, PipPolicy, ProbeMode};

pub static INFO: ControlInfo = ControlInfo {
    id: "packages",
    title: "pip and conda use the private mirror",
    section: "packages",
};

pub struct Packages {
    policy: PackagesPolicy,
    user: String,
    /// Make a transient refresh timer (no `[service]` installs the shipped one).
    refresh_timer: bool,
}

impl Packages {
    pub fn new(policy: PackagesPolicy, user: &str, refresh_timer: bool) -> Self {
        Packages {
            policy,
            user: user.to_string(),
            refresh_timer,
        }
    }
}

fn config_file(path: impl Into<PathBuf>, content: String, sensitive: bool) -> ManagedFile {
    ManagedFile {
        path: path.into(),
        state: FileState::Present {
            content: content.into_bytes(),
            own: Ownership::root(0o644),
        },
        sensitive,
        check: None,
    }
}

impl Control for Packages {
    fn info(&self) -> &'static ControlInfo {
        &INFO
    }

    fn preflight(&self, ctx: &Context<'_>) -> Result<(), String> {
        if let Some(ca) = &self.policy.codeartifact {
            if self.policy.pip.is_none() {
                return Err(
                    "[packages.codeartifact] needs [packages.pip] (its index_url is \
                            replaced by the repository's)"
                        .into(),
                );
            }
            codeartifact::check(ca)?;
        }
        super::require_user(ctx, &self.user)
    }

    // Long: the declaration of every client's file (pip, conda, uv, pipx, poetry, pdm), one
    // block each.
    fn desired(&self, ctx: &Context<'_>) -> Result<DesiredState> {
        let host = ctx.host;
        let mut state = DesiredState::default();
        let accounts = host.accounts()?;
        let user = accounts
            .user(&self.user)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("user {} vanished from /etc/passwd", self.user))?;
        let pip = match (&self.policy.pip, &self.policy.codeartifact) {
            (Some(p), Some(ca)) => {
                let (with_token, cache, note) = codeartifact::pip_with_token(ctx, p, ca)?;
                state.notes.push(note);
                state.files.push(cache);
                if self.refresh_timer {
                    state.actions.push(Box::new(codeartifact::RefreshTimer));
                }
                Some(with_token)
            }
            (p, _) => p.clone(),
        };
        if let Some(p) = &pip {
            for path in pip::GLOBAL_FILES {
                let current = host.read_text(Path::new(path))?;
                let content = pip::render(current.as_deref(), path, p)?;
                state
                    .files
                    .push(config_file(path, content, p.credentials_in_urls));
            }
            // uv and pdm read neither pip.conf nor PIP_*: their own system
            // files.
            type Render = fn(Option<&str>, &str, &PipPolicy) -> Result<String>;
            let others: [(&str, Render); 2] = [
                (uv::SYSTEM_FILE, uv::render),
                (pdm::SYSTEM_FILE, pdm::render),
            ];
            for (path, render) in others {
                let current = host.read_text(Path::new(path))?;
                let content = render(current.as_deref(), path, p)?;
                state
                    .files
                    .push(config_file(path, content, p.credentials_in_urls));
            }
        }
        let conda_root = ctx.policy.conda_root.as_path();
        if let Some(c) = &self.policy.conda {
            let mut targets = vec![PathBuf::from(conda::SYSTEM_FILE)];
            // The base install is the user's: written only through the
            // safe-path rules, and the system file above is what counts.
            if host.kind(conda_root)? == Some(EntryKind::Dir) {
                targets.push(conda_root.join(".condarc"));
            }
            for path in targets {
                let current = host.read_text(&path)?;
                let content = conda::render(current.as_deref(), &path.display().to_string(), c)?;
                state.files.push(config_file(path, content, false));
            }
        }
        let mut policy = self.policy.clone();
        policy.pip = pip.clone();
        state.probes.push(Box::new(overrides::Overrides::new(
            policy, ctx.policy, &user.home,
        )));
        let proxies = barrier::Proxies::default();
        state.probes.push(Box::new(barrier::Barrier {
            targets: self.policy.public_indexes.clone(),
            enforce: self.policy.enforce,
            user: user.clone(),
            known_proxies: self
                .policy
                .proxies
                .iter()
                .map(|p| p.as_str().to_string())
                .collect(),
            proxies: proxies.clone(),
        }));
        if let (Some(p), false) = (&pip, self.policy.probe == ProbeMode::Off) {
            state.probes.push(Box::new(resolved::Resolved {
                pip: p.clone(),
                conda: self.policy.conda.clone(),
                user: user.clone(),
                conda_root: conda_root.to_path_buf(),
                env_search: python_envs::search_paths(ctx.policy),
                on_override: self.policy.on_user_override,
                proxies,
            }));
            let envs = python_envs::discover(host, conda_root, &[]).envs;
            let preferred = ["python3", "JupyterSystemEnv"]
                .iter()
                .map(|n| conda_root.join("envs").join(n))
                .chain(envs.iter().cloned())
                .find(|e| envs.contains(e));
            let probe: Box<dyn Probe> = Box::new(mirror::Mirror {
                pip: p.clone(),
                mode: self.policy.probe,
                user,
                env: preferred,
            });
            state.probes.push(probe);
        }
        Ok(state)
    }
}

/// The override search `[packages]` runs, for the monitor's watch between
/// checks; `None` without `[packages]`. With CodeArtifact the repository's
/// index (in `region`) is the mirror, as the control's own check has it.
pub fn override_search(
    host: &crate::host::Host,
    policy: &crate::policy::Policy,
    region: Option<&str>,
) -> Result<Option<overrides::Overrides>> {
    let Some(packages) = &policy.packages else {
        return Ok(None);
    };
    let accounts = host.accounts()?;
    let Some(user) = accounts.user(policy.user.as_str()) else {
        return Ok(None);
    };
    let mut packages = packages.clone();
    if let (Some(pip), Some(ca), Some(region)) = (&mut packages.pip, &packages.codeartifact, region)
        && let Ok(url) = codeartifact::repository_url(ca, region)
        && let Ok(url) = crate::policy::MirrorUrl::try_from(url.to_string())
    {
        pip.index_url = url;
    }
    Ok(Some(overrides::Overrides::new(
        packages, policy, &user.home,
    )))
}

/// `[packages.pip]` with `index_url` and more keys, as a policy file gives it.
#[cfg(test)]
fn pip_policy(index_url: &str, more: &str) -> crate::policy::PipPolicy {
    let text = format!("version = 1\n[packages.pip]\nindex_url = \"{index_url}\"\n{more}");
    let policy = crate::policy::parse(&text, "p.toml").expect("valid");
    policy.packages.and_then(|p| p.pip).expect("pip")
}
