//! Drift on a real Debian root after apply: each planted change fails a
//! control that names the path, and a stop/start (new system drive, same
//! ML volume) re-applies and verifies clean.

#[macro_use]
mod common;

use std::os::unix::fs::PermissionsExt;

use common::notebook::Notebook;
use common::{AsText, Status, code, output_text};

fn policy() -> String {
    let example = common::bundle::example_policy();
    // The example checks /etc with [verify.permissions] and has [verify.boot_exec].
    assert!(example.contains("[verify.permissions]") && example.contains("[verify.boot_exec]"));
    example
}

system_test! {
    fn planted_drift_is_named_and_a_stop_start_converges_again() {
        let nb = Notebook::create(&policy());
        let (apply, verify) = nb.on_start();
        assert_eq!(code(&apply), 0, "{}", output_text(&apply));
        assert_eq!(code(&verify), 0, "{}", output_text(&verify));

        std::fs::write(
            nb.path("/etc/pip.conf"),
            "[global]\nindex-url = https://pypi.org/simple\n",
        )
        .expect("edit pip.conf");
        let motd = nb.path("/etc/motd");
        std::fs::write(&motd, "hello\n").expect("motd");
        std::fs::set_permissions(&motd, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        std::fs::write(
            nb.path("/etc/systemd/system/sync.service"),
            "[Unit]\nDescription=planted\n[Service]\nExecStart=/home/ec2-user/SageMaker/sync.sh\n",
        )
        .expect("unit");
        std::fs::write(
            nb.path("/etc/sudoers.d/50-planted"),
            "ec2-user ALL=(ALL) NOPASSWD: ALL\n",
        )
        .expect("sudoers");
        std::fs::set_permissions(
            nb.path("/etc/sudoers.d/50-planted"),
            std::fs::Permissions::from_mode(0o440),
        )
        .expect("chmod");

        let drift = nb.nbwarden(&["verify", "--output", "json"]);
        assert_eq!(code(&drift), 1, "{}", output_text(&drift));
        let report = common::read_report(&drift);
        for (control, path) in [
            ("packages", "/etc/pip.conf"),
            ("permissions", "/etc/motd"),
            ("boot-exec", "/home/ec2-user/SageMaker/sync.sh"),
            ("sudo", "/etc/sudoers.d/50-planted"),
        ] {
            let c = common::control(&report, control);
            assert_eq!(c.status, Status::Fail, "{control}: {c:#?}");
            assert!(
                c.to_string().contains(path),
                "{control} does not name {path}: {c:#?}"
            );
        }

        // A new system drive: the planted files and nbwarden's work are gone,
        // the ML volume stays; on-start converges and verifies clean again.
        std::fs::write(nb.path("/home/ec2-user/SageMaker/sync.sh"), "#!/bin/sh\n").expect("ml file");
        nb.stop_start();
        nb.install();
        let apply = nb.nbwarden(&["apply", "--output", "json", "-q"]);
        assert_eq!(code(&apply), 0, "{}", output_text(&apply));
        let applied = common::read_report(&apply);
        assert_eq!(
            applied.context.map(|c| c.kind),
            Some(nbwarden::report::RunKind::NewDrive),
            "the ML volume remembers the notebook"
        );
        let verify = nb.nbwarden(&["verify", "-q"]);
        assert_eq!(code(&verify), 0, "{}", output_text(&verify));
        assert!(nb.path("/home/ec2-user/SageMaker/sync.sh").exists());
    }
}
