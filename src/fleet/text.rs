//! Bounds on what a row shows: its fields come from objects the notebook
//! user can write.

/// The most failing control ids a row keeps, and characters per field: a
/// report is what its notebook's user may have written.
pub(super) const MAX_FAILING_IDS: usize = 32;

pub(super) const MAX_FIELD_CHARS: usize = 96;

/// Characters of a row's problem (serde's error with what it quotes).
pub(super) const MAX_PROBLEM_CHARS: usize = 400;

pub(super) fn bounded(text: &str) -> String {
    shortened(text, MAX_FIELD_CHARS, MAX_FIELD_CHARS)
}

/// `text` unchanged up to `limit` characters; past that, its first `keep`
/// and "...".
pub(super) fn shortened(text: &str, limit: usize, keep: usize) -> String {
    if text.chars().count() > limit {
        let mut cut: String = text.chars().take(keep).collect();
        cut.push_str("...");
        cut
    } else {
        text.to_string()
    }
}

/// `text` as one terminal line: everything but printable ASCII escaped
/// (`\x1b` for an ASCII control, `\u{202e}` for the rest: control, bidi,
/// zero-width, filler and other invisible characters alike) and every run
/// of spaces made one. A row's fields come from objects the notebook user
/// can write, and must not move the administrator's cursor, hide lines,
/// turn text around, blank a value out or push what follows out of sight.
pub(super) fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.trim_matches(' ').chars() {
        match c {
            ' ' if out.ends_with(' ') => {}
            ' '..='~' => out.push(c),
            c if c.is_ascii() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    out
}

/// At most `bytes` bytes of UTF-8 of `text`, cut at a character and marked
/// when cut (Security Hub's limits are in bytes).
pub(super) fn clipped_bytes(text: &str, bytes: usize) -> String {
    if text.len() <= bytes {
        return text.to_string();
    }
    let mut end = bytes.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// At most `chars` characters of `text`, marked when cut.
pub(super) fn clipped(text: String, chars: usize) -> String {
    shortened(&text, chars, chars.saturating_sub(3))
}
