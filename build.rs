//! Embeds the git commit, target and build date. The date is the commit's
//! (or SOURCE_DATE_EPOCH), never the wall clock, so builds are reproducible.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let date = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|e| {
            let secs: i64 = e.parse().ok()?;
            git(&["log", "-1", "--format=%cs", &format!("--since=@{secs}")])
                .or(Some(format!("@{secs}")))
        })
        .or_else(|| git(&["log", "-1", "--format=%cs"]))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=NBWARDEN_GIT_COMMIT={commit}");
    println!(
        "cargo:rustc-env=NBWARDEN_TARGET={}",
        std::env::var("TARGET").unwrap_or_default()
    );
    println!("cargo:rustc-env=NBWARDEN_BUILD_DATE={date}");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
}
