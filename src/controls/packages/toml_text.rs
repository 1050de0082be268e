//! TOML written as text: nbwarden's own small files (uv's, pdm's) need
//! only basic strings, so no serializer is linked into the binary.

/// `s` as a TOML basic string: quotes, backslashes and control
/// characters escaped.
pub fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::quoted;

    #[test]
    fn any_text_round_trips_through_a_toml_parser() {
        for s in [
            "https://m.example/simple/",
            "a\"b\\c",
            "tab\there\u{1b}[31m",
        ] {
            let table: toml::Table = format!("k = {}\n", quoted(s)).parse().expect("TOML");
            assert_eq!(table["k"].as_str(), Some(s));
        }
    }
}
