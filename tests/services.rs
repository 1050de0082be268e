//! The system tier's services answer as the real ones do, on loopback:
//! IMDSv2 only with a token (and the TTL header the Rust SDK needs), moto
//! holding the seed, jupyter_server behind its token.

#[macro_use]
mod common;

use std::process::Command;

use common::notebook::service;

fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-s", "-D", "-", "-o", "/dev/stderr", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

system_test! {
    fn imds_serves_v2_only() {
        let imds = service("NBWARDEN_TEST_IMDS_URL");
        assert!(imds.starts_with("http://127."), "loopback only: {imds}");
        let (head, _) = curl(&[&format!("{imds}/latest/meta-data/instance-id")]);
        assert!(head.starts_with("HTTP/1.0 401"), "{head}");
        let (head, token) = curl(&[
            "-X",
            "PUT",
            "-H",
            "X-aws-ec2-metadata-token-ttl-seconds: 60",
            &format!("{imds}/latest/api/token"),
        ]);
        assert!(
            head.to_ascii_lowercase()
                .contains("x-aws-ec2-metadata-token-ttl-seconds: 60"),
            "{head}"
        );
        let auth = format!("X-aws-ec2-metadata-token: {token}");
        let (head, id) = curl(&["-H", &auth, &format!("{imds}/latest/meta-data/instance-id")]);
        assert!(head.starts_with("HTTP/1.0 200"), "{head}");
        assert_eq!(id, "i-0123456789abcdef0");
        let (_, doc) = curl(&[
            "-H",
            &auth,
            &format!("{imds}/latest/dynamic/instance-identity/document"),
        ]);
        let doc: serde_json::Value = serde_json::from_str(&doc).expect("identity document");
        assert_eq!(doc["accountId"], "123456789012");
    }
}

system_test! {
    fn moto_holds_the_seed() {
        let venv = service("NBWARDEN_TEST_VENV");
        let moto = service("NBWARDEN_TEST_MOTO_URL");
        let script = r#"
import boto3, json, sys
kw = dict(endpoint_url=sys.argv[1], region_name="us-east-1",
          aws_access_key_id="testing", aws_secret_access_key="testing")
ssm = boto3.client("ssm", **kw)
sm = boto3.client("sagemaker", **kw)
s3 = boto3.client("s3", **kw)
nb = sm.describe_notebook_instance(NotebookInstanceName="nbwarden-system-test")
tags = sm.list_tags(ResourceArn=nb["NotebookInstanceArn"])["Tags"]
print(json.dumps({
  "vpc": ssm.get_parameter(Name="/nbwarden/network/vpc-id")["Parameter"]["Value"],
  "canary": ssm.get_parameter(Name="/nbwarden/secrets/canary", WithDecryption=True)["Parameter"]["Type"],
  "kms": nb["KmsKeyId"],
  "tags": {t["Key"]: t["Value"] for t in tags},
  "policy": s3.get_object(Bucket="nbwarden-bundles", Key="policies/example.toml")["Body"].read().decode(),
}))
"#;
        let out = Command::new(format!("{venv}/bin/python"))
            .args(["-c", script, &moto])
            .output()
            .expect("python");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v = common::json(&out);
        assert_eq!(v["vpc"], "vpc-0a1b2c3d4e5f67890");
        assert_eq!(v["canary"], "SecureString");
        assert_eq!(v["tags"]["NotebookOwnerEmail"], "ada@example.com");
        assert!(v["kms"].as_str().is_some_and(|k| k.contains(":key/")));
        let example = std::fs::read_to_string(common::repo().join("config/policy.example.toml"))
            .expect("example");
        assert_eq!(v["policy"], example.as_str());
    }
}

system_test! {
    fn jupyter_server_answers_behind_its_token() {
        let url = service("NBWARDEN_TEST_JUPYTER_URL");
        let token = service("NBWARDEN_TEST_JUPYTER_TOKEN");
        let (head, _) = curl(&[&format!("{url}/api/sessions")]);
        assert!(head.contains(" 403"), "{head}");
        let (head, body) = curl(&[&format!("{url}/api/sessions?token={token}")]);
        assert!(head.contains(" 200"), "{head}");
        assert_eq!(body.trim(), "[]");
    }
}
