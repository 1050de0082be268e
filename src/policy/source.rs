//! Where a policy comes from: a file, an S3 object, or an SSM parameter,
//! optionally pinned by sha256. A remote policy that cannot be loaded is an
//! error (exit 3): nbwarden never falls back to no policy.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Context, anyhow};

use super::load::{LoadError, LoadedPolicy, from_bytes};
use crate::aws::Aws;
use crate::base::digest::{parse_sha256, sha256_hex};
use crate::host::{Host, local};

/// Policies are small; a larger object is a mistake or an attack.
const MAX_POLICY_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    File(PathBuf),
    S3 { bucket: String, key: String },
    Ssm(String),
}

impl FromStr for PolicySource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, key) = rest
                .split_once('/')
                .filter(|(b, k)| !b.is_empty() && !k.is_empty())
                .ok_or_else(|| format!("{s}: write s3://BUCKET/KEY"))?;
            return Ok(PolicySource::S3 {
                bucket: bucket.to_string(),
                key: key.to_string(),
            });
        }
        if let Some(name) = s.strip_prefix("ssm:") {
            if !name.starts_with('/') || name.len() < 2 {
                return Err(format!("{s}: write ssm:/PATH/NAME"));
            }
            return Ok(PolicySource::Ssm(name.to_string()));
        }
        if s.is_empty() {
            return Err("empty policy path".into());
        }
        Ok(PolicySource::File(PathBuf::from(s)))
    }
}

impl std::fmt::Display for PolicySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicySource::File(p) => write!(f, "{}", p.display()),
            PolicySource::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
            PolicySource::Ssm(name) => write!(f, "ssm:{name}"),
        }
    }
}

impl PolicySource {
    /// Fetches, checks the pin, parses.
    pub fn load(&self, sha256: Option<&str>, aws: &Aws) -> Result<LoadedPolicy, LoadError> {
        let label = self.to_string();
        let bytes = match self {
            PolicySource::File(path) => {
                trusted_policy_file(path)?;
                local::read(path)
                    .with_context(|| format!("cannot read policy file {}", path.display()))?
            }
            PolicySource::S3 { bucket, key } => aws
                .s3_object(bucket, key, MAX_POLICY_BYTES)
                .with_context(|| format!("cannot load the policy from {label}"))?,
            PolicySource::Ssm(name) => aws
                .ssm_parameter(name)
                .map(|p| p.value.into_bytes())
                .with_context(|| format!("cannot load the policy from {label}"))?,
        };
        if let Some(want) = sha256 {
            let got = sha256_hex(&bytes);
            if !got.eq_ignore_ascii_case(want) {
                return Err(LoadError::Unreadable(anyhow!(
                    "the policy from {label} has sha256 {got}, not the pinned {want}; refusing it \
                     (publish the expected policy, or update --policy-sha256)"
                )));
            }
        }
        from_bytes(bytes, &label)
    }
}

/// The policy when neither `--policy`, `NBWARDEN_POLICY` nor the
/// lifecycle's environment file names one.
pub const DEFAULT_POLICY: &str = "/etc/nbwarden/policy.toml";

/// The policy a run uses, and its pin: the one given (`--policy` or
/// `NBWARDEN_POLICY`) first, else what the lifecycle's root-owned
/// environment file names, else [`DEFAULT_POLICY`]. An environment file
/// anyone but root could have written is refused, not skipped: it would
/// choose the policy.
pub fn resolve(
    given: Option<&PolicySource>,
    pin: Option<&str>,
    host: &Host,
) -> Result<(PolicySource, Option<String>), LoadError> {
    use crate::base::paths::ENV_FILE;
    let default = || {
        (
            PolicySource::File(DEFAULT_POLICY.into()),
            pin.map(str::to_string),
        )
    };
    if let Some(p) = given {
        return Ok((p.clone(), pin.map(str::to_string)));
    }
    let path = std::path::Path::new(ENV_FILE);
    let Some(text) = host.read_text(path)? else {
        return Ok(default());
    };
    host.check_trusted(path).map_err(|e| {
        LoadError::Refused(format!(
            "{ENV_FILE} names the policy but cannot be trusted: {e:#}; give --policy"
        ))
    })?;
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let Some(source) = value("NBWARDEN_POLICY") else {
        return Ok(default());
    };
    let source = source
        .parse()
        .map_err(|e| LoadError::Refused(format!("{ENV_FILE}: NBWARDEN_POLICY: {e}")))?;
    let pin =
        match (pin, value("NBWARDEN_POLICY_SHA256")) {
            (Some(given), _) => Some(given.to_string()),
            (None, Some(pin)) => Some(parse_sha256(&pin).map_err(|e| {
                LoadError::Refused(format!("{ENV_FILE}: NBWARDEN_POLICY_SHA256: {e}"))
            })?),
            (None, None) => None,
        };
    Ok((source, pin))
}

/// Root obeys the policy: as root, a policy file that anyone else could
/// change (or reach through a link or directory someone else controls) is
/// refused, exit 2, before it is read.
fn trusted_policy_file(path: &std::path::Path) -> Result<(), LoadError> {
    if !local::running_as_root() {
        return Ok(());
    }
    let absolute = std::env::current_dir()
        .map(|d| d.join(path))
        .unwrap_or_else(|_| path.to_path_buf());
    if !local::exists(&absolute) {
        // Reading it reports the missing file.
        return Ok(());
    }
    crate::host::trust::check(std::path::Path::new("/"), &absolute).map_err(|e| {
        LoadError::Refused(format!(
            "refusing policy file {}: {e:#}{}root obeys this file: keep it owned by root and \
             writable by no one else, in root-owned directories (for example /etc/nbwarden)",
            path.display(),
            super::HINT
        ))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(
            "s3://b/p/policy.toml".parse(),
            Ok(PolicySource::S3 {
                bucket: "b".into(),
                key: "p/policy.toml".into()
            })
        );
        assert_eq!(
            "ssm:/nb/policy".parse(),
            Ok(PolicySource::Ssm("/nb/policy".into()))
        );
        assert_eq!("p.toml".parse(), Ok(PolicySource::File("p.toml".into())));
        assert!("s3://bucket-only".parse::<PolicySource>().is_err());
        assert!("ssm:relative".parse::<PolicySource>().is_err());
    }
}
