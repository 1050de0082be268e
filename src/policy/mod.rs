//! The policy file: one TOML document, versioned, with unknown keys rejected.
//!
//! The Rust types here are the single source of truth: the parser, the JSON
//! Schema (`nbwarden policy schema`) and the README's reference all follow
//! them. Validation happens while deserializing (newtypes with `try_from`),
//! so every error carries the position of the offending value.

mod load;
mod packages;
mod values;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use load::{LoadedPolicy, PolicyError, load_file, parse};
pub use packages::{
    Channel, CondaPolicy, MirrorUrl, OnOverride, PackagesPolicy, PipPolicy, ProbeMode, SslVerify,
};
pub use values::{
    AbsPath, AccountName, AllowedCommand, Identifier, PolicyVersion, ValueKind, VariableValue,
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
    /// Strip sudo and root-equivalent groups from the user, and prove it
    /// with sudo itself. Absent: the `sudo` control is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sudo: Option<SudoPolicy>,
    /// Point pip and conda at the private mirror, for every environment.
    /// Absent: the `packages` control is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<PackagesPolicy>,
    /// Variables (network, KMS, buckets) written to root-owned files that
    /// notebooks import. Absent: the `variables` control is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<VariablesPolicy>,
}

fn default_user() -> AccountName {
    AccountName::notebook_default()
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
pub const DEFAULT_STRIP_GROUPS: &[&str] =
    &["wheel", "sudo", "admin", "docker", "lxd", "disk", "root"];

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
    pub json_path: AbsPath,
    /// Root-owned directory that holds the generated Python module.
    #[serde(default = "default_python_dir")]
    pub python_dir: AbsPath,
    /// Name of the generated Python module (`import NAME`).
    #[serde(default = "default_python_module")]
    pub python_module: Identifier,
    /// Shell file that exports every variable to login shells.
    #[serde(default = "default_profile_path")]
    pub profile_path: AbsPath,
    /// The variables, by name. Names are upper-case identifiers.
    #[serde(default)]
    pub values: BTreeMap<Identifier, Variable>,
}

fn default_json_path() -> AbsPath {
    AbsPath::fixed("/etc/nbwarden/variables.json")
}
fn default_python_dir() -> AbsPath {
    AbsPath::fixed("/usr/local/lib/nbwarden/python")
}
fn default_python_module() -> Identifier {
    Identifier::fixed("sagemaker_environment")
}
fn default_profile_path() -> AbsPath {
    AbsPath::fixed("/etc/profile.d/nbwarden-variables.sh")
}

/// One variable: where its value comes from and what it must look like.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, try_from = "RawVariable")]
pub struct Variable {
    /// A literal value: a string, or a list of strings.
    pub value: VariableValue,
    /// What the value must look like; checked before anything is written.
    #[serde(default)]
    pub kind: ValueKind,
}

/// One variable: where its value comes from and what it must look like.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Variable")]
struct RawVariable {
    /// A literal value: a string, or a list of strings.
    value: VariableValue,
    /// What the value must look like; checked before anything is written.
    #[serde(default)]
    kind: ValueKind,
}

impl TryFrom<RawVariable> for Variable {
    type Error = String;
    fn try_from(raw: RawVariable) -> Result<Self, String> {
        for item in raw.value.items() {
            raw.kind.check(item)?;
        }
        Ok(Variable {
            value: raw.value,
            kind: raw.kind,
        })
    }
}

impl Policy {
    /// The JSON Schema of the policy, as printed by `nbwarden policy schema`.
    pub fn json_schema() -> String {
        let schema = schemars::schema_for!(Policy);
        // Serializing a schema built from our own types cannot fail.
        let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
        text.push('\n');
        text
    }
}
