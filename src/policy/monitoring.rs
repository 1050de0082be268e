//! The `[monitoring]` section: what `nbwarden monitor` does every interval.

use std::borrow::Cow;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::values::{AbsPath, HINT, HumanDuration, MirrorUrl};

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitoringPolicy {
    /// Seconds between two rounds of `nbwarden monitor`.
    #[serde(default = "default_interval")]
    pub interval_s: u32,
    /// Seconds between two drift re-checks (a full verify, probes included).
    #[serde(default = "default_drift_every")]
    pub drift_every_s: u32,
    /// Re-apply the policy when a round finds drift (else only report it).
    #[serde(default)]
    pub reapply: bool,
    /// CloudWatch embedded-metric-format lines are appended here.
    #[serde(default = "default_metrics_file")]
    pub metrics_file: AbsPath,
    /// The CloudWatch namespace of the metrics.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Stop the notebook when it has been idle long enough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle: Option<IdlePolicy>,
    /// Agents (security, logs, APM) installed from a pinned download on
    /// every start, by the `agents` control.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<AgentPackage>,
    /// Metrics the CloudWatch agent publishes, appended to SageMaker's own
    /// agent configuration by the `cloudwatch` control.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudwatch: Option<CloudWatchPolicy>,
}

/// One `[[monitoring.packages]]` entry.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(try_from = "RawAgentPackage", into = "RawAgentPackage")]
#[schemars(with = "RawAgentPackage")]
pub struct AgentPackage {
    pub name: PackageName,
    pub source: DownloadSource,
    pub sha256: Sha256Hex,
    pub kind: PackageKind,
    /// The name the distribution's package database knows (deb, rpm).
    pub package: PackageName,
    /// Where a tar.gz is unpacked (tar.gz only).
    pub install_dir: Option<AbsPath>,
    pub service: Option<UnitName>,
    pub max_bytes: u64,
    pub install_timeout: Duration,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAgentPackage {
    /// A short name for reports and nbwarden's install receipt.
    pub name: PackageName,
    /// `s3://BUCKET/KEY`, or an `https://` URL on the internal mirror.
    pub source: DownloadSource,
    /// The sha256 of the file; anything else is refused before installing.
    pub sha256: Sha256Hex,
    /// `deb`, `rpm`, or `tar.gz` (unpacked into `install_dir`).
    pub kind: PackageKind,
    /// The distribution's name of the package [default: `name`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<PackageName>,
    /// Where a `tar.gz` is unpacked; required for tar.gz, refused otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_dir: Option<AbsPath>,
    /// A systemd unit to enable (and start, when systemd runs) after install.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<UnitName>,
    /// Downloads larger than this many MiB are refused [default: 512].
    #[serde(default = "default_max_mb")]
    pub max_mb: u32,
    /// Download and install must fit in this; when less of the run's
    /// deadline is left, the install is handed to `nbwarden-agents.service`.
    #[serde(default = "default_install_timeout")]
    pub install_timeout: HumanDuration,
}

fn default_max_mb() -> u32 {
    512
}
fn default_install_timeout() -> HumanDuration {
    HumanDuration::fixed("120s", Duration::from_secs(120))
}

impl TryFrom<RawAgentPackage> for AgentPackage {
    type Error = String;
    fn try_from(raw: RawAgentPackage) -> Result<Self, String> {
        match (raw.kind, &raw.install_dir) {
            (PackageKind::TarGz, None) => {
                return Err(format!(
                    "package {:?} is a tar.gz without install_dir{HINT}add install_dir = \"/opt/NAME\"",
                    raw.name.0
                ));
            }
            (PackageKind::Deb | PackageKind::Rpm, Some(_)) => {
                return Err(format!(
                    "package {:?}: install_dir is only for tar.gz{HINT}a deb or rpm installs \
                     where its own files say; remove install_dir",
                    raw.name.0
                ));
            }
            _ => {}
        }
        if raw.max_mb == 0 {
            return Err(format!(
                "package {:?}: max_mb must be at least 1",
                raw.name.0
            ));
        }
        Ok(AgentPackage {
            package: raw.package.unwrap_or_else(|| raw.name.clone()),
            name: raw.name,
            source: raw.source,
            sha256: raw.sha256,
            kind: raw.kind,
            install_dir: raw.install_dir,
            service: raw.service,
            max_bytes: u64::from(raw.max_mb) * 1024 * 1024,
            install_timeout: raw.install_timeout.duration(),
        })
    }
}

impl From<AgentPackage> for RawAgentPackage {
    fn from(p: AgentPackage) -> Self {
        RawAgentPackage {
            package: (p.package != p.name).then_some(p.package),
            name: p.name,
            source: p.source,
            sha256: p.sha256,
            kind: p.kind,
            install_dir: p.install_dir,
            service: p.service,
            max_mb: (p.max_bytes / (1024 * 1024)) as u32,
            install_timeout: HumanDuration::fixed(
                &humantime::format_duration(p.install_timeout).to_string(),
                p.install_timeout,
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum PackageKind {
    #[serde(rename = "deb")]
    Deb,
    #[serde(rename = "rpm")]
    Rpm,
    #[serde(rename = "tar.gz")]
    TarGz,
}

impl PackageKind {
    pub fn extension(self) -> &'static str {
        match self {
            PackageKind::Deb => "deb",
            PackageKind::Rpm => "rpm",
            PackageKind::TarGz => "tar.gz",
        }
    }
}

/// The `[monitoring.cloudwatch]` section.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudWatchPolicy {
    /// The CloudWatch namespace [default: monitoring.namespace].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// What to collect: any of "cpu", "mem", "disk", "gpu".
    #[serde(default = "default_metrics")]
    pub metrics: Vec<CloudWatchMetric>,
    /// Mount points whose use is published (disk).
    #[serde(default = "default_disks")]
    pub disks: Vec<MountPoint>,
    /// Seconds between two samples.
    #[serde(default = "default_interval")]
    pub interval_s: u32,
    /// Where the agent is installed.
    #[serde(default = "default_agent_dir")]
    pub agent_dir: AbsPath,
    /// Fail verify unless another configuration (SageMaker's log shipping)
    /// sits beside ours.
    #[serde(default = "default_true")]
    pub require_sagemaker_config: bool,
}

fn default_metrics() -> Vec<CloudWatchMetric> {
    vec![
        CloudWatchMetric::Cpu,
        CloudWatchMetric::Mem,
        CloudWatchMetric::Disk,
    ]
}
fn default_disks() -> Vec<MountPoint> {
    vec![
        MountPoint("/".into()),
        MountPoint("/home/ec2-user/SageMaker".into()),
    ]
}

/// `/` or an absolute path.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct MountPoint(String);

impl MountPoint {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MountPoint {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s == "/" {
            return Ok(MountPoint(s));
        }
        AbsPath::try_from(s.clone()).map(|_| MountPoint(s))
    }
}

impl From<MountPoint> for String {
    fn from(m: MountPoint) -> String {
        m.0
    }
}

impl JsonSchema for MountPoint {
    fn schema_name() -> Cow<'static, str> {
        "MountPoint".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": "^/" })
    }
}
fn default_agent_dir() -> AbsPath {
    AbsPath::fixed("/opt/aws/amazon-cloudwatch-agent")
}
fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CloudWatchMetric {
    Cpu,
    Mem,
    Disk,
    Gpu,
}

/// Lower-case letters, digits and `.+-_`, as Debian and RPM package names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct PackageName(String);

const PACKAGE_NAME_PATTERN: &str = "^[a-z0-9][a-z0-9.+_-]{0,63}$";

impl PackageName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PackageName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let mut chars = s.chars();
        let ok = s.len() <= 64
            && chars
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".+_-".contains(c));
        if ok {
            Ok(PackageName(s))
        } else {
            Err(format!(
                "invalid package name {s:?}{HINT}names match {PACKAGE_NAME_PATTERN}, \
                 for example \"falcon-sensor\""
            ))
        }
    }
}

impl From<PackageName> for String {
    fn from(n: PackageName) -> String {
        n.0
    }
}

impl JsonSchema for PackageName {
    fn schema_name() -> Cow<'static, str> {
        "PackageName".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": PACKAGE_NAME_PATTERN })
    }
}

/// A systemd unit name such as `falcon-sensor` or `datadog-agent.service`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct UnitName(String);

const UNIT_NAME_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9:_.@-]{0,200}$";

impl UnitName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for UnitName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let mut chars = s.chars();
        let ok = s.len() <= 200
            && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
            && chars.all(|c| c.is_ascii_alphanumeric() || ":_.@-".contains(c));
        if ok {
            Ok(UnitName(s))
        } else {
            Err(format!(
                "invalid unit name {s:?}{HINT}write the systemd unit, e.g. \"falcon-sensor.service\""
            ))
        }
    }
}

impl From<UnitName> for String {
    fn from(n: UnitName) -> String {
        n.0
    }
}

impl JsonSchema for UnitName {
    fn schema_name() -> Cow<'static, str> {
        "UnitName".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": UNIT_NAME_PATTERN })
    }
}

/// A sha256 digest in hex.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256Hex(String);

impl Sha256Hex {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Sha256Hex {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()) {
            Ok(Sha256Hex(s.to_ascii_lowercase()))
        } else {
            Err(format!(
                "{s:?} is not a sha256{HINT}write the 64 hex digits `sha256sum FILE` prints"
            ))
        }
    }
}

impl From<Sha256Hex> for String {
    fn from(h: Sha256Hex) -> String {
        h.0
    }
}

impl JsonSchema for Sha256Hex {
    fn schema_name() -> Cow<'static, str> {
        "Sha256Hex".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": "^[0-9a-fA-F]{64}$" })
    }
}

/// Where a download comes from: `s3://BUCKET/KEY` or an http(s) URL.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub enum DownloadSource {
    S3 { bucket: String, key: String },
    Url(url::Url),
}

impl TryFrom<String> for DownloadSource {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if let Some(rest) = s.strip_prefix("s3://") {
            return match rest.split_once('/') {
                Some((b, k)) if !b.is_empty() && !k.is_empty() && !k.ends_with('/') => {
                    Ok(DownloadSource::S3 {
                        bucket: b.into(),
                        key: k.into(),
                    })
                }
                _ => Err(format!("{s:?} names no object{HINT}write s3://BUCKET/KEY")),
            };
        }
        match url::Url::parse(&s) {
            Ok(u) if matches!(u.scheme(), "https" | "http") && u.host().is_some() => {
                Ok(DownloadSource::Url(u))
            }
            _ => Err(format!(
                "{s:?} is not a download source{HINT}write s3://BUCKET/KEY or \
                 https://mirror.example/agents/FILE"
            )),
        }
    }
}

impl From<DownloadSource> for String {
    fn from(d: DownloadSource) -> String {
        d.to_string()
    }
}

impl std::fmt::Display for DownloadSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DownloadSource::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
            DownloadSource::Url(u) => write!(f, "{u}"),
        }
    }
}

impl JsonSchema for DownloadSource {
    fn schema_name() -> Cow<'static, str> {
        "DownloadSource".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": "^(s3|https?)://" })
    }
}

fn default_interval() -> u32 {
    60
}
fn default_drift_every() -> u32 {
    900
}
fn default_metrics_file() -> AbsPath {
    AbsPath::fixed("/var/log/nbwarden/metrics.log")
}
fn default_namespace() -> String {
    "nbwarden/Notebooks".into()
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdlePolicy {
    /// How long without activity (kernels, terminals, the server) counts as
    /// idle, e.g. "1h" or "90m". Compared in UTC.
    pub after: HumanDuration,
    /// Jupyter's address [default: https://localhost:8443]. A self-signed
    /// certificate is accepted only for loopback addresses.
    #[serde(default)]
    pub jupyter_url: Option<MirrorUrl>,
    /// A root-only file holding Jupyter's token, when it needs one.
    #[serde(default)]
    pub token_file: Option<AbsPath>,
    /// Not idle while the CPU is busier than this (a training process
    /// outside Jupyter).
    #[serde(default)]
    pub cpu_below_percent: Option<f32>,
    /// Not idle while any GPU is busier than this.
    #[serde(default)]
    pub gpu_below_percent: Option<f32>,
    /// Say what would be done; never stop.
    #[serde(default)]
    pub dry_run: bool,
}

/// SageMaker's Jupyter.
pub const DEFAULT_JUPYTER_URL: &str = "https://localhost:8443";
