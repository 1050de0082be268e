//! The fleet upload at the end of a run: the report goes to
//! `s3://BUCKET/PREFIX/ACCOUNT/REGION/NOTEBOOK/TIMESTAMP.json` and
//! `…/latest.json`, where `nbwarden fleet summary` reads it; its one-line
//! record (`report::record`) goes where the fleet's Athena tables read:
//! `PREFIX/latest/ACCOUNT/REGION/NOTEBOOK.json`, replaced each run, and
//! `PREFIX/history/dt=DAY/ACCOUNT/REGION/NOTEBOOK/TIMESTAMP-RANDOM.json`, written
//! once and never replaced.

use std::fmt;

use anyhow::{Context, Result};

use crate::aws::Aws;
use crate::facts::{Facts, Notebook};
use crate::policy::ReportSink;
use crate::report::Report;
use crate::report::record::Record;

/// Reports are small; anything larger in the bucket is not one of ours.
pub const MAX_REPORT_BYTES: usize = 4 * 1024 * 1024;

/// The folder under the prefix of each notebook's latest record, and that
/// of the records' history (neither is an account id, so neither is ever
/// taken for a notebook's reports).
pub const LATEST_RECORDS: &str = "latest";
pub const HISTORY_RECORDS: &str = "history";

fn joined(parts: &[&str]) -> String {
    let parts: Vec<&str> = parts.iter().copied().filter(|p| !p.is_empty()).collect();
    parts.join("/")
}

fn base(sink: &ReportSink, nb: &Notebook) -> String {
    joined(&[
        sink.prefix.trim_matches('/'),
        &nb.account,
        &nb.region,
        &nb.name,
    ])
}

/// Where a run's record goes: its notebook's latest, and its place in the
/// history, in the day (UTC) the run started.
fn record_keys(
    sink: &ReportSink,
    nb: &Notebook,
    started_at: &str,
    stamp: &str,
) -> (String, String) {
    let prefix = sink.prefix.trim_matches('/');
    let latest = joined(&[prefix, LATEST_RECORDS, &nb.account, &nb.region, &nb.name]);
    let day = format!("dt={}", started_at.get(..10).unwrap_or("0000-00-00"));
    let history = joined(&[
        prefix,
        HISTORY_RECORDS,
        &day,
        &nb.account,
        &nb.region,
        &nb.name,
    ]);
    (format!("{latest}.json"), format!("{history}/{stamp}.json"))
}

/// What became of a run's fleet upload. It never fails the run; the
/// report records it as one line.
#[derive(Debug)]
pub enum Upload {
    /// Where the report now is (`s3://…/TIMESTAMP.json`).
    Uploaded(String),
    Failed(anyhow::Error),
}

impl fmt::Display for Upload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Upload::Uploaded(uri) => write!(f, "uploaded to {uri}"),
            Upload::Failed(e) => write!(f, "upload failed: {e:#}"),
        }
    }
}

/// Uploads `report`, with `failing_since` carried over from the previous
/// latest report.
pub fn upload(facts: &Facts<'_>, aws: &Aws, sink: &ReportSink, report: &mut Report) -> Upload {
    match try_upload(facts, aws, sink, report) {
        Ok(uri) => Upload::Uploaded(uri),
        Err(e) => Upload::Failed(e),
    }
}

fn try_upload(
    facts: &Facts<'_>,
    aws: &Aws,
    sink: &ReportSink,
    report: &mut Report,
) -> Result<String> {
    let nb = facts.notebook()?;
    let base = base(sink, nb);
    let latest_key = format!("{base}/latest.json");
    if report.exit_code != 0 {
        // The previous report only carries `failing_since` over: one that
        // cannot be read (denied, too large, not a report; the notebook
        // user can write it) never stops this report's upload.
        let previous = match aws.s3_object_optional(&sink.bucket, &latest_key, MAX_REPORT_BYTES) {
            Ok(Some(bytes)) => serde_json::from_slice::<Report>(&bytes).ok(),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!("the previous fleet report is not used: {e:#}");
                None
            }
        };
        // Carried over only as a real time no later than this run's start:
        // the previous report is the user's to write.
        let now = report.started_at.clone();
        let earlier = |t: &String| match (
            humantime::parse_rfc3339_weak(t),
            humantime::parse_rfc3339_weak(&now),
        ) {
            (Ok(then), Ok(start)) => then <= start,
            _ => false,
        };
        report.failing_since = previous
            .filter(|p| p.exit_code != 0)
            .and_then(|p| p.failing_since.filter(earlier).or(Some(p.started_at)))
            .filter(earlier)
            .or(Some(now));
    }
    let body = serde_json::to_vec_pretty(&report).context("cannot serialize the report")?;
    let stamp = report.started_at.replace(':', "-");
    let key = format!("{base}/{stamp}.json");
    let kms = sink.kms_key_id.as_deref();
    aws.s3_put(&sink.bucket, &key, body.clone(), kms)?;
    aws.s3_put(&sink.bucket, &latest_key, body, kms)?;
    // The record: its run in the history, then the notebook's latest.
    let line = Record::of(report, &nb.account, &nb.region, &nb.name).line();
    // The history key carries a random part: no one who watches the
    // reports' folder can take it first (If-None-Match would then refuse
    // this run's record). Both are written whatever became of the other.
    let run = format!("{stamp}-{}", crate::host::random_hex());
    let (latest_record, history_record) = record_keys(sink, nb, &report.started_at, &run);
    let history = aws.s3_put_new(&sink.bucket, &history_record, line.clone(), kms);
    let latest = aws.s3_put(&sink.bucket, &latest_record, line, kms);
    history.and(latest)?;
    Ok(format!("s3://{}/{key}", sink.bucket))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            record_keys(
                &sink("/fleet/"),
                &notebook(),
                "2026-12-06T10:00:00.000Z",
                "S"
            ),
            (
                "fleet/latest/111122223333/eu-west-1/nb1.json".to_string(),
                "fleet/history/dt=2026-12-06/111122223333/eu-west-1/nb1/S.json".to_string()
            )
        );
    }
}
