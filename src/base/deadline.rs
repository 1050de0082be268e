//! The run's one deadline: set by whoever owns the run, read by every
//! program start and AWS call so that nothing outlives it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Result;

/// The run's deadline, set once by whoever owns the run: no program
/// outlives it, whatever timeout its caller asked for.
static DEADLINE: Mutex<Option<Instant>> = Mutex::new(None);

/// Bounds every later program by `deadline` (`None`: only their timeouts).
pub fn set_deadline(deadline: Option<Instant>) {
    if let Ok(mut d) = DEADLINE.lock() {
        *d = deadline;
    }
}

/// The deadline set for this run, if any.
pub fn current_deadline() -> Option<Instant> {
    DEADLINE.lock().ok().and_then(|d| *d)
}

/// The run's deadline, not the work, ended a check: it stopped a program
/// or request from starting, or cut it short. What the check was to prove
/// is unproven (an error, exit 3), never failed or passed.
#[derive(Debug, thiserror::Error)]
#[error("the run's deadline passed {0}")]
pub struct DeadlineReached(pub String);

impl DeadlineReached {
    /// Whether `e`, or an error it wraps, is the deadline's.
    pub fn caused(e: &anyhow::Error) -> bool {
        e.chain().any(|c| c.is::<DeadlineReached>())
    }
}

/// `timeout`, shortened to what is left before the run's deadline; an
/// error when nothing is left, so `what` is never started.
pub fn within_deadline(timeout: Duration, what: &str) -> Result<Duration> {
    match current_deadline() {
        None => Ok(timeout),
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(DeadlineReached(format!("before {what} could start")).into());
            }
            Ok(timeout.min(left))
        }
    }
}

/// Whether the run's deadline has come.
pub fn deadline_passed() -> bool {
    current_deadline().is_some_and(|d| Instant::now() >= d)
}
