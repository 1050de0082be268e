//! Whether the notebook is idle, from Jupyter's own API, compared in UTC:
//! no kernel busy or starting, no recent kernel, terminal or server
//! activity, and (optionally) CPU and GPUs quiet. The public sample scripts
//! got each of these wrong at some point.

use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Kernel {
    pub id: String,
    #[serde(default)]
    pub execution_state: String,
    #[serde(default)]
    pub last_activity: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Terminal {
    pub name: String,
    #[serde(default)]
    pub last_activity: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Activity {
    /// `/api/status`'s `last_activity`: any request to the server.
    pub server_last_activity: Option<String>,
    pub kernels: Vec<Kernel>,
    pub terminals: Vec<Terminal>,
    pub cpu_percent: Option<f64>,
    pub busiest_gpu_percent: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    pub idle: bool,
    pub reason: String,
}

/// Jupyter writes UTC with a `Z` or `+00:00`; anything without a zone is
/// refused rather than guessed (the samples' naive-local-time bug).
pub fn parse_utc(ts: &str) -> Result<SystemTime> {
    let normal = ts.trim().replace("+00:00", "Z");
    if !normal.ends_with('Z') {
        anyhow::bail!("timestamp {ts:?} has no UTC zone");
    }
    humantime::parse_rfc3339_weak(normal.trim_end_matches('Z'))
        .or_else(|_| humantime::parse_rfc3339(&normal))
        .with_context(|| format!("timestamp {ts:?} is not RFC 3339"))
}

pub fn judge(
    a: &Activity,
    now: SystemTime,
    after: Duration,
    cpu_below: Option<f32>,
    gpu_below: Option<f32>,
) -> Result<Judgement> {
    let not = |reason: String| {
        Ok(Judgement {
            idle: false,
            reason,
        })
    };
    for k in &a.kernels {
        if matches!(
            k.execution_state.as_str(),
            "busy" | "starting" | "restarting"
        ) {
            return not(format!("kernel {} is {}", k.id, k.execution_state));
        }
    }
    let mut latest: Option<(SystemTime, String)> = None;
    let mut consider = |ts: &Option<String>, what: String| -> Result<()> {
        if let Some(ts) = ts {
            let t = parse_utc(ts)?;
            if latest.as_ref().is_none_or(|(l, _)| t > *l) {
                latest = Some((t, what));
            }
        }
        Ok(())
    };
    consider(&a.server_last_activity, "the server".into())?;
    for k in &a.kernels {
        consider(&k.last_activity, format!("kernel {}", k.id))?;
    }
    for t in &a.terminals {
        consider(&t.last_activity, format!("terminal {}", t.name))?;
    }
    let Some((last, what)) = latest else {
        return not("Jupyter reports no activity time at all".into());
    };
    let quiet_for = now.duration_since(last).unwrap_or_default();
    if quiet_for < after {
        return not(format!(
            "last activity ({what}) {}s ago, under {}s",
            quiet_for.as_secs(),
            after.as_secs()
        ));
    }
    if let (Some(limit), Some(cpu)) = (cpu_below, a.cpu_percent)
        && cpu >= f64::from(limit)
    {
        return not(format!("CPU at {cpu:.0}% (limit {limit}%)"));
    }
    if let (Some(limit), Some(gpu)) = (gpu_below, a.busiest_gpu_percent)
        && gpu >= f64::from(limit)
    {
        return not(format!("a GPU at {gpu:.0}% (limit {limit}%)"));
    }
    Ok(Judgement {
        idle: true,
        reason: format!(
            "no kernel busy, last activity ({what}) {}s ago (limit {}s), {} kernel(s), {} terminal(s)",
            quiet_for.as_secs(),
            after.as_secs(),
            a.kernels.len(),
            a.terminals.len()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> SystemTime {
        parse_utc(s).expect("time")
    }

    fn kernel(state: &str, last: &str) -> Kernel {
        Kernel {
            id: "k1".into(),
            execution_state: state.into(),
            last_activity: Some(last.into()),
        }
    }

    #[test]
    fn busy_or_starting_kernels_are_never_idle() {
        let now = at("2026-11-26T12:00:00Z");
        for state in ["busy", "starting"] {
            let a = Activity {
                kernels: vec![kernel(state, "2026-11-26T01:00:00.000000Z")],
                ..Activity::default()
            };
            let v = judge(&a, now, Duration::from_secs(3600), None, None).expect("judged");
            assert!(!v.idle, "{state}");
            assert!(v.reason.contains(state));
        }
    }

    #[test]
    fn the_latest_activity_of_anything_counts_in_utc() {
        let now = at("2026-11-26T12:00:00Z");
        let a = Activity {
            server_last_activity: Some("2026-11-26T10:00:00+00:00".into()),
            kernels: vec![kernel("idle", "2026-11-26T10:30:00.123456Z")],
            terminals: vec![Terminal {
                name: "1".into(),
                last_activity: Some("2026-11-26T11:45:00Z".into()),
            }],
            ..Activity::default()
        };
        let v = judge(&a, now, Duration::from_secs(3600), None, None).expect("judged");
        assert!(!v.idle);
        assert!(v.reason.contains("terminal 1"), "{}", v.reason);
        let later = at("2026-11-26T13:00:00Z");
        assert!(
            judge(&a, later, Duration::from_secs(3600), None, None)
                .expect("judged")
                .idle
        );
        // A busy CPU or GPU outside Jupyter keeps it running.
        let busy = Activity {
            cpu_percent: Some(95.0),
            busiest_gpu_percent: Some(3.0),
            ..a.clone()
        };
        assert!(
            !judge(&busy, later, Duration::from_secs(3600), Some(20.0), None)
                .expect("j")
                .idle
        );
        let gpu = Activity {
            cpu_percent: Some(1.0),
            busiest_gpu_percent: Some(80.0),
            ..a
        };
        assert!(
            !judge(
                &gpu,
                later,
                Duration::from_secs(3600),
                Some(20.0),
                Some(10.0)
            )
            .expect("j")
            .idle
        );
    }

    #[test]
    fn naive_timestamps_are_refused_not_guessed() {
        assert!(parse_utc("2026-11-26T12:00:00").is_err());
        let a = Activity {
            server_last_activity: Some("2026-11-26 12:00:00".into()),
            ..Activity::default()
        };
        assert!(judge(&a, SystemTime::now(), Duration::from_secs(1), None, None).is_err());
    }
}
