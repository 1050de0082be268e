//! The cross-check's view of what notebooks launch: each notebook role's
//! guardrail (its IAM policies), and the jobs run with a notebook's role in
//! the last days, judged against `[governance]`.
//!
//! A job records its execution role, not who called `Create…Job`
//! (CloudTrail does): a job whose role is a notebook's is the notebook's.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::aws::{Aws, RolePolicy};
use crate::cloudformation::{GUARDRAIL_POLICY_NAME, guardrail_statements};
use crate::policy::GovernancePolicy;

use super::{FLEET_CALLS, NotebookKey, bounded, printable, role_identity};

/// The kinds of job the cross-check lists: those a notebook starts most,
/// each with the fields its description keeps the settings in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Training,
    Processing,
    Transform,
}

impl JobKind {
    const ALL: [JobKind; 3] = [JobKind::Training, JobKind::Processing, JobKind::Transform];

    fn word(self) -> &'static str {
        match self {
            JobKind::Training => "training",
            JobKind::Processing => "processing",
            JobKind::Transform => "transform",
        }
    }

    /// SageMaker's own spelling: `ListTrainingJobs`, `TrainingJobName`, …
    fn api(self) -> &'static str {
        match self {
            JobKind::Training => "Training",
            JobKind::Processing => "Processing",
            JobKind::Transform => "Transform",
        }
    }
}

/// What a job's description says of the settings the guardrail requires;
/// `None` where the kind has no such setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSettings {
    pub kind: JobKind,
    pub name: String,
    pub arn: String,
    pub role_arn: String,
    /// The model a transform job runs (its role is the model's).
    pub model: String,
    pub vpc: Option<bool>,
    pub volume_key: bool,
    pub output_key: bool,
    pub inter_container: Option<bool>,
    pub isolation: Option<bool>,
}

/// Where each kind keeps its settings (where to look).
pub fn job_settings(kind: JobKind, d: &Value) -> JobSettings {
    let present = |v: &Value| v.as_str().is_some_and(|s| !s.is_empty());
    let flag = |v: &Value| Some(v.as_bool().unwrap_or(false));
    let api = kind.api();
    let (vpc, volume, output, inter, isolation) = match kind {
        JobKind::Training => (
            Some(
                d["VpcConfig"]["Subnets"]
                    .as_array()
                    .is_some_and(|s| !s.is_empty()),
            ),
            &d["ResourceConfig"]["VolumeKmsKeyId"],
            &d["OutputDataConfig"]["KmsKeyId"],
            flag(&d["EnableInterContainerTrafficEncryption"]),
            flag(&d["EnableNetworkIsolation"]),
        ),
        JobKind::Processing => (
            Some(
                d["NetworkConfig"]["VpcConfig"]["Subnets"]
                    .as_array()
                    .is_some_and(|s| !s.is_empty()),
            ),
            &d["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"],
            &d["ProcessingOutputConfig"]["KmsKeyId"],
            flag(&d["NetworkConfig"]["EnableInterContainerTrafficEncryption"]),
            flag(&d["NetworkConfig"]["EnableNetworkIsolation"]),
        ),
        // A transform job runs its model's containers in the model's VPC.
        JobKind::Transform => (
            None,
            &d["TransformResources"]["VolumeKmsKeyId"],
            &d["TransformOutput"]["KmsKeyId"],
            None,
            None,
        ),
    };
    JobSettings {
        kind,
        name: d[format!("{api}JobName")]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        arn: d[format!("{api}JobArn")]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        role_arn: d["RoleArn"].as_str().unwrap_or_default().to_string(),
        model: d["ModelName"].as_str().unwrap_or_default().to_string(),
        vpc,
        volume_key: present(volume),
        output_key: present(output),
        inter_container: inter,
        isolation,
    }
}

/// What `governance` requires that the job went without (what to judge).
pub fn job_findings(
    job: &JobSettings,
    owner: Option<&str>,
    expected_owner: Option<&str>,
    owner_tag: &str,
    governance: &GovernancePolicy,
) -> Option<String> {
    let mut lacks = Vec::new();
    if governance.vpc && job.vpc == Some(false) {
        lacks.push("ran outside the VPC (no VpcConfig)".to_string());
    }
    if governance.kms && !job.volume_key {
        lacks.push("no volume KMS key".into());
    }
    if governance.kms && !job.output_key {
        lacks.push("no output KMS key".into());
    }
    if governance.inter_container_encryption && job.inter_container == Some(false) {
        lacks.push("inter-container traffic unencrypted".into());
    }
    if governance.network_isolation && job.isolation == Some(false) {
        lacks.push("no network isolation".into());
    }
    if governance.owner_tag {
        match (owner, expected_owner) {
            (None, _) => lacks.push(format!("no owner tag `{owner_tag}`")),
            (Some(o), Some(want)) if o != want => lacks.push(format!(
                "owner tag `{}` is not the notebook's owner `{}`",
                printable(&bounded(o)),
                printable(&bounded(want))
            )),
            _ => {}
        }
    }
    (!lacks.is_empty()).then(|| {
        format!(
            "{} job `{}` (role {}): {}",
            job.kind.word(),
            printable(&bounded(&job.name)),
            printable(&bounded(&job.role_arn)),
            lacks.join(", ")
        )
    })
}

/// What of the guardrail `governance` asks for the role's policies lack:
/// each statement must be there, a Deny under the same Sid covering at
/// least the shipped actions (what to judge).
pub fn guardrail_findings(policies: &[RolePolicy], governance: &GovernancePolicy) -> Vec<String> {
    let Ok(expected) = guardrail_statements(governance) else {
        return vec!["cannot read the shipped guardrail".into()];
    };
    let actions = |st: &Value| -> BTreeSet<String> {
        match &st["Action"] {
            Value::String(a) => [a.to_ascii_lowercase()].into(),
            Value::Array(a) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_ascii_lowercase)
                .collect(),
            _ => BTreeSet::new(),
        }
    };
    let found: Vec<&Value> = policies
        .iter()
        .flat_map(|p| match &p.document["Statement"] {
            Value::Array(s) => s.iter().collect::<Vec<_>>(),
            one @ Value::Object(_) => vec![one],
            _ => Vec::new(),
        })
        .collect();
    let mut missing = Vec::new();
    for want in expected["Statement"].as_array().into_iter().flatten() {
        let sid = want["Sid"].as_str().unwrap_or_default();
        let held = found.iter().any(|st| {
            st["Sid"] == sid && st["Effect"] == "Deny" && actions(st).is_superset(&actions(want))
        });
        if !held {
            missing.push(sid.to_string());
        }
    }
    if missing.is_empty() {
        Vec::new()
    } else if missing.len() == expected["Statement"].as_array().map_or(0, Vec::len) {
        vec![format!(
            "its role has no nbwarden guardrail (inline policy `{GUARDRAIL_POLICY_NAME}`, \
             lifecycle notebook-stack): what the notebook starts may leave the VPC and the keys"
        )]
    } else {
        vec![format!(
            "its role's guardrail lacks {} (lifecycle notebook-stack renders them)",
            missing.join(", ")
        )]
    }
}

/// One listed notebook as the governance view needs it.
pub struct NotebookRole<'a> {
    pub key: &'a NotebookKey,
    pub role_arn: &'a str,
    pub owner: Option<&'a str>,
}

/// Each notebook's governance findings: its role's guardrail, and the jobs
/// run with its role since `since_epoch` in the regions of `notebooks`.
pub fn findings(
    aws: &Aws,
    notebooks: &[NotebookRole<'_>],
    governance: &GovernancePolicy,
    owner_tag: &str,
    since_epoch: u64,
) -> BTreeMap<NotebookKey, Vec<String>> {
    let mut out: BTreeMap<NotebookKey, Vec<String>> = BTreeMap::new();
    // Roles, each read once however many notebooks share it.
    let roles: Vec<String> = notebooks
        .iter()
        .map(|n| n.role_arn.to_string())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let read = crate::parallel::map_with(FLEET_CALLS, &roles, |arn| {
        let name = arn.rsplit('/').next().unwrap_or(arn);
        aws.iam_role_policies(name)
    });
    let judged: BTreeMap<&str, Vec<String>> = roles
        .iter()
        .zip(read)
        .map(|(arn, policies)| {
            let findings = match policies {
                Ok(p) => guardrail_findings(&p, governance),
                Err(e) => vec![format!("cannot read its role's policies: {e:#}")],
            };
            (arn.as_str(), findings)
        })
        .collect();
    let mut by_role: BTreeMap<String, Vec<&NotebookRole<'_>>> = BTreeMap::new();
    for n in notebooks {
        out.entry(n.key.clone())
            .or_default()
            .extend(judged.get(n.role_arn).into_iter().flatten().cloned());
        by_role
            .entry(role_identity(n.role_arn))
            .or_default()
            .push(n);
    }
    let regions: BTreeSet<&str> = notebooks.iter().map(|n| n.key.1.as_str()).collect();
    for region in regions {
        for kind in JobKind::ALL {
            for (job, tags) in jobs(aws, region, kind, since_epoch, &mut out, notebooks) {
                let Some(owners) = by_role.get(&role_identity(&job.role_arn)) else {
                    continue;
                };
                for nb in owners.iter().filter(|n| n.key.1 == region) {
                    let finding = match &tags {
                        Err(e) => Some(format!(
                            "{} job `{}`: cannot read its tags: {e}",
                            kind.word(),
                            printable(&bounded(&job.name))
                        )),
                        Ok(t) => {
                            let owner = t.get(owner_tag).map(String::as_str);
                            job_findings(&job, owner, nb.owner, owner_tag, governance)
                        }
                    };
                    out.entry(nb.key.clone()).or_default().extend(finding);
                }
            }
        }
    }
    out
}

/// The jobs of `kind` created in `region` since `since_epoch`, described,
/// with their tags; a listing that fails is a finding on every notebook of
/// the region.
fn jobs(
    aws: &Aws,
    region: &str,
    kind: JobKind,
    since_epoch: u64,
    out: &mut BTreeMap<NotebookKey, Vec<String>>,
    notebooks: &[NotebookRole<'_>],
) -> Vec<(JobSettings, Result<crate::facts::Tags, String>)> {
    let api = kind.api();
    let listed = aws.sagemaker_list_all(
        region,
        &format!("List{api}Jobs"),
        &format!("{api}JobSummaries"),
        serde_json::json!({ "CreationTimeAfter": since_epoch }),
    );
    let listed = match listed {
        Ok(l) => l,
        Err(e) => {
            for n in notebooks.iter().filter(|n| n.key.1 == region) {
                out.entry(n.key.clone()).or_default().push(format!(
                    "cannot list the {} jobs of {region}, so its jobs are not checked: {e:#}",
                    kind.word()
                ));
            }
            return Vec::new();
        }
    };
    let names: Vec<String> = listed
        .iter()
        .filter_map(|j| j[format!("{api}JobName")].as_str().map(str::to_string))
        .collect();
    crate::parallel::map_with(FLEET_CALLS, &names, |name| {
        let body = serde_json::json!({ format!("{api}JobName"): name });
        let described = aws.sagemaker_call(region, &format!("Describe{api}Job"), &body, name);
        // A job that cannot be described names no role: it is nobody's.
        let mut job = job_settings(kind, &described.ok()?);
        if kind == JobKind::Transform {
            // A transform job runs as its model's execution role.
            job.role_arn = model_role(aws, region, &job.model).unwrap_or_default();
        }
        let tags = aws
            .sagemaker_tags_in(region, &job.arn)
            .map_err(|e| format!("{e:#}"));
        Some((job, tags))
    })
    .into_iter()
    .flatten()
    .collect()
}

/// The execution role of the model `name` (`DescribeModel`).
fn model_role(aws: &Aws, region: &str, name: &str) -> Option<String> {
    let body = serde_json::json!({ "ModelName": name });
    let model = aws
        .sagemaker_call(region, "DescribeModel", &body, name)
        .ok()?;
    model["ExecutionRoleArn"].as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Value {
        guardrail_statements(&GovernancePolicy::default()).expect("guardrail")
    }

    fn held(document: Value) -> Vec<RolePolicy> {
        vec![RolePolicy {
            name: "arn:aws:iam::123456789012:policy/team".into(),
            inline: false,
            document,
        }]
    }

    #[test]
    fn a_guardrail_is_held_by_sid_effect_and_actions_in_any_case() {
        let mut doc = shipped();
        for st in doc["Statement"].as_array_mut().expect("statements") {
            if let Some(actions) = st["Action"].as_array_mut() {
                for a in actions.iter_mut() {
                    *a = Value::String(a.as_str().expect("action").to_ascii_uppercase());
                }
            }
        }
        assert_eq!(
            guardrail_findings(&held(doc.clone()), &GovernancePolicy::default()),
            Vec::<String>::new()
        );
        // An Allow under the guardrail's Sid is no guardrail.
        doc["Statement"][0]["Effect"] = "Allow".into();
        let sid = doc["Statement"][0]["Sid"]
            .as_str()
            .expect("sid")
            .to_string();
        let found = guardrail_findings(&held(doc.clone()), &GovernancePolicy::default());
        assert_eq!(found.len(), 1);
        assert!(found[0].contains(&sid), "{found:?}");
        // Fewer actions than shipped: not held either.
        let mut fewer = shipped();
        fewer["Statement"][1]["Action"] = serde_json::json!(["sagemaker:CreateTrainingJob"]);
        assert_eq!(
            guardrail_findings(&held(fewer), &GovernancePolicy::default()).len(),
            1
        );
        // Nothing of it: one finding that says so.
        let none = guardrail_findings(
            &held(serde_json::json!({"Statement": []})),
            &GovernancePolicy::default(),
        );
        assert!(none[0].contains("no nbwarden guardrail"), "{none:?}");
    }

    #[test]
    fn each_kind_is_read_where_sagemaker_keeps_its_settings() {
        let training = serde_json::json!({
            "TrainingJobName": "t", "TrainingJobArn": "arn:t", "RoleArn": "arn:r",
            "VpcConfig": {"Subnets": ["subnet-1"]},
            "ResourceConfig": {"VolumeKmsKeyId": "k"}, "OutputDataConfig": {},
            "EnableInterContainerTrafficEncryption": true,
        });
        let t = job_settings(JobKind::Training, &training);
        assert_eq!(
            (
                t.vpc,
                t.volume_key,
                t.output_key,
                t.inter_container,
                t.isolation
            ),
            (Some(true), true, false, Some(true), Some(false))
        );
        let processing = serde_json::json!({
            "ProcessingJobName": "p", "NetworkConfig": {"VpcConfig": {"Subnets": []}},
            "ProcessingOutputConfig": {"KmsKeyId": "k"},
        });
        let p = job_settings(JobKind::Processing, &processing);
        assert_eq!(
            (p.vpc, p.volume_key, p.output_key),
            (Some(false), false, true)
        );
        let transform = job_settings(JobKind::Transform, &serde_json::json!({"ModelName": "m"}));
        assert_eq!((transform.vpc, transform.model.as_str()), (None, "m"));
        let judged = job_findings(
            &t,
            Some("ana\u{1b}[2J"),
            Some("ana"),
            "owner",
            &GovernancePolicy::default(),
        )
        .expect("findings");
        assert!(
            judged.contains("no output KMS key") && !judged.contains('\u{1b}'),
            "{judged}"
        );
        assert_eq!(
            job_findings(
                &transform,
                Some("ana"),
                Some("ana"),
                "owner",
                &GovernancePolicy {
                    kms: false,
                    ..GovernancePolicy::default()
                }
            ),
            None
        );
    }
}
