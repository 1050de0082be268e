//! Text for a terminal: what the notebook user wrote (a path, an override
//! line, an error naming its file, a fleet report's fields) is shown with
//! every character that a terminal acts on instead of printing written as an
//! escape, so it cannot set the window title, erase or move lines, write the
//! clipboard (OSC 52), turn text around or hide it. The one rule for every
//! human rendering; JSON and JUnit keep the text exact.

use std::borrow::Cow;

/// Whether a terminal acts on `c` rather than showing it: C0 controls and
/// DEL, C1 controls (`\u{9b}` is CSI on its own), bidirectional marks and
/// overrides, zero-width and invisible characters (soft hyphen, the
/// Mongolian vowel separator, tag characters), and the line and paragraph
/// separators.
fn acts(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
                | '\u{00ad}'
                | '\u{180e}'
                | '\u{e0000}'..='\u{e007f}'
        )
}

/// `c` as an escape: `\x1b` for ASCII, `\u{9b}` for the rest.
fn escape(c: char, out: &mut String) {
    if c.is_ascii() {
        out.push_str(&format!("\\x{:02x}", c as u32));
    } else {
        out.push_str(&format!("\\u{{{:x}}}", c as u32));
    }
}

fn escaped<'a>(text: &'a str, keep: &dyn Fn(char) -> bool) -> Cow<'a, str> {
    if !text.chars().any(|c| acts(c) && !keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if acts(c) && !keep(c) {
            escape(c, &mut out);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One line of text for a terminal: every character a terminal acts on
/// (newlines and tabs too) escaped.
pub fn visible(text: &str) -> Cow<'_, str> {
    escaped(text, &|_| false)
}

/// [`visible`] for text of several lines (an error with its hint, a diff):
/// newlines and tabs kept.
pub fn visible_lines(text: &str) -> Cow<'_, str> {
    escaped(text, &|c| c == '\n' || c == '\t')
}

/// ESC-started, CSI, OSC and C1 sequences the user could write, for the
/// renderers' tests.
#[cfg(test)]
pub(crate) const HOSTILE: &str = "a\x1b]0;nbwarden: compliant\x07b\x1b[2K\x1b[1Ac\x1b]52;c;ZXZpbA==\x07d\u{9b}2Je\u{202e}f\u{200b}\r\n\tg\x7f";

/// Whether `text` holds nothing a terminal would act on but `\n` and `\t`.
#[cfg(test)]
pub(crate) fn inert(text: &str) -> bool {
    !text.chars().any(|c| acts(c) && c != '\n' && c != '\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sequence_is_written_out_and_nothing_is_left_to_act() {
        let shown = visible(HOSTILE);
        assert!(!shown.chars().any(acts), "{shown:?}");
        assert_eq!(
            shown,
            "a\\x1b]0;nbwarden: compliant\\x07b\\x1b[2K\\x1b[1Ac\\x1b]52;c;ZXZpbA==\\x07d\\u{9b}2Je\\u{202e}f\\u{200b}\\x0d\\x0a\\x09g\\x7f"
        );
        let lines = visible_lines(HOSTILE);
        assert!(lines.contains("\\x0d\n\tg"), "{lines:?}");
        assert!(!lines.contains('\x1b') && !lines.contains('\u{9b}'));
    }

    #[test]
    fn plain_text_is_borrowed_as_it_is() {
        let text = "override in /home/ec2-user/données/pip.conf: index-url = x";
        assert!(matches!(visible(text), Cow::Borrowed(t) if t == text));
    }
}
