//! The monitor as a service: rounds at the policy's interval, the watch
//! between them, and the policy it holds kept the one a run would load now.
//! Before each drift check it loads the policy again: a new one is taken
//! in place (and recorded, so `apply` sees the monitor current); a binary
//! replaced on disk ends the process, and systemd starts the new one. It
//! never checks, nor re-applies, a policy that is no longer the current one.

use std::time::{Duration, Instant};

use crate::aws::Aws;
use crate::base::verdict::Verdict;
use crate::controls::service::MonitorRecord;
use crate::host::Host;
use crate::policy::{LoadedPolicy, MonitoringPolicy};
use crate::run::exit::Failure;

use super::watch::{self, Between};
use super::{EVENT_ERROR, RoundSpec, round};

/// The monitor took a policy other than the one it started with.
pub const EVENT_POLICY_CHANGED: &str = "nbwarden.monitor.policy-changed";
/// The binary was replaced on disk: the monitor ends for systemd to start
/// the new one.
pub const EVENT_BINARY_REPLACED: &str = "nbwarden.monitor.binary-replaced";

/// What the service runs with: one policy and what follows from it.
struct Held<'h> {
    policy: LoadedPolicy,
    monitoring: MonitoringPolicy,
    between: Option<Between<'h>>,
}

impl<'h> Held<'h> {
    fn new(host: &'h Host, aws: &Aws, policy: LoadedPolicy) -> Result<Held<'h>, Failure> {
        let monitoring = monitoring_of(&policy)?;
        let between = Between::start(host, aws, &policy);
        record(host, &policy);
        Ok(Held {
            policy,
            monitoring,
            between,
        })
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(u64::from(self.monitoring.interval_s.max(1)))
    }

    fn drift_every(&self) -> Duration {
        Duration::from_secs(u64::from(self.monitoring.drift_every_s))
    }
}

/// The policy's `[monitoring]`, which the monitor cannot run without.
pub fn monitoring_of(policy: &LoadedPolicy) -> Result<MonitoringPolicy, Failure> {
    policy.policy.monitoring.clone().ok_or_else(|| {
        Failure::Usage(format!(
            "policy {}: no [monitoring] section: nothing to monitor",
            policy.source
        ))
    })
}

/// Leaves what this process runs where `apply` looks (a failure is said,
/// and `apply` then restarts the monitor: the record is not its own).
fn record(host: &Host, policy: &LoadedPolicy) {
    let saved = crate::controls::service::save_monitor(
        host,
        &MonitorRecord {
            pid: std::process::id(),
            policy_source: policy.source.clone(),
            policy_sha256: policy.sha256.clone(),
        },
    );
    if let Err(e) = saved {
        tracing::warn!(
            message_id = EVENT_ERROR,
            "cannot record the monitor's policy: {e:#}"
        );
    }
}

/// The policy a run would load now, when it is not `held` (`None` when it
/// is the same, or cannot be loaded: said, and the held one kept).
fn newer(
    held: &LoadedPolicy,
    load: &dyn Fn() -> Result<LoadedPolicy, Failure>,
) -> Option<LoadedPolicy> {
    match load() {
        Ok(now) if now.sha256 != held.sha256 || now.source != held.source => Some(now),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(
                message_id = EVENT_ERROR,
                "cannot load the policy again ({e}); checking with the one loaded at {}",
                held.sha256
            );
            None
        }
    }
}

/// Runs the service until the process ends: a binary replaced on disk, or
/// a policy without `[monitoring]`, end it with an error (systemd restarts
/// it, or `apply` stops it).
pub fn serve(
    host: &Host,
    aws: &Aws,
    policy: LoadedPolicy,
    only: &[String],
    budget: Duration,
    load: &dyn Fn() -> Result<LoadedPolicy, Failure>,
) -> Result<Verdict, Failure> {
    let mut held = Held::new(host, aws, policy)?;
    let mut last_drift: Option<Instant> = None;
    loop {
        let started = Instant::now();
        let check_drift = last_drift.is_none_or(|t| t.elapsed() >= held.drift_every());
        if check_drift {
            last_drift = Some(started);
            if let Ok(Some(true)) = host.runs_replaced_program(std::process::id()) {
                tracing::warn!(
                    message_id = EVENT_BINARY_REPLACED,
                    "the nbwarden binary was replaced: ending for systemd to start the new one"
                );
                return Err(Failure::CannotEvaluate(anyhow::anyhow!(
                    "the nbwarden binary this monitor runs was replaced on disk"
                )));
            }
            if let Some(now) = newer(&held.policy, load) {
                tracing::info!(
                    message_id = EVENT_POLICY_CHANGED,
                    source = now.source.as_str(),
                    sha256 = now.sha256.as_str(),
                    "the policy changed ({} {} -> {} {}): the monitor takes the new one",
                    held.policy.source,
                    held.policy.sha256,
                    now.source,
                    now.sha256
                );
                held = Held::new(host, aws, now)?;
            }
        }
        round(&RoundSpec {
            host,
            policy: &held.policy,
            monitoring: &held.monitoring,
            only,
            deadline: started + budget,
            check_drift,
        });
        let next = started + held.interval();
        watch::wait(held.between.as_mut(), next);
    }
}
