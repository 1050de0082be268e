//! The fleet view: each run's report goes to
//! `s3://BUCKET/PREFIX/ACCOUNT/REGION/NOTEBOOK/TIMESTAMP.json` and
//! `…/latest.json`; `nbwarden fleet summary` reads every `latest.json`.

use std::fmt::Write;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::aws::Aws;
use crate::facts::{Facts, Notebook};
use crate::policy::ReportSink;
use crate::report::{Report, Status};

/// Reports are small; anything larger in the bucket is not one of ours.
const MAX_REPORT_BYTES: usize = 4 * 1024 * 1024;

fn base(sink: &ReportSink, nb: &Notebook) -> String {
    let prefix = sink.prefix.trim_matches('/');
    let parts: Vec<&str> = [prefix, &nb.account, &nb.region, &nb.name]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
    parts.join("/")
}

/// Uploads `report` (with `failing_since` carried over from the previous
/// latest report) and returns a line for the report's `upload` field. Never
/// fails the run: errors come back as text.
pub fn upload(facts: &Facts<'_>, aws: &Aws, sink: &ReportSink, report: &mut Report) -> String {
    match try_upload(facts, aws, sink, report) {
        Ok(uri) => format!("uploaded to {uri}"),
        Err(e) => format!("upload failed: {e:#}"),
    }
}

fn try_upload(
    facts: &Facts<'_>,
    aws: &Aws,
    sink: &ReportSink,
    report: &mut Report,
) -> Result<String> {
    let base = base(sink, facts.notebook()?);
    let latest_key = format!("{base}/latest.json");
    if report.exit_code != 0 {
        let previous = match aws.s3_object_optional(&sink.bucket, &latest_key, MAX_REPORT_BYTES)? {
            Some(bytes) => serde_json::from_slice::<Report>(&bytes).ok(),
            None => None,
        };
        report.failing_since = previous
            .filter(|p| p.exit_code != 0)
            .and_then(|p| p.failing_since.or(Some(p.started_at)))
            .or_else(|| Some(report.started_at.clone()));
    }
    let body = serde_json::to_vec_pretty(&report).context("cannot serialize the report")?;
    let stamp = report.started_at.replace(':', "-");
    let key = format!("{base}/{stamp}.json");
    let kms = sink.kms_key_id.as_deref();
    aws.s3_put(&sink.bucket, &key, body.clone(), kms)?;
    aws.s3_put(&sink.bucket, &latest_key, body, kms)?;
    Ok(format!("s3://{}/{key}", sink.bucket))
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
}

/// Reads every `latest.json` under the prefix (all pages).
pub fn summary(aws: &Aws, bucket: &str, prefix: &str) -> Result<Vec<Row>> {
    let prefix = prefix.trim_matches('/');
    let list_prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    };
    let keys: Vec<String> = aws
        .s3_list(bucket, &list_prefix)?
        .into_iter()
        .filter(|k| k.ends_with("/latest.json"))
        .collect();
    let bodies = aws.s3_objects(bucket, &keys, MAX_REPORT_BYTES)?;
    let mut rows: Vec<Row> = keys
        .iter()
        .zip(bodies)
        .map(|(key, body)| row(key.strip_prefix(&list_prefix).unwrap_or(key), body))
        .collect();
    // Failing notebooks first, then by name.
    rows.sort_by(|a, b| (b.exit_code != 0, &a.notebook).cmp(&(a.exit_code != 0, &b.notebook)));
    Ok(rows)
}

/// One notebook's row from its `ACCOUNT/REGION/NOTEBOOK/latest.json` key
/// (relative to the prefix) and that object's bytes. A report that cannot
/// be read counts as failing (exit 3) and says why.
fn row(rel: &str, body: Result<Vec<u8>>) -> Row {
    let parts: Vec<&str> = rel.split('/').collect();
    let (account, region, notebook) = match parts.as_slice() {
        [a, r, n, "latest.json"] => (a.to_string(), r.to_string(), n.to_string()),
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
        command: String::new(),
        finished_at: String::new(),
        exit_code: 3,
        failing: Vec::new(),
        failing_since: None,
        problem: None,
    };
    match body.and_then(|b| serde_json::from_slice::<Report>(&b).map_err(anyhow::Error::from)) {
        Ok(r) => {
            row.command = r.command.name().to_string();
            row.finished_at = r.finished_at;
            row.exit_code = r.exit_code;
            row.failing = r
                .controls
                .iter()
                .filter(|c| matches!(c.status, Status::Fail | Status::Error))
                .map(|c| c.id.clone())
                .collect();
            row.failing_since = r.failing_since;
        }
        Err(e) => row.problem = Some(format!("unreadable report: {e:#}")),
    }
    row
}

pub fn render_table(rows: &[Row]) -> String {
    let mut out = String::new();
    let width = rows
        .iter()
        .map(|r| r.notebook.len())
        .max()
        .unwrap_or(0)
        .max(8);
    let _ = writeln!(
        out,
        "{:width$}  {:12}  {:9}  {:4}  {:24}  {:24}  FAILING",
        "NOTEBOOK", "ACCOUNT", "REGION", "EXIT", "LAST RUN", "FAILING SINCE"
    );
    for r in rows {
        let failing = r.problem.clone().unwrap_or_else(|| r.failing.join(","));
        let _ = writeln!(
            out,
            "{:width$}  {:12}  {:9}  {:4}  {:24}  {:24}  {}",
            r.notebook,
            r.account,
            r.region,
            r.exit_code,
            r.finished_at,
            r.failing_since.as_deref().unwrap_or("-"),
            failing
        );
    }
    let bad = rows.iter().filter(|r| r.exit_code != 0).count();
    let _ = writeln!(out, "\n{} notebook(s), {bad} not compliant", rows.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ControlReport;

    fn notebook() -> Notebook {
        Notebook::parse(
            r#"{"ResourceArn":"arn:aws:sagemaker:eu-west-1:111122223333:notebook-instance/nb1","ResourceName":"nb1"}"#,
        )
        .expect("metadata")
    }

    #[test]
    fn reports_are_keyed_by_account_region_and_notebook() {
        let sink = |prefix: &str| ReportSink {
            bucket: "b".into(),
            prefix: prefix.into(),
            kms_key_id: None,
        };
        assert_eq!(
            base(&sink("/fleet/"), &notebook()),
            "fleet/111122223333/eu-west-1/nb1"
        );
        assert_eq!(base(&sink(""), &notebook()), "111122223333/eu-west-1/nb1");
    }

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
}
