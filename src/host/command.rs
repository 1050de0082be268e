//! The one way nbwarden runs another program: logged with its duration,
//! bounded by a timeout and by the run's deadline, output captured up to a
//! bound, helpers found by absolute path in system directories only.
//!
//! Every program starts in a session of its own (no controlling terminal,
//! so nothing it runs can push keystrokes into an admin's root shell with
//! `TIOCSTI`), with stdin from `/dev/null`, its own two pipes and no other
//! inherited descriptor, and a clean environment. A program run as another
//! user (the notebook user's Python, pip) is also *confined*: as root it
//! gets a PID namespace of its own, so when it ends, or its timeout kills
//! it, the kernel kills every process it left behind, including ones that
//! double-forked or started their own session. Nothing it leaves can hold
//! its output open past the timeout, and the run never waits for it.

use std::ffi::CString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::libc;

use crate::base::deadline::{DeadlineReached, current_deadline, within_deadline};

/// Where nbwarden looks for a helper given by name. `/usr/local` is left
/// out: a helper root runs comes with the distribution.
pub const SYSTEM_DIRS: &[&str] = &["/usr/sbin", "/usr/bin", "/sbin", "/bin"];
/// The PATH of root's helpers.
const SYSTEM_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";
/// The PATH of programs run as the user.
pub const USER_PATH: &str = "/usr/local/bin:/usr/bin:/bin";
/// The most of each stream kept; the rest is read and dropped so the
/// program never blocks on a full pipe.
pub const OUTPUT_LIMIT: usize = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct CommandOutput {
    /// The exit status, or `None` when killed by a signal.
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub duration: Duration,
}

impl CommandOutput {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }

    /// The output when the program succeeded; otherwise an error naming
    /// `what` ran, how it ended and what it said on stderr (else stdout).
    pub fn checked(self, what: &str) -> anyhow::Result<CommandOutput> {
        if self.success() {
            return Ok(self);
        }
        let ended = match self.status {
            Some(code) => format!("exit {code}"),
            None => "killed by a signal".to_string(),
        };
        let said = if self.stderr.trim().is_empty() {
            self.stdout.trim()
        } else {
            self.stderr.trim()
        };
        anyhow::bail!("{what} failed ({ended}): {said}")
    }
}

/// The identity a confined program runs as: uid, and gid as its only group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
}

/// One program to run.
#[derive(Debug, Clone)]
pub struct Invocation<'a> {
    pub program: &'a str,
    pub args: &'a [&'a str],
    pub timeout: Duration,
    /// `chroot` into this directory before running (the program's path is
    /// then inside it).
    pub root: Option<&'a Path>,
    /// Run as this identity, confined. `None`: as nbwarden's own user.
    pub user: Option<Identity>,
    /// HOME for a program run as a user.
    pub home: Option<&'a str>,
    /// The working directory of a program run as a user, entered as that
    /// user (`/` when it cannot be).
    pub cwd: Option<&'a Path>,
    /// Try a PID namespace for a confined program (tests turn it off to
    /// exercise the subreaper sweep that stands in where none can be made).
    pub pid_namespace: bool,
}

impl<'a> Invocation<'a> {
    pub fn new(program: &'a str, args: &'a [&'a str], timeout: Duration) -> Self {
        Invocation {
            program,
            args,
            timeout,
            root: None,
            user: None,
            home: None,
            cwd: None,
            pid_namespace: true,
        }
    }
}

/// Runs `program` with `args`, a minimal fixed environment and no stdin.
/// Fails when the program cannot be started or outlives `timeout` (it is
/// then killed).
pub fn run(program: &str, args: &[&str], timeout: Duration) -> Result<CommandOutput> {
    run_invocation(&Invocation::new(program, args, timeout))
}

/// Finds `program` (a bare name) in [`SYSTEM_DIRS`] under `root`; a path
/// is returned as given.
pub fn resolve(program: &str, root: &Path) -> Result<String> {
    if program.contains('/') {
        return Ok(program.to_string());
    }
    for dir in SYSTEM_DIRS {
        let candidate = root.join(dir.trim_start_matches('/')).join(program);
        if std::fs::metadata(&candidate).is_ok_and(|m| m.is_file()) {
            return Ok(format!("{dir}/{program}"));
        }
    }
    bail!(
        "`{program}` is not installed in {} of {}",
        SYSTEM_DIRS.join(", "),
        root.display()
    )
}

/// Everything `pre_exec` needs, prepared before the fork (nothing may be
/// allocated between fork and exec).
struct ChildSetup {
    root: Option<CString>,
    user: Option<Identity>,
    cwd: Option<CString>,
    pid_namespace: bool,
}

/// Marks every descriptor from 3 up close-on-exec: the program gets its
/// stdio and nothing nbwarden (or whoever started nbwarden) had open.
/// Called between fork and exec: only async-signal-safe calls.
fn cloexec_from_3() {
    // close_range(3, ~0, CLOSE_RANGE_CLOEXEC), Linux 5.11+.
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: a plain system call on integers.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == 0 {
        return;
    }
    // Older kernels (Amazon Linux 2's 5.10): every possible descriptor.
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    let max = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur.min(1 << 20) as libc::c_int
    } else {
        1 << 16
    };
    for fd in 3..max {
        // SAFETY: fcntl on a descriptor number; EBADF for closed ones.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}

fn os_err() -> std::io::Error {
    std::io::Error::last_os_error()
}

/// Runs between fork and exec in the child. With a PID namespace the child
/// forks once more: the grandchild becomes the namespace's init and runs
/// the program; the child only waits for it and ends with its status, so
/// the parent's view (one child, one status) stays the same.
fn child_setup(setup: &ChildSetup) -> std::io::Result<()> {
    // SAFETY: every call below is async-signal-safe and takes only data
    // prepared before the fork.
    unsafe {
        if libc::setsid() < 0 {
            return Err(os_err());
        }
        // Where a namespace cannot be made (a unit with RestrictNamespaces=,
        // no CAP_SYS_ADMIN), the parent's subreaper sweep stands in.
        if setup.pid_namespace && libc::unshare(libc::CLONE_NEWPID) == 0 {
            let pid = libc::fork();
            if pid < 0 {
                return Err(os_err());
            }
            if pid > 0 {
                // Hold nothing open: the parent's pipes and its exec-error
                // channel must close when the program's side does.
                if libc::syscall(
                    libc::SYS_close_range,
                    0 as libc::c_uint,
                    libc::c_uint::MAX,
                    0,
                ) != 0
                {
                    for fd in 0..1024 {
                        libc::close(fd);
                    }
                }
                let mut status = 0;
                loop {
                    let r = libc::waitpid(pid, &mut status, 0);
                    if r == pid {
                        break;
                    }
                    if r < 0 && *libc::__errno_location() != libc::EINTR {
                        libc::_exit(127);
                    }
                }
                if libc::WIFEXITED(status) {
                    libc::_exit(libc::WEXITSTATUS(status));
                }
                libc::_exit(128 + libc::WTERMSIG(status));
            }
        }
        cloexec_from_3();
        if let Some(root) = &setup.root
            && libc::chroot(root.as_ptr()) != 0
        {
            return Err(os_err());
        }
        if libc::chdir(c"/".as_ptr()) != 0 {
            return Err(os_err());
        }
        if let Some(id) = setup.user {
            let groups = [id.gid as libc::gid_t];
            if libc::setgroups(1, groups.as_ptr()) != 0
                || libc::setresgid(id.gid, id.gid, id.gid) != 0
                || libc::setresuid(id.uid, id.uid, id.uid) != 0
            {
                return Err(os_err());
            }
            // The user's code that root runs gains nothing through setuid
            // programs: a `.pth` calling `sudo` (whatever the policy allows,
            // such as restarting Jupyter outside this run's namespace) is
            // refused for the proof and everything it starts.
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(os_err());
            }
        }
        // Entered as the user: a directory the user cannot enter leaves the
        // program in `/`.
        if let Some(cwd) = &setup.cwd {
            libc::chdir(cwd.as_ptr());
        }
    }
    Ok(())
}

/// Whether `pid` made a PID namespace for its children (its
/// `pid_for_children` differs from ours). Read once the program runs: the
/// child unshares before the exec that `spawn` waits for. Anything
/// unreadable counts as no.
fn has_own_pid_namespace(pid: u32) -> bool {
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/pid_for_children"));
    let ours = std::fs::read_link("/proc/self/ns/pid");
    matches!((theirs, ours), (Ok(t), Ok(o)) if t != o)
}

/// The processes whose parent is `pid`, from /proc.
fn children_of(pid: u32) -> Vec<i32> {
    processes()
        .into_iter()
        .filter(|(_, parent, _)| *parent == pid as i32)
        .map(|(p, _, _)| p)
        .collect()
}

/// Makes nbwarden the subreaper of everything it starts (once): a process
/// that double-forks to leave its parent is re-parented to nbwarden, not
/// to init, so [`sweep`] still finds it.
fn become_subreaper() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    });
}

/// (pid, parent pid, real uid) of every process, from /proc.
fn processes() -> Vec<(i32, i32, u32)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|p| {
            let status = std::fs::read_to_string(format!("/proc/{p}/status")).ok()?;
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .and_then(|v| v.split_whitespace().next())
                    .and_then(|v| v.parse::<i64>().ok())
            };
            Some((p, field("PPid:")? as i32, field("Uid:")? as u32))
        })
        .collect()
}

/// Whether the last confined run got a PID namespace of its own: 0 not
/// known yet, 1 yes, 2 no.
static ISOLATED: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Whether confined runs get a PID namespace each (as the last one did).
/// Only then may several run at once: without one, a run's leftovers share
/// the user's process space with the others and could kill or trace them.
pub fn confined_runs_are_isolated() -> bool {
    ISOLATED.load(std::sync::atomic::Ordering::Relaxed) == 1
}

/// The longest a sweep keeps killing a user's processes that keep forking.
const SWEEP_LIMIT: Duration = Duration::from_secs(10);

/// Confined runs in flight, and the users whose leftovers await a sweep.
/// A sweep kills every process of the user below nbwarden, which would
/// include a confined run still going in another thread (the
/// per-environment proofs run in parallel), so only the last run in
/// flight sweeps, holding the lock so that none starts meanwhile.
static CONFINED: Mutex<(usize, Vec<u32>)> = Mutex::new((0, Vec::new()));

/// One confined run's share of [`CONFINED`], from before its spawn to
/// after its end.
struct ConfinedRun {
    uid: u32,
    /// Whether what it leaves needs a sweep: not when it got a PID
    /// namespace, whose processes the kernel kills with its init.
    needs_sweep: bool,
}

impl ConfinedRun {
    fn start(uid: u32) -> ConfinedRun {
        let mut in_flight = CONFINED.lock().unwrap_or_else(|e| e.into_inner());
        in_flight.0 += 1;
        ConfinedRun {
            uid,
            needs_sweep: true,
        }
    }

    /// Sweeps what this run (and any that ended before it) left, unless
    /// another confined run is still in flight: then the last one does.
    fn sweep_unless_others_run(&self) {
        let mut in_flight = CONFINED.lock().unwrap_or_else(|e| e.into_inner());
        if self.needs_sweep && !in_flight.1.contains(&self.uid) {
            in_flight.1.push(self.uid);
        }
        if in_flight.0 == 1 {
            for uid in std::mem::take(&mut in_flight.1) {
                sweep(uid);
            }
        }
    }
}

impl Drop for ConfinedRun {
    fn drop(&mut self) {
        self.sweep_unless_others_run();
        let mut in_flight = CONFINED.lock().unwrap_or_else(|e| e.into_inner());
        in_flight.0 = in_flight.0.saturating_sub(1);
    }
}

/// Kills every descendant of nbwarden that runs as `uid`, until none is
/// left, and reaps those re-parented to it. A process killed cannot fork
/// again, and one forked meanwhile is found in the next pass.
fn sweep(uid: u32) {
    let me = std::process::id() as i32;
    // Until nothing is left, or for as long as a process could keep forking
    // as fast as it is killed: at most SWEEP_LIMIT, or to the run's
    // deadline when that comes first. One pass always runs.
    let mut until = Instant::now() + SWEEP_LIMIT;
    if let Some(deadline) = current_deadline() {
        until = until.min(deadline);
    }
    loop {
        let all = processes();
        let mut ours = vec![me];
        let mut i = 0;
        while i < ours.len() {
            let parent = ours[i];
            ours.extend(
                all.iter()
                    .filter(|(_, pp, _)| *pp == parent)
                    .map(|(p, _, _)| *p),
            );
            i += 1;
        }
        let targets: Vec<i32> = all
            .iter()
            .filter(|(p, _, u)| *p != me && *u == uid && ours.contains(p))
            .map(|(p, _, _)| *p)
            .collect();
        if targets.is_empty() {
            return;
        }
        for p in &targets {
            // SAFETY: signals to processes below nbwarden that run as the
            // confined user.
            unsafe { libc::kill(*p, libc::SIGKILL) };
        }
        for (p, _, _) in all
            .iter()
            .filter(|(p, pp, _)| *pp == me && targets.contains(p))
        {
            let mut status = 0;
            // SAFETY: waits only for a re-parented process of ours.
            unsafe { libc::waitpid(*p, &mut status, 0) };
        }
        if Instant::now() >= until {
            tracing::warn!(
                uid,
                "processes of the user kept appearing until the sweep's time ran out"
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Ends the program and everything it started. With a PID namespace,
/// killing its init (the child's only child) makes the kernel kill the
/// rest; without one, the program's session (its process group) is killed.
fn kill_tree(child: &mut std::process::Child, pid_namespace: bool) {
    let pid = child.id();
    if pid_namespace {
        for init in children_of(pid) {
            // SAFETY: a signal to a pid we just read as our child's child.
            unsafe { libc::kill(init, libc::SIGKILL) };
        }
    }
    // SAFETY: the child made its own session, so its pid is its group.
    unsafe { libc::killpg(pid as i32, libc::SIGKILL) };
    let _ = child.kill();
    let _ = child.wait();
}

/// Reads a stream to its end on a thread of its own, keeping the first
/// [`OUTPUT_LIMIT`] bytes; the result arrives on the returned channel.
fn bounded_reader(
    pipe: Option<impl Read + Send + 'static>,
) -> std::io::Result<mpsc::Receiver<String>> {
    let (tx, rx) = mpsc::channel();
    // A thread that cannot be made (the user's processes can use up the
    // tasks a cgroup allows) is an error for this command, never a panic:
    // the program it reads from must still be killed.
    std::thread::Builder::new().spawn(move || {
        let mut kept = Vec::new();
        if let Some(mut p) = pipe {
            let mut buf = [0u8; 8192];
            loop {
                match p.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        let room = OUTPUT_LIMIT.saturating_sub(kept.len());
                        kept.extend_from_slice(&buf[..n.min(room)]);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        }
        let _ = tx.send(String::from_utf8_lossy(&kept).into_owned());
    })?;
    Ok(rx)
}

/// Runs one [`Invocation`].
// Long: the confined child's setup (namespaces, credentials, limits, deadline) must happen in
// this order in one place.
pub fn run_invocation(inv: &Invocation<'_>) -> Result<CommandOutput> {
    let shown = std::iter::once(inv.program)
        .chain(inv.args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let timeout = within_deadline(inv.timeout, &format!("`{shown}`"))?;
    let host_root = Path::new("/");
    let program = resolve(inv.program, inv.root.unwrap_or(host_root))?;
    // Only root can make a PID namespace; a user running nbwarden on
    // itself gets its session killed instead.
    let is_root = nix::unistd::geteuid().is_root();
    let pid_namespace = inv.user.is_some() && is_root && inv.pid_namespace;
    let setup = ChildSetup {
        root: match inv.root {
            Some(r) => Some(
                CString::new(r.as_os_str().as_bytes())
                    .with_context(|| format!("{} holds a NUL byte", r.display()))?,
            ),
            None => None,
        },
        // Not root: nbwarden already runs as that user (Host::run_as checks).
        user: inv.user.filter(|_| is_root),
        cwd: match inv.cwd {
            Some(c) => Some(
                CString::new(c.as_os_str().as_bytes())
                    .with_context(|| format!("{} holds a NUL byte", c.display()))?,
            ),
            None => None,
        },
        pid_namespace,
    };
    let mut cmd = Command::new(&program);
    cmd.args(inv.args).env_clear().env("LC_ALL", "C");
    match (inv.user, inv.home) {
        (Some(_), home) => {
            cmd.env("PATH", USER_PATH);
            if let Some(home) = home {
                cmd.env("HOME", home);
            }
        }
        (None, _) => {
            cmd.env("PATH", SYSTEM_PATH);
        }
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: child_setup makes only async-signal-safe calls on data
    // prepared above.
    unsafe {
        cmd.pre_exec(move || child_setup(&setup));
    }
    let started = Instant::now();
    if inv.user.is_some() {
        become_subreaper();
    }
    // What a confined program leaves behind is killed as soon as it ends
    // (or, while other confined runs go on, when the last of them ends).
    // Counted before the spawn, so no other run's sweep can take it.
    let mut confined = inv.user.map(|u| ConfinedRun::start(u.uid));
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run `{shown}`"))?;
    if let Some(run) = confined.as_mut() {
        let isolated = pid_namespace && has_own_pid_namespace(child.id());
        ISOLATED.store(
            if isolated { 1 } else { 2 },
            std::sync::atomic::Ordering::Relaxed,
        );
        run.needs_sweep = !isolated;
    }
    let cleanup = || {
        if let Some(run) = &confined {
            run.sweep_unless_others_run();
        }
    };
    let readers = bounded_reader(child.stdout.take())
        .and_then(|out| Ok((out, bounded_reader(child.stderr.take())?)));
    let (out_rx, err_rx) = match readers {
        Ok(readers) => readers,
        Err(e) => {
            kill_tree(&mut child, pid_namespace);
            let _ = child.wait();
            cleanup();
            bail!("cannot read the output of `{shown}` ({e}); it was killed");
        }
    };
    let timed_out = |child: &mut std::process::Child| {
        kill_tree(child, pid_namespace);
        cleanup();
        tracing::warn!(command = %shown, timeout_ms = timeout.as_millis() as u64, "command timed out");
        let killed = format!(
            "`{shown}` did not finish within {timeout:?}; it and every process it started were killed"
        );
        if timeout < inv.timeout {
            anyhow::Error::new(DeadlineReached(format!("while `{shown}` ran"))).context(killed)
        } else {
            anyhow::anyhow!(killed)
        }
    };
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() >= timeout {
            return Err(timed_out(&mut child));
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    cleanup();
    // The program ended; whatever it left behind may still hold its
    // output open. Never wait for that past the timeout.
    let mut streams = Vec::with_capacity(2);
    for rx in [out_rx, err_rx] {
        let left = timeout.saturating_sub(started.elapsed());
        match rx.recv_timeout(left) {
            Ok(s) => streams.push(s),
            Err(_) => {
                kill_tree(&mut child, pid_namespace);
                cleanup();
                bail!(
                    "`{shown}` exited but left processes holding its output past {timeout:?}; \
                     they were killed"
                );
            }
        }
    }
    let stderr = streams.pop().unwrap_or_default();
    let stdout = streams.pop().unwrap_or_default();
    let output = CommandOutput {
        status: status.code(),
        stdout,
        stderr,
        duration: started.elapsed(),
    };
    tracing::debug!(
        command = %shown,
        status = ?output.status,
        duration_ms = output.duration.as_millis() as u64,
        "ran command"
    );
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_status() {
        let out = run(
            "sh",
            &["-c", "echo out; echo err >&2; exit 3"],
            Duration::from_secs(5),
        )
        .expect("runs");
        assert_eq!(out.status, Some(3));
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
        assert!(!out.success());
    }

    #[test]
    fn kills_what_outlives_its_timeout() {
        let started = Instant::now();
        let err = run("sleep", &["5"], Duration::from_millis(100)).expect_err("times out");
        assert!(err.to_string().contains("did not finish"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(4));
    }

    #[test]
    fn a_missing_program_is_an_error_naming_it() {
        let err = run("/nonexistent/tool", &[], Duration::from_secs(1)).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/tool"));
        let err = run("no-such-helper-here", &[], Duration::from_secs(1)).expect_err("missing");
        assert!(err.to_string().contains("no-such-helper-here"), "{err}");
    }

    #[test]
    fn helpers_are_found_in_system_directories_only() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("usr/local/sbin")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("usr/bin")).expect("mkdir");
        std::fs::write(dir.path().join("usr/local/sbin/systemctl"), "").expect("plant");
        assert!(resolve("systemctl", dir.path()).is_err());
        std::fs::write(dir.path().join("usr/bin/systemctl"), "").expect("real");
        assert_eq!(
            resolve("systemctl", dir.path()).expect("found"),
            "/usr/bin/systemctl"
        );
    }

    #[test]
    fn no_controlling_terminal_no_stdin_and_no_inherited_descriptors() {
        // A descriptor without CLOEXEC, as a parent shell might leave one.
        let leaked = nix::fcntl::open(
            "/dev/null",
            nix::fcntl::OFlag::O_RDONLY,
            nix::sys::stat::Mode::empty(),
        )
        .expect("open");
        let n = std::os::fd::AsRawFd::as_raw_fd(&leaked);
        let script = format!(
            "[ -e /proc/$$/fd/{n} ] && echo inherited || echo not-inherited; \
             (exec 3</dev/tty) 2>/dev/null && echo tty || echo no-tty; read x && echo read || echo eof"
        );
        let out = run("sh", &["-c", &script], Duration::from_secs(5)).expect("runs");
        assert!(out.stdout.contains("not-inherited"), "{}", out.stdout);
        assert!(out.stdout.contains("no-tty"), "{}", out.stdout);
        assert!(out.stdout.contains("eof"), "{}", out.stdout);
        drop(leaked);
    }

    #[test]
    fn output_is_kept_up_to_a_bound() {
        let out = run(
            "sh",
            &["-c", "head -c 3000000 /dev/zero | tr '\\0' x"],
            Duration::from_secs(20),
        )
        .expect("runs");
        assert!(out.success());
        assert_eq!(out.stdout.len(), OUTPUT_LIMIT);
    }

    #[test]
    fn a_leftover_holding_the_output_does_not_hold_the_run() {
        // The program exits at once; a child in a session of its own keeps
        // stdout open past the timeout.
        let started = Instant::now();
        let res = run(
            "sh",
            &["-c", "setsid sleep 4 & echo started"],
            Duration::from_secs(2),
        );
        assert!(started.elapsed() < Duration::from_secs(10), "{res:?}");
        let err = res.expect_err("the leftover is reported");
        assert!(err.to_string().contains("left processes"), "{err}");
    }

    /// The confined-run tests sweep the same user's processes: one at a time.
    static CONFINED_TESTS: Mutex<()> = Mutex::new(());

    #[test]
    fn a_confined_program_takes_everything_it_started_with_it() {
        if !nix::unistd::geteuid().is_root() {
            return; // confining as another user needs root; the suite runs as root
        }
        let _one_at_a_time = CONFINED_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        // With a PID namespace, and with the subreaper sweep that stands in
        // where a unit forbids namespaces.
        for (n, pid_namespace) in [(0, true), (1, false)] {
            let marker = format!("sleep {}", 3000 + n + 2 * (std::process::id() % 500));
            let left = || {
                std::thread::sleep(Duration::from_millis(200));
                let out = std::process::Command::new("pgrep")
                    .args(["-fx", &marker])
                    .output()
                    .expect("pgrep");
                String::from_utf8_lossy(&out.stdout).into_owned()
            };
            // `script` as nobody, confined, within `timeout`.
            let as_nobody = |script: &str, timeout: Duration| {
                let args = ["-c", script];
                run_invocation(&Invocation {
                    user: Some(Identity {
                        uid: 65534,
                        gid: 65534,
                    }),
                    pid_namespace,
                    ..Invocation::new("sh", &args, timeout)
                })
            };
            let started = Instant::now();
            let err = as_nobody(
                &format!("(setsid sh -c '{marker}' &) ; echo forked; sleep 300"),
                Duration::from_secs(2),
            )
            .expect_err("times out");
            assert!(err.to_string().contains("did not finish"), "{err}");
            assert!(started.elapsed() < Duration::from_secs(10));
            assert_eq!(left(), "", "a double-forked process outlived its run");
            // Ended normally, the same.
            let out = as_nobody(
                &format!("(setsid sh -c '{marker}' &) ; echo done"),
                Duration::from_secs(5),
            )
            .expect("runs");
            assert_eq!(out.stdout, "done\n", "pid namespace: {pid_namespace}");
            assert_eq!(left(), "", "pid namespace: {pid_namespace}");
        }
    }

    /// Proofs run in parallel as the same user: one ending must not sweep
    /// away another still running (the sweep kills every process of the
    /// user below nbwarden), and what it left is still killed once the
    /// last run ends.
    #[test]
    fn a_sweep_waits_for_the_other_confined_runs() {
        if !nix::unistd::geteuid().is_root() {
            return; // confining as another user needs root; the suite runs as root
        }
        let _one_at_a_time = CONFINED_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        let marker = format!("sleep {}", 4000 + std::process::id() % 500);
        let scripts = [
            "sleep 1; echo alive".to_string(),
            format!("(setsid sh -c '{marker}' >/dev/null 2>&1 &) ; echo left"),
        ];
        let outs = crate::base::parallel::map_with(2, &scripts, |script| {
            let args = ["-c", script.as_str()];
            run_invocation(&Invocation {
                user: Some(Identity {
                    uid: 65534,
                    gid: 65534,
                }),
                pid_namespace: false,
                ..Invocation::new("sh", &args, Duration::from_secs(10))
            })
        });
        let outs: Vec<String> = outs
            .into_iter()
            .map(|o| o.map(|o| o.stdout).unwrap_or_else(|e| format!("{e:#}")))
            .collect();
        assert_eq!(
            outs,
            ["alive\n", "left\n"],
            "a run was swept away mid-flight"
        );
        std::thread::sleep(Duration::from_millis(200));
        let left = std::process::Command::new("pgrep")
            .args(["-fx", &marker])
            .output()
            .expect("pgrep");
        assert!(left.stdout.is_empty(), "the leftover outlived every run");
    }
}
