//! Which distribution the root holds, from its `os-release`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Distro {
    #[serde(rename = "amazon-linux-2")]
    AmazonLinux2,
    #[serde(rename = "amazon-linux-2023")]
    AmazonLinux2023,
    /// Anything else, reported as such (Debian in the system tests).
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsInfo {
    pub distro: Distro,
    pub id: String,
    pub version_id: String,
    pub pretty_name: String,
}

impl OsInfo {
    pub fn unknown() -> OsInfo {
        OsInfo {
            distro: Distro::Other,
            id: "unknown".into(),
            version_id: String::new(),
            pretty_name: "unknown (no os-release)".into(),
        }
    }

    /// Parses os-release(5): `KEY=value` lines, values optionally quoted.
    pub fn parse(text: &str) -> OsInfo {
        let mut info = OsInfo::unknown();
        info.pretty_name.clear();
        for line in text.lines() {
            let Some((key, raw)) = line.trim().split_once('=') else {
                continue;
            };
            let value = unquote(raw.trim());
            match key {
                "ID" => info.id = value,
                "VERSION_ID" => info.version_id = value,
                "PRETTY_NAME" => info.pretty_name = value,
                _ => {}
            }
        }
        if info.pretty_name.is_empty() {
            info.pretty_name = format!("{} {}", info.id, info.version_id)
                .trim()
                .to_string();
        }
        info.distro = match (info.id.as_str(), info.version_id.as_str()) {
            ("amzn", "2") => Distro::AmazonLinux2,
            ("amzn", "2023") => Distro::AmazonLinux2023,
            _ => Distro::Other,
        };
        info
    }
}

fn unquote(v: &str) -> String {
    let inner = v
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
        .unwrap_or(v);
    inner.replace("\\\"", "\"").replace("\\\\", "\\")
}

/// This process's high-water mark of resident memory (Linux `VmHWM`), KiB;
/// 0 when unknown. Read from the machine, not the managed root.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The machine's host name; empty when unknown.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The kernel's id of this boot; `None` when it cannot be read. Read from
/// the machine, not the managed root.
pub fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
}

/// What the machine's `/proc` says of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessSeen {
    /// `/proc` hides other users' processes (`hidepid`): nothing can be told.
    Hidden,
    /// No such process.
    Gone,
    /// Running; its start time in clock ticks since boot (`stat`'s field
    /// 22), which tells it from a later process given the same PID.
    Started(String),
}

/// Looks `pid` up in the machine's `/proc`.
pub fn process(pid: u32) -> ProcessSeen {
    if !std::path::Path::new("/proc/1").exists() {
        return ProcessSeen::Hidden;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return ProcessSeen::Gone;
    };
    // Field 22, counted after the command name, which may hold spaces.
    match stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(19))
    {
        Some(start) => ProcessSeen::Started(start.to_string()),
        None => ProcessSeen::Hidden,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_seen_started_and_a_free_pid_gone() {
        assert!(matches!(
            process(std::process::id()),
            ProcessSeen::Started(_)
        ));
        // Above the kernel's largest pid_max (2^22).
        assert_eq!(process(5_000_000), ProcessSeen::Gone);
    }

    #[test]
    fn tells_amazon_linux_versions_apart() {
        let al2 = OsInfo::parse(
            "NAME=\"Amazon Linux\"\nVERSION=\"2\"\nID=\"amzn\"\nVERSION_ID=\"2\"\nPRETTY_NAME=\"Amazon Linux 2\"\n",
        );
        assert_eq!(al2.distro, Distro::AmazonLinux2);
        let al2023 = OsInfo::parse("ID=\"amzn\"\nVERSION_ID=\"2023\"\n");
        assert_eq!(al2023.distro, Distro::AmazonLinux2023);
        assert_eq!(al2023.pretty_name, "amzn 2023");
        let debian = OsInfo::parse(
            "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME='Debian GNU/Linux 12 (bookworm)'\n",
        );
        assert_eq!(debian.distro, Distro::Other);
        assert_eq!(debian.pretty_name, "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(
            OsInfo::parse("ID=amzn\nVERSION_ID=2018.03\n").distro,
            Distro::Other
        );
    }
}
