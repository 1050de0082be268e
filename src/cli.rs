//! Command-line interface: argument parsing and the commands themselves.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use clap::{Args, Parser, Subcommand};

use crate::aws::Aws;
use crate::controls;
use crate::engine::{self, Context, Mode};
use crate::exit::{Failure, Verdict};
use crate::host::Host;
use crate::policy::{self, OnFailure, Policy, PolicySource, Severity};
use crate::report::{
    ControlReport, HostFacts, OutputFormat, PolicyRef, Report, SCHEMA_VERSION, Summary,
};
use crate::state;
use crate::version;

#[derive(Debug, Parser)]
#[command(
    name = "nbwarden",
    version = version::SHORT,
    about = "Hardens a SageMaker notebook instance before Jupyter is exposed, and proves it",
    after_help = "Exit codes: 0 compliant, 1 not compliant, 2 bad usage or invalid policy, \
                  3 could not evaluate or apply."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The policy: a file, s3://BUCKET/KEY, or ssm:/PARAMETER/NAME
    /// [default: /etc/nbwarden/policy.toml].
    #[arg(long, global = true, env = "NBWARDEN_POLICY", value_name = "SOURCE")]
    pub policy: Option<PolicySource>,
    /// Refuse the policy unless its bytes have this sha256 (hex).
    #[arg(long, global = true, env = "NBWARDEN_POLICY_SHA256", value_name = "HEX", value_parser = parse_sha256)]
    pub policy_sha256: Option<String>,
    /// Operate on the tree at DIR instead of `/` (tests, image building).
    #[arg(long, global = true, default_value = "/", value_name = "DIR")]
    pub root: PathBuf,
    /// Run only these controls (comma-separated ids).
    #[arg(long, global = true, value_delimiter = ',', value_name = "ID")]
    pub only: Vec<String>,
    /// Report format on stdout.
    #[arg(long, global = true, value_enum, default_value = "human")]
    pub output: OutputFormat,
    /// Time budget of the whole run (e.g. 90s, 4m).
    #[arg(long, global = true, default_value = "4m", value_parser = parse_deadline)]
    pub deadline: Duration,
    /// More log output on stderr (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less log output on stderr (-q warnings, -qq errors only).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,
}

/// The policy when neither `--policy`, `NBWARDEN_POLICY` nor the
/// lifecycle's environment file names one.
pub const DEFAULT_POLICY: &str = "/etc/nbwarden/policy.toml";
use crate::lifecycle::ENV_FILE as LIFECYCLE_ENV;

/// The policy this run uses, and its pin: `--policy` (or `NBWARDEN_POLICY`)
/// first, else what the lifecycle's root-owned environment file names, else
/// [`DEFAULT_POLICY`]. An environment file anyone but root could have
/// written is refused, not skipped: it would choose the policy.
fn policy_source(g: &GlobalArgs, host: &Host) -> Result<(PolicySource, Option<String>), Failure> {
    if let Some(p) = &g.policy {
        return Ok((p.clone(), g.policy_sha256.clone()));
    }
    let path = Path::new(LIFECYCLE_ENV);
    let Some(text) = host.read_text(path)? else {
        return Ok((
            PolicySource::File(DEFAULT_POLICY.into()),
            g.policy_sha256.clone(),
        ));
    };
    host.check_trusted(path).map_err(|e| {
        Failure::Usage(format!(
            "{LIFECYCLE_ENV} names the policy but cannot be trusted: {e:#}; give --policy"
        ))
    })?;
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let Some(source) = value("NBWARDEN_POLICY") else {
        return Ok((
            PolicySource::File(DEFAULT_POLICY.into()),
            g.policy_sha256.clone(),
        ));
    };
    let source = source
        .parse()
        .map_err(|e| Failure::Usage(format!("{LIFECYCLE_ENV}: NBWARDEN_POLICY: {e}")))?;
    let pin = match (&g.policy_sha256, value("NBWARDEN_POLICY_SHA256")) {
        (Some(given), _) => Some(given.clone()),
        (None, Some(pin)) => Some(parse_sha256(&pin).map_err(|e| {
            Failure::Usage(format!("{LIFECYCLE_ENV}: NBWARDEN_POLICY_SHA256: {e}"))
        })?),
        (None, None) => None,
    };
    Ok((source, pin))
}

fn parse_sha256(s: &str) -> Result<String, String> {
    if s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err("expected 64 hexadecimal digits".into())
    }
}

fn parse_deadline(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (try 90s or 4m)"))?;
    if d.is_zero() {
        return Err("the deadline must be longer than zero".into());
    }
    Ok(d)
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Converge the host to the policy; a second run changes nothing.
    Apply,
    /// Check every control; change nothing.
    Verify,
    /// Show what `apply` would change, as unified diffs.
    Plan,
    /// Show the last run's result.
    Status {
        /// Wait while a run is in progress.
        #[arg(long)]
        wait: bool,
    },
    /// Validate a policy or print its JSON Schema.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// The long-running service: metrics, drift re-checks, idle auto-stop
    /// (`[monitoring]`).
    Monitor {
        /// One round (drift included), printed as JSON, then exit.
        #[arg(long)]
        once: bool,
    },
    /// Lifecycle configuration scripts for a bundle.
    Lifecycle {
        #[command(subcommand)]
        command: LifecycleCommand,
    },
    /// The fleet's reports in S3.
    Fleet {
        #[command(subcommand)]
        command: FleetCommand,
    },
    /// Admin commands of the sudo control.
    Sudo {
        #[command(subcommand)]
        command: SudoCommand,
    },
    /// Print version, git commit, target and build date.
    Version,
}

#[derive(Debug, Subcommand)]
pub enum LifecycleCommand {
    /// Write on-create.sh and on-start.sh for a bundle in S3 (or print their
    /// base64 content, or a CloudFormation resource). `--policy` is the policy
    /// the scripts load [default: BUNDLE/policy.toml].
    Render {
        /// The bundle's location: s3://BUCKET/PREFIX/VERSION
        #[arg(long)]
        bundle: String,
        /// The bundle's SHA256SUMS (lines `HEX  bin/nbwarden-ARCH`).
        #[arg(long, value_name = "FILE")]
        checksums: Option<PathBuf>,
        /// A binary's sha256 as ARCH=HEX (repeatable), instead of --checksums.
        #[arg(long, value_name = "ARCH=HEX")]
        binary_sha256: Vec<String>,
        /// An explicit S3 endpoint for the AWS CLI (VPC endpoints, tests).
        #[arg(long, value_name = "URL")]
        s3_endpoint_url: Option<String>,
        /// Where to write the scripts (with --format files).
        #[arg(long, default_value = ".", value_name = "DIR")]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "files")]
        format: ScriptFormat,
        /// The lifecycle configuration's name (CloudFormation).
        #[arg(long, default_value = "nbwarden")]
        name: String,
        /// The whole on-start script's time budget (download, apply,
        /// verify), inside SageMaker's 5 minutes; from 30s to 280s.
        #[arg(long, default_value = "240s", value_name = "DURATION", value_parser = parse_start_budget)]
        start_budget: u32,
    },
}

/// `--start-budget`: whole seconds, leaving room for SageMaker's own steps.
fn parse_start_budget(text: &str) -> Result<u32, String> {
    let d = humantime::parse_duration(text)
        .map_err(|e| format!("{e}: write it like \"240s\" or \"4m\""))?;
    let secs = d.as_secs();
    if !(crate::lifecycle::MIN_BUDGET_S..=crate::lifecycle::MAX_BUDGET_S).contains(&secs) {
        return Err(format!(
            "{secs}s is outside {}s..={}s: SageMaker stops a start after 300s, and apply and \
             verify need time of their own",
            crate::lifecycle::MIN_BUDGET_S,
            crate::lifecycle::MAX_BUDGET_S
        ));
    }
    Ok(secs as u32)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScriptFormat {
    Files,
    Base64,
    Cloudformation,
}

#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Every notebook's latest report: which fail, which controls, since when.
    /// Exits 1 when any notebook is not compliant.
    Summary {
        #[arg(long)]
        bucket: String,
        #[arg(long, default_value = "nbwarden")]
        prefix: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SudoCommand {
    /// Undo the sudo control: restore backed-up drop-ins and commented-out
    /// grants, remove nbwarden's deny rules, rejoin the removed groups.
    Restore {
        /// The notebook user whose grants nbwarden removed.
        #[arg(long, default_value = "ec2-user")]
        user: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check a policy file; errors name line and column.
    Validate { file: PathBuf },
    /// Print the policy's JSON Schema.
    Schema,
}

impl GlobalArgs {
    fn verbosity(&self) -> i8 {
        self.verbose.min(10) as i8 - self.quiet.min(10) as i8
    }
}

/// Parses arguments, runs the command, and returns its result. Help and
/// `--version` exit here with 0; other argument errors become exit 2.
pub fn main() -> Result<Verdict, Failure> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return Ok(Verdict::Compliant);
        }
        Err(e) => {
            let _ = e.print();
            return Err(Failure::Usage("invalid arguments".into()));
        }
    };
    crate::logging::init(cli.global.verbosity());
    let result = dispatch(&cli);
    if let Err(failure) = &result {
        // A usage failure from clap was already printed above.
        eprintln!("nbwarden: {failure}");
    }
    result
}

fn dispatch(cli: &Cli) -> Result<Verdict, Failure> {
    let g = &cli.global;
    match &cli.command {
        Command::Apply => run_engine(Mode::Apply, g),
        Command::Verify => run_engine(Mode::Verify, g),
        Command::Plan => run_engine(Mode::Plan, g),
        Command::Status { wait } => status(g, *wait),
        Command::Policy {
            command: PolicyCommand::Schema,
        } => {
            print!("{}", Policy::json_schema());
            Ok(Verdict::Compliant)
        }
        Command::Policy {
            command: PolicyCommand::Validate { file },
        } => {
            // Validating obeys nothing, so a draft may live anywhere; only
            // apply, verify, plan and monitor require a root-owned file.
            let bytes = std::fs::read(file).map_err(|e| {
                Failure::CannotEvaluate(anyhow::anyhow!(
                    "cannot read policy file {}: {e}",
                    file.display()
                ))
            })?;
            let loaded = crate::policy::from_bytes(bytes, &file.display().to_string())?;
            println!("{}: valid policy (sha256 {})", loaded.source, loaded.sha256);
            Ok(Verdict::Compliant)
        }
        Command::Monitor { once } => monitor(g, *once),
        Command::Lifecycle {
            command:
                LifecycleCommand::Render {
                    bundle,
                    checksums,
                    binary_sha256,
                    s3_endpoint_url,
                    out,
                    format,
                    name,
                    start_budget,
                },
        } => render_lifecycle(
            g,
            bundle,
            checksums.as_deref(),
            binary_sha256,
            s3_endpoint_url,
            out,
            *format,
            name,
            *start_budget,
        ),
        Command::Fleet {
            command: FleetCommand::Summary { bucket, prefix },
        } => {
            let aws = Aws::new(Instant::now() + g.deadline);
            let rows = crate::fleet::summary(&aws, bucket, prefix)?;
            match g.output {
                OutputFormat::Json => {
                    let text = serde_json::to_string_pretty(&rows).unwrap_or_default();
                    println!("{text}");
                }
                _ => print!("{}", crate::fleet::render_table(&rows)),
            }
            Ok(if rows.iter().any(|r| r.exit_code != 0) {
                Verdict::NotCompliant
            } else {
                Verdict::Compliant
            })
        }
        Command::Sudo {
            command: SudoCommand::Restore { user },
        } => {
            let control = crate::controls::sudo::restore::SudoRestore { user: user.clone() };
            let host = Host::open(&g.root)?;
            let policy = policy::parse("version = 1\n", "(built in)")?;
            let source = PolicyRef {
                source: "nbwarden sudo restore".into(),
                sha256: String::new(),
            };
            let aws = Aws::new(Instant::now() + g.deadline);
            let run = Run::new(Mode::Apply, g, &host, &policy, &aws, source)?;
            let report = run.finish(vec![engine::run_control(Mode::Apply, &run.ctx(), &control)]);
            Ok(report)
        }
        Command::Version => {
            println!("{}", version::LONG);
            Ok(Verdict::Compliant)
        }
    }
}

/// This process's high-water mark of resident memory (Linux `VmHWM`).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn use_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn check_only(only: &[String]) -> Result<(), Failure> {
    let known = controls::known_ids();
    for id in only {
        if !known.contains(&id.as_str()) {
            return Err(Failure::Usage(format!(
                "--only: unknown control `{id}`; known controls: {}",
                known.join(", ")
            )));
        }
    }
    Ok(())
}

fn run_engine(mode: Mode, g: &GlobalArgs) -> Result<Verdict, Failure> {
    check_only(&g.only)?;
    let aws = Aws::new(Instant::now() + g.deadline);
    let host = Host::open(&g.root)?;
    let (source, pin) = policy_source(g, &host)?;
    let loaded = source.load(pin.as_deref(), &aws)?;
    let source = PolicyRef {
        source: loaded.source.clone(),
        sha256: loaded.sha256.clone(),
    };
    let selected: Vec<&controls::Entry> = controls::REGISTRY
        .iter()
        .filter(|e| g.only.is_empty() || g.only.iter().any(|id| id == e.id))
        .collect();
    let built: Vec<(&controls::Entry, Option<Box<dyn engine::Control>>)> = selected
        .into_iter()
        .map(|e| (e, e.build(&loaded.policy)))
        .collect();
    // Policy facts checked against the host come first, before even the
    // lock is taken: exit 2, nothing changed.
    let early = Context {
        host: &host,
        policy: &loaded.policy,
        deadline: Instant::now() + g.deadline,
        aws: &aws,
    };
    for control in built.iter().filter_map(|(_, c)| c.as_ref()) {
        control.preflight(&early).map_err(|e| {
            Failure::Usage(format!("policy {}: [{}] {e}", loaded.source, control.id()))
        })?;
    }
    let run = Run::new(mode, g, &host, &loaded.policy, &aws, source)?;
    let ctx = run.ctx();
    let reports = built
        .iter()
        .map(|(entry, control)| match control {
            Some(control) => {
                let mut report = engine::run_control(mode, &ctx, control.as_ref());
                report.blocking = control.severity() == Severity::Block
                    && loaded.policy.verify.on_failure == OnFailure::Fail;
                report
            }
            None => ControlReport::skipped(
                entry.id,
                entry.title,
                &format!("off: no [{}] section in the policy", entry.section),
            ),
        })
        .collect();
    Ok(run.finish(reports))
}

/// One plan/apply/verify run: its clock, lock and report.
struct Run<'a> {
    mode: Mode,
    g: &'a GlobalArgs,
    host: &'a Host,
    policy: &'a Policy,
    aws: &'a Aws,
    source: PolicyRef,
    started: Instant,
    started_at: SystemTime,
    deadline: Instant,
    _lock: Option<state::RunLock>,
}

impl<'a> Run<'a> {
    fn new(
        mode: Mode,
        g: &'a GlobalArgs,
        host: &'a Host,
        policy: &'a Policy,
        aws: &'a Aws,
        source: PolicyRef,
    ) -> Result<Self, Failure> {
        let started = Instant::now();
        let deadline = started + g.deadline;
        // No program a control runs may outlive the run.
        crate::host::command::set_deadline(Some(deadline));
        // plan changes nothing, so it needs no lock and may run beside a run.
        let lock = match mode {
            Mode::Plan => None,
            Mode::Apply => Some(state::RunLock::acquire(host, deadline)?),
            // An admin without root may verify; the lock is only courtesy
            // towards a concurrent apply then.
            Mode::Verify if host.euid() != 0 => state::RunLock::acquire(host, deadline)
                .inspect_err(|e| tracing::warn!("verifying without the run lock: {e:#}"))
                .ok(),
            Mode::Verify => Some(state::RunLock::acquire(host, deadline)?),
        };
        let started_at = SystemTime::now();
        // A recorded run leaves its start behind first, so that a run that
        // dies before recording (killed, out of memory) is not mistaken
        // for the last verdict still holding.
        if mode != Mode::Plan && g.only.is_empty() && host.euid() == 0 {
            state::mark_run_started(host, started_at)
                .map_err(|e| Failure::CannotEvaluate(e.context("cannot record the run's start")))?;
        }
        Ok(Run {
            mode,
            g,
            host,
            policy,
            aws,
            source,
            started,
            started_at,
            deadline,
            _lock: lock,
        })
    }

    fn ctx(&self) -> Context<'a> {
        Context {
            host: self.host,
            policy: self.policy,
            deadline: self.deadline,
            aws: self.aws,
        }
    }

    /// Builds the report, records it (apply and verify), prints it.
    fn finish(&self, reports: Vec<ControlReport>) -> Verdict {
        let summary = Summary::of(&reports);
        let verdict = summary.verdict();
        let mut report = Report {
            schema_version: SCHEMA_VERSION,
            nbwarden_version: version::SHORT.to_string(),
            command: self.mode.name().to_string(),
            started_at: humantime::format_rfc3339_millis(self.started_at).to_string(),
            finished_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            duration_ms: self.started.elapsed().as_millis() as u64,
            aws_wait_ms: self.aws.waited().as_millis() as u64,
            peak_rss_kib: peak_rss_kib(),
            host: HostFacts {
                root: self.host.root().display().to_string(),
                hostname: hostname(),
                os: self.host.os().clone(),
            },
            policy: self.source.clone(),
            controls: reports,
            summary,
            exit_code: verdict.code(),
            context: None,
            failing_since: None,
            upload: None,
        };
        // A run limited by --only (the monitor's re-apply, the token
        // refresh, an agent's install) proves nothing about the rest: it
        // never replaces the instance's verdict, manifest or fleet report.
        let scoped = !self.g.only.is_empty();
        if scoped && self.mode != Mode::Plan {
            tracing::info!(
                only = self.g.only.join(",").as_str(),
                "a run limited by --only is not recorded as the instance's verdict"
            );
        }
        let record = self.mode != Mode::Plan && !scoped;
        // Recording is bookkeeping: an admin without root can still verify.
        if record && self.host.euid() == 0 {
            let home = self.host.accounts().ok().and_then(|a| {
                a.user(self.policy.user.as_str())
                    .map(|u| PathBuf::from(&u.home))
            });
            // The instance id costs an IMDS call: only when AWS is in use.
            let instance = self
                .aws
                .is_connected()
                .then(|| self.aws.instance_id().ok())
                .flatten();
            let complete = verdict != Verdict::Incomplete;
            match state::observe_boot(self.host, home.as_deref(), instance, complete) {
                Ok(ctx) => report.context = Some(ctx),
                Err(e) => tracing::warn!("could not record the boot: {e:#}"),
            }
            if self.mode == Mode::Apply {
                let entries: Vec<_> = report
                    .controls
                    .iter()
                    .flat_map(|c| c.managed.clone())
                    .collect();
                if let Err(e) = state::save_manifest(self.host, &report, &entries) {
                    tracing::warn!("could not write {}: {e:#}", state::MANIFEST);
                }
            }
        }
        if record {
            // Only root's report speaks for the instance: a run as the
            // notebook user proves nothing and must not become latest.json.
            if let Some(sink) = self
                .policy
                .verify
                .report
                .as_ref()
                .filter(|_| self.host.euid() == 0)
            {
                let outcome = crate::fleet::upload(self.host, self.aws, sink, &mut report);
                tracing::info!("{outcome}");
                report.upload = Some(outcome);
            }
            if let Err(e) = state::save(self.host, &report) {
                tracing::warn!("could not record this run in {}: {e:#}", state::LAST_RUN);
            }
        }
        print!("{}", report.render(self.g.output, use_color()));
        verdict
    }
}

fn monitor(g: &GlobalArgs, once: bool) -> Result<Verdict, Failure> {
    let host = Host::open(&g.root)?;
    let (source, pin) = policy_source(g, &host)?;
    let loaded = source.load(pin.as_deref(), &Aws::new(Instant::now() + g.deadline))?;
    let monitoring = loaded.policy.monitoring.clone().ok_or_else(|| {
        Failure::Usage(format!(
            "policy {}: no [monitoring] section: nothing to monitor",
            loaded.source
        ))
    })?;
    let controls: Vec<Box<dyn engine::Control>> = controls::REGISTRY
        .iter()
        .filter_map(|e| e.build(&loaded.policy))
        .collect();
    let interval = Duration::from_secs(u64::from(monitoring.interval_s.max(1)));
    let drift_every = Duration::from_secs(u64::from(monitoring.drift_every_s));
    let mut last_drift: Option<Instant> = None;
    loop {
        let started = Instant::now();
        let aws = Aws::new(started + g.deadline);
        crate::host::command::set_deadline(Some(started + g.deadline));
        let ctx = Context {
            host: &host,
            policy: &loaded.policy,
            deadline: started + g.deadline,
            aws: &aws,
        };
        let check_drift = once || last_drift.is_none_or(|t| t.elapsed() >= drift_every);
        if check_drift {
            last_drift = Some(started);
        }
        let outcome = crate::monitor::round(&ctx, &monitoring, &controls, check_drift);
        // The service's rounds are told by its events and the metrics file;
        // only a one-off round prints what it saw.
        if once {
            println!("{outcome}");
            return Ok(Verdict::Compliant);
        }
        std::thread::sleep(interval.saturating_sub(started.elapsed()));
    }
}

#[allow(clippy::too_many_arguments)]
fn render_lifecycle(
    g: &GlobalArgs,
    bundle: &str,
    checksums: Option<&Path>,
    binary_sha256: &[String],
    s3_endpoint_url: &Option<String>,
    out: &Path,
    format: ScriptFormat,
    name: &str,
    start_budget_s: u32,
) -> Result<Verdict, Failure> {
    use std::collections::BTreeMap;
    let bundle = bundle.trim_end_matches('/');
    if !bundle.starts_with("s3://") || bundle.len() <= 5 {
        return Err(Failure::Usage(format!(
            "--bundle {bundle}: write s3://BUCKET/PREFIX/VERSION"
        )));
    }
    let mut binaries = BTreeMap::new();
    if let Some(file) = checksums {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Failure::Usage(format!("--checksums {}: {e}", file.display())))?;
        for line in text.lines() {
            let mut parts = line.split_whitespace();
            if let (Some(sha), Some(path)) = (parts.next(), parts.next())
                && let Some(arch) = path.trim_start_matches('*').strip_prefix("bin/nbwarden-")
            {
                binaries.insert(arch.to_string(), sha.to_ascii_lowercase());
            }
        }
    }
    for pair in binary_sha256 {
        let (arch, sha) = pair
            .split_once('=')
            .ok_or_else(|| Failure::Usage(format!("--binary-sha256 {pair}: write ARCH=HEX")))?;
        binaries.insert(arch.to_string(), sha.to_ascii_lowercase());
    }
    for (arch, sha) in &binaries {
        if !crate::lifecycle::ARCHES.contains(&arch.as_str()) || parse_sha256(sha).is_err() {
            return Err(Failure::Usage(format!(
                "binary checksum {arch}={sha}: expected x86_64 or aarch64 and 64 hex digits"
            )));
        }
    }
    if binaries.is_empty() {
        return Err(Failure::Usage(
            "no binary checksum: give --checksums SHA256SUMS or --binary-sha256 ARCH=HEX".into(),
        ));
    }
    let options = crate::lifecycle::Options {
        bundle: bundle.to_string(),
        policy: g
            .policy
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_else(|| format!("{bundle}/policy.toml")),
        policy_sha256: g.policy_sha256.clone(),
        binaries,
        s3_endpoint_url: s3_endpoint_url.clone(),
        start_budget_s,
        version: version::SHORT.to_string(),
    };
    let scripts = [
        ("on-create.sh", crate::lifecycle::on_create(&options)),
        ("on-start.sh", crate::lifecycle::on_start(&options)),
    ];
    for (file, script) in &scripts {
        crate::lifecycle::check(file, script)?;
    }
    match format {
        ScriptFormat::Files => {
            std::fs::create_dir_all(out).map_err(|e| {
                Failure::CannotEvaluate(anyhow::anyhow!("cannot create {}: {e}", out.display()))
            })?;
            for (file, script) in &scripts {
                let path = out.join(file);
                std::fs::write(&path, script)
                    .and_then(|_| {
                        std::fs::set_permissions(
                            &path,
                            std::os::unix::fs::PermissionsExt::from_mode(0o755),
                        )
                    })
                    .map_err(|e| {
                        Failure::CannotEvaluate(anyhow::anyhow!(
                            "cannot write {}: {e}",
                            path.display()
                        ))
                    })?;
                println!("{} ({} characters)", path.display(), script.chars().count());
            }
        }
        ScriptFormat::Base64 => {
            for (file, script) in &scripts {
                println!("{file}: {}", crate::lifecycle::base64(script));
            }
        }
        ScriptFormat::Cloudformation => {
            print!(
                "{}",
                crate::lifecycle::cloudformation(name, &scripts[0].1, &scripts[1].1)
            );
        }
    }
    Ok(Verdict::Compliant)
}

fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn status(g: &GlobalArgs, wait: bool) -> Result<Verdict, Failure> {
    let host = Host::open(&g.root)?;
    if wait {
        state::wait_idle(&host, g.deadline)?;
    }
    let Some(report) = state::load(&host)? else {
        return Err(Failure::CannotEvaluate(anyhow::anyhow!(
            "no run recorded yet in {}{}: run `nbwarden apply` first",
            display_root(host.root()),
            state::LAST_RUN
        )));
    };
    if let Some(unrecorded) = state::unrecorded_run(&host, &report)? {
        return Err(Failure::CannotEvaluate(anyhow::anyhow!(
            "a run started at {unrecorded} has recorded no result (still running, or it died: \
             `journalctl -t nbwarden`); the last recorded verdict, from {}, no longer stands",
            report.started_at
        )));
    }
    print!("{}", report.render(g.output, use_color()));
    Verdict::from_code(report.exit_code).ok_or_else(|| {
        Failure::CannotEvaluate(anyhow::anyhow!(
            "{} records exit code {}, which no run produces",
            state::LAST_RUN,
            report.exit_code
        ))
    })
}

fn display_root(root: &Path) -> String {
    if root == Path::new("/") {
        String::new()
    } else {
        root.display().to_string()
    }
}
