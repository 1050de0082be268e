//! uv's system configuration: `/etc/uv/uv.toml`, which uv reads for every
//! user (it reads neither `pip.conf` nor `PIP_*`). nbwarden's index
//! settings replace any there; other settings are kept.

use anyhow::{Context, Result};
use toml::{Table, Value};

use crate::policy::PipPolicy;

pub const SYSTEM_FILE: &str = "/etc/uv/uv.toml";
/// Top-level keys that decide where uv looks for packages.
pub const INDEX_KEYS: [&str; 6] = [
    "index",
    "index-url",
    "extra-index-url",
    "find-links",
    "no-index",
    "allow-insecure-host",
];
const HEADER: &str = "# Managed by nbwarden: uv's package mirror. Index settings here are \
rewritten at every start;\n# other settings are kept.\n";

fn index(url: &str, default: bool) -> Value {
    let mut t = Table::new();
    t.insert("url".into(), Value::String(url.to_string()));
    if default {
        t.insert("default".into(), Value::Boolean(true));
    }
    Value::Table(t)
}

/// The system uv.toml: `existing` with every index setting replaced by the
/// policy's (the mirror as the default index, the allowed extras after it).
pub fn render(existing: Option<&str>, path: &str, p: &PipPolicy) -> Result<String> {
    let mut table: Table = match existing {
        Some(text) => {
            let body: String = text
                .lines()
                .filter(|l| !HEADER.lines().any(|h| h == *l))
                .map(|l| format!("{l}\n"))
                .collect();
            body.parse().with_context(|| {
                format!("{path} is not valid TOML; fix or remove it so nbwarden can manage it")
            })?
        }
        None => Table::new(),
    };
    for key in INDEX_KEYS {
        table.remove(key);
    }
    // uv takes the first index that has a package; the default comes last.
    let mut indexes: Vec<Value> = p
        .extra_index_urls
        .iter()
        .map(|u| index(u.as_str(), false))
        .collect();
    indexes.push(index(p.index_url.as_str(), true));
    table.insert("index".into(), Value::Array(indexes));
    if !p.trusted_hosts.is_empty() {
        table.insert(
            "allow-insecure-host".into(),
            Value::Array(
                p.trusted_hosts
                    .iter()
                    .map(|h| Value::String(h.clone()))
                    .collect(),
            ),
        );
    }
    let body = toml::to_string(&table).context("cannot render uv.toml")?;
    Ok(format!("{HEADER}{body}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PipPolicy {
        super::super::pip_policy(
            "http://mirror.example/simple/",
            "extra_index_urls = [\"https://extra.example/simple/\"]\n\
             allow_extra_index_urls = true\ntrusted_hosts = [\"mirror.example\"]\n",
        )
    }

    #[test]
    fn replaces_index_settings_and_keeps_the_rest() {
        let existing = "index-url = \"https://pypi.org/simple\"\nnative-tls = true\n\
                        [[index]]\nurl = \"https://other.example/simple\"\n";
        let out = render(Some(existing), SYSTEM_FILE, &policy()).expect("renders");
        let parsed: Table = out.parse().expect("valid TOML");
        assert_eq!(parsed.get("native-tls"), Some(&Value::Boolean(true)));
        assert!(parsed.get("index-url").is_none(), "{out}");
        let urls: Vec<(&str, bool)> = parsed["index"]
            .as_array()
            .expect("indexes")
            .iter()
            .map(|i| {
                (
                    i["url"].as_str().expect("url"),
                    i.get("default").and_then(Value::as_bool).unwrap_or(false),
                )
            })
            .collect();
        assert_eq!(
            urls,
            [
                ("https://extra.example/simple/", false),
                ("http://mirror.example/simple/", true)
            ]
        );
        // A second render of its own output gives the same bytes.
        assert_eq!(
            render(Some(&out), SYSTEM_FILE, &policy()).expect("renders"),
            out
        );
    }

    #[test]
    fn invalid_toml_names_the_file() {
        let err = render(Some("index = ["), SYSTEM_FILE, &policy()).expect_err("invalid");
        assert!(format!("{err:#}").contains(SYSTEM_FILE), "{err:#}");
    }
}
