//! Facts only the control plane knows, from `DescribeNotebookInstance`: a
//! customer KMS key on the volumes, no direct internet access, root access
//! disabled. Encryption is invisible from inside the guest, so nothing here
//! is inferred locally. Where the role may not call the API, the control
//! says so instead of guessing.

use crate::engine::ControlInfo;
use anyhow::Result;

use super::Check;
use crate::engine::{Probe, ProbeResult};
use crate::facts::NotebookDescription;
use crate::host::Host;
use crate::policy::ControlPlaneCheck;

pub static INFO: ControlInfo = ControlInfo {
    id: "control-plane",
    title: "SageMaker's settings for this notebook (KMS, internet, root)",
    section: "verify.control_plane",
};

/// The control for `[verify.control_plane]`.
pub fn control(check: ControlPlaneCheck) -> Check {
    Check::new(&INFO, check.severity, move |ctx| {
        Ok(Box::new(Judge {
            check: check.clone(),
            answer: ctx
                .facts
                .description()
                .cloned()
                .map_err(|e| format!("{e:#}")),
        }))
    })
    .reading(crate::facts::RemoteInput::Description)
}

/// Judges the answer fetched while declaring (the probe itself needs no
/// network, which keeps the AWS client in one place).
struct Judge {
    check: ControlPlaneCheck,
    answer: Result<NotebookDescription, String>,
}

impl Probe for Judge {
    fn describe(&self) -> String {
        "DescribeNotebookInstance".into()
    }

    fn check(&self, _host: &Host) -> Result<ProbeResult> {
        let nb = match &self.answer {
            Ok(v) => v,
            Err(e) if e.contains("AccessDenied") => {
                return Ok(ProbeResult {
                    passed: true,
                    evidence: "not checked: the role may not call DescribeNotebookInstance".into(),
                    details: vec![e.clone()],
                });
            }
            Err(e) => anyhow::bail!("{e}"),
        };
        let field = |v: &Option<String>| v.clone().unwrap_or_default();
        let kms = field(&nb.kms_key_id);
        let internet = field(&nb.direct_internet_access);
        let root = field(&nb.root_access);
        let mut details = vec![
            format!(
                "KmsKeyId: {}",
                if kms.is_empty() {
                    "(none: the AWS managed key)"
                } else {
                    &kms
                }
            ),
            format!(
                "DirectInternetAccess: {}",
                if internet.is_empty() {
                    "(not reported)"
                } else {
                    &internet
                }
            ),
            format!(
                "RootAccess: {}",
                if root.is_empty() {
                    "(not reported)"
                } else {
                    &root
                }
            ),
            format!("SubnetId: {}", field(&nb.subnet_id)),
        ];
        let mut failed = Vec::new();
        if self.check.require_customer_kms_key && kms.is_empty() {
            failed.push("no customer KMS key on the ML volume");
        }
        if self.check.require_no_direct_internet && internet != "Disabled" {
            failed.push("direct internet access is not Disabled");
        }
        if self.check.require_root_access_disabled && root != "Disabled" {
            failed.push("root access is not Disabled");
        }
        details.extend(failed.iter().map(|f| format!("required: {f}")));
        Ok(ProbeResult {
            passed: failed.is_empty(),
            evidence: if failed.is_empty() {
                "the control plane reports the required settings".into()
            } else {
                failed.join("; ")
            },
            details,
        })
    }
}
