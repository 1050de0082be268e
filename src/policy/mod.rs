//! The policy file: one TOML document, versioned, with unknown keys rejected.
//!
//! The Rust types here are the single source of truth: the parser, the JSON
//! Schema (`nbwarden policy schema`) and the README's reference all follow
//! them. Validation happens while deserializing (newtypes with `try_from`),
//! so every error carries the position of the offending value.

mod governance;
mod load;
mod monitoring;
mod packages;
mod service;
mod source;
mod tailoring;
mod values;
mod verify;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use governance::{GovernancePolicy, JobCondition, UngovernedAction};
pub use load::{LoadError, LoadedPolicy, PolicyError, from_bytes, parse};
pub use monitoring::{
    AgentPackage, CloudWatchMetric, CloudWatchPolicy, DEFAULT_JUPYTER_URL, DownloadSource,
    IdlePolicy, MonitoringPolicy, PackageKind,
};
pub use packages::{
    Channel, CodeArtifactPolicy, CondaPolicy, Enforce, OnOverride, PackagesPolicy, PipPolicy,
    ProbeMode, SslVerify,
};
pub use service::{DEFAULT_VERIFY_EVERY, ServicePolicy};
pub use source::{DEFAULT_POLICY, PolicySource, resolve as resolve_source};
pub use tailoring::{CredentialHelper, EnvValue, EnvironmentPolicy, GitPolicy, JupyterPolicy};
pub use values::{
    AbsPath, AccountName, AllowedCommand, HINT, HostPort, HumanDuration, Identifier, MirrorUrl,
    PolicyVersion, RootPath, ValueKind, VariableValue,
};
pub use verify::{
    BootExecCheck, ControlPlaneCheck, EgressCheck, OnFailure, PermissionsCheck, ReportSink,
    RpmCheck, Severity, VerifyPolicy,
};

/// An nbwarden policy (format version 1).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "nbwarden policy")]
pub struct Policy {
    /// Format version of this file. This nbwarden reads version 1.
    pub version: PolicyVersion,
    /// The notebook user that the controls restrict and serve.
    #[serde(default = "default_user")]
    pub user: AccountName,
    /// The base conda install (owned by the notebook user).
    #[serde(default = "default_conda_root")]
    pub conda_root: AbsPath,
    /// Directories searched (3 levels deep) for more Python environments,
    /// such as persistent ones on the ML volume.
    #[serde(default = "default_env_search")]
    pub env_search: Vec<AbsPath>,
    /// Strip sudo and root-equivalent groups from the user, and prove it
    /// with sudo itself. Absent: the `sudo` control is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sudo: Option<SudoPolicy>,
    /// Point pip and conda at the private mirror, for every environment.
    /// Absent: the `packages` control is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<PackagesPolicy>,
    /// The system git configuration: credential helper, committer from
    /// the notebook's tags, safe directories. Absent: the `git` control is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitPolicy>,
    /// Variables (literals, notebook tags) for users' shells and kernels.
    /// Absent: the `environment` control is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<EnvironmentPolicy>,
    /// Jupyter Server's configuration: terminals, kernel culling, uploads,
    /// origins. Absent: the `jupyter` control is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jupyter: Option<JupyterPolicy>,
    /// What `nbwarden monitor` does: metrics, drift re-checks, idle auto-stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<MonitoringPolicy>,
    /// Checks beyond nbwarden's own files, fail-closed behaviour and the
    /// fleet report. Absent: only the controls above are verified.
    #[serde(default)]
    pub verify: VerifyPolicy,
    /// Variables (network, KMS, buckets) written to root-owned files that
    /// notebooks import. Absent: the `variables` control is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<VariablesPolicy>,
    /// nbwarden's own systemd units: the drift-check timer, the monitor
    /// and the token refresh, installed and started by `apply`. Absent:
    /// the `service` control is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServicePolicy>,
    /// What the notebook role's guardrail requires of the jobs, models and
    /// endpoints a notebook creates (`lifecycle notebook-stack`), and what
    /// `fleet summary --cross-check` flags. The instance never reads it.
    #[serde(default)]
    pub governance: GovernancePolicy,
}

fn default_user() -> AccountName {
    AccountName::notebook_default()
}

fn default_conda_root() -> AbsPath {
    AbsPath::fixed("/home/ec2-user/anaconda3")
}

fn default_env_search() -> Vec<AbsPath> {
    vec![AbsPath::fixed("/home/ec2-user/SageMaker")]
}

/// The `[sudo]` section.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SudoPolicy {
    /// Groups that make the user root-equivalent; the user is removed from
    /// each. Any other group that a sudoers rule grants through is removed too.
    #[serde(default = "default_strip_groups")]
    pub strip_groups: Vec<AccountName>,
    /// Keep the user in `docker` (for rootless Docker setups that need it),
    /// even when `docker` is in `strip_groups`.
    #[serde(default)]
    pub keep_docker: bool,
    /// Commands the user may still run as root without a password, exactly
    /// as written (absolute path and arguments).
    #[serde(default)]
    pub allow: Vec<AllowedCommand>,
}

/// wheel, sudo, admin: the sudo groups of Amazon Linux, Debian and Ubuntu.
/// docker, lxd: their sockets start root containers that mount `/`.
/// disk: raw block devices, so every file. root: group-writable root files.
/// adm, systemd-journal: every log, where tokens and other users' commands
/// land. shadow: every password hash, to crack offline.
pub const DEFAULT_STRIP_GROUPS: &[&str] = &[
    "wheel",
    "sudo",
    "admin",
    "docker",
    "lxd",
    "disk",
    "root",
    "adm",
    "systemd-journal",
    "shadow",
];

fn default_strip_groups() -> Vec<AccountName> {
    DEFAULT_STRIP_GROUPS
        .iter()
        .filter_map(|g| AccountName::try_from(g.to_string()).ok())
        .collect()
}

/// The `[variables]` section.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VariablesPolicy {
    /// Canonical JSON copy of every variable.
    #[serde(default = "default_json_path")]
    pub json_path: RootPath,
    /// Root-owned directory that holds the generated Python module.
    #[serde(default = "default_python_dir")]
    pub python_dir: RootPath,
    /// Name of the generated Python module (`import NAME`).
    #[serde(default = "default_python_module")]
    pub python_module: Identifier,
    /// Shell file that exports every variable to login shells.
    #[serde(default = "default_profile_path")]
    pub profile_path: RootPath,
    /// The variables, by name. Names are upper-case identifiers.
    #[serde(default)]
    pub values: BTreeMap<Identifier, Variable>,
}

fn default_json_path() -> RootPath {
    RootPath::fixed("/etc/nbwarden/variables.json")
}
fn default_python_dir() -> RootPath {
    RootPath::fixed("/usr/local/lib/nbwarden/python")
}
fn default_python_module() -> Identifier {
    Identifier::fixed("sagemaker_environment")
}
fn default_profile_path() -> RootPath {
    RootPath::fixed("/etc/profile.d/nbwarden-variables.sh")
}

/// One variable: where its value comes from and what it must look like.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(try_from = "RawVariable", into = "RawVariable")]
#[schemars(with = "RawVariable")]
pub struct Variable {
    pub source: VariableSource,
    pub kind: ValueKind,
    pub secret: bool,
}

/// Where a variable's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariableSource {
    Literal(VariableValue),
    /// One SSM parameter (a `StringList` becomes a list).
    Ssm(String),
    /// Every SSM parameter below a path, as a table of name to value.
    SsmPath(String),
    Fact(Fact),
    /// A field of this notebook's DescribeNotebookInstance.
    Notebook(NotebookField),
    /// A tag of this notebook (ListTags on the resource metadata's ARN).
    Tag(String),
}

/// A field of DescribeNotebookInstance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum NotebookField {
    SubnetId,
    /// A list.
    SecurityGroups,
    KmsKeyId,
    DirectInternetAccess,
    RootAccess,
    RoleArn,
    InstanceType,
}

impl NotebookField {
    pub fn key(self) -> &'static str {
        match self {
            NotebookField::SubnetId => "SubnetId",
            NotebookField::SecurityGroups => "SecurityGroups",
            NotebookField::KmsKeyId => "KmsKeyId",
            NotebookField::DirectInternetAccess => "DirectInternetAccess",
            NotebookField::RootAccess => "RootAccess",
            NotebookField::RoleArn => "RoleArn",
            NotebookField::InstanceType => "InstanceType",
        }
    }
}

/// A fact about this notebook instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Fact {
    /// The AWS region (from the resource metadata ARN, else the SDK).
    Region,
    /// The AWS account id (from the resource metadata ARN).
    Account,
    /// The notebook instance's name (resource metadata).
    NotebookName,
    /// The notebook instance's ARN (resource metadata).
    NotebookArn,
    /// The EC2 instance id (IMDSv2).
    InstanceId,
}

/// One variable: exactly one of `value`, `ssm`, `ssm_path`, `fact`,
/// `notebook`, `tag`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Variable")]
pub struct RawVariable {
    /// A literal value: a string, or a list of strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<VariableValue>,
    /// An SSM parameter name, read at every start by the instance role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssm: Option<String>,
    /// An SSM path: every parameter below it, as a table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssm_path: Option<String>,
    /// A fact about the instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fact: Option<Fact>,
    /// A field of DescribeNotebookInstance for this notebook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notebook: Option<NotebookField>,
    /// A tag of this notebook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// What the value must look like; checked before anything is written.
    #[serde(default)]
    pub kind: ValueKind,
    /// The value is secret (a SecureString is refused without this): it goes
    /// only to a file readable by root and the notebook user's group, never
    /// to the world-readable outputs, reports or logs.
    #[serde(default)]
    pub secret: bool,
}

fn ssm_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 2048
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '.' | '-'))
}

impl TryFrom<RawVariable> for Variable {
    type Error = String;
    fn try_from(raw: RawVariable) -> Result<Self, String> {
        let sources = [
            raw.value.is_some(),
            raw.ssm.is_some(),
            raw.ssm_path.is_some(),
            raw.fact.is_some(),
            raw.notebook.is_some(),
            raw.tag.is_some(),
        ];
        if sources.iter().filter(|s| **s).count() != 1 {
            return Err(format!(
                "a variable needs exactly one source{}set one of `value`, `ssm`, `ssm_path`, `fact`, `notebook`, `tag`",
                values::HINT
            ));
        }
        let source = if let Some(v) = raw.value {
            if raw.secret {
                return Err(format!(
                    "a literal in the policy file is not a secret{}keep secrets in SSM as a \
                     SecureString and use `ssm` with `secret = true`",
                    values::HINT
                ));
            }
            for item in v.items() {
                raw.kind.check(item)?;
            }
            VariableSource::Literal(v)
        } else if let Some(name) = raw.ssm {
            if !ssm_name_ok(&name) {
                return Err(format!(
                    "invalid SSM parameter name {name:?}{}use letters, digits, `/_.-`",
                    values::HINT
                ));
            }
            VariableSource::Ssm(name)
        } else if let Some(path) = raw.ssm_path {
            if !path.starts_with('/') || !ssm_name_ok(&path) {
                return Err(format!(
                    "invalid SSM path {path:?}{}paths start with `/`",
                    values::HINT
                ));
            }
            VariableSource::SsmPath(path)
        } else if let Some(field) = raw.notebook {
            VariableSource::Notebook(field)
        } else if let Some(tag) = raw.tag {
            VariableSource::Tag(tag)
        } else {
            VariableSource::Fact(raw.fact.unwrap_or(Fact::Region))
        };
        Ok(Variable {
            source,
            kind: raw.kind,
            secret: raw.secret,
        })
    }
}

impl From<Variable> for RawVariable {
    fn from(v: Variable) -> RawVariable {
        let mut raw = RawVariable {
            value: None,
            ssm: None,
            ssm_path: None,
            fact: None,
            notebook: None,
            tag: None,
            kind: v.kind,
            secret: v.secret,
        };
        match v.source {
            VariableSource::Literal(x) => raw.value = Some(x),
            VariableSource::Ssm(x) => raw.ssm = Some(x),
            VariableSource::SsmPath(x) => raw.ssm_path = Some(x),
            VariableSource::Fact(x) => raw.fact = Some(x),
            VariableSource::Notebook(x) => raw.notebook = Some(x),
            VariableSource::Tag(x) => raw.tag = Some(x),
        }
        raw
    }
}

/// Removes the `null` alternative schemars gives every optional field:
/// TOML has no null, and an `anyOf` wrapper makes generic validators report
/// only "not valid under any of the given schemas" instead of the wrong leaf.
fn without_null(schema: &mut serde_json::Value) {
    use serde_json::Value;
    match schema {
        Value::Object(map) => {
            if let Some(Value::Array(alternatives)) = map.get("anyOf") {
                let rest: Vec<Value> = alternatives
                    .iter()
                    .filter(|a| a.get("type") != Some(&Value::from("null")))
                    .cloned()
                    .collect();
                if rest.len() == 1 && rest.len() < alternatives.len() {
                    map.remove("anyOf");
                    if let Value::Object(only) = &rest[0] {
                        for (k, v) in only {
                            map.entry(k.clone()).or_insert_with(|| v.clone());
                        }
                    }
                }
            }
            if let Some(Value::Array(types)) = map.get("type") {
                let rest: Vec<Value> = types
                    .iter()
                    .filter(|t| *t != &Value::from("null"))
                    .cloned()
                    .collect();
                if rest.len() == 1 {
                    map.insert("type".into(), rest[0].clone());
                }
            }
            if map.get("default") == Some(&Value::Null) {
                map.remove("default");
            }
            map.values_mut().for_each(without_null);
        }
        Value::Array(items) => items.iter_mut().for_each(without_null),
        _ => {}
    }
}

impl Policy {
    /// The JSON Schema of the policy, as printed by `nbwarden policy schema`.
    pub fn json_schema() -> String {
        let schema = schemars::schema_for!(Policy);
        let mut value = schema.to_value();
        without_null(&mut value);
        // Serializing a schema built from our own types cannot fail.
        let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
        text.push('\n');
        text
    }
}
