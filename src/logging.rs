//! Logs go to journald when its socket exists, and to stderr unless stderr
//! already is the journal (systemd sets `JOURNAL_STREAM` for its services).
//! Reports go to stdout; lifecycle logs capture both streams.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
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
    // output can hold request and response bodies, hence secrets.
    let filter = |level: &str| {
        EnvFilter::try_from_env("NBWARDEN_LOG")
            .unwrap_or_else(|_| EnvFilter::new(format!("warn,nbwarden={level}")))
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
            .with_writer(std::io::stderr)
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
