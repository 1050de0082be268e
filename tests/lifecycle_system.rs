//! The rendered on-start script, run as SageMaker would (root, at start),
//! inside the Debian root with the bundle in moto's S3: the instance ends
//! hardened. A tampered binary stops the script before it runs anything.

#[macro_use]
mod common;

use std::path::Path;
use std::process::Command;

use common::bundle::{Publish, example_policy};
use common::notebook::{Notebook, service};
use common::{Report, code, output_text, unique};

/// Builds a bundle for `prefix` with the example policy, uploads it
/// (optionally with a tampered binary), and renders on-start.sh.
fn publish(prefix: &str, tamper: Option<&str>) -> String {
    let policy = example_policy();
    Publish {
        tamper,
        ..Publish::new(prefix, &policy)
    }
    .run()
}

/// The user's own program NAME on the ML volume: it records the uid it ran
/// as in `/tmp/MARKER-UID` and fails.
fn plant_user_program(nb: &Notebook, name: &str, marker: &str) {
    let program = nb.path(&format!("/home/ec2-user/SageMaker/{name}"));
    std::fs::create_dir_all(program.parent().expect("parent")).expect("mkdir");
    std::fs::write(
        &program,
        format!("#!/bin/sh\necho ran > /tmp/{marker}-$(id -u)\nexit 1\n"),
    )
    .expect("program");
    std::fs::set_permissions(
        &program,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let chown = Command::new("chown")
        .args(["-R", "1000:1000"])
        .arg(nb.path("/home/ec2-user/SageMaker"))
        .status()
        .expect("chown");
    assert!(chown.success());
}

fn run_on_start(nb: &Notebook, script: &str) -> std::process::Output {
    std::fs::write(nb.path("/root/on-start.sh"), script).expect("script");
    let moto = format!("AWS_ENDPOINT_URL={}", service("NBWARDEN_TEST_MOTO_URL"));
    nb.as_root_with(
        &[
            "AWS_ACCESS_KEY_ID=testing",
            "AWS_SECRET_ACCESS_KEY=testing",
            "AWS_DEFAULT_REGION=us-east-1",
            "AWS_REGION=us-east-1",
            "AWS_EC2_METADATA_DISABLED=true",
            &moto,
        ],
        &["/bin/bash", "/root/on-start.sh"],
    )
}

system_test! {
    fn the_rendered_on_start_hardens_the_instance() {
        let script = publish(&unique("lc"), None);
        let nb = Notebook::create("");
        let out = run_on_start(&nb, &script);
        assert_eq!(code(&out), 0, "{}", output_text(&out));
        let log = output_text(&out);
        assert!(log.contains("nbwarden: apply exited 0"), "{log}");
        assert!(
            log.contains("compliant (exit 0)"),
            "the human summary reaches the log: {log}"
        );
        // Each proof is made once per start: apply's verdict is the start's,
        // recorded as the instance's, and no verify repeats it.
        assert_eq!(log.matches(" exited ").count(), 1, "one run: {log}");
        assert!(!log.contains("verify exited"), "{log}");
        let recorded: Report = serde_json::from_str(
            &std::fs::read_to_string(nb.path("/var/lib/nbwarden/last-run.json")).expect("last run"),
        )
        .expect("a report");
        assert_eq!(
            (recorded.command, recorded.exit_code),
            (nbwarden::report::Mode::Apply, 0)
        );
        assert!(
            recorded
                .controls
                .iter()
                .any(|c| c.id == "sudo" && c.evidence.iter().any(|e| e.contains("sudo -l"))),
            "apply proved the strip itself: {recorded:#?}"
        );
        assert!(nb.path("/usr/local/bin/nbwarden").is_file());
        let env = std::fs::read_to_string(nb.path("/etc/nbwarden/lifecycle.env")).expect("env file");
        assert!(
            env.starts_with("NBWARDEN_POLICY=s3://nbwarden-bundles/"),
            "{env}"
        );
        let sudo = nb.as_root(&["sudo", "-l", "-U", "ec2-user"]);
        assert!(
            !output_text(&sudo).contains("NOPASSWD: ALL"),
            "{}",
            output_text(&sudo)
        );
        assert!(Path::new(&nb.path("/etc/pip.conf")).is_file());
    }
}

system_test! {
    fn a_tampered_binary_stops_the_script_before_it_runs() {
        let script = publish(
            &unique("tampered"),
            Some("#!/bin/sh\necho pwned > /tmp/pwned\n"),
        );
        let nb = Notebook::create("");
        let out = run_on_start(&nb, &script);
        assert_ne!(code(&out), 0, "{}", output_text(&out));
        assert!(
            output_text(&out).contains("refusing to run it"),
            "{}",
            output_text(&out)
        );
        assert!(!nb.path("/usr/local/bin/nbwarden").exists());
        assert!(!nb.path("/tmp/pwned").exists());
        let sudo = nb.as_root(&["sudo", "-l", "-U", "ec2-user"]);
        assert!(output_text(&sudo).contains("NOPASSWD: ALL"), "nothing ran");
    }
}

system_test! {
    fn a_root_owned_link_to_the_users_aws_cli_is_not_trusted() {
        let script = publish(&unique("awslink"), None);
        let nb = Notebook::create("");
        // The user's own "aws" on the ML volume, reached through a root-owned
        // link where the script looks first (as a careless image might have).
        plant_user_program(&nb, "aws", "user-aws-ran-as");
        let _ = std::fs::remove_file(nb.path("/usr/local/bin/aws"));
        std::fs::create_dir_all(nb.path("/usr/local/bin")).expect("mkdir");
        std::os::unix::fs::symlink(
            "/home/ec2-user/SageMaker/aws",
            nb.path("/usr/local/bin/aws"),
        )
        .expect("link");
        let out = run_on_start(&nb, &script);
        assert!(
            !nb.path("/tmp/user-aws-ran-as-0").exists(),
            "root ran the user's aws: {}",
            output_text(&out)
        );
        // The system AWS CLI (/usr/bin/aws) fetched the bundle, and the start
        // still fails closed: the link itself hands a system path to the user.
        let log = output_text(&out);
        assert!(log.contains("nbwarden: apply exited"), "{log}");
        assert_eq!(code(&out), 1, "{log}");
        assert!(
            log.contains("/usr/local/bin/aws is a link to a place the notebook user can change"),
            "{log}"
        );
    }
}

system_test! {
    /// Found by the red team: a root-owned AWS CLI whose `#!` names the
    /// user's Python is the user's program.
    fn an_aws_cli_run_by_the_users_python_is_not_trusted() {
        let script = publish(&unique("awsshebang"), None);
        let nb = Notebook::create("");
        plant_user_program(&nb, "python", "user-python-ran-as");
        let aws = nb.path("/usr/local/bin/aws");
        std::fs::create_dir_all(aws.parent().expect("parent")).expect("mkdir");
        std::fs::write(&aws, "#!/home/ec2-user/SageMaker/python\n").expect("aws");
        std::fs::set_permissions(&aws, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let out = run_on_start(&nb, &script);
        assert!(
            !nb.path("/tmp/user-python-ran-as-0").exists(),
            "root ran the user's python: {}",
            output_text(&out)
        );
        assert_eq!(code(&out), 0, "{}", output_text(&out));
    }
}
