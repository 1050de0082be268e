//! The lifecycle scripts a platform team puts in a SageMaker lifecycle
//! configuration: `on-start.sh` fetches the binary from the bundle with the
//! instance's system AWS CLI, checks it against the sha256 rendered here
//! before running it, installs it, runs `apply` within the 5-minute limit,
//! and exits with its code so an unsafe notebook does not start. `apply`
//! proves every control after converging it, so its verdict is the start's
//! and no proof is made twice. Every script is checked against SageMaker's limits and the
//! patterns security tooling flags.

pub mod cloudformation;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::base::paths::{ENV_FILE, START_MARK};
use crate::host::local;

/// SageMaker's limit on each script (characters, before base64).
pub const MAX_SCRIPT_CHARS: usize = 16_384;
/// Patterns that security tooling flags in lifecycle scripts.
pub const FORBIDDEN: &[&str] = &[
    "| sh",
    "| bash",
    "base64 -d",
    "169.254.169.254",
    "/dev/tcp/",
];
/// The range `--start-budget` accepts, in seconds: SageMaker fails a start
/// after 300 s, and apply needs a share of its own.
pub const MIN_BUDGET_S: u64 = 30;
pub const MAX_BUDGET_S: u64 = 280;
/// The machines SageMaker runs notebooks on.
pub const ARCHES: &[&str] = &["x86_64", "aarch64"];

#[derive(Debug, Clone)]
pub struct Options {
    /// `s3://BUCKET/PREFIX/VERSION` (no trailing slash).
    pub bundle: String,
    /// The policy source nbwarden loads (default `BUNDLE/policy.toml`).
    pub policy: String,
    pub policy_sha256: Option<String>,
    /// sha256 of `bin/nbwarden-ARCH` by architecture.
    pub binaries: BTreeMap<String, String>,
    /// For S3 VPC endpoints that need an explicit URL (and for tests).
    pub s3_endpoint_url: Option<String>,
    /// Seconds the whole script may take (see [`MAX_BUDGET_S`]).
    pub start_budget_s: u32,
    pub version: String,
}

/// Single-quotes a value for bash.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Checks SageMaker's limits and the flagged patterns.
pub fn check(name: &str, script: &str) -> Result<()> {
    if script.contains('\r') {
        bail!("{name} has CR characters: SageMaker runs it as /bin/bash^M and the start times out");
    }
    let chars = script.chars().count();
    if chars > MAX_SCRIPT_CHARS {
        bail!("{name} is {chars} characters; SageMaker takes at most {MAX_SCRIPT_CHARS}");
    }
    if let Some(p) = FORBIDDEN.iter().find(|p| script.contains(*p)) {
        bail!("{name} contains {p:?}, which security tooling flags");
    }
    Ok(())
}

pub fn on_create(o: &Options) -> String {
    format!(
        "#!/bin/bash\n\
         # nbwarden {version} on-create. SageMaker runs on-start at creation too,\n\
         # and every system drive change is lost at each stop/start, so all the\n\
         # hardening lives in on-start.sh. This script only says so in the log.\n\
         set -euo pipefail\n\
         echo \"nbwarden: on-create: nothing to do; on-start.sh hardens every start (bundle {bundle})\"\n",
        version = o.version,
        bundle = o.bundle
    )
}

pub fn on_start(o: &Options) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "#!/bin/bash");
    let _ = writeln!(
        s,
        "# nbwarden {} on-start, rendered by `nbwarden lifecycle render`.",
        o.version
    );
    s.push_str(
        "# Runs as root at every start, before Jupyter is exposed. Exits non-zero when\n\
         # the instance is not safe, so SageMaker does not start the notebook.\n\
         set -euo pipefail\n\
         PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
    );
    let _ = writeln!(s, "bundle={}", quote(&o.bundle));
    let _ = writeln!(s, "policy={}", quote(&o.policy));
    let _ = writeln!(
        s,
        "policy_sha256={}",
        quote(o.policy_sha256.as_deref().unwrap_or(""))
    );
    for arch in ARCHES {
        let sha = o.binaries.get(*arch).map(String::as_str).unwrap_or("");
        let _ = writeln!(s, "sha_{arch}={}", quote(sha));
    }
    match &o.s3_endpoint_url {
        Some(url) => {
            let _ = writeln!(s, "endpoint=(--endpoint-url {})", quote(url));
        }
        None => s.push_str("endpoint=()\n"),
    }
    let _ = writeln!(s, "budget={}", o.start_budget_s);
    let _ = writeln!(s, "start_mark={START_MARK}");
    let _ = writeln!(s, "env_file={ENV_FILE}");
    s.push_str(
        r#"started=$SECONDS
log() { echo "nbwarden: $*"; }
# Seconds left of the script's budget.
left() { echo $((budget - (SECONDS - started))); }

# While this runs, `nbwarden status --wait` waits for the whole start. The
# process's start time tells this script from a later one with its PID.
install -d -m 0755 -o root -g root "${start_mark%/*}"
stat_fields=$(cut -d ' ' -f 22 "/proc/$$/stat")
echo "$$ $stat_fields" > "$start_mark"
work=""
trap 'rm -f "$start_mark"; [ -z "$work" ] || rm -rf "$work"' EXIT

case "$(uname -m)" in
  x86_64) arch=x86_64; want=$sha_x86_64 ;;
  aarch64) arch=aarch64; want=$sha_aarch64 ;;
  *) log "unsupported machine $(uname -m)"; exit 1 ;;
esac
if [ -z "$want" ]; then log "the bundle has no $arch binary"; exit 1; fi

# Only a system AWS CLI: the conda one belongs to the notebook user and is
# never run as root. Links are resolved, and the file and every directory
# above it must be root's and not group- or world-writable.
trusted() {
  local p
  p=$(readlink -f -- "$1") || return 1
  while :; do
    [ "$(stat -c %u -- "$p")" = 0 ] || return 1
    case "$(stat -c %A -- "$p")" in ?????w????|????????w?) return 1 ;; esac
    [ "$p" = / ] && return 0
    p=$(dirname -- "$p")
  done
}
# A script is only as trusted as its #! interpreter (the user's conda
# python would run the user's .pth files as root).
trusted_program() {
  local first interp arg
  trusted "$1" || return 1
  [ "$(head -c 2 -- "$1")" = '#!' ] || return 0
  first=$(head -n 1 -- "$1")
  read -r interp arg _ <<< "${first#\#!}"
  case "$interp" in */env) interp=$(command -v -- "$arg") || return 1 ;; esac
  trusted "$interp"
}
aws=""
for candidate in /usr/local/bin/aws /usr/bin/aws /bin/aws; do
  if [ -x "$candidate" ] && trusted_program "$candidate"; then aws=$candidate; break; fi
done
if [ -z "$aws" ]; then log "no root-owned AWS CLI in /usr/local/bin or /usr/bin"; exit 1; fi

# The download gets at most a quarter of the budget: an endpoint that
# accepts and never answers must not use up SageMaker's 5 minutes.
fetch=$(( budget / 4 ))
work=$(mktemp -d)
rc=0
timeout -k 5 "$fetch" "$aws" "${endpoint[@]}" --cli-connect-timeout 10 --cli-read-timeout 20 \
  s3 cp --only-show-errors "$bundle/bin/nbwarden-$arch" "$work/nbwarden" || rc=$?
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
  log "downloading $bundle/bin/nbwarden-$arch took longer than ${fetch}s: S3 (or its endpoint) does not answer; failing the start"; exit 1
elif [ "$rc" != 0 ]; then
  log "cannot download $bundle/bin/nbwarden-$arch (aws exited $rc): failing the start"; exit 1
fi
got=$(sha256sum "$work/nbwarden")
got=${got%% *}
if [ "$got" != "$want" ]; then
  log "bin/nbwarden-$arch has sha256 $got, not $want: refusing to run it"; exit 1
fi
install -m 0755 -o root -g root "$work/nbwarden" /usr/local/bin/nbwarden

# Later runs (the units, admins) use the same policy.
mkdir -p "${env_file%/*}"
printf 'NBWARDEN_POLICY=%s\n' "$policy" > "$env_file"
if [ -n "$policy_sha256" ]; then printf 'NBWARDEN_POLICY_SHA256=%s\n' "$policy_sha256" >> "$env_file"; fi
args=(--policy "$policy")
if [ -n "$policy_sha256" ]; then args+=(--policy-sha256 "$policy_sha256"); fi

# One run: apply's verdict is the start's. apply reads back every file it
# wrote, re-checks every action and runs every proof (sudo -l, the imports,
# the checks) after its changes, so a verify after it would only repeat
# each proof. It gets what is left of the budget but 15s, and is killed 10s
# past its own deadline, should it ever overrun it.
d=$(( $(left) - 15 ))
if [ "$d" -lt 10 ]; then log "only $(left)s of the ${budget}s budget left before apply: failing the start"; exit 1; fi
rc=0
timeout -k 5 $(( d + 10 )) /usr/local/bin/nbwarden apply "${args[@]}" --deadline "${d}s" -q || rc=$?
log "apply exited $rc after $((SECONDS - started))s"
exit "$rc"
"#,
    );
    s
}

/// The base64 content `CreateNotebookInstanceLifecycleConfig` expects.
pub fn base64(script: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(script)
}

/// The lifecycle configuration's name unless the administrator gives one:
/// what `lifecycle render` creates and the fleet's cross-check expects.
pub const DEFAULT_CONFIG_NAME: &str = "nbwarden";

/// A lifecycle configuration's name as SageMaker takes it: 1 to 63
/// letters, digits and hyphens, starting and ending with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleConfigName(String);

impl LifecycleConfigName {
    pub const MAX: usize = 63;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for LifecycleConfigName {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if !crate::base::names::is_sagemaker_name(text) {
            return Err(format!(
                "{text:?} is not a lifecycle configuration name: SageMaker takes 1 to {} letters, \
                 digits and hyphens, starting and ending with a letter or digit (like nbwarden-prod)",
                Self::MAX
            ));
        }
        Ok(Self(text.to_string()))
    }
}

/// `--start-budget` in seconds, checked against [`MIN_BUDGET_S`] and
/// [`MAX_BUDGET_S`].
pub fn check_start_budget(secs: u64) -> Result<u32, String> {
    if !(MIN_BUDGET_S..=MAX_BUDGET_S).contains(&secs) {
        return Err(format!(
            "{secs}s is outside {MIN_BUDGET_S}s..={MAX_BUDGET_S}s: SageMaker stops a start after \
             300s, and apply needs time of its own"
        ));
    }
    Ok(secs as u32)
}

/// What `lifecycle render` was given, before it is checked.
pub struct RenderRequest<'a> {
    /// `s3://BUCKET/PREFIX/VERSION`.
    pub bundle: &'a str,
    /// The bundle's SHA256SUMS file.
    pub checksums: Option<&'a Path>,
    /// `ARCH=HEX` pairs.
    pub binary_sha256: &'a [String],
    pub s3_endpoint_url: Option<String>,
    /// The policy the scripts load; `BUNDLE/policy.toml` when not given.
    pub policy: Option<String>,
    pub policy_sha256: Option<String>,
    pub start_budget_s: u32,
}

/// The binaries' digests from a SHA256SUMS file (`HEX  bin/nbwarden-ARCH`
/// lines; other lines are ignored).
pub fn parse_checksums(text: &str) -> BTreeMap<String, String> {
    let mut binaries = BTreeMap::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        if let (Some(sha), Some(path)) = (parts.next(), parts.next())
            && let Some(arch) = path.trim_start_matches('*').strip_prefix("bin/nbwarden-")
        {
            binaries.insert(arch.to_string(), sha.to_ascii_lowercase());
        }
    }
    binaries
}

impl RenderRequest<'_> {
    /// The checked options; the error says which argument is wrong and how
    /// to write it.
    pub fn options(&self) -> Result<Options, String> {
        let bundle = self.bundle.trim_end_matches('/');
        if !bundle.starts_with("s3://") || bundle.len() <= 5 {
            return Err(format!(
                "--bundle {bundle}: write s3://BUCKET/PREFIX/VERSION"
            ));
        }
        let mut binaries = match self.checksums {
            Some(file) => parse_checksums(
                &local::read_text(file)
                    .map_err(|e| format!("--checksums {}: {e}", file.display()))?,
            ),
            None => BTreeMap::new(),
        };
        for pair in self.binary_sha256 {
            let (arch, sha) = pair
                .split_once('=')
                .ok_or_else(|| format!("--binary-sha256 {pair}: write ARCH=HEX"))?;
            binaries.insert(arch.to_string(), sha.to_ascii_lowercase());
        }
        for (arch, sha) in &binaries {
            if !ARCHES.contains(&arch.as_str()) || crate::base::digest::parse_sha256(sha).is_err() {
                return Err(format!(
                    "binary checksum {arch}={sha}: expected x86_64 or aarch64 and 64 hex digits"
                ));
            }
        }
        if binaries.is_empty() {
            return Err(
                "no binary checksum: give --checksums SHA256SUMS or --binary-sha256 ARCH=HEX"
                    .into(),
            );
        }
        if let Some(policy) = &self.policy
            && !["s3://", "ssm:", "/"].iter().any(|p| policy.starts_with(p))
        {
            return Err(format!(
                "--policy {policy}: the scripts run on the notebook, where a relative path \
                 names nothing you meant; give s3://BUCKET/KEY, ssm:/NAME or an absolute path \
                 on the instance"
            ));
        }
        Ok(Options {
            bundle: bundle.to_string(),
            policy: self
                .policy
                .clone()
                .unwrap_or_else(|| format!("{bundle}/policy.toml")),
            policy_sha256: self.policy_sha256.clone(),
            binaries,
            s3_endpoint_url: self.s3_endpoint_url.clone(),
            start_budget_s: self.start_budget_s,
            version: crate::base::version::SHORT.to_string(),
        })
    }
}

/// Both scripts, by file name, checked against SageMaker's limits.
pub fn scripts(o: &Options) -> Result<[(&'static str, String); 2]> {
    let scripts = [("on-create.sh", on_create(o)), ("on-start.sh", on_start(o))];
    for (file, script) in &scripts {
        check(file, script)?;
    }
    Ok(scripts)
}

/// Writes the scripts into `dir` (created when missing), executable.
/// Returns each path and its length in characters.
pub fn write_scripts(dir: &Path, scripts: &[(&str, String)]) -> Result<Vec<(PathBuf, usize)>> {
    let mut written = Vec::new();
    for (file, script) in scripts {
        let path = local::write_executable(dir, file, script)?;
        written.push((path, script.chars().count()));
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> Options {
        Options {
            bundle: "s3://bucket/nbwarden/0.1.0".into(),
            policy: "s3://bucket/nbwarden/0.1.0/policy.toml".into(),
            policy_sha256: None,
            binaries: BTreeMap::from([("x86_64".to_string(), "ab".repeat(32))]),
            s3_endpoint_url: None,
            start_budget_s: 240,
            version: "0.1.0".into(),
        }
    }

    #[test]
    fn rendered_scripts_pass_their_own_checks() {
        let o = options();
        for (name, script) in [
            ("on-start.sh", on_start(&o)),
            ("on-create.sh", on_create(&o)),
        ] {
            check(name, &script).expect("within limits");
            assert!(script.starts_with("#!/bin/bash\n"));
        }
        assert!(on_start(&o).contains(&format!("sha_x86_64='{}'", "ab".repeat(32))));
    }

    /// A relative `--policy` used to be rendered as written: on the
    /// instance it names a file under whatever directory the start runs in.
    #[test]
    fn a_relative_policy_path_is_refused_an_absolute_one_kept() {
        let request = |policy: &str| {
            RenderRequest {
                bundle: "s3://b/nbwarden/1",
                checksums: None,
                binary_sha256: &[format!("x86_64={}", "ab".repeat(32))],
                s3_endpoint_url: None,
                policy: Some(policy.to_string()),
                policy_sha256: None,
                start_budget_s: 240,
            }
            .options()
        };
        let err = request("config/policy.toml").expect_err("relative");
        assert!(err.contains("relative path"), "{err}");
        for kept in [
            "/etc/nbwarden/policy.toml",
            "s3://b/p.toml",
            "ssm:/nbwarden/policy",
        ] {
            assert_eq!(request(kept).expect(kept).policy, kept);
        }
    }

    #[test]
    fn crlf_oversize_and_flagged_patterns_are_refused() {
        assert!(check("x", "#!/bin/bash\r\necho\r\n").is_err());
        assert!(check("x", &"#".repeat(MAX_SCRIPT_CHARS + 1)).is_err());
        for p in FORBIDDEN {
            assert!(check("x", &format!("echo hi {p} x")).is_err(), "{p}");
        }
    }

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(base64(""), "");
        assert_eq!(base64("f"), "Zg==");
        assert_eq!(base64("fo"), "Zm8=");
        assert_eq!(base64("foo"), "Zm9v");
        assert_eq!(base64("#!/bin/bash\n"), "IyEvYmluL2Jhc2gK");
    }

    #[test]
    fn lifecycle_config_names_follow_sagemakers_rule() {
        for good in ["nbwarden", "a", "nb-prod-2", &"a".repeat(63)] {
            assert!(good.parse::<LifecycleConfigName>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "nb: #x",
            "bad_name!",
            "-nb",
            "nb-",
            "nb.prod",
            &"a".repeat(64),
        ] {
            let err = bad.parse::<LifecycleConfigName>().expect_err(bad);
            assert!(err.contains("letters, digits and hyphens"), "{err}");
        }
    }
}
