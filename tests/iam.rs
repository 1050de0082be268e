//! The shipped IAM policies, evaluated request by request with a real IAM
//! simulator (npm's @cloud-copilot/iam-simulate, as the templates deploy
//! them) beside the broad `sagemaker:*` grant teams give notebooks and
//! users: what a notebook launches keeps the fleet's VPC, keys and owner,
//! and nobody reaches another user's notebook.

#[macro_use]
mod common;

use std::collections::BTreeMap;

use common::iam::{Decisions, actions_of, case, deployed, notebook_stack, simulate};
use common::notebook::assert_cfn_lint_clean;
use common::*;
use serde_json::{Value, json};

const ACCOUNT: &str = "123456789012";
const KEY: &str = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const OTHER_KEY: &str =
    "arn:aws:kms:eu-west-1:123456789012:key/0987dcba-09fe-87dc-65ba-ab0987654321";
const ROLE: &str = "arn:aws:iam::123456789012:role/nbwarden/team-a";

/// What a team grants a notebook role or its users beside ours.
fn broad_grant() -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sagemaker:*", "Resource": "*"}
    ]})
}

/// The notebook role's two inline policies of `lifecycle notebook-stack`
/// under `governance` (a `[governance]` body), by name, as CloudFormation
/// deploys them for notebook `team-a` of `ana`: jobs in subnet-a or
/// subnet-b, the notebook's own security group, and KEY.
fn deployed_role(governance: &str) -> BTreeMap<String, Value> {
    let dir = tempfile::tempdir().expect("tmp");
    let out = notebook_stack(dir.path(), governance);
    assert_eq!(code(&out), 0, "{}", output_text(&out));
    let template: Value = serde_yaml_ng::from_slice(&out.stdout).expect("YAML");
    let params: BTreeMap<&str, Value> = [
        ("AWS::Region", json!("eu-west-1")),
        ("AWS::AccountId", json!(ACCOUNT)),
        ("NotebookName", json!("team-a")),
        ("Owner", json!("ana")),
        ("SubnetId", json!("subnet-nb")),
        ("SecurityGroupIds", json!(["sg-nb"])),
        ("JobSubnetIds", json!(["subnet-a", "subnet-b"])),
        ("JobSecurityGroupIds", json!([""])),
        ("JobKmsKeyArns", json!([KEY])),
        ("BundleBucket", json!("platform-bundles")),
        ("BundlePrefix", json!("nbwarden/0.1.0")),
        ("ParameterPath", json!("notebooks/team-a")),
        (
            "ParameterKeyArn",
            json!("arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
        ),
        ("CodeArtifactDomain", json!("platform")),
        ("ReportBucket", json!("platform-reports")),
        ("ReportPrefix", json!("reports")),
        (
            "ReportKeyArn",
            json!("arn:aws:kms:eu-west-1:123456789012:key/0987dcba-09fe-87dc-65ba-ab0987654321"),
        ),
        ("NotebookRole.Arn", json!(ROLE)),
    ]
    .into();
    let conditions: BTreeMap<&str, bool> = [
        ("JobSubnetIdsGiven", true),
        ("JobSecurityGroupIdsGiven", false),
        ("ParameterPathGiven", true),
        ("ParameterKeyArnGiven", true),
        ("CodeArtifactDomainGiven", true),
        ("ReportBucketGiven", true),
        ("ReportKeyArnGiven", true),
    ]
    .into();
    let resources = &template["Resources"];
    let guardrail = &resources["NotebookGuardrail"]["Properties"];
    assert_eq!(guardrail["RoleName"], json!({ "Ref": "NotebookRole" }));
    resources["NotebookRole"]["Properties"]["Policies"]
        .as_array()
        .expect("policies")
        .iter()
        .chain([guardrail])
        .map(|p| {
            (
                p["PolicyName"].as_str().expect("name").to_string(),
                deployed(&p["PolicyDocument"], &params, &conditions),
            )
        })
        .collect()
}

/// The guardrail on that role.
fn deployed_guardrail(governance: &str) -> Value {
    deployed_role(governance)
        .remove("nbwarden-guardrail")
        .expect("the guardrail is on the notebook's role")
}

/// A governance key: its value in a governed request, and a value that
/// breaks the rule.
fn governed(key: &str) -> Option<(Value, Value)> {
    Some(match key {
        "sagemaker:VpcSubnets" => (
            json!(["subnet-a", "subnet-b"]),
            json!(["subnet-a", "subnet-public"]),
        ),
        "sagemaker:VpcSecurityGroupIds" => (json!(["sg-nb"]), json!(["sg-nb", "sg-open"])),
        "sagemaker:VolumeKmsKeyArn" | "sagemaker:OutputKmsKeyArn" => (json!(KEY), json!(OTHER_KEY)),
        "sagemaker:InterContainerTrafficEncryption" | "sagemaker:NetworkIsolation" => {
            (json!("true"), json!("false"))
        }
        "aws:RequestTag/${TagKey}" => (json!("ana"), json!("mallory")),
        _ => return None,
    })
}

/// The context of a governed request for an action taking `keys`.
fn governed_context(keys: &[String]) -> serde_json::Map<String, Value> {
    let mut context = serde_json::Map::new();
    for key in keys {
        if let Some((good, _)) = governed(key) {
            context.insert(context_key(key), good);
        }
    }
    if keys.iter().any(|k| k == "aws:RequestTag/${TagKey}") {
        context.insert("aws:TagKeys".into(), json!(["owner"]));
    }
    context
}

fn context_key(key: &str) -> String {
    key.replace("${TagKey}", "owner")
}

/// What a notebook role never does, whatever it names: notebooks, Studio
/// and presigned URLs (the red team reached another user's Studio space
/// through `StartSession`).
const OUTRIGHT: &[&str] = &[
    "CreateNotebookInstance",
    "CreatePresignedNotebookInstanceUrl",
    "CreatePresignedDomainUrl",
    "CreatePresignedMlflowTrackingServerUrl",
    "CreatePresignedMlflowAppUrl",
    "CreatePartnerAppPresignedUrl",
    "CreateNotebookInstanceLifecycleConfig",
    "UpdateNotebookInstanceLifecycleConfig",
    "DeleteNotebookInstanceLifecycleConfig",
    "CreateDomain",
    "UpdateDomain",
    "DeleteDomain",
    "CreateUserProfile",
    "UpdateUserProfile",
    "DeleteUserProfile",
    "CreateSpace",
    "UpdateSpace",
    "DeleteSpace",
    "CreateApp",
    "DeleteApp",
    "StartSession",
    "CreateStudioLifecycleConfig",
    "DeleteStudioLifecycleConfig",
    // Resource policies share what they cover with other accounts.
    "PutLineageGroupPolicy",
    "PutModelPackageGroupPolicy",
    "PutResourcePolicy",
];

/// What starts code no condition key can hold to the VPC or the keys:
/// refused unless `[governance] allow_ungoverned` names it (the red team
/// ran containers of its choosing through each).
const UNGOVERNED: &[&str] = &[
    "BatchAddClusterNodes",
    "CreateAlgorithm",
    "CreateCluster",
    "CreateModelPackage",
    "UpdateCluster",
    "UpdateClusterSoftware",
    "CreateAIBenchmarkJob",
    "CreateAIRecommendationJob",
    "CreateCompilationJob",
    "CreateEdgePackagingJob",
    "CreateInferenceComponent",
    "CreateInferenceRecommendationsJob",
    "CreateOptimizationJob",
    "CreatePipeline",
    "RetryPipelineExecution",
    "StartPipelineExecution",
    "TrainHubModel",
    "UpdateInferenceComponent",
    "UpdatePipeline",
];

/// An update that replaces the whole configuration (the SDK copies the
/// old settings into it): what it leaves out is gone, as in a create.
fn replaces(name: &str) -> bool {
    name.starts_with("Create") || name == "UpdateMonitoringSchedule"
}

/// Every action the guardrail judges by its request: a create or update
/// taking one of the keys, or a create taking request tags (the owner).
fn governed_actions() -> BTreeMap<String, common::iam::Action> {
    actions_of("sagemaker")
        .into_iter()
        .filter(|(name, a)| {
            (name.starts_with("Create") || name.starts_with("Update"))
                && !OUTRIGHT.contains(&name.as_str())
                && !UNGOVERNED.contains(&name.as_str())
                && a.keys.iter().any(|k| {
                    (k.starts_with("sagemaker:") && governed(k).is_some())
                        || (name.starts_with("Create") && k == "aws:RequestTag/${TagKey}")
                })
        })
        .collect()
}

system_test! {
    "system tier: needs the loopback services (scripts/test)";
    /// With every requirement on, every job, model and endpoint a notebook
    /// can create is allowed with the fleet's subnets, security groups, key,
    /// encryption, isolation and owner, and denied without any one of them or
    /// with another value, although a broad `sagemaker:*` grant sits beside
    /// the guardrail. An update that leaves a setting out keeps it (allowed),
    /// except one that replaces the whole configuration
    /// (`UpdateMonitoringSchedule`, the red team's way out of the VPC); one
    /// that changes it is denied. Everything created carries the owner. Which actions take which key comes from
    /// the simulator's own copy of the service authorization reference, so
    /// an action the guardrail forgot fails here.
    fn the_guardrail_holds_every_job_to_the_fleets_vpc_keys_and_owner_beside_a_broad_grant() {
        let guardrail = deployed_guardrail("network_isolation = true\n");
        let grant = broad_grant();
        let mut judged = Decisions::default();
        let actions = governed_actions();
        assert!(actions.contains_key("CreateTrainingJob") && actions.contains_key("CreateModel"));
        for (name, action) in &actions {
            let action_name = format!("sagemaker:{name}");
            let mut context = governed_context(&action.keys);
            if !name.starts_with("Create") {
                // Its own resource: an update of another owner's is refused
                // whatever it says.
                context.insert("aws:ResourceTag/owner".into(), json!("ana"));
            }
            let request = |context: serde_json::Map<String, Value>| {
                case(
                    &[&grant, &guardrail],
                    ROLE,
                    &action_name,
                    &action.resource,
                    Value::Object(context),
                )
            };
            judged.expect(
                format!("{name}, governed"),
                request(context.clone()),
                "Allowed",
            );
            // Tags are set at creation (and retagging is AddTags): an update's
            // request tags are not the guardrail's concern.
            let held = |k: &&String| {
                governed(k).is_some()
                    && !(name.starts_with("Update") && k.starts_with("aws:RequestTag/"))
            };
            for key in action.keys.iter().filter(held) {
                let k = context_key(key);
                let mut without = context.clone();
                without.remove(&k);
                if key.starts_with("aws:RequestTag/") {
                    without.insert("aws:TagKeys".into(), json!([]));
                }
                let want = if replaces(name) {
                    "ExplicitlyDenied"
                } else {
                    "Allowed"
                };
                judged.expect(format!("{name} without {k}"), request(without), want);
                let mut other = context.clone();
                other.insert(k.clone(), governed(key).expect("governed").1);
                judged.expect(
                    format!("{name} with another {k}"),
                    request(other),
                    "ExplicitlyDenied",
                );
            }
        }
        judged.assert_all();
    }
}

system_test! {
    "system tier: needs the loopback services (scripts/test)";
    /// `[governance]` decides what is rendered: with the VPC and network
    /// isolation off, a job outside any VPC and without isolation is allowed,
    /// while the keys and the owner still hold.
    fn governance_turns_each_requirement_on_and_off() {
        let guardrail = deployed_guardrail("vpc = false\n");
        let grant = broad_grant();
        let training = "arn:aws:sagemaker:eu-west-1:123456789012:training-job/j";
        let job = |context: Value| {
            case(
                &[&grant, &guardrail],
                ROLE,
                "sagemaker:CreateTrainingJob",
                training,
                context,
            )
        };
        let keys = json!({
            "sagemaker:VolumeKmsKeyArn": KEY, "sagemaker:OutputKmsKeyArn": KEY,
            "sagemaker:InterContainerTrafficEncryption": "true",
            "aws:RequestTag/owner": "ana", "aws:TagKeys": ["owner"],
        });
        let mut no_key = keys.clone();
        no_key
            .as_object_mut()
            .expect("object")
            .remove("sagemaker:OutputKmsKeyArn");
        let mut no_encryption = keys.clone();
        no_encryption["sagemaker:InterContainerTrafficEncryption"] = json!("false");
        assert_eq!(
            simulate(&[job(keys), job(no_key), job(no_encryption)]),
            ["Allowed", "ExplicitlyDenied", "ExplicitlyDenied"]
        );
    }
}

system_test! {
    "system tier: needs the loopback services (scripts/test)";
    /// Notebooks, Studio and presigned URLs are refused outright, and so is
    /// what no condition key governs, even with every governed setting in the
    /// request; `[governance] allow_ungoverned` lets exactly the actions it
    /// names through.
    fn what_no_key_governs_is_refused_unless_the_fleet_allows_it() {
        let grant = broad_grant();
        let reference = actions_of("sagemaker");
        let decisions = |guardrail: &Value| -> BTreeMap<&str, String> {
            let names: Vec<&str> = OUTRIGHT.iter().chain(UNGOVERNED).copied().collect();
            let cases: Vec<Value> = names
                .iter()
                .map(|name| {
                    let action = &reference[*name];
                    let mut context = governed_context(&action.keys);
                    if !name.starts_with("Create") {
                        // Its own: the owner rule is not what is judged here.
                        context.insert("aws:ResourceTag/owner".into(), json!("ana"));
                    }
                    let context = Value::Object(context);
                    case(
                        &[&grant, guardrail],
                        ROLE,
                        &format!("sagemaker:{name}"),
                        &action.resource,
                        context,
                    )
                })
                .collect();
            names.into_iter().zip(simulate(&cases)).collect()
        };
        let strict = decisions(&deployed_guardrail(""));
        let allowed: Vec<_> = strict
            .iter()
            .filter(|(_, r)| *r != "ExplicitlyDenied")
            .collect();
        assert!(allowed.is_empty(), "{allowed:?}");
        let pipelines = decisions(&deployed_guardrail(
            "allow_ungoverned = [\"StartPipelineExecution\", \"CreatePipeline\"]\n",
        ));
        let allowed: Vec<&str> = pipelines
            .iter()
            .filter(|(_, r)| *r == "Allowed")
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(allowed, ["CreatePipeline", "StartPipelineExecution"]);
    }
}

system_test! {
    "system tier: needs the loopback services (scripts/test)";
    /// The notebook role opens, creates, starts, changes, deletes or retags
    /// no notebook, its own included, and stops only its own (the idle
    /// auto-stop), whatever grant sits beside the guardrail.
    fn a_notebook_role_stops_its_own_notebook_and_touches_no_other() {
        let guardrail = deployed_guardrail("");
        let grant = broad_grant();
        let arn =
            |kind: &str, name: &str| format!("arn:aws:sagemaker:eu-west-1:123456789012:{kind}/{name}");
        let (own, other) = (
            arn("notebook-instance", "team-a"),
            arn("notebook-instance", "team-b"),
        );
        let (ours, theirs) = (arn("endpoint", "ana-ep"), arn("endpoint", "bob-ep"));
        let lifecycle = arn("notebook-instance-lifecycle-config", "nbwarden");
        let profile = arn("user-profile", "d-1/u");
        let job = arn("training-job", "bob-train");
        let schedule = arn("monitoring-schedule", "bob-m");
        let features = arn("feature-group", "bob-features");
        let cluster = arn("cluster", "bob-hp");
        // Whose each resource is: its owner tag.
        let rows: Vec<(&str, &str, Option<&str>, &str)> = vec![
            ("StopNotebookInstance", &own, Some("ana"), "Allowed"),
            (
                "StopNotebookInstance",
                &other,
                Some("bob"),
                "ExplicitlyDenied",
            ),
            (
                "StopNotebookInstance",
                &other,
                Some("ana"),
                "ExplicitlyDenied",
            ),
            (
                "CreatePresignedNotebookInstanceUrl",
                &own,
                Some("ana"),
                "ExplicitlyDenied",
            ),
            (
                "CreatePresignedNotebookInstanceUrl",
                &other,
                Some("bob"),
                "ExplicitlyDenied",
            ),
            ("CreateNotebookInstance", &other, None, "ExplicitlyDenied"),
            (
                "UpdateNotebookInstance",
                &own,
                Some("ana"),
                "ExplicitlyDenied",
            ),
            (
                "StartNotebookInstance",
                &other,
                Some("bob"),
                "ExplicitlyDenied",
            ),
            (
                "DeleteNotebookInstance",
                &other,
                Some("bob"),
                "ExplicitlyDenied",
            ),
            ("AddTags", &own, Some("ana"), "ExplicitlyDenied"),
            ("DeleteTags", &other, Some("bob"), "ExplicitlyDenied"),
            (
                "UpdateNotebookInstanceLifecycleConfig",
                &lifecycle,
                None,
                "ExplicitlyDenied",
            ),
            (
                "CreatePresignedDomainUrl",
                &profile,
                None,
                "ExplicitlyDenied",
            ),
            // Another team's endpoint and jobs (round two: repointing bob's
            // endpoint sent his traffic to ana's container).
            ("UpdateEndpoint", &ours, Some("ana"), "Allowed"),
            ("UpdateEndpoint", &theirs, Some("bob"), "ExplicitlyDenied"),
            (
                "UpdateEndpointWeightsAndCapacities",
                &theirs,
                Some("bob"),
                "ExplicitlyDenied",
            ),
            ("DeleteEndpoint", &theirs, None, "ExplicitlyDenied"),
            ("StopTrainingJob", &job, Some("bob"), "ExplicitlyDenied"),
            ("StopTrainingJob", &job, Some("ana"), "Allowed"),
            // Round three: other writes on another's resources, its data.
            ("InvokeEndpoint", &theirs, Some("bob"), "ExplicitlyDenied"),
            ("InvokeEndpoint", &ours, Some("ana"), "Allowed"),
            (
                "StartMonitoringSchedule",
                &schedule,
                Some("bob"),
                "ExplicitlyDenied",
            ),
            ("PutRecord", &features, Some("bob"), "ExplicitlyDenied"),
            ("GetRecord", &features, Some("bob"), "ExplicitlyDenied"),
            (
                "BatchDeleteClusterNodes",
                &cluster,
                Some("bob"),
                "ExplicitlyDenied",
            ),
        ];
        let mut judged = Decisions::default();
        for (action, resource, owner, want) in &rows {
            let context = owner.map_or(json!({}), |o| json!({ "aws:ResourceTag/owner": o }));
            let request = case(
                &[&grant, &guardrail],
                ROLE,
                &format!("sagemaker:{action}"),
                resource,
                context,
            );
            judged.expect(
                format!("{action} on {resource} of {owner:?}"),
                request,
                want,
            );
        }
        // Round three took another's resource by tagging it its own: a tag
        // change on another's or an untagged resource, or of the owner tag in
        // any case, is refused; other tags on its own, and tags set while
        // creating (`sagemaker:TaggingAction`), are not.
        let training = arn("training-job", "ana-new");
        for (resource, owner, keys, creating, want) in [
            (
                &theirs,
                Some("bob"),
                vec!["owner"],
                None,
                "ExplicitlyDenied",
            ),
            (
                &theirs,
                Some("bob"),
                vec!["project"],
                None,
                "ExplicitlyDenied",
            ),
            (
                &arn("endpoint", "nobodys"),
                None,
                vec!["owner"],
                None,
                "ExplicitlyDenied",
            ),
            (&ours, Some("ana"), vec!["Owner"], None, "ExplicitlyDenied"),
            (&ours, Some("ana"), vec!["project"], None, "Allowed"),
            (
                &training,
                None,
                vec!["owner"],
                Some("CreateTrainingJob"),
                "Allowed",
            ),
        ] {
            let mut context = json!({ "aws:TagKeys": keys, "aws:RequestTag/owner": "ana" });
            if let Some(o) = owner {
                context["aws:ResourceTag/owner"] = json!(o);
            }
            if let Some(action) = creating {
                context["sagemaker:TaggingAction"] = json!(action);
            }
            let request = case(
                &[&grant, &guardrail],
                ROLE,
                "sagemaker:AddTags",
                resource,
                context,
            );
            judged.expect(
                format!("AddTags {keys:?} on {resource} of {owner:?}"),
                request,
                want,
            );
        }
        // It passes its own role to what it starts, and no other (round two:
        // a job run as another role escaped the guardrail).
        let pass_grant = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}
        ]});
        for (role, want) in [
            (ROLE, "Allowed"),
            (
                "arn:aws:iam::123456789012:role/nbwarden/team-b",
                "ExplicitlyDenied",
            ),
            (
                "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole",
                "ExplicitlyDenied",
            ),
        ] {
            let request = case(
                &[&pass_grant, &guardrail],
                ROLE,
                "iam:PassRole",
                role,
                json!({"iam:PassedToService": "sagemaker.amazonaws.com"}),
            );
            judged.expect(format!("iam:PassRole of {role}"), request, want);
        }
        judged.assert_all();
    }
}

system_test! {
    "system tier: needs the loopback services (scripts/test)";
    /// The users' access policy, beside a broad `sagemaker:*` grant: a user
    /// opens, starts, stops, deletes and retags their own notebook, never
    /// another owner's or an untagged one.
    fn the_users_policy_keeps_each_user_off_other_users_notebooks() {
        let text = std::fs::read_to_string(repo().join("packaging/iam-user-access-policy.json"))
            .expect("policy");
        let filled = text
            .replace("OWNER_TAG_KEY", "owner")
            .replace("COST_TAG_KEY", "cost-center")
            .replace("VPCE_ID", "vpce-0a1b2c3d4e5f67890")
            .replace("ACCOUNT", ACCOUNT)
            .replace("REGION", "eu-west-1");
        let access: Value = serde_json::from_str(&filled).expect("JSON");
        let grant = broad_grant();
        let user = "arn:aws:iam::123456789012:user/ana";
        let notebook = "arn:aws:sagemaker:eu-west-1:123456789012:notebook-instance/nb";
        let mut judged = Decisions::default();
        for action in [
            "StartNotebookInstance",
            "StopNotebookInstance",
            "DeleteNotebookInstance",
            "AddTags",
            "DeleteTags",
            "CreatePresignedNotebookInstanceUrl",
        ] {
            for (whose, tag, want) in [
                ("own", Some("ana"), "Allowed"),
                ("another owner's", Some("bob"), "ExplicitlyDenied"),
                ("untagged", None, "ExplicitlyDenied"),
            ] {
                let mut context = json!({
                    "aws:username": "ana",
                    "aws:SourceVpce": "vpce-0a1b2c3d4e5f67890",
                });
                if let Some(owner) = tag {
                    context["aws:ResourceTag/owner"] = json!(owner);
                }
                if action.ends_with("Tags") {
                    context["aws:TagKeys"] = json!(["project"]);
                }
                let request = case(
                    &[&grant, &access],
                    user,
                    &format!("sagemaker:{action}"),
                    notebook,
                    context,
                );
                judged.expect(format!("{action} on {whose}"), request, want);
            }
        }
        judged.assert_all();
    }
}

system_test! {
    "system tier: needs the loopback services (scripts/test)";
    /// The organisation-wide form: the SCP template passes cfn-lint, each
    /// policy fits Organizations' 5,120 characters with six subnets, six
    /// security groups and three keys, and, evaluated as SCPs beside a full
    /// grant, they hold every role under /nbwarden/ (its owner from the role's
    /// own tag) while a pipeline's role elsewhere is left alone.
    fn the_guardrail_as_scps_holds_every_notebook_role_and_fits_organizations() {
        let out = nbwarden(&["lifecycle", "guardrail-scp"]);
        assert_eq!(code(&out), 0, "{}", output_text(&out));
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("scp.yaml");
        std::fs::write(&path, &out.stdout).expect("write");
        assert_cfn_lint_clean(&path);
        let template: Value = serde_yaml_ng::from_slice(&out.stdout).expect("YAML");
        let many = |prefix: &str, n: usize| -> Value {
            json!(
                (0..n)
                    .map(|i| format!("{prefix}-0a1b2c3d4e5f6789{i}"))
                    .collect::<Vec<_>>()
            )
        };
        let wide: BTreeMap<&str, Value> = [
            ("AWS::StackName", json!("guardrail")),
            ("JobSubnetIds", many("subnet", 6)),
            ("JobSecurityGroupIds", many("sg", 6)),
            (
                "JobKmsKeyArns",
                json!([KEY, OTHER_KEY, KEY.replace("1234abcd", "5678abcd")]),
            ),
        ]
        .into();
        let contents = |params: &BTreeMap<&str, Value>| -> Vec<Value> {
            template["Resources"]
                .as_object()
                .expect("resources")
                .values()
                .map(|r| {
                    assert_eq!(r["Type"], "AWS::Organizations::Policy");
                    assert_eq!(r["Properties"]["Type"], "SERVICE_CONTROL_POLICY");
                    deployed(&r["Properties"]["Content"], params, &BTreeMap::new())
                })
                .collect()
        };
        for scp in contents(&wide) {
            let size = scp.to_string().len();
            assert!(size <= 5_120, "{size} characters: {scp}");
        }
        let fleet: BTreeMap<&str, Value> = [
            ("AWS::StackName", json!("guardrail")),
            ("JobSubnetIds", json!(["subnet-a", "subnet-b"])),
            ("JobSecurityGroupIds", json!(["sg-nb"])),
            ("JobKmsKeyArns", json!([KEY])),
        ]
        .into();
        let scps: Vec<Value> = contents(&fleet)
            .into_iter()
            .enumerate()
            .map(|(i, policy)| json!({ "name": format!("guardrail{i}"), "policy": policy }))
            .collect();
        let full = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
        let job = |principal: &str, vpc: bool, owner: &str| {
            let mut context = json!({
                "sagemaker:VolumeKmsKeyArn": KEY, "sagemaker:OutputKmsKeyArn": KEY,
                "sagemaker:InterContainerTrafficEncryption": "true",
                "aws:RequestTag/owner": owner, "aws:TagKeys": ["owner"],
                "aws:PrincipalTag/owner": "ana",
            });
            if vpc {
                context["sagemaker:VpcSubnets"] = json!(["subnet-a"]);
                context["sagemaker:VpcSecurityGroupIds"] = json!(["sg-nb"]);
            }
            let mut c = case(
                &[&full],
                principal,
                "sagemaker:CreateTrainingJob",
                "arn:aws:sagemaker:eu-west-1:123456789012:training-job/j",
                context,
            );
            c["scp"] = json!(scps);
            c
        };
        let pipeline = "arn:aws:iam::123456789012:role/pipelines";
        let mut open_url = case(
            &[&full],
            ROLE,
            "sagemaker:CreatePresignedNotebookInstanceUrl",
            "arn:aws:sagemaker:eu-west-1:123456789012:notebook-instance/team-b",
            json!({}),
        );
        open_url["scp"] = json!(scps);
        // A role under /nbwarden/ made without an owner tag creates nothing
        // (the red team's: its request tag was compared with nothing).
        let mut untagged_role = job(ROLE, true, "mallory");
        untagged_role["context"]
            .as_object_mut()
            .expect("context")
            .remove("aws:PrincipalTag/owner");
        // Nor changes anything of another's (round three: its owner variable
        // resolved to nothing, so no deny applied).
        let mut untagged_update = case(
            &[&full],
            ROLE,
            "sagemaker:UpdateEndpoint",
            "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/bob-ep",
            json!({"aws:ResourceTag/owner": "bob"}),
        );
        untagged_update["scp"] = json!(scps);
        assert_eq!(
            simulate(&[
                job(ROLE, true, "ana"),
                job(ROLE, false, "ana"),
                job(ROLE, true, "mallory"),
                job(pipeline, false, "mallory"),
                open_url,
                untagged_role,
                untagged_update,
            ]),
            [
                "Allowed",
                "ExplicitlyDenied",
                "ExplicitlyDenied",
                "Allowed",
                "ExplicitlyDenied",
                "ExplicitlyDenied",
                "ExplicitlyDenied"
            ]
        );
    }
}

system_test! {
    "system tier: needs the loopback services (scripts/test)";
    /// The notebook role's own policy, as the stack deploys it: this notebook,
    /// its variables, its report prefix and its keys through their services,
    /// nothing of another notebook's.
    fn the_notebook_role_reaches_its_own_notebook_variables_and_reports_only() {
        let role = deployed_role("");
        let own = &role["nbwarden-notebook"];
        let guardrail = &role["nbwarden-guardrail"];
        let nb =
            |name: &str| format!("arn:aws:sagemaker:eu-west-1:123456789012:notebook-instance/{name}");
        let param = |name: &str| format!("arn:aws:ssm:eu-west-1:123456789012:parameter/{name}");
        let report = |name: &str| {
            format!("arn:aws:s3:::platform-reports/reports/123456789012/eu-west-1/{name}/latest.json")
        };
        let record = |folder: &str, rest: &str| {
            format!("arn:aws:s3:::platform-reports/reports/{folder}123456789012/eu-west-1/{rest}")
        };
        let day = "dt=2026-12-06";
        let history = format!("history/{day}/");
        let once = json!({ "s3:if-none-match": "*" });
        let key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let via =
            |service: &str| json!({ "kms:ViaService": format!("{service}.eu-west-1.amazonaws.com") });
        let table: Vec<(&str, String, Value, &str)> = vec![
            (
                "sagemaker:DescribeNotebookInstance",
                nb("team-a"),
                json!({}),
                "Allowed",
            ),
            (
                "sagemaker:DescribeNotebookInstance",
                nb("team-b"),
                json!({}),
                "ImplicitlyDenied",
            ),
            (
                "sagemaker:StopNotebookInstance",
                nb("team-a"),
                json!({"aws:ResourceTag/owner": "ana"}),
                "Allowed",
            ),
            (
                "sagemaker:StopNotebookInstance",
                nb("team-b"),
                json!({}),
                "ExplicitlyDenied",
            ),
            (
                "ssm:GetParameter",
                param("notebooks/team-a/vpc"),
                json!({}),
                "Allowed",
            ),
            (
                "ssm:GetParameter",
                param("notebooks/team-b/vpc"),
                json!({}),
                "ImplicitlyDenied",
            ),
            (
                "ssm:GetParametersByPath",
                param("notebooks/team-a"),
                json!({}),
                "Allowed",
            ),
            ("kms:Decrypt", key.to_string(), via("ssm"), "Allowed"),
            (
                "kms:Decrypt",
                key.to_string(),
                via("lambda"),
                "ImplicitlyDenied",
            ),
            ("s3:PutObject", report("team-a"), json!({}), "Allowed"),
            (
                "s3:PutObject",
                report("team-b"),
                json!({}),
                "ImplicitlyDenied",
            ),
            // Athena's records: its own latest record, replaced each run;
            // its history only where no object is yet (If-None-Match: *),
            // so no earlier run is ever rewritten.
            ("s3:PutObject", record("latest/", "team-a.json"), json!({}), "Allowed"),
            ("s3:PutObject", record("latest/", "team-b.json"), json!({}), "ImplicitlyDenied"),
            ("s3:PutObject", record(&history, "team-a/r.json"), once.clone(), "Allowed"),
            ("s3:PutObject", record(&history, "team-a/r.json"), json!({}), "ImplicitlyDenied"),
            ("s3:PutObject", record(&history, "team-b/r.json"), once.clone(), "ImplicitlyDenied"),
            // Only .json (Athena decompresses a .gz by its name, and a
            // record that is not one would fail the query), and no
            // customer-provided key (Athena could not read it).
            ("s3:PutObject", record(&history, "team-a/r.gz"), once.clone(), "ImplicitlyDenied"),
            (
                "s3:PutObject",
                record(&history, "team-a/r.json"),
                json!({
                    "s3:if-none-match": "*",
                    "s3:x-amz-server-side-encryption-customer-algorithm": "AES256"
                }),
                "ImplicitlyDenied",
            ),
            // The day is `dt=????-??-??`, one character each: a `*` there
            // would span `/`, and team-a could write inside team-b's
            // folder (and into any day's partition, any number of times).
            (
                "s3:PutObject",
                record(&history, "team-b/x/123456789012/eu-west-1/team-a/r.json"),
                once.clone(),
                "ImplicitlyDenied",
            ),
            (
                "s3:PutObject",
                "arn:aws:s3:::platform-reports/reports/history/x/123456789012/eu-west-1/team-a/r.json".to_string(),
                once.clone(),
                "ImplicitlyDenied",
            ),
            // Its own folder's trailing `*` still spans `/`: team-a may
            // write a key there that ends like team-b's. The queries
            // take a record only at exactly its own depth (tests/fleet.rs
            // plants one).
            (
                "s3:PutObject",
                record(&history, &format!("team-a/history/{day}/123456789012/eu-west-1/team-b/r.json")),
                once.clone(),
                "Allowed",
            ),
            // Security Hub stays the administrator's: a notebook that could
            // import or update findings could write or archive any
            // resource's, its own failing ones first.
            (
                "securityhub:BatchImportFindings",
                "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default".into(),
                json!({}),
                "ImplicitlyDenied",
            ),
            (
                "securityhub:BatchUpdateFindings",
                "arn:aws:securityhub:eu-west-1:123456789012:hub/default".into(),
                json!({}),
                "ImplicitlyDenied",
            ),
        ];
        // A KMS key answers to its key policy too: the default one, which
        // leaves the account's IAM policies to decide.
        let key_policy = json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "kms:*", "Resource": "*"
        }]});
        let mut judged = Decisions::default();
        for (action, resource, context, want) in &table {
            let mut request = case(&[own, guardrail], ROLE, action, resource, context.clone());
            if action.starts_with("kms:") {
                request["resource_policy"] = key_policy.clone();
            }
            judged.expect(format!("{action} {resource}"), request, want);
        }
        judged.assert_all();
    }
}

system_test! {
    "system tier: needs the loopback services (scripts/test)";
    /// The reader role's trust, as shipped: the administrator's role that
    /// runs the fleet view may assume it from its own account; no other
    /// role of that account (a notebook's), and no other account, may.
    fn only_the_fleet_views_role_may_assume_the_reader_role() {
        let text =
            std::fs::read_to_string(repo().join("packaging/iam-fleet-reader-trust-policy.json"))
                .expect("policy");
        let trust: Value = serde_json::from_str(
            &text
                .replace("ADMIN_ACCOUNT", ACCOUNT)
                .replace("ADMIN_ROLE", "nbwarden-fleet-admin"),
        )
        .expect("JSON");
        // The caller's own side: its identity may assume any reader role.
        let caller = json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRole",
            "Resource": "arn:aws:iam::*:role/nbwarden-fleet-reader"
        }]});
        let member = "444455556666";
        let reader = format!("arn:aws:iam::{member}:role/nbwarden-fleet-reader");
        let mut judged = Decisions::default();
        for (principal, want) in [
            ("arn:aws:iam::123456789012:role/nbwarden-fleet-admin", "Allowed"),
            ("arn:aws:iam::123456789012:role/nbwarden/nb-team-a", "ImplicitlyDenied"),
            ("arn:aws:iam::123456789012:role/nbwarden-fleet-admin-x", "ImplicitlyDenied"),
            ("arn:aws:iam::777788889999:role/nbwarden-fleet-admin", "ImplicitlyDenied"),
        ] {
            let mut request = case(&[&caller], principal, "sts:AssumeRole", &reader, json!({}));
            request["resource_policy"] = trust.clone();
            request["resource_account"] = json!(member);
            judged.expect(format!("{principal} assumes the reader"), request, want);
        }
        judged.assert_all();
    }
}

system_test! {
    "system tier: needs the loopback services (scripts/test)";
    /// The role `fleet summary --accounts` assumes in each account: it
    /// reads that account's notebooks, jobs and role policies, and imports
    /// and reads that account's own findings; it changes nothing else,
    /// reads no report or object, and reaches no other account.
    fn the_fleet_reader_role_reads_its_account_and_imports_its_own_findings_only() {
        let text = std::fs::read_to_string(repo().join("packaging/iam-fleet-reader-policy.json"))
            .expect("policy");
        let reader: Value =
            serde_json::from_str(&text.replace("ACCOUNT", ACCOUNT)).expect("JSON");
        let principal = "arn:aws:iam::123456789012:role/nbwarden-fleet-reader";
        let nb = |account: &str| {
            format!("arn:aws:sagemaker:eu-west-1:{account}:notebook-instance/team-a")
        };
        let product = |account: &str| {
            format!("arn:aws:securityhub:eu-west-1:{account}:product/{account}/default")
        };
        let hub = "arn:aws:securityhub:eu-west-1:123456789012:hub/default";
        let table: Vec<(&str, String, &str)> = vec![
            ("sagemaker:ListNotebookInstances", "*".into(), "Allowed"),
            ("sagemaker:DescribeNotebookInstance", nb(ACCOUNT), "Allowed"),
            ("sagemaker:ListTags", nb(ACCOUNT), "Allowed"),
            (
                "sagemaker:DescribeNotebookInstance",
                nb("444455556666"),
                "ImplicitlyDenied",
            ),
            ("sagemaker:StopNotebookInstance", nb(ACCOUNT), "ImplicitlyDenied"),
            (
                "sagemaker:CreatePresignedNotebookInstanceUrl",
                nb(ACCOUNT),
                "ImplicitlyDenied",
            ),
            ("iam:GetRolePolicy", ROLE.into(), "Allowed"),
            ("iam:PutRolePolicy", ROLE.into(), "ImplicitlyDenied"),
            (
                "iam:GetPolicyVersion",
                "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess".into(),
                "Allowed",
            ),
            ("securityhub:BatchImportFindings", product(ACCOUNT), "Allowed"),
            (
                "securityhub:BatchImportFindings",
                product("444455556666"),
                "ImplicitlyDenied",
            ),
            ("securityhub:GetFindings", hub.into(), "Allowed"),
            ("securityhub:BatchUpdateFindings", hub.into(), "ImplicitlyDenied"),
            (
                "s3:GetObject",
                "arn:aws:s3:::platform-reports/reports/x/latest.json".into(),
                "ImplicitlyDenied",
            ),
        ];
        let mut judged = Decisions::default();
        for (action, resource, want) in &table {
            let request = case(&[&reader], principal, action, resource, json!({}));
            judged.expect(format!("{action} {resource}"), request, want);
        }
        judged.assert_all();
    }
}
