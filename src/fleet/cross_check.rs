//! `--cross-check`: each report held against what SageMaker answers the
//! administrator's own credentials, the notebooks in service without a
//! report, and the governance findings (tags, shared roles, direct
//! internet and root access).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use anyhow::Result;
use serde::Serialize;

use super::text::{bounded, printable};
use super::{FLEET_CALLS, NotebookKey, Row, arn_account, governance, role_identity};
use crate::aws::Aws;
use crate::report::ControlPlaneView;

/// How long before SageMaker's `LastModifiedTime` a start's report may
/// finish: the start's verify runs before the notebook goes InService
/// (which SageMaker records as a modification), inside the lifecycle's
/// 5 minutes. A report older than that is from an earlier start.
pub const START_GRACE: Duration = Duration::from_secs(10 * 60);

/// The problem of a region's row when its notebooks could not be listed.
pub(super) const NOT_LISTED: &str = "notebooks not listed";

/// How far an instance's clock may run ahead of the administrator's.
pub(super) const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// What the cross-check requires of every notebook beyond a KMS key and no
/// direct internet access.
#[derive(Debug, Clone)]
pub struct CrossCheckRules {
    /// `RootAccess: Enabled` is not flagged.
    pub allow_root_access: bool,
    /// The tag naming who may open a notebook (the users' access policy
    /// compares it with their name), and the cost-attribution tag: each
    /// must have a value.
    pub owner_tag: String,
    pub cost_tag: String,
    /// Regions to list besides those the reports name and the caller's
    /// own: a notebook in a region with no report is seen only so.
    pub regions: Vec<String>,
    /// The fleet's lifecycle configurations (`lifecycle render --name`;
    /// several during a staged roll-out, such as a canary): a notebook that
    /// starts with another, or none, never runs nbwarden, whatever report
    /// sits under its name.
    pub lifecycle_configs: Vec<String>,
    /// What the guardrail requires (`[governance]`): each notebook role
    /// must carry it, and jobs run with a notebook's role must meet it.
    pub governance: crate::policy::GovernancePolicy,
    /// How many days back the jobs are listed.
    pub job_days: u32,
}

impl Default for CrossCheckRules {
    fn default() -> Self {
        CrossCheckRules {
            allow_root_access: false,
            owner_tag: "owner".into(),
            cost_tag: "cost-center".into(),
            regions: Vec::new(),
            lifecycle_configs: vec![crate::lifecycle::DEFAULT_CONFIG_NAME.into()],
            governance: crate::policy::GovernancePolicy::default(),
            job_days: 30,
        }
    }
}

/// What the cross-check found for one notebook.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct CrossCheck {
    /// The notebook's status as SageMaker tells the administrator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Its settings as SageMaker tells the administrator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sagemaker: Option<ControlPlaneView>,
    /// Its execution role (`RoleArn`), its owner and its cost tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<String>,
    /// Each disagreement, staleness or reason it could not be checked;
    /// empty when the report agrees with the control plane.
    pub findings: Vec<String>,
}

/// Asks SageMaker, with the caller's credentials, about every notebook a
/// report names (`DescribeNotebookInstance` in the report's region) and
/// about every notebook in those regions (`ListNotebookInstances`, then
/// each one's description and `ListTags`), and records on each row what
/// disagrees and what leaves access open: no owner or cost tag, a role
/// shared with other notebooks, direct internet or root access. Notebooks
/// in service without a report, and others with such findings, get a row
/// of their own. Only a failed listing is an error: the caller cannot then
/// say which notebooks lack a report.
// Long: the cross-check's steps per region (describe, judge, list the unreported) share the
// region's answers.
pub fn cross_check(aws: &Aws, rows: &mut Vec<Row>, rules: &CrossCheckRules) -> Result<()> {
    let mut described = BTreeMap::new();
    let checked =
        crate::base::parallel::map_with(FLEET_CALLS, rows, |row| check_row(aws, row, rules));
    for (row, (check, seen)) in rows.iter_mut().zip(checked) {
        row.cross_check = Some(check);
        if let Some(seen) = seen {
            described.insert((row.region.clone(), row.notebook.clone()), seen);
        }
    }
    let mut regions: BTreeSet<String> = rows
        .iter()
        .map(|r| r.region.clone())
        .filter(|r| !r.is_empty())
        .collect();
    if let Ok(own) = aws.region()
        && !own.is_empty()
    {
        regions.insert(own);
    }
    regions.extend(rules.regions.iter().cloned());
    let mut fleet = Vec::new();
    let mut unlisted = Vec::new();
    for region in &regions {
        match aws.sagemaker_list_notebooks(region) {
            Ok(listed) => fleet.extend(listed.into_iter().map(|nb| (region.clone(), nb))),
            Err(e) => unlisted.push((region.clone(), format!("{e:#}"))),
        }
    }
    // A region that cannot be listed is a row of its own: the summary still
    // shows every report, and says which notebooks it could not look for.
    for (region, why) in unlisted {
        rows.push(Row {
            notebook: "*".into(),
            region,
            problem: Some(NOT_LISTED.into()),
            cross_check: Some(CrossCheck {
                findings: vec![format!(
                    "cannot list the notebooks here, so notebooks without a report are not \
                     known: {why}"
                )],
                ..CrossCheck::default()
            }),
            ..Row::empty()
        });
    }
    let mut access = access_view(aws, &fleet, &described, rules);
    add_governance(aws, &mut access, &regions, rules, rows);
    // Reports by notebook: a fleet has thousands of each.
    let reported: BTreeMap<NotebookKey, usize> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| ((r.account.clone(), r.region.clone(), r.notebook.clone()), i))
        .collect();
    for (key, (status, view)) in access {
        if let Some(&i) = reported.get(&key) {
            let check = rows[i].cross_check.get_or_insert_with(CrossCheck::default);
            check.role_arn = view.role_arn;
            check.owner = view.owner;
            check.cost = view.cost;
            check.findings.extend(view.findings);
            continue;
        }
        let (account, region, notebook) = key;
        let in_service = status.as_deref() == Some("InService");
        let mut findings = Vec::new();
        if in_service {
            findings.push(
                "in service, but no report under this prefix: nbwarden did not run, its upload \
                 failed, or the report was deleted"
                    .to_string(),
            );
        } else if view.findings.is_empty() && view.settings.is_empty() {
            // Stopped and as it should be: its next start reports.
            continue;
        }
        findings.extend(view.findings.iter().cloned());
        findings.extend(view.settings);
        rows.push(Row {
            notebook,
            account,
            region,
            problem: Some(
                if in_service {
                    "no report"
                } else {
                    "no report (not in service)"
                }
                .into(),
            ),
            cross_check: Some(CrossCheck {
                status,
                role_arn: view.role_arn,
                owner: view.owner,
                cost: view.cost,
                findings,
                ..CrossCheck::default()
            }),
            ..Row::empty()
        });
    }
    Ok(())
}

/// What notebooks launch ([`governance`]): findings on each listed
/// notebook's view, and a "jobs not checked" row for each region where
/// something could not be attributed.
pub(super) fn add_governance(
    aws: &Aws,
    access: &mut BTreeMap<NotebookKey, (Option<String>, AccessFindings)>,
    regions: &BTreeSet<String>,
    rules: &CrossCheckRules,
    rows: &mut Vec<Row>,
) {
    let since = SystemTime::now()
        .checked_sub(Duration::from_secs(u64::from(rules.job_days) * 86_400))
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let roles: Vec<governance::NotebookRole<'_>> = access
        .iter()
        .filter_map(|(key, (_, view))| {
            Some(governance::NotebookRole {
                key,
                role_arn: view.role.as_deref()?,
                owner: view.owner.as_deref(),
            })
        })
        .collect();
    let launched = governance::findings(
        aws,
        &roles,
        regions,
        &rules.governance,
        &rules.owner_tag,
        since,
    );
    for (key, findings) in launched.notebooks {
        if let Some((_, view)) = access.get_mut(&key) {
            view.findings.extend(findings);
        }
    }
    for (region, findings) in launched.regions {
        rows.push(Row {
            notebook: "*".into(),
            region,
            problem: Some("jobs not checked".into()),
            cross_check: Some(CrossCheck {
                findings,
                ..CrossCheck::default()
            }),
            ..Row::empty()
        });
    }
}

/// What the access view found for one listed notebook.
#[derive(Debug, Default)]
pub(super) struct AccessFindings {
    role_arn: Option<String>,
    /// The role's ARN as SageMaker wrote it, for the calls that read it.
    role: Option<String>,
    owner: Option<String>,
    cost: Option<String>,
    /// Tags and role sharing.
    findings: Vec<String>,
    /// KMS, internet and root access, for notebooks without a report (a
    /// report's row has them from [`judge`] already).
    settings: Vec<String>,
}

/// Every listed notebook's role, owner and cost tags, and what of them
/// leaves access open, keyed by account, region and name.
// Long: one finding per governance rule, each with its own wording.
pub(super) fn access_view(
    aws: &Aws,
    fleet: &[(String, crate::aws::NotebookDescription)],
    described: &BTreeMap<(String, String), crate::aws::NotebookDescription>,
    rules: &CrossCheckRules,
) -> BTreeMap<NotebookKey, (Option<String>, AccessFindings)> {
    // SageMaker's answers first, several at a time; then what they mean,
    // in the listing's order.
    let answers = crate::base::parallel::map_with(FLEET_CALLS, fleet, |(region, listed)| {
        let (Some(name), Some(arn)) = (
            &listed.notebook_instance_name,
            &listed.notebook_instance_arn,
        ) else {
            return None;
        };
        let seen = match described.get(&(region.clone(), name.clone())) {
            Some(seen) => Ok(seen.clone()),
            None => aws.sagemaker_describe_notebook_in(region, name),
        };
        Some((seen, aws.sagemaker_tags_in(region, arn)))
    });
    let mut out = BTreeMap::new();
    let mut by_role: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut role_of: BTreeMap<String, String> = BTreeMap::new();
    for ((region, listed), answer) in fleet.iter().zip(answers) {
        let (Some(name), Some(arn), Some((seen, tags))) = (
            &listed.notebook_instance_name,
            &listed.notebook_instance_arn,
            answer,
        ) else {
            continue;
        };
        let mut view = AccessFindings::default();
        let seen = seen
            .map_err(|e| view.findings.push(format!("cannot describe it: {e:#}")))
            .ok();
        if let Some(seen) = &seen {
            view.role_arn = seen.role_arn.clone().map(|r| bounded(&r));
            view.role = seen.role_arn.clone();
            view.settings = settings_findings(seen, rules);
            if let Some(role) = &seen.role_arn {
                let me = format!("{region}/{name}");
                let role = role_identity(role);
                by_role.entry(role.clone()).or_default().push(me.clone());
                role_of.insert(me, role);
            }
        }
        match tags {
            Ok(tags) => {
                let value = |k: &str| {
                    tags.get(k)
                        .filter(|v| !v.trim().is_empty())
                        .map(|v| bounded(v))
                };
                view.owner = value(&rules.owner_tag);
                view.cost = value(&rules.cost_tag);
                // SageMaker keeps `Owner` and `owner` apart; IAM may not
                // when it reads a tag in a condition. A key that differs
                // from the policy's only in case is someone's way around it.
                for wanted in [&rules.owner_tag, &rules.cost_tag] {
                    for key in tags
                        .keys()
                        .filter(|k| k.eq_ignore_ascii_case(wanted) && *k != wanted)
                    {
                        view.findings.push(format!(
                            "tag `{}` differs from `{wanted}` only in case: IAM may read it as \
                             that tag",
                            bounded(key)
                        ));
                    }
                }
                if view.owner.is_none() {
                    view.findings.push(format!(
                        "no owner tag `{}`: no user's access policy opens it, and nobody answers \
                         for it",
                        rules.owner_tag
                    ));
                }
                if view.cost.is_none() {
                    view.findings
                        .push(format!("no cost tag `{}`", rules.cost_tag));
                }
            }
            Err(e) => view.findings.push(format!("cannot read its tags: {e:#}")),
        }
        out.insert(
            (arn_account(arn).to_string(), region.clone(), name.clone()),
            (listed.notebook_instance_status.clone(), view),
        );
    }
    // A role is the instance's, and its user's kernels hold it: notebooks
    // that share one share every right it has, and each one's user can
    // act as the others.
    for ((_, region, name), (_, view)) in out.iter_mut() {
        let me = format!("{region}/{name}");
        let Some(sharers) = role_of.get(&me).and_then(|role| by_role.get(role)) else {
            continue;
        };
        let others: Vec<&str> = sharers
            .iter()
            .filter(|s| **s != me)
            .map(String::as_str)
            .collect();
        if !others.is_empty() {
            view.findings.push(format!(
                "its role is shared with {} other notebook(s) ({}): each one's user holds the \
                 others' rights",
                others.len(),
                bounded(&others.join(", "))
            ));
        }
    }
    out
}

/// What SageMaker's settings leave open, whatever a report says.
pub(super) fn settings_findings(
    seen: &crate::aws::NotebookDescription,
    rules: &CrossCheckRules,
) -> Vec<String> {
    let truth = ControlPlaneView::from(seen);
    let mut findings = Vec::new();
    match seen.notebook_instance_lifecycle_config_name.as_deref() {
        Some(name) if rules.lifecycle_configs.iter().any(|c| c == name) => {}
        Some(name) => findings.push(format!(
            "SageMaker says it starts with lifecycle configuration `{}`, not the fleet's `{}` \
             (--lifecycle-config names them): nbwarden may never run there",
            printable(&bounded(name)),
            rules.lifecycle_configs.join("`, `")
        )),
        None => findings.push(
            "SageMaker says it has no lifecycle configuration: nbwarden never runs there".into(),
        ),
    }
    if truth.kms_key_id.is_none() {
        findings.push("SageMaker says the notebook's volume has no KMS key".into());
    }
    if truth.direct_internet_access.as_deref() != Some("Disabled") {
        findings.push(format!(
            "SageMaker says DirectInternetAccess is {}",
            shown(&truth.direct_internet_access)
        ));
    }
    if !rules.allow_root_access && truth.root_access.as_deref() != Some("Disabled") {
        findings.push(format!(
            "SageMaker says RootAccess is {}",
            shown(&truth.root_access)
        ));
    }
    findings
}

pub(super) fn shown(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("none")
}

/// One report against SageMaker's answer about its notebook.
pub(super) fn check_row(
    aws: &Aws,
    row: &Row,
    rules: &CrossCheckRules,
) -> (CrossCheck, Option<crate::aws::NotebookDescription>) {
    let mut check = CrossCheck::default();
    if row.account.is_empty() || row.region.is_empty() {
        check.findings.push(
            "the report is not under ACCOUNT/REGION/NOTEBOOK/latest.json: it names no notebook \
             to check"
                .into(),
        );
        return (check, None);
    }
    match aws.sagemaker_describe_notebook_in(&row.region, &row.notebook) {
        Ok(seen) => (judge(row, &seen, rules), Some(seen)),
        Err(e) => {
            check
                .findings
                .push(format!("SageMaker does not confirm this notebook: {e:#}"));
            (check, None)
        }
    }
}

/// A report's claims against SageMaker's description of its notebook.
// Long: one comparison per field a report claims, each with its own finding.
pub(super) fn judge(
    row: &Row,
    seen: &crate::aws::NotebookDescription,
    rules: &CrossCheckRules,
) -> CrossCheck {
    let mut check = CrossCheck {
        status: seen.notebook_instance_status.clone(),
        ..CrossCheck::default()
    };
    if let Some(arn) = &seen.notebook_instance_arn
        && arn_account(arn) != row.account
    {
        check.findings.push(format!(
            "the report is filed under account {}, but these credentials reach account {}: \
             not cross-checked",
            row.account,
            arn_account(arn)
        ));
        return check;
    }
    let truth = ControlPlaneView::from(seen);
    check.sagemaker = Some(truth.clone());
    let claims = &row.claims;
    // What SageMaker says is judged whatever the report claims: a report
    // that says nothing about the control plane hides nothing here.
    check.findings.extend(settings_findings(seen, rules));
    match &claims.control_plane {
        Some(claimed) => {
            for (field, said, is) in [
                ("KmsKeyId", &claimed.kms_key_id, &truth.kms_key_id),
                (
                    "DirectInternetAccess",
                    &claimed.direct_internet_access,
                    &truth.direct_internet_access,
                ),
                ("RootAccess", &claimed.root_access, &truth.root_access),
            ] {
                // SageMaker's word first, the report's (which its user may
                // have written, at any length) bounded and last.
                if said != is {
                    check.findings.push(format!(
                        "{field}: SageMaker says {}, the report says {}",
                        shown(is),
                        bounded(shown(said))
                    ));
                }
            }
        }
        None if claims.control_plane_passed => check.findings.push(
            "the report's control-plane check passed but recorded no SageMaker answer: it was \
             forged, or the instance role could not describe the notebook (see its IAM policy)"
                .into(),
        ),
        None => {}
    }
    if let Some(finished) = claims.finished_at
        && finished > SystemTime::now() + CLOCK_SKEW
    {
        check.findings.push(format!(
            "the report finished in the future ({}): it was not written by a run",
            row.finished_at
        ));
    }
    // A time SageMaker sent that is no time (negative, NaN, past any
    // clock) is not compared: staleness then goes unjudged, never a panic.
    if check.status.as_deref() == Some("InService")
        && let Some(modified) = seen
            .last_modified_time
            .and_then(|t| Duration::try_from_secs_f64(t).ok())
            .and_then(|t| SystemTime::UNIX_EPOCH.checked_add(t))
    {
        match claims.finished_at {
            Some(finished) if finished + START_GRACE >= modified => {}
            Some(_) => check.findings.push(format!(
                "stale: SageMaker last changed the notebook (a start or an update) at {}, more \
                 than {} min after this report finished ({}): it speaks for an earlier start",
                humantime::format_rfc3339_seconds(modified),
                START_GRACE.as_secs() / 60,
                row.finished_at
            )),
            None => check
                .findings
                .push("the report has no readable finish time to compare".into()),
        }
    }
    check
}
