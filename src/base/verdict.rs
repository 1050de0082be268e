//! The verdicts and exit codes DESIGN.md fixes: 0 compliant, 1 not
//! compliant, 2 bad usage or invalid policy (nothing was changed), 3 could
//! not evaluate or apply; the fleet view adds 4, nothing to judge. The
//! failures that map to them are the run floor's (`run::exit`).

pub const COMPLIANT: u8 = 0;
pub const NOT_COMPLIANT: u8 = 1;
pub const USAGE: u8 = 2;
pub const CANNOT_EVALUATE: u8 = 3;
pub const NOTHING_FOUND: u8 = 4;

/// What a command that ran to the end concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Compliant,
    NotCompliant,
    /// The run finished but some control could not be evaluated or applied.
    Incomplete,
}

impl Verdict {
    pub fn code(self) -> u8 {
        match self {
            Verdict::Compliant => COMPLIANT,
            Verdict::NotCompliant => NOT_COMPLIANT,
            Verdict::Incomplete => CANNOT_EVALUATE,
        }
    }

    pub fn from_code(code: u8) -> Option<Verdict> {
        match code {
            COMPLIANT => Some(Verdict::Compliant),
            NOT_COMPLIANT => Some(Verdict::NotCompliant),
            CANNOT_EVALUATE => Some(Verdict::Incomplete),
            _ => None,
        }
    }
}
