//! Finding the Python environments on the instance: the base conda install,
//! its `envs/*`, and environments kept elsewhere (the ML volume). Walks are
//! bounded, never follow links, and only read directory entries.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::base::deadline::deadline_passed;
use crate::host::{EntryKind, Host, Name};
use crate::policy::Policy;

/// How far a walk for environments goes: bounded by what it looks for
/// (directories that can hold an environment), never by how many files the
/// user keeps. Past a bound it stops descending and says where.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Levels below the start.
    pub depth: usize,
    /// Directories looked at in all (listed, or asked for a marker).
    pub dirs: usize,
    /// Entries read of one directory; one with more is not descended into
    /// (a dataset, not a tree of environments).
    pub entries_per_dir: usize,
    /// Time for the whole walk.
    pub time: Duration,
}

/// `env_search` places: environments a few levels down.
pub const SEARCH: Bounds = Bounds {
    depth: 3,
    dirs: 2000,
    entries_per_dir: 10_000,
    time: Duration::from_secs(5),
};

/// The user's whole home (the ML volume included), for the override search.
pub const HOME: Bounds = Bounds {
    depth: 12,
    dirs: 20_000,
    entries_per_dir: 10_000,
    time: Duration::from_secs(10),
};

/// Places a walk did not descend into, kept in full up to this many.
const MAX_SKIPPED: usize = 20;

/// Files a walk collects wherever it sees them: a project's configuration
/// that uv, poetry or pdm read from the directory they run in (or above).
pub const PROJECT_FILES: [&str; 2] = ["uv.toml", "pyproject.toml"];

/// Directories whose layout is known to hold no environment.
const NOT_ENVIRONMENTS: [&str; 1] = [".git"];

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
    /// Project configuration files seen on the way ([`PROJECT_FILES`]).
    pub project_files: Vec<PathBuf>,
    /// Facts worth a report line (no conda install).
    pub notes: Vec<String>,
    /// Places that could not be read: the environments found may not be
    /// all there are.
    pub unsearched: Vec<String>,
    /// Places a bound kept the walk out of (a dataset's directories), said
    /// in the report; what is there is not an environment nbwarden knows.
    pub skipped: Vec<String>,
    skipped_more: usize,
    /// The directories looked at, shallowest first, at most
    /// [`MAX_WALKED`]: where a new environment would appear (the monitor
    /// watches them).
    pub walked: Vec<PathBuf>,
}

/// Directories [`Found::walked`] keeps.
const MAX_WALKED: usize = 2048;

impl Found {
    fn walked(&mut self, dir: &Path) {
        if self.walked.len() < MAX_WALKED {
            self.walked.push(dir.to_path_buf());
        }
    }

    fn skip(&mut self, what: String) {
        if self.skipped.len() < MAX_SKIPPED {
            self.skipped.push(what);
        } else {
            self.skipped_more += 1;
        }
    }

    fn env(&mut self, dir: PathBuf) {
        if !self.envs.contains(&dir) {
            self.envs.push(dir);
        }
    }

    /// The places not descended into, as report lines.
    pub fn skipped_lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .skipped
            .iter()
            .map(|s| format!("not descended into: {s}"))
            .collect();
        if self.skipped_more > 0 {
            lines.push(format!(
                "not descended into: … and {} more place(s)",
                self.skipped_more
            ));
        }
        lines
    }

    /// A directory with no subdirectory (a link count of 2) has nothing
    /// below it: it is not listed, only asked for the names that matter
    /// (an environment's `pyvenv.cfg`, its bin/ a link; project files).
    fn leaf(&mut self, host: &Host, dir: &Path) {
        if matches!(
            host.kind(&dir.join("pyvenv.cfg")),
            Ok(Some(EntryKind::File))
        ) {
            self.env(dir.to_path_buf());
        }
        for name in PROJECT_FILES {
            let f = dir.join(name);
            if matches!(
                host.kind(&f),
                Ok(Some(EntryKind::File | EntryKind::Symlink))
            ) {
                self.project_files.push(f);
            }
        }
    }

    /// Every environment under `start` within `bounds`, links not followed,
    /// and the project files on the way. An environment's own tree is not
    /// searched further, but the base install's `envs/` is; `.git` is not
    /// searched. The walk ends at the run's deadline too, saying where.
    // Long: the bounded walk over environments: its limits, the deadline and the skip rules
    // read as one loop.
    pub fn walk(&mut self, host: &Host, start: &Path, bounds: Bounds) {
        let started = Instant::now();
        let mut queue = VecDeque::from([(start.to_path_buf(), 0)]);
        let mut looked = 0;
        while let Some((dir, depth)) = queue.pop_front() {
            let why = if looked >= bounds.dirs {
                Some(format!(
                    "the walk looks at most at {} directories",
                    bounds.dirs
                ))
            } else if started.elapsed() > bounds.time {
                Some(format!("the walk takes at most {:?}", bounds.time))
            } else if deadline_passed() {
                Some("the run's deadline passed".to_string())
            } else {
                None
            };
            if let Some(why) = why {
                self.skip(format!(
                    "{} and {} more director(ies) below {} ({why})",
                    dir.display(),
                    queue.len(),
                    start.display()
                ));
                return;
            }
            looked += 1;
            self.walked(&dir);
            let listing = match host.list_bounded(&dir, bounds.entries_per_dir) {
                Ok(Some(l)) => l,
                Ok(None) => continue,
                Err(e) => {
                    self.unsearched
                        .push(format!("cannot search {}: {e:#}", dir.display()));
                    continue;
                }
            };
            for (name, kind) in &listing.entries {
                if matches!(kind, EntryKind::File | EntryKind::Symlink)
                    && PROJECT_FILES.iter().any(|p| name == *p)
                {
                    self.project_files.push(dir.join(name));
                }
            }
            if is_env(&listing.entries) {
                self.env(dir.clone());
                if listing
                    .entries
                    .iter()
                    .any(|(n, k)| n == "envs" && *k == EntryKind::Dir)
                {
                    queue.push_back((dir.join("envs"), depth + 1));
                }
                continue;
            }
            if !listing.complete {
                self.skip(format!(
                    "{} (more than {} entries)",
                    dir.display(),
                    bounds.entries_per_dir
                ));
                continue;
            }
            let mut subdirs: Vec<&Name> = listing
                .entries
                .iter()
                .filter(|(n, k)| *k == EntryKind::Dir && !NOT_ENVIRONMENTS.iter().any(|x| n == *x))
                .map(|(n, _)| n)
                .collect();
            if depth >= bounds.depth {
                if !subdirs.is_empty() {
                    self.skip(format!(
                        "{} (deeper than {} levels below {})",
                        dir.display(),
                        bounds.depth,
                        start.display()
                    ));
                }
                continue;
            }
            subdirs.sort();
            let n = subdirs.len();
            for (i, name) in subdirs.into_iter().enumerate() {
                let child = dir.join(name);
                if looked >= bounds.dirs {
                    self.skip(format!(
                        "{} and {} more director(ies) below {} (the walk looks at most at {} \
                         directories)",
                        child.display(),
                        n - i - 1 + queue.len(),
                        start.display(),
                        bounds.dirs
                    ));
                    return;
                }
                if matches!(host.stat(&child), Ok(Some(st)) if st.links == 2) {
                    // Counted: a flood of empty directories costs a stat each.
                    looked += 1;
                    self.walked(&child);
                    self.leaf(host, &child);
                } else {
                    queue.push_back((child, depth + 1));
                }
            }
        }
    }
}

/// The environments: the conda install and its `envs/*`, and those under
/// `search` (within [`SEARCH`]).
pub fn discover(host: &Host, conda_root: &Path, search: &[PathBuf]) -> Found {
    let mut found = Found::default();
    match host.list(conda_root) {
        Ok(Some(entries)) => {
            if is_env(&entries) {
                found.envs.push(conda_root.to_path_buf());
            }
            let dir = conda_root.join("envs");
            match host.list(&dir) {
                Ok(Some(list)) => found.envs.extend(
                    list.into_iter()
                        .filter(|(_, k)| *k == EntryKind::Dir)
                        .map(|(n, _)| dir.join(n)),
                ),
                Ok(None) => {}
                Err(e) => found
                    .unsearched
                    .push(format!("cannot list {}: {e:#}", dir.display())),
            }
        }
        Ok(None) => found
            .notes
            .push(format!("no conda install at {}", conda_root.display())),
        Err(e) => found
            .unsearched
            .push(format!("cannot list {}: {e:#}", conda_root.display())),
    }
    for start in search {
        found.walk(host, start, SEARCH);
    }
    found
}

/// Kernel spec directories outside environments.
const SYSTEM_KERNEL_DIRS: &[&str] = &[
    "/usr/local/share/jupyter/kernels",
    "/usr/share/jupyter/kernels",
];

/// Where Jupyter finds kernel specs: the system's, the user's, and every
/// environment's `share/jupyter/kernels`.
pub fn kernel_dirs(home: &Path, envs: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = SYSTEM_KERNEL_DIRS.iter().map(PathBuf::from).collect();
    dirs.push(home.join(".local/share/jupyter/kernels"));
    dirs.extend(envs.iter().map(|e| e.join("share/jupyter/kernels")));
    dirs
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
