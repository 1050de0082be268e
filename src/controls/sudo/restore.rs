//! `nbwarden sudo restore`: the admin's undo. Declared as a control, so the
//! engine writes it (visudo-checked, atomic) and reports it like any run:
//! backed-up drop-ins return, marked lines are uncommented, nbwarden's deny
//! rules go, and the user rejoins the groups nbwarden took it out of.

use crate::engine::ControlInfo;
use std::path::Path;

use anyhow::Result;

use super::{
    BACKUP_DIR, DENY_DROP_IN, GROUPS_RECORD, MAIN, marker, sudoers::Sudoers, sudoers_file,
    without_block,
};
use crate::engine::{Context, Control, DesiredState, ManagedFile, Membership};
use crate::host::EntryKind;

pub static INFO: ControlInfo = ControlInfo {
    id: "sudo-restore",
    title: "Restore the sudo grants nbwarden removed",
    section: "sudo",
};

pub struct SudoRestore {
    pub user: String,
}

fn uncomment(text: &str, marker: &str) -> String {
    text.split_inclusive('\n')
        .map(|l| l.strip_prefix(marker).unwrap_or(l))
        .collect()
}

impl Control for SudoRestore {
    fn info(&self) -> &'static ControlInfo {
        &INFO
    }

    fn desired(&self, ctx: &Context<'_>) -> Result<DesiredState> {
        let host = ctx.host;
        let mut state = DesiredState::default();
        let backups = Path::new(BACKUP_DIR).join("sudoers.d");
        for (name, kind) in host.list(&backups)?.unwrap_or_default() {
            if kind != EntryKind::File {
                continue;
            }
            let backup = backups.join(&name);
            let Some(text) = host.read_text(&backup)? else {
                continue;
            };
            state
                .files
                .push(sudoers_file(Path::new("/etc/sudoers.d").join(&name), text));
            state.files.push(ManagedFile::absent(backup));
        }
        let marker = marker(&self.user);
        let tree = Sudoers::load(host, Path::new(MAIN))?;
        for file in tree
            .files
            .iter()
            .filter(|f| f.path != Path::new(DENY_DROP_IN))
        {
            let mut text = uncomment(&file.text, &marker);
            if file.path == Path::new(MAIN) {
                text = without_block(&text);
            }
            if text != file.text {
                state.files.push(sudoers_file(&file.path, text));
            }
        }
        state.files.push(ManagedFile::absent(DENY_DROP_IN));
        if let Some(record) = host.read_text(Path::new(GROUPS_RECORD))? {
            state.memberships = record
                .lines()
                .filter(|g| !g.trim().is_empty())
                .map(|g| Membership {
                    user: self.user.clone(),
                    group: g.trim().to_string(),
                    member: true,
                })
                .collect();
            state.files.push(ManagedFile::absent(GROUPS_RECORD));
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncommenting_restores_exactly_the_marked_lines() {
        let m = marker("ec2-user");
        let text = format!("root ALL=(ALL) ALL\n{m}%wheel ALL=(ALL) ALL\n# {m}keep\n");
        assert_eq!(
            uncomment(&text, &m),
            format!("root ALL=(ALL) ALL\n%wheel ALL=(ALL) ALL\n# {m}keep\n")
        );
    }
}
