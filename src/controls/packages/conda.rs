//! conda's YAML configuration: rendering the channel settings into the
//! system `.condarc` while keeping unrelated keys, and reading channel
//! settings from any condarc for the precedence check.

use anyhow::{Context, Result};
use serde_yaml_ng::{Mapping, Value};

use crate::policy::{CondaPolicy, SslVerify};

pub const SYSTEM_FILE: &str = "/etc/conda/.condarc";
/// Keys that decide where conda looks for packages. The `migrated_*` keys
/// rewrite a channel's URL onto `channel_alias` (or a custom channel's):
/// nbwarden writes them empty, so the mirror's own URL stays the mirror's.
pub const CHANNEL_KEYS: [&str; 7] = [
    "channels",
    "default_channels",
    "channel_alias",
    "custom_channels",
    "custom_multichannels",
    "migrated_channel_aliases",
    "migrated_custom_channels",
];
const HEADER: &str = "# Managed by nbwarden: conda's package mirror. Channel settings here are \
rewritten at every start;\n# other settings are kept.\n";

fn strings<'a>(items: impl Iterator<Item = &'a str>) -> Value {
    Value::Sequence(items.map(|s| Value::String(s.to_string())).collect())
}

/// The condarc content: `existing` with the policy's channel settings.
pub fn render(existing: Option<&str>, path: &str, c: &CondaPolicy) -> Result<String> {
    let mut map = match existing.map(str::trim) {
        None | Some("") => Mapping::new(),
        Some(text) => match serde_yaml_ng::from_str::<Value>(text).with_context(|| {
            format!("{path} is not valid YAML; fix or remove it so nbwarden can manage it")
        })? {
            Value::Mapping(m) => m,
            Value::Null => Mapping::new(),
            _ => anyhow::bail!("{path} is not a YAML mapping; fix or remove it"),
        },
    };
    // Every key nbwarden sets goes, then comes back in a fixed order, so a
    // second render gives the same bytes.
    for key in CHANNEL_KEYS.iter().chain(["ssl_verify"].iter()) {
        map.remove(*key);
    }
    map.insert(
        "channels".into(),
        strings(c.channels.iter().map(|ch| ch.as_str())),
    );
    if !c.default_channels.is_empty() {
        map.insert(
            "default_channels".into(),
            strings(c.default_channels.iter().map(|u| u.as_str())),
        );
    }
    if let Some(alias) = &c.channel_alias {
        map.insert("channel_alias".into(), alias.as_str().into());
    }
    if !c.custom_channels.is_empty() {
        let custom: Mapping = c
            .custom_channels
            .iter()
            .map(|(k, v)| {
                (
                    Value::String(k.clone()),
                    Value::String(v.as_str().to_string()),
                )
            })
            .collect();
        map.insert("custom_channels".into(), Value::Mapping(custom));
    }
    // Empty and final: no later file or variable can move the mirror's
    // channels elsewhere (red team: `migrated_channel_aliases` sent them
    // to conda.anaconda.org).
    map.insert(
        "migrated_channel_aliases".into(),
        Value::Sequence(Vec::new()),
    );
    map.insert(
        "migrated_custom_channels".into(),
        Value::Mapping(Mapping::new()),
    );
    let ssl = match &c.ssl_verify {
        SslVerify::Enabled(b) => Value::Bool(*b),
        SslVerify::CaBundle(p) => Value::String(p.as_path().to_string_lossy().into_owned()),
    };
    map.insert("ssl_verify".into(), ssl);
    let body = serde_yaml_ng::to_string(&Value::Mapping(map)).context("cannot render YAML")?;
    Ok(format!("{HEADER}{}", with_final_marks(&body)))
}

/// conda's `#!final` flag on every channel key nbwarden writes: a later
/// file (the base install's, the user's, an environment's) cannot
/// override a key so marked in a system file. A sequence or mapping takes
/// the flag on its key's line, a scalar after its value.
fn with_final_marks(body: &str) -> String {
    body.lines()
        .map(|line| {
            let marked = CHANNEL_KEYS
                .iter()
                .any(|k| line.strip_prefix(k).is_some_and(|r| r.starts_with(':')));
            if marked {
                format!("{line} {FINAL}\n")
            } else {
                format!("{line}\n")
            }
        })
        .collect()
}

/// conda's flag for a key later files cannot override.
pub const FINAL: &str = "#!final";

/// The channel keys `text` (a system condarc) marks `#!final`.
pub fn final_keys(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.contains(FINAL))
        .filter_map(|l| {
            let key = l.split(':').next()?.trim();
            CHANNEL_KEYS.contains(&key).then(|| key.to_string())
        })
        .collect()
}

/// Every channel setting in a condarc: (key, value as YAML flow text).
pub fn channel_settings(text: &str) -> Result<Vec<(String, String)>, String> {
    let value: Value = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
    let Value::Mapping(map) = value else {
        return Ok(Vec::new());
    };
    Ok(CHANNEL_KEYS
        .iter()
        .filter_map(|k| {
            map.get(*k).map(|v| {
                let shown = serde_json::to_string(v).unwrap_or_default();
                (k.to_string(), shown)
            })
        })
        .collect())
}

/// The `envs_dirs` a `.condarc` adds (places conda keeps environments).
pub fn envs_dirs(text: &str) -> Vec<String> {
    let Ok(Value::Mapping(map)) = serde_yaml_ng::from_str::<Value>(text) else {
        return Vec::new();
    };
    match map.get("envs_dirs") {
        Some(Value::Sequence(dirs)) => dirs
            .iter()
            .map(|d| match d {
                Value::String(s) => s.clone(),
                other => serde_json::to_string(other).unwrap_or_default(),
            })
            .collect(),
        Some(other) => vec![serde_json::to_string(other).unwrap_or_default()],
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::parse;

    #[test]
    fn envs_dirs_are_read_as_conda_writes_them() {
        assert_eq!(
            envs_dirs("envs_dirs:\n  - /tmp/a\n  - ~/b\n"),
            ["/tmp/a", "~/b"]
        );
        assert_eq!(envs_dirs("envs_dirs: /tmp/a\n"), ["\"/tmp/a\""]);
        assert!(envs_dirs("channels: [x]\n").is_empty());
        assert!(envs_dirs(": not yaml [").is_empty());
    }

    fn conda() -> CondaPolicy {
        let text = "version = 1\n[packages.conda]\nchannels = [\"https://c.example/main\", \"forge\"]\n\
                    channel_alias = \"https://c.example\"\ncustom_channels = { forge = \"https://c.example/f\" }\n";
        parse(text, "p.toml")
            .expect("valid")
            .packages
            .and_then(|p| p.conda)
            .expect("conda")
    }

    #[test]
    fn channel_keys_are_final_so_later_files_cannot_override_them() {
        let out = render(None, SYSTEM_FILE, &conda()).expect("render");
        assert!(out.contains("channels: #!final\n"), "{out}");
        assert!(
            out.contains("channel_alias: https://c.example/ #!final\n"),
            "{out}"
        );
        assert!(!out.contains("ssl_verify: true #!final"), "{out}");
        let keys = final_keys(&out);
        assert!(keys.contains(&"channels".to_string()), "{keys:?}");
        assert!(
            keys.contains(&"migrated_channel_aliases".to_string()),
            "{keys:?}"
        );
        assert!(
            out.contains("migrated_custom_channels: {} #!final\n"),
            "{out}"
        );
        assert!(keys.contains(&"custom_channels".to_string()), "{keys:?}");
        // Still YAML that reads back the same, and renders to the same bytes.
        let back: Value = serde_yaml_ng::from_str(&out).expect("yaml");
        assert_eq!(back["channels"][0], "https://c.example/main");
        assert_eq!(
            render(Some(&out), SYSTEM_FILE, &conda()).expect("again"),
            out
        );
    }

    #[test]
    fn renders_channels_and_keeps_other_keys() {
        let existing = "channels:\n  - defaults\n  - conda-forge\nauto_update_conda: false\nenvs_dirs:\n  - /home/ec2-user/SageMaker/envs\n";
        let out = render(Some(existing), SYSTEM_FILE, &conda()).expect("render");
        let back: Value = serde_yaml_ng::from_str(&out).expect("valid YAML");
        assert_eq!(back["channels"][0], "https://c.example/main");
        assert_eq!(back["channels"][1], "forge");
        assert_eq!(
            back["channel_alias"], "https://c.example/",
            "URLs are normalised"
        );
        assert_eq!(back["custom_channels"]["forge"], "https://c.example/f");
        assert_eq!(back["ssl_verify"], true);
        assert_eq!(back["auto_update_conda"], false);
        assert_eq!(back["envs_dirs"][0], "/home/ec2-user/SageMaker/envs");
        assert_eq!(
            render(Some(&out), SYSTEM_FILE, &conda()).expect("again"),
            out,
            "stable"
        );
        let settings = channel_settings(&out).expect("settings");
        assert_eq!(settings.len(), 5);
    }

    #[test]
    fn malformed_yaml_is_an_error_naming_the_file() {
        let err = render(Some("channels: [a\n"), SYSTEM_FILE, &conda()).expect_err("bad");
        assert!(format!("{err:#}").contains("/etc/conda/.condarc is not valid YAML"));
    }
}
