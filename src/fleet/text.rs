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

/// `text` as one terminal line ([`crate::report::visible`]: what the
/// terminal would act on escaped) with every run of spaces made one: a row's
/// fields come from objects the notebook user can write, and must not move
/// the administrator's cursor, hide lines, turn text around or push what
/// follows out of sight.
pub(super) fn printable(text: &str) -> String {
    let shown = crate::report::visible(text.trim_matches(' '));
    let mut out = String::with_capacity(shown.len());
    for c in shown.chars() {
        if c == ' ' && out.ends_with(' ') {
            continue;
        }
        out.push(c);
    }
    out
}

/// At most `chars` characters of `text`, marked when cut.
pub(super) fn clipped(text: String, chars: usize) -> String {
    shortened(&text, chars, chars.saturating_sub(3))
}
