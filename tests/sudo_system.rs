//! The sudo control in a real Debian root, proved with the root's own
//! `sudo -l -U ec2-user` and `visudo -c`.

#[macro_use]
mod common;

use common::notebook::Notebook;
use common::{Status, code, evidence, output_text};

const POLICY: &str =
    "version = 1\n[sudo]\nallow = [\"/usr/bin/systemctl restart jupyter-server\"]\n";

/// The commands `sudo -l -U ec2-user` lists in the root, one per line.
fn sudo_listing(nb: &Notebook) -> Vec<String> {
    let out = nb.as_root(&["sudo", "-l", "-U", "ec2-user"]);
    let t = output_text(&out);
    if t.contains("is not allowed to run sudo") {
        return Vec::new();
    }
    t.lines()
        .skip_while(|l| !l.contains("may run the following commands"))
        .skip(1)
        .filter(|l| l.starts_with(' '))
        .map(|l| l.trim().to_string())
        .collect()
}

/// After a strip, sudo lists only the deny and the allowed command.
fn assert_stripped(nb: &Notebook) {
    assert_eq!(
        sudo_listing(nb),
        [
            "(ALL : ALL) !ALL",
            "(root) NOSETENV: NOPASSWD: /usr/bin/systemctl restart jupyter-server"
        ],
        "sudo still grants more"
    );
    let visudo = nb.as_root(&["visudo", "-c"]);
    assert_eq!(code(&visudo), 0, "{}", output_text(&visudo));
}

fn apply_json(nb: &Notebook) -> common::Report {
    let out = nb.nbwarden(&["apply", "--only", "sudo", "--output", "json", "-q"]);
    assert_eq!(code(&out), 0, "{}", output_text(&out));
    common::read_report(&out)
}

fn write(nb: &Notebook, path: &str, content: &str) {
    std::fs::write(nb.path(path), content).expect("write fixture");
    std::fs::set_permissions(
        nb.path(path),
        std::os::unix::fs::PermissionsExt::from_mode(0o440),
    )
    .expect("chmod");
}

system_test! {
    fn the_image_grants_are_stripped_and_proved_with_sudo() {
        let nb = Notebook::create(POLICY);
        nb.install();
        assert!(
            sudo_listing(&nb)
                .iter()
                .any(|l| l.contains("NOPASSWD: ALL"))
        );
        let report = apply_json(&nb);
        let ev = evidence(&report, "sudo");
        for expected in [
            "grant at /etc/sudoers.d/90-cloud-init-users:2 names the user",
            "grant at /etc/sudoers:50 through group sudo",
            "grant at /etc/sudoers:57 through group wheel",
        ] {
            assert!(
                ev.contains(&expected.to_string()),
                "{expected} missing: {ev:#?}"
            );
        }
        assert!(
            ev.iter()
                .any(|e| e.starts_with("sudo -l -U ec2-user: ok: sudo lists only: !ALL")),
            "{ev:#?}"
        );
        assert_stripped(&nb);
        let groups = output_text(&nb.as_root(&["id", "-nG", "ec2-user"]));
        // adm (every log) is root-equivalent too since issue 16.
        assert_eq!(groups.split_whitespace().collect::<Vec<_>>(), ["ec2-user"]);
        assert!(
            nb.path("/var/lib/nbwarden/backup/sudo/sudoers.d/90-cloud-init-users")
                .is_file()
        );

        // Already stripped: nothing changes, and verify agrees.
        let again = apply_json(&nb);
        assert_eq!(again.summary.changes, 0, "{again:#?}");
        let verify = nb.nbwarden(&["verify", "--only", "sudo"]);
        assert_eq!(code(&verify), 0, "{}", output_text(&verify));

        // A grant planted after apply is drift: verify fails and names it.
        write(
            &nb,
            "/etc/sudoers.d/50-planted",
            "ec2-user ALL=(ALL) NOPASSWD: ALL\n",
        );
        let drift = nb.nbwarden(&["verify", "--only", "sudo"]);
        assert_eq!(code(&drift), 1, "{}", output_text(&drift));
        assert!(
            output_text(&drift).contains("/etc/sudoers.d/50-planted"),
            "{}",
            output_text(&drift)
        );
        apply_json(&nb);
        assert_stripped(&nb);
    }
}

system_test! {
    fn alias_include_and_all_grants_are_commented_out() {
        let nb = Notebook::create(POLICY);
        nb.install();
        write(
            &nb,
            "/etc/sudoers.d/40-team",
            "User_Alias NBTEAM = bob, ec2-user\nNBTEAM ALL=(ALL) ALL\nroot ALL=(ALL) ALL\n",
        );
        write(
            &nb,
            "/etc/sudoers.d/45-everyone",
            "ALL ALL=(ALL) NOPASSWD: /usr/bin/id\n",
        );
        write(
            &nb,
            "/etc/sudoers.local",
            "ec2-user ALL=(ALL) /usr/bin/whoami\n",
        );
        let main = std::fs::read_to_string(nb.path("/etc/sudoers")).expect("sudoers");
        std::fs::write(
            nb.path("/etc/sudoers"),
            format!("{main}@include /etc/sudoers.local\n"),
        )
        .expect("w");
        let before = sudo_listing(&nb);
        assert!(
            before.iter().any(|l| l.ends_with("/usr/bin/whoami")),
            "{before:?}"
        );
        assert!(
            before.iter().any(|l| l.ends_with("/usr/bin/id")),
            "{before:?}"
        );

        let report = apply_json(&nb);
        let ev = evidence(&report, "sudo");
        for expected in [
            "grant at /etc/sudoers.d/40-team:2 through User_Alias NBTEAM",
            "grant at /etc/sudoers.d/45-everyone:1 through ALL",
            "grant at /etc/sudoers.local:1 names the user",
        ] {
            assert!(
                ev.contains(&expected.to_string()),
                "{expected} missing: {ev:#?}"
            );
        }
        assert_stripped(&nb);
        let team = std::fs::read_to_string(nb.path("/etc/sudoers.d/40-team")).expect("kept");
        assert!(team.contains("# nbwarden: disabled sudo grant for ec2-user: NBTEAM ALL=(ALL) ALL"));
        assert!(
            team.contains("\nroot ALL=(ALL) ALL\n"),
            "other rules stay: {team}"
        );
        let local = std::fs::read_to_string(nb.path("/etc/sudoers.local")).expect("kept");
        assert!(
            local.starts_with("# nbwarden: disabled sudo grant for ec2-user: "),
            "{local}"
        );
    }
}

system_test! {
    fn a_broken_sudoers_is_reported_and_left_untouched() {
        let nb = Notebook::create(POLICY);
        nb.install();
        write(&nb, "/etc/sudoers.d/60-broken", "ec2-user ALL=(ALL\n");
        let watched = [
            "/etc/sudoers",
            "/etc/sudoers.d/60-broken",
            "/etc/sudoers.d/90-cloud-init-users",
            "/etc/group",
        ];
        let before: Vec<Vec<u8>> = watched
            .iter()
            .map(|p| std::fs::read(nb.path(p)).expect("r"))
            .collect();
        let out = nb.nbwarden(&["apply", "--only", "sudo"]);
        assert_eq!(code(&out), 3, "{}", output_text(&out));
        assert!(
            output_text(&out).contains("the existing sudoers is invalid"),
            "{}",
            output_text(&out)
        );
        assert!(
            output_text(&out).contains("60-broken"),
            "visudo's message names the file: {}",
            output_text(&out)
        );
        let after: Vec<Vec<u8>> = watched
            .iter()
            .map(|p| std::fs::read(nb.path(p)).expect("r"))
            .collect();
        assert_eq!(before, after);
        assert!(!nb.path("/etc/sudoers.d/zzz-nbwarden").exists());
    }
}

system_test! {
    fn a_failure_between_writing_a_candidate_and_renaming_it_leaves_a_valid_sudoers() {
        let nb = Notebook::create(POLICY);
        nb.install();
        // A visudo that accepts the live configuration but fails every
        // candidate (`-f`): the failure lands after the write, before rename.
        std::fs::rename(
            nb.path("/usr/sbin/visudo"),
            nb.path("/usr/sbin/visudo.real"),
        )
        .expect("mv");
        std::fs::write(
            nb.path("/usr/sbin/visudo"),
            "#!/bin/sh\ncase \"$*\" in *-f*) echo 'injected failure' >&2; exit 1;; esac\nexec /usr/sbin/visudo.real \"$@\"\n",
        )
        .expect("fake visudo");
        std::fs::set_permissions(
            nb.path("/usr/sbin/visudo"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod");
        let before = std::fs::read(nb.path("/etc/sudoers")).expect("r");
        let out = nb.nbwarden(&["apply", "--only", "sudo"]);
        assert_eq!(code(&out), 3, "{}", output_text(&out));
        assert!(
            output_text(&out).contains("injected failure"),
            "{}",
            output_text(&out)
        );
        assert_eq!(std::fs::read(nb.path("/etc/sudoers")).expect("r"), before);
        let leftovers: Vec<_> = std::fs::read_dir(nb.path("/etc/sudoers.d"))
            .expect("ls")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("nbwarden"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        let check = nb.as_root(&["/usr/sbin/visudo.real", "-c"]);
        assert_eq!(code(&check), 0, "{}", output_text(&check));
        assert!(
            sudo_listing(&nb)
                .iter()
                .any(|l| l.contains("NOPASSWD: ALL")),
            "unchanged grants"
        );
    }
}

system_test! {
    fn restore_undoes_the_strip_and_stop_start_needs_the_strip_again() {
        let nb = Notebook::create(POLICY);
        nb.install();
        let original = sudo_listing(&nb);
        apply_json(&nb);
        assert_stripped(&nb);

        let restore = nb.as_root(&["/usr/local/bin/nbwarden", "sudo", "restore", "-q"]);
        assert_eq!(code(&restore), 0, "{}", output_text(&restore));
        assert_eq!(
            sudo_listing(&nb),
            original,
            "restore must bring back the image's grants"
        );
        let groups = output_text(&nb.as_root(&["id", "-nG", "ec2-user"]));
        for g in ["wheel", "docker", "sudo"] {
            assert!(
                groups.split_whitespace().any(|x| x == g),
                "{g} not restored: {groups}"
            );
        }
        apply_json(&nb);
        assert_stripped(&nb);

        // A new system drive brings the image's grants back; on-start strips them.
        nb.stop_start();
        assert_eq!(sudo_listing(&nb), original);
        let (apply, verify) = nb.on_start();
        assert_eq!(code(&apply), 0, "{}", output_text(&apply));
        assert_eq!(code(&verify), 0, "{}", output_text(&verify));
        assert_stripped(&nb);
    }
}

system_test! {
    fn verify_as_the_notebook_user_says_what_it_could_not_read() {
        let nb = Notebook::create(POLICY);
        nb.install();
        apply_json(&nb);
        let out = nb.as_user(&[
            "/usr/local/bin/nbwarden",
            "verify",
            "--only",
            "sudo",
            "--output",
            "json",
            "--policy",
            common::notebook::POLICY_IN_ROOT,
        ]);
        let report = common::read_report(&out);
        // Without root nothing about sudo is proven: an error, never a pass,
        // even on a hardened instance.
        let sudo = common::control(&report, "sudo");
        assert_eq!(sudo.status, Status::Error, "{report:#?}");
        let error = sudo.error.as_deref().unwrap_or_default();
        assert!(
            error.contains("cannot read /etc/sudoers as uid 1000"),
            "{error}"
        );
        assert!(!error.contains("root-equivalent group"), "{error}");
        assert_eq!(code(&out), 3, "{}", output_text(&out));
    }
}
