//! Ask the real clients. pip and uv are run as the notebook user, confined,
//! in each context the user's code starts from (the user's interactive
//! shells, and each Jupyter kernel spec's interpreter and `env`), and asked
//! what they resolved: pip's own option parser (every alias, dashed key,
//! `PIP_*` variable, configuration file and start-up `.pth` as pip itself
//! sees them), and uv's `--show-settings`. An index other than the
//! mirror, an extra index the policy does not allow, `find-links` or a
//! proxy is a finding; a context that gives no answer is "not proven",
//! never clean.
//!
//! What the user's code reports can be forged by that code (a `.pth` can
//! patch pip): this check names what the clients resolve, the verdict on
//! the mirror rests on egress.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;

use super::super::python_envs;
use super::barrier::{self, Proxies};
use super::mirror::comparable;
use crate::engine::{Probe, ProbeResult};
use crate::host::{EntryKind, Host, User};
use crate::policy::{CondaPolicy, OnOverride, PipPolicy};

/// Every interpreter of a shell, together.
const SHELL_TIMEOUT: Duration = Duration::from_secs(60);
const KERNEL_TIMEOUT: Duration = Duration::from_secs(20);
/// Kernel specs asked, at most (each starts an interpreter).
const MAX_KERNELS: usize = 64;
const MAX_SPEC_BYTES: usize = 256 * 1024;

/// Run by each interpreter as `python -c RESOLVER NONCE LABEL`: pip's own
/// parser for each command that fetches packages, with the configuration
/// files and variables pip reads, printed after a line only this run knows.
const RESOLVER: &str = r#"
import json, sys
nonce, label = sys.argv[1], sys.argv[2]
import os
ans = {"executable": sys.executable,
       "env_proxies": sorted(v for k, v in os.environ.items()
                             if k.lower() in ("https_proxy", "http_proxy", "all_proxy") and v)}
try:
    import pip
    ans["version"] = getattr(pip, "__version__", "?")
    try:
        from pip._internal.commands import create_command
    except ImportError:
        from pip._internal.commands import commands_dict
        def create_command(name):
            return commands_dict[name]()
    res = {}
    for name in ("install", "download", "wheel", "index"):
        try:
            cmd = create_command(name)
        except Exception:
            continue
        opts, _ = cmd.parse_args([])
        res[name] = {k: getattr(opts, k, None) for k in
                     ("index_url", "extra_index_urls", "find_links", "no_index", "proxy")}
    ans["pip"] = res
except ImportError as e:
    ans["no_pip"] = str(e)
except SystemExit as e:
    ans["error"] = "pip exited with %s while reading its configuration" % (e.code,)
except BaseException as e:
    ans["error"] = "%s: %s" % (type(e).__name__, e)
sys.stdout.write("\nNBWARDEN %s pip %s\n" % (nonce, json.dumps({"label": label, "answer": ans})))
sys.stdout.flush()
"#;

/// Run as `bash -ic` / `bash -lic SHELL NONCE RESOLVER PYTHONS UVS`: the
/// user's start-up files run first, then every interpreter (and uv) is
/// asked with what the shell exported. Lists are one path a line.
const SHELL: &str = r#"
n=$1 r=$2 pys=$3 uvs=$4 condas=$5
set -f
IFS='
'
# The interpreter behind a pip on PATH: its shebang, or the one a long
# path's `exec` line names.
behind() {
  { read -r one; read -r two; } < "$1" 2>/dev/null || return 0
  case $one in
    '#!'*/sh|'#!'*/sh' '*) two=${two#*exec\' }; two=${two#\"}; printf '%s\n' "${two%%\"*}" ;;
    '#!'*) one=${one#'#!'}; printf '%s\n' "${one%% *}" ;;
  esac
}
onpath=$(command -v python3 python 2>/dev/null)
for p in $(command -v pip pip3 2>/dev/null); do onpath="$onpath
$(behind "$p")"; done
first= seen='|'
for p in $pys $onpath; do
  [ -x "$p" ] || continue
  case $seen in *"|$p|"*) continue ;; esac
  seen="$seen$p|"
  [ -n "$first" ] || first=$p
  "$p" -c "$r" "$n" "$p" </dev/null
done
for u in $uvs $(command -v uv 2>/dev/null); do
  [ -x "$u" ] || continue
  case $seen in *"|$u|"*) continue ;; esac
  seen="$seen$u|"
  printf '\nNBWARDEN %s uv-begin %s\n' "$n" "$u"
  if [ -n "$first" ]; then
    "$u" pip install --show-settings --no-cache --python "$first" pip </dev/null 2>&1
  else
    "$u" pip install --show-settings --no-cache pip </dev/null 2>&1
  fi
  printf '\nNBWARDEN %s uv-end %s\n' "$n" "$u"
done
for c in $condas $(command -v conda 2>/dev/null); do
  [ -x "$c" ] || continue
  case $seen in *"|$c|"*) continue ;; esac
  seen="$seen$c|"
  printf '\nNBWARDEN %s conda-begin %s\n' "$n" "$c"
  "$c" config --show channels default_channels channel_alias custom_channels migrated_channel_aliases migrated_custom_channels proxy_servers --json </dev/null 2>&1
  printf '\nNBWARDEN %s conda-end %s\n' "$n" "$c"
done
printf '\nNBWARDEN %s done\n' "$n"
"#;

pub struct Resolved {
    pub pip: PipPolicy,
    /// `[packages.conda]`, when conda is asked too.
    pub conda: Option<CondaPolicy>,
    pub user: User,
    pub conda_root: PathBuf,
    pub env_search: Vec<PathBuf>,
    pub on_override: OnOverride,
    /// Where the proxies the clients name go, for the barrier.
    pub proxies: Proxies,
}

/// What one context's clients said.
#[derive(Debug, Default, PartialEq)]
struct Answers {
    /// Interpreter run → pip's answer (JSON).
    pip: BTreeMap<String, serde_json::Value>,
    /// uv binary → the URLs of its resolved index locations, or the last
    /// thing it said when its settings could not be read.
    uv: BTreeMap<String, Result<Vec<String>, String>>,
    /// conda binary → its `config --show --json`, or the last thing it said.
    conda: BTreeMap<String, Result<serde_json::Value, String>>,
    /// The context ran to its end.
    done: bool,
    /// More than one answer for one interpreter: start-up code printed one.
    forged: Vec<String>,
}

/// The last thing a program said, for a report line.
fn last_words(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no output")
        .trim()
        .chars()
        .take(200)
        .collect()
}

/// The JSON object conda printed (warnings may come around it).
fn conda_answer(text: &str) -> Result<serde_json::Value, String> {
    let (Some(start), Some(end)) = (text.find('{'), text.rfind('}')) else {
        return Err(last_words(text));
    };
    serde_json::from_str::<serde_json::Value>(&text[start..=end])
        .ok()
        .filter(serde_json::Value::is_object)
        .ok_or_else(|| last_words(text))
}

/// Reads the marked lines of `stdout`; anything else is the user's.
fn parse(stdout: &str, nonce: &str) -> Answers {
    let mark = format!("NBWARDEN {nonce} ");
    let mut a = Answers::default();
    // A program's output between its begin and end marks: (kind, binary, text).
    let mut block: Option<(&str, String, String)> = None;
    for line in stdout.lines() {
        let Some(rest) = line.strip_prefix(&mark) else {
            if let Some((_, _, text)) = block.as_mut() {
                text.push_str(line);
                text.push('\n');
            }
            continue;
        };
        if rest == "done" {
            a.done = true;
        } else if let Some(json) = rest.strip_prefix("pip ") {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
                continue;
            };
            let label = v["label"].as_str().unwrap_or_default().to_string();
            if a.pip.insert(label.clone(), v["answer"].clone()).is_some() {
                a.forged.push(label);
            }
        } else if let Some((kind, bin)) = ["uv", "conda"]
            .iter()
            .find_map(|k| Some((*k, rest.strip_prefix(&format!("{k}-begin "))?)))
        {
            block = Some((kind, bin.to_string(), String::new()));
        } else if let Some((kind, bin)) = ["uv", "conda"]
            .iter()
            .find_map(|k| Some((*k, rest.strip_prefix(&format!("{k}-end "))?)))
            && let Some((_, b, text)) = block.take().filter(|(k, b, _)| *k == kind && b == bin)
        {
            if kind == "uv" {
                let resolved = uv_indexes(&text).ok_or_else(|| last_words(&text));
                a.uv.insert(b, resolved);
            } else {
                a.conda.insert(b, conda_answer(&text));
            }
        }
    }
    a
}

/// The URLs of uv's `index_locations` (indexes and flat indexes) in its
/// `--show-settings` output: the strings that are URLs as given.
fn uv_indexes(settings: &str) -> Option<Vec<String>> {
    let start = settings.find("index_locations: IndexLocations {")?;
    let block = &settings[start..];
    let end = block.find("no_index:")?;
    Some(
        block[..end]
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| s.contains("://"))
            .map(str::to_string)
            .collect(),
    )
}

/// A kernel spec: where it is, what it runs, with what environment.
struct Kernel {
    spec: PathBuf,
    argv: Vec<String>,
    env: Vec<(String, String)>,
}

/// The kernel specs Jupyter finds (system, the user's, every
/// environment's), that nbwarden can read; unreadable ones are the
/// override search's findings.
fn kernels(host: &Host, home: &Path, envs: &[PathBuf], v: &mut Verdicts) -> Vec<Kernel> {
    let mut found = Vec::new();
    let mut beyond = 0;
    for dir in python_envs::kernel_dirs(home, envs) {
        let Ok(Some(entries)) = host.list(&dir) else {
            continue;
        };
        for (name, kind) in entries {
            if kind == EntryKind::Symlink {
                // Jupyter follows it (`os.path.isdir`); nbwarden does not.
                v.findings.push(format!(
                    "{}: a kernel spec directory that is a link, not followed: its kernel \
                     was not asked",
                    dir.join(&name).display()
                ));
                continue;
            }
            if kind != EntryKind::Dir {
                continue;
            }
            if found.len() >= MAX_KERNELS {
                beyond += 1;
                continue;
            }
            let spec = dir.join(&name).join("kernel.json");
            let Ok(Some(text)) = host.read_text(&spec) else {
                continue;
            };
            if text.len() > MAX_SPEC_BYTES {
                continue;
            }
            let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            let resource_dir = dir.join(&name).display().to_string();
            let argv = json["argv"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str())
                        .map(|s| s.replace("{resource_dir}", &resource_dir))
                        .collect()
                })
                .unwrap_or_default();
            let env = json["env"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| {
                            let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                            (k.clone(), v)
                        })
                        .collect()
                })
                .unwrap_or_default();
            found.push(Kernel { spec, argv, env });
        }
    }
    if beyond > 0 {
        v.findings.push(format!(
            "{beyond} kernel spec(s) past the first {MAX_KERNELS} were not asked: not proven"
        ));
    }
    found
}

/// How a kernel spec starts its interpreter: over a clean environment
/// with the spec's `env` (`env`), its argv up to the interpreter (a
/// `/usr/bin/env [-i] [NAME=VALUE]…` wrapper), the interpreter (a bare
/// `python` is Jupyter's own) and Python's own flags, as Jupyter would.
#[derive(Debug, PartialEq)]
struct KernelCommand {
    env: Vec<String>,
    wrapper: Vec<String>,
    interpreter: String,
    flags: Vec<String>,
}

impl KernelCommand {
    /// The arguments of `/usr/bin/env` that run `program` with `args` in
    /// the kernel's environment.
    fn running(&self, program: &[&str]) -> Vec<String> {
        self.env
            .iter()
            .chain(&self.wrapper)
            .cloned()
            .chain(program.iter().map(|s| s.to_string()))
            .collect()
    }

    /// `running` the kernel's interpreter, with its flags, then `args`.
    fn python(&self, args: &[&str]) -> Vec<String> {
        let mut program = vec![self.interpreter.as_str()];
        program.extend(self.flags.iter().map(String::as_str));
        program.extend(args);
        self.running(&program)
    }
}

/// `Err` says why a kernel cannot be asked.
fn kernel_command(
    k: &Kernel,
    user: &User,
    jupyter_python: Option<&Path>,
) -> Result<KernelCommand, String> {
    let argv = &k.argv;
    let first = argv.first().ok_or("its argv is empty")?;
    let interp = if Path::new(first).file_name().is_some_and(|n| n == "env") {
        argv.iter()
            .skip(1)
            .position(|a| !a.starts_with('-') && !a.contains('='))
            .map(|i| i + 1)
            .ok_or("its argv runs env without a program")?
    } else {
        0
    };
    let mut env: Vec<String> = vec![
        "-i".into(),
        format!("HOME={}", user.home),
        format!("PATH={}", crate::host::command::USER_PATH),
        format!("USER={}", user.name),
        format!("LOGNAME={}", user.name),
    ];
    for (key, value) in &k.env {
        if key.is_empty() || key.contains('=') || key.contains('\0') || value.contains('\0') {
            return Err(format!(
                "its env names a variable no process can hold ({key:?})"
            ));
        }
        env.push(format!("{key}={value}"));
    }
    let mut interpreter = argv[interp].clone();
    if interp == 0
        && ["python", "python3"].contains(&first.as_str())
        && let Some(py) = jupyter_python
    {
        interpreter = py.display().to_string();
    }
    let mut flags = Vec::new();
    let mut rest = argv[interp + 1..].iter();
    while let Some(a) = rest.next() {
        if a == "-c" || (a.starts_with("-c") && !a.starts_with("--")) {
            // Code of its own runs before any kernel: what it sets is
            // not what the resolution would see.
            return Err("its argv runs code of its own (`-c`) before the kernel".into());
        }
        if !a.starts_with('-') || a == "-m" || a.starts_with("-m") {
            break;
        }
        flags.push(a.clone());
        if a == "-X" || a == "-W" {
            match rest.next() {
                Some(v) => flags.push(v.clone()),
                None => break,
            }
        }
    }
    Ok(KernelCommand {
        env,
        wrapper: argv[..interp].to_vec(),
        interpreter,
        flags,
    })
}

/// The proxies one interpreter's answer names: pip's own `proxy` setting
/// and the proxy variables its process holds.
fn proxies_of(answer: &serde_json::Value) -> Vec<String> {
    let pip = answer["pip"]
        .as_object()
        .into_iter()
        .flat_map(|c| c.values())
        .filter_map(|o| o["proxy"].as_str());
    let env = answer["env_proxies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str());
    pip.chain(env)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// What is wrong with one pip answer, as findings.
fn judge_pip(label: &str, answer: &serde_json::Value, p: &PipPolicy) -> (Vec<String>, Vec<String>) {
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    if let Some(e) = answer["error"].as_str() {
        findings.push(format!(
            "pip of {label} could not resolve its settings: {e}"
        ));
        return (findings, notes);
    }
    if answer.get("no_pip").is_some() {
        notes.push(format!("{label}: no pip"));
        return (findings, notes);
    }
    let mirror = comparable(p.index_url.as_str());
    let extras: Vec<Option<String>> = p
        .extra_index_urls
        .iter()
        .map(|u| comparable(u.as_str()))
        .collect();
    let Some(commands) = answer["pip"].as_object() else {
        findings.push(format!("pip of {label} gave no settings"));
        return (findings, notes);
    };
    let mut seen = Vec::new();
    for (command, o) in commands {
        let mut say = |what: String| {
            if !seen.contains(&what) {
                seen.push(what.clone());
                findings.push(format!("pip of {label} ({command}): {what}"));
            }
        };
        if o["no_index"].as_bool() == Some(true) {
            // Nothing is fetched from any index.
        } else if let Some(index) = o["index_url"].as_str()
            && comparable(index) != mirror
        {
            say(format!("index {index}"));
        }
        for extra in o["extra_index_urls"].as_array().into_iter().flatten() {
            let extra = extra.as_str().unwrap_or_default();
            if !extras.contains(&comparable(extra)) {
                say(format!("extra index {extra}"));
            }
        }
        for link in o["find_links"].as_array().into_iter().flatten() {
            say(format!("find-links {}", link.as_str().unwrap_or_default()));
        }
    }
    (findings, notes)
}

/// What is wrong with what one uv resolved.
fn judge_uv(label: &str, urls: &Result<Vec<String>, String>, p: &PipPolicy) -> Vec<String> {
    let urls = match urls {
        Ok(urls) => urls,
        Err(said) => {
            return vec![format!(
                "uv {label}: its resolved settings could not be read (`uv pip install \
                 --show-settings` said: {said}): not proven"
            )];
        }
    };
    let allowed: Vec<Option<String>> = std::iter::once(&p.index_url)
        .chain(&p.extra_index_urls)
        .map(|u| comparable(u.as_str()))
        .collect();
    let mut out: Vec<String> = urls
        .iter()
        .filter(|u| !allowed.contains(&comparable(u)))
        .map(|u| format!("uv {label}: index {u}"))
        .collect();
    if !urls
        .iter()
        .any(|u| comparable(u) == comparable(p.index_url.as_str()))
    {
        out.push(format!(
            "uv {label}: the mirror is not among its indexes (uv's default is pypi.org)"
        ));
    }
    out
}

/// Whether two channels are the same: equal names, or URLs equal but for
/// credentials and a trailing slash.
fn same_channel(a: &str, b: &str) -> bool {
    a == b || comparable(a).is_some_and(|x| Some(x) == comparable(b))
}

/// A channel as `conda config --show --json` gives it: a string, or an
/// object of its parts (`scheme`, `location`, `name`).
fn channel_url(v: &serde_json::Value) -> Option<String> {
    if let Some(text) = v.as_str() {
        return Some(text.to_string());
    }
    let part = |k: &str| v[k].as_str().unwrap_or_default();
    let (scheme, location) = (part("scheme"), part("location"));
    if scheme.is_empty() || location.is_empty() {
        return None;
    }
    let name = part("name");
    Some(if name.is_empty() {
        format!("{scheme}://{location}")
    } else {
        format!("{scheme}://{location}/{name}")
    })
}

/// What conda's resolved configuration shows: findings, and the proxies it
/// would use (`proxy_servers`).
// Long: conda's answers judged field by field, each with its own finding.
fn judge_conda(
    label: &str,
    answer: &Result<serde_json::Value, String>,
    c: &CondaPolicy,
) -> (Vec<String>, Vec<String>) {
    let v = match answer {
        Ok(v) => v,
        Err(said) => {
            return (
                vec![format!(
                    "conda {label}: its configuration could not be read (`conda config --show \
                     --json` said: {said}): not proven"
                )],
                Vec::new(),
            );
        }
    };
    let strings = |key: &str| -> Vec<String> {
        v[key]
            .as_array()
            .map(|a| a.iter().filter_map(channel_url).collect())
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    // No channels set: conda uses `defaults`.
    let mut channels = strings("channels");
    if channels.is_empty() {
        channels.push("defaults".into());
    }
    for ch in &channels {
        if !c.channels.iter().any(|a| same_channel(a.as_str(), ch)) {
            out.push(format!("conda {label}: channel {ch}"));
        }
    }
    // `defaults` stands for default_channels.
    if channels.iter().any(|ch| ch == "defaults") {
        for d in strings("default_channels") {
            if !c
                .default_channels
                .iter()
                .any(|a| same_channel(a.as_str(), &d))
            {
                out.push(format!("conda {label}: default channel {d}"));
            }
        }
    }
    // A channel named, not a URL, is found through custom_channels, else
    // channel_alias.
    for ch in channels
        .iter()
        .filter(|ch| !ch.contains("://") && *ch != "defaults")
    {
        let name = ch.split('/').next().unwrap_or(ch);
        let custom = channel_url(&v["custom_channels"][name]);
        let (via, got, want) = match &custom {
            Some(url) => (
                "custom_channels",
                url.clone(),
                c.custom_channels.get(name).map(|u| u.as_str()),
            ),
            None => (
                "channel_alias",
                channel_url(&v["channel_alias"]).unwrap_or_else(|| "?".into()),
                c.channel_alias.as_ref().map(|u| u.as_str()),
            ),
        };
        if !want.is_some_and(|w| same_channel(w, &got)) {
            out.push(format!(
                "conda {label}: channel {ch} resolves through {via} {got}"
            ));
        }
    }
    // Aliases that move a channel's URL elsewhere, whatever it is.
    for key in ["migrated_channel_aliases", "migrated_custom_channels"] {
        let set = match &v[key] {
            serde_json::Value::Array(a) => !a.is_empty(),
            serde_json::Value::Object(m) => !m.is_empty(),
            _ => false,
        };
        if set {
            out.push(format!("conda {label}: {key} = {}", v[key]));
        }
    }
    let proxies = v["proxy_servers"]
        .as_object()
        .map(|m| {
            m.values()
                .filter_map(|u| u.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    (out, proxies)
}

/// The programs every shell context is asked about.
#[derive(Default)]
struct Programs {
    pys: Vec<String>,
    uvs: Vec<String>,
    condas: Vec<String>,
    /// Paths with a line break: not asked.
    skipped: Vec<String>,
}

impl Resolved {
    /// The interpreters, uv and conda binaries every shell context is
    /// asked about: each environment's, and the user's own.
    fn programs(&self, host: &Host, envs: &[PathBuf]) -> Programs {
        let mut p = Programs::default();
        let home = Path::new(&self.user.home);
        let bins = envs
            .iter()
            .map(|e| e.join("bin"))
            .chain([home.join(".local/bin")]);
        for bin in bins {
            let text = bin.display().to_string();
            if text.contains('\n') {
                p.skipped.push(text);
                continue;
            }
            let mut lists = [
                ("python", &mut p.pys),
                ("uv", &mut p.uvs),
                ("conda", &mut p.condas),
            ];
            for (name, list) in lists.iter_mut() {
                let path = bin.join(name);
                if matches!(
                    host.kind(&path),
                    Ok(Some(EntryKind::File | EntryKind::Symlink))
                ) {
                    list.push(path.display().to_string());
                }
            }
        }
        p
    }
}

/// What a context's answers show: findings, notes, and the proxies the
/// clients would use.
#[derive(Default)]
struct Verdicts {
    findings: Vec<String>,
    notes: Vec<String>,
    proxies: BTreeSet<String>,
}

impl Verdicts {
    /// Judges conda's answer, when the policy governs conda.
    fn conda(
        &mut self,
        label: &str,
        answer: &Result<serde_json::Value, String>,
        policy: Option<&CondaPolicy>,
    ) {
        if let Some(c) = policy {
            let (findings, proxies) = judge_conda(label, answer, c);
            self.findings.extend(findings);
            self.proxies.extend(proxies);
        }
    }

    /// Judges a context's answers; `expect` are the interpreters that had
    /// to answer.
    fn take(
        &mut self,
        context: &str,
        a: &Answers,
        expect: &[String],
        p: &PipPolicy,
        conda: Option<&CondaPolicy>,
    ) {
        for (label, answer) in &a.pip {
            self.proxies.extend(proxies_of(answer));
            let (f, n) = judge_pip(&format!("{label} in {context}"), answer, p);
            self.findings.extend(f);
            self.notes.extend(n);
        }
        for (label, urls) in &a.uv {
            self.findings
                .extend(judge_uv(&format!("{label} in {context}"), urls, p));
        }
        for (label, answer) in &a.conda {
            self.conda(&format!("{label} in {context}"), answer, conda);
        }
        for label in &a.forged {
            self.findings.push(format!(
                "{label} in {context}: more than one answer (start-up code printed one): \
                 not proven"
            ));
        }
        for py in expect.iter().filter(|p| !a.pip.contains_key(*p)) {
            self.findings
                .push(format!("{py} in {context}: gave no answer: not proven"));
        }
    }
}

impl Resolved {
    /// The user's login and interactive shells: their start-up files run,
    /// then every interpreter and uv is asked with what they exported.
    fn ask_shells(
        &self,
        host: &Host,
        programs: &Programs,
        cwd: &Path,
        v: &mut Verdicts,
    ) -> Result<usize> {
        if !matches!(host.kind(Path::new("/bin/bash")), Ok(Some(_))) {
            v.notes
                .push("no /bin/bash: the user's shells were not asked".into());
            return Ok(0);
        }
        let (py_list, uv_list, conda_list) = (
            programs.pys.join("\n"),
            programs.uvs.join("\n"),
            programs.condas.join("\n"),
        );
        for (flags, context) in [
            ("-lic", "the user's login shell"),
            ("-ic", "the user's interactive shell"),
        ] {
            let nonce = crate::host::random_hex();
            // `$0` is what a terminal's shell has; the working directory
            // is Jupyter's, where uv looks for a project's settings.
            let out = host.run_as_in(
                &self.user,
                Some(cwd),
                "/bin/bash",
                &[
                    flags,
                    SHELL,
                    "bash",
                    &nonce,
                    RESOLVER,
                    &py_list,
                    &uv_list,
                    &conda_list,
                ],
                SHELL_TIMEOUT,
            )?;
            let answers = parse(&out.stdout, &nonce);
            if !answers.done {
                v.findings.push(format!(
                    "{context} (bash {flags}) did not run to its end ({}): not proven",
                    out.status
                        .map_or("killed".to_string(), |c| format!("exit {c}"))
                ));
            }
            v.take(
                context,
                &answers,
                &programs.pys,
                &self.pip,
                self.conda.as_ref(),
            );
        }
        Ok(2)
    }

    /// Each kernel spec's interpreter, with the spec's environment.
    // Long: one bounded conversation with each kernel (start, ask, read, stop), kept in one
    // place so its deadline is.
    fn ask_kernels(
        &self,
        host: &Host,
        envs: &[PathBuf],
        programs: &Programs,
        cwd: &Path,
        v: &mut Verdicts,
    ) -> usize {
        let jupyter_python = self.conda_root.join("envs/JupyterSystemEnv/bin/python");
        let jupyter_python =
            matches!(host.kind(&jupyter_python), Ok(Some(_))).then_some(jupyter_python.as_path());
        let mut asked = 0;
        for k in kernels(host, Path::new(&self.user.home), envs, v) {
            let context = format!("the kernel {}", k.spec.display());
            let cmd = match kernel_command(&k, &self.user, jupyter_python) {
                Ok(cmd) => cmd,
                Err(why) => {
                    v.findings.push(format!("{context}: not asked: {why}"));
                    continue;
                }
            };
            let nonce = crate::host::random_hex();
            let label = "its interpreter";
            let args = cmd.python(&["-c", RESOLVER, &nonce, label]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            asked += 1;
            let run = |args: &[&str]| {
                host.run_as_in(&self.user, Some(cwd), "/usr/bin/env", args, KERNEL_TIMEOUT)
            };
            match run(&args) {
                Ok(out) => {
                    let answers = parse(&out.stdout, &nonce);
                    if answers.pip.is_empty() {
                        let said = out.stderr.lines().last().unwrap_or("no output");
                        v.findings.push(format!(
                            "{context}: its interpreter gave no answer ({said}): not proven"
                        ));
                    }
                    v.take(&context, &answers, &[], &self.pip, None);
                }
                Err(e) => v.findings.push(format!("{context}: not asked: {e:#}")),
            }
            // conda, run by code in the kernel, sees the kernel's environment.
            for conda in &programs.condas {
                let args = cmd.running(&[
                    conda,
                    "config",
                    "--show",
                    "channels",
                    "default_channels",
                    "channel_alias",
                    "custom_channels",
                    "migrated_channel_aliases",
                    "migrated_custom_channels",
                    "proxy_servers",
                    "--json",
                ]);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let answer = match run(&args) {
                    Ok(out) => conda_answer(&format!("{}{}", out.stdout, out.stderr)),
                    Err(e) => Err(format!("{e:#}")),
                };
                v.conda(
                    &format!("{conda} in {context}"),
                    &answer,
                    self.conda.as_ref(),
                );
            }
            // And so does uv.
            for uv in &programs.uvs {
                let args = cmd.running(&[
                    uv,
                    "pip",
                    "install",
                    "--show-settings",
                    "--no-cache",
                    "--python",
                    &cmd.interpreter,
                    "pip",
                ]);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let resolved = match run(&args) {
                    Ok(out) => {
                        let text = format!("{}{}", out.stdout, out.stderr);
                        uv_indexes(&text).ok_or_else(|| {
                            text.lines()
                                .rev()
                                .find(|l| !l.trim().is_empty())
                                .unwrap_or("no output")
                                .chars()
                                .take(200)
                                .collect()
                        })
                    }
                    Err(e) => Err(format!("{e:#}")),
                };
                v.findings.extend(judge_uv(
                    &format!("{uv} in {context}"),
                    &resolved,
                    &self.pip,
                ));
            }
        }
        asked
    }
}

impl Probe for Resolved {
    fn describe(&self) -> String {
        "what pip, uv and conda resolve as the user".into()
    }

    fn runs_user_code(&self) -> bool {
        true
    }

    fn check(&self, host: &Host) -> Result<ProbeResult> {
        let mut found = python_envs::discover(host, &self.conda_root, &self.env_search);
        found.walk(host, Path::new(&self.user.home), python_envs::HOME);
        let envs = found.envs;
        let programs = self.programs(host, &envs);
        let mut v = Verdicts {
            findings: programs
                .skipped
                .iter()
                .map(|s| format!("{s}: a name with a line break, not asked"))
                .collect(),
            ..Verdicts::default()
        };
        // Where Jupyter starts terminals and kernels: the ML volume.
        let home = Path::new(&self.user.home);
        let cwd = match host.kind(&home.join("SageMaker")) {
            Ok(Some(EntryKind::Dir)) => home.join("SageMaker"),
            _ => home.to_path_buf(),
        };
        let contexts = self.ask_shells(host, &programs, &cwd, &mut v)?
            + self.ask_kernels(host, &envs, &programs, &cwd, &mut v);
        v.notes.extend(
            v.proxies
                .iter()
                .map(|p| format!("proxy the clients use: {}", barrier::redacted(p))),
        );
        *self.proxies.lock().unwrap_or_else(|e| e.into_inner()) = Some(v.proxies.clone());
        let warn = self.on_override == OnOverride::Warn;
        let prefix = if warn {
            "warning: resolved"
        } else {
            "resolved"
        };
        let mut details: Vec<String> = v
            .findings
            .iter()
            .map(|f| format!("{prefix}: {f}"))
            .collect();
        details.extend(v.notes);
        let clients = if self.conda.is_some() {
            "pip, uv and conda"
        } else {
            "pip and uv"
        };
        let evidence = if v.findings.is_empty() {
            format!(
                "{clients}, asked as {} in {contexts} context(s) ({} interpreter(s), {} uv, \
                 {} conda), resolve only the mirror",
                self.user.name,
                programs.pys.len(),
                programs.uvs.len(),
                programs.condas.len(),
            )
        } else {
            format!(
                "{clients}, asked as {} in {contexts} context(s), resolve something other \
                 than the mirror ({} finding(s))",
                self.user.name,
                v.findings.len()
            )
        };
        Ok(ProbeResult {
            passed: v.findings.is_empty() || warn,
            skipped: false,
            evidence,
            details,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lines_marked_with_the_runs_nonce_count() {
        let out = "junk\nNBWARDEN other pip {\"label\":\"/e/bin/python\",\"answer\":{}}\n\
                   NBWARDEN n1 pip {\"label\":\"/e/bin/python\",\"answer\":{\"pip\":{}}}\n\
                   NBWARDEN n1 uv-begin /u\n    index_locations: IndexLocations {\n\
                   \"https://x.example/simple\",\n    scheme: \"https\",\n no_index: false,\n\
                   NBWARDEN n1 uv-end /u\nNBWARDEN n1 done\n";
        let a = parse(out, "n1");
        assert!(a.done);
        assert_eq!(a.pip.len(), 1);
        assert_eq!(a.pip["/e/bin/python"], serde_json::json!({"pip": {}}));
        assert_eq!(a.uv["/u"], Ok(vec!["https://x.example/simple".to_string()]));
        assert!(a.forged.is_empty());
        let twice = "NBWARDEN n pip {\"label\":\"p\",\"answer\":{}}\n\
                     NBWARDEN n pip {\"label\":\"p\",\"answer\":{}}\n";
        assert_eq!(parse(twice, "n").forged, ["p"]);
    }

    fn conda_policy(channels: &[&str], alias: Option<&str>) -> CondaPolicy {
        let mut text = format!("channels = {channels:?}\n");
        if let Some(a) = alias {
            text.push_str(&format!("channel_alias = {a:?}\n"));
        }
        toml::from_str(&text).expect("conda policy")
    }

    #[test]
    fn condas_answer_is_judged_channel_by_channel_with_its_proxies() {
        let out = "NBWARDEN n conda-begin /c\nwarning: something\n{\n \"channels\": [\"https://m.example/ch\", \
                   \"conda-forge\"],\n \"channel_alias\": {\"scheme\": \"https\", \"location\": \"conda.anaconda.org\", \"name\": \"\"},\n \
                   \"custom_channels\": {},\n \"default_channels\": [],\n \
                   \"proxy_servers\": {\"https\": \"http://u:p@proxy:3128\"}\n}\n\
                   NBWARDEN n conda-end /c\nNBWARDEN n conda-begin /d\nTraceback: boom\nNBWARDEN n conda-end /d\n";
        let a = parse(out, "n");
        assert!(a.conda["/d"].is_err());
        let policy = conda_policy(&["https://m.example/ch/"], None);
        let (findings, proxies) = judge_conda("/c", &a.conda["/c"], &policy);
        assert_eq!(
            findings,
            [
                "conda /c: channel conda-forge",
                "conda /c: channel conda-forge resolves through channel_alias https://conda.anaconda.org"
            ]
        );
        assert_eq!(proxies, ["http://u:p@proxy:3128"]);
        // The policy's own name and alias: nothing to say.
        let named = conda_policy(
            &["https://m.example/ch", "conda-forge"],
            Some("https://conda.anaconda.org/"),
        );
        assert!(judge_conda("/c", &a.conda["/c"], &named).0.is_empty());
        let (broken, _) = judge_conda("/d", &a.conda["/d"], &policy);
        assert!(broken[0].contains("Traceback: boom"), "{broken:?}");
        // conda before nbwarden: no channels, so `defaults`, anaconda's.
        let stock = serde_json::json!({"channels": [], "default_channels": [
            {"scheme": "https", "location": "repo.anaconda.com", "name": "pkgs/main"}]});
        let (findings, _) = judge_conda("/c", &Ok(stock), &policy);
        assert_eq!(
            findings,
            [
                "conda /c: channel defaults",
                "conda /c: default channel https://repo.anaconda.com/pkgs/main"
            ]
        );
    }

    #[test]
    fn a_kernel_runs_its_interpreter_behind_env_with_its_flags() {
        let user = User {
            name: "ec2-user".into(),
            uid: 1000,
            gid: 1000,
            home: "/home/ec2-user".into(),
        };
        let k = Kernel {
            spec: PathBuf::from("/k/kernel.json"),
            argv: [
                "/usr/bin/env",
                "-i",
                "A=b",
                "/e/bin/python",
                "-s",
                "-X",
                "dev",
                "-m",
                "ipykernel_launcher",
                "-f",
                "{connection_file}",
            ]
            .map(String::from)
            .to_vec(),
            env: vec![("PIP_--INDEX-URL".into(), "https://x".into())],
        };
        let cmd = kernel_command(&k, &user, None).expect("a command");
        assert_eq!(
            cmd.python(&["-c", "x"])[5..],
            [
                "PIP_--INDEX-URL=https://x",
                "/usr/bin/env",
                "-i",
                "A=b",
                "/e/bin/python",
                "-s",
                "-X",
                "dev",
                "-c",
                "x"
            ]
        );
        // uv, run from the kernel, gets the same environment and wrapper.
        assert_eq!(
            cmd.running(&["/u/uv"])[5..],
            [
                "PIP_--INDEX-URL=https://x",
                "/usr/bin/env",
                "-i",
                "A=b",
                "/u/uv"
            ]
        );
        let bare = Kernel {
            argv: ["python3", "-m", "ipykernel"].map(String::from).to_vec(),
            env: vec![("A=B".into(), "c".into())],
            ..k
        };
        assert!(kernel_command(&bare, &user, None).is_err());
    }
}
