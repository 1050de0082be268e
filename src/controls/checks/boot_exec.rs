//! Nothing that runs as root at boot or on a schedule executes from the ML
//! volume or another user-writable path: systemd units (and drop-ins, and
//! units or drop-ins that are links, as `systemctl link` makes them), cron
//! tables and cron directories, `/etc/profile.d` and `rc.local`. In a unit,
//! every directive that chooses code or its inputs counts: `Exec*=`,
//! `EnvironmentFile=`, `Environment=` (`PYTHONPATH=`, `LD_PRELOAD=`),
//! `WorkingDirectory=`, `RootDirectory=`; a unit with `User=` still runs its
//! `+`/`!`-prefixed commands as root. Whatever cannot be read is a finding:
//! the check fails closed.

use crate::engine::ControlInfo;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::Check;
use super::user_writable;
use crate::engine::{Probe, ProbeResult};
use crate::host::{EntryKind, Host, Name};
use crate::policy::BootExecCheck;

pub static INFO: ControlInfo = ControlInfo {
    id: "boot-exec",
    title: "Nothing run as root at boot or on a schedule comes from a user-writable path",
    section: "verify.boot_exec",
};

/// systemd's system unit search path, in its order (`systemd-analyze
/// unit-paths`), the control and transient directories included.
const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system.control",
    "/run/systemd/system.control",
    "/run/systemd/transient",
    "/etc/systemd/system",
    "/etc/systemd/system.attached",
    "/run/systemd/system",
    "/run/systemd/system.attached",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];
/// One kind of root-run hook outside systemd's units: files read whole,
/// and directories whose every file is read. `content`: every absolute
/// path in the text is judged (scripts, and configuration that names
/// commands, libraries or search paths); without it only the file itself
/// (who can write it, where a link leads), for programs that are binaries.
struct Hooks {
    what: &'static str,
    files: &'static [&'static str],
    dirs: &'static [&'static str],
    content: bool,
}

/// Where root runs or loads what a file names: at boot, on a schedule, at
/// a login or `sudo` (PAM, the system shell start-up files,
/// `/etc/environment`), at a lease (dhclient), when logs rotate, on a
/// package manager's run (apt, dnf, yum), on a device event (udev), and
/// before the units load (generators). systemd's units are read apart.
const HOOKS: &[Hooks] = &[
    Hooks {
        what: "cron",
        files: &[
            "/etc/crontab",
            "/etc/anacrontab",
            "/var/spool/cron/root",
            "/var/spool/cron/crontabs/root",
        ],
        dirs: &[
            "/etc/cron.d",
            "/etc/cron.hourly",
            "/etc/cron.daily",
            "/etc/cron.weekly",
            "/etc/cron.monthly",
        ],
        content: true,
    },
    Hooks {
        what: "shell start-up",
        files: &[
            "/etc/rc.local",
            "/etc/rc.d/rc.local",
            "/etc/profile",
            "/etc/bashrc",
            "/etc/bash.bashrc",
            "/etc/environment",
            "/etc/security/pam_env.conf",
            "/etc/ssh/sshrc",
            "/root/.bashrc",
            "/root/.bash_profile",
            "/root/.bash_login",
            "/root/.profile",
        ],
        dirs: &["/etc/profile.d", "/etc/bash_completion.d"],
        content: true,
    },
    Hooks {
        what: "sysv init",
        files: &[],
        dirs: &["/etc/init.d", "/etc/rc.d/init.d"],
        content: true,
    },
    // The library search path, the kernel's core handler
    // (`kernel.core_pattern=|/path`), systemd's own environment
    // (`DefaultEnvironment=LD_PRELOAD=…`).
    Hooks {
        what: "loader, sysctl and systemd manager",
        files: &[
            "/etc/ld.so.conf",
            "/etc/sysctl.conf",
            "/etc/systemd/system.conf",
        ],
        dirs: &[
            "/etc/ld.so.conf.d",
            "/etc/sysctl.d",
            "/run/sysctl.d",
            "/usr/local/lib/sysctl.d",
            "/usr/lib/sysctl.d",
            "/lib/sysctl.d",
            "/etc/systemd/system.conf.d",
            "/run/systemd/system.conf.d",
            "/usr/lib/systemd/system.conf.d",
        ],
        content: true,
    },
    Hooks {
        what: "kernel and dpkg hooks",
        files: &["/etc/dpkg/dpkg.cfg"],
        dirs: &[
            "/etc/kernel/postinst.d",
            "/etc/kernel/preinst.d",
            "/etc/kernel/postrm.d",
            "/etc/kernel/prerm.d",
            "/etc/kernel/install.d",
            "/etc/dpkg/dpkg.cfg.d",
        ],
        content: true,
    },
    // Libraries every program loads, setuid ones included (found by the
    // red team: a library on the ML volume ran inside the user's `sudo`).
    Hooks {
        what: "preload",
        files: &["/etc/ld.so.preload"],
        dirs: &[],
        content: true,
    },
    Hooks {
        what: "pam",
        files: &["/etc/pam.conf"],
        dirs: &["/etc/pam.d"],
        content: true,
    },
    Hooks {
        what: "logrotate",
        files: &["/etc/logrotate.conf"],
        dirs: &["/etc/logrotate.d"],
        content: true,
    },
    Hooks {
        what: "dhclient",
        files: &[
            "/etc/dhcp/dhclient-enter-hooks",
            "/etc/dhcp/dhclient-exit-hooks",
            "/etc/dhclient-enter-hooks",
            "/etc/dhclient-exit-hooks",
        ],
        dirs: &[
            "/etc/dhcp/dhclient-enter-hooks.d",
            "/etc/dhcp/dhclient-exit-hooks.d",
            "/etc/dhcp/dhclient.d",
        ],
        content: true,
    },
    Hooks {
        what: "motd",
        files: &[],
        dirs: &["/etc/update-motd.d"],
        content: true,
    },
    Hooks {
        what: "package manager",
        files: &["/etc/apt/apt.conf", "/etc/yum.conf", "/etc/dnf/dnf.conf"],
        dirs: &[
            "/etc/apt/apt.conf.d",
            "/etc/yum/pluginconf.d",
            "/etc/yum/post-actions",
            "/etc/dnf/plugins",
            "/etc/dnf/plugins/post-transaction-actions.d",
            "/etc/dnf/libdnf5-plugins",
            "/etc/dnf/libdnf5-plugins/actions.d",
        ],
        content: true,
    },
    Hooks {
        what: "udev",
        files: &[],
        dirs: &[
            "/etc/udev/rules.d",
            "/run/udev/rules.d",
            "/usr/local/lib/udev/rules.d",
            "/usr/lib/udev/rules.d",
            "/lib/udev/rules.d",
        ],
        content: true,
    },
    Hooks {
        what: "network dispatcher",
        files: &[],
        dirs: &[
            "/etc/NetworkManager/dispatcher.d",
            "/etc/networkd-dispatcher/routable.d",
        ],
        content: true,
    },
    Hooks {
        what: "modprobe",
        files: &[],
        dirs: &[
            "/etc/modprobe.d",
            "/run/modprobe.d",
            "/usr/lib/modprobe.d",
            "/lib/modprobe.d",
        ],
        content: true,
    },
    Hooks {
        what: "systemd generators",
        files: &[],
        dirs: &[
            "/etc/systemd/system-generators",
            "/run/systemd/system-generators",
            "/usr/local/lib/systemd/system-generators",
            "/usr/lib/systemd/system-generators",
            "/lib/systemd/system-generators",
            "/usr/lib/systemd/system-environment-generators",
            "/lib/systemd/system-environment-generators",
        ],
        content: false,
    },
];

/// Unit directives whose paths choose what runs, or what it reads first.
const CODE_KEYS: &[&str] = &[
    "EnvironmentFile",
    "Environment",
    "WorkingDirectory",
    "RootDirectory",
    "RootImage",
    "ExecSearchPath",
];

/// What a path below `/dev`, `/proc` or `/sys` is, for a command line.
enum KernelPath {
    /// A device or kernel file (`/dev/null`, `/proc/sys/…`): not code.
    NotCode,
    /// A path that resolves elsewhere when it runs (`/proc/self/root/…`,
    /// `/proc/1234/cwd/…`, `/dev/fd/3`): it can lead anywhere.
    Anywhere,
    /// An ordinary path, or shared memory anyone can write (`/dev/shm`,
    /// `/dev/mqueue`): judged like any file.
    File,
}

fn kernel_path(path: &Path) -> KernelPath {
    if path.starts_with("/dev/shm") || path.starts_with("/dev/mqueue") {
        return KernelPath::File;
    }
    if ["/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr"]
        .iter()
        .any(|p| path.starts_with(p))
    {
        return KernelPath::Anywhere;
    }
    if let Ok(rest) = path.strip_prefix("/proc") {
        let mut parts = rest.components().map(|c| c.as_os_str().to_string_lossy());
        let who = parts.next().unwrap_or_default();
        let what = parts.next().unwrap_or_default();
        let a_process = who == "self"
            || who == "thread-self"
            || (!who.is_empty() && who.chars().all(|c| c.is_ascii_digit()));
        if a_process && matches!(what.as_ref(), "root" | "cwd" | "fd" | "map_files" | "exe") {
            return KernelPath::Anywhere;
        }
        return KernelPath::NotCode;
    }
    if ["/dev", "/sys", "/run/systemd"]
        .iter()
        .any(|d| path.starts_with(d))
    {
        return KernelPath::NotCode;
    }
    KernelPath::File
}

/// The drop-in directories (without `.d`) that apply to unit `name`, as
/// systemd 246+ reads them: the type's (`service`), every dash prefix
/// (`foo-.service` for `foo-bar.service`), the template (`foo@.service`),
/// and the unit's own.
fn dropin_keys(name: &str) -> Vec<String> {
    let Some((stem, kind)) = name.rsplit_once('.') else {
        return vec![name.to_string()];
    };
    let mut keys = vec![kind.to_string()];
    for (i, c) in stem.char_indices() {
        if c == '-' {
            keys.push(format!("{}.{kind}", &stem[..=i]));
        }
    }
    if let Some((template, _)) = stem.split_once('@') {
        keys.push(format!("{template}@.{kind}"));
    }
    keys.push(name.to_string());
    keys
}

/// A unit file's lines with systemd's continuations joined: a line ending
/// in `\` goes on with the next.
fn logical_lines(text: &str) -> Vec<String> {
    joined_lines(text, " ")
}

/// Lines with `\` continuations joined by `joiner` (systemd puts a space;
/// a shell removes backslash-newline and joins the words).
fn joined_lines(text: &str, joiner: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        match line.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push_str(joiner);
            }
            None => {
                current.push_str(line);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// `Key=value` pairs of a unit file's `[Service]` section, in order.
fn service_settings(text: &str) -> Vec<(String, String)> {
    let mut in_service = false;
    let mut out = Vec::new();
    for line in logical_lines(text) {
        let line = line.trim();
        if line.starts_with('[') {
            in_service = line == "[Service]";
            continue;
        }
        if in_service
            && !line.starts_with('#')
            && !line.starts_with(';')
            && let Some((k, v)) = line.split_once('=')
        {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

/// Whether a unit's `Exec*=` value runs with full privileges even when the
/// unit has `User=`: systemd's `+`, `!` and `!!` prefixes.
fn privileged_prefix(value: &str) -> bool {
    value
        .trim()
        .chars()
        .take_while(|c| matches!(c, '-' | '@' | ':' | '+' | '!'))
        .any(|c| c == '+' || c == '!')
}

/// The control for `[verify.boot_exec]`: `user` is the notebook user.
pub fn control(check: BootExecCheck, user: String) -> Check {
    Check::new(&INFO, check.severity, move |ctx| {
        let home = ctx
            .host
            .accounts()?
            .user(&user)
            .map(|u| PathBuf::from(&u.home))
            .unwrap_or_else(|| PathBuf::from("/home").join(&user));
        Ok(Box::new(Scan { home }))
    })
}

/// The path a `~` word names: `~/` and `~root/` are root's home (root
/// runs these lines), `~NAME/` that user's home as notebook instances lay
/// them out (`/home/NAME`).
pub fn home_path(word: &str) -> Option<PathBuf> {
    let rest = word.strip_prefix('~')?;
    let (name, rest) = rest.split_once('/').unwrap_or((rest, ""));
    let home = match name {
        "" | "root" => PathBuf::from("/root"),
        name => Path::new("/home").join(name),
    };
    Some(if rest.is_empty() {
        home
    } else {
        home.join(rest)
    })
}

/// Absolute paths in a command line: words, `--opt=/path` values and the
/// parts of `A:B` lists (`PYTHONPATH=`), `~` words ([`home_path`]), with
/// quotes (spliced ones too: `/home/ec2"-"user`), braces, `$(…)`,
/// backticks, redirections and systemd's `-@:+!` prefixes removed.
pub fn paths_in(command: &str) -> Vec<PathBuf> {
    // Quotes, braces and brackets of apt's `{ "cmd"; }`, udev's
    // `RUN+="cmd"`, a shell's `$(cmd)` and backticks hold a path in them.
    let wrapping = |c: char| {
        matches!(
            c,
            '"' | '\'' | '{' | '}' | '(' | ')' | '[' | ']' | '`' | '$' | ',' | '<' | '>'
        )
    };
    command
        .split(|c: char| {
            c.is_whitespace() || matches!(c, ';' | '|' | '&' | ':' | '<' | '>' | '`' | '%')
        })
        .map(|w| unescaped(&w.replace(['"', '\''], "")))
        .filter_map(|w| {
            let w = w.trim_matches(wrapping);
            let w = w.trim_start_matches(['-', '@', ':', '+', '!']);
            let candidate = w.rsplit_once('=').map_or(w, |(_, v)| v);
            let candidate = candidate.trim_matches(wrapping);
            if candidate.starts_with('/') {
                Some(PathBuf::from(candidate))
            } else if let Some(up) = climbing(candidate) {
                Some(up)
            } else {
                home_path(candidate)
            }
        })
        .collect()
}

/// A word with the escapes a shell, bash's `$'…'` and systemd undo:
/// `\xHH` and `\NNN` (octal) decoded, any other backslash dropped
/// (`\/home`, `/ho\me`).
fn unescaped(word: &str) -> String {
    if !word.contains('\\') {
        return word.to_string();
    }
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::with_capacity(word.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '\\' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let hex: String = chars.iter().skip(i + 2).take(2).collect();
        let oct: String = chars.iter().skip(i + 1).take(3).collect();
        if chars.get(i + 1) == Some(&'x')
            && let Ok(b) = u8::from_str_radix(&hex, 16)
            && hex.len() == 2
        {
            out.push(char::from(b));
            i += 4;
        } else if oct.len() == 3
            && oct.chars().all(|c| ('0'..='7').contains(&c))
            && let Ok(b) = u8::from_str_radix(&oct, 8)
        {
            out.push(char::from(b));
            i += 4;
        } else {
            i += 1;
        }
    }
    out
}

/// A relative word that climbs (`../home/ec2-user/x`): from a shallow
/// working directory it reaches the same name below `/`, judged as that.
fn climbing(word: &str) -> Option<PathBuf> {
    let mut rest = word.strip_prefix("./").unwrap_or(word);
    if !rest.starts_with("../") {
        return None;
    }
    while let Some(r) = rest.strip_prefix("../") {
        rest = r;
    }
    (!rest.is_empty()).then(|| Path::new("/").join(rest))
}

/// Where the link `file` to `target` leads: a relative target from the
/// link's directory, with `.` and `..` worked out (Debian's
/// `/etc/sysctl.d/99-sysctl.conf -> ../sysctl.conf`).
fn link_target(file: &Path, target: &Path) -> PathBuf {
    let joined = file.parent().unwrap_or(Path::new("/")).join(target);
    let mut out = PathBuf::from("/");
    for c in joined.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

/// Whether a path word is a shell pattern.
fn is_pattern(part: &str) -> bool {
    part.contains(['*', '?', '['])
}

/// `name` against a shell pattern: `*` any run, `?` and a `[…]` class
/// any one character (a class is taken at its widest).
fn pattern_matches(pattern: &str, name: &str) -> bool {
    let mut p: Vec<char> = Vec::new();
    let mut class = false;
    for c in pattern.chars() {
        match (class, c) {
            (false, '[') => {
                class = true;
                p.push('?');
            }
            (true, ']') => class = false,
            (true, _) => {}
            (false, c) => p.push(c),
        }
    }
    let n: Vec<char> = name.chars().collect();
    // Iterative wildcard match with one backtrack point.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

/// Whether the first part of a path is a pattern (`/hom?/…`, `/*/…`):
/// it is not expanded, and can match anywhere.
pub fn top_pattern(path: &Path) -> bool {
    path.to_string_lossy()
        .split('/')
        .find(|p| !p.is_empty())
        .is_some_and(is_pattern)
}

/// The most paths a pattern is expanded to.
const MAX_MATCHES: usize = 256;

/// What a path word can name when it runs: itself, or for a shell pattern
/// (`/home/*/SageMaker/on-boot.sh`) every existing match of its directory
/// parts, and where the last part would be made (whoever can make a file
/// there chooses what the pattern runs).
pub fn matches(host: &Host, path: &Path) -> Vec<PathBuf> {
    let text = path.to_string_lossy();
    if top_pattern(path) {
        return Vec::new();
    }
    if !is_pattern(&text) {
        return vec![path.to_path_buf()];
    }
    let parts: Vec<&str> = text.split('/').filter(|p| !p.is_empty()).collect();
    let mut found = vec![PathBuf::from("/")];
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        if !is_pattern(part) {
            found.iter_mut().for_each(|p| p.push(part));
            continue;
        }
        if last {
            // The directory the user would make the match in.
            break;
        }
        let mut next = Vec::new();
        for dir in &found {
            if let Ok(Some(entries)) = host.list(dir) {
                next.extend(
                    entries
                        .iter()
                        .filter(|(n, k)| {
                            matches!(k, EntryKind::Dir | EntryKind::Symlink)
                                && n.to_str().is_some_and(|n| pattern_matches(part, n))
                        })
                        .map(|(n, _)| dir.join(n.to_str().unwrap_or_default())),
                );
            }
        }
        next.truncate(MAX_MATCHES);
        found = next;
    }
    found
}

struct Scan {
    home: PathBuf,
}

impl Scan {
    /// The first interpreter on the way from a root-owned script at `path`
    /// (its `#!` line, and theirs) that the user can change: the script is
    /// then the user's program (found by the red team: a root cron job whose
    /// script names the user's conda Python).
    fn weak_interpreter(&self, host: &Host, path: &Path) -> Option<PathBuf> {
        let mut pending = vec![(path.to_path_buf(), 0)];
        while let Some((current, depth)) = pending.pop() {
            for interp in host.interpreters(&current).unwrap_or_default() {
                if user_writable(host, &interp, &self.home) {
                    return Some(interp);
                }
                if depth < 4 {
                    pending.push((interp, depth + 1));
                }
            }
        }
        None
    }

    fn judge(&self, host: &Host, source: &Path, command: &str, out: &mut Vec<String>) {
        let named = paths_in(command);
        for top in named.iter().filter(|p| top_pattern(p)) {
            out.push(format!(
                "{}: runs {} as root, a pattern at the top of the tree that can match anywhere",
                source.display(),
                top.display()
            ));
        }
        for path in named.iter().flat_map(|p| matches(host, p)) {
            match kernel_path(&path) {
                KernelPath::NotCode => continue,
                KernelPath::Anywhere => out.push(format!(
                    "{}: runs {} as root, which leads through /proc or /dev/fd to a place \
                     chosen when it runs",
                    source.display(),
                    path.display()
                )),
                KernelPath::File => {
                    if user_writable(host, &path, &self.home) {
                        out.push(format!(
                            "{}: runs {} (user-writable) as root",
                            source.display(),
                            path.display()
                        ));
                    } else if let Some(interp) = self.weak_interpreter(host, &path) {
                        out.push(format!(
                            "{}: runs {} as root, whose #! interpreter {} is user-writable",
                            source.display(),
                            path.display(),
                            interp.display()
                        ));
                    }
                }
            }
        }
    }

    fn file_itself(&self, host: &Host, file: &Path, out: &mut Vec<String>) {
        // Root's own rule, with nbwarden's uid taken as root: a unit file
        // is judged for what it is, whoever runs the check.
        if let Ok(Some(st)) = host.stat(file)
            && crate::host::stat::writable_by_others(&st, 0).is_some()
        {
            out.push(format!(
                "{} is itself writable by someone other than root",
                file.display()
            ));
        }
    }

    /// The file (a unit, a cron table, a profile script) as root would read
    /// it: a link is followed once, inside the root, and its target judged
    /// too.
    fn unit_text(
        &self,
        host: &Host,
        file: &Path,
        kind: EntryKind,
        out: &mut Vec<String>,
    ) -> Option<(PathBuf, String)> {
        let path = if kind == EntryKind::Symlink {
            let target = match host.read_link(file) {
                Ok(Some(t)) => t,
                Ok(None) => return None,
                Err(e) => {
                    out.push(format!("{e:#}"));
                    return None;
                }
            };
            let target = link_target(file, &target);
            // systemd masks with links to /dev/null: nothing runs.
            if target == Path::new("/dev/null") {
                return None;
            }
            if user_writable(host, &target, &self.home) {
                out.push(format!(
                    "{} links to {} (user-writable): root loads a file the user controls",
                    file.display(),
                    target.display()
                ));
                return None;
            }
            target
        } else {
            file.to_path_buf()
        };
        match host.read_text(&path) {
            Ok(Some(text)) => Some((path, text)),
            Ok(None) => None,
            Err(e) => {
                out.push(format!("cannot read {}: {e:#}", path.display()));
                None
            }
        }
    }

    /// Every unit as systemd loads it: the unit file from the first
    /// directory that has it (`/etc` before `/run` before `/usr/lib`), then
    /// its drop-ins by file name (a drop-in in an earlier directory hides
    /// one of the same name in a later one).
    // Long: one pass over systemd's unit search path, each directory's rules (drop-ins,
    // aliases, masks) beside the walk that finds them.
    fn unit_files(&self, host: &Host, out: &mut Vec<String>) -> Vec<Vec<(PathBuf, EntryKind)>> {
        let mut mains: BTreeMap<String, (PathBuf, EntryKind)> = BTreeMap::new();
        let mut dropins: BTreeMap<String, BTreeMap<Name, (PathBuf, EntryKind)>> = BTreeMap::new();
        for dir in UNIT_DIRS {
            let dir = Path::new(dir);
            let entries = match host.list(dir) {
                Ok(Some(entries)) => entries,
                Ok(None) => continue,
                Err(e) => {
                    out.push(format!("cannot list {}: {e:#}", dir.display()));
                    continue;
                }
            };
            for (raw, kind) in entries {
                // systemd loads only units whose names are valid, which
                // are ASCII; a drop-in's file name is taken as it is.
                let Some(name) = raw.to_str().map(str::to_string) else {
                    continue;
                };
                let file_like = matches!(kind, EntryKind::File | EntryKind::Symlink);
                if file_like && (name.ends_with(".service") || name.ends_with(".socket")) {
                    mains.entry(name.clone()).or_insert((dir.join(&name), kind));
                    continue;
                }
                // NAME.service.d, a prefix's `foo-.service.d`, a template's
                // `foo@.service.d`, and `service.d` for every service.
                let Some(unit) = name.strip_suffix(".d") else {
                    continue;
                };
                if !(unit.ends_with(".service")
                    || unit.ends_with(".socket")
                    || unit == "service"
                    || unit == "socket")
                {
                    continue;
                }
                if kind == EntryKind::Symlink {
                    out.push(format!(
                        "{} is a link: drop-in directories are not followed",
                        dir.join(&name).display()
                    ));
                    continue;
                }
                if kind != EntryKind::Dir {
                    continue;
                }
                match host.list(&dir.join(&name)) {
                    Ok(Some(list)) => {
                        for (conf, k) in list {
                            if matches!(k, EntryKind::File | EntryKind::Symlink)
                                && conf.ends_with(".conf")
                            {
                                dropins
                                    .entry(unit.to_string())
                                    .or_default()
                                    .entry(conf.clone())
                                    .or_insert((dir.join(&name).join(&conf), k));
                            }
                        }
                    }
                    Ok(None) => {}
                    Err(e) => out.push(format!("cannot list {}: {e:#}", dir.join(&name).display())),
                }
            }
        }
        // An instance (`getty@tty1.service`) has no file of its own: it is
        // its template's file with the instance's drop-ins (found by the red
        // team: `getty@tty1.service.d/override.conf` was never judged).
        let instances: Vec<(String, (PathBuf, EntryKind))> = dropins
            .keys()
            .filter(|key| !mains.contains_key(*key))
            .filter_map(|key| {
                let (stem, kind) = key.rsplit_once('.')?;
                let (template, instance) = stem.split_once('@')?;
                let main = mains.get(&format!("{template}@.{kind}"))?;
                (!instance.is_empty()).then(|| (key.clone(), main.clone()))
            })
            .collect();
        mains
            .into_iter()
            .chain(instances)
            .map(|(name, main)| {
                // A drop-in of the same name in a more specific directory
                // (`NAME.service.d` over `service.d`) replaces the other;
                // judging both is never wrong, and which one systemd keeps
                // is not for the check to guess (found by the red team).
                let mut files = vec![main];
                for key in dropin_keys(&name) {
                    if let Some(d) = dropins.get(&key) {
                        files.extend(d.values().cloned());
                    }
                }
                files
            })
            .collect()
    }

    fn units(&self, host: &Host, out: &mut Vec<String>) -> usize {
        let mut count = 0;
        for unit in self.unit_files(host, out) {
            let mut loaded = Vec::new();
            for (file, kind) in unit {
                if let Some((path, text)) = self.unit_text(host, &file, kind, out) {
                    count += 1;
                    loaded.push((file, path, text));
                }
            }
            // The unit's effective settings: the last assignment in the
            // unit file and its drop-ins wins, as in systemd.
            let mut user = String::new();
            let mut permissions_start_only = false;
            for (_, _, text) in &loaded {
                for (key, value) in service_settings(text) {
                    match key.as_str() {
                        "User" => user = value,
                        "PermissionsStartOnly" => {
                            permissions_start_only =
                                matches!(value.as_str(), "yes" | "true" | "1" | "on")
                        }
                        _ => {}
                    }
                }
            }
            // In the system manager `%u`/`%U` are the manager's user, root;
            // an instance's `%i` is decided at start: judged as root.
            let as_other = !matches!(user.as_str(), "" | "root" | "0") && !user.contains('%');
            for (file, path, text) in &loaded {
                self.file_itself(host, path, out);
                for line in logical_lines(text) {
                    let Some((key, value)) = line.trim().split_once('=') else {
                        continue;
                    };
                    let key = key.trim();
                    let exec = key.starts_with("Exec") && key != "ExecSearchPath";
                    // PermissionsStartOnly= runs every Exec*= but ExecStart=
                    // with full privileges.
                    let runs_as_root = !as_other
                        || privileged_prefix(value)
                        || (permissions_start_only && key != "ExecStart");
                    if (exec && runs_as_root) || (CODE_KEYS.contains(&key) && !as_other) {
                        self.judge(host, file, value, out);
                    }
                }
            }
        }
        count
    }

    /// Every hook file of every kind ([`HOOKS`]): where to look. Links
    /// count as what they lead to: cron and the shells follow them (found by
    /// the red team: a root-owned link in profile.d to a script that sources
    /// the ML volume was never read).
    fn hook_files(host: &Host) -> Vec<(PathBuf, EntryKind, bool)> {
        let mut files = Vec::new();
        for hooks in HOOKS {
            for f in hooks.files {
                if let Ok(Some(kind)) = host.kind(Path::new(f)) {
                    files.push((PathBuf::from(f), kind, hooks.content));
                }
            }
            for dir in hooks.dirs {
                if let Ok(Some(entries)) = host.list(Path::new(dir)) {
                    files.extend(
                        entries
                            .into_iter()
                            .map(|(n, k)| (Path::new(dir).join(n), k, hooks.content)),
                    );
                }
            }
        }
        files.retain(|(_, k, _)| matches!(k, EntryKind::File | EntryKind::Symlink));
        files
    }

    /// What to judge in each hook file: the file itself, where a link
    /// leads, and (for text) every path it names.
    fn scripts(&self, host: &Host, out: &mut Vec<String>) -> usize {
        let mut count = 0;
        for (link, kind, content) in Self::hook_files(host) {
            if !content {
                count += 1;
                self.program_itself(host, &link, kind, out);
                continue;
            }
            let Some((file, text)) = self.unit_text(host, &link, kind, out) else {
                continue;
            };
            count += 1;
            self.file_itself(host, &file, out);
            // A shell joins `\`-continued lines; apt reads `#include`.
            for line in joined_lines(&text, "")
                .iter()
                .map(|l| l.trim())
                .filter(|l| !l.starts_with('#') || l.starts_with("#include"))
            {
                self.judge(host, &file, line, out);
            }
        }
        count
    }

    /// A program root runs as it is (a binary generator): who can write
    /// it, and where a link leads.
    fn program_itself(&self, host: &Host, file: &Path, kind: EntryKind, out: &mut Vec<String>) {
        if kind == EntryKind::Symlink {
            if let Ok(Some(target)) = host.read_link(file) {
                let target = link_target(file, &target);
                if target != Path::new("/dev/null") && user_writable(host, &target, &self.home) {
                    out.push(format!(
                        "{} links to {} (user-writable): root runs a file the user controls",
                        file.display(),
                        target.display()
                    ));
                }
            }
            return;
        }
        self.file_itself(host, file, out);
        if let Some(interp) = self.weak_interpreter(host, file) {
            out.push(format!(
                "{}: root runs it, and its #! interpreter {} is user-writable",
                file.display(),
                interp.display()
            ));
        }
    }
}

impl Probe for Scan {
    fn describe(&self) -> String {
        "root's boot and schedule".into()
    }

    fn check(&self, host: &Host) -> Result<ProbeResult> {
        let mut findings = Vec::new();
        let units = self.units(host, &mut findings);
        let scripts = self.scripts(host, &mut findings);
        // A drop-in for every service is found once per unit: say it once.
        let mut seen = std::collections::BTreeSet::new();
        findings.retain(|f| seen.insert(f.clone()));
        Ok(ProbeResult {
            passed: findings.is_empty(),
            skipped: false,
            evidence: format!(
                "{} finding(s) in {units} unit file(s) and {scripts} hook file(s) ({})",
                findings.len(),
                HOOKS.iter().map(|h| h.what).collect::<Vec<_>>().join(", ")
            ),
            details: findings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_paths_in_systemd_and_shell_command_lines() {
        assert_eq!(
            paths_in("-/usr/bin/python3 /home/ec2-user/SageMaker/job.py --log=/var/log/x; echo"),
            [
                PathBuf::from("/usr/bin/python3"),
                PathBuf::from("/home/ec2-user/SageMaker/job.py"),
                PathBuf::from("/var/log/x")
            ]
        );
        assert_eq!(
            paths_in("@/bin/sh sh -c 'cd /opt && ./run'"),
            [PathBuf::from("/bin/sh"), PathBuf::from("/opt")]
        );
        assert!(paths_in("echo hello").is_empty());
        assert_eq!(
            paths_in("PYTHONPATH=/home/ec2-user/SageMaker/lib"),
            [PathBuf::from("/home/ec2-user/SageMaker/lib")]
        );
    }

    #[test]
    fn a_pattern_at_the_top_is_told_apart() {
        assert!(top_pattern(Path::new("/hom?/u/x")));
        assert!(top_pattern(Path::new("/*/u/x")));
        assert!(!top_pattern(Path::new("/home/u?/x")));
    }

    #[test]
    fn shell_patterns_match_as_the_shell_does() {
        for (pattern, name, yes) in [
            ("*", "ec2-user", true),
            ("ec2-*", "ec2-user", true),
            ("*.sh", "x.sh", true),
            ("*.sh", "x.py", false),
            ("e?2-user", "ec2-user", true),
            ("[a-z]c2-user", "ec2-user", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
        ] {
            assert_eq!(pattern_matches(pattern, name), yes, "{pattern} {name}");
        }
    }

    #[test]
    fn paths_in_apt_udev_pam_and_shell_substitutions_are_found() {
        for (line, path) in [
            ("DPkg::Post-Invoke {\"/home/u/a.sh\";};", "/home/u/a.sh"),
            ("ACTION==\"add\", RUN+=\"/home/u/u.sh arg\"", "/home/u/u.sh"),
            ("session optional pam_exec.so /home/u/p.sh", "/home/u/p.sh"),
            ("x=$(/home/u/s.sh) `/home/u/t.sh`", "/home/u/s.sh"),
            ("LD_PRELOAD=/home/u/l.so", "/home/u/l.so"),
            ("x `/home/u/t.sh`", "/home/u/t.sh"),
            // The red team's forms: a glued redirection, a `~user` word, a
            // spliced quote.
            ("sh </home/u/x.sh", "/home/u/x.sh"),
            (
                ". ~ec2-user/SageMaker/x.sh",
                "/home/ec2-user/SageMaker/x.sh",
            ),
            (
                "/home/ec2\"-\"user/SageMaker/x.sh",
                "/home/ec2-user/SageMaker/x.sh",
            ),
            ("cat ~/x >/root/y", "/root/x"),
            // Round two: escapes a shell or systemd undoes, cron's `%`, a
            // climbing relative path.
            ("\\/home/u/b.sh", "/home/u/b.sh"),
            ("/ho\\me/u/c.sh", "/home/u/c.sh"),
            ("\\x2fhome/u/d.sh", "/home/u/d.sh"),
            ("$'\\057home/u/e.sh'", "/home/u/e.sh"),
            ("sh%/home/u/f.sh", "/home/u/f.sh"),
            ("cd /root && ../home/u/g.sh", "/home/u/g.sh"),
        ] {
            assert!(
                paths_in(line).contains(&PathBuf::from(path)),
                "{line}: {:?}",
                paths_in(line)
            );
        }
    }

    #[test]
    fn drop_ins_for_every_service_prefixes_and_templates_apply() {
        assert_eq!(
            dropin_keys("a-b-c.service"),
            ["service", "a-.service", "a-b-.service", "a-b-c.service"]
        );
        assert_eq!(
            dropin_keys("getty@tty1.service"),
            ["service", "getty@.service", "getty@tty1.service"]
        );
    }

    #[test]
    fn continuations_and_kernel_paths_are_read_as_systemd_and_the_kernel_do() {
        assert_eq!(
            logical_lines("ExecStart=/bin/sh \\\n  /home/u/x.sh\nUser=a\n"),
            ["ExecStart=/bin/sh    /home/u/x.sh", "User=a"]
        );
        assert!(matches!(
            kernel_path(Path::new("/dev/null")),
            KernelPath::NotCode
        ));
        assert!(matches!(
            kernel_path(Path::new("/dev/shm/x.sh")),
            KernelPath::File
        ));
        assert!(matches!(
            kernel_path(Path::new("/proc/self/root/home/u/x")),
            KernelPath::Anywhere
        ));
        assert!(matches!(
            kernel_path(Path::new("/proc/sys/kernel/x")),
            KernelPath::NotCode
        ));
    }

    #[test]
    fn only_the_service_section_sets_the_user() {
        let text =
            "[Unit]\nUser=nobody\n[Service]\n# User=x\nUser=ec2-user\nPermissionsStartOnly=yes\n";
        assert_eq!(
            service_settings(text),
            [
                ("User".to_string(), "ec2-user".to_string()),
                ("PermissionsStartOnly".to_string(), "yes".to_string())
            ]
        );
    }

    #[test]
    fn plus_and_bang_run_as_root_despite_user() {
        assert!(privileged_prefix("+/usr/bin/x"));
        assert!(privileged_prefix("-!!/usr/bin/x"));
        assert!(!privileged_prefix("-/usr/bin/x"));
        assert!(!privileged_prefix("/usr/bin/x+y"));
    }
}
