//! Directory watches (`inotify(7)`): a long-running process learns that
//! a place changed between its rounds, even when it changed back.

use std::os::fd::AsFd as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};

/// The most directories one watch holds: root's watches are shared by
/// root's processes (`fs.inotify.max_user_watches`).
pub const MAX_WATCHES: usize = 4096;

/// Watches on directories of a root, for entries created, removed, moved
/// or written in them.
pub struct DirWatch {
    inotify: Inotify,
    root: PathBuf,
    /// Each watched directory by the path it was added at. A directory
    /// moved or removed is dropped (its watch ends, or would follow it to
    /// a path nobody searches): a new one at the path is watched anew.
    watched: std::collections::HashMap<PathBuf, WatchDescriptor>,
    paths: std::collections::HashMap<WatchDescriptor, PathBuf>,
}

/// What adding a watch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    New,
    Already,
    /// Not a directory (absent, a file or a link: links are not followed).
    NotADirectory,
    /// [`MAX_WATCHES`] reached, or the kernel's limit.
    Full,
}

impl DirWatch {
    pub(super) fn new(root: &Path) -> Result<DirWatch> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .context("cannot start an inotify watch")?;
        Ok(DirWatch {
            inotify,
            root: root.to_path_buf(),
            watched: std::collections::HashMap::new(),
            paths: std::collections::HashMap::new(),
        })
    }

    /// How many directories are watched.
    pub fn len(&self) -> usize {
        self.watched.len()
    }

    pub fn is_empty(&self) -> bool {
        self.watched.is_empty()
    }

    /// Watches `dir` (a path in the root) for changes to its entries.
    pub fn add(&mut self, dir: &Path) -> Result<Added> {
        if self.watched.contains_key(dir) {
            return Ok(Added::Already);
        }
        if self.watched.len() >= MAX_WATCHES {
            return Ok(Added::Full);
        }
        let full = self.root.join(dir.strip_prefix("/").unwrap_or(dir));
        let mask = AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_CLOSE_WRITE
            | AddWatchFlags::IN_MODIFY
            | AddWatchFlags::IN_ATTRIB
            | AddWatchFlags::IN_MOVE_SELF
            | AddWatchFlags::IN_DELETE_SELF
            | AddWatchFlags::IN_DONT_FOLLOW
            | AddWatchFlags::IN_ONLYDIR;
        match self.inotify.add_watch(&full, mask) {
            Ok(wd) => {
                // The same directory under another name: one watch, two
                // names; the latest wins.
                if let Some(old) = self.paths.insert(wd, dir.to_path_buf()) {
                    self.watched.remove(&old);
                }
                self.watched.insert(dir.to_path_buf(), wd);
                Ok(Added::New)
            }
            Err(Errno::ENOENT | Errno::ENOTDIR | Errno::EACCES | Errno::ELOOP) => {
                Ok(Added::NotADirectory)
            }
            Err(Errno::ENOSPC) => Ok(Added::Full),
            Err(e) => Err(e).with_context(|| format!("cannot watch {}", dir.display())),
        }
    }

    /// Drops a directory that was moved (its watch follows it elsewhere:
    /// ended here) or removed (the kernel ended its watch).
    fn forget_if_gone(&mut self, wd: WatchDescriptor, mask: AddWatchFlags) {
        let moved = mask.contains(AddWatchFlags::IN_MOVE_SELF);
        if !(moved || mask.contains(AddWatchFlags::IN_IGNORED)) {
            return;
        }
        if moved {
            // Ends with an IN_IGNORED event of its own, read later.
            let _ = self.inotify.rm_watch(wd);
        }
        if let Some(path) = self.paths.remove(&wd) {
            self.watched.remove(&path);
        }
    }

    /// Waits until `until` or the first change; true when something in a
    /// watched directory changed (or so many did that the kernel dropped
    /// events). Drains what is queued.
    pub fn changed_before(&mut self, until: Instant) -> Result<bool> {
        let left = until.saturating_duration_since(Instant::now());
        // poll(2) takes milliseconds; a longer wait is cut into pieces by
        // the caller's loop.
        let ms = left.min(Duration::from_secs(30)).as_millis() as u16;
        let mut fds = [PollFd::new(self.inotify.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) | Err(Errno::EINTR) => return Ok(false),
            Ok(_) => {}
            Err(e) => return Err(e).context("cannot wait on the inotify watch"),
        }
        let mut any = false;
        loop {
            match self.inotify.read_events() {
                Ok(events) if events.is_empty() => break,
                Ok(events) => {
                    for e in &events {
                        any = true;
                        self.forget_if_gone(e.wd, e.mask);
                    }
                }
                Err(Errno::EAGAIN) => break,
                Err(e) => return Err(e).context("cannot read the inotify watch"),
            }
        }
        Ok(any)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_moved_aside_and_back_is_a_change() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir(dir.path().join("conf")).expect("mkdir");
        std::os::unix::fs::symlink("/etc", dir.path().join("link")).expect("link");
        let mut w = DirWatch::new(dir.path()).expect("inotify");
        assert_eq!(w.add(Path::new("/conf")).expect("add"), Added::New);
        assert_eq!(w.add(Path::new("/conf")).expect("add"), Added::Already);
        assert_eq!(
            w.add(Path::new("/link")).expect("add"),
            Added::NotADirectory
        );
        assert_eq!(
            w.add(Path::new("/none")).expect("add"),
            Added::NotADirectory
        );
        assert_eq!(w.len(), 1);
        let soon = || Instant::now() + Duration::from_millis(200);
        assert!(!w.changed_before(soon()).expect("wait"));
        let f = dir.path().join("conf/pip.conf");
        std::fs::write(&f, "x").expect("write");
        let aside = dir.path().join("aside");
        std::fs::rename(&f, &aside).expect("aside");
        std::fs::rename(&aside, &f).expect("back");
        assert!(w.changed_before(soon()).expect("wait"));
        // Drained: nothing more.
        assert!(!w.changed_before(soon()).expect("wait"));

        // The directory moved away and made anew: the new one is watched
        // once added again (red team: the old path stayed "watched").
        std::fs::rename(dir.path().join("conf"), dir.path().join("conf.old")).expect("mv");
        std::fs::create_dir(dir.path().join("conf")).expect("mkdir");
        assert!(w.changed_before(soon()).expect("wait"));
        assert_eq!(w.len(), 0);
        assert_eq!(w.add(Path::new("/conf")).expect("add"), Added::New);
        std::fs::write(dir.path().join("conf/pip.conf"), "x").expect("write");
        assert!(w.changed_before(soon()).expect("wait"));
        // Removed: its watch ends, and it is forgotten.
        std::fs::remove_file(dir.path().join("conf/pip.conf")).expect("rm");
        std::fs::remove_dir(dir.path().join("conf")).expect("rmdir");
        assert!(w.changed_before(soon()).expect("wait"));
        assert_eq!(w.len(), 0);
    }
}
