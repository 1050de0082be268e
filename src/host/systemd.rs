//! systemd, as nbwarden speaks to it: whether it manages the root,
//! `systemctl`, and transient units for work that outlives a run.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use super::{CommandOutput, EntryKind, Host};

impl Host {
    /// `systemctl ARGS` in the root, unchecked (`is-active` and `cat`
    /// answer with their exit code).
    pub fn systemctl(&self, args: &[&str], timeout: Duration) -> Result<CommandOutput> {
        self.run_in_root("systemctl", args, timeout)
    }

    /// True when systemd manages this root: nbwarden runs on the machine
    /// itself and systemd is PID 1 (not in a chroot or a bare container).
    pub fn systemd_runs(&self) -> Result<bool> {
        Ok(self.is_live() && self.kind(Path::new("/run/systemd/system"))? == Some(EntryKind::Dir))
    }

    /// Runs `nbwarden ARGS` in a transient systemd unit (`systemd-run`,
    /// not waited for) with the lifecycle's policy environment; `every`
    /// ("1h") makes it a transient timer that repeats. Only on the live
    /// system with systemd.
    pub fn run_nbwarden_in_unit(
        &self,
        unit: &str,
        args: &[&str],
        every: Option<&str>,
    ) -> Result<()> {
        if !self.systemd_runs()? {
            anyhow::bail!("no systemd runs here to take {unit}");
        }
        let exe = std::env::current_exe().context("cannot find nbwarden's own path")?;
        let exe = exe.to_string_lossy();
        let unit_arg = format!("--unit={unit}");
        let mut argv = vec![unit_arg.as_str(), "--no-block", "--collect"];
        let timer_args;
        if let Some(every) = every {
            timer_args = [
                format!("--on-active={every}"),
                format!("--on-unit-active={every}"),
            ];
            argv.extend(timer_args.iter().map(String::as_str));
            argv.push("--timer-property=RandomizedDelaySec=5min");
        }
        let env_file = format!(
            "--property=EnvironmentFile=-{}",
            crate::base::paths::ENV_FILE
        );
        argv.extend(["--property=Type=oneshot", &env_file, "--", &exe]);
        argv.extend_from_slice(args);
        let out = self.run("systemd-run", &argv, Duration::from_secs(20))?;
        // A unit still there from an earlier run is as good.
        if !out.success() && !out.stderr.contains("already") {
            anyhow::bail!("systemd-run --unit={unit} failed: {}", out.stderr.trim());
        }
        Ok(())
    }
}
