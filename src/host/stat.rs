//! What `lstat` tells of an entry, and the one rule for whether someone
//! other than root (or nbwarden's own user) could change it. The safe file
//! path and the trust check both judge entries by it.

use nix::sys::stat::{FileStat, SFlag};

/// The type of a directory entry, as `lstat` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Other,
}

impl EntryKind {
    pub(crate) fn of(st: &FileStat) -> EntryKind {
        match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
            SFlag::S_IFREG => EntryKind::File,
            SFlag::S_IFDIR => EntryKind::Dir,
            SFlag::S_IFLNK => EntryKind::Symlink,
            _ => EntryKind::Other,
        }
    }
}

/// An entry's type, permission bits and owner, as `lstat` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub kind: EntryKind,
    /// Permission bits (`0o7777` mask: setuid, setgid and sticky included).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// A character device's (major, minor) numbers: `(1, 3)` is the
    /// kernel's null device.
    pub char_device: Option<(u64, u64)>,
    /// Hard links: a directory's is 2 plus its subdirectories on the
    /// filesystems that count them (ext4, xfs), 1 where they are not
    /// counted (btrfs).
    pub links: u64,
    /// Size in bytes (a sparse file's apparent size).
    pub size: u64,
}

fn char_device(mode: u32, rdev: u64) -> Option<(u64, u64)> {
    (SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits()) == SFlag::S_IFCHR).then(|| {
        (
            nix::sys::stat::major(rdev as nix::sys::stat::dev_t),
            nix::sys::stat::minor(rdev as nix::sys::stat::dev_t),
        )
    })
}

impl Stat {
    pub(crate) fn of(st: &FileStat) -> Stat {
        Stat {
            kind: EntryKind::of(st),
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            char_device: char_device(st.st_mode, st.st_rdev),
            links: st.st_nlink,
            size: st.st_size as u64,
        }
    }

    pub(crate) fn from_metadata(m: &std::fs::Metadata) -> Stat {
        use std::os::unix::fs::MetadataExt;
        let t = m.file_type();
        let kind = if t.is_symlink() {
            EntryKind::Symlink
        } else if t.is_dir() {
            EntryKind::Dir
        } else if t.is_file() {
            EntryKind::File
        } else {
            EntryKind::Other
        };
        Stat {
            kind,
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
            char_device: char_device(m.mode(), m.rdev()),
            links: m.nlink(),
            size: m.size(),
        }
    }
}

/// Why an entry cannot be trusted, or `None` when it can: owned by root
/// or `euid`, not writable by others or by a group other than root's.
pub fn writable_by_others(st: &Stat, euid: u32) -> Option<String> {
    if st.uid != 0 && st.uid != euid {
        return Some(format!("is owned by uid {}", st.uid));
    }
    if st.mode & 0o002 != 0 {
        return Some("is writable by everyone".into());
    }
    if st.mode & 0o020 != 0 && st.gid != 0 {
        return Some(format!("is writable by group {}", st.gid));
    }
    None
}
