//! System tier: nbwarden on a real Debian root, checked with the root's own
//! tools (sudo, pip, python), across a stop/start that rebuilds the system
//! drive and keeps the ML volume. See tests/system/README.md.

#[macro_use]
mod common;

use std::os::unix::fs::MetadataExt;

use common::notebook::{Notebook, service};
use common::{code, output_text};

fn example_policy() -> String {
    common::bundle::example_policy()
}

system_test! {
    fn a_fresh_instance_grants_the_user_root_as_notebook_images_do() {
        let nb = Notebook::create(&example_policy());
        // Real sudo reads the image's sudoers: the grants nbwarden must remove.
        let sudo = nb.as_root(&["sudo", "-l", "-U", "ec2-user"]);
        let listing = output_text(&sudo);
        assert!(listing.contains("(ALL) NOPASSWD: ALL"), "{listing}");
        assert!(
            listing.contains("(ALL) ALL"),
            "%wheel grant missing: {listing}"
        );
        let id = output_text(&nb.as_root(&["id", "-nG", "ec2-user"]));
        for group in ["wheel", "docker", "sudo", "adm"] {
            assert!(
                id.split_whitespace().any(|g| g == group),
                "{group} missing: {id}"
            );
        }
        let ml = std::fs::metadata(nb.path("/home/ec2-user/SageMaker")).expect("ML volume");
        assert_eq!((ml.uid(), ml.gid()), (1000, 1000));
        for env in ["JupyterSystemEnv", "python3"] {
            let py = format!("/home/ec2-user/anaconda3/envs/{env}/bin/python");
            let out = nb.as_user(&[&py, "-c", "import sys; print(sys.prefix)"]);
            assert_eq!(code(&out), 0, "{}", output_text(&out));
        }
        assert!(nb.path("/opt/ml/metadata/resource-metadata.json").is_file());
        assert!(nb.path("/var/log/jupyter.log").is_file());
    }
}

system_test! {
    fn the_instance_reaches_the_test_mirror_and_nothing_else_serves_it() {
        let nb = Notebook::create(&example_policy());
        let mirror = service("NBWARDEN_TEST_PYPI_URL");
        let pip = "/home/ec2-user/anaconda3/envs/python3/bin/pip";
        let ok = nb.as_user(&[
            pip,
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--index-url",
            &mirror,
            "-d",
            "/tmp/dl",
            "nbwarden-probe",
        ]);
        assert_eq!(code(&ok), 0, "{}", output_text(&ok));
        assert!(
            nb.path("/tmp/dl/nbwarden_probe-1.0.0-py3-none-any.whl")
                .is_file()
        );
        let absent = nb.as_user(&[
            pip,
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--index-url",
            &mirror,
            "-d",
            "/tmp/dl",
            // On PyPI, not in the mirror (which serves nbwarden-probe and the
            // clients of mirror-requirements.txt with their dependencies).
            "django",
        ]);
        assert_ne!(
            code(&absent),
            0,
            "the mirror does not hold django: {}",
            output_text(&absent)
        );
    }
}

system_test! {
    fn apply_and_verify_in_the_root_survive_a_stop_start() {
        let nb = Notebook::create(&example_policy());
        let (apply, verify) = nb.on_start();
        assert_eq!(code(&apply), 0, "{}", output_text(&apply));
        assert_eq!(code(&verify), 0, "{}", output_text(&verify));

        // The user imports the values but cannot change the module.
        let module = "/usr/local/lib/nbwarden/python/sagemaker_environment.py";
        // Every environment's python and the system python find the module
        // (root-owned .pth files), run as the notebook user, with no PYTHONPATH.
        for python in [
            "/usr/bin/python3",
            "/home/ec2-user/anaconda3/envs/python3/bin/python",
            "/home/ec2-user/anaconda3/envs/JupyterSystemEnv/bin/python",
        ] {
            let import = nb.as_user(&[
                python,
                "-c",
                "import sagemaker_environment as m; print(m.SAGEMAKER_VPC, m.SAGEMAKER_SUBNETS[1])",
            ]);
            assert_eq!(
                String::from_utf8_lossy(&import.stdout),
                "vpc-0a1b2c3d4e5f67890 subnet-1a2b3c4d5e6f78901\n",
                "{python}: {}",
                output_text(&import)
            );
        }
        let report = nb.nbwarden(&["verify", "--only", "variables", "--output", "json"]);
        let report = common::read_report(&report);
        let ev = common::evidence(&report, "variables");
        assert!(
            ev.iter()
                .any(|e| e == "import sagemaker_environment: ok: 3 python(s) import it as ec2-user"),
            "{ev:#?}"
        );
        let tamper = nb.as_user(&[
            "sh",
            "-c",
            &format!("echo 'SAGEMAKER_VPC = \"x\"' >> {module}"),
        ]);
        assert_ne!(code(&tamper), 0, "the notebook user could write the module");
        let replace = nb.as_user(&["sh", "-c", &format!("mv {module} /tmp/m.py")]);
        assert_ne!(
            code(&replace),
            0,
            "the notebook user could replace the module"
        );
        let login = nb.as_user(&["bash", "-lc", "echo $SAGEMAKER_DATA_BUCKET"]);
        assert_eq!(String::from_utf8_lossy(&login.stdout), "example-ml-data\n");

        // Work on the ML volume survives; the system drive does not.
        std::fs::write(nb.path("/home/ec2-user/SageMaker/analysis.ipynb"), "{}").expect("notebook");
        nb.stop_start();
        assert!(
            nb.path("/home/ec2-user/SageMaker/analysis.ipynb").is_file(),
            "ML volume lost"
        );
        assert!(
            !nb.path(module).exists(),
            "the system drive was not rebuilt"
        );
        assert!(!nb.path("/usr/local/bin/nbwarden").exists());

        // Before on-start re-applies, verify sees the refreshed drive as unsafe.
        nb.install();
        let stale = nb.nbwarden(&["verify"]);
        assert_eq!(code(&stale), 1, "{}", output_text(&stale));
        assert!(
            output_text(&stale).contains(module),
            "{}",
            output_text(&stale)
        );

        let (apply, verify) = nb.on_start();
        assert_eq!(code(&apply), 0, "{}", output_text(&apply));
        assert_eq!(code(&verify), 0, "{}", output_text(&verify));
        let status = nb.nbwarden(&["status", "--output", "json"]);
        assert_eq!(code(&status), 0, "{}", output_text(&status));
        let report = common::read_report(&status);
        assert_eq!(report.command, nbwarden::report::Mode::Verify);
        assert_eq!(report.host.os.id, "debian");
        assert_eq!(report.host.os.distro, nbwarden::host::Distro::Other);
    }
}
