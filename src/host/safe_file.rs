//! The one file-access path of nbwarden. Every read and write of the managed
//! tree goes through here, relative to an open directory descriptor for the
//! root, so that:
//! - writes are atomic and durable (temp file with the final mode and owner,
//!   write, fsync, optional candidate check, rename, fsync the directory);
//! - a symbolic link is followed only where every directory above it is
//!   trusted (owned by root or by us, not group/world writable); below a
//!   directory the notebook user can write, any link is refused;
//! - the final component is never followed, and reads refuse anything that
//!   is not a regular file (FIFOs, devices) or larger than a limit.

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, anyhow, bail};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, readlinkat, renameat};
use nix::sys::stat::{FileStat, Mode, SFlag, fchmod, fstat, fstatat, mkdirat};
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fsync, unlinkat};

use super::stat::{EntryKind, Stat, writable_by_others};

/// Larger files are refused: nothing nbwarden manages or reads is this big,
/// and a user-planted huge file must not exhaust memory.
pub const MAX_READ_BYTES: u64 = 16 * 1024 * 1024;
const MAX_LINK_HOPS: usize = 32;

/// A regular file's content and metadata, as read without following links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSnapshot {
    pub content: Vec<u8>,
    /// Permission bits (`0o7777` mask).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// A directory entry's name, byte for byte: a name that is not UTF-8 is
/// still the file the kernel (and sudo, systemd, Python) will use, so it is
/// never altered or dropped. Shown escaped where it is not UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(OsString);

impl Name {
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
    /// The name as text when it is UTF-8.
    pub fn to_str(&self) -> Option<&str> {
        self.0.to_str()
    }
    pub fn starts_with(&self, prefix: &str) -> bool {
        self.as_bytes().starts_with(prefix.as_bytes())
    }
    pub fn ends_with(&self, suffix: &str) -> bool {
        self.as_bytes().ends_with(suffix.as_bytes())
    }
    pub fn contains(&self, part: &str) -> bool {
        let (hay, needle) = (self.as_bytes(), part.as_bytes());
        needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.to_str() {
            Some(s) => f.write_str(s),
            None => write!(f, "{}", self.as_bytes().escape_ascii()),
        }
    }
}

impl AsRef<Path> for Name {
    fn as_ref(&self) -> &Path {
        Path::new(&self.0)
    }
}

impl AsRef<OsStr> for Name {
    fn as_ref(&self) -> &OsStr {
        &self.0
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<String> for Name {
    fn eq(&self, other: &String) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

/// A directory's entries read up to a bound, kinds from the directory
/// itself (`d_type`; a stat only where the filesystem gives none).
#[derive(Debug, Default)]
pub struct BoundedListing {
    pub entries: Vec<(Name, EntryKind)>,
    /// Every entry was read (false: the bound stopped the read).
    pub complete: bool,
}

/// How full a file system is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FsUsage {
    /// Tells file systems apart (`f_fsid`).
    pub id: u64,
    pub used_percent: f64,
}

/// What a written file must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ownership {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl Ownership {
    /// Owned by root:root with `mode`.
    pub const fn root(mode: u32) -> Ownership {
        Ownership {
            mode,
            uid: 0,
            gid: 0,
        }
    }
}

/// Checks a fully written candidate before it replaces the real file (for
/// example `visudo -c -f`). It gets the candidate's path inside the root.
pub type CandidateCheck<'a> = &'a dyn Fn(&Path) -> Result<()>;

/// The directory a path's final component lives in, opened safely.
pub(crate) struct ParentDir {
    fd: OwnedFd,
    name: OsString,
    /// The directory's path inside the root, as resolved.
    path: PathBuf,
    /// False when this directory or one above it (below the root) can be
    /// written by someone other than root or us.
    trusted: bool,
}

pub(crate) struct Tree {
    root: OwnedFd,
    euid: u32,
}

fn dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

impl Tree {
    pub(crate) fn open(root: &Path) -> Result<Tree> {
        let fd = nix::fcntl::open(
            root,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| format!("cannot open root directory {}", root.display()))?;
        Ok(Tree {
            root: fd,
            euid: Uid::effective().as_raw(),
        })
    }

    fn is_trusted(&self, st: &FileStat) -> bool {
        writable_by_others(&Stat::of(st), self.euid).is_none()
    }

    /// Opens the directory holding `path` (absolute, inside the root).
    /// `create` makes missing directories (0755, owned by us). Returns
    /// `None` when a directory is missing and `create` is false.
    // Long: the descent to a parent directory, one component at a time, with the trust rule at
    // each step.
    pub(crate) fn parent(&self, path: &Path, create: bool) -> Result<Option<ParentDir>> {
        let mut parts = components(path)?;
        let name = parts
            .pop()
            .ok_or_else(|| anyhow!("{} names no file", path.display()))?;
        let mut queue: std::collections::VecDeque<OsString> = parts.into();
        // Each entry: an open directory and whether it and all above are trusted.
        let mut stack: Vec<(OwnedFd, bool, PathBuf)> =
            vec![(self.root.try_clone()?, true, PathBuf::from("/"))];
        let mut hops = 0;
        while let Some(comp) = queue.pop_front() {
            let (cur, cur_trusted, cur_path) = stack.last().ok_or_else(|| anyhow!("empty"))?;
            let (cur_trusted, cur_path) = (*cur_trusted, cur_path.clone());
            if comp == ".." {
                if stack.len() > 1 {
                    stack.pop();
                }
                continue;
            }
            if comp == "." {
                continue;
            }
            let here = cur_path.join(&comp);
            let st = match fstatat(cur, comp.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(Errno::ENOENT) if create => {
                    if !cur_trusted {
                        bail!(
                            "refusing to create directory {} inside user-writable {}",
                            here.display(),
                            cur_path.display()
                        );
                    }
                    mkdirat(cur, comp.as_os_str(), Mode::from_bits_truncate(0o755))
                        .with_context(|| format!("cannot create directory {}", here.display()))?;
                    fstatat(cur, comp.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
                        .with_context(|| format!("cannot stat {}", here.display()))?
                }
                Err(Errno::ENOENT) => return Ok(None),
                Err(e) => return Err(e).with_context(|| format!("cannot stat {}", here.display())),
            };
            match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
                SFlag::S_IFLNK => {
                    if !cur_trusted {
                        bail!(
                            "refusing to follow symbolic link {} inside user-writable directory {}",
                            here.display(),
                            cur_path.display()
                        );
                    }
                    hops += 1;
                    if hops > MAX_LINK_HOPS {
                        bail!("too many symbolic links resolving {}", path.display());
                    }
                    let target = readlinkat(cur, comp.as_os_str())
                        .with_context(|| format!("cannot read link {}", here.display()))?;
                    let target = PathBuf::from(target);
                    if target.is_absolute() {
                        stack.truncate(1);
                    }
                    for (i, c) in link_components(&target).into_iter().enumerate() {
                        queue.insert(i, c);
                    }
                }
                SFlag::S_IFDIR => {
                    let fd = openat(cur, comp.as_os_str(), dir_flags(), Mode::empty())
                        .with_context(|| format!("cannot open directory {}", here.display()))?;
                    // Judge the directory we actually opened, not the name.
                    let st =
                        fstat(&fd).with_context(|| format!("cannot stat {}", here.display()))?;
                    let trusted = cur_trusted && self.is_trusted(&st);
                    stack.push((fd, trusted, here));
                }
                _ => bail!("{} is not a directory", here.display()),
            }
        }
        let (fd, trusted, dir_path) = stack.pop().ok_or_else(|| anyhow!("empty"))?;
        let name_path = dir_path.join(&name);
        if name == ".." || name == "." {
            bail!("{} does not name a file", name_path.display());
        }
        Ok(Some(ParentDir {
            fd,
            name,
            trusted,
            path: dir_path,
        }))
    }

    /// Reads a regular file without following a final symbolic link.
    pub(crate) fn read(&self, path: &Path) -> Result<Option<FileSnapshot>> {
        let Some(parent) = self.parent(path, false)? else {
            return Ok(None);
        };
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let fd = match openat(&parent.fd, parent.name.as_os_str(), flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(None),
            Err(Errno::ELOOP) => bail!(
                "{} is a symbolic link; nbwarden never follows links to the files it reads or manages",
                path.display()
            ),
            Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
        };
        let st = fstat(&fd).with_context(|| format!("cannot stat {}", path.display()))?;
        if SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) != SFlag::S_IFREG {
            bail!("{} is not a regular file", path.display());
        }
        if !parent.trusted && st.st_nlink > 1 {
            bail!(
                "{} has {} hard links inside a user-writable directory; refusing to read it",
                path.display(),
                st.st_nlink
            );
        }
        if st.st_size as u64 > MAX_READ_BYTES {
            bail!(
                "{} is {} bytes, larger than the {} bytes nbwarden reads",
                path.display(),
                st.st_size,
                MAX_READ_BYTES
            );
        }
        let mut content = Vec::with_capacity(st.st_size as usize);
        std::fs::File::from(fd)
            .take(MAX_READ_BYTES + 1)
            .read_to_end(&mut content)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Some(FileSnapshot {
            content,
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
        }))
    }

    /// Replaces `path` atomically and durably with `content`.
    pub(crate) fn write(
        &self,
        path: &Path,
        content: &[u8],
        own: Ownership,
        check: Option<CandidateCheck<'_>>,
    ) -> Result<()> {
        self.write_with(path, own, &mut |file| Ok(file.write_all(content)?), check)
    }

    /// Replaces `path` atomically and durably with what `fill` writes into
    /// the candidate (a download streamed to disk).
    pub(crate) fn write_with(
        &self,
        path: &Path,
        own: Ownership,
        fill: &mut dyn FnMut(&mut dyn std::io::Write) -> Result<()>,
        check: Option<CandidateCheck<'_>>,
    ) -> Result<()> {
        let parent = self
            .parent(path, true)?
            .ok_or_else(|| anyhow!("cannot create the directories of {}", path.display()))?;
        if own.uid != self.euid && self.euid != 0 {
            bail!(
                "{} must be owned by uid {}, which needs root (running as uid {})",
                path.display(),
                own.uid,
                self.euid
            );
        }
        remove_stale_temps(&parent)?;
        let temp = temp_name(&parent.name);
        let mode = Mode::from_bits_truncate(own.mode);
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(&parent.fd, temp.as_os_str(), flags, mode)
            .with_context(|| format!("cannot create a temporary file beside {}", path.display()))?;
        // Failpoints (feature `failpoints`) stand for a crash or an I/O
        // error at each step; tests/crash.rs drives them.
        fail::fail_point!("write::created", |_| Err(anyhow!(
            "failpoint write::created"
        )));
        let result = (|| -> Result<()> {
            // The umask may have cleared bits; ownership before content so
            // the file is never readable by the wrong owner.
            if self.euid == 0 {
                fchown(
                    &fd,
                    Some(Uid::from_raw(own.uid)),
                    Some(Gid::from_raw(own.gid)),
                )?;
            }
            fchmod(&fd, mode)?;
            let mut file = std::fs::File::from(fd);
            fill(&mut file)?;
            fail::fail_point!("write::filled", |_| Err(anyhow!("failpoint write::filled")));
            fsync(file.as_fd())?;
            drop(file);
            if let Some(check) = check {
                check(&parent.path.join(&temp))?;
            }
            fail::fail_point!("write::checked", |_| Err(anyhow!(
                "failpoint write::checked"
            )));
            renameat(
                &parent.fd,
                temp.as_os_str(),
                &parent.fd,
                parent.name.as_os_str(),
            )?;
            Ok(())
        })();
        if let Err(e) = result {
            let _ = unlinkat(&parent.fd, temp.as_os_str(), UnlinkatFlags::NoRemoveDir);
            return Err(e).with_context(|| format!("cannot write {}", path.display()));
        }
        fail::fail_point!("write::renamed", |_| Err(anyhow!(
            "failpoint write::renamed"
        )));
        fsync(&parent.fd)
            .with_context(|| format!("cannot sync the directory of {}", path.display()))
    }

    /// Whether only root (or we) can write the directory holding `path`
    /// and every directory above it; `create` makes missing ones.
    pub(crate) fn parent_is_trusted(&self, path: &Path, create: bool) -> Result<bool> {
        Ok(self.parent(path, create)?.is_some_and(|p| p.trusted))
    }

    /// Creates the directory `path` with `mode`, owned by us, inside a
    /// trusted parent.
    pub(crate) fn make_dir(&self, path: &Path, mode: u32) -> Result<()> {
        let parent = self
            .parent(path, true)?
            .ok_or_else(|| anyhow!("cannot create the directories of {}", path.display()))?;
        if !parent.trusted {
            bail!(
                "refusing to create {} inside user-writable {}",
                path.display(),
                parent.path.display()
            );
        }
        mkdirat(
            &parent.fd,
            parent.name.as_os_str(),
            Mode::from_bits_truncate(mode),
        )
        .with_context(|| format!("cannot create directory {}", path.display()))?;
        fsync(&parent.fd)
            .with_context(|| format!("cannot sync the directory of {}", path.display()))
    }

    /// Removes `path` (a no-op when absent), durably.
    pub(crate) fn remove(&self, path: &Path) -> Result<()> {
        let Some(parent) = self.parent(path, false)? else {
            return Ok(());
        };
        match unlinkat(
            &parent.fd,
            parent.name.as_os_str(),
            UnlinkatFlags::NoRemoveDir,
        ) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", path.display())),
        }
        fsync(&parent.fd)
            .with_context(|| format!("cannot sync the directory of {}", path.display()))
    }

    /// What the final component of `path` is, without following it.
    pub(crate) fn stat(&self, path: &Path) -> Result<Option<Stat>> {
        let Some(parent) = self.parent(path, false)? else {
            return Ok(None);
        };
        match fstatat(
            &parent.fd,
            parent.name.as_os_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(st) => Ok(Some(Stat::of(&st))),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot stat {}", path.display())),
        }
    }

    /// Whether the regular file `path` carries file capabilities
    /// (`security.capability`), read without following a final link.
    pub(crate) fn has_capabilities(&self, path: &Path) -> Result<bool> {
        let Some(parent) = self.parent(path, false)? else {
            return Ok(false);
        };
        use std::os::fd::AsRawFd;
        // The directory we opened, named through procfs: no path the user
        // could swap on the way.
        let mut at = format!("/proc/self/fd/{}/", parent.fd.as_raw_fd()).into_bytes();
        at.extend_from_slice(parent.name.as_bytes());
        let at =
            std::ffi::CString::new(at).map_err(|_| anyhow!("{} has a NUL byte", path.display()))?;
        let mut buf = [0u8; 64];
        // SAFETY: both pointers are valid for the given lengths.
        let n = unsafe {
            nix::libc::lgetxattr(
                at.as_ptr(),
                c"security.capability".as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n >= 0 {
            return Ok(true);
        }
        match Errno::last() {
            Errno::ENODATA | Errno::ENOTSUP => Ok(false),
            e => Err(e)
                .with_context(|| format!("cannot read the capabilities of {}", path.display())),
        }
    }

    /// Where the link `path` points, without following it; `None` when
    /// absent.
    pub(crate) fn read_link(&self, path: &Path) -> Result<Option<PathBuf>> {
        let Some(parent) = self.parent(path, false)? else {
            return Ok(None);
        };
        match readlinkat(&parent.fd, parent.name.as_os_str()) {
            Ok(t) => Ok(Some(PathBuf::from(t))),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read link {}", path.display())),
        }
    }

    /// Moves `from` to `to`, both inside trusted directories (a directory
    /// the user can write could swap either name), durably.
    pub(crate) fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        let trusted = |p: &Path| -> Result<ParentDir> {
            let parent = self
                .parent(p, false)?
                .ok_or_else(|| anyhow!("the directory of {} does not exist", p.display()))?;
            if !parent.trusted {
                bail!(
                    "refusing to move {} inside user-writable {}",
                    p.display(),
                    parent.path.display()
                );
            }
            Ok(parent)
        };
        let (a, b) = (trusted(from)?, trusted(to)?);
        renameat(&a.fd, a.name.as_os_str(), &b.fd, b.name.as_os_str())
            .with_context(|| format!("cannot move {} to {}", from.display(), to.display()))?;
        fsync(&a.fd)?;
        fsync(&b.fd).with_context(|| format!("cannot sync the directory of {}", to.display()))
    }

    /// Removes `path` and, for a directory, everything below it, without
    /// following any link (a link is removed, never what it points to) and
    /// without leaving the file system. A no-op when absent.
    pub(crate) fn remove_tree(&self, path: &Path) -> Result<()> {
        let Some(parent) = self.parent(path, false)? else {
            return Ok(());
        };
        let st = match fstatat(
            &parent.fd,
            parent.name.as_os_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(st) => st,
            Err(Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("cannot stat {}", path.display())),
        };
        if EntryKind::of(&st) == EntryKind::Dir {
            empty_dir(&parent.fd, parent.name.as_os_str(), st.st_dev, path, 0)?;
            unlinkat(
                &parent.fd,
                parent.name.as_os_str(),
                UnlinkatFlags::RemoveDir,
            )
        } else {
            unlinkat(
                &parent.fd,
                parent.name.as_os_str(),
                UnlinkatFlags::NoRemoveDir,
            )
        }
        .or_else(|e| if e == Errno::ENOENT { Ok(()) } else { Err(e) })
        .with_context(|| format!("cannot remove {}", path.display()))?;
        fsync(&parent.fd)
            .with_context(|| format!("cannot sync the directory of {}", path.display()))
    }

    /// Appends `bytes` to the regular file `path` (created with `mode`,
    /// owned by us, in a trusted directory), never through a link.
    pub(crate) fn append(&self, path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
        let parent = self
            .parent(path, true)?
            .ok_or_else(|| anyhow!("cannot create the directories of {}", path.display()))?;
        if !parent.trusted {
            bail!(
                "refusing to append to {} inside user-writable {}",
                path.display(),
                parent.path.display()
            );
        }
        let flags = OFlag::O_WRONLY
            | OFlag::O_APPEND
            | OFlag::O_CREAT
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_CLOEXEC;
        let fd = openat(
            &parent.fd,
            parent.name.as_os_str(),
            flags,
            Mode::from_bits_truncate(mode),
        )
        .with_context(|| format!("cannot open {}", path.display()))?;
        let st = fstat(&fd).with_context(|| format!("cannot stat {}", path.display()))?;
        if EntryKind::of(&st) != EntryKind::File {
            bail!("{} is not a regular file", path.display());
        }
        std::fs::File::from(fd)
            .write_all(bytes)
            .with_context(|| format!("cannot append to {}", path.display()))
    }

    /// How full the file system holding `path` is; `None` when absent.
    pub(crate) fn filesystem_usage(&self, path: &Path) -> Result<Option<FsUsage>> {
        let fd = if path == Path::new("/") {
            self.root.try_clone()?
        } else {
            let Some(parent) = self.parent(path, false)? else {
                return Ok(None);
            };
            match openat(
                &parent.fd,
                parent.name.as_os_str(),
                OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) => return Ok(None),
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot open {}", path.display()));
                }
            }
        };
        let vfs = nix::sys::statvfs::fstatvfs(&fd)
            .with_context(|| format!("cannot read the file system of {}", path.display()))?;
        let total = vfs.blocks() as f64 * vfs.fragment_size() as f64;
        let free = vfs.blocks_available() as f64 * vfs.fragment_size() as f64;
        let used_percent = if total > 0.0 {
            100.0 * (total - free) / total
        } else {
            0.0
        };
        Ok(Some(FsUsage {
            id: vfs.filesystem_id() as u64,
            used_percent,
        }))
    }

    /// The entries of directory `path` (sorted by name, byte for byte),
    /// without following links; `None` when it does not exist.
    /// The directory `path`, opened without following a link; `None` when
    /// it does not exist.
    fn open_dir(&self, path: &Path) -> Result<Option<nix::dir::Dir>> {
        let Some(parent) = self.parent(path, false)? else {
            return Ok(None);
        };
        let fd = match openat(
            &parent.fd,
            parent.name.as_os_str(),
            dir_flags(),
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(None),
            Err(Errno::ELOOP) => bail!("{} is a symbolic link, not a directory", path.display()),
            Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
        };
        nix::dir::Dir::from_fd(fd)
            .with_context(|| format!("cannot list {}", path.display()))
            .map(Some)
    }

    /// At most `max` entries of a directory (not sorted), with the kinds
    /// the directory records: a directory of a million files costs `max`
    /// entries and no stat of each.
    pub(crate) fn list_bounded(&self, path: &Path, max: usize) -> Result<Option<BoundedListing>> {
        use nix::dir::Type;
        let Some(mut dir) = self.open_dir(path)? else {
            return Ok(None);
        };
        let mut listing = BoundedListing {
            entries: Vec::new(),
            complete: true,
        };
        let mut unknown = Vec::new();
        for entry in dir.iter() {
            let entry = entry.with_context(|| format!("cannot list {}", path.display()))?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            if listing.entries.len() + unknown.len() >= max {
                listing.complete = false;
                break;
            }
            let name = Name(OsStr::from_bytes(name).to_os_string());
            match entry.file_type() {
                Some(Type::File) => listing.entries.push((name, EntryKind::File)),
                Some(Type::Directory) => listing.entries.push((name, EntryKind::Dir)),
                Some(Type::Symlink) => listing.entries.push((name, EntryKind::Symlink)),
                Some(_) => listing.entries.push((name, EntryKind::Other)),
                None => unknown.push(name),
            }
        }
        let dir_fd = dir.as_fd();
        for name in unknown {
            match fstatat(dir_fd, name.0.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) => listing.entries.push((name, EntryKind::of(&st))),
                Err(Errno::ENOENT) => {}
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("cannot stat {}/{name}", path.display()));
                }
            }
        }
        Ok(Some(listing))
    }

    pub(crate) fn list(&self, path: &Path) -> Result<Option<Vec<(Name, EntryKind)>>> {
        let Some(mut dir) = self.open_dir(path)? else {
            return Ok(None);
        };
        let mut names = Vec::new();
        for entry in dir.iter() {
            let entry = entry.with_context(|| format!("cannot list {}", path.display()))?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            names.push(Name(OsStr::from_bytes(name).to_os_string()));
        }
        names.sort();
        let dir_fd = dir.as_fd();
        let mut out = Vec::new();
        for name in names {
            match fstatat(dir_fd, name.0.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) => out.push((name, EntryKind::of(&st))),
                // Removed since it was listed.
                Err(Errno::ENOENT) => {}
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("cannot stat {}/{name}", path.display()));
                }
            }
        }
        Ok(Some(out))
    }

    /// Opens (creating if needed) a file for locking; it is never written.
    /// `for_record_lock` opens it read-write, as a write record lock
    /// (`fcntl`) needs; `flock` needs no more than read.
    pub(crate) fn open_lock(
        &self,
        path: &Path,
        create: bool,
        for_record_lock: bool,
    ) -> Result<Option<std::fs::File>> {
        let Some(parent) = self.parent(path, create)? else {
            return Ok(None);
        };
        let access = if for_record_lock {
            OFlag::O_RDWR
        } else {
            OFlag::O_RDONLY
        };
        let mut flags = access | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        if create {
            flags |= OFlag::O_CREAT;
        }
        match openat(
            &parent.fd,
            parent.name.as_os_str(),
            flags,
            // Root's alone: whoever can open a lock can hold it, and a
            // shared lock held by the notebook user would stall every run.
            Mode::from_bits_truncate(0o600),
        ) {
            Ok(fd) => {
                let file = std::fs::File::from(fd);
                if create {
                    nix::sys::stat::fchmod(&file, Mode::from_bits_truncate(0o600))
                        .with_context(|| format!("cannot restrict {}", path.display()))?;
                }
                Ok(Some(file))
            }
            Err(Errno::ENOENT) if !create => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot open lock file {}", path.display())),
        }
    }
}

/// How deep [`Tree::remove_tree`] goes: nbwarden removes only trees it made
/// itself (an agent's staging directory), and a bound keeps descriptors and
/// stack use small whatever is found there.
const MAX_REMOVE_DEPTH: usize = 64;

/// Empties the directory `name` in `dir`, depth first, through descriptors
/// only; refuses to cross into another file system (`dev`) or to go deeper
/// than [`MAX_REMOVE_DEPTH`].
fn empty_dir(dir: &OwnedFd, name: &OsStr, dev: u64, shown: &Path, depth: usize) -> Result<()> {
    if depth >= MAX_REMOVE_DEPTH {
        bail!(
            "{} is nested deeper than {MAX_REMOVE_DEPTH} directories; not removing it",
            shown.display()
        );
    }
    let fd = openat(dir, name, dir_flags(), Mode::empty())
        .with_context(|| format!("cannot open {}", shown.display()))?;
    let mut listing = nix::dir::Dir::from_fd(fd.try_clone()?)
        .with_context(|| format!("cannot list {}", shown.display()))?;
    let names: Vec<std::ffi::CString> = listing
        .iter()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_owned())
        .filter(|n| n.as_bytes() != b"." && n.as_bytes() != b"..")
        .collect();
    for n in names {
        let child = shown.join(OsStr::from_bytes(n.as_bytes()));
        let st = match fstatat(&fd, n.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot stat {}", child.display())),
        };
        let flag = if EntryKind::of(&st) == EntryKind::Dir {
            if st.st_dev != dev {
                bail!(
                    "{} is another file system; not removing it",
                    child.display()
                );
            }
            empty_dir(&fd, OsStr::from_bytes(n.as_bytes()), dev, &child, depth + 1)?;
            UnlinkatFlags::RemoveDir
        } else {
            UnlinkatFlags::NoRemoveDir
        };
        match unlinkat(&fd, n.as_c_str(), flag) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", child.display())),
        }
    }
    Ok(())
}

/// Removes temporaries a crashed run left beside the file (`.NAME.nbwarden-
/// PID-N.tmp`). Runs hold the run lock, so none belongs to a live writer.
fn remove_stale_temps(parent: &ParentDir) -> Result<()> {
    let mut prefix = OsString::from(".");
    prefix.push(&parent.name);
    prefix.push(".nbwarden-");
    let prefix = prefix.as_bytes().to_vec();
    let dup = parent.fd.try_clone()?;
    let mut dir = nix::dir::Dir::from_fd(dup)
        .with_context(|| format!("cannot list {}", parent.path.display()))?;
    let stale: Vec<std::ffi::CString> = dir
        .iter()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_owned())
        .filter(|n| n.to_bytes().starts_with(&prefix) && n.to_bytes().ends_with(b".tmp"))
        .collect();
    for name in stale {
        match unlinkat(&parent.fd, name.as_c_str(), UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "cannot remove a stale temporary {:?} in {}",
                        name,
                        parent.path.display()
                    )
                });
            }
        }
    }
    Ok(())
}

fn temp_name(name: &OsStr) -> OsString {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut t = OsString::from(".");
    t.push(name);
    t.push(format!(".nbwarden-{}-{n}.tmp", std::process::id()));
    t
}

fn components(path: &Path) -> Result<Vec<OsString>> {
    if !path.is_absolute() {
        bail!("{} is not an absolute path", path.display());
    }
    let mut out = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir => {}
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::CurDir => {}
            Component::ParentDir => bail!("{} contains `..`", path.display()),
            Component::Prefix(_) => bail!("{} is not a Unix path", path.display()),
        }
    }
    Ok(out)
}

fn link_components(target: &Path) -> Vec<OsString> {
    target
        .as_os_str()
        .as_bytes()
        .split(|b| *b == b'/')
        .filter(|c| !c.is_empty())
        .map(|c| OsStr::from_bytes(c).to_os_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;

    const OWN: Ownership = Ownership {
        mode: 0o640,
        uid: 0,
        gid: 0,
    };

    fn own() -> Ownership {
        Ownership {
            uid: Uid::effective().as_raw(),
            gid: Gid::effective().as_raw(),
            ..OWN
        }
    }

    fn tree() -> (tempfile::TempDir, Tree) {
        let dir = tempfile::tempdir().expect("tmp");
        let tree = Tree::open(dir.path()).expect("open");
        (dir, tree)
    }

    /// A directory anyone can write, as the notebook user's home is to them.
    fn user_writable(root: &Path, rel: &str) -> PathBuf {
        let d = root.join(rel);
        std::fs::create_dir_all(&d).expect("mkdir");
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        d
    }

    #[test]
    fn writes_create_directories_and_set_the_exact_mode() {
        let (dir, tree) = tree();
        let p = Path::new("/etc/nbwarden/x.conf");
        tree.write(p, b"one\n", own(), None).expect("write");
        let snap = tree.read(p).expect("read").expect("exists");
        assert_eq!(snap.content, b"one\n");
        assert_eq!(snap.mode, 0o640);
        let d = std::fs::metadata(dir.path().join("etc/nbwarden")).expect("dir");
        assert_eq!(d.permissions().mode() & 0o777, 0o755);
        tree.write(p, b"two\n", own(), None).expect("rewrite");
        assert_eq!(
            std::fs::read(dir.path().join("etc/nbwarden/x.conf")).expect("r"),
            b"two\n"
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("etc/nbwarden"))
            .expect("ls")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temp files left behind");
    }

    #[test]
    fn a_failed_candidate_check_keeps_the_old_file_and_no_temp() {
        let (dir, tree) = tree();
        let p = Path::new("/etc/sudoers.d/x");
        tree.write(p, b"old\n", own(), None).expect("write");
        let seen = std::cell::RefCell::new(Vec::new());
        let check = |candidate: &Path| -> Result<()> {
            assert!(
                candidate.starts_with("/etc/sudoers.d/"),
                "{}",
                candidate.display()
            );
            let real = dir
                .path()
                .join(candidate.strip_prefix("/").expect("absolute"));
            seen.borrow_mut().push(std::fs::read(real)?);
            bail!("syntax error")
        };
        let err = tree
            .write(p, b"new\n", own(), Some(&check))
            .expect_err("refused");
        assert!(format!("{err:#}").contains("syntax error"));
        assert_eq!(
            seen.borrow().as_slice(),
            [b"new\n".to_vec()],
            "check saw the candidate"
        );
        assert_eq!(
            std::fs::read(dir.path().join("etc/sudoers.d/x")).expect("r"),
            b"old\n"
        );
        assert_eq!(
            std::fs::read_dir(dir.path().join("etc/sudoers.d"))
                .expect("ls")
                .count(),
            1
        );
    }

    #[test]
    fn symlinks_in_trusted_directories_resolve_inside_the_root() {
        let (dir, tree) = tree();
        std::fs::create_dir_all(dir.path().join("usr/lib")).expect("mkdir");
        symlink("/usr/lib", dir.path().join("lib")).expect("abs link");
        symlink("../usr/lib", dir.path().join("usr/lib2")).expect("rel link");
        tree.write(Path::new("/lib/a"), b"a", own(), None)
            .expect("through abs link");
        tree.write(Path::new("/usr/lib2/b"), b"b", own(), None)
            .expect("through rel link");
        assert!(dir.path().join("usr/lib/a").exists());
        assert!(dir.path().join("usr/lib/b").exists());
    }

    #[test]
    fn a_link_planted_in_a_user_writable_directory_is_refused() {
        let (dir, tree) = tree();
        let victim = dir.path().join("etc/shadow");
        std::fs::create_dir_all(dir.path().join("etc")).expect("mkdir");
        std::fs::write(&victim, b"root:secret:\n").expect("victim");
        let home = user_writable(dir.path(), "home/ec2-user");
        // An intermediate component: ~/.pip -> /etc
        symlink("/etc", home.join(".pip")).expect("link");
        let err = tree
            .write(
                Path::new("/home/ec2-user/.pip/shadow"),
                b"pwned",
                own(),
                None,
            )
            .expect_err("must refuse");
        assert!(
            format!("{err:#}").contains("refusing to follow symbolic link"),
            "{err:#}"
        );
        // The final component: ~/pip.conf -> /etc/shadow
        symlink("/etc/shadow", home.join("pip.conf")).expect("link");
        let err = tree
            .read(Path::new("/home/ec2-user/pip.conf"))
            .expect_err("must refuse");
        assert!(format!("{err:#}").contains("symbolic link"), "{err:#}");
        // Deeper: a real directory below the writable one, with a link in it.
        std::fs::create_dir(home.join("sub")).expect("mkdir");
        symlink("/etc", home.join("sub/etc")).expect("link");
        assert!(
            tree.write(
                Path::new("/home/ec2-user/sub/etc/shadow"),
                b"x",
                own(),
                None
            )
            .is_err()
        );
        assert_eq!(std::fs::read(&victim).expect("victim"), b"root:secret:\n");
        assert!(!dir.path().join("etc/pip.conf").exists());
    }

    #[test]
    fn fifos_hard_links_and_huge_files_are_not_read() {
        let (dir, tree) = tree();
        let home = user_writable(dir.path(), "home/u");
        nix::unistd::mkfifo(&home.join("fifo"), Mode::from_bits_truncate(0o644)).expect("fifo");
        let err = tree.read(Path::new("/home/u/fifo")).expect_err("fifo");
        assert!(format!("{err:#}").contains("not a regular file"));
        std::fs::write(dir.path().join("secret"), b"s").expect("w");
        std::fs::hard_link(dir.path().join("secret"), home.join("link")).expect("hard link");
        let err = tree.read(Path::new("/home/u/link")).expect_err("hard link");
        assert!(format!("{err:#}").contains("hard links"));
        let big = std::fs::File::create(home.join("big")).expect("create");
        big.set_len(MAX_READ_BYTES + 1).expect("sparse");
        assert!(tree.read(Path::new("/home/u/big")).is_err());
    }

    #[test]
    fn paths_cannot_climb_out_of_the_root() {
        let (dir, tree) = tree();
        std::fs::create_dir_all(dir.path().join("etc")).expect("mkdir");
        symlink("../../../../../../tmp", dir.path().join("etc/up")).expect("link");
        tree.write(Path::new("/etc/up/x"), b"x", own(), None)
            .expect("stays inside");
        assert!(
            dir.path().join("tmp/x").exists(),
            "`..` above the root stops at the root"
        );
        assert!(
            tree.write(Path::new("/etc/../x"), b"x", own(), None)
                .is_err()
        );
    }

    #[test]
    fn remove_tree_removes_links_never_what_they_point_to() {
        let (dir, tree) = tree();
        let outside = tempfile::tempdir().expect("outside");
        std::fs::write(outside.path().join("keep"), "keep").expect("keep");
        let d = user_writable(dir.path(), "tmp/probe");
        std::fs::create_dir_all(d.join("sub")).expect("sub");
        std::fs::write(d.join("sub/f"), "f").expect("f");
        symlink(outside.path(), d.join("link")).expect("link");
        symlink(outside.path(), d.join("sub/link")).expect("link");
        tree.remove_tree(Path::new("/tmp/probe")).expect("removed");
        assert!(!d.exists());
        assert!(outside.path().join("keep").exists(), "followed a link");
        // Absent is a no-op; a final link is removed as a link.
        tree.remove_tree(Path::new("/tmp/probe")).expect("absent");
        symlink(outside.path(), dir.path().join("tmp/l")).expect("link");
        tree.remove_tree(Path::new("/tmp/l")).expect("link removed");
        assert!(outside.path().join("keep").exists());
    }

    #[test]
    fn append_creates_appends_and_refuses_links_and_untrusted_places() {
        let (dir, tree) = tree();
        tree.append(Path::new("/var/log/m.log"), b"a\n", 0o644)
            .expect("create");
        tree.append(Path::new("/var/log/m.log"), b"b\n", 0o644)
            .expect("append");
        let real = dir.path().join("var/log/m.log");
        assert_eq!(std::fs::read_to_string(&real).expect("log"), "a\nb\n");
        let target = dir.path().join("target");
        std::fs::write(&target, "").expect("target");
        symlink(&target, dir.path().join("var/log/l.log")).expect("link");
        assert!(
            tree.append(Path::new("/var/log/l.log"), b"x", 0o644)
                .is_err()
        );
        assert_eq!(std::fs::read_to_string(&target).expect("target"), "");
        user_writable(dir.path(), "home/u");
        let err = tree
            .append(Path::new("/home/u/m.log"), b"x", 0o644)
            .expect_err("user-writable");
        assert!(format!("{err:#}").contains("user-writable"), "{err:#}");
    }

    #[test]
    fn rename_needs_trusted_directories_on_both_sides() {
        let (dir, tree) = tree();
        std::fs::create_dir_all(dir.path().join("opt/a")).expect("a");
        tree.rename(Path::new("/opt/a"), Path::new("/opt/b"))
            .expect("rename");
        assert!(dir.path().join("opt/b").is_dir());
        user_writable(dir.path(), "home/u");
        let err = tree
            .rename(Path::new("/opt/b"), Path::new("/home/u/b"))
            .expect_err("untrusted target");
        assert!(format!("{err:#}").contains("user-writable"), "{err:#}");
        assert!(dir.path().join("opt/b").is_dir());
    }

    #[test]
    fn stat_and_links_are_read_without_following() {
        let (dir, tree) = tree();
        std::fs::create_dir_all(dir.path().join("etc")).expect("etc");
        std::fs::write(dir.path().join("etc/f"), "f").expect("f");
        std::fs::set_permissions(
            dir.path().join("etc/f"),
            std::fs::Permissions::from_mode(0o4755),
        )
        .expect("chmod");
        symlink("/etc/f", dir.path().join("etc/l")).expect("link");
        let st = tree
            .stat(Path::new("/etc/f"))
            .expect("stat")
            .expect("exists");
        assert_eq!((st.kind, st.mode), (EntryKind::File, 0o4755));
        let l = tree
            .stat(Path::new("/etc/l"))
            .expect("stat")
            .expect("exists");
        assert_eq!(l.kind, EntryKind::Symlink);
        assert_eq!(
            tree.read_link(Path::new("/etc/l")).expect("readlink"),
            Some(PathBuf::from("/etc/f"))
        );
        assert_eq!(tree.stat(Path::new("/etc/none")).expect("stat"), None);
        assert!(!tree.has_capabilities(Path::new("/etc/f")).expect("xattr"));
        let usage = tree
            .filesystem_usage(Path::new("/etc"))
            .expect("statvfs")
            .expect("exists");
        assert!((0.0..=100.0).contains(&usage.used_percent));
    }
}
