//! The binary end to end on sandbox roots: plan, apply, verify, status,
//! policy errors and exit codes.

#[macro_use]
mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;
use nbwarden::report::Mode;

const STATE: &str = "var/lib/nbwarden";

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    fn plan_prints_diffs_and_changes_nothing() {
        let root = sandbox("al2023");
        let before = snapshot(root.path(), &[]);
        let out = run_on("plan", root.path(), Path::new(example_policy_path()), &[]);
        assert_eq!(
            code(&out),
            1,
            "plan exits 1 when apply would change something"
        );
        let text = stdout(&out);
        assert!(text.contains("--- a/etc/nbwarden/variables.json"), "{text}");
        assert!(text.contains("+++ b/etc/nbwarden/variables.json"), "{text}");
        assert!(
            text.contains("+SAGEMAKER_VPC = \"vpc-0a1b2c3d4e5f67890\""),
            "{text}"
        );
        assert_same(
            &before,
            &snapshot(root.path(), &[]),
            "plan must not touch the root",
        );
        // Its words: `change` for what apply would change (it used to say
        // `fail`), `skip` for a control whose checks plan does not run (it used
        // to say `pass`), never `fail`.
        let json = run_on(
            "plan",
            root.path(),
            Path::new(example_policy_path()),
            &["--output", "json"],
        );
        let report = read_report(&json);
        assert!(report.summary.change > 0, "{report:#?}");
        for c in &report.controls {
            assert_ne!(c.status, nbwarden::report::Status::Fail, "{c:#?}");
            assert_eq!(
                c.status == nbwarden::report::Status::Change,
                !c.changes.is_empty(),
                "{c:#?}"
            );
        }
        assert!(
            report
                .controls
                .iter()
                .any(|c| c.status == nbwarden::report::Status::Skip
                    && c.evidence
                        .iter()
                        .any(|e| e.contains("not run: plan makes none"))),
            "{:#?}",
            report.controls
        );
    }
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    fn apply_converges_and_a_second_apply_changes_nothing() {
        let root = sandbox("al2023");
        let policy = Path::new(example_policy_path());
        let first = run_on("apply", root.path(), policy, &["--output", "json"]);
        assert_eq!(code(&first), 0, "{}", stderr(&first));
        let report = read_report(&first);
        assert_eq!(control(&report, "variables").changes.len(), 3);
        assert_eq!(control(&report, "sudo").status, Status::Fixed);
        assert_eq!(control(&report, "variables").status, Status::Fixed);

        let module = root
            .path()
            .join("usr/local/lib/nbwarden/python/sagemaker_environment.py");
        let meta = std::fs::metadata(&module).expect("module written");
        assert_eq!(meta.permissions().mode() & 0o7777, 0o644);
        let after_first = snapshot(root.path(), &[STATE]);

        let second = run_on("apply", root.path(), policy, &["--output", "json"]);
        assert_eq!(code(&second), 0);
        let report = read_report(&second);
        assert_eq!(report.summary.changes, 0);
        assert_eq!(control(&report, "variables").status, Status::Pass);
        assert_same(
            &after_first,
            &snapshot(root.path(), &[STATE]),
            "a second apply must leave every file byte-identical and unrewritten",
        );
        let plan = run_on("plan", root.path(), policy, &[]);
        assert_eq!(code(&plan), 0, "nothing left to plan: {}", stdout(&plan));
    }
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    fn verify_is_read_only_and_names_tampered_files() {
        let root = sandbox("al2");
        let policy = Path::new(example_policy_path());
        assert_eq!(code(&run_on("apply", root.path(), policy, &[])), 0);

        let before = snapshot(root.path(), &[STATE]);
        let clean = run_on("verify", root.path(), policy, &[]);
        assert_eq!(code(&clean), 0, "{}", stdout(&clean));
        assert_same(
            &before,
            &snapshot(root.path(), &[STATE]),
            "verify touched a file",
        );

        let profile = root.path().join("etc/profile.d/nbwarden-variables.sh");
        std::fs::write(&profile, "export SAGEMAKER_VPC='vpc-evil0000'\n").expect("tamper");
        let json_file = root.path().join("etc/nbwarden/variables.json");
        std::fs::set_permissions(&json_file, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        let tampered = snapshot(root.path(), &[STATE]);

        let out = run_on("verify", root.path(), policy, &[]);
        assert_eq!(code(&out), 1);
        let text = stdout(&out);
        assert!(text.contains("drift in"), "{text}");
        assert!(
            text.contains("/etc/profile.d/nbwarden-variables.sh"),
            "{text}"
        );
        assert!(
            text.contains("-export SAGEMAKER_VPC='vpc-evil0000'"),
            "{text}"
        );
        assert!(text.contains("/etc/nbwarden/variables.json"), "{text}");
        assert!(text.contains("mode 0666 -> 0644"), "{text}");
        assert!(text.contains("NOT COMPLIANT (exit 1)"), "{text}");
        assert_same(
            &tampered,
            &snapshot(root.path(), &[STATE]),
            "verify repaired instead of reporting",
        );

        // apply repairs it, and verify agrees again.
        assert_eq!(code(&run_on("apply", root.path(), policy, &[])), 0);
        assert_eq!(code(&run_on("verify", root.path(), policy, &[])), 0);
    }
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    fn invalid_policies_exit_2_with_position_and_change_nothing() {
        let root = sandbox("al2023");
        let before = snapshot(root.path(), &[]);
        let dir = tempfile::tempdir().expect("tmp");
        let cases = [
            (
                "version = 1\nusr = \"ec2-user\"\n",
                ":2:1:",
                "did you mean `user`",
            ),
            ("version = 1\nuser = 1000\n", ":2:8:", "invalid type"),
            ("user = \"ec2-user\"\n", ":1:1:", "missing field `version`"),
            (
                "version = 2\n",
                ":1:11:",
                "this nbwarden reads `version = 1`",
            ),
            (
                "version = 1\n[variables.values.SAGEMAKER_VPC]\nvalue = \"vpc-1\"\nkind = \"vpc\"\n",
                "policy.toml:",
                "not a valid Vpc value",
            ),
            ("version = 1\n[variables\n", ":2:", "TOML"),
        ];
        for (text, position, hint) in cases {
            let policy = write_policy(dir.path(), text);
            for cmd in ["apply", "plan", "verify"] {
                let out = run_on(cmd, root.path(), &policy, &[]);
                assert_eq!(code(&out), 2, "{cmd} with {text:?}: {}", stderr(&out));
                let err = stderr(&out);
                assert!(err.contains(position), "{text:?}: no {position} in {err}");
                assert!(err.contains(hint), "{text:?}: no {hint:?} in {err}");
                assert!(err.contains("hint:"), "{err}");
            }
            let out = nbwarden(&["policy", "validate", policy.to_str().expect("utf8")]);
            assert_eq!(code(&out), 2);
        }
        assert_same(
            &before,
            &snapshot(root.path(), &[]),
            "an invalid policy changed the root",
        );
    }
}

#[test]
fn an_unusable_root_or_policy_file_exits_3() {
    let dir = tempfile::tempdir().expect("tmp");
    let missing = dir.path().join("no-such-root");
    let out = run_on("verify", &missing, Path::new(example_policy_path()), &[]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("no-such-root"));

    let a_file = write_policy(dir.path(), "version = 1\n");
    let out = run_on("apply", &a_file, Path::new(example_policy_path()), &[]);
    assert_eq!(code(&out), 3, "a regular file is no root: {}", stderr(&out));

    let root = sandbox("al2023");
    let out = run_on("apply", root.path(), &dir.path().join("absent.toml"), &[]);
    assert_eq!(code(&out), 3);
    assert!(stderr(&out).contains("absent.toml"));
}

#[test]
fn bad_usage_exits_2() {
    let root = sandbox("al2023");
    let out = run_on(
        "apply",
        root.path(),
        Path::new(example_policy_path()),
        &["--only", "nosuch"],
    );
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("possible values: sudo, packages, variables"),
        "{}",
        stderr(&out)
    );
    assert_eq!(code(&nbwarden(&["frobnicate"])), 2);
    let out = run_on(
        "apply",
        root.path(),
        Path::new(example_policy_path()),
        &["--deadline", "soon"],
    );
    assert_eq!(code(&out), 2);
    assert!(
        !root.path().join("etc/nbwarden").exists(),
        "bad usage must change nothing"
    );
    assert_eq!(code(&nbwarden(&["--help"])), 0);
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    fn only_runs_the_named_controls() {
        let root = sandbox("al2023");
        let out = run_on(
            "apply",
            root.path(),
            Path::new(example_policy_path()),
            &["--only", "variables", "--output", "json"],
        );
        assert_eq!(code(&out), 0);
        let ids: Vec<String> = read_report(&out)
            .controls
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, ["variables"]);
    }
}

#[test]
fn an_absent_section_is_reported_as_skip() {
    let root = sandbox("al2023");
    let dir = tempfile::tempdir().expect("tmp");
    let policy = write_policy(dir.path(), "version = 1\n[verify.egress]\n");
    let out = run_on("apply", root.path(), &policy, &["--output", "json"]);
    assert_eq!(code(&out), 0, "{}", output_text(&out));
    let report = read_report(&out);
    for id in ["sudo", "variables"] {
        assert_eq!(control(&report, id).status, Status::Skip);
    }
    assert!(!root.path().join("etc/nbwarden").exists());

    // With no control at all the run proves nothing: said, exit 2.
    let empty = write_policy(dir.path(), "version = 1\n");
    let out = run_on("verify", root.path(), &empty, &[]);
    assert_eq!(code(&out), 2, "{}", output_text(&out));
    assert!(
        stderr(&out).contains("nothing would be checked"),
        "{}",
        stderr(&out)
    );
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    fn json_and_junit_reports_describe_the_run() {
        let root = sandbox("al2023");
        let out = run_on(
            "apply",
            root.path(),
            Path::new(example_policy_path()),
            &["--output", "json"],
        );
        let r = read_report(&out);
        assert_eq!(r.schema_version, nbwarden::report::SCHEMA_VERSION);
        assert_eq!(r.command, Mode::Apply);
        assert_eq!(r.host.os.distro, nbwarden::host::Distro::AmazonLinux2023);
        assert_eq!(r.exit_code, 0);
        assert_eq!(r.policy.sha256.len(), 64);
        let change = &control(&r, "variables").changes[0];
        assert_eq!(change.action, nbwarden::report::ChangeAction::Create);
        assert!(change.path.starts_with('/'));

        let out = run_on(
            "verify",
            root.path(),
            Path::new(example_policy_path()),
            &["--output", "junit"],
        );
        assert_eq!(code(&out), 0);
        let xml = stdout(&out);
        assert!(xml.starts_with("<?xml"));
        assert!(
            xml.contains("<testcase classname=\"nbwarden.verify\" name=\"variables\""),
            "{xml}"
        );
        // Only egress may fail: it is advisory in the example, and this
        // machine may reach the public index.
        let egress_fails = xml
            .split("name=\"egress\"")
            .nth(1)
            .and_then(|rest| rest.split("</testcase>").next())
            .is_some_and(|case| case.contains("<failure"));
        assert_eq!(
            xml.matches("<failure").count(),
            usize::from(egress_fails),
            "{xml}"
        );
        assert!(xml.contains(" errors=\"0\""), "{xml}");
    }
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    fn status_shows_the_last_run_and_its_exit_code() {
        let root = sandbox("al2023");
        let r = root.path().to_str().expect("utf8");
        let none = nbwarden(&["status", "--root", r]);
        assert_eq!(code(&none), 3);
        assert!(
            stderr(&none).contains("no run recorded yet"),
            "{}",
            stderr(&none)
        );

        assert_eq!(
            code(&run_on(
                "apply",
                root.path(),
                Path::new(example_policy_path()),
                &[]
            )),
            0
        );
        let state = root.path().join(STATE).join("last-run.json");
        let mode = std::fs::metadata(&state)
            .expect("state file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
        let out = nbwarden(&["status", "--root", r, "--output", "json"]);
        assert_eq!(code(&out), 0);
        assert_eq!(read_report(&out).command, Mode::Apply);

        std::fs::write(root.path().join("etc/nbwarden/variables.json"), "{}\n").expect("tamper");
        assert_eq!(
            code(&run_on(
                "verify",
                root.path(),
                Path::new(example_policy_path()),
                &[]
            )),
            1
        );
        let out = nbwarden(&["status", "--root", r]);
        assert_eq!(code(&out), 1, "status exits with the recorded run's code");
        assert!(stdout(&out).contains("nbwarden verify"));

        std::fs::write(&state, "{ not a report").expect("corrupt");
        let out = nbwarden(&["status", "--root", r]);
        assert_eq!(code(&out), 3);
        assert!(stderr(&out).contains("last-run.json"), "{}", stderr(&out));
    }
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    /// On a notebook that has recorded nothing yet, `status --wait` waits for
    /// the first run (as `cloud-init status --wait` does) instead of exiting 3
    /// at once; with no run coming it gives up at its deadline.
    fn status_wait_waits_for_the_first_run() {
        use std::time::{Duration, Instant};
        let root = sandbox("al2023");
        let root_arg = root.path().to_str().expect("utf8").to_string();
        let started = Instant::now();
        let none = nbwarden(&["status", "--wait", "--deadline", "1s", "--root", &root_arg]);
        assert_eq!(code(&none), 3, "{}", output_text(&none));
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "gave up at once"
        );
        assert!(
            stderr(&none).contains("no run recorded yet"),
            "{}",
            stderr(&none)
        );

        let waiter = std::process::Command::new(env!("CARGO_BIN_EXE_nbwarden"))
            .args(["status", "--wait", "--deadline", "60s", "--root", &root_arg])
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("status --wait");
        std::thread::sleep(Duration::from_millis(500));
        let apply = run_on(
            "apply",
            root.path(),
            Path::new(example_policy_path()),
            &["-q"],
        );
        assert_eq!(code(&apply), 0, "{}", output_text(&apply));
        let out = waiter.wait_with_output().expect("status");
        assert_eq!(code(&out), 0, "{}", output_text(&out));
        assert!(stdout(&out).contains("apply"), "{}", stdout(&out));
    }
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    fn status_wait_waits_for_the_run_lock() {
        use std::time::{Duration, Instant};
        let root = sandbox("al2023");
        assert_eq!(
            code(&run_on(
                "apply",
                root.path(),
                Path::new(example_policy_path()),
                &[]
            )),
            0
        );
        // Hold the run lock the way a running apply does, from a child process.
        let lock = root.path().join(STATE).join("run.lock");
        let mut holder = std::process::Command::new("flock")
            .arg(&lock)
            .args(["sleep", "1.5"])
            .spawn()
            .expect("flock(1) from util-linux");
        std::thread::sleep(Duration::from_millis(300));
        let started = Instant::now();
        let out = nbwarden(&[
            "status",
            "--wait",
            "--root",
            root.path().to_str().expect("utf8"),
        ]);
        let waited = started.elapsed();
        let _ = holder.wait();
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert!(
            waited >= Duration::from_millis(800),
            "returned after {waited:?} while locked"
        );

        // A run that is still going when the deadline passes is an error.
        let mut holder = std::process::Command::new("flock")
            .arg(&lock)
            .args(["sleep", "3"])
            .spawn()
            .expect("flock");
        std::thread::sleep(Duration::from_millis(300));
        let out = nbwarden(&[
            "status",
            "--wait",
            "--deadline",
            "500ms",
            "--root",
            root.path().to_str().expect("utf8"),
        ]);
        let _ = holder.kill();
        let _ = holder.wait();
        assert_eq!(code(&out), 3);
    }
}

#[test]
fn policy_schema_and_version_commands() {
    let out = nbwarden(&["policy", "schema"]);
    assert_eq!(code(&out), 0);
    let schema = json(&out);
    assert_eq!(schema["additionalProperties"], false);
    assert!(
        schema["required"]
            .as_array()
            .is_some_and(|r| r.contains(&"version".into()))
    );

    let out = nbwarden(&["version"]);
    assert_eq!(code(&out), 0);
    let text = stdout(&out);
    for field in ["nbwarden ", "commit: ", "target: ", "built: "] {
        assert!(text.contains(field), "{field} missing: {text}");
    }
}

#[test]
fn the_checked_in_schema_is_current() {
    let out = nbwarden(&["policy", "schema"]);
    let checked_in =
        std::fs::read_to_string(repo().join("config/policy.schema.json")).expect("schema file");
    assert!(
        stdout(&out) == checked_in,
        "config/policy.schema.json is stale: run `cargo run -- policy schema > config/policy.schema.json`"
    );
}

#[test]
fn the_example_policy_is_valid() {
    let shipped = repo().join("config/policy.example.toml");
    let out = nbwarden(&["policy", "validate", shipped.to_str().expect("utf8")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Editors (taplo, Even Better TOML) validate as you type through this.
    let text = std::fs::read_to_string(&shipped).expect("example");
    assert!(
        text.starts_with("#:schema ./policy.schema.json\n"),
        "{text}"
    );
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    fn the_python_module_imports_with_hostile_values() {
        let root = sandbox("al2023");
        let dir = tempfile::tempdir().expect("tmp");
        let hostile = "a'b\\\"c\\\\d\\n$(id) `x` é \\u2028 \\\\\\n";
        let policy = write_policy(
            dir.path(),
            &format!(
                "version = 1\n[variables.values.NASTY]\nvalue = \"{hostile}\"\n\
                 [variables.values.LIST]\nvalue = [\"x'y\", \"\\\"\"]\n"
            ),
        );
        assert_eq!(code(&run_on("apply", root.path(), &policy, &[])), 0);
        let expected: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root.path().join("etc/nbwarden/variables.json")).expect("json"),
        )
        .expect("valid json");
        let py = std::process::Command::new("python3")
            .args([
                "-c",
                "import json, sagemaker_environment as m; \
                 print(json.dumps({'NASTY': m.NASTY, 'LIST': m.LIST}))",
            ])
            .env(
                "PYTHONPATH",
                root.path().join("usr/local/lib/nbwarden/python"),
            )
            .output()
            .expect("python3");
        assert!(
            py.status.success(),
            "{}",
            String::from_utf8_lossy(&py.stderr)
        );
        let imported = common::json(&py);
        assert_eq!(imported, expected);
        assert!(
            expected["NASTY"]
                .as_str()
                .is_some_and(|s| s.contains("é") && s.contains('\n'))
        );

        let sh = std::process::Command::new("sh")
            .args(["-c", ". \"$1\"; printf %s \"$LIST\"", "sh"])
            .arg(root.path().join("etc/profile.d/nbwarden-variables.sh"))
            .output()
            .expect("sh");
        assert_eq!(String::from_utf8_lossy(&sh.stdout), "x'y,\"");
    }
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    fn a_planted_symlink_makes_the_write_fail_and_leaves_the_target_untouched() {
        let root = sandbox("al2023");
        // A shared directory outside the user-writable prefixes the policy
        // refuses outright (/home, /tmp…), writable by everyone.
        let shared = root.path().join("srv/shared");
        std::fs::create_dir_all(&shared).expect("mkdir");
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let shadow = root.path().join("etc/gshadow");
        let before = std::fs::read(&shadow).expect("gshadow");
        std::os::unix::fs::symlink("/etc/gshadow", shared.join("variables.json")).expect("plant");
        std::os::unix::fs::symlink("/etc", shared.join("conf")).expect("plant");
        let dir = tempfile::tempdir().expect("tmp");
        for target in ["/srv/shared/variables.json", "/srv/shared/conf/gshadow"] {
            let policy = write_policy(
                dir.path(),
                &format!(
                    "version = 1\n[variables]\njson_path = \"{target}\"\n[variables.values.A]\nvalue = \"b\"\n"
                ),
            );
            let out = run_on("apply", root.path(), &policy, &[]);
            assert_eq!(code(&out), 3, "{}", stdout(&out));
            assert!(stdout(&out).contains("symbolic link"), "{}", stdout(&out));
            assert_eq!(
                std::fs::read(&shadow).expect("gshadow"),
                before,
                "target was written"
            );
        }
        // In the user's home the policy itself is refused: exit 2, nothing read.
        let policy = write_policy(
            dir.path(),
            "version = 1\n[variables]\njson_path = \"/home/ec2-user/variables.json\"\n",
        );
        let out = run_on("apply", root.path(), &policy, &[]);
        assert_eq!(code(&out), 2, "{}", output_text(&out));
        assert!(
            output_text(&out).contains("notebook user can write"),
            "{}",
            output_text(&out)
        );
        assert_eq!(std::fs::read(&shadow).expect("gshadow"), before);
    }
}

#[test]
fn logs_one_start_and_one_end_line_per_control_on_stderr() {
    let root = sandbox("al2023");
    let out = run_on("apply", root.path(), Path::new(example_policy_path()), &[]);
    let err = stderr(&out);
    for id in ["sudo", "packages", "variables"] {
        let started = format!("control started control=\"{id}\"");
        let finished = format!("control finished control=\"{id}\"");
        assert_eq!(err.matches(&started).count(), 1, "{err}");
        assert_eq!(err.matches(&finished).count(), 1, "{err}");
    }
    assert!(err.contains("duration_ms="), "{err}");
    assert!(
        !stdout(&out).contains("control started"),
        "logs must stay off stdout"
    );
    let quiet = run_on(
        "apply",
        root.path(),
        Path::new(example_policy_path()),
        &["-q"],
    );
    assert!(!stderr(&quiet).contains("control started"));
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    /// An administrator's `verify` or `plan` in a terminal, with no --policy,
    /// uses the policy the lifecycle's start ran with, as its units do.
    fn without_policy_the_lifecycle_environment_file_names_it() {
        let root = sandbox("al2023");
        let policies = tempfile::tempdir().expect("tmp");
        let policy = write_policy(
            policies.path(),
            "version = 1\n[variables.values.FROM_LIFECYCLE]\nvalue = \"yes\"\n",
        );
        let env = root.path().join("etc/nbwarden/lifecycle.env");
        std::fs::create_dir_all(env.parent().expect("parent")).expect("mkdir");
        std::fs::write(&env, format!("NBWARDEN_POLICY={}\n", policy.display())).expect("env");
        let root_arg = root.path().to_str().expect("utf8");
        let plan = nbwarden(&["plan", "--root", root_arg, "--output", "json"]);
        assert_eq!(code(&plan), 1, "{}", output_text(&plan));
        let report = read_report(&plan);
        assert_eq!(
            report.policy.source,
            policy.display().to_string(),
            "{report:#?}"
        );

        // A pin in the file is enforced.
        std::fs::write(
            &env,
            format!(
                "NBWARDEN_POLICY={}\nNBWARDEN_POLICY_SHA256={}\n",
                policy.display(),
                "0".repeat(64)
            ),
        )
        .expect("env");
        let pinned = nbwarden(&["plan", "--root", root_arg]);
        assert_eq!(code(&pinned), 3, "{}", output_text(&pinned));
        assert!(stderr(&pinned).contains("sha256"), "{}", stderr(&pinned));

        // A file the notebook user's group could have written chooses nothing.
        std::fs::write(&env, format!("NBWARDEN_POLICY={}\n", policy.display())).expect("env");
        std::fs::set_permissions(&env, std::os::unix::fs::PermissionsExt::from_mode(0o664))
            .expect("chmod");
        std::os::unix::fs::chown(&env, Some(0), Some(1000)).expect("chown");
        let weak = nbwarden(&["plan", "--root", root_arg]);
        assert_eq!(code(&weak), 2, "{}", output_text(&weak));
        assert!(
            stderr(&weak).contains("lifecycle.env") && stderr(&weak).contains("cannot be trusted"),
            "{}",
            stderr(&weak)
        );
    }
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    /// A run limited by --only (the monitor's re-apply, the token refresh)
    /// never replaces the instance's recorded verdict with its own part.
    fn a_scoped_run_does_not_replace_the_recorded_verdict() {
        let root = sandbox("al2023");
        let policies = tempfile::tempdir().expect("tmp");
        let policy = write_policy(
            policies.path(),
            "version = 1\n[variables.values.A]\nvalue = \"a\"\n[environment.values]\nB = { value = \"b\" }\n",
        );
        let full = run_on("apply", root.path(), &policy, &["-q"]);
        assert_eq!(code(&full), 0, "{}", output_text(&full));
        let scoped = run_on(
            "apply",
            root.path(),
            &policy,
            &["--only", "variables", "-q"],
        );
        assert_eq!(code(&scoped), 0, "{}", output_text(&scoped));
        let status = nbwarden(&[
            "status",
            "--root",
            root.path().to_str().expect("utf8"),
            "--output",
            "json",
        ]);
        let report = read_report(&status);
        assert_eq!(report.command, Mode::Apply);
        let environment = common::control(&report, "environment");
        assert_eq!(
            environment.status,
            Status::Fixed,
            "status shows the scoped run, not the full one: {report:#?}"
        );
    }
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    /// `[service]` where systemd is not PID 1 (a sandbox root): the units are
    /// written from the binary's own copies, nothing is started, and the
    /// report says so; a second apply changes nothing.
    fn service_units_are_written_but_not_started_without_systemd() {
        let root = sandbox("al2023");
        let policies = tempfile::tempdir().expect("tmp");
        let policy = write_policy(
            policies.path(),
            "version = 1\n[service]\nverify_every = \"20m\"\n[monitoring]\n",
        );
        let apply = run_on("apply", root.path(), &policy, &["--output", "json"]);
        assert_eq!(code(&apply), 0, "{}", output_text(&apply));
        let report = read_report(&apply);
        let service = common::control(&report, "service");
        assert_eq!(service.status, Status::Fixed, "{service:#?}");
        assert!(
            evidence(&report, "service")
                .iter()
                .any(|e| e.contains("systemd is not PID 1 here")),
            "{service:#?}"
        );
        let units = root.path().join("etc/systemd/system");
        for (name, shipped) in [
            ("nbwarden-verify.timer", "systemd/nbwarden-verify.timer"),
            (
                "nbwarden-monitor.service",
                "systemd/nbwarden-monitor.service",
            ),
        ] {
            let template = std::fs::read_to_string(repo().join(shipped)).expect("shipped");
            assert_eq!(
                std::fs::read_to_string(units.join(name)).expect("unit"),
                template.replace("@NBWARDEN@", "/usr/local/bin/nbwarden"),
                "{name} is not the shipped unit for the lifecycle path"
            );
        }
        let drop_in =
            std::fs::read_to_string(units.join("nbwarden-verify.timer.d/50-nbwarden-policy.conf"))
                .expect("timer drop-in");
        assert!(drop_in.contains("OnUnitActiveSec=1200s"), "{drop_in}");
        assert!(!units.join("nbwarden-codeartifact.timer").exists());
        // The sandbox has no binary where the units look for one, and says so.
        let missing = "no nbwarden binary at /usr/local/bin/nbwarden or /usr/bin/nbwarden";
        assert!(
            evidence(&report, "service")
                .iter()
                .any(|e| e.contains(missing)),
            "{service:#?}"
        );
        let again = run_on("apply", root.path(), &policy, &["--output", "json"]);
        assert_eq!(
            common::control(&read_report(&again), "service").status,
            Status::Pass
        );
        std::fs::create_dir_all(root.path().join("usr/local/bin")).expect("bin dir");
        std::fs::copy(
            env!("CARGO_BIN_EXE_nbwarden"),
            root.path().join("usr/local/bin/nbwarden"),
        )
        .expect("binary");
        let installed = run_on("verify", root.path(), &policy, &["--output", "json"]);
        let report = read_report(&installed);
        assert!(
            !evidence(&report, "service")
                .iter()
                .any(|e| e.contains(missing)),
            "{report:#?}"
        );
    }
}

/// `lifecycle render --s3-endpoint-url` takes an endpoint, not any string.
#[test]
fn a_bad_s3_endpoint_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let sha = "0".repeat(64);
    let pair = format!("x86_64={sha}");
    for bad in [
        "s3.amazonaws.com",
        "ftp://x.example",
        "https://x.example/?a=1",
        "https://",
    ] {
        let out = nbwarden(&[
            "lifecycle",
            "render",
            "--bundle",
            "s3://b/p/v1",
            "--binary-sha256",
            &pair,
            "--s3-endpoint-url",
            bad,
            "--out",
            dir.path().to_str().expect("utf8"),
        ]);
        assert_eq!(code(&out), 2, "{bad}: {}", output_text(&out));
        assert!(
            stderr(&out).contains("s3-endpoint-url"),
            "{bad}: {}",
            stderr(&out)
        );
    }
    let ok = nbwarden(&[
        "lifecycle",
        "render",
        "--bundle",
        "s3://b/p/v1",
        "--binary-sha256",
        &pair,
        "--s3-endpoint-url",
        "http://127.0.0.1:45010",
        "--out",
        dir.path().to_str().expect("utf8"),
    ]);
    assert_eq!(code(&ok), 0, "{}", output_text(&ok));
}

system_test! {
    /// The checked-in schema read by a third-party validator (Python's
    /// `jsonschema`, from the services' venv): the example policy is valid, and
    /// a wrong value is reported at its leaf, not as "not valid under any of
    /// the given schemas".
    fn a_third_party_validator_reports_the_wrong_leaf() {
        let script = r#"
import json, sys, tomllib, jsonschema
schema = json.load(open(sys.argv[2]))
validator = jsonschema.Draft202012Validator(schema)
for path in sys.argv[3:]:
    with open(path, "rb") as f:
        doc = tomllib.load(f)
    for e in validator.iter_errors(doc):
        print(path, "/".join(str(p) for p in e.absolute_path), e.message)
"#;
        let dir = tempfile::tempdir().expect("tmp");
        let bad = write_policy(
            dir.path(),
            "version = 1\n[sudo]\nallow = [1]\n[packages.pip]\nindex_url = \"https://m.example/\"\ntimeout = \"soon\"\n",
        );
        let schema = repo().join("config/policy.schema.json");
        let shipped = repo().join("config/policy.example.toml");
        let shipped = shipped.to_str().expect("utf8");
        let out = common::notebook::boto3(
            script,
            &[
                schema.to_str().expect("utf8"),
                shipped,
                bad.to_str().expect("utf8"),
            ],
        );
        assert!(out.status.success(), "{}", output_text(&out));
        let text = stdout(&out);
        assert!(
            !text.contains(shipped),
            "the example policy is invalid:\n{text}"
        );
        assert!(
            text.contains("sudo/allow/0 1 is not of type 'string'"),
            "{text}"
        );
        assert!(
            text.contains("packages/pip/timeout 'soon' is not of type 'integer'"),
            "{text}"
        );
        assert!(
            !text.contains("not valid under any of the given schemas"),
            "{text}"
        );
    }
}

system_test! {
    "system tier: needs the services' venv and npm tools (scripts/test)";
    /// What editors (taplo, under Even Better TOML) and CI (check-jsonschema)
    /// run on a policy accept the example with the shipped schema (taplo used
    /// to report about 2,000 "is not a regex" errors: `\0` in two patterns),
    /// follow its `#:schema` line, and refuse a wrong value and an unknown key.
    fn taplo_and_check_jsonschema_accept_the_example_and_refuse_mistakes() {
        let dir = tempfile::tempdir().expect("tmp");
        // Beside the schema, as the README tells administrators to keep it.
        std::fs::copy(
            repo().join("config/policy.schema.json"),
            dir.path().join("policy.schema.json"),
        )
        .expect("schema");
        let example =
            std::fs::read_to_string(repo().join("config/policy.example.toml")).expect("example");
        assert!(
            example.starts_with("#:schema ./policy.schema.json"),
            "the directive"
        );
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write");
            path
        };
        let cases = [
            (write("example.toml", &example), true),
            (
                write(
                    "wrong-type.toml",
                    &example.replacen("user = \"ec2-user\"", "user = 5", 1),
                ),
                false,
            ),
            (
                write(
                    "unknown-key.toml",
                    &example.replacen("version = 1", "version = 1\nbogus = 1", 1),
                ),
                false,
            ),
            (
                write(
                    "user-path.toml",
                    "#:schema ./policy.schema.json\nversion = 1\n[variables]\njson_path = \"/home/ec2-user/v.json\"\n",
                ),
                false,
            ),
        ];
        assert!(
            example.contains("user = \"ec2-user\""),
            "the example names its user"
        );
        let taplo = std::path::Path::new(&common::notebook::service("NBWARDEN_TEST_IAM_NODE_PATH"))
            .join(".bin/taplo");
        let venv = common::notebook::service("NBWARDEN_TEST_VENV");
        let schema = dir.path().join("policy.schema.json");
        for (file, valid) in &cases {
            // taplo through the file's own `#:schema` line.
            let out = std::process::Command::new(&taplo)
                .args(["lint", "--no-auto-config", "--colors", "never"])
                .arg(file)
                .env("RUST_LOG", "error")
                .output()
                .expect("taplo");
            assert_eq!(
                out.status.success(),
                *valid,
                "taplo on {}: {}",
                file.display(),
                output_text(&out)
            );
            assert!(
                !stderr(&out).contains("is not a \"regex\""),
                "{}",
                output_text(&out)
            );
            let out = std::process::Command::new(format!("{venv}/bin/check-jsonschema"))
                .args(["--color", "never", "--schemafile"])
                .arg(&schema)
                .arg(file)
                .output()
                .expect("check-jsonschema");
            assert_eq!(
                out.status.success(),
                *valid,
                "check-jsonschema on {}: {}",
                file.display(),
                output_text(&out)
            );
        }
    }
}

/// `--help` states the policy's real defaults, `lifecycle render`'s too.
#[test]
fn help_names_the_policy_defaults() {
    let out = nbwarden(&["lifecycle", "render", "--help"]);
    assert_eq!(code(&out), 0);
    let help = stdout(&out)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        help.contains("for `lifecycle render`, the policy the scripts load: BUNDLE/policy.toml"),
        "{help}"
    );
    assert!(help.contains("/etc/nbwarden/lifecycle.env"), "{help}");
}

/// The templates and the cross-check read `[governance]` from a local
/// policy file: a typo in it is exit 2 at its line and column, a remote
/// source is refused with the fix, a missing file is exit 3, and nothing
/// is printed for any of them.
#[test]
fn a_bad_governance_section_names_the_file_and_prints_no_template() {
    let dir = tempfile::tempdir().expect("tmp");
    let typo = write_policy(dir.path(), "version = 1\n[governance]\nvcp = false\n");
    let missing = dir.path().join("missing.toml");
    for (args, want, says) in [
        (
            vec![
                "--policy",
                typo.to_str().expect("utf-8"),
                "lifecycle",
                "notebook-stack",
            ],
            2,
            ":3:1",
        ),
        (
            vec![
                "--policy",
                "s3://b/policy.toml",
                "lifecycle",
                "guardrail-scp",
            ],
            2,
            "download it first",
        ),
        (
            vec![
                "--policy",
                missing.to_str().expect("utf-8"),
                "lifecycle",
                "notebook-stack",
            ],
            3,
            "cannot read policy file",
        ),
    ] {
        let out = nbwarden(&args);
        assert_eq!(code(&out), want, "{args:?}: {}", output_text(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{args:?}: {}", stdout(&out));
    }
}

/// `policy validate` used to call valid a policy every run refuses (no
/// control on): it now applies the runs' own rule, from the same code.
#[test]
fn policy_validate_refuses_what_every_run_refuses() {
    let root = sandbox("al2023");
    let dir = tempfile::tempdir().expect("tmp");
    let nothing_on = write_policy(dir.path(), "version = 1\nuser = \"ec2-user\"\n");
    let validate = nbwarden(&["policy", "validate", nothing_on.to_str().expect("utf8")]);
    let verify = run_on("verify", root.path(), &nothing_on, &[]);
    for out in [&validate, &verify] {
        assert_eq!(code(out), 2, "{}", output_text(out));
        assert!(
            stderr(out).contains("nothing would be checked"),
            "{}",
            stderr(out)
        );
    }
    assert!(stdout(&validate).is_empty(), "{}", stdout(&validate));
    let one_on = write_policy(dir.path(), "version = 1\n[sudo]\n");
    let out = nbwarden(&["policy", "validate", one_on.to_str().expect("utf8")]);
    assert_eq!(code(&out), 0, "{}", output_text(&out));
    assert!(stdout(&out).contains("valid policy"), "{}", stdout(&out));
}

system_test! {
    "needs root: a mount namespace hides /proc (scripts/test, or --features system-tier as root)";
    /// In a root without `/proc` (an image build's chroot) every file used to
    /// fail on its own line ("cannot read the capabilities of …: ENOENT"): one
    /// line now says what is missing, and nothing is changed.
    fn without_proc_one_line_says_to_mount_it() {
        let root = sandbox("al2023");
        let before = snapshot(root.path(), &[]);
        let hide = "mount -t tmpfs none /proc && exec \"$@\"";
        let out = std::process::Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", hide, "sh"])
            .arg(env!("CARGO_BIN_EXE_nbwarden"))
            .args(["apply", "--root"])
            .arg(root.path())
            .arg("--policy")
            .arg(example_policy_path())
            .env("NO_COLOR", "1")
            .output()
            .expect("unshare");
        assert_eq!(code(&out), 3, "{}", output_text(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("/proc is not mounted"), "{err}");
        assert!(err.contains("mount -t proc proc /proc"), "{err}");
        assert_same(
            &before,
            &snapshot(root.path(), &[]),
            "changed without /proc",
        );
    }
}
