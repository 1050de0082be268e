//! The one place where outcomes and failures become process exit codes.
//!
//! DESIGN.md fixes the contract: 0 compliant, 1 not compliant, 2 bad usage or
//! invalid policy (nothing was changed), 3 could not evaluate or apply; the
//! fleet view adds 4, nothing to judge (no report where it looked).

use std::process::ExitCode;

use crate::base::verdict::{CANNOT_EVALUATE, NOTHING_FOUND, USAGE, Verdict};
use crate::policy::{LoadError, PolicyError};

/// Why a command could not produce a verdict.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Wrong flags or arguments: nothing was read or changed.
    #[error("{0}")]
    Usage(String),
    /// The policy failed to parse or validate: nothing was changed.
    #[error(transparent)]
    InvalidPolicy(#[from] PolicyError),
    /// I/O, a missing tool, an unreadable root, a timeout.
    #[error("{0:#}")]
    CannotEvaluate(#[from] anyhow::Error),
    /// The fleet view found no report where it looked: a mistyped bucket
    /// or prefix must not read as a compliant fleet.
    #[error("{0}")]
    NothingFound(String),
}

impl From<LoadError> for Failure {
    fn from(e: LoadError) -> Failure {
        match e {
            LoadError::Invalid(e) => Failure::InvalidPolicy(e),
            LoadError::Refused(why) => Failure::Usage(why),
            LoadError::Unreadable(e) => Failure::CannotEvaluate(e),
        }
    }
}

impl Failure {
    pub fn code(&self) -> u8 {
        match self {
            Failure::Usage(_) | Failure::InvalidPolicy(_) => USAGE,
            Failure::CannotEvaluate(_) => CANNOT_EVALUATE,
            Failure::NothingFound(_) => NOTHING_FOUND,
        }
    }
}

pub fn exit_code(result: &Result<Verdict, Failure>) -> ExitCode {
    ExitCode::from(match result {
        Ok(verdict) => verdict.code(),
        Err(failure) => failure.code(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_documented_contract() {
        assert_eq!(Verdict::Compliant.code(), 0);
        assert_eq!(Verdict::NotCompliant.code(), 1);
        assert_eq!(Failure::Usage("x".into()).code(), 2);
        assert_eq!(Failure::CannotEvaluate(anyhow::anyhow!("io")).code(), 3);
        assert_eq!(Verdict::Incomplete.code(), 3);
        assert_eq!(Failure::NothingFound("s3://b/p/".into()).code(), 4);
        for code in [0, 1, 3] {
            assert_eq!(Verdict::from_code(code).map(Verdict::code), Some(code));
        }
        assert_eq!(Verdict::from_code(2), None);
    }
}
