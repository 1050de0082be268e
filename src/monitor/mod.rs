//! `nbwarden monitor`: the long-running service (`nbwarden-monitor.service`).
//! Every interval it samples metrics (EMF lines for CloudWatch), re-verifies
//! the policy and logs drift as events with stable message ids (and
//! re-applies when asked), and stops the notebook when it is idle.

pub mod idle;
pub mod metrics;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result};
use serde_json::{Value, json};

use crate::engine::{self, Context, Mode};
use crate::facts::Notebook;
use crate::host::Host;
use crate::policy::{DEFAULT_JUPYTER_URL, IdlePolicy, MonitoringPolicy};
use crate::report::Status;

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

/// One round. Returns what happened, as JSON (printed by `--once`).
/// `check_drift` says whether this round re-verifies the policy.
pub fn round(
    ctx: &Context<'_>,
    monitoring: &MonitoringPolicy,
    controls: &[Box<dyn engine::Control>],
    check_drift: bool,
) -> Value {
    let host = ctx.host;
    let notebook = Notebook::read(host).ok();
    let name = notebook
        .as_ref()
        .map(|n| n.name.clone())
        .unwrap_or_else(|| "unknown".into());

    // Metrics: the root disk and the ML volume.
    let home = host.accounts().ok().and_then(|a| {
        a.user(ctx.policy.user.as_str())
            .map(|u| PathBuf::from(&u.home))
    });
    let ml = home.map(|h| {
        host.root()
            .join(h.strip_prefix("/").unwrap_or(&h))
            .join("SageMaker")
    });
    let mut volumes: Vec<PathBuf> = vec![host.root().to_path_buf()];
    volumes.extend(ml.filter(|p| p.exists()));
    let refs: Vec<&Path> = volumes.iter().map(PathBuf::as_path).collect();
    let sample = metrics::sample(&refs).unwrap_or_else(|e| {
        tracing::warn!(message_id = EVENT_ERROR, "{e:#}");
        metrics::Sample {
            cpu_percent: 0.0,
            memory_percent: 0.0,
            disks: Vec::new(),
            gpus: metrics::gpus(),
        }
    });
    let lines = metrics::emf(&sample, &monitoring.namespace, &name);
    if let Err(e) = append_lines(host, monitoring.metrics_file.as_path(), &lines) {
        tracing::warn!(message_id = EVENT_ERROR, "cannot write metrics: {e:#}");
    }

    // Drift: verify every control; re-apply those that fail when asked.
    let mut drift = Vec::new();
    for control in controls.iter().filter(|_| check_drift) {
        let report = engine::run_control(Mode::Verify, ctx, control.as_ref());
        if matches!(report.status, Status::Fail | Status::Error) {
            tracing::warn!(
                message_id = EVENT_DRIFT,
                control = control.id(),
                status = report.status.as_str(),
                evidence = report.evidence.join("; "),
                "drift"
            );
            let mut entry = json!({"control": control.id(), "status": report.status.as_str(), "evidence": report.evidence});
            if monitoring.reapply {
                entry["reapplied"] = Value::String(reapply(ctx, control.as_ref()));
            }
            drift.push(entry);
        }
    }

    // Idle auto-stop.
    let idle_outcome = match &monitoring.idle {
        None => Value::Null,
        Some(policy) => idle_round(ctx, policy, &sample, notebook.as_ref()),
    };
    json!({
        "metrics": lines.iter().filter_map(|l| serde_json::from_str::<Value>(l).ok()).collect::<Vec<_>>(),
        "drift": drift,
        "idle": idle_outcome,
    })
}

fn idle_round(
    ctx: &Context<'_>,
    policy: &IdlePolicy,
    sample: &metrics::Sample,
    notebook: Option<&Notebook>,
) -> Value {
    let activity = jupyter_activity(ctx.host, policy).map(|mut a| {
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
            return json!({"idle": false, "reason": format!("{e:#}"), "action": "none"});
        }
    };
    if !verdict.idle {
        return json!({"idle": false, "reason": verdict.reason, "action": "none"});
    }
    let Some(nb) = notebook else {
        return json!({"idle": true, "reason": verdict.reason, "action": "none: no resource metadata to name the notebook"});
    };
    if policy.dry_run {
        tracing::info!(
            message_id = EVENT_IDLE_DRY_RUN,
            notebook = nb.name.as_str(),
            reason = verdict.reason.as_str(),
            "would stop the idle notebook"
        );
        return json!({"idle": true, "reason": verdict.reason, "action": format!("would stop {}", nb.name)});
    }
    match ctx.aws.sagemaker_stop_notebook(&nb.name) {
        Ok(()) => {
            tracing::info!(
                message_id = EVENT_IDLE_STOP,
                notebook = nb.name.as_str(),
                reason = verdict.reason.as_str(),
                "stopping the idle notebook"
            );
            json!({"idle": true, "reason": verdict.reason, "action": format!("stopped {}", nb.name)})
        }
        Err(e) => {
            tracing::warn!(message_id = EVENT_ERROR, "cannot stop {}: {e:#}", nb.name);
            json!({"idle": true, "reason": verdict.reason, "action": format!("stop failed: {e:#}")})
        }
    }
}

/// Re-applies one drifted control. Under systemd the monitor's own unit may
/// write only nbwarden's state, so `nbwarden-reapply@CONTROL.service` does
/// it (and reports it in the journal); elsewhere (an administrator's
/// `monitor --once`) it runs here. Returns what happened, for the round.
fn reapply(ctx: &Context<'_>, control: &dyn engine::Control) -> String {
    let in_unit = match ctx.host.systemd_runs() {
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
        let fixed = engine::run_control(Mode::Apply, ctx, control);
        tracing::info!(
            message_id = EVENT_REAPPLIED,
            control = control.id(),
            status = fixed.status.as_str(),
            "re-applied"
        );
        return fixed.status.as_str().into();
    }
    let unit = crate::controls::service::reapply_unit(control.id());
    match ctx.host.run_in_root(
        "systemctl",
        &["--no-block", "start", &unit],
        Duration::from_secs(20),
    ) {
        Ok(out) if out.success() => {
            tracing::info!(
                message_id = EVENT_REAPPLIED,
                control = control.id(),
                unit = unit.as_str(),
                "re-apply started"
            );
            format!("started {unit}")
        }
        Ok(out) => {
            let why = out.stderr.trim().to_string();
            tracing::warn!(message_id = EVENT_ERROR, "cannot start {unit}: {why}");
            format!("cannot start {unit}: {why}")
        }
        Err(e) => {
            tracing::warn!(message_id = EVENT_ERROR, "cannot start {unit}: {e:#}");
            format!("cannot start {unit}: {e:#}")
        }
    }
}

/// Appends lines to a root-owned log inside the root (created 0644).
fn append_lines(host: &Host, path: &Path, lines: &[String]) -> Result<()> {
    let real = host.root().join(path.strip_prefix("/").unwrap_or(path));
    if let Some(dir) = real.parent() {
        std::fs::create_dir_all(dir)?;
    }
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o644)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(&real)
        .with_context(|| format!("cannot open {}", path.display()))?;
    for l in lines {
        writeln!(f, "{l}")?;
    }
    Ok(())
}
