//! Files of the machine nbwarden runs on that are not the managed root's
//! and that root does not obey: an administrator's policy drafts and
//! checksum lists, and the directory `lifecycle render` writes to.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The bytes of `path`.
pub fn read(path: &Path) -> io::Result<Vec<u8>> {
    std::fs::read(path)
}

/// The text of `path`.
pub fn read_text(path: &Path) -> io::Result<String> {
    std::fs::read_to_string(path)
}

/// Whether this process runs as root (its effective user).
pub fn running_as_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Whether `path` (relative to the working directory) exists.
pub fn exists(path: &Path) -> bool {
    path.exists()
}

/// Writes `text` to `dir/name`, executable, whole or not at all (a
/// temporary file renamed over it); creates `dir` when missing.
pub fn write_executable(dir: &Path, name: &str, text: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(name);
    let temporary = dir.join(format!(".{name}.nbwarden-tmp"));
    std::fs::write(&temporary, text)
        .and_then(|_| std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o755)))
        .and_then(|_| std::fs::rename(&temporary, &path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&temporary);
        })
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Whether `e`, or an error it wraps, is the system's "permission denied".
pub fn is_permission_denied(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<nix::errno::Errno>() == Some(&nix::errno::Errno::EACCES)
            || c.downcast_ref::<io::Error>()
                .is_some_and(|io| io.kind() == io::ErrorKind::PermissionDenied)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_executable_is_written_whole_and_replaces_the_old_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("new");
        let path = write_executable(&out, "on-start.sh", "old").expect("write");
        write_executable(&out, "on-start.sh", "#!/bin/sh\n").expect("rewrite");
        assert_eq!(read_text(&path).expect("read"), "#!/bin/sh\n");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        let names: Vec<_> = std::fs::read_dir(&out).expect("dir").collect();
        assert_eq!(names.len(), 1, "no temporary file is left");
    }
}
