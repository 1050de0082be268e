//! Controls declare, the engine converges. Diffing, writing, dry runs and
//! reporting exist once, here, for every control: the `Control` trait and
//! its context here, the desired state in `desired`, converging one control
//! in `converge`, file differences in `diff`, and the order a run's
//! controls and probes go in in `schedule`.

mod converge;
mod desired;
mod diff;
mod schedule;

use std::time::Instant;

use anyhow::Result;

pub use desired::{
    Action, ActionOutcome, ActionState, DesiredState, FileState, ManagedFile, Membership, Probe,
    ProbeResult,
};
#[cfg(test)]
use schedule::{MAX_EVIDENCE_LINES, cap_evidence};
pub use schedule::{run_control, run_controls};

use crate::host::Host;
use crate::policy::Policy;

/// What controls may look at while declaring their state.
pub struct Context<'a> {
    pub host: &'a Host,
    pub policy: &'a Policy,
    /// The policy's sha256, as loaded (what the running monitor must hold).
    pub policy_sha256: &'a str,
    pub deadline: Instant,
    /// AWS clients, connected on first use.
    pub aws: &'a crate::aws::Aws,
    /// The notebook's identity, tags and control-plane settings, fetched
    /// once per run for every control.
    pub facts: &'a crate::facts::Facts<'a>,
}

/// What names a control, stated once in its module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlInfo {
    /// Stable identifier used by `--only` and in reports.
    pub id: &'static str,
    pub title: &'static str,
    /// The policy section that turns it on (`sudo`, `verify.permissions`).
    pub section: &'static str,
}

/// One capability of nbwarden (sudo, packages, variables…).
pub trait Control {
    fn info(&self) -> &'static ControlInfo;
    fn id(&self) -> &'static str {
        self.info().id
    }
    fn title(&self) -> &'static str {
        self.info().title
    }
    /// Checks the policy against the host before anything runs (for
    /// example that the policy's user exists). An error here is a policy
    /// error: exit 2, nothing changed.
    fn preflight(&self, _ctx: &Context<'_>) -> Result<(), String> {
        Ok(())
    }
    /// Whether this control's failure may block the start (`[verify]`).
    fn severity(&self) -> crate::policy::Severity {
        crate::policy::Severity::Block
    }
    /// The remote inputs `desired` will read through the run's facts (SSM
    /// values, the notebook's tags or description), fetched on a thread of
    /// their own while earlier controls do local work.
    fn remote_inputs(&self) -> Vec<crate::facts::RemoteInput> {
        Vec::new()
    }
    /// The state this control wants, computed from the policy and the host.
    fn desired(&self, ctx: &Context<'_>) -> Result<DesiredState>;
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use anyhow::bail;

    use crate::report::{ControlReport, Mode, Status};

    use super::*;
    use crate::policy;

    #[test]
    fn evidence_is_bounded_and_says_what_it_left_out() {
        let mut lines: Vec<String> = (0..1000).map(|i| format!("finding {i}")).collect();
        lines[0] = "x".repeat(10_000);
        cap_evidence(&mut lines);
        assert_eq!(lines.len(), MAX_EVIDENCE_LINES);
        assert_eq!(
            lines.last().map(String::as_str),
            Some("… and 801 more line(s) not shown")
        );
        assert!(lines[0].ends_with("… (cut)") && lines[0].chars().count() < 2100);
        assert_eq!(lines[1], "finding 1");
    }

    /// A test control's name.
    const fn info(id: &'static str, title: &'static str) -> ControlInfo {
        ControlInfo {
            id,
            title,
            section: "test",
        }
    }

    struct Files(Vec<(&'static str, &'static str)>);
    impl Control for Files {
        fn info(&self) -> &'static ControlInfo {
            const INFO: ControlInfo = info("files", "test files");
            &INFO
        }
        fn desired(&self, _: &Context<'_>) -> Result<DesiredState> {
            Ok(DesiredState {
                files: self
                    .0
                    .iter()
                    .map(|(p, c)| ManagedFile::root_owned(*p, c.as_bytes(), 0o644))
                    .collect(),
                ..DesiredState::default()
            })
        }
    }

    struct Broken;
    impl Control for Broken {
        fn info(&self) -> &'static ControlInfo {
            const INFO: ControlInfo = info("broken", "always errors");
            &INFO
        }
        fn desired(&self, _: &Context<'_>) -> Result<DesiredState> {
            bail!("cannot reach the parameter store")
        }
    }

    /// Passes when the file at `path` does not list `user` in a group line.
    struct NotInGroupFile(&'static str);
    impl Probe for NotInGroupFile {
        fn describe(&self) -> String {
            format!("ec2-user absent from {}", self.0)
        }
        fn check(&self, host: &Host) -> Result<ProbeResult> {
            let text = host.read_text(Path::new(self.0))?.unwrap_or_default();
            let found = text
                .lines()
                .any(|l| l.starts_with("wheel:") && l.ends_with("ec2-user"));
            Ok(ProbeResult {
                passed: !found,
                skipped: false,
                evidence: format!("wheel line lists ec2-user: {found}"),
                details: Vec::new(),
            })
        }
    }

    struct LeaveWheel;
    impl Control for LeaveWheel {
        fn info(&self) -> &'static ControlInfo {
            const INFO: ControlInfo = info("groups", "leave wheel");
            &INFO
        }
        fn desired(&self, _: &Context<'_>) -> Result<DesiredState> {
            Ok(DesiredState {
                memberships: vec![Membership {
                    user: "ec2-user".into(),
                    group: "wheel".into(),
                    member: false,
                }],
                probes: vec![Box::new(NotInGroupFile("/etc/group"))],
                ..DesiredState::default()
            })
        }
    }

    /// Records its name in a shared log when it runs.
    struct Logged {
        name: &'static str,
        user_code: bool,
        log: std::rc::Rc<std::cell::RefCell<Vec<&'static str>>>,
    }
    impl Probe for Logged {
        fn describe(&self) -> String {
            self.name.into()
        }
        fn check(&self, _: &Host) -> Result<ProbeResult> {
            self.log.borrow_mut().push(self.name);
            Ok(ProbeResult {
                passed: true,
                skipped: false,
                evidence: "ran".into(),
                details: Vec::new(),
            })
        }
        fn runs_user_code(&self) -> bool {
            self.user_code
        }
    }

    struct Probing(
        Vec<(&'static str, bool)>,
        std::rc::Rc<std::cell::RefCell<Vec<&'static str>>>,
    );
    impl Control for Probing {
        fn info(&self) -> &'static ControlInfo {
            const INFO: ControlInfo = info("probing", "probes only");
            &INFO
        }
        fn desired(&self, _: &Context<'_>) -> Result<DesiredState> {
            Ok(DesiredState {
                probes: self
                    .0
                    .iter()
                    .map(|&(name, user_code)| {
                        Box::new(Logged {
                            name,
                            user_code,
                            log: self.1.clone(),
                        }) as Box<dyn Probe>
                    })
                    .collect(),
                ..DesiredState::default()
            })
        }
    }

    #[test]
    fn every_probe_running_user_code_comes_before_every_passive_one() {
        with_host(|_, ctx| {
            let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
            let first = Probing(vec![("overrides", false), ("pip", true)], log.clone());
            let second = Probing(vec![("import", true), ("walk", false)], log.clone());
            let reports = run_controls(Mode::Verify, ctx, &[&first, &second]);
            assert_eq!(*log.borrow(), ["pip", "import", "overrides", "walk"]);
            // Each report keeps its own evidence, in the order its checks ran.
            assert_eq!(reports[0].evidence, ["pip: ok: ran", "overrides: ok: ran"]);
            assert_eq!(reports[1].evidence, ["import: ok: ran", "walk: ok: ran"]);
            log.borrow_mut().clear();
            let plan = run_controls(Mode::Plan, ctx, &[&first]);
            assert!(log.borrow().is_empty(), "plan made live checks");
            // Checks plan did not run are not a pass (they used to be).
            assert_eq!(plan[0].status, Status::Skip);
            assert!(
                plan[0]
                    .evidence
                    .iter()
                    .any(|e| e.contains("2 live check(s) not run")),
                "{:?}",
                plan[0].evidence
            );
        });
    }

    /// A check that does not apply here (no RPM database, no Python).
    struct NotApplicable;
    impl Probe for NotApplicable {
        fn describe(&self) -> String {
            "rpm -V".into()
        }
        fn check(&self, _: &Host) -> Result<ProbeResult> {
            Ok(ProbeResult::skipped("not an RPM system: nothing to verify"))
        }
    }

    struct SkippedChecks(bool);
    impl Control for SkippedChecks {
        fn info(&self) -> &'static ControlInfo {
            const INFO: ControlInfo = info("skipped", "checks that do not apply");
            &INFO
        }
        fn desired(&self, _: &Context<'_>) -> Result<DesiredState> {
            let files = if self.0 {
                vec![ManagedFile::root_owned("/etc/hostname", b"nb\n", 0o644)]
            } else {
                Vec::new()
            };
            Ok(DesiredState {
                files,
                probes: vec![Box::new(NotApplicable)],
                ..DesiredState::default()
            })
        }
    }

    /// A control that checked nothing (its only check does not apply) is
    /// `skip`, not `pass` as it used to be; with files judged it is what
    /// they are, its skipped check named in the evidence.
    #[test]
    fn a_control_whose_checks_do_not_apply_is_skipped_not_passed() {
        with_host(|_, ctx| {
            let alone = run_control(Mode::Verify, ctx, &SkippedChecks(false));
            assert_eq!(alone.status, Status::Skip, "{alone:?}");
            assert_eq!(
                alone.evidence,
                ["rpm -V: skipped: not an RPM system: nothing to verify"]
            );
            let with_files = run_control(Mode::Verify, ctx, &SkippedChecks(true));
            assert_ne!(with_files.status, Status::Skip, "{with_files:?}");
            assert!(
                with_files.evidence.iter().any(|e| e.contains("skipped")),
                "{with_files:?}"
            );
        });
    }

    fn with_host(f: impl FnOnce(&tempfile::TempDir, &Context<'_>)) {
        let dir = crate::test_support::notebook_root();
        let host = Host::open(dir.path()).expect("host");
        let policy = policy::parse("version = 1\n", "t.toml").expect("policy");
        let aws = crate::aws::Aws::new(Instant::now() + Duration::from_secs(60));
        let ctx = Context {
            host: &host,
            policy: &policy,
            policy_sha256: "",
            deadline: Instant::now() + Duration::from_secs(60),
            aws: &aws,
            facts: &crate::facts::Facts::given(None, None, None),
        };
        f(&dir, &ctx);
    }

    #[test]
    #[cfg_attr(
        not(feature = "system-tier"),
        ignore = "needs root: it writes root-owned files (scripts/test, or --features system-tier as root)"
    )]
    fn an_erroring_control_does_not_stop_the_others() {
        with_host(|dir, ctx| {
            let controls: Vec<Box<dyn Control>> = vec![
                Box::new(Broken),
                Box::new(Files(vec![("/etc/a.conf", "a\n")])),
            ];
            let reports: Vec<ControlReport> = controls
                .iter()
                .map(|c| run_control(Mode::Apply, ctx, c.as_ref()))
                .collect();
            assert_eq!(reports[0].status, Status::Error);
            assert!(
                reports[0]
                    .error
                    .as_deref()
                    .is_some_and(|e| e.contains("parameter store"))
            );
            assert_eq!(reports[1].status, Status::Fixed);
            assert!(dir.path().join("etc/a.conf").exists());
        });
    }

    #[test]
    fn memberships_become_edits_of_group_and_gshadow_and_probes_confirm() {
        with_host(|dir, ctx| {
            let plan = run_control(Mode::Plan, ctx, &LeaveWheel);
            // "Would change", not "fail" as plan used to say.
            assert_eq!(plan.status, Status::Change);
            assert_eq!(plan.changes.len(), 2);
            let gshadow_diff = plan.changes[1].diff.as_deref().unwrap_or_default();
            assert!(
                gshadow_diff.contains("not shown"),
                "gshadow content is sensitive"
            );

            let verify = run_control(Mode::Verify, ctx, &LeaveWheel);
            assert_eq!(verify.status, Status::Fail);
            assert!(
                verify.evidence.iter().any(|e| e.contains("FAILED")),
                "{:?}",
                verify.evidence
            );

            let apply = run_control(Mode::Apply, ctx, &LeaveWheel);
            assert_eq!(apply.status, Status::Fixed, "{:?}", apply);
            let group = std::fs::read_to_string(dir.path().join("etc/group")).expect("group");
            assert_eq!(group, "wheel:x:10:\nec2-user:x:1000:\n");
            let gshadow = std::fs::read_to_string(dir.path().join("etc/gshadow")).expect("gs");
            assert_eq!(gshadow, "wheel:!::\nec2-user:!::\n");
            assert_eq!(
                run_control(Mode::Apply, ctx, &LeaveWheel).status,
                Status::Pass
            );
        });
    }

    #[test]
    fn a_control_past_the_deadline_errors_without_running() {
        with_host(|dir, ctx| {
            let late = Context {
                deadline: Instant::now() - Duration::from_millis(1),
                ..*ctx
            };
            let r = run_control(Mode::Apply, &late, &Files(vec![("/etc/a", "a")]));
            assert_eq!(r.status, Status::Error);
            assert!(!dir.path().join("etc/a").exists());
        });
    }
}
