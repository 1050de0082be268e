//! Validated scalar types of the policy. Each rejects a bad value while the
//! TOML is deserialized, so the error points at that value's line and column.
//! An error message may carry a hint after [`HINT`].

use std::borrow::Cow;
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// Separates an error message from its hint inside a serde custom error.
pub const HINT: &str = "\nhint: ";

/// The policy format version. Only 1 exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct PolicyVersion(i64);

impl PolicyVersion {
    pub const CURRENT: i64 = 1;
}

impl TryFrom<i64> for PolicyVersion {
    type Error = String;
    fn try_from(v: i64) -> Result<Self, String> {
        if v == Self::CURRENT {
            Ok(PolicyVersion(v))
        } else {
            Err(format!(
                "unsupported policy version {v}{HINT}this nbwarden reads `version = {}`; \
                 use a newer nbwarden for newer policies, or rewrite the policy for version {}",
                Self::CURRENT,
                Self::CURRENT
            ))
        }
    }
}

impl From<PolicyVersion> for i64 {
    fn from(v: PolicyVersion) -> i64 {
        v.0
    }
}

impl JsonSchema for PolicyVersion {
    fn schema_name() -> Cow<'static, str> {
        "PolicyVersion".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "integer", "const": PolicyVersion::CURRENT })
    }
}

/// A POSIX user or group name as it appears in `/etc/passwd` or `/etc/group`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountName(String);

const USER_PATTERN: &str = "^[a-z_][a-z0-9_.-]{0,31}$";

impl AccountName {
    pub fn notebook_default() -> Self {
        AccountName("ec2-user".to_string())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AccountName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let mut chars = s.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
        let rest_ok = chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
        if first_ok && rest_ok && s.len() <= 32 {
            Ok(AccountName(s))
        } else {
            Err(format!(
                "invalid user or group name {s:?}{HINT}a name matches {USER_PATTERN}, \
                 for example \"ec2-user\" or \"wheel\""
            ))
        }
    }
}

impl From<AccountName> for String {
    fn from(u: AccountName) -> String {
        u.0
    }
}

impl fmt::Display for AccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl JsonSchema for AccountName {
    fn schema_name() -> Cow<'static, str> {
        "AccountName".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": USER_PATTERN })
    }
}

/// An absolute, normalised path on the managed host (no `.` or `..`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct AbsPath(PathBuf);

impl AbsPath {
    /// For defaults written in this program: they are known to be valid.
    pub(crate) fn fixed(s: &str) -> Self {
        AbsPath(PathBuf::from(s))
    }
    pub fn as_path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl TryFrom<String> for AbsPath {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let path = PathBuf::from(&s);
        let normal = path.is_absolute()
            && path.components().count() > 1
            && path
                .components()
                .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
            && !s.ends_with('/')
            && !s.contains("//")
            && !s.split('/').any(|c| c == "." || c == "..");
        if normal {
            Ok(AbsPath(path))
        } else {
            Err(format!(
                "invalid path {s:?}{HINT}use an absolute path to a file below `/`, \
                 without `.`, `..`, `//` or a trailing `/`"
            ))
        }
    }
}

impl From<AbsPath> for String {
    fn from(p: AbsPath) -> String {
        p.0.to_string_lossy().into_owned()
    }
}

impl JsonSchema for AbsPath {
    fn schema_name() -> Cow<'static, str> {
        "AbsPath".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": "^/[^\\x00]+$" })
    }
}

/// Where the notebook user can write on a notebook instance: their home
/// and the ML volume below it, the shared temporary directories, their
/// runtime directory, removable mounts, and the process-relative views of
/// any descriptor. Root never trusts a path below one of these.
pub const USER_WRITABLE_PREFIXES: &[&str] = &[
    "/home",
    "/tmp",
    "/var/tmp",
    "/dev/shm",
    "/run/user",
    "/mnt",
    "/media",
    "/proc",
    "/dev/fd",
];

/// The user-writable prefix `path` lies under, if any.
pub fn user_writable_prefix(path: &Path) -> Option<&'static str> {
    USER_WRITABLE_PREFIXES
        .iter()
        .copied()
        .find(|p| path.starts_with(p))
}

/// An [`AbsPath`] that root writes and reads back as configuration or
/// imports code from, so it may not lie where the notebook user can write.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct RootPath(AbsPath);

impl RootPath {
    pub(crate) fn fixed(s: &str) -> Self {
        RootPath(AbsPath::fixed(s))
    }
    pub fn as_path(&self) -> &Path {
        self.0.as_path()
    }
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl TryFrom<String> for RootPath {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let path = AbsPath::try_from(s.clone())?;
        if let Some(prefix) = user_writable_prefix(path.as_path()) {
            return Err(format!(
                "{s:?} is below {prefix}, where the notebook user can write{HINT}root would \
                 trust what the user puts there (a usercustomize.py next to the module runs in \
                 every root Python); use a root-owned system directory such as \
                 /usr/local/lib/nbwarden"
            ));
        }
        Ok(RootPath(path))
    }
}

impl From<RootPath> for String {
    fn from(p: RootPath) -> String {
        p.0.into()
    }
}

impl JsonSchema for RootPath {
    fn schema_name() -> Cow<'static, str> {
        "RootPath".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^/(?!(home|tmp|var/tmp|dev/shm|run/user|mnt|media|proc|dev/fd)(/|$))[^\\x00]+$",
            "description": "An absolute path outside every place the notebook user can write (/home, /tmp, /var/tmp, /dev/shm, /run/user, /mnt, /media)."
        })
    }
}

/// A name usable as a Python identifier and a shell variable.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct Identifier(String);

const IDENTIFIER_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]*$";

/// Names that would change how shells, the loader or Python behave for
/// every user if exported from `/etc/profile.d`.
const RESERVED_PREFIXES: &[&str] = &["LD_", "PYTHON", "BASH", "CONDA", "PIP_", "JUPYTER"];
const RESERVED_NAMES: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "SHELL",
    "ENV",
    "IFS",
    "PS1",
    "PS2",
    "PS4",
    "SHELLOPTS",
    "CDPATH",
    "LOGNAME",
    "TMPDIR",
    "LANG",
];

impl Identifier {
    pub(crate) fn fixed(s: &str) -> Self {
        Identifier(s.to_string())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Identifier {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let mut chars = s.chars();
        let shape = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !shape {
            return Err(format!(
                "invalid name {s:?}{HINT}names match {IDENTIFIER_PATTERN}, \
                 for example SAGEMAKER_VPC"
            ));
        }
        let upper = s.to_ascii_uppercase();
        if RESERVED_NAMES.contains(&upper.as_str())
            || RESERVED_PREFIXES.iter().any(|p| upper.starts_with(p))
        {
            return Err(format!(
                "the name {s:?} is reserved{HINT}it would change the environment of every \
                 shell on the instance; pick a project-specific name such as SAGEMAKER_{upper}"
            ));
        }
        Ok(Identifier(s))
    }
}

impl From<Identifier> for String {
    fn from(i: Identifier) -> String {
        i.0
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl JsonSchema for Identifier {
    fn schema_name() -> Cow<'static, str> {
        "Identifier".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": IDENTIFIER_PATTERN })
    }
}

/// A command the notebook user may still run as root, exactly as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct AllowedCommand(String);

/// Programs that hand out root whatever their arguments: shells and
/// interpreters; editors, pagers and programs that start one (a pager's
/// `!sh`); programs that run another program (`env`, `xargs`, `nohup`,
/// `systemd-run`, `chroot`, `nsenter`, debuggers and tracers); package
/// managers (a package's scripts run as root); and programs that read,
/// write, copy or move any file (`cat /etc/shadow`, `cp x /etc/sudoers.d`).
/// `systemctl` is judged by its verb (see [`SYSTEMCTL_VERBS`]).
const ROOT_SHELL_PROGRAMS: &[&str] = &[
    // shells and privilege tools
    "sh",
    "bash",
    "dash",
    "zsh",
    "ksh",
    "mksh",
    "csh",
    "tcsh",
    "fish",
    "ash",
    "busybox",
    "su",
    "sudo",
    "sudoedit",
    "doas",
    "pkexec",
    "runuser",
    "setpriv",
    "capsh",
    "login",
    "newgrp",
    "sg",
    // programs that run another program
    "env",
    "nohup",
    "xargs",
    "find",
    "nice",
    "ionice",
    "timeout",
    "stdbuf",
    "taskset",
    "chrt",
    "flock",
    "watch",
    "time",
    "strace",
    "ltrace",
    "gdb",
    "lldb",
    "perf",
    "valgrind",
    "script",
    "expect",
    "screen",
    "tmux",
    "systemd-run",
    "systemd-nspawn",
    "machinectl",
    "chroot",
    "nsenter",
    "unshare",
    "ip",
    "crontab",
    "at",
    "batch",
    "journalctl",
    "loginctl",
    "busctl",
    "dbus-send",
    "make",
    "cmake",
    "gcc",
    "cc",
    "ld",
    "ldconfig",
    "insmod",
    "modprobe",
    "kexec",
    // editors and pagers
    "vi",
    "vim",
    "nvim",
    "view",
    "vimdiff",
    "rvim",
    "ex",
    "ed",
    "nano",
    "emacs",
    "pico",
    "joe",
    "mcedit",
    "less",
    "more",
    "most",
    "pg",
    "man",
    "info",
    // interpreters and notebook tools
    "python",
    "perl",
    "ruby",
    "node",
    "nodejs",
    "lua",
    "php",
    "tclsh",
    "wish",
    "awk",
    "gawk",
    "mawk",
    "nawk",
    "jupyter",
    "ipython",
    "R",
    "Rscript",
    "java",
    "jshell",
    "irb",
    "sed",
    // package managers
    "pip",
    "conda",
    "mamba",
    "micromamba",
    "uv",
    "npm",
    "yum",
    "dnf",
    "rpm",
    "apt",
    "apt-get",
    "dpkg",
    "snap",
    "flatpak",
    "gem",
    "cargo",
    // readers, writers, copiers of any file
    "cat",
    "tac",
    "head",
    "tail",
    "nl",
    "od",
    "xxd",
    "hexdump",
    "base64",
    "base32",
    "strings",
    "grep",
    "egrep",
    "fgrep",
    "sort",
    "uniq",
    "cut",
    "paste",
    "diff",
    "cmp",
    "comm",
    "file",
    "tee",
    "cp",
    "mv",
    "ln",
    "rm",
    "dd",
    "chmod",
    "chown",
    "chgrp",
    "chattr",
    "setfacl",
    "setcap",
    "install",
    "rsync",
    "scp",
    "sftp",
    "ssh",
    "curl",
    "wget",
    "tar",
    "zip",
    "unzip",
    "gzip",
    "gunzip",
    "zcat",
    "bzip2",
    "xz",
    "cpio",
    "mount",
    "umount",
    "truncate",
    "shred",
    "socat",
    "nc",
    "ncat",
    "netcat",
    "openssl",
    "docker",
    "podman",
    "git",
    "mysql",
    "psql",
    "sqlite3",
    "usermod",
    "useradd",
    "passwd",
    "chpasswd",
    "gpasswd",
    "visudo",
    "vipw",
    "vigr",
];

/// The `systemctl` verbs an allow-list may name: each acts on the units
/// named after it and never starts a pager or an editor. `status`, `show`,
/// `cat`, `list-*` page through `less` (and `!sh`); `edit` starts an
/// editor; `link`/`enable` of a path would take a unit from anywhere.
pub const SYSTEMCTL_VERBS: &[&str] = &[
    "start",
    "stop",
    "restart",
    "reload",
    "try-restart",
    "reload-or-restart",
    "is-active",
    "is-failed",
    "is-enabled",
];

impl AllowedCommand {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The sudoers form: a command without arguments gets `""`, which
    /// sudo reads as "no arguments allowed" (bare, it would allow any).
    pub fn sudoers_form(&self) -> String {
        if self.0.contains(' ') {
            self.0.clone()
        } else {
            format!("{} \"\"", self.0)
        }
    }
}

impl TryFrom<String> for AllowedCommand {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let words: Vec<&str> = s.split_whitespace().collect();
        let normal = words.join(" ");
        let Some(program) = words.first() else {
            return Err(format!(
                "empty command{HINT}write the absolute path and its exact arguments"
            ));
        };
        if !program.starts_with('/') || program.split('/').any(|c| c == "." || c == "..") {
            return Err(format!(
                "{program:?} is not an absolute path{HINT}sudo runs exactly one program: write \
                 its full path, e.g. /usr/bin/systemctl restart jupyter-server"
            ));
        }
        if let Some(c) = normal
            .chars()
            .find(|c| "*?[]\\,:=!\"'#%$`;&|<>(){}".contains(*c) || c.is_control())
        {
            return Err(format!(
                "{normal:?} contains {c:?}{HINT}wildcards and sudoers or shell syntax are not \
                 allowed: list each exact command line"
            ));
        }
        for word in &words {
            if let Some(prefix) = word
                .starts_with('/')
                .then(|| user_writable_prefix(Path::new(word)))
                .flatten()
            {
                return Err(format!(
                    "{word} is below {prefix}, where the notebook user can write{HINT}the user \
                     could replace it and run anything as root; allow only programs (and \
                     paths) in root-owned system directories such as /usr/bin or /usr/local/sbin"
                ));
            }
        }
        let base = program.rsplit('/').next().unwrap_or(program);
        let stem = base.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
        if ROOT_SHELL_PROGRAMS.contains(&base) || ROOT_SHELL_PROGRAMS.contains(&stem) {
            return Err(format!(
                "{base} can start a shell, run another program, install software or read or \
                 write any file as root{HINT}allowing it would grant full root; allow a narrower \
                 command (for example a root-owned script in /usr/local/sbin that does one thing)"
            ));
        }
        if base == "systemctl" {
            let verb = words.iter().skip(1).find(|w| !w.starts_with('-'));
            let options_ok = words
                .iter()
                .skip(1)
                .filter(|w| w.starts_with('-'))
                .all(|w| ["--no-block", "--no-pager", "--quiet", "-q"].contains(w));
            let units_ok = words
                .iter()
                .skip(1)
                .filter(|w| !w.starts_with('-'))
                .skip(1)
                .all(|u| !u.contains('/'));
            if !verb.is_some_and(|v| SYSTEMCTL_VERBS.contains(v))
                || !options_ok
                || !units_ok
                || words.len() < 3
            {
                return Err(format!(
                    "{normal:?}: systemctl is allowed only with a fixed verb that starts no \
                     pager or editor ({}) and unit names{HINT}`systemctl status` pages through \
                     less, whose `!sh` is a root shell",
                    SYSTEMCTL_VERBS.join(", ")
                ));
            }
        }
        Ok(AllowedCommand(normal))
    }
}

impl From<AllowedCommand> for String {
    fn from(c: AllowedCommand) -> String {
        c.0
    }
}

impl JsonSchema for AllowedCommand {
    fn schema_name() -> Cow<'static, str> {
        "AllowedCommand".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^/",
            "description": "An absolute program path and its exact arguments; no wildcards, shells, editors or interpreters."
        })
    }
}

/// A variable's value: one string or a list of strings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum VariableValue {
    One(String),
    Many(Vec<String>),
}

impl VariableValue {
    pub fn items(&self) -> Vec<&str> {
        match self {
            VariableValue::One(s) => vec![s.as_str()],
            VariableValue::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// The shape a variable's value must have.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ValueKind {
    /// Any text.
    #[default]
    Any,
    /// A VPC id, `vpc-` and 8 or 17 hex digits.
    Vpc,
    /// A subnet id, `subnet-` and 8 or 17 hex digits.
    Subnet,
    /// A security group id, `sg-` and 8 or 17 hex digits.
    SecurityGroup,
    /// A KMS key id (UUID), key ARN or alias ARN, or `alias/NAME`.
    KmsKey,
    /// An S3 bucket name.
    Bucket,
}

impl ValueKind {
    pub fn check(self, value: &str) -> Result<(), String> {
        let ok = match self {
            ValueKind::Any => true,
            ValueKind::Vpc => aws_id(value, "vpc-"),
            ValueKind::Subnet => aws_id(value, "subnet-"),
            ValueKind::SecurityGroup => aws_id(value, "sg-"),
            ValueKind::KmsKey => kms_key(value),
            ValueKind::Bucket => bucket_name(value),
        };
        if ok {
            return Ok(());
        }
        let example = match self {
            ValueKind::Any => "",
            ValueKind::Vpc => "vpc-0a1b2c3d4e5f67890",
            ValueKind::Subnet => "subnet-0a1b2c3d4e5f67890",
            ValueKind::SecurityGroup => "sg-0a1b2c3d4e5f67890",
            ValueKind::KmsKey => {
                "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
            }
            ValueKind::Bucket => "my-data-bucket",
        };
        Err(format!(
            "{value:?} is not a valid {self:?} value{HINT}expected something like {example}, \
             or set `kind = \"any\"`"
        ))
    }
}

fn is_lower_hex(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
}

fn aws_id(value: &str, prefix: &str) -> bool {
    value
        .strip_prefix(prefix)
        .is_some_and(|rest| matches!(rest.len(), 8 | 17) && is_lower_hex(rest))
}

fn uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && is_lower_hex(p))
}

fn kms_key(value: &str) -> bool {
    if uuid(value) || alias(value) {
        return true;
    }
    // arn:PARTITION:kms:REGION:ACCOUNT:key/UUID or alias/NAME
    let fields: Vec<&str> = value.splitn(6, ':').collect();
    fields.len() == 6
        && fields[0] == "arn"
        && fields[1].starts_with("aws")
        && fields[2] == "kms"
        && !fields[3].is_empty()
        && fields[4].len() == 12
        && fields[4].chars().all(|c| c.is_ascii_digit())
        && (fields[5].strip_prefix("key/").is_some_and(uuid) || alias(fields[5]))
}

fn alias(s: &str) -> bool {
    s.strip_prefix("alias/").is_some_and(|name| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-'))
    })
}

fn bucket_name(value: &str) -> bool {
    let len_ok = (3..=63).contains(&value.len());
    let chars_ok = value
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-'));
    let ends_ok = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && value
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    len_ok && chars_ok && ends_ok && !value.contains("..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_accept_real_ids_and_reject_lookalikes() {
        assert!(ValueKind::Vpc.check("vpc-0a1b2c3d4e5f67890").is_ok());
        assert!(ValueKind::Vpc.check("vpc-12345678").is_ok());
        assert!(ValueKind::Vpc.check("vpc-123").is_err());
        assert!(ValueKind::Vpc.check("subnet-12345678").is_err());
        assert!(
            ValueKind::SecurityGroup
                .check("sg-0123456789abcdef0")
                .is_ok()
        );
        assert!(
            ValueKind::SecurityGroup
                .check("sg-0123456789ABCDEF0")
                .is_err()
        );
        assert!(
            ValueKind::KmsKey
                .check(
                    "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                )
                .is_ok()
        );
        assert!(ValueKind::KmsKey.check("alias/notebooks").is_ok());
        assert!(ValueKind::KmsKey.check("arn:aws:s3:::bucket").is_err());
        assert!(ValueKind::Bucket.check("my-data.bucket1").is_ok());
        assert!(ValueKind::Bucket.check("My_Bucket").is_err());
        assert!(ValueKind::Bucket.check("a..b").is_err());
        assert!(ValueKind::Any.check("anything \n at all").is_ok());
    }

    #[test]
    fn identifiers_reject_shapes_and_environment_hijacks() {
        assert!(Identifier::try_from("SAGEMAKER_VPC".to_string()).is_ok());
        assert!(Identifier::try_from("1ABC".to_string()).is_err());
        assert!(Identifier::try_from("A-B".to_string()).is_err());
        assert!(Identifier::try_from("PATH".to_string()).is_err());
        assert!(Identifier::try_from("LD_PRELOAD".to_string()).is_err());
        assert!(Identifier::try_from("pythonpath".to_string()).is_err());
    }

    #[test]
    fn allowed_commands_are_exact_and_never_a_way_to_a_shell() {
        let ok = AllowedCommand::try_from("/usr/bin/systemctl  restart jupyter-server".to_string())
            .expect("valid");
        assert_eq!(ok.as_str(), "/usr/bin/systemctl restart jupyter-server");
        assert_eq!(ok.sudoers_form(), ok.as_str());
        let bare =
            AllowedCommand::try_from("/usr/local/bin/restart-jupyter".to_string()).expect("ok");
        assert_eq!(bare.sudoers_form(), "/usr/local/bin/restart-jupyter \"\"");
        for bad in [
            "systemctl restart jupyter-server",
            "/usr/bin/systemctl restart *",
            "/usr/bin/../bin/bash",
            "/bin/bash",
            "/usr/bin/python3.11 -c x",
            "/usr/bin/vim /etc/hosts",
            "/usr/bin/systemctl restart a, /bin/sh",
            "/usr/bin/systemctl restart a:b",
            "",
            // user-writable places, as the program or an argument
            "/home/ec2-user/SageMaker/x.sh",
            "/tmp/x",
            "/usr/local/bin/tool /home/ec2-user/config",
            // pagers and shells behind "harmless" verbs
            "/usr/bin/systemctl status jupyter-server",
            "/usr/bin/systemctl",
            "/usr/bin/systemctl edit jupyter-server",
            "/usr/bin/systemctl enable /etc/x.service",
            "/usr/bin/systemctl --root=/ restart x",
            "/usr/bin/journalctl -u jupyter-server",
            "/usr/bin/systemd-run id",
            "/usr/bin/dnf install x",
            "/usr/bin/yum -y update",
            "/usr/sbin/chroot / id",
            "/usr/bin/gdb -p 1",
            "/usr/bin/cat /etc/shadow",
            "/usr/bin/less /var/log/messages",
            "/usr/bin/base64 /etc/shadow",
            "/usr/bin/nsenter -t 1",
        ] {
            assert!(AllowedCommand::try_from(bad.to_string()).is_err(), "{bad}");
        }
        for good in [
            "/usr/bin/id",
            "/usr/bin/systemctl try-restart jupyter-server",
            "/usr/bin/systemctl --no-block restart jupyter-server",
        ] {
            assert!(AllowedCommand::try_from(good.to_string()).is_ok(), "{good}");
        }
    }

    #[test]
    fn root_paths_stay_out_of_user_writable_places() {
        assert!(RootPath::try_from("/usr/local/lib/nbwarden/python".to_string()).is_ok());
        for bad in [
            "/home/ec2-user/SageMaker/lib",
            "/tmp/py",
            "/var/tmp/x",
            "/dev/shm/x",
        ] {
            let err = RootPath::try_from(bad.to_string()).expect_err(bad);
            assert!(err.contains("notebook user can write"), "{err}");
        }
        // /homework is not /home.
        assert!(RootPath::try_from("/homework/x".to_string()).is_ok());
    }

    #[test]
    fn paths_must_be_absolute_and_normal() {
        assert!(AbsPath::try_from("/etc/nbwarden/x.json".to_string()).is_ok());
        for bad in ["etc/x", "/", "/etc/../x", "/etc/./x", "/etc//x", "/etc/"] {
            assert!(AbsPath::try_from(bad.to_string()).is_err(), "{bad}");
        }
    }
}

/// An http(s) URL of a package mirror.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct MirrorUrl(url::Url);

impl MirrorUrl {
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
    pub fn scheme(&self) -> &str {
        self.0.scheme()
    }
    pub fn host(&self) -> &str {
        self.0.host_str().unwrap_or_default()
    }
    pub fn has_credentials(&self) -> bool {
        !self.0.username().is_empty() || self.0.password().is_some()
    }
    /// The URL with any password replaced, for logs and reports.
    pub fn redacted(&self) -> String {
        let mut u = self.0.clone();
        if u.password().is_some() {
            let _ = u.set_password(Some("****"));
        }
        u.to_string()
    }
}

impl TryFrom<String> for MirrorUrl {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let url = url::Url::parse(&s).map_err(|e| {
            format!("{s:?} is not a URL ({e}){HINT}write it like https://mirror.example/simple/")
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "{s:?} uses {}:{HINT}mirrors are reached over https (or http with trusted_hosts)",
                url.scheme()
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("{s:?} has no host{HINT}name the mirror's host"));
        }
        Ok(MirrorUrl(url))
    }
}

impl From<MirrorUrl> for String {
    fn from(u: MirrorUrl) -> String {
        u.0.to_string()
    }
}

impl JsonSchema for MirrorUrl {
    fn schema_name() -> Cow<'static, str> {
        "MirrorUrl".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "format": "uri", "pattern": "^https?://" })
    }
}

/// A `host:port` to connect to: a name or an address (IPv6 in brackets),
/// and a port from 1 to 65535.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct HostPort(String);

impl HostPort {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for HostPort {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let example = "write it like pypi.org:443";
        let Some((host, port)) = s.rsplit_once(':') else {
            return Err(format!("{s:?} has no port{HINT}{example}"));
        };
        if !port.parse::<u16>().is_ok_and(|p| p > 0) {
            return Err(format!(
                "{s:?}: {port:?} is not a port (1-65535){HINT}{example}"
            ));
        }
        let bracketed = host.starts_with('[') && host.ends_with(']') && host.len() > 2;
        let name_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !(bracketed || name_ok) {
            return Err(format!(
                "{s:?}: {host:?} is not a host name or address{HINT}{example}"
            ));
        }
        Ok(HostPort(s))
    }
}

impl From<HostPort> for String {
    fn from(h: HostPort) -> String {
        h.0
    }
}

impl JsonSchema for HostPort {
    fn schema_name() -> Cow<'static, str> {
        "HostPort".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": "^([A-Za-z0-9._-]+|\\[[0-9A-Fa-f:.]+\\]):[0-9]{1,5}$" })
    }
}

/// A duration written for people: "90s", "45m", "2h".
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct HumanDuration(String, Duration);

impl HumanDuration {
    pub fn duration(&self) -> Duration {
        self.1
    }
    /// For defaults written in this program.
    pub(crate) fn fixed(text: &str, d: Duration) -> Self {
        HumanDuration(text.to_string(), d)
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
