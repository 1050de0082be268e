//! Validating sudoers with visudo. Inside the root when it has its own
//! visudo (and we may chroot), else with this machine's visudo on a private
//! copy whose include directives are re-rooted, so that a candidate for
//! `ROOT/etc/sudoers` is checked with `ROOT/etc/sudoers.d`, not with the
//! host's. Without any visudo nothing is validated, so nothing is changed.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use super::sudoers::{LineKind, parse_text};
use crate::host::{Host, command};

const PATHS: &[&str] = &["/usr/sbin/visudo", "/usr/bin/visudo", "/sbin/visudo"];
const TIMEOUT: Duration = Duration::from_secs(20);

enum Visudo {
    /// The root's own visudo, run with `chroot` (or directly on `/`).
    InRoot(String),
    /// This machine's visudo on a re-rooted copy.
    Here(String),
}

fn find(host: &Host) -> Option<Visudo> {
    if (host.is_live() || host.euid() == 0)
        && let Some(p) = host.find_program(PATHS)
    {
        return Some(Visudo::InRoot(p));
    }
    if host.is_live() {
        return None;
    }
    PATHS
        .iter()
        .find(|p| Path::new(p).is_file())
        .map(|p| Visudo::Here(p.to_string()))
}

pub fn available(host: &Host) -> bool {
    find(host).is_some()
}

/// `text` with every include made absolute under `root`; relative includes
/// resolve against `dir`, the directory of the file inside the root.
fn rerooted(text: &str, root: &Path, dir: &Path) -> String {
    let mut out = String::with_capacity(text.len());
    for line in parse_text(text) {
        match line.kind {
            LineKind::Include { path, dir: is_dir } => {
                let inside = dir.join(&path);
                let real = root.join(inside.strip_prefix("/").unwrap_or(&inside));
                let directive = if is_dir { "@includedir" } else { "@include" };
                out.push_str(&format!("{directive} \"{}\"\n", real.display()));
                // Keep line numbers equal to the original's.
                for _ in line.first..line.last {
                    out.push('\n');
                }
            }
            _ => {
                let physical: Vec<&str> = text
                    .lines()
                    .skip(line.first - 1)
                    .take(line.last - line.first + 1)
                    .collect();
                for l in physical {
                    out.push_str(l);
                    out.push('\n');
                }
            }
        }
    }
    out
}

fn run_here(visudo: &str, host: &Host, path: &Path) -> Result<command::CommandOutput> {
    let text = host
        .read_text(path)?
        .with_context(|| format!("{} vanished before it was checked", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    let copy = host.scratch_file("sudoers", &rerooted(&text, host.root(), dir), 0o440)?;
    command::run(visudo, &["-c", "-f", &copy.path.to_string_lossy()], TIMEOUT)
}

/// Checks the sudoers file at `path` (inside the root) and what it includes.
pub fn check(host: &Host, path: &Path) -> Result<()> {
    let out = match find(host) {
        None => bail!(
            "visudo is not installed (neither in {} nor here): nbwarden refuses to change \
             sudoers it cannot validate; install sudo",
            host.root().display()
        ),
        // The installed sudoers gets visudo's full check, owners and modes
        // of it and every include as sudo demands them; `-f` (a candidate
        // not yet in place) checks the syntax only.
        Some(Visudo::InRoot(v)) if path == Path::new(super::MAIN) => {
            host.run_in_root(&v, &["-c"], TIMEOUT)?
        }
        Some(Visudo::InRoot(v)) => {
            host.run_in_root(&v, &["-c", "-f", &path.to_string_lossy()], TIMEOUT)?
        }
        Some(Visudo::Here(v)) => run_here(&v, host, path)?,
    };
    if !out.success() {
        bail!(
            "visudo rejects {}: {} {}",
            path.display(),
            out.stdout.trim(),
            out.stderr.trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn includes_are_rerooted_and_line_numbers_kept() {
        let text =
            "root ALL=(ALL) ALL\n#includedir /etc/sudoers.d\n@include extra\nx \\\n ALL=ALL\n";
        let out = rerooted(text, Path::new("/tmp/r"), Path::new("/etc"));
        assert_eq!(
            out,
            "root ALL=(ALL) ALL\n@includedir \"/tmp/r/etc/sudoers.d\"\n@include \"/tmp/r/etc/extra\"\nx \\\n ALL=ALL\n"
        );
    }
}
