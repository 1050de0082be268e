//! Finding the Python environments on the instance: the base conda install,
//! its `envs/*`, and environments kept elsewhere (the ML volume). Walks are
//! bounded, never follow links, and only read directory entries.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use crate::host::{EntryKind, Host, Name};
use crate::policy::Policy;

const MAX_DEPTH: usize = 3;
const MAX_DIRS: usize = 2000;

/// A directory is an environment when it holds `conda-meta` or `pyvenv.cfg`.
fn is_env(entries: &[(Name, EntryKind)]) -> bool {
    entries.iter().any(|(n, k)| {
        (n == "conda-meta" && *k == EntryKind::Dir) || (n == "pyvenv.cfg" && *k == EntryKind::File)
    })
}

/// What a search for environments found.
#[derive(Debug, Default)]
pub struct Found {
    /// Environment prefixes.
    pub envs: Vec<PathBuf>,
    /// Facts worth a report line (no conda install).
    pub notes: Vec<String>,
    /// Places not searched whole (unreadable, or the walk's bound reached):
    /// the environments found may not be all there are.
    pub unsearched: Vec<String>,
}

/// The environments: the conda install and its `envs/*`, and those under
/// `search`, 3 levels deep. A hidden directory (`.venv`) counts when it is
/// an environment itself, but is not searched below.
pub fn discover(host: &Host, conda_root: &Path, search: &[PathBuf]) -> Found {
    let mut envs = Vec::new();
    let mut notes = Vec::new();
    let mut unsearched = Vec::new();
    match host.list(conda_root) {
        Ok(Some(entries)) => {
            if is_env(&entries) {
                envs.push(conda_root.to_path_buf());
            }
            let dir = conda_root.join("envs");
            match host.list(&dir) {
                Ok(Some(list)) => envs.extend(
                    list.into_iter()
                        .filter(|(_, k)| *k == EntryKind::Dir)
                        .map(|(n, _)| dir.join(n)),
                ),
                Ok(None) => {}
                Err(e) => unsearched.push(format!("cannot list {}: {e:#}", dir.display())),
            }
        }
        Ok(None) => notes.push(format!("no conda install at {}", conda_root.display())),
        Err(e) => unsearched.push(format!("cannot list {}: {e:#}", conda_root.display())),
    }
    for start in search {
        let mut queue = VecDeque::from([(start.clone(), 0)]);
        let mut seen = 0;
        while let Some((dir, depth)) = queue.pop_front() {
            seen += 1;
            if seen > MAX_DIRS {
                unsearched.push(format!(
                    "stopped searching {} after {MAX_DIRS} directories",
                    start.display()
                ));
                break;
            }
            let entries = match host.list(&dir) {
                Ok(Some(e)) => e,
                Ok(None) => continue,
                Err(e) => {
                    unsearched.push(format!("cannot search {}: {e:#}", dir.display()));
                    continue;
                }
            };
            if is_env(&entries) {
                if !envs.contains(&dir) {
                    envs.push(dir);
                }
                continue;
            }
            if depth < MAX_DEPTH {
                for (name, kind) in entries {
                    if kind != EntryKind::Dir {
                        continue;
                    }
                    // `.git` and caches can be huge: a hidden directory is
                    // only looked at, as `python -m venv .venv` makes one.
                    if name.starts_with(".") {
                        seen += 1;
                        match host.list(&dir.join(&name)) {
                            Ok(Some(inner)) if is_env(&inner) => envs.push(dir.join(&name)),
                            Ok(_) => {}
                            Err(e) => unsearched.push(format!(
                                "cannot search {}: {e:#}",
                                dir.join(&name).display()
                            )),
                        }
                    } else {
                        queue.push_back((dir.join(name), depth + 1));
                    }
                }
            }
        }
    }
    Found {
        envs,
        notes,
        unsearched,
    }
}

/// The policy's extra places to look for environments.
pub fn search_paths(policy: &Policy) -> Vec<PathBuf> {
    policy
        .env_search
        .iter()
        .map(|p| p.as_path().to_path_buf())
        .collect()
}

/// Links where an environment's Python looks for its packages and start-up
/// code (`lib`, `lib/python3.*`, `…/site-packages`), which nbwarden does not
/// follow: what they lead to would go unchecked while Python reads it. A
/// `lib/python3.1 -> python3.10` beside its target (as some conda builds
/// ship) is no such link: the target is listed in its own right.
pub fn unfollowed_links(host: &Host, prefix: &Path) -> Vec<PathBuf> {
    let lib = prefix.join("lib");
    if matches!(host.kind(&lib), Ok(Some(EntryKind::Symlink))) {
        return vec![lib];
    }
    let Ok(Some(entries)) = host.list(&lib) else {
        return Vec::new();
    };
    let dirs: Vec<&Name> = entries
        .iter()
        .filter(|(n, k)| *k == EntryKind::Dir && n.starts_with("python3"))
        .map(|(n, _)| n)
        .collect();
    let mut links = Vec::new();
    for (name, kind) in &entries {
        if *kind != EntryKind::Symlink || !name.starts_with("python3") {
            continue;
        }
        let path = lib.join(name);
        let sibling = host.read_link(&path).ok().flatten().is_some_and(|target| {
            target.components().count() == 1
                && dirs
                    .iter()
                    .any(|d| d.as_bytes() == target.as_os_str().as_encoded_bytes())
        });
        if !sibling {
            links.push(path);
        }
    }
    for dir in dirs {
        let site = lib.join(dir).join("site-packages");
        if matches!(
            host.kind(&site),
            Ok(Some(
                EntryKind::Symlink | EntryKind::File | EntryKind::Other
            ))
        ) {
            links.push(site);
        }
    }
    links
}

/// Entries of the conda install's `envs/` that are links: environments
/// nbwarden does not follow into, though Python and Jupyter would.
pub fn linked_envs(host: &Host, conda_root: &Path) -> Vec<PathBuf> {
    let dir = conda_root.join("envs");
    match host.list(&dir) {
        Ok(Some(list)) => list
            .into_iter()
            .filter(|(_, k)| *k == EntryKind::Symlink)
            .map(|(n, _)| dir.join(n))
            .collect(),
        _ => Vec::new(),
    }
}

/// The `site-packages` (or `dist-packages`) directories of an environment:
/// `lib/python3.*/site-packages`, found by listing, never by running it.
pub fn site_packages(host: &Host, prefix: &Path) -> Vec<PathBuf> {
    let lib = prefix.join("lib");
    let Ok(Some(entries)) = host.list(&lib) else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter(|(n, k)| *k == EntryKind::Dir && n.starts_with("python3"))
        .map(|(n, _)| lib.join(n).join("site-packages"))
        .filter(|p| matches!(host.kind(p), Ok(Some(EntryKind::Dir))))
        .collect()
}
