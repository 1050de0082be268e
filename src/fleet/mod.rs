//! The fleet view: each run's report goes to
//! `s3://BUCKET/PREFIX/ACCOUNT/REGION/NOTEBOOK/TIMESTAMP.json` and
//! `…/latest.json`; `nbwarden fleet summary` reads every `latest.json`.
//!
//! A report is written with the notebook's role, which the notebook user's
//! kernels hold too, so the user can replace it. `--cross-check` therefore
//! holds each report against what SageMaker answers the administrator's
//! own credentials, and lists notebooks in service that have no report.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use serde::Serialize;

use crate::aws::Aws;
use crate::report::{ControlPlaneView, Report, Status};

mod governance;
mod view;

pub use view::{FLEET_SCHEMA_VERSION, FleetView};

/// The control that checks SageMaker's settings of the notebook.
const CONTROL_PLANE: &str = "control-plane";

/// How long before SageMaker's `LastModifiedTime` a start's report may
/// finish: the start's verify runs before the notebook goes InService
/// (which SageMaker records as a modification), inside the lifecycle's
/// 5 minutes. A report older than that is from an earlier start.
pub const START_GRACE: Duration = Duration::from_secs(10 * 60);
/// How far an instance's clock may run ahead of the administrator's.
const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// What a row's report claims that the control plane can contradict.
#[derive(Debug, Clone, Default)]
struct Claims {
    finished_at: Option<SystemTime>,
    control_plane: Option<ControlPlaneView>,
    control_plane_passed: bool,
}

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

/// How many SageMaker calls the cross-check makes at once: enough to hide
/// each call's round trip behind the others', few enough to stay within
/// SageMaker's request rates (a throttled call is retried with backoff).
const FLEET_CALLS: usize = 8;

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

/// Reads every `latest.json` under the prefix (all pages); with
/// `cross_check`, holds each against the control plane (see [`cross_check`]).
pub fn summary(
    aws: &Aws,
    bucket: &str,
    prefix: &str,
    cross_check: Option<CrossCheckRules>,
) -> Result<Vec<Row>> {
    let prefix = prefix.trim_matches('/');
    let list_prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    };
    let (keys, mut strays) = latest_keys(aws, bucket, &list_prefix)?;
    // Each report becomes its row as it arrives: only rows are kept.
    let mut slots: Vec<Option<Row>> = vec![None; keys.len()];
    aws.s3_objects(
        bucket,
        &keys,
        crate::run::upload::MAX_REPORT_BYTES,
        |i, body| {
            let key = &keys[i];
            slots[i] = Some(row(key.strip_prefix(&list_prefix).unwrap_or(key), body));
        },
    )?;
    let mut rows: Vec<Row> = slots.into_iter().flatten().collect();
    rows.append(&mut strays);
    if let Some(rules) = cross_check {
        self::cross_check(aws, &mut rows, &rules)?;
    }
    // Flagged notebooks first, then by name.
    rows.sort_by(|a, b| (b.flagged(), &a.notebook).cmp(&(a.flagged(), &b.notebook)));
    Ok(rows)
}

/// Every notebook's `latest.json` key, found by walking the prefix three
/// levels deep (ACCOUNT/, REGION/, NOTEBOOK/) with delimited listings: what
/// a notebook's role writes inside its own prefix (any number of objects,
/// at any depth) is never listed or read, so no notebook's user can change
/// how large or slow the view is. A level that names no real account,
/// region or notebook becomes a row that says so, and is not walked.
fn latest_keys(aws: &Aws, bucket: &str, base: &str) -> Result<(Vec<String>, Vec<Row>)> {
    use crate::base::names::{is_account_id, is_region, is_sagemaker_name};
    let mut keys = Vec::new();
    let mut strays = Vec::new();
    let checks: [fn(&str) -> bool; 3] = [is_account_id, is_region, is_sagemaker_name];
    let mut level = vec![base.to_string()];
    for (depth, valid) in checks.iter().enumerate() {
        let mut next = Vec::new();
        for parent in &level {
            for child in aws.s3_prefixes(bucket, parent)? {
                let name = child
                    .strip_prefix(parent.as_str())
                    .unwrap_or(&child)
                    .trim_end_matches('/');
                if !valid(name) {
                    strays.push(Row {
                        notebook: child
                            .strip_prefix(base)
                            .unwrap_or(&child)
                            .chars()
                            .take(MAX_FIELD_CHARS)
                            .collect(),
                        problem: Some("not ACCOUNT/REGION/NOTEBOOK/latest.json".into()),
                        ..Row::empty()
                    });
                } else if depth == checks.len() - 1 {
                    keys.push(format!("{child}latest.json"));
                } else {
                    next.push(child);
                }
            }
        }
        level = next;
    }
    Ok((keys, strays))
}

/// The most failing control ids a row keeps, and characters per field: a
/// report is what its notebook's user may have written.
const MAX_FAILING_IDS: usize = 32;
const MAX_FIELD_CHARS: usize = 96;
/// Characters of a row's problem (serde's error with what it quotes).
const MAX_PROBLEM_CHARS: usize = 400;

fn bounded(text: &str) -> String {
    shortened(text, MAX_FIELD_CHARS, MAX_FIELD_CHARS)
}

/// `text` unchanged up to `limit` characters; past that, its first `keep`
/// and "...".
fn shortened(text: &str, limit: usize, keep: usize) -> String {
    if text.chars().count() > limit {
        let mut cut: String = text.chars().take(keep).collect();
        cut.push_str("...");
        cut
    } else {
        text.to_string()
    }
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
            problem: Some("notebooks not listed".into()),
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
fn add_governance(
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
struct AccessFindings {
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

type NotebookKey = (String, String, String);

/// Every listed notebook's role, owner and cost tags, and what of them
/// leaves access open, keyed by account, region and name.
// Long: one finding per governance rule, each with its own wording.
fn access_view(
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
fn settings_findings(
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

/// Which IAM role an ARN names: its account and its name, whatever the
/// path and in any case, since IAM keeps role names unique regardless of
/// case (`role/a/Nb` and `role/nb` are one role).
fn role_identity(arn: &str) -> String {
    let name = arn.rsplit('/').next().unwrap_or(arn);
    format!("{}:{}", arn_account(arn), name.to_ascii_lowercase())
}

/// The account field of an ARN (`arn:aws:sagemaker:REGION:ACCOUNT:…`).
fn arn_account(arn: &str) -> &str {
    arn.split(':').nth(4).unwrap_or_default()
}

fn shown(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("none")
}

/// One report against SageMaker's answer about its notebook.
fn check_row(
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
fn judge(row: &Row, seen: &crate::aws::NotebookDescription, rules: &CrossCheckRules) -> CrossCheck {
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

/// One notebook's row from its `ACCOUNT/REGION/NOTEBOOK/latest.json` key
/// (relative to the prefix) and that object's bytes. A report that cannot
/// be read counts as failing (exit 3) and says why.
fn row(rel: &str, body: Result<Vec<u8>>) -> Row {
    use crate::base::names::{is_account_id, is_region, is_sagemaker_name};
    let parts: Vec<&str> = rel.split('/').collect();
    let (account, region, notebook) = match parts.as_slice() {
        // Only a key that names a real account, region and notebook is
        // taken as one: these go into SageMaker calls and endpoints.
        [a, r, n, "latest.json"] if is_account_id(a) && is_region(r) && is_sagemaker_name(n) => {
            (a.to_string(), r.to_string(), n.to_string())
        }
        _ => (
            String::new(),
            String::new(),
            rel.trim_end_matches("/latest.json").to_string(),
        ),
    };
    let mut row = Row {
        notebook,
        account,
        region,
        ..Row::empty()
    };
    match body.and_then(|b| serde_json::from_slice::<Report>(&b).map_err(anyhow::Error::from)) {
        Ok(r) => {
            row.claims = Claims {
                finished_at: humantime::parse_rfc3339_weak(&r.finished_at).ok(),
                control_plane: r.control_plane.clone(),
                control_plane_passed: r.controls.iter().any(|c| {
                    c.id == CONTROL_PLANE && matches!(c.status, Status::Pass | Status::Fixed)
                }),
            };
            row.command = r.command.name().to_string();
            row.finished_at = bounded(&r.finished_at);
            row.exit_code = r.exit_code;
            let failing: Vec<&str> = r
                .controls
                .iter()
                .filter(|c| matches!(c.status, Status::Fail | Status::Error))
                .map(|c| c.id.as_str())
                .collect();
            row.failing = failing
                .iter()
                .take(MAX_FAILING_IDS)
                .map(|id| bounded(id))
                .collect();
            if failing.len() > MAX_FAILING_IDS {
                row.failing
                    .push(format!("... {} more", failing.len() - MAX_FAILING_IDS));
            }
            row.failing_since = r.failing_since.as_deref().map(bounded);
        }
        // serde's message quotes what it could not read: bounded.
        Err(e) => {
            row.problem = Some(shortened(
                &format!("unreadable report: {e:#}"),
                MAX_PROBLEM_CHARS,
                MAX_PROBLEM_CHARS,
            ))
        }
    }
    row
}

/// `text` as one terminal line ([`crate::report::visible`]: what the
/// terminal would act on escaped) with every run of spaces made one: a row's
/// fields come from objects the notebook user can write, and must not move
/// the administrator's cursor, hide lines, turn text around or push what
/// follows out of sight.
fn printable(text: &str) -> String {
    let shown = crate::report::visible(text.trim_matches(' '));
    let mut out = String::with_capacity(shown.len());
    for c in shown.chars() {
        if c == ' ' && out.ends_with(' ') {
            continue;
        }
        out.push(c);
    }
    out
}

/// At most `chars` characters of `text`, marked when cut.
fn clipped(text: String, chars: usize) -> String {
    shortened(&text, chars, chars.saturating_sub(3))
}

/// What the report says fills a row's last columns, after the
/// administrator's own evidence (the key's account and region, the
/// cross-check's verdict), and each cross-check finding gets a line of its
/// own below: nothing a notebook's user writes precedes a finding on its
/// line, so a view that cuts long lines still shows it.
pub fn render_table(rows: &[Row]) -> String {
    let mut out = String::new();
    let names: Vec<String> = rows
        .iter()
        .map(|r| clipped(printable(&r.notebook), 64))
        .collect();
    let width = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0)
        .max(8);
    let checked = rows.iter().any(|r| r.cross_check.is_some());
    let _ = write!(
        out,
        "{:width$}  {:12}  {:14}  ",
        "NOTEBOOK", "ACCOUNT", "REGION"
    );
    if checked {
        let _ = write!(out, "{:12}  ", "CROSS-CHECK");
    }
    out.push_str(&format!(
        "{:4}  {:25}  {:25}  FAILING\n",
        "EXIT", "LAST RUN", "FAILING SINCE"
    ));
    for (r, name) in rows.iter().zip(&names) {
        let _ = write!(
            out,
            "{:width$}  {:12}  {:14}  ",
            name,
            clipped(printable(&r.account), 12),
            clipped(printable(&r.region), 14),
        );
        if checked {
            let verdict = match &r.cross_check {
                Some(c) if c.findings.is_empty() => "agrees".to_string(),
                Some(c) => format!("FLAGGED ({})", c.findings.len()),
                None => "-".to_string(),
            };
            let _ = write!(out, "{verdict:12}  ");
        }
        let failing = r.problem.clone().unwrap_or_else(|| r.failing.join(","));
        let _ = writeln!(
            out,
            "{:4}  {:25}  {:25}  {}",
            r.exit_code,
            clipped(printable(&r.finished_at), 25),
            clipped(printable(r.failing_since.as_deref().unwrap_or("-")), 25),
            if failing.is_empty() {
                "-".to_string()
            } else {
                clipped(printable(&failing), 160)
            }
        );
        if let Some(c) = &r.cross_check {
            for finding in &c.findings {
                let _ = writeln!(out, "    ! {}", printable(finding));
            }
        }
    }
    let bad = rows.iter().filter(|r| r.exit_code != 0).count();
    let _ = write!(out, "\n{} notebook(s), {bad} not compliant", rows.len());
    if checked {
        let disagree = rows
            .iter()
            .filter(|r| {
                r.cross_check
                    .as_ref()
                    .is_some_and(|c| !c.findings.is_empty())
            })
            .count();
        let _ = write!(out, ", {disagree} flagged by the cross-check");
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ControlReport;

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
