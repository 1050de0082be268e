//! `[git]`: the system git configuration every user's git reads: the
//! CodeCommit credential helper, the committer from the notebook's tags
//! (`NotebookOwnerUsername`, `NotebookOwnerEmail`, as in the AWS reference
//! architecture) and `safe.directory` entries only for places no other
//! user can write. Written as a marked block in /etc/gitconfig; lines
//! outside it are kept. A probe asks root's own git what it resolves (with
//! includes, from every file root's git reads) and fails on a setting that
//! switches git's ownership check off where the notebook user can write, or
//! on a configuration file the user can write: either lets a repository's
//! owner run commands as root (`core.fsmonitor`, hooks) when an
//! administrator runs git there.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::engine::ControlInfo;
use anyhow::{Context as _, Result};

use super::block;
use super::checks::boot_exec::{home_path, matches, paths_in, top_pattern};
use crate::engine::{Context, Control, DesiredState, ManagedFile, Probe, ProbeResult};
use crate::host::Host;
use crate::policy::CredentialHelper;
use crate::policy::GitPolicy;

pub static INFO: ControlInfo = ControlInfo {
    id: "git",
    title: "git uses the platform's credential helper and committer",
    section: "git",
};

const BEGIN: &str = "# BEGIN nbwarden: managed at every start; edits here are overwritten";
const END: &str = "# END nbwarden";
const CODECOMMIT: &str = "!aws codecommit credential-helper $@";

pub struct Git {
    policy: GitPolicy,
}

impl Git {
    pub fn new(policy: GitPolicy) -> Self {
        Git { policy }
    }
}

/// A git config value, quoted: backslashes and quotes escaped; control
/// characters (a newline would start a new setting) refused.
fn quoted(what: &str, value: &str) -> Result<String, String> {
    if value.chars().any(char::is_control) {
        return Err(format!(
            "{what} {value:?} contains a control character; git config values are one line"
        ));
    }
    Ok(format!(
        "\"{}\"",
        value.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

impl Control for Git {
    fn remote_inputs(&self) -> Vec<crate::facts::RemoteInput> {
        vec![crate::facts::RemoteInput::Tags]
    }

    fn info(&self) -> &'static ControlInfo {
        &INFO
    }
    fn preflight(&self, ctx: &Context<'_>) -> Result<(), String> {
        if let CredentialHelper::Command(helper) = &self.policy.credential_helper {
            quoted("credential_helper", helper)?;
        }
        for d in &self.policy.safe_directories {
            quoted("safe_directories entry", &d.value())?;
            // The barrier, on this host: no one but root can make a
            // repository there.
            ctx.host
                .check_trusted_or_nearest(d.dir.as_path())
                .map_err(|e| {
                    format!(
                        "safe_directories entry {:?}: another user could make a repository \
                         there, and root's git would act in it: {e:#}",
                        d.value()
                    )
                })?;
        }
        Ok(())
    }

    fn desired(&self, ctx: &Context<'_>) -> Result<DesiredState> {
        let p = &self.policy;
        let mut notes = Vec::new();
        let mut body = String::new();
        match &p.credential_helper {
            CredentialHelper::None => {}
            CredentialHelper::CodeCommit => {
                body.push_str(&format!(
                    "[credential]\n\thelper = {}\n\tUseHttpPath = true\n",
                    quoted("helper", CODECOMMIT).map_err(anyhow::Error::msg)?
                ));
            }
            CredentialHelper::Command(other) => body.push_str(&format!(
                "[credential]\n\thelper = {}\n",
                quoted("helper", other).map_err(anyhow::Error::msg)?
            )),
        }
        let tags = ctx.facts.tags().with_context(|| {
            format!(
                "cannot read the notebook's tags for the committer ({} and {})",
                p.user_name_tag, p.user_email_tag
            )
        })?;
        let mut user = String::new();
        for (key, tag) in [("name", &p.user_name_tag), ("email", &p.user_email_tag)] {
            match tags.get(tag.as_str()) {
                Some(v) => {
                    let v = quoted(&format!("tag {tag}"), v).map_err(anyhow::Error::msg)?;
                    user.push_str(&format!("\t{key} = {v}\n"));
                }
                None => notes.push(format!("the notebook has no tag {tag}: user.{key} not set")),
            }
        }
        if !user.is_empty() {
            body.push_str("[user]\n");
            body.push_str(&user);
        }
        if !p.safe_directories.is_empty() {
            body.push_str("[safe]\n");
            for d in &p.safe_directories {
                let d = quoted("safe directory", &d.value()).map_err(anyhow::Error::msg)?;
                body.push_str(&format!("\tdirectory = {d}\n"));
            }
        }
        let path = p.config_path.as_path();
        let current = ctx.host.read_text(path)?.unwrap_or_default();
        let content = block::with(&current, BEGIN, END, &body);
        Ok(DesiredState {
            notes,
            files: vec![ManagedFile::root_owned(path, content, 0o644)],
            probes: vec![Box::new(RootGit)],
            ..DesiredState::default()
        })
    }
}

const GIT: &[&str] = &["/usr/bin/git", "/bin/git", "/usr/local/bin/git"];
const GIT_TIMEOUT: Duration = Duration::from_secs(20);

/// Root's git keeps its ownership check: what root's git resolves (the
/// system file, root's own files, their includes) neither trusts a place
/// another user can write nor comes from a file another user can write.
struct RootGit;

/// One setting as `git config --list --show-origin -z` prints it.
#[derive(Debug, PartialEq, Eq)]
struct Setting {
    origin: String,
    /// The key, lower-cased for matching.
    key: String,
    /// The key as git prints it: a subsection keeps its case and can name
    /// a path (`url.ext::/path.insteadof`).
    name: String,
    value: String,
}

/// `git config --list --show-origin -z`: `ORIGIN NUL KEY LF VALUE NUL`,
/// a key without a value (`[x] flag`) printed without the LF.
fn settings(out: &str) -> Vec<Setting> {
    let mut fields = out.split('\0');
    let mut all = Vec::new();
    while let (Some(origin), Some(entry)) = (fields.next(), fields.next()) {
        let (key, value) = entry.split_once('\n').unwrap_or((entry, ""));
        all.push(Setting {
            origin: origin.to_string(),
            key: key.to_ascii_lowercase(),
            name: key.to_string(),
            value: value.to_string(),
        });
    }
    all
}

/// Where the settings came from (`file:PATH`, `command line:`, …).
fn origins(all: &[Setting]) -> std::collections::BTreeSet<&str> {
    all.iter().map(|s| s.origin.as_str()).collect()
}

/// The `safe.directory` list git ends with: an empty value resets it.
fn safe_directories(all: &[Setting]) -> Vec<&Setting> {
    let mut list = Vec::new();
    for s in all.iter().filter(|s| s.key == "safe.directory") {
        if s.value.is_empty() {
            list.clear();
        } else {
            list.push(s);
        }
    }
    list
}

/// `include.path` and `includeIf.<condition>.path`.
fn is_include(key: &str) -> bool {
    key == "include.path" || (key.starts_with("includeif.") && key.ends_with(".path"))
}

/// The file an include names, as git resolves it: `:(optional)` dropped,
/// `~/` and `~NAME/` homes, `%(prefix)/` git's runtime prefix (`prefix`,
/// the directory above the one git is in), and a relative path relative
/// to the including file's directory.
fn included(s: &Setting, prefix: &Path) -> PathBuf {
    let value = s.value.strip_prefix(":(optional)").unwrap_or(&s.value);
    if let Some(home) = home_path(value) {
        return home;
    }
    if let Some(rest) = value.strip_prefix("%(prefix)/") {
        return prefix.join(rest);
    }
    let from = s.origin.strip_prefix("file:").map(Path::new);
    match from.and_then(Path::parent) {
        Some(dir) if !value.starts_with('/') => dir.join(value),
        _ => PathBuf::from(value),
    }
}

/// Settings whose value is git's own list or a file read as an include:
/// judged on their own.
fn judged_apart(key: &str) -> bool {
    key == "safe.directory" || is_include(key)
}

/// Why root's git, resolving `all`, would act in a repository another user
/// controls or run or read what another user chose (`untrusted` says why a
/// path is not root's alone): the files it reads, what they include, the
/// paths any setting names (`core.hooksPath`, `core.fsmonitor`,
/// `core.sshCommand`, a filter's command…), and `safe.directory`.
fn judge(
    all: &[Setting],
    prefix: &Path,
    untrusted: &dyn Fn(&Path) -> Option<String>,
) -> Vec<String> {
    let mut findings = Vec::new();
    for file in origins(all).iter().filter_map(|o| o.strip_prefix("file:")) {
        if let Some(why) = untrusted(Path::new(file)) {
            findings.push(format!(
                "root's git reads {file}, which another user can write: {why}"
            ));
        }
    }
    for s in all.iter().filter(|s| is_include(&s.key)) {
        let file = included(s, prefix);
        if let Some(why) = untrusted(&file) {
            findings.push(format!(
                "root's git includes {} (from {}), which another user can write: {why}",
                file.display(),
                s.origin
            ));
        }
    }
    for s in all.iter().filter(|s| !judged_apart(&s.key)) {
        let named = paths_in(&s.value).into_iter().chain(paths_in(&s.name));
        for path in named {
            if let Some(why) = untrusted(&path) {
                findings.push(format!(
                    "root's git runs or reads {} ({} = {}, from {}), which another user can \
                     write: {why}",
                    path.display(),
                    s.key,
                    s.value,
                    s.origin
                ));
            }
        }
    }
    for s in safe_directories(all) {
        let dir = s.value.strip_suffix("/*").unwrap_or(&s.value);
        let why = if dir == "*" {
            Some("every repository".to_string())
        } else if !dir.starts_with('/') {
            Some("not an absolute path".to_string())
        } else {
            untrusted(Path::new(dir))
        };
        if let Some(why) = why {
            findings.push(format!(
                "safe.directory = {} (from {}) switches off git's ownership check for root's \
                 git where another user controls the repository: {why}",
                s.value, s.origin
            ));
        }
    }
    // An include read twice (listed from `/` and read on its own) is one
    // finding.
    let mut seen = std::collections::BTreeSet::new();
    findings.retain(|f| seen.insert(f.clone()));
    findings
}

/// How many files deep the include walk goes (git's own limit is 10).
const MAX_INCLUDE_DEPTH: usize = 10;

/// `git config ARGS --list --show-origin --includes -z` as root, outside
/// any repository (`-C /`), with root's HOME.
fn git_list(host: &Host, git: &str, args: &[&str]) -> Result<Vec<Setting>> {
    let mut argv = vec![
        "HOME=/root",
        "XDG_CONFIG_HOME=/root/.config",
        git,
        "-C",
        "/",
        "config",
    ];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&["--list", "--show-origin", "--includes", "-z"]);
    let out = host
        .run_in_root("/usr/bin/env", &argv, GIT_TIMEOUT)?
        .checked("git config --list")?;
    Ok(settings(&out.stdout))
}

/// Everything root's git can read: what it resolves from `/`, then each
/// file an include names, read on its own whatever the include's condition
/// (`includeIf "gitdir:…"` holds in some repository root works in), and
/// what those include, as deep as git goes.
fn everything_root_reads(host: &Host, git: &str, prefix: &Path) -> Result<Vec<Setting>> {
    let mut all = git_list(host, git, &[])?;
    let mut seen = std::collections::BTreeSet::new();
    let mut from = 0;
    for _ in 0..MAX_INCLUDE_DEPTH {
        let files: Vec<PathBuf> = all[from..]
            .iter()
            .filter(|s| is_include(&s.key))
            .map(|s| included(s, prefix))
            .filter(|f| seen.insert(f.clone()))
            .collect();
        from = all.len();
        for file in files {
            // Only root's own files are read: another user's is a finding
            // already, and git would fail on a missing one.
            if host.check_trusted(&file).is_ok() && host.kind(&file)?.is_some() {
                all.extend(git_list(host, git, &["--file", &file.to_string_lossy()])?);
            }
        }
        if from == all.len() {
            break;
        }
    }
    Ok(all)
}

impl Probe for RootGit {
    fn describe(&self) -> String {
        "root's git keeps its ownership check".into()
    }

    fn check(&self, host: &Host) -> Result<ProbeResult> {
        let Some(git) = host.find_program(GIT) else {
            return Ok(ProbeResult {
                passed: true,
                skipped: false,
                evidence: "no git in the system: root has no git to turn".into(),
                details: Vec::new(),
            });
        };
        host.check_trusted_program(Path::new(&git))?;
        let prefix = Path::new(&git)
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new("/usr"))
            .to_path_buf();
        let all = everything_root_reads(host, &git, &prefix)?;
        // git runs hooks, fsmonitor, pagers and `!` aliases through sh,
        // which expands patterns: each match is judged.
        let details = judge(&all, &prefix, &|p| {
            if top_pattern(p) {
                return Some("a pattern at the top of the tree can match anywhere".into());
            }
            matches(host, p).iter().find_map(|m| {
                host.check_trusted_or_nearest(m)
                    .err()
                    .map(|e| format!("{e:#}"))
            })
        });
        Ok(ProbeResult {
            passed: details.is_empty(),
            skipped: false,
            evidence: format!(
                "root's git: {} setting(s) from {} file(s); {} safe.directory entr(ies), {} finding(s)",
                all.len(),
                origins(&all).len(),
                safe_directories(&all).len(),
                details.len()
            ),
            details,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Setting, judge, quoted, settings};
    use std::path::Path;

    fn untrusted(p: &Path) -> Option<String> {
        p.to_string_lossy()
            .contains("/home/")
            .then(|| "owned by ec2-user".to_string())
    }

    #[test]
    fn git_config_z_output_is_read_and_an_empty_value_resets_the_list() {
        let out = "file:/etc/gitconfig\0safe.directory\n*\0file:/etc/gitconfig\0core.bare\0\
                   file:/root/.gitconfig\0safe.directory\n\0file:/root/.gitconfig\0Safe.Directory\n/srv/r\0";
        let all = settings(out);
        assert_eq!(all.len(), 4);
        assert_eq!(
            all[1],
            Setting {
                origin: "file:/etc/gitconfig".into(),
                key: "core.bare".into(),
                name: "core.bare".into(),
                value: String::new()
            }
        );
        // `*` was reset by the empty value; /srv/r is root's.
        assert!(judge(&all, Path::new("/usr"), &untrusted).is_empty());
    }

    #[test]
    fn wildcards_user_places_and_user_files_are_findings() {
        let out = "file:/etc/gitconfig\0safe.directory\n*\0\
                   file:/etc/gitconfig\0safe.directory\n/home/ec2-user/SageMaker/*\0\
                   file:/home/ec2-user/inc\0core.pager\nless\0\
                   file:/etc/gitconfig\0include.path\n../home/ec2-user/empty\0\
                   file:/etc/gitconfig\0includeIf.gitdir:/x/.path\n~/ok\0";
        let found = judge(&settings(out), Path::new("/usr"), &untrusted);
        assert_eq!(found.len(), 4, "{found:#?}");
        assert!(found[0].contains("root's git reads /home/ec2-user/inc"));
        assert!(found[1].contains("includes /etc/../home/ec2-user/empty"));
        assert!(found[2].contains("safe.directory = * ") && found[2].contains("every repository"));
        assert!(found[3].contains("/home/ec2-user/SageMaker/*"));

        // The red team's: includes by `~user` and `%(prefix)`, and paths
        // in settings' values.
        let out = "file:/etc/gitconfig\0include.path\n~ec2-user/SageMaker/.gitinc\0\
                   file:/etc/gitconfig\0include.path\n:(optional)%(prefix)/../home/ec2-user/x\0\
                   file:/etc/gitconfig\0core.hookspath\n/home/ec2-user/SageMaker/hooks\0\
                   file:/etc/gitconfig\0core.sshcommand\nssh -i /root/key -F ~ec2-user/cfg\0\
                   file:/etc/gitconfig\0core.pager\nless -R\0\
                   file:/etc/gitconfig\0url.ext::/home/ec2-user/x %S .insteadof\nhttps://e.com/\0\
                   file:/etc/gitconfig\0core.fsmonitor\n\\/home/ec2-user/y\0";
        let found = judge(&settings(out), Path::new("/usr"), &untrusted);
        assert_eq!(found.len(), 6, "{found:#?}");
        assert!(
            found[4].contains("runs or reads /home/ec2-user/x (url.ext::"),
            "{found:#?}"
        );
        assert!(
            found[5].contains("runs or reads /home/ec2-user/y"),
            "{found:#?}"
        );
        assert!(found[0].contains("includes /home/ec2-user/SageMaker/.gitinc"));
        assert!(found[1].contains("includes /usr/../home/ec2-user/x"));
        assert!(found[2].contains("runs or reads /home/ec2-user/SageMaker/hooks (core.hookspath"));
        assert!(found[3].contains("runs or reads /home/ec2-user/cfg (core.sshcommand"));
    }

    #[test]
    fn values_are_quoted_and_newlines_refused() {
        assert_eq!(quoted("x", r#"a "b" \c"#).unwrap(), r#""a \"b\" \\c""#);
        assert!(quoted("x", "Ada\n[core]\n\tsshCommand = evil").is_err());
    }
}
