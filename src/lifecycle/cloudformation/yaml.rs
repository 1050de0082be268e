//! Templates as YAML that every reader takes the same way. serde's YAML is
//! 1.2, where `2010-09-09` is a string; CloudFormation's tooling and many
//! deploy scripts read YAML 1.1 (PyYAML, which moto and the AWS CLI's
//! `cloudformation package` use), where a plain `2010-09-09` is a date,
//! `yes`/`on`/`y` are booleans and `1:30` is a number. Every plain scalar
//! that a 1.1 reader would not take as a string is quoted here.

use anyhow::Result;
use serde_json::Value;

/// `template` as YAML whose every string reads as a string in YAML 1.1 and
/// 1.2 alike.
pub fn to_yaml(template: &Value) -> Result<String> {
    let text = serde_yaml_ng::to_string(template)?;
    let mut out = String::with_capacity(text.len() + 64);
    // Inside a block scalar (`|`), lines are text, not YAML: the indentation
    // of the line that opened it, while it lasts.
    let mut block: Option<usize> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if let Some(opened) = block {
            if line.trim().is_empty() || indent > opened {
                out.push_str(line);
                out.push('\n');
                continue;
            }
            block = None;
        }
        let (head, value) = split_value(line);
        if value.starts_with('|') || value.starts_with('>') {
            block = Some(indent);
        }
        out.push_str(head);
        if needs_quotes_in_yaml_1_1(value) {
            out.push('\'');
            out.push_str(&value.replace('\'', "''"));
            out.push('\'');
        } else {
            out.push_str(value);
        }
        out.push('\n');
    }
    Ok(out)
}

/// A line split before its plain value: `  - Key: ` and `value`, `  - ` and
/// `value`, or the whole line and "" when it holds no value (`Key:`).
fn split_value(line: &str) -> (&str, &str) {
    let mut at = line.len() - line.trim_start_matches(' ').len();
    while line[at..].starts_with("- ") {
        at += 2;
    }
    let rest = &line[at..];
    // A key of ours is plain or single-quoted; its value follows `: `.
    let key_end = if let Some(quoted) = rest.strip_prefix('\'') {
        quoted.find("': ").map(|i| i + 2)
    } else if rest.starts_with('"') {
        None
    } else {
        rest.find(": ")
    };
    match key_end {
        Some(i) => line.split_at(at + i + 2),
        None if rest.ends_with(':') => (line, ""),
        None => line.split_at(at),
    }
}

/// Whether a plain scalar is something other than a string to YAML 1.1
/// (quoted, flow and block values are left as they are).
fn needs_quotes_in_yaml_1_1(value: &str) -> bool {
    if value.is_empty() || value.starts_with(['\'', '"', '[', '{', '|', '>', '&', '*', '!']) {
        return false;
    }
    const BOOLS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
    ];
    BOOLS.contains(&value)
        || value == "="
        || is_date(value)
        || is_sexagesimal(value)
        || is_number_1_1(value)
}

/// YAML 1.1's integers and floats that 1.2 reads as text: digits with
/// underscores (`1_000`, `.5_0`), binary (`0b1_0`, and `0b_`, which a 1.1
/// reader fails on), hexadecimal with underscores, a float with
/// underscores or a leading dot. Quoting a text that only looks like one
/// changes nothing; what serde writes unquoted as a number never has an
/// underscore, a leading dot or `0b` (serde quotes such strings itself when
/// 1.2 reads them as numbers).
fn is_number_1_1(value: &str) -> bool {
    let body = value.strip_prefix(['-', '+']).unwrap_or(value);
    let numeric = body.bytes().all(|b| {
        b.is_ascii_hexdigit() || matches!(b, b'_' | b'.' | b'x' | b'X' | b'o' | b':' | b'+' | b'-')
    });
    body.starts_with("0b")
        || (body.starts_with('.') && body[1..].starts_with(|c: char| c.is_ascii_digit()))
        || (numeric
            && body.contains('_')
            && body.starts_with(|c: char| c.is_ascii_digit() || c == '.'))
}

/// `YYYY-M-D`, alone or followed by a time: YAML 1.1's timestamp.
fn is_date(value: &str) -> bool {
    let date = value.split(['T', 't', ' ']).next().unwrap_or(value);
    let parts: Vec<&str> = date.split('-').collect();
    parts.len() == 3
        && parts[0].len() == 4
        && (1..=2).contains(&parts[1].len())
        && (1..=2).contains(&parts[2].len())
        && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// `1:30`, `-2:05:00.5`: YAML 1.1's base-60 numbers.
fn is_sexagesimal(value: &str) -> bool {
    let body = value.trim_start_matches(['-', '+']);
    let (whole, _) = body.split_once('.').unwrap_or((body, ""));
    let mut parts = whole.split(':');
    let first = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    !rest.is_empty()
        && !first.is_empty()
        && first.bytes().all(|b| b.is_ascii_digit() || b == b'_')
        && first.as_bytes()[0].is_ascii_digit()
        && rest.iter().all(|p| {
            (1..=2).contains(&p.len())
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u8>().is_ok_and(|n| n < 60)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates_booleans_and_base_60_are_quoted_text_and_blocks_are_not() {
        let template = json!({
            "AWSTemplateFormatVersion": "2010-09-09",
            "List": ["2012-10-17", "yes", "on", "1:30", "plain", "it's 2010-09-09"],
            "Nested": [{ "Version": "2012-10-17", "Other": "no" }],
            "Script": "#!/bin/bash\nVersion: 2012-10-17\necho yes\n",
            "Number": 5,
            "Empty": {}
        });
        let text = to_yaml(&template).expect("yaml");
        assert!(
            text.contains("AWSTemplateFormatVersion: '2010-09-09'"),
            "{text}"
        );
        assert!(text.contains("- '2012-10-17'"), "{text}");
        assert!(
            text.contains("- Other: 'no'\n  Version: '2012-10-17'"),
            "{text}"
        );
        assert!(
            text.contains("- 'yes'") || text.contains("- \"yes\""),
            "{text}"
        );
        assert!(text.contains("- '1:30'"), "{text}");
        assert!(text.contains("- plain"), "{text}");
        // The script's own lines are its text, never quoted.
        assert!(text.contains("\n  Version: 2012-10-17\n"), "{text}");
        assert!(text.contains("\n  echo yes\n"), "{text}");
        // And the YAML still means the same value.
        let back: Value = serde_yaml_ng::from_str(&text).expect("parses");
        assert_eq!(back, template);
    }

    #[test]
    fn only_what_yaml_1_1_would_not_read_as_text_is_quoted() {
        for quoted in [
            "2010-09-09",
            "2026-1-5T10:00:00Z",
            "y",
            "OFF",
            "1:30",
            "-2:05:00.5",
            "=",
            "1_000",
            "0b1_0",
            "0x_1F",
            "0_7",
            "+1_0",
            "1_0.5",
            "1._",
            ".5_0",
            ".1_2e+3",
            "0b_",
            "0x_",
            ".5",
        ] {
            assert!(needs_quotes_in_yaml_1_1(quoted), "{quoted}");
        }
        for plain in [
            "2010-09",
            "10-09-2010",
            "arn:aws:iam::1:role/x",
            "nb:1",
            "1:60",
            "yesno",
            "'x'",
            "owner",
            "cost-center",
            "_1",
            "0x",
            "sg-0a1b",
            "5",
            "+10",
            "0x1F",
        ] {
            assert!(!needs_quotes_in_yaml_1_1(plain), "{plain}");
        }
    }
}
