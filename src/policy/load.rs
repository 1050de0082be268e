//! Reading a policy and turning TOML/serde errors into `file:line:column`
//! errors with a hint.

use std::fmt;

use super::Policy;
use super::values::HINT;
use crate::base::digest::sha256_hex;

/// A policy, with where it came from and the digest of its exact bytes.
#[derive(Debug, Clone)]
pub struct LoadedPolicy {
    pub policy: Policy,
    pub source: String,
    pub sha256: String,
}

impl LoadedPolicy {
    /// The policy of an admin command that obeys no policy file (`sudo
    /// restore`): every section off, the default user; `label` names the
    /// command in its report.
    pub fn for_admin_command(label: &str) -> Result<LoadedPolicy, PolicyError> {
        Ok(LoadedPolicy {
            policy: parse("version = 1\n", label)?,
            source: label.to_string(),
            sha256: String::new(),
        })
    }
}

/// Why a policy could not be loaded. The CLI maps each to its exit code
/// (`run::exit::Failure`): invalid and refused are 2, unreadable is 3.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The policy does not parse or validate.
    #[error(transparent)]
    Invalid(#[from] PolicyError),
    /// Root may not obey this source (a file others could write, an
    /// environment file that cannot be trusted): nothing was read.
    #[error("{0}")]
    Refused(String),
    /// It could not be fetched or read, or does not match its pin.
    #[error("{0:#}")]
    Unreadable(#[from] anyhow::Error),
}

/// A policy that does not parse or validate. Always has a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub hint: String,
    /// The offending source line, for the caret display.
    pub source_line: String,
    pub width: usize,
}

impl std::error::Error for PolicyError {}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invalid policy {}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )?;
        let gutter = self.line.to_string().len();
        writeln!(f, "{:gutter$} |", "")?;
        writeln!(f, "{} | {}", self.line, self.source_line)?;
        writeln!(
            f,
            "{:gutter$} | {}{}",
            "",
            " ".repeat(self.column.saturating_sub(1)),
            "^".repeat(self.width.max(1))
        )?;
        write!(f, "hint: {}", self.hint)
    }
}

/// Parses policy bytes read from `label` (a path or a URI).
pub fn from_bytes(bytes: Vec<u8>, label: &str) -> Result<LoadedPolicy, LoadError> {
    let text = String::from_utf8(bytes.clone()).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(&bytes);
        located(
            label,
            &text,
            offset..offset + 1,
            "the file is not valid UTF-8".into(),
        )
    })?;
    let policy = parse(&text, label)?;
    Ok(LoadedPolicy {
        policy,
        source: label.to_string(),
        sha256: sha256_hex(&bytes),
    })
}

/// Parses policy text; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Policy, PolicyError> {
    toml::from_str::<Policy>(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        located(file, text, span, e.message().to_string())
    })
}

fn located(file: &str, text: &str, span: std::ops::Range<usize>, raw: String) -> PolicyError {
    let start = floor_char_boundary(text, span.start.min(text.len()));
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..start].chars().count() + 1;
    let source_line = text[line_start..]
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let end = floor_char_boundary(text, span.end.min(text.len()).max(start));
    let width = text[start..end]
        .lines()
        .next()
        .map_or(1, |s| s.chars().count());
    let (message, hint) = match raw.split_once(HINT) {
        Some((m, h)) => (m.to_string(), h.to_string()),
        None => {
            let hint = hint_for(&raw);
            (raw, hint)
        }
    };
    PolicyError {
        file: file.to_string(),
        line,
        column,
        message: message.trim_end().to_string(),
        hint,
        source_line,
        width,
    }
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A hint for serde's and toml's own messages, which carry none.
fn hint_for(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let closest = candidates
            .iter()
            .map(|c| (strsim::levenshtein(field, c), *c))
            .min()
            .filter(|(d, _)| *d <= 3);
        return match closest {
            Some((_, c)) => format!("did you mean `{c}`? unknown keys are rejected"),
            None => "remove this key: unknown keys are rejected (see `nbwarden policy schema`)"
                .to_string(),
        };
    }
    if message.starts_with("missing field `") {
        return "add the missing key to this table (see `nbwarden policy schema` \
                or config/policy.example.toml)"
            .to_string();
    }
    if message.starts_with("invalid type") {
        return "change the value to the expected type, e.g. quote strings \
                and write lists as [\"a\", \"b\"]"
            .to_string();
    }
    if message.starts_with("invalid value: integer") {
        return "write a whole number in the range the message gives (counts, sizes and \
                times here are never negative; see `nbwarden policy schema`)"
            .to_string();
    }
    if message.contains("did not match any variant") {
        return "a value is either a string or a list of strings".to_string();
    }
    if message.starts_with("unknown variant") {
        return "use one of the listed values".to_string();
    }
    "fix the TOML syntax at this position (https://toml.io)".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> PolicyError {
        match parse(text, "p.toml") {
            Ok(p) => panic!("expected an error, parsed {p:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn minimal_policy_parses_with_defaults() {
        let p = parse("version = 1\n", "p.toml").expect("valid");
        assert_eq!(p.user.as_str(), "ec2-user");
        assert!(p.variables.is_none());
    }

    #[test]
    fn misspelt_key_points_at_it_and_suggests_the_right_one() {
        let e = err("version = 1\nusr = \"ec2-user\"\n");
        assert_eq!((e.line, e.column), (2, 1));
        assert!(e.message.contains("unknown field `usr`"), "{}", e.message);
        assert!(e.hint.contains("did you mean `user`"), "{}", e.hint);
    }

    #[test]
    fn nested_misspelt_key_is_located() {
        let e = err("version = 1\n[variables]\npython_modul = \"x\"\n");
        assert_eq!((e.line, e.column), (3, 1));
        assert!(e.hint.contains("python_module"), "{}", e.hint);
    }

    #[test]
    fn wrong_type_points_at_the_value() {
        let e = err("version = 1\nuser = 5\n");
        assert_eq!((e.line, e.column), (2, 8));
        assert!(e.message.contains("invalid type"), "{}", e.message);
    }

    /// A negative count used to get a hint about TOML's syntax, which was
    /// right.
    #[test]
    fn a_negative_count_gets_a_hint_about_its_range() {
        let e = err("version = 1\n[verify.egress]\ntimeout_ms = -5\n");
        assert_eq!((e.line, e.column), (3, 14));
        assert!(e.message.contains("-5"), "{}", e.message);
        assert!(e.hint.contains("never negative"), "{}", e.hint);
        assert!(!e.hint.contains("TOML syntax"), "{}", e.hint);
    }

    #[test]
    fn missing_required_value_is_reported() {
        let e = err("user = \"ec2-user\"\n");
        assert!(
            e.message.contains("missing field `version`"),
            "{}",
            e.message
        );
        assert!(e.hint.contains("add the missing key"));
    }

    #[test]
    fn future_version_is_rejected_with_its_own_hint() {
        let e = err("version = 2\n");
        assert_eq!((e.line, e.column), (1, 11));
        assert!(e.message.contains("unsupported policy version 2"));
        assert!(e.hint.contains("version = 1"));
    }

    #[test]
    fn bad_value_kind_points_at_the_variable() {
        let text =
            "version = 1\n[variables.values.SAGEMAKER_VPC]\nvalue = \"vpc-nope\"\nkind = \"vpc\"\n";
        let e = err(text);
        assert!(e.line >= 2, "{e}");
        assert!(e.message.contains("not a valid Vpc value"), "{}", e.message);
    }

    #[test]
    fn display_shows_the_line_and_a_caret() {
        let shown = err("version = 1\nusr = \"x\"\n").to_string();
        assert!(shown.starts_with("invalid policy p.toml:2:1: unknown field `usr`"));
        assert!(shown.contains("2 | usr = \"x\""));
        assert!(shown.contains("  | ^^^"));
    }
}
