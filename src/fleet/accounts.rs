//! `--accounts`: the cross-check across an organization's accounts, each
//! reached by assuming a named role there (`packaging/iam-fleet-reader-policy.json`)
//! and judged with that account's own answers. An account that cannot be
//! reached is a row of its own, never a silent gap.

use std::collections::BTreeMap;

use anyhow::Result;

use super::cross_check::{CrossCheck, CrossCheckRules, cross_check};
use super::{Row, partition};
use crate::aws::Aws;

/// The role `--role-name` names by default in every account.
pub const DEFAULT_ROLE_NAME: &str = "nbwarden-fleet-reader";

/// The problem of an account's row when its role could not be assumed.
pub const NOT_REACHED: &str = "account not reached";

/// How many accounts are reached and cross-checked at once (each makes
/// its own bounded, parallel calls).
const ACCOUNT_CALLS: usize = 4;

/// Which accounts `--accounts` names.
#[derive(Debug, Clone, PartialEq)]
pub enum Accounts {
    /// Every active account of the caller's organization (`ListAccounts`).
    Organization,
    /// These accounts.
    Listed(Vec<String>),
}

/// One account and its clients, or why it could not be reached.
pub struct Account {
    pub id: String,
    pub aws: Result<Aws, String>,
}

/// Each account of `accounts`, reached through `role_name` there with the
/// caller's credentials. Only a failed organization listing is an error:
/// an account whose role cannot be assumed is an [`Account`] that says why.
pub fn reach(admin: &Aws, accounts: &Accounts, role_name: &str) -> Result<Vec<Account>> {
    let ids = match accounts {
        Accounts::Organization => admin.organization_accounts()?,
        Accounts::Listed(ids) => ids.clone(),
    };
    let partition = partition(&admin.region()?);
    Ok(crate::base::parallel::map_with(ACCOUNT_CALLS, &ids, |id| {
        let role = format!("arn:{partition}:iam::{id}:role/{role_name}");
        Account {
            id: id.clone(),
            aws: admin.assume(&role).map_err(|e| format!("{e:#}")),
        }
    }))
}

/// Cross-checks each account's rows with that account's clients, lists
/// each reached account's notebooks, and gives each account that could not
/// be reached a row of its own. A report filed under an account not among
/// `accounts` is not cross-checked, and says so.
pub fn cross_check_accounts(
    rows: Vec<Row>,
    accounts: &[Account],
    rules: &CrossCheckRules,
) -> Result<Vec<Row>> {
    let mut by_account: BTreeMap<&str, Vec<Row>> = accounts
        .iter()
        .map(|a| (a.id.as_str(), Vec::new()))
        .collect();
    let mut out = Vec::new();
    for mut row in rows {
        match by_account.get_mut(row.account.as_str()) {
            Some(its) => its.push(row),
            None => {
                row.cross_check = Some(CrossCheck {
                    findings: vec![format!(
                        "the report is filed under account {}, which is not among --accounts: \
                         not cross-checked",
                        if row.account.is_empty() {
                            "(none)"
                        } else {
                            &row.account
                        }
                    )],
                    ..CrossCheck::default()
                });
                out.push(row);
            }
        }
    }
    let groups: Vec<(&Account, Vec<Row>)> = accounts
        .iter()
        .map(|a| (a, by_account.remove(a.id.as_str()).unwrap_or_default()))
        .collect();
    let checked = crate::base::parallel::map_with(ACCOUNT_CALLS, &groups, |(account, rows)| {
        check_account(account, rows.clone(), rules)
    });
    for rows in checked {
        out.extend(rows?);
    }
    Ok(out)
}

/// One account's rows, cross-checked with its clients; or, when it could
/// not be reached, each marked so and a row for the account.
fn check_account(
    account: &Account,
    mut rows: Vec<Row>,
    rules: &CrossCheckRules,
) -> Result<Vec<Row>> {
    match &account.aws {
        Ok(aws) => {
            cross_check(aws, &mut rows, rules)?;
            Ok(rows)
        }
        Err(why) => {
            let finding = format!(
                "account {} not reached, not cross-checked: {why}",
                account.id
            );
            for row in &mut rows {
                row.cross_check = Some(CrossCheck {
                    findings: vec![finding.clone()],
                    ..CrossCheck::default()
                });
            }
            rows.push(Row {
                notebook: "*".into(),
                account: account.id.clone(),
                problem: Some(NOT_REACHED.into()),
                cross_check: Some(CrossCheck {
                    findings: vec![finding],
                    ..CrossCheck::default()
                }),
                ..Row::empty()
            });
            Ok(rows)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(account: &str, notebook: &str) -> Row {
        Row {
            notebook: notebook.into(),
            account: account.into(),
            region: "eu-west-1".into(),
            exit_code: 0,
            ..Row::empty()
        }
    }

    #[test]
    fn an_account_not_reached_is_a_row_and_a_report_outside_the_accounts_is_not_trusted() {
        let accounts = [Account {
            id: "111122223333".into(),
            aws: Err("STS AssumeRole failed: AccessDenied".into()),
        }];
        let rows = vec![row("111122223333", "nb1"), row("444455556666", "nb2")];
        let out = cross_check_accounts(rows, &accounts, &CrossCheckRules::default())
            .expect("no listing to fail");
        assert_eq!(out.len(), 3, "{out:#?}");
        assert!(out.iter().all(Row::flagged), "{out:#?}");
        let account_row = out
            .iter()
            .find(|r| r.notebook == "*")
            .expect("the account's own row");
        assert_eq!(
            (account_row.account.as_str(), account_row.problem.as_deref()),
            ("111122223333", Some(NOT_REACHED))
        );
        let nb2 = out.iter().find(|r| r.notebook == "nb2").expect("nb2");
        assert!(
            nb2.cross_check
                .as_ref()
                .is_some_and(|c| c.findings[0].contains("not among --accounts")),
            "{nb2:#?}"
        );
        let nb1 = out.iter().find(|r| r.notebook == "nb1").expect("nb1");
        assert!(
            nb1.cross_check
                .as_ref()
                .is_some_and(|c| c.findings[0].contains("AccessDenied")),
            "{nb1:#?}"
        );
    }
}
