//! uv's system configuration: `/etc/uv/uv.toml`, which uv reads for every
//! user (it reads neither `pip.conf` nor `PIP_*`). The file is nbwarden's
//! whole: written from the policy at every start (no image ships one).

use anyhow::Result;

use super::toml_text::quoted;
use crate::policy::PipPolicy;

pub const SYSTEM_FILE: &str = "/etc/uv/uv.toml";
const HEADER: &str = "# Managed by nbwarden: uv's package mirror, rewritten at every start.\n";

/// The system uv.toml: the mirror as the default index, the allowed
/// extras before it (uv takes the first index that has a package), the
/// trusted hosts as `allow-insecure-host`.
pub fn render(_existing: Option<&str>, _path: &str, p: &PipPolicy) -> Result<String> {
    let mut out = String::from(HEADER);
    if !p.trusted_hosts.is_empty() {
        let hosts: Vec<String> = p.trusted_hosts.iter().map(|h| quoted(h)).collect();
        out.push_str(&format!("allow-insecure-host = [{}]\n", hosts.join(", ")));
    }
    for extra in &p.extra_index_urls {
        out.push_str(&format!("\n[[index]]\nurl = {}\n", quoted(extra.as_str())));
    }
    out.push_str(&format!(
        "\n[[index]]\nurl = {}\ndefault = true\n",
        quoted(p.index_url.as_str())
    ));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use toml::{Table, Value};

    fn policy() -> PipPolicy {
        super::super::pip_policy(
            "http://mirror.example/simple/",
            "extra_index_urls = [\"https://extra.example/simple/\"]\n\
             allow_extra_index_urls = true\ntrusted_hosts = [\"mirror.example\"]\n",
        )
    }

    #[test]
    fn the_mirror_is_the_default_index_and_extras_come_first() {
        let existing = "index-url = \"https://pypi.org/simple\"\n";
        let out = render(Some(existing), SYSTEM_FILE, &policy()).expect("renders");
        let parsed: Table = out.parse().expect("valid TOML");
        assert!(parsed.get("index-url").is_none(), "{out}");
        assert_eq!(
            parsed["allow-insecure-host"],
            Value::Array(vec![Value::String("mirror.example".into())])
        );
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
        // A second render gives the same bytes.
        assert_eq!(
            render(Some(&out), SYSTEM_FILE, &policy()).expect("renders"),
            out
        );
    }
}
