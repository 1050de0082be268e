//! Helpers shared by the integration tests: sandbox roots made by the same
//! script as the README's demo, the built binary, and tree snapshots.
#![allow(dead_code)]

/// A test of the system tier: it runs as root against the loopback
/// services, the Debian roots and the static binary, so a plain
/// `cargo test` lists it as ignored, with why, instead of failing or
/// passing without running (`scripts/test` builds with
/// `--features system-tier`). A first literal gives a narrower reason.
#[allow(unused_macros)]
macro_rules! system_test {
    ($(#[$meta:meta])* fn $name:ident() $body:block) => {
        system_test! {
            "system tier: needs root, the loopback services and the static binary (scripts/test)";
            $(#[$meta])* fn $name() $body
        }
    };
    ($why:literal; $(#[$meta:meta])* fn $name:ident() $body:block) => {
        $(#[$meta])*
        #[test]
        #[cfg_attr(not(feature = "system-tier"), ignore = $why)]
        fn $name() $body
    };
}

pub mod booted;
pub mod bundle;
pub mod iam;
pub mod notebook;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[allow(unused_imports)]
pub use nbwarden::report::{ControlReport, Report, Status};

/// The shipped example policy, as the tests run it: with the packages
/// barrier's public indexes at [`BLOCKED_INDEX`] (see [`with_blocked_indexes`]).
pub fn example_policy_path() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let text = std::fs::read_to_string(repo().join("config/policy.example.toml"))
            .expect("example policy");
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("policy.example.{}.toml", std::process::id()));
        std::fs::write(&path, with_blocked_indexes(&text)).expect("write the example policy");
        path.display().to_string()
    })
}

/// The "public index" of the tests: a loopback port nothing listens on, so
/// the packages barrier is proven blocked whatever this machine reaches
/// (pypi.org is reachable from some test machines). Tests of the barrier
/// itself point it elsewhere.
pub const BLOCKED_INDEX: &str = "127.0.0.1:9";

/// `policy` with `[packages] public_indexes = [BLOCKED_INDEX]` (the key
/// replaced where the policy has it).
pub fn with_blocked_indexes(policy: &str) -> String {
    let key = format!("public_indexes = [\"{BLOCKED_INDEX}\"]\n");
    if policy.lines().any(|l| l.starts_with("public_indexes = ")) {
        policy
            .lines()
            .map(|l| {
                if l.starts_with("public_indexes = ") {
                    key.clone()
                } else {
                    format!("{l}\n")
                }
            })
            .collect()
    } else if policy.contains("[packages]\n") {
        policy.replacen("[packages]\n", &format!("[packages]\n{key}"), 1)
    } else {
        policy.replacen("[packages.", &format!("[packages]\n{key}[packages."), 1)
    }
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh simulated notebook root from `tests/fixtures/roots/NAME`.
pub fn sandbox(name: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("nbwarden-test-")
        .tempdir()
        .expect("temp dir");
    let status = Command::new(repo().join("scripts/sandbox-root"))
        .arg(name)
        .arg(dir.path())
        .status()
        .expect("run sandbox-root");
    assert!(status.success(), "sandbox-root {name} failed");
    dir
}

/// Runs the built binary with `args`, logs quiet unless asked.
pub fn nbwarden(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nbwarden"))
        .args(args)
        .env_remove("NBWARDEN_POLICY")
        .env("NO_COLOR", "1")
        .output()
        .expect("run nbwarden")
}

/// `nbwarden CMD --root ROOT --policy POLICY EXTRA...`
pub fn run_on(cmd: &str, root: &Path, policy: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        cmd,
        "--root",
        root.to_str().expect("utf8 path"),
        "--policy",
        policy.to_str().expect("utf8 path"),
    ];
    args.extend_from_slice(extra);
    nbwarden(&args)
}

pub fn code(out: &Output) -> i32 {
    out.status.code().expect("exited, not killed")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The run report a command printed with `--output json`, read as
/// nbwarden's own type: a field renamed or retyped fails here.
#[track_caller]
pub fn read_report(out: &Output) -> Report {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not a run report ({e}):\n{}", output_text(out)))
}

/// Any other JSON a command printed (a monitor round, fleet rows).
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", stdout(out)))
}

/// Every entry under `root` with content, mode, owner, inode and mtime, so
/// that any write (even of identical bytes) shows up as a difference.
/// Directory mtimes are left out: a new entry shows up as its own path.
pub type Snapshot = BTreeMap<PathBuf, (Vec<u8>, u32, u32, u64, i64, i64)>;

/// Asserts two snapshots are equal, naming only the paths that differ.
#[track_caller]
pub fn assert_same(before: &Snapshot, after: &Snapshot, what: &str) {
    let changed: Vec<String> = before
        .keys()
        .chain(after.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|p| before.get(*p) != after.get(*p))
        .map(|p| match (before.get(p), after.get(p)) {
            (None, _) => format!("added {}", p.display()),
            (_, None) => format!("removed {}", p.display()),
            _ => format!("changed {}", p.display()),
        })
        .collect();
    assert!(changed.is_empty(), "{what}: {changed:#?}");
}

pub fn snapshot(root: &Path, skip: &[&str]) -> Snapshot {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            let rel = path.strip_prefix(root).expect("under root").to_path_buf();
            if skip.iter().any(|s| rel.starts_with(s)) {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).expect("stat");
            let content = if meta.is_file() {
                std::fs::read(&path).expect("read")
            } else {
                Vec::new()
            };
            let (mtime, mtime_nsec) = if meta.is_dir() {
                stack.push(path.clone());
                (0, 0)
            } else {
                (meta.mtime(), meta.mtime_nsec())
            };
            out.insert(
                rel,
                (
                    content,
                    meta.mode(),
                    meta.uid(),
                    meta.ino(),
                    mtime,
                    mtime_nsec,
                ),
            );
        }
    }
    out
}

/// The report of control `id` in a run report.
#[track_caller]
pub fn control<'a>(report: &'a Report, id: &str) -> &'a ControlReport {
    report
        .controls
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no control {id} in {report:#?}"))
}

/// A control's report as its JSON text, for searching and for assertion
/// messages (`ControlReport` has no `Display`).
pub trait AsText {
    fn to_string(&self) -> String;
}

impl AsText for ControlReport {
    fn to_string(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The evidence lines of control `id` in a run report.
#[track_caller]
pub fn evidence(report: &Report, id: &str) -> Vec<String> {
    control(report, id).evidence.clone()
}

/// stdout then stderr, for assertion messages and searches.
pub fn output_text(out: &Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

/// A name no earlier run used (for S3 prefixes and notebook names).
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{prefix}-{nanos}")
}

/// A loopback port that accepts every connection and holds it open,
/// silent (a tarpit), for as long as the test process lives.
pub fn tarpit() -> u16 {
    let tarpit = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = tarpit.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in tarpit.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

pub fn write_policy(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("policy.toml");
    std::fs::write(&path, text).expect("write policy");
    path
}

pub fn is_root() -> bool {
    nix_euid() == 0
}

fn nix_euid() -> u32 {
    // Avoids a dev-dependency on nix for one call.
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}

/// A helper server a test starts on a loopback port (python http.server,
/// jupyter, a stand-in): waited for until it listens, stopped by PID when
/// dropped, even when the test fails.
pub struct LoopbackServer {
    child: std::process::Child,
    pub port: u16,
}

impl LoopbackServer {
    /// Spawns `cmd` and waits (up to 20 s) for 127.0.0.1:`port` to accept.
    pub fn spawn(mut cmd: Command, port: u16) -> LoopbackServer {
        let child = cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn a test server");
        let server = LoopbackServer { child, port };
        for _ in 0..400 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the test server on port {port} never listened");
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
