//! The `[monitoring]` section: what `nbwarden monitor` does every interval.

use std::borrow::Cow;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::packages::MirrorUrl;
use super::values::{AbsPath, HINT};

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

/// A duration written for people: "90s", "45m", "2h".
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct HumanDuration(String, Duration);

impl HumanDuration {
    pub fn duration(&self) -> Duration {
        self.1
    }
}

impl TryFrom<String> for HumanDuration {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match humantime::parse_duration(&s) {
            Ok(d) if !d.is_zero() => Ok(HumanDuration(s, d)),
            _ => Err(format!(
                "{s:?} is not a duration{HINT}write it like \"90m\" or \"2h\""
            )),
        }
    }
}

impl From<HumanDuration> for String {
    fn from(d: HumanDuration) -> String {
        d.0
    }
}

impl JsonSchema for HumanDuration {
    fn schema_name() -> Cow<'static, str> {
        "HumanDuration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "examples": ["90m", "2h"] })
    }
}
