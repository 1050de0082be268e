//! pip's INI configuration: rendering nbwarden's settings into the global
//! files while keeping unrelated settings, and reading index settings from
//! any pip.conf for the precedence check.

use anyhow::{Context, Result};
use ini::{EscapePolicy, Ini, LineSeparator, ParseOption, WriteOption};

use crate::policy::PipPolicy;

/// pip's global files on Linux, in the order pip reads them.
pub const GLOBAL_FILES: [&str; 2] = ["/etc/xdg/pip/pip.conf", "/etc/pip.conf"];
/// User files, relative to the home directory.
pub const USER_FILES: [&str; 2] = [".pip/pip.conf", ".config/pip/pip.conf"];
/// Keys that decide where pip looks for packages.
pub const INDEX_KEYS: [&str; 4] = ["index-url", "extra-index-url", "find-links", "no-index"];
/// Sections whose keys apply to installs and downloads.
pub const SECTIONS: [&str; 3] = ["global", "install", "download"];
const HEADER: &str = "# Managed by nbwarden: pip's package mirror. Index settings here are \
rewritten at every start;\n# other settings are kept.\n";

fn parse(text: &str) -> Result<Ini, ini::ParseError> {
    Ini::load_from_str_opt(
        text,
        ParseOption {
            enabled_quote: false,
            enabled_escape: false,
            enabled_indented_mutiline_value: true,
            enabled_preserve_key_leading_whitespace: false,
        },
    )
}

/// pip accepts `index_url` and `index-url` alike.
fn normal(key: &str) -> String {
    key.trim().to_ascii_lowercase().replace('_', "-")
}

/// The global file's content: `existing` with every index setting replaced
/// by the policy's.
pub fn render(existing: Option<&str>, path: &str, p: &PipPolicy) -> Result<String> {
    let mut ini = match existing {
        Some(text) => parse(text).with_context(|| {
            format!("{path} is not valid INI; fix or remove it so nbwarden can manage it")
        })?,
        None => Ini::new(),
    };
    for section in SECTIONS {
        if let Some(props) = ini.section_mut(Some(section)) {
            let drop: Vec<String> = props
                .iter()
                .map(|(k, _)| k.to_string())
                .filter(|k| INDEX_KEYS.contains(&normal(k).as_str()) || normal(k) == "trusted-host")
                .collect();
            for k in drop {
                let _ = props.remove_all(&k).count();
            }
        }
    }
    let mut global = ini.with_section(Some("global"));
    global.set("index-url", p.index_url.as_str());
    if !p.extra_index_urls.is_empty() {
        let extra: Vec<&str> = p.extra_index_urls.iter().map(|u| u.as_str()).collect();
        global.set("extra-index-url", extra.join(" "));
    }
    if !p.trusted_hosts.is_empty() {
        global.set("trusted-host", p.trusted_hosts.join(" "));
    }
    if let Some(t) = p.timeout {
        global.set("timeout", t.to_string());
    }
    if let Some(r) = p.retries {
        global.set("retries", r.to_string());
    }
    if let Some(cert) = &p.cert {
        global.set("cert", cert.as_path().to_string_lossy());
    }
    let mut out = Vec::new();
    ini.write_to_opt(
        &mut out,
        WriteOption {
            escape_policy: EscapePolicy::Nothing,
            line_separator: LineSeparator::CR,
            kv_separator: " = ",
        },
    )?;
    Ok(format!("{HEADER}{}", String::from_utf8_lossy(&out)))
}

/// Every index setting in a pip.conf: (section, key, value).
/// Every section counts: pip reads `[global]` and then the section named
/// after the command (`[install]`, `[download]`, `[wheel]`, `[index]`…).
/// Read line by line, not as continued values: Python's configparser takes
/// an indented line as a new key when the key before it was indented as
/// much, where an INI reader would hide it inside the previous value.
pub fn index_settings(text: &str) -> Result<Vec<(String, String, String)>, String> {
    let mut out = Vec::new();
    let mut section = "(no section)".to_string();
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            section = name.trim().to_ascii_lowercase();
            continue;
        }
        let Some(at) = t.find(['=', ':']) else {
            continue;
        };
        let key = normal(&t[..at]);
        if INDEX_KEYS.contains(&key.as_str()) {
            out.push((section.clone(), key, t[at + 1..].trim().to_string()));
        }
    }
    if out.is_empty() {
        parse(text).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pip(extra: &str) -> PipPolicy {
        super::super::pip_policy("http://m.example:8080/simple/", extra)
    }

    #[test]
    fn indented_keys_are_keys_as_pip_reads_them() {
        let text = "[global]\n timeout = 60\n index-url = https://pypi.org/simple\n[Install]\nEXTRA_INDEX_URL: https://x\n";
        assert_eq!(
            index_settings(text).expect("read"),
            [
                (
                    "global".to_string(),
                    "index-url".to_string(),
                    "https://pypi.org/simple".to_string()
                ),
                (
                    "install".to_string(),
                    "extra-index-url".to_string(),
                    "https://x".to_string()
                )
            ]
        );
    }

    #[test]
    fn renders_the_index_and_keeps_unrelated_settings() {
        let existing = "[global]\nindex_url = https://pypi.org/simple\ndisable-pip-version-check = true\n\
                        [install]\nextra-index-url = https://pypi.org/simple\n    https://x.example/simple\nuser = false\n\
                        [freeze]\ntimeout = 5\n";
        let p = pip("trusted_hosts = [\"m.example\"]\ntimeout = 20\n");
        let out = render(Some(existing), "/etc/pip.conf", &p).expect("render");
        let settings = index_settings(&out).expect("parse");
        assert_eq!(
            settings,
            [(
                "global".into(),
                "index-url".into(),
                "http://m.example:8080/simple/".into()
            )]
        );
        assert!(out.contains("disable-pip-version-check = true"), "{out}");
        assert!(out.contains("[install]\nuser = false"), "{out}");
        assert!(out.contains("[freeze]\ntimeout = 5"), "{out}");
        assert!(out.contains("trusted-host = m.example"), "{out}");
        assert!(out.contains("timeout = 20"), "{out}");
        assert_eq!(
            render(Some(&out), "/etc/pip.conf", &p).expect("again"),
            out,
            "stable"
        );
    }

    #[test]
    fn broken_ini_is_an_error_naming_the_file() {
        let err = render(
            Some("[global\nx"),
            "/etc/pip.conf",
            &pip("trusted_hosts = [\"m.example\"]\n"),
        )
        .expect_err("bad");
        assert!(format!("{err:#}").contains("/etc/pip.conf is not valid INI"));
    }
}
