//! The golden bundle as a platform team publishes it: built by
//! `scripts/bundle` around the static binary, uploaded to moto's S3 with a
//! policy, and its `on-start.sh` rendered to fetch from there.

use std::path::Path;
use std::process::Command;

use super::notebook::{boto3, service};
use super::{output_text, repo};

const UPLOAD: &str = r#"
import boto3, os, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
root, prefix = sys.argv[2], sys.argv[3]
for d, _, files in os.walk(root):
    for f in files:
        path = os.path.join(d, f)
        s3.upload_file(path, "nbwarden-bundles", prefix + "/" + os.path.relpath(path, root))
if len(sys.argv) > 4:
    s3.put_object(Bucket="nbwarden-bundles", Key=prefix + "/bin/nbwarden-x86_64", Body=sys.argv[4].encode())
"#;

/// What to publish and how to render the script.
pub struct Publish<'a> {
    /// The bundle's S3 prefix (unique per test).
    pub prefix: &'a str,
    /// The policy uploaded as `policy.toml` beside the binaries.
    pub policy: &'a str,
    /// Replaces the uploaded binary with these bytes (the sha256 rendered
    /// into the script stays the real one's).
    pub tamper: Option<&'a str>,
    /// Where the script's AWS CLI finds S3 (default: moto).
    pub s3_endpoint: Option<&'a str>,
    /// More `lifecycle render` arguments (`--start-budget 30s`).
    pub render_args: &'a [&'a str],
}

impl<'a> Publish<'a> {
    pub fn new(prefix: &'a str, policy: &'a str) -> Self {
        Publish {
            prefix,
            policy,
            tamper: None,
            s3_endpoint: None,
            render_args: &[],
        }
    }

    /// Uploads the bundle with the policy and renders; returns `on-start.sh`.
    pub fn run(&self) -> String {
        let dir = tempfile::tempdir().expect("tmp");
        let uri = format!("s3://nbwarden-bundles/{}", self.prefix);
        let root = dir.path().join("nbwarden-0.1.0");
        copy_tree(built(), &root);
        std::fs::write(root.join("policy.toml"), self.policy).expect("policy");
        let mut args = vec![root.to_string_lossy().into_owned(), self.prefix.to_string()];
        if let Some(t) = self.tamper {
            args.push(t.to_string());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let up = boto3(UPLOAD, &args);
        assert!(up.status.success(), "{}", output_text(&up));
        let endpoint = self
            .s3_endpoint
            .map(str::to_string)
            .unwrap_or_else(|| service("NBWARDEN_TEST_MOTO_URL"));
        let rendered = Command::new(env!("CARGO_BIN_EXE_nbwarden"))
            .args(["lifecycle", "render", "--bundle", &uri, "--checksums"])
            .arg(root.join("SHA256SUMS"))
            .args(["--s3-endpoint-url", &endpoint])
            .args(self.render_args)
            .arg("--out")
            .arg(dir.path())
            .output()
            .expect("render");
        assert!(rendered.status.success(), "{}", output_text(&rendered));
        std::fs::read_to_string(dir.path().join("on-start.sh")).expect("on-start.sh")
    }
}

/// The bundle, built once per test process (`scripts/bundle` around the
/// static binary) and unpacked; every test uploads its own copy. Its
/// rendered `lifecycle/` names the first location only: tests render
/// their own `on-start.sh`.
fn built() -> &'static Path {
    static BUILT: std::sync::OnceLock<(tempfile::TempDir, std::path::PathBuf)> =
        std::sync::OnceLock::new();
    let (_, root) = BUILT.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tmp");
        let bin = std::env::var("NBWARDEN_STATIC_BIN").expect("NBWARDEN_STATIC_BIN");
        let out = Command::new(repo().join("scripts/bundle"))
            .arg("s3://nbwarden-bundles/built")
            .arg(dir.path())
            .arg(format!("x86_64={bin}"))
            .output()
            .expect("bundle");
        assert!(out.status.success(), "{}", output_text(&out));
        let tarball = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            Command::new("tar")
                .args(["xzf", &tarball, "-C"])
                .arg(dir.path())
                .status()
                .expect("tar")
                .success()
        );
        let root = dir.path().join("nbwarden-0.1.0");
        (dir, root)
    });
    root
}

fn copy_tree(from: &Path, to: &Path) {
    let ok = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp")
        .success();
    assert!(ok, "copying the bundle");
}

/// The example policy, as the bundle ships it.
pub fn example_policy() -> String {
    std::fs::read_to_string(Path::new(super::example_policy_path())).expect("example policy")
}
