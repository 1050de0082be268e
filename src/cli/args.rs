//! The command line: every subcommand, flag and value parser.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::base::digest::parse_sha256;
use crate::base::version;
use crate::policy::PolicySource;
use crate::report::OutputFormat;

#[derive(Debug, Parser)]
#[command(
    name = "nbwarden",
    version = version::SHORT,
    about = "Hardens a SageMaker notebook instance before Jupyter is exposed, and proves it",
    after_help = "Exit codes: 0 compliant, 1 not compliant, 2 bad usage or invalid policy, \
                  3 could not evaluate or apply, 4 (fleet summary) no report found."
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
    /// [default: the one /etc/nbwarden/lifecycle.env names, else
    /// /etc/nbwarden/policy.toml; for `lifecycle render`, the policy the
    /// scripts load: BUNDLE/policy.toml].
    #[arg(long, global = true, env = "NBWARDEN_POLICY", value_name = "SOURCE")]
    pub policy: Option<PolicySource>,
    /// Refuse the policy unless its bytes have this sha256 (hex).
    #[arg(long, global = true, env = "NBWARDEN_POLICY_SHA256", value_name = "HEX", value_parser = parse_sha256)]
    pub policy_sha256: Option<String>,
    /// Operate on the tree at DIR instead of `/` (tests, image building).
    #[arg(long, global = true, default_value = "/", value_name = "DIR")]
    pub root: PathBuf,
    /// Run only these controls (comma-separated ids; shells complete them).
    #[arg(
        long,
        global = true,
        value_delimiter = ',',
        value_name = "ID",
        value_parser = clap::builder::PossibleValuesParser::new(crate::controls::known_ids()),
        hide_possible_values = true
    )]
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
    Render(RenderArgs),
    /// Print the per-notebook CloudFormation template: one stack per
    /// notebook creates the notebook, a role of its own (the notebook role
    /// policy, naming that notebook only) and its owner and cost tags.
    NotebookStack(TagKeyArgs),
    /// Print the notebook role guardrail as service control policies (a
    /// CloudFormation template for the organization's management
    /// account): the organisation-wide form of the per-notebook guardrail,
    /// holding every role under /nbwarden/ in the accounts or OUs named.
    GuardrailScp(TagKeyArgs),
    /// Print the fleet's Athena template (for the account of the reports'
    /// bucket): a Glue database with the tables `latest_reports` and
    /// `report_history` (projected by day, no crawler) over the record
    /// each run writes, and the named queries "not compliant now",
    /// "failing since" and "without a current report".
    FleetAthena,
}

/// The tags the templates name: the users' access policy opens a notebook
/// to the user its owner tag names, and keeps users from setting either.
#[derive(Debug, Args)]
pub struct TagKeyArgs {
    /// The tag naming who may open a notebook (compared with the user's
    /// name).
    #[arg(long, default_value = "owner", value_name = "KEY")]
    pub owner_tag_key: crate::lifecycle::cloudformation::TagKey,
    /// The cost-attribution tag.
    #[arg(long, default_value = "cost-center", value_name = "KEY")]
    pub cost_tag_key: crate::lifecycle::cloudformation::TagKey,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The bundle's location: s3://BUCKET/PREFIX/VERSION
    #[arg(long)]
    pub bundle: String,
    /// The bundle's SHA256SUMS (lines `HEX  bin/nbwarden-ARCH`).
    #[arg(long, value_name = "FILE")]
    pub checksums: Option<PathBuf>,
    /// A binary's sha256 as ARCH=HEX (repeatable), instead of --checksums.
    #[arg(long, value_name = "ARCH=HEX")]
    pub binary_sha256: Vec<String>,
    /// An explicit S3 endpoint for the AWS CLI (VPC endpoints, tests).
    #[arg(long, value_name = "URL", value_parser = parse_endpoint_url)]
    pub s3_endpoint_url: Option<String>,
    /// Where to write the scripts (with --format files).
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value = "files")]
    pub format: ScriptFormat,
    /// The lifecycle configuration's name (CloudFormation): 1 to 63
    /// letters, digits and hyphens.
    #[arg(long, default_value = crate::lifecycle::DEFAULT_CONFIG_NAME)]
    pub name: crate::lifecycle::LifecycleConfigName,
    /// The tags of the users' access policy (CloudFormation).
    #[command(flatten)]
    pub tags: TagKeyArgs,
    /// The whole on-start script's time budget, inside SageMaker's 5
    /// minutes (from 30s to 280s): the download gets a quarter of it at
    /// most, apply (whose checks are the start's verdict) what is left
    /// less 15s.
    #[arg(long, default_value = "240s", value_name = "DURATION", value_parser = parse_start_budget)]
    pub start_budget: u32,
}

/// `--s3-endpoint-url`: an http(s) URL with a host and nothing after the
/// path, as the AWS CLI's `--endpoint-url` takes it.
fn parse_endpoint_url(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text)
        .map_err(|e| format!("{e}: write it like https://s3.eu-west-1.amazonaws.com"))?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none_or(str::is_empty)
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
    {
        return Err(format!(
            "{text:?} is not an endpoint: write it like https://s3.eu-west-1.amazonaws.com"
        ));
    }
    Ok(text.to_string())
}

/// `--region`: a region's name, as AWS spells them (`eu-west-1`).
fn parse_region(text: &str) -> Result<String, String> {
    if crate::base::names::is_region(text) {
        Ok(text.to_string())
    } else {
        Err(format!("{text:?} is not a region: write it like eu-west-1"))
    }
}

/// `--accounts`: `organization`, or an account id.
fn parse_account(text: &str) -> Result<String, String> {
    if text == "organization" || crate::base::names::is_account_id(text) {
        Ok(text.to_string())
    } else {
        Err(format!(
            "{text:?} is not an account: write `organization` or twelve digits"
        ))
    }
}

/// `--role-name`: an IAM role name (with no path).
fn parse_role_name(text: &str) -> Result<String, String> {
    let fits = !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if fits {
        Ok(text.to_string())
    } else {
        Err(format!("{text:?} is not an IAM role name"))
    }
}

/// `--start-budget`: whole seconds, leaving room for SageMaker's own steps.
fn parse_start_budget(text: &str) -> Result<u32, String> {
    let d = humantime::parse_duration(text)
        .map_err(|e| format!("{e}: write it like \"240s\" or \"4m\""))?;
    crate::lifecycle::check_start_budget(d.as_secs())
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
    /// Exits 1 when any notebook is not compliant (or, with --cross-check,
    /// is flagged), 4 when no report was found under the prefix.
    Summary(SummaryArgs),
}

#[derive(Debug, Args)]
pub struct SummaryArgs {
    #[arg(long)]
    pub bucket: String,
    #[arg(long, default_value = "nbwarden")]
    pub prefix: String,
    /// The AWS profile to use, as `aws --profile` (IAM Identity Center,
    /// credential_process, assumed roles) [default: AWS_PROFILE, else the
    /// default chain].
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// The region of your calls, as `aws --region` [default: AWS_REGION,
    /// else the profile's]. With --cross-check its notebooks are listed.
    #[arg(long, value_name = "REGION", value_parser = parse_region)]
    pub region: Option<String>,
    /// Hold each report against what SageMaker tells your own
    /// credentials (DescribeNotebookInstance: KMS key, direct internet
    /// access, root access, status, last change; ListNotebookInstances;
    /// ListTags): flags reports that disagree, that are from an earlier
    /// start, notebooks in service with no report, and every notebook
    /// without an owner or cost tag, sharing its role with another, or
    /// with direct internet or root access. Reports are written with the
    /// notebook's role, which its user holds too.
    #[arg(long)]
    pub cross_check: bool,
    /// With --cross-check: do not flag RootAccess Enabled.
    #[arg(long, requires = "cross_check")]
    pub allow_root_access: bool,
    /// With --cross-check: the tag naming a notebook's owner.
    #[arg(
        long,
        default_value = "owner",
        value_name = "KEY",
        requires = "cross_check"
    )]
    pub owner_tag_key: crate::lifecycle::cloudformation::TagKey,
    /// With --cross-check: the cost-attribution tag.
    #[arg(
        long,
        default_value = "cost-center",
        value_name = "KEY",
        requires = "cross_check"
    )]
    pub cost_tag_key: crate::lifecycle::cloudformation::TagKey,
    /// With --cross-check: the fleet's lifecycle configurations (as
    /// `lifecycle render --name`; comma-separated or repeated, such as the
    /// fleet's and a canary's); a notebook that starts with another, or
    /// none, never runs nbwarden and is flagged.
    #[arg(
        long,
        default_value = crate::lifecycle::DEFAULT_CONFIG_NAME,
        value_name = "NAME",
        value_delimiter = ',',
        requires = "cross_check"
    )]
    pub lifecycle_config: Vec<crate::lifecycle::LifecycleConfigName>,
    /// With --cross-check: also list the notebooks of these regions
    /// (comma-separated or repeated), besides those the reports name and
    /// your own.
    #[arg(long, value_name = "REGION", value_delimiter = ',', requires = "cross_check", value_parser = parse_region)]
    pub regions: Vec<String>,
    /// With --cross-check: how many days back to list the training,
    /// processing and transform jobs run with a notebook's role (each is
    /// judged against `[governance]` of --policy, else its defaults).
    #[arg(
        long,
        default_value_t = 30,
        value_name = "DAYS",
        requires = "cross_check",
        value_parser = clap::value_parser!(u32).range(1..=365)
    )]
    pub job_days: u32,
    /// With --cross-check: reach these accounts (`organization`: every
    /// active account of your organization, from ListAccounts; or account
    /// ids, comma-separated or repeated) by assuming --role-name in each,
    /// and cross-check each account's notebooks with its own answers. An
    /// account that cannot be reached is a row of its own.
    #[arg(long, value_name = "organization|ID", value_delimiter = ',', requires = "cross_check", value_parser = parse_account)]
    pub accounts: Vec<String>,
    /// With --accounts: the role assumed in each account (see
    /// packaging/iam-fleet-reader-policy.json).
    #[arg(
        long,
        value_name = "NAME",
        default_value = crate::fleet::DEFAULT_ROLE_NAME,
        requires = "accounts",
        value_parser = parse_role_name
    )]
    pub role_name: String,
    /// With --cross-check: publish the result to Security Hub in your
    /// account and region (BatchImportFindings): one finding per notebook
    /// and failing control, one per notebook whose report the control
    /// plane contradicts or that has none; findings of earlier runs that
    /// no longer hold are archived. Each account's notebooks go to that
    /// account's Security Hub (with --accounts, through its role; else only
    /// your own account's: Security Hub takes a finding only from its
    /// account).
    #[arg(long, requires = "cross_check")]
    pub security_hub: bool,
    /// Root access is flagged by default now; kept so that scripts
    /// written for earlier versions still run.
    #[arg(long, hide = true, requires = "cross_check")]
    pub require_root_access_disabled: bool,
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
    pub fn verbosity(&self) -> i8 {
        self.verbose.min(10) as i8 - self.quiet.min(10) as i8
    }
}
