//! `Host` owns every touch of the managed machine: the root prefix, safe
//! file I/O, users and groups, OS detection and running commands. Tests
//! point it at a temporary root; the code does not change.

pub mod accounts;
pub mod command;
pub mod local;
mod lock;
pub mod mounts;
pub mod net;
pub mod os;
pub mod safe_file;
pub mod stat;
mod systemd;
pub mod trust;
pub mod watch;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

pub use accounts::{Accounts, Group, User};
pub use command::CommandOutput;
pub use lock::{HeldLock, LockKind, Locked};
pub use mounts::Mount;
pub use os::{Distro, OsInfo};
pub use safe_file::{BoundedListing, CandidateCheck, FileSnapshot, FsUsage, Name, Ownership};
pub use stat::{EntryKind, Stat};
pub use watch::{Added, DirWatch};

/// The account files' lock; see [`Host::lock_user_database`]. Released
/// when dropped (the descriptor's own lock).
pub struct UserDatabaseLock {
    _file: std::fs::File,
}

/// A private file outside the root; see [`Host::scratch_file`].
pub struct ScratchFile {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

pub struct Host {
    root: PathBuf,
    tree: safe_file::Tree,
    os: OsInfo,
}

impl Host {
    /// Opens the tree at `root`. Fails when it is not a readable directory.
    pub fn open(root: &Path) -> Result<Host> {
        // Files are opened through /proc/self/fd (so no path the user could
        // swap is followed twice), and processes, mounts and capabilities
        // are read from /proc: without it every control would fail on its
        // own line (an image build's chroot often lacks it).
        if !Path::new("/proc/self/fd").is_dir() {
            anyhow::bail!(
                "/proc is not mounted where nbwarden runs: it reads files through /proc/self/fd \
                 and processes, mounts and capabilities from /proc; mount it first (mount -t \
                 proc proc /proc, inside the chroot when building an image)"
            );
        }
        let root = std::fs::canonicalize(root)
            .with_context(|| format!("cannot use {} as the root", root.display()))?;
        let tree = safe_file::Tree::open(&root)?;
        let os = ["/etc/os-release", "/usr/lib/os-release"]
            .iter()
            .find_map(|p| tree.read(Path::new(p)).ok().flatten())
            .map(|f| OsInfo::parse(&String::from_utf8_lossy(&f.content)))
            .unwrap_or_else(OsInfo::unknown);
        // A root we cannot even list is unusable: fail now, not per control.
        std::fs::read_dir(&root)
            .with_context(|| format!("cannot read the root directory {}", root.display()))?;
        Ok(Host { root, tree, os })
    }

    /// The managed root as the machine sees it: for messages and reports,
    /// and for a program of the machine that must be told where the root is
    /// (visudo's fallback). Never for opening files: every touch of the
    /// root goes through the methods below.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn os(&self) -> &OsInfo {
        &self.os
    }

    /// Reads a file inside the root (absolute path as seen from the root).
    pub fn read(&self, path: &Path) -> Result<Option<FileSnapshot>> {
        self.tree.read(path)
    }

    /// Reads a text file inside the root; `None` when absent.
    pub fn read_text(&self, path: &Path) -> Result<Option<String>> {
        match self.read(path)? {
            None => Ok(None),
            Some(f) => String::from_utf8(f.content)
                .map(Some)
                .with_context(|| format!("{} is not valid UTF-8", path.display())),
        }
    }

    pub fn write(
        &self,
        path: &Path,
        content: &[u8],
        own: Ownership,
        check: Option<CandidateCheck<'_>>,
    ) -> Result<()> {
        self.tree.write(path, content, own, check)
    }

    /// Like [`Host::write`], with the content streamed in by `fill`.
    pub fn write_with(
        &self,
        path: &Path,
        own: Ownership,
        fill: &mut dyn FnMut(&mut dyn std::io::Write) -> Result<()>,
        check: Option<CandidateCheck<'_>>,
    ) -> Result<()> {
        self.tree.write_with(path, own, fill, check)
    }

    /// Creates the directories holding `path` where missing, and fails
    /// unless they can be written by root (or us) only.
    pub fn create_trusted_parents(&self, path: &Path) -> Result<()> {
        if !self.tree.parent_is_trusted(path, true)? {
            anyhow::bail!("{} is inside a directory others can write", path.display());
        }
        Ok(())
    }

    pub fn make_dir(&self, path: &Path, mode: u32) -> Result<()> {
        self.tree.make_dir(path, mode)
    }

    pub fn remove(&self, path: &Path) -> Result<()> {
        self.tree.remove(path)
    }

    /// The type of `path`'s final component, without following it.
    pub fn kind(&self, path: &Path) -> Result<Option<EntryKind>> {
        Ok(self.tree.stat(path)?.map(|s| s.kind))
    }

    /// Type, permission bits and owner of `path`'s final component, without
    /// following it; `None` when absent.
    pub fn stat(&self, path: &Path) -> Result<Option<Stat>> {
        self.tree.stat(path)
    }

    /// Whether the file `path` carries file capabilities.
    pub fn has_capabilities(&self, path: &Path) -> Result<bool> {
        self.tree.has_capabilities(path)
    }

    /// Where the link `path` points (not followed); `None` when absent.
    pub fn read_link(&self, path: &Path) -> Result<Option<PathBuf>> {
        self.tree.read_link(path)
    }

    /// Moves `from` to `to`; both must be in trusted directories.
    pub fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        self.tree.rename(from, to)
    }

    /// Removes `path` and all below it, never following a link.
    pub fn remove_tree(&self, path: &Path) -> Result<()> {
        self.tree.remove_tree(path)
    }

    /// Appends `text` to a log file (created with `mode`) in a trusted
    /// directory, never through a link.
    pub fn append(&self, path: &Path, text: &str, mode: u32) -> Result<()> {
        self.tree.append(path, text.as_bytes(), mode)
    }

    /// How full the file system holding `path` is; `None` when absent.
    pub fn filesystem_usage(&self, path: &Path) -> Result<Option<FsUsage>> {
        self.tree.filesystem_usage(path)
    }

    /// A directory's entries, sorted, links not followed.
    pub fn list(&self, path: &Path) -> Result<Option<Vec<(Name, EntryKind)>>> {
        self.tree.list(path)
    }

    /// At most `max` of a directory's entries, unsorted, links not
    /// followed, kinds as the directory records them.
    pub fn list_bounded(&self, path: &Path, max: usize) -> Result<Option<BoundedListing>> {
        self.tree.list_bounded(path, max)
    }

    /// True when nbwarden runs on the machine itself rather than on a tree.
    pub fn is_live(&self) -> bool {
        self.root == Path::new("/")
    }

    /// The mount visible at `point` in PID 1's mount table, where systemd
    /// runs (a unit may have a namespace of its own:
    /// `ProtectKernelTunables=` gives it a `/proc` of its own); `None` when
    /// nothing is mounted there or systemd does not run here.
    pub fn mount_at(&self, point: &Path) -> Result<Option<Mount>> {
        if !self.systemd_runs()? {
            return Ok(None);
        }
        let table = "/proc/1/mountinfo";
        let text =
            std::fs::read_to_string(table).with_context(|| format!("cannot read {table}"))?;
        Ok(mounts::at(&mounts::parse(&text), point))
    }

    /// Changes a mounted file system's options in place
    /// (`mount -o remount,OPTIONS POINT`) in PID 1's mount namespace, the
    /// one [`Host::mount_at`] reads; only where systemd runs.
    pub fn remount(&self, point: &Path, options: &str) -> Result<()> {
        if !self.systemd_runs()? {
            anyhow::bail!(
                "{}: not remounted where systemd does not run (a chroot or --root)",
                point.display()
            );
        }
        let point_text = point.to_string_lossy();
        let opts = format!("remount,{options}");
        self.run_in_root(
            "nsenter",
            &[
                "--mount=/proc/1/ns/mnt",
                "--",
                "mount",
                "-o",
                &opts,
                &point_text,
            ],
            Duration::from_secs(10),
        )?
        .checked(&format!("mount -o {opts} {point_text}"))?;
        Ok(())
    }

    /// A new, empty watch on directories of this root.
    pub fn watch(&self) -> Result<DirWatch> {
        DirWatch::new(&self.root)
    }

    /// Whether process `pid` (on the live system) runs a program whose
    /// file was since replaced or removed on disk: the kernel then names
    /// it `PATH (deleted)`. `None` when no such process is seen. A service
    /// systemd has forked but not yet started runs systemd itself: not
    /// replaced.
    pub fn runs_replaced_program(&self, pid: u32) -> Result<Option<bool>> {
        match std::fs::read_link(format!("/proc/{pid}/exe")) {
            Ok(exe) => Ok(Some(exe.to_string_lossy().ends_with(" (deleted)"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read /proc/{pid}/exe")),
        }
    }

    /// Checks that root may trust `path` (inside the root) as
    /// configuration or a program to run: see [`trust`]. Returns the path
    /// with links resolved; the error names the weak path.
    pub fn check_trusted(&self, path: &Path) -> Result<PathBuf> {
        trust::check(&self.root, path)
    }

    /// [`Host::check_trusted`] with another rule for what is weak (`weak`
    /// says why an entry cannot be trusted); missing parts are allowed.
    pub fn check_trusted_with(
        &self,
        path: &Path,
        weak: &dyn Fn(&Stat) -> Option<String>,
    ) -> Result<PathBuf> {
        trust::check_with(&self.root, path, true, weak)
    }

    /// The interpreters a trusted script at `path` may run with (its `#!`
    /// line; for `env NAME`, every NAME on the search path); empty for a
    /// program that is not a script, or a path that is not trusted.
    pub fn interpreters(&self, path: &Path) -> Result<Vec<PathBuf>> {
        let resolved = trust::check(&self.root, path)?;
        trust::interpreters(&self.root, &resolved)
    }

    /// [`Host::check_trusted`] for a program root will run: a script's
    /// interpreter must be trusted too.
    pub fn check_trusted_program(&self, path: &Path) -> Result<PathBuf> {
        trust::check_program(&self.root, path)
    }

    /// [`Host::check_trusted`] for a path that may not exist yet: what
    /// exists on the way decides who could make the rest.
    pub fn check_trusted_or_nearest(&self, path: &Path) -> Result<PathBuf> {
        trust::check_allow_missing(&self.root, path)
    }

    /// The effective uid nbwarden runs as.
    pub fn euid(&self) -> u32 {
        nix::unistd::geteuid().as_raw()
    }

    /// The first of `candidates` (paths inside the root) that is a file.
    pub fn find_program(&self, candidates: &[&str]) -> Option<String> {
        candidates
            .iter()
            .find(|p| matches!(self.kind(Path::new(p)), Ok(Some(EntryKind::File))))
            .map(|p| p.to_string())
    }

    /// Runs a program of the root (a bare name is looked up in the root's
    /// system directories only): directly when the root is `/`, else
    /// chrooted into it, so the root's own tools read the root's own
    /// configuration.
    pub fn run_in_root(
        &self,
        program: &str,
        args: &[&str],
        timeout: Duration,
    ) -> Result<CommandOutput> {
        command::run_invocation(&command::Invocation {
            root: (!self.is_live()).then_some(self.root.as_path()),
            ..command::Invocation::new(program, args, timeout)
        })
    }

    /// Runs a program of the root as `user` (uid, primary gid, no other
    /// groups, a clean environment with its HOME), never as root, and
    /// confined (see [`command`]): for checks that must see what the user
    /// sees, and for running anything the user owns.
    pub fn run_as(
        &self,
        user: &User,
        program: &str,
        args: &[&str],
        timeout: Duration,
    ) -> Result<CommandOutput> {
        self.run_as_in(user, None, program, args, timeout)
    }

    /// [`Host::run_as`] in the working directory `cwd` (a path of the
    /// root, entered as the user; `/` when it cannot be), where a client
    /// looks for a project's configuration.
    pub fn run_as_in(
        &self,
        user: &User,
        cwd: Option<&Path>,
        program: &str,
        args: &[&str],
        timeout: Duration,
    ) -> Result<CommandOutput> {
        if self.euid() != 0 && !(self.is_live() && self.euid() == user.uid) {
            anyhow::bail!("running a check as {} needs root", user.name);
        }
        command::run_invocation(&command::Invocation {
            root: (!self.is_live()).then_some(self.root.as_path()),
            user: Some(command::Identity {
                uid: user.uid,
                gid: user.gid,
            }),
            home: Some(&user.home),
            cwd,
            ..command::Invocation::new(program, args, timeout)
        })
    }

    /// `content` as a private file (mode `mode`, in a directory only we
    /// can enter) outside the root, for a program of the machine that
    /// cannot read the root's copy; removed when the result is dropped.
    pub fn scratch_file(&self, name: &str, content: &str, mode: u32) -> Result<ScratchFile> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .prefix("nbwarden-")
            .tempdir()
            .context("cannot make a private directory")?;
        let path = dir.path().join(name);
        std::fs::write(&path, content)
            .and_then(|_| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)))
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(ScratchFile { _dir: dir, path })
    }

    /// Holds the shadow-utils lock on the account files (`/etc/.pwd.lock`,
    /// a write record lock, as `lckpwdf(3)` takes it) for as long as the
    /// result lives, so `useradd`, `gpasswd` or `vipw` never interleave with
    /// nbwarden's edit of `/etc/group` and `/etc/gshadow`. Waits up to
    /// `timeout` for another holder, as `lckpwdf` waits 15 s.
    pub fn lock_user_database(&self, timeout: Duration) -> Result<UserDatabaseLock> {
        const PWD_LOCK: &str = "/etc/.pwd.lock";
        let file = self
            .tree
            .open_lock(Path::new(PWD_LOCK), true, true)?
            .with_context(|| format!("cannot create {PWD_LOCK}"))?;
        let whole = nix::libc::flock {
            l_type: nix::libc::F_WRLCK as i16,
            l_whence: nix::libc::SEEK_SET as i16,
            l_start: 0,
            l_len: 0,
            l_pid: 0,
        };
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_OFD_SETLK(&whole)) {
                Ok(_) => return Ok(UserDatabaseLock { _file: file }),
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EACCES)
                    if std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EACCES) => anyhow::bail!(
                    "another program (useradd, gpasswd, vipw…) has held {PWD_LOCK} for more \
                     than {timeout:?}; nothing was changed, try again"
                ),
                Err(e) => return Err(e).with_context(|| format!("cannot lock {PWD_LOCK}")),
            }
        }
    }

    /// Users and groups of the root, from its own files.
    pub fn accounts(&self) -> Result<Accounts> {
        let passwd = self
            .read_text(Path::new("/etc/passwd"))?
            .unwrap_or_default();
        let group = self.read_text(Path::new("/etc/group"))?.unwrap_or_default();
        Ok(Accounts::parse(&passwd, &group))
    }

    /// Runs a program of the host (not of the root) with a timeout.
    pub fn run(&self, program: &str, args: &[&str], timeout: Duration) -> Result<CommandOutput> {
        command::run(program, args, timeout)
    }
}

/// 16 random bytes from the kernel, as hex: names and tokens no one can
/// guess (the time and pid when `/dev/urandom` cannot be read).
pub fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    let filled = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if filled.is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        bytes = (nanos ^ u128::from(std::process::id())).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
