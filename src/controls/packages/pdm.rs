//! pdm's site configuration: `/etc/xdg/pdm/config.toml` (platformdirs'
//! site config directory), which pdm reads below the user's and the
//! project's. The file is nbwarden's whole: written from the policy at
//! every start (no image ships one).

use anyhow::Result;

use super::toml_text::quoted;
use crate::policy::PipPolicy;

pub const SYSTEM_FILE: &str = "/etc/xdg/pdm/config.toml";
const HEADER: &str = "# Managed by nbwarden: pdm's package mirror, rewritten at every start.\n";

/// The site config: `[pypi]` is the mirror, each allowed extra index a
/// named `[pypi.extra-N]` source.
pub fn render(_existing: Option<&str>, _path: &str, p: &PipPolicy) -> Result<String> {
    let mut out = format!("{HEADER}[pypi]\nurl = {}\n", quoted(p.index_url.as_str()));
    if p.trusted_hosts.iter().any(|h| h == p.index_url.host()) {
        out.push_str("verify_ssl = false\n");
    }
    for (i, extra) in p.extra_index_urls.iter().enumerate() {
        out.push_str(&format!(
            "\n[pypi.extra-{}]\nurl = {}\n",
            i + 1,
            quoted(extra.as_str())
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use toml::{Table, Value};

    #[test]
    fn the_mirror_is_pypi() {
        let p = super::super::pip_policy(
            "http://10.0.0.5/simple/",
            "trusted_hosts = [\"10.0.0.5\"]\n",
        );
        let out = render(None, SYSTEM_FILE, &p).expect("renders");
        let t: Table = out.parse().expect("TOML");
        assert_eq!(t["pypi"]["url"].as_str(), Some("http://10.0.0.5/simple/"));
        assert_eq!(t["pypi"]["verify_ssl"], Value::Boolean(false));
    }
}
