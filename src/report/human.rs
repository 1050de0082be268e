//! The compact table admins read in a terminal and in lifecycle logs.

use std::fmt::Write;

use super::{Mode, Report, Status, visible, visible_lines};

const RESET: &str = "\x1b[0m";

fn paint(color: bool, code: &str, text: &str) -> String {
    if color {
        format!("\x1b[{code}m{text}{RESET}")
    } else {
        text.to_string()
    }
}

fn status_color(status: Status) -> &'static str {
    match status {
        Status::Pass | Status::Fixed => "32",
        Status::Fail | Status::Error => "31",
        Status::Change => "33",
        Status::Skip => "2",
    }
}

/// The report as a table: a header line, one row per control (failing
/// ones with their evidence below), the diffs plan and verify show, and
/// the verdict's line.
pub fn render(r: &Report, color: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "nbwarden {} on {} ({}), policy {}",
        r.command.name(),
        visible(&r.host.root),
        visible(&r.host.os.pretty_name),
        visible(&r.policy.source)
    );
    control_rows(&mut out, r, color);
    diffs(&mut out, r, color);
    verdict_line(&mut out, r);
    out
}

/// One row per control, failing ones with their evidence below.
fn control_rows(out: &mut String, r: &Report, color: bool) {
    let id_width = r
        .controls
        .iter()
        .map(|c| c.id.len())
        .max()
        .unwrap_or(0)
        .max("CONTROL".len());
    let _ = writeln!(
        out,
        "{:id_width$}  {:6}  {:>7}  {:>7}  DETAIL",
        "CONTROL", "STATUS", "CHANGES", "TIME"
    );
    for c in &r.controls {
        let detail = c
            .error
            .clone()
            .or_else(|| {
                let files: Vec<&str> = c.changes.iter().map(|ch| ch.path.as_str()).collect();
                (!files.is_empty()).then(|| files.join(", "))
            })
            .or_else(|| c.evidence.first().cloned())
            .unwrap_or_default();
        let status = format!("{:6}", c.status.as_str());
        let failing = matches!(c.status, Status::Fail | Status::Error);
        let detail = if failing && !c.blocking {
            format!("[advisory] {detail}")
        } else {
            detail
        };
        let _ = writeln!(
            out,
            "{:id_width$}  {}  {:>7}  {:>5}ms  {}",
            c.id,
            paint(color, status_color(c.status), &status),
            c.changes.len(),
            c.duration_ms,
            visible(first_line(&detail))
        );
        if failing {
            for line in c.evidence.iter().filter(|e| !detail.ends_with(e.as_str())) {
                let _ = writeln!(out, "{:id_width$}  {}", "", visible(line));
            }
        }
    }
}

/// The changes' diffs, under plan (what would change) and verify (drift).
fn diffs(out: &mut String, r: &Report, color: bool) {
    let show_diffs = r.command == Mode::Plan || r.command == Mode::Verify;
    for c in &r.controls {
        for ch in &c.changes {
            let Some(diff) = ch.diff.as_ref().filter(|_| show_diffs) else {
                continue;
            };
            let verb = if r.command == Mode::Plan {
                "would change"
            } else {
                "drift in"
            };
            let _ = writeln!(
                out,
                "\n{} {} ({}): {}",
                c.id,
                verb,
                visible(&ch.detail),
                visible(&ch.path)
            );
            for line in diff.lines() {
                let line = visible_lines(line);
                let code = match line.chars().next() {
                    Some('+') if !line.starts_with("+++") => "32",
                    Some('-') if !line.starts_with("---") => "31",
                    Some('@') => "36",
                    _ => "",
                };
                if code.is_empty() {
                    let _ = writeln!(out, "{line}");
                } else {
                    let _ = writeln!(out, "{}", paint(color, code, &line));
                }
            }
        }
    }
}

/// The counts, the verdict and when it was made (`status` shows an
/// earlier run).
fn verdict_line(out: &mut String, r: &Report) {
    let s = &r.summary;
    let verdict = match r.exit_code {
        0 => "compliant",
        1 if r.command == Mode::Plan => "changes pending",
        1 => "NOT COMPLIANT",
        _ => "INCOMPLETE",
    };
    let pending = if r.command == Mode::Plan {
        format!("{} change, ", s.change)
    } else {
        String::new()
    };
    // `status` shows an earlier run: the line says when its verdict was made.
    let _ = writeln!(
        out,
        "\n{} pass, {} fixed, {pending}{} fail, {} error, {} skip; {} change(s) in {}ms: {} \
         (exit {}), finished {}",
        s.pass,
        s.fixed,
        s.fail,
        s.error,
        s.skip,
        s.changes,
        r.duration_ms,
        verdict,
        r.exit_code,
        visible(&r.finished_at)
    );
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    #[test]
    fn table_lists_every_control_and_the_verdict() {
        let text = render(&sample(), false);
        for id in ["variables", "sudo", "packages", "monitoring"] {
            assert!(text.contains(id), "{id} missing from\n{text}");
        }
        assert!(text.contains("cannot read /etc/pip.conf"));
        assert!(text.contains("INCOMPLETE (exit 3), finished 2026-01-01T00:00:00.010Z"));
        assert!(!text.contains('\x1b'), "no colour when asked for none");
    }

    /// The user's text in every field the table prints: nothing of it
    /// acts on the terminal, in colour or not; the JSON keeps it exact.
    #[test]
    fn user_written_escapes_are_shown_not_acted_on() {
        use crate::report::visible::{HOSTILE, inert};
        let mut r = sample();
        r.command = Mode::Verify;
        r.host.root = format!("/r{HOSTILE}");
        r.policy.source = format!("/p{HOSTILE}");
        for c in &mut r.controls {
            c.evidence
                .push(format!("override in /home/ec2-user/{HOSTILE}"));
            c.error = c.error.as_ref().map(|e| format!("{e}{HOSTILE}"));
            for ch in &mut c.changes {
                ch.path = format!("{}{HOSTILE}", ch.path);
                ch.detail = format!("{}{HOSTILE}", ch.detail);
                ch.diff = Some(format!("+{HOSTILE}\n-{HOSTILE}\n"));
            }
        }
        assert!(r.controls.iter().any(|c| !c.changes.is_empty()));
        for color in [false, true] {
            let text = render(&r, color).replace("\x1b[0m", "");
            let ours = ["\x1b[32m", "\x1b[31m", "\x1b[36m", "\x1b[2m"];
            let text = ours.iter().fold(text, |t, o| t.replace(o, ""));
            assert!(inert(&text), "{text:?}");
            assert!(text.contains("\\x1b]0;nbwarden: compliant\\x07"), "{text}");
        }
        let json = r.render(crate::report::OutputFormat::Json, false);
        let back: Report = serde_json::from_str(&json).expect("json");
        assert_eq!(back.host.root, r.host.root);
    }

    #[test]
    fn colour_only_when_asked_and_diffs_only_for_plan_and_verify() {
        let mut r = sample();
        assert!(render(&r, true).contains("\x1b[31m"));
        assert!(!render(&r, false).contains("+{}"));
        r.command = Mode::Plan;
        assert!(render(&r, false).contains("would change"));
        assert!(render(&r, false).contains("+{}"));
    }
}
