//! Where a policy comes from: a file, an S3 object, or an SSM parameter,
//! optionally pinned by sha256. A remote policy that cannot be loaded is an
//! error (exit 3): nbwarden never falls back to no policy.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Context, anyhow};

use super::load::{LoadedPolicy, from_bytes, hex_sha256};
use crate::aws::Aws;
use crate::exit::Failure;

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
    pub fn load(&self, sha256: Option<&str>, aws: &Aws) -> Result<LoadedPolicy, Failure> {
        let label = self.to_string();
        let bytes = match self {
            PolicySource::File(path) => {
                trusted_policy_file(path)?;
                std::fs::read(path)
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
            let got = hex_sha256(&bytes);
            if !got.eq_ignore_ascii_case(want) {
                return Err(Failure::CannotEvaluate(anyhow!(
                    "the policy from {label} has sha256 {got}, not the pinned {want}; refusing it \
                     (publish the expected policy, or update --policy-sha256)"
                )));
            }
        }
        from_bytes(bytes, &label)
    }
}

/// Root obeys the policy: as root, a policy file that anyone else could
/// change (or reach through a link or directory someone else controls) is
/// refused, exit 2, before it is read.
fn trusted_policy_file(path: &std::path::Path) -> Result<(), Failure> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let absolute = std::env::current_dir()
        .map(|d| d.join(path))
        .unwrap_or_else(|_| path.to_path_buf());
    if !absolute.exists() {
        // Reading it reports the missing file.
        return Ok(());
    }
    crate::host::trust::check(std::path::Path::new("/"), &absolute).map_err(|e| {
        Failure::Usage(format!(
            "refusing policy file {}: {e:#}{}root obeys this file: keep it owned by root and \
             writable by no one else, in root-owned directories (for example /etc/nbwarden)",
            path.display(),
            super::HINT_SEPARATOR
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
