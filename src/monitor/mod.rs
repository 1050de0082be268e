//! `nbwarden monitor`: the long-running service (`nbwarden-monitor.service`).
//! Every interval it samples metrics (EMF lines for CloudWatch), re-verifies
//! the policy and logs drift as events with stable message ids (and
//! re-applies when asked), and stops the notebook when it is idle.

pub mod idle;
pub mod metrics;
pub mod serve;
pub mod watch;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result};
use serde::Serialize;
use serde_json::Value;

use crate::aws::Aws;
use crate::facts::Facts;
use crate::host::Host;
use crate::policy::{DEFAULT_JUPYTER_URL, IdlePolicy, LoadedPolicy, MonitoringPolicy};
use crate::report::Mode;
use crate::report::Status;
use crate::run::{self, Purpose, RunSpec, Selection};

/// Stable ids of the monitor's events, for log queries and alarms.
pub const EVENT_DRIFT: &str = "nbwarden.monitor.drift";
pub const EVENT_REAPPLIED: &str = "nbwarden.monitor.reapplied";
pub const EVENT_IDLE_STOP: &str = "nbwarden.monitor.idle-stop";
pub const EVENT_IDLE_DRY_RUN: &str = "nbwarden.monitor.idle-dry-run";
pub const EVENT_ERROR: &str = "nbwarden.monitor.error";

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Reads sessions' kernels, terminals and the server's last activity.
fn jupyter_activity(host: &Host, idle: &IdlePolicy) -> Result<idle::Activity> {
    let base = idle
        .jupyter_url
        .as_ref()
        .map(|u| u.as_str().to_string())
        .unwrap_or_else(|| DEFAULT_JUPYTER_URL.to_string());
    let url = url::Url::parse(&base).with_context(|| format!("bad Jupyter URL {base}"))?;
    let token = match &idle.token_file {
        Some(p) => host
            .read_text(p.as_path())?
            .map(|t| t.trim().to_string())
            .with_context(|| format!("token file {} does not exist", p.as_path().display()))?,
        None => String::new(),
    };
    // Jupyter's certificate is self-signed: accepted for loopback only.
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .danger_accept_invalid_certs(is_loopback(&url))
        .build()?;
    let get = |path: &str| -> Result<Value> {
        let mut full = url.join(path)?;
        // Our own polling must not count as activity.
        full.query_pairs_mut().append_pair("no_track_activity", "1");
        let mut req = client.get(full.clone());
        if !token.is_empty() {
            req = req.header("Authorization", format!("token {token}"));
        }
        let resp = req
            .send()
            .with_context(|| format!("Jupyter did not answer at {full}"))?;
        let status = resp.status();
        if !status.is_success() {
            anyhow::bail!("Jupyter answered {status} at {full} (a token_file may be needed)");
        }
        let text = resp
            .text()
            .with_context(|| format!("Jupyter's answer at {full} broke off"))?;
        serde_json::from_str(&text)
            .with_context(|| format!("Jupyter's answer at {full} is not JSON"))
    };
    let status = get("api/status")?;
    let kernels: Vec<idle::Kernel> =
        serde_json::from_value(get("api/kernels")?).context("api/kernels")?;
    // Terminals may be turned off: then there are none.
    let terminals: Vec<idle::Terminal> = get("api/terminals")
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    Ok(idle::Activity {
        server_last_activity: status["last_activity"].as_str().map(str::to_string),
        kernels,
        terminals,
        cpu_percent: None,
        busiest_gpu_percent: None,
    })
}

/// What one round saw and did; printed as JSON by `monitor --once`.
#[derive(Debug, Serialize)]
pub struct Round {
    /// The EMF records written to the metrics file.
    pub metrics: Vec<Value>,
    /// Controls that failed their drift check (none when not checked).
    pub drift: Vec<Drift>,
    /// The idle check, when `[monitoring.idle]` is set.
    pub idle: Option<IdleOutcome>,
}

#[derive(Debug, Serialize)]
pub struct Drift {
    pub control: String,
    pub status: Status,
    pub evidence: Vec<String>,
    /// What the re-apply did, with `reapply = true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reapplied: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct IdleOutcome {
    pub idle: bool,
    pub reason: String,
    pub action: String,
}

impl std::fmt::Display for Round {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = serde_json::to_string(self).map_err(|_| std::fmt::Error)?;
        f.write_str(&text)
    }
}

/// What a round works with: the policy, its `[monitoring]`, and the
/// controls `--only` limits the drift check to.
pub struct RoundSpec<'a> {
    pub host: &'a Host,
    pub policy: &'a LoadedPolicy,
    pub monitoring: &'a MonitoringPolicy,
    pub only: &'a [String],
    pub deadline: Instant,
    /// Whether this round re-verifies the policy.
    pub check_drift: bool,
}

/// One round: metrics, the drift check (through the engine's own run), and
/// the idle check.
pub fn round(spec: &RoundSpec<'_>) -> Round {
    let host = spec.host;
    let aws = Aws::new(spec.deadline);
    let facts = Facts::live(host, &aws);
    let name = facts
        .notebook()
        .map(|n| n.name.clone())
        .unwrap_or_else(|_| "unknown".into());

    // Metrics: the root disk and the ML volume.
    let home = host.accounts().ok().and_then(|a| {
        a.user(spec.policy.policy.user.as_str())
            .map(|u| PathBuf::from(&u.home))
    });
    let mut volumes = vec![PathBuf::from("/")];
    volumes.extend(home.map(|h| h.join("SageMaker")));
    let sample = metrics::sample(host, &volumes).unwrap_or_else(|e| {
        tracing::warn!(message_id = EVENT_ERROR, "{e:#}");
        metrics::Sample {
            cpu_percent: 0.0,
            memory_percent: 0.0,
            disks: Vec::new(),
            gpus: metrics::gpus(),
        }
    });
    let lines = metrics::emf(&sample, &spec.monitoring.namespace, &name);
    if let Err(e) = host.append(
        spec.monitoring.metrics_file.as_path(),
        &lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
        0o644,
    ) {
        tracing::warn!(message_id = EVENT_ERROR, "cannot write metrics: {e:#}");
    }

    let drift = if spec.check_drift {
        drift_round(spec, &aws)
    } else {
        Vec::new()
    };
    let idle = spec
        .monitoring
        .idle
        .as_ref()
        .map(|policy| idle_round(host, &aws, &facts, policy, &sample));
    Round {
        metrics: lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect(),
        drift,
        idle,
    }
}

/// Verifies every selected control; re-applies those that fail when asked.
fn drift_round(spec: &RoundSpec<'_>, aws: &Aws) -> Vec<Drift> {
    let report = run::run(&RunSpec {
        mode: Mode::Verify,
        host: spec.host,
        aws,
        policy: spec.policy,
        selection: Selection::Policy { only: spec.only },
        purpose: Purpose::DriftCheck,
        deadline: spec.deadline,
    });
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(
                message_id = EVENT_ERROR,
                "the drift check could not run: {e}"
            );
            return Vec::new();
        }
    };
    let mut drift = Vec::new();
    for control in report
        .controls
        .into_iter()
        .filter(|c| matches!(c.status, Status::Fail | Status::Error))
    {
        tracing::warn!(
            message_id = EVENT_DRIFT,
            control = control.id.as_str(),
            status = control.status.as_str(),
            evidence = control.evidence.join("; "),
            "drift"
        );
        let reapplied = spec
            .monitoring
            .reapply
            .then(|| reapply(spec, aws, &control.id));
        drift.push(Drift {
            control: control.id,
            status: control.status,
            evidence: control.evidence,
            reapplied,
        });
    }
    drift
}

fn idle_round(
    host: &Host,
    aws: &Aws,
    facts: &Facts<'_>,
    policy: &IdlePolicy,
    sample: &metrics::Sample,
) -> IdleOutcome {
    let outcome = |idle: bool, reason: String, action: String| IdleOutcome {
        idle,
        reason,
        action,
    };
    let activity = jupyter_activity(host, policy).map(|mut a| {
        a.cpu_percent = Some(sample.cpu_percent);
        a.busiest_gpu_percent = sample.gpus.iter().map(|g| g.utilization).reduce(f64::max);
        a
    });
    let verdict = activity.and_then(|a| {
        idle::judge(
            &a,
            SystemTime::now(),
            policy.after.duration(),
            policy.cpu_below_percent,
            policy.gpu_below_percent,
        )
    });
    let verdict = match verdict {
        Ok(v) => v,
        Err(e) => {
            // Not knowing is not idle: never stop on an error.
            tracing::warn!(message_id = EVENT_ERROR, "idle check failed: {e:#}");
            return outcome(false, format!("{e:#}"), "none".into());
        }
    };
    if !verdict.idle {
        return outcome(false, verdict.reason, "none".into());
    }
    let Ok(nb) = facts.notebook() else {
        return outcome(
            true,
            verdict.reason,
            "none: no resource metadata to name the notebook".into(),
        );
    };
    if policy.dry_run {
        tracing::info!(
            message_id = EVENT_IDLE_DRY_RUN,
            notebook = nb.name.as_str(),
            reason = verdict.reason.as_str(),
            "would stop the idle notebook"
        );
        return outcome(true, verdict.reason, format!("would stop {}", nb.name));
    }
    match aws.sagemaker_stop_notebook(&nb.name) {
        Ok(()) => {
            tracing::info!(
                message_id = EVENT_IDLE_STOP,
                notebook = nb.name.as_str(),
                reason = verdict.reason.as_str(),
                "stopping the idle notebook"
            );
            outcome(true, verdict.reason, format!("stopped {}", nb.name))
        }
        Err(e) => {
            tracing::warn!(message_id = EVENT_ERROR, "cannot stop {}: {e:#}", nb.name);
            outcome(true, verdict.reason, format!("stop failed: {e:#}"))
        }
    }
}

/// Re-applies one drifted control. Under systemd the monitor's own unit may
/// write only nbwarden's state, so `nbwarden-reapply@CONTROL.service` does
/// it (and reports it in the journal); elsewhere (an administrator's
/// `monitor --once`) it runs here, as a run limited to that control.
/// Returns what happened, for the round.
fn reapply(spec: &RoundSpec<'_>, aws: &Aws, id: &str) -> String {
    let host = spec.host;
    let in_unit = match host.systemd_runs() {
        Ok(yes) => yes,
        Err(e) => {
            tracing::warn!(
                message_id = EVENT_ERROR,
                "cannot tell whether systemd runs: {e:#}"
            );
            false
        }
    };
    if !in_unit {
        let only = [id.to_string()];
        let fixed = run::run(&RunSpec {
            mode: Mode::Apply,
            host,
            aws,
            policy: spec.policy,
            selection: Selection::Policy { only: &only },
            purpose: Purpose::Scoped,
            deadline: spec.deadline,
        });
        let status = match fixed {
            Ok(report) => report
                .controls
                .first()
                .map(|c| c.status.as_str())
                .unwrap_or("error")
                .to_string(),
            Err(e) => format!("error: {e}"),
        };
        tracing::info!(
            message_id = EVENT_REAPPLIED,
            control = id,
            status = status.as_str(),
            "re-applied"
        );
        return status;
    }
    let unit = crate::controls::service::reapply_unit(id);
    match host
        .systemctl(&["--no-block", "start", &unit], Duration::from_secs(20))
        .and_then(|out| out.checked(&format!("systemctl start {unit}")))
    {
        Ok(_) => {
            tracing::info!(
                message_id = EVENT_REAPPLIED,
                control = id,
                unit = unit.as_str(),
                "re-apply started"
            );
            format!("started {unit}")
        }
        Err(e) => {
            tracing::warn!(message_id = EVENT_ERROR, "cannot start {unit}: {e:#}");
            format!("cannot start {unit}: {e:#}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_writes_metrics_and_reports_drift_through_the_engine() {
        let dir = crate::test_support::notebook_root();
        let host = Host::open(dir.path()).expect("host");
        let policy = crate::policy::from_bytes(
            b"version = 1\n[monitoring]\n[variables.values.A]\nvalue = \"b\"\n".to_vec(),
            "t.toml",
        )
        .expect("policy");
        let monitoring = policy.policy.monitoring.clone().expect("[monitoring]");
        let spec = |check_drift, only: &'static [String]| RoundSpec {
            host: &host,
            policy: &policy,
            monitoring: &monitoring,
            only,
            deadline: Instant::now() + Duration::from_secs(30),
            check_drift,
        };
        let quiet = round(&spec(false, &[]));
        assert!(quiet.drift.is_empty());
        assert!(quiet.idle.is_none());
        let metrics = std::fs::read_to_string(
            dir.path().join(
                monitoring
                    .metrics_file
                    .as_path()
                    .strip_prefix("/")
                    .expect("abs"),
            ),
        )
        .expect("metrics file in the root");
        assert_eq!(metrics.lines().count(), quiet.metrics.len());
        let json: Value = serde_json::from_str(&quiet.to_string()).expect("a round is JSON");
        assert_eq!(json["idle"], Value::Null);

        // The variables file was never written: the drift check says so.
        let drifted = round(&spec(true, &[]));
        let ids: Vec<&str> = drifted.drift.iter().map(|d| d.control.as_str()).collect();
        assert_eq!(ids, ["variables"], "{drifted}");
        assert!(drifted.drift[0].reapplied.is_none());
    }
}
