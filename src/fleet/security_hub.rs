//! `fleet summary --cross-check --security-hub`: the cross-checked rows as
//! Security Hub findings (ASFF) in the caller's account: one per notebook
//! and failing control, and one per notebook whose report the control
//! plane contradicts, or that has none. Ids are stable, so a re-run
//! updates a finding instead of adding one; a finding of an earlier run
//! that no longer holds is archived (`RecordState: ARCHIVED`).
//!
//! Only the caller's account is published: Security Hub takes a finding of
//! the default product only from the account it names (`AwsAccountId`).
//! The notebook role is never granted Security Hub: a notebook could then
//! write or archive any resource's findings.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;

use super::cross_check::NOT_LISTED;
use super::text::{clipped_bytes, printable};
use super::{Row, partition};
use crate::aws::{Aws, Compliance, Finding, FindingResource, ProviderFields, Severity};

/// Every nbwarden finding's generator starts so.
pub const GENERATOR_PREFIX: &str = "nbwarden/";

/// The product field naming the fleet view (bucket and prefix) a finding
/// came from: a run archives only its own view's findings.
pub const SOURCE_FIELD: &str = "nbwarden/Source";

/// ASFF's limits on a title and a description, in bytes.
const MAX_TITLE: usize = 256;
const MAX_DESCRIPTION: usize = 1024;

/// What a publication did.
#[derive(Debug, Default, PartialEq)]
pub struct Publication {
    /// The account published to.
    pub account: String,
    /// Findings imported that hold now (new or updated).
    pub active: usize,
    /// Findings of earlier runs archived.
    pub archived: usize,
    /// Rows not published, and why (another account's, no notebook).
    pub not_published: Vec<String>,
}

/// Where findings go and what they carry besides the rows.
#[derive(Debug, Clone)]
pub struct Target {
    /// The caller's account: the only one whose findings it may import.
    pub account: String,
    /// The Security Hub region (the caller's).
    pub region: String,
    /// `s3://BUCKET/PREFIX`, see [`SOURCE_FIELD`].
    pub source: String,
    /// RFC 3339 with milliseconds.
    pub now: String,
}

/// Publishes `rows` (cross-checked) to Security Hub in the caller's
/// account and region, and archives what no longer holds.
pub fn publish(aws: &Aws, rows: &[Row], source: &str) -> Result<Publication> {
    let target = Target {
        account: aws.caller_account()?,
        region: aws.region()?,
        source: source.to_string(),
        now: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
    };
    let active: Vec<Finding> = aws
        .securityhub_active_findings(&target.region, &target.account, GENERATOR_PREFIX)?
        .into_iter()
        // Another region's, aggregated here, is that region's to update.
        .filter(|f| {
            f.product_fields.get(SOURCE_FIELD) == Some(&target.source)
                && f.product_arn == product_arn(&target)
        })
        .collect();
    let (mut wanted, not_published) = findings(rows, &target);
    // A finding keeps the time it was first seen.
    let first_seen: BTreeMap<&str, &str> = active
        .iter()
        .map(|f| (f.id.as_str(), f.created_at.as_str()))
        .collect();
    for f in &mut wanted {
        if let Some(created) = first_seen.get(f.id.as_str()) {
            f.created_at = created.to_string();
        }
    }
    let archive = no_longer_held(&active, &wanted, rows, &target);
    let publication = Publication {
        account: target.account.clone(),
        active: wanted.len(),
        archived: archive.len(),
        not_published,
    };
    wanted.extend(archive);
    aws.securityhub_import(&target.region, &wanted)?;
    Ok(publication)
}

/// The findings `rows` hold in `target`'s account, and the rows that
/// cannot be published there, each with why.
pub fn findings(rows: &[Row], target: &Target) -> (Vec<Finding>, Vec<String>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for row in rows {
        if row.notebook == "*" || row.account.is_empty() || row.region.is_empty() {
            if row.notebook != "*" {
                skipped.push(format!(
                    "{}: not under ACCOUNT/REGION/NOTEBOOK, so it names no notebook",
                    printable(&row.notebook)
                ));
            }
            continue;
        }
        if row.account != target.account {
            skipped.push(format!(
                "{}/{}/{}: another account's (only {} may import its findings)",
                row.account, row.region, row.notebook, row.account
            ));
            continue;
        }
        out.extend(row_findings(row, target));
    }
    // Two control ids the report spells apart may clean to one id.
    let mut seen = BTreeSet::new();
    out.retain(|f| seen.insert(f.id.clone()));
    (out, skipped)
}

/// One row's findings: each failing control, and what the cross-check
/// found or the row's problem.
fn row_findings(row: &Row, target: &Target) -> Vec<Finding> {
    let mut out = Vec::new();
    for control in row.failing.iter().filter(|c| !c.starts_with("... ")) {
        let control = control_id(control);
        out.push(finding(
            row,
            target,
            &format!("control/{control}"),
            if control == "sudo" {
                "CRITICAL"
            } else {
                "HIGH"
            },
            format!("nbwarden: {control} fails on notebook {}", row.notebook),
            format!(
                "The notebook's last report ({} at {}) says the {control} control fails. \
                 Run `nbwarden verify` in its terminal for the evidence.",
                printable(&row.command),
                printable(&row.finished_at)
            ),
        ));
    }
    let said: Vec<String> = row
        .problem
        .iter()
        .chain(row.cross_check.iter().flat_map(|c| c.findings.iter()))
        .map(|f| printable(f))
        .collect();
    let mut said = said;
    if said.is_empty() && out.is_empty() && row.exit_code != 0 {
        said.push(format!(
            "the last run ({} at {}) exited {} without naming a failing control",
            printable(&row.command),
            printable(&row.finished_at),
            row.exit_code
        ));
    }
    if !said.is_empty() {
        out.push(finding(
            row,
            target,
            "cross-check",
            "HIGH",
            format!(
                "nbwarden: notebook {} is not shown safe by the control plane",
                row.notebook
            ),
            said.join("; "),
        ));
    }
    out
}

/// A control id as it goes into a finding's id: the report is the
/// notebook user's to write.
fn control_id(id: &str) -> String {
    id.chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn finding(
    row: &Row,
    target: &Target,
    what: &str,
    severity: &str,
    title: String,
    description: String,
) -> Finding {
    let resource_partition = partition(&row.region);
    Finding {
        schema_version: "2018-10-08".into(),
        id: format!(
            "nbwarden/{}/{}/{}/{what}",
            row.account, row.region, row.notebook
        ),
        product_arn: product_arn(target),
        generator_id: format!(
            "{GENERATOR_PREFIX}{}",
            what.split('/').next().unwrap_or(what)
        ),
        aws_account_id: row.account.clone(),
        created_at: target.now.clone(),
        updated_at: target.now.clone(),
        title: clipped_bytes(&title, MAX_TITLE),
        description: clipped_bytes(&description, MAX_DESCRIPTION),
        resources: vec![FindingResource {
            kind: "AwsSageMakerNotebookInstance".into(),
            // SageMaker writes a notebook's ARN with its name in lower case.
            id: format!(
                "arn:{resource_partition}:sagemaker:{}:{}:notebook-instance/{}",
                row.region,
                row.account,
                row.notebook.to_ascii_lowercase()
            ),
            partition: Some(resource_partition.into()),
            region: Some(row.region.clone()),
        }],
        compliance: Some(Compliance {
            status: "FAILED".into(),
        }),
        record_state: Some("ACTIVE".into()),
        finding_provider_fields: Some(ProviderFields {
            severity: Some(Severity {
                label: severity.into(),
            }),
            types: vec!["Software and Configuration Checks/AWS Security Best Practices".into()],
        }),
        product_fields: BTreeMap::from([(SOURCE_FIELD.to_string(), target.source.clone())]),
    }
}

/// The default product of `target`'s account and region: the only one
/// its findings are imported under.
fn product_arn(target: &Target) -> String {
    format!(
        "arn:{}:securityhub:{}:{}:product/{}/default",
        partition(&target.region),
        target.region,
        target.account,
        target.account
    )
}

/// The regions of `account` this run looked at whole: a finding there
/// that the run did not make again no longer holds. A region whose
/// notebooks could not be listed is not among them.
fn covered(rows: &[Row], account: &str) -> BTreeSet<String> {
    let unlisted: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r.problem.as_deref() == Some(NOT_LISTED))
        .map(|r| r.region.as_str())
        .collect();
    rows.iter()
        .filter(|r| r.account == account && r.cross_check.is_some())
        .map(|r| r.region.as_str())
        .filter(|r| !unlisted.contains(r))
        .map(str::to_string)
        .collect()
}

/// A row that shows its notebook safe: its report read, compliant, and
/// nothing the cross-check found.
fn clean(row: &Row) -> bool {
    !row.flagged() && row.problem.is_none() && row.failing.is_empty()
}

/// The `active` findings not made again in `wanted` that no longer hold:
/// those of a notebook whose row is clean now (compliant, and nothing the
/// cross-check found), archived as passed; and those of a notebook with no
/// row at all in a region the run looked at whole (deleted, or stopped
/// without a report), archived as not available. A notebook whose row is
/// flagged keeps every earlier finding active: a report that cannot be
/// read, or that the control plane contradicts, clears nothing.
fn no_longer_held(
    active: &[Finding],
    wanted: &[Finding],
    rows: &[Row],
    target: &Target,
) -> Vec<Finding> {
    let made: BTreeSet<&str> = wanted.iter().map(|f| f.id.as_str()).collect();
    let by_notebook: BTreeMap<(&str, &str), &Row> = rows
        .iter()
        .filter(|r| r.account == target.account)
        .map(|r| ((r.region.as_str(), r.notebook.as_str()), r))
        .collect();
    let covered = covered(rows, &target.account);
    active
        .iter()
        .filter(|f| !made.contains(f.id.as_str()))
        .filter_map(|f| {
            // nbwarden/ACCOUNT/REGION/NOTEBOOK/…
            let mut parts = f.id.split('/').skip(1);
            let (Some(account), Some(region), Some(notebook)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return None;
            };
            if account != target.account {
                return None;
            }
            let status = match by_notebook.get(&(region, notebook)) {
                Some(row) if clean(row) => "PASSED",
                Some(_) => return None,
                None if covered.contains(region) => "NOT_AVAILABLE",
                None => return None,
            };
            Some(Finding {
                updated_at: target.now.clone(),
                record_state: Some("ARCHIVED".into()),
                compliance: Some(Compliance {
                    status: status.into(),
                }),
                ..f.clone()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::CrossCheck;

    fn target() -> Target {
        Target {
            account: "111122223333".into(),
            region: "eu-west-1".into(),
            source: "s3://reports/nbwarden".into(),
            now: "2026-12-06T10:00:00.000Z".into(),
        }
    }

    fn row(account: &str, notebook: &str, failing: &[&str], found: &[&str]) -> Row {
        Row {
            notebook: notebook.into(),
            account: account.into(),
            region: "eu-west-1".into(),
            exit_code: u8::from(!failing.is_empty() || !found.is_empty()),
            failing: failing.iter().map(|s| s.to_string()).collect(),
            cross_check: Some(CrossCheck {
                findings: found.iter().map(|s| s.to_string()).collect(),
                ..CrossCheck::default()
            }),
            ..Row::empty()
        }
    }

    #[test]
    fn each_failing_control_and_each_contradicted_report_is_a_finding_with_a_stable_id() {
        let rows = [
            row("111122223333", "Honest", &[], &[]),
            row("111122223333", "nb1", &["sudo", "packages"], &[]),
            row(
                "111122223333",
                "forged",
                &[],
                &["stale: the report is from an earlier start"],
            ),
            row("444455556666", "elsewhere", &["sudo"], &[]),
        ];
        let (found, skipped) = findings(&rows, &target());
        let ids: Vec<&str> = found.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "nbwarden/111122223333/eu-west-1/nb1/control/sudo",
                "nbwarden/111122223333/eu-west-1/nb1/control/packages",
                "nbwarden/111122223333/eu-west-1/forged/cross-check",
            ]
        );
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert!(skipped[0].contains("444455556666"), "{skipped:?}");
        let forged = &found[2];
        assert!(forged.description.contains("stale:"), "{forged:?}");
        assert_eq!(forged.generator_id, "nbwarden/cross-check");
        assert_eq!(
            forged.resources[0].id,
            "arn:aws:sagemaker:eu-west-1:111122223333:notebook-instance/forged"
        );
        assert_eq!(
            forged.product_arn,
            "arn:aws:securityhub:eu-west-1:111122223333:product/111122223333/default"
        );
        // The same rows give the same ids: a re-run updates.
        let (again, _) = findings(&rows, &target());
        assert_eq!(
            again.iter().map(|f| &f.id).collect::<Vec<_>>(),
            found.iter().map(|f| &f.id).collect::<Vec<_>>()
        );
    }

    #[test]
    fn what_the_user_wrote_is_bounded_and_cannot_name_another_finding() {
        let long = "x".repeat(5_000);
        let rows = [row(
            "111122223333",
            "nb1",
            &["../../nb2/cross-check\u{1b}[2J"],
            &[long.as_str()],
        )];
        let (found, _) = findings(&rows, &target());
        assert_eq!(
            found[0].id,
            "nbwarden/111122223333/eu-west-1/nb1/control/.._.._nb2_cross-check__2J"
        );
        assert!(found[1].description.chars().count() <= MAX_DESCRIPTION);
        assert!(!found.iter().any(|f| f.title.contains('\u{1b}')));
    }

    #[test]
    fn only_a_clean_row_or_a_notebook_gone_from_a_listed_region_archives() {
        let clean = row("111122223333", "nb1", &[], &[]);
        // The red team's first attack: an unreadable report (or one the
        // control plane contradicts) must not clear the notebook's sudo.
        let unreadable = Row {
            problem: Some("unreadable report: missing field".into()),
            ..row("111122223333", "nb2", &[], &[])
        };
        let rows = [clean, unreadable];
        let (wanted, _) = findings(&rows, &target());
        let old = |id: &str| Finding {
            id: id.into(),
            ..wanted[0].clone()
        };
        let active = [
            old("nbwarden/111122223333/eu-west-1/nb1/control/sudo"),
            old("nbwarden/111122223333/eu-west-1/nb2/control/sudo"),
            old("nbwarden/111122223333/eu-west-1/nb3/control/git"),
            old("nbwarden/111122223333/us-east-1/nb9/control/git"),
            old("nbwarden/444455556666/eu-west-1/nb1/control/git"),
        ];
        let archived = no_longer_held(&active, &wanted, &rows, &target());
        let got: Vec<(&str, &str)> = archived
            .iter()
            .map(|f| {
                assert_eq!(f.record_state.as_deref(), Some("ARCHIVED"));
                assert_eq!(f.updated_at, target().now);
                (
                    f.id.as_str(),
                    f.compliance.as_ref().map_or("", |c| c.status.as_str()),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("nbwarden/111122223333/eu-west-1/nb1/control/sudo", "PASSED"),
                (
                    "nbwarden/111122223333/eu-west-1/nb3/control/git",
                    "NOT_AVAILABLE"
                ),
            ]
        );
        // A region whose notebooks could not be listed: a notebook gone
        // from it is not known to be gone.
        let mut unlisted = rows.to_vec();
        unlisted.push(Row {
            notebook: "*".into(),
            region: "eu-west-1".into(),
            problem: Some(NOT_LISTED.into()),
            ..Row::empty()
        });
        let archived = no_longer_held(&active, &wanted, &unlisted, &target());
        assert_eq!(archived.len(), 1, "{archived:?}");
    }

    #[test]
    fn a_failed_run_is_a_finding_even_without_a_failing_control_and_ids_are_unique() {
        let mut failed = row("111122223333", "nb1", &["a/b", "a b", "a_b"], &[]);
        let (found, _) = findings(&[failed.clone()], &target());
        assert_eq!(found.len(), 1, "one id for the three spellings: {found:?}");
        failed.failing.clear();
        failed.exit_code = 3;
        let (found, _) = findings(&[failed], &target());
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].description.contains("exited 3"), "{found:?}");
    }

    #[test]
    fn texts_fit_security_hubs_limits_in_bytes() {
        let wide = "\u{1f600}".repeat(300);
        let rows = [row("111122223333", "nb1", &[], &[wide.as_str()])];
        let (found, _) = findings(&rows, &target());
        assert!(
            found[0].description.len() <= MAX_DESCRIPTION,
            "{}",
            found[0].description.len()
        );
        assert!(found[0].description.is_ascii(), "escaped, not passed on");
        let cut = clipped_bytes(&"\u{e9}".repeat(600), MAX_DESCRIPTION);
        assert!(
            cut.len() <= MAX_DESCRIPTION && cut.ends_with("..."),
            "{}",
            cut.len()
        );
    }
}
