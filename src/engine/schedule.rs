//! The order of a run's controls: every control converges (or is judged)
//! first, then the probes that run the notebook user's code, then the
//! passive checks; each control's report is bounded and finished here.

use std::time::Instant;

use anyhow::Result;

use super::converge::{Converged, converge};
use super::diff::difference;
use super::{Context, Control, ManagedFile, Probe};
use crate::report::{ControlReport, Mode, Status};

/// Runs one control in `mode`: converge, then its live checks. Never panics
/// on a control's failure: an error becomes an `error` status.
pub fn run_control(mode: Mode, ctx: &Context<'_>, control: &dyn Control) -> ControlReport {
    run_controls(mode, ctx, &[control])
        .pop()
        .unwrap_or_else(|| ControlReport::skipped(control.id(), control.title(), "not run"))
}

/// Runs controls in the order that keeps a run's verdicts honest, and
/// returns their reports in the order given. First every control converges
/// (or is judged); then every probe that runs the notebook user's code (an
/// environment's Python, its pip); last the passive checks, which so see
/// whatever that code changed. Run in one pass per control, a `.pth` run by
/// the import proof could rewrite the user's `pip.conf` after the packages
/// control had read it, and the run would report what no longer holds.
pub fn run_controls(
    mode: Mode,
    ctx: &Context<'_>,
    controls: &[&dyn Control],
) -> Vec<ControlReport> {
    let mut runs: Vec<InProgress> = controls
        .iter()
        .map(|control| start_control(mode, ctx, *control))
        .collect();
    for user_code in [true, false] {
        for run in &mut runs {
            run.probe(ctx, user_code);
        }
    }
    runs.into_iter().map(InProgress::finish).collect()
}

/// A control part-way through a run: converged or judged, its live checks
/// not all made yet.
pub(super) struct InProgress {
    id: &'static str,
    report: ControlReport,
    probes: Vec<Box<dyn Probe>>,
    /// The managed files in a directory the user could change, judged again
    /// after the user's code has run.
    exposed: Vec<ManagedFile>,
    managed_files: usize,
    /// Files and actions judged: what the control checked besides probes.
    judged: usize,
    /// Live checks made, and those that could not be (not applicable, or
    /// plan, which makes none).
    probes_made: usize,
    probes_skipped: usize,
    spent: std::time::Duration,
}

pub(super) fn start_control(mode: Mode, ctx: &Context<'_>, control: &dyn Control) -> InProgress {
    let started = Instant::now();
    tracing::info!(
        control = control.id(),
        mode = mode.name(),
        "control started"
    );
    let mut run = InProgress {
        id: control.id(),
        report: ControlReport::new(control.id(), control.title()),
        probes: Vec::new(),
        exposed: Vec::new(),
        managed_files: 0,
        judged: 0,
        probes_made: 0,
        probes_skipped: 0,
        spent: std::time::Duration::ZERO,
    };
    if started >= ctx.deadline {
        run.report.status = Status::Error;
        run.report.error = Some("the run's deadline passed before this control started".into());
    } else {
        match converge(mode, ctx, control, &mut run.report) {
            Ok(Converged {
                probes,
                exposed,
                managed_files,
                judged,
                not_run,
            }) => {
                run.probes = probes;
                run.exposed = exposed;
                run.managed_files = managed_files;
                run.judged = judged;
                run.probes_skipped = not_run;
            }
            Err(e) => {
                run.report.status = Status::Error;
                run.report.error = Some(format!("{e:#}"));
            }
        }
    }
    run.spent = started.elapsed();
    run
}

impl InProgress {
    /// Runs this control's probes that do (or do not) run the user's code.
    /// A probe that cannot run makes the control an error; the rest of its
    /// probes are not made.
    fn probe(&mut self, ctx: &Context<'_>, user_code: bool) {
        if self.report.status == Status::Error {
            return;
        }
        let started = Instant::now();
        if !user_code && let Err(e) = self.judge_exposed_again(ctx) {
            self.report.status = Status::Error;
            self.report.error = Some(format!("{e:#}"));
            return;
        }
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.probes)
            .into_iter()
            .partition(|p| p.runs_user_code() == user_code);
        self.probes = later;
        for probe in &now {
            let outcome = match probe.check(ctx.host) {
                Ok(outcome) => outcome,
                Err(e) => {
                    self.report.status = Status::Error;
                    self.report.error =
                        Some(format!("probe `{}` could not run: {e:#}", probe.describe()));
                    self.probes.clear();
                    break;
                }
            };
            if outcome.skipped {
                self.probes_skipped += 1;
                self.report.evidence.push(format!(
                    "{}: skipped: {}",
                    probe.describe(),
                    outcome.evidence
                ));
                self.report.evidence.extend(outcome.details);
                continue;
            }
            self.probes_made += 1;
            let verdict = if outcome.passed { "ok" } else { "FAILED" };
            self.report.evidence.push(format!(
                "{}: {verdict}: {}",
                probe.describe(),
                outcome.evidence
            ));
            self.report.evidence.extend(outcome.details);
            if !outcome.passed {
                self.report.status = Status::Fail;
            }
        }
        self.spent += started.elapsed();
    }

    /// A managed file in a directory the user can change (the conda base,
    /// an environment's site-packages) was as desired when the control
    /// converged, before the user's code ran in the proofs; that code could
    /// have renamed another file over it since. Judged again here, it is
    /// drift in this run's verdict.
    fn judge_exposed_again(&mut self, ctx: &Context<'_>) -> Result<()> {
        for file in std::mem::take(&mut self.exposed) {
            let now = ctx.host.read(&file.path)?;
            if let Some(change) = difference(&file, now.as_ref()) {
                self.report.status = Status::Fail;
                self.report.evidence.push(format!(
                    "drift after the user's code ran: {} ({})",
                    change.path, change.detail
                ));
            }
        }
        Ok(())
    }

    fn finish(mut self) -> ControlReport {
        let report = &mut self.report;
        // Nothing was judged and no live check was made: not a pass.
        if report.status == Status::Pass
            && self.judged == 0
            && self.probes_made == 0
            && self.probes_skipped > 0
        {
            report.status = Status::Skip;
        }
        if report.status == Status::Pass && report.evidence.is_empty() {
            report
                .evidence
                .push(format!("{} managed file(s) as desired", self.managed_files));
        }
        cap_evidence(&mut report.evidence);
        report.duration_ms = self.spent.as_millis() as u64;
        tracing::info!(
            control = self.id,
            status = report.status.as_str(),
            changes = report.changes.len(),
            duration_ms = report.duration_ms,
            "control finished"
        );
        self.report
    }
}

/// Evidence lines kept per control, and characters per line.
pub(super) const MAX_EVIDENCE_LINES: usize = 200;
pub(super) const MAX_EVIDENCE_CHARS: usize = 2000;

/// Bounds a control's evidence: much of it quotes what the user wrote, and
/// reports, the state file and journal events must not grow with it.
pub(super) fn cap_evidence(evidence: &mut Vec<String>) {
    if evidence.len() > MAX_EVIDENCE_LINES {
        let more = evidence.len() - (MAX_EVIDENCE_LINES - 1);
        evidence.truncate(MAX_EVIDENCE_LINES - 1);
        evidence.push(format!("… and {more} more line(s) not shown"));
    }
    for line in evidence.iter_mut() {
        if line.chars().count() > MAX_EVIDENCE_CHARS {
            let cut: String = line.chars().take(MAX_EVIDENCE_CHARS).collect();
            *line = format!("{cut}… (cut)");
        }
    }
}
