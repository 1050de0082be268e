//! Egress: connections that must fail (the public index, public addresses)
//! and connections that must succeed (the mirror, VPC endpoints), probed
//! concurrently, each with a short timeout.

use crate::engine::ControlInfo;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::Result;

use super::Check;
use crate::engine::{Probe, ProbeResult};
use crate::host::Host;
use crate::policy::EgressCheck;

pub static INFO: ControlInfo = ControlInfo {
    id: "egress",
    title: "Network egress is as the policy says",
    section: "verify.egress",
};

/// The control for `[verify.egress]`.
pub fn control(check: EgressCheck) -> Check {
    Check::new(&INFO, check.severity, move |_| {
        Ok(Box::new(Connect {
            check: check.clone(),
        }))
    })
}

/// Connects to `target` (host:port), resolving and connecting within
/// `timeout` each. Ok(address) when connected.
fn reach(target: &str, timeout: Duration) -> Result<SocketAddr, String> {
    let addrs = crate::host::net::resolve(target, timeout)?;
    let mut last = String::new();
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(_) => return Ok(addr),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

struct Connect {
    check: EgressCheck,
}

impl Probe for Connect {
    fn describe(&self) -> String {
        "egress".into()
    }

    fn check(&self, _host: &Host) -> Result<ProbeResult> {
        let timeout = Duration::from_millis(u64::from(self.check.timeout_ms));
        let targets: Vec<(String, bool)> = self
            .check
            .must_fail
            .iter()
            .map(|t| (t.as_str().to_string(), false))
            .chain(
                self.check
                    .must_succeed
                    .iter()
                    .map(|t| (t.as_str().to_string(), true)),
            )
            .collect();
        let handles: Vec<_> = targets
            .into_iter()
            .map(|(target, want)| {
                std::thread::spawn(move || {
                    let outcome = reach(&target, timeout);
                    (target, want, outcome)
                })
            })
            .collect();
        let mut details = Vec::new();
        let mut bad = 0;
        for h in handles {
            let Ok((target, want, outcome)) = h.join() else {
                continue;
            };
            let line = match (&outcome, want) {
                (Ok(addr), true) => format!("{target}: reachable ({addr}), as required"),
                (Err(e), false) => format!("{target}: blocked ({e}), as required"),
                (Ok(addr), false) => {
                    bad += 1;
                    format!("{target}: REACHABLE ({addr}) but must be blocked")
                }
                (Err(e), true) => {
                    bad += 1;
                    format!("{target}: NOT reachable ({e}) but must be")
                }
            };
            details.push(line);
        }
        Ok(ProbeResult {
            passed: bad == 0,
            skipped: false,
            evidence: format!("{bad} of {} connection(s) not as required", details.len()),
            details,
        })
    }
}
