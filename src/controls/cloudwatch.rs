//! `[monitoring.cloudwatch]`: memory, disk, CPU and GPU metrics through the
//! CloudWatch agent SageMaker already runs. Our configuration is *appended*
//! (`amazon-cloudwatch-agent-ctl -a append-config`), never fetched over
//! the agent's own: that one ships SageMaker's logs, and replacing it
//! stops them.

use crate::engine::ControlInfo;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde_json::{Map, Value, json};

use crate::engine::{
    Action, ActionOutcome, ActionState, Context, Control, DesiredState, ManagedFile, Probe,
    ProbeResult,
};
use crate::host::{EntryKind, Host};
use crate::policy::{CloudWatchMetric, CloudWatchPolicy, Severity};

pub static INFO: ControlInfo = ControlInfo {
    id: "cloudwatch",
    title: "CloudWatch agent publishes the notebook's metrics",
    section: "monitoring.cloudwatch",
};

const CONFIG_NAME: &str = "nbwarden-metrics.json";
const CTL_TIMEOUT: Duration = Duration::from_secs(60);

pub struct CloudWatch {
    policy: CloudWatchPolicy,
    /// monitoring.namespace, used when the section names none.
    namespace: String,
}

impl CloudWatch {
    pub fn new(policy: CloudWatchPolicy, namespace: &str) -> Self {
        CloudWatch {
            policy,
            namespace: namespace.to_string(),
        }
    }
}

/// Paths of one agent installation, inside the root.
#[derive(Clone)]
struct Agent {
    ctl: PathBuf,
    ours: PathBuf,
    /// Where the agent keeps every loaded configuration.
    loaded_dir: PathBuf,
}

impl Agent {
    fn at(dir: &Path) -> Agent {
        Agent {
            ctl: dir.join("bin/amazon-cloudwatch-agent-ctl"),
            ours: dir.join("etc").join(CONFIG_NAME),
            loaded_dir: dir.join("etc/amazon-cloudwatch-agent.d"),
        }
    }
    /// `-c file:PATH` is loaded as `file_NAME` beside the others.
    fn loaded(&self) -> PathBuf {
        self.loaded_dir.join(format!("file_{CONFIG_NAME}"))
    }
}

/// The agent's JSON: one section per metric family, each tagged with the
/// notebook's name so dashboards and alarms can select one notebook.
pub fn agent_config(policy: &CloudWatchPolicy, namespace: &str, notebook: &str) -> String {
    let dims = json!({ "NotebookInstanceName": notebook });
    let mut collected = Map::new();
    for metric in &policy.metrics {
        let (key, mut section) = match metric {
            CloudWatchMetric::Cpu => (
                "cpu",
                json!({ "measurement": ["cpu_usage_active", "cpu_usage_iowait"], "totalcpu": true }),
            ),
            CloudWatchMetric::Mem => ("mem", json!({ "measurement": ["mem_used_percent"] })),
            CloudWatchMetric::Disk => (
                "disk",
                json!({
                    "measurement": ["used_percent", "inodes_free"],
                    "resources": policy.disks.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
                    "drop_device": true,
                }),
            ),
            CloudWatchMetric::Gpu => (
                "nvidia_gpu",
                json!({ "measurement": ["utilization_gpu", "memory_used", "memory_total", "temperature_gpu"] }),
            ),
        };
        section["append_dimensions"] = dims.clone();
        collected.insert(key.to_string(), section);
    }
    let config = json!({
        "agent": { "metrics_collection_interval": policy.interval_s },
        "metrics": {
            "namespace": namespace,
            "append_dimensions": { "InstanceId": "${aws:InstanceId}" },
            "metrics_collected": Value::Object(collected),
        }
    });
    let mut text = serde_json::to_string_pretty(&config).unwrap_or_default();
    text.push('\n');
    text
}

impl Control for CloudWatch {
    fn info(&self) -> &'static ControlInfo {
        &INFO
    }
    fn severity(&self) -> Severity {
        Severity::Warn
    }
    fn desired(&self, ctx: &Context<'_>) -> Result<DesiredState> {
        let notebook = ctx.facts.notebook()?;
        let namespace = self.policy.namespace.as_deref().unwrap_or(&self.namespace);
        let agent = Agent::at(self.policy.agent_dir.as_path());
        let config = agent_config(&self.policy, namespace, &notebook.name);
        Ok(DesiredState {
            files: vec![ManagedFile::root_owned(
                agent.ours.clone(),
                config.clone(),
                0o644,
            )],
            actions: vec![Box::new(AppendConfig {
                agent: agent.clone(),
                config,
            })],
            probes: if self.policy.require_sagemaker_config {
                vec![Box::new(OthersKept(agent))]
            } else {
                Vec::new()
            },
            ..DesiredState::default()
        })
    }
}

struct AppendConfig {
    agent: Agent,
    config: String,
}

impl Action for AppendConfig {
    fn target(&self) -> String {
        format!("cloudwatch agent {}", self.agent.loaded().display())
    }

    fn state(&self, host: &Host) -> Result<ActionState> {
        Ok(match host.read(&self.agent.loaded())? {
            Some(f) if f.content == self.config.as_bytes() => {
                ActionState::Done("the agent has loaded our metrics configuration".into())
            }
            Some(_) => ActionState::Needed(
                "the agent holds an older metrics configuration: append-config".into(),
            ),
            None => ActionState::Needed("append-config our metrics configuration".into()),
        })
    }

    fn perform(&self, ctx: &Context<'_>) -> Result<ActionOutcome> {
        let host = ctx.host;
        if host.kind(&self.agent.ctl)? != Some(EntryKind::File) {
            bail!(
                "the CloudWatch agent is not installed ({} is missing): install it with \
                 [[monitoring.packages]], or set agent_dir",
                self.agent.ctl.display()
            );
        }
        let timeout = ctx
            .deadline
            .saturating_duration_since(Instant::now())
            .min(CTL_TIMEOUT);
        let ctl = self.agent.ctl.to_string_lossy();
        let file = format!("file:{}", self.agent.ours.display());
        // -s restarts the agent with the merged configuration.
        let args = [
            "-a",
            "append-config",
            "-m",
            "ec2",
            "-c",
            file.as_str(),
            "-s",
        ];
        host.run_in_root(&ctl, &args, timeout)?
            .checked(&format!("`{ctl} {}`", args.join(" ")))?;
        Ok(ActionOutcome::Done(
            "appended with amazon-cloudwatch-agent-ctl -a append-config".into(),
        ))
    }
}

/// SageMaker's own agent configuration (its log shipping) must still be
/// loaded beside ours.
struct OthersKept(Agent);

impl Probe for OthersKept {
    fn describe(&self) -> String {
        "SageMaker's CloudWatch agent configuration kept".into()
    }
    fn check(&self, host: &Host) -> Result<ProbeResult> {
        let ours = format!("file_{CONFIG_NAME}");
        let others: Vec<String> = host
            .list(&self.0.loaded_dir)?
            .unwrap_or_default()
            .into_iter()
            .filter(|(name, kind)| *kind == EntryKind::File && *name != ours)
            .map(|(name, _)| name.to_string())
            .collect();
        Ok(ProbeResult {
            passed: !others.is_empty(),
            skipped: false,
            evidence: if others.is_empty() {
                format!(
                    "no configuration other than ours in {}: SageMaker's logs are not shipped",
                    self.0.loaded_dir.display()
                )
            } else {
                format!("loaded beside ours: {}", others.join(", "))
            },
            details: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_names_the_notebook_and_only_the_metrics_asked_for() {
        let policy = crate::policy::parse(
            "version = 1\n[monitoring.cloudwatch]\nmetrics = [\"mem\", \"gpu\"]\n",
            "test",
        )
        .unwrap();
        let cw = policy.monitoring.unwrap().cloudwatch.unwrap();
        let text = agent_config(&cw, "Team/Notebooks", "nb-1");
        let v: Value = serde_json::from_str(&text).unwrap();
        let collected = v["metrics"]["metrics_collected"].as_object().unwrap();
        let keys: Vec<&String> = collected.keys().collect();
        assert_eq!(keys, ["mem", "nvidia_gpu"]);
        assert_eq!(v["metrics"]["namespace"], "Team/Notebooks");
        assert_eq!(
            collected["nvidia_gpu"]["append_dimensions"]["NotebookInstanceName"],
            "nb-1"
        );
        assert_eq!(v["agent"]["metrics_collection_interval"], 60);
    }
}
