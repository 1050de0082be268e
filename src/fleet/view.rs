//! The fleet summary as one value, rendered as the table (in `mod.rs`),
//! versioned JSON, or JUnit XML for the dashboards that read test results.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::Row;
use crate::report::junit::{xml_lines, xml_text};

/// Version of the fleet JSON format. Bump on any incompatible change.
/// Version 1 was a bare array of rows (before `schema_version`).
pub const FLEET_SCHEMA_VERSION: u32 = 2;

/// What `fleet summary` read and concluded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FleetView {
    pub schema_version: u32,
    /// Where the reports were read: `s3://BUCKET/PREFIX/`.
    pub source: String,
    /// Flagged notebooks first, then by name.
    pub notebooks: Vec<Row>,
}

impl FleetView {
    pub fn new(bucket: &str, prefix: &str, notebooks: Vec<Row>) -> FleetView {
        FleetView {
            schema_version: FLEET_SCHEMA_VERSION,
            source: source(bucket, prefix),
            notebooks,
        }
    }

    pub fn json(&self) -> String {
        let mut out = Vec::new();
        let _ = self.write_json(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// [`FleetView::json`] written as it is made: 100,000 rows are never
    /// held twice (as rows and as their text).
    pub fn write_json(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(out);
        serde_json::to_writer_pretty(&mut out, self)?;
        std::io::Write::write_all(&mut out, b"\n")?;
        std::io::Write::flush(&mut out)
    }

    /// One testcase per notebook: a flagged one fails (an error when its
    /// report could not be read or judged), with the failing controls and
    /// the cross-check's findings as the failure's text.
    pub fn junit(&self) -> String {
        let rows = &self.notebooks;
        let errors = rows.iter().filter(|r| r.problem.is_some()).count();
        let failures = rows
            .iter()
            .filter(|r| r.flagged() && r.problem.is_none())
            .count();
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let counts = format!(
            "tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\"",
            rows.len()
        );
        let _ = writeln!(x, "<testsuites name=\"nbwarden fleet\" {counts}>");
        let _ = writeln!(
            x,
            "  <testsuite name=\"{}\" {counts}>",
            xml_text(&self.source)
        );
        for r in rows {
            let _ = write!(
                x,
                "    <testcase classname=\"nbwarden.fleet.{}.{}\" name=\"{}\">",
                xml_text(&r.account),
                xml_text(&r.region),
                xml_text(&r.notebook)
            );
            let mut lines: Vec<String> = r
                .failing
                .iter()
                .map(|id| format!("failing: {id}"))
                .collect();
            if let Some(c) = &r.cross_check {
                lines.extend(c.findings.iter().map(|f| format!("cross-check: {f}")));
            }
            // Each item one line: a newline in what a user wrote is
            // escaped, never a line of its own.
            let body = xml_lines(lines.iter().map(String::as_str));
            match &r.problem {
                Some(problem) => {
                    let _ = write!(
                        x,
                        "\n      <error message=\"{}\">{body}</error>\n    ",
                        xml_text(problem)
                    );
                }
                None if r.flagged() => {
                    let _ = write!(
                        x,
                        "\n      <failure message=\"exit {}, {} failing, {} cross-check finding(s)\">{body}</failure>\n    ",
                        r.exit_code,
                        r.failing.len(),
                        r.cross_check.as_ref().map_or(0, |c| c.findings.len())
                    );
                }
                None => {}
            }
            x.push_str("</testcase>\n");
        }
        x.push_str("  </testsuite>\n</testsuites>\n");
        x
    }
}

/// `s3://BUCKET/PREFIX/`, as the administrator named it.
pub fn source(bucket: &str, prefix: &str) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        format!("s3://{bucket}/")
    } else {
        format!("s3://{bucket}/{prefix}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::CrossCheck;

    fn rows() -> Vec<Row> {
        let mut bad = Row::empty();
        bad.notebook = "nb-<bad>".into();
        bad.account = "111122223333".into();
        bad.region = "eu-west-1".into();
        bad.exit_code = 1;
        bad.failing = vec!["sudo\u{fffe}".into(), "x\n\ncross-check: none".into()];
        bad.cross_check = Some(CrossCheck {
            findings: vec!["report says \u{1b}[2Jcompliant & more".into()],
            ..CrossCheck::default()
        });
        let mut good = bad.clone();
        good.notebook = "nb-good".into();
        good.exit_code = 0;
        good.failing.clear();
        good.cross_check = Some(CrossCheck::default());
        let mut stray = Row::empty();
        stray.notebook = "junk/".into();
        stray.problem = Some("not ACCOUNT/REGION/NOTEBOOK/latest.json".into());
        vec![bad, good, stray]
    }

    #[test]
    fn json_carries_its_version_and_source() {
        let view = FleetView::new("b", "/p/", rows());
        let v: serde_json::Value = serde_json::from_str(&view.json()).expect("json");
        assert_eq!(v["schema_version"], FLEET_SCHEMA_VERSION);
        assert_eq!(v["source"], "s3://b/p/");
        assert_eq!(v["notebooks"].as_array().map(Vec::len), Some(3));
        assert_eq!(source("b", ""), "s3://b/");
    }

    #[test]
    fn junit_fails_flagged_notebooks_errors_unreadable_ones_and_stays_well_formed() {
        let xml = FleetView::new("b", "p", rows()).junit();
        assert!(
            xml.contains("tests=\"3\" failures=\"1\" errors=\"1\" skipped=\"0\""),
            "{xml}"
        );
        assert_eq!(xml.matches("<testcase ").count(), 3);
        assert!(xml.contains("name=\"nb-&lt;bad&gt;\""), "{xml}");
        assert!(xml.contains("cross-check: report says"), "{xml}");
        assert!(!xml.contains('\u{1b}'), "no control characters: {xml}");
        // XML 1.0 forbids U+FFFE; a newline a user wrote forges no line.
        assert!(
            !xml.contains('\u{fffe}') && xml.contains("sudo\\u{fffe}"),
            "{xml}"
        );
        assert!(
            xml.contains("failing: x\\x0a\\x0across-check: none"),
            "{xml}"
        );
        assert!(!xml.contains("\ncross-check: none"), "{xml}");
        assert!(xml.contains("<error message=\"not ACCOUNT/REGION/NOTEBOOK/latest.json\">"));
        let mut reader = quick_xml::Reader::from_str(&xml);
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("malformed XML: {e}"),
            }
        }
    }
}
