//! Between rounds: the places the override search reads are watched
//! (inotify); when one changes the monitor searches again and keeps what
//! it finds, so an index setting put back after a check and moved aside
//! before the next is still a finding there (`packages::sightings`).

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use crate::aws::Aws;
use crate::controls::packages::overrides::Overrides;
use crate::controls::packages::{override_search, sightings};
use crate::host::{Added, DirWatch, Host};
use crate::policy::LoadedPolicy;

use super::EVENT_ERROR;

/// An override the watch found, with where and what.
pub const EVENT_OVERRIDE_SEEN: &str = "nbwarden.monitor.override-seen";

/// The least time between two searches, however fast the user changes
/// files: the search is bounded, and so is how often it runs.
const MIN_GAP: Duration = Duration::from_secs(3);

pub struct Between<'h> {
    host: &'h Host,
    search: Overrides,
    watch: DirWatch,
    last_scan: Instant,
    /// A change was seen and not searched yet.
    dirty: bool,
    /// Said once: the watch is full.
    full_said: bool,
}

impl<'h> Between<'h> {
    /// Searches once and watches what the search read; `None` without
    /// `[packages]` (or when no watch can be made: said in the journal).
    pub fn start(host: &'h Host, aws: &Aws, policy: &LoadedPolicy) -> Option<Between<'h>> {
        let p = &policy.policy;
        let region = p
            .packages
            .as_ref()
            .and_then(|k| k.codeartifact.as_ref())
            .and_then(|_| aws.region().ok());
        let unwatched = |e: anyhow::Error| {
            tracing::warn!(
                message_id = EVENT_ERROR,
                "overrides are not watched between checks: {e:#}"
            );
        };
        let search = override_search(host, p, region.as_deref())
            .map_err(unwatched)
            .ok()??;
        let watch = host.watch().map_err(unwatched).ok()?;
        let mut between = Between {
            host,
            search,
            watch,
            last_scan: Instant::now(),
            dirty: false,
            full_said: false,
        };
        between.scan();
        Some(between)
    }

    /// Searches, keeps what it found, and watches every place it read.
    fn scan(&mut self) {
        self.last_scan = Instant::now();
        self.dirty = false;
        let scan = self.search.scan(self.host);
        for (source, what) in &scan.found {
            tracing::warn!(
                message_id = EVENT_OVERRIDE_SEEN,
                source = source.as_str(),
                what = what.as_str(),
                "override seen between checks"
            );
        }
        if let Err(e) = sightings::record(self.host, &scan.found, SystemTime::now()) {
            tracing::warn!(
                message_id = EVENT_ERROR,
                "cannot keep what the watch saw: {e:#}"
            );
        }
        for place in &scan.places {
            self.watch_nearest(place);
        }
    }

    /// Watches `dir`, or the nearest directory above it that exists (its
    /// creation is a change there).
    fn watch_nearest(&mut self, dir: &Path) {
        let mut at = Some(dir);
        while let Some(d) = at {
            match self.watch.add(d) {
                Ok(Added::New | Added::Already) => return,
                Ok(Added::NotADirectory) => at = d.parent(),
                Ok(Added::Full) => {
                    if !self.full_said {
                        self.full_said = true;
                        tracing::warn!(
                            message_id = EVENT_ERROR,
                            "the override watch is full ({} directories): places past it are \
                             searched at each check only",
                            self.watch.len()
                        );
                    }
                    return;
                }
                Err(e) => {
                    tracing::warn!(message_id = EVENT_ERROR, "{e:#}");
                    return;
                }
            }
        }
    }

    /// Waits until `until`, searching again (at most every [`MIN_GAP`])
    /// after each change.
    pub fn wait_until(&mut self, until: Instant) {
        loop {
            let now = Instant::now();
            if now >= until {
                return;
            }
            if self.dirty && now >= self.last_scan + MIN_GAP {
                self.scan();
                continue;
            }
            let next = if self.dirty {
                until.min(self.last_scan + MIN_GAP)
            } else {
                until
            };
            match self.watch.changed_before(next) {
                Ok(changed) => self.dirty |= changed,
                Err(e) => {
                    tracing::warn!(message_id = EVENT_ERROR, "{e:#}");
                    std::thread::sleep(until.saturating_duration_since(Instant::now()));
                    return;
                }
            }
        }
    }
}

/// Waits until `until`: on the watch when there is one, else asleep.
pub fn wait(between: Option<&mut Between<'_>>, until: Instant) {
    match between {
        Some(b) => b.wait_until(until),
        None => std::thread::sleep(until.saturating_duration_since(Instant::now())),
    }
}
