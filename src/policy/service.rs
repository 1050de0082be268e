//! `[service]`: nbwarden's own systemd units, installed by `apply`.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use super::values::{HINT, HumanDuration};

/// The `[service]` section: `apply` writes nbwarden's systemd units from the
/// content compiled into the binary, reloads systemd, and enables and
/// starts the periodic drift check, the monitor (with `[monitoring]`) and
/// the CodeArtifact token refresh (with `[packages.codeartifact]`). Units a
/// policy no longer asks for are stopped and removed. Absent: the `service`
/// control is off and nbwarden's units are left as they are.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServicePolicy {
    /// Run `nbwarden verify` 15 minutes after boot and then hourly
    /// (`nbwarden-verify.timer`), uploading the report when
    /// `[verify.report]` is set.
    #[serde(default = "yes")]
    pub verify_timer: bool,
    /// How often the drift check runs once started, e.g. "1h" or "20m"
    /// (each run is delayed by up to a quarter of it, at most 5 minutes, so
    /// a fleet does not call AWS at the same second).
    /// At least "1m".
    #[serde(default = "default_verify_every", deserialize_with = "verify_period")]
    pub verify_every: HumanDuration,
    /// Remount `/proc` with `hidepid=invisible` at every apply, so the
    /// notebook user sees no process but their own: not nbwarden's runs,
    /// not the monitor (a check the user can watch coming can be dodged).
    /// The probes run as the user stay the user's to see. `verify` checks
    /// it.
    #[serde(default = "yes")]
    pub hide_processes: bool,
}

impl Default for ServicePolicy {
    fn default() -> Self {
        ServicePolicy {
            verify_timer: true,
            verify_every: default_verify_every(),
            hide_processes: true,
        }
    }
}

fn yes() -> bool {
    true
}

/// The shipped `nbwarden-verify.timer`'s own period.
pub const DEFAULT_VERIFY_EVERY: Duration = Duration::from_secs(3600);

fn default_verify_every() -> HumanDuration {
    HumanDuration::fixed("1h", DEFAULT_VERIFY_EVERY)
}

/// The shortest `verify_every`: systemd's timers are only accurate to a
/// minute by default, and each check re-reads the system drive and calls
/// AWS (a fleet's checks share its accounts' API rates): a shorter period is
/// a loop, not a schedule.
pub const MIN_VERIFY_EVERY: Duration = Duration::from_secs(60);

fn verify_period<'de, D: Deserializer<'de>>(d: D) -> Result<HumanDuration, D::Error> {
    let period = HumanDuration::deserialize(d)?;
    if period.duration() < MIN_VERIFY_EVERY {
        return Err(serde::de::Error::custom(format!(
            "verify_every = {:?} is shorter than 1m: every check re-reads the system drive and \
             calls AWS, and a fleet's checks share its accounts' API rates{HINT}write \"1m\" or \
             longer (the default is \"1h\")",
            String::from(period)
        )));
    }
    Ok(period)
}

#[cfg(test)]
mod tests {
    use crate::policy::parse;

    #[test]
    fn verify_every_below_a_minute_is_refused_where_written() {
        let text = |every: &str| format!("version = 1\n[service]\nverify_every = \"{every}\"\n");
        for short in ["1s", "59s"] {
            let e = parse(&text(short), "p.toml").expect_err(short);
            assert_eq!((e.line, e.column), (3, 16), "{short}");
            assert!(e.message.contains("shorter than 1m"), "{}", e.message);
            assert!(e.hint.contains("\"1m\" or longer"), "{}", e.hint);
        }
        let ok = parse(&text("1m"), "p.toml").expect("1m");
        assert_eq!(
            ok.service.map(|s| s.verify_every.duration().as_secs()),
            Some(60)
        );
    }
}
