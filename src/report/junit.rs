//! JUnit XML: one testcase per control, for CI dashboards and fleet tools.

use std::fmt::Write;

use quick_xml::escape::escape;

use super::{ControlReport, Report, Status};

/// One item of text for XML 1.0, from whatever its writer put in it: what
/// a terminal acts on is escaped ([`super::visible`], newlines too, so an
/// item cannot forge the lines after it), then the two characters XML
/// forbids that `visible` keeps (U+FFFE, U+FFFF), then markup.
pub(crate) fn xml_text(item: &str) -> String {
    let shown = super::visible(item);
    let mut safe = String::with_capacity(shown.len());
    for c in shown.chars() {
        match c {
            '\u{fffe}' | '\u{ffff}' => safe.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => safe.push(c),
        }
    }
    escape(safe.as_str()).into_owned()
}

/// Items as the lines of an element's text, each [`xml_text`].
pub(crate) fn xml_lines<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items
        .into_iter()
        .map(xml_text)
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn render(report: &Report) -> String {
    let s = &report.summary;
    // Advisory failures are skipped cases; pending changes (plan) fail.
    let advisory = report
        .controls
        .iter()
        .filter(|c| !c.blocking && matches!(c.status, Status::Fail | Status::Error))
        .count();
    let failures = s.blocking_fail;
    let errors = s.blocking_error;
    let skipped = s.skip + advisory;
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let suite = format!("nbwarden {}", report.command.name());
    let _ = writeln!(
        x,
        "<testsuites name=\"nbwarden\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\">",
        s.total,
        failures,
        errors,
        skipped,
        secs(report.duration_ms)
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\" timestamp=\"{}\" hostname=\"{}\">",
        escape(&suite),
        s.total,
        failures,
        errors,
        skipped,
        secs(report.duration_ms),
        escape(&report.started_at),
        xml_text(&report.host.hostname)
    );
    for c in &report.controls {
        testcase(&mut x, report.command.name(), c);
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

/// Milliseconds as JUnit's seconds.
fn secs(ms: u64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

/// One control as a test case: advisory failures are skipped cases,
/// pending changes (plan) and failures are failures.
fn testcase(x: &mut String, command: &str, c: &ControlReport) {
    let _ = write!(
        x,
        "    <testcase classname=\"nbwarden.{}\" name=\"{}\" time=\"{}\">",
        escape(command),
        escape(&c.id),
        secs(c.duration_ms)
    );
    let mut details = c.evidence.clone();
    details.extend(
        c.changes
            .iter()
            .map(|ch| format!("{}: {}", ch.path, ch.detail)),
    );
    let body = xml_lines(details.iter().map(String::as_str));
    match c.status {
        // Advisory: reported, never a failure of a run that exits 0.
        Status::Fail | Status::Error if !c.blocking => {
            let _ = write!(
                x,
                "\n      <skipped message=\"advisory ({}, does not block): {}\"/>\n      <system-out>{body}</system-out>\n    ",
                c.status.as_str(),
                escape(&c.title)
            );
        }
        Status::Change => {
            let _ = write!(
                x,
                "\n      <failure message=\"apply would change {}\">{body}</failure>\n    ",
                escape(&c.title)
            );
        }
        Status::Fail => {
            let _ = write!(
                x,
                "\n      <failure message=\"{} is not compliant\">{body}</failure>\n    ",
                escape(&c.title)
            );
        }
        Status::Error => {
            let msg = c.error.clone().unwrap_or_default();
            let _ = write!(
                x,
                "\n      <error message=\"{}\">{body}</error>\n    ",
                xml_text(&msg)
            );
        }
        Status::Skip => {
            let _ = write!(x, "\n      <skipped message=\"{body}\"/>\n    ");
        }
        Status::Pass | Status::Fixed => {
            if !body.is_empty() {
                let _ = write!(x, "\n      <system-out>{body}</system-out>\n    ");
            }
        }
    }
    x.push_str("</testcase>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    #[test]
    fn one_testcase_per_control_with_escaped_text() {
        let xml = render(&sample());
        assert_eq!(xml.matches("<testcase ").count(), 4);
        assert!(xml.contains("tests=\"4\" failures=\"1\" errors=\"1\" skipped=\"1\""));
        assert!(xml.contains(
            "<failure message=\"Sudo &lt;stripped&gt; &amp; &quot;proved&quot; is not compliant\">"
        ));
        assert!(xml.contains("<error message=\"cannot read /etc/pip.conf\">"));
        assert!(!xml.contains("<stripped>"));
        assert_well_formed(&xml);
    }

    /// An advisory failure in a run that exits 0 is a skipped case, not a
    /// `<failure>` that turns a dashboard red; plan's pending change is one.
    #[test]
    fn advisory_findings_are_skipped_and_pending_changes_fail() {
        let mut r = sample();
        for c in &mut r.controls {
            if c.status == Status::Fail {
                c.blocking = false;
            }
        }
        r.summary = crate::report::Summary::of(&r.controls);
        let xml = render(&r);
        assert!(!xml.contains("<failure"), "{xml}");
        assert!(
            xml.contains("<skipped message=\"advisory (fail, does not block)"),
            "{xml}"
        );
        assert!(
            xml.contains("failures=\"0\" errors=\"1\" skipped=\"2\""),
            "{xml}"
        );
        r.controls[0].status = Status::Change;
        r.summary = crate::report::Summary::of(&r.controls);
        let xml = render(&r);
        assert!(
            xml.contains("<failure message=\"apply would change"),
            "{xml}"
        );
        assert!(xml.contains("failures=\"1\""), "{xml}");
        assert_well_formed(&xml);
    }

    fn assert_well_formed(xml: &str) {
        // Well-formed: every element quick-xml reads closes.
        let mut reader = quick_xml::Reader::from_str(xml);
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("malformed XML: {e}"),
            }
        }
    }
}
