//! The barrier: what makes the mirror more than a default. The public
//! indexes must be unreachable as the notebook user (egress rules can
//! match the user), directly and through every proxy the user's clients
//! name (a proxy the user names is a route). The verdict says which was
//! proven: "enforced", or "default only, not enforced" and why.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;

use crate::engine::{Probe, ProbeResult};
use crate::host::command::Identity;
use crate::host::net::{self, Reach};
use crate::host::{Host, User};
use crate::policy::{Enforce, HostPort};

const TIMEOUT: Duration = Duration::from_secs(2);

/// The proxies the user's clients name, as the real clients resolved them
/// (filled by the resolution, which runs before this check); `None` while
/// they were not asked.
pub type Proxies = Arc<Mutex<Option<BTreeSet<String>>>>;

pub struct Barrier {
    pub targets: Vec<HostPort>,
    pub enforce: Enforce,
    pub user: User,
    pub proxies: Proxies,
}

/// A route to one public index: directly, or through a proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Direct,
    Proxy(String),
}

/// An HTTP proxy URL's `host:port` (the port from the scheme when absent);
/// `Err` for a proxy that is not spoken here (SOCKS).
fn proxy_address(proxy: &str) -> Result<String, String> {
    let with_scheme = if proxy.contains("://") {
        proxy.to_string()
    } else {
        format!("http://{proxy}")
    };
    let url = url::Url::parse(&with_scheme).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "a {} proxy, which nbwarden cannot test",
            url.scheme()
        ));
    }
    let host = url.host_str().ok_or("no host")?;
    let port = url.port_or_known_default().unwrap_or(80);
    Ok(format!("{host}:{port}"))
}

/// Whether `target` is reachable by `route`, as `id`.
fn reach(id: Option<Identity>, target: &str, route: &Route) -> Result<Reach, String> {
    let (dial, tunnel) = match route {
        Route::Direct => (target.to_string(), None),
        Route::Proxy(p) => (proxy_address(p)?, Some(target)),
    };
    let addrs: Vec<SocketAddr> = match net::resolve(&dial, TIMEOUT) {
        Ok(a) => a,
        // A name that does not resolve cannot be reached directly; a proxy
        // that does not resolve carries nothing.
        Err(e) => return Ok(Reach::Blocked(e)),
    };
    let mut last = Reach::Blocked("no address".into());
    for addr in addrs {
        match net::connect_as(id, addr, tunnel, TIMEOUT)? {
            Reach::Reached => return Ok(Reach::Reached),
            blocked => last = blocked,
        }
    }
    Ok(last)
}

impl Probe for Barrier {
    fn describe(&self) -> String {
        "mirror".into()
    }

    fn check(&self, host: &Host) -> Result<ProbeResult> {
        let mut open: Vec<String> = Vec::new();
        let mut details = Vec::new();
        let id = if host.euid() == 0 {
            Some(Identity {
                uid: self.user.uid,
                gid: self.user.gid,
            })
        } else if host.euid() == self.user.uid {
            None
        } else {
            open.push(format!("connections as {} need root", self.user.name));
            None
        };
        let proxies = self
            .proxies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut routes = vec![Route::Direct];
        match &proxies {
            Some(p) => routes.extend(p.iter().cloned().map(Route::Proxy)),
            None => open.push(
                "the proxies the user's clients name were not asked (probe = \"off\", or no \
                 [packages.pip])"
                    .into(),
            ),
        }
        if self.targets.is_empty() {
            open.push("no public_indexes to prove unreachable".into());
        }
        if open.is_empty() {
            let jobs: Vec<_> = self
                .targets
                .iter()
                .flat_map(|t| {
                    routes
                        .iter()
                        .map(move |r| (t.as_str().to_string(), r.clone()))
                })
                .map(|(target, route)| {
                    std::thread::spawn(move || {
                        let got = reach(id, &target, &route);
                        (target, route, got)
                    })
                })
                .collect();
            for job in jobs {
                let Ok((target, route, got)) = job.join() else {
                    open.push("a connection attempt failed".into());
                    continue;
                };
                let how = match &route {
                    Route::Direct => "directly".to_string(),
                    Route::Proxy(p) => format!("through the proxy {p}"),
                };
                match got {
                    Ok(Reach::Blocked(why)) => {
                        details.push(format!("{target}: blocked {how} ({why})"))
                    }
                    Ok(Reach::Reached) => {
                        details.push(format!("{target}: REACHABLE {how}"));
                        open.push(format!("{target} is reachable {how}"));
                    }
                    Err(e) => {
                        details.push(format!("{target}: not checked {how} ({e})"));
                        open.push(format!("{target} was not checked {how}: {e}"));
                    }
                }
            }
        }
        details.push(
            "poetry: no system-wide setting chooses its index (a project's sources, else \
             pypi.org): held only by this barrier"
                .into(),
        );
        let n_proxies = proxies.as_ref().map_or(0, BTreeSet::len);
        let evidence = if open.is_empty() {
            format!(
                "enforced: {} unreachable as {}, directly and through {n_proxies} proxy(ies) \
                 its clients name",
                self.targets
                    .iter()
                    .map(HostPort::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
                self.user.name
            )
        } else {
            let by_policy = if self.enforce == Enforce::Default {
                " (enforce = \"default\")"
            } else {
                ""
            };
            format!("default only, not enforced{by_policy}: {}", open.join("; "))
        };
        Ok(ProbeResult {
            passed: open.is_empty() || self.enforce == Enforce::Default,
            evidence,
            details,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::proxy_address;

    #[test]
    fn proxies_are_dialled_where_their_clients_would() {
        assert_eq!(
            proxy_address("http://proxy.corp:3128"),
            Ok("proxy.corp:3128".into())
        );
        assert_eq!(proxy_address("proxy.corp"), Ok("proxy.corp:80".into()));
        assert_eq!(
            proxy_address("https://u:p@proxy.corp"),
            Ok("proxy.corp:443".into())
        );
        assert!(proxy_address("socks5://127.0.0.1:1080").is_err());
    }
}
