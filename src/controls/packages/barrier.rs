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
use crate::host::net::{self, NetIdentity, ProxyAsk, Reach};
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
    /// Proxies that exist on the network (the policy's): tested whatever
    /// the user's clients say.
    pub known_proxies: Vec<String>,
    pub proxies: Proxies,
}

/// A route to one public index: directly, or through a proxy asked one way.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Direct,
    Proxy(String, ProxyAsk),
}

/// A proxy URL with any password replaced, for reports.
pub(super) fn redacted(proxy: &str) -> String {
    match url::Url::parse(proxy) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("****"));
            u.to_string()
        }
        _ => proxy.to_string(),
    }
}

/// An HTTP proxy URL's `host:port` (the port from the scheme when absent)
/// and credentials; `Err` for a proxy that is not spoken here (SOCKS).
fn proxy_address(proxy: &str) -> Result<(String, Option<(String, String)>), String> {
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
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let credentials = (!url.username().is_empty()).then(|| {
        (
            decode(url.username()),
            decode(url.password().unwrap_or_default()),
        )
    });
    Ok((format!("{host}:{port}"), credentials))
}

/// Whether `target` is reachable by `route`, as `id`.
fn reach(id: Option<&NetIdentity>, target: &str, route: &Route) -> Result<Reach, String> {
    let (dial, request) = match route {
        Route::Direct => (target.to_string(), None),
        Route::Proxy(p, ask) => {
            let (addr, credentials) = proxy_address(p)?;
            let creds = credentials.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
            (addr, Some((ask, net::proxy_request(ask, target, creds))))
        }
    };
    let addrs: Vec<SocketAddr> = match net::resolve(&dial, TIMEOUT) {
        Ok(a) => a,
        // A name that does not resolve cannot be reached directly; a proxy
        // that does not resolve carries nothing.
        Err(e) => return Ok(Reach::Blocked(e)),
    };
    let mut last = Reach::Blocked("no address".into());
    for addr in addrs {
        let proxy = request
            .as_ref()
            .map(|(ask, bytes)| (*ask, bytes.as_slice()));
        match net::connect_as(id, addr, proxy, TIMEOUT)? {
            Reach::Blocked(why) => last = Reach::Blocked(why),
            other => return Ok(other),
        }
    }
    Ok(last)
}

impl Barrier {
    /// Who the user can connect as: its uid with each group it can take
    /// (`sg`, `newgrp`) as the running group, all its groups held (an
    /// egress rule can match the group, or a supplementary one).
    fn identities(&self, host: &Host) -> Result<Vec<Option<NetIdentity>>, String> {
        if host.euid() == self.user.uid {
            return Ok(vec![None]);
        }
        if host.euid() != 0 {
            return Err(format!("connections as {} need root", self.user.name));
        }
        let mut groups = vec![self.user.gid];
        if let Ok(accounts) = host.accounts() {
            groups.extend(accounts.groups_of(&self.user.name).iter().map(|g| g.gid));
        }
        groups.sort_unstable();
        groups.dedup();
        Ok(groups
            .iter()
            .map(|gid| {
                Some(NetIdentity {
                    uid: self.user.uid,
                    gid: *gid,
                    groups: groups.clone(),
                })
            })
            .collect())
    }
}

impl Probe for Barrier {
    fn describe(&self) -> String {
        "mirror".into()
    }

    // Long: the barrier's proof is a sequence (resolve, connect, compare) whose steps share the
    // evidence they build.
    fn check(&self, host: &Host) -> Result<ProbeResult> {
        let mut open: Vec<String> = Vec::new();
        let mut details = Vec::new();
        let ids = match self.identities(host) {
            Ok(ids) => ids,
            Err(e) => {
                open.push(e);
                Vec::new()
            }
        };
        let asked = self
            .proxies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut proxies: BTreeSet<String> = self.known_proxies.iter().cloned().collect();
        match &asked {
            Some(p) => proxies.extend(p.iter().cloned()),
            None => open.push(
                "the proxies the user's clients name were not asked (probe = \"off\", or no \
                 [packages.pip])"
                    .into(),
            ),
        }
        let mut routes = vec![Route::Direct];
        for p in &proxies {
            routes.push(Route::Proxy(p.clone(), ProxyAsk::Connect));
            routes.push(Route::Proxy(p.clone(), ProxyAsk::Get));
        }
        if self.targets.is_empty() {
            open.push("no public_indexes to prove unreachable".into());
        }
        let mut jobs = Vec::new();
        for target in &self.targets {
            for route in &routes {
                for id in &ids {
                    let (target, route, id) =
                        (target.as_str().to_string(), route.clone(), id.clone());
                    jobs.push(std::thread::spawn(move || {
                        let got = reach(id.as_ref(), &target, &route);
                        (target, route, id, got)
                    }));
                }
            }
        }
        let mut seen = BTreeSet::new();
        for job in jobs {
            let Ok((target, route, id, got)) = job.join() else {
                open.push("a connection attempt failed".into());
                continue;
            };
            let how = match &route {
                Route::Direct => "directly".to_string(),
                Route::Proxy(p, ProxyAsk::Connect) => {
                    format!("through the proxy {} (CONNECT)", redacted(p))
                }
                Route::Proxy(p, ProxyAsk::Get) => {
                    format!("through the proxy {} (a forwarded request)", redacted(p))
                }
            };
            let who = match id.as_ref() {
                Some(id) if id.gid != self.user.gid => format!(" as group {}", id.gid),
                _ => String::new(),
            };
            let (line, problem) = match got {
                Ok(Reach::Blocked(why)) => (format!("{target}: blocked {how}{who} ({why})"), None),
                Ok(Reach::Reached) => (
                    format!("{target}: REACHABLE {how}{who}"),
                    Some(format!("{target} is reachable {how}{who}")),
                ),
                Ok(Reach::Unproven(why)) => (
                    format!("{target}: not proven {how}{who} ({why})"),
                    Some(format!(
                        "{target} is not proven unreachable {how}{who}: {why}"
                    )),
                ),
                Err(e) => (
                    format!("{target}: not checked {how}{who} ({e})"),
                    Some(format!("{target} was not checked {how}{who}: {e}")),
                ),
            };
            if seen.insert(line.clone()) {
                details.push(line);
            }
            open.extend(problem);
        }
        details.push(
            "poetry: no system-wide setting chooses its index (a project's sources, else \
             pypi.org): held only by this barrier"
                .into(),
        );
        let evidence = if open.is_empty() {
            format!(
                "enforced: {} unreachable as {}, directly and through {} proxy(ies)",
                self.targets
                    .iter()
                    .map(HostPort::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
                self.user.name,
                proxies.len()
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
            skipped: false,
            evidence,
            details,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{proxy_address, redacted};

    #[test]
    fn proxies_are_dialled_where_their_clients_would() {
        assert_eq!(
            proxy_address("http://proxy.corp:3128"),
            Ok(("proxy.corp:3128".into(), None))
        );
        assert_eq!(
            proxy_address("proxy.corp"),
            Ok(("proxy.corp:80".into(), None))
        );
        assert_eq!(
            proxy_address("https://al%40ice:s3cret@proxy.corp"),
            Ok((
                "proxy.corp:443".into(),
                Some(("al@ice".into(), "s3cret".into()))
            ))
        );
        assert!(proxy_address("socks5://127.0.0.1:1080").is_err());
        assert_eq!(
            redacted("http://alice:s3cret@proxy.corp:3128"),
            "http://alice:****@proxy.corp:3128/"
        );
    }
}
