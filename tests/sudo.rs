//! The sudo control on Amazon Linux fixture roots (no visudo, no sudo in
//! them): what it finds, and that it refuses to change what it cannot
//! validate. The real-sudo tests are in tests/sudo_system.rs.

#[macro_use]
mod common;

use common::*;

const POLICY: &str = "version = 1\n[sudo]\n";

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    fn plan_reports_every_grant_with_file_and_line() {
        for fixture in ["al2", "al2023"] {
            let root = sandbox(fixture);
            let dir = tempfile::tempdir().expect("tmp");
            let policy = write_policy(dir.path(), POLICY);
            let before = snapshot(root.path(), &[]);
            let out = run_on(
                "plan",
                root.path(),
                &policy,
                &["--only", "sudo", "--output", "json"],
            );
            assert_eq!(code(&out), 1, "{}", stderr(&out));
            let report = read_report(&out);
            let ev = evidence(&report, "sudo");
            assert!(
                ev.contains(
                    &"grant at /etc/sudoers.d/90-cloud-init-users:1 names the user".to_string()
                ),
                "{ev:#?}"
            );
            assert!(
                ev.contains(&"grant at /etc/sudoers:8 through group wheel".to_string()),
                "{ev:#?}"
            );
            let paths: Vec<&str> = control(&report, "sudo")
                .changes
                .iter()
                .map(|c| c.path.as_str())
                .collect();
            for p in [
                "/etc/sudoers.d/zzz-nbwarden",
                "/etc/sudoers.d/90-cloud-init-users",
                "/var/lib/nbwarden/backup/sudo/sudoers.d/90-cloud-init-users",
                "/etc/group",
                "/etc/gshadow",
            ] {
                assert!(paths.contains(&p), "{p} missing from {paths:?}");
            }
            assert_same(
                &before,
                &snapshot(root.path(), &[]),
                "plan changed {fixture}",
            );
        }
    }
}

system_test! {
    fn without_visudo_apply_refuses_and_changes_nothing() {
        assert!(
            is_root(),
            "needs root for a mount namespace: run scripts/test as root"
        );
        let root = sandbox("al2023");
        let dir = tempfile::tempdir().expect("tmp");
        let policy = write_policy(dir.path(), POLICY);
        let before = snapshot(root.path(), &[]);
        // Hide this machine's visudo (the fixture root has none of its own).
        let hide = "for v in /usr/sbin/visudo /usr/bin/visudo /sbin/visudo; do \
                    [ -e \"$v\" ] && mount --bind /dev/null \"$v\"; done; exec \"$@\"";
        let out = std::process::Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", hide, "sh"])
            .arg(env!("CARGO_BIN_EXE_nbwarden"))
            .args(["apply", "--only", "sudo", "--root"])
            .arg(root.path())
            .arg("--policy")
            .arg(&policy)
            .output()
            .expect("unshare");
        assert_eq!(code(&out), 3, "{}{}", stdout(&out), stderr(&out));
        assert!(
            stdout(&out).contains("visudo is not installed"),
            "{}",
            stdout(&out)
        );
        assert_same(
            &before,
            &snapshot(root.path(), &["var/lib"]),
            "changed without visudo",
        );
    }
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    fn with_this_machines_visudo_a_fixture_root_is_stripped_and_rerooted_includes_hold() {
        let root = sandbox("al2");
        // A drop-in only valid if the candidate's includedir is resolved inside
        // the root: the host has no such alias.
        std::fs::write(
            root.path().join("etc/sudoers.d/10-aliases"),
            "Cmnd_Alias NBW_ONLY_IN_ROOT = /usr/bin/true\n",
        )
        .expect("w");
        std::fs::write(
            root.path().join("etc/sudoers.d/20-uses"),
            "root ALL = NBW_ONLY_IN_ROOT\n",
        )
        .expect("w");
        let dir = tempfile::tempdir().expect("tmp");
        let policy = write_policy(dir.path(), POLICY);
        let out = run_on("apply", root.path(), &policy, &["--only", "sudo"]);
        assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
        let sudoers = std::fs::read_to_string(root.path().join("etc/sudoers")).expect("sudoers");
        assert!(
            sudoers.contains("%wheel\tALL=(ALL)\tALL"),
            "the wheel rule stays for others"
        );
        assert!(
            !root
                .path()
                .join("etc/sudoers.d/90-cloud-init-users")
                .exists()
        );
        let group = std::fs::read_to_string(root.path().join("etc/group")).expect("group");
        assert!(
            group.contains("\nwheel:x:10:\n") && group.contains("\ndocker:x:992:\n"),
            "{group}"
        );
        // adm reads every log: in the default list since issue 16.
        assert!(group.contains("\nadm:x:4:\n"), "{group}");
        let deny = root.path().join("etc/sudoers.d/zzz-nbwarden");
        let meta = std::fs::metadata(&deny).expect("deny drop-in");
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777,
            0o440
        );
        let again = run_on(
            "apply",
            root.path(),
            &policy,
            &["--only", "sudo", "--output", "json"],
        );
        assert_eq!(read_report(&again).summary.changes, 0, "{}", stdout(&again));
    }
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    /// Regression (found by tests/crash.rs): a run stopped after writing
    /// /etc/group but before /etc/gshadow left the user in gshadow's wheel, and
    /// the next apply, reading memberships from /etc/group alone, kept it there.
    fn membership_left_only_in_gshadow_by_a_crash_is_removed_too() {
        let root = sandbox("al2023");
        let group_path = root.path().join("etc/group");
        let group = std::fs::read_to_string(&group_path).expect("group");
        std::fs::write(
            &group_path,
            group
                .replace("\nwheel:x:10:ec2-user\n", "\nwheel:x:10:\n")
                .replace("\ndocker:x:992:ec2-user\n", "\ndocker:x:992:\n"),
        )
        .expect("write group");
        let dir = tempfile::tempdir().expect("tmp");
        let policy = write_policy(dir.path(), POLICY);
        let out = run_on("apply", root.path(), &policy, &["--only", "sudo"]);
        assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
        let gshadow = std::fs::read_to_string(root.path().join("etc/gshadow")).expect("gshadow");
        assert!(
            gshadow.contains("\nwheel:!::\n") && gshadow.contains("\ndocker:!::\n"),
            "{gshadow}"
        );
        assert!(gshadow.contains("\nadm:!::\n"), "{gshadow}");
    }
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    /// Group edits take shadow-utils' lock (`/etc/.pwd.lock`, as `lckpwdf`
    /// does): while `useradd` or `gpasswd` holds it, apply waits, then edits.
    fn group_edits_wait_for_the_shadow_utils_lock() {
        use std::time::{Duration, Instant};
        let root = sandbox("al2023");
        let lock = root.path().join("etc/.pwd.lock");
        // lckpwdf's lock: a write record lock on the whole file.
        let mut holder = std::process::Command::new("python3")
            .args([
                "-c",
                "import fcntl, sys, time\nf = open(sys.argv[1], 'w')\nfcntl.lockf(f, fcntl.LOCK_EX)\n\
                 print('locked', flush=True)\ntime.sleep(1.5)",
            ])
            .arg(&lock)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(holder.stdout.take().expect("stdout")),
            &mut line,
        )
        .expect("locked");
        assert_eq!(line.trim(), "locked");
        let dir = tempfile::tempdir().expect("tmp");
        let policy = write_policy(dir.path(), POLICY);
        let started = Instant::now();
        let out = run_on("apply", root.path(), &policy, &["--only", "sudo"]);
        let waited = started.elapsed();
        let _ = holder.wait();
        assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
        assert!(
            waited >= Duration::from_millis(1000),
            "did not wait: {waited:?}"
        );
        let group = std::fs::read_to_string(root.path().join("etc/group")).expect("group");
        assert!(group.contains("\nwheel:x:10:\n"), "{group}");
    }
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    fn a_user_that_does_not_exist_is_a_policy_error() {
        let root = sandbox("al2");
        let dir = tempfile::tempdir().expect("tmp");
        let policy = write_policy(dir.path(), "version = 1\nuser = \"jovyan\"\n[sudo]\n");
        let before = snapshot(root.path(), &[]);
        for cmd in ["apply", "plan", "verify"] {
            let out = run_on(cmd, root.path(), &policy, &[]);
            assert_eq!(code(&out), 2, "{cmd}: {}", stderr(&out));
            assert!(
                stderr(&out).contains("user `jovyan` does not exist"),
                "{}",
                stderr(&out)
            );
        }
        assert_same(
            &before,
            &snapshot(root.path(), &[]),
            "a missing user changed the root",
        );
    }
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    fn a_symlinked_drop_in_is_reported_and_never_followed() {
        let root = sandbox("al2023");
        std::fs::write(root.path().join("etc/planted"), "ec2-user ALL=(ALL) ALL\n").expect("w");
        std::os::unix::fs::symlink("/etc/planted", root.path().join("etc/sudoers.d/50-link"))
            .expect("link");
        let dir = tempfile::tempdir().expect("tmp");
        let policy = write_policy(dir.path(), POLICY);
        let out = run_on(
            "plan",
            root.path(),
            &policy,
            &["--only", "sudo", "--output", "json"],
        );
        let ev = evidence(&read_report(&out), "sudo");
        assert!(
            ev.iter()
                .any(|e| e.starts_with("/etc/sudoers.d/50-link not read: a symbolic link")),
            "{ev:#?}"
        );
        assert!(
            !ev.iter().any(|e| e.contains("/etc/planted")),
            "the link was followed: {ev:#?}"
        );
        // Names sudo itself skips are skipped too.
        std::fs::write(
            root.path().join("etc/sudoers.d/old~"),
            "ec2-user ALL=(ALL) ALL\n",
        )
        .expect("w");
        std::fs::write(
            root.path().join("etc/sudoers.d/x.rpmsave"),
            "ec2-user ALL=(ALL) ALL\n",
        )
        .expect("w");
        let out = run_on(
            "plan",
            root.path(),
            &policy,
            &["--only", "sudo", "--output", "json"],
        );
        let ev = evidence(&read_report(&out), "sudo");
        assert!(
            !ev.iter()
                .any(|e| e.contains("old~") || e.contains("rpmsave")),
            "{ev:#?}"
        );
    }
}

#[test]
fn an_allow_list_that_would_hand_out_root_is_a_policy_error() {
    let dir = tempfile::tempdir().expect("tmp");
    for (command, hint) in [
        ("/bin/bash", "can start a shell"),
        ("/usr/bin/python3 -c 1", "can start a shell"),
        ("systemctl restart jupyter-server", "not an absolute path"),
        ("/usr/bin/systemctl restart *", "wildcards"),
    ] {
        let policy = write_policy(
            dir.path(),
            &format!("version = 1\n[sudo]\nallow = [\n  \"{command}\",\n]\n"),
        );
        let out = nbwarden(&["policy", "validate", policy.to_str().expect("utf8")]);
        assert_eq!(code(&out), 2, "{command}");
        let err = stderr(&out);
        // toml reports errors inside an array at the array.
        assert!(err.contains("policy.toml:3:9:"), "{command}: {err}");
        assert!(err.contains(hint), "{command}: {err}");
    }
}
