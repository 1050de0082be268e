//! Build identity, set by build.rs.

pub const SHORT: &str = env!("CARGO_PKG_VERSION");

pub const LONG: &str = concat!(
    "nbwarden ",
    env!("CARGO_PKG_VERSION"),
    "\ncommit: ",
    env!("NBWARDEN_GIT_COMMIT"),
    "\ntarget: ",
    env!("NBWARDEN_TARGET"),
    "\nbuilt: ",
    env!("NBWARDEN_BUILD_DATE"),
);
