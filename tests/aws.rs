//! The AWS layer against moto_server and the small IMDSv2 server: variables
//! from SSM and instance facts, remote policies, and every failure ending
//! with a clear message, exit 3 and nothing written.

#[macro_use]
mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use common::notebook::{FaultProxy, name_notebook, run_aws};
use common::*;
use nbwarden::report::{Report, Status};

const CANARY: &str = "CANARY-5f2d9a7e-never-log-me";
/// Port 9 (discard) refuses connections on loopback at once.
const CLOSED: &str = "http://127.0.0.1:9";

fn policy_file(dir: &Path, values: &str) -> String {
    let text = format!("version = 1\n[variables]\n{values}");
    write_policy(dir, &text).to_string_lossy().into_owned()
}

fn variables_json(root: &Path) -> serde_json::Value {
    let text =
        std::fs::read_to_string(root.join("etc/nbwarden/variables.json")).expect("json file");
    serde_json::from_str(&text).expect("valid json")
}

system_test! {
    fn ssm_parameters_paths_and_facts_reach_the_outputs() {
        let root = sandbox("al2023");
        let dir = tempfile::tempdir().expect("tmp");
        let policy = policy_file(
            dir.path(),
            "[variables.values.SAGEMAKER_VPC]\nssm = \"/nbwarden/network/vpc-id\"\nkind = \"vpc\"\n\
             [variables.values.SAGEMAKER_SUBNETS]\nssm = \"/nbwarden/network/subnet-ids\"\nkind = \"subnet\"\n\
             [variables.values.SAGEMAKER_KMS_KEY_ID]\nssm = \"/nbwarden/kms/cmk-arn\"\nkind = \"kms-key\"\n\
             [variables.values.SAGEMAKER_NETWORK]\nssm_path = \"/nbwarden/network\"\n\
             [variables.values.SAGEMAKER_REGION]\nfact = \"region\"\n\
             [variables.values.SAGEMAKER_ACCOUNT]\nfact = \"account\"\n\
             [variables.values.SAGEMAKER_NOTEBOOK]\nfact = \"notebook_name\"\n\
             [variables.values.SAGEMAKER_INSTANCE]\nfact = \"instance_id\"\n",
        );
        let out = run_aws(
            root.path(),
            &["apply", "--policy", &policy, "--only", "variables"],
            &[],
        );
        assert_eq!(code(&out), 0, "{}", output_text(&out));
        let v = variables_json(root.path());
        assert_eq!(v["SAGEMAKER_VPC"], "vpc-0a1b2c3d4e5f67890");
        assert_eq!(
            v["SAGEMAKER_SUBNETS"],
            serde_json::json!(["subnet-0a1b2c3d4e5f67890", "subnet-1a2b3c4d5e6f78901"])
        );
        assert_eq!(v["SAGEMAKER_NETWORK"]["vpc-id"], "vpc-0a1b2c3d4e5f67890");
        assert_eq!(
            v["SAGEMAKER_NETWORK"]["security-group-id"],
            "sg-0a1b2c3d4e5f67890"
        );
        // Facts from the fixture's resource metadata, and the instance id from IMDS.
        assert_eq!(v["SAGEMAKER_REGION"], "eu-west-1");
        assert_eq!(v["SAGEMAKER_ACCOUNT"], "111122223333");
        assert_eq!(v["SAGEMAKER_NOTEBOOK"], "demo-notebook");
        assert_eq!(v["SAGEMAKER_INSTANCE"], "i-0123456789abcdef0");
        let sh = std::fs::read_to_string(root.path().join("etc/profile.d/nbwarden-variables.sh"))
            .expect("sh");
        assert!(
            sh.contains("export SAGEMAKER_NETWORK_VPC_ID='vpc-0a1b2c3d4e5f67890'"),
            "{sh}"
        );
    }
}

system_test! {
    fn a_missing_parameter_or_a_bad_value_is_named_and_nothing_is_written() {
        let root = sandbox("al2023");
        let dir = tempfile::tempdir().expect("tmp");
        let before = snapshot(root.path(), &[]);
        for (values, expected) in [
            (
                "[variables.values.A]\nssm = \"/nbwarden/network/vpc-id\"\n[variables.values.B]\nssm = \"/nbwarden/nope\"\n",
                "/nbwarden/nope",
            ),
            (
                "[variables.values.SAGEMAKER_VPC]\nssm = \"/nbwarden/buckets/data\"\nkind = \"vpc\"\n",
                "variable SAGEMAKER_VPC: \"nbwarden-ml-data\" fails its kind check",
            ),
            (
                "[variables.values.EMPTY]\nssm_path = \"/nbwarden/nothing-here\"\n",
                "no SSM parameters below /nbwarden/nothing-here",
            ),
        ] {
            let policy = policy_file(dir.path(), values);
            let out = run_aws(
                root.path(),
                &["apply", "--policy", &policy, "--only", "variables"],
                &[],
            );
            assert_eq!(code(&out), 3, "{}", output_text(&out));
            assert!(
                output_text(&out).contains(expected),
                "{expected}: {}",
                output_text(&out)
            );
            assert_same(&before, &snapshot(root.path(), &["var/lib"]), expected);
        }
    }
}

system_test! {
    fn a_secure_string_needs_secret_and_never_reaches_a_readable_file_or_log() {
        let root = sandbox("al2023");
        let dir = tempfile::tempdir().expect("tmp");
        let plain = policy_file(
            dir.path(),
            "[variables.values.TOKEN]\nssm = \"/nbwarden/secrets/canary\"\n",
        );
        let out = run_aws(
            root.path(),
            &["apply", "--policy", &plain, "--only", "variables", "-vv"],
            &[],
        );
        assert_eq!(code(&out), 3, "{}", output_text(&out));
        assert!(
            output_text(&out).contains("set `secret = true`"),
            "{}",
            output_text(&out)
        );
        assert!(
            !output_text(&out).contains(CANARY),
            "the canary leaked into the output"
        );
        assert!(!root.path().join("etc/nbwarden").exists());

        let secret = policy_file(
            dir.path(),
            "[variables.values.TOKEN]\nssm = \"/nbwarden/secrets/canary\"\nsecret = true\n\
             [variables.values.VPC]\nssm = \"/nbwarden/network/vpc-id\"\n",
        );
        for cmd in ["apply", "verify", "plan"] {
            let out = run_aws(
                root.path(),
                &[cmd, "--policy", &secret, "--output", "json", "-vv"],
                &[],
            );
            assert!(
                !output_text(&out).contains(CANARY),
                "{cmd}: the canary leaked: {}",
                output_text(&out)
            );
            if cmd != "plan" {
                assert_eq!(code(&out), 0, "{cmd}: {}", output_text(&out));
            }
        }
        let secrets = root.path().join("etc/nbwarden/secrets.json");
        let meta = std::fs::metadata(&secrets).expect("secrets file");
        assert_eq!(
            (meta.permissions().mode() & 0o777, meta.uid(), meta.gid()),
            (0o640, 0, 1000)
        );
        assert!(
            std::fs::read_to_string(&secrets)
                .expect("r")
                .contains(CANARY)
        );
        // Nowhere else in the root: not in the module, the JSON, the state file.
        let mut stack = vec![root.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("ls").flatten() {
                let p = e.path();
                let m = std::fs::symlink_metadata(&p).expect("stat");
                if m.is_dir() {
                    stack.push(p);
                } else if m.is_file() && p != secrets {
                    let bytes = std::fs::read(&p).expect("read");
                    assert!(
                        !String::from_utf8_lossy(&bytes).contains(CANARY),
                        "the canary is in {}",
                        p.display()
                    );
                }
            }
        }
    }
}

system_test! {
    fn region_from_the_environment_when_imds_is_down_and_a_clear_error_without() {
        let root = sandbox("al2");
        let dir = tempfile::tempdir().expect("tmp");
        let policy = policy_file(
            dir.path(),
            "[variables.values.VPC]\nssm = \"/nbwarden/network/vpc-id\"\n",
        );
        let env = [
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", CLOSED),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ];
        let out = run_aws(
            root.path(),
            &["apply", "--policy", &policy, "--only", "variables"],
            &env,
        );
        assert_eq!(code(&out), 0, "{}", output_text(&out));
        assert_eq!(variables_json(root.path())["VPC"], "vpc-0a1b2c3d4e5f67890");

        let no_region = [env[0], env[2], env[3]];
        let started = std::time::Instant::now();
        let out = run_aws(
            root.path(),
            &[
                "apply",
                "--policy",
                &policy,
                "--only",
                "variables",
                "--deadline",
                "20s",
            ],
            &no_region,
        );
        assert_eq!(code(&out), 3, "{}", output_text(&out));
        assert!(
            output_text(&out).contains("no AWS region"),
            "{}",
            output_text(&out)
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }
}

system_test! {
    fn an_unreachable_aws_endpoint_fails_within_the_deadline_naming_the_call() {
        let root = sandbox("al2023");
        let dir = tempfile::tempdir().expect("tmp");
        let policy = policy_file(
            dir.path(),
            "[variables.values.VPC]\nssm = \"/nbwarden/network/vpc-id\"\n",
        );
        let started = std::time::Instant::now();
        let out = run_aws(
            root.path(),
            &[
                "apply",
                "--policy",
                &policy,
                "--only",
                "variables",
                "--deadline",
                "30s",
            ],
            &[("AWS_ENDPOINT_URL", CLOSED)],
        );
        assert_eq!(code(&out), 3, "{}", output_text(&out));
        let text = output_text(&out);
        assert!(
            text.contains("SSM GetParameters on /nbwarden/network/vpc-id failed"),
            "{text}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
        assert!(!root.path().join("etc/nbwarden").exists());
    }
}

system_test! {
    fn policies_load_from_s3_and_ssm_pinned_by_sha256() {
        let root = sandbox("al2023");
        // The shipped file, as the services seeded it in S3 and SSM.
        let shipped = repo().join("config/policy.example.toml");
        let example = std::fs::read(&shipped).expect("example");
        let sha = {
            let out = Command::new("sha256sum")
                .arg(&shipped)
                .output()
                .expect("sha256sum");
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .next()
                .expect("sum")
                .to_string()
        };
        assert!(!example.is_empty());
        let uri = "s3://nbwarden-bundles/policies/example.toml";
        let out = run_aws(
            root.path(),
            &[
                "plan",
                "--policy",
                uri,
                "--policy-sha256",
                &sha,
                "--output",
                "json",
            ],
            &[],
        );
        assert_eq!(
            code(&out),
            1,
            "plan of a fresh root has changes: {}",
            output_text(&out)
        );
        let report = read_report(&out);
        assert_eq!(report.policy.source, uri);
        assert_eq!(report.policy.sha256, sha);

        let wrong = "0".repeat(64);
        let out = run_aws(
            root.path(),
            &["plan", "--policy", uri, "--policy-sha256", &wrong],
            &[],
        );
        assert_eq!(code(&out), 3);
        assert!(
            output_text(&out).contains("not the pinned"),
            "{}",
            output_text(&out)
        );

        let out = run_aws(
            root.path(),
            &[
                "plan",
                "--policy",
                "s3://nbwarden-bundles/policies/missing.toml",
            ],
            &[],
        );
        assert_eq!(code(&out), 3);
        assert!(
            output_text(&out).contains("NoSuchKey"),
            "{}",
            output_text(&out)
        );

        let out = run_aws(
            root.path(),
            &[
                "apply",
                "--policy",
                "ssm:/nbwarden/policy/minimal",
                "--output",
                "json",
            ],
            &[],
        );
        assert_eq!(code(&out), 0, "{}", output_text(&out));
        assert_eq!(variables_json(root.path())["FROM_SSM_POLICY"], "yes");

        let out = run_aws(
            root.path(),
            &["plan", "--policy", "ssm:/nbwarden/policy/absent"],
            &[],
        );
        assert_eq!(code(&out), 3);
        assert!(
            output_text(&out).contains("ParameterNotFound"),
            "{}",
            output_text(&out)
        );
    }
}

system_test! {
    fn throttling_is_retried_and_other_faults_end_clearly_within_the_deadline() {
        let dir = tempfile::tempdir().expect("tmp");
        let policy = policy_file(
            dir.path(),
            "[variables.values.VPC]\nssm = \"/nbwarden/network/vpc-id\"\n",
        );
        let run = |mode: &str, deadline: &str| {
            let root = sandbox("al2023");
            let proxy = FaultProxy::start(mode);
            let started = std::time::Instant::now();
            let out = run_aws(
                root.path(),
                &[
                    "apply",
                    "--policy",
                    &policy,
                    "--only",
                    "variables",
                    "--deadline",
                    deadline,
                ],
                &[("AWS_ENDPOINT_URL_SSM", proxy.url.as_str())],
            );
            (root, out, started.elapsed())
        };

        let (root, out, _) = run("throttle:2", "60s");
        assert_eq!(
            code(&out),
            0,
            "two throttles, then success: {}",
            output_text(&out)
        );
        assert_eq!(variables_json(root.path())["VPC"], "vpc-0a1b2c3d4e5f67890");

        let (root, out, _) = run("deny", "60s");
        assert_eq!(code(&out), 3, "{}", output_text(&out));
        let text = output_text(&out);
        assert!(text.contains("AccessDeniedException"), "{text}");
        assert!(
            text.contains(
                "fix: the notebook's execution role needs ssm:GetParameters on /nbwarden/network/vpc-id"
            ),
            "{text}"
        );
        assert!(!root.path().join("etc/nbwarden").exists());

        let (_, out, _) = run("error500", "60s");
        assert_eq!(code(&out), 3, "{}", output_text(&out));
        assert!(
            output_text(&out).contains("SSM GetParameters on /nbwarden/network/vpc-id failed"),
            "{}",
            output_text(&out)
        );

        let (root, out, took) = run("slow:30", "8s");
        assert_eq!(code(&out), 3, "{}", output_text(&out));
        assert!(
            took < std::time::Duration::from_secs(15),
            "took {took:?} past an 8s deadline"
        );
        assert!(
            output_text(&out).contains("timed out"),
            "{}",
            output_text(&out)
        );
        assert!(!root.path().join("etc/nbwarden").exists());
    }
}

system_test! {
    fn refused_connections_and_failing_dns_end_clearly_with_nothing_written() {
        let dir = tempfile::tempdir().expect("tmp");
        let policy = policy_file(
            dir.path(),
            "[variables.values.VPC]\nssm = \"/nbwarden/network/vpc-id\"\n",
        );
        // Port 9 (discard) on loopback has no listener here: connection refused.
        for (endpoint, expect) in [
            (
                "http://127.0.0.1:9",
                "SSM GetParameters on /nbwarden/network/vpc-id failed",
            ),
            (
                "http://nbwarden-no-such-host.invalid",
                "SSM GetParameters on /nbwarden/network/vpc-id failed",
            ),
        ] {
            let root = sandbox("al2023");
            let started = std::time::Instant::now();
            let out = run_aws(
                root.path(),
                &[
                    "apply",
                    "--policy",
                    &policy,
                    "--only",
                    "variables",
                    "--deadline",
                    "20s",
                ],
                &[("AWS_ENDPOINT_URL_SSM", endpoint)],
            );
            let text = output_text(&out);
            assert_eq!(code(&out), 3, "{endpoint}: {text}");
            assert!(text.contains(expect), "{endpoint}: {text}");
            assert!(
                started.elapsed() < std::time::Duration::from_secs(25),
                "{endpoint}: took {:?}",
                started.elapsed()
            );
            assert!(
                !root.path().join("etc/nbwarden").exists(),
                "{endpoint}: wrote output"
            );
        }
    }
}

system_test! {
    fn control_plane_facts_come_from_describe_notebook_instance() {
        let root = sandbox("al2023");
        name_notebook(root.path(), "nbwarden-system-test");
        let dir = tempfile::tempdir().expect("tmp");
        let lenient = write_policy(dir.path(), "version = 1\n[verify.control_plane]\n");
        let out = run_aws(
            root.path(),
            &[
                "verify",
                "--policy",
                &lenient.to_string_lossy(),
                "--output",
                "json",
            ],
            &[],
        );
        assert_eq!(code(&out), 0, "{}", output_text(&out));
        let ev = evidence(&read_report(&out), "control-plane");
        assert!(
            ev.contains(&"KmsKeyId: arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab".to_string()),
            "{ev:#?}"
        );
        assert!(
            ev.contains(&"DirectInternetAccess: Disabled".to_string()),
            "{ev:#?}"
        );

        // A notebook created with internet, root access and the AWS managed key.
        let made = common::notebook::boto3(
            r#"
import boto3, sys
sm = boto3.client("sagemaker", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
try:
    sm.create_notebook_instance(NotebookInstanceName="nbwarden-open-notebook", InstanceType="ml.t3.medium",
        RoleArn="arn:aws:iam::123456789012:role/nbwarden-notebook-role",
        DirectInternetAccess="Enabled", RootAccess="Enabled")
except sm.exceptions.ClientError as e:
    if "already exists" not in str(e) and "duplicate" not in str(e):
        raise
"#,
            &[],
        );
        assert!(made.status.success(), "{}", output_text(&made));
        name_notebook(root.path(), "nbwarden-open-notebook");
        let strict = write_policy(
            dir.path(),
            "version = 1\n[verify.control_plane]\nrequire_root_access_disabled = true\n",
        );
        let out = run_aws(
            root.path(),
            &[
                "verify",
                "--policy",
                &strict.to_string_lossy(),
                "--output",
                "json",
            ],
            &[],
        );
        assert_eq!(code(&out), 1, "{}", output_text(&out));
        let ev = evidence(&read_report(&out), "control-plane");
        for required in [
            "required: no customer KMS key on the ML volume",
            "required: direct internet access is not Disabled",
            "required: root access is not Disabled",
        ] {
            assert!(ev.contains(&required.to_string()), "{required}: {ev:#?}");
        }

        // A role that may not call the API: said, not guessed.
        let proxy = FaultProxy::start("deny");
        let out = run_aws(
            root.path(),
            &[
                "verify",
                "--policy",
                &lenient.to_string_lossy(),
                "--output",
                "json",
            ],
            &[("AWS_ENDPOINT_URL_SAGEMAKER", proxy.url.as_str())],
        );
        assert_eq!(code(&out), 0, "{}", output_text(&out));
        let ev = evidence(&read_report(&out), "control-plane");
        assert!(
            ev.iter()
                .any(|e| e.contains("not checked: the role may not call DescribeNotebookInstance")),
            "{ev:#?}"
        );

        // An unknown notebook is an error that names it.
        name_notebook(root.path(), "ghost");
        let out = run_aws(
            root.path(),
            &["verify", "--policy", &lenient.to_string_lossy()],
            &[],
        );
        assert_eq!(code(&out), 3, "{}", output_text(&out));
        assert!(
            output_text(&out).contains("SageMaker DescribeNotebookInstance on ghost failed"),
            "{}",
            output_text(&out)
        );
    }
}

system_test! {
    fn variables_from_the_notebooks_settings_and_tags() {
        let root = sandbox("al2023");
        name_notebook(root.path(), "nbwarden-system-test");
        let dir = tempfile::tempdir().expect("tmp");
        let policy = policy_file(
            dir.path(),
            "[variables.values.SAGEMAKER_SUBNET]\nnotebook = \"SubnetId\"\nkind = \"subnet\"\n\
             [variables.values.SAGEMAKER_SECURITY_GROUPS]\nnotebook = \"SecurityGroups\"\nkind = \"security-group\"\n\
             [variables.values.OWNER_EMAIL]\ntag = \"NotebookOwnerEmail\"\n",
        );
        let out = run_aws(
            root.path(),
            &["apply", "--policy", &policy, "--only", "variables"],
            &[],
        );
        assert_eq!(code(&out), 0, "{}", output_text(&out));
        let v = variables_json(root.path());
        assert_eq!(v["SAGEMAKER_SUBNET"], "subnet-0a1b2c3d4e5f67890");
        assert_eq!(
            v["SAGEMAKER_SECURITY_GROUPS"],
            serde_json::json!(["sg-0a1b2c3d4e5f67890"])
        );
        assert_eq!(v["OWNER_EMAIL"], "ada@example.com");

        let missing = policy_file(
            dir.path(),
            "[variables.values.COST_CENTER]\ntag = \"CostCenter\"\n",
        );
        let out = run_aws(
            root.path(),
            &["apply", "--policy", &missing, "--only", "variables"],
            &[],
        );
        assert_eq!(code(&out), 3);
        assert!(
            output_text(&out).contains("the notebook has no tag \"CostCenter\""),
            "{}",
            output_text(&out)
        );
    }
}

/// The operations a proxy counted, by name.
fn counted(file: &Path) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for line in std::fs::read_to_string(file).unwrap_or_default().lines() {
        *counts.entry(line.to_string()).or_insert(0) += 1;
    }
    counts
}

system_test! {
    /// Four controls read the notebook's tags or its description; a run asks
    /// SageMaker once for each, and a throttled first answer is retried, not
    /// fatal to the start.
    fn one_describe_and_one_tags_call_per_run_and_throttling_is_retried() {
        let root = sandbox("al2023");
        name_notebook(root.path(), "nbwarden-system-test");
        let dir = tempfile::tempdir().expect("tmp");
        let policy = write_policy(
            dir.path(),
            "version = 1\n[variables.values.SAGEMAKER_SUBNET]\nnotebook = \"SubnetId\"\nkind = \"subnet\"\n\
             [variables.values.TEAM_OWNER_EMAIL]\ntag = \"NotebookOwnerEmail\"\n\
             [environment.values]\nOWNER = { tag = \"NotebookOwnerEmail\" }\n\
             [git]\n[verify.control_plane]\n",
        );
        let policy = policy.to_string_lossy();
        for mode in ["forward", "throttle:1"] {
            let calls = dir.path().join(format!("calls-{mode}"));
            let proxy = FaultProxy::start_counting(mode, Some(&calls));
            let out = run_aws(
                root.path(),
                &["apply", "--policy", &policy, "--output", "json"],
                &[("AWS_ENDPOINT_URL_SAGEMAKER", proxy.url.as_str())],
            );
            assert_eq!(code(&out), 0, "{mode}: {}", output_text(&out));
            let report: Report = serde_json::from_slice(&out.stdout).expect("a report");
            for id in ["variables", "environment", "git", "control-plane"] {
                let c = report.controls.iter().find(|c| c.id == id).expect(id);
                assert!(
                    matches!(c.status, Status::Pass | Status::Fixed),
                    "{mode}: {id}: {c:#?}"
                );
            }
            let counts = counted(&calls);
            // The throttled first request is the only one answered twice.
            let describes = if mode == "forward" { 1 } else { 2 };
            assert_eq!(
                counts.get("SageMaker.DescribeNotebookInstance"),
                Some(&describes),
                "{mode}: {counts:?}"
            );
            assert_eq!(
                counts.get("SageMaker.ListTags"),
                Some(&1),
                "{mode}: {counts:?}"
            );
        }
    }
}

system_test! {
    /// `[verify.control_plane]` with the tags, subnets and security groups the
    /// policy names: the seeded notebook passes with its own, fails with
    /// others (each named), and a role that may not ask proves nothing.
    fn the_control_plane_check_wants_the_tags_subnet_and_groups_the_policy_names() {
        let root = sandbox("al2023");
        name_notebook(root.path(), "nbwarden-system-test");
        // One directory per policy: write_policy names every one policy.toml.
        let (dir, other_dir) = (
            tempfile::tempdir().expect("tmp"),
            tempfile::tempdir().expect("tmp"),
        );
        let verify = |policy: &Path, env: &[(&str, &str)]| {
            let out = run_aws(
                root.path(),
                &[
                    "verify",
                    "--policy",
                    &policy.to_string_lossy(),
                    "--output",
                    "json",
                ],
                env,
            );
            let ev = evidence(&read_report(&out), "control-plane").join("\n");
            (code(&out), ev)
        };
        let own = write_policy(
            dir.path(),
            "version = 1\n[verify.control_plane]\nrequired_tags = [\"NotebookOwnerUsername\", \"team\"]\n\
             allowed_subnets = [\"subnet-0a1b2c3d4e5f67890\"]\n\
             allowed_security_groups = [\"sg-0a1b2c3d4e5f67890\", \"sg-0fffffffffffffff0\"]\n",
        );
        let (rc, ev) = verify(&own, &[]);
        assert_eq!(rc, 0, "{ev}");
        assert!(
            ev.contains("Tags: NotebookOwnerEmail, NotebookOwnerUsername, team"),
            "{ev}"
        );

        let others = write_policy(
            other_dir.path(),
            "version = 1\n[verify.control_plane]\nrequired_tags = [\"owner\", \"cost-center\", \"team\"]\n\
             allowed_subnets = [\"subnet-0fffffffffffffff0\"]\n\
             allowed_security_groups = [\"sg-0fffffffffffffff0\"]\n",
        );
        let (rc, ev) = verify(&others, &[]);
        assert_eq!(rc, 1, "{ev}");
        for required in [
            "required: no value for the tag(s) owner, cost-center",
            "required: subnet subnet-0a1b2c3d4e5f67890 is not one of allowed_subnets",
            "required: security group(s) sg-0a1b2c3d4e5f67890 not in allowed_security_groups",
        ] {
            assert!(ev.contains(required), "{required}: {ev}");
        }

        // A role that may not call the API cannot prove what the policy named.
        let proxy = FaultProxy::start("deny");
        let (rc, ev) = verify(&own, &[("AWS_ENDPOINT_URL_SAGEMAKER", proxy.url.as_str())]);
        assert_eq!(rc, 1, "{ev}");
        assert!(
            ev.contains(
                "not proven: the role may not call DescribeNotebookInstance, which \
                 required_tags, allowed_subnets, allowed_security_groups need"
            ),
            "{ev}"
        );
    }
}
