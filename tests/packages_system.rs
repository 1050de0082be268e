//! The packages control in a real Debian root: real pip, run as ec2-user
//! with only its configuration, installs from the test pypiserver, and the
//! server's own access log shows the requests.

mod common;

use common::notebook::{Notebook, service};
use common::{code, evidence, output_text};

fn policy() -> String {
    let mirror = service("NBWARDEN_TEST_PYPI_URL");
    format!(
        "version = 1\n[packages]\nprobe = \"required\"\n[packages.pip]\nindex_url = \"{mirror}\"\n\
         trusted_hosts = [\"127.0.0.1\"]\nprobe_package = \"nbwarden-probe\"\n\
         [packages.conda]\nchannels = [\"http://127.0.0.1:9/conda/main\"]\n"
    )
}

/// Lines the mirror logged for the probe package since `from` bytes.
fn mirror_hits(from: usize) -> usize {
    let log = std::fs::read_to_string(service("NBWARDEN_TEST_PYPI_LOG")).expect("pypiserver log");
    log.get(from..)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("GET /simple/nbwarden-probe/"))
        .count()
}

fn log_len() -> usize {
    std::fs::metadata(service("NBWARDEN_TEST_PYPI_LOG")).map_or(0, |m| m.len() as usize)
}

#[test]
#[cfg_attr(
    not(feature = "system-tier"),
    ignore = "system tier: needs root, the loopback services and the static binary (scripts/test)"
)]
fn pip_as_the_user_installs_through_the_mirror_after_apply() {
    let nb = Notebook::create(&policy());
    nb.install();
    let pip = "/home/ec2-user/anaconda3/envs/python3/bin/pip";

    let start = log_len();
    let apply = nb.nbwarden(&["apply", "--only", "packages", "--output", "json", "-q"]);
    assert_eq!(code(&apply), 0, "{}", output_text(&apply));
    let report = common::read_report(&apply);
    let ev = evidence(&report, "packages");
    assert!(
        ev.iter()
            .any(|l| l.contains("`pip download nbwarden-probe` as ec2-user")
                && l.contains("reported http://127.0.0.1")),
        "{ev:#?}"
    );
    assert!(
        mirror_hits(start) >= 1,
        "the probe's download never reached the mirror"
    );

    // A real install by the user, with no index flags at all.
    let start = log_len();
    let install = nb.as_user(&[
        pip,
        "install",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "nbwarden-probe",
    ]);
    assert_eq!(code(&install), 0, "{}", output_text(&install));
    assert!(
        mirror_hits(start) >= 1,
        "pip install did not ask the mirror"
    );
    let import = nb.as_user(&[
        "/home/ec2-user/anaconda3/envs/python3/bin/python",
        "-c",
        "import nbwarden_probe; print(nbwarden_probe.SOURCE)",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&import.stdout),
        "nbwarden test mirror\n"
    );
    let config = nb.as_user(&[pip, "config", "list"]);
    assert!(
        output_text(&config).contains("global.index-url='http://127.0.0.1"),
        "{}",
        output_text(&config)
    );

    // The user points pip elsewhere: verify names the file and fails.
    let plant = nb.as_user(&[
        "sh",
        "-c",
        "mkdir -p ~/.config/pip && printf '[global]\\nindex-url = https://pypi.org/simple\\n' > ~/.config/pip/pip.conf",
    ]);
    assert_eq!(code(&plant), 0, "{}", output_text(&plant));
    let verify = nb.nbwarden(&["verify", "--only", "packages"]);
    assert_eq!(code(&verify), 1, "{}", output_text(&verify));
    assert!(
        output_text(&verify).contains("/home/ec2-user/.config/pip/pip.conf"),
        "{}",
        output_text(&verify)
    );

    // The user cannot change the system files.
    let edit = nb.as_user(&["sh", "-c", "echo '[global]' >> /etc/pip.conf"]);
    assert_ne!(code(&edit), 0);
}

/// A mirror that accepts and never answers, with the run's deadline
/// shorter than the index request's own 5 s: the deadline ends the request
/// and the run, and the verdict is "could not check" (exit 3, the control
/// in error naming the deadline), not "the index did not answer" (exit 1)
/// reached seconds past the deadline.
#[test]
#[cfg_attr(
    not(feature = "system-tier"),
    ignore = "system tier: needs root, the loopback services and the static binary (scripts/test)"
)]
fn the_mirror_probe_ends_at_the_runs_deadline_unproven() {
    let port = common::tarpit();
    let policy = policy().replace(
        &service("NBWARDEN_TEST_PYPI_URL"),
        &format!("http://127.0.0.1:{port}/simple/"),
    );
    let nb = Notebook::create(&policy);
    nb.install();
    let out = nb.nbwarden(&[
        "apply",
        "--deadline",
        "2s",
        "--only",
        "packages",
        "--output",
        "json",
    ]);
    let report = common::read_report(&out);
    assert_eq!(code(&out), 3, "{report:#?}");
    let packages = common::control(&report, "packages");
    assert_eq!(packages.status, common::Status::Error, "{report:#?}");
    let error = packages.error.clone().unwrap_or_default();
    assert!(error.contains("deadline"), "{error}");
}
