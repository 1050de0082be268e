//! The notebook user's traps, laid in their home and environments before
//! the next start, and a hostile disk: each is refused or reported, root
//! writes, reads and runs nothing where the user chose, and a full or
//! read-only disk ends the run with exit 3 and every file whole.
//! (SECURITY.md lists what these tests stand for.)

#[macro_use]
mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::notebook::Notebook;
use common::{
    Status, code, is_root, output_text, read_report, repo, run_on, sandbox, stdout, write_policy,
};

/// The example policy: every control a start runs.
fn policy() -> String {
    common::bundle::example_policy()
}

fn chown_user(path: &Path) {
    if is_root() {
        let _ = Command::new("chown")
            .args(["-h", "1000:1000"])
            .arg(path)
            .status();
    }
}

fn digest(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read")
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    fn links_to_shadow_and_sudoers_d_in_the_users_home_never_redirect_roots_writes() {
        let clean = sandbox("al2023");
        let dir = tempfile::tempdir().expect("tmp");
        let p = write_policy(dir.path(), &policy());
        let out = run_on("apply", clean.path(), &p, &[]);
        assert!(code(&out) <= 1, "{}", output_text(&out));

        let root = sandbox("al2023");
        let home = root.path().join("home/ec2-user");
        // ~/.config/pip and ~/.ipython lead to sudoers.d; the conda base
        // install's .condarc and an environment's site-packages lead to shadow.
        std::fs::create_dir_all(home.join(".config")).expect("mkdir");
        std::os::unix::fs::symlink("/etc/sudoers.d", home.join(".config/pip")).expect("link");
        std::os::unix::fs::symlink("/etc/sudoers.d", home.join(".ipython")).expect("link");
        std::os::unix::fs::symlink("/etc/gshadow", home.join("anaconda3/.condarc")).expect("link");
        let site = home.join("anaconda3/envs/python3/lib/python3.10");
        std::fs::create_dir_all(&site).expect("mkdir");
        std::os::unix::fs::symlink("/etc/sudoers.d", site.join("site-packages")).expect("link");
        for p in [
            home.join(".config"),
            home.join(".config/pip"),
            home.join(".ipython"),
            home.join("anaconda3/.condarc"),
            site.join("site-packages"),
        ] {
            chown_user(&p);
        }
        let shadow = digest(&root.path().join("etc/gshadow"));

        let out = run_on("apply", root.path(), &p, &["--output", "json"]);
        let text = output_text(&out);
        // The run cannot converge with a linked .condarc: exit 3, said plainly.
        assert_eq!(code(&out), 3, "{text}");
        assert!(text.contains("symbolic link"), "{text}");
        // sudoers.d holds exactly what a clean run leaves there: nothing was
        // written through ~/.config/pip, ~/.ipython or the linked site-packages.
        let listing = |r: &Path| -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(r.join("etc/sudoers.d"))
                .expect("sudoers.d")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        assert_eq!(listing(root.path()), listing(clean.path()));
        assert!(
            !root
                .path()
                .join("etc/sudoers.d/nbwarden-variables.pth")
                .exists()
                && !root.path().join("etc/sudoers.d/pip.conf").exists()
        );
        // gshadow changed only as the sudo control changes it (wheel, docker),
        // never to the content of a .condarc.
        let after = String::from_utf8(digest(&root.path().join("etc/gshadow"))).expect("utf8");
        assert!(!after.contains("channels"), "{after}");
        assert!(
            after == String::from_utf8_lossy(&shadow)
                || after == String::from_utf8_lossy(&digest(&clean.path().join("etc/gshadow")))
        );
        let report = read_report(&out);
        let packages = common::control(&report, "packages");
        assert_eq!(packages.status, Status::Error, "{report:#?}");
    }
}

system_test! {
    "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)";
    fn fifos_huge_files_and_hard_links_where_nbwarden_reads_are_refused_quickly() {
        let root = sandbox("al2023");
        let home = root.path().join("home/ec2-user");
        let pip_dir = home.join(".config/pip");
        std::fs::create_dir_all(&pip_dir).expect("mkdir");
        // A FIFO where the override check reads: opening it must not block.
        let fifo = pip_dir.join("pip.conf");
        assert!(
            Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .expect("mkfifo")
                .success()
        );
        // A sparse 64 MiB file where an env-level pip.conf would be.
        let env_conf = home.join("anaconda3/envs/python3/pip.conf");
        let big = std::fs::File::create(&env_conf).expect("create");
        big.set_len(64 * 1024 * 1024).expect("truncate");
        for p in [
            home.join(".config"),
            pip_dir.clone(),
            fifo.clone(),
            env_conf.clone(),
        ] {
            chown_user(&p);
        }
        if !is_root() {
            std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        }
        let shadow = digest(&root.path().join("etc/gshadow"));
        let dir = tempfile::tempdir().expect("tmp");
        let p = write_policy(dir.path(), &policy());

        let started = std::time::Instant::now();
        let out = Command::new("timeout")
            .arg("60")
            .arg(env!("CARGO_BIN_EXE_nbwarden"))
            .args(["verify", "--only", "packages", "--output", "json", "--root"])
            .arg(root.path())
            .arg("--policy")
            .arg(&p)
            .output()
            .expect("run");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "a FIFO held the run for {:?}",
            started.elapsed()
        );
        let text = stdout(&out);
        assert_ne!(code(&out), 124, "timed out: {text}");
        assert!(text.contains("pip.conf"), "{text}");
        assert!(text.contains("not a regular file"), "the FIFO: {text}");
        // Sized before it is read (a sparse file would cost the whole read).
        assert!(
            text.contains("not checked: 67108864 bytes, more than the"),
            "the huge file: {text}"
        );
        assert_eq!(digest(&root.path().join("etc/gshadow")), shadow);

        // A hard link to gshadow where the conda base file lives: refused, and
        // apply does not write through it.
        let linked = home.join("anaconda3/.condarc");
        std::fs::hard_link(root.path().join("etc/gshadow"), &linked).expect("hard link");
        let out = run_on("apply", root.path(), &p, &["--only", "packages"]);
        assert_eq!(code(&out), 3, "{}", output_text(&out));
        assert!(stdout(&out).contains("hard links"), "{}", stdout(&out));
        assert_eq!(digest(&root.path().join("etc/gshadow")), shadow);
    }
}

system_test! {
    fn code_planted_in_an_environment_never_runs_as_root() {
        assert!(is_root(), "the system tier needs root");
        let nb = Notebook::create(&policy());
        // A sitecustomize.py and a .pth line in the user's environment: each
        // records the uid it ran as.
        let envs = nb.path("/home/ec2-user/anaconda3/envs");
        let mut planted = 0;
        for env in std::fs::read_dir(&envs).expect("envs") {
            let lib = env.expect("env").path().join("lib");
            for py in std::fs::read_dir(&lib).expect("lib") {
                let site = py.expect("python").path().join("site-packages");
                std::fs::write(
                    site.join("sitecustomize.py"),
                    "import os\nopen('/tmp/sitecustomize-ran-as-%d' % os.getuid(), 'w').close()\n",
                )
                .expect("plant");
                std::fs::write(
                    site.join("zz-planted.pth"),
                    "import os; open('/tmp/pth-ran-as-%d' % os.getuid(), 'w').close()\n",
                )
                .expect("plant");
                planted += 1;
            }
        }
        assert!(planted >= 2, "no environment to plant in");
        let (apply, verify) = nb.on_start();
        assert_eq!(code(&apply), 0, "{}", output_text(&apply));
        assert_eq!(code(&verify), 0, "{}", output_text(&verify));
        let ran: Vec<String> = std::fs::read_dir(nb.path("/tmp"))
            .expect("tmp")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("-ran-as-"))
            .collect();
        // The import check did run the environments' python: as the user.
        assert!(
            ran.contains(&"pth-ran-as-1000".to_string()),
            "the planted code never ran at all, so this test proves nothing: {ran:?}"
        );
        assert!(
            !ran.iter().any(|n| n.ends_with("-as-0")),
            "planted code ran as root: {ran:?}"
        );
    }
}

/// Runs `script` in a private mount namespace (sh -c), with the sandbox
/// fixture and the binary passed as $1 and $2.
fn in_namespace(script: &str) -> std::process::Output {
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(repo())
        .arg(env!("CARGO_BIN_EXE_nbwarden"))
        .output()
        .expect("unshare")
}

system_test! {
    fn a_full_disk_ends_apply_with_exit_3_and_every_file_whole() {
        assert!(is_root(), "mount namespaces need root");
        // A 2 MiB tmpfs holding the root, filled up before apply runs.
        let out = in_namespace(
            r#"set -e
d=$(mktemp -d) l=$(mktemp -d)
mount -t tmpfs -o size=2m tmpfs "$d"
"$1/scripts/sandbox-root" al2023 "$d/root" >/dev/null
sums() { (cd "$d/root" && find etc home -type f | sort | xargs sha256sum); }
sums > "$l/before"
dd if=/dev/zero of="$d/filler" bs=4k 2>/dev/null || true
rc=0
"$2" apply --root "$d/root" --policy "$1/config/policy.example.toml" -q >"$l/out" 2>&1 || rc=$?
echo "rc=$rc"
cat "$l/out"
sums > "$l/after"
if diff "$l/before" "$l/after" >/dev/null; then echo "files: unchanged"; else echo "files: CHANGED"; diff "$l/before" "$l/after" || true; fi
leftover=$(find "$d/root" -name '*.nbwarden-*.tmp' | wc -l)
echo "temporaries: $leftover"
rm -rf "$l"
"#,
        );
        let text = output_text(&out);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("rc=3"), "{text}");
        assert!(text.contains("No space left on device"), "{text}");
        assert!(text.contains("files: unchanged"), "{text}");
        assert!(text.contains("temporaries: 0"), "{text}");
    }
}

system_test! {
    fn a_read_only_root_ends_apply_with_exit_3_and_a_clear_message() {
        assert!(is_root(), "mount namespaces need root");
        let out = in_namespace(
            r#"set -e
d=$(mktemp -d)
"$1/scripts/sandbox-root" al2023 "$d/root" >/dev/null
mount --bind "$d/root" "$d/root"
mount -o remount,bind,ro "$d/root"
rc=0
"$2" apply --root "$d/root" --policy "$1/config/policy.example.toml" -q 2>"$d/stderr" || rc=$?
echo "rc=$rc"
cat "$d/stderr"
umount "$d/root"
rm -rf "$d"
"#,
        );
        let text = output_text(&out);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("rc=3"), "{text}");
        assert!(text.contains("Read-only file system"), "{text}");
    }
}
