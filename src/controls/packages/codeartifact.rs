//! `[packages.codeartifact]`: pip's index is a CodeArtifact repository
//! whose URL carries a token from `GetAuthorizationToken`. The token is
//! cached root-only in /var/lib/nbwarden and replaced when less than
//! `refresh_before` of it is left, so repeated runs change nothing and
//! `nbwarden-codeartifact.timer` keeps it fresh; `verify` reports a token
//! that is about to expire as drift. The token is never logged, diffed or
//! reported (the files holding it are marked sensitive).
//!
//! The trade-off: pip runs as the notebook user, so pip.conf (and the token
//! in it) is world-readable, like the credentials pip would otherwise get
//! from `aws codeartifact login`. The token only reads packages and expires.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
use serde::{Deserialize, Serialize};

use crate::engine::{Action, ActionOutcome, ActionState, Context, ManagedFile};
use crate::host::Host;
use crate::policy::{CodeArtifactPolicy, MirrorUrl, PipPolicy};

const CACHE: &str = "/var/lib/nbwarden/codeartifact-token.json";
/// CodeArtifact's longest token.
const MAX_DURATION_S: u64 = 12 * 3600;

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Cached {
    domain: String,
    domain_owner: String,
    repository: String,
    token: String,
    expires_at: u64,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Checks the section before anything runs (exit 2 on a mistake).
pub fn check(ca: &CodeArtifactPolicy) -> Result<(), String> {
    let domain_ok = ca.domain.len() >= 2
        && ca.domain.len() <= 50
        && ca.domain.starts_with(|c: char| c.is_ascii_lowercase())
        && ca
            .domain
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !domain_ok {
        return Err(format!(
            "codeartifact.domain {:?} is not a CodeArtifact domain name",
            ca.domain
        ));
    }
    if ca.domain_owner.len() != 12 || !ca.domain_owner.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "codeartifact.domain_owner {:?} is not a 12-digit account id",
            ca.domain_owner
        ));
    }
    let repo_ok = (2..=100).contains(&ca.repository.len())
        && ca
            .repository
            .starts_with(|c: char| c.is_ascii_alphanumeric())
        && ca
            .repository
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !repo_ok {
        return Err(format!(
            "codeartifact.repository {:?} is not a repository name",
            ca.repository
        ));
    }
    let d = ca.duration.duration().as_secs();
    if !(900..=MAX_DURATION_S).contains(&d) {
        return Err("codeartifact.duration must be between 15m and 12h".into());
    }
    if ca.refresh_before.duration().as_secs() >= d {
        return Err("codeartifact.refresh_before must be shorter than duration".into());
    }
    Ok(())
}

/// The repository's pip index, without a token.
pub fn repository_url(ca: &CodeArtifactPolicy, region: &str) -> Result<url::Url> {
    url::Url::parse(&format!(
        "https://{}-{}.d.codeartifact.{region}.amazonaws.com/pypi/{}/simple/",
        ca.domain, ca.domain_owner, ca.repository
    ))
    .context("cannot build the CodeArtifact URL")
}

/// `pip` with its index replaced by the repository's URL and token, the
/// token cache to write, and a note for the report (never the token).
pub fn pip_with_token(
    ctx: &Context<'_>,
    pip: &PipPolicy,
    ca: &CodeArtifactPolicy,
) -> Result<(PipPolicy, ManagedFile, String)> {
    let cached: Option<Cached> = ctx
        .host
        .read(Path::new(CACHE))?
        .and_then(|f| serde_json::from_slice(&f.content).ok());
    let margin = ca.refresh_before.duration().as_secs();
    let usable = cached.filter(|c| {
        c.domain == ca.domain
            && c.domain_owner == ca.domain_owner
            && c.repository == ca.repository
            && c.expires_at > now() + margin
    });
    let (cached, note) = match usable {
        Some(c) => {
            let note = format!("CodeArtifact token valid until {}", stamp(c.expires_at));
            (c, note)
        }
        None => {
            let t = ctx.aws.codeartifact_token(
                &ca.domain,
                &ca.domain_owner,
                ca.duration.duration().as_secs(),
            )?;
            if t.expires_at <= now() + margin {
                bail!(
                    "CodeArtifact gave a token that expires at {}, within refresh_before: lower \
                     refresh_before or raise duration",
                    stamp(t.expires_at)
                );
            }
            let note = format!(
                "new CodeArtifact token, valid until {} (the previous one was missing or due)",
                stamp(t.expires_at)
            );
            let c = Cached {
                domain: ca.domain.clone(),
                domain_owner: ca.domain_owner.clone(),
                repository: ca.repository.clone(),
                token: t.token,
                expires_at: t.expires_at,
            };
            (c, note)
        }
    };
    let mut url = repository_url(ca, &ctx.aws.region()?)?;
    let _ = url.set_username("aws");
    let _ = url.set_password(Some(&cached.token));
    let mut with_token = pip.clone();
    with_token.index_url = MirrorUrl::try_from(url.to_string())
        .map_err(|e| anyhow::anyhow!("the CodeArtifact URL is not usable: {e}"))?;
    with_token.credentials_in_urls = true;
    let mut text = serde_json::to_vec_pretty(&cached)?;
    text.push(b'\n');
    let cache = ManagedFile {
        sensitive: true,
        ..ManagedFile::root_owned(CACHE, text, 0o600)
    };
    Ok((with_token, cache, note))
}

fn stamp(unix: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + std::time::Duration::from_secs(unix)).to_string()
}

/// The refresh timer, `nbwarden-codeartifact.timer`: the shipped unit when
/// installed (RPM), else a transient timer made with `systemd-run`, so a
/// notebook that runs for days keeps a valid token.
pub struct RefreshTimer;

const TIMER: &str = "nbwarden-codeartifact";

impl Action for RefreshTimer {
    fn target(&self) -> String {
        format!("timer {TIMER}.timer")
    }

    fn state(&self, host: &Host) -> Result<ActionState> {
        if !host.systemd_runs()? {
            return Ok(ActionState::Done(
                "systemd does not run here: the next apply refreshes a due token".into(),
            ));
        }
        let out = host.systemctl(
            &["is-active", &format!("{TIMER}.timer")],
            std::time::Duration::from_secs(10),
        )?;
        Ok(if out.stdout.trim() == "active" {
            ActionState::Done("refreshes the token hourly when due".into())
        } else {
            ActionState::Needed("start the hourly token refresh".into())
        })
    }

    fn perform(&self, ctx: &Context<'_>) -> Result<ActionOutcome> {
        let host = ctx.host;
        let timeout = std::time::Duration::from_secs(20);
        let installed = host
            .systemctl(&["cat", &format!("{TIMER}.timer")], timeout)?
            .success();
        if installed {
            host.systemctl(&["--no-block", "start", &format!("{TIMER}.timer")], timeout)?
                .checked(&format!("starting {TIMER}.timer"))?;
            return Ok(ActionOutcome::Done(format!(
                "started the installed {TIMER}.timer"
            )));
        }
        host.run_nbwarden_in_unit(
            TIMER,
            &["apply", "--only", "packages", "--deadline", "60s", "-q"],
            Some("1h"),
        )?;
        Ok(ActionOutcome::Done(format!(
            "made a transient {TIMER}.timer (hourly) with systemd-run"
        )))
    }
}
