//! Fleet reports in S3 (moto): uploads with SSE-KMS and failing-since, a
//! failed upload that changes no verdict, and a summary over more than a
//! thousand notebooks (several pages).

mod common;

use std::net::TcpListener;

use common::notebook::{boto3, run_aws};
use common::*;

const BUCKET: &str = "nbwarden-reports";

#[test]
#[cfg_attr(
    not(feature = "system-tier"),
    ignore = "system tier: needs root, the loopback services and the static binary (scripts/test)"
)]
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

#[test]
#[cfg_attr(
    not(feature = "system-tier"),
    ignore = "system tier: needs root, the loopback services and the static binary (scripts/test)"
)]
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

#[test]
#[cfg_attr(
    not(feature = "system-tier"),
    ignore = "system tier: needs root, the loopback services and the static binary (scripts/test)"
)]
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

    let out = run_aws(
        root.path(),
        &[
            "fleet", "summary", "--bucket", BUCKET, "--prefix", &prefix, "--output", "json",
        ],
        &[],
    );
    assert_eq!(code(&out), 1, "some notebooks fail: {}", stderr(&out));
    let rows: Vec<nbwarden::fleet::Row> = serde_json::from_slice(&out.stdout).expect("fleet rows");
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

    let table = run_aws(
        root.path(),
        &["fleet", "summary", "--bucket", BUCKET, "--prefix", &prefix],
        &[],
    );
    assert!(
        stdout(&table).contains("1100 notebook(s), 100 not compliant"),
        "{}",
        stdout(&table)
    );
}
