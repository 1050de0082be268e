//! The fleet view: each run's report goes to
//! `s3://BUCKET/PREFIX/ACCOUNT/REGION/NOTEBOOK/TIMESTAMP.json` and
//! `…/latest.json` (`run::upload`); `nbwarden fleet summary` reads every
//! `latest.json` (`summary`), holds it against the control plane
//! (`cross_check`, `governance`), shows it (`table`, `view`) and publishes
//! it to Security Hub (`security_hub`).
//!
//! A report is written with the notebook's role, which the notebook user's
//! kernels hold too, so the user can replace it. `--cross-check` therefore
//! holds each report against what SageMaker answers the administrator's
//! own credentials, and lists notebooks in service that have no report.

use std::time::SystemTime;

use serde::Serialize;

use crate::report::ControlPlaneView;

mod accounts;
mod cross_check;
mod governance;
mod security_hub;
mod summary;
mod table;
mod text;
mod view;

pub use accounts::{Account, Accounts, DEFAULT_ROLE_NAME, reach};
pub use cross_check::{CrossCheck, CrossCheckRules, START_GRACE};
pub use security_hub::{Publication, publish as publish_to_security_hub};
pub use summary::summary;
pub use table::render_table;
pub use view::{FLEET_SCHEMA_VERSION, FleetView};

/// The control that checks SageMaker's settings of the notebook.
const CONTROL_PLANE: &str = "control-plane";

/// What a row's report claims that the control plane can contradict.
#[derive(Debug, Clone, Default)]
struct Claims {
    finished_at: Option<SystemTime>,
    control_plane: Option<ControlPlaneView>,
    control_plane_passed: bool,
}

/// One notebook in the fleet summary.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Row {
    pub notebook: String,
    pub account: String,
    pub region: String,
    pub command: String,
    pub finished_at: String,
    pub exit_code: u8,
    pub failing: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// With `--cross-check`: what SageMaker says against the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_check: Option<CrossCheck>,
    #[serde(skip)]
    claims: Claims,
}

impl Row {
    /// A row that knows nothing yet: it counts as failing (exit 3).
    fn empty() -> Row {
        Row {
            notebook: String::new(),
            account: String::new(),
            region: String::new(),
            command: String::new(),
            finished_at: String::new(),
            exit_code: 3,
            failing: Vec::new(),
            failing_since: None,
            problem: None,
            cross_check: None,
            claims: Claims::default(),
        }
    }

    /// Not compliant, or contradicted by the control plane.
    pub fn flagged(&self) -> bool {
        self.exit_code != 0
            || self
                .cross_check
                .as_ref()
                .is_some_and(|c| !c.findings.is_empty())
    }
}

type NotebookKey = (String, String, String);

/// How many SageMaker calls the cross-check makes at once: enough to hide
/// each call's round trip behind the others', few enough to stay within
/// SageMaker's request rates (a throttled call is retried with backoff).
const FLEET_CALLS: usize = 8;

/// Which IAM role an ARN names: its account and its name, whatever the
/// path and in any case, since IAM keeps role names unique regardless of
/// case (`role/a/Nb` and `role/nb` are one role).
fn role_identity(arn: &str) -> String {
    let name = arn.rsplit('/').next().unwrap_or(arn);
    format!("{}:{}", arn_account(arn), name.to_ascii_lowercase())
}

/// The partition of a region's ARNs.
fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The account field of an ARN (`arn:aws:sagemaker:REGION:ACCOUNT:…`).
fn arn_account(arn: &str) -> &str {
    arn.split(':').nth(4).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::cross_check::*;
    use super::summary::*;
    use super::text::*;
    use super::*;
    use crate::report::{ControlReport, Status};

    #[test]
    fn a_row_lists_failing_controls_and_an_unreadable_report_fails() {
        let mut report = crate::report::tests::sample();
        report.exit_code = 1;
        let mut failed = ControlReport::new("sudo", "t");
        failed.status = Status::Fail;
        report.controls = vec![failed, ControlReport::new("packages", "t")];
        let bytes = serde_json::to_vec(&report).expect("json");
        let r = row("111122223333/eu-west-1/nb1/latest.json", Ok(bytes));
        assert_eq!(
            (r.account.as_str(), r.region.as_str(), r.notebook.as_str()),
            ("111122223333", "eu-west-1", "nb1")
        );
        assert_eq!(
            (r.exit_code, r.failing.clone()),
            (1, vec!["sudo".to_string()])
        );
        let bad = row("x/latest.json", Ok(b"{\"not\": \"a report\"}".to_vec()));
        assert_eq!((bad.exit_code, bad.notebook.as_str()), (3, "x"));
        assert!(bad.problem.is_some_and(|p| p.contains("unreadable report")));
        let table = render_table(&[r]);
        assert!(table.contains("1 notebook(s), 1 not compliant"), "{table}");
    }

    fn honest_view() -> ControlPlaneView {
        ControlPlaneView {
            kms_key_id: Some("arn:aws:kms:eu-west-1:111122223333:key/k".into()),
            direct_internet_access: Some("Disabled".into()),
            root_access: Some("Disabled".into()),
        }
    }

    /// A compliant report whose control-plane check passed, finished at
    /// `finished` (seconds since the epoch), claiming `view`.
    fn reported(finished: u64, view: Option<ControlPlaneView>) -> Row {
        let mut report = crate::report::tests::sample();
        report.exit_code = 0;
        report.finished_at = humantime::format_rfc3339_seconds(
            SystemTime::UNIX_EPOCH + Duration::from_secs(finished),
        )
        .to_string();
        let mut cp = ControlReport::new(CONTROL_PLANE, "t");
        cp.status = Status::Pass;
        report.controls = vec![cp];
        report.control_plane = view;
        let bytes = serde_json::to_vec(&report).expect("json");
        row("111122223333/eu-west-1/nb1/latest.json", Ok(bytes))
    }

    fn described(view: ControlPlaneView, modified: u64) -> crate::aws::NotebookDescription {
        crate::aws::NotebookDescription {
            notebook_instance_name: Some("nb1".into()),
            notebook_instance_arn: Some(
                "arn:aws:sagemaker:eu-west-1:111122223333:notebook-instance/nb1".into(),
            ),
            notebook_instance_status: Some("InService".into()),
            last_modified_time: Some(modified as f64),
            kms_key_id: view.kms_key_id,
            direct_internet_access: view.direct_internet_access,
            root_access: view.root_access,
            notebook_instance_lifecycle_config_name: Some("nbwarden".into()),
            ..Default::default()
        }
    }

    /// Issue 19's third red-team round: a notebook made with every safe
    /// setting but without the fleet's lifecycle configuration never runs
    /// nbwarden, and a copied report made it "agree".
    #[test]
    fn a_notebook_without_the_fleets_lifecycle_configuration_is_flagged() {
        let row = reported(10_000, Some(honest_view()));
        let mut seen = described(honest_view(), 10_000);
        let rules = CrossCheckRules::default();
        assert!(judge(&row, &seen, &rules).findings.is_empty());
        seen.notebook_instance_lifecycle_config_name = None;
        let none = judge(&row, &seen, &rules).findings;
        assert!(
            none.iter()
                .any(|f| f.contains("no lifecycle configuration")),
            "{none:?}"
        );
        seen.notebook_instance_lifecycle_config_name = Some("team-setup".into());
        let other = judge(&row, &seen, &rules).findings;
        assert!(
            other
                .iter()
                .any(|f| f.contains("`team-setup`, not the fleet's `nbwarden`")),
            "{other:?}"
        );
        let theirs = CrossCheckRules {
            lifecycle_configs: vec!["team-setup".into()],
            ..CrossCheckRules::default()
        };
        assert!(judge(&row, &seen, &theirs).findings.is_empty());
        // A staged roll-out: the fleet's configuration and its canary.
        let staged = CrossCheckRules {
            lifecycle_configs: vec!["nbwarden".into(), "nbwarden-canary".into()],
            ..CrossCheckRules::default()
        };
        assert!(
            judge(&row, &seen, &staged)
                .findings
                .iter()
                .any(|f| f.contains("not the fleet's `nbwarden`, `nbwarden-canary`"))
        );
        seen.notebook_instance_lifecycle_config_name = Some("nbwarden-canary".into());
        assert!(judge(&row, &seen, &staged).findings.is_empty());
    }

    #[test]
    fn root_access_is_flagged_unless_the_fleet_allows_it() {
        let mut open_root = honest_view();
        open_root.root_access = Some("Enabled".into());
        let row = reported(10_000, Some(open_root.clone()));
        let seen = described(open_root, 10_000);
        let findings = judge(&row, &seen, &CrossCheckRules::default()).findings;
        assert!(
            findings.iter().any(|f| f.contains("RootAccess is Enabled")),
            "{findings:?}"
        );
        let lenient = CrossCheckRules {
            allow_root_access: true,
            ..CrossCheckRules::default()
        };
        assert!(judge(&row, &seen, &lenient).findings.is_empty());
    }

    #[test]
    fn a_last_modified_time_that_is_no_time_is_not_compared() {
        let row = reported(10_000, Some(honest_view()));
        for odd in [f64::NAN, -1.0, 1e300, f64::INFINITY] {
            let mut seen = described(honest_view(), 0);
            seen.last_modified_time = Some(odd);
            assert!(
                judge(&row, &seen, &CrossCheckRules::default())
                    .findings
                    .is_empty(),
                "{odd}"
            );
        }
    }

    #[test]
    fn bidi_and_zero_width_characters_are_escaped_too() {
        let shown = printable("nb\u{202e}x\u{200b}\u{2028}y");
        assert!(shown.is_ascii(), "{shown}");
        assert!(shown.contains("\\u{202e}"), "{shown}");
    }

    #[test]
    fn what_the_user_wrote_cannot_drive_the_terminal() {
        let mut r = row(
            "111122223333/eu-west-1/nb1/latest.json",
            Err(anyhow::anyhow!("x")),
        );
        r.failing_since = Some("\u{1b}[2J\u{1b}[H0 notebook(s)\n".into());
        let table = render_table(&[r]);
        assert!(!table.contains('\u{1b}'), "{table:?}");
        assert!(table.contains("\\x1b[2J"), "{table}");
        assert_eq!(table.lines().count(), 4, "{table}");

        use crate::report::visible::{HOSTILE, inert};
        let mut r = row(
            "111122223333/eu-west-1/nb1/latest.json",
            Err(anyhow::anyhow!("x")),
        );
        r.notebook = format!("nb{HOSTILE}");
        r.problem = Some(HOSTILE.into());
        let table = render_table(&[r]);
        assert!(inert(&table), "{table:?}");
        assert!(table.contains("\\x1b]52;c;"), "{table}");
    }

    /// Issue 19's third red-team round: spaces in what the user wrote
    /// pushed the cross-check's findings two thousand columns right, past
    /// what a cut view shows, and left "agrees" from a control id in
    /// sight. Findings now start their own lines, and the row is bounded.
    #[test]
    fn what_the_user_wrote_cannot_push_a_finding_out_of_sight() {
        let mut r = reported(10_000, Some(honest_view()));
        r.failing_since = Some(format!("-{}", " ".repeat(95)));
        r.failing = std::iter::once(format!("-  agrees{}", " ".repeat(88)))
            .chain(std::iter::repeat_n(" ".repeat(96), 20))
            .collect();
        r.exit_code = 0;
        r.cross_check = Some(CrossCheck {
            findings: vec!["no owner tag `owner`".into()],
            ..CrossCheck::default()
        });
        let table = render_table(&[r]);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines.iter().all(|l| l.chars().count() <= 400), "{table}");
        assert!(lines[1].contains("FLAGGED (1)"), "{table}");
        assert!(!lines[1].contains("   agrees"), "{table}");
        assert_eq!(lines[2], "    ! no owner tag `owner`", "{table}");
    }

    #[test]
    fn a_role_is_one_whatever_its_case_or_path() {
        let id = role_identity;
        assert_eq!(
            id("arn:aws:iam::111122223333:role/nbwarden/Team-Nb"),
            id("arn:aws:iam::111122223333:role/team-nb")
        );
        assert_ne!(
            id("arn:aws:iam::111122223333:role/team-nb"),
            id("arn:aws:iam::444455556666:role/team-nb")
        );
        assert_ne!(
            id("arn:aws:iam::111122223333:role/team-nb"),
            id("arn:aws:iam::111122223333:role/team-nb2")
        );
    }

    #[test]
    fn a_key_that_names_no_real_notebook_is_not_taken_for_one() {
        for key in [
            "111122223333/eu-west-1/x\u{1}y/latest.json",
            "111122223333/attacker.example#/nb1/latest.json",
            "1111/eu-west-1/nb1/latest.json",
            "111122223333/eu-west-1/nb_1/latest.json",
        ] {
            let r = row(key, Ok(b"{}".to_vec()));
            assert!(r.region.is_empty() && r.account.is_empty(), "{key}: {r:?}");
        }
    }

    #[test]
    fn a_report_that_matches_the_control_plane_agrees() {
        let row = reported(10_000, Some(honest_view()));
        // The notebook went InService a few minutes after its start's report.
        let check = judge(
            &row,
            &described(honest_view(), 10_000 + 240),
            &CrossCheckRules::default(),
        );
        assert_eq!(check.findings, Vec::<String>::new());
        assert_eq!(check.status.as_deref(), Some("InService"));
    }

    #[test]
    fn a_forged_view_a_missing_view_and_an_old_report_are_flagged() {
        let open = ControlPlaneView {
            kms_key_id: None,
            direct_internet_access: Some("Enabled".into()),
            root_access: Some("Enabled".into()),
        };
        // The user copied an honest report onto a notebook that is open.
        let forged = judge(
            &reported(10_000, Some(honest_view())),
            &described(open.clone(), 10_000),
            &CrossCheckRules::default(),
        );
        let text = forged.findings.join("\n");
        for field in [
            "KmsKeyId",
            "DirectInternetAccess: SageMaker says Enabled, the report says Disabled",
            "RootAccess",
            "no KMS key",
        ] {
            assert!(text.contains(field), "{field}: {text}");
        }
        // A hand-written report that claims the check passed without a view.
        let bare = judge(
            &reported(10_000, None),
            &described(honest_view(), 10_000),
            &CrossCheckRules::default(),
        );
        assert!(
            bare.findings
                .iter()
                .any(|f| f.contains("recorded no SageMaker answer")),
            "{bare:?}"
        );
        // A report that claims nothing about the control plane hides nothing.
        let mut silent = reported(10_000, None);
        silent.claims.control_plane_passed = false;
        let silent = judge(
            &silent,
            &described(open.clone(), 10_000),
            &CrossCheckRules::default(),
        );
        let text = silent.findings.join("\n");
        assert!(
            text.contains("no KMS key") && text.contains("DirectInternetAccess is Enabled"),
            "{text}"
        );
        // A report from the future was not written by a run.
        let future = judge(
            &reported(4_000_000_000, Some(honest_view())),
            &described(honest_view(), 10_000),
            &CrossCheckRules::default(),
        );
        assert!(
            future.findings.iter().any(|f| f.contains("in the future")),
            "{future:?}"
        );
        // An old compliant report kept after a new start.
        let old = judge(
            &reported(10_000, Some(honest_view())),
            &described(honest_view(), 10_000 + 3600),
            &CrossCheckRules::default(),
        );
        assert!(
            old.findings.iter().any(|f| f.starts_with("stale:")),
            "{old:?}"
        );
        // Another account's notebook of the same name is not evidence.
        let mut elsewhere = described(honest_view(), 10_000);
        elsewhere.notebook_instance_arn =
            Some("arn:aws:sagemaker:eu-west-1:999999999999:notebook-instance/nb1".into());
        let other = judge(
            &reported(10_000, Some(honest_view())),
            &elsewhere,
            &CrossCheckRules::default(),
        );
        assert!(
            other
                .findings
                .iter()
                .any(|f| f.contains("not cross-checked")),
            "{other:?}"
        );
        let rows = [reported(10_000, Some(honest_view()))];
        let mut flagged = rows[0].clone();
        flagged.cross_check = Some(old);
        assert!(flagged.flagged() && !rows[0].flagged());
        let table = render_table(&[flagged]);
        assert!(table.contains("1 flagged by the cross-check"), "{table}");
    }
}
