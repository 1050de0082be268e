//! nbwarden: makes a SageMaker notebook instance safe before Jupyter is
//! exposed, and proves it. See README.md for the user's manual and
//! DESIGN.md (in shared/) for the shape.

pub mod aws;
pub mod base;
pub mod cli;
pub mod controls;
pub mod engine;
pub mod facts;
pub mod fleet;
pub mod host;
pub mod lifecycle;
pub mod monitor;
pub mod policy;
pub mod report;
pub mod run;

#[cfg(test)]
mod test_support;
