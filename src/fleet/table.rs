//! The fleet view as a terminal table.

use std::fmt::Write;

use super::Row;
use super::text::{clipped, printable};

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
