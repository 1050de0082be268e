//! Monitoring agents and the CloudWatch agent on a real Debian root: a
//! package from moto's S3 installed with the root's dpkg and its unit
//! enabled by the root's systemctl, a wrong sha256 or an oversize download
//! refused with nothing left behind, a tar.gz from a loopback web server,
//! and our metrics appended beside SageMaker's agent configuration.

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::notebook::{Notebook, boto3, run_aws};
use common::{
    AsText, LoopbackServer, Status, code, control, evidence, output_text, read_report, repo,
    unique, write_policy,
};

const AGENT_DIR: &str = "/opt/aws/amazon-cloudwatch-agent";
/// What SageMaker loads into the agent to ship its logs.
const SAGEMAKER_CONFIG: &str =
    "/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.d/file_sagemaker-logs.json";

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("digest")
        .to_string()
}

/// A .deb of a CloudWatch agent stand-in (tests/fixtures/cloudwatch-agent)
/// with a systemd unit, built with dpkg-deb.
fn agent_deb(dir: &Path) -> PathBuf {
    let tree = dir.join("deb");
    let bin = tree.join("opt/aws/amazon-cloudwatch-agent/bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    std::fs::create_dir_all(tree.join("opt/aws/amazon-cloudwatch-agent/logs")).expect("mkdir");
    std::fs::create_dir_all(tree.join("DEBIAN")).expect("mkdir");
    std::fs::create_dir_all(tree.join("lib/systemd/system")).expect("mkdir");
    std::fs::copy(
        repo().join("tests/fixtures/cloudwatch-agent/amazon-cloudwatch-agent-ctl"),
        bin.join("amazon-cloudwatch-agent-ctl"),
    )
    .expect("copy ctl");
    std::fs::write(
        tree.join("lib/systemd/system/amazon-cloudwatch-agent.service"),
        "[Unit]\nDescription=CloudWatch agent (test stand-in)\n[Service]\n\
         ExecStart=/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a status\n\
         [Install]\nWantedBy=multi-user.target\n",
    )
    .expect("unit");
    std::fs::write(
        tree.join("DEBIAN/control"),
        "Package: amazon-cloudwatch-agent\nVersion: 1.300.0-test\nArchitecture: all\n\
         Maintainer: nbwarden tests <tests@example.invalid>\nDescription: CloudWatch agent stand-in\n",
    )
    .expect("control");
    let deb = dir.join("amazon-cloudwatch-agent.deb");
    let out = Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&tree)
        .arg(&deb)
        .output()
        .expect("dpkg-deb");
    assert!(out.status.success(), "{}", output_text(&out));
    deb
}

fn upload(bucket: &str, key: &str, file: &Path) {
    let out = boto3(
        r#"
import boto3, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
s3.create_bucket(Bucket=sys.argv[2])
s3.upload_file(sys.argv[4], sys.argv[2], sys.argv[3])
"#,
        &[bucket, key, &file.to_string_lossy()],
    );
    assert!(out.status.success(), "{}", output_text(&out));
}

fn dpkg_status(nb: &Notebook, package: &str) -> String {
    let out = nb.as_root(&["dpkg-query", "-W", "-f=${db:Status-Status}", package]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn policy(bucket: &str, sha: &str, extra: &str) -> String {
    format!(
        r#"version = 1
[monitoring]
namespace = "Team/Notebooks"

[[monitoring.packages]]
name = "amazon-cloudwatch-agent"
source = "s3://{bucket}/agents/amazon-cloudwatch-agent.deb"
sha256 = "{sha}"
kind = "deb"
service = "amazon-cloudwatch-agent.service"
{extra}"#
    )
}

fn downloads_left(nb: &Notebook) -> Vec<String> {
    std::fs::read_dir(nb.path("/var/lib/nbwarden/downloads"))
        .map(|d| {
            d.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

system_test! {
    fn an_agent_from_s3_is_installed_once_and_our_metrics_are_appended_beside_sagemakers() {
        let dir = tempfile::tempdir().expect("tmp");
        let deb = agent_deb(dir.path());
        let bucket = unique("nbwarden-agents");
        upload(&bucket, "agents/amazon-cloudwatch-agent.deb", &deb);
        let nb = Notebook::create("");
        // SageMaker's own configuration, loaded before nbwarden runs.
        let sagemaker = nb.path(SAGEMAKER_CONFIG);
        std::fs::create_dir_all(sagemaker.parent().expect("parent")).expect("mkdir");
        std::fs::write(&sagemaker, "{\"logs\": {}}\n").expect("sagemaker config");

        let text = policy(
            &bucket,
            &sha256(&deb),
            "\n[monitoring.cloudwatch]\nmetrics = [\"cpu\", \"mem\", \"disk\", \"gpu\"]\n",
        );
        let p = write_policy(dir.path(), &text);
        let p = p.to_string_lossy();

        let plan = run_aws(
            nb.root(),
            &["plan", "--policy", &p, "--output", "json"],
            &[],
        );
        // Advisory controls do not decide plan's exit code; the changes say it.
        assert_eq!(code(&plan), 0, "{}", output_text(&plan));
        let planned = control(&read_report(&plan), "agents")
            .changes
            .iter()
            .map(|c| format!("{c:?}"))
            .collect::<String>();
        assert!(
            planned.contains("package amazon-cloudwatch-agent"),
            "{planned}"
        );
        assert_eq!(
            dpkg_status(&nb, "amazon-cloudwatch-agent"),
            "",
            "plan installs nothing"
        );

        let apply = run_aws(
            nb.root(),
            &["apply", "--policy", &p, "--output", "json"],
            &[],
        );
        assert_eq!(code(&apply), 0, "{}", output_text(&apply));
        let report = read_report(&apply);
        for id in ["agents", "cloudwatch"] {
            assert_eq!(control(&report, id).status, Status::Fixed, "{report:#?}");
        }
        assert_eq!(dpkg_status(&nb, "amazon-cloudwatch-agent"), "installed");
        // The root's own systemctl enabled the unit (systemd is not running in
        // the chroot, so nothing was started).
        let wants =
            nb.path("/etc/systemd/system/multi-user.target.wants/amazon-cloudwatch-agent.service");
        assert!(wants.symlink_metadata().is_ok(), "unit not enabled");
        assert!(
            evidence(&report, "agents")
                .iter()
                .any(|e| e.contains("enabled (systemd not running")),
            "{:#?}",
            evidence(&report, "agents")
        );
        assert!(downloads_left(&nb).is_empty(), "{:?}", downloads_left(&nb));

        // Ours is loaded beside SageMaker's, which is untouched.
        let loaded = nb.path(&format!(
            "{AGENT_DIR}/etc/amazon-cloudwatch-agent.d/file_nbwarden-metrics.json"
        ));
        let ours: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&loaded).expect("loaded config")).expect("json");
        assert_eq!(ours["metrics"]["namespace"], "Team/Notebooks");
        assert_eq!(
            ours["metrics"]["metrics_collected"]["mem"]["append_dimensions"]["NotebookInstanceName"],
            "nbwarden-system-test"
        );
        assert_eq!(
            std::fs::read_to_string(&sagemaker).expect("read"),
            "{\"logs\": {}}\n"
        );
        let calls = || {
            std::fs::read_to_string(nb.path(&format!("{AGENT_DIR}/logs/ctl-calls.log")))
                .unwrap_or_default()
        };
        assert_eq!(calls().lines().count(), 1, "{}", calls());
        assert!(
            calls().starts_with("append-config ec2 file:"),
            "{}",
            calls()
        );

        // Second run: same sha installed, configuration loaded: no work at all.
        let again = run_aws(
            nb.root(),
            &["apply", "--policy", &p, "--output", "json"],
            &[],
        );
        assert_eq!(code(&again), 0, "{}", output_text(&again));
        let report = read_report(&again);
        for id in ["agents", "cloudwatch"] {
            assert_eq!(control(&report, id).status, Status::Pass, "{report:#?}");
        }
        assert_eq!(
            calls().lines().count(),
            1,
            "append-config ran again: {}",
            calls()
        );

        let verify = run_aws(
            nb.root(),
            &["verify", "--policy", &p, "--output", "json"],
            &[],
        );
        assert_eq!(code(&verify), 0, "{}", output_text(&verify));
        let ev = evidence(&read_report(&verify), "cloudwatch");
        assert!(
            ev.iter()
                .any(|e| e.contains("loaded beside ours: file_sagemaker-logs.json")),
            "{ev:#?}"
        );

        // The agent's configurations are reset (a `fetch-config` by hand, a
        // reinstall): ours and SageMaker's are gone. verify names both.
        std::fs::remove_file(&loaded).expect("unload ours");
        std::fs::remove_file(&sagemaker).expect("unload sagemaker's");
        let drift = run_aws(
            nb.root(),
            &["verify", "--policy", &p, "--output", "json"],
            &[],
        );
        let report = read_report(&drift);
        let cw = control(&report, "cloudwatch");
        assert_eq!(cw.status, Status::Fail, "{report:#?}");
        let text = cw.to_string();
        assert!(text.contains("file_nbwarden-metrics.json"), "{text}");
        assert!(text.contains("SageMaker's logs are not shipped"), "{text}");
        // Advisory: a monitoring gap is reported, the start is not failed.
        assert_eq!(code(&drift), 0, "{}", output_text(&drift));

        // A stop/start wipes the system drive: the agent is installed again.
        nb.stop_start();
        assert_eq!(dpkg_status(&nb, "amazon-cloudwatch-agent"), "");
        let restart = run_aws(
            nb.root(),
            &["apply", "--policy", &p, "--output", "json"],
            &[],
        );
        assert_eq!(
            control(&read_report(&restart), "agents").status,
            Status::Fixed
        );
        assert_eq!(dpkg_status(&nb, "amazon-cloudwatch-agent"), "installed");
    }
}

system_test! {
    fn a_wrong_sha256_is_refused_before_dpkg_and_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let deb = agent_deb(dir.path());
        let bucket = unique("nbwarden-agents");
        upload(&bucket, "agents/amazon-cloudwatch-agent.deb", &deb);
        let nb = Notebook::create("");
        let wrong = "0".repeat(64);
        let p = write_policy(dir.path(), &policy(&bucket, &wrong, ""));

        let apply = run_aws(
            nb.root(),
            &[
                "apply",
                "--policy",
                &p.to_string_lossy(),
                "--output",
                "json",
            ],
            &[],
        );
        let report = read_report(&apply);
        let agents = control(&report, "agents");
        assert_eq!(agents.status, Status::Error, "{report:#?}");
        let error = agents.error.as_deref().unwrap_or_default();
        assert!(error.contains(&sha256(&deb)), "{error}");
        assert!(error.contains("refusing it"), "{error}");
        assert_eq!(
            dpkg_status(&nb, "amazon-cloudwatch-agent"),
            "",
            "installed anyway"
        );
        assert!(downloads_left(&nb).is_empty(), "{:?}", downloads_left(&nb));
        assert!(
            !nb.path("/var/lib/nbwarden/agents/amazon-cloudwatch-agent.json")
                .exists()
        );
        // The agents are advisory by default: the start goes on, the report says why.
        assert_eq!(code(&apply), 0, "{}", output_text(&apply));
    }
}

/// `python3 -m http.server` serving `dir` on loopback.
fn web_server(dir: &Path) -> LoopbackServer {
    let port = 45100 + (std::process::id() % 800) as u16;
    let mut cmd = Command::new("python3");
    cmd.args([
        "-m",
        "http.server",
        "--bind",
        "127.0.0.1",
        &port.to_string(),
        "-d",
    ])
    .arg(dir);
    LoopbackServer::spawn(cmd, port)
}

system_test! {
    fn a_tar_gz_from_the_mirror_is_unpacked_and_an_oversize_one_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let site = dir.path().join("site");
        let content = dir.path().join("content");
        std::fs::create_dir_all(content.join("bin")).expect("mkdir");
        std::fs::create_dir_all(&site).expect("mkdir");
        std::fs::write(content.join("bin/apm-agent"), "#!/bin/sh\necho apm\n").expect("write");
        let tar = |name: &str| {
            let out = Command::new("tar")
                .arg("-czf")
                .arg(site.join(name))
                .arg("-C")
                .arg(&content)
                .arg(".")
                .output()
                .expect("tar");
            assert!(out.status.success(), "{}", output_text(&out));
            site.join(name)
        };
        let small = tar("apm.tar.gz");
        // Over 1 MiB of incompressible data.
        let noise = Command::new("head")
            .args(["-c", "1500000", "/dev/urandom"])
            .output()
            .expect("head");
        std::fs::write(content.join("blob"), noise.stdout).expect("blob");
        let big = tar("big.tar.gz");
        let web = web_server(&site);
        let nb = Notebook::create("");
        let text = format!(
            r#"version = 1
[[monitoring.packages]]
name = "apm"
source = "http://127.0.0.1:{port}/apm.tar.gz"
sha256 = "{small}"
kind = "tar.gz"
install_dir = "/opt/apm"

[[monitoring.packages]]
name = "big"
source = "http://127.0.0.1:{port}/big.tar.gz"
sha256 = "{big}"
kind = "tar.gz"
install_dir = "/opt/big"
max_mb = 1
"#,
            port = web.port,
            small = sha256(&small),
            big = sha256(&big),
        );
        let p = write_policy(dir.path(), &text);
        let apply = run_aws(
            nb.root(),
            &[
                "apply",
                "--policy",
                &p.to_string_lossy(),
                "--output",
                "json",
            ],
            &[],
        );
        let report = read_report(&apply);
        let agents = control(&report, "agents");
        // The first package is installed, the second refused: the control errs
        // on the second, after the first was done.
        assert_eq!(agents.status, Status::Error, "{report:#?}");
        let error = agents.error.as_deref().unwrap_or_default();
        assert!(
            error.contains("big.tar.gz is larger than 1048576 bytes"),
            "{error}"
        );
        assert_eq!(
            std::fs::read_to_string(nb.path("/opt/apm/bin/apm-agent")).expect("unpacked"),
            "#!/bin/sh\necho apm\n"
        );
        assert!(!nb.path("/opt/big").exists());
        assert!(downloads_left(&nb).is_empty(), "{:?}", downloads_left(&nb));
        drop(web);
    }
}
