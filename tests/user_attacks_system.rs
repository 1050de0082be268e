//! The notebook user against a hardened root (issue 16): each test plays
//! uid 1000 on a real Debian notebook root, laying what the user can lay
//! before root's next run, and shows the route to root or around the
//! verdict is closed. Each fails on a nbwarden without the matching fix.

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::notebook::{BIN_IN_ROOT, Notebook, POLICY_IN_ROOT};
use common::{AsText, Status, code, output_text, read_report, stdout};

fn example() -> String {
    common::bundle::example_policy()
}

/// A notebook after a clean start with the example policy: apply and
/// verify both compliant, before the user lays anything.
fn hardened() -> Notebook {
    let nb = Notebook::create(&example());
    let (apply, verify) = nb.on_start();
    assert_eq!(code(&apply), 0, "{}", output_text(&apply));
    assert_eq!(code(&verify), 0, "{}", output_text(&verify));
    nb
}

/// `verify --only CONTROL`, which must fail (exit 1): its evidence, one
/// line each.
fn failing_verify(nb: &Notebook, control: &str) -> String {
    let out = nb.nbwarden(&["verify", "--only", control, "--output", "json"]);
    let report = read_report(&out);
    assert_eq!(code(&out), 1, "{report:#?}");
    common::evidence(&report, control).join("\n")
}

/// Writes `text` at `inside` (a path inside the root), making its
/// directories: root's, as an image or an admin would leave them.
fn put(nb: &Notebook, inside: &str, text: &str) {
    let path = nb.path(inside);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, text).expect("write");
}

/// Every site-packages of the user's environments in `nb`.
fn site_packages(nb: &Notebook) -> Vec<PathBuf> {
    let mut sites = Vec::new();
    for env in std::fs::read_dir(nb.path("/home/ec2-user/anaconda3/envs")).expect("envs") {
        let lib = env.expect("env").path().join("lib");
        for py in std::fs::read_dir(&lib).expect("lib") {
            sites.push(py.expect("python").path().join("site-packages"));
        }
    }
    assert!(sites.len() >= 2, "no environment to plant in");
    sites
}

/// Plants `module.py` with `code` in every environment, and a `.pth` that
/// imports it at every start of that Python, all owned by the user.
fn plant_pth(nb: &Notebook, module: &str, code: &str) {
    for site in site_packages(nb) {
        let py = site.join(format!("{module}.py"));
        std::fs::write(&py, code).expect("plant");
        chown_user(&py);
        let pth = site.join(format!("zz-{module}.pth"));
        std::fs::write(&pth, format!("import {module}\n")).expect("plant");
        chown_user(&pth);
    }
}

fn chown_user(path: &Path) {
    let ok = Command::new("chown")
        .args(["-h", "1000:1000"])
        .arg(path)
        .status()
        .expect("chown");
    assert!(ok.success());
}

/// nbwarden inside the root as root, under a real pseudo-terminal (as an
/// admin's root shell in a notebook terminal), with descriptor 7 open and
/// not close-on-exec, as a parent shell may leave one.
fn verify_in_a_pty(nb: &Notebook) -> std::process::Output {
    let inner = format!(
        "exec 7</etc/hostname; mount -t proc proc {root}/proc && chroot {root} /usr/bin/env -i \
         PATH=/usr/sbin:/usr/bin:/sbin:/bin {BIN_IN_ROOT} verify -q --only variables \
         --policy {POLICY_IN_ROOT}; echo rc=$?",
        root = nb.root().display()
    );
    let cmd = format!(
        "unshare -m --propagation private sh -c '{}'",
        inner.replace('\'', "'\\''")
    );
    Command::new("timeout")
        .args(["120", "script", "-qefc", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script")
}

system_test! {
    fn user_code_run_by_root_gets_no_terminal_and_no_inherited_descriptor() {
        let nb = hardened();
        // The .pth opens the controlling terminal and pushes a command into it
        // with TIOCSTI (the admin's root shell would run it), and records what
        // it inherited.
        plant_pth(
            &nb,
            "ttyprobe",
            r#"import os, fcntl, termios
r = open('/tmp/tty-probe-%d' % os.getpid(), 'w')
r.write('fds=' + ','.join(sorted(os.listdir('/proc/self/fd'), key=int)) + '\n')
try:
    fd = os.open('/dev/tty', os.O_RDWR)
    for c in b'touch /tmp/typed-as-root\n':
        fcntl.ioctl(fd, termios.TIOCSTI, bytes([c]))
    r.write('tty=pushed\n')
except OSError as e:
    r.write('tty=%s\n' % e.errno)
r.close()
"#,
        );
        let out = verify_in_a_pty(&nb);
        let text = output_text(&out);
        assert!(text.contains("rc="), "verify did not finish: {text}");
        let mut probes = Vec::new();
        for entry in std::fs::read_dir(nb.path("/tmp")).expect("tmp") {
            let entry = entry.expect("entry");
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with("tty-probe-")
            {
                probes.push(std::fs::read_to_string(entry.path()).expect("read"));
            }
        }
        assert!(
            !probes.is_empty(),
            "the planted code never ran, so this proves nothing: {text}"
        );
        for probe in &probes {
            assert!(
                !probe.contains("tty=pushed"),
                "user code reached root's terminal: {probe}"
            );
            // Descriptor 7, open in nbwarden's parent, never reaches user code.
            let fds = probe
                .lines()
                .find_map(|l| l.strip_prefix("fds="))
                .expect("fds line");
            assert!(
                !fds.split(',').any(|fd| fd == "7"),
                "user code inherited descriptor 7: {fds}"
            );
        }
        assert!(
            !nb.path("/tmp/typed-as-root").exists() && !Path::new("/tmp/typed-as-root").exists(),
            "a command typed by user code ran"
        );
    }
}

system_test! {
    fn a_forking_pth_cannot_hold_the_run_past_its_deadline_or_keep_the_lock() {
        let nb = hardened();
        // A child in a session of its own that keeps stdout open for ten
        // minutes, and records its pid.
        plant_pth(
            &nb,
            "linger",
            r#"import os, time
if os.fork() == 0:
    os.setsid()
    open('/tmp/linger-%d' % os.getpid(), 'w').close()
    time.sleep(600)
"#,
        );
        let started = Instant::now();
        let mut argv = vec!["timeout", "90", BIN_IN_ROOT];
        argv.extend([
            "verify",
            "-q",
            "--deadline",
            "20s",
            "--only",
            "variables",
            "--policy",
            POLICY_IN_ROOT,
        ]);
        let out = nb.as_root(&argv);
        let took = started.elapsed();
        assert_ne!(code(&out), 124, "verify hung: {}", output_text(&out));
        assert!(took < Duration::from_secs(60), "verify took {took:?}");
        // Every lingering child is gone with its run.
        std::thread::sleep(Duration::from_millis(300));
        let lingering = std::fs::read_dir(nb.path("/tmp"))
            .expect("tmp")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("linger-"))
            })
            .count();
        assert!(lingering > 0, "the planted fork never ran");
        let left = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "for p in /proc/[0-9]*; do [ \"$(readlink $p/root)\" = '{}' ] && \
                 grep -q '^Uid:.*1000' $p/status && echo ${{p#/proc/}}; done; true",
                nb.root().display()
            ))
            .output()
            .expect("scan");
        let left = String::from_utf8_lossy(&left.stdout);
        assert!(
            left.trim().is_empty(),
            "user processes outlived the run: {left}"
        );
        // The lock was released: the next run records itself.
        let again = nb.nbwarden(&["verify", "-q", "--deadline", "30s", "--only", "sudo"]);
        assert_ne!(code(&again), 3, "{}", output_text(&again));
        let status = nb.nbwarden(&["status", "--output", "json"]);
        assert_eq!(
            read_report(&status).command,
            nbwarden::report::Mode::Verify,
            "{}",
            output_text(&status)
        );
    }
}

system_test! {
    fn root_equivalent_groups_are_left_by_gid_and_gshadow_admins_cleared() {
        let nb = Notebook::create(&example());
        // Before the start the image carries aliases: another name for
        // docker's gid, a gid-0 group, and the user as docker's gshadow admin.
        let docker_gid = {
            let out = nb.as_root(&["getent", "group", "docker"]);
            String::from_utf8_lossy(&out.stdout)
                .split(':')
                .nth(2)
                .expect("gid")
                .to_string()
        };
        let group = nb.path("/etc/group");
        let mut text = std::fs::read_to_string(&group).expect("group");
        text.push_str(&format!(
            "toolbox:x:{docker_gid}:ec2-user\ntoor:x:0:ec2-user\n"
        ));
        std::fs::write(&group, text).expect("write group");
        let gshadow = nb.path("/etc/gshadow");
        let mut text = std::fs::read_to_string(&gshadow).expect("gshadow");
        text = text
            .lines()
            .map(|l| {
                if l.starts_with("docker:") {
                    let f: Vec<&str> = l.split(':').collect();
                    format!("{}:{}:ec2-user:{}\n", f[0], f[1], f[3])
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        text.push_str("toolbox:!::ec2-user\ntoor:!::ec2-user\n");
        std::fs::write(&gshadow, text).expect("write gshadow");

        let (apply, verify) = nb.on_start();
        assert_eq!(code(&apply), 0, "{}", output_text(&apply));
        assert_eq!(code(&verify), 0, "{}", output_text(&verify));
        let ids = nb.as_root(&["id", "-G", "ec2-user"]);
        let gids: Vec<String> = String::from_utf8_lossy(&ids.stdout)
            .split_whitespace()
            .map(String::from)
            .collect();
        let adm = String::from_utf8_lossy(&nb.as_root(&["getent", "group", "adm"]).stdout)
            .split(':')
            .nth(2)
            .unwrap_or_default()
            .to_string();
        for bad in [docker_gid.as_str(), "0", adm.as_str()] {
            assert!(
                !gids.contains(&bad.to_string()),
                "still in gid {bad}: {gids:?}"
            );
        }
        let gshadow = std::fs::read_to_string(nb.path("/etc/gshadow")).expect("gshadow");
        let docker_line = gshadow
            .lines()
            .find(|l| l.starts_with("docker:"))
            .expect("docker");
        assert!(!docker_line.contains("ec2-user"), "{docker_line}");
        // The user tries to put itself back as docker's administrator.
        let back = nb.as_user(&["gpasswd", "-a", "ec2-user", "docker"]);
        assert!(!back.status.success(), "{}", output_text(&back));
        let ids = nb.as_root(&["id", "-G", "ec2-user"]);
        assert!(
            !String::from_utf8_lossy(&ids.stdout)
                .split_whitespace()
                .any(|g| g == docker_gid),
            "gpasswd put the user back in docker"
        );
    }
}

system_test! {
    fn verify_without_root_never_passes_sudo_on_an_unhardened_box() {
        let nb = Notebook::create(&example());
        nb.install();
        let out = nb.as_user(&[
            BIN_IN_ROOT,
            "verify",
            "--only",
            "sudo",
            "--output",
            "json",
            "--policy",
            POLICY_IN_ROOT,
        ]);
        let text = output_text(&out);
        assert_eq!(code(&out), 3, "{text}");
        let report = read_report(&out);
        let sudo = common::control(&report, "sudo");
        assert_eq!(sudo.status, Status::Error, "{report:#?}");
        let error = sudo.error.as_deref().unwrap_or_default();
        assert!(
            error.contains("wheel") && error.contains("docker"),
            "{error}"
        );
    }
}

system_test! {
    fn root_refuses_a_policy_and_sudoers_includes_the_user_can_change() {
        let nb = Notebook::create(&example());
        nb.install();
        let skip = ["proc", "tmp", "var/lib/nbwarden"];
        // The policy owned by the user, then a root-owned link to a user file.
        chown_user(&nb.path(POLICY_IN_ROOT));
        let before = common::snapshot(nb.root(), &skip);
        let out = nb.nbwarden(&["apply", "-q"]);
        assert_eq!(code(&out), 2, "{}", output_text(&out));
        assert!(
            output_text(&out).contains("owned by uid 1000"),
            "{}",
            output_text(&out)
        );
        common::assert_same(
            &before,
            &common::snapshot(nb.root(), &skip),
            "a user-owned policy",
        );
        let planted = nb.path("/home/ec2-user/SageMaker/policy.toml");
        std::fs::create_dir_all(planted.parent().expect("parent")).expect("mkdir");
        std::fs::write(&planted, "version = 1\nuser = \"ec2-user\"\n").expect("plant");
        chown_user(&planted);
        std::fs::remove_file(nb.path(POLICY_IN_ROOT)).expect("rm");
        std::os::unix::fs::symlink(
            "/home/ec2-user/SageMaker/policy.toml",
            nb.path(POLICY_IN_ROOT),
        )
        .expect("link");
        let before = common::snapshot(nb.root(), &skip);
        let out = nb.nbwarden(&["apply", "-q"]);
        assert_eq!(code(&out), 2, "{}", output_text(&out));
        assert!(
            output_text(&out).contains("/home/ec2-user"),
            "{}",
            output_text(&out)
        );
        common::assert_same(
            &before,
            &common::snapshot(nb.root(), &skip),
            "a linked policy",
        );

        // A sudoers include of a file in a directory the user can write.
        std::fs::remove_file(nb.path(POLICY_IN_ROOT)).expect("rm");
        nb.install();
        let dir = nb.path("/home/ec2-user/SageMaker/sudo");
        std::fs::create_dir_all(&dir).expect("mkdir");
        chown_user(&dir);
        let rule = dir.join("extra");
        std::fs::write(&rule, "ec2-user ALL=(ALL) NOPASSWD: ALL\n").expect("rule");
        chown_user(&rule);
        let main = nb.path("/etc/sudoers");
        let mut text = std::fs::read_to_string(&main).expect("sudoers");
        text.push_str("@include /home/ec2-user/SageMaker/sudo/extra\n");
        std::fs::write(&main, text).expect("sudoers");
        let out = nb.nbwarden(&["apply", "-q"]);
        assert_eq!(code(&out), 3, "{}", output_text(&out));
        assert!(
            output_text(&out).contains("refusing sudoers file /home/ec2-user/SageMaker/sudo/extra"),
            "{}",
            output_text(&out)
        );
        // The user's rule was not made root-owned (sudo would then obey it).
        let meta = std::fs::symlink_metadata(&rule).expect("rule");
        assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 1000);
    }
}

system_test! {
    fn policy_validate_rejects_allow_entries_and_python_dirs_that_grant_root() {
        let dir = tempfile::tempdir().expect("tmp");
        for (bad, needle) in [
            (
                "[sudo]\nallow = [\"/home/ec2-user/SageMaker/x.sh\"]\n",
                "notebook user can write",
            ),
            (
                "[sudo]\nallow = [\"/usr/bin/systemctl status jupyter-server\"]\n",
                "pager",
            ),
            (
                "[sudo]\nallow = [\"/usr/bin/cat /etc/shadow\"]\n",
                "any file",
            ),
            ("[sudo]\nallow = [\"/usr/bin/dnf install x\"]\n", "install"),
            (
                "[variables]\npython_dir = \"/home/ec2-user/SageMaker/lib\"\n",
                "notebook user can write",
            ),
        ] {
            let text = format!("version = 1\nuser = \"ec2-user\"\n{bad}");
            let p = common::write_policy(dir.path(), &text);
            let out = common::nbwarden(&["policy", "validate", &p.to_string_lossy()]);
            let shown = output_text(&out);
            assert_eq!(code(&out), 2, "{bad}: {shown}");
            assert!(
                shown.contains("policy.toml:4:"),
                "{bad}: no line:column: {shown}"
            );
            assert!(shown.contains(needle), "{bad}: {shown}");
        }
        let ok = "version = 1\nuser = \"ec2-user\"\n[sudo]\nallow = [\"/usr/bin/id\"]\n";
        let p = common::write_policy(dir.path(), ok);
        let out = common::nbwarden(&["policy", "validate", &p.to_string_lossy()]);
        assert_eq!(code(&out), 0, "{}", output_text(&out));
    }
}

system_test! {
    fn an_allow_listed_program_the_user_can_replace_is_refused_on_the_host() {
        let policy = example().replace(
            "[sudo]\n",
            "[sudo]\nallow = [\"/usr/local/bin/restart-kernel\"]\n",
        );
        assert!(
            policy.contains("restart-kernel"),
            "the example has no [sudo]"
        );
        let policy = remove_key(&policy, "allow = [\"/usr/bin/systemctl");
        let nb = Notebook::create(&policy);
        let tool = nb.path("/usr/local/bin/restart-kernel");
        std::fs::create_dir_all(tool.parent().expect("parent")).expect("mkdir");
        std::fs::write(&tool, "#!/bin/sh\nexit 0\n").expect("tool");
        chown_user(&tool);
        let (apply, _) = nb.on_start();
        assert_eq!(code(&apply), 3, "{}", output_text(&apply));
        assert!(
            output_text(&apply).contains("refusing allow-listed command"),
            "{}",
            output_text(&apply)
        );
    }
}

/// `text` without the line starting with `prefix`.
fn remove_key(text: &str, prefix: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with(prefix))
        .map(|l| format!("{l}\n"))
        .collect()
}

system_test! {
    fn capabilities_user_owned_entries_and_user_units_fail_the_checks() {
        let nb = hardened();
        // A cap_setuid copy of python in a system path.
        let py = nb.path("/usr/local/bin/py-cap");
        std::fs::copy(nb.path("/usr/bin/python3"), &py).expect("copy");
        let set = Command::new("setcap")
            .args(["cap_setuid+ep"])
            .arg(&py)
            .output()
            .expect("setcap");
        assert!(set.status.success(), "{}", output_text(&set));
        // A user-owned file under /etc.
        let owned = nb.path("/etc/profile.d/zz-user.sh");
        std::fs::write(&owned, "true\n").expect("write");
        chown_user(&owned);
        // A unit that is a link to the ML volume, a User= unit with a `+`
        // command, and an EnvironmentFile on the ML volume.
        let ml = nb.path("/home/ec2-user/SageMaker");
        std::fs::create_dir_all(&ml).expect("ml");
        std::fs::write(
            ml.join("evil.service"),
            "[Service]\nExecStart=/usr/bin/true\n",
        )
        .expect("unit");
        chown_user(&ml.join("evil.service"));
        std::os::unix::fs::symlink(
            "/home/ec2-user/SageMaker/evil.service",
            nb.path("/etc/systemd/system/evil.service"),
        )
        .expect("link");
        put(
            &nb,
            "/etc/systemd/system/plus.service",
            "[Service]\nUser=ec2-user\nExecStartPre=+/home/ec2-user/SageMaker/pre.sh\nExecStart=/usr/bin/true\n",
        );
        put(
            &nb,
            "/etc/systemd/system/envfile.service",
            "[Service]\nEnvironmentFile=-/home/ec2-user/SageMaker/env\nExecStart=/usr/bin/true\n",
        );

        let out = nb.nbwarden(&[
            "verify",
            "--only",
            "permissions,boot-exec",
            "--output",
            "json",
        ]);
        let report = read_report(&out);
        assert_eq!(code(&out), 1, "{report:#?}");
        let perms = common::evidence(&report, "permissions").join("\n");
        assert!(
            perms.contains("/usr/local/bin/py-cap carries file capabilities"),
            "{perms}"
        );
        assert!(
            perms.contains("/etc/profile.d/zz-user.sh is owned by uid 1000"),
            "{perms}"
        );
        let boot = common::evidence(&report, "boot-exec").join("\n");
        assert!(
            boot.contains("evil.service links to /home/ec2-user/SageMaker/evil.service"),
            "{boot}"
        );
        assert!(
            boot.contains("plus.service: runs /home/ec2-user/SageMaker/pre.sh"),
            "{boot}"
        );
        assert!(
            boot.contains("envfile.service: runs /home/ec2-user/SageMaker/env"),
            "{boot}"
        );
    }
}

system_test! {
    fn the_world_readable_state_keeps_no_sudoers_rule_or_secret_digest() {
        let nb = Notebook::create(&example());
        nb.install();
        let apply = nb.nbwarden(&["apply", "-q"]);
        assert_eq!(code(&apply), 0, "{}", output_text(&apply));
        let state = std::fs::read_to_string(nb.path("/var/lib/nbwarden/last-run.json")).expect("state");
        assert!(
            !state.contains("NOPASSWD"),
            "sudoers content in the world-readable state"
        );
        assert!(
            state.contains("not world-readable"),
            "no redaction note: {state}"
        );
        // As the user: status still reads it.
        let status = nb.as_user(&[BIN_IN_ROOT, "status"]);
        assert_eq!(code(&status), 0, "{}", output_text(&status));
        let manifest: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(nb.path("/var/lib/nbwarden/manifest.json")).expect("manifest"),
        )
        .expect("json");
        let text = manifest.to_string();
        assert!(text.contains("sudoers"), "{text}");
        for entry in manifest["files"].as_array().into_iter().flatten() {
            let mode = entry["mode"].as_str().unwrap_or("0644");
            let world = u32::from_str_radix(mode, 8).unwrap_or(0o644) & 0o004 != 0;
            if !world {
                assert!(
                    entry["sha256"].is_null(),
                    "digest of a private file: {entry}"
                );
            }
        }
    }
}

system_test! {
    fn the_existing_sudoers_gets_visudos_owner_and_mode_checks() {
        let nb = Notebook::create(&example());
        nb.install();
        // An include sudo itself would reject for its mode: nbwarden stops
        // before changing anything rather than rewrite around it.
        let loose = nb.path("/etc/sudoers.d/50-loose");
        std::fs::write(&loose, "# nothing\n").expect("write");
        std::fs::set_permissions(&loose, std::os::unix::fs::PermissionsExt::from_mode(0o640))
            .expect("chmod");
        let out = nb.nbwarden(&["apply", "--only", "sudo", "--output", "json"]);
        assert_eq!(code(&out), 3, "{}", output_text(&out));
        let report = read_report(&out);
        let error = common::control(&report, "sudo")
            .error
            .as_deref()
            .unwrap_or_default()
            .to_string();
        assert!(error.contains("50-loose: bad permissions"), "{error}");
        // Nothing was changed: the user still has the image's grant.
        assert!(nb.path("/etc/sudoers.d/90-cloud-init-users").exists());
    }
}

system_test! {
    /// Found by the red team: a root-owned, allow-listed helper whose `#!`
    /// names the user's Python runs the user's `.pth` as root.
    fn an_allow_listed_script_run_by_the_users_python_is_refused() {
        let policy = remove_key(&example(), "allow = [\"/usr/bin/systemctl").replace(
            "[sudo]\n",
            "[sudo]\nallow = [\"/usr/local/bin/nb-restart-gateway\"]\n",
        );
        let nb = Notebook::create(&policy);
        let tool = nb.path("/usr/local/bin/nb-restart-gateway");
        std::fs::create_dir_all(tool.parent().expect("parent")).expect("mkdir");
        std::fs::write(
            &tool,
            "#!/home/ec2-user/anaconda3/envs/JupyterSystemEnv/bin/python\nprint('restarting')\n",
        )
        .expect("tool");
        std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let (apply, _) = nb.on_start();
        assert_eq!(code(&apply), 3, "{}", output_text(&apply));
        let text = output_text(&apply);
        assert!(text.contains("refusing allow-listed command"), "{text}");
        assert!(text.contains("#! line"), "{text}");
        // The user's sudo does not reach the helper.
        let listing = nb.as_root(&["sudo", "-l", "-U", "ec2-user"]);
        assert!(
            !output_text(&listing).contains("nb-restart-gateway"),
            "{}",
            output_text(&listing)
        );
    }
}

system_test! {
    /// Found by the red team: root-owned links to the user's files, a
    /// drop-in that switches a unit back to root, and PermissionsStartOnly=.
    fn links_drop_ins_and_permissions_start_only_do_not_hide_the_users_code() {
        let nb = hardened();
        let bin = nb.path("/home/ec2-user/bin");
        std::fs::create_dir_all(&bin).expect("mkdir");
        std::fs::write(bin.join("start.sh"), "#!/bin/sh\nid\n").expect("script");
        chown_user(&bin);
        chown_user(&bin.join("start.sh"));
        std::os::unix::fs::symlink(
            "/home/ec2-user/bin/start.sh",
            nb.path("/usr/local/bin/nb-start"),
        )
        .expect("link");
        put(
            &nb,
            "/etc/cron.d/nb-start",
            "*/5 * * * * root /usr/local/bin/nb-start\n",
        );
        put(
            &nb,
            "/etc/systemd/system/nb-a.service",
            "[Service]\nUser=ec2-user\nPermissionsStartOnly=true\nExecStartPre=/home/ec2-user/bin/pre.sh\nExecStart=/usr/bin/true\n",
        );
        put(
            &nb,
            "/etc/systemd/system/nb-b.service",
            "[Service]\nUser=ec2-user\nExecStart=/home/ec2-user/bin/b.sh\n",
        );
        put(
            &nb,
            "/etc/systemd/system/nb-b.service.d/10-root.conf",
            "[Service]\nUser=root\n",
        );
        let out = nb.nbwarden(&[
            "verify",
            "--only",
            "permissions,boot-exec",
            "--output",
            "json",
        ]);
        let report = read_report(&out);
        assert_eq!(code(&out), 1, "{report:#?}");
        let boot = common::evidence(&report, "boot-exec").join("\n");
        for expected in [
            "/etc/cron.d/nb-start: runs /usr/local/bin/nb-start (user-writable) as root",
            "nb-a.service: runs /home/ec2-user/bin/pre.sh (user-writable) as root",
            "nb-b.service: runs /home/ec2-user/bin/b.sh (user-writable) as root",
        ] {
            assert!(boot.contains(expected), "missing {expected}: {boot}");
        }
        let perms = common::evidence(&report, "permissions").join("\n");
        assert!(
            perms.contains("/usr/local/bin/nb-start is a link to a place the notebook user can change"),
            "{perms}"
        );
    }
}

system_test! {
    /// Found by the red team: start-up code in an environment and
    /// XDG_CONFIG_DIRS in a shell file choose the index unseen.
    fn start_up_code_and_config_dirs_that_choose_an_index_are_named() {
        let nb = hardened();
        // The red team's line, in a .pth of every environment.
        for site in site_packages(&nb) {
            let pth = site.join("zz-mirror.pth");
            std::fs::write(
                &pth,
                "import os; os.environ.setdefault('PIP_INDEX_URL', 'https://pypi.org/simple')\n",
            )
            .expect("plant");
            chown_user(&pth);
        }
        let rc = nb.path("/home/ec2-user/.bashrc");
        let mut text = std::fs::read_to_string(&rc).unwrap_or_default();
        text.push_str("export XDG_CONFIG_DIRS=/home/ec2-user/SageMaker/.cfg\n");
        std::fs::write(&rc, text).expect("bashrc");
        let ev = failing_verify(&nb, "packages");
        assert!(
            ev.contains("zz-mirror.pth: line 1: import os; os.environ.setdefault('PIP_INDEX_URL'"),
            "{ev}"
        );
        assert!(ev.contains(".bashrc: line"), "{ev}");
        assert!(ev.contains("XDG_CONFIG_DIRS"), "{ev}");
    }
}

system_test! {
    /// sudo reads `ec2\-user` and `"ec2-user"` as the user: such a grant,
    /// placed after the include of sudoers.d so that it outranks nbwarden's
    /// deny drop-in, is found and commented out.
    fn an_escaped_or_quoted_user_name_after_the_includes_is_still_stripped() {
        let nb = Notebook::create(&example());
        let main = nb.path("/etc/sudoers");
        let mut text = std::fs::read_to_string(&main).expect("sudoers");
        text.push_str(
            "ec2\\-user ALL=(ALL) NOPASSWD: ALL\n\"ec2-user\" ALL=(ALL) NOPASSWD: /usr/bin/id\n",
        );
        std::fs::write(&main, text).expect("sudoers");
        let before = nb.as_root(&["sudo", "-l", "-U", "ec2-user"]);
        assert!(
            output_text(&before).contains("NOPASSWD: ALL"),
            "{}",
            output_text(&before)
        );
        let (apply, verify) = nb.on_start();
        assert_eq!(code(&apply), 0, "{}", output_text(&apply));
        assert_eq!(code(&verify), 0, "{}", output_text(&verify));
        let after = nb.as_root(&["sudo", "-l", "-U", "ec2-user"]);
        assert!(
            !output_text(&after).contains("NOPASSWD: ALL"),
            "{}",
            output_text(&after)
        );
        assert!(
            !output_text(&after).contains("/usr/bin/id"),
            "{}",
            output_text(&after)
        );
        let text = std::fs::read_to_string(&main).expect("sudoers");
        assert!(
            text.contains(
                "# nbwarden: disabled sudo grant for ec2-user: ec2\\-user ALL=(ALL) NOPASSWD: ALL"
            ),
            "{text}"
        );
    }
}

system_test! {
    /// Found by the second red-team round: pip keys hidden by indentation,
    /// variable names in another case, short and abbreviated options.
    fn indented_keys_other_cases_and_short_options_are_named() {
        let nb = hardened();
        let pip = nb.path("/home/ec2-user/.config/pip/pip.conf");
        std::fs::create_dir_all(pip.parent().expect("parent")).expect("mkdir");
        std::fs::write(
            &pip,
            "[global]\n timeout = 60\n index-url = https://pypi.org/simple\n",
        )
        .expect("pip.conf");
        let rc = nb.path("/home/ec2-user/.bashrc");
        let mut text = std::fs::read_to_string(&rc).unwrap_or_default();
        text.push_str("export PIP_index_url=https://pypi.org/simple\n");
        text.push_str("pi() { pip install -i https://pypi.org/simple \"$@\"; }\n");
        std::fs::write(&rc, text).expect("bashrc");
        for p in [
            pip.parent().expect("dir").to_path_buf(),
            pip.clone(),
            rc.clone(),
        ] {
            chown_user(&p);
        }
        // pip itself reads the indented key as a key.
        let seen = nb.as_user(&[
            "/home/ec2-user/anaconda3/envs/python3/bin/python",
            "-m",
            "pip",
            "config",
            "list",
        ]);
        assert!(
            output_text(&seen).contains("global.index-url='https://pypi.org/simple'"),
            "{}",
            output_text(&seen)
        );
        let ev = failing_verify(&nb, "packages");
        for expected in [
            "/home/ec2-user/.config/pip/pip.conf: [global] index-url = https://pypi.org/simple",
            "export PIP_index_url=https://pypi.org/simple",
            "pi() { pip install -i https://pypi.org/simple",
        ] {
            assert!(ev.contains(expected), "missing {expected}: {ev}");
        }
    }
}

system_test! {
    /// Found by the second red-team round: /dev/shm, continued unit lines
    /// and drop-ins for every service.
    fn shared_memory_continuations_and_drop_ins_for_every_service_are_judged() {
        let nb = hardened();
        // As on an instance: shared memory anyone may write (sticky).
        std::fs::set_permissions(
            nb.path("/dev/shm"),
            std::os::unix::fs::PermissionsExt::from_mode(0o1777),
        )
        .expect("chmod");
        put(
            &nb,
            "/etc/cron.d/shmjob",
            "* * * * * root /bin/sh /dev/shm/cleanup.sh\n",
        );
        put(
            &nb,
            "/etc/systemd/system/cont.service",
            "[Service]\nExecStart=/bin/sh \\\n  /home/ec2-user/SageMaker/start.sh\n",
        );
        put(
            &nb,
            "/etc/systemd/system/service.d/10-all.conf",
            "[Service]\nExecStartPost=/home/ec2-user/SageMaker/post.sh\n",
        );
        let boot = failing_verify(&nb, "boot-exec");
        for expected in [
            "/etc/cron.d/shmjob: runs /dev/shm/cleanup.sh (user-writable) as root",
            "cont.service: runs /home/ec2-user/SageMaker/start.sh (user-writable) as root",
            "10-all.conf: runs /home/ec2-user/SageMaker/post.sh (user-writable) as root",
        ] {
            assert!(boot.contains(expected), "missing {expected}: {boot}");
        }
    }
}

system_test! {
    /// Found by the third red-team round: `Defaults setenv` in the image let
    /// the user run the allowed command with `LD_PRELOAD` of its own library,
    /// as root, while sudo's listing looked clean.
    fn the_allowed_command_runs_in_an_environment_the_user_cannot_choose() {
        let nb = Notebook::create(&example());
        put(&nb, "/etc/sudoers.d/50-image", "Defaults setenv\n");
        std::fs::set_permissions(
            nb.path("/etc/sudoers.d/50-image"),
            std::os::unix::fs::PermissionsExt::from_mode(0o440),
        )
        .expect("chmod");
        let (apply, verify) = nb.on_start();
        assert_eq!(code(&apply), 0, "{}", output_text(&apply));
        assert_eq!(code(&verify), 0, "{}", output_text(&verify));
        // The user tries: sudo refuses to set the variable.
        let tried = nb.as_user(&[
            "sudo",
            "-n",
            "LD_PRELOAD=/home/ec2-user/x.so",
            "/usr/bin/systemctl",
            "restart",
            "jupyter-server",
        ]);
        assert!(
            output_text(&tried).contains("not allowed to set"),
            "{}",
            output_text(&tried)
        );
        // A setenv for the user read after nbwarden's drop-in wins over it:
        // verify says so instead of passing.
        let main = nb.path("/etc/sudoers");
        let mut text = std::fs::read_to_string(&main).expect("sudoers");
        text.push_str("Defaults:ec2-user setenv\n");
        std::fs::write(&main, text).expect("sudoers");
        let ev = failing_verify(&nb, "sudo");
        assert!(ev.contains("Defaults setenv"), "{ev}");
    }
}

system_test! {
    /// Red team, issue 17: a pip.conf of hundreds of thousands of index
    /// settings made every drift check hold hundreds of MB (the monitor's unit
    /// allows 64 MB) and wrote a state file too large for `status`. The search
    /// does not parse a user file that size: it is a finding, and the report
    /// stays small.
    fn a_huge_user_config_file_is_a_finding_not_a_memory_bill() {
        let nb = hardened();
        let mut conf = String::new();
        for i in 0..40_000 {
            conf.push_str(&format!(
                "[s{i}]\nindex-url = https://evil.example/{i}/simple\n"
            ));
        }
        put(&nb, "/home/ec2-user/.config/pip/pip.conf", &conf);
        chown_user(&nb.path("/home/ec2-user/.config"));
        chown_user(&nb.path("/home/ec2-user/.config/pip"));
        chown_user(&nb.path("/home/ec2-user/.config/pip/pip.conf"));
        let verify = nb.nbwarden(&["verify", "--output", "json", "-q"]);
        assert_eq!(code(&verify), 1, "{}", output_text(&verify));
        let report = read_report(&verify);
        let packages = common::control(&report, "packages");
        assert_eq!(packages.status, Status::Fail, "{packages:#?}");
        assert!(
            packages.to_string().contains("not checked:")
                && packages
                    .to_string()
                    .contains("/home/ec2-user/.config/pip/pip.conf"),
            "{packages:#?}"
        );
        assert!(
            verify.stdout.len() < 256 * 1024,
            "the report grew with the user's file: {} bytes",
            verify.stdout.len()
        );
    }
}

system_test! {
    /// Red team, issue 17: the run lock was 0644, so the user could hold a
    /// shared lock on it forever and every later root run (the verify timer,
    /// the monitor's re-apply) gave up on it while `status` kept the old
    /// "compliant". Now only root can open it.
    fn the_user_cannot_hold_the_run_lock() {
        let nb = hardened();
        let lock = nb.path("/var/lib/nbwarden/run.lock");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&lock).expect("lock").permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        let held = nb.as_user(&["flock", "-s", "-n", "/var/lib/nbwarden/run.lock", "true"]);
        assert_ne!(
            code(&held),
            0,
            "the user took the lock: {}",
            output_text(&held)
        );
    }
}

system_test! {
    /// Red team round 2, issue 17: many small files, each under the size cap,
    /// full of lines that set an index, made the search keep millions of
    /// findings (613 MB in the monitor, whose unit allows 64 MB). Findings are
    /// capped as they are found, and the run's own peak stays small.
    fn a_flood_of_small_override_files_does_not_size_roots_memory() {
        let nb = hardened();
        let dir = "/home/ec2-user/.config/environment.d";
        let line = "PIP_INDEX_URL=https://evil.example/simple\n";
        let body = line.repeat(200 * 1024 / line.len());
        for i in 0..40 {
            put(&nb, &format!("{dir}/{i:02}-flood.conf"), &body);
        }
        chown_user(&nb.path("/home/ec2-user/.config"));
        let chown = Command::new("chown")
            .args(["-R", "1000:1000"])
            .arg(nb.path(dir))
            .status()
            .expect("chown");
        assert!(chown.success());
        let verify = nb.nbwarden(&["verify", "--output", "json", "-q"]);
        assert_eq!(code(&verify), 1, "{}", output_text(&verify));
        let report = read_report(&verify);
        let packages = common::control(&report, "packages");
        assert_eq!(packages.status, Status::Fail, "{packages:#?}");
        assert!(
            packages.to_string().contains("more not listed"),
            "{}",
            &packages.to_string()[..2000.min(packages.to_string().len())]
        );
        let peak_kib = report.peak_rss_kib;
        assert!(peak_kib < 64 * 1024, "nbwarden peaked at {peak_kib} KiB");
    }
}

system_test! {
    /// Found by the red team: a name that is not UTF-8 was altered when a
    /// directory was listed, so the file behind it was never read. Python's
    /// `site` runs such a `.pth` all the same; the scan names it.
    fn a_pth_whose_name_is_not_utf8_is_still_read() {
        use std::os::unix::ffi::OsStrExt;
        let nb = hardened();
        for site in site_packages(&nb) {
            let pth = site.join(std::ffi::OsStr::from_bytes(b"zz-\xff.pth"));
            std::fs::write(
                &pth,
                "import os; os.environ.setdefault('PIP_INDEX_URL', 'https://pypi.org/simple')\n",
            )
            .expect("plant");
            chown_user(&pth);
        }
        // The user's Python does run it.
        let env = nb.as_user(&[
            "/home/ec2-user/anaconda3/envs/python3/bin/python",
            "-c",
            "import os; print(os.environ.get('PIP_INDEX_URL'))",
        ]);
        assert_eq!(
            String::from_utf8_lossy(&env.stdout).trim(),
            "https://pypi.org/simple"
        );
        let ev = failing_verify(&nb, "packages");
        // Shown with the replacement character where the name is not UTF-8.
        assert!(ev.contains("zz-\u{FFFD}.pth: line 1: import os"), "{ev}");
    }
}

system_test! {
    /// Found by the red team: root removed the pip probe's download itself,
    /// and a pip the user controls can leave a tree there deep enough that
    /// walking it crashed root's run (stack and descriptors). The user's own
    /// download is removed by the user, confined; root never walks it.
    fn a_deep_tree_left_by_the_users_pip_is_not_roots_to_walk() {
        let mirror = common::notebook::service("NBWARDEN_TEST_PYPI_URL");
        let nb = Notebook::create(&common::with_blocked_indexes(&format!(
            "version = 1\n[packages]\nprobe = \"required\"\n[packages.pip]\nindex_url = \"{mirror}\"\n\
             trusted_hosts = [\"127.0.0.1\"]\nprobe_package = \"nbwarden-probe\"\n"
        )));
        nb.install();
        let apply = nb.nbwarden(&["apply", "-q"]);
        assert_eq!(code(&apply), 0, "{}", output_text(&apply));
        // The user's pip: 12,000 nested directories in the download directory.
        let fake = format!(
            "#!/bin/sh\ndest=\nwhile [ $# -gt 0 ]; do [ \"$1\" = -d ] && dest=$2; shift; done\n\
             /usr/bin/python3 -c 'import os,sys\nos.makedirs(sys.argv[1], exist_ok=True)\n\
             os.chdir(sys.argv[1])\nfor _ in range(12000):\n    os.mkdir(\"d\"); os.chdir(\"d\")' \"$dest\"\n\
             echo 'Looking in indexes: {mirror}'\n"
        );
        for env in std::fs::read_dir(nb.path("/home/ec2-user/anaconda3/envs")).expect("envs") {
            let pip = env.expect("env").path().join("bin/pip");
            let _ = std::fs::remove_file(&pip);
            std::fs::write(&pip, &fake).expect("plant pip");
            std::fs::set_permissions(&pip, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .expect("chmod");
            chown_user(&pip);
        }
        // Root's descriptor limit as high as this machine lets a shell set it.
        let script = format!(
            "ulimit -n \"$(ulimit -Hn)\" && exec {BIN_IN_ROOT} verify --only packages --output json -q \
             --policy {POLICY_IN_ROOT}"
        );
        let out = nb.as_root(&["/bin/sh", "-c", &script]);
        assert!(out.status.code().is_some(), "killed by a signal: {out:?}");
        let report = read_report(&out);
        assert!(code(&out) <= 1, "{report:#?}");
        let left: Vec<_> = std::fs::read_dir(nb.path("/tmp"))
            .expect("tmp")
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("nbwarden-pip-probe-")
            })
            .map(|e| e.path())
            .collect();
        assert!(left.is_empty(), "the probe's download was left: {left:?}");
    }
}

system_test! {
    /// Issue 20's red team: the import proofs run in parallel only where each
    /// gets a PID namespace. Where none can be made (a unit without
    /// CAP_SYS_ADMIN or with RestrictNamespaces=), the first environment's
    /// Python leaves a daemon that kills every other Python of the user (here
    /// the second to start, since the first proof may run alone); with
    /// proofs in parallel (and the sweep waiting for the others) it killed
    /// root's other proofs. Run one at a time, it is swept before the next
    /// starts, and every environment is proven.
    fn without_pid_namespaces_one_proofs_leftover_cannot_kill_another() {
        let nb = hardened();
        plant_pth(
            &nb,
            "nbw_killer",
            r#"
import os, time
def _first(path):
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except OSError:
        return False
def _start():
    # The second Python to start (the first proof may run alone) leaves it.
    if _first("/tmp/nbw-seen") or not _first("/tmp/nbw-killer"):
        return
    spared = os.getpid()
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)
        return
    os.setsid()
    if os.fork() == 0:
        me, end = os.getpid(), time.time() + 5
        while time.time() < end:
            for p in os.listdir("/proc"):
                if not p.isdigit() or int(p) in (me, spared):
                    continue
                try:
                    with open(f"/proc/{p}/cmdline", "rb") as f:
                        if b"python" in f.read() and os.stat(f"/proc/{p}").st_uid == 1000:
                            os.kill(int(p), 9)
                except OSError:
                    pass
            time.sleep(0.002)
    os._exit(0)
_start()
"#,
        );
        let _ = std::fs::remove_file(nb.path("/tmp/nbw-seen"));
        let _ = std::fs::remove_file(nb.path("/tmp/nbw-killer"));
        // verify as root, but without CAP_SYS_ADMIN: no PID namespace can be
        // made, so the sweep is what ends a proof's leftovers.
        let out = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(
                "mount -t proc proc \"$0/proc\" && exec capsh --drop=cap_sys_admin -- -c \
                 'exec chroot \"$0\" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \"$1\" verify \
                 --only variables --output json --policy \"$2\"' \"$0\" \"$1\" \"$2\"",
            )
            .arg(nb.root())
            .arg(BIN_IN_ROOT)
            .arg(POLICY_IN_ROOT)
            .output()
            .expect("unshare/capsh/chroot");
        assert!(
            nb.path("/tmp/nbw-killer").exists(),
            "the killer never started: {}",
            output_text(&out)
        );
        let report = read_report(&out);
        assert_eq!(code(&out), 0, "a proof was killed: {report:#?}");
        let evidence = common::evidence(&report, "variables").join("\n");
        assert!(
            !evidence.contains("killed") && !evidence.contains("cannot import"),
            "{evidence}"
        );
    }
}

system_test! {
    /// The user's code that nbwarden's own proofs run (the import proof runs
    /// each environment's Python, and so its `.pth` files) writes a
    /// `pip.conf` that sends pip elsewhere. The run sees it: the user-code
    /// proofs come before every passive check. Before, the packages control had
    /// already searched for overrides when the variables control's proof ran,
    /// and the start's verdict was "compliant" with the user's index in force.
    fn what_the_proofs_run_of_the_users_code_changes_is_seen_by_the_same_run() {
        let nb = hardened();
        // Only under the import proof (`python -I -c …`), not under the mirror
        // proof's pip, which would fail on the user's index by itself.
        plant_pth(
            &nb,
            "nbw_pipconf",
            r#"
import os, sys
if "-c" in sys.orig_argv:
    d = os.path.expanduser("~/.config/pip")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "pip.conf"), "w") as f:
        f.write("[global]\nindex-url = https://index.user.example/simple/\n")
"#,
        );
        let conf = nb.path("/home/ec2-user/.config/pip/pip.conf");
        assert!(
            !conf.exists(),
            "the user's pip.conf is there before the run"
        );
        let out = nb.nbwarden(&["apply", "--output", "json"]);
        let report = read_report(&out);
        assert!(
            conf.exists(),
            "the proof never ran the user's .pth: {report:#?}"
        );
        assert_eq!(code(&out), 1, "{report:#?}");
        assert_eq!(common::control(&report, "packages").status, Status::Fail);
        let evidence = common::evidence(&report, "packages").join("\n");
        assert!(
            evidence.contains(".config/pip/pip.conf") && evidence.contains("index.user.example"),
            "{evidence}"
        );
    }
}

system_test! {
    /// Code the import proof runs leaves an `atexit` hook that renames the
    /// user's own file over `~/anaconda3/.condarc`, which nbwarden manages in
    /// a directory the user owns, after the packages control judged it (issue
    /// 20's second red-team round). The same run judges such files again after
    /// the user's code, and fails; it used to pass.
    fn a_managed_file_the_users_code_replaces_during_the_proofs_is_drift_in_that_run() {
        let nb = hardened();
        plant_pth(
            &nb,
            "nbw_later",
            r#"
import atexit, os
def _later():
    base = "/home/ec2-user/anaconda3"
    with open(base + "/.condarc.nbw", "w") as f:
        f.write("channels:\n- https://conda.user.example/main\nssl_verify: false\n")
    os.rename(base + "/.condarc.nbw", base + "/.condarc")
atexit.register(_later)
"#,
        );
        let out = nb.nbwarden(&["verify", "--output", "json"]);
        let report = read_report(&out);
        let condarc =
            std::fs::read_to_string(nb.path("/home/ec2-user/anaconda3/.condarc")).expect("condarc");
        assert!(
            condarc.contains("conda.user.example"),
            "the hook never ran: {report:#?}"
        );
        assert_eq!(code(&out), 1, "{report:#?}");
        let evidence = common::evidence(&report, "packages").join("\n");
        assert!(
            evidence.contains("drift after the user's code ran: /home/ec2-user/anaconda3/.condarc"),
            "{evidence}"
        );
    }
}

system_test! {
    /// Red team, third round: code the import proof runs makes a new
    /// environment (or moves one in place of another) after the variables
    /// control declared its files from the environments it found. The same run
    /// looks for the environments again after the user's code and fails on one
    /// without nbwarden's `.pth`; it used to pass, and only the next run saw it.
    fn an_environment_made_while_the_proofs_run_the_users_code_fails_that_run() {
        let nb = hardened();
        let python_dir = site_packages(&nb)[0]
            .parent()
            .and_then(|p| p.file_name())
            .expect("lib/python3.X")
            .to_string_lossy()
            .into_owned();
        plant_pth(
            &nb,
            "nbw_newenv",
            &format!(
                r#"
import os
os.makedirs("/home/ec2-user/anaconda3/envs/late/lib/{python_dir}/site-packages", exist_ok=True)
"#
            ),
        );
        let out = nb.nbwarden(&["verify", "--output", "json"]);
        let report = read_report(&out);
        assert!(
            nb.path("/home/ec2-user/anaconda3/envs/late").is_dir(),
            "the proof never ran the user's .pth: {report:#?}"
        );
        assert_eq!(code(&out), 1, "{report:#?}");
        let evidence = common::evidence(&report, "variables").join("\n");
        assert!(
            evidence.contains(&format!(
                "envs/late/lib/{python_dir}/site-packages/nbwarden-variables.pth: not nbwarden's \
                 root-owned file"
            )),
            "{evidence}"
        );
    }
}

system_test! {
    /// Red team, third round: the user turns an environment's site-packages
    /// into a link to a directory of their own, with their own copy of
    /// nbwarden's `.pth` and a `.pth` that chooses another index. nbwarden
    /// follows no link the user made; it used to skip that environment with a
    /// note in both controls and pass. The link is now a finding in each.
    fn a_site_packages_the_user_links_elsewhere_is_a_finding_not_a_skipped_environment() {
        let nb = hardened();
        let site = site_packages(&nb).remove(0);
        let real = site.with_file_name("site-packages.real");
        std::fs::rename(&site, &real).expect("move site-packages");
        // The link as the user would make it: absolute inside the notebook.
        let target = Path::new("/").join(real.strip_prefix(nb.root()).expect("inside the root"));
        std::os::unix::fs::symlink(&target, &site).expect("link");
        chown_user(&site);
        let pth = real.join("nbwarden-variables.pth");
        let text = std::fs::read_to_string(&pth).expect("nbwarden's .pth");
        std::fs::remove_file(&pth).expect("remove");
        std::fs::write(&pth, text).expect("the user's copy");
        chown_user(&pth);
        let idx = real.join("zz_idx.pth");
        std::fs::write(
            &idx,
            "import os; os.environ['PIP_INDEX_URL'] = 'https://pypi.org/simple'\n",
        )
        .expect("plant");
        chown_user(&idx);

        let out = nb.nbwarden(&["verify", "--output", "json"]);
        let report = read_report(&out);
        assert_eq!(code(&out), 1, "{report:#?}");
        let shown = site
            .strip_prefix(nb.root())
            .expect("inside the root")
            .display()
            .to_string();
        let packages = common::evidence(&report, "packages").join("\n");
        assert!(
            packages.contains(&format!("/{shown}")) && packages.contains("a link where Python looks"),
            "{packages}"
        );
        let variables = common::evidence(&report, "variables").join("\n");
        assert!(
            variables.contains(&format!("/{shown}: a link where Python looks for packages")),
            "{variables}"
        );
    }
}

/// Makes a venv as the user would (`python3 -m venv --without-pip DIR`,
/// inside the root, as uid 1000).
fn user_venv(nb: &Notebook, dir: &str) {
    let out = nb.as_user(&["python3", "-m", "venv", "--without-pip", dir]);
    assert!(out.status.success(), "venv {dir}: {}", output_text(&out));
}

system_test! {
    /// Red team, fourth round: a kernel spec runs an interpreter in a venv the
    /// user made outside every place nbwarden searches (`/tmp`), whose
    /// `pip.conf` names the public index. The override search now names the
    /// kernel; it used to pass.
    fn a_kernel_running_an_environment_nobody_searched_is_a_finding() {
        let nb = hardened();
        user_venv(&nb, "/tmp/kenv");
        put(
            &nb,
            "/tmp/kenv/pip.conf",
            "[global]\nindex-url = https://pypi.org/simple\n",
        );
        chown_user(&nb.path("/tmp/kenv/pip.conf"));
        let spec = "/home/ec2-user/.local/share/jupyter/kernels/kenv/kernel.json";
        put(
            &nb,
            spec,
            r#"{"argv": ["/tmp/kenv/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
 "display_name": "kenv", "language": "python"}
"#,
        );
        for p in [
            "/home/ec2-user/.local",
            "/home/ec2-user/.local/share",
            "/home/ec2-user/.local/share/jupyter",
            "/home/ec2-user/.local/share/jupyter/kernels",
            "/home/ec2-user/.local/share/jupyter/kernels/kenv",
            spec,
        ] {
            chown_user(&nb.path(p));
        }
        let ev = failing_verify(&nb, "packages");
        assert!(
            ev.contains("kenv/kernel.json") && ev.contains("runs /tmp/kenv/bin/python, outside every"),
            "{ev}"
        );
    }
}

system_test! {
    /// Red team, fourth round: a hidden venv (`python -m venv .venv`, the usual
    /// name) was never found, so never linked; and a flood of directories that
    /// stops the environment search left the variables control passing. The
    /// hidden venv is now linked by apply, and a stopped search fails.
    fn a_hidden_venv_is_linked_and_a_flood_is_reported_not_a_failed_start() {
        let nb = hardened();
        user_venv(&nb, "/home/ec2-user/SageMaker/.venv");
        let apply = nb.nbwarden(&["apply", "--output", "json"]);
        assert_eq!(code(&apply), 0, "{}", output_text(&apply));
        let out = nb.as_user(&[
            "/home/ec2-user/SageMaker/.venv/bin/python",
            "-I",
            "-c",
            "import sagemaker_environment",
        ]);
        assert!(out.status.success(), "{}", output_text(&out));

        let flood = nb.path("/home/ec2-user/SageMaker/flood");
        for i in 0..2100 {
            std::fs::create_dir_all(flood.join(format!("d{i}"))).expect("mkdir");
        }
        let chown = Command::new("chown")
            .args(["-R", "1000:1000"])
            .arg(&flood)
            .status()
            .expect("chown");
        assert!(chown.success());
        // Issue 28: a flood (or a dataset of per-sample directories) is a
        // bound the walk reports, never a failed start; the environment found
        // before it stays linked.
        let out = nb.nbwarden(&["verify", "--only", "variables", "--output", "json"]);
        let report = read_report(&out);
        assert_eq!(code(&out), 0, "{report:#?}");
        let ev = common::evidence(&report, "variables").join("\n");
        assert!(
            ev.contains("not descended into: ") && ev.contains("the walk looks at most at 2000"),
            "{ev}"
        );
    }
}

system_test! {
    /// Red team, fifth round: ways a kernel reaches an index nobody searched,
    /// each now named by the override search: its interpreter behind
    /// `/usr/bin/env`, or named through `..`, or through a `.venv` the user
    /// linked to `/tmp`; a kernel `env` that moves `HOME`, `PATH` or
    /// `PYTHONPATH`; an IPython start-up file every kernel runs; an environment
    /// conda lists in `~/.conda/environments.txt`. All passed before.
    fn kernels_and_start_up_files_that_move_pip_elsewhere_are_named() {
        let nb = hardened();
        user_venv(&nb, "/tmp/x");
        let env_python = "/home/ec2-user/anaconda3/envs/python3/bin/python";
        let launch = r#""-m", "ipykernel_launcher", "-f", "{connection_file}""#;
        let kernels = [
            (
                "envwrap",
                format!(r#"["/usr/bin/env", "/tmp/x/bin/python", {launch}]"#),
                "{}",
            ),
            (
                "dotdot",
                format!(
                    r#"["/home/ec2-user/anaconda3/envs/python3/../../../../../tmp/x/bin/python", {launch}]"#
                ),
                "{}",
            ),
            (
                "linked",
                format!(r#"["/home/ec2-user/SageMaker/proj/.venv/bin/python", {launch}]"#),
                "{}",
            ),
            (
                "home",
                format!(r#"["{env_python}", {launch}]"#),
                r#"{"HOME": "/tmp/h"}"#,
            ),
            (
                "pypath",
                format!(r#"["{env_python}", {launch}]"#),
                r#"{"PYTHONPATH": "/tmp/sc"}"#,
            ),
        ];
        let mut owned = vec![
            "/home/ec2-user/.local".to_string(),
            "/home/ec2-user/.local/share".into(),
            "/home/ec2-user/.local/share/jupyter".into(),
            "/home/ec2-user/.local/share/jupyter/kernels".into(),
        ];
        for (name, argv, env) in &kernels {
            let dir = format!("/home/ec2-user/.local/share/jupyter/kernels/{name}");
            put(
                &nb,
                &format!("{dir}/kernel.json"),
                &format!(
                    r#"{{"argv": {argv}, "env": {env}, "display_name": "{name}", "language": "python"}}"#
                ),
            );
            owned.push(dir.clone());
            owned.push(format!("{dir}/kernel.json"));
        }
        std::fs::create_dir_all(nb.path("/home/ec2-user/SageMaker/proj")).expect("mkdir");
        std::os::unix::fs::symlink("/tmp/x", nb.path("/home/ec2-user/SageMaker/proj/.venv"))
            .expect("link");
        owned.push("/home/ec2-user/SageMaker/proj".into());
        owned.push("/home/ec2-user/SageMaker/proj/.venv".into());
        let startup = "/home/ec2-user/.ipython/profile_default/startup/00-idx.py";
        put(
            &nb,
            startup,
            "import os\nos.environ['PIP_INDEX_URL'] = 'https://pypi.org/simple'\n",
        );
        owned.extend(
            [
                "/home/ec2-user/.ipython",
                "/home/ec2-user/.ipython/profile_default",
                "/home/ec2-user/.ipython/profile_default/startup",
                startup,
            ]
            .map(String::from),
        );
        let listed = "/home/ec2-user/.conda/environments.txt";
        put(&nb, listed, "/home/ec2-user/anaconda3\n/tmp/cenvs/evil\n");
        owned.extend(["/home/ec2-user/.conda", listed].map(String::from));
        for p in &owned {
            chown_user(&nb.path(p));
        }

        let ev = failing_verify(&nb, "packages");
        for expected in [
            "envwrap/kernel.json: runs /tmp/x/bin/python, outside every environment searched",
            "dotdot/kernel.json: runs /home/ec2-user/anaconda3/envs/python3/../../../../../tmp/x/bin/python, named through",
            "linked/kernel.json: runs /home/ec2-user/SageMaker/proj/.venv/bin/python, outside every",
            "home/kernel.json: env HOME = \"/tmp/h\"",
            "pypath/kernel.json: env PYTHONPATH = \"/tmp/sc\"",
            "00-idx.py: line 2: os.environ['PIP_INDEX_URL']",
            "environments.txt: /tmp/cenvs/evil: an environment conda knows that was not searched",
        ] {
            assert!(ev.contains(expected), "{expected}\n{ev}");
        }
        assert!(
            !ev.contains("/home/ec2-user/anaconda3: an environment conda"),
            "{ev}"
        );
    }
}

system_test! {
    /// Red team, sixth round: the user's code that a proof runs calls `sudo`
    /// for what the policy still allows (restarting Jupyter), which would start
    /// the user's server outside the proof's namespace while root's run goes
    /// on. Proofs run with no_new_privs: sudo refuses to run as root for them.
    fn the_users_code_in_a_proof_cannot_use_sudo() {
        let nb = hardened();
        // The user may still list the allowed command outside a proof.
        let outside = nb.as_user(&["sudo", "-n", "-l"]);
        assert!(
            outside.status.success() && stdout(&outside).contains("systemctl restart jupyter-server"),
            "{}",
            output_text(&outside)
        );
        plant_pth(
            &nb,
            "nbw_sudo",
            r#"
import subprocess, sys
if "-c" in sys.orig_argv:
    r = subprocess.run(["sudo", "-n", "-l"], capture_output=True, text=True)
    with open("/tmp/nbw-sudo", "a") as f:
        f.write(f"rc={r.returncode}\n{r.stdout}{r.stderr}\n")
"#,
        );
        let _ = std::fs::remove_file(nb.path("/tmp/nbw-sudo"));
        let out = nb.nbwarden(&["verify", "--output", "json"]);
        let seen = std::fs::read_to_string(nb.path("/tmp/nbw-sudo"))
            .unwrap_or_else(|_| panic!("the proof never ran the .pth: {}", output_text(&out)));
        assert!(
            !seen.contains("rc=0"),
            "sudo ran as root for the proof: {seen}"
        );
        assert!(!seen.contains("jupyter-server"), "{seen}");
        assert!(seen.contains("no new privileges"), "{seen}");
    }
}

system_test! {
    /// User code that holds the import proof until the run's deadline cuts it
    /// short has proven nothing either way: the run says the check could not be
    /// made (exit 3, the control in error, "not proven"), not that the user's
    /// python "cannot import" the variables (exit 1), which nobody saw.
    fn a_proof_the_deadline_cuts_short_is_unproven_not_failed() {
        let nb = hardened();
        // Longer than the run's deadline, shorter than a proof's own limit
        // (30 s), so only the deadline can end it.
        plant_pth(
            &nb,
            "nbw_stall",
            "import sys, time\nif '-c' in sys.orig_argv:\n    time.sleep(25)\n",
        );
        let out = nb.nbwarden(&[
            "verify",
            "--deadline",
            "6s",
            "--only",
            "variables",
            "--output",
            "json",
        ]);
        let report = read_report(&out);
        assert_eq!(code(&out), 3, "{report:#?}");
        let variables = common::control(&report, "variables");
        assert_eq!(variables.status, Status::Error, "{report:#?}");
        let error = variables.error.clone().unwrap_or_default();
        assert!(
            error.contains("not proven") && error.contains("deadline"),
            "{error}"
        );
        assert!(!error.contains("cannot import"), "{error}");
    }
}

system_test! {
    /// Found by issue 19's third red-team round: images mask units with links
    /// to `/dev/null`, which the permissions walk took for a world-writable
    /// place and so failed the start of any image with a masked unit. A mask
    /// is no place of the user's; a link to a file in `/tmp` still is.
    fn a_masked_unit_is_no_user_place_but_a_link_into_tmp_is() {
        let nb = hardened();
        std::os::unix::fs::symlink(
            "/dev/null",
            nb.path("/etc/systemd/system/nb-masked.service"),
        )
        .expect("mask");
        let null = nb.as_root(&["stat", "-c", "%F %u", "/dev/null"]);
        assert_eq!(
            String::from_utf8_lossy(&null.stdout).trim(),
            "character special file 0",
            "the root's /dev/null is not the device this test needs"
        );
        let verify = || {
            let out = nb.nbwarden(&["verify", "--only", "permissions", "--output", "json"]);
            (code(&out), read_report(&out))
        };
        let (masked, report) = verify();
        assert_eq!(masked, 0, "{report:#?}");

        std::fs::write(nb.path("/tmp/nb-conf"), "x\n").expect("write");
        chown_user(&nb.path("/tmp/nb-conf"));
        std::os::unix::fs::symlink("/tmp/nb-conf", nb.path("/etc/nb-conf")).expect("link");
        let (linked, report) = verify();
        assert_eq!(linked, 1, "{report:#?}");
        let evidence = common::evidence(&report, "permissions").join("\n");
        assert!(
            evidence.contains("/etc/nb-conf is a link to a place the notebook user can change")
                && !evidence.contains("nb-masked"),
            "{evidence}"
        );
    }
}

system_test! {
    /// Issue 29: root-run hooks outside units and cron, each left by the image
    /// naming a place on the ML volume: PAM's `pam_exec`, the system shell
    /// start-up files, `/etc/environment`, logrotate, dhclient, motd, apt,
    /// dnf, udev and a systemd generator. Root's own interactive bash runs the
    /// user's file as uid 0 (the stake); verify fails naming every hook.
    fn every_root_hook_kind_naming_a_user_path_fails_boot_exec() {
        let nb = hardened();
        let ml = "/home/ec2-user/SageMaker";
        let user = nb.as_user(&[
            "sh",
            "-c",
            &format!("printf 'id -u > /tmp/hook-ran-as\\n' > {ml}/hook.sh && chmod +x {ml}/hook.sh"),
        ]);
        assert!(user.status.success(), "{}", output_text(&user));
        let bashrc = std::fs::read_to_string(nb.path("/etc/bash.bashrc")).expect("bash.bashrc");
        let hooks: &[(&str, String)] = &[
            (
                "/etc/pam.d/common-session",
                format!("session optional pam_exec.so {ml}/pam.sh\n"),
            ),
            ("/etc/bash.bashrc", format!("{bashrc}. {ml}/hook.sh\n")),
            ("/etc/environment", format!("LD_PRELOAD={ml}/lib.so\n")),
            (
                "/etc/logrotate.d/app",
                format!("/var/log/app.log {{\n  postrotate\n    {ml}/rotate.sh\n  endscript\n}}\n"),
            ),
            (
                "/etc/dhcp/dhclient-exit-hooks.d/sync",
                format!("[ -x {ml}/lease.sh ] && {ml}/lease.sh\n"),
            ),
            (
                "/etc/update-motd.d/99-team",
                format!("#!/bin/sh\n. {ml}/motd.sh\n"),
            ),
            (
                "/etc/apt/apt.conf.d/99-team",
                format!("DPkg::Post-Invoke {{\"{ml}/apt.sh\";}};\n"),
            ),
            (
                "/etc/dnf/plugins/post-transaction-actions.d/team.action",
                format!("*:any:{ml}/dnf.sh\n"),
            ),
            (
                "/etc/udev/rules.d/99-team.rules",
                format!("ACTION==\"add\", RUN+=\"{ml}/udev.sh\"\n"),
            ),
            // The red team's forms: a glued redirection, a pattern, a `~user`
            // word, a continued line, apt's `#include`, the core handler.
            (
                "/etc/profile.d/team.sh",
                format!(
                    "sh <{ml}/redirect.sh\nfor f in /home/*/SageMaker/on-boot.sh; do . \"$f\"; done\n\
                     . ~ec2-user/SageMaker/tilde.sh\n. /home/ec2-\\\nuser/SageMaker/cont.sh\n"
                ),
            ),
            (
                "/etc/apt/apt.conf.d/98-include",
                format!("#include \"{ml}/apt.conf\";\n"),
            ),
            (
                "/etc/sysctl.d/99-core.conf",
                format!("kernel.core_pattern=|{ml}/core.sh %p\n"),
            ),
            // Round two: escapes sh undoes, a pattern at the top, cron's `%`,
            // a climbing relative path.
            (
                "/etc/cron.d/team",
                "* * * * * root \\/home/ec2-user/SageMaker/escaped.sh\n\
                 * * * * * root /hom?/ec2-user/SageMaker/top.sh\n\
                 * * * * * root sh%/home/ec2-user/SageMaker/stdin.sh\n\
                 * * * * * root cd /root && ../home/ec2-user/SageMaker/climb.sh\n"
                    .to_string(),
            ),
        ];
        for (path, text) in hooks {
            put(&nb, path, text);
        }
        std::fs::create_dir_all(nb.path("/etc/systemd/system-generators")).expect("mkdir");
        std::os::unix::fs::symlink(
            format!("{ml}/gen"),
            nb.path("/etc/systemd/system-generators/team"),
        )
        .expect("link");

        // The stake: root's interactive shell runs the user's file.
        let _ = nb.as_root(&["bash", "-ic", "true"]);
        let ran = std::fs::read_to_string(nb.path("/tmp/hook-ran-as")).unwrap_or_default();
        assert_eq!(
            ran.trim(),
            "0",
            "root's bash did not run it: the test shows nothing"
        );

        let boot = failing_verify(&nb, "boot-exec");
        for needle in [
            "/etc/pam.d/common-session: runs /home/ec2-user/SageMaker/pam.sh",
            "/etc/bash.bashrc: runs /home/ec2-user/SageMaker/hook.sh",
            "/etc/environment: runs /home/ec2-user/SageMaker/lib.so",
            "/etc/logrotate.d/app: runs /home/ec2-user/SageMaker/rotate.sh",
            "/etc/dhcp/dhclient-exit-hooks.d/sync: runs /home/ec2-user/SageMaker/lease.sh",
            "/etc/update-motd.d/99-team: runs /home/ec2-user/SageMaker/motd.sh",
            "/etc/apt/apt.conf.d/99-team: runs /home/ec2-user/SageMaker/apt.sh",
            "team.action: runs /home/ec2-user/SageMaker/dnf.sh",
            "/etc/udev/rules.d/99-team.rules: runs /home/ec2-user/SageMaker/udev.sh",
            "/etc/systemd/system-generators/team links to /home/ec2-user/SageMaker/gen",
            "/etc/profile.d/team.sh: runs /home/ec2-user/SageMaker/redirect.sh",
            "/etc/profile.d/team.sh: runs /home/ec2-user/SageMaker/on-boot.sh",
            "/etc/profile.d/team.sh: runs /home/ec2-user/SageMaker/tilde.sh",
            "/etc/profile.d/team.sh: runs /home/ec2-user/SageMaker/cont.sh",
            "/etc/apt/apt.conf.d/98-include: runs /home/ec2-user/SageMaker/apt.conf",
            "/etc/sysctl.d/99-core.conf: runs /home/ec2-user/SageMaker/core.sh",
            "/etc/cron.d/team: runs /home/ec2-user/SageMaker/escaped.sh",
            "/etc/cron.d/team: runs /hom?/ec2-user/SageMaker/top.sh as root, a pattern at the top",
            "/etc/cron.d/team: runs /home/ec2-user/SageMaker/stdin.sh",
            "/etc/cron.d/team: runs /home/ec2-user/SageMaker/climb.sh",
        ] {
            assert!(boot.contains(needle), "missing {needle}:\n{boot}");
        }
    }
}
