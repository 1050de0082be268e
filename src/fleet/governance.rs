//! The cross-check's view of what notebooks launch: each notebook role's
//! guardrail (its IAM policies), and the jobs run with a notebook's role in
//! the last days, judged against `[governance]`.
//!
//! A job records its execution role, not who called `Create…Job`
//! (CloudTrail does): a job whose role is a notebook's is the notebook's.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::aws::{Aws, RolePolicy};
use crate::lifecycle::cloudformation::{GUARDRAIL_POLICY_NAME, guardrail_statements};
use crate::policy::GovernancePolicy;

use super::text::{bounded, printable};
use super::{FLEET_CALLS, NotebookKey, role_identity};

/// The kinds of job the cross-check lists: those a notebook starts most,
/// and the models that endpoints and batch jobs run, each with the fields
/// its description keeps the settings in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Training,
    Processing,
    Transform,
    Model,
}

impl JobKind {
    const ALL: [JobKind; 4] = [
        JobKind::Training,
        JobKind::Processing,
        JobKind::Transform,
        JobKind::Model,
    ];

    fn word(self) -> &'static str {
        match self {
            JobKind::Training => "training job",
            JobKind::Processing => "processing job",
            JobKind::Transform => "transform job",
            JobKind::Model => "model",
        }
    }

    /// SageMaker's own spelling: the resource's name in `ListTrainingJobs`,
    /// `TrainingJobName`, `DescribeModel`, …
    fn api(self) -> &'static str {
        match self {
            JobKind::Training => "TrainingJob",
            JobKind::Processing => "ProcessingJob",
            JobKind::Transform => "TransformJob",
            JobKind::Model => "Model",
        }
    }

    /// The listing's field of summaries.
    fn summaries(self) -> String {
        match self {
            JobKind::Model => "Models".into(),
            _ => format!("{}Summaries", self.api()),
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
    pub volume_key: Option<bool>,
    pub output_key: Option<bool>,
    pub inter_container: Option<bool>,
    pub isolation: Option<bool>,
}

/// Where each kind keeps its settings (where to look).
pub fn job_settings(kind: JobKind, d: &Value) -> JobSettings {
    let present = |v: &Value| Some(v.as_str().is_some_and(|s| !s.is_empty()));
    let flag = |v: &Value| Some(v.as_bool().unwrap_or(false));
    let subnets = |v: &Value| Some(v["Subnets"].as_array().is_some_and(|s| !s.is_empty()));
    let api = kind.api();
    let (vpc, volume, output, inter, isolation) = match kind {
        JobKind::Training => (
            subnets(&d["VpcConfig"]),
            present(&d["ResourceConfig"]["VolumeKmsKeyId"]),
            present(&d["OutputDataConfig"]["KmsKeyId"]),
            flag(&d["EnableInterContainerTrafficEncryption"]),
            flag(&d["EnableNetworkIsolation"]),
        ),
        JobKind::Processing => (
            subnets(&d["NetworkConfig"]["VpcConfig"]),
            present(&d["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"]),
            present(&d["ProcessingOutputConfig"]["KmsKeyId"]),
            flag(&d["NetworkConfig"]["EnableInterContainerTrafficEncryption"]),
            flag(&d["NetworkConfig"]["EnableNetworkIsolation"]),
        ),
        // A transform job runs its model's containers in the model's VPC.
        JobKind::Transform => (
            None,
            present(&d["TransformResources"]["VolumeKmsKeyId"]),
            present(&d["TransformOutput"]["KmsKeyId"]),
            None,
            None,
        ),
        // A model's endpoints and batch jobs run in its VPC; their keys are
        // the endpoint configuration's and the job's.
        JobKind::Model => (
            subnets(&d["VpcConfig"]),
            None,
            None,
            None,
            flag(&d["EnableNetworkIsolation"]),
        ),
    };
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    JobSettings {
        kind,
        name: text(&d[format!("{api}Name")]),
        arn: text(&d[format!("{api}Arn")]),
        role_arn: text(if kind == JobKind::Model {
            &d["ExecutionRoleArn"]
        } else {
            &d["RoleArn"]
        }),
        model: text(&d["ModelName"]),
        vpc,
        volume_key: volume,
        output_key: output,
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
        lacks.push("outside the VPC (no VpcConfig)".to_string());
    }
    if governance.kms && job.volume_key == Some(false) {
        lacks.push("no volume KMS key".into());
    }
    if governance.kms && job.output_key == Some(false) {
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
            "{} `{}` (role {}): {}",
            job.kind.word(),
            printable(&bounded(&job.name)),
            printable(&bounded(&job.role_arn)),
            lacks.join(", ")
        )
    })
}

/// What one notebook's guardrail must say: the fixed placeholders of the
/// shipped statements as the notebook stack fills them for it.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub notebook: &'a str,
    pub owner_tag: &'a str,
    /// Its owner tag's value; unknown (no tag, flagged apart), any value.
    pub owner: Option<&'a str>,
    /// Its role's ARN, the one role it may pass.
    pub role_arn: &'a str,
}

/// The stack's parameters: any non-empty list of values stands for them.
const LIST_PLACEHOLDERS: [&str; 3] = [
    "JOB_SUBNET_IDS",
    "JOB_SECURITY_GROUP_IDS",
    "JOB_KMS_KEY_ARNS",
];

impl Expected<'_> {
    fn filled(&self, text: &str) -> String {
        let name = self.notebook.to_ascii_lowercase();
        text.replace("NOTEBOOK_ROLE_ARN", self.role_arn)
            .replace("NOTEBOOK_ARN_NAME", &name)
            .replace("OWNER_TAG_KEY", self.owner_tag)
            .replace("ACCOUNT", self.account)
            .replace("REGION", self.region)
    }

    /// `held` says what `want` (a shipped value) says for this notebook.
    fn same(&self, want: &Value, held: &Value) -> bool {
        let one = |v: &Value| -> Option<String> {
            match v {
                Value::String(s) => Some(s.clone()),
                Value::Array(a) if a.len() == 1 => a[0].as_str().map(str::to_string),
                _ => None,
            }
        };
        let values = |v: &Value| -> Vec<String> {
            match v {
                Value::String(s) => vec![s.clone()],
                Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            }
        };
        match want {
            Value::Null => held.is_null(),
            Value::String(s) if s == "NOTEBOOK_OWNER" => match self.owner {
                Some(owner) => one(held).as_deref() == Some(owner),
                None => one(held).is_some_and(|h| !h.is_empty()),
            },
            Value::String(s) => one(held).as_deref() == Some(self.filled(s).as_str()),
            Value::Array(items) => match items.as_slice() {
                [Value::String(p)] if LIST_PLACEHOLDERS.contains(&p.as_str()) => {
                    let held = values(held);
                    !held.is_empty()
                        && held.iter().all(|h| {
                            !h.is_empty() && !LIST_PLACEHOLDERS.iter().any(|p| h.contains(p))
                        })
                }
                [only] => self.same(only, held),
                _ => {
                    let held = values(held);
                    held.len() == items.len()
                        && items
                            .iter()
                            .all(|w| w.as_str().is_some_and(|w| held.contains(&self.filled(w))))
                }
            },
            Value::Object(map) => held.as_object().is_some_and(|h| {
                h.len() == map.len()
                    && map
                        .iter()
                        .all(|(k, w)| h.get(&self.filled(k)).is_some_and(|x| self.same(w, x)))
            }),
            other => other == held,
        }
    }
}

/// A statement's actions, in lower case (IAM ignores their case).
fn actions(st: &Value) -> BTreeSet<String> {
    match &st["Action"] {
        Value::String(a) => [a.to_ascii_lowercase()].into(),
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_ascii_lowercase)
            .collect(),
        _ => BTreeSet::new(),
    }
}

/// What of the guardrail `governance` asks for the role's policies lack
/// for this notebook: each shipped statement must be held by a Deny that
/// covers at least its actions and says the same of resources and
/// conditions, filled for the notebook (a statement with the right Sid
/// but another resource or condition holds nothing). What to judge.
pub fn guardrail_findings(
    policies: &[RolePolicy],
    governance: &GovernancePolicy,
    expected: &Expected<'_>,
) -> Vec<String> {
    let Ok(shipped) = guardrail_statements(governance) else {
        return vec!["cannot read the shipped guardrail".into()];
    };
    let held: Vec<&Value> = policies
        .iter()
        .flat_map(|p| match &p.document["Statement"] {
            Value::Array(s) => s.iter().collect::<Vec<_>>(),
            one @ Value::Object(_) => vec![one],
            _ => Vec::new(),
        })
        .collect();
    let wanted = shipped["Statement"].as_array().cloned().unwrap_or_default();
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|want| {
            !held.iter().any(|st| {
                st["Effect"] == "Deny"
                    && actions(st).is_superset(&actions(want))
                    && ["Resource", "NotResource", "Condition"]
                        .iter()
                        .all(|k| expected.same(&want[*k], &st[*k]))
            })
        })
        .map(|want| want["Sid"].as_str().unwrap_or_default())
        .collect();
    if missing.is_empty() {
        Vec::new()
    } else if missing.len() == wanted.len() {
        vec![format!(
            "its role has no nbwarden guardrail (inline policy `{GUARDRAIL_POLICY_NAME}` of the \
             notebook stack): what the notebook starts may leave the VPC and the keys"
        )]
    } else {
        vec![format!(
            "its role's guardrail lacks {}, or says them otherwise than for this notebook \
             (the notebook stack renders them)",
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

/// What the governance view found: findings on notebooks, and on regions
/// (jobs whose role is not known, listings that failed): a gap is never
/// silent.
#[derive(Debug, Default)]
pub struct Findings {
    pub notebooks: BTreeMap<NotebookKey, Vec<String>>,
    pub regions: BTreeMap<String, Vec<String>>,
}

/// Each notebook's governance findings: its role's guardrail, and the jobs
/// run with its role since `since_epoch` in every region of `regions`.
pub fn findings(
    aws: &Aws,
    notebooks: &[NotebookRole<'_>],
    regions: &BTreeSet<String>,
    governance: &GovernancePolicy,
    owner_tag: &str,
    since_epoch: u64,
) -> Findings {
    let mut out = Findings::default();
    // Roles, each read once however many notebooks share it.
    let roles: Vec<String> = notebooks
        .iter()
        .map(|n| n.role_arn.to_string())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let read = crate::base::parallel::map_with(FLEET_CALLS, &roles, |arn| {
        let name = arn.rsplit('/').next().unwrap_or(arn);
        aws.iam_role_policies(name)
    });
    let policies: BTreeMap<&str, Result<Vec<RolePolicy>, String>> = roles
        .iter()
        .zip(read)
        .map(|(arn, p)| (arn.as_str(), p.map_err(|e| format!("{e:#}"))))
        .collect();
    let mut by_role: BTreeMap<String, Vec<&NotebookRole<'_>>> = BTreeMap::new();
    for n in notebooks {
        let expected = Expected {
            account: &n.key.0,
            region: &n.key.1,
            notebook: &n.key.2,
            owner_tag,
            owner: n.owner,
            role_arn: n.role_arn,
        };
        let found = match policies.get(n.role_arn) {
            Some(Ok(p)) => guardrail_findings(p, governance, &expected),
            Some(Err(e)) => vec![format!("cannot read its role's policies: {e}")],
            None => Vec::new(),
        };
        out.notebooks
            .entry(n.key.clone())
            .or_default()
            .extend(found);
        by_role
            .entry(role_identity(n.role_arn))
            .or_default()
            .push(n);
    }
    for region in regions {
        for kind in JobKind::ALL {
            let rules = (governance, owner_tag);
            for job in jobs(aws, region, kind, since_epoch, rules, &mut out) {
                let Some(owners) = by_role.get(&role_identity(&job.settings.role_arn)) else {
                    continue;
                };
                for nb in owners {
                    let finding = match &job.tags {
                        Err(e) => Some(format!(
                            "{} `{}` in {region}: cannot read its tags: {e}",
                            kind.word(),
                            printable(&bounded(&job.settings.name))
                        )),
                        Ok(t) => {
                            let owner = t.get(owner_tag).map(String::as_str);
                            job_findings(&job.settings, owner, nb.owner, owner_tag, governance)
                        }
                    };
                    out.notebooks
                        .entry(nb.key.clone())
                        .or_default()
                        .extend(finding);
                }
            }
        }
    }
    out
}

/// One job as listed, described and tagged.
struct Job {
    settings: JobSettings,
    tags: Result<crate::aws::Tags, String>,
}

/// The jobs of `kind` created in `region` since `since_epoch`, described
/// (a transform job with its model's role and VPC), with their tags. A job
/// that cannot be described, or whose model is gone, has no known role: it
/// is a finding on the region when it could have been ungoverned, as is a
/// listing that fails.
fn jobs(
    aws: &Aws,
    region: &str,
    kind: JobKind,
    since_epoch: u64,
    (governance, owner_tag): (&GovernancePolicy, &str),
    out: &mut Findings,
) -> Vec<Job> {
    let api = kind.api();
    let listed = aws.sagemaker_list_all(
        region,
        &format!("List{api}s"),
        &kind.summaries(),
        serde_json::json!({ "CreationTimeAfter": since_epoch }),
    );
    let listed =
        match listed {
            Ok(l) => l,
            Err(e) => {
                out.regions.entry(region.to_string()).or_default().push(format!(
                "cannot list each {} here, so none with a notebook's role is checked: {e:#}",
                kind.word()
            ));
                return Vec::new();
            }
        };
    let names: Vec<String> = listed
        .iter()
        .filter_map(|j| j[format!("{api}Name")].as_str().map(str::to_string))
        .collect();
    let answers = crate::base::parallel::map_with(FLEET_CALLS, &names, |name| {
        describe(aws, region, kind, name)
    });
    let mut found = Vec::new();
    for (name, answer) in names.iter().zip(answers) {
        let unknown = |why: &str| {
            format!(
                "{} `{}`: cannot tell whose it is: {}",
                kind.word(),
                printable(&bounded(name)),
                printable(&bounded(why))
            )
        };
        match answer {
            Ok((job, None)) => found.push(job),
            // Deleting a model after its batch job is common: only a job
            // that went without what is required is worth a finding.
            Ok((job, Some(why))) => {
                let owner = job
                    .tags
                    .as_ref()
                    .ok()
                    .and_then(|t| t.get(owner_tag))
                    .map(String::as_str);
                if let Some(lacks) = job_findings(&job.settings, owner, None, owner_tag, governance)
                {
                    out.regions
                        .entry(region.to_string())
                        .or_default()
                        .push(format!(
                            "{lacks}; its model is gone, so its role is not known: {}",
                            printable(&bounded(&why))
                        ));
                }
            }
            Err(why) => out
                .regions
                .entry(region.to_string())
                .or_default()
                .push(unknown(&why)),
        }
    }
    found
}

/// One listed job (or model) described, a transform job with its model's
/// role and VPC, and tagged; with why its model is not known, if it is not.
fn describe(
    aws: &Aws,
    region: &str,
    kind: JobKind,
    name: &str,
) -> Result<(Job, Option<String>), String> {
    let api = kind.api();
    let body = serde_json::json!({ format!("{api}Name"): name });
    let described = aws
        .sagemaker_call(region, &format!("Describe{api}"), &body, name)
        .map_err(|e| format!("{e:#}"))?;
    let mut settings = job_settings(kind, &described);
    let mut model_gone = None;
    if kind == JobKind::Transform {
        // A transform job runs as its model, in its model's VPC.
        match model_of(aws, region, &settings.model) {
            Ok(model) => {
                let model = job_settings(JobKind::Model, &model);
                settings.role_arn = model.role_arn;
                settings.vpc = model.vpc;
            }
            Err(e) => model_gone = Some(format!("{e:#}")),
        }
    }
    let tags = aws
        .sagemaker_tags_in(region, &settings.arn)
        .map_err(|e| format!("{e:#}"));
    Ok((Job { settings, tags }, model_gone))
}

/// The model `name` (`DescribeModel`).
fn model_of(aws: &Aws, region: &str, name: &str) -> anyhow::Result<Value> {
    let body = serde_json::json!({ "ModelName": name });
    aws.sagemaker_call(region, "DescribeModel", &body, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NB: Expected<'static> = Expected {
        account: "123456789012",
        region: "us-east-1",
        notebook: "Team-A",
        owner_tag: "owner",
        owner: Some("ana"),
        role_arn: "arn:aws:iam::123456789012:role/nbwarden/team-a",
    };

    /// The guardrail as the notebook stack deploys it for NB.
    fn deployed() -> Value {
        let text = guardrail_statements(&GovernancePolicy::default())
            .expect("guardrail")
            .to_string()
            .replace("JOB_SUBNET_IDS", "subnet-1")
            .replace("JOB_SECURITY_GROUP_IDS", "sg-1")
            .replace(
                "JOB_KMS_KEY_ARNS",
                "arn:aws:kms:us-east-1:123456789012:key/k",
            )
            .replace("NOTEBOOK_OWNER", "ana")
            .replace(
                "NOTEBOOK_ROLE_ARN",
                "arn:aws:iam::123456789012:role/nbwarden/team-a",
            )
            .replace("NOTEBOOK_ARN_NAME", "team-a")
            .replace("OWNER_TAG_KEY", "owner")
            .replace("ACCOUNT", "123456789012")
            .replace("REGION", "us-east-1");
        serde_json::from_str(&text).expect("JSON")
    }

    fn held(document: Value) -> Vec<RolePolicy> {
        vec![RolePolicy {
            name: "arn:aws:iam::123456789012:policy/team".into(),
            inline: false,
            document,
        }]
    }

    fn judged(document: Value) -> Vec<String> {
        guardrail_findings(&held(document), &GovernancePolicy::default(), &NB)
    }

    #[test]
    fn a_guardrail_is_held_by_what_its_statements_say_for_this_notebook() {
        assert_eq!(judged(deployed()), Vec::<String>::new());
        // Actions in another case, Sids renamed, one value as a string:
        // the same policy to IAM.
        let mut same = deployed();
        for st in same["Statement"].as_array_mut().expect("statements") {
            st["Sid"] = "Renamed".into();
            if let Some(actions) = st["Action"].as_array_mut() {
                for a in actions.iter_mut() {
                    *a = Value::String(a.as_str().expect("action").to_ascii_uppercase());
                }
            }
        }
        same["Statement"][4]["Condition"]["StringNotEquals"]["sagemaker:VolumeKmsKeyArn"] =
            "arn:aws:kms:us-east-1:123456789012:key/k".into();
        assert_eq!(judged(same), Vec::<String>::new());
        // What says something else holds nothing (the red team's neutered
        // copy with the right Sids): an Allow, fewer actions, another
        // resource, another condition, a placeholder left in, another
        // notebook's owner or name.
        let broken: Vec<(usize, &str, Value)> = vec![
            (0, "Effect", "Allow".into()),
            (
                1,
                "Action",
                serde_json::json!(["sagemaker:CreateTrainingJob"]),
            ),
            (
                2,
                "Resource",
                "arn:aws:sagemaker:*:000000000000:nothing/*".into(),
            ),
            (
                0,
                "Condition",
                serde_json::json!({"Null": {"sagemaker:VpcSubnets": "false"}}),
            ),
            (
                4,
                "Condition",
                serde_json::json!({"StringNotEquals": {"sagemaker:VolumeKmsKeyArn": ["JOB_KMS_KEY_ARNS"]}}),
            ),
        ];
        for (i, field, value) in broken {
            let mut doc = deployed();
            let sid = doc["Statement"][i]["Sid"]
                .as_str()
                .expect("sid")
                .to_string();
            doc["Statement"][i][field] = value;
            let found = judged(doc);
            assert_eq!(found.len(), 1, "{field}");
            assert!(found[0].contains(&sid), "{field}: {found:?}");
        }
        let other = Expected {
            owner: Some("bob"),
            ..NB.clone()
        };
        let found = guardrail_findings(&held(deployed()), &GovernancePolicy::default(), &other);
        assert!(
            found[0].contains("DenyCreatingWithoutTheNotebooksOwner"),
            "{found:?}"
        );
        let elsewhere = Expected {
            notebook: "team-b",
            ..NB.clone()
        };
        let found = guardrail_findings(&held(deployed()), &GovernancePolicy::default(), &elsewhere);
        assert!(found[0].contains("DenyStoppingOtherNotebooks"), "{found:?}");
        // Nothing of it: one finding that says so.
        let none = judged(serde_json::json!({"Statement": []}));
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
            (Some(true), Some(true), Some(false), Some(true), Some(false))
        );
        let processing = serde_json::json!({
            "ProcessingJobName": "p", "NetworkConfig": {"VpcConfig": {"Subnets": []}},
            "ProcessingOutputConfig": {"KmsKeyId": "k"},
        });
        let p = job_settings(JobKind::Processing, &processing);
        assert_eq!(
            (p.vpc, p.volume_key, p.output_key),
            (Some(false), Some(false), Some(true))
        );
        let model = job_settings(
            JobKind::Model,
            &serde_json::json!({"ModelName": "m", "ModelArn": "arn:m", "ExecutionRoleArn": "arn:r"}),
        );
        assert_eq!(
            (
                model.name.as_str(),
                model.arn.as_str(),
                model.role_arn.as_str()
            ),
            ("m", "arn:m", "arn:r")
        );
        assert_eq!((model.vpc, model.volume_key), (Some(false), None));
        let found = job_findings(
            &model,
            Some("ana"),
            Some("ana"),
            "owner",
            &GovernancePolicy::default(),
        )
        .expect("findings");
        assert_eq!(
            found,
            "model `m` (role arn:r): outside the VPC (no VpcConfig)"
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
