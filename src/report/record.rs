//! The report as one compact line for Athena: what the fleet's queries
//! read (`P/latest/ACCOUNT/REGION/NOTEBOOK.json` and the history), a few
//! hundred bytes a run. The account, region and notebook are written for
//! people reading the file; the queries take them from the object's key,
//! which only that notebook's role may write (see the README, "Athena").

use serde::Serialize;

use super::Report;

/// Version of the record's columns (the Glue table's). Bump on any
/// incompatible change.
pub const RECORD_SCHEMA_VERSION: u32 = 1;

/// One run, as the Glue table's columns.
#[derive(Debug, Serialize)]
pub struct Record<'a> {
    pub schema_version: u32,
    pub account: &'a str,
    pub region: &'a str,
    pub notebook: &'a str,
    pub command: &'static str,
    pub started_at: &'a str,
    pub finished_at: &'a str,
    pub exit_code: u8,
    /// The ids of the controls that failed or could not be evaluated.
    pub failing: Vec<&'a str>,
    pub failing_since: Option<&'a str>,
    pub nbwarden_version: &'a str,
}

impl<'a> Record<'a> {
    pub fn of(report: &'a Report, account: &'a str, region: &'a str, notebook: &'a str) -> Self {
        Record {
            schema_version: RECORD_SCHEMA_VERSION,
            account,
            region,
            notebook,
            command: report.command.name(),
            started_at: &report.started_at,
            finished_at: &report.finished_at,
            exit_code: report.exit_code,
            failing: report.failing_ids().collect(),
            failing_since: report.failing_since.as_deref(),
            nbwarden_version: &report.nbwarden_version,
        }
    }

    /// The record as one line of JSON and its newline: the JSON SerDe
    /// Athena reads takes one record a line, and serde_json escapes every
    /// control character inside a string, so no text breaks the line.
    pub fn line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).unwrap_or_default();
        line.push(b'\n');
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ControlReport, Status};

    #[test]
    fn a_record_is_one_line_whatever_the_texts_hold() {
        let mut report = crate::report::tests::sample();
        report.exit_code = 1;
        report.failing_since = Some("2026-01-01T00:00:00.000Z".into());
        let mut odd = ControlReport::new("egress\nsecond line", "Egress");
        odd.status = Status::Fail;
        report.controls = vec![odd];
        let line = Record::of(&report, "111122223333", "eu-west-1", "nb1").line();
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        assert_eq!(line.last(), Some(&b'\n'));
        let back: serde_json::Value = serde_json::from_slice(&line).expect("JSON");
        assert_eq!(back["failing"], serde_json::json!(["egress\nsecond line"]));
        assert_eq!(back["exit_code"], 1);
        assert_eq!(back["notebook"], "nb1");
        assert_eq!(back["failing_since"], "2026-01-01T00:00:00.000Z");
    }
}
