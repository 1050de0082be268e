//! Well-known paths more than one floor reads: the lifecycle script writes
//! them, the host, the policy source and the run's record read them.

/// Where `on-start.sh` records the policy it ran with, for the units and
/// for an administrator's `verify`, `plan` or `apply` in a terminal.
pub const ENV_FILE: &str = "/etc/nbwarden/lifecycle.env";
/// The start marker `on-start.sh` leaves while it runs (its PID), so that
/// `status --wait` waits for the whole start, not one run of it.
pub const START_MARK: &str = "/run/nbwarden/start.pid";
