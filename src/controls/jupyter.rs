//! `[jupyter]`: Jupyter Server's configuration (JupyterLab 3 and 4 both
//! run on jupyter_server). The settings are merged into
//! `DIR/jupyter_server_config.json`, keeping every other key: Jupyter reads
//! only extension switches from `jupyter_server_config.d`, so a fragment
//! there would be ignored (tests/tailoring.rs shows it). Jupyter reads the
//! file when it starts; when it changed while Jupyter runs, the server is
//! restarted with `systemctl --no-block try-restart`, which never blocks
//! and never starts a server that was not running.

use crate::engine::ControlInfo;
use std::path::Path;

use anyhow::{Result, bail};
use serde_json::{Map, Value, json};

use crate::engine::{
    Action, ActionOutcome, ActionState, Context, Control, DesiredState, ManagedFile,
};
use crate::host::{Host, Ownership};
use crate::policy::JupyterPolicy;

pub static INFO: ControlInfo = ControlInfo {
    id: "jupyter",
    title: "Jupyter Server runs with the platform's settings",
    section: "jupyter",
};

const CONFIG_FILE: &str = "jupyter_server_config.json";
/// The configuration Jupyter was last restarted with, by sha256.
const RECEIPT: &str = "/var/lib/nbwarden/jupyter-config.sha256";
/// The same for the environment Jupyter's unit reads.
pub(super) const ENV_RECEIPT: &str = "/var/lib/nbwarden/jupyter-environment.sha256";
const SYSTEMCTL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

pub struct Jupyter {
    policy: JupyterPolicy,
}

impl Jupyter {
    pub fn new(policy: JupyterPolicy) -> Self {
        Jupyter { policy }
    }
}

/// `existing` (Jupyter's JSON configuration, or nothing) with the settings
/// the policy names set, and only those.
pub fn merged(existing: Option<&str>, path: &Path, p: &JupyterPolicy) -> Result<String> {
    let mut root = match existing.map(str::trim).filter(|t| !t.is_empty()) {
        None => Map::new(),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            Ok(_) => bail!("{} is not a JSON object; fix or remove it", path.display()),
            Err(e) => bail!(
                "{} is not valid JSON ({e}); fix or remove it",
                path.display()
            ),
        },
    };
    let mut set = |section: &str, key: &str, value: Value| -> Result<()> {
        let entry = root
            .entry(section.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(map) = entry else {
            bail!("{}: `{section}` is not a JSON object", path.display());
        };
        map.insert(key.to_string(), value);
        Ok(())
    };
    if let Some(on) = p.terminals {
        set("ServerApp", "terminals_enabled", json!(on))?;
    }
    if let Some(mb) = p.max_upload_mb {
        let bytes = u64::from(mb) * 1024 * 1024;
        set("ServerApp", "max_body_size", json!(bytes))?;
        set("ServerApp", "max_buffer_size", json!(bytes))?;
    }
    if let Some(origin) = &p.allow_origin {
        set("ServerApp", "allow_origin", json!(origin))?;
    }
    if let Some(after) = &p.cull_idle_timeout {
        let secs = after.duration().as_secs().max(1);
        set("MappingKernelManager", "cull_idle_timeout", json!(secs))?;
        // Jupyter checks every 300 s by default: too coarse for short limits.
        set(
            "MappingKernelManager",
            "cull_interval",
            json!(secs.div_ceil(2).clamp(1, 300)),
        )?;
    }
    if let Some(connected) = p.cull_connected {
        set("MappingKernelManager", "cull_connected", json!(connected))?;
    }
    let mut text = serde_json::to_string_pretty(&Value::Object(root))?;
    text.push('\n');
    Ok(text)
}

impl Control for Jupyter {
    fn info(&self) -> &'static ControlInfo {
        &INFO
    }
    fn desired(&self, ctx: &Context<'_>) -> Result<DesiredState> {
        let mut files = Vec::new();
        let mut all = String::new();
        for dir in &self.policy.config_dirs {
            let path = dir.join(CONFIG_FILE);
            let existing = ctx.host.read_text(&path)?;
            let content = merged(existing.as_deref(), &path, &self.policy)?;
            all.push_str(&content);
            files.push(ManagedFile::root_owned(path, content, 0o644));
        }
        Ok(DesiredState {
            files,
            actions: vec![Box::new(Restart {
                unit: self.policy.unit.clone(),
                sha256: crate::base::digest::sha256_hex(all.as_bytes()),
                receipt: RECEIPT,
                reload_units: false,
            })],
            ..DesiredState::default()
        })
    }
}

/// Restarts Jupyter's unit, if it runs, once per new configuration (by
/// sha256, kept in `receipt`); `reload_units` first makes systemd read a
/// changed drop-in.
pub(super) struct Restart {
    pub unit: String,
    pub sha256: String,
    pub receipt: &'static str,
    pub reload_units: bool,
}

impl Action for Restart {
    fn target(&self) -> String {
        format!("unit {}", self.unit)
    }

    fn state(&self, host: &Host) -> Result<ActionState> {
        let seen = host.read_text(Path::new(self.receipt))?.unwrap_or_default();
        Ok(if seen.trim() == self.sha256 {
            ActionState::Done("running with this configuration, or not started since".into())
        } else {
            ActionState::Needed(
                "try-restart so a running server reads the new configuration".into(),
            )
        })
    }

    fn perform(&self, ctx: &Context<'_>) -> Result<ActionOutcome> {
        let host = ctx.host;
        let what = if host.systemd_runs()? {
            if self.reload_units {
                host.systemctl(&["daemon-reload"], SYSTEMCTL_TIMEOUT)?
                    .checked("`systemctl daemon-reload`")?;
            }
            host.systemctl(
                &["--no-block", "try-restart", &self.unit],
                SYSTEMCTL_TIMEOUT,
            )?
            .checked(&format!("`systemctl --no-block try-restart {}`", self.unit))?;
            format!("{} restarted if it was running (not waited for)", self.unit)
        } else {
            "systemd does not run here: Jupyter reads the configuration when it starts".into()
        };
        host.write(
            Path::new(self.receipt),
            format!("{}\n", self.sha256).as_bytes(),
            Ownership::root(0o644),
            None,
        )?;
        Ok(ActionOutcome::Done(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_settings_change_and_other_keys_stay() {
        let policy = crate::policy::parse(
            "version = 1\n[jupyter]\nterminals = false\ncull_idle_timeout = \"90s\"\n",
            "test",
        )
        .unwrap();
        let p = policy.jupyter.unwrap();
        let path = Path::new("/etc/jupyter/jupyter_server_config.json");
        let existing =
            r#"{"ServerApp": {"port": 8443, "terminals_enabled": true}, "Other": {"x": 1}}"#;
        let v: Value = serde_json::from_str(&merged(Some(existing), path, &p).unwrap()).unwrap();
        assert_eq!(
            v,
            json!({
                "ServerApp": { "port": 8443, "terminals_enabled": false },
                "MappingKernelManager": { "cull_idle_timeout": 90, "cull_interval": 45 },
                "Other": { "x": 1 }
            })
        );
        let err = merged(Some("{ not json"), path, &p)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("jupyter_server_config.json is not valid JSON"),
            "{err}"
        );
    }
}
