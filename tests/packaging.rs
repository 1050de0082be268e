//! What ships: the lifecycle scripts (SageMaker's limits, shellcheck), the
//! systemd units (systemd-analyze), the RPM's contents and the bundle.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn static_binary() -> String {
    std::env::var("NBWARDEN_STATIC_BIN")
        .expect("NBWARDEN_STATIC_BIN: scripts/test builds and exports it")
}

fn render(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "lifecycle",
        "render",
        "--bundle",
        "s3://nbwarden-bundles/nbwarden/0.1.0",
        "--binary-sha256",
        "x86_64=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "--out",
    ];
    let out = dir.to_string_lossy().into_owned();
    args.push(&out);
    args.extend_from_slice(extra);
    nbwarden(&args)
}

#[test]
#[cfg_attr(
    not(feature = "system-tier"),
    ignore = "system tier: needs root, the loopback services and the static binary (scripts/test)"
)]
fn lifecycle_scripts_fit_sagemaker_and_pass_shellcheck() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = render(dir.path(), &[]);
    assert_eq!(code(&out), 0, "{}", output_text(&out));
    for name in ["on-create.sh", "on-start.sh"] {
        let text = std::fs::read_to_string(dir.path().join(name)).expect(name);
        assert!(!text.contains('\r'), "{name} has CR");
        assert!(text.chars().count() < 16_384, "{name} is too long");
        for flagged in [
            "| sh",
            "| bash",
            "base64 -d",
            "169.254.169.254",
            "/dev/tcp/",
        ] {
            assert!(!text.contains(flagged), "{name} contains {flagged}");
        }
        let check = Command::new("shellcheck")
            .arg(dir.path().join(name))
            .output()
            .expect("shellcheck (Debian package)");
        assert!(check.status.success(), "{name}: {}", output_text(&check));
    }
    let start = std::fs::read_to_string(dir.path().join("on-start.sh")).expect("on-start");
    assert!(
        start.contains("sha_x86_64='aaaaaaaa"),
        "the checksum is rendered in"
    );
    assert!(start.contains("policy='s3://nbwarden-bundles/nbwarden/0.1.0/policy.toml'"));

    // The base64 the API wants decodes to the same script.
    let b64 = render(dir.path(), &["--format", "base64"]);
    let line = stdout(&b64)
        .lines()
        .find_map(|l| l.strip_prefix("on-start.sh: ").map(str::to_string))
        .expect("line");
    let decoded = Command::new("python3")
        .args([
            "-c",
            "import base64,sys; sys.stdout.write(base64.b64decode(sys.argv[1]).decode())",
            &line,
        ])
        .output()
        .expect("python3");
    assert_eq!(String::from_utf8_lossy(&decoded.stdout), start);

    let cfn = render(dir.path(), &["--format", "cloudformation"]);
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_slice(&cfn.stdout).expect("valid YAML");
    let props = &doc["Resources"]["NbwardenLifecycleConfig"]["Properties"];
    assert_eq!(
        props["OnStart"][0]["Content"]["Fn::Base64"].as_str(),
        Some(start.as_str())
    );

    // Bad input: no checksum, or one that is not a sha256.
    let none = nbwarden(&[
        "lifecycle",
        "render",
        "--bundle",
        "s3://b/p/1",
        "--out",
        &dir.path().to_string_lossy(),
    ]);
    assert_eq!(code(&none), 2);
    let bad = nbwarden(&[
        "lifecycle",
        "render",
        "--bundle",
        "s3://b/p/1",
        "--binary-sha256",
        "x86_64=beef",
    ]);
    assert_eq!(code(&bad), 2);
}

/// Every unit file under systemd/, by path.
fn shipped_units() -> Vec<std::path::PathBuf> {
    let mut units: Vec<_> = std::fs::read_dir(repo().join("systemd"))
        .expect("systemd/")
        .map(|e| e.expect("entry").path())
        .collect();
    units.sort();
    units
}

/// Runs `script` with our binary at /usr/local/bin/nbwarden, in a private
/// mount namespace (never this host's /usr/local/bin): systemd-analyze
/// checks that ExecStart exists. `$1`… are the unit paths.
fn analyze(script: &str, units: &[std::path::PathBuf]) -> std::process::Output {
    assert!(is_root(), "needs root for a mount namespace");
    let bin = tempfile::tempdir().expect("tmp");
    std::fs::copy(static_binary(), bin.path().join("nbwarden")).expect("copy");
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(format!("mount --bind \"$0\" /usr/local/bin && {script}"))
        .arg(bin.path())
        .args(units)
        .output()
        .expect("systemd-analyze")
}

#[test]
#[cfg_attr(
    not(feature = "system-tier"),
    ignore = "system tier: needs root, the loopback services and the static binary (scripts/test)"
)]
fn systemd_units_pass_systemd_analyze_verify() {
    // A template is verified as one of its instances.
    let dir = tempfile::tempdir().expect("tmp");
    let units: Vec<_> = shipped_units()
        .into_iter()
        .map(|u| {
            let name = u.file_name().expect("name").to_string_lossy().into_owned();
            if !name.contains("@.") {
                return u;
            }
            let instance = dir.path().join(name.replace("@.", "@sudo."));
            std::fs::copy(&u, &instance).expect("instance");
            instance
        })
        .collect();
    assert!(units.len() >= 6, "{units:?}");
    let out = analyze("systemd-analyze verify --man=no \"$@\"", &units);
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(stderr(&out).trim().is_empty(), "warnings: {}", stderr(&out));
}

/// `systemd-analyze security` exposure, per service, may only go down:
/// these are the levels each unit had when its confinement was last
/// reviewed (README, "systemd units").
#[test]
#[cfg_attr(
    not(feature = "system-tier"),
    ignore = "system tier: needs root, the loopback services and the static binary (scripts/test)"
)]
fn service_exposure_stays_at_or_below_its_reviewed_level() {
    let ceilings = [
        ("nbwarden-verify.service", 4.4),
        ("nbwarden-monitor.service", 4.7),
        ("nbwarden-codeartifact.service", 5.5),
        ("nbwarden-reapply@.service", 6.9),
    ];
    let services: Vec<_> = shipped_units()
        .into_iter()
        .filter(|u| u.extension().is_some_and(|e| e == "service"))
        .collect();
    assert_eq!(
        services.len(),
        ceilings.len(),
        "a service without a ceiling: {services:?}"
    );
    for (name, ceiling) in ceilings {
        let unit = repo().join("systemd").join(name);
        let out = analyze(
            "systemd-analyze security --offline=true --no-pager \"$1\"",
            &[unit],
        );
        let text = output_text(&out);
        let level: f64 = text
            .lines()
            .find_map(|l| l.split("exposure level for ").nth(1))
            .and_then(|rest| rest.split(": ").nth(1))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no exposure level for {name}: {text}"));
        assert!(level <= ceiling, "{name}: exposure {level} > {ceiling}");
    }
}

#[test]
#[cfg_attr(
    not(feature = "system-tier"),
    ignore = "system tier: needs root, the loopback services and the static binary (scripts/test)"
)]
fn the_rpm_holds_the_binary_units_policies_and_man_page() {
    let dir = tempfile::tempdir().expect("tmp");
    let built = Command::new(repo().join("scripts/build-rpm"))
        .arg(static_binary())
        .arg(dir.path())
        .output()
        .expect("build-rpm");
    assert!(built.status.success(), "{}", output_text(&built));
    let rpm = stdout(&built).trim().to_string();
    let list = Command::new("rpm")
        .args(["-qlp", &rpm])
        .output()
        .expect("rpm");
    let files: Vec<String> = stdout(&list).lines().map(str::to_string).collect();
    for f in [
        "/usr/local/bin/nbwarden",
        "/usr/lib/systemd/system/nbwarden-verify.service",
        "/usr/lib/systemd/system/nbwarden-verify.timer",
        "/usr/lib/systemd/system/nbwarden-monitor.service",
        "/usr/lib/systemd/system/nbwarden-codeartifact.timer",
        "/usr/lib/systemd/system/nbwarden-reapply@.service",
        "/usr/share/nbwarden/policy.example.toml",
        "/usr/share/man/man8/nbwarden.8.gz",
        "/usr/share/doc/nbwarden/GUIDE.md",
    ] {
        assert!(
            files.contains(&f.to_string()),
            "{f} missing from {files:#?}"
        );
    }
}

#[test]
#[cfg_attr(
    not(feature = "system-tier"),
    ignore = "system tier: needs root, the loopback services and the static binary (scripts/test)"
)]
fn the_bundle_is_complete_checksummed_and_reproducible() {
    let dir = tempfile::tempdir().expect("tmp");
    let bin = format!("x86_64={}", static_binary());
    let mut sums = Vec::new();
    for run in ["a", "b"] {
        let out_dir = dir.path().join(run);
        let out = Command::new(repo().join("scripts/bundle"))
            .args(["s3://nbwarden-bundles/nbwarden/0.1.0"])
            .arg(&out_dir)
            .arg(&bin)
            .output()
            .expect("bundle");
        assert!(out.status.success(), "{}", output_text(&out));
        let tarball = stdout(&out).trim().to_string();
        let sum = Command::new("sha256sum")
            .arg(&tarball)
            .output()
            .expect("sha256sum");
        sums.push(
            stdout(&sum)
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string(),
        );
        let x = Command::new("tar")
            .args(["xzf", &tarball, "-C"])
            .arg(&out_dir)
            .status()
            .expect("tar");
        assert!(x.success());
    }
    assert_eq!(sums[0], sums[1], "two bundles of the same source differ");
    let root = dir.path().join("a/nbwarden-0.1.0");
    for f in [
        "bin/nbwarden-x86_64",
        "lifecycle/on-start.sh",
        "lifecycle/on-create.sh",
        "cloudformation/lifecycle.yaml",
        "systemd/nbwarden-verify.service",
        "config/policy.example.toml",
        "iam/notebook-role-policy.json",
        "GUIDE.md",
    ] {
        assert!(root.join(f).is_file(), "{f} missing");
    }
    let verify = Command::new("sha256sum")
        .args(["-c", "--quiet", "SHA256SUMS"])
        .current_dir(&root)
        .output()
        .expect("sha256sum");
    assert!(verify.status.success(), "{}", output_text(&verify));
    let iam: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("iam/notebook-role-policy.json")).expect("iam"),
    )
    .expect("JSON");
    assert_eq!(iam["Version"], "2012-10-17");
    let start = std::fs::read_to_string(root.join("lifecycle/on-start.sh")).expect("script");
    let bin_sum = Command::new("sha256sum")
        .arg(root.join("bin/nbwarden-x86_64"))
        .output()
        .expect("sum");
    let bin_sum = stdout(&bin_sum)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(
        start.contains(&format!("sha_x86_64='{bin_sum}'")),
        "the script pins the bundled binary"
    );
}
