//! What would change a file on disk into the desired one, as a report's
//! change and a unified diff.

use super::{FileState, ManagedFile};
use crate::host::FileSnapshot;
use crate::report::{Change, ChangeAction};

/// The change that would turn `current` into the desired file, if any.
pub(super) fn difference(file: &ManagedFile, current: Option<&FileSnapshot>) -> Option<Change> {
    let path = file.path.display().to_string();
    let world_readable = |mode: u32| mode & 0o004 != 0;
    let private = current.is_some_and(|c| !world_readable(c.mode))
        || matches!(&file.state, FileState::Present { own, .. } if !world_readable(own.mode));
    match (&file.state, current) {
        (FileState::Absent, None) => None,
        (FileState::Absent, Some(cur)) => Some(Change {
            path,
            action: ChangeAction::Remove,
            detail: "remove".into(),
            diff: Some(render_diff(file, &cur.content, b"")),
            private,
        }),
        (FileState::Present { content, own }, None) => Some(Change {
            path,
            action: ChangeAction::Create,
            detail: format!(
                "create, mode {:04o}, owner {}:{}",
                own.mode, own.uid, own.gid
            ),
            diff: Some(render_diff(file, b"", content)),
            private,
        }),
        (FileState::Present { content, own }, Some(cur)) => {
            let content_differs = cur.content != *content;
            let mut details = Vec::new();
            if content_differs {
                details.push("content".to_string());
            }
            if cur.mode != own.mode {
                details.push(format!("mode {:04o} -> {:04o}", cur.mode, own.mode));
            }
            if (cur.uid, cur.gid) != (own.uid, own.gid) {
                details.push(format!(
                    "owner {}:{} -> {}:{}",
                    cur.uid, cur.gid, own.uid, own.gid
                ));
            }
            if details.is_empty() {
                return None;
            }
            Some(Change {
                path,
                action: if content_differs {
                    ChangeAction::Update
                } else {
                    ChangeAction::Metadata
                },
                detail: details.join(", "),
                diff: content_differs.then(|| render_diff(file, &cur.content, content)),
                private,
            })
        }
    }
}

pub(super) fn render_diff(file: &ManagedFile, old: &[u8], new: &[u8]) -> String {
    if file.sensitive {
        return "(content not shown: this file holds secrets)\n".into();
    }
    let (Ok(old), Ok(new)) = (std::str::from_utf8(old), std::str::from_utf8(new)) else {
        return "(binary content differs)\n".into();
    };
    let path = file.path.display();
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a{path}"), &format!("b{path}"))
        .to_string()
}
