//! pdm's site configuration: `/etc/xdg/pdm/config.toml` (platformdirs'
//! site config directory), which pdm reads below the user's and the
//! project's. nbwarden's `[pypi]` index settings replace any there; other
//! settings are kept.

use anyhow::{Context, Result};
use toml::{Table, Value};

use crate::policy::PipPolicy;

pub const SYSTEM_FILE: &str = "/etc/xdg/pdm/config.toml";
const HEADER: &str = "# Managed by nbwarden: pdm's package mirror. [pypi] here is rewritten at \
every start;\n# other settings are kept.\n";

/// The site config: `existing` with `[pypi]` replaced by the mirror (and
/// each allowed extra index as a named `[pypi.extra-N]` source).
pub fn render(existing: Option<&str>, path: &str, p: &PipPolicy) -> Result<String> {
    let mut table: Table = match existing {
        Some(text) => text.parse().with_context(|| {
            format!("{path} is not valid TOML; fix or remove it so nbwarden can manage it")
        })?,
        None => Table::new(),
    };
    let mut pypi = Table::new();
    pypi.insert(
        "url".into(),
        Value::String(p.index_url.as_str().to_string()),
    );
    if p.trusted_hosts.iter().any(|h| h == p.index_url.host()) {
        pypi.insert("verify_ssl".into(), Value::Boolean(false));
    }
    for (i, extra) in p.extra_index_urls.iter().enumerate() {
        let mut source = Table::new();
        source.insert("url".into(), Value::String(extra.as_str().to_string()));
        pypi.insert(format!("extra-{}", i + 1), Value::Table(source));
    }
    table.insert("pypi".into(), Value::Table(pypi));
    let body = toml::to_string(&table).context("cannot render pdm's config.toml")?;
    Ok(format!("{HEADER}{body}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mirror_replaces_pypi_and_other_keys_stay() {
        let p = super::super::pip_policy(
            "http://10.0.0.5/simple/",
            "trusted_hosts = [\"10.0.0.5\"]\n",
        );
        let existing = "check_update = false\n[pypi]\nurl = \"https://pypi.org/simple\"\n";
        let out = render(Some(existing), SYSTEM_FILE, &p).expect("renders");
        let t: Table = out.parse().expect("TOML");
        assert_eq!(t["check_update"], Value::Boolean(false));
        assert_eq!(t["pypi"]["url"].as_str(), Some("http://10.0.0.5/simple/"));
        assert_eq!(t["pypi"]["verify_ssl"], Value::Boolean(false));
        assert_eq!(render(Some(&out), SYSTEM_FILE, &p).expect("renders"), out);
    }
}
