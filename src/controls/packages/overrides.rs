//! The override search: every place nbwarden knows where pip, conda or uv
//! can be told to use another index, for the notebook user, in every
//! environment under the user's home. It names what it finds and says what
//! it searched. It cannot prove the user's shells choose nothing else (a
//! user types `--index-url` by hand): the barrier is egress, which the
//! report points at. The catalogue (README, "Where the override search
//! looks"):
//! - pip: `~/.pip/pip.conf`, `~/.config/pip/pip.conf`, every environment's
//!   `pip.conf`, every section and key spelling;
//! - conda: every file of conda's search path (system, `/var/lib/conda`,
//!   the base install, the user's, every environment's, each `condarc.d`);
//!   a key the system file marks `#!final` cannot be overridden by them;
//! - uv: `/etc/xdg/uv/uv.toml`, `~/.config/uv/uv.toml` (and `/etc/uv/uv.toml`
//!   when nbwarden does not manage it);
//! - variables and command-line flags that choose an index, in system and
//!   user shell startup files (bash, zsh, ksh, csh, fish, environment.d),
//!   conda activation scripts, every `.pth`, `sitecustomize.py` and
//!   `usercustomize.py` of each environment's (and the user's own)
//!   site-packages, and Jupyter kernel specs' `env` and `argv`.
//!
//! The search is bounded in entries and time; past either bound it is an
//! error, never a pass.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Result, bail};

use super::super::python_envs;
use super::{conda, pip, sightings, uv};
use crate::base::deadline::deadline_passed;
use crate::engine::{Probe, ProbeResult};
use crate::host::{EntryKind, Host};
use crate::policy::{OnOverride, PackagesPolicy};

pub struct Overrides {
    policy: PackagesPolicy,
    conda_root: PathBuf,
    env_search: Vec<PathBuf>,
    home: PathBuf,
}

/// Where a setting came from and what it says.
struct Finding {
    source: String,
    what: String,
}

/// Variables that choose where pip, conda or uv look for packages, or
/// which configuration file they read.
const WATCHED_VARS: &[&str] = &[
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_NO_INDEX",
    "PIP_INDEX",
    "PIP_CONFIG_FILE",
    "XDG_CONFIG_HOME",
    "XDG_CONFIG_DIRS",
    "CONDARC",
    "CONDA_CHANNELS",
    "CONDA_DEFAULT_CHANNELS",
    "CONDA_CHANNEL_ALIAS",
    "CONDA_CUSTOM_CHANNELS",
    "CONDA_OVERRIDE_CHANNELS_ENABLED",
    "CONDA_MIGRATED_CHANNEL_ALIASES",
    "CONDA_MIGRATED_CUSTOM_CHANNELS",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_INDEX",
    "UV_FIND_LINKS",
    "UV_CONFIG_FILE",
    "UV_NO_CONFIG",
];

/// Command-line options with the same effect, as aliases and wrappers
/// write them.
const WATCHED_FLAGS: &[&str] = &[
    "--index-url",
    "--extra-index-url",
    "--find-links",
    "--no-index",
    "--default-index",
    "--override-channels",
];

/// uv.toml keys that choose an index.
const UV_KEYS: &[&str] = &[
    "index-url",
    "extra-index-url",
    "find-links",
    "no-index",
    "[[index]]",
    "index",
];

/// System shell startup files (plus every `/etc/profile.d/*`).
const SYSTEM_SHELL_FILES: &[&str] = &[
    "/etc/environment",
    "/etc/profile",
    "/etc/bash.bashrc",
    "/etc/bashrc",
    "/etc/zshenv",
    "/etc/zsh/zshenv",
    "/etc/zsh/zprofile",
    "/etc/zsh/zshrc",
    "/etc/csh.cshrc",
    "/etc/csh.login",
];

/// The user's shell startup files, relative to the home directory.
const USER_SHELL_FILES: &[&str] = &[
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".profile",
    ".zshenv",
    ".zprofile",
    ".zshrc",
    ".zlogin",
    ".kshrc",
    ".mkshrc",
    ".cshrc",
    ".tcshrc",
    ".login",
    ".pam_environment",
    ".config/fish/config.fish",
];

/// Directories of further user startup files, relative to the home.
const USER_SHELL_DIRS: &[&str] = &[".config/fish/conf.d", ".config/environment.d"];

/// Variables of a kernel spec's `env` that move where its Python or pip
/// looks: another home (its `pip.conf`, `.condarc`), another `PATH` (which
/// interpreter a bare `argv[0]` is), code or packages put before the
/// environment's own.
const KERNEL_REDIRECTS: &[&str] = &[
    "HOME",
    "PATH",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONUSERBASE",
    "PYTHONSTARTUP",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "CONDA_ENVS_PATH",
    "CONDA_ENVS_DIRS",
];

/// IPython's files that every kernel runs, in each profile of `~/.ipython`.
const IPYTHON_FILES: &[&str] = &[
    "ipython_config.py",
    "ipython_kernel_config.py",
    "ipython_config.json",
    "ipython_kernel_config.json",
];

/// Long options of pip and uv that choose an index; optparse also takes
/// any unambiguous prefix (`--extra-index`, `--index-ur`).
const PIP_LONG: &[&str] = &[
    "--index-url",
    "--extra-index-url",
    "--find-links",
    "--no-index",
    "--default-index",
    "--index",
];
/// conda's options that choose channels.
const CONDA_LONG: &[&str] = &["--channel", "--override-channels"];

/// The words of a shell or Python line: names, options, values.
fn words(line: &str) -> Vec<&str> {
    line.split(|c: char| {
        c.is_whitespace() || matches!(c, '"' | '\'' | ';' | '|' | '&' | '(' | ')' | '`' | ',')
    })
    .filter(|w| !w.is_empty())
    .collect()
}

/// Whether `line` names a watched variable, in any case and either
/// spelling (pip lower-cases what follows `PIP_`, and `-` reads as `_`).
fn names_a_variable(line: &str) -> bool {
    // Quotes and backslashes join what they split in a shell
    // (`PIP_"INDEX_URL"`, `PIP_\INDEX_URL`): read with them removed too.
    let unquoted: String = line
        .chars()
        .filter(|c| !matches!(c, '"' | '\'' | '\\'))
        .collect();
    [line, unquoted.as_str()].iter().any(|l| {
        l.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .map(|t| t.to_ascii_uppercase().replace('-', "_"))
            .any(|t| WATCHED_VARS.contains(&t.as_str()))
    })
}

/// Whether `line` runs pip, uv or conda with an option that chooses where
/// packages come from (short forms and prefixes of long ones included).
fn passes_an_index_option(line: &str) -> bool {
    let ws = words(line);
    let tool = |names: &[&str]| {
        ws.iter().any(|w| {
            let base = w.rsplit('/').next().unwrap_or(w);
            names.iter().any(|n| {
                base == *n
                    || base
                        .strip_prefix(n)
                        .is_some_and(|r| r.chars().all(|c| c.is_ascii_digit() || c == '.'))
            })
        })
    };
    let options = || ws.iter().map(|w| w.split('=').next().unwrap_or(w));
    let long_prefix = |o: &str, longs: &[&str]| {
        o.starts_with("--") && o.len() >= 5 && longs.iter().any(|l| l.starts_with(o))
    };
    if tool(&["pip", "uv"]) && options().any(|o| o == "-i" || o == "-f" || long_prefix(o, PIP_LONG))
    {
        return true;
    }
    if tool(&["conda", "mamba", "micromamba"])
        && options().any(|o| o == "-c" || long_prefix(o, CONDA_LONG))
    {
        return true;
    }
    // Without a tool's name on the line (an alias body, a wrapper's args).
    options().any(|o| WATCHED_FLAGS.contains(&o))
}

/// Start-up Python (`.pth` lines, `sitecustomize.py`) that writes the
/// environment: a name built at run time (`"PIP_" + "INDEX_URL"`) escapes
/// any search by name, so any write counts.
fn writes_the_environment(line: &str) -> bool {
    let l = line.replace(' ', "");
    l.starts_with("%env")
        || l.starts_with("%set_env")
        || l.contains("putenv(")
        || l.contains("environ.setdefault(")
        || l.contains("environ.update(")
        || l.contains("environ.__setitem__(")
        || (l.contains("environ[") && l.contains("]=") && !l.contains("]=="))
}

/// The lines of `text` that choose an index, numbered from 1; comments
/// are skipped. `python` adds the environment writes of start-up code.
fn watched(text: &str, python: bool) -> Vec<(usize, &str)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with('#'))
        .filter(|(_, l)| {
            names_a_variable(l)
                || passes_an_index_option(l)
                || (python && writes_the_environment(l))
        })
        .map(|(i, l)| (i + 1, l))
        .collect()
}

/// A watched line as a report shows it: `line N: text`, cut short.
fn shown(n: usize, line: &str) -> String {
    let text: String = line.trim().chars().take(160).collect();
    format!("line {n}: {text}")
}

/// [`watched`] lines as the report shows them.
#[cfg(test)]
fn watched_lines(text: &str, python: bool) -> Vec<String> {
    watched(text, python)
        .into_iter()
        .map(|(n, l)| shown(n, l))
        .collect()
}

/// Whether conda ignores all `line` does: every watched variable it names
/// is a conda setting (`CONDA_CHANNELS`) that a system file marks final,
/// which conda's environment variables cannot override either, and
/// nothing else on it chooses an index.
fn only_final_conda_settings(line: &str, python: bool, finals: &[String]) -> bool {
    let names: Vec<String> = line
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .map(|t| t.to_ascii_uppercase().replace('-', "_"))
        .filter(|t| WATCHED_VARS.contains(&t.as_str()))
        .collect();
    !names.is_empty()
        && names.iter().all(|n| {
            n.strip_prefix("CONDA_")
                .is_some_and(|k| finals.contains(&k.to_ascii_lowercase()))
        })
        && !passes_an_index_option(line)
        && (!python || !writes_the_environment(line))
}

/// The largest user file the search parses (pip.conf, .condarc, shell
/// start-up files, kernel specs).
const MAX_USER_FILE_BYTES: usize = 256 * 1024;

/// The bounds of one search.
struct Budget {
    started: Instant,
    limit: Duration,
    entries: usize,
    max_entries: usize,
}

impl Budget {
    fn spend(&mut self, n: usize, at: &Path) -> Result<()> {
        self.entries += n;
        if self.entries > self.max_entries {
            bail!(
                "the override search read more than {} directory entries (at {}) without \
                 finishing, so no verdict is proven; raise packages.search_entries or move \
                 data out of the user's home",
                self.max_entries,
                at.display()
            );
        }
        if self.started.elapsed() > self.limit {
            bail!(
                "the override search took longer than {:?} (at {}) without finishing, so no \
                 verdict is proven; raise packages.search_seconds",
                self.limit,
                at.display()
            );
        }
        Ok(())
    }
}

/// The index settings of a uv, poetry or pdm table: (key, URL) for each
/// index it names, (key, None) for settings that choose packages without a
/// URL (`no-index`, `find-links` paths).
fn project_indexes(section: &toml::Value) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let Some(t) = section.as_table() else {
        return out;
    };
    let url_of = |v: &toml::Value| -> Option<String> {
        v.as_str().map(str::to_string).or_else(|| {
            v.get("url")
                .and_then(toml::Value::as_str)
                .map(str::to_string)
        })
    };
    for (key, value) in t {
        match key.as_str() {
            "index-url" | "extra-index-url" | "url" => match value {
                toml::Value::Array(a) => out.extend(a.iter().map(|v| (key.clone(), url_of(v)))),
                v => out.push((key.clone(), url_of(v))),
            },
            // uv's [[index]], poetry's [[source]], pdm's [[source]].
            "index" | "source" => match value {
                toml::Value::Array(a) => out.extend(a.iter().map(|v| (key.clone(), url_of(v)))),
                v => out.push((key.clone(), url_of(v))),
            },
            "find-links" => out.push((key.clone(), None)),
            "no-index" if value.as_bool() == Some(true) => out.push((key.clone(), None)),
            _ => {}
        }
    }
    out
}

/// The interpreters a kernel's `argv` runs: the first word, and behind
/// `env` (`/usr/bin/env [-i] [NAME=VALUE]… PROGRAM`) the program it starts.
fn kernel_interpreters<'a>(argv: &[&'a str]) -> Vec<&'a str> {
    let Some(first) = argv.first() else {
        return Vec::new();
    };
    let mut found = vec![*first];
    if Path::new(first).file_name().is_some_and(|n| n == "env")
        && let Some(program) = argv[1..]
            .iter()
            .find(|a| !a.starts_with('-') && !a.contains('='))
    {
        found.push(program);
    }
    found
}

/// Findings kept in full (well inside the evidence cap); the rest are only
/// counted. What the user writes must not size root's memory (a flood of
/// matching lines in small files).
const MAX_FINDINGS: usize = 100;
/// Bytes of the user's files one search reads, in all.
const MAX_SEARCH_BYTES: usize = 32 * 1024 * 1024;

/// One run of the search: what was read, what was found.
struct Search<'a> {
    host: &'a Host,
    budget: Budget,
    findings: Vec<Finding>,
    /// Findings past [`MAX_FINDINGS`], counted only.
    more_findings: usize,
    bytes_read: usize,
    /// Set when the byte budget ran out: the search proves nothing.
    exhausted: Option<String>,
    /// Facts worth a report line that are not overrides.
    notes: Vec<String>,
    files_read: usize,
    /// The directories the search read files from or listed: where a
    /// change can add or remove an override (the monitor watches them).
    places: BTreeSet<PathBuf>,
    /// How many Python environments were searched.
    environments: usize,
    /// conda's keys the system file marks final (`#!final`).
    conda_finals: Vec<String>,
}

impl Search<'_> {
    fn finding(&mut self, source: impl std::fmt::Display, what: impl Into<String>) {
        if self.findings.len() < MAX_FINDINGS {
            self.findings.push(Finding {
                source: source.to_string(),
                what: what.into(),
            });
        } else {
            self.more_findings += 1;
        }
    }

    /// A file's text; `None` when absent. What nbwarden may not read, pip
    /// or conda still may: a finding.
    fn read(&mut self, path: &Path) -> Option<String> {
        if let Some(dir) = path.parent() {
            self.places.insert(dir.to_path_buf());
        }
        // Sized before it is read: a sparse file costs no disk and would
        // cost root the whole read.
        if let Ok(Some(st)) = self.host.stat(path)
            && st.size > MAX_USER_FILE_BYTES as u64
        {
            self.finding(
                path.display().to_string(),
                format!(
                    "not checked: {} bytes, more than the {MAX_USER_FILE_BYTES} a \
                     configuration or start-up file needs; pip and conda still read it",
                    st.size
                ),
            );
            return None;
        }
        match self.host.read_text(path) {
            Ok(Some(text)) if text.len() > MAX_USER_FILE_BYTES => {
                // The user sizes these files: parsing one of any size would
                // let them exhaust the monitor's memory. Not read is not
                // clean: a finding.
                self.finding(
                    path.display().to_string(),
                    format!(
                        "not checked: {} bytes, more than the {MAX_USER_FILE_BYTES} a \
                         configuration or start-up file needs; pip and conda still read it",
                        text.len()
                    ),
                );
                None
            }
            Ok(Some(text)) => {
                self.files_read += 1;
                self.bytes_read += text.len();
                if self.bytes_read > MAX_SEARCH_BYTES {
                    self.exhausted.get_or_insert_with(|| {
                        format!(
                            "the override search read more than {MAX_SEARCH_BYTES} bytes of the \
                             user's files (at {}) without finishing, so no verdict is proven",
                            path.display()
                        )
                    });
                    return None;
                }
                Some(text)
            }
            Ok(None) => None,
            Err(e) => {
                self.finding(path.display().to_string(), format!("not checked: {e:#}"));
                None
            }
        }
    }

    /// The names of a directory's entries of the given kinds.
    fn list(&mut self, dir: &Path, kinds: &[EntryKind]) -> Result<Vec<PathBuf>> {
        self.places.insert(dir.to_path_buf());
        match self.host.list(dir) {
            Ok(Some(entries)) => {
                self.budget.spend(entries.len(), dir)?;
                Ok(entries
                    .into_iter()
                    .filter(|(_, k)| kinds.contains(k))
                    .map(|(n, _)| dir.join(n))
                    .collect())
            }
            Ok(None) => Ok(Vec::new()),
            Err(e) => {
                self.finding(dir.display().to_string(), format!("not searched: {e:#}"));
                Ok(Vec::new())
            }
        }
    }

    /// A file whose lines may set a watched variable or flag.
    fn scan_shell(&mut self, path: &Path) {
        let python = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .is_some_and(|n| {
                [".pth", ".py", ".ipy", ".json"]
                    .iter()
                    .any(|e| n.ends_with(e))
            });
        if let Some(text) = self.read(path) {
            for (n, line) in watched(&text, python) {
                if only_final_conda_settings(line, python, &self.conda_finals) {
                    self.notes.push(format!(
                        "ignored by conda: {}: {} (final in {})",
                        path.display(),
                        shown(n, line),
                        conda::SYSTEM_FILE
                    ));
                } else {
                    self.finding(path.display().to_string(), shown(n, line));
                }
            }
        }
    }

    fn scan_pip_file(&mut self, path: &Path) {
        let Some(text) = self.read(path) else {
            return;
        };
        match pip::index_settings(&text) {
            Ok(settings) => {
                for (section, key, value) in settings {
                    self.finding(
                        path.display().to_string(),
                        format!("[{section}] {key} = {value}"),
                    );
                }
            }
            Err(e) => self.finding(
                path.display().to_string(),
                format!("unreadable INI ({e}); pip may still use it"),
            ),
        }
    }

    /// A condarc after the system file: keys the system file made final
    /// are ignored by conda, and said so.
    fn scan_condarc(&mut self, path: &Path, finals: &[String]) {
        let Some(text) = self.read(path) else {
            return;
        };
        // More places for environments, which conda lists and activates
        // but this search does not walk.
        for dir in conda::envs_dirs(&text) {
            self.finding(
                path.display().to_string(),
                format!("envs_dirs: {dir} (environments there are not searched)"),
            );
        }
        match conda::channel_settings(&text) {
            Ok(settings) => {
                for (key, value) in settings {
                    if finals.contains(&key) {
                        self.notes.push(format!(
                            "ignored by conda: {}: {key}: {value} ({key} is {} in {})",
                            path.display(),
                            conda::FINAL,
                            conda::SYSTEM_FILE
                        ));
                    } else {
                        self.finding(path.display().to_string(), format!("{key}: {value}"));
                    }
                }
            }
            Err(e) => self.finding(
                path.display().to_string(),
                format!("unreadable YAML ({e}); conda may still use it"),
            ),
        }
    }

    fn scan_uv(&mut self, path: &Path) {
        let Some(text) = self.read(path) else {
            return;
        };
        for (i, line) in text.lines().enumerate() {
            let t = line.trim();
            // TOML: `"index-url" = …` is `index-url = …`; `[[ index ]]` is
            // `[[index]]`.
            let key: String = t
                .split('=')
                .next()
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '"' && *c != '\'')
                .collect();
            if !t.starts_with('#') && UV_KEYS.contains(&key.as_str()) {
                self.finding(path.display().to_string(), format!("line {}: {t}", i + 1));
            }
        }
    }

    /// A project's `uv.toml` or `pyproject.toml` (uv, poetry and pdm read
    /// them in the directory they run in, and above): any index it names
    /// that is not the mirror or an allowed extra, or an index setting
    /// without a URL (`no-index`, `find-links`), is a finding; a file the
    /// tools would read but nbwarden cannot parse is one too.
    fn scan_project(&mut self, path: &Path, policy: &PackagesPolicy, governs: bool) {
        let Some(text) = self.read(path) else {
            return;
        };
        let table: toml::Table = match text.parse() {
            Ok(t) => t,
            // uv, poetry and pdm refuse a file they cannot parse: no index
            // comes from it.
            Err(e) => {
                let first = e.to_string().lines().next().unwrap_or_default().to_string();
                self.notes
                    .push(format!("{}: not TOML ({first})", path.display()));
                return;
            }
        };
        let is_uv_toml = path.file_name().is_some_and(|n| n == "uv.toml");
        let whole = toml::Value::Table(table.clone());
        let tool = table.get("tool").and_then(toml::Value::as_table);
        let sections: Vec<(&str, Option<&toml::Value>)> = if is_uv_toml {
            vec![("uv", Some(&whole))]
        } else {
            ["uv", "poetry", "pdm"]
                .into_iter()
                .map(|t| (t, tool.and_then(|tool| tool.get(t))))
                .collect()
        };
        let allowed: Vec<Option<String>> = policy
            .pip
            .iter()
            .flat_map(|p| std::iter::once(&p.index_url).chain(&p.extra_index_urls))
            .map(|u| super::mirror::comparable(u.as_str()))
            .collect();
        for (tool, section) in sections {
            let Some(section) = section else { continue };
            for (key, url) in project_indexes(section) {
                if url
                    .as_ref()
                    .is_none_or(|u| !allowed.contains(&super::mirror::comparable(u)))
                {
                    let what = format!(
                        "{tool}: {key}{}",
                        url.map(|u| format!(" = {u}")).unwrap_or_default()
                    );
                    if governs {
                        self.finding(path.display().to_string(), what);
                    } else {
                        self.notes.push(format!(
                            "a project's own index (used where {tool} runs in that project; \
                             held by egress): {}: {what}",
                            path.display()
                        ));
                    }
                }
            }
        }
    }

    /// Every `*/kernel.json` below `dir`: an `env` that sets a watched
    /// variable, or an `argv` with a watched flag.
    fn scan_kernels(&mut self, dir: &Path, envs: &[PathBuf]) -> Result<()> {
        // Jupyter follows a linked spec directory; nbwarden does not.
        for link in self.list(dir, &[EntryKind::Symlink])? {
            self.finding(
                link.display().to_string(),
                "a kernel spec directory that is a link: nbwarden follows no link the user \
                 made, so the kernel it starts is not searched",
            );
        }
        for spec in self.list(dir, &[EntryKind::Dir])? {
            let path = spec.join("kernel.json");
            let Some(text) = self.read(&path) else {
                continue;
            };
            // Jupyter's parser is Python's (`NaN`, `Infinity` load): a spec
            // nbwarden cannot read may still start a kernel.
            let json = match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(json) => json,
                Err(e) => {
                    self.finding(
                        path.display().to_string(),
                        format!("not read ({e}); Jupyter may still start it"),
                    );
                    continue;
                }
            };
            if let Some(env) = json.get("env").and_then(|e| e.as_object()) {
                for (k, v) in env {
                    if names_a_variable(k) || KERNEL_REDIRECTS.contains(&k.as_str()) {
                        self.finding(path.display().to_string(), format!("env {k} = {v}"));
                    }
                }
            }
            let argv: Vec<&str> = json
                .get("argv")
                .and_then(|a| a.as_array())
                .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
                .unwrap_or_default();
            // A kernel whose interpreter lives outside every environment
            // searched (`/tmp/kenv/bin/python`, also behind `env`) reads a
            // pip configuration and start-up files nobody looked at.
            for exe in kernel_interpreters(&argv) {
                if let Some(why) = self.unsearched_interpreter(exe, envs) {
                    self.finding(path.display().to_string(), why);
                }
            }
            if argv
                .iter()
                .any(|a| WATCHED_FLAGS.iter().any(|f| a.starts_with(f)))
            {
                self.finding(
                    path.display().to_string(),
                    format!("argv {}", argv.join(" ")),
                );
            }
        }
        Ok(())
    }

    /// Why a kernel's interpreter is outside what was searched, if it is: a
    /// path through `..`, or one outside every environment searched that
    /// is not root's (through a link the user made, say). A path to nothing
    /// starts no kernel.
    fn unsearched_interpreter(&self, exe: &str, envs: &[PathBuf]) -> Option<String> {
        let path = Path::new(exe);
        if !path.is_absolute() {
            return None;
        }
        if path.components().any(|c| {
            !matches!(
                c,
                std::path::Component::RootDir | std::path::Component::Normal(_)
            )
        }) {
            return Some(format!(
                "runs {exe}, named through `.` or `..`: which environment it is cannot be told \
                 from its name"
            ));
        }
        if envs.iter().any(|e| path.starts_with(e))
            || matches!(self.host.kind(path), Ok(None))
            || self.host.check_trusted(path).is_ok()
        {
            return None;
        }
        Some(format!(
            "runs {exe}, outside every environment searched and not root's: its pip \
             configuration and start-up files are not checked (keep environments under the \
             conda install, the home or env_search)"
        ))
    }
}

/// A search between checks that did not finish, as a finding.
fn unfinished(why: String) -> (String, String) {
    (
        "the override search".into(),
        format!("did not finish between checks, so it proved nothing: {why}"),
    )
}

/// What the monitor needs of one search: the overrides found (where,
/// what) and the places to watch for the next change.
pub struct Scan {
    pub found: Vec<(String, String)>,
    pub places: Vec<PathBuf>,
}

impl Overrides {
    /// The search for `packages` (its pip as the run has it) in the
    /// places `policy` names, for the user whose home is `home`.
    pub fn new(packages: PackagesPolicy, policy: &crate::policy::Policy, home: &str) -> Self {
        Overrides {
            policy: packages,
            conda_root: policy.conda_root.as_path().to_path_buf(),
            env_search: python_envs::search_paths(policy),
            home: PathBuf::from(home),
        }
    }

    /// The search the check runs, for the monitor's watch.
    /// A search that could not finish proves nothing: that is a finding of
    /// its own (a flood of files must not blind the watch).
    pub fn scan(&self, host: &Host) -> Scan {
        let s = match self.search(host) {
            Ok(s) => s,
            Err(e) => {
                return Scan {
                    found: vec![unfinished(format!("{e:#}"))],
                    places: Vec::new(),
                };
            }
        };
        let mut found: Vec<(String, String)> =
            s.findings.into_iter().map(|f| (f.source, f.what)).collect();
        found.extend(s.exhausted.map(unfinished));
        Scan {
            found,
            places: s.places.into_iter().collect(),
        }
    }

    /// Reads every place an index can be chosen, as far as the budget goes.
    fn search<'h>(&self, host: &'h Host) -> Result<Search<'h>> {
        let mut s = Search {
            host,
            budget: Budget {
                started: Instant::now(),
                limit: Duration::from_secs(u64::from(self.policy.search_seconds)),
                entries: 0,
                max_entries: self.policy.search_entries as usize,
            },
            findings: Vec::new(),
            more_findings: 0,
            bytes_read: 0,
            exhausted: None,
            notes: Vec::new(),
            files_read: 0,
            places: BTreeSet::new(),
            environments: 0,
            conda_finals: Vec::new(),
        };
        let home = self.home.as_path();

        // Environments: the conda install, anything under the home, and
        // the policy's other places.
        // The walk of the home is bounded by what it looks for: a dataset's
        // directories are said, never a reason to fail the start.
        let mut found = python_envs::discover(host, &self.conda_root, &self.env_search);
        found.walk(host, home, python_envs::HOME);
        s.places.extend(std::mem::take(&mut found.walked));
        // The walk has its own time bound: the search's starts now.
        s.budget.started = Instant::now();
        let envs = std::mem::take(&mut found.envs);
        let user_uv = home.join(".config/uv/uv.toml");
        let mut projects = std::mem::take(&mut found.project_files);
        projects.sort();
        projects.dedup();
        // uv reads a project's files from the directory it runs in and
        // above: where Jupyter starts terminals and kernels (the ML volume)
        // and the home. Deeper ones are a project's own choice (a cloned
        // repository's), said but held by egress like a typed flag.
        let workdir = home.join("SageMaker");
        let notes_before = s.notes.len();
        for f in projects {
            // The user's own uv.toml is read line by line below.
            if f == user_uv {
                continue;
            }
            if s.budget.started.elapsed() > s.budget.limit || deadline_passed() {
                s.notes.push(format!(
                    "project files from {} on not read: the search's time ran out",
                    f.display()
                ));
                break;
            }
            let governs = f.parent().is_some_and(|d| d == home || d == workdir);
            // A project's own file too big to be one is no reason to fail.
            if !governs
                && let Ok(Some(st)) = host.stat(&f)
                && st.size > MAX_USER_FILE_BYTES as u64
            {
                s.notes
                    .push(format!("{}: not read ({} bytes)", f.display(), st.size));
                continue;
            }
            s.scan_project(&f, &self.policy, governs);
        }
        // What the user's repositories hold must not size the report.
        const MAX_PROJECT_NOTES: usize = 20;
        let said = s.notes.len() - notes_before;
        if said > MAX_PROJECT_NOTES {
            s.notes.truncate(notes_before + MAX_PROJECT_NOTES);
            s.notes.push(format!(
                "… and {} more note(s) on projects' files",
                said - MAX_PROJECT_NOTES
            ));
        }
        s.notes.append(&mut found.notes);
        s.notes.extend(found.skipped_lines());
        for place in std::mem::take(&mut found.unsearched) {
            s.finding(place, "not searched for environments");
        }

        if self.policy.pip.is_some() {
            for rel in pip::USER_FILES {
                s.scan_pip_file(&home.join(rel));
            }
            for env in &envs {
                s.scan_pip_file(&env.join("pip.conf"));
            }
        }

        if self.policy.conda.is_some() {
            let finals = s
                .read(Path::new(conda::SYSTEM_FILE))
                .map(|t| conda::final_keys(&t))
                .unwrap_or_default();
            s.conda_finals = finals.clone();
            let root = self.conda_root.as_path();
            let mut places: Vec<PathBuf> = vec![
                PathBuf::from("/etc/conda"),
                PathBuf::from("/var/lib/conda"),
                root.to_path_buf(),
                home.join(".config/conda"),
                home.join(".conda"),
            ];
            places.extend(envs.iter().filter(|e| e.as_path() != root).cloned());
            let mut files = Vec::new();
            // nbwarden's own files are checked as managed files (drift),
            // not searched as overrides.
            let managed = [PathBuf::from(conda::SYSTEM_FILE), root.join(".condarc")];
            for place in &places {
                for name in [".condarc", "condarc"] {
                    let f = place.join(name);
                    if !managed.contains(&f) {
                        files.push(f);
                    }
                }
                files.extend(s.list(
                    &place.join("condarc.d"),
                    &[EntryKind::File, EntryKind::Symlink],
                )?);
            }
            files.push(home.join(".condarc"));
            for f in files {
                s.scan_condarc(&f, &finals);
            }
            let listed = home.join(".conda/environments.txt");
            if let Some(text) = s.read(&listed) {
                for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                    let searched = Path::new(line) == root
                        || envs.iter().any(|e| Path::new(line) == e.as_path());
                    if !searched {
                        s.finding(
                            listed.display().to_string(),
                            format!("{line}: an environment conda knows that was not searched"),
                        );
                    }
                }
            }
        }

        // uv reads its own files and variables; nbwarden's system file is
        // checked as a managed file (drift), not searched.
        let mut uv_files = vec![
            PathBuf::from("/etc/xdg/uv/uv.toml"),
            home.join(".config/uv/uv.toml"),
        ];
        if self.policy.pip.is_none() {
            uv_files.push(PathBuf::from(uv::SYSTEM_FILE));
        }
        for f in uv_files {
            s.scan_uv(&f);
        }

        // Shell startup files, activation scripts, kernel specs.
        let mut shell: Vec<PathBuf> = SYSTEM_SHELL_FILES.iter().map(PathBuf::from).collect();
        shell.extend(s.list(
            Path::new("/etc/profile.d"),
            &[EntryKind::File, EntryKind::Symlink],
        )?);
        shell.extend(USER_SHELL_FILES.iter().map(|f| home.join(f)));
        for dir in USER_SHELL_DIRS {
            shell.extend(s.list(&home.join(dir), &[EntryKind::File, EntryKind::Symlink])?);
        }
        // IPython runs its profiles' start-up files and configuration in
        // every kernel; Jupyter runs its `.py` configuration.
        for profile in s.list(
            &home.join(".ipython"),
            &[EntryKind::Dir, EntryKind::Symlink],
        )? {
            shell.extend(IPYTHON_FILES.iter().map(|f| profile.join(f)));
            shell.extend(s.list(
                &profile.join("startup"),
                &[EntryKind::File, EntryKind::Symlink],
            )?);
        }
        shell.extend(
            s.list(
                &home.join(".jupyter"),
                &[EntryKind::File, EntryKind::Symlink],
            )?
            .into_iter()
            .filter(|f| f.extension().is_some_and(|e| e == "py")),
        );
        for env in &envs {
            // An environment's IPython and Jupyter configuration (`etc/`)
            // runs in every kernel and server started from it.
            for sub in [
                "etc/conda/activate.d",
                "etc/conda/env_vars.d",
                "etc/ipython",
                "etc/jupyter",
            ] {
                shell.extend(s.list(&env.join(sub), &[EntryKind::File, EntryKind::Symlink])?);
            }
        }
        // Code every Python of an environment runs at start-up can set
        // the same variables (`os.environ[...]` in a .pth line).
        let user_site = home.join(".local");
        // A link where Python looks for start-up code leads somewhere this
        // search does not go (it follows no link the user made): what
        // Python would read there is unsearched, so it is a finding.
        let mut linked = python_envs::linked_envs(host, &self.conda_root);
        for env in envs.iter().chain(std::iter::once(&user_site)) {
            linked.extend(python_envs::unfollowed_links(host, env));
        }
        for link in linked {
            s.finding(
                link.display(),
                "a link where Python looks for packages and start-up code: nbwarden follows \
                 no link the user made, so what it leads to is not searched",
            );
        }
        for env in envs.iter().chain(std::iter::once(&user_site)) {
            for site in python_envs::site_packages(host, env) {
                for f in s.list(&site, &[EntryKind::File, EntryKind::Symlink])? {
                    let name = f.file_name().map(|n| n.to_string_lossy().into_owned());
                    if name.as_deref().is_some_and(|n| {
                        n.ends_with(".pth") || n == "sitecustomize.py" || n == "usercustomize.py"
                    }) {
                        shell.push(f);
                    }
                }
            }
        }
        for f in shell {
            s.scan_shell(&f);
        }
        for dir in python_envs::kernel_dirs(home, &envs) {
            s.scan_kernels(&dir, &envs)?;
        }
        s.notes
            .extend(envs.iter().map(|e| format!("environment: {}", e.display())));
        s.environments = envs.len();
        Ok(s)
    }
}

impl Probe for Overrides {
    fn describe(&self) -> String {
        "package index overrides".into()
    }

    fn check(&self, host: &Host) -> Result<ProbeResult> {
        let mut s = self.search(host)?;
        // What the monitor saw between checks and this search no longer
        // finds: moved aside, or removed since.
        for seen in sightings::current(host, SystemTime::now())? {
            let now_too = s
                .findings
                .iter()
                .any(|f| f.source == seen.source && f.what == seen.what);
            if !now_too {
                s.finding(
                    &seen.source,
                    format!(
                        "{} (seen by the monitor at {}, not there at this check: moved or \
                         removed since; a sighting counts for {} h)",
                        seen.what,
                        sightings::when(&seen),
                        sightings::KEEP.as_secs() / 3600
                    ),
                );
            }
        }
        if let Some(why) = s.exhausted.take() {
            bail!("{why}");
        }
        let warn = self.policy.on_user_override == OnOverride::Warn;
        let prefix = if warn {
            "warning: override"
        } else {
            "override"
        };
        let mut lines: Vec<String> = s
            .findings
            .iter()
            .map(|f| format!("{prefix} in {}: {}", f.source, f.what))
            .collect();
        if s.more_findings > 0 {
            lines.push(format!(
                "{prefix}: … and {} more not listed",
                s.more_findings
            ));
        }
        lines.append(&mut s.notes);
        lines.push(
            "not provable here: a user can still name an index on the command line, or set \
             one from code a .pth imports; the barrier is egress ([verify.egress] must_fail \
             for the public index)"
                .into(),
        );
        let searched = format!(
            "searched {} file(s) and {} directory entries in {} environment(s) and the \
             user's shell, pip, conda, uv and Jupyter settings",
            s.files_read, s.budget.entries, s.environments
        );
        let passed = s.findings.is_empty() || warn;
        let evidence = if s.findings.is_empty() {
            format!("no setting outside nbwarden's files chooses an index ({searched})")
        } else {
            format!(
                "{} setting(s) outside nbwarden's files choose or add an index ({searched})",
                s.findings.len() + s.more_findings
            )
        };
        Ok(ProbeResult {
            passed,
            skipped: false,
            evidence,
            details: lines,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_that_cannot_finish_is_a_finding_for_the_watch() {
        let dir = crate::test_support::notebook_root();
        let site = dir
            .path()
            .join("home/ec2-user/.local/lib/python3.11/site-packages");
        std::fs::create_dir_all(&site).expect("site");
        for i in 0..50 {
            std::fs::write(site.join(format!("f{i}.pth")), "").expect("pth");
        }
        let host = Host::open(dir.path()).expect("host");
        let policy = crate::policy::from_bytes(
            b"version = 1\n[packages]\nsearch_entries = 10\n[packages.pip]\nindex_url = \"https://m.example/simple/\"\n"
                .to_vec(),
            "t.toml",
        )
        .expect("policy");
        let packages = policy.policy.packages.clone().expect("packages");
        let search = Overrides::new(packages, &policy.policy, "/home/ec2-user");
        let scan = search.scan(&host);
        assert!(
            scan.found
                .iter()
                .any(|(source, what)| source == "the override search"
                    && what.contains("proved nothing")),
            "{:?}",
            scan.found
        );
    }

    #[test]
    fn a_name_the_shell_joins_from_quoted_parts_is_found() {
        for line in [
            "export PIP_\"INDEX_URL\"=http://x/",
            "export PIP_'INDEX'_URL=http://x/",
            "export PIP_\\INDEX_URL=http://x/",
        ] {
            assert!(names_a_variable(line), "{line}");
        }
        assert!(!names_a_variable("echo \"PIP\" \"INDEX_URL\""));
    }

    #[test]
    fn a_conda_variable_for_a_final_key_is_ignored_by_conda() {
        let finals = vec!["channels".to_string()];
        assert!(only_final_conda_settings(
            "export CONDA_CHANNELS=http://x/",
            false,
            &finals
        ));
        // Another setting on the line, a key not final, a flag, a write of
        // the environment from Python: still findings.
        for (line, python) in [
            ("export CONDA_CHANNELS=a PIP_INDEX_URL=b", false),
            ("export CONDA_CHANNEL_ALIAS=http://x/", false),
            ("CONDA_CHANNELS=a conda install -c http://x/ p", false),
            ("import os; os.environ['CONDA_CHANNELS']='a'", true),
        ] {
            assert!(!only_final_conda_settings(line, python, &finals), "{line}");
        }
        assert!(!only_final_conda_settings(
            "export CONDA_CHANNELS=a",
            false,
            &[]
        ));
    }

    #[test]
    fn finds_variables_and_flags_in_any_shell_syntax() {
        let text = "export PIP_INDEX_URL=https://pypi.org/simple\n# PIP_NO_INDEX=1\n\
                    setenv PIP_FIND_LINKS /tmp\nset -gx UV_INDEX_URL https://x\n\
                    alias pip='pip --index-url https://pypi.org/simple'\nOTHER=1\n\
                    MY_PIP_INDEX_URL_NOTE=1\nexport PIP_index_url=https://pypi.org/simple\n\
                    pi() { pip install -i https://pypi.org/simple \"$@\"; }\n\
                    alias pe='pip3 install --extra-index https://x'\nsed -i s/a/b/ f\n\
                    conda install -c conda-forge x\n";
        assert_eq!(
            watched_lines(text, false),
            [
                "line 1: export PIP_INDEX_URL=https://pypi.org/simple",
                "line 3: setenv PIP_FIND_LINKS /tmp",
                "line 4: set -gx UV_INDEX_URL https://x",
                "line 5: alias pip='pip --index-url https://pypi.org/simple'",
                "line 8: export PIP_index_url=https://pypi.org/simple",
                "line 9: pi() { pip install -i https://pypi.org/simple \"$@\"; }",
                "line 10: alias pe='pip3 install --extra-index https://x'",
                "line 12: conda install -c conda-forge x",
            ]
        );
    }

    #[test]
    fn project_files_name_every_index_of_uv_poetry_and_pdm() {
        let text = "[tool.uv]\nindex-url = \"https://a.example/simple\"\nno-index = true\n\
                    [[tool.uv.index]]\nurl = \"https://b.example/simple\"\n\
                    [[tool.poetry.source]]\nname = \"x\"\nurl = \"https://c.example/simple\"\n\
                    [[tool.pdm.source]]\nname = \"y\"\nurl = \"https://d.example/simple\"\n\
                    [tool.black]\nline-length = 100\n";
        let t: toml::Table = text.parse().expect("TOML");
        let tool = t["tool"].as_table().expect("tool");
        let mut all: Vec<(String, Option<String>)> = ["uv", "poetry", "pdm"]
            .iter()
            .flat_map(|k| project_indexes(&tool[*k]))
            .collect();
        all.sort();
        assert_eq!(
            all,
            [
                (
                    "index".to_string(),
                    Some("https://b.example/simple".to_string())
                ),
                (
                    "index-url".to_string(),
                    Some("https://a.example/simple".to_string())
                ),
                ("no-index".to_string(), None),
                (
                    "source".to_string(),
                    Some("https://c.example/simple".to_string())
                ),
                (
                    "source".to_string(),
                    Some("https://d.example/simple".to_string())
                ),
            ]
        );
    }

    #[test]
    fn the_interpreter_behind_env_is_judged_too() {
        assert_eq!(
            kernel_interpreters(&["/usr/bin/env", "-i", "A=b", "/tmp/x/bin/python", "-m", "k"]),
            ["/usr/bin/env", "/tmp/x/bin/python"]
        );
        assert_eq!(
            kernel_interpreters(&["/e/bin/python", "-m"]),
            ["/e/bin/python"]
        );
        assert!(kernel_interpreters(&[]).is_empty());
    }

    #[test]
    fn start_up_code_that_writes_the_environment_counts() {
        let pth = "import os; os.environ['PIP_' + 'INDEX_URL'] = 'x'\n\
                   import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, 'local') == 'local'\n\
                   import os; os.putenv('A', 'b')\n";
        assert_eq!(
            watched_lines(pth, true).len(),
            2,
            "{:?}",
            watched_lines(pth, true)
        );
        assert!(watched_lines(pth, false).is_empty());
    }
}
