//! A block of lines nbwarden owns inside a file it shares with others
//! (sudoers, /etc/gitconfig): everything outside the markers is kept as is.

/// `text` without the block between `begin` and `end` (markers included).
pub fn without(text: &str, begin: &str, end: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches('\n');
        if bare == begin {
            inside = true;
            continue;
        }
        if inside {
            if bare == end {
                inside = false;
            }
            continue;
        }
        out.push_str(line);
    }
    out
}

/// `text` with the block replaced by `body` (or appended), once.
pub fn with(text: &str, begin: &str, end: &str, body: &str) -> String {
    let mut out = without(text, begin, end);
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(begin);
    out.push('\n');
    out.push_str(body);
    if !body.is_empty() && !body.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(end);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_is_replaced_once_and_other_lines_kept() {
        let once = with("[core]\n\tx = 1", "# B", "# E", "[user]\n\tname = a\n");
        assert_eq!(once, "[core]\n\tx = 1\n# B\n[user]\n\tname = a\n# E\n");
        let twice = with(&once, "# B", "# E", "[user]\n\tname = b\n");
        assert_eq!(twice, "[core]\n\tx = 1\n# B\n[user]\n\tname = b\n# E\n");
        assert_eq!(without(&twice, "# B", "# E"), "[core]\n\tx = 1\n");
    }
}
