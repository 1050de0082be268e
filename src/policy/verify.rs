//! The `[verify]` section: checks beyond nbwarden's own files, whether a
//! failure blocks the start, and where reports go for the fleet.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::values::{AbsPath, HostPort};

/// The `[verify]` section.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyPolicy {
    /// `fail` (default): a failing blocking control makes verify exit 1 and
    /// so fails the notebook's start. `warn`: everything is reported, and
    /// verify exits 0 unless it could not run at all.
    #[serde(default)]
    pub on_failure: OnFailure,
    /// World-writable files and setuid/setgid binaries in system paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<PermissionsCheck>,
    /// Nothing run as root at boot or on a schedule executes from a
    /// user-writable path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_exec: Option<BootExecCheck>,
    /// Connections that must fail, and ones that must succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<EgressCheck>,
    /// SageMaker's own settings for this notebook, from DescribeNotebookInstance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane: Option<ControlPlaneCheck>,
    /// `rpm -V` of packages (Amazon Linux); skipped on other systems.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<RpmCheck>,
    /// Upload every run's report to S3 for `nbwarden fleet summary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<ReportSink>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    #[default]
    Fail,
    Warn,
}

/// Whether a check's failure can block the start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Fails verify (with `on_failure = "fail"`).
    #[default]
    Block,
    /// Reported only.
    Warn,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionsCheck {
    /// Trees searched, without following links.
    #[serde(default = "default_permission_paths")]
    pub paths: Vec<AbsPath>,
    /// setuid/setgid files that may exist.
    #[serde(default = "default_setuid_allow")]
    pub setuid_allow: Vec<AbsPath>,
    /// The search stops (and says so) after this many seconds.
    #[serde(default = "default_time_limit")]
    pub time_limit_s: u32,
    #[serde(default)]
    pub severity: Severity,
}

fn default_permission_paths() -> Vec<AbsPath> {
    [
        "/etc",
        "/usr/local/bin",
        "/usr/local/sbin",
        "/opt/ml",
        "/usr/bin",
        "/usr/sbin",
    ]
    .iter()
    .map(|p| AbsPath::fixed(p))
    .collect()
}

fn default_setuid_allow() -> Vec<AbsPath> {
    [
        "/usr/bin/sudo",
        "/usr/bin/su",
        "/usr/bin/passwd",
        "/usr/bin/chsh",
        "/usr/bin/chfn",
        "/usr/bin/gpasswd",
        "/usr/bin/newgrp",
        "/usr/bin/mount",
        "/usr/bin/umount",
        "/usr/bin/pkexec",
        "/usr/bin/crontab",
        "/usr/bin/chage",
        "/usr/bin/expiry",
        "/usr/bin/wall",
        "/usr/bin/write",
        "/usr/bin/ssh-agent",
        "/usr/sbin/unix_chkpwd",
        "/usr/sbin/pam_timestamp_check",
        "/usr/sbin/userhelper",
        "/usr/bin/fusermount",
        "/usr/bin/fusermount3",
    ]
    .iter()
    .map(|p| AbsPath::fixed(p))
    .collect()
}

fn default_time_limit() -> u32 {
    20
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BootExecCheck {
    #[serde(default)]
    pub severity: Severity,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EgressCheck {
    /// `host:port` that must not be reachable (the public package index,
    /// public addresses).
    #[serde(default)]
    pub must_fail: Vec<HostPort>,
    /// `host:port` that must be reachable (the mirror, VPC endpoints).
    #[serde(default)]
    pub must_succeed: Vec<HostPort>,
    /// Per-connection timeout; probes run concurrently.
    #[serde(default = "default_egress_timeout")]
    pub timeout_ms: u32,
    #[serde(default)]
    pub severity: Severity,
}

fn default_egress_timeout() -> u32 {
    2000
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RpmCheck {
    /// Packages whose files must match the RPM database.
    #[serde(default = "default_rpm_packages")]
    pub packages: Vec<String>,
    #[serde(default = "default_rpm_severity")]
    pub severity: Severity,
}

fn default_rpm_packages() -> Vec<String> {
    vec![
        "sudo".into(),
        "shadow-utils".into(),
        "amazon-cloudwatch-agent".into(),
    ]
}

fn default_rpm_severity() -> Severity {
    Severity::Warn
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportSink {
    /// Reports go to s3://BUCKET/PREFIX/ACCOUNT/REGION/NOTEBOOK/TIMESTAMP.json
    /// and .../latest.json.
    pub bucket: String,
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// SSE-KMS with this key when set.
    #[serde(default)]
    pub kms_key_id: Option<String>,
}

fn default_prefix() -> String {
    "nbwarden".into()
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ControlPlaneCheck {
    /// The ML volume must use a customer-managed KMS key (`KmsKeyId`).
    #[serde(default = "yes")]
    pub require_customer_kms_key: bool,
    /// `DirectInternetAccess` must be `Disabled`.
    #[serde(default = "yes")]
    pub require_no_direct_internet: bool,
    /// `RootAccess` must be `Disabled`.
    #[serde(default)]
    pub require_root_access_disabled: bool,
    /// Tags the notebook must carry with a value, such as the owner and
    /// cost-attribution tags the users' access policy and billing read
    /// (`ListTags` on the notebook's own ARN).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_tags: Vec<String>,
    /// The subnets the notebook may sit in (`SubnetId`); empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_subnets: Vec<String>,
    /// The security groups the notebook may have; every one of its groups
    /// must be listed. Empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_security_groups: Vec<String>,
    #[serde(default)]
    pub severity: Severity,
}

fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use crate::policy::parse;

    /// A typo in an egress target used to validate and then be reported
    /// "blocked, as required": it is refused at load, where it is written.
    #[test]
    fn egress_targets_are_host_and_port_located_where_written() {
        for (target, says) in [
            ("pypi.org", "has no port"),
            ("pypi.org:99999", "is not a port"),
            ("pypi.org:0", "is not a port"),
            ("pypi .org:443", "is not a host name"),
            (":443", "is not a host name"),
        ] {
            let text = format!("version = 1\n[verify.egress]\nmust_fail = [\"{target}\"]\n");
            let e = parse(&text, "p.toml").expect_err(target);
            assert_eq!(
                (e.file.as_str(), e.line, e.column),
                ("p.toml", 3, 13),
                "{target}"
            );
            assert!(e.message.contains(says), "{target}: {}", e.message);
            assert!(e.hint.contains("pypi.org:443"), "{target}: {}", e.hint);
        }
        let ok = "version = 1\n[verify.egress]\nmust_fail = [\"pypi.org:443\", \"[2600::1]:443\"]\nmust_succeed = [\"10.0.0.5:8080\"]\n";
        let policy = parse(ok, "p.toml").expect("valid targets");
        let egress = policy.verify.egress.expect("egress");
        assert_eq!(egress.must_fail[1].as_str(), "[2600::1]:443");
    }
}
