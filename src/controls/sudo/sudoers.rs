//! Reading sudoers the way sudo does, far enough to find every rule that
//! applies to one user: the main file and everything it includes
//! (`#include`, `@include`, `#includedir`, `@includedir`), line
//! continuations, comments, `User_Alias` definitions and user lists with
//! users, `#uid`, `%group`, `%#gid`, `%:nonunix`, `+netgroup`, `ALL` and
//! negation.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::host::{Accounts, EntryKind, Host};

/// sudo's own bound on include depth.
const MAX_DEPTH: usize = 128;

/// One logical line (continuations joined), with its physical line span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub first: usize,
    pub last: usize,
    pub text: String,
    pub kind: LineKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind {
    Blank,
    Include {
        path: String,
        dir: bool,
    },
    Defaults,
    UserAlias(Vec<(String, Vec<String>)>),
    OtherAlias,
    /// A user specification; `users` is its user list, item by item.
    Rule {
        users: Vec<String>,
    },
    Unknown,
}

#[derive(Debug, Clone)]
pub struct SudoersFile {
    /// Path inside the root.
    pub path: PathBuf,
    pub text: String,
    /// Loaded through an includedir (a drop-in) rather than by name.
    pub drop_in: bool,
    pub lines: Vec<Line>,
}

/// Everything sudo would read, and what it would skip.
#[derive(Debug, Clone, Default)]
pub struct Sudoers {
    pub files: Vec<SudoersFile>,
    /// Directories included with includedir.
    pub dirs: Vec<PathBuf>,
    /// Entries of included directories that nbwarden does not read, and why.
    pub skipped: Vec<(PathBuf, String)>,
}

/// How a rule reaches the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    User,
    Uid,
    Group(String),
    Alias(String),
    All,
    /// A non-Unix group (`%:name`) or netgroup (`+name`): nbwarden cannot
    /// resolve it, so it counts as applying.
    Unresolvable(String),
}

impl Via {
    pub fn describe(&self) -> String {
        match self {
            Via::User => "names the user".into(),
            Via::Uid => "names the user's uid".into(),
            Via::Group(g) => format!("through group {g}"),
            Via::Alias(a) => format!("through User_Alias {a}"),
            Via::All => "through ALL".into(),
            Via::Unresolvable(s) => format!("through {s}, which nbwarden cannot resolve"),
        }
    }
}

/// A rule that applies to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub file: PathBuf,
    pub first: usize,
    pub last: usize,
    pub rule: String,
    pub via: Via,
    pub drop_in: bool,
}

impl Grant {
    pub fn location(&self) -> String {
        format!("{}:{}", self.file.display(), self.first)
    }
}

/// Splits text into logical lines: a trailing backslash continues a line.
pub fn parse_text(text: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut buf = String::new();
    let mut first = 0;
    for (i, raw) in text.lines().enumerate() {
        if buf.is_empty() {
            first = i + 1;
        }
        match raw.strip_suffix('\\') {
            Some(cont) => {
                buf.push_str(cont);
                buf.push(' ');
            }
            None => {
                buf.push_str(raw);
                let text = std::mem::take(&mut buf);
                let kind = classify(&text);
                lines.push(Line {
                    first,
                    last: i + 1,
                    text,
                    kind,
                });
            }
        }
    }
    if !buf.is_empty() {
        let kind = classify(&buf);
        let last = text.lines().count();
        lines.push(Line {
            first,
            last,
            text: buf,
            kind,
        });
    }
    lines
}

/// Removes a comment: `#` at the start of a word, unless it begins a uid
/// (`#1000`) or follows `%` (`%#1000`, handled by not being word-initial).
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b != b'#' {
            continue;
        }
        let word_start = i == 0 || bytes[i - 1].is_ascii_whitespace() || bytes[i - 1] == b',';
        let uid = bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
        if word_start && !uid {
            return &line[..i];
        }
    }
    line
}

fn classify(line: &str) -> LineKind {
    let trimmed = line.trim_start();
    for (prefix, dir) in [
        ("#includedir", true),
        ("@includedir", true),
        ("#include", false),
        ("@include", false),
    ] {
        if let Some(rest) = trimmed.strip_prefix(prefix)
            && rest.starts_with(char::is_whitespace)
        {
            let path = rest.trim().trim_matches('"').to_string();
            return LineKind::Include { path, dir };
        }
    }
    let body = strip_comment(trimmed).trim();
    if body.is_empty() {
        return LineKind::Blank;
    }
    let word = body.split_whitespace().next().unwrap_or_default();
    if word.starts_with("Defaults") {
        return LineKind::Defaults;
    }
    match word {
        "User_Alias" => return LineKind::UserAlias(parse_aliases(&body[word.len()..])),
        "Runas_Alias" | "Host_Alias" | "Cmnd_Alias" | "Cmd_Alias" => return LineKind::OtherAlias,
        _ => {}
    }
    match body.split_once('=') {
        Some((head, _)) => LineKind::Rule {
            users: user_list(head),
        },
        None => LineKind::Unknown,
    }
}

/// `A = x, y : B = z` into [(A, [x, y]), (B, [z])].
fn parse_aliases(defs: &str) -> Vec<(String, Vec<String>)> {
    defs.split(':')
        .filter_map(|def| {
            let (name, items) = def.split_once('=')?;
            Some((name.trim().to_string(), split_items(items)))
        })
        .collect()
}

/// Escaped characters (`\,`, `\ `, `\-`…) stand for themselves in sudo's
/// lexer: they are hidden in the private-use plane while the list is split,
/// then put back without their backslash.
fn hide_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(next) = chars.next()
        {
            out.push(char::from_u32(0xF0000 + next as u32).unwrap_or(next));
            continue;
        }
        out.push(c);
    }
    out
}

fn reveal_escapes(text: &str) -> String {
    text.chars()
        .map(|c| {
            let n = c as u32;
            if (0xF0000..0xF0000 + 0x10000).contains(&n) {
                char::from_u32(n - 0xF0000).unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

/// One list item as sudo reads it: escapes resolved, and a double-quoted
/// name (`"ec2-user"`, `%"wheel"`) unquoted.
fn unquote(item: &str) -> String {
    let item = item.trim();
    let (prefix, name) = match item.find(|c| c != '!' && c != '%' && c != ':' && c != '#') {
        Some(i) if item[..i].chars().all(|c| "!%:#".contains(c)) => item.split_at(i),
        _ => ("", item),
    };
    format!("{prefix}{}", reveal_escapes(name.trim_matches('"')))
}

fn split_items(list: &str) -> Vec<String> {
    hide_escapes(list)
        .split(',')
        .map(unquote)
        .filter(|s| !s.is_empty())
        .collect()
}

/// The user list is the first word of `users hosts`, where a word may
/// continue after a comma (`alice, bob ALL`).
fn user_list(head: &str) -> Vec<String> {
    // A backslash keeps a space (or any character) inside a name
    // (`%:domain\ admins`).
    let head = hide_escapes(head);
    let mut joined = String::new();
    let mut pending_comma = false;
    for word in head.split_whitespace() {
        if joined.is_empty() || pending_comma || word.starts_with(',') {
            joined.push_str(word);
            pending_comma = word.ends_with(',');
        } else {
            break;
        }
    }
    split_items(&joined)
}

impl Sudoers {
    /// Reads `main` (usually `/etc/sudoers`) and what it includes, inside
    /// the host's root. Links in included directories are never followed.
    pub fn load(host: &Host, main: &Path) -> Result<Sudoers> {
        let mut s = Sudoers::default();
        let mut seen = BTreeSet::new();
        s.load_file(host, main, false, 0, &mut seen)?;
        Ok(s)
    }

    fn load_file(
        &mut self,
        host: &Host,
        path: &Path,
        drop_in: bool,
        depth: usize,
        seen: &mut BTreeSet<PathBuf>,
    ) -> Result<()> {
        if depth > MAX_DEPTH {
            bail!(
                "sudoers includes nest deeper than {MAX_DEPTH} at {}",
                path.display()
            );
        }
        if !seen.insert(path.to_path_buf()) {
            return Ok(());
        }
        // sudo obeys what this file says, and nbwarden may rewrite it as
        // root: a file the user could change, or reach through a place the
        // user could change, is refused rather than made root-owned.
        if host.kind(path).ok().flatten().is_some() {
            host.check_trusted(path).with_context(|| {
                format!(
                    "refusing sudoers file {}: it must be owned by root and writable by no one \
                     else, all the way up",
                    path.display()
                )
            })?;
        }
        let Some(text) = host.read_text(path)? else {
            if depth == 0 {
                bail!("{} does not exist", path.display());
            }
            self.skipped
                .push((path.to_path_buf(), "included but missing".into()));
            return Ok(());
        };
        let lines = parse_text(&text);
        let includes: Vec<(String, bool)> = lines
            .iter()
            .filter_map(|l| match &l.kind {
                LineKind::Include { path, dir } => Some((path.clone(), *dir)),
                _ => None,
            })
            .collect();
        self.files.push(SudoersFile {
            path: path.to_path_buf(),
            text,
            drop_in,
            lines,
        });
        let base = path.parent().unwrap_or(Path::new("/"));
        for (target, dir) in includes {
            // sudo 1.9 resolves a relative include against the including file.
            let target = base.join(target);
            if dir {
                self.load_dir(host, &target, depth + 1, seen)?;
            } else {
                self.load_file(host, &target, false, depth + 1, seen)?;
            }
        }
        Ok(())
    }

    fn load_dir(
        &mut self,
        host: &Host,
        dir: &Path,
        depth: usize,
        seen: &mut BTreeSet<PathBuf>,
    ) -> Result<()> {
        self.dirs.push(dir.to_path_buf());
        if host.kind(dir).ok().flatten().is_some() {
            host.check_trusted(dir).with_context(|| {
                format!(
                    "refusing sudoers directory {}: it must be owned by root and writable by no \
                     one else, all the way up",
                    dir.display()
                )
            })?;
        }
        let Some(entries) = host.list(dir)? else {
            return Ok(());
        };
        for (name, kind) in entries {
            let path = dir.join(&name);
            // sudo skips names ending in `~` or containing `.`.
            if name.ends_with("~") || name.contains(".") {
                continue;
            }
            match kind {
                EntryKind::File => self.load_file(host, &path, true, depth, seen)?,
                EntryKind::Symlink => self.skipped.push((
                    path,
                    "a symbolic link: nbwarden never follows links in sudoers directories".into(),
                )),
                EntryKind::Dir | EntryKind::Other => {
                    self.skipped.push((path, "not a regular file".into()))
                }
            }
        }
        Ok(())
    }

    pub fn includes_dir(&self, dir: &Path) -> bool {
        self.dirs.iter().any(|d| d == dir)
    }

    fn user_aliases(&self) -> BTreeMap<String, Vec<String>> {
        let mut map = BTreeMap::new();
        for f in &self.files {
            for l in &f.lines {
                if let LineKind::UserAlias(defs) = &l.kind {
                    for (name, items) in defs {
                        map.insert(name.clone(), items.clone());
                    }
                }
            }
        }
        map
    }

    /// Every rule that applies to `user`, in the order sudo reads them.
    /// Files in `ignore` (nbwarden's own) are left out.
    pub fn grants(&self, user: &str, accounts: &Accounts, ignore: &[&Path]) -> Vec<Grant> {
        let aliases = self.user_aliases();
        let matcher = Matcher::new(user, accounts, &aliases);
        let mut out = Vec::new();
        for f in self
            .files
            .iter()
            .filter(|f| !ignore.contains(&f.path.as_path()))
        {
            for l in &f.lines {
                let LineKind::Rule { users } = &l.kind else {
                    continue;
                };
                if let Some(via) = matcher.list(users, 0) {
                    out.push(Grant {
                        file: f.path.clone(),
                        first: l.first,
                        last: l.last,
                        rule: strip_comment(l.text.trim()).trim().to_string(),
                        via,
                        drop_in: f.drop_in,
                    });
                }
            }
        }
        out
    }
}

struct Matcher<'a> {
    user: &'a str,
    uid: Option<u32>,
    /// (name, gid) of every group the user is in, primary included.
    groups: Vec<(String, u32)>,
    aliases: &'a BTreeMap<String, Vec<String>>,
}

impl<'a> Matcher<'a> {
    fn new(user: &'a str, accounts: &Accounts, aliases: &'a BTreeMap<String, Vec<String>>) -> Self {
        Matcher {
            user,
            uid: accounts.user(user).map(|u| u.uid),
            groups: accounts
                .groups_of(user)
                .iter()
                .map(|g| (g.name.clone(), g.gid))
                .collect(),
            aliases,
        }
    }

    /// sudo evaluates a list left to right; the last item that matches
    /// decides, and `!` makes a match exclude.
    fn list(&self, items: &[String], depth: usize) -> Option<Via> {
        let mut decision = None;
        for item in items {
            let (negated, item) = match item.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, item.as_str()),
            };
            if let Some(via) = self.item(item, depth) {
                decision = if negated { None } else { Some(via) };
            }
        }
        decision
    }

    fn item(&self, item: &str, depth: usize) -> Option<Via> {
        if item == "ALL" {
            return Some(Via::All);
        }
        if let Some(rest) = item.strip_prefix("%:") {
            return Some(Via::Unresolvable(format!("non-Unix group %:{rest}")));
        }
        if let Some(gid) = item.strip_prefix("%#") {
            let gid: u32 = gid.parse().ok()?;
            return self
                .groups
                .iter()
                .find(|(_, g)| *g == gid)
                .map(|(name, _)| Via::Group(name.clone()));
        }
        if let Some(group) = item.strip_prefix('%') {
            return self
                .groups
                .iter()
                .any(|(name, _)| name == group)
                .then(|| Via::Group(group.to_string()));
        }
        if let Some(net) = item.strip_prefix('+') {
            return Some(Via::Unresolvable(format!("netgroup +{net}")));
        }
        if let Some(uid) = item.strip_prefix('#') {
            return (uid.parse::<u32>().ok()? == self.uid?).then_some(Via::Uid);
        }
        if item == self.user {
            return Some(Via::User);
        }
        if depth < 16
            && let Some(members) = self.aliases.get(item)
        {
            return self
                .list(members, depth + 1)
                .map(|_| Via::Alias(item.to_string()));
        }
        None
    }
}

/// What was not read, for the report.
pub fn describe_skipped(s: &Sudoers) -> Vec<String> {
    s.skipped
        .iter()
        .map(|(p, why)| format!("{} not read: {why}", p.display()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts() -> Accounts {
        Accounts::parse(
            "root:x:0:0::/root:/bin/bash\nec2-user:x:1000:1000::/home/ec2-user:/bin/bash\n\
             bob:x:1001:1001::/home/bob:/bin/bash\n",
            "root:x:0:\nwheel:x:10:ec2-user,bob\nadmins:x:20:bob\nec2-user:x:1000:\n",
        )
    }

    fn grants_of(text: &str) -> Vec<(usize, Via)> {
        let s = Sudoers {
            files: vec![SudoersFile {
                path: PathBuf::from("/etc/sudoers"),
                text: text.into(),
                drop_in: false,
                lines: parse_text(text),
            }],
            ..Sudoers::default()
        };
        s.grants("ec2-user", &accounts(), &[])
            .into_iter()
            .map(|g| (g.first, g.via))
            .collect()
    }

    #[test]
    fn finds_direct_group_alias_and_all_grants() {
        let text = "\
Defaults env_reset
root ALL=(ALL) ALL
ec2-user ALL=(ALL) NOPASSWD:ALL
%wheel\tALL=(ALL)\tALL
%admins ALL=(ALL) ALL
%#10 ALL=(ALL) ALL
#1000 ALL=(ALL) ALL
User_Alias ADMINS = bob, ec2-user : OTHERS = bob
ADMINS ALL=(ALL) ALL
OTHERS ALL=(ALL) ALL
ALL ALL=(ALL) ALL
# ec2-user ALL=(ALL) ALL
bob, ec2-user ALL=(ALL) ALL
%:domain\\ admins ALL=(ALL) ALL
+ops ALL=(ALL) ALL
";
        assert_eq!(
            grants_of(text),
            vec![
                (3, Via::User),
                (4, Via::Group("wheel".into())),
                (6, Via::Group("wheel".into())),
                (7, Via::Uid),
                (9, Via::Alias("ADMINS".into())),
                (11, Via::All),
                (13, Via::User),
                (
                    14,
                    Via::Unresolvable("non-Unix group %:domain admins".into())
                ),
                (15, Via::Unresolvable("netgroup +ops".into())),
            ]
        );
    }

    #[test]
    fn names_are_unescaped_and_unquoted_as_sudo_reads_them() {
        let text = "ec2\\-user ALL=(ALL) ALL\n\"ec2-user\" ALL=(ALL) ALL\n%\"wheel\" ALL=(ALL) ALL\n\
                    ec\\2-user ALL=(ALL) ALL\nbob\\,x ALL=(ALL) ALL\n";
        assert_eq!(
            grants_of(text),
            vec![
                (1, Via::User),
                (2, Via::User),
                (3, Via::Group("wheel".into())),
                (4, Via::User),
            ]
        );
    }

    #[test]
    fn negation_and_continuations_follow_sudo() {
        let text = "ALL, !ec2-user ALL=(ALL) ALL\n%wheel, \\\n  !ec2-user ALL = ALL\nec2-user \\\n  ALL=(ALL) ALL\n";
        assert_eq!(grants_of(text), vec![(4, Via::User)]);
        let lines = parse_text(text);
        assert_eq!((lines[1].first, lines[1].last), (2, 3));
        assert_eq!((lines[2].first, lines[2].last), (4, 5));
    }

    #[test]
    fn include_directives_are_not_comments() {
        let lines =
            parse_text("#includedir /etc/sudoers.d\n@include other\n#include\tx y\n# include z\n");
        assert_eq!(
            lines[0].kind,
            LineKind::Include {
                path: "/etc/sudoers.d".into(),
                dir: true
            }
        );
        assert_eq!(
            lines[1].kind,
            LineKind::Include {
                path: "other".into(),
                dir: false
            }
        );
        assert!(matches!(
            lines[2].kind,
            LineKind::Include { dir: false, .. }
        ));
        assert_eq!(lines[3].kind, LineKind::Blank);
    }

    #[test]
    fn a_stripped_file_has_no_grants() {
        let text = "root ALL=(ALL) ALL\n# nbwarden: disabled sudo grant for ec2-user: %wheel ALL=(ALL) ALL\n";
        assert!(grants_of(text).is_empty());
    }
}
