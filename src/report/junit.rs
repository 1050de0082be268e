//! JUnit XML: one testcase per control, for CI dashboards and fleet tools.

use std::fmt::Write;

use quick_xml::escape::escape;

use super::{Report, Status};

pub fn render(report: &Report) -> String {
    let s = &report.summary;
    let secs = |ms: u64| format!("{:.3}", ms as f64 / 1000.0);
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let suite = format!("nbwarden {}", report.command.name());
    let _ = writeln!(
        x,
        "<testsuites name=\"nbwarden\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\">",
        s.total,
        s.fail,
        s.error,
        s.skip,
        secs(report.duration_ms)
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\" timestamp=\"{}\" hostname=\"{}\">",
        escape(&suite),
        s.total,
        s.fail,
        s.error,
        s.skip,
        secs(report.duration_ms),
        escape(&report.started_at),
        escape(&report.host.hostname)
    );
    for c in &report.controls {
        let _ = write!(
            x,
            "    <testcase classname=\"nbwarden.{}\" name=\"{}\" time=\"{}\">",
            escape(report.command.name()),
            escape(&c.id),
            secs(c.duration_ms)
        );
        let mut details = c.evidence.clone();
        details.extend(
            c.changes
                .iter()
                .map(|ch| format!("{}: {}", ch.path, ch.detail)),
        );
        let body = escape(details.join("\n")).into_owned();
        match c.status {
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
                    escape(&msg)
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
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
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
        // Well-formed: every element quick-xml reads closes.
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
