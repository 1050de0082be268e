//! `[git]`: the system git configuration every user's git reads: the
//! CodeCommit credential helper, the committer from the notebook's tags
//! (`NotebookOwnerUsername`, `NotebookOwnerEmail`, as in the AWS reference
//! architecture) and `safe.directory` for the ML volume. Written as a
//! marked block in /etc/gitconfig; lines outside it are kept.

use crate::engine::ControlInfo;
use anyhow::{Context as _, Result};

use super::block;
use crate::engine::{Context, Control, DesiredState, ManagedFile};
use crate::policy::CredentialHelper;
use crate::policy::GitPolicy;

pub static INFO: ControlInfo = ControlInfo {
    id: "git",
    title: "git uses the platform's credential helper and committer",
    section: "git",
};

const BEGIN: &str = "# BEGIN nbwarden: managed at every start; edits here are overwritten";
const END: &str = "# END nbwarden";
const CODECOMMIT: &str = "!aws codecommit credential-helper $@";

pub struct Git {
    policy: GitPolicy,
}

impl Git {
    pub fn new(policy: GitPolicy) -> Self {
        Git { policy }
    }
}

/// A git config value, quoted: backslashes and quotes escaped; control
/// characters (a newline would start a new setting) refused.
fn quoted(what: &str, value: &str) -> Result<String, String> {
    if value.chars().any(char::is_control) {
        return Err(format!(
            "{what} {value:?} contains a control character; git config values are one line"
        ));
    }
    Ok(format!(
        "\"{}\"",
        value.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

impl Control for Git {
    fn remote_inputs(&self) -> Vec<crate::facts::RemoteInput> {
        vec![crate::facts::RemoteInput::Tags]
    }

    fn info(&self) -> &'static ControlInfo {
        &INFO
    }
    fn preflight(&self, _ctx: &Context<'_>) -> Result<(), String> {
        if let CredentialHelper::Command(helper) = &self.policy.credential_helper {
            quoted("credential_helper", helper)?;
        }
        for d in &self.policy.safe_directories {
            quoted("safe_directories entry", d)?;
        }
        Ok(())
    }

    fn desired(&self, ctx: &Context<'_>) -> Result<DesiredState> {
        let p = &self.policy;
        let mut notes = Vec::new();
        let mut body = String::new();
        match &p.credential_helper {
            CredentialHelper::None => {}
            CredentialHelper::CodeCommit => {
                body.push_str(&format!(
                    "[credential]\n\thelper = {}\n\tUseHttpPath = true\n",
                    quoted("helper", CODECOMMIT).map_err(anyhow::Error::msg)?
                ));
            }
            CredentialHelper::Command(other) => body.push_str(&format!(
                "[credential]\n\thelper = {}\n",
                quoted("helper", other).map_err(anyhow::Error::msg)?
            )),
        }
        let tags = ctx.facts.tags().with_context(|| {
            format!(
                "cannot read the notebook's tags for the committer ({} and {})",
                p.user_name_tag, p.user_email_tag
            )
        })?;
        let mut user = String::new();
        for (key, tag) in [("name", &p.user_name_tag), ("email", &p.user_email_tag)] {
            match tags.get(tag.as_str()) {
                Some(v) => {
                    let v = quoted(&format!("tag {tag}"), v).map_err(anyhow::Error::msg)?;
                    user.push_str(&format!("\t{key} = {v}\n"));
                }
                None => notes.push(format!("the notebook has no tag {tag}: user.{key} not set")),
            }
        }
        if !user.is_empty() {
            body.push_str("[user]\n");
            body.push_str(&user);
        }
        if !p.safe_directories.is_empty() {
            body.push_str("[safe]\n");
            for d in &p.safe_directories {
                let d = quoted("safe directory", d).map_err(anyhow::Error::msg)?;
                body.push_str(&format!("\tdirectory = {d}\n"));
            }
        }
        let path = p.config_path.as_path();
        let current = ctx.host.read_text(path)?.unwrap_or_default();
        let content = block::with(&current, BEGIN, END, &body);
        Ok(DesiredState {
            notes,
            files: vec![ManagedFile::root_owned(path, content, 0o644)],
            ..DesiredState::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::quoted;

    #[test]
    fn values_are_quoted_and_newlines_refused() {
        assert_eq!(quoted("x", r#"a "b" \c"#).unwrap(), r#""a \"b\" \\c""#);
        assert!(quoted("x", "Ada\n[core]\n\tsshCommand = evil").is_err());
    }
}
