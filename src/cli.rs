//! The command line: parses, calls the module that does the work, renders
//! the result. A run's logic lives in `run::run`, rendering in `report`.

mod admin;
pub mod args;
mod logging;

use std::io::IsTerminal;
use std::time::Instant;

pub use args::{
    Cli, Command, FleetCommand, GlobalArgs, LifecycleCommand, PolicyCommand, ScriptFormat,
    SudoCommand, SummaryArgs,
};

use crate::aws::Aws;
use crate::base::verdict::Verdict;
use crate::base::version;
use crate::host::Host;
use crate::policy::{self, LoadedPolicy, Policy};
use crate::report::Mode;
use crate::report::Report;
use crate::run::exit::Failure;
use crate::run::record;
use crate::run::{self, Purpose, RunSpec, Selection};

/// Parses arguments, runs the command, and returns its result. Help and
/// `--version` exit here with 0; other argument errors become exit 2.
pub fn main() -> Result<Verdict, Failure> {
    let parsed = shaped(<Cli as clap::CommandFactory>::command())
        .try_get_matches()
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    let cli = match parsed {
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
    logging::init(cli.global.verbosity());
    let result = dispatch(&cli);
    if let Err(failure) = &result {
        // A usage failure from clap was already printed above.
        // Errors name paths and quote files the notebook user may have
        // written: nothing in them may act on the terminal.
        eprintln!(
            "nbwarden: {}",
            crate::report::visible_lines(&failure.to_string())
        );
    }
    result
}

/// `cmd` as it is parsed and documented: the runs' options are global
/// (accepted before or after any command), but a command's help and man
/// page list only those it reads. Hidden ones are still accepted: each is
/// given to those commands as a hidden copy before clap propagates the
/// global ones (which skips a command that has the argument already).
pub fn shaped(mut cmd: clap::Command) -> clap::Command {
    let not_a_run = ["root", "only"];
    let reads_nothing = [
        "root",
        "only",
        "policy",
        "policy_sha256",
        "deadline",
        "output",
    ];
    for (name, hidden) in [
        ("lifecycle", &not_a_run[..]),
        ("fleet", &not_a_run[..]),
        ("policy", &reads_nothing[..]),
        ("version", &reads_nothing[..]),
    ] {
        let copies: Vec<clap::Arg> = cmd
            .get_arguments()
            .filter(|a| hidden.contains(&a.get_id().as_str()))
            .map(|a| a.clone().hide(true))
            .collect();
        cmd = cmd.mut_subcommand(name, |c| c.args(copies));
    }
    cmd.build();
    cmd
}

fn dispatch(cli: &Cli) -> Result<Verdict, Failure> {
    let g = &cli.global;
    match &cli.command {
        Command::Apply => run_command(Mode::Apply, g),
        Command::Verify => run_command(Mode::Verify, g),
        Command::Plan => run_command(Mode::Plan, g),
        Command::Status { wait } => {
            let host = Host::open(&g.root)?;
            let report = record::last_verdict(&host, wait.then_some(g.deadline))?;
            render(g, &report);
            Verdict::from_code(report.exit_code).ok_or_else(|| {
                Failure::CannotEvaluate(anyhow::anyhow!(
                    "{} records exit code {}, which no run produces",
                    record::LAST_RUN,
                    report.exit_code
                ))
            })
        }
        Command::Policy {
            command: PolicyCommand::Schema,
        } => {
            print!("{}", Policy::json_schema());
            Ok(Verdict::Compliant)
        }
        Command::Policy {
            command: PolicyCommand::Validate { file },
        } => {
            let loaded = admin::draft_policy(file)?;
            run::check_policy(&loaded)?;
            println!(
                "{}: valid policy (sha256 {})",
                crate::report::visible(&loaded.source),
                loaded.sha256
            );
            Ok(Verdict::Compliant)
        }
        Command::Monitor { once } => monitor(g, *once),
        Command::Lifecycle { command } => admin::lifecycle(g, command),
        Command::Fleet { command } => admin::fleet(g, command),
        Command::Sudo {
            command: SudoCommand::Restore { user },
        } => {
            let control = crate::controls::sudo::restore::SudoRestore { user: user.clone() };
            let host = Host::open(&g.root)?;
            let policy = LoadedPolicy::for_admin_command("nbwarden sudo restore")?;
            let deadline = Instant::now() + g.deadline;
            let aws = Aws::new(deadline);
            let report = run::run(&RunSpec {
                mode: Mode::Apply,
                host: &host,
                aws: &aws,
                policy: &policy,
                selection: Selection::Admin(&control),
                purpose: Purpose::Admin,
                deadline,
            })?;
            Ok(render(g, &report))
        }
        Command::Version => {
            println!("{}", version::LONG);
            Ok(Verdict::Compliant)
        }
    }
}

/// The policy this invocation names (or the lifecycle's), loaded.
fn load_policy(g: &GlobalArgs, host: &Host, aws: &Aws) -> Result<LoadedPolicy, Failure> {
    let (source, pin) =
        policy::resolve_source(g.policy.as_ref(), g.policy_sha256.as_deref(), host)?;
    Ok(source.load(pin.as_deref(), aws)?)
}

fn run_command(mode: Mode, g: &GlobalArgs) -> Result<Verdict, Failure> {
    run::check_only(&g.only)?;
    let deadline = Instant::now() + g.deadline;
    let aws = Aws::new(deadline);
    let host = Host::open(&g.root)?;
    let policy = load_policy(g, &host, &aws)?;
    let report = run::run(&RunSpec {
        mode,
        host: &host,
        aws: &aws,
        policy: &policy,
        selection: Selection::Policy { only: &g.only },
        purpose: Purpose::of_only(&g.only),
        deadline,
    })?;
    Ok(render(g, &report))
}

/// Prints the report in the chosen format; returns its verdict.
fn render(g: &GlobalArgs, report: &Report) -> Verdict {
    let color = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    print!("{}", report.render(g.output, color));
    Verdict::from_code(report.exit_code).unwrap_or(Verdict::Incomplete)
}

fn monitor(g: &GlobalArgs, once: bool) -> Result<Verdict, Failure> {
    run::check_only(&g.only)?;
    let host = Host::open(&g.root)?;
    let aws = Aws::new(Instant::now() + g.deadline);
    let load = || load_policy(g, &host, &aws);
    let policy = load()?;
    if !once {
        return crate::monitor::serve::serve(&host, &aws, policy, &g.only, g.deadline, &load);
    }
    // A one-off round prints what it saw; the service's rounds are told
    // by its events and the metrics file.
    let round = crate::monitor::round(&crate::monitor::RoundSpec {
        host: &host,
        policy: &policy,
        monitoring: &crate::monitor::serve::monitoring_of(&policy)?,
        only: &g.only,
        deadline: Instant::now() + g.deadline,
        check_drift: true,
    });
    println!("{round}");
    Ok(Verdict::Compliant)
}
