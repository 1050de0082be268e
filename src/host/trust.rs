//! The one rule for what root may trust: a path root reads as
//! configuration or runs (the policy file, sudoers and its includes,
//! helpers, allow-listed commands, `python_dir`) must be owned by root (or
//! by nbwarden's own user) and writable by no one else, and so must every
//! directory above it, up to the filesystem root (or `--root`), with links
//! resolved and judged the same way. A sticky directory owned by root
//! (`/tmp`) is safe for a child that is itself trusted, as in systemd's
//! path checks: no one else can rename or replace that child.

use std::path::{Component, Path, PathBuf};

use super::stat::{EntryKind, Stat, writable_by_others};

use anyhow::{Result, bail};

const MAX_LINK_HOPS: usize = 32;

fn sticky_root_dir(st: &Stat) -> bool {
    st.kind == EntryKind::Dir && st.uid == 0 && st.mode & 0o1000 != 0
}

fn lstat(path: &Path) -> std::io::Result<Stat> {
    std::fs::symlink_metadata(path).map(|m| Stat::from_metadata(&m))
}

/// Checks that `path` (absolute, as seen inside `root`) and everything
/// above it can be trusted; `root` itself is taken as trusted when it is
/// not `/` (a tree nbwarden was pointed at). Returns the resolved path.
/// The error names the first untrusted path and why.
pub fn check(root: &Path, path: &Path) -> Result<PathBuf> {
    let euid = nix::unistd::geteuid().as_raw();
    check_with(root, path, false, &|m| writable_by_others(m, euid))
}

/// [`check`] for a path that may not exist yet: trusted when everything
/// that exists on the way is, and no one else can create what is missing
/// (the last directory that exists is trusted and not a shared sticky one).
pub fn check_allow_missing(root: &Path, path: &Path) -> Result<PathBuf> {
    let euid = nix::unistd::geteuid().as_raw();
    check_with(root, path, true, &|m| writable_by_others(m, euid))
}

/// The names a path walks through (`..` kept, `/` and `.` dropped).
fn parts(path: &Path) -> impl Iterator<Item = std::ffi::OsString> + '_ {
    path.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n.to_os_string()),
        Component::ParentDir => Some("..".into()),
        _ => None,
    })
}

/// The walk behind [`check`], with `weak` saying why an entry (or a link
/// in a sticky directory) cannot be trusted.
// Long: the trust walk: every component, link and hop judged by the one rule.
pub fn check_with(
    root: &Path,
    path: &Path,
    allow_missing: bool,
    weak: &dyn Fn(&Stat) -> Option<String>,
) -> Result<PathBuf> {
    let mut queue: std::collections::VecDeque<std::ffi::OsString> = parts(path).collect();
    let inside = if root == Path::new("/") {
        String::new()
    } else {
        format!(" (inside {})", root.display())
    };
    let shown = |p: &Path| p.display().to_string();
    // The directory we are in (inside the root), and whether a child of it
    // may be trusted: it is trusted itself, or a sticky root-owned directory.
    let mut here = PathBuf::from("/");
    if root == Path::new("/") {
        let meta = lstat(Path::new("/"))?;
        if let Some(why) = weak(&meta) {
            bail!("/ {why}");
        }
    }
    let mut parent_sticky = false;
    let mut hops = 0;
    while let Some(comp) = queue.pop_front() {
        if comp == ".." {
            here.pop();
            parent_sticky = false;
            let meta = lstat(&root.join(here.strip_prefix("/")?))?;
            parent_sticky = parent_sticky || sticky_root_dir(&meta);
            continue;
        }
        let next = here.join(&comp);
        let on_disk = root.join(next.strip_prefix("/")?);
        let meta = match lstat(&on_disk) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !allow_missing {
                    bail!("{} does not exist{inside}", shown(&next))
                }
                if parent_sticky {
                    bail!(
                        "{} does not exist and anyone may create it in {}{inside}",
                        shown(&next),
                        shown(&here)
                    );
                }
                let mut rest = next;
                for c in queue {
                    rest.push(c);
                }
                return Ok(rest);
            }
            Err(e) => bail!("cannot inspect {}{inside}: {e}", shown(&next)),
        };
        if meta.kind == EntryKind::Symlink {
            // In a sticky directory anyone may plant a link: only a link
            // that root (or we) made counts. Elsewhere the directory's
            // trust covers the link.
            let owner = meta.uid;
            if parent_sticky && owner != 0 && owner != nix::unistd::geteuid().as_raw() {
                bail!(
                    "{} is a symbolic link owned by uid {} in a shared directory{inside}",
                    shown(&next),
                    owner
                );
            }
            hops += 1;
            if hops > MAX_LINK_HOPS {
                bail!("too many symbolic links resolving {}{inside}", shown(path));
            }
            let target = std::fs::read_link(&on_disk)?;
            if target.is_absolute() {
                here = PathBuf::from("/");
            }
            for (i, c) in parts(&target).enumerate() {
                queue.insert(i, c);
            }
            if target.is_absolute() {
                parent_sticky = false;
            }
            continue;
        }
        let is_last = queue.is_empty();
        match weak(&meta) {
            None => parent_sticky = false,
            // A sticky root-owned directory on the way (/tmp): its trusted
            // children stay trusted.
            Some(_) if !is_last && sticky_root_dir(&meta) => parent_sticky = true,
            Some(why) => bail!("{} {why}{inside}", shown(&next)),
        }
        if !is_last && meta.kind != EntryKind::Dir {
            bail!("{} is not a directory{inside}", shown(&next));
        }
        here = next;
    }
    Ok(here)
}

/// Where `#!/usr/bin/env NAME` may find NAME: sudo's `secure_path` on
/// Debian and Amazon Linux, and the lifecycle's PATH, between them.
const ENV_SEARCH: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// The interpreters a `#!` script may run with: the one it names, or for
/// `env NAME` every NAME on the search path (which one runs depends on the
/// caller's PATH); empty for a program that is not a script. `resolved`
/// must already be trusted (see [`check`]), so reading it is safe.
pub fn interpreters(root: &Path, resolved: &Path) -> Result<Vec<PathBuf>> {
    use std::io::Read;
    let on_disk = root.join(resolved.strip_prefix("/").unwrap_or(resolved));
    let mut head = [0u8; 256];
    let n = std::fs::File::open(&on_disk)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", resolved.display()))?;
    let head = &head[..n];
    let Some(line) = head.strip_prefix(b"#!") else {
        return Ok(Vec::new());
    };
    let line = String::from_utf8_lossy(line.split(|b| *b == b'\n').next().unwrap_or_default())
        .into_owned();
    let mut words = line.split_whitespace();
    let Some(program) = words.next() else {
        bail!("{} has an empty #! line", resolved.display());
    };
    if program.rsplit('/').next() == Some("env") {
        let Some(name) = words
            .next()
            .filter(|w| !w.starts_with('-') && !w.contains('/'))
        else {
            bail!(
                "{}'s #! line runs env with options: the program it starts cannot be judged",
                resolved.display()
            );
        };
        let found: Vec<PathBuf> = ENV_SEARCH
            .iter()
            .map(|d| Path::new(d).join(name))
            .filter(|p| {
                std::fs::symlink_metadata(root.join(p.strip_prefix("/").unwrap_or(p))).is_ok()
            })
            .collect();
        if found.is_empty() {
            bail!(
                "{}'s #! line: `{name}` is not installed",
                resolved.display()
            );
        }
        return Ok(found);
    }
    Ok(vec![PathBuf::from(program)])
}

/// [`check`] for a program root will run: the file, and for a script its
/// interpreter (and that one's, a few levels deep), must all be trusted.
/// A root-owned script whose `#!` names the user's Python is the user's.
pub fn check_program(root: &Path, path: &Path) -> Result<PathBuf> {
    let resolved = check(root, path)?;
    let mut pending = vec![(resolved.clone(), 0)];
    while let Some((current, depth)) = pending.pop() {
        if depth > 4 {
            bail!("{}: too many #! levels", path.display());
        }
        for interp in interpreters(root, &current)? {
            let checked = check(root, &interp).map_err(|e| {
                anyhow::anyhow!(
                    "{} is run by {} (its #! line), which cannot be trusted: {e:#}",
                    path.display(),
                    interp.display()
                )
            })?;
            pending.push((checked, depth + 1));
        }
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn trusted_files_pass_and_the_first_weak_path_is_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let r = dir.path();
        std::fs::create_dir_all(r.join("etc/nbwarden")).expect("mkdir");
        std::fs::write(r.join("etc/nbwarden/policy.toml"), "x").expect("write");
        chmod(&r.join("etc/nbwarden"), 0o755);
        chmod(&r.join("etc/nbwarden/policy.toml"), 0o644);
        check(r, Path::new("/etc/nbwarden/policy.toml")).expect("trusted");

        chmod(&r.join("etc/nbwarden"), 0o777);
        let err = check(r, Path::new("/etc/nbwarden/policy.toml")).expect_err("weak");
        assert!(
            err.to_string()
                .starts_with("/etc/nbwarden is writable by everyone"),
            "{err}"
        );
        chmod(&r.join("etc/nbwarden"), 0o755);

        chmod(&r.join("etc/nbwarden/policy.toml"), 0o666);
        let err = check(r, Path::new("/etc/nbwarden/policy.toml")).expect_err("weak");
        assert!(err.to_string().contains("policy.toml is writable"), "{err}");
        chmod(&r.join("etc/nbwarden/policy.toml"), 0o644);

        // A link is judged where it leads.
        std::fs::create_dir_all(r.join("home/u")).expect("mkdir");
        chmod(&r.join("home/u"), 0o777);
        std::fs::write(r.join("home/u/evil.toml"), "x").expect("write");
        std::os::unix::fs::symlink("/home/u/evil.toml", r.join("etc/nbwarden/link.toml"))
            .expect("link");
        let err = check(r, Path::new("/etc/nbwarden/link.toml")).expect_err("weak");
        assert!(err.to_string().starts_with("/home/u is writable"), "{err}");
        std::os::unix::fs::symlink("policy.toml", r.join("etc/nbwarden/ok.toml")).expect("link");
        assert_eq!(
            check(r, Path::new("/etc/nbwarden/ok.toml")).expect("trusted"),
            Path::new("/etc/nbwarden/policy.toml")
        );
    }

    #[test]
    fn a_scripts_interpreter_is_judged_too() {
        let dir = tempfile::tempdir().expect("tmp");
        let r = dir.path();
        std::fs::create_dir_all(r.join("usr/bin")).expect("mkdir");
        std::fs::create_dir_all(r.join("home/u/env/bin")).expect("mkdir");
        chmod(&r.join("home/u"), 0o777);
        std::fs::write(r.join("home/u/env/bin/python"), "").expect("py");
        std::fs::write(r.join("usr/bin/python3"), "\x7fELF").expect("py");
        std::fs::write(
            r.join("usr/bin/tool"),
            "#!/home/u/env/bin/python\nprint(1)\n",
        )
        .expect("tool");
        let err = check_program(r, Path::new("/usr/bin/tool")).expect_err("user's python");
        assert!(err.to_string().contains("#! line"), "{err}");
        std::fs::write(r.join("usr/bin/tool"), "#!/usr/bin/env python3\n").expect("tool");
        check_program(r, Path::new("/usr/bin/tool")).expect("system python");
        std::fs::write(r.join("usr/bin/tool"), "#! /usr/bin/python3 -I\n").expect("tool");
        check_program(r, Path::new("/usr/bin/tool")).expect("system python");
        std::fs::write(r.join("usr/bin/tool"), "#!/usr/bin/env -S python3\n").expect("tool");
        assert!(check_program(r, Path::new("/usr/bin/tool")).is_err());
        // env may find a wrapper in /usr/local/bin first (sudo's
        // secure_path): it is judged too.
        std::fs::create_dir_all(r.join("usr/local/bin")).expect("mkdir");
        std::fs::write(
            r.join("usr/local/bin/python3"),
            "#!/home/u/env/bin/python\n",
        )
        .expect("wrapper");
        std::fs::write(r.join("usr/bin/tool"), "#!/usr/bin/env python3\n").expect("tool");
        assert!(check_program(r, Path::new("/usr/bin/tool")).is_err());
    }

    #[test]
    fn a_sticky_directory_keeps_trusted_children_trusted() {
        let dir = tempfile::tempdir().expect("tmp");
        let r = dir.path();
        std::fs::create_dir_all(r.join("tmp/mine")).expect("mkdir");
        chmod(&r.join("tmp"), 0o1777);
        chmod(&r.join("tmp/mine"), 0o700);
        std::fs::write(r.join("tmp/mine/p.toml"), "x").expect("write");
        chmod(&r.join("tmp/mine/p.toml"), 0o600);
        if nix::unistd::geteuid().is_root() {
            check(r, Path::new("/tmp/mine/p.toml")).expect("trusted");
        }
        chmod(&r.join("tmp"), 0o777);
        assert!(check(r, Path::new("/tmp/mine/p.toml")).is_err());
    }
}
