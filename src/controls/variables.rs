//! `[variables]`: network, KMS and bucket settings that root reads at start
//! (literals, SSM parameters, instance facts) and writes into files that
//! notebooks read (JSON), import (Python) or source (shell), so that the
//! notebook user needs no right to fetch them and cannot change them. The
//! module is put on `sys.path` of every environment and the system python
//! by a root-owned `.pth` file, and verify imports it there as the user.

use crate::engine::ControlInfo;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::aws::ParameterKind;
use anyhow::{Context as _, Result, bail};
use serde_json::{Map, Value};

use super::python_envs;
use crate::base::deadline::DeadlineReached;
use crate::engine::{Context, Control, DesiredState, FileState, ManagedFile, Probe, ProbeResult};
use crate::facts::{RemoteInput, notebook_field};
use crate::host::{EntryKind, Host, Ownership, User};
use crate::policy::{Fact, Variable, VariableSource, VariableValue, VariablesPolicy};

pub static INFO: ControlInfo = ControlInfo {
    id: "variables",
    title: "Network and KMS variables for notebooks",
    section: "variables",
};
/// Secret values: readable by root and the notebook user's group only.
pub const SECRETS_FILE: &str = "/etc/nbwarden/secrets.json";
const PTH_NAME: &str = "nbwarden-variables.pth";
/// Where system pythons look for `.pth` files (Debian, then Amazon Linux).
const SYSTEM_SITE_DIRS: &[&str] = &[
    "/usr/lib/python3/dist-packages",
    "/usr/local/lib/python3/dist-packages",
];
const SYSTEM_PYTHON: &str = "/usr/bin/python3";
const IMPORT_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Variables {
    policy: VariablesPolicy,
    user: String,
}

impl Variables {
    pub fn new(policy: VariablesPolicy, user: &str) -> Self {
        Variables {
            policy,
            user: user.to_string(),
        }
    }

    /// The SSM names the variables read (the run's facts sort them and
    /// ask for each once).
    fn ssm_names(&self) -> Vec<String> {
        self.policy
            .values
            .values()
            .filter_map(|v| match &v.source {
                VariableSource::Ssm(name) => Some(name.clone()),
                _ => None,
            })
            .collect()
    }

    /// Every variable's value, fetched and checked; secrets apart.
    fn resolve(&self, ctx: &Context<'_>) -> Result<(Map<String, Value>, Map<String, Value>)> {
        let ssm_names = self.ssm_names();
        let params: BTreeMap<String, crate::aws::Parameter> = if ssm_names.is_empty() {
            BTreeMap::new()
        } else {
            ctx.facts
                .ssm_parameters(&ssm_names)?
                .into_iter()
                .map(|p| (p.name.clone(), p))
                .collect()
        };
        let mut open = Map::new();
        let mut secret = Map::new();
        for (name, var) in &self.policy.values {
            let name = name.as_str();
            let (value, secure) = Self::value_of(name, var, &params, ctx)?;
            Self::judge_value(name, var, &value, secure)?;
            if var.secret {
                secret.insert(name.to_string(), value);
            } else {
                open.insert(name.to_string(), value);
            }
        }
        Ok((open, secret))
    }

    /// A variable's value, read from where its source says, and whether
    /// it came from a SecureString.
    fn value_of(
        name: &str,
        var: &Variable,
        params: &BTreeMap<String, crate::aws::Parameter>,
        ctx: &Context<'_>,
    ) -> Result<(Value, bool)> {
        Ok(match &var.source {
            VariableSource::Literal(v) => (literal(v), false),
            VariableSource::Ssm(param) => {
                let p = params
                    .get(param)
                    .with_context(|| format!("variable {name}: SSM did not return {param}"))?;
                let value = if p.kind == ParameterKind::StringList {
                    Value::Array(
                        p.value
                            .split(',')
                            .map(|s| Value::String(s.to_string()))
                            .collect(),
                    )
                } else {
                    Value::String(p.value.clone())
                };
                (value, p.kind == ParameterKind::SecureString)
            }
            VariableSource::SsmPath(path) => {
                let found = ctx.facts.ssm_parameters_by_path(path)?;
                if found.is_empty() {
                    bail!("variable {name}: no SSM parameters below {path}");
                }
                let base = path.trim_end_matches('/');
                let secure = found.iter().any(|p| p.kind == ParameterKind::SecureString);
                let map: Map<String, Value> = found
                    .into_iter()
                    .map(|p| {
                        let key = p
                            .name
                            .strip_prefix(base)
                            .unwrap_or(&p.name)
                            .trim_start_matches('/')
                            .to_string();
                        (key, Value::String(p.value))
                    })
                    .collect();
                (Value::Object(map), secure)
            }
            VariableSource::Fact(fact) => {
                let value = match fact {
                    Fact::InstanceId => ctx.facts.instance_id()?.to_string(),
                    other => {
                        let nb = ctx.facts.notebook()?;
                        match other {
                            Fact::Region => nb.region.clone(),
                            Fact::Account => nb.account.clone(),
                            Fact::NotebookName => nb.name.clone(),
                            _ => nb.arn.clone(),
                        }
                    }
                };
                (Value::String(value), false)
            }
            VariableSource::Notebook(field) => {
                let description = ctx.facts.description()?;
                let v = notebook_field(description, *field).with_context(|| {
                    format!(
                        "variable {name}: DescribeNotebookInstance has no {}",
                        field.key()
                    )
                })?;
                (v, false)
            }
            VariableSource::Tag(tag) => {
                let v =
                    ctx.facts.tags()?.get(tag).with_context(|| {
                        format!("variable {name}: the notebook has no tag {tag:?}")
                    })?;
                (Value::String(v.clone()), false)
            }
        })
    }

    /// Refuses a value its variable may not hold: a SecureString not
    /// marked secret, or an item that fails the variable's kind.
    fn judge_value(name: &str, var: &Variable, value: &Value, secure: bool) -> Result<()> {
        if secure && !var.secret {
            bail!(
                "variable {name} comes from a SecureString; set `secret = true` so it is kept \
                 out of world-readable files (nothing was written)"
            );
        }
        for item in strings(value) {
            var.kind.check(item).map_err(|e| {
                let shown = if var.secret {
                    "(secret value)".to_string()
                } else {
                    format!("{item:?}")
                };
                anyhow::anyhow!(
                    "variable {name}: {shown} fails its kind check: {}; nothing was written",
                    e.split(crate::policy::HINT)
                        .next()
                        .unwrap_or(&e)
                        .replace(&format!("{item:?}"), "the value")
                )
            })?;
        }
        Ok(())
    }
}

fn literal(v: &VariableValue) -> Value {
    match v {
        VariableValue::One(s) => Value::String(s.clone()),
        VariableValue::Many(items) => {
            Value::Array(items.iter().cloned().map(Value::String).collect())
        }
    }
}

fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        Value::Object(m) => m.values().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

impl Control for Variables {
    fn info(&self) -> &'static ControlInfo {
        &INFO
    }

    fn preflight(&self, ctx: &Context<'_>) -> Result<(), String> {
        super::require_user(ctx, &self.user)
    }

    fn remote_inputs(&self) -> Vec<RemoteInput> {
        let mut wanted = Vec::new();
        let names = self.ssm_names();
        if !names.is_empty() {
            wanted.push(RemoteInput::SsmNames(names));
        }
        for var in self.policy.values.values() {
            let input = match &var.source {
                VariableSource::SsmPath(path) => RemoteInput::SsmPath(path.clone()),
                VariableSource::Tag(_) => RemoteInput::Tags,
                VariableSource::Notebook(_) => RemoteInput::Description,
                VariableSource::Fact(Fact::InstanceId) => RemoteInput::InstanceId,
                _ => continue,
            };
            if !wanted.contains(&input) {
                wanted.push(input);
            }
        }
        wanted
    }

    // Long: the variables file's three renderings (shell, Python, JSON) declared together.
    fn desired(&self, ctx: &Context<'_>) -> Result<DesiredState> {
        let host = ctx.host;
        let (open, secret) = self.resolve(ctx)?;
        let p = &self.policy;
        let module_path = p.python_dir.join(&format!("{}.py", p.python_module));
        // Every Python, root's included, imports from python_dir: it (or
        // the nearest directory that exists above it) must be root's alone.
        host.check_trusted_or_nearest(p.python_dir.as_path())
            .with_context(|| {
                format!(
                    "refusing python_dir {}: every Python would import code from a place others \
                 can write",
                    p.python_dir.as_path().display()
                )
            })?;
        let mut state = DesiredState::default();
        state.files.push(ManagedFile::root_owned(
            p.json_path.as_path(),
            json_file(&open),
            0o644,
        ));
        state.files.push(ManagedFile::root_owned(
            module_path,
            python_module(&open),
            0o644,
        ));
        state.files.push(ManagedFile::root_owned(
            p.profile_path.as_path(),
            shell_file(&open),
            0o644,
        ));
        let accounts = host.accounts()?;
        let user = accounts
            .user(&self.user)
            .cloned()
            .context("the policy's user vanished")?;
        if secret.is_empty() {
            state.files.push(ManagedFile::absent(SECRETS_FILE));
        } else {
            state.files.push(ManagedFile {
                path: PathBuf::from(SECRETS_FILE),
                state: FileState::Present {
                    content: json_file(&secret),
                    own: Ownership {
                        mode: 0o640,
                        uid: 0,
                        gid: user.gid,
                    },
                },
                sensitive: true,
                check: None,
            });
            state.notes.push(format!(
                "{} secret value(s) kept in {SECRETS_FILE} (mode 0640, group of {})",
                secret.len(),
                user.name
            ));
        }
        // Every environment (and the system python) finds the module
        // through a root-owned .pth naming the root-owned directory.
        let pth = format!("{}\n", p.python_dir.as_path().display());
        let found = python_envs::discover(
            host,
            ctx.policy.conda_root.as_path(),
            &python_envs::search_paths(ctx.policy),
        );
        state.notes.extend(found.skipped_lines());
        let python_envs::Found {
            envs,
            notes,
            unsearched,
            ..
        } = found;
        state.notes.extend(notes);
        state.notes.extend(unsearched);
        let mut pythons = Vec::new();
        for env in &envs {
            let sites = python_envs::site_packages(host, env);
            if sites.is_empty() {
                state.notes.push(format!(
                    "{}: no site-packages found; module not linked",
                    env.display()
                ));
            }
            for site in sites {
                state.files.push(ManagedFile::root_owned(
                    site.join(PTH_NAME),
                    pth.clone(),
                    0o644,
                ));
            }
            let python = env.join("bin/python");
            if host.kind(&python)?.is_some() {
                pythons.push(python);
            }
        }
        for dir in system_site_dirs(host) {
            state.files.push(ManagedFile::root_owned(
                dir.join(PTH_NAME),
                pth.clone(),
                0o644,
            ));
        }
        if host.kind(Path::new(SYSTEM_PYTHON))?.is_some() {
            pythons.push(PathBuf::from(SYSTEM_PYTHON));
        }
        state.probes.push(Box::new(ImportCheck {
            module: p.python_module.as_str().to_string(),
            expected: Value::Object(open),
            pythons,
            user,
        }));
        state.probes.push(Box::new(Coverage {
            conda_root: ctx.policy.conda_root.as_path().to_path_buf(),
            search: python_envs::search_paths(ctx.policy),
            pth,
        }));
        Ok(state)
    }
}

/// The system python's site directories that exist in the root.
fn system_site_dirs(host: &Host) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = SYSTEM_SITE_DIRS
        .iter()
        .map(PathBuf::from)
        .filter(|d| matches!(host.kind(d), Ok(Some(EntryKind::Dir))))
        .collect();
    if dirs.is_empty() {
        // Amazon Linux: /usr/lib/python3.X/site-packages.
        for lib in ["/usr/lib", "/usr/lib64"] {
            if let Ok(Some(entries)) = host.list(Path::new(lib)) {
                dirs.extend(
                    entries
                        .into_iter()
                        .filter(|(n, k)| *k == EntryKind::Dir && n.starts_with("python3."))
                        .map(|(n, _)| Path::new(lib).join(n).join("site-packages"))
                        .filter(|d| matches!(host.kind(d), Ok(Some(EntryKind::Dir)))),
                );
            }
        }
    }
    dirs
}

/// Every environment there is now, found again after the user's code ran
/// in the proofs, has nbwarden's root-owned `.pth` in each site-packages,
/// and none of them is reached through a link nbwarden does not follow.
/// The files were declared from the environments found before the proofs:
/// an environment made (or one renamed in place of another) while the
/// user's code ran would otherwise go unlinked in a run that passed.
struct Coverage {
    conda_root: PathBuf,
    search: Vec<PathBuf>,
    pth: String,
}

impl Probe for Coverage {
    fn describe(&self) -> String {
        "every environment links the module".into()
    }

    fn check(&self, host: &Host) -> Result<ProbeResult> {
        let found = python_envs::discover(host, &self.conda_root, &self.search);
        // Where a bound kept the walk out (a dataset): said, not failed.
        let skipped = found.skipped_lines();
        let envs = found.envs;
        // A search that could not read a place proves nothing about the
        // environments there.
        let mut failed: Vec<String> = found
            .unsearched
            .into_iter()
            .map(|u| format!("{u}: the environments there are not known"))
            .collect();
        failed.extend(
            python_envs::linked_envs(host, &self.conda_root)
                .into_iter()
                .map(|l| {
                    format!(
                        "{}: a link to an environment nbwarden does not follow",
                        l.display()
                    )
                }),
        );
        let mut sites = 0;
        for env in &envs {
            failed.extend(python_envs::unfollowed_links(host, env).into_iter().map(|l| {
                format!(
                    "{}: a link where Python looks for packages, which nbwarden does not follow",
                    l.display()
                )
            }));
            for site in python_envs::site_packages(host, env) {
                sites += 1;
                let pth = site.join(PTH_NAME);
                let ours = host.read(&pth)?.is_some_and(|f| {
                    f.uid == 0 && f.mode & 0o022 == 0 && f.content == self.pth.as_bytes()
                });
                if !ours {
                    failed.push(format!(
                        "{}: not nbwarden's root-owned file (an environment made or moved during \
                         the run? apply links it)",
                        pth.display()
                    ));
                }
            }
        }
        Ok(ProbeResult {
            passed: failed.is_empty(),
            skipped: false,
            evidence: if failed.is_empty() {
                format!("{} environment(s), {sites} site-packages", envs.len())
            } else {
                format!("{} problem(s)", failed.len())
            },
            details: failed.into_iter().chain(skipped).collect(),
        })
    }
}

/// What one python's import proved.
enum Proof {
    Imports,
    Fails(String),
    /// The run's deadline stopped or cut the proof.
    Unproven(String),
}

/// Imports the module with each python, as the notebook user, and compares
/// the values with what was written.
struct ImportCheck {
    module: String,
    expected: Value,
    pythons: Vec<PathBuf>,
    user: User,
}

impl Probe for ImportCheck {
    fn describe(&self) -> String {
        format!("import {}", self.module)
    }

    fn runs_user_code(&self) -> bool {
        true
    }

    // Long: one proof per variable source, each with its own evidence.
    fn check(&self, host: &Host) -> Result<ProbeResult> {
        if self.pythons.is_empty() {
            return Ok(ProbeResult::skipped("no python found to import with"));
        }
        if host.euid() != 0 && !(host.is_live() && host.euid() == self.user.uid) {
            return Ok(ProbeResult::skipped(format!(
                "not checked: importing as {} needs root",
                self.user.name
            )));
        }
        let script = format!(
            "import json, {m} as m; print(json.dumps({{k: getattr(m, k) for k in m.__all__}}))",
            m = self.module
        );
        // Every environment is proven on its own (environments differ, so
        // none stands for another), reported in order. After the first,
        // they run in parallel only when each gets a PID namespace: without
        // one, a proof's leftovers could kill or trace another's Python.
        let prove = |python: &PathBuf| {
            let py = python.to_string_lossy();
            let out = host.run_as(&self.user, &py, &["-I", "-c", &script], IMPORT_TIMEOUT);
            match out {
                Ok(o) if o.success() => match serde_json::from_str::<Value>(o.stdout.trim()) {
                    Ok(v) if v == self.expected => Proof::Imports,
                    Ok(_) => Proof::Fails("imports other values than nbwarden wrote".to_string()),
                    Err(e) => Proof::Fails(format!("printed no JSON ({e})")),
                },
                Ok(o) => Proof::Fails(o.stderr.lines().last().unwrap_or("failed").to_string()),
                Err(e) if DeadlineReached::caused(&e) => Proof::Unproven(format!("{e:#}")),
                Err(e) => Proof::Fails(format!("{e:#}")),
            }
        };
        let (first, rest) = self.pythons.split_at(1);
        let mut proofs: Vec<Proof> = first.iter().map(prove).collect();
        if crate::host::command::confined_runs_are_isolated() {
            proofs.extend(crate::base::parallel::map(rest, prove));
        } else {
            proofs.extend(rest.iter().map(prove));
        }
        let mut failed = 0;
        let mut unproven = 0;
        let mut details = Vec::new();
        for (python, proof) in self.pythons.iter().zip(proofs) {
            let py = python.to_string_lossy();
            details.push(match proof {
                Proof::Imports => format!("{py}: imports {} with the expected values", self.module),
                Proof::Fails(why) => {
                    failed += 1;
                    format!("{py}: {why}")
                }
                Proof::Unproven(why) => {
                    unproven += 1;
                    format!("{py}: not proven: {why}")
                }
            });
        }
        // A python the deadline kept from proving anything is neither
        // failed nor passed: when nothing failed, the check could not be
        // made (exit 3), and says which.
        if failed == 0 && unproven > 0 {
            anyhow::bail!(
                "{unproven} of {} python(s) could not be proven before the run's deadline: {}",
                self.pythons.len(),
                details.join("; ")
            );
        }
        Ok(ProbeResult {
            passed: failed == 0,
            skipped: false,
            evidence: if failed == 0 {
                format!(
                    "{} python(s) import it as {}",
                    self.pythons.len(),
                    self.user.name
                )
            } else if unproven == 0 {
                format!(
                    "{failed} of {} python(s) cannot import it",
                    self.pythons.len()
                )
            } else {
                format!(
                    "{failed} of {} python(s) cannot import it, {unproven} not proven before \
                     the run's deadline",
                    self.pythons.len()
                )
            },
            details,
        })
    }
}

const GENERATED: &str = "Generated by nbwarden from its policy at every start. \
Do not edit: changes are overwritten.";

fn json_file(values: &Map<String, Value>) -> Vec<u8> {
    let mut text = serde_json::to_string_pretty(values).unwrap_or_default();
    text.push('\n');
    text.into_bytes()
}

/// JSON strings, lists and tables of strings are also valid Python
/// literals: JSON escapes (`\"`, `\\`, `\n`, `\uXXXX`) mean the same in
/// Python, and Rust strings hold no lone surrogates.
fn python_module(values: &Map<String, Value>) -> Vec<u8> {
    let mut text = format!("# {GENERATED}\n");
    for (name, value) in values {
        let literal = serde_json::to_string(value).unwrap_or_default();
        text.push_str(&format!("{name} = {literal}\n"));
    }
    let names: Vec<String> = values.keys().map(|n| format!("{n:?}")).collect();
    text.push_str(&format!("__all__ = [{}]\n", names.join(", ")));
    text.into_bytes()
}

/// One POSIX shell word holding exactly `s`.
pub(super) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Single quotes keep every byte literal in POSIX shells. Lists are joined
/// with commas; a table becomes NAME_KEY variables.
fn shell_file(values: &Map<String, Value>) -> Vec<u8> {
    let mut text = format!("# {GENERATED}\n");
    for (name, value) in values {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let suffix: String = k
                        .chars()
                        .map(|c| {
                            if c.is_ascii_alphanumeric() {
                                c.to_ascii_uppercase()
                            } else {
                                '_'
                            }
                        })
                        .collect();
                    let v = v.as_str().unwrap_or_default();
                    text.push_str(&format!("export {name}_{suffix}={}\n", shell_quote(v)));
                }
            }
            other => {
                let joined = strings(other).join(",");
                text.push_str(&format!("export {name}={}\n", shell_quote(&joined)));
            }
        }
    }
    text.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_values_stay_literal_in_every_output() {
        let mut values = Map::new();
        values.insert(
            "NASTY".into(),
            Value::String("a'b\"c\\d\ne $(id) `x` é\u{2028}".into()),
        );
        values.insert("LIST".into(), serde_json::json!(["subnet-1", "x'y"]));
        values.insert(
            "TABLE".into(),
            serde_json::json!({"vpc-id": "vpc-1", "kms.key": "k'"}),
        );
        let py = String::from_utf8(python_module(&values)).expect("utf8");
        assert!(py.contains(r#"NASTY = "a'b\"c\\d\ne $(id) `x` é"#), "{py}");
        assert!(py.contains(r#"LIST = ["subnet-1","x'y"]"#), "{py}");
        assert!(
            py.contains(r#"TABLE = {"kms.key":"k'","vpc-id":"vpc-1"}"#),
            "{py}"
        );
        assert_eq!(
            py.lines().count(),
            5,
            "a newline in a value must not break lines: {py}"
        );
        let sh = String::from_utf8(shell_file(&values)).expect("utf8");
        assert!(sh.contains("export LIST='subnet-1,x'\\''y'"), "{sh}");
        assert!(sh.contains("export TABLE_KMS_KEY='k'\\'''"), "{sh}");
        assert!(sh.contains("export TABLE_VPC_ID='vpc-1'"), "{sh}");
        let json: Value = serde_json::from_slice(&json_file(&values)).expect("json");
        assert_eq!(
            json["NASTY"],
            Value::String("a'b\"c\\d\ne $(id) `x` é\u{2028}".into())
        );
    }
}
