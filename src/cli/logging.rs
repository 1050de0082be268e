//! Logs go to journald when its socket exists, and to stderr unless stderr
//! already is the journal (systemd sets `JOURNAL_STREAM` for its services).
//! Reports go to stdout; lifecycle logs capture both streams.

use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// `verbosity`: 0 info, 1 debug, 2+ trace, -1 warn, -2 error.
pub fn init(verbosity: i8) {
    let level = match verbosity {
        i8::MIN..=-2 => "error",
        -1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    // Dependencies log at warn at most: the AWS SDK's debug and trace
    // output can hold request and response bodies, hence secrets. Below
    // warn (-qq), they are quieted with nbwarden.
    let filter = |level: &str| {
        std::env::var("NBWARDEN_LOG")
            .ok()
            .and_then(|d| d.parse::<Targets>().ok())
            .or_else(|| directives(level).parse().ok())
            .unwrap_or_default()
    };
    // -q quiets the terminal, never the journal: it is the record of what
    // every run did (controls, changes, drift), kept at info at least.
    let journal_level = if verbosity < 0 { "info" } else { level };
    let journald = std::path::Path::new(JOURNAL_SOCKET)
        .exists()
        .then(|| tracing_journald::layer().ok())
        .flatten()
        .map(|l| {
            l.with_syslog_identifier("nbwarden".into())
                .with_filter(filter(journal_level))
        });
    let stderr_is_journal = journald.is_some() && std::env::var_os("JOURNAL_STREAM").is_some();
    let stderr = (!stderr_is_journal).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(|| Visible(std::io::stderr()))
            .with_ansi(false)
            .with_target(false)
            .compact()
            .with_filter(filter(level))
    });
    let _ = tracing_subscriber::registry()
        .with(journald)
        .with(stderr)
        .try_init();
}

/// A terminal's writer: log lines name paths the notebook user chose (an
/// environment's python, a file it wrote), so what a terminal would act on
/// is escaped ([`crate::report::visible_lines`]); the journal keeps the
/// exact text. One event is one write.
struct Visible<W>(W);

impl<W: std::io::Write> std::io::Write for Visible<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0
            .write_all(crate::report::visible_lines(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// The filter for nbwarden at `level`: dependencies at warn at most (the
/// AWS SDK's debug output can hold secrets), at error with `-qq`.
fn directives(level: &str) -> String {
    let dependencies = if level == "error" { "error" } else { "warn" };
    format!("{dependencies},nbwarden={level}")
}

#[cfg(test)]
mod tests {
    use super::directives;

    #[test]
    fn log_lines_reach_a_terminal_escaped() {
        use crate::report::visible::{HOSTILE, inert};
        use std::io::Write as _;
        let mut out = super::Visible(Vec::new());
        writeln!(out, "ran command {HOSTILE}/bin/python").expect("write");
        let text = String::from_utf8(out.0).expect("utf8");
        assert!(inert(&text), "{text:?}");
        assert!(text.ends_with("/bin/python\n"), "{text:?}");
    }

    #[test]
    fn dependencies_are_never_louder_than_warn_and_quiet_with_qq() {
        assert_eq!(directives("trace"), "warn,nbwarden=trace");
        assert_eq!(directives("info"), "warn,nbwarden=info");
        assert_eq!(directives("error"), "error,nbwarden=error");
    }

    #[test]
    fn the_directives_parse_and_mean_what_they_say() {
        use tracing::Level;
        use tracing_subscriber::filter::Targets;
        for level in ["error", "warn", "info", "debug", "trace"] {
            let targets: Targets = directives(level).parse().expect(level);
            let ours: Level = level.parse().expect(level);
            assert!(targets.would_enable("nbwarden::engine", &ours), "{level}");
            assert!(
                !targets.would_enable("aws_smithy_runtime", &Level::INFO),
                "{level}"
            );
            assert_eq!(
                targets.would_enable("aws_smithy_runtime", &Level::WARN),
                level != "error",
                "{level}"
            );
        }
    }
}
