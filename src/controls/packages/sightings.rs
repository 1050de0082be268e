//! Overrides the monitor saw between checks. The monitor watches the
//! places the override search reads and searches again when one changes;
//! what it finds is kept here, root's, so that an index setting moved
//! aside for the length of a check and back after it is still a finding
//! at the check.

use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::host::{Host, Ownership};

/// Where the monitor keeps what it saw (root's state, rebuilt with the
/// system drive at every start).
pub const FILE: &str = "/var/lib/nbwarden/override-sightings.json";
/// How long a sighting counts after it was last seen.
pub const KEEP: Duration = Duration::from_secs(24 * 3600);
/// The most sightings kept: the newest win.
const MAX: usize = 100;

/// One override, as the search described it, and when it was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sighting {
    pub source: String,
    pub what: String,
    /// Seconds since the epoch.
    pub first_seen: u64,
    pub last_seen: u64,
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The kept sightings with those `found` now added or refreshed, the ones
/// not seen for [`KEEP`] dropped, the newest [`MAX`] kept.
pub fn merge(kept: Vec<Sighting>, found: &[(String, String)], now: SystemTime) -> Vec<Sighting> {
    let now = secs(now);
    let mut all: Vec<Sighting> = kept
        .into_iter()
        .filter(|s| now.saturating_sub(s.last_seen) < KEEP.as_secs())
        .collect();
    for (source, what) in found {
        match all
            .iter_mut()
            .find(|s| &s.source == source && &s.what == what)
        {
            Some(s) => s.last_seen = now,
            None => all.push(Sighting {
                source: source.clone(),
                what: what.clone(),
                first_seen: now,
                last_seen: now,
            }),
        }
    }
    all.sort_by_key(|s| std::cmp::Reverse(s.last_seen));
    all.truncate(MAX);
    all
}

/// The sightings that still count at `now`. A file that is not nbwarden's
/// own JSON counts as none (it is root's: only root writes it).
pub fn current(host: &Host, now: SystemTime) -> Result<Vec<Sighting>> {
    let Some(text) = host.read_text(Path::new(FILE))? else {
        return Ok(Vec::new());
    };
    let kept: Vec<Sighting> = serde_json::from_str(&text).unwrap_or_default();
    Ok(merge(kept, &[], now))
}

/// Adds what a search found now to the kept sightings.
pub fn record(host: &Host, found: &[(String, String)], now: SystemTime) -> Result<()> {
    let all = merge(current(host, now)?, found, now);
    let text = serde_json::to_vec_pretty(&all).context("sightings as JSON")?;
    host.write(Path::new(FILE), &text, Ownership::root(0o644), None)
}

/// When a sighting was last seen, for a report line (UTC).
pub fn when(s: &Sighting) -> String {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(s.last_seen);
    humantime::format_rfc3339_seconds(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(source: &str) -> (String, String) {
        (
            source.to_string(),
            "index-url = http://elsewhere/".to_string(),
        )
    }

    #[test]
    fn sightings_are_refreshed_kept_a_day_and_bounded() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let one = merge(Vec::new(), &[found("/h/.config/pip/pip.conf")], t0);
        assert_eq!(one.len(), 1);
        // Seen again an hour later: one sighting, refreshed.
        let t1 = t0 + Duration::from_secs(3600);
        let again = merge(one.clone(), &[found("/h/.config/pip/pip.conf")], t1);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].first_seen, one[0].first_seen);
        assert_eq!(again[0].last_seen, secs(t1));
        // Not seen again: kept just under a day after it was last seen.
        assert_eq!(
            merge(again.clone(), &[], t1 + KEEP - Duration::from_secs(1)).len(),
            1
        );
        assert!(merge(again, &[], t1 + KEEP).is_empty());
        // The newest win.
        let many: Vec<(String, String)> = (0..150).map(|i| found(&format!("/f{i}"))).collect();
        let bounded = merge(one, &many, t1);
        assert_eq!(bounded.len(), MAX);
        assert!(bounded.iter().all(|s| s.last_seen == secs(t1)));
    }
}
