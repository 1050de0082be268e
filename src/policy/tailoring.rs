//! `[git]` and `[jupyter]`: what admins add to lifecycle scripts beyond
//! the basics.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::values::HumanDuration;
use super::values::{AbsPath, HINT, RootPath};

/// The `[git]` section: the system git configuration (`git config --system`).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GitPolicy {
    /// `codecommit` (the AWS CLI's CodeCommit helper, with UseHttpPath),
    /// `none`, or a helper command line used as written.
    #[serde(default)]
    pub credential_helper: CredentialHelper,
    /// The notebook tag holding the committer's name (absent tag: no name).
    #[serde(default = "default_name_tag")]
    pub user_name_tag: String,
    /// The notebook tag holding the committer's email.
    #[serde(default = "default_email_tag")]
    pub user_email_tag: String,
    /// Repositories every user's git (root's too) trusts although another
    /// user owns them (`safe.directory`): only root-owned places no other
    /// user can write; none by default.
    #[serde(default)]
    pub safe_directories: Vec<SafeDirectory>,
    /// The system configuration file.
    #[serde(default = "default_gitconfig")]
    pub config_path: AbsPath,
}

/// git's credential helper, as the policy writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(from = "String", into = "String")]
pub enum CredentialHelper {
    /// No `[credential]` section.
    None,
    /// The AWS CLI's CodeCommit helper, with `UseHttpPath`.
    #[default]
    CodeCommit,
    /// Any other helper command line, used as written.
    Command(String),
}

impl From<String> for CredentialHelper {
    fn from(s: String) -> Self {
        match s.as_str() {
            "none" => CredentialHelper::None,
            "codecommit" => CredentialHelper::CodeCommit,
            _ => CredentialHelper::Command(s),
        }
    }
}

impl From<CredentialHelper> for String {
    fn from(h: CredentialHelper) -> String {
        match h {
            CredentialHelper::None => "none".into(),
            CredentialHelper::CodeCommit => "codecommit".into(),
            CredentialHelper::Command(c) => c,
        }
    }
}

impl schemars::JsonSchema for CredentialHelper {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CredentialHelper".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "default": "codecommit",
            "examples": ["codecommit", "none", "cache --timeout=3600"]
        })
    }
}
fn default_name_tag() -> String {
    "NotebookOwnerUsername".into()
}
fn default_email_tag() -> String {
    "NotebookOwnerEmail".into()
}

/// A `safe.directory` entry: a directory, or every repository below one
/// (`DIR/*`), never where the notebook user can write. git's ownership
/// check is what keeps root's git from running a repository owner's
/// `core.fsmonitor` or hooks; an entry switches it off for every user.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct SafeDirectory {
    pub dir: RootPath,
    /// `DIR/*`: every repository below `dir`.
    pub below: bool,
}

impl TryFrom<String> for SafeDirectory {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.trim() == "*" {
            return Err(format!(
                "safe.directory \"*\" switches off git's ownership check for every repository, \
                 root's git included: a repository's owner could run commands as root through \
                 core.fsmonitor or a hook{HINT}leave safe_directories empty: the notebook user's git \
                 works in its own repositories without it"
            ));
        }
        let (dir, below) = match s.strip_suffix("/*") {
            Some(dir) => (dir, true),
            None => (s.as_str(), false),
        };
        let dir = RootPath::try_from(dir.to_string()).map_err(|e| {
            format!(
                "safe.directory {s:?} would let root's git act in repositories the notebook user \
                 controls: {e}"
            )
        })?;
        Ok(SafeDirectory { dir, below })
    }
}

impl From<SafeDirectory> for String {
    fn from(d: SafeDirectory) -> String {
        let dir: String = d.dir.into();
        if d.below { format!("{dir}/*") } else { dir }
    }
}

impl SafeDirectory {
    /// The value git reads.
    pub fn value(&self) -> String {
        String::from(self.clone())
    }
}

impl JsonSchema for SafeDirectory {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SafeDirectory".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        RootPath::json_schema(generator)
    }
}
fn default_gitconfig() -> AbsPath {
    AbsPath::fixed("/etc/gitconfig")
}

/// The `[jupyter]` section: Jupyter Server's configuration (JupyterLab 3
/// and 4), merged into `jupyter_server_config.json`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JupyterPolicy {
    /// Configuration directories whose `jupyter_server_config.json` gets the
    /// settings (other keys are kept).
    #[serde(default = "default_config_dirs")]
    pub config_dirs: Vec<AbsPath>,
    /// Allow terminals (a shell as the user in the browser).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminals: Option<bool>,
    /// Shut kernels down after this long idle, e.g. "2h".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cull_idle_timeout: Option<HumanDuration>,
    /// Cull idle kernels even while a browser tab is connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cull_connected: Option<bool>,
    /// Largest upload through the browser, in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_upload_mb: Option<u32>,
    /// Origins allowed to call the API (`ServerApp.allow_origin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_origin: Option<String>,
    /// The systemd unit to restart (never blocking, and only if it runs)
    /// when the configuration changed.
    #[serde(default = "default_unit")]
    pub unit: String,
}

fn default_config_dirs() -> Vec<AbsPath> {
    vec![AbsPath::fixed("/etc/jupyter")]
}
fn default_unit() -> String {
    "jupyter-server".into()
}

/// The `[environment]` section: variables exported to every login shell
/// and to Jupyter (so its kernels inherit them).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentPolicy {
    /// The shell file sourced by login shells.
    #[serde(default = "default_env_profile")]
    pub profile_path: AbsPath,
    /// The systemd environment file Jupyter's unit reads.
    #[serde(default = "default_env_file")]
    pub env_file: AbsPath,
    /// Jupyter's unit: a drop-in makes it read `env_file`.
    #[serde(default = "default_unit")]
    pub jupyter_unit: String,
    /// NAME = { value = "…" } or { tag = "TagKey" }. Never secrets: these
    /// are readable by every process of the user.
    #[serde(default)]
    pub values: std::collections::BTreeMap<super::values::Identifier, EnvValue>,
}

fn default_env_profile() -> AbsPath {
    AbsPath::fixed("/etc/profile.d/nbwarden-environment.sh")
}
fn default_env_file() -> AbsPath {
    AbsPath::fixed("/etc/nbwarden/environment.env")
}

/// Where one environment variable's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub enum EnvValue {
    /// A literal.
    #[serde(rename = "value")]
    Value(String),
    /// A tag of this notebook (ListTags on the resource metadata's ARN).
    #[serde(rename = "tag")]
    Tag(String),
}
