//! A whole run, in one place: which controls run, the policy's preflight,
//! the run lock, the deadline, every control, the blocking decision, the
//! boot record, the manifest, the fleet upload and the state file. The CLI,
//! the monitor and `sudo restore` all come through [`run`].

pub mod exit;
pub mod record;
pub mod upload;

use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use crate::aws::Aws;
use crate::base::verdict::Verdict;
use crate::base::version;
use crate::controls;
use crate::engine::{Context, Control, run_controls};
use crate::facts::Facts;
use crate::host::Host;
use crate::policy::{LoadedPolicy, OnFailure, Policy, Severity};
use crate::report::Mode;
use crate::report::{ControlReport, HostFacts, PolicyRef, Report, SCHEMA_VERSION, Summary};
use exit::Failure;

/// What one run is asked to do.
pub struct RunSpec<'a> {
    pub mode: Mode,
    pub host: &'a Host,
    pub aws: &'a Aws,
    pub policy: &'a LoadedPolicy,
    pub selection: Selection<'a>,
    pub purpose: Purpose,
    /// When the run must be over; computed once by the caller, which also
    /// bounds its AWS client by it.
    pub deadline: Instant,
}

/// Which controls a run runs.
pub enum Selection<'a> {
    /// The controls the policy turns on, limited to these ids when any are
    /// given (`--only`); the rest are reported as skipped.
    Policy { only: &'a [String] },
    /// One control outside the registry: an admin command's (`sudo restore`).
    Admin(&'a dyn Control),
}

/// What a run's outcome means for the instance's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The instance's verdict: recorded as the last run, the boot, the
    /// manifest (apply) and the fleet report, when run as root.
    Verdict,
    /// A run limited to some controls (a re-apply, the token refresh, an
    /// agent's install): proves nothing about the rest, so it records
    /// nothing.
    Scoped,
    /// An admin command that may undo hardening: records nothing, and the
    /// last recorded verdict no longer stands after it.
    Admin,
    /// The monitor's drift check: records nothing.
    DriftCheck,
}

impl Purpose {
    /// A plan/apply/verify from the command line: the verdict unless
    /// `--only` limits it.
    pub fn of_only(only: &[String]) -> Purpose {
        if only.is_empty() {
            Purpose::Verdict
        } else {
            Purpose::Scoped
        }
    }
}

/// Checks `--only` ids against the registry: a typo is a usage error, not a
/// run of nothing.
pub fn check_only(only: &[String]) -> Result<(), Failure> {
    let known = controls::known_ids();
    for id in only {
        if !known.contains(&id.as_str()) {
            return Err(Failure::Usage(format!(
                "--only: unknown control `{id}`; known controls: {}",
                known.join(", ")
            )));
        }
    }
    Ok(())
}

type Built<'r> = Vec<(&'r controls::Entry, Option<Box<dyn Control>>)>;

/// The registry's controls `only` selects (all without it), each built
/// from the policy (`None`: its section is absent, so it is off).
fn build_selected<'r>(policy: &Policy, only: &[String]) -> Built<'r> {
    controls::REGISTRY
        .iter()
        .filter(|e| only.is_empty() || only.iter().any(|id| id == e.info.id))
        .map(|e| (e, e.build(policy)))
        .collect()
}

/// A run in which no control is on proves nothing: saying "compliant"
/// would be the verdict's worst kind of lie.
fn require_a_control(built: &Built<'_>, source: &str) -> Result<(), Failure> {
    if built.iter().any(|(_, c)| c.is_some()) {
        return Ok(());
    }
    let off: Vec<String> = built
        .iter()
        .map(|(e, _)| format!("[{}]", e.info.section))
        .collect();
    Err(Failure::Usage(format!(
        "policy {source}: none of the selected controls is turned on (no {} section), so \
         nothing would be checked; add the sections to check, for example [sudo]",
        off.join(", ")
    )))
}

/// What `policy validate` checks beyond parsing: the rules every run
/// applies before it reads the host, from the same code.
pub fn check_policy(policy: &LoadedPolicy) -> Result<(), Failure> {
    require_a_control(&build_selected(&policy.policy, &[]), &policy.source)
}

/// Runs `spec` to its report. Errors are what prevents a verdict: a policy
/// the host contradicts (exit 2, nothing changed), a lock or a record that
/// cannot be taken (exit 3).
pub fn run(spec: &RunSpec<'_>) -> Result<Report, Failure> {
    let policy = &spec.policy.policy;
    let built: Vec<(&controls::Entry, Option<Box<dyn Control>>)>;
    let admin: Vec<&dyn Control>;
    match &spec.selection {
        Selection::Policy { only } => {
            check_only(only)?;
            built = build_selected(policy, only);
            admin = Vec::new();
        }
        Selection::Admin(control) => {
            built = Vec::new();
            admin = vec![*control];
        }
    }
    if admin.is_empty() && matches!(spec.purpose, Purpose::Verdict | Purpose::Scoped) {
        require_a_control(&built, &spec.policy.source)?;
    }
    let facts = Facts::live(spec.host, spec.aws);
    let ctx = Context {
        host: spec.host,
        policy,
        policy_sha256: &spec.policy.sha256,
        deadline: spec.deadline,
        aws: spec.aws,
        facts: &facts,
    };
    let selected: Vec<&dyn Control> = built
        .iter()
        .filter_map(|(_, c)| c.as_deref())
        .chain(admin.iter().copied())
        .collect();
    // Policy facts checked against the host come first, before even the
    // lock is taken: exit 2, nothing changed.
    for control in &selected {
        control.preflight(&ctx).map_err(|e| {
            Failure::Usage(format!(
                "policy {}: [{}] {e}",
                spec.policy.source,
                control.id()
            ))
        })?;
    }
    // No program a control runs may outlive the run.
    crate::base::deadline::set_deadline(Some(spec.deadline));
    let started = Instant::now();
    let _lock = lock(spec)?;
    let started_at = SystemTime::now();
    let records = spec.mode != Mode::Plan && spec.host.euid() == 0;
    // A recorded run leaves its start behind first, so that a run that dies
    // before recording (killed, out of memory) is not mistaken for the last
    // verdict still holding; an admin command's start does the same.
    if records && unseats_the_verdict(spec) {
        record::mark_run_started(spec.host, started_at)
            .map_err(|e| Failure::CannotEvaluate(e.context("cannot record the run's start")))?;
    }
    let blocks_start = policy.verify.on_failure == OnFailure::Fail;
    let reports = run_selected(spec.mode, &ctx, &facts, &built, &admin, blocks_start);
    let mut report = build_report(spec, started, started_at, reports);
    report.control_plane = facts
        .description_if_fetched()
        .map(crate::report::ControlPlaneView::from);
    match spec.purpose {
        Purpose::Verdict if spec.mode != Mode::Plan => record(spec, &facts, &mut report),
        Purpose::Scoped | Purpose::Admin if spec.mode != Mode::Plan => tracing::info!(
            "a run limited to some controls or an admin command is not recorded as the \
             instance's verdict"
        ),
        _ => {}
    }
    Ok(report)
}

/// Runs the selected controls (`built`, those the policy turns on, and an
/// admin command's), one report per registry entry in order (an entry the
/// policy leaves off is reported skipped) and the admin's last.
fn run_selected(
    mode: Mode,
    ctx: &Context<'_>,
    facts: &Facts<'_>,
    built: &[(&controls::Entry, Option<Box<dyn Control>>)],
    admin: &[&dyn Control],
    blocks_start: bool,
) -> Vec<ControlReport> {
    // The AWS waits overlap local work: what the controls will read from
    // SSM and SageMaker is fetched on a second thread while the first
    // controls (sudo, packages: local files and programs) run. A control
    // asking for an input still in flight waits for that fetch.
    let wanted: Vec<crate::facts::RemoteInput> = built
        .iter()
        .filter_map(|(_, c)| c.as_deref())
        .chain(admin.iter().copied())
        .flat_map(|c| c.remote_inputs())
        .collect();
    std::thread::scope(|scope| {
        if !wanted.is_empty() {
            let wanted = &wanted;
            // Without a thread (a cgroup's task limit), each control
            // fetches what it reads itself.
            let _ = std::thread::Builder::new().spawn_scoped(scope, move || {
                for input in wanted {
                    facts.fetch(input);
                }
            });
        }
        let active: Vec<&dyn Control> = built
            .iter()
            .filter_map(|(_, control)| control.as_deref())
            .chain(admin.iter().copied())
            .collect();
        // One report per active control, in the order given.
        let mut done = run_controls(mode, ctx, &active).into_iter();
        let mut reports: Vec<ControlReport> = built
            .iter()
            .map(|(entry, control)| {
                match control.as_deref().and_then(|c| done.next().map(|r| (c, r))) {
                    Some((control, mut report)) => {
                        report.blocking = control.severity() == Severity::Block && blocks_start;
                        report
                    }
                    None => ControlReport::skipped(
                        entry.info.id,
                        entry.info.title,
                        &format!("off: no [{}] section in the policy", entry.info.section),
                    ),
                }
            })
            .collect();
        for (control, mut report) in admin.iter().zip(done) {
            report.blocking = control.severity() == Severity::Block;
            reports.push(report);
        }
        reports
    })
}

/// Whether the last recorded verdict stops standing when this run starts:
/// a run that will record a new one, an admin command, and an apply limited
/// by `--only` under another policy than the recorded verdict's (a re-apply
/// under the same policy only converges towards what was proven).
fn unseats_the_verdict(spec: &RunSpec<'_>) -> bool {
    match spec.purpose {
        Purpose::Verdict | Purpose::Admin => true,
        Purpose::Scoped => {
            spec.mode == Mode::Apply
                && record::load(spec.host)
                    .ok()
                    .flatten()
                    .is_some_and(|last| last.policy.sha256 != spec.policy.sha256)
        }
        Purpose::DriftCheck => false,
    }
}

/// plan changes nothing, so it needs no lock and may run beside a run. An
/// admin without root may verify; the lock is only courtesy towards a
/// concurrent apply then.
fn lock(spec: &RunSpec<'_>) -> Result<Option<record::RunLock>, Failure> {
    Ok(match spec.mode {
        Mode::Plan => None,
        Mode::Verify if spec.host.euid() != 0 => record::RunLock::acquire(spec.host, spec.deadline)
            .inspect_err(|e| tracing::warn!("verifying without the run lock: {e:#}"))
            .ok(),
        Mode::Apply | Mode::Verify => Some(record::RunLock::acquire(spec.host, spec.deadline)?),
    })
}

fn build_report(
    spec: &RunSpec<'_>,
    started: Instant,
    started_at: SystemTime,
    controls: Vec<ControlReport>,
) -> Report {
    let summary = Summary::of(&controls);
    let verdict = summary.verdict();
    Report {
        schema_version: SCHEMA_VERSION,
        nbwarden_version: version::SHORT.to_string(),
        command: spec.mode,
        started_at: humantime::format_rfc3339_millis(started_at).to_string(),
        finished_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        duration_ms: started.elapsed().as_millis() as u64,
        aws_wait_ms: spec.aws.waited().as_millis() as u64,
        peak_rss_kib: crate::host::os::peak_rss_kib(),
        host: HostFacts {
            root: spec.host.root().display().to_string(),
            hostname: crate::host::os::hostname(),
            os: spec.host.os().clone(),
        },
        policy: PolicyRef {
            source: spec.policy.source.clone(),
            sha256: spec.policy.sha256.clone(),
        },
        controls,
        summary,
        exit_code: verdict.code(),
        context: None,
        failing_since: None,
        upload: None,
        control_plane: None,
    }
}

/// Records the instance's verdict: the boot and the manifest (root only),
/// the fleet report (root only: a run as the notebook user proves nothing
/// and must not become latest.json), and the last run.
fn record(spec: &RunSpec<'_>, facts: &Facts<'_>, report: &mut Report) {
    let host = spec.host;
    if host.euid() == 0 {
        let home = host.accounts().ok().and_then(|a| {
            a.user(spec.policy.policy.user.as_str())
                .map(|u| PathBuf::from(&u.home))
        });
        let complete = Verdict::from_code(report.exit_code) != Some(Verdict::Incomplete);
        match record::observe_boot(
            host,
            home.as_deref(),
            facts.instance_id_if_connected(),
            complete,
        ) {
            Ok(ctx) => report.context = Some(ctx),
            Err(e) => tracing::warn!("could not record the boot: {e:#}"),
        }
        if spec.mode == Mode::Apply {
            let entries: Vec<_> = report
                .controls
                .iter()
                .flat_map(|c| c.managed.clone())
                .collect();
            if let Err(e) = record::save_manifest(host, report, &entries) {
                tracing::warn!("could not write {}: {e:#}", record::MANIFEST);
            }
        }
        if let Some(sink) = &spec.policy.policy.verify.report {
            let outcome = upload::upload(facts, spec.aws, sink, report);
            tracing::info!("{outcome}");
            report.upload = Some(outcome.to_string());
        }
    }
    // Recording is bookkeeping: an admin without root can still verify.
    if host.euid() == 0
        && let Err(e) = record::save(host, report)
    {
        tracing::warn!("could not record this run in {}: {e:#}", record::LAST_RUN);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::policy::from_bytes;
    use crate::report::Status;

    use crate::test_support::notebook_root as root;

    fn policy(text: &str) -> LoadedPolicy {
        from_bytes(text.as_bytes().to_vec(), "t.toml").expect("a valid policy")
    }

    const VARIABLES: &str = "version = 1\n[variables.values.A]\nvalue = \"b\"\n";

    fn run_with(
        dir: &Path,
        policy: &LoadedPolicy,
        mode: Mode,
        selection: Selection<'_>,
        purpose: Purpose,
    ) -> Result<Report, Failure> {
        let host = Host::open(dir).expect("host");
        let deadline = Instant::now() + Duration::from_secs(60);
        let aws = Aws::new(deadline);
        run(&RunSpec {
            mode,
            host: &host,
            aws: &aws,
            policy,
            selection,
            purpose,
            deadline,
        })
    }

    /// A full apply of [`VARIABLES`]: the instance's verdict.
    fn verdict(dir: &Path) -> Report {
        run_with(
            dir,
            &policy(VARIABLES),
            Mode::Apply,
            Selection::Policy { only: &[] },
            Purpose::Verdict,
        )
        .expect("a verdict")
    }

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    #[cfg_attr(
        not(feature = "system-tier"),
        ignore = "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)"
    )]
    fn a_full_run_reports_every_control_and_records_the_verdict_as_root() {
        let dir = root();
        let report = verdict(dir.path());
        assert_eq!(report.controls.len(), controls::REGISTRY.len());
        let sudo = report
            .controls
            .iter()
            .find(|c| c.id == "sudo")
            .expect("sudo");
        assert_eq!(sudo.status, Status::Skip);
        assert!(
            sudo.evidence
                .iter()
                .any(|e| e.contains("no [sudo] section"))
        );
        let vars = report
            .controls
            .iter()
            .find(|c| c.id == "variables")
            .expect("vars");
        assert_eq!(vars.status, Status::Fixed, "{vars:#?}");
        assert!(vars.blocking, "block severity with on_failure = fail");
        assert_eq!(report.exit_code, 0);
        // Only root's runs speak for the instance.
        let host = Host::open(dir.path()).expect("host");
        let recorded = record::load(&host).expect("readable");
        assert_eq!(recorded.is_some(), is_root());
        assert_eq!(
            dir.path().join("var/lib/nbwarden/manifest.json").exists(),
            is_root()
        );
    }

    #[test]
    #[cfg_attr(
        not(feature = "system-tier"),
        ignore = "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)"
    )]
    fn a_scoped_run_runs_only_its_controls_and_records_nothing() {
        let dir = root();
        let p = policy(VARIABLES);
        let only = ["variables".to_string()];
        let report = run_with(
            dir.path(),
            &p,
            Mode::Apply,
            Selection::Policy { only: &only },
            Purpose::Scoped,
        )
        .expect("a report");
        let ids: Vec<&str> = report.controls.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["variables"]);
        assert!(dir.path().join("etc/nbwarden/variables.json").exists());
        assert!(!dir.path().join("var/lib/nbwarden/last-run.json").exists());
        assert!(!dir.path().join("var/lib/nbwarden/manifest.json").exists());
    }

    #[test]
    fn an_unknown_only_id_is_a_usage_error_before_anything_runs() {
        let dir = root();
        let only = ["variabels".to_string()];
        let err = run_with(
            dir.path(),
            &policy(VARIABLES),
            Mode::Apply,
            Selection::Policy { only: &only },
            Purpose::Scoped,
        )
        .expect_err("unknown id");
        assert!(
            matches!(&err, Failure::Usage(m) if m.contains("variabels")),
            "{err}"
        );
        assert!(!dir.path().join("etc/nbwarden").exists());
    }

    #[test]
    fn a_policy_the_host_contradicts_changes_nothing() {
        let dir = root();
        let p =
            policy("version = 1\nuser = \"nosuch\"\n[sudo]\n[variables.values.A]\nvalue = \"b\"\n");
        let err = run_with(
            dir.path(),
            &p,
            Mode::Apply,
            Selection::Policy { only: &[] },
            Purpose::Verdict,
        )
        .expect_err("preflight");
        assert!(
            matches!(&err, Failure::Usage(m) if m.contains("nosuch")),
            "{err}"
        );
        assert!(!dir.path().join("etc/nbwarden").exists());
        assert!(
            !dir.path().join("var/lib/nbwarden").exists(),
            "not even the lock"
        );
    }

    #[test]
    fn a_scoped_apply_under_another_policy_unseats_the_verdict() {
        if !is_root() {
            return;
        }
        let dir = root();
        let only = ["variables".to_string()];
        verdict(dir.path());
        let host = Host::open(dir.path()).expect("host");
        // The same policy, one control: the verdict stands.
        run_with(
            dir.path(),
            &policy(VARIABLES),
            Mode::Apply,
            Selection::Policy { only: &only },
            Purpose::Scoped,
        )
        .expect("scoped");
        assert!(record::last_verdict(&host, None).is_ok());
        // Another policy: it no longer does.
        let other = policy("version = 1\n[variables.values.A]\nvalue = \"c\"\n");
        run_with(
            dir.path(),
            &other,
            Mode::Apply,
            Selection::Policy { only: &only },
            Purpose::Scoped,
        )
        .expect("scoped");
        let err = record::last_verdict(&host, None).expect_err("unseated");
        assert!(format!("{err:#}").contains("no longer stands"), "{err:#}");
    }

    #[test]
    fn a_run_with_no_control_turned_on_is_a_usage_error_not_compliant() {
        let dir = root();
        for (only, purpose) in [
            (vec![], Purpose::Verdict),
            (vec!["sudo".to_string()], Purpose::Scoped),
        ] {
            let err = run_with(
                dir.path(),
                &policy("version = 1\n"),
                Mode::Verify,
                Selection::Policy { only: &only },
                purpose,
            )
            .expect_err("nothing to check");
            assert!(
                matches!(&err, Failure::Usage(m) if m.contains("nothing would be checked")),
                "{err}"
            );
        }
        assert!(!dir.path().join("var/lib/nbwarden").exists());
    }

    #[test]
    fn a_warning_policy_makes_no_control_blocking() {
        let dir = root();
        let p = policy(&format!("{VARIABLES}[verify]\non_failure = \"warn\"\n"));
        let report = run_with(
            dir.path(),
            &p,
            Mode::Plan,
            Selection::Policy { only: &[] },
            Purpose::Verdict,
        )
        .expect("a report");
        let ran: Vec<_> = report
            .controls
            .iter()
            .filter(|c| c.status != Status::Skip)
            .collect();
        assert_eq!(ran.len(), 1);
        assert!(ran.iter().all(|c| !c.blocking), "{ran:#?}");
        // plan records nothing either.
        assert!(!dir.path().join("var/lib/nbwarden/last-run.json").exists());
    }

    /// `sudo restore` on the root at `dir`.
    fn restore(dir: &Path) -> Report {
        let control = crate::controls::sudo::restore::SudoRestore {
            user: "ec2-user".into(),
        };
        let p = LoadedPolicy::for_admin_command("nbwarden sudo restore").expect("built in");
        run_with(
            dir,
            &p,
            Mode::Apply,
            Selection::Admin(&control),
            Purpose::Admin,
        )
        .expect("a report")
    }

    #[test]
    fn an_admin_command_unseats_the_recorded_verdict() {
        let dir = root();
        let host = Host::open(dir.path()).expect("host");
        // Recording needs root (the suite runs as root).
        if is_root() {
            verdict(dir.path());
            assert!(record::last_verdict(&host, None).is_ok());
        }
        let report = restore(dir.path());
        assert_eq!(report.controls.len(), 1);
        if !is_root() {
            return;
        }
        let err = record::last_verdict(&host, None).expect_err("no longer stands");
        assert!(format!("{err:#}").contains("no longer stands"), "{err:#}");
        // The manifest is still the last apply's, not the restore's.
        let manifest = std::fs::read_to_string(dir.path().join("var/lib/nbwarden/manifest.json"))
            .expect("manifest");
        assert!(manifest.contains("variables.json"), "{manifest}");
    }
}
