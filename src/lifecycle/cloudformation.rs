//! The CloudFormation nbwarden ships, built as data and serialised, so no
//! name or script can break the YAML: the fleet's shared template (the
//! lifecycle configuration and the users' access policy) and the one-stack-
//! per-notebook template (the notebook, its own role, its tags). The IAM
//! policies inside are the shipped JSON files, their placeholders filled
//! with parameters, so the bundle's policies and the templates' cannot
//! drift apart.

use std::str::FromStr;

use anyhow::{Result, bail};
use serde_json::{Value, json};

use crate::lifecycle::LifecycleConfigName;

mod athena;
mod yaml;
use crate::policy::{GovernancePolicy, JobCondition};
pub use athena::{HISTORY_TABLE, LATEST_TABLE, NAMED_QUERIES, athena_template};

/// The notebook role's policy, as shipped in the bundle (`iam/`).
pub const NOTEBOOK_ROLE_POLICY: &str =
    include_str!("../../packaging/iam-notebook-role-policy.json");
/// The policy for the people who open notebooks, as shipped in the bundle.
pub const USER_ACCESS_POLICY: &str = include_str!("../../packaging/iam-user-access-policy.json");
/// The notebook role's guardrail, as shipped in the bundle: deny-only
/// statements on what a notebook creates, rendered per `[governance]`.
pub const NOTEBOOK_GUARDRAIL: &str =
    include_str!("../../packaging/iam-notebook-guardrail-policy.json");
/// The inline policy the guardrail becomes on each notebook's role; the
/// cross-check looks for it under this name.
pub const GUARDRAIL_POLICY_NAME: &str = "nbwarden-guardrail";

/// A tag key as SageMaker takes it, also safe inside an IAM condition key
/// and a `Fn::Sub` string: 1 to 128 letters, digits and `_.:/=+-@`, not
/// starting with `aws:` (AWS reserves those).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagKey(String);

impl TagKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TagKey {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "_.:/=+-@".contains(c);
        if text.is_empty()
            || text.len() > 128
            || !text.chars().all(allowed)
            || text.to_ascii_lowercase().starts_with("aws:")
        {
            return Err(format!(
                "{text:?} is not a tag key: 1 to 128 letters, digits and _.:/=+-@, not starting \
                 with aws:"
            ));
        }
        Ok(Self(text.to_string()))
    }
}

/// What a placeholder of a shipped IAM policy becomes in a template.
#[derive(Debug, Clone, Copy)]
pub enum Fill<'a> {
    /// A parameter or pseudo parameter, `${Name}` inside `Fn::Sub`.
    Param(&'a str),
    /// A list parameter, standing for a whole one-element list.
    List(&'a str),
    /// A template expression giving a whole list, standing for a
    /// one-element list.
    ListOf(&'a Value),
    /// A text fixed when the template is rendered: condition keys take no
    /// function, so a tag key in one cannot be a parameter.
    Text(&'a str),
}

/// Runs of capitals and underscores: where placeholders are.
fn placeholder_runs(text: &str) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        let inside = c.is_ascii_uppercase() || c == '_';
        match (start, inside) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                runs.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    runs
}

fn fill_of<'a>(fills: &[(&str, Fill<'a>)], token: &str) -> Option<Fill<'a>> {
    fills.iter().find(|(p, _)| *p == token).map(|(_, f)| *f)
}

/// A condition key with its fixed placeholders filled.
fn fill_key(key: &str, fills: &[(&str, Fill<'_>)]) -> Result<String> {
    let mut out = String::new();
    let mut at = 0;
    for (s, e) in placeholder_runs(key) {
        out.push_str(&key[at..s]);
        match fill_of(fills, &key[s..e]) {
            Some(Fill::Text(t)) => out.push_str(t),
            Some(_) => bail!("{} in the key {key:?} needs a fixed value", &key[s..e]),
            None => out.push_str(&key[s..e]),
        }
        at = e;
    }
    out.push_str(&key[at..]);
    Ok(out)
}

/// A value with its placeholders filled: a plain string, or `Fn::Sub` when
/// a parameter is in it (then a literal `${…}`, such as `${aws:username}`,
/// is written `${!…}` so CloudFormation leaves it to IAM).
fn fill_value(text: &str, fills: &[(&str, Fill<'_>)]) -> Result<Value> {
    let mut plain = String::new();
    let mut sub = String::new();
    let mut params = false;
    let mut at = 0;
    let literal = |part: &str| part.replace("${", "${!");
    for (s, e) in placeholder_runs(text) {
        let token = &text[s..e];
        plain.push_str(&text[at..s]);
        sub.push_str(&literal(&text[at..s]));
        match fill_of(fills, token) {
            Some(Fill::Param(p)) => {
                params = true;
                sub.push_str(&format!("${{{p}}}"));
            }
            Some(Fill::Text(t)) => {
                plain.push_str(t);
                sub.push_str(&literal(t));
            }
            Some(Fill::List(_) | Fill::ListOf(_)) => {
                bail!("{token} in {text:?} stands for a whole list")
            }
            None if token.len() > 1 => bail!("{token} in {text:?} is not a known placeholder"),
            None => {
                plain.push_str(token);
                sub.push_str(token);
            }
        }
        at = e;
    }
    plain.push_str(&text[at..]);
    sub.push_str(&literal(&text[at..]));
    Ok(if params {
        json!({ "Fn::Sub": sub })
    } else {
        Value::String(plain)
    })
}

/// A shipped IAM policy as a template's `PolicyDocument`.
pub fn policy_document(policy: &str, fills: &[(&str, Fill<'_>)]) -> Result<Value> {
    // Only `Resource` and `Condition` hold placeholders: Sids, effects and
    // actions are written as they are.
    fn walk(v: &Value, fills: &[(&str, Fill<'_>)], fill: bool) -> Result<Value> {
        Ok(match v {
            Value::String(s) if fill => fill_value(s, fills)?,
            Value::Array(items) => match items.as_slice() {
                [Value::String(only)] if fill => match fill_of(fills, only) {
                    Some(Fill::List(p)) => json!({ "Ref": p }),
                    Some(Fill::ListOf(v)) => v.clone(),
                    _ => json!([fill_value(only, fills)?]),
                },
                _ => Value::Array(
                    items
                        .iter()
                        .map(|x| walk(x, fills, fill))
                        .collect::<Result<_>>()?,
                ),
            },
            Value::Object(map) => {
                let mut out = serde_json::Map::new();
                for (k, x) in map {
                    let key = if fill { fill_key(k, fills)? } else { k.clone() };
                    let below =
                        fill || matches!(k.as_str(), "Resource" | "NotResource" | "Condition");
                    out.insert(key, walk(x, fills, below)?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }
    let parsed: Value = serde_json::from_str(policy)?;
    walk(&parsed, fills, false)
}

const PSEUDO: [(&str, Fill<'static>); 2] = [
    ("REGION", Fill::Param("AWS::Region")),
    ("ACCOUNT", Fill::Param("AWS::AccountId")),
];

/// The fleet's shared template: the lifecycle configuration, and the
/// managed policy to attach to the people (or their group or permission
/// set) who open notebooks.
pub fn lifecycle_template(
    name: &LifecycleConfigName,
    on_create: &str,
    on_start: &str,
    owner_tag: &TagKey,
    cost_tag: &TagKey,
) -> Result<String> {
    let script = |content: &str| json!([{ "Content": { "Fn::Base64": content } }]);
    let mut fills = PSEUDO.to_vec();
    fills.push(("VPCE_ID", Fill::List("NotebookVpcEndpointIds")));
    fills.push(("OWNER_TAG_KEY", Fill::Text(owner_tag.as_str())));
    fills.push(("COST_TAG_KEY", Fill::Text(cost_tag.as_str())));
    let access = policy_document(USER_ACCESS_POLICY, &fills)?;
    let template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!("nbwarden {} lifecycle configuration and notebook user access", crate::base::version::SHORT),
        "Parameters": {
            "NotebookVpcEndpointIds": {
                "Type": "CommaDelimitedList",
                "Description": "The interface VPC endpoints (vpce-…) of the SageMaker API and notebook services through which users may open notebooks"
            }
        },
        "Resources": {
            "NbwardenLifecycleConfig": {
                "Type": "AWS::SageMaker::NotebookInstanceLifecycleConfig",
                "Properties": {
                    "NotebookInstanceLifecycleConfigName": name.as_str(),
                    "OnCreate": script(on_create),
                    "OnStart": script(on_start),
                }
            },
            "NbwardenNotebookUserAccess": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {
                    "Description": format!(
                        "Open only the notebooks tagged {}=<your user name>, only through the listed VPC endpoints",
                        owner_tag.as_str()
                    ),
                    "PolicyDocument": access,
                }
            }
        },
        "Outputs": {
            "LifecycleConfigName": {
                "Description": "The name to give a notebook instance's LifecycleConfigName",
                "Value": { "Fn::GetAtt": ["NbwardenLifecycleConfig", "NotebookInstanceLifecycleConfigName"] }
            },
            "UserAccessPolicyArn": {
                "Description": "Attach to the users, groups or roles who open notebooks",
                "Value": { "Ref": "NbwardenNotebookUserAccess" }
            }
        }
    });
    yaml::to_yaml(&template)
}

/// The guardrail's statements that `governance` asks for: a statement that
/// tests a requirement's condition keys is kept when that requirement is
/// on; the rest (notebooks, Studio) always.
pub fn guardrail_statements(governance: &GovernancePolicy) -> Result<Value> {
    let mut policy: Value = serde_json::from_str(NOTEBOOK_GUARDRAIL)?;
    let Some(statements) = policy["Statement"].as_array_mut() else {
        bail!("the shipped guardrail has no statements");
    };
    statements.retain(|st| {
        st["Condition"]
            .as_object()
            .into_iter()
            .flat_map(|ops| ops.values())
            .filter_map(Value::as_object)
            .flat_map(|keys| keys.keys())
            .filter_map(|k| JobCondition::of_key(k))
            .all(|c| governance.requires(c))
    });
    // What no key governs is refused but for the actions the fleet allows.
    let allowed: Vec<String> = governance
        .allow_ungoverned
        .iter()
        .map(|a| a.action())
        .collect();
    for st in statements.iter_mut() {
        if let Some(actions) = st["Action"].as_array_mut() {
            actions.retain(|a| !allowed.iter().any(|x| a == x.as_str()));
        }
    }
    statements.retain(|st| st["Action"].as_array().is_none_or(|a| !a.is_empty()));
    Ok(policy)
}

/// The largest service control policy AWS Organizations takes, in
/// characters of its (compact) JSON.
const SCP_LIMIT: usize = 5_120;

/// What a list placeholder may grow to once deployed (six subnets or
/// security groups, or three key ARNs), counted against [`SCP_LIMIT`].
const SCP_LIST_ALLOWANCE: usize = 240;

/// The guardrail's statements as SCP statements, packed into policies that
/// each fit [`SCP_LIMIT`] once deployed: each statement holds roles under
/// `/nbwarden/` only; what names one notebook is left out.
fn scp_chunks<'a>(statements: impl Iterator<Item = &'a Value>) -> Vec<(usize, Vec<Value>)> {
    let mut chunks: Vec<(usize, Vec<Value>)> = Vec::new();
    for st in statements {
        let text = st.to_string();
        if text.contains("NOTEBOOK_ARN_NAME") {
            continue;
        }
        let mut st = st.clone();
        st["Condition"]["ArnLike"] =
            json!({ "aws:PrincipalArn": "arn:aws:iam::*:role/nbwarden/*" });
        let lists = [
            "JOB_SUBNET_IDS",
            "JOB_SECURITY_GROUP_IDS",
            "JOB_KMS_KEY_ARNS",
        ]
        .iter()
        .filter(|p| text.contains(*p))
        .count();
        let cost = st.to_string().len() + lists * SCP_LIST_ALLOWANCE + 1;
        match chunks.last_mut() {
            Some((used, statements)) if *used + cost <= SCP_LIMIT => {
                *used += cost;
                statements.push(st);
            }
            _ => chunks.push((40 + cost, vec![st])),
        }
    }
    chunks
}

/// The guardrail's organisation-wide form: the same statements as service
/// control policies on the accounts or OUs named, applied to every role
/// under `/nbwarden/` (where the notebook stack puts them). An SCP cannot
/// name each notebook, so the owner is the role's own owner tag and the
/// statement that lets a role stop only its own notebook stays in the
/// per-notebook guardrail. Statements are packed into as many policies as
/// Organizations' size limit needs.
// Long: mostly template data: the SCP's statements as written.
pub fn guardrail_scp_template(owner_tag: &TagKey, governance: &GovernancePolicy) -> Result<String> {
    let principal_owner = format!("${{aws:PrincipalTag/{}}}", owner_tag.as_str());
    let fills = [
        ("ACCOUNT", Fill::Text("*")),
        ("JOB_SUBNET_IDS", Fill::List("JobSubnetIds")),
        ("JOB_SECURITY_GROUP_IDS", Fill::List("JobSecurityGroupIds")),
        ("JOB_KMS_KEY_ARNS", Fill::List("JobKmsKeyArns")),
        ("OWNER_TAG_KEY", Fill::Text(owner_tag.as_str())),
        ("NOTEBOOK_OWNER", Fill::Text(&principal_owner)),
        // An SCP names no one role: roles under /nbwarden/ pass only such
        // roles; passing another notebook's is refused by its own guardrail.
        (
            "NOTEBOOK_ROLE_ARN",
            Fill::Text("arn:aws:iam::*:role/nbwarden/*"),
        ),
    ];
    let mut guardrail = guardrail_statements(governance)?;
    if governance.owner_tag
        && let Some(statements) = guardrail["Statement"].as_array_mut()
    {
        // A role under /nbwarden/ without an owner tag would compare the
        // tags of what it creates and touches with nothing: it does nothing.
        statements.push(json!({
            "Sid": "DenyARoleWithoutAnOwner",
            "Effect": "Deny",
            "Action": ["sagemaker:*"],
            "Resource": "*",
            "Condition": { "Null": { "aws:PrincipalTag/OWNER_TAG_KEY": "true" } }
        }));
    }
    let chunks = scp_chunks(guardrail["Statement"].as_array().into_iter().flatten());
    let mut resources = serde_json::Map::new();
    for (i, (_, statements)) in chunks.iter().enumerate() {
        let content = json!({ "Version": "2012-10-17", "Statement": statements });
        resources.insert(
            format!("NbwardenNotebookGuardrail{}", i + 1),
            json!({
                "Type": "AWS::Organizations::Policy",
                "Properties": {
                    "Name": { "Fn::Sub": format!("nbwarden-notebook-guardrail-{}-${{AWS::StackName}}", i + 1) },
                    "Description": format!(
                        "nbwarden {}: what roles under /nbwarden/ create keeps the fleet's VPC, keys and owner ({} of {})",
                        crate::base::version::SHORT, i + 1, chunks.len()
                    ),
                    "Type": "SERVICE_CONTROL_POLICY",
                    "Content": policy_document(&content.to_string(), &fills)?,
                    "TargetIds": { "Ref": "TargetIds" },
                }
            }),
        );
    }
    let mut parameters = json!({
        "TargetIds": {
            "Type": "CommaDelimitedList",
            "Description": "The accounts (123456789012) or organizational units (ou-…) whose notebook roles the policies hold"
        },
        "JobSubnetIds": {
            "Type": "CommaDelimitedList",
            "Description": "The subnets jobs, models and endpoints of notebook roles may use"
        },
        "JobSecurityGroupIds": {
            "Type": "CommaDelimitedList",
            "Description": "The security groups they may use"
        },
        "JobKmsKeyArns": {
            "Type": "CommaDelimitedList",
            "Description": "The KMS key ARNs their volumes and outputs must use"
        }
    });
    if !governance.vpc {
        for p in ["JobSubnetIds", "JobSecurityGroupIds"] {
            parameters.as_object_mut().map(|m| m.remove(p));
        }
    }
    if !governance.kms {
        parameters
            .as_object_mut()
            .map(|m| m.remove("JobKmsKeyArns"));
    }
    let template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!("nbwarden {}: the notebook role guardrail as service control policies (deploy in the management account)", crate::base::version::SHORT),
        "Parameters": parameters,
        "Resources": resources,
    });
    yaml::to_yaml(&template)
}

/// The notebook role's statements that serve a feature a fleet may not
/// use, by Sid, and the parameter that turns them on: an empty parameter
/// drops them (`Fn::If` with `AWS::NoValue`) rather than granting
/// `parameter//*` or `key/`.
pub const OPTIONAL_STATEMENTS: &[(&str, &[&str])] = &[
    (
        "ParameterPath",
        &["ReadNotebookVariablesByName", "ReadNotebookVariablesByPath"],
    ),
    ("ParameterKeyArn", &["DecryptSecureStringVariables"]),
    (
        "CodeArtifactDomain",
        &["CodeArtifactTokenForPip", "CodeArtifactBearerToken"],
    ),
    (
        "ReportBucket",
        &[
            "WriteThisNotebooksFleetReports",
            "WriteThisNotebooksLatestRecord",
            "AppendToThisNotebooksHistory",
            "ListThisNotebooksFleetReports",
        ],
    ),
    ("ReportKeyArn", &["EncryptThisNotebooksFleetReports"]),
];

/// Wraps each optional statement of `policy` in its parameter's condition.
fn only_when_given(policy: &mut Value) {
    let Some(statements) = policy["Statement"].as_array_mut() else {
        return;
    };
    for statement in statements.iter_mut() {
        let sid = statement["Sid"].as_str().unwrap_or_default();
        if let Some((param, _)) = OPTIONAL_STATEMENTS
            .iter()
            .find(|(_, sids)| sids.contains(&sid))
        {
            *statement = json!({ "Fn::If": [
                format!("{param}Given"),
                statement.clone(),
                { "Ref": "AWS::NoValue" }
            ] });
        }
    }
}

/// One stack per notebook: the notebook, a role of its own whose policy
/// names that notebook only, its guardrail (`[governance]`), and its owner
/// and cost tags.
// Long: mostly template data: the notebook stack's resources as written.
pub fn notebook_template(
    owner_tag: &TagKey,
    cost_tag: &TagKey,
    governance: &GovernancePolicy,
) -> Result<String> {
    let text = |description: &str| json!({ "Type": "String", "Description": description });
    let optional =
        |description: &str| json!({ "Type": "String", "Default": "", "Description": description });
    let key_arn = |description: &str| {
        json!({
            "Type": "String",
            "Default": "",
            "AllowedPattern": "^(arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+)?$",
            "ConstraintDescription": "a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID): KMS authorizes a key by its ARN, never by an alias or a bare id",
            "Description": description
        })
    };
    // Jobs run in the notebook's own subnet and security groups unless the
    // stack names others.
    let job_subnets = json!({ "Fn::If": ["JobSubnetIdsGiven", { "Ref": "JobSubnetIds" }, [{ "Ref": "SubnetId" }]] });
    let job_groups = json!({ "Fn::If": ["JobSecurityGroupIdsGiven", { "Ref": "JobSecurityGroupIds" }, { "Ref": "SecurityGroupIds" }]});
    let mut fills = PSEUDO.to_vec();
    fills.extend([
        ("JOB_SUBNET_IDS", Fill::ListOf(&job_subnets)),
        ("JOB_SECURITY_GROUP_IDS", Fill::ListOf(&job_groups)),
        ("JOB_KMS_KEY_ARNS", Fill::List("JobKmsKeyArns")),
        ("OWNER_TAG_KEY", Fill::Text(owner_tag.as_str())),
        ("NOTEBOOK_OWNER", Fill::Param("Owner")),
        // The role's own ARN: the guardrail is a resource of its own, so
        // it can name the role it is put on.
        ("NOTEBOOK_ROLE_ARN", Fill::Param("NotebookRole.Arn")),
        ("NOTEBOOK_NAME", Fill::Param("NotebookName")),
        ("NOTEBOOK_ARN_NAME", Fill::Param("NotebookName")),
        ("BUNDLE_BUCKET", Fill::Param("BundleBucket")),
        ("BUNDLE_PREFIX", Fill::Param("BundlePrefix")),
        ("PARAMETER_PATH", Fill::Param("ParameterPath")),
        ("PARAMETER_KEY_ARN", Fill::Param("ParameterKeyArn")),
        ("CODEARTIFACT_DOMAIN", Fill::Param("CodeArtifactDomain")),
        ("REPORT_BUCKET", Fill::Param("ReportBucket")),
        ("REPORT_PREFIX", Fill::Param("ReportPrefix")),
        ("REPORT_KEY_ARN", Fill::Param("ReportKeyArn")),
    ]);
    let mut role_policy = policy_document(NOTEBOOK_ROLE_POLICY, &fills)?;
    only_when_given(&mut role_policy);
    let guardrail = policy_document(
        &serde_json::to_string(&guardrail_statements(governance)?)?,
        &fills,
    )?;
    let given = |list: &str| json!({ "Fn::Not": [{ "Fn::Equals": [{ "Fn::Join": ["", { "Ref": list }] }, ""] }] });
    let text_given = |name: &str| json!({ "Fn::Not": [{ "Fn::Equals": [{ "Ref": name }, ""] }] });
    let tags = json!([
        { "Key": owner_tag.as_str(), "Value": { "Ref": "Owner" } },
        { "Key": cost_tag.as_str(), "Value": { "Ref": "CostCenter" } },
    ]);
    let mut template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!("nbwarden {}: one notebook instance with a role of its own", crate::base::version::SHORT),
        "Parameters": {
            "NotebookName": {
                "Type": "String",
                "MinLength": 1,
                "MaxLength": 63,
                "AllowedPattern": "^[a-z0-9](-*[a-z0-9])*$",
                "ConstraintDescription": "lower-case letters, digits and hyphens: the role's policy names the notebook's ARN, which SageMaker writes in lower case",
                "Description": "The notebook instance's name"
            },
            "Owner": {
                "Type": "String",
                "MinLength": 1,
                "Description": "Who may open it: their IAM user name (the users' access policy compares the owner tag with it; the guardrail holds everything the notebook creates and touches to it)"
            },
            "CostCenter": text("The cost-attribution tag's value"),
            "InstanceType": { "Type": "String", "Default": "ml.t3.medium", "Description": "The notebook's instance type" },
            "SubnetId": { "Type": "AWS::EC2::Subnet::Id", "Description": "A private subnet of the VPC" },
            "SecurityGroupIds": { "Type": "List<AWS::EC2::SecurityGroup::Id>", "Description": "The notebook's security groups" },
            "VolumeKmsKeyId": text("The customer-managed KMS key of the ML volume (key id or ARN)"),
            "LifecycleConfigName": { "Type": "String", "Default": "nbwarden", "Description": "The fleet's lifecycle configuration (the shared template's output)" },
            "BundleBucket": text("The bucket of nbwarden's bundle"),
            "BundlePrefix": text("The bundle's prefix, without slashes at either end (nbwarden/0.1.0)"),
            "ParameterPath": optional("The SSM path of the notebook variables ([variables] from SSM), without slashes at either end; empty: none"),
            "ParameterKeyArn": key_arn("The ARN of the KMS key of the SecureString variables; empty: none"),
            "CodeArtifactDomain": optional("The CodeArtifact domain of the package mirror ([packages.codeartifact]); empty: none"),
            "ReportBucket": optional("The bucket of the fleet reports ([verify.report]); empty: no reports"),
            "ReportPrefix": { "Type": "String", "Default": "nbwarden", "Description": "The fleet reports' prefix, without slashes at either end ([verify.report] prefix)" },
            "ReportKeyArn": key_arn("The ARN of the KMS key of the fleet reports' bucket; empty: the bucket's own encryption"),
            "PlatformIdentifier": {
                "Type": "String",
                "Default": "notebook-al2023-v1",
                "AllowedValues": ["notebook-al2023-v1", "notebook-al2-v3", "notebook-al2-v2"],
                "Description": "The notebook's platform (Amazon Linux and JupyterLab version)"
            },
            "JobSubnetIds": {
                "Type": "CommaDelimitedList",
                "Default": "",
                "Description": "The subnets the notebook's jobs, models and endpoints may use (the guardrail); empty: the notebook's own subnet"
            },
            "JobSecurityGroupIds": {
                "Type": "CommaDelimitedList",
                "Default": "",
                "Description": "The security groups they may use; empty: the notebook's own"
            },
            "JobKmsKeyArns": {
                "Type": "CommaDelimitedList",
                "Description": "The KMS key ARNs their volumes and outputs must use (the guardrail; key ARNs, not aliases: SageMaker compares ARNs)"
            }
        },
        "Conditions": {
            "JobSubnetIdsGiven": given("JobSubnetIds"),
            "JobSecurityGroupIdsGiven": given("JobSecurityGroupIds"),
            "ParameterPathGiven": text_given("ParameterPath"),
            "ParameterKeyArnGiven": text_given("ParameterKeyArn"),
            "CodeArtifactDomainGiven": text_given("CodeArtifactDomain"),
            "ReportBucketGiven": text_given("ReportBucket"),
            "ReportKeyArnGiven": text_given("ReportKeyArn")
        },
        "Resources": {
            "NotebookRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "Description": { "Fn::Sub": "nbwarden: the role of notebook ${NotebookName} only" },
                    // The users' access policy denies passing any role under
                    // this path: nobody starts another notebook with it.
                    "Path": "/nbwarden/",
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Effect": "Allow",
                            "Principal": { "Service": "sagemaker.amazonaws.com" },
                            "Action": "sts:AssumeRole"
                        }]
                    },
                    "Policies": [
                        { "PolicyName": "nbwarden-notebook", "PolicyDocument": role_policy },
                    ],
                    "Tags": tags.clone(),
                }
            },
            // Inline on the role: the guardrail lives and dies with it, and
            // with every requirement on it is larger than a managed policy
            // may be (6,144 characters). A resource of its own, so that it
            // can name the role's ARN, and the notebook waits for it.
            "NotebookGuardrail": {
                "Type": "AWS::IAM::RolePolicy",
                "Properties": {
                    "PolicyName": GUARDRAIL_POLICY_NAME,
                    "RoleName": { "Ref": "NotebookRole" },
                    "PolicyDocument": guardrail,
                }
            },
            "Notebook": {
                "Type": "AWS::SageMaker::NotebookInstance",
                "DependsOn": "NotebookGuardrail",
                "Properties": {
                    "NotebookInstanceName": { "Ref": "NotebookName" },
                    "InstanceType": { "Ref": "InstanceType" },
                    "RoleArn": { "Fn::GetAtt": ["NotebookRole", "Arn"] },
                    "SubnetId": { "Ref": "SubnetId" },
                    "SecurityGroupIds": { "Ref": "SecurityGroupIds" },
                    "KmsKeyId": { "Ref": "VolumeKmsKeyId" },
                    "DirectInternetAccess": "Disabled",
                    "RootAccess": "Disabled",
                    // IMDSv1 answers any process on the instance without a
                    // token: the notebook user's code included.
                    "InstanceMetadataServiceConfiguration": { "MinimumInstanceMetadataServiceVersion": "2" },
                    "PlatformIdentifier": { "Ref": "PlatformIdentifier" },
                    "LifecycleConfigName": { "Ref": "LifecycleConfigName" },
                    "Tags": tags,
                }
            }
        },
        "Outputs": {
            "NotebookArn": { "Value": { "Ref": "Notebook" } },
            "RoleArn": { "Value": { "Fn::GetAtt": ["NotebookRole", "Arn"] } }
        }
    });
    // A requirement that is off leaves its parameters unused: they go.
    let unused: &[&str] = match (governance.vpc, governance.kms) {
        (true, true) => &[],
        (true, false) => &["JobKmsKeyArns"],
        (false, true) => &["JobSubnetIds", "JobSecurityGroupIds"],
        (false, false) => &["JobSubnetIds", "JobSecurityGroupIds", "JobKmsKeyArns"],
    };
    for name in unused {
        if let Some(p) = template["Parameters"].as_object_mut() {
            p.remove(*name);
        }
        if let Some(c) = template["Conditions"].as_object_mut() {
            c.remove(&format!("{name}Given"));
        }
    }
    yaml::to_yaml(&template)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fills() -> Vec<(&'static str, Fill<'static>)> {
        let mut f = PSEUDO.to_vec();
        f.push(("VPCE_ID", Fill::List("Endpoints")));
        f.push(("OWNER_TAG_KEY", Fill::Text("owner")));
        f.push(("COST_TAG_KEY", Fill::Text("cost-center")));
        f
    }

    /// Each optional statement is one the shipped policy has: a renamed Sid
    /// must not leave a statement granted without its parameter.
    #[test]
    fn every_optional_statement_is_in_the_shipped_policy() {
        let policy: Value = serde_json::from_str(NOTEBOOK_ROLE_POLICY).expect("policy");
        let sids: Vec<&str> = policy["Statement"]
            .as_array()
            .expect("statements")
            .iter()
            .filter_map(|st| st["Sid"].as_str())
            .collect();
        for (_, optional) in OPTIONAL_STATEMENTS {
            for sid in *optional {
                assert!(sids.contains(sid), "{sid}");
            }
        }
    }

    #[test]
    fn placeholders_become_parameters_and_iam_variables_stay_iams() {
        let doc = policy_document(USER_ACCESS_POLICY, &fills()).expect("document");
        let first = &doc["Statement"][0];
        assert_eq!(
            first["Resource"],
            json!([{ "Fn::Sub": "arn:aws:sagemaker:${AWS::Region}:${AWS::AccountId}:notebook-instance/*" }])
        );
        // The tag key is fixed; the IAM variable is left to IAM.
        assert_eq!(
            first["Condition"]["StringEquals"]["aws:ResourceTag/owner"],
            "${aws:username}"
        );
        assert_eq!(
            first["Condition"]["StringEquals"]["aws:SourceVpce"],
            json!({ "Ref": "Endpoints" })
        );
        assert_eq!(first["Sid"], "OpenOwnNotebookThroughTheEndpoints");
        assert_eq!(
            doc["Statement"][4]["Condition"]["ForAnyValue:StringEqualsIgnoreCase"]["aws:TagKeys"],
            json!(["owner", "cost-center"])
        );
        // Beside a parameter, a literal ${…} is escaped for Fn::Sub.
        assert_eq!(
            fill_value("REGION:${aws:username}", &fills()).expect("fill"),
            json!({ "Fn::Sub": "${AWS::Region}:${!aws:username}" })
        );
    }

    #[test]
    fn an_unknown_placeholder_or_a_parameter_in_a_key_is_refused() {
        let unknown = fill_value("arn:aws:s3:::MYSTERY_BUCKET/*", &fills());
        assert!(format!("{:#}", unknown.expect_err("unknown")).contains("MYSTERY_BUCKET"));
        assert!(fill_key("sagemaker:ResourceTag/REGION", &fills()).is_err());
        // The notebook role's policy has a fill for every placeholder.
        assert!(
            notebook_template(
                &"owner".parse().expect("key"),
                &"cost".parse().expect("key"),
                &GovernancePolicy::default(),
            )
            .is_ok()
        );
    }

    #[test]
    fn tag_keys_follow_sagemakers_rule_and_cannot_inject() {
        for good in ["owner", "cost-center", "team:owner", "a/b=c+d@e.f_g"] {
            assert!(good.parse::<TagKey>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "aws:owner",
            "AWS:x",
            "${x}",
            "o wner",
            "\"",
            &"k".repeat(129),
        ] {
            assert!(bad.parse::<TagKey>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_cloudformation_template_carries_the_scripts_verbatim() {
        let name: crate::lifecycle::LifecycleConfigName = "nb-prod".parse().expect("name");
        let odd = "#!/bin/bash\necho 'a: b' \"#c\" {x} | tee\n\n  indented\n";
        let key = |k: &str| k.parse::<TagKey>().expect("key");
        let yaml = lifecycle_template(&name, "#!/bin/bash\n", odd, &key("owner"), &key("cost"))
            .expect("yaml");
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).expect("valid YAML");
        let props = &doc["Resources"]["NbwardenLifecycleConfig"]["Properties"];
        assert_eq!(
            props["NotebookInstanceLifecycleConfigName"].as_str(),
            Some("nb-prod")
        );
        assert_eq!(
            props["OnStart"][0]["Content"]["Fn::Base64"].as_str(),
            Some(odd)
        );
        assert_eq!(
            props["OnCreate"][0]["Content"]["Fn::Base64"].as_str(),
            Some("#!/bin/bash\n")
        );
    }
}
