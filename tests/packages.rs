//! The packages control on Amazon Linux fixture roots: the files it writes,
//! what it keeps, and every override it must name.

#[macro_use]
mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;

/// Port 9 (discard) refuses at once on loopback: an unreachable mirror.
const UNREACHABLE: &str = "http://127.0.0.1:9/simple/";

fn policy(extra: &str) -> String {
    common::with_blocked_indexes(&format!(
        "version = 1\n[packages]\n{extra}\n[packages.pip]\nindex_url = \"{UNREACHABLE}\"\n\
         trusted_hosts = [\"127.0.0.1\"]\ntimeout = 20\n\
         [packages.conda]\nchannels = [\"https://conda.mirror.example/main\"]\n"
    ))
}

fn ev(out: &std::process::Output) -> Vec<String> {
    evidence(&read_report(out), "packages")
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    fn apply_writes_system_files_keeps_other_settings_and_converges() {
        let root = sandbox("al2023");
        std::fs::write(
            root.path().join("etc/pip.conf"),
            "[global]\nindex-url = https://pypi.org/simple\ndisable-pip-version-check = true\n",
        )
        .expect("image pip.conf");
        let dir = tempfile::tempdir().expect("tmp");
        let p = write_policy(dir.path(), &policy(""));
        let out = run_on(
            "apply",
            root.path(),
            &p,
            &["--only", "packages", "--output", "json"],
        );
        assert_eq!(code(&out), 0, "{}", stdout(&out));
        let e = ev(&out);
        assert!(
            e.iter()
                .any(|l| l.contains("did not answer") && l.contains("live checks not run")),
            "{e:#?}"
        );
        for path in ["etc/pip.conf", "etc/xdg/pip/pip.conf"] {
            let text = std::fs::read_to_string(root.path().join(path)).expect(path);
            assert!(
                text.contains(&format!("index-url = {UNREACHABLE}")),
                "{path}: {text}"
            );
            assert!(!text.contains("pypi.org"), "{path}: {text}");
            let mode = std::fs::metadata(root.path().join(path))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o7777, 0o644);
        }
        let kept = std::fs::read_to_string(root.path().join("etc/pip.conf")).expect("pip.conf");
        assert!(kept.contains("disable-pip-version-check = true"), "{kept}");
        for path in ["etc/conda/.condarc", "home/ec2-user/anaconda3/.condarc"] {
            let text = std::fs::read_to_string(root.path().join(path)).expect(path);
            assert!(
                text.contains("- https://conda.mirror.example/main"),
                "{path}: {text}"
            );
        }
        let again = run_on(
            "apply",
            root.path(),
            &p,
            &["--only", "packages", "--output", "json"],
        );
        assert_eq!(read_report(&again).summary.changes, 0, "{}", stdout(&again));
    }
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    fn a_required_probe_fails_when_the_mirror_does_not_answer() {
        let root = sandbox("al2");
        let dir = tempfile::tempdir().expect("tmp");
        let p = write_policy(dir.path(), &policy("probe = \"required\""));
        let out = run_on(
            "apply",
            root.path(),
            &p,
            &["--only", "packages", "--output", "json"],
        );
        assert_eq!(code(&out), 1, "{}", stdout(&out));
        assert!(
            ev(&out)
                .iter()
                .any(|l| l.contains("FAILED: the index did not answer")),
            "{:#?}",
            ev(&out)
        );
    }
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    fn every_user_and_environment_override_is_named() {
        let root = sandbox("al2023");
        let dir = tempfile::tempdir().expect("tmp");
        let p = write_policy(dir.path(), &policy(""));
        assert_eq!(
            code(&run_on("apply", root.path(), &p, &["--only", "packages"])),
            0
        );
        let home = root.path().join("home/ec2-user");
        let plant = |rel: &str, text: &str| {
            let path = home.join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, text).expect("plant");
        };
        plant(
            ".config/pip/pip.conf",
            "[global]\nindex-url = https://pypi.org/simple\n",
        );
        plant(
            "anaconda3/envs/python3/pip.conf",
            "[install]\nextra-index-url = https://evil.example/simple\n",
        );
        plant(".condarc", "channels:\n  - conda-forge\n");
        // A persistent environment on the ML volume with its own channels.
        std::fs::create_dir_all(home.join("SageMaker/envs/team/conda-meta")).expect("env");
        plant(
            "SageMaker/envs/team/.condarc",
            "channel_alias: https://public.example\n",
        );
        std::fs::create_dir_all(root.path().join("etc/profile.d")).expect("profile.d");
        std::fs::write(
            root.path().join("etc/profile.d/proxy.sh"),
            "export PIP_INDEX_URL=https://pypi.org/simple\n",
        )
        .expect("profile");

        let out = run_on(
            "verify",
            root.path(),
            &p,
            &["--only", "packages", "--output", "json"],
        );
        assert_eq!(code(&out), 1, "{}", stdout(&out));
        let e = ev(&out);
        for expected in [
            "override in /home/ec2-user/.config/pip/pip.conf: [global] index-url = https://pypi.org/simple",
            "override in /home/ec2-user/anaconda3/envs/python3/pip.conf: [install] extra-index-url = https://evil.example/simple",
            // The system file marks channels #!final: conda ignores the user's.
            "ignored by conda: /home/ec2-user/.condarc: channels: [\"conda-forge\"] (channels is #!final in /etc/conda/.condarc)",
            "override in /home/ec2-user/SageMaker/envs/team/.condarc: channel_alias: \"https://public.example\"",
            "override in /etc/profile.d/proxy.sh: line 1: export PIP_INDEX_URL=https://pypi.org/simple",
            "environment: /home/ec2-user/SageMaker/envs/team",
        ] {
            assert!(
                e.contains(&expected.to_string()),
                "missing {expected}\n{e:#?}"
            );
        }

        let warn = write_policy(dir.path(), &policy("on_user_override = \"warn\""));
        let out = run_on(
            "verify",
            root.path(),
            &warn,
            &["--only", "packages", "--output", "json"],
        );
        assert_eq!(code(&out), 0, "{}", stdout(&out));
        assert!(
            ev(&out)
                .iter()
                .any(|l| l.starts_with("warning: override in /home/ec2-user/.config/pip/pip.conf"))
        );
    }
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    fn a_symlinked_user_file_is_not_followed_but_counts_against_the_host() {
        let root = sandbox("al2023");
        let home = root.path().join("home/ec2-user");
        std::fs::create_dir_all(home.join(".config/pip")).expect("mkdir");
        if !is_root() {
            std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        }
        std::os::unix::fs::symlink("/etc/gshadow", home.join(".config/pip/pip.conf")).expect("link");
        let dir = tempfile::tempdir().expect("tmp");
        let p = write_policy(dir.path(), &policy(""));
        let out = run_on(
            "apply",
            root.path(),
            &p,
            &["--only", "packages", "--output", "json"],
        );
        assert_eq!(code(&out), 1, "{}", stdout(&out));
        assert!(
            ev(&out).iter().any(|l| l
                .starts_with("override in /home/ec2-user/.config/pip/pip.conf: not checked:")
                && l.contains("symbolic link")),
            "{:#?}",
            ev(&out)
        );
    }
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    fn broken_existing_files_and_planted_links_stop_apply_and_change_nothing() {
        let root = sandbox("al2023");
        std::fs::write(root.path().join("etc/pip.conf"), "[global\nindex-url\n").expect("broken");
        let dir = tempfile::tempdir().expect("tmp");
        let p = write_policy(dir.path(), &policy(""));
        let before = snapshot(root.path(), &[]);
        let out = run_on("apply", root.path(), &p, &["--only", "packages"]);
        assert_eq!(code(&out), 3, "{}", stdout(&out));
        assert!(
            stdout(&out).contains("/etc/pip.conf is not valid INI"),
            "{}",
            stdout(&out)
        );
        assert_same(
            &before,
            &snapshot(root.path(), &["var/lib"]),
            "a broken pip.conf",
        );

        let root = sandbox("al2023");
        let base = root.path().join("home/ec2-user/anaconda3");
        if !is_root() {
            std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        }
        std::os::unix::fs::symlink("/etc/gshadow", base.join(".condarc")).expect("link");
        let shadow = std::fs::read(root.path().join("etc/gshadow")).expect("gshadow");
        let out = run_on("apply", root.path(), &p, &["--only", "packages"]);
        assert_eq!(code(&out), 3, "{}", stdout(&out));
        assert!(stdout(&out).contains("symbolic link"), "{}", stdout(&out));
        assert_eq!(
            std::fs::read(root.path().join("etc/gshadow")).expect("gshadow"),
            shadow
        );
    }
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    /// Issue 16: every place of the catalogue in the README is searched, an
    /// environment hidden deep in the home is found, and a search that cannot
    /// finish is an error, never a pass.
    fn the_whole_catalogue_is_searched_and_an_unfinished_search_is_an_error() {
        let root = sandbox("al2023");
        let dir = tempfile::tempdir().expect("tmp");
        let p = write_policy(dir.path(), &policy(""));
        assert_eq!(
            code(&run_on("apply", root.path(), &p, &["--only", "packages"])),
            0
        );
        let clean = run_on(
            "verify",
            root.path(),
            &p,
            &["--only", "packages", "--output", "json"],
        );
        assert_eq!(code(&clean), 0, "{}", stdout(&clean));
        assert!(
            ev(&clean)
                .iter()
                .any(|l| l.contains("no setting outside nbwarden's files chooses an index (searched")),
            "the verdict says what it searched: {:#?}",
            ev(&clean)
        );

        let home = root.path().join("home/ec2-user");
        let plant = |rel: &str, text: &str| {
            let path = home.join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, text).expect("plant");
        };
        // An environment five levels down, with a pip.conf in a [wheel]
        // section and the underscore spelling.
        plant("work/a/b/c/venv/pyvenv.cfg", "home = /usr/bin\n");
        plant(
            "work/a/b/c/venv/pip.conf",
            "[wheel]\nindex_url = https://pypi.org/simple\n",
        );
        plant(".zshrc", "export PIP_INDEX_URL=https://pypi.org/simple\n");
        plant(
            ".config/fish/config.fish",
            "set -gx PIP_EXTRA_INDEX_URL https://pypi.org/simple\n",
        );
        plant(
            ".bash_aliases_unused",
            "PIP_INDEX_URL=ignored-not-in-catalogue\n",
        );
        plant(
            ".cshrc",
            "alias pip 'pip --index-url https://pypi.org/simple'\n",
        );
        plant(
            ".local/share/jupyter/kernels/py/kernel.json",
            r#"{"argv": ["python", "-m", "ipykernel_launcher"], "env": {"PIP_INDEX_URL": "https://pypi.org/simple"}}"#,
        );
        plant(
            "anaconda3/envs/python3/etc/conda/activate.d/pip.sh",
            "export PIP_FIND_LINKS=https://pypi.org/simple\n",
        );
        plant(
            "anaconda3/envs/python3/condarc.d/extra.yml",
            "custom_multichannels:\n  x: [https://public.example]\n",
        );
        plant(
            ".config/uv/uv.toml",
            "index-url = \"https://pypi.org/simple\"\n",
        );
        let out = run_on(
            "verify",
            root.path(),
            &p,
            &["--only", "packages", "--output", "json"],
        );
        assert_eq!(code(&out), 1, "{}", stdout(&out));
        let e = ev(&out);
        for expected in [
            "override in /home/ec2-user/work/a/b/c/venv/pip.conf: [wheel] index-url = https://pypi.org/simple",
            "override in /home/ec2-user/.zshrc: line 1: export PIP_INDEX_URL=https://pypi.org/simple",
            "override in /home/ec2-user/.config/fish/config.fish: line 1: set -gx PIP_EXTRA_INDEX_URL https://pypi.org/simple",
            "override in /home/ec2-user/.cshrc: line 1: alias pip 'pip --index-url https://pypi.org/simple'",
            "override in /home/ec2-user/.local/share/jupyter/kernels/py/kernel.json: env PIP_INDEX_URL = \"https://pypi.org/simple\"",
            "override in /home/ec2-user/anaconda3/envs/python3/etc/conda/activate.d/pip.sh: line 1: export PIP_FIND_LINKS=https://pypi.org/simple",
            "override in /home/ec2-user/.config/uv/uv.toml: line 1: index-url = \"https://pypi.org/simple\"",
            "environment: /home/ec2-user/work/a/b/c/venv",
        ] {
            assert!(
                e.contains(&expected.to_string()),
                "missing {expected}\n{e:#?}"
            );
        }
        assert!(
            e.iter().any(|l| l.starts_with(
                "override in /home/ec2-user/anaconda3/envs/python3/condarc.d/extra.yml: custom_multichannels"
            )),
            "{e:#?}"
        );
        assert!(
            e.iter().any(|l| l.contains("the barrier is egress")),
            "the verdict points at egress: {e:#?}"
        );

        // A budget too small to read the configuration places: an error naming
        // the bound, not a pass.
        let tight = write_policy(dir.path(), &policy("search_entries = 1"));
        let out = run_on(
            "verify",
            root.path(),
            &tight,
            &["--only", "packages", "--output", "json"],
        );
        assert_eq!(code(&out), 3, "{}", stdout(&out));
        let r = read_report(&out);
        let packages = control(&r, "packages");
        assert_eq!(packages.status, Status::Error, "{r:#?}");
        assert!(
            packages
                .error
                .as_deref()
                .unwrap_or_default()
                .contains("search_entries"),
            "{r:#?}"
        );
    }
}

/// What a terminal would act on, but newlines and tabs.
fn acts_on_a_terminal(text: &str) -> bool {
    text.chars().any(|c| {
        (c.is_control() && c != '\n' && c != '\t') || ('\u{202a}'..='\u{202e}').contains(&c)
    })
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    /// The user writes terminal escapes into an override (a window title
    /// saying "compliant", a line erased and the cursor moved up, an OSC 52
    /// clipboard write, a C1 CSI): root's `verify`, `status` after it, and an
    /// error naming a path show them as text (`\x1b`, `\u{9b}`); the JSON
    /// report keeps the exact bytes.
    fn escapes_the_user_writes_never_reach_roots_terminal() {
        const SEQUENCES: &str =
            "\x1b]0;nbwarden: compliant\x07\x1b[2K\x1b[1A\x1b]52;c;ZXZpbA==\x07\u{9b}2J\u{202e}";
        let root = sandbox("al2023");
        let dir = tempfile::tempdir().expect("tmp");
        let p = write_policy(dir.path(), &policy(""));
        assert_eq!(
            code(&run_on("apply", root.path(), &p, &["--only", "packages"])),
            0
        );
        let conf = root.path().join("home/ec2-user/.config/pip/pip.conf");
        std::fs::create_dir_all(conf.parent().expect("parent")).expect("mkdir");
        std::fs::write(
            &conf,
            format!("[global]\nindex-url = https://pypi.org/simple{SEQUENCES}\n"),
        )
        .expect("plant");

        let shown = "\\x1b]0;nbwarden: compliant\\x07\\x1b[2K\\x1b[1A\\x1b]52;c;ZXZpbA==\\x07\\u{9b}2J\\u{202e}";
        // Unscoped, so that it is the verdict `status` shows.
        let verify = run_on("verify", root.path(), &p, &[]);
        assert_eq!(code(&verify), 1, "{}", stdout(&verify));
        let status = nbwarden(&["status", "--root", root.path().to_str().expect("utf8")]);
        for (what, out) in [("verify", &verify), ("status", &status)] {
            let text = stdout(out);
            assert!(!acts_on_a_terminal(&text), "{what}: {text:?}");
            assert!(text.contains(shown), "{what}: {text}");
        }
        let json = run_on(
            "verify",
            root.path(),
            &p,
            &["--only", "packages", "--output", "json"],
        );
        assert!(
            ev(&json).iter().any(|l| l.contains(SEQUENCES)),
            "{:#?}",
            ev(&json)
        );

        let named = dir.path().join(format!("policy{SEQUENCES}.toml"));
        let error = nbwarden(&["policy", "validate", named.to_str().expect("utf8")]);
        assert_eq!(code(&error), 3, "{}", stderr(&error));
        assert!(!acts_on_a_terminal(&stderr(&error)), "{:?}", stderr(&error));
        assert!(stderr(&error).contains(shown), "{}", stderr(&error));
    }
}
