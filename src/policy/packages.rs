//! The `[packages]` section: where pip and conda find packages.

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::values::{AbsPath, HINT, HostPort, HumanDuration, MirrorUrl};

/// The `[packages]` section.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackagesPolicy {
    /// pip: written to `/etc/pip.conf` and `/etc/xdg/pip/pip.conf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pip: Option<PipPolicy>,
    /// conda: written to `/etc/conda/.condarc` and the base install's `.condarc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conda: Option<CondaPolicy>,
    /// What a user-level or environment-level index setting does to verify:
    /// `fail` (default) or `warn`.
    #[serde(default)]
    pub on_user_override: OnOverride,
    /// Live checks: `auto` (default) runs them when the mirror answers,
    /// `required` fails when it does not, `off` skips them.
    #[serde(default)]
    pub probe: ProbeMode,
    /// What makes the mirror more than a default: `egress` (default), the
    /// control passes only when `public_indexes` are proven unreachable as
    /// the notebook user, directly and through every proxy the user's
    /// clients name; `default`, the system files set the default and the
    /// verdict says "default only, not enforced".
    #[serde(default)]
    pub enforce: Enforce,
    /// The public indexes that must be unreachable as the user (`host:port`).
    #[serde(default = "default_public_indexes")]
    pub public_indexes: Vec<HostPort>,
    /// HTTP proxies on the notebook's network (`http://host:port`): the
    /// barrier tests each one, with those the user's clients name, since
    /// any proxy the user can reach is a route.
    #[serde(default)]
    pub proxies: Vec<MirrorUrl>,
    /// The override search of configuration places (every place pip,
    /// conda and uv read an index from) reads at most this many directory
    /// entries; past it the control is an error, never a pass. The walk for
    /// environments under the home has its own bounds, and what they keep
    /// it out of is reported, never a failure.
    #[serde(default = "default_search_entries")]
    pub search_entries: u32,
    /// …and takes at most this many seconds.
    #[serde(default = "default_search_seconds")]
    pub search_seconds: u32,
    /// pip's index is this CodeArtifact repository, with a token from
    /// GetAuthorizationToken (replaces `pip.index_url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codeartifact: Option<CodeArtifactPolicy>,
}

fn default_public_indexes() -> Vec<HostPort> {
    [
        "pypi.org:443",
        "files.pythonhosted.org:443",
        "conda.anaconda.org:443",
        "repo.anaconda.com:443",
    ]
    .into_iter()
    .filter_map(|h| HostPort::try_from(h.to_string()).ok())
    .collect()
}

/// What the packages control's verdict rests on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Enforce {
    /// The public indexes unreachable as the user: the barrier.
    #[default]
    Egress,
    /// The system files' default only.
    Default,
}

fn default_search_entries() -> u32 {
    200_000
}

fn default_search_seconds() -> u32 {
    30
}

/// `[packages.codeartifact]`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeArtifactPolicy {
    /// The CodeArtifact domain.
    pub domain: String,
    /// The 12-digit account that owns the domain.
    pub domain_owner: String,
    /// The repository pip installs from.
    pub repository: String,
    /// How long a token is valid (at most 12h).
    #[serde(default = "default_token_duration")]
    pub duration: HumanDuration,
    /// A token with less than this left is replaced.
    #[serde(default = "default_refresh_before")]
    pub refresh_before: HumanDuration,
}

fn default_token_duration() -> HumanDuration {
    HumanDuration::fixed("12h", std::time::Duration::from_secs(12 * 3600))
}
fn default_refresh_before() -> HumanDuration {
    HumanDuration::fixed("3h", std::time::Duration::from_secs(3 * 3600))
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnOverride {
    #[default]
    Fail,
    Warn,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProbeMode {
    #[default]
    Auto,
    Required,
    Off,
}

/// `[packages.pip]`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(try_from = "RawPip", into = "RawPip")]
#[schemars(with = "RawPip")]
pub struct PipPolicy {
    pub index_url: MirrorUrl,
    pub extra_index_urls: Vec<MirrorUrl>,
    pub allow_extra_index_urls: bool,
    pub trusted_hosts: Vec<String>,
    pub timeout: Option<u32>,
    pub retries: Option<u32>,
    pub cert: Option<AbsPath>,
    pub credentials_in_urls: bool,
    pub probe_package: Option<String>,
}

/// `[packages.pip]`: pip's global configuration.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PipPolicy")]
pub struct RawPip {
    /// The mirror's simple index, e.g. `https://pypi.internal.example/simple/`.
    pub index_url: MirrorUrl,
    /// More indexes pip also searches. Needs `allow_extra_index_urls`: pip
    /// takes the highest version from any index, so a public name on another
    /// index can replace an internal package (dependency confusion).
    #[serde(default)]
    pub extra_index_urls: Vec<MirrorUrl>,
    /// The explicit opt-in for `extra_index_urls`.
    #[serde(default)]
    pub allow_extra_index_urls: bool,
    /// Hosts pip may reach without TLS verification: only for `http://` mirrors.
    #[serde(default)]
    pub trusted_hosts: Vec<String>,
    /// pip's socket timeout in seconds.
    #[serde(default)]
    pub timeout: Option<u32>,
    /// pip's retries per connection.
    #[serde(default)]
    pub retries: Option<u32>,
    /// A CA bundle for the mirror's certificate.
    #[serde(default)]
    pub cert: Option<AbsPath>,
    /// Allow `user:password@` in URLs. They end up in world-readable files
    /// the notebook user's pip must read; prefer a token-free mirror.
    #[serde(default)]
    pub credentials_in_urls: bool,
    /// A package on the mirror that verify downloads as the notebook user.
    #[serde(default)]
    pub probe_package: Option<String>,
}

impl TryFrom<RawPip> for PipPolicy {
    type Error = String;
    fn try_from(raw: RawPip) -> Result<Self, String> {
        if !raw.extra_index_urls.is_empty() && !raw.allow_extra_index_urls {
            return Err(format!(
                "extra_index_urls needs allow_extra_index_urls = true{HINT}pip picks the \
                 highest version across all indexes, so a package published on another index \
                 can shadow an internal one (dependency confusion); opt in only if you accept that"
            ));
        }
        let urls: Vec<&MirrorUrl> = std::iter::once(&raw.index_url)
            .chain(raw.extra_index_urls.iter())
            .collect();
        if !raw.credentials_in_urls
            && let Some(u) = urls.iter().find(|u| u.has_credentials())
        {
            return Err(format!(
                "{} holds credentials{HINT}they would be readable by the notebook user in \
                     /etc/pip.conf; use a mirror without them, or set credentials_in_urls = true",
                u.redacted()
            ));
        }
        for host in &raw.trusted_hosts {
            let plain_http = urls
                .iter()
                .any(|u| u.scheme() == "http" && u.host() == host.as_str());
            if !plain_http {
                return Err(format!(
                    "trusted host {host:?} is not the host of an http:// index{HINT}trusted_hosts \
                     turns off TLS checks; it is only for plain-http mirrors listed here"
                ));
            }
        }
        // pip refuses a plain-http index it was not told to trust: such a
        // policy would leave the notebook without packages, found only at
        // the first install.
        if let Some(u) = urls
            .iter()
            .find(|u| u.scheme() == "http" && !raw.trusted_hosts.iter().any(|h| h == u.host()))
        {
            return Err(format!(
                "{} is plain http and its host is not in trusted_hosts{HINT}pip refuses an http \
                 index it is not told to trust: use https, or add trusted_hosts = [\"{}\"]",
                u.redacted(),
                u.host()
            ));
        }
        if let Some(p) = &raw.probe_package {
            let ok = !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !ok {
                return Err(format!(
                    "invalid package name {p:?}{HINT}use a plain project name"
                ));
            }
        }
        Ok(PipPolicy {
            index_url: raw.index_url,
            extra_index_urls: raw.extra_index_urls,
            allow_extra_index_urls: raw.allow_extra_index_urls,
            trusted_hosts: raw.trusted_hosts,
            timeout: raw.timeout,
            retries: raw.retries,
            cert: raw.cert,
            credentials_in_urls: raw.credentials_in_urls,
            probe_package: raw.probe_package,
        })
    }
}

impl From<PipPolicy> for RawPip {
    fn from(p: PipPolicy) -> RawPip {
        RawPip {
            index_url: p.index_url,
            extra_index_urls: p.extra_index_urls,
            allow_extra_index_urls: p.allow_extra_index_urls,
            trusted_hosts: p.trusted_hosts,
            timeout: p.timeout,
            retries: p.retries,
            cert: p.cert,
            credentials_in_urls: p.credentials_in_urls,
            probe_package: p.probe_package,
        }
    }
}

/// `[packages.conda]`: conda's system configuration.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CondaPolicy {
    /// Channels, in priority order: URLs, or names resolved via `channel_alias`.
    pub channels: Vec<Channel>,
    /// What the `defaults` channel means.
    #[serde(default)]
    pub default_channels: Vec<MirrorUrl>,
    /// The base URL that channel names are resolved against.
    #[serde(default)]
    pub channel_alias: Option<MirrorUrl>,
    /// Channel names mapped to their server.
    #[serde(default)]
    pub custom_channels: BTreeMap<String, MirrorUrl>,
    /// `true`, `false`, or the path of a CA bundle.
    #[serde(default)]
    pub ssl_verify: SslVerify,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum SslVerify {
    Enabled(bool),
    CaBundle(AbsPath),
}

impl Default for SslVerify {
    fn default() -> Self {
        SslVerify::Enabled(true)
    }
}

/// A conda channel: a URL, or a name resolved through `channel_alias`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct Channel(String);

impl Channel {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Channel {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.contains("://") {
            return MirrorUrl::try_from(s.clone()).map(|_| Channel(s));
        }
        let ok = !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
        if ok {
            Ok(Channel(s))
        } else {
            Err(format!(
                "invalid channel {s:?}{HINT}use a URL or a channel name such as `main`"
            ))
        }
    }
}

impl From<Channel> for String {
    fn from(c: Channel) -> String {
        c.0
    }
}

impl JsonSchema for Channel {
    fn schema_name() -> Cow<'static, str> {
        "Channel".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string" })
    }
}

#[cfg(test)]
mod tests {
    use crate::policy::parse;

    fn err(text: &str) -> String {
        let e = parse(text, "p.toml").expect_err("invalid");
        format!("{} / {}", e.message, e.hint)
    }

    #[test]
    fn pip_urls_and_opt_ins_are_checked() {
        let ok = "version = 1\n[packages.pip]\nindex_url = \"https://m.example/simple/\"\n";
        assert!(parse(ok, "p.toml").is_ok());
        assert!(
            err("version = 1\n[packages.pip]\nindex_url = \"ftp://m/simple\"\n")
                .contains("uses ftp")
        );
        assert!(
            err("version = 1\n[packages.pip]\nindex_url = \"https://u:p@m.example/\"\n")
                .contains("credentials")
        );
        assert!(err("version = 1\n[packages.pip]\nindex_url = \"https://m.example/\"\nextra_index_urls = [\"https://pypi.org/simple\"]\n")
            .contains("dependency confusion"));
        assert!(err("version = 1\n[packages.pip]\nindex_url = \"https://m.example/\"\ntrusted_hosts = [\"m.example\"]\n")
            .contains("only for plain-http"));
        let http = "version = 1\n[packages.pip]\nindex_url = \"http://m.example:8080/simple/\"\ntrusted_hosts = [\"m.example\"]\n";
        assert!(parse(http, "p.toml").is_ok());
        let untrusted =
            err("version = 1\n[packages.pip]\nindex_url = \"http://m.example:8080/simple/\"\n");
        assert!(
            untrusted.contains("not in trusted_hosts")
                && untrusted.contains("trusted_hosts = [\"m.example\"]"),
            "{untrusted}"
        );
        let creds = "version = 1\n[packages.pip]\nindex_url = \"https://u:p@m.example/\"\ncredentials_in_urls = true\n";
        assert!(parse(creds, "p.toml").is_ok());
    }

    #[test]
    fn conda_channels_are_urls_or_names() {
        let ok = "version = 1\n[packages.conda]\nchannels = [\"main\", \"https://c.example/conda-forge\"]\nssl_verify = \"/etc/pki/ca.pem\"\n";
        assert!(parse(ok, "p.toml").is_ok());
        assert!(
            err("version = 1\n[packages.conda]\nchannels = [\"bad channel\"]\n")
                .contains("invalid channel")
        );
    }
}
