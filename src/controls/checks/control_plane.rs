//! Facts only the control plane knows, from `DescribeNotebookInstance`: a
//! customer KMS key on the volumes, no direct internet access, root access
//! disabled, an allowed subnet and security groups; and from `ListTags`, the
//! owner and cost tags. Only the notebook's own rights are used: nothing
//! here lists other notebooks. Encryption is invisible from inside the
//! guest, so nothing here is inferred locally. Where the role may not call
//! the API, the control says so instead of guessing.

use crate::engine::ControlInfo;
use anyhow::Result;

use super::Check;
use crate::aws::{NotebookDescription, Tags};
use crate::engine::{Probe, ProbeResult};
use crate::host::Host;
use crate::policy::ControlPlaneCheck;

pub static INFO: ControlInfo = ControlInfo {
    id: "control-plane",
    title: "SageMaker's settings for this notebook (KMS, internet, root)",
    section: "verify.control_plane",
};

/// The control for `[verify.control_plane]`.
pub fn control(check: ControlPlaneCheck) -> Check {
    let wants_tags = !check.required_tags.is_empty();
    let control = Check::new(&INFO, check.severity, move |ctx| {
        Ok(Box::new(Judge {
            check: check.clone(),
            answer: ctx
                .facts
                .description()
                .cloned()
                .map_err(|e| format!("{e:#}")),
            tags: wants_tags.then(|| ctx.facts.tags().cloned().map_err(|e| format!("{e:#}"))),
        }))
    })
    .reading(crate::facts::RemoteInput::Description);
    if wants_tags {
        control.reading(crate::facts::RemoteInput::Tags)
    } else {
        control
    }
}

/// Judges the answer fetched while declaring (the probe itself needs no
/// network, which keeps the AWS client in one place).
struct Judge {
    check: ControlPlaneCheck,
    answer: Result<NotebookDescription, String>,
    /// Fetched only when tags are required.
    tags: Option<Result<Tags, String>>,
}

impl Judge {
    /// The requirements the policy names explicitly (lists, not defaults).
    fn named_requirements(&self) -> Vec<&'static str> {
        let c = &self.check;
        [
            ("required_tags", c.required_tags.is_empty()),
            ("allowed_subnets", c.allowed_subnets.is_empty()),
            (
                "allowed_security_groups",
                c.allowed_security_groups.is_empty(),
            ),
        ]
        .into_iter()
        .filter(|(_, empty)| !empty)
        .map(|(name, _)| name)
        .collect()
    }
}

impl Probe for Judge {
    fn describe(&self) -> String {
        "DescribeNotebookInstance".into()
    }

    fn check(&self, _host: &Host) -> Result<ProbeResult> {
        let nb = match &self.answer {
            Ok(v) => v,
            Err(e) if e.contains("AccessDenied") => return Ok(self.denied(e)),
            Err(e) => anyhow::bail!("{e}"),
        };
        let mut details = shown_settings(nb);
        let mut failed = self.failed_settings(nb);
        match &self.tags {
            None => {}
            Some(Ok(tags)) => {
                details.push(format!(
                    "Tags: {}",
                    tags.keys()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                failed.extend(self.missing_tags(tags));
            }
            // Unlike the description, required tags that cannot be read
            // are not proven: the check fails rather than pass unseen.
            Some(Err(e)) => failed.push(format!("the tags could not be read: {e}")),
        }
        details.extend(failed.iter().map(|f| format!("required: {f}")));
        Ok(ProbeResult {
            passed: failed.is_empty(),
            skipped: false,
            evidence: if failed.is_empty() {
                "the control plane reports the required settings".into()
            } else {
                failed.join("; ")
            },
            details,
        })
    }
}

/// The settings as SageMaker reported them, for the report's details.
fn shown_settings(nb: &NotebookDescription) -> Vec<String> {
    let or = |v: &Option<String>, none: &'static str| {
        v.clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| none.to_string())
    };
    vec![
        format!(
            "KmsKeyId: {}",
            or(&nb.kms_key_id, "(none: the AWS managed key)")
        ),
        format!(
            "DirectInternetAccess: {}",
            or(&nb.direct_internet_access, "(not reported)")
        ),
        format!("RootAccess: {}", or(&nb.root_access, "(not reported)")),
        format!("SubnetId: {}", nb.subnet_id.clone().unwrap_or_default()),
        format!("SecurityGroups: {}", nb.security_groups.join(", ")),
    ]
}

impl Judge {
    /// With DescribeNotebookInstance denied: the settings nbwarden asks
    /// for by default are said to be unchecked; what the policy names
    /// explicitly is not proven.
    fn denied(&self, e: &str) -> ProbeResult {
        let named = self.named_requirements();
        ProbeResult {
            passed: named.is_empty(),
            skipped: false,
            evidence: if named.is_empty() {
                "not checked: the role may not call DescribeNotebookInstance".into()
            } else {
                format!(
                    "not proven: the role may not call DescribeNotebookInstance, which {} need",
                    named.join(", ")
                )
            },
            details: vec![e.to_string()],
        }
    }

    /// Each required setting the description does not meet.
    fn failed_settings(&self, nb: &NotebookDescription) -> Vec<String> {
        let field = |v: &Option<String>| v.clone().unwrap_or_default();
        let mut failed: Vec<String> = Vec::new();
        if self.check.require_customer_kms_key && field(&nb.kms_key_id).is_empty() {
            failed.push("no customer KMS key on the ML volume".into());
        }
        if self.check.require_no_direct_internet && field(&nb.direct_internet_access) != "Disabled"
        {
            failed.push("direct internet access is not Disabled".into());
        }
        if self.check.require_root_access_disabled && field(&nb.root_access) != "Disabled" {
            failed.push("root access is not Disabled".into());
        }
        let subnets = &self.check.allowed_subnets;
        if !subnets.is_empty() && !nb.subnet_id.as_ref().is_some_and(|s| subnets.contains(s)) {
            failed.push(format!(
                "subnet {} is not one of allowed_subnets",
                nb.subnet_id.as_deref().unwrap_or("(none)")
            ));
        }
        let groups = &self.check.allowed_security_groups;
        if !groups.is_empty() {
            let others: Vec<&str> = nb
                .security_groups
                .iter()
                .filter(|g| !groups.contains(g))
                .map(String::as_str)
                .collect();
            if !others.is_empty() {
                failed.push(format!(
                    "security group(s) {} not in allowed_security_groups",
                    others.join(", ")
                ));
            } else if nb.security_groups.is_empty() {
                failed.push("no security group reported".into());
            }
        }
        failed
    }

    /// The required tags without a value, as one finding (none when all
    /// have one).
    fn missing_tags(&self, tags: &Tags) -> Option<String> {
        let missing: Vec<&str> = self
            .check
            .required_tags
            .iter()
            .filter(|k| tags.get(*k).is_none_or(|v| v.trim().is_empty()))
            .map(String::as_str)
            .collect();
        (!missing.is_empty()).then(|| format!("no value for the tag(s) {}", missing.join(", ")))
    }
}
