//! `fleet summary`: every `latest.json` under the prefix read into a row.

use anyhow::Result;

use super::accounts::{Account, cross_check_accounts};
use super::cross_check::{CrossCheckRules, cross_check};
use super::text::{MAX_FAILING_IDS, MAX_FIELD_CHARS, MAX_PROBLEM_CHARS, bounded, shortened};
use super::{CONTROL_PLANE, Claims, Row};
use crate::aws::Aws;
use crate::report::{Report, Status};
use crate::run::upload::{HISTORY_RECORDS, LATEST_RECORDS};

/// Reads every `latest.json` under the prefix (all pages); with
/// `cross_check`, holds each against the control plane (see [`cross_check`]),
/// with the caller's credentials or, given `accounts`, each account's own
/// (see [`cross_check_accounts`]).
pub fn summary(
    aws: &Aws,
    bucket: &str,
    prefix: &str,
    cross_check: Option<CrossCheckRules>,
    accounts: Option<&[Account]>,
) -> Result<Vec<Row>> {
    let prefix = prefix.trim_matches('/');
    let list_prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    };
    let (keys, strays) = latest_keys(aws, bucket, &list_prefix)?;
    // Each report becomes its row as it arrives: only rows are kept, in
    // one vector (the order is set by the sort below).
    let mut rows: Vec<Row> = Vec::with_capacity(keys.len() + strays.len());
    aws.s3_objects(
        bucket,
        &keys,
        crate::run::upload::MAX_REPORT_BYTES,
        |i, body| {
            let key = &keys[i];
            rows.push(row(key.strip_prefix(&list_prefix).unwrap_or(key), body));
        },
    )?;
    drop(keys);
    rows.extend(strays);
    match (cross_check, accounts) {
        (Some(rules), Some(accounts)) => rows = cross_check_accounts(rows, accounts, &rules)?,
        (Some(rules), None) => self::cross_check(aws, &mut rows, &rules)?,
        (None, _) => {}
    }
    // Flagged notebooks first, then by name, account and region.
    rows.sort_by(|a, b| {
        (b.flagged(), &a.notebook, &a.account, &a.region).cmp(&(
            a.flagged(),
            &b.notebook,
            &b.account,
            &b.region,
        ))
    });
    Ok(rows)
}

/// Every notebook's `latest.json` key, found by walking the prefix three
/// levels deep (ACCOUNT/, REGION/, NOTEBOOK/) with delimited listings: what
/// a notebook's role writes inside its own prefix (any number of objects,
/// at any depth) is never listed or read, so no notebook's user can change
/// how large or slow the view is. A level that names no real account,
/// region or notebook becomes a row that says so, and is not walked.
pub(super) fn latest_keys(aws: &Aws, bucket: &str, base: &str) -> Result<(Vec<String>, Vec<Row>)> {
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
                // The Athena records' folders are not notebooks' reports.
                if depth == 0 && [LATEST_RECORDS, HISTORY_RECORDS].contains(&name) {
                    continue;
                }
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

/// One notebook's row from its `ACCOUNT/REGION/NOTEBOOK/latest.json` key
/// (relative to the prefix) and that object's bytes. A report that cannot
/// be read counts as failing (exit 3) and says why.
pub(super) fn row(rel: &str, body: Result<Vec<u8>>) -> Row {
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
            let failing: Vec<&str> = r.failing_ids().collect();
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
