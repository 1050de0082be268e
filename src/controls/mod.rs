//! Every control nbwarden knows, in the order they run. A control whose
//! policy section is absent is off and reported as `skip`.

mod agents;
mod block;
pub mod checks;
mod cloudwatch;
mod download;
mod environment;
mod git;
mod jupyter;
pub mod packages;
pub mod python_envs;
pub mod service;
pub mod sudo;
mod variables;

use crate::engine::{Control, ControlInfo};
use crate::policy::Policy;

pub struct Entry {
    pub info: &'static ControlInfo,
    build: fn(&Policy) -> Option<Box<dyn Control>>,
}

impl Entry {
    /// The control, when its section is in the policy.
    pub fn build(&self, policy: &Policy) -> Option<Box<dyn Control>> {
        (self.build)(policy)
    }
}

pub const REGISTRY: &[Entry] = &[
    Entry {
        info: &sudo::INFO,
        build: |p| {
            p.sudo
                .clone()
                .map(|s| Box::new(sudo::Sudo::new(s, p.user.as_str())) as Box<dyn Control>)
        },
    },
    Entry {
        info: &packages::INFO,
        build: |p| {
            p.packages.clone().map(|s| {
                // With [service] the shipped refresh timer is installed there.
                Box::new(packages::Packages::new(
                    s,
                    p.user.as_str(),
                    p.service.is_none(),
                )) as Box<dyn Control>
            })
        },
    },
    Entry {
        info: &variables::INFO,
        build: |p| {
            p.variables.clone().map(|v| {
                Box::new(variables::Variables::new(v, p.user.as_str())) as Box<dyn Control>
            })
        },
    },
    Entry {
        info: &git::INFO,
        build: |p| {
            p.git
                .clone()
                .map(|g| Box::new(git::Git::new(g)) as Box<dyn Control>)
        },
    },
    Entry {
        info: &environment::INFO,
        build: |p| {
            p.environment
                .clone()
                .map(|e| Box::new(environment::Environment::new(e)) as Box<dyn Control>)
        },
    },
    Entry {
        info: &jupyter::INFO,
        build: |p| {
            p.jupyter
                .clone()
                .map(|j| Box::new(jupyter::Jupyter::new(j)) as Box<dyn Control>)
        },
    },
    Entry {
        info: &agents::INFO,
        build: |p| {
            p.monitoring
                .as_ref()
                .filter(|m| !m.packages.is_empty())
                .map(|m| Box::new(agents::Agents::new(m.packages.clone())) as Box<dyn Control>)
        },
    },
    Entry {
        info: &cloudwatch::INFO,
        build: |p| {
            p.monitoring.as_ref().and_then(|m| {
                m.cloudwatch.clone().map(|c| {
                    Box::new(cloudwatch::CloudWatch::new(c, &m.namespace)) as Box<dyn Control>
                })
            })
        },
    },
    Entry {
        info: &checks::permissions::INFO,
        build: |p| {
            p.verify
                .permissions
                .clone()
                .map(|c| Box::new(checks::permissions::control(c)) as Box<dyn Control>)
        },
    },
    Entry {
        info: &checks::boot_exec::INFO,
        build: |p| {
            p.verify.boot_exec.clone().map(|c| {
                Box::new(checks::boot_exec::control(c, p.user.as_str().to_string()))
                    as Box<dyn Control>
            })
        },
    },
    Entry {
        info: &checks::egress::INFO,
        build: |p| {
            p.verify
                .egress
                .clone()
                .map(|c| Box::new(checks::egress::control(c)) as Box<dyn Control>)
        },
    },
    Entry {
        info: &checks::control_plane::INFO,
        build: |p| {
            p.verify
                .control_plane
                .clone()
                .map(|c| Box::new(checks::control_plane::control(c)) as Box<dyn Control>)
        },
    },
    Entry {
        info: &checks::rpm::INFO,
        build: |p| {
            p.verify
                .rpm
                .clone()
                .map(|c| Box::new(checks::rpm::control(c)) as Box<dyn Control>)
        },
    },
    // Last: the drift check and the monitor start once the rest is in place.
    Entry {
        info: &service::INFO,
        build: |p| {
            p.service
                .clone()
                .map(|s| Box::new(service::Service::new(s, p)) as Box<dyn Control>)
        },
    },
];

/// The policy's user must exist in the root for controls that act on it.
pub fn require_user(ctx: &crate::engine::Context<'_>, user: &str) -> Result<(), String> {
    let accounts = ctx.host.accounts().map_err(|e| format!("{e:#}"))?;
    if accounts.user(user).is_none() {
        return Err(format!(
            "user `{user}` does not exist in {}/etc/passwd; set `user` to the notebook user \
             (ec2-user on SageMaker)",
            ctx.host.root().display().to_string().trim_end_matches('/')
        ));
    }
    Ok(())
}

pub fn known_ids() -> Vec<&'static str> {
    REGISTRY.iter().map(|e| e.info.id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_control_is_named_once_and_builds_under_its_own_name() {
        let example = include_str!("../../config/policy.example.toml");
        let policy = crate::policy::parse(example, "policy.example.toml").expect("example");
        let mut ids = known_ids();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), REGISTRY.len(), "duplicate control ids");
        for entry in REGISTRY {
            if let Some(control) = entry.build(&policy) {
                assert!(
                    std::ptr::eq(control.info(), entry.info),
                    "{} builds a control named {}",
                    entry.info.id,
                    control.id()
                );
            }
        }
    }
}

/// Entry points for the fuzz targets in `fuzz/`: the readers of files an
/// image or a user can shape. Not an API.
#[doc(hidden)]
pub mod fuzz {
    use crate::policy::{CondaPolicy, PipPolicy};

    const POLICY: &str = "version = 1\n[packages.pip]\nindex_url = \"https://mirror.example/simple/\"\n\
        [packages.conda]\nchannels = [\"https://mirror.example/conda/main\"]\n";

    fn sections() -> (PipPolicy, CondaPolicy) {
        let policy = crate::policy::parse(POLICY, "fuzz").expect("the fuzz policy is valid");
        let packages = policy.packages.expect("[packages]");
        (
            packages.pip.expect("[packages.pip]"),
            packages.conda.expect("[packages.conda]"),
        )
    }

    /// Merges `existing` as a pip.conf; an error is fine, a panic is not.
    pub fn pip_conf(existing: &str) {
        let (pip, _) = sections();
        let _ = super::packages::pip::render(Some(existing), "/etc/pip.conf", &pip);
    }

    /// Merges `existing` as a .condarc; an error is fine, a panic is not.
    pub fn condarc(existing: &str) {
        let (_, conda) = sections();
        let _ = super::packages::conda::render(Some(existing), "/etc/conda/.condarc", &conda);
    }
}
