//! `[sudo]`: the notebook user cannot become root. Every sudoers rule that
//! applies to the user is neutralised (its drop-in moved to a backup, or its
//! lines commented out with a marker), a last-loaded drop-in denies the user
//! everything but the allow-list, the user leaves root-equivalent groups, and
//! `sudo -l -U USER`, run inside the root, proves the result.

mod listing;
pub mod restore;
pub mod sudoers;
mod visudo;

use crate::engine::ControlInfo;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use crate::engine::{
    Context, Control, DesiredState, FileState, ManagedFile, Membership, Probe, ProbeResult,
};
use crate::host::local::is_permission_denied;
use crate::host::{Accounts, Host, Ownership};
use crate::policy::SudoPolicy;
use sudoers::{Grant, Sudoers, Via};

pub static INFO: ControlInfo = ControlInfo {
    id: "sudo",
    title: "No sudo or root-equivalent groups for the notebook user",
    section: "sudo",
};

pub const MAIN: &str = "/etc/sudoers";
pub const DROP_IN_DIR: &str = "/etc/sudoers.d";
/// Sorts after every usual drop-in (`90-cloud-init-users`); sudo reads the
/// directory in name order and the last matching rule wins.
pub const DENY_DROP_IN: &str = "/etc/sudoers.d/zzz-nbwarden";
pub const BACKUP_DIR: &str = "/var/lib/nbwarden/backup/sudo";
pub const GROUPS_RECORD: &str = "/var/lib/nbwarden/backup/sudo/removed-groups";
const SUDO: &[&str] = &["/usr/bin/sudo", "/usr/local/bin/sudo", "/bin/sudo"];
const TOOL_TIMEOUT: Duration = Duration::from_secs(20);
const BLOCK_BEGIN: &str = "# BEGIN nbwarden: deny the notebook user (undo: nbwarden sudo restore)";
const BLOCK_END: &str = "# END nbwarden";

pub fn marker(user: &str) -> String {
    format!("# nbwarden: disabled sudo grant for {user}: ")
}

pub const SUDOERS_OWNERSHIP: Ownership = Ownership::root(0o440);

pub struct Sudo {
    policy: SudoPolicy,
    user: String,
}

impl Sudo {
    /// Without root, sudoers cannot be read: nothing is proven about sudo.
    /// Group membership is still judged, from the world-readable
    /// /etc/group.
    fn unprovable(&self, host: &Host) -> Result<DesiredState> {
        let mut state = DesiredState::default();
        let accounts = host.accounts()?;
        let leave = self.groups_to_leave(&accounts, "", &[]);
        state.probes.push(Box::new(Unprovable {
            why: format!(
                "cannot read {MAIN} as uid {}, so no sudo grant is proven absent; run verify \
                 as root for a verdict",
                host.euid()
            ),
            groups: leave.into_iter().collect(),
            user: self.user.clone(),
        }));
        Ok(state)
    }

    /// The sudoers files as they must be for the grants that `remaining`
    /// still gives: a drop-in holding only this user's rules is moved to
    /// the backup, other files get those rules commented out, and the
    /// main file carries the deny block when no drop-in directory is
    /// loaded.
    fn edited_files(
        &self,
        tree: &Sudoers,
        remaining: &[&Grant],
        drop_in_loaded: bool,
    ) -> Result<Vec<ManagedFile>> {
        let mut by_file: BTreeMap<&Path, Vec<&Grant>> = BTreeMap::new();
        for g in remaining {
            by_file.entry(g.file.as_path()).or_default().push(g);
        }
        let marker = marker(&self.user);
        let mut files = Vec::new();
        let mut moves = Vec::new();
        for file in &tree.files {
            let here = by_file
                .get(file.path.as_path())
                .cloned()
                .unwrap_or_default();
            let is_main = file.path == Path::new(MAIN);
            // Without a loaded drop-in directory the main file carries the deny block.
            let carries_block = is_main && !drop_in_loaded;
            if here.is_empty() && !carries_block {
                continue;
            }
            let rules = file
                .lines
                .iter()
                .filter(|l| matches!(l.kind, sudoers::LineKind::Rule { .. }))
                .count();
            let only_this_user =
                here.len() == rules && here.iter().all(|g| matches!(g.via, Via::User | Via::Uid));
            if file.drop_in && only_this_user {
                let name = file.path.file_name().context("drop-in without a name")?;
                let backup = Path::new(BACKUP_DIR).join("sudoers.d").join(name);
                moves.push(ManagedFile::root_owned(backup, file.text.clone(), 0o400));
                moves.push(ManagedFile::absent(&file.path));
                continue;
            }
            let spans: Vec<(usize, usize)> = here.iter().map(|g| (g.first, g.last)).collect();
            let mut edited = comment_out(&file.text, &spans, &marker);
            if carries_block {
                edited = without_block(&edited);
                if !edited.ends_with('\n') && !edited.is_empty() {
                    edited.push('\n');
                }
                edited.push_str(&format!(
                    "{BLOCK_BEGIN}\n{}{BLOCK_END}\n",
                    self.deny_rules()
                ));
            }
            files.push(sudoers_file(&file.path, edited));
        }
        files.extend(moves);
        Ok(files)
    }

    pub fn new(policy: SudoPolicy, user: &str) -> Self {
        Sudo {
            policy,
            user: user.to_string(),
        }
    }

    fn allowed(&self) -> Vec<String> {
        self.policy.allow.iter().map(|c| c.sudoers_form()).collect()
    }

    /// The deny, and the allow-list run in a reset environment the user
    /// cannot add to: `setenv` (or a `SETENV` tag, or an `env_keep` of
    /// `LD_PRELOAD`) would let `sudo LD_PRELOAD=~/x.so ALLOWED` run the
    /// user's code as root through the one command still allowed.
    fn deny_rules(&self) -> String {
        let mut text = format!(
            "Defaults:{user} env_reset, !setenv, !env_keep\n{user} ALL=(ALL:ALL) !ALL\n",
            user = self.user
        );
        for cmd in self.allowed() {
            text.push_str(&format!(
                "{} ALL=(root) NOPASSWD:NOSETENV: {cmd}\n",
                self.user
            ));
        }
        text
    }

    fn deny_drop_in(&self) -> String {
        format!(
            "# Managed by nbwarden: the notebook user gets no root through sudo.\n\
             # Read last in {DROP_IN_DIR}, so it wins over earlier rules.\n\
             # Undo with `nbwarden sudo restore`.\n{}",
            self.deny_rules()
        )
    }

    /// The gids that make a member root-equivalent: gid 0, the gid of every
    /// `strip_groups` name, and of every group a sudoers rule grants
    /// through. By gid, because a second name for docker's gid (or a gid-0
    /// alias) gives the same rights under a name no list mentions.
    fn root_equivalent_gids(&self, accounts: &Accounts, grants: &[Grant]) -> BTreeSet<u32> {
        let mut names: BTreeSet<&str> = self
            .policy
            .strip_groups
            .iter()
            .map(|g| g.as_str())
            .filter(|g| !(self.policy.keep_docker && *g == "docker"))
            .collect();
        names.extend(grants.iter().filter_map(|g| match &g.via {
            Via::Group(name) => Some(name.as_str()),
            _ => None,
        }));
        let mut gids: BTreeSet<u32> = accounts
            .groups
            .iter()
            .filter(|g| names.contains(g.name.as_str()))
            .map(|g| g.gid)
            .collect();
        gids.insert(0);
        gids
    }

    /// Every group the user must leave: those whose gid is
    /// root-equivalent and that list the user as a member or (in
    /// `gshadow`) as an administrator, who could `gpasswd -a` itself back.
    /// `gshadow` counts too: a run that stopped between writing
    /// /etc/group and /etc/gshadow left the user only there.
    fn groups_to_leave(
        &self,
        accounts: &Accounts,
        gshadow: &str,
        grants: &[Grant],
    ) -> BTreeSet<String> {
        let gids = self.root_equivalent_gids(accounts, grants);
        let mut listed: BTreeSet<String> = accounts
            .groups
            .iter()
            .filter(|g| g.members.contains(&self.user))
            .map(|g| g.name.clone())
            .collect();
        listed.extend(gshadow.lines().filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            let named = |field: &str| field.split(',').any(|m| m.trim() == self.user);
            (fields.len() == 4 && (named(fields[2]) || named(fields[3])))
                .then(|| fields[0].to_string())
        }));
        listed.retain(|name| {
            accounts.group(name).is_some_and(|g| gids.contains(&g.gid))
                || grants
                    .iter()
                    .any(|g| matches!(&g.via, Via::Group(n) if n == name))
        });
        listed
    }

    /// Every allow-listed program, and every directory above it, must be
    /// root's alone on this host: otherwise whoever can replace it runs
    /// anything as root through the allow-list.
    fn check_allowed_programs(&self, host: &Host) -> Result<()> {
        for cmd in &self.policy.allow {
            let program = Path::new(cmd.as_str().split(' ').next().unwrap_or_default());
            let checked = if host.kind(program)?.is_some() {
                host.check_trusted_program(program)
            } else {
                host.check_trusted_or_nearest(program)
            };
            checked.with_context(|| {
                format!(
                    "refusing allow-listed command `{}`: root would run what others can \
                     change; make it and its directories root-owned and not writable by others",
                    cmd.as_str()
                )
            })?;
        }
        Ok(())
    }

    /// A primary group cannot be left by editing /etc/group: when it is
    /// root-equivalent, nbwarden refuses rather than claim a strip.
    fn primary_group_problem(&self, accounts: &Accounts, grants: &[Grant]) -> Option<String> {
        let user = accounts.user(&self.user)?;
        let gids = self.root_equivalent_gids(accounts, grants);
        gids.contains(&user.gid).then(|| {
            let name = accounts
                .groups
                .iter()
                .find(|g| g.gid == user.gid)
                .map(|g| g.name.as_str())
                .unwrap_or("?");
            format!(
                "{}'s primary group is gid {} ({name}), which is root-equivalent; nbwarden cannot \
                 take it away by editing /etc/group: give the user its own primary group \
                 (usermod -g) in the image",
                self.user, user.gid
            )
        })
    }
}

/// Validates a candidate (path inside the root) with visudo.
pub fn visudo_check(host: &Host, path: &Path) -> Result<()> {
    visudo::check(host, path).context("nothing was replaced")
}

fn sudoers_file(path: impl Into<PathBuf>, content: String) -> ManagedFile {
    ManagedFile {
        path: path.into(),
        state: FileState::Present {
            content: content.into_bytes(),
            own: SUDOERS_OWNERSHIP,
        },
        sensitive: false,
        check: Some(Box::new(visudo_check)),
    }
}

/// Comments out the physical lines `spans` of `text` with the marker.
fn comment_out(text: &str, spans: &[(usize, usize)], marker: &str) -> String {
    let mut out = String::with_capacity(text.len() + spans.len() * marker.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let n = i + 1;
        if spans.iter().any(|(a, b)| (*a..=*b).contains(&n)) {
            out.push_str(marker);
        }
        out.push_str(line);
    }
    out
}

impl Control for Sudo {
    fn info(&self) -> &'static ControlInfo {
        &INFO
    }

    fn preflight(&self, ctx: &Context<'_>) -> Result<(), String> {
        super::require_user(ctx, &self.user)
    }

    fn desired(&self, ctx: &Context<'_>) -> Result<DesiredState> {
        let host = ctx.host;
        let mut state = DesiredState::default();
        let proof = SudoProof {
            user: self.user.clone(),
            allowed: self.allowed(),
        };
        let tree = match Sudoers::load(host, Path::new(MAIN)) {
            Ok(tree) => tree,
            Err(e) if host.euid() != 0 && is_permission_denied(&e) => {
                return self.unprovable(host);
            }
            Err(e) => return Err(e.context("cannot read sudoers")),
        };
        if visudo::available(host) {
            visudo::check(host, Path::new(MAIN)).context(
                "the existing sudoers is invalid, so nbwarden leaves it untouched; fix it first",
            )?;
        }
        state.notes.extend(sudoers::describe_skipped(&tree));
        let accounts = host.accounts()?;
        let grants = tree.grants(&self.user, &accounts, &[Path::new(DENY_DROP_IN)]);
        // Where, not what: the report is kept world-readable and sudoers
        // is not.
        for g in &grants {
            state
                .notes
                .push(format!("grant at {} {}", g.location(), g.via.describe()));
        }
        let gshadow = host
            .read_text(Path::new("/etc/gshadow"))?
            .unwrap_or_default();
        if let Some(problem) = self.primary_group_problem(&accounts, &grants) {
            bail!(problem);
        }
        self.check_allowed_programs(host)?;
        let leave = self.groups_to_leave(&accounts, &gshadow, &grants);
        let remaining: Vec<&Grant> = grants
            .iter()
            .filter(|g| !matches!(&g.via, Via::Group(n) if leave.contains(n)))
            .collect();

        let drop_in_loaded = tree.includes_dir(Path::new(DROP_IN_DIR));
        if drop_in_loaded {
            state
                .files
                .push(sudoers_file(DENY_DROP_IN, self.deny_drop_in()));
        }
        state
            .files
            .extend(self.edited_files(&tree, &remaining, drop_in_loaded)?);

        if !leave.is_empty() {
            let previous = host
                .read_text(Path::new(GROUPS_RECORD))?
                .unwrap_or_default();
            let mut record: BTreeSet<String> = previous.lines().map(str::to_string).collect();
            record.extend(leave.iter().cloned());
            let text: String = record.iter().map(|g| format!("{g}\n")).collect();
            state
                .files
                .push(ManagedFile::root_owned(GROUPS_RECORD, text, 0o600));
        }
        state.memberships = leave
            .iter()
            .map(|g| Membership {
                user: self.user.clone(),
                group: g.clone(),
                member: false,
            })
            .collect();
        state.probes.push(Box::new(proof));
        Ok(state)
    }
}

/// The main file without nbwarden's block (to re-add it at the end).
pub fn without_block(text: &str) -> String {
    super::block::without(text, BLOCK_BEGIN, BLOCK_END)
}

/// Stands for a proof nbwarden could not make: always an error, never a
/// pass, naming the root-equivalent groups it could still see.
struct Unprovable {
    why: String,
    groups: Vec<String>,
    user: String,
}

impl Probe for Unprovable {
    fn describe(&self) -> String {
        format!("sudo rules of {}", self.user)
    }

    fn check(&self, _host: &Host) -> Result<ProbeResult> {
        if self.groups.is_empty() {
            bail!("{}", self.why);
        }
        bail!(
            "{}; and {} is in root-equivalent group(s) {}",
            self.why,
            self.user,
            self.groups.join(", ")
        )
    }
}

/// The proof: sudo itself, from the root, lists nothing beyond the allow-list.
struct SudoProof {
    user: String,
    allowed: Vec<String>,
}

impl Probe for SudoProof {
    fn describe(&self) -> String {
        format!("sudo -l -U {}", self.user)
    }

    fn check(&self, host: &Host) -> Result<ProbeResult> {
        let Some(sudo) = host.find_program(SUDO) else {
            return Ok(ProbeResult {
                passed: true,
                skipped: false,
                evidence: "sudo is not installed: nothing grants root through it".into(),
                details: Vec::new(),
            });
        };
        let out = if host.euid() == 0 {
            host.run_in_root(&sudo, &["-l", "-U", &self.user], TOOL_TIMEOUT)?
        } else if host.is_live() {
            // Without root sudo answers only for the caller.
            host.run_in_root(&sudo, &["-n", "-l"], TOOL_TIMEOUT)?
        } else {
            bail!("proving sudo inside --root needs root (chroot)");
        };
        let text = format!("{}\n{}", out.stdout, out.stderr);
        listing::judge(&text, &self.allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commenting_out_keeps_other_lines_and_marks_every_physical_line() {
        let text = "root ALL=(ALL) ALL\nec2-user \\\n  ALL=(ALL) ALL\n%sudo ALL=(ALL) ALL\n";
        let out = comment_out(text, &[(2, 3)], &marker("ec2-user"));
        assert_eq!(
            out,
            "root ALL=(ALL) ALL\n\
             # nbwarden: disabled sudo grant for ec2-user: ec2-user \\\n\
             # nbwarden: disabled sudo grant for ec2-user:   ALL=(ALL) ALL\n\
             %sudo ALL=(ALL) ALL\n"
        );
    }

    #[test]
    fn the_block_is_replaced_not_repeated() {
        let text = format!("root ALL=(ALL) ALL\n{BLOCK_BEGIN}\nx ALL=(ALL) !ALL\n{BLOCK_END}\n");
        assert_eq!(without_block(&text), "root ALL=(ALL) ALL\n");
    }
}
