//! Network verbs: a name resolved within a time bound, and a TCP
//! connection made as another user (egress rules can match the user: a
//! barrier proven for root is not proven for the notebook user), directly
//! or through an HTTP proxy's `CONNECT`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::libc;

use super::command::Identity;

/// `host:port` resolved, within `timeout` (name resolution has no timeout
/// of its own: a thread bounds it).
pub fn resolve(target: &str, timeout: Duration) -> Result<Vec<SocketAddr>, String> {
    let (tx, rx) = mpsc::channel();
    let name = target.to_string();
    std::thread::spawn(move || {
        let _ = tx.send(name.to_socket_addrs().map(|a| a.collect::<Vec<_>>()));
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
        Ok(Ok(_)) => Err("no address".into()),
        Ok(Err(e)) => Err(format!("does not resolve ({e})")),
        Err(_) => Err("name resolution timed out".into()),
    }
}

/// What one connection attempt showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Connected (through the proxy: it answered 200 to `CONNECT`).
    Reached,
    /// Refused, unreachable, timed out, or the proxy refused the tunnel.
    Blocked(String),
}

/// A socket address as the kernel takes it, built before the fork.
struct RawAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
    family: libc::c_int,
}

fn raw(addr: &SocketAddr) -> RawAddr {
    // SAFETY: an all-zero sockaddr_storage is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in fits in sockaddr_storage.
            unsafe { std::ptr::write((&raw mut storage).cast(), sin) };
            RawAddr {
                storage,
                len: std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                family: libc::AF_INET,
            }
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_in6 fits in sockaddr_storage.
            unsafe { std::ptr::write((&raw mut storage).cast(), sin6) };
            RawAddr {
                storage,
                len: std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                family: libc::AF_INET6,
            }
        }
    }
}

// Exit codes of the connecting child.
const REACHED: i32 = 0;
const REFUSED: i32 = 1;
const TIMED_OUT: i32 = 2;
const SETUP_FAILED: i32 = 3;
const TUNNEL_REFUSED: i32 = 4;

/// Waits for `fd` to be ready for `events`, up to `ms`. Async-signal-safe.
unsafe fn ready(fd: libc::c_int, events: libc::c_short, ms: libc::c_int) -> bool {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one pollfd we own.
    unsafe { libc::poll(&mut p, 1, ms) == 1 }
}

/// The child's whole life: become `id`, connect, tunnel, exit with the
/// outcome. Only async-signal-safe calls on data prepared before the fork.
unsafe fn connect_child(
    id: Option<Identity>,
    addr: &RawAddr,
    request: Option<&[u8]>,
    ms: libc::c_int,
) -> ! {
    // SAFETY: system calls on integers and on buffers we own.
    unsafe {
        if let Some(id) = id {
            let groups = [id.gid as libc::gid_t];
            if libc::setgroups(1, groups.as_ptr()) != 0
                || libc::setresgid(id.gid, id.gid, id.gid) != 0
                || libc::setresuid(id.uid, id.uid, id.uid) != 0
            {
                libc::_exit(SETUP_FAILED);
            }
        }
        let fd = libc::socket(
            addr.family,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        );
        if fd < 0 {
            libc::_exit(SETUP_FAILED);
        }
        let r = libc::connect(fd, (&raw const addr.storage).cast(), addr.len);
        if r != 0 {
            if *libc::__errno_location() != libc::EINPROGRESS {
                libc::_exit(REFUSED);
            }
            if !ready(fd, libc::POLLOUT, ms) {
                libc::_exit(TIMED_OUT);
            }
            let mut err: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            if libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&raw mut err).cast(),
                &mut len,
            ) != 0
                || err != 0
            {
                libc::_exit(REFUSED);
            }
        }
        let Some(request) = request else {
            libc::_exit(REACHED);
        };
        if libc::write(fd, request.as_ptr().cast(), request.len()) != request.len() as isize {
            libc::_exit(TUNNEL_REFUSED);
        }
        if !ready(fd, libc::POLLIN, ms) {
            libc::_exit(TIMED_OUT);
        }
        let mut buf = [0u8; 32];
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        // "HTTP/1.1 200 …": a tunnel was opened.
        if n >= 12 && buf[..7] == *b"HTTP/1." && buf[8] == b' ' && buf[9..12] == *b"200" {
            libc::_exit(REACHED);
        }
        libc::_exit(TUNNEL_REFUSED);
    }
}

/// Connects to `addr` as `id` (`None`: as nbwarden's own user) within
/// `timeout`; with `tunnel`, `addr` is an HTTP proxy asked to `CONNECT`
/// to that `host:port`. The attempt runs in a child that takes the
/// user's identity and does nothing else (no program is run).
pub fn connect_as(
    id: Option<Identity>,
    addr: SocketAddr,
    tunnel: Option<&str>,
    timeout: Duration,
) -> Result<Reach, String> {
    let target = raw(&addr);
    let request = tunnel.map(|t| format!("CONNECT {t} HTTP/1.1\r\nHost: {t}\r\n\r\n").into_bytes());
    let ms = timeout.as_millis().min(60_000) as libc::c_int;
    // SAFETY: the child runs only connect_child, which makes
    // async-signal-safe calls on the data above, and never returns.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("cannot fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        // SAFETY: see above.
        unsafe { connect_child(id, &target, request.as_deref(), ms) };
    }
    // The child's own poll ends it; a child stopped or traced past twice
    // that is killed.
    let until = Instant::now() + timeout * 2 + Duration::from_secs(1);
    let mut status = 0;
    loop {
        // SAFETY: waits only for the child forked above.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break;
        }
        if r < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return Err(format!(
                "cannot wait for the connection attempt: {}",
                std::io::Error::last_os_error()
            ));
        }
        if Instant::now() >= until {
            // SAFETY: a signal to, then a wait for, our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return Err("the connection attempt did not end and was killed".into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    if !libc::WIFEXITED(status) {
        return Err(format!(
            "the connection attempt was ended by signal {}",
            libc::WTERMSIG(status)
        ));
    }
    match libc::WEXITSTATUS(status) {
        REACHED => Ok(Reach::Reached),
        REFUSED => Ok(Reach::Blocked("refused or unreachable".into())),
        TIMED_OUT => Ok(Reach::Blocked(format!("no answer within {timeout:?}"))),
        TUNNEL_REFUSED => Ok(Reach::Blocked("the proxy did not open a tunnel".into())),
        _ => Err("could not take the user's identity to connect".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    #[test]
    fn a_listener_is_reached_and_a_closed_port_is_not() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let open = listener.local_addr().expect("addr");
        assert_eq!(
            connect_as(None, open, None, Duration::from_secs(2)),
            Ok(Reach::Reached)
        );
        drop(listener);
        assert!(matches!(
            connect_as(None, open, None, Duration::from_secs(2)),
            Ok(Reach::Blocked(_))
        ));
    }

    #[test]
    fn a_proxy_is_reached_only_when_it_opens_the_tunnel() {
        for (answer, reached) in [
            ("HTTP/1.1 200 Connection established\r\n\r\n", true),
            ("HTTP/1.1 403 Forbidden\r\n\r\n", false),
        ] {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = listener.local_addr().expect("addr");
            let server = std::thread::spawn(move || {
                let (mut s, _) = listener.accept().expect("accept");
                let mut buf = [0u8; 256];
                let n = s.read(&mut buf).expect("read");
                let _ = s.write_all(answer.as_bytes());
                String::from_utf8_lossy(&buf[..n]).into_owned()
            });
            let got = connect_as(None, addr, Some("pypi.org:443"), Duration::from_secs(2));
            let asked = server.join().expect("server");
            assert!(
                asked.starts_with("CONNECT pypi.org:443 HTTP/1.1\r\n"),
                "{asked}"
            );
            assert_eq!(got == Ok(Reach::Reached), reached, "{answer}: {got:?}");
        }
    }
}
