//! One report value per run. Human, JSON and JUnit are renderings of it; the
//! state file is a copy of it.

mod human;
pub(crate) mod junit;
pub mod record;
pub(crate) mod visible;

pub use visible::{visible, visible_lines};

use serde::{Deserialize, Serialize};

use crate::base::verdict::Verdict;
use crate::host::OsInfo;

/// How a run treats differences between the host and the desired state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Report what `apply` would change; touch nothing.
    Plan,
    /// Converge, then check.
    Apply,
    /// Check only; touch nothing.
    Verify,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Plan => "plan",
            Mode::Apply => "apply",
            Mode::Verify => "verify",
        }
    }
}

/// Version of the JSON report format. Bump on any incompatible change.
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fixed,
    /// `plan`: apply would change this control's files or actions.
    Change,
    Fail,
    /// Nothing was judged: the control is off, does not apply here, or
    /// its checks were not run (plan).
    Skip,
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fixed => "fixed",
            Status::Change => "change",
            Status::Fail => "fail",
            Status::Skip => "skip",
            Status::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeAction {
    Create,
    Update,
    Metadata,
    Remove,
    /// A step that is not a file (a package install, an agent reload).
    Run,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub path: String,
    pub action: ChangeAction,
    pub detail: String,
    /// Unified diff of the content, when it changes and may be shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// The file is not world-readable (before or after): its diff is shown
    /// to whoever ran nbwarden, never kept in the world-readable state.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub private: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlReport {
    pub id: String,
    pub title: String,
    pub status: Status,
    pub changes: Vec<Change>,
    pub evidence: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
    /// The files this control manages, for the manifest (not reported).
    #[serde(skip)]
    pub managed: Vec<ManagedEntry>,
    /// Whether a `fail` or `error` here decides the exit code; advisory
    /// controls are reported only (`[verify] on_failure`, `severity`).
    #[serde(default = "blocking_default")]
    pub blocking: bool,
}

fn blocking_default() -> bool {
    true
}

impl ControlReport {
    pub fn new(id: &str, title: &str) -> Self {
        ControlReport {
            id: id.to_string(),
            title: title.to_string(),
            status: Status::Pass,
            changes: Vec::new(),
            evidence: Vec::new(),
            error: None,
            duration_ms: 0,
            managed: Vec::new(),
            blocking: true,
        }
    }

    pub fn skipped(id: &str, title: &str, why: &str) -> Self {
        let mut r = ControlReport::new(id, title);
        r.status = Status::Skip;
        r.evidence.push(why.to_string());
        r
    }
}

/// What nbwarden keeps at a managed path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ManagedKind {
    /// A file with the recorded content, mode and owner.
    File,
    /// Nothing: a file nbwarden removes.
    Absent,
}

/// One file in the manifest of what `apply` left on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedEntry {
    pub path: String,
    pub control: String,
    #[serde(rename = "type")]
    pub kind: ManagedKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFacts {
    pub root: String,
    pub hostname: String,
    pub os: OsInfo,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRef {
    pub source: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub total: usize,
    pub pass: usize,
    pub fixed: usize,
    /// `plan`: controls apply would change.
    #[serde(default)]
    pub change: usize,
    pub fail: usize,
    pub skip: usize,
    pub error: usize,
    pub changes: usize,
    /// Failures (for plan, pending changes) and errors of blocking
    /// controls: these decide the verdict.
    #[serde(default)]
    pub blocking_fail: usize,
    #[serde(default)]
    pub blocking_error: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub nbwarden_version: String,
    pub command: Mode,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: u64,
    /// Of the whole run (policy download included), the time spent waiting
    /// on AWS and the instance metadata service.
    #[serde(default)]
    pub aws_wait_ms: u64,
    /// nbwarden's own peak resident memory in this run (its children's
    /// not included), KiB.
    #[serde(default)]
    pub peak_rss_kib: u64,
    pub host: HostFacts,
    pub policy: PolicyRef,
    pub controls: Vec<ControlReport>,
    pub summary: Summary,
    /// The exit code this run ended with (0, 1 or 3).
    pub exit_code: u8,
    /// Which system drive and boot this run saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<RunContext>,
    /// Since when this notebook has been failing, as far as the fleet
    /// reports know (set when the report is uploaded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<String>,
    /// What happened to the fleet upload of this report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<String>,
    /// What SageMaker's control plane said about this notebook during the
    /// run, when a control asked it (`fleet summary --cross-check` holds it
    /// against what the administrator's own credentials get).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane: Option<ControlPlaneView>,
}

/// The control-plane settings a report and the fleet view compare.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlPlaneView {
    pub kms_key_id: Option<String>,
    pub direct_internet_access: Option<String>,
    pub root_access: Option<String>,
}

impl From<&crate::aws::NotebookDescription> for ControlPlaneView {
    fn from(d: &crate::aws::NotebookDescription) -> Self {
        ControlPlaneView {
            kms_key_id: d.kms_key_id.clone(),
            direct_internet_access: d.direct_internet_access.clone(),
            root_access: d.root_access.clone(),
        }
    }
}

/// How this run relates to earlier ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunKind {
    /// No earlier run is known for this notebook.
    FirstEver,
    /// The first run on a freshly built system drive (after a stop/start).
    NewDrive,
    /// Another run on a drive nbwarden has already seen.
    SameDrive,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunContext {
    pub kind: RunKind,
    pub boot_id: String,
    /// A random id nbwarden writes on each new system drive.
    pub drive_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
}

impl Summary {
    pub fn of(controls: &[ControlReport]) -> Summary {
        let mut s = Summary {
            total: controls.len(),
            ..Summary::default()
        };
        for c in controls {
            match c.status {
                Status::Pass => s.pass += 1,
                Status::Fixed => s.fixed += 1,
                Status::Change => s.change += 1,
                Status::Fail => s.fail += 1,
                Status::Skip => s.skip += 1,
                Status::Error => s.error += 1,
            }
            if c.blocking {
                match c.status {
                    // A pending change is what makes plan exit 1.
                    Status::Fail | Status::Change => s.blocking_fail += 1,
                    Status::Error => s.blocking_error += 1,
                    _ => {}
                }
            }
            s.changes += c.changes.len();
        }
        s
    }

    /// Any blocking error makes the run incomplete (3), else any blocking
    /// failure makes the host not compliant (1).
    pub fn verdict(&self) -> Verdict {
        if self.blocking_error > 0 {
            Verdict::Incomplete
        } else if self.blocking_fail > 0 {
            Verdict::NotCompliant
        } else {
            Verdict::Compliant
        }
    }
}

/// How a report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Human,
    Json,
    Junit,
}

impl Report {
    pub fn render(&self, format: OutputFormat, color: bool) -> String {
        match format {
            OutputFormat::Human => human::render(self, color),
            OutputFormat::Json => {
                // A report is plain data; serializing it cannot fail.
                let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
                s.push('\n');
                s
            }
            OutputFormat::Junit => junit::render(self),
        }
    }

    /// The ids of the controls that failed or could not be evaluated: what
    /// the fleet's views list as failing.
    pub fn failing_ids(&self) -> impl Iterator<Item = &str> {
        self.controls
            .iter()
            .filter(|c| matches!(c.status, Status::Fail | Status::Error))
            .map(|c| c.id.as_str())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::host::OsInfo;

    pub(crate) fn sample() -> Report {
        let mut ok = ControlReport::new("variables", "Variables file");
        ok.status = Status::Fixed;
        ok.changes.push(Change {
            path: "/etc/nbwarden/variables.json".into(),
            action: ChangeAction::Create,
            detail: "create".into(),
            diff: Some("--- a\n+++ b\n@@ -0,0 +1 @@\n+{}\n".into()),
            private: false,
        });
        let mut bad = ControlReport::new("sudo", "Sudo <stripped> & \"proved\"");
        bad.status = Status::Fail;
        bad.evidence.push("grant in /etc/sudoers:12".into());
        let mut err = ControlReport::new("packages", "Mirror");
        err.status = Status::Error;
        err.error = Some("cannot read /etc/pip.conf".into());
        let skip = ControlReport::skipped("monitoring", "Monitoring", "not in policy");
        let controls = vec![ok, bad, err, skip];
        let summary = Summary::of(&controls);
        Report {
            schema_version: SCHEMA_VERSION,
            nbwarden_version: "0.0.0".into(),
            command: Mode::Apply,
            started_at: "2026-01-01T00:00:00.000Z".into(),
            finished_at: "2026-01-01T00:00:00.010Z".into(),
            duration_ms: 10,
            aws_wait_ms: 0,
            peak_rss_kib: 0,
            host: HostFacts {
                root: "/tmp/root".into(),
                hostname: "nb".into(),
                os: OsInfo::unknown(),
            },
            policy: PolicyRef {
                source: "p.toml".into(),
                sha256: "00".into(),
            },
            exit_code: summary.verdict().code(),
            context: None,
            failing_since: None,
            upload: None,
            control_plane: None,
            controls,
            summary,
        }
    }

    #[test]
    fn summary_counts_and_verdict_precedence() {
        let r = sample();
        assert_eq!(
            (
                r.summary.fixed,
                r.summary.fail,
                r.summary.error,
                r.summary.skip
            ),
            (1, 1, 1, 1)
        );
        assert_eq!(r.summary.verdict(), Verdict::Incomplete);
        let only_fail = Summary::of(&r.controls[..2]);
        assert_eq!(only_fail.verdict(), Verdict::NotCompliant);
        assert_eq!(Summary::of(&r.controls[..1]).verdict(), Verdict::Compliant);
        let mut advisory = r.controls.clone();
        for c in &mut advisory {
            c.blocking = false;
        }
        let s = Summary::of(&advisory);
        assert_eq!(
            (s.fail, s.error),
            (1, 1),
            "advisory results are still counted"
        );
        assert_eq!(
            s.verdict(),
            Verdict::Compliant,
            "but they do not decide the exit code"
        );
    }

    #[test]
    fn json_round_trips() {
        let r = sample();
        let text = r.render(OutputFormat::Json, false);
        let back: Report = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, r);
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["schema_version"], SCHEMA_VERSION);
        assert_eq!(v["controls"][1]["status"], "fail");
    }
}
