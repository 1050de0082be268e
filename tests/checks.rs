//! The `[verify]` checks on fixture roots: permissions, boot-exec, egress,
//! rpm, severities, fail-closed, boot awareness and the manifest.

#[macro_use]
mod common;

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;
use nbwarden::report::RunKind;

fn run_json(cmd: &str, root: &Path, policy: &str, extra: &[&str]) -> (i32, Report) {
    let dir = tempfile::tempdir().expect("tmp");
    let p = write_policy(dir.path(), policy);
    let mut args = vec!["--output", "json"];
    args.extend_from_slice(extra);
    let out = run_on(cmd, root, &p, &args);
    (code(&out), read_report(&out))
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    fn world_writable_and_unexpected_setuid_files_are_named() {
        let root = sandbox("al2023");
        let policy = "version = 1\n[verify.permissions]\npaths = [\"/etc\", \"/usr/local/bin\"]\nsetuid_allow = [\"/usr/local/bin/allowed\"]\n";
        let (code, r) = run_json("verify", root.path(), policy, &[]);
        assert_eq!(code, 0, "{r:#?}");

        let etc_file = root.path().join("etc/motd");
        std::fs::write(&etc_file, "hi").expect("w");
        std::fs::set_permissions(&etc_file, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        for (name, mode) in [("allowed", 0o4755), ("planted", 0o4755)] {
            let f = root.path().join("usr/local/bin").join(name);
            std::fs::write(&f, "#!/bin/sh\n").expect("w");
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).expect("chmod");
        }
        let (code, r) = run_json("verify", root.path(), policy, &[]);
        assert_eq!(code, 1, "{r:#?}");
        let ev = evidence(&r, "permissions");
        assert!(
            ev.contains(&"world-writable file /etc/motd (0666)".to_string()),
            "{ev:#?}"
        );
        assert!(
            ev.iter()
                .any(|e| e.starts_with("setuid /usr/local/bin/planted")),
            "{ev:#?}"
        );
        assert!(
            !ev.iter().any(|e| e.contains("/usr/local/bin/allowed")),
            "{ev:#?}"
        );

        // A name that is not UTF-8 is the same file to the kernel: found, not
        // skipped (the red team hid a setuid shell this way).
        use std::os::unix::ffi::OsStrExt;
        let hidden = root
            .path()
            .join("usr/local/bin")
            .join(std::ffi::OsStr::from_bytes(b"sh\xff"));
        std::fs::write(&hidden, "#!/bin/sh\n").expect("w");
        std::fs::set_permissions(&hidden, std::fs::Permissions::from_mode(0o4755)).expect("chmod");
        let (code, r) = run_json("verify", root.path(), policy, &[]);
        assert_eq!(code, 1, "{r:#?}");
        let ev = evidence(&r, "permissions");
        assert!(
            ev.iter()
                .any(|e| e.starts_with("setuid /usr/local/bin/sh\u{FFFD}")),
            "{ev:#?}"
        );
    }
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    fn root_units_cron_and_profile_running_user_writable_paths_are_named() {
        let root = sandbox("al2023");
        let policy = "version = 1\n[verify.boot_exec]\n";
        let units = root.path().join("etc/systemd/system");
        std::fs::create_dir_all(&units).expect("mkdir");
        std::fs::write(
            units.join("ok.service"),
            "[Service]\nExecStart=/usr/bin/true\n",
        )
        .expect("w");
        std::fs::write(
            units.join("as-user.service"),
            "[Service]\nUser=ec2-user\nExecStart=/home/ec2-user/SageMaker/mine.sh\n",
        )
        .expect("w");
        let (code, r) = run_json("verify", root.path(), policy, &[]);
        assert_eq!(
            code, 0,
            "a unit run as the user is the user's business: {r:#?}"
        );

        // Same-named drop-ins: the general one must not hide the specific one.
        std::fs::write(
            units.join("reap.service"),
            "[Service]\nExecStart=/usr/bin/true\n",
        )
        .expect("w");
        for (dir, text) in [
            ("service.d", "[Service]\nLimitNOFILE=1024\n"),
            (
                "reap.service.d",
                "[Service]\nExecStartPre=/home/ec2-user/SageMaker/s9.sh\n",
            ),
        ] {
            std::fs::create_dir_all(units.join(dir)).expect("mkdir");
            std::fs::write(units.join(dir).join("10-limits.conf"), text).expect("w");
        }
        std::fs::write(
            root.path().join("etc/ld.so.preload"),
            "/home/ec2-user/SageMaker/lib/hook.so\n",
        )
        .expect("w");
        // An instance's own drop-in, beside its template.
        std::fs::write(
            units.join("job@.service"),
            "[Service]\nExecStart=/usr/bin/true %i\n",
        )
        .expect("w");
        std::fs::create_dir_all(units.join("job@nightly.service.d")).expect("mkdir");
        std::fs::write(
            units.join("job@nightly.service.d/override.conf"),
            "[Service]\nExecStartPost=/home/ec2-user/SageMaker/after.sh\n",
        )
        .expect("w");
        std::fs::write(
            units.join("percent-u.service"),
            "[Service]\nUser=%u\nExecStart=/home/ec2-user/SageMaker/s4.sh\n",
        )
        .expect("w");
        std::fs::write(
            units.join("evil.service"),
            "[Service]\nExecStartPre=-/bin/sh /home/ec2-user/SageMaker/setup.sh\nExecStart=/usr/bin/true\n",
        )
        .expect("w");
        std::fs::create_dir_all(root.path().join("etc/cron.d")).expect("mkdir");
        std::fs::write(
            root.path().join("etc/cron.d/job"),
            "*/5 * * * * root /tmp/run-me\n0 * * * * root /usr/local/bin/tidy\n",
        )
        .expect("w");
        // A root-owned link in profile.d to a root-owned script that sources
        // the ML volume: the shells follow the link, so does the check.
        std::fs::create_dir_all(root.path().join("usr/local/share/ops")).expect("mkdir");
        std::fs::write(
            root.path().join("usr/local/share/ops/env.sh"),
            ". /home/ec2-user/SageMaker/env.sh\n",
        )
        .expect("w");
        std::fs::create_dir_all(root.path().join("etc/profile.d")).expect("mkdir");
        std::os::unix::fs::symlink(
            "/usr/local/share/ops/env.sh",
            root.path().join("etc/profile.d/zz.sh"),
        )
        .expect("link");
        // A root-owned script whose #! is the user's conda Python.
        std::fs::create_dir_all(root.path().join("usr/local/bin")).expect("mkdir");
        std::fs::write(
            root.path().join("usr/local/bin/tidy"),
            "#!/home/ec2-user/anaconda3/envs/python3/bin/python\nprint('tidy')\n",
        )
        .expect("w");
        let (code, r) = run_json("verify", root.path(), policy, &[]);
        assert_eq!(code, 1, "{r:#?}");
        let ev = evidence(&r, "boot-exec");
        assert!(
            ev.contains(&"/etc/systemd/system/evil.service: runs /home/ec2-user/SageMaker/setup.sh (user-writable) as root".to_string()),
            "{ev:#?}"
        );
        assert!(
            ev.contains(&"/etc/cron.d/job: runs /tmp/run-me (user-writable) as root".to_string()),
            "{ev:#?}"
        );
        assert!(
            ev.contains(&"/etc/systemd/system/reap.service.d/10-limits.conf: runs /home/ec2-user/SageMaker/s9.sh (user-writable) as root".to_string()),
            "{ev:#?}"
        );
        assert!(
            ev.contains(&"/etc/systemd/system/job@nightly.service.d/override.conf: runs /home/ec2-user/SageMaker/after.sh (user-writable) as root".to_string()),
            "{ev:#?}"
        );
        assert!(
            ev.contains(&"/etc/ld.so.preload: runs /home/ec2-user/SageMaker/lib/hook.so (user-writable) as root".to_string()),
            "{ev:#?}"
        );
        assert!(
            ev.contains(&"/etc/systemd/system/percent-u.service: runs /home/ec2-user/SageMaker/s4.sh (user-writable) as root".to_string()),
            "{ev:#?}"
        );
        assert!(
            ev.contains(&"/usr/local/share/ops/env.sh: runs /home/ec2-user/SageMaker/env.sh (user-writable) as root".to_string()),
            "{ev:#?}"
        );
        assert!(
            ev.contains(&"/etc/cron.d/job: runs /usr/local/bin/tidy as root, whose #! interpreter /home/ec2-user/anaconda3/envs/python3/bin/python is user-writable".to_string()),
            "{ev:#?}"
        );
        assert!(
            !ev.iter()
                .any(|e| e.contains("ok.service") || e.contains("as-user")),
            "{ev:#?}"
        );
    }
}

#[test]
fn egress_probes_loopback_listeners_and_severity_decides_blocking() {
    let root = sandbox("al2023");
    let open = TcpListener::bind("127.0.0.1:0").expect("listener");
    let open_port = open.local_addr().expect("addr").port();
    let closed_port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("listener");
        l.local_addr().expect("addr").port()
    };
    let good = format!(
        "version = 1\n[verify.egress]\nmust_succeed = [\"127.0.0.1:{open_port}\"]\nmust_fail = [\"127.0.0.1:{closed_port}\"]\ntimeout_ms = 500\n"
    );
    let (code, r) = run_json("verify", root.path(), &good, &[]);
    assert_eq!(code, 0, "{r:#?}");

    let bad = format!(
        "version = 1\n[verify.egress]\nmust_succeed = [\"127.0.0.1:{closed_port}\"]\nmust_fail = [\"127.0.0.1:{open_port}\"]\ntimeout_ms = 500\n"
    );
    let (code, r) = run_json("verify", root.path(), &bad, &[]);
    assert_eq!(code, 1, "{r:#?}");
    let ev = evidence(&r, "egress");
    assert!(
        ev.iter()
            .any(|e| e.starts_with(&format!("127.0.0.1:{open_port}: REACHABLE"))),
        "{ev:#?}"
    );
    assert!(
        ev.iter()
            .any(|e| e.starts_with(&format!("127.0.0.1:{closed_port}: NOT reachable"))),
        "{ev:#?}"
    );

    // Advisory: reported, but the start is not failed.
    let (code, r) = run_json(
        "verify",
        root.path(),
        &format!("{bad}severity = \"warn\"\n"),
        &[],
    );
    assert_eq!(code, 0, "{r:#?}");
    assert_eq!(control(&r, "egress").status, Status::Fail);
    assert!(!control(&r, "egress").blocking);
    let (code, r) = run_json(
        "verify",
        root.path(),
        &bad.replace(
            "version = 1\n",
            "version = 1\n[verify]\non_failure = \"warn\"\n",
        ),
        &[],
    );
    assert_eq!(code, 0, "on_failure = warn: {r:#?}");
    drop(open);
}

#[test]
fn rpm_is_skipped_where_there_is_no_rpm() {
    let root = sandbox("al2");
    let (code, r) = run_json(
        "verify",
        root.path(),
        "version = 1\n[verify.rpm]\npackages = [\"sudo\"]\n",
        &[],
    );
    assert_eq!(code, 0, "{r:#?}");
    assert!(
        evidence(&r, "rpm")
            .iter()
            .any(|e| e.contains("not an RPM system")),
        "{r:#?}"
    );
}

fn second_run(root: &Path, policy: &str) -> Report {
    run_json("verify", root, policy, &[]).1
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    fn runs_know_a_new_drive_from_the_same_drive_and_the_first_run_ever() {
        let root = sandbox("al2023");
        let policy = "version = 1\n[variables.values.A]\nvalue = \"b\"\n";
        let (_, first) = run_json("apply", root.path(), policy, &[]);
        let context = |r: &Report| r.context.clone().expect("a recorded run has a context");
        let first = context(&first);
        let second = context(&second_run(root.path(), policy));
        assert_eq!(first.kind, RunKind::FirstEver, "{first:#?}");
        assert_eq!(second.kind, RunKind::SameDrive);
        assert_eq!(second.drive_id, first.drive_id);
        // Stop/start: the system drive (and nbwarden's state) is new, the ML volume is not.
        std::fs::remove_dir_all(root.path().join("var/lib/nbwarden")).expect("new drive");
        let (_, third) = run_json("apply", root.path(), policy, &[]);
        let third = context(&third);
        assert_eq!(third.kind, RunKind::NewDrive, "{third:#?}");
        assert_ne!(third.drive_id, first.drive_id);

        // The manifest names every managed file with the digest on disk.
        let manifest: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root.path().join("var/lib/nbwarden/manifest.json"))
                .expect("manifest"),
        )
        .expect("json");
        let files = manifest["files"].as_array().expect("files");
        let module = files
            .iter()
            .find(|f| f["path"] == "/usr/local/lib/nbwarden/python/sagemaker_environment.py")
            .expect("module in manifest");
        let on_disk = std::fs::read(
            root.path()
                .join("usr/local/lib/nbwarden/python/sagemaker_environment.py"),
        )
        .expect("module");
        let sum = std::process::Command::new("sha256sum")
            .arg(
                root.path()
                    .join("usr/local/lib/nbwarden/python/sagemaker_environment.py"),
            )
            .output()
            .expect("sha256sum");
        assert!(!on_disk.is_empty());
        assert_eq!(
            module["sha256"].as_str(),
            String::from_utf8_lossy(&sum.stdout)
                .split_whitespace()
                .next()
        );
        assert_eq!(
            (module["mode"].as_str(), module["owner"].as_str()),
            (Some("0644"), Some("0:0"))
        );
        assert_eq!(manifest["context"]["kind"], "new-drive");
    }
}
