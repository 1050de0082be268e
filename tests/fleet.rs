//! Fleet reports in S3 (moto): uploads with SSE-KMS and failing-since, a
//! failed upload that changes no verdict, a summary over more than a
//! thousand notebooks (several pages), and the cross-check that catches a
//! report the notebook user forged with the instance role.

#[macro_use]
mod common;

use std::net::TcpListener;
use std::process::Command;

use common::notebook::{boto3, name_notebook, run_aws};
use common::*;

const BUCKET: &str = "nbwarden-reports";
/// moto's default account: the caller's, and the organization's management account.
const ACCOUNT: &str = "123456789012";

/// `fleet summary` over `prefix` as an administrator (from `admin`, an
/// empty root), with `extra` arguments.
fn summary(admin: &std::path::Path, prefix: &str, extra: &[&str]) -> std::process::Output {
    summary_in(admin, prefix, extra, &[])
}

/// [`summary`] with `env` set too.
fn summary_in(
    admin: &std::path::Path,
    prefix: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut args = vec!["fleet", "summary", "--bucket", BUCKET, "--prefix", prefix];
    args.extend_from_slice(extra);
    run_aws(admin, &args, env)
}

/// A policy (written in `dir`) that checks the control plane, root access
/// included, and uploads each report under `prefix`: its path.
fn reporting_policy(dir: &std::path::Path, prefix: &str) -> String {
    let policy = write_policy(
        dir,
        &format!(
            "version = 1\n[verify.control_plane]\nrequire_root_access_disabled = true\n\
             [verify.report]\nbucket = \"{BUCKET}\"\nprefix = \"{prefix}\"\n"
        ),
    );
    policy.to_string_lossy().into_owned()
}

/// Honest verify runs of `notebooks` (each in a fresh root, named as it)
/// under `policy`, each uploading its report.
fn upload_honest_reports(policy: &str, notebooks: &[&str]) {
    for name in notebooks {
        let root = sandbox("al2023");
        name_notebook(root.path(), name);
        let out = run_aws(
            root.path(),
            &["verify", "--policy", policy, "--output", "json"],
            &[],
        );
        assert_eq!(code(&out), 0, "{name}: {}", output_text(&out));
        let report = read_report(&out);
        assert_eq!(
            report
                .control_plane
                .as_ref()
                .and_then(|v| v.direct_internet_access.as_deref()),
            Some("Disabled"),
            "the report records what the instance saw: {report:#?}"
        );
        assert_uploaded(&report);
    }
}

/// `fleet summary --cross-check --output json` (and `extra`), which must
/// flag something (exit 1): its rows.
fn flagged_rows(admin: &std::path::Path, prefix: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["--cross-check", "--output", "json"];
    args.extend_from_slice(extra);
    let out = summary(admin, prefix, &args);
    assert_eq!(code(&out), 1, "{}", output_text(&out));
    rows_of(&out)
}

/// The rows of a summary's JSON, which carries its format's version.
fn rows_of(out: &std::process::Output) -> serde_json::Value {
    let view = common::json(out);
    assert_eq!(
        view["schema_version"],
        nbwarden::fleet::FLEET_SCHEMA_VERSION,
        "{view:#}"
    );
    view["notebooks"].clone()
}

/// The row for `name` in a summary's JSON rows.
fn row_of<'a>(rows: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    rows.as_array()
        .and_then(|a| a.iter().find(|r| r["notebook"] == name))
        .unwrap_or_else(|| panic!("no row for {name}: {rows:#}"))
}

/// One row's cross-check findings, joined by lines.
fn findings_of(rows: &serde_json::Value, name: &str) -> String {
    row_of(rows, name)["cross_check"]["findings"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_else(|| panic!("{name} was not cross-checked: {rows:#}"))
}

/// The shipped guardrail as the notebook stack deploys it for `notebook`
/// with the role `role_arn` (owned by ana, in moto's account and region),
/// less the statements `without` names.
fn filled_guardrail(notebook: &str, role_arn: &str, without: &[&str]) -> String {
    let text = std::fs::read_to_string(repo().join("packaging/iam-notebook-guardrail-policy.json"))
        .expect("guardrail");
    let mut policy: serde_json::Value = serde_json::from_str(
        &text
            .replace("JOB_SUBNET_IDS", "subnet-0a1b2c3d4e5f67890")
            .replace("JOB_SECURITY_GROUP_IDS", "sg-0a1b2c3d4e5f67890")
            .replace("JOB_KMS_KEY_ARNS", KEY_ARN)
            .replace("OWNER_TAG_KEY", "owner")
            .replace("NOTEBOOK_OWNER", "ana")
            .replace("NOTEBOOK_ROLE_ARN", role_arn)
            .replace("NOTEBOOK_ARN_NAME", &notebook.to_ascii_lowercase())
            .replace("REGION", "us-east-1")
            .replace("ACCOUNT", "123456789012"),
    )
    .expect("JSON");
    if let Some(statements) = policy["Statement"].as_array_mut() {
        statements.retain(|st| !without.iter().any(|sid| st["Sid"] == *sid));
    }
    policy.to_string()
}

const KEY_ARN: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// IAM roles in moto, each `(name, policy)` with the policy inline as
/// `nbwarden-guardrail` (none when empty), as the notebook stack makes them.
fn make_roles(roles: &[(&str, String)]) {
    let script = r#"
import boto3, sys
iam = boto3.client("iam", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
trust = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"sagemaker.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
for role, policy in zip(sys.argv[2::2], sys.argv[3::2]):
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)
    if policy:
        iam.put_role_policy(RoleName=role, PolicyName="nbwarden-guardrail", PolicyDocument=policy)
"#;
    let args: Vec<&str> = roles.iter().flat_map(|(r, p)| [*r, p.as_str()]).collect();
    let made = boto3(script, &args);
    assert!(made.status.success(), "{}", output_text(&made));
}

/// Each notebook's role, named as the notebook (its ARN under `path`, as
/// the notebook names it), carries its whole guardrail.
fn make_guarded_roles(path: &str, notebooks: &[&str]) {
    let roles: Vec<(&str, String)> = notebooks
        .iter()
        .map(|n| (*n, filled_guardrail(n, &role_arn(path, n), &[])))
        .collect();
    make_roles(&roles);
}

/// A role's ARN in moto's account.
fn role_arn(path: &str, name: &str) -> String {
    format!("arn:aws:iam::123456789012:role/{path}{name}")
}

/// The run says its report reached the bucket.
fn assert_uploaded(report: &Report) {
    assert!(
        report
            .upload
            .as_deref()
            .is_some_and(|u| u.starts_with("uploaded")),
        "{report:#?}"
    );
}

system_test! {
    fn reports_are_uploaded_with_kms_and_failing_since_survives_until_fixed() {
        let root = sandbox("al2023");
        let open = TcpListener::bind("127.0.0.1:0").expect("listener");
        let port = open.local_addr().expect("addr").port();
        let prefix = unique("up");
        let dir = tempfile::tempdir().expect("tmp");
        let failing = write_policy(
            dir.path(),
            &format!(
                "version = 1\n[verify.egress]\nmust_fail = [\"127.0.0.1:{port}\"]\n\
                 [verify.report]\nbucket = \"{BUCKET}\"\nprefix = \"{prefix}\"\nkms_key_id = \"alias/nbwarden-reports\"\n"
            ),
        );
        let failing = failing.to_string_lossy().into_owned();
        let first = run_aws(
            root.path(),
            &["verify", "--policy", &failing, "--output", "json"],
            &[],
        );
        assert_eq!(code(&first), 1, "{}", output_text(&first));
        let first = read_report(&first);
        let base = format!("{prefix}/111122223333/eu-west-1/demo-notebook");
        assert!(
            first
                .upload
                .as_deref()
                .is_some_and(|u| u.starts_with(&format!("uploaded to s3://{BUCKET}/{base}/"))),
            "{first:#?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let second = read_report(&run_aws(
            root.path(),
            &["verify", "--policy", &failing, "--output", "json"],
            &[],
        ));

        let script = r#"
import boto3, json, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
base = sys.argv[2]
keys = [o["Key"] for o in s3.list_objects_v2(Bucket="nbwarden-reports", Prefix=base)["Contents"]]
head = s3.head_object(Bucket="nbwarden-reports", Key=base + "/latest.json")
latest = json.loads(s3.get_object(Bucket="nbwarden-reports", Key=base + "/latest.json")["Body"].read())
print(json.dumps({"keys": keys, "sse": head.get("ServerSideEncryption"), "kms": head.get("SSEKMSKeyId"), "latest": latest}))
"#;
        let out = boto3(script, &[&base]);
        assert!(out.status.success(), "{}", output_text(&out));
        let s3 = common::json(&out);
        let latest: Report =
            serde_json::from_value(s3["latest"].clone()).expect("latest.json is a report");
        assert_eq!(
            s3["keys"].as_array().map(Vec::len),
            Some(3),
            "two reports and latest.json: {s3:#?}"
        );
        assert_eq!(s3["sse"], "aws:kms");
        assert!(
            s3["kms"]
                .as_str()
                .is_some_and(|k| k.contains("nbwarden-reports")),
            "{s3:#?}"
        );
        assert_eq!(latest.started_at, second.started_at);
        assert_eq!(
            latest.failing_since,
            Some(first.started_at),
            "failing since the first failure"
        );

        // Fixed: the next report is compliant and carries no failing_since.
        drop(open);
        let fixed = read_report(&run_aws(
            root.path(),
            &["verify", "--policy", &failing, "--output", "json"],
            &[],
        ));
        assert_eq!(fixed.exit_code, 0, "{fixed:#?}");
        assert!(fixed.failing_since.is_none(), "{fixed:#?}");
    }
}

system_test! {
    fn a_failed_upload_is_reported_and_changes_no_verdict() {
        let root = sandbox("al2023");
        let dir = tempfile::tempdir().expect("tmp");
        let policy = write_policy(
            dir.path(),
            "version = 1\n[variables.values.A]\nvalue = \"b\"\n[verify.report]\nbucket = \"no-such-bucket-here\"\n",
        );
        let out = run_aws(
            root.path(),
            &[
                "apply",
                "--policy",
                &policy.to_string_lossy(),
                "--output",
                "json",
            ],
            &[],
        );
        assert_eq!(code(&out), 0, "{}", output_text(&out));
        let r = read_report(&out);
        assert!(
            r.upload
                .as_deref()
                .is_some_and(|u| u.starts_with("upload failed") && u.contains("NoSuchBucket")),
            "{r:#?}"
        );
    }
}

system_test! {
    fn the_summary_pages_through_more_than_a_thousand_notebooks() {
        let root = sandbox("al2023");
        let dir = tempfile::tempdir().expect("tmp");
        let policy = write_policy(
            dir.path(),
            "version = 1\n[variables.values.A]\nvalue = \"b\"\n",
        );
        let template = run_aws(
            root.path(),
            &[
                "apply",
                "--policy",
                &policy.to_string_lossy(),
                "--output",
                "json",
            ],
            &[],
        );
        assert_eq!(code(&template), 0);
        let template_path = dir.path().join("report.json");
        std::fs::write(&template_path, &template.stdout).expect("template");
        let prefix = unique("fleet");
        let script = r#"
import boto3, json, sys, copy
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
prefix, template = sys.argv[2], json.load(open(sys.argv[3]))
for i in range(1100):
    r = copy.deepcopy(template)
    if i % 11 == 0:
        r["exit_code"] = 1
        r["controls"][0]["status"] = "fail"
        r["failing_since"] = "2026-01-01T00:00:00.000Z"
    key = f"{prefix}/123456789012/us-east-1/nb-{i:04d}/latest.json"
    s3.put_object(Bucket="nbwarden-reports", Key=key, Body=json.dumps(r).encode())
    s3.put_object(Bucket="nbwarden-reports", Key=key.replace("latest.json", "2026-01-01T00-00-00Z.json"), Body=b"{}")
print("ok")
"#;
        let out = boto3(script, &[&prefix, &template_path.to_string_lossy()]);
        assert!(out.status.success(), "{}", output_text(&out));

        let out = summary(root.path(), &prefix, &["--output", "json"]);
        assert_eq!(code(&out), 1, "some notebooks fail: {}", stderr(&out));
        let view: nbwarden::fleet::FleetView = serde_json::from_slice(&out.stdout).expect("fleet view");
        assert_eq!(view.source, format!("s3://{BUCKET}/{prefix}/"));
        let rows = view.notebooks;
        assert_eq!(rows.len(), 1100);
        let failing: Vec<&nbwarden::fleet::Row> = rows.iter().filter(|r| r.exit_code != 0).collect();
        assert_eq!(failing.len(), 100);
        assert_eq!(rows[0].exit_code, 1, "failing notebooks first");
        assert_eq!(
            failing[0].failing_since.as_deref(),
            Some("2026-01-01T00:00:00.000Z")
        );
        assert_eq!(failing[0].account, "123456789012");
        assert!(!failing[0].failing.is_empty());

        let table = summary(root.path(), &prefix, &[]);
        assert!(
            stdout(&table).contains("1100 notebook(s), 100 not compliant"),
            "{}",
            stdout(&table)
        );

        // JUnit for the dashboards: one case per notebook, the failing ones
        // failed (it used to print the table).
        let junit = summary(root.path(), &prefix, &["--output", "junit"]);
        assert_eq!(code(&junit), 1, "{}", stderr(&junit));
        let xml = stdout(&junit);
        assert!(xml.starts_with("<?xml"), "{xml:.200}");
        assert_eq!(xml.matches("<testcase ").count(), 1100);
        assert!(
            xml.contains("tests=\"1100\" failures=\"100\" errors=\"0\""),
            "{xml:.400}"
        );

        // A mistyped prefix finds nothing: its own exit code and message, never
        // a green "0 notebook(s)".
        for output in ["human", "json", "junit"] {
            let typo = summary(
                root.path(),
                &format!("{prefix}-typo"),
                &["--output", output],
            );
            assert_eq!(code(&typo), 4, "{}", output_text(&typo));
            assert!(stdout(&typo).is_empty(), "{}", stdout(&typo));
            assert!(
                stderr(&typo).contains(&format!(
                    "no reports found under s3://{BUCKET}/{prefix}-typo/"
                )),
                "{}",
                stderr(&typo)
            );
        }
    }
}

system_test! {
    /// The notebook user holds the instance role, so it can overwrite its own
    /// notebook's `latest.json`. Plain `fleet summary` believes a forged
    /// report; `--cross-check` holds every report against SageMaker (moto)
    /// with the administrator's credentials and flags the forgery, a stale
    /// report and a notebook in service with no report, and publishes each
    /// as its Security Hub finding, archived once it no longer holds.
    fn the_cross_check_flags_forged_stale_and_missing_reports() {
        let tag = unique("xc");
        let honest = format!("{tag}-honest");
        let open = format!("{tag}-open");
        let old = format!("{tag}-old");
        let silent = format!("{tag}-silent");
        let prefix = format!("{tag}-reports");
        let create = r#"
import boto3, sys
sm = boto3.client("sagemaker", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
for name, safe in zip(sys.argv[2::2], sys.argv[3::2]):
    extra = dict(KmsKeyId=key, DirectInternetAccess="Disabled", RootAccess="Disabled") if safe == "safe" \
        else dict(DirectInternetAccess="Enabled", RootAccess="Enabled")
    # Each with a role of its own and its owner and cost tags: only what
    # this test forges is flagged.
    sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium",
        RoleArn="arn:aws:iam::123456789012:role/" + name, LifecycleConfigName="nbwarden",
        SubnetId="subnet-0a1b2c3d4e5f67890", SecurityGroupIds=["sg-0a1b2c3d4e5f67890"],
        Tags=[{"Key": "owner", "Value": "ana"}, {"Key": "cost-center", "Value": "cc-1"}], **extra)
"#;
        let made = boto3(
            create,
            &[
                &honest, "safe", &open, "open", &old, "safe", &silent, "safe",
            ],
        );
        assert!(made.status.success(), "{}", output_text(&made));
        make_guarded_roles("", &[&honest, &open, &old, &silent]);

        // Honest runs on two safe notebooks upload real reports.
        let dir = tempfile::tempdir().expect("tmp");
        let policy = reporting_policy(dir.path(), &prefix);
        upload_honest_reports(&policy, &[&honest, &old]);

        // The users: the open notebook's copies the honest report over its
        // own; the old notebook's puts back a report from hours ago.
        let forge = r#"
import boto3, json, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
prefix, honest, open_, old = sys.argv[2:6]
base = prefix + "/123456789012/us-east-1/"
good = s3.get_object(Bucket="nbwarden-reports", Key=base + honest + "/latest.json")["Body"].read()
s3.put_object(Bucket="nbwarden-reports", Key=base + open_ + "/latest.json", Body=good)
report = json.loads(s3.get_object(Bucket="nbwarden-reports", Key=base + old + "/latest.json")["Body"].read())
report["started_at"] = "2026-01-01T00:00:00.000Z"
report["finished_at"] = "2026-01-01T00:00:05.000Z"
s3.put_object(Bucket="nbwarden-reports", Key=base + old + "/latest.json", Body=json.dumps(report))
"#;
        let forged = boto3(forge, &[&prefix, &honest, &open, &old]);
        assert!(forged.status.success(), "{}", output_text(&forged));

        let admin = sandbox("al2023");
        // Without the cross-check, every report says compliant: fooled.
        let plain = summary(admin.path(), &prefix, &["--output", "json"]);
        assert_eq!(code(&plain), 0, "{}", output_text(&plain));

        let rows = flagged_rows(admin.path(), &prefix, &[]);
        let row = |name: &str| row_of(&rows, name).clone();
        let findings = |name: &str| findings_of(&rows, name);
        assert_eq!(findings(&honest), "", "{rows:#}");
        assert_eq!(row(&honest)["cross_check"]["status"], "InService");
        let open_findings = findings(&open);
        for expected in [
            "DirectInternetAccess: SageMaker says Enabled, the report says Disabled",
            "RootAccess: SageMaker says Enabled, the report says Disabled",
            "KmsKeyId",
        ] {
            assert!(
                open_findings.contains(expected),
                "{expected}: {open_findings}"
            );
        }
        assert!(findings(&old).starts_with("stale:"), "{}", findings(&old));
        assert!(
            findings(&silent).contains("no report under this prefix"),
            "{rows:#}"
        );
        assert_eq!(row(&silent)["exit_code"], 3);

        // The table says the same to a person.
        let table = summary(admin.path(), &prefix, &["--cross-check"]);
        assert_eq!(code(&table), 1);
        let text = stdout(&table);
        assert!(
            text.contains("CROSS-CHECK") && text.contains("flagged by the cross-check"),
            "{text}"
        );

        // And to Security Hub: each untrusted report is a finding of its
        // notebook, valid by botocore's own model of BatchImportFindings.
        let first = publish(admin.path(), &prefix);
        let id = |name: &str| format!("nbwarden/123456789012/us-east-1/{name}/cross-check");
        assert!(!first.contains_key(&id(&honest)), "{first:#?}");
        for (name, says) in [
            (&open, "DirectInternetAccess: SageMaker says Enabled"),
            (&old, "stale:"),
            (&silent, "no report under this prefix"),
        ] {
            let f = &first[&id(name)];
            assert_eq!(
                (f["RecordState"].as_str(), f["Compliance"]["Status"].as_str()),
                (Some("ACTIVE"), Some("FAILED")),
                "{name}: {f:#}"
            );
            assert!(f["Description"].as_str().is_some_and(|d| d.contains(says)), "{name}: {f:#}");
            assert_eq!(f["Resources"][0]["Type"], "AwsSageMakerNotebookInstance");
        }

        // A re-run updates the same findings (their first sighting kept),
        // and archives the one that no longer holds: the silent notebook
        // reports honestly now.
        upload_honest_reports(&policy, &[&silent]);
        let second = publish(admin.path(), &prefix);
        // (Other tests' notebooks share moto's account: only this one's count.)
        let ours = |found: &std::collections::BTreeMap<String, serde_json::Value>| {
            found
                .keys()
                .filter(|k| k.contains(&format!("/{tag}-")))
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(ours(&second), ours(&first), "a re-run adds no finding");
        assert_eq!(ours(&first).len(), 3, "{first:#?}");
        for key in ours(&second) {
            assert_eq!(second[&key]["CreatedAt"], first[&key]["CreatedAt"], "{key}");
        }
        let archived = &second[&id(&silent)];
        assert_eq!(
            (archived["RecordState"].as_str(), archived["Compliance"]["Status"].as_str()),
            (Some("ARCHIVED"), Some("PASSED")),
            "{archived:#}"
        );
        assert_eq!(second[&id(&open)]["RecordState"], "ACTIVE");
    }
}

/// `fleet summary --cross-check --security-hub` over `prefix` (which flags
/// something, exit 1), then the findings of that fleet view in the
/// caller's Security Hub ([`security_hub_findings`]).
fn publish(
    admin: &std::path::Path,
    prefix: &str,
) -> std::collections::BTreeMap<String, serde_json::Value> {
    let out = summary(admin, prefix, &["--cross-check", "--security-hub"]);
    assert_eq!(code(&out), 1, "{}", output_text(&out));
    assert!(
        stderr(&out).contains("security hub ("),
        "{}",
        output_text(&out)
    );
    security_hub_findings(prefix, None)
}

/// Every nbwarden finding of the fleet view `prefix` in Security Hub
/// (moto), of the caller's account or, given one, of `account` (through
/// the fleet reader role), each checked against botocore's model of
/// `BatchImportFindings`: by id.
fn security_hub_findings(
    prefix: &str,
    account: Option<&str>,
) -> std::collections::BTreeMap<String, serde_json::Value> {
    let read = r#"
import boto3, json, sys
from botocore.validate import ParamValidator
kw = dict(endpoint_url=sys.argv[1], region_name="us-east-1",
          aws_access_key_id="testing", aws_secret_access_key="testing")
if len(sys.argv) > 3:
    role = "arn:aws:iam::" + sys.argv[3] + ":role/nbwarden-fleet-reader"
    c = boto3.client("sts", **kw).assume_role(RoleArn=role, RoleSessionName="test")["Credentials"]
    kw.update(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
              aws_session_token=c["SessionToken"])
sh = boto3.client("securityhub", **kw)
source = "s3://nbwarden-reports/" + sys.argv[2] + "/"
found, token = [], None
while True:
    page = sh.get_findings(**({"NextToken": token} if token else {}))
    found += [f for f in page["Findings"] if f.get("GeneratorId", "").startswith("nbwarden/")
              and f.get("ProductFields", {}).get("nbwarden/Source") == source]
    token = page.get("NextToken")
    if not token:
        break
shape = sh.meta.service_model.operation_model("BatchImportFindings").input_shape
report = ParamValidator().validate({"Findings": found}, shape)
if report.has_errors():
    sys.exit("not valid ASFF: " + report.generate_report())
print(json.dumps(found))
"#;
    let mut args = vec![prefix];
    args.extend(account);
    let listed = boto3(read, &args);
    assert!(listed.status.success(), "{}", output_text(&listed));
    let found: Vec<serde_json::Value> =
        serde_json::from_slice(&listed.stdout).expect("findings as JSON");
    let mut by_id = std::collections::BTreeMap::new();
    for f in found {
        let id = f["Id"].as_str().expect("an id").to_string();
        assert!(by_id.insert(id.clone(), f).is_none(), "{id} twice");
    }
    by_id
}

system_test! {
    /// `--accounts organization`: every account of the organization (moto's
    /// Organizations), each reached through the fleet reader role (STS) and
    /// judged with its own answers. A stale report in the management
    /// account, a report copied into a member account, a member's notebook
    /// without one: each is flagged in its account's row and published to
    /// that account's own Security Hub. An account whose role cannot be
    /// assumed is a row of its own.
    fn every_account_of_the_organization_is_cross_checked_and_published_in_its_own_hub() {
        let tag = unique("org");
        let (honest, old, copied, silent) = (
            format!("{tag}-m"),
            format!("{tag}-s"),
            format!("{tag}-b"),
            format!("{tag}-c"),
        );
        let prefix = format!("{tag}-reports");
        let setup = r#"
import boto3, json, sys
e, tag = sys.argv[1], sys.argv[2]
kw = dict(endpoint_url=e, region_name="us-east-1", aws_access_key_id="testing",
          aws_secret_access_key="testing")
org = boto3.client("organizations", **kw)
try:
    org.create_organization(FeatureSet="ALL")
except org.exceptions.AlreadyInOrganizationException:
    pass
members = [org.create_account(Email=tag + n + "@example.com", AccountName=tag + n)
           ["CreateAccountStatus"]["AccountId"] for n in ("-b", "-c")]
def notebook(account, name, **extra):
    c = boto3.client("sts", **kw).assume_role(
        RoleArn="arn:aws:iam::" + account + ":role/nbwarden-fleet-reader",
        RoleSessionName="setup")["Credentials"]
    sm = boto3.client("sagemaker", endpoint_url=e, region_name="us-east-1",
                      aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                      aws_session_token=c["SessionToken"])
    sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium",
        RoleArn="arn:aws:iam::" + account + ":role/" + name, LifecycleConfigName="nbwarden",
        Tags=[{"Key": "owner", "Value": "ana"}, {"Key": "cost-center", "Value": "cc-1"}], **extra)
key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
safe = dict(KmsKeyId=key, DirectInternetAccess="Disabled", RootAccess="Disabled")
for name in (tag + "-m", tag + "-s"):
    notebook("123456789012", name, **safe)
notebook(members[0], tag + "-b", DirectInternetAccess="Enabled", RootAccess="Enabled")
notebook(members[1], tag + "-c", **safe)
print(json.dumps(members))
"#;
        let made = boto3(setup, &[&tag]);
        assert!(made.status.success(), "{}", output_text(&made));
        let members: Vec<String> = serde_json::from_slice(&made.stdout).expect("accounts");
        let (b, c) = (&members[0], &members[1]);
        make_guarded_roles("", &[&honest, &old]);

        let dir = tempfile::tempdir().expect("tmp");
        let policy = reporting_policy(dir.path(), &prefix);
        upload_honest_reports(&policy, &[&honest, &old]);
        // The management account's stale report; the honest one copied
        // into member B's notebook (whose user writes its own prefix).
        let forge = r#"
import boto3, json, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
prefix, honest, old, b, copied = sys.argv[2:7]
mine = prefix + "/123456789012/us-east-1/"
good = s3.get_object(Bucket="nbwarden-reports", Key=mine + honest + "/latest.json")["Body"].read()
s3.put_object(Bucket="nbwarden-reports", Key=prefix + "/" + b + "/us-east-1/" + copied + "/latest.json",
              Body=good)
report = json.loads(s3.get_object(Bucket="nbwarden-reports", Key=mine + old + "/latest.json")["Body"].read())
report["started_at"] = "2026-01-01T00:00:00.000Z"
report["finished_at"] = "2026-01-01T00:00:05.000Z"
s3.put_object(Bucket="nbwarden-reports", Key=mine + old + "/latest.json", Body=json.dumps(report))
"#;
        let forged = boto3(forge, &[&prefix, &honest, &old, b, &copied]);
        assert!(forged.status.success(), "{}", output_text(&forged));

        let admin = sandbox("al2023");
        let out = summary(
            admin.path(),
            &prefix,
            &[
                "--cross-check",
                "--accounts",
                "organization",
                "--security-hub",
                "--output",
                "json",
            ],
        );
        assert_eq!(code(&out), 1, "{}", output_text(&out));
        let rows = rows_of(&out);
        assert_eq!(findings_of(&rows, &honest), "", "{rows:#}");
        assert!(findings_of(&rows, &old).starts_with("stale:"), "{rows:#}");
        assert_eq!(row_of(&rows, &copied)["account"], b.as_str());
        assert!(
            findings_of(&rows, &copied)
                .contains("DirectInternetAccess: SageMaker says Enabled, the report says Disabled"),
            "{rows:#}"
        );
        assert_eq!(row_of(&rows, &silent)["account"], c.as_str());
        assert!(
            findings_of(&rows, &silent).contains("no report under this prefix"),
            "{rows:#}"
        );

        // Each finding is in its own account's Security Hub, and only there.
        let id = |account: &str, name: &str| format!("nbwarden/{account}/us-east-1/{name}/cross-check");
        let own = security_hub_findings(&prefix, None);
        assert!(own.contains_key(&id(ACCOUNT, &old)), "{own:#?}");
        assert!(!own.contains_key(&id(ACCOUNT, &honest)), "{own:#?}");
        assert!(!own.keys().any(|k| k.contains(b.as_str()) || k.contains(c.as_str())), "{own:#?}");
        for (account, name) in [(b, &copied), (c, &silent)] {
            let theirs = security_hub_findings(&prefix, Some(account));
            let f = theirs
                .get(&id(account, name))
                .unwrap_or_else(|| panic!("{name} in {account}: {theirs:#?}"));
            assert_eq!(f["AwsAccountId"], account.as_str());
            assert_eq!(f["RecordState"], "ACTIVE");
        }

        // An account whose role cannot be assumed (STS does not answer):
        // a row that says so, and its reports are not taken as checked.
        let closed = TcpListener::bind("127.0.0.1:0").expect("port");
        let sts = format!("http://{}", closed.local_addr().expect("addr"));
        drop(closed);
        let out = summary_in(
            admin.path(),
            &prefix,
            &["--cross-check", "--accounts", b, "--output", "json"],
            &[("AWS_ENDPOINT_URL_STS", &sts)],
        );
        assert_eq!(code(&out), 1, "{}", output_text(&out));
        let rows = rows_of(&out);
        let unreached = rows
            .as_array()
            .and_then(|a| a.iter().find(|r| r["notebook"] == "*" && r["account"] == b.as_str()))
            .unwrap_or_else(|| panic!("no row for account {b}: {rows:#}"));
        assert_eq!(unreached["problem"], "account not reached", "{unreached:#}");
        assert!(
            findings_of(&rows, &copied).contains("not reached"),
            "{rows:#}"
        );
        assert!(
            findings_of(&rows, &honest).contains("not among --accounts"),
            "{rows:#}"
        );
    }
}

system_test! {
    /// What notebooks launch, held against `[governance]`: the training,
    /// processing and transform jobs and the models run with a notebook's role, in any region
    /// the view lists, that left the VPC, the KMS keys or the owner tag are
    /// findings naming the job and its role on the notebook's row; the
    /// governed ones and another role's are not. A job whose role cannot be
    /// known (its model deleted) is a row of its own when it went ungoverned.
    /// A notebook role without the guardrail, with part of it, or with its
    /// statement ids over other contents is a finding of its own. `--policy`
    /// decides which requirements apply.
    fn the_cross_check_names_ungoverned_jobs_and_roles_without_the_guardrail() {
        let tag = unique("gov");
        let [guarded, bare, partial, neutered] =
            ["guarded", "bare", "partial", "neutered"].map(|n| format!("{tag}-{n}"));
        let prefix = format!("{tag}-reports");
        let notebooks = r#"
import boto3, sys
sm = boto3.client("sagemaker", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
for name in sys.argv[2:]:
    sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium",
        RoleArn="arn:aws:iam::123456789012:role/nbwarden/" + name, LifecycleConfigName="nbwarden",
        SubnetId="subnet-0a1b2c3d4e5f67890", SecurityGroupIds=["sg-0a1b2c3d4e5f67890"],
        KmsKeyId="arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        DirectInternetAccess="Disabled", RootAccess="Disabled",
        Tags=[{"Key": "owner", "Value": "ana"}, {"Key": "cost-center", "Value": "cc-1"}])
"#;
        let made = boto3(notebooks, &[&guarded, &bare, &partial, &neutered]);
        assert!(made.status.success(), "{}", output_text(&made));
        // The red team's neutered copy: every Sid, Deny and action, but a
        // resource that is nothing.
        let mut hollow: serde_json::Value = serde_json::from_str(&filled_guardrail(
            &neutered,
            &role_arn("nbwarden/", &neutered),
            &[],
        ))
        .expect("JSON");
        for st in hollow["Statement"].as_array_mut().expect("statements") {
            let field = if st["NotResource"].is_null() {
                "Resource"
            } else {
                "NotResource"
            };
            st[field] = "arn:aws:sagemaker:*:000000000000:nothing/*".into();
        }
        make_guarded_roles("nbwarden/", &[&guarded]);
        make_roles(&[
            (&bare, String::new()),
            (
                &partial,
                filled_guardrail(
                    &partial,
                    &role_arn("nbwarden/", &partial),
                    &["DenyJobsOutsideTheFleetsSubnets"],
                ),
            ),
            (&neutered, hollow.to_string()),
        ]);

        // The guarded notebook's user starts jobs with its role, governed and
        // not, here and in another region; someone else's role runs an
        // ungoverned one too; a batch job's model is deleted after it ran.
        let jobs = r#"
import boto3, sys
tag, role, other = sys.argv[2], sys.argv[3], sys.argv[4]
def client(region):
    return boto3.client("sagemaker", endpoint_url=sys.argv[1], region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")
sm = client("us-east-1")
key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
vpc = {"Subnets": ["subnet-0a1b2c3d4e5f67890"], "SecurityGroupIds": ["sg-0a1b2c3d4e5f67890"]}
ana = [{"Key": "owner", "Value": "ana"}]
image = {"TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:1", "TrainingInputMode": "File"}
def train(sm, name, role, governed, tags):
    resources = {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10}
    output = {"S3OutputPath": "s3://jobs/out"}
    extra = {}
    if governed:
        resources["VolumeKmsKeyId"] = key
        output["KmsKeyId"] = key
        extra = dict(VpcConfig=vpc, EnableInterContainerTrafficEncryption=True)
    sm.create_training_job(TrainingJobName=name, AlgorithmSpecification=image, RoleArn=role,
        OutputDataConfig=output, ResourceConfig=resources,
        StoppingCondition={"MaxRuntimeInSeconds": 3600}, Tags=tags, **extra)
train(sm, tag + "-governed-training", role, True, ana)
train(sm, tag + "-open-training", role, False, [])
train(sm, tag + "-others-training", other, False, [])
train(client("eu-west-2"), tag + "-abroad-training", role, False, ana)
sm.create_processing_job(ProcessingJobName=tag + "-open-processing", RoleArn=role,
    AppSpecification={"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/p:1"},
    ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                           "VolumeSizeInGB": 10, "VolumeKmsKeyId": key}},
    ProcessingOutputConfig={"Outputs": [], "KmsKeyId": key},
    NetworkConfig={"EnableInterContainerTrafficEncryption": True},
    Tags=[{"Key": "owner", "Value": "mallory"}])
# A transform job runs as its model's role, in its model's VPC.
def transform(sm, name, model, keyed):
    output = {"S3OutputPath": "s3://jobs/out"}
    resources = {"InstanceType": "ml.m5.large", "InstanceCount": 1}
    if keyed:
        output["KmsKeyId"] = key
        resources["VolumeKmsKeyId"] = key
    sm.create_transform_job(TransformJobName=name, ModelName=model,
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://jobs/in"}}},
        TransformOutput=output, TransformResources=resources, Tags=ana)
container = {"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/serve:1"}
sm.create_model(ModelName=tag + "-model", ExecutionRoleArn=role, PrimaryContainer=container,
    VpcConfig=vpc, Tags=ana)
# A model its endpoints would run outside the VPC.
sm.create_model(ModelName=tag + "-open-model", ExecutionRoleArn=role, PrimaryContainer=container,
    Tags=ana)
transform(sm, tag + "-governed-transform", tag + "-model", True)
transform(sm, tag + "-keyless-transform", tag + "-model", False)
away = client("sa-east-1")
away.create_model(ModelName=tag + "-gone", ExecutionRoleArn=role, PrimaryContainer=container,
    VpcConfig=vpc, Tags=ana)
transform(away, tag + "-orphan-transform", tag + "-gone", False)
transform(away, tag + "-tidy-transform", tag + "-gone", True)
away.delete_model(ModelName=tag + "-gone")
"#;
        let role = format!("arn:aws:iam::123456789012:role/nbwarden/{guarded}");
        let other = format!("arn:aws:iam::123456789012:role/{tag}-pipelines");
        let made = boto3(jobs, &[&tag, &role, &other]);
        assert!(made.status.success(), "{}", output_text(&made));

        let dir = tempfile::tempdir().expect("tmp");
        let policy = write_policy(
            dir.path(),
            &format!(
                "version = 1\n[verify.control_plane]\n\
                 [verify.report]\nbucket = \"{BUCKET}\"\nprefix = \"{prefix}\"\n"
            ),
        );
        upload_honest_reports(
            &policy.to_string_lossy(),
            &[&guarded, &bare, &partial, &neutered],
        );

        let admin = sandbox("al2023");
        let regions = ["--regions", "eu-west-2,sa-east-1"];
        let rows = flagged_rows(admin.path(), &prefix, &regions);
        let named: Vec<String> = findings_of(&rows, &guarded)
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(named.len(), 5, "{named:#?}");
        let line = |job: &str| -> &String {
            named
                .iter()
                .find(|f| f.contains(&format!("`{tag}-{job}`")))
                .unwrap_or_else(|| panic!("{job} is not named: {named:#?}"))
        };
        let open = line("open-training");
        assert!(
            open.starts_with("training job") && open.contains(&role),
            "{open}"
        );
        for lack in [
            "outside the VPC",
            "no volume KMS key",
            "no output KMS key",
            "inter-container traffic unencrypted",
            "no owner tag `owner`",
        ] {
            assert!(open.contains(lack), "{lack}: {open}");
        }
        let processing = line("open-processing");
        assert!(processing.contains("outside the VPC"), "{processing}");
        assert!(
            processing.contains("owner tag `mallory` is not the notebook's owner `ana`"),
            "{processing}"
        );
        assert!(
            line("keyless-transform").ends_with("no volume KMS key, no output KMS key"),
            "{named:#?}"
        );
        assert_eq!(
            line("open-model"),
            &format!("model `{tag}-open-model` (role {role}): outside the VPC (no VpcConfig)")
        );
        // Another region is the same role's.
        assert!(
            line("abroad-training").contains("outside the VPC"),
            "{named:#?}"
        );
        // The governed jobs, and the one run with a role no notebook has.
        let all = rows.to_string();
        for unnamed in [
            "governed-training",
            "others-training",
            "governed-transform",
            "tidy-transform",
        ] {
            assert!(
                !all.contains(&format!("{tag}-{unnamed}")),
                "{unnamed}: {rows:#}"
            );
        }
        // A job whose role is gone with its model, and went without the keys.
        let orphan = rows
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["notebook"] == "*" && r["region"] == "sa-east-1")
            .unwrap_or_else(|| panic!("no row for sa-east-1's unknown jobs: {rows:#}"));
        assert_eq!(orphan["problem"], "jobs not checked");
        let orphan = orphan["cross_check"]["findings"].to_string();
        assert!(
            orphan.contains(&format!("`{tag}-orphan-transform`"))
                && orphan.contains("no volume KMS key")
                && orphan.contains("its model is gone"),
            "{orphan}"
        );
        assert!(
            findings_of(&rows, &bare).contains("its role has no nbwarden guardrail"),
            "{rows:#}"
        );
        assert_eq!(
            findings_of(&rows, &partial),
            "its role's guardrail lacks DenyJobsOutsideTheFleetsSubnets, or says them otherwise than for this \
             notebook (the notebook stack renders them)",
            "{rows:#}"
        );
        assert!(
            findings_of(&rows, &neutered).contains("its role has no nbwarden guardrail"),
            "{rows:#}"
        );

        // The fleet's [governance] decides what is required.
        let lenient = write_policy(
            dir.path(),
            "version = 1\n[governance]\nvpc = false\ninter_container_encryption = false\nowner_tag = false\n",
        );
        let mut args = vec!["--policy", lenient.to_str().expect("utf-8")];
        args.extend_from_slice(&regions);
        let rows = flagged_rows(admin.path(), &prefix, &args);
        let f = findings_of(&rows, &guarded);
        for off in ["VPC", "inter-container", "owner"] {
            assert!(!f.contains(off), "{off}: {f}");
        }
        for job in ["open-training", "keyless-transform"] {
            assert!(
                f.lines().any(|l| l.contains(&format!("`{tag}-{job}`"))
                    && l.ends_with("no volume KMS key, no output KMS key")),
                "{job}: {f}"
            );
        }
        // Without the VPC requirement, that statement is not asked of a role.
        assert_eq!(findings_of(&rows, &partial), "", "{rows:#}");
    }
}

system_test! {
    /// What the notebook user can write under the report prefix cannot break
    /// the administrator's view: a key holding a control character, a huge
    /// object, terminal escapes in a field, a report that says nothing about
    /// the control plane of an open notebook. And a huge previous report does
    /// not stop root's upload on the instance.
    fn what_the_user_writes_cannot_break_the_fleet_view() {
        let tag = unique("xu");
        let open = format!("{tag}-open");
        let prefix = format!("{tag}-reports");
        // A real report, to plant edited copies of.
        let sample_root = sandbox("al2023");
        let dir = tempfile::tempdir().expect("tmp");
        let plain = write_policy(
            dir.path(),
            "version = 1\n[variables.values.A]\nvalue = \"b\"\n",
        );
        let sample = run_aws(
            sample_root.path(),
            &[
                "apply",
                "--policy",
                &plain.to_string_lossy(),
                "--output",
                "json",
            ],
            &[],
        );
        assert_eq!(code(&sample), 0, "{}", output_text(&sample));
        let plant = r#"
import boto3, json, sys
url, prefix, open_, sample = sys.argv[1:5]
sm = boto3.client("sagemaker", endpoint_url=url, region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
sm.create_notebook_instance(NotebookInstanceName=open_, InstanceType="ml.t3.medium",
    RoleArn="arn:aws:iam::123456789012:role/nbwarden-notebook-role", DirectInternetAccess="Enabled")
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
base = prefix + "/123456789012/us-east-1/"
quiet = json.loads(sample)
quiet["finished_at"] = "2099-01-01T00:00:00.000Z"
quiet["exit_code"] = 0
quiet["failing_since"] = "\u001b[2J\u001b[H0 notebook(s), 0 not compliant\n"
s3.put_object(Bucket="nbwarden-reports", Key=base + open_ + "/latest.json", Body=json.dumps(quiet))
# The open notebook's user floods its own prefix: nothing below a
# notebook's latest.json is listed or read.
for i in range(40):
    s3.put_object(Bucket="nbwarden-reports", Key=base + open_ + f"/c{i}/latest.json", Body=json.dumps(quiet))
s3.put_object(Bucket="nbwarden-reports", Key=base + open_ + "/x\u0001y/latest.json", Body=b"{}")
# Beside the notebooks (where only wider rights write): named nothing real.
s3.put_object(Bucket="nbwarden-reports", Key=base + "x\u0001y/latest.json", Body=b"{}")
s3.put_object(Bucket="nbwarden-reports", Key=base + "huge/latest.json", Body=b" " * (5 * 1024 * 1024))
"#;
        let planted = boto3(plant, &[&prefix, &open, &stdout(&sample)]);
        assert!(planted.status.success(), "{}", output_text(&planted));

        let admin = sandbox("al2023");
        let table = summary(admin.path(), &prefix, &["--cross-check"]);
        assert_eq!(code(&table), 1, "{}", output_text(&table));
        let text = stdout(&table);
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{1}'),
            "{text:?}"
        );
        let json = summary(
            admin.path(),
            &prefix,
            &["--cross-check", "--output", "json"],
        );
        let rows = rows_of(&json);
        let rows = rows.as_array().expect("rows");
        let findings = |row: &serde_json::Value| row["cross_check"]["findings"].to_string();
        let open_row = rows
            .iter()
            .find(|r| r["notebook"] == open.as_str())
            .unwrap_or_else(|| panic!("{rows:#?}"));
        let open_rows = rows
            .iter()
            .filter(|r| {
                r["notebook"]
                    .as_str()
                    .is_some_and(|n| n.contains(open.as_str()))
            })
            .count();
        assert_eq!(
            open_rows, 1,
            "what the user put below its report is not listed: {rows:#?}"
        );
        for expected in [
            "DirectInternetAccess is Enabled",
            "no KMS key",
            "in the future",
        ] {
            assert!(
                findings(open_row).contains(expected),
                "{expected}: {open_row:#}"
            );
        }
        let odd = rows
            .iter()
            .find(|r| r["notebook"].as_str().is_some_and(|n| n.contains('\u{1}')))
            .unwrap_or_else(|| panic!("the control-character key is listed: {rows:#?}"));
        assert!(findings(odd).contains("names no notebook"), "{odd:#}");
        assert_eq!(odd["problem"], "not ACCOUNT/REGION/NOTEBOOK/latest.json");
        let huge = rows
            .iter()
            .find(|r| r["notebook"].as_str().is_some_and(|n| n.ends_with("huge")))
            .unwrap_or_else(|| panic!("{rows:#?}"));
        assert!(
            huge["problem"]
                .as_str()
                .is_some_and(|p| p.contains("larger than")),
            "{huge:#}"
        );

        // On the instance: a failing run whose previous report is huge still
        // uploads its own.
        let root = sandbox("al2023");
        name_notebook(root.path(), "huge");
        let listening = TcpListener::bind("127.0.0.1:0").expect("listener");
        let port = listening.local_addr().expect("addr").port();
        let policy = write_policy(
            dir.path(),
            &format!(
                "version = 1\n[verify.egress]\nmust_fail = [\"127.0.0.1:{port}\"]\n\
                 [verify.report]\nbucket = \"{BUCKET}\"\nprefix = \"{prefix}\"\n"
            ),
        );
        let run = run_aws(
            root.path(),
            &[
                "verify",
                "--policy",
                &policy.to_string_lossy(),
                "--output",
                "json",
            ],
            &[],
        );
        assert_eq!(code(&run), 1, "{}", output_text(&run));
        let report = read_report(&run);
        assert_uploaded(&report);
        // The user rewrites its previous report to say it has failed since
        // 2099: root's next report keeps only a real, earlier time.
        let forge = r#"
import boto3, json, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
key = sys.argv[2] + "/123456789012/us-east-1/huge/latest.json"
r = json.loads(s3.get_object(Bucket="nbwarden-reports", Key=key)["Body"].read())
r["failing_since"] = "2099-01-01T00:00:00Z"
s3.put_object(Bucket="nbwarden-reports", Key=key, Body=json.dumps(r))
"#;
        let forged = boto3(forge, &[&prefix]);
        assert!(forged.status.success(), "{}", output_text(&forged));
        let again = read_report(&run_aws(
            root.path(),
            &[
                "verify",
                "--policy",
                &policy.to_string_lossy(),
                "--output",
                "json",
            ],
            &[],
        ));
        assert_eq!(
            again.failing_since.as_deref(),
            Some(report.started_at.as_str()),
            "failing since the first real failure, not the forged time: {again:#?}"
        );
    }
}

system_test! {
    /// The access view of `--cross-check` (issue 21), from the control plane
    /// with the administrator's credentials: a notebook without owner or cost
    /// tag, two notebooks sharing one role, and one with direct internet and
    /// root access are flagged, as rows of their own when they have no report;
    /// a tagged notebook with its own role and an honest report is not.
    fn the_cross_check_flags_untagged_notebooks_shared_roles_and_open_access() {
        let tag = unique("acc");
        let [
            good,
            untagged,
            cased,
            shared_a,
            shared_b,
            open,
            unstarted,
            other_start,
            stopped,
        ] = [
            "good",
            "untagged",
            "cased",
            "shared-a",
            "shared-b",
            "open",
            "unstarted",
            "other-start",
            "stopped",
        ]
        .map(|n| format!("{tag}-{n}"));
        let prefix = format!("{tag}-reports");
        let create = r#"
import boto3, sys
sm = boto3.client("sagemaker", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
tag = sys.argv[2]
tags = [{"Key": "owner", "Value": "ana"}, {"Key": "cost-center", "Value": "cc-1"}]
safe = dict(KmsKeyId=key, DirectInternetAccess="Disabled", RootAccess="Disabled")
role = "arn:aws:iam::123456789012:role/"
fleet = dict(LifecycleConfigName="nbwarden")
for name, role_name, its_tags, settings in [
    (tag + "-good", tag + "-good", tags, dict(safe, **fleet)),
    (tag + "-untagged", tag + "-untagged", [{"Key": "owner", "Value": " "}], dict(safe, **fleet)),
    (tag + "-cased", tag + "-cased",
     [{"Key": "owner", "Value": "ana"}, {"Key": "OWNER", "Value": "mallory"},
      {"Key": "cost-center", "Value": "cc-1"}], dict(safe, **fleet)),
    # One role, written with another path and case: IAM's names ignore case.
    (tag + "-shared-a", tag + "-shared", tags, dict(safe, **fleet)),
    (tag + "-shared-b", "nbwarden/" + (tag + "-shared").upper(), tags, dict(safe, **fleet)),
    (tag + "-open", tag + "-open", tags,
     dict(KmsKeyId=key, DirectInternetAccess="Enabled", RootAccess="Enabled", **fleet)),
    # Safe in every setting, but nbwarden never runs there.
    (tag + "-unstarted", tag + "-unstarted", tags, safe),
    (tag + "-other-start", tag + "-other-start", tags,
     dict(safe, LifecycleConfigName="team-setup")),
    (tag + "-stopped", tag + "-stopped", tags, safe),
]:
    sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium",
        RoleArn=role + role_name, SubnetId="subnet-0a1b2c3d4e5f67890",
        SecurityGroupIds=["sg-0a1b2c3d4e5f67890"], Tags=its_tags, **settings)
# Stopped, without a report: what its next start would run still matters.
sm.stop_notebook_instance(NotebookInstanceName=tag + "-stopped")
"#;
        let made = boto3(create, &[&tag]);
        assert!(made.status.success(), "{}", output_text(&made));
        let shared = format!("{tag}-shared");
        make_guarded_roles(
            "",
            &[
                &good,
                &untagged,
                &cased,
                &shared,
                &open,
                &unstarted,
                &other_start,
                &stopped,
            ],
        );
        let dir = tempfile::tempdir().expect("tmp");
        let policy = write_policy(
            dir.path(),
            &format!(
                "version = 1\n[verify.control_plane]\n\
                 [verify.report]\nbucket = \"{BUCKET}\"\nprefix = \"{prefix}\"\n"
            ),
        );
        upload_honest_reports(&policy.to_string_lossy(), &[&good, &unstarted]);

        let admin = sandbox("al2023");
        let rows = flagged_rows(admin.path(), &prefix, &[]);
        assert_eq!(findings_of(&rows, &good), "", "{rows:#}");
        let good_row = row_of(&rows, &good);
        assert_eq!(good_row["cross_check"]["owner"], "ana");
        assert_eq!(good_row["cross_check"]["cost"], "cc-1");
        assert_eq!(
            good_row["cross_check"]["role_arn"],
            format!("arn:aws:iam::123456789012:role/{good}")
        );

        let untagged_findings = findings_of(&rows, &untagged);
        assert!(
            untagged_findings.contains("no owner tag `owner`"),
            "{untagged_findings}"
        );
        assert!(
            untagged_findings.contains("no cost tag `cost-center`"),
            "{untagged_findings}"
        );
        assert!(!untagged_findings.contains("shared"), "{untagged_findings}");
        let cased_findings = findings_of(&rows, &cased);
        assert!(
            cased_findings.contains("tag `OWNER` differs from `owner` only in case"),
            "{cased_findings}"
        );
        for (me, other) in [(&shared_a, &shared_b), (&shared_b, &shared_a)] {
            let f = findings_of(&rows, me);
            assert!(
                f.contains(&format!(
                    "its role is shared with 1 other notebook(s) (us-east-1/{other})"
                )),
                "{me}: {f}"
            );
            assert!(!f.contains("owner tag"), "{me}: {f}");
        }
        let open_findings = findings_of(&rows, &open);
        for expected in ["DirectInternetAccess is Enabled", "RootAccess is Enabled"] {
            assert!(
                open_findings.contains(expected),
                "{expected}: {open_findings}"
            );
        }
        // A notebook without the fleet's lifecycle configuration is flagged,
        // even with an honest-looking report of its own.
        assert_eq!(
            findings_of(&rows, &unstarted),
            "SageMaker says it has no lifecycle configuration: nbwarden never runs there",
            "{rows:#}"
        );
        assert!(
            findings_of(&rows, &other_start)
                .contains("lifecycle configuration `team-setup`, not the fleet's `nbwarden`"),
            "{rows:#}"
        );
        assert_eq!(
            row_of(&rows, &stopped)["problem"],
            "no report (not in service)",
            "{rows:#}"
        );
        assert!(
            findings_of(&rows, &stopped).contains("no lifecycle configuration"),
            "{rows:#}"
        );

        // Root access allowed, another owner tag and another lifecycle
        // configuration: what changes is exactly what those options name.
        let lenient = summary(
            admin.path(),
            &prefix,
            &[
                "--cross-check",
                "--allow-root-access",
                "--owner-tag-key",
                "team-owner",
                "--lifecycle-config",
                "team-setup",
                "--output",
                "json",
            ],
        );
        let rows = rows_of(&lenient);
        assert!(
            !findings_of(&rows, &other_start).contains("lifecycle"),
            "{rows:#}"
        );
        assert!(
            findings_of(&rows, &good).contains("`nbwarden`, not the fleet's `team-setup`"),
            "{rows:#}"
        );
        let open_findings = findings_of(&rows, &open);
        assert!(!open_findings.contains("RootAccess"), "{open_findings}");
        assert!(
            open_findings.contains("DirectInternetAccess is Enabled"),
            "{open_findings}"
        );
        assert!(
            findings_of(&rows, &good).contains("no owner tag `team-owner`"),
            "{rows:#}"
        );
        let table = summary(admin.path(), &prefix, &["--cross-check"]);
        assert_eq!(code(&table), 1);
        assert!(
            stdout(&table)
                .lines()
                .any(|l| l.starts_with("    ! its role is shared")),
            "{}",
            stdout(&table)
        );

        // A notebook in a region no report names is listed only when asked for.
        let elsewhere = format!("{tag}-elsewhere");
        let made = boto3(
            r#"
import boto3, sys
sm = boto3.client("sagemaker", endpoint_url=sys.argv[1], region_name="ap-southeast-2",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
sm.create_notebook_instance(NotebookInstanceName=sys.argv[2], InstanceType="ml.t3.medium",
    RoleArn="arn:aws:iam::123456789012:role/" + sys.argv[2])
"#,
            &[&elsewhere],
        );
        assert!(made.status.success(), "{}", output_text(&made));
        let without = rows_of(&summary(
            admin.path(),
            &prefix,
            &["--cross-check", "--output", "json"],
        ));
        assert!(!without.to_string().contains(&elsewhere), "{without:#}");
        let with = rows_of(&summary(
            admin.path(),
            &prefix,
            &[
                "--cross-check",
                "--regions",
                "ap-southeast-2",
                "--output",
                "json",
            ],
        ));
        let f = findings_of(&with, &elsewhere);
        assert!(
            f.contains("no report under this prefix") && f.contains("no owner tag"),
            "{f}"
        );
        let bad = summary(
            admin.path(),
            &prefix,
            &["--cross-check", "--regions", "mars-1"],
        );
        assert_eq!(code(&bad), 2, "{}", output_text(&bad));
    }
}

system_test! {
    /// An S3 body that trickles in after its headers, just fast enough for the
    /// SDK's stalled-stream check: the SDK's operation timeout ends with the
    /// headers, so the read itself is bounded (by the call's 20 s and the
    /// run's deadline), and the report becomes a row that says why instead of
    /// a view that waits as long as the body takes.
    fn a_report_body_that_trickles_is_a_row_not_a_hang() {
        let prefix = unique("stall");
        let put = boto3(
            r#"
import boto3, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
s3.put_object(Bucket=sys.argv[2], Key=sys.argv[3] + "/123456789012/us-east-1/nb-stall/latest.json",
              Body=b'{"exit_code": 0, "controls": [], "padding": "' + b"x" * 4096 + b'"}')
"#,
            &[BUCKET, &prefix],
        );
        assert!(put.status.success(), "{}", output_text(&put));
        let proxy = common::notebook::FaultProxy::start("tricklebody:30");
        let admin = sandbox("al2023");
        let out = summary_in(
            admin.path(),
            &prefix,
            &["--deadline", "8s", "--output", "json"],
            &[("AWS_ENDPOINT_URL_S3", proxy.url.as_str())],
        );
        let rows = rows_of(&out);
        assert_eq!(code(&out), 1, "{}", output_text(&out));
        let problem = row_of(&rows, "nb-stall")["problem"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            problem.contains("the body did not arrive within"),
            "{rows:#}"
        );
    }
}

system_test! {
    /// An administrator signed in through IAM Identity Center (`aws sso login`)
    /// or with a `credential_process` profile reaches the fleet with
    /// `--profile`, as `aws --profile` would: the SDK's SSO provider reads the
    /// sign-in's cached token and trades it at the portal (a loopback stand-in
    /// that records the call), the process provider runs the helper. Both used
    /// to fail with "requires cargo feature(s) enabled: sso". When the portal
    /// cannot be reached, the error says to sign in, not to check VPC endpoints.
    fn sso_and_credential_process_profiles_reach_the_fleet() {
        let home = tempfile::tempdir().expect("home");
        let aws = home.path().join(".aws");
        std::fs::create_dir_all(aws.join("sso/cache")).expect("dirs");
        let helper = home.path().join("creds.sh");
        let ran = home.path().join("helper-ran");
        std::fs::write(
            &helper,
            format!(
                "#!/bin/sh\ntouch {}\necho '{{\"Version\":1,\"AccessKeyId\":\"AKIAPROCESS\",\"SecretAccessKey\":\"s\"}}'\n",
                ran.display()
            ),
        )
        .expect("helper");
        std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        std::fs::write(
            aws.join("config"),
            format!(
                "[profile sso-admin]\nsso_session = corp\nsso_account_id = 123456789012\n\
                 sso_role_name = FleetReader\nregion = us-east-1\n\n\
                 [sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n\
                 sso_region = us-east-1\nsso_registration_scopes = sso:account:access\n\n\
                 [profile helper]\ncredential_process = {}\nregion = us-east-1\n",
                helper.display()
            ),
        )
        .expect("config");
        // What `aws sso login` caches: the file is named by the session's sha1.
        let session = Command::new("sh")
            .args(["-c", "printf corp | sha1sum | cut -c1-40"])
            .output()
            .expect("sha1sum");
        std::fs::write(
            aws.join(format!("sso/cache/{}.json", stdout(&session).trim())),
            r#"{"accessToken":"signed-in-token","expiresAt":"2099-01-01T00:00:00Z","region":"us-east-1","startUrl":"https://corp.awsapps.com/start"}"#,
        )
        .expect("token");
        let port = common::booted::free_port();
        let log = home.path().join("portal.log");
        let mut cmd = Command::new(format!(
            "{}/bin/python",
            common::notebook::service("NBWARDEN_TEST_VENV")
        ));
        cmd.arg(repo().join("tests/system/sso_standin.py"))
            .arg(port.to_string())
            .arg(&log);
        let portal = LoopbackServer::spawn(cmd, port);
        let portal_url = format!("http://127.0.0.1:{port}");
        let home_dir = home.path().to_str().expect("utf8");
        let admin = sandbox("al2023");
        let empty = unique("sso-nothing");
        let with_env = |profile: &str| {
            summary_in(
                admin.path(),
                &empty,
                &["--profile", profile],
                &[("HOME", home_dir), ("AWS_ENDPOINT_URL_SSO", &portal_url)],
            )
        };
        // Exit 4 (no reports under an empty prefix): S3 answered the profile's
        // credentials; a credential failure would be exit 3.
        let out = with_env("sso-admin");
        assert_eq!(code(&out), 4, "{}", output_text(&out));
        let calls = std::fs::read_to_string(&log).expect("the portal was called");
        assert!(
            calls.contains(r#""path": "/federation/credentials", "role": "FleetReader", "account": "123456789012", "token": "signed-in-token""#),
            "{calls}"
        );
        let out = with_env("helper");
        assert_eq!(code(&out), 4, "{}", output_text(&out));
        assert!(ran.exists(), "the credential_process helper ran");

        drop(portal);
        let out = with_env("sso-admin");
        assert_eq!(code(&out), 3, "{}", output_text(&out));
        let err = stderr(&out);
        let last = err.lines().last().unwrap_or_default();
        assert!(last.contains("no usable AWS credentials"), "{err}");
        assert!(last.contains("aws sso login --profile"), "{err}");
        assert!(!last.contains("VPC endpoint"), "{err}");
    }
}

/// The fleet's Athena template as `lifecycle fleet-athena` prints it,
/// written in `dir`, cfn-lint clean.
fn athena_template(dir: &std::path::Path) -> std::path::PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_nbwarden"))
        .args(["lifecycle", "fleet-athena"])
        .output()
        .expect("nbwarden");
    assert_eq!(code(&out), 0, "{}", output_text(&out));
    let path = dir.join("fleet-athena.yaml");
    std::fs::write(&path, &out.stdout).expect("write template");
    common::notebook::assert_cfn_lint_clean(&path);
    path
}

/// The rows of each named query of `template`, run on DuckDB over the
/// records under `prefix` as Athena's tables would read them
/// (tests/system/athena.py says what runs and what stands in).
fn athena_rows(template: &std::path::Path, prefix: &str) -> serde_json::Value {
    let venv = common::notebook::service("NBWARDEN_TEST_VENV");
    let out = Command::new(format!("{venv}/bin/python"))
        .arg(repo().join("tests/system/athena.py"))
        .arg(common::notebook::service("NBWARDEN_TEST_MOTO_URL"))
        .arg(template)
        .args([BUCKET, prefix])
        .output()
        .expect("python");
    assert!(out.status.success(), "{}", output_text(&out));
    common::json(&out)
}

/// What the notebook user (or a lost write) does to the records under a
/// prefix, with the notebook role's reach: `garble NB` (the latest record
/// and latest.json), `age NB DAYS` (both finished that long ago; negative:
/// in the future), `lose NB` (the latest record), `empty NB` (the latest
/// record made empty), `plant ATTACKER VICTIM` (a failing record for
/// VICTIM inside ATTACKER's history folder, where its role may write),
/// `poison NB` (a history record with a list for its exit code).
const TAMPER: &str = r#"
import boto3, datetime, json, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
bucket, prefix, op, nb = sys.argv[2:6]
where = "123456789012/us-east-1"
record = f"{prefix}/latest/{where}/{nb}.json"
report = f"{prefix}/{where}/{nb}/latest.json"
if op == "garble":
    for key in (record, report):
        s3.put_object(Bucket=bucket, Key=key, Body=b'{"exit_code": 0, "failing": [\n"sudo"]}\n')
elif op == "age":
    then = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=int(sys.argv[6]))
    stamp = then.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    for key in (record, report):
        body = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        body["finished_at"] = stamp
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(body).encode() + b"\n")
elif op == "lose":
    s3.delete_object(Bucket=bucket, Key=record)
elif op == "empty":
    s3.put_object(Bucket=bucket, Key=record, Body=b"")
elif op == "poison":
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    key = f"{prefix}/history/dt={day}/{where}/{nb}/poison.json"
    line = {"exit_code": [0], "started_at": started}
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(line).encode() + b"\n", IfNoneMatch="*")
elif op == "plant":
    victim = sys.argv[6]
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    key = f"{prefix}/history/dt={day}/{where}/{nb}/history/dt={day}/{where}/{victim}/forged.json"
    line = {"exit_code": 1, "started_at": started, "failing": ["sudo"], "notebook": victim}
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(line).encode() + b"\n", IfNoneMatch="*")
"#;

/// The named query's rows as (account, region, notebook, then `fields`),
/// with NULL as an empty text.
fn query_rows(answers: &serde_json::Value, query: &str, fields: &[&str]) -> Vec<Vec<String>> {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut rows: Vec<Vec<String>> = answers[query]
        .as_array()
        .unwrap_or_else(|| panic!("no query {query}: {answers:#}"))
        .iter()
        .map(|r| {
            ["account", "region", "notebook"]
                .iter()
                .chain(fields)
                .map(|f| text(&r[*f]))
                .collect()
        })
        .collect();
    rows.sort_by(|a, b| a[2].cmp(&b[2]));
    rows
}

system_test! {
    /// Each run also writes its one-line record for Athena. The shipped
    /// template's named queries, parsed as Trino SQL and run on DuckDB
    /// over those records as the template's tables read them, give the
    /// rows `fleet summary` gives in Rust over the same runs: not compliant
    /// now, failing since (from the history, not from what the latest
    /// record says) and without a current report. A record the notebook
    /// user planted for another notebook inside its own history folder,
    /// where its role may write, is never taken for that notebook.
    fn the_athena_queries_give_the_rows_the_fleet_summary_gives() {
        let prefix = unique("athena");
        let dir = tempfile::tempdir().expect("tmp");
        // Passing and failing: egress that must fail, to a closed port and
        // to an open one.
        let policy = |port: u16| {
            let dir = tempfile::tempdir().expect("tmp");
            let path = write_policy(
                dir.path(),
                &format!(
                    "version = 1\n[verify.egress]\nmust_fail = [\"127.0.0.1:{port}\"]\n\
                     [verify.report]\nbucket = \"{BUCKET}\"\nprefix = \"{prefix}\"\n"
                ),
            );
            (path.to_string_lossy().into_owned(), dir)
        };
        let open = TcpListener::bind("127.0.0.1:0").expect("listener");
        let closed = TcpListener::bind("127.0.0.1:0").expect("listener");
        let (passing, _p) = policy(closed.local_addr().expect("addr").port());
        drop(closed);
        let (failing, _f) = policy(open.local_addr().expect("addr").port());
        let run = |name: &str, policy: &str, want: i32| -> Report {
            let root = sandbox("al2023");
            name_notebook(root.path(), name);
            // The records are the subject here, not the credentials (the
            // other tests take them from IMDS): ten runs in a row should
            // not hang on the IMDS stand-in while the suite loads it.
            let out = run_aws(
                root.path(),
                &["verify", "--policy", policy, "--output", "json"],
                &[("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")],
            );
            assert_eq!(code(&out), want, "{name}: {}", output_text(&out));
            let report = read_report(&out);
            assert_uploaded(&report);
            report
        };
        let tamper = |args: &[&str]| {
            let mut all = vec![BUCKET, prefix.as_str()];
            all.extend_from_slice(args);
            let out = boto3(TAMPER, &all);
            assert!(out.status.success(), "{args:?}: {}", output_text(&out));
        };
        run("ath-pass", &passing, 0);
        let first = run("ath-fail", &failing, 1);
        run("ath-fail", &failing, 1);
        run("ath-fixed", &failing, 1);
        run("ath-fixed", &passing, 0);
        run("ath-garbled", &passing, 0);
        tamper(&["garble", "ath-garbled"]);
        run("ath-stale", &passing, 0);
        tamper(&["age", "ath-stale", "3"]);
        run("ath-future", &passing, 0);
        tamper(&["age", "ath-future", "-3"]);
        run("ath-lost", &passing, 0);
        tamper(&["lose", "ath-lost"]);
        run("ath-empty", &passing, 0);
        tamper(&["empty", "ath-empty"]);
        tamper(&["plant", "ath-fail", "ath-pass"]);
        tamper(&["poison", "ath-fail"]);

        let rust = rows_of(&summary(dir.path(), &prefix, &["--output", "json"]));
        let rust = rust.as_array().expect("rows");
        assert_eq!(rust.len(), 8, "one row a notebook, none for the records' folders: {rust:#?}");
        let template = athena_template(dir.path());
        let athena = athena_rows(&template, &prefix);
        let field = |r: &serde_json::Value, f: &str| match &r[f] {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        };
        let expected = |keep: &dyn Fn(&serde_json::Value) -> bool, fields: &[&str]| {
            let mut rows: Vec<Vec<String>> = rust
                .iter()
                .filter(|r| keep(r))
                .map(|r| {
                    ["account", "region", "notebook"]
                        .iter()
                        .chain(fields)
                        .map(|f| field(r, f))
                        .collect()
                })
                .collect();
            rows.sort_by(|a, b| a[2].cmp(&b[2]));
            rows
        };
        let names = |rows: &[Vec<String>]| rows.iter().map(|r| r[2].clone()).collect::<Vec<_>>();

        // Not compliant now: the failing notebook and the garbled record,
        // as `fleet summary` has them, and the two notebooks whose latest
        // record is gone or empty though they ran (their latest.json,
        // which `fleet summary` reads, is intact).
        let fields = ["exit_code", "failing", "failing_since"];
        let now = query_rows(&athena, "NotCompliantNowQuery", &fields);
        assert_eq!(
            names(&now),
            ["ath-empty", "ath-fail", "ath-garbled", "ath-lost"],
            "{athena:#}"
        );
        let no_record = |name: &str| {
            ["123456789012", "us-east-1", name, "3", "", ""].map(String::from).to_vec()
        };
        let mut want = expected(&|r| r["exit_code"] != 0, &fields);
        want.extend([no_record("ath-empty"), no_record("ath-lost")]);
        want.sort_by(|a, b| a[2].cmp(&b[2]));
        assert_eq!(now, want, "{athena:#}");

        // Failing since: from the history, the first of the failing runs;
        // the planted record makes ath-pass no failing notebook.
        let since = query_rows(&athena, "FailingSinceQuery", &["failing_since"]);
        assert_eq!(names(&since), ["ath-fail"], "{athena:#}");
        assert_eq!(since[0][3], first.started_at);
        assert_eq!(
            since,
            expected(&|r| r["exit_code"] == 1 && !r["failing_since"].is_null(), &["failing_since"]),
            "{athena:#}"
        );

        // Without a current report: the notebooks `fleet summary` shows
        // with no readable finish time, one more than a day old or more
        // than 5 minutes ahead, and those whose latest record is gone or
        // empty though their history is there.
        let not_current = |r: &serde_json::Value| {
            r["finished_at"]
                .as_str()
                .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
                .is_none_or(|t| match t.elapsed() {
                    Ok(age) => age > std::time::Duration::from_secs(86_400),
                    Err(ahead) => ahead.duration() > std::time::Duration::from_secs(300),
                })
        };
        let without = query_rows(&athena, "WithoutAReportQuery", &[]);
        let mut want = expected(&not_current, &[]);
        for name in ["ath-empty", "ath-lost"] {
            want.push(["123456789012", "us-east-1", name].map(String::from).to_vec());
        }
        want.sort_by(|a, b| a[2].cmp(&b[2]));
        assert_eq!(
            names(&without),
            ["ath-empty", "ath-future", "ath-garbled", "ath-lost", "ath-stale"],
            "{athena:#}"
        );
        assert_eq!(without, want, "{athena:#}");
        drop(open);
    }
}
