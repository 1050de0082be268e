//! Network verbs: a name resolved within a time bound, and a TCP
//! connection made as another user (egress rules can match the user: a
//! barrier proven for root is not proven for the notebook user), directly
//! or through an HTTP proxy's `CONNECT`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::libc;

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
    /// Connected (through a proxy: it opened the tunnel, or the target
    /// answered the forwarded request).
    Reached,
    /// Refused, unreachable, timed out, or the proxy refused the target.
    Blocked(String),
    /// Neither: the proxy wants credentials nbwarden does not have, or
    /// answered something that is not HTTP.
    Unproven(String),
}

/// Who connects: the uid, the group it runs as, and its other groups (an
/// egress rule can match any of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetIdentity {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

/// How a proxy is asked for a target: a tunnel (`CONNECT`), or a request
/// it forwards (`GET http://target/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyAsk {
    Connect,
    Get,
}

/// The request a proxy gets for `target` (`host:port`), with the proxy
/// URL's credentials when it has them.
pub fn proxy_request(ask: &ProxyAsk, target: &str, credentials: Option<(&str, &str)>) -> Vec<u8> {
    use base64::Engine;
    let auth = credentials
        .map(|(u, p)| {
            format!(
                "Proxy-Authorization: Basic {}\r\n",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        })
        .unwrap_or_default();
    match ask {
        ProxyAsk::Connect => {
            format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{auth}\r\n").into_bytes()
        }
        ProxyAsk::Get => format!(
            "GET http://{target}/ HTTP/1.1\r\nHost: {target}\r\n{auth}Connection: close\r\n\r\n"
        )
        .into_bytes(),
    }
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
const PROXY_REFUSED: i32 = 4;
const UNPROVEN: i32 = 5;

/// What a proxy's status line says, for a tunnel or a forwarded request.
/// Async-signal-safe: byte comparisons only.
fn judge_status(line: &[u8], forwarded: bool) -> i32 {
    if line.len() < 12 || line[..7] != *b"HTTP/1." || line[8] != b' ' {
        return UNPROVEN;
    }
    let code = &line[9..12];
    if code == b"407" {
        return UNPROVEN;
    }
    if !forwarded {
        return if code == b"200" {
            REACHED
        } else {
            PROXY_REFUSED
        };
    }
    // The proxy's own refusals; anything else came from the target.
    if code == b"403" || code[0] == b'5' {
        PROXY_REFUSED
    } else {
        REACHED
    }
}

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
    id: Option<&NetIdentity>,
    addr: &RawAddr,
    request: Option<(&[u8], bool)>,
    ms: libc::c_int,
) -> ! {
    // SAFETY: system calls on integers and on buffers we own.
    unsafe {
        if let Some(id) = id
            && (libc::setgroups(id.groups.len(), id.groups.as_ptr()) != 0
                || libc::setresgid(id.gid, id.gid, id.gid) != 0
                || libc::setresuid(id.uid, id.uid, id.uid) != 0)
        {
            libc::_exit(SETUP_FAILED);
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
        let Some((request, forwarded)) = request else {
            libc::_exit(REACHED);
        };
        if libc::write(fd, request.as_ptr().cast(), request.len()) != request.len() as isize {
            libc::_exit(PROXY_REFUSED);
        }
        if !ready(fd, libc::POLLIN, ms) {
            libc::_exit(TIMED_OUT);
        }
        let mut buf = [0u8; 32];
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        let n = if n > 0 { n as usize } else { 0 };
        libc::_exit(judge_status(&buf[..n], forwarded));
    }
}

/// Connects to `addr` as `id` (`None`: as nbwarden's own user) within
/// `timeout`; with `proxy`, `addr` is an HTTP proxy sent that request
/// ([`proxy_request`]). The attempt runs in a child that takes the user's
/// identity and does nothing else (no program is run).
pub fn connect_as(
    id: Option<&NetIdentity>,
    addr: SocketAddr,
    proxy: Option<(&ProxyAsk, &[u8])>,
    timeout: Duration,
) -> Result<Reach, String> {
    let target = raw(&addr);
    let request = proxy.map(|(ask, bytes)| (bytes, *ask == ProxyAsk::Get));
    let ms = timeout.as_millis().min(60_000) as libc::c_int;
    // SAFETY: the child runs only connect_child, which makes
    // async-signal-safe calls on the data above, and never returns.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("cannot fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        // SAFETY: see above.
        unsafe { connect_child(id, &target, request, ms) };
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
        PROXY_REFUSED => Ok(Reach::Blocked("the proxy refused it".into())),
        UNPROVEN => Ok(Reach::Unproven(
            "the proxy asked for credentials nbwarden does not have, or did not answer HTTP".into(),
        )),
        _ => Err("could not take the user's identity to connect".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn a_forwarded_request_reached_the_target_unless_the_proxy_refused() {
        assert_eq!(
            judge_status(b"HTTP/1.1 200 Connection established", false),
            REACHED
        );
        assert_eq!(judge_status(b"HTTP/1.0 403 Filtered", false), PROXY_REFUSED);
        assert_eq!(judge_status(b"HTTP/1.1 404 Not Found", true), REACHED);
        assert_eq!(
            judge_status(b"HTTP/1.1 502 Bad Gateway", true),
            PROXY_REFUSED
        );
        assert_eq!(judge_status(b"HTTP/1.1 407 Proxy Auth", true), UNPROVEN);
        assert_eq!(judge_status(b"SSH-2.0-OpenSSH", true), UNPROVEN);
        let r = String::from_utf8(proxy_request(&ProxyAsk::Get, "h:80", Some(("u", "p"))))
            .expect("text");
        assert!(r.starts_with("GET http://h:80/ HTTP/1.1\r\n"), "{r}");
        assert!(r.contains("Proxy-Authorization: Basic dTpw\r\n"), "{r}");
    }
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
            let request = proxy_request(&ProxyAsk::Connect, "pypi.org:443", None);
            let got = connect_as(
                None,
                addr,
                Some((&ProxyAsk::Connect, &request)),
                Duration::from_secs(2),
            );
            let asked = server.join().expect("server");
            assert!(
                asked.starts_with("CONNECT pypi.org:443 HTTP/1.1\r\n"),
                "{asked}"
            );
            assert_eq!(got == Ok(Reach::Reached), reached, "{answer}: {got:?}");
        }
    }
}
