//! The ground floor: values every other floor shares and nothing here
//! imports from above (verdicts and exit codes, well-known paths, name
//! rules, the run's deadline, digests, the build's identity, bounded
//! parallel work).

pub mod deadline;
pub mod digest;
pub mod names;
pub mod parallel;
pub mod paths;
pub mod verdict;
pub mod version;
