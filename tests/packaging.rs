//! What ships: the lifecycle scripts (SageMaker's limits, shellcheck), the
//! systemd units (systemd-analyze), the RPM's contents and the bundle.

#[macro_use]
mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::*;

fn static_binary() -> String {
    std::env::var("NBWARDEN_STATIC_BIN")
        .expect("NBWARDEN_STATIC_BIN: scripts/test builds and exports it")
}

fn render(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "lifecycle",
        "render",
        "--bundle",
        "s3://nbwarden-bundles/nbwarden/0.1.0",
        "--binary-sha256",
        "x86_64=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "--out",
    ];
    let out = dir.to_string_lossy().into_owned();
    args.push(&out);
    args.extend_from_slice(extra);
    nbwarden(&args)
}

system_test! {
    fn lifecycle_scripts_fit_sagemaker_and_pass_shellcheck() {
        let dir = tempfile::tempdir().expect("tmp");
        let out = render(dir.path(), &[]);
        assert_eq!(code(&out), 0, "{}", output_text(&out));
        for name in ["on-create.sh", "on-start.sh"] {
            let text = std::fs::read_to_string(dir.path().join(name)).expect(name);
            assert!(!text.contains('\r'), "{name} has CR");
            assert!(text.chars().count() < 16_384, "{name} is too long");
            for flagged in [
                "| sh",
                "| bash",
                "base64 -d",
                "169.254.169.254",
                "/dev/tcp/",
            ] {
                assert!(!text.contains(flagged), "{name} contains {flagged}");
            }
            let check = Command::new("shellcheck")
                .arg(dir.path().join(name))
                .output()
                .expect("shellcheck (Debian package)");
            assert!(check.status.success(), "{name}: {}", output_text(&check));
        }
        let start = std::fs::read_to_string(dir.path().join("on-start.sh")).expect("on-start");
        assert!(
            start.contains("sha_x86_64='aaaaaaaa"),
            "the checksum is rendered in"
        );
        assert!(start.contains("policy='s3://nbwarden-bundles/nbwarden/0.1.0/policy.toml'"));

        // The base64 the API wants decodes to the same script.
        let b64 = render(dir.path(), &["--format", "base64"]);
        let line = stdout(&b64)
            .lines()
            .find_map(|l| l.strip_prefix("on-start.sh: ").map(str::to_string))
            .expect("line");
        let decoded = Command::new("python3")
            .args([
                "-c",
                "import base64,sys; sys.stdout.write(base64.b64decode(sys.argv[1]).decode())",
                &line,
            ])
            .output()
            .expect("python3");
        assert_eq!(String::from_utf8_lossy(&decoded.stdout), start);

        let cfn = render(dir.path(), &["--format", "cloudformation"]);
        assert_eq!(code(&cfn), 0, "{}", output_text(&cfn));
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_slice(&cfn.stdout).expect("valid YAML");
        let props = &doc["Resources"]["NbwardenLifecycleConfig"]["Properties"];
        assert_eq!(
            props["OnStart"][0]["Content"]["Fn::Base64"].as_str(),
            Some(start.as_str())
        );

        // Bad input: no checksum, or one that is not a sha256.
        let none = nbwarden(&[
            "lifecycle",
            "render",
            "--bundle",
            "s3://b/p/1",
            "--out",
            &dir.path().to_string_lossy(),
        ]);
        assert_eq!(code(&none), 2);
        let bad = nbwarden(&[
            "lifecycle",
            "render",
            "--bundle",
            "s3://b/p/1",
            "--binary-sha256",
            "x86_64=beef",
        ]);
        assert_eq!(code(&bad), 2);
    }
}

system_test! {
    /// Every way of rendering the CloudFormation template passes cfn-lint, and
    /// a name CloudFormation or SageMaker would refuse is refused here first,
    /// naming the option.
    fn every_cloudformation_rendering_passes_cfn_lint() {
        let dir = tempfile::tempdir().expect("tmp");
        let sha = "b".repeat(64);
        let variants: [&[&str]; 4] = [
            &[],
            &["--name", "nb-prod-2"],
            &[
                "--policy",
                "s3://other-bucket/policies/team a.toml",
                "--policy-sha256",
                &sha,
            ],
            &[
                "--s3-endpoint-url",
                "https://bucket.vpce-0a1b.s3.eu-west-1.vpce.amazonaws.com",
                "--start-budget",
                "60s",
            ],
        ];
        for (i, extra) in variants.iter().enumerate() {
            let mut args = vec!["--format", "cloudformation"];
            args.extend_from_slice(extra);
            let out = render(dir.path(), &args);
            assert_eq!(code(&out), 0, "{extra:?}: {}", output_text(&out));
            let path = dir.path().join(format!("template-{i}.yaml"));
            std::fs::write(&path, &out.stdout).expect("write");
            common::notebook::assert_cfn_lint_clean(&path);
        }
        for bad in ["nb: #x", "bad_name!", "-nb", &"a".repeat(64)] {
            let out = render(
                dir.path(),
                &["--format", "cloudformation", &format!("--name={bad}")],
            );
            assert_eq!(code(&out), 2, "{bad}: {}", output_text(&out));
            assert!(stdout(&out).is_empty(), "{bad}: printed a template");
            assert!(
                stderr(&out).contains("--name") && stderr(&out).contains("letters, digits and hyphens"),
                "{bad}: {}",
                stderr(&out)
            );
        }
    }
}

/// The placeholders of the shipped IAM policy, with the values a platform
/// team fills in.
const IAM_PLACEHOLDERS: &[(&str, &str)] = &[
    ("ACCOUNT", "123456789012"),
    ("REGION", "eu-west-1"),
    ("NOTEBOOK_NAME", "Team-A-Analysis"),
    ("NOTEBOOK_ARN_NAME", "team-a-analysis"),
    ("BUNDLE_BUCKET", "platform-nbwarden"),
    ("BUNDLE_PREFIX", "nbwarden/0.1.0"),
    ("PARAMETER_PATH", "notebooks/team-a"),
    (
        "PARAMETER_KEY_ARN",
        "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    ),
    ("CODEARTIFACT_DOMAIN", "platform"),
    ("REPORT_BUCKET", "platform-nbwarden-reports"),
    ("REPORT_PREFIX", "reports"),
    (
        "REPORT_KEY_ARN",
        "arn:aws:kms:eu-west-1:123456789012:key/0987dcba-09fe-87dc-65ba-ab0987654321",
    ),
    ("ADMIN_ACCOUNT", "111122223333"),
    ("ADMIN_ROLE", "nbwarden-fleet-admin"),
    ("OWNER_TAG_KEY", "owner"),
    ("COST_TAG_KEY", "cost-center"),
    ("VPCE_ID", "vpce-0a1b2c3d4e5f67890"),
    ("JOB_SUBNET_IDS", "subnet-0a1b2c3d4e5f67890"),
    ("JOB_SECURITY_GROUP_IDS", "sg-0a1b2c3d4e5f67890"),
    (
        "JOB_KMS_KEY_ARNS",
        "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    ),
    ("NOTEBOOK_OWNER", "ana"),
    (
        "NOTEBOOK_ROLE_ARN",
        "arn:aws:iam::123456789012:role/nbwarden/team-a-analysis",
    ),
];

/// Every string and key under `v`, depth first.
fn iam_values(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| iam_values(x, out)),
        serde_json::Value::Object(m) => m.iter().for_each(|(k, x)| {
            out.push(k.clone());
            iam_values(x, out)
        }),
        _ => {}
    }
}

/// Every upper-case placeholder under the statements' `Resource` and
/// `Condition` is one the guide documents (and these tests fill), so the
/// filled-in policy is the whole policy.
fn assert_known_placeholders(statements: &[serde_json::Value]) {
    let mut values = Vec::new();
    for st in statements {
        iam_values(&st["Resource"], &mut values);
        iam_values(&st["Condition"], &mut values);
    }
    let guide = std::fs::read_to_string(repo().join("packaging/GUIDE.md")).expect("guide");
    for v in &values {
        // A run of capitals that a lower-case letter continues is part of a
        // word (`sts:AWSServiceName`), not a placeholder.
        let mut tokens = Vec::new();
        let mut run = String::new();
        for c in v.chars().chain([' ']) {
            if c.is_ascii_uppercase() || c == '_' {
                run.push(c);
            } else {
                if !c.is_ascii_lowercase() {
                    tokens.push(run.clone());
                }
                run.clear();
            }
        }
        for token in &tokens {
            if token.len() < 2 {
                continue;
            }
            assert!(
                IAM_PLACEHOLDERS.iter().any(|(p, _)| p == token),
                "{token} in {v} is not a known placeholder"
            );
            assert!(
                guide.contains(&format!("`{token}`")),
                "GUIDE.md does not explain {token}"
            );
        }
    }
}

/// The statements of a shipped IAM policy, and its text.
fn shipped_policy(file: &str) -> (String, Vec<serde_json::Value>) {
    let text = std::fs::read_to_string(repo().join("packaging").join(file)).expect("policy");
    let policy: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let statements = policy["Statement"].as_array().expect("statements").clone();
    (text, statements)
}

fn sids(statements: &[serde_json::Value]) -> Vec<String> {
    statements
        .iter()
        // An optional statement is wrapped in its parameter's `Fn::If`.
        .map(|st| {
            st["Sid"]
                .as_str()
                .or_else(|| st["Fn::If"][1]["Sid"].as_str())
                .expect("Sid")
                .to_string()
        })
        .collect()
}

/// A rendered template, parsed; cfn-lint accepts it.
fn linted_template(dir: &Path, name: &str, out: &std::process::Output) -> serde_json::Value {
    assert_eq!(code(out), 0, "{}", output_text(out));
    let path = dir.join(name);
    std::fs::write(&path, &out.stdout).expect("write");
    common::notebook::assert_cfn_lint_clean(&path);
    serde_yaml_ng::from_slice(&out.stdout).expect("YAML")
}

system_test! {
    /// The people who open notebooks get one policy: open (and see) only the
    /// notebooks whose owner tag is their user name, only through the listed
    /// VPC endpoints; everything else is denied, as is changing that tag.
    /// parliament finds nothing in it, and the fleet's shared template carries
    /// the same statements with the tag key and endpoints as parameters.
    fn the_user_access_policy_opens_own_notebooks_through_the_endpoints_only() {
        let (text, statements) = shipped_policy("iam-user-access-policy.json");
        assert_known_placeholders(&statements);
        let of = |effect: &str, action: &str| -> Vec<&serde_json::Value> {
            statements
                .iter()
                .filter(|st| {
                    st["Effect"] == effect
                        && st["Action"]
                            .as_array()
                            .is_some_and(|a| a.iter().any(|x| x == action))
                })
                .collect()
        };
        let owner = "aws:ResourceTag/OWNER_TAG_KEY";
        let open = "sagemaker:CreatePresignedNotebookInstanceUrl";
        let allowed = of("Allow", open);
        assert_eq!(allowed.len(), 1);
        let condition = &allowed[0]["Condition"]["StringEquals"];
        assert_eq!(condition[owner], "${aws:username}");
        assert_eq!(condition["aws:SourceVpce"], serde_json::json!(["VPCE_ID"]));
        // Every grant is limited to the caller's own notebooks.
        for st in statements.iter().filter(|st| st["Effect"] == "Allow") {
            assert_eq!(
                st["Condition"]["StringEquals"][owner], "${aws:username}",
                "{st}"
            );
        }
        let denied: Vec<String> = of("Deny", open)
            .iter()
            .map(|st| st["Condition"]["StringNotEquals"].to_string())
            .collect();
        assert!(
            denied.iter().any(|c| c.contains("aws:SourceVpce")),
            "{denied:?}"
        );
        assert!(denied.iter().any(|c| c.contains(owner)), "{denied:?}");
        // Nobody sets the owner or cost tag, in any case (SageMaker keeps
        // `Owner` apart from `owner`), on a notebook or at its creation.
        for action in [
            "sagemaker:AddTags",
            "sagemaker:DeleteTags",
            "sagemaker:CreateNotebookInstance",
        ] {
            let by_key: Vec<_> = of("Deny", action)
                .into_iter()
                .filter(|st| st["Condition"]["ForAnyValue:StringEqualsIgnoreCase"].is_object())
                .collect();
            assert_eq!(by_key.len(), 1, "{action}");
            assert_eq!(
                by_key[0]["Condition"]["ForAnyValue:StringEqualsIgnoreCase"]["aws:TagKeys"],
                serde_json::json!(["OWNER_TAG_KEY", "COST_TAG_KEY"])
            );
        }
        // Nor starts, stops, deletes or retags another owner's notebook (the
        // IAM simulator judges it beside a broad grant: tests/iam.rs).
        for action in [
            "sagemaker:StartNotebookInstance",
            "sagemaker:StopNotebookInstance",
            "sagemaker:DeleteNotebookInstance",
            "sagemaker:AddTags",
            "sagemaker:DeleteTags",
        ] {
            assert!(
                of("Deny", action)
                    .iter()
                    .any(|st| st["Condition"]["StringNotEquals"][owner] == "${aws:username}"),
                "{action}"
            );
        }
        // Nor takes another's notebook over through its settings or the
        // fleet's lifecycle configuration, nor starts a notebook of their own
        // with a notebook's role (the notebook stack puts them under /nbwarden/).
        // An IAM policy holds in every region, and so does each Deny: issue
        // 19's third red-team round found them limited to the fleet's region.
        for (action, resource) in [
            (
                "sagemaker:UpdateNotebookInstance",
                "arn:aws:sagemaker:*:ACCOUNT:notebook-instance/*",
            ),
            (
                "sagemaker:UpdateNotebookInstanceLifecycleConfig",
                "arn:aws:sagemaker:*:ACCOUNT:notebook-instance-lifecycle-config/*",
            ),
            (
                "sagemaker:CreateNotebookInstanceLifecycleConfig",
                "arn:aws:sagemaker:*:ACCOUNT:notebook-instance-lifecycle-config/*",
            ),
            ("iam:PassRole", "arn:aws:iam::ACCOUNT:role/nbwarden/*"),
        ] {
            let deny = of("Deny", action);
            assert_eq!(deny.len(), 1, "{action}");
            assert_eq!(
                deny[0]["Resource"],
                serde_json::json!([resource]),
                "{action}"
            );
            assert!(
                deny[0]["Condition"].is_null(),
                "{action} denied only sometimes"
            );
        }
        assert_parliament_finds_nothing(&text);

        let dir = tempfile::tempdir().expect("tmp");
        let out = render(
            dir.path(),
            &[
                "--format",
                "cloudformation",
                "--owner-tag-key",
                "team:owner",
            ],
        );
        let template = linted_template(dir.path(), "lifecycle.yaml", &out);
        let access = &template["Resources"]["NbwardenNotebookUserAccess"];
        assert_eq!(access["Type"], "AWS::IAM::ManagedPolicy");
        let rendered = access["Properties"]["PolicyDocument"]["Statement"]
            .as_array()
            .expect("statements");
        assert_eq!(sids(rendered), sids(&statements));
        let condition = &rendered[0]["Condition"]["StringEquals"];
        assert_eq!(condition["aws:ResourceTag/team:owner"], "${aws:username}");
        assert_eq!(
            condition["aws:SourceVpce"],
            serde_json::json!({ "Ref": "NotebookVpcEndpointIds" })
        );
        assert!(template["Parameters"]["NotebookVpcEndpointIds"].is_object());
        for bad in ["aws:owner", "${x}", "two words"] {
            let out = render(
                dir.path(),
                &[
                    "--format",
                    "cloudformation",
                    &format!("--owner-tag-key={bad}"),
                ],
            );
            assert_eq!(code(&out), 2, "{bad}: {}", output_text(&out));
            assert!(stderr(&out).contains("--owner-tag-key"), "{}", stderr(&out));
        }
    }
}

system_test! {
    /// One stack per notebook: the notebook, with a role of its own whose
    /// policy is the shipped notebook role policy naming this notebook alone,
    /// its owner and cost tags, no direct internet and no root access.
    fn the_notebook_stack_gives_each_notebook_a_role_naming_it_alone() {
        let dir = tempfile::tempdir().expect("tmp");
        let out = nbwarden(&[
            "lifecycle",
            "notebook-stack",
            "--owner-tag-key",
            "team-owner",
            "--cost-tag-key",
            "cc",
        ]);
        let template = linted_template(dir.path(), "notebook.yaml", &out);
        let resources = &template["Resources"];
        let role_policy = &resources["NotebookRole"]["Properties"]["Policies"][0]["PolicyDocument"];
        let statements = role_policy["Statement"].as_array().expect("statements");
        let (_, shipped) = shipped_policy("iam-notebook-role-policy.json");
        assert_eq!(sids(statements), sids(&shipped));
        let own = statements
            .iter()
            .find(|st| st["Sid"] == "ReadAndStopThisNotebookOnly")
            .expect("the notebook's own statement");
        assert_eq!(
            own["Resource"],
            serde_json::json!([{
                "Fn::Sub": "arn:aws:sagemaker:${AWS::Region}:${AWS::AccountId}:notebook-instance/${NotebookName}"
            }])
        );
        let notebook = &resources["Notebook"]["Properties"];
        assert_eq!(
            notebook["RoleArn"],
            serde_json::json!({ "Fn::GetAtt": ["NotebookRole", "Arn"] })
        );
        // Where the users' access policy denies iam:PassRole.
        assert_eq!(
            resources["NotebookRole"]["Properties"]["Path"],
            "/nbwarden/"
        );
        assert_eq!(notebook["DirectInternetAccess"], "Disabled");
        assert_eq!(notebook["RootAccess"], "Disabled");
        assert_eq!(
            notebook["KmsKeyId"],
            serde_json::json!({ "Ref": "VolumeKmsKeyId" })
        );
        let keys: Vec<&str> = notebook["Tags"]
            .as_array()
            .expect("tags")
            .iter()
            .map(|t| t["Key"].as_str().expect("key"))
            .collect();
        assert_eq!(keys, ["team-owner", "cc"]);
        // The ARN is lower case; so must the name be, for the policy to match.
        assert_eq!(
            template["Parameters"]["NotebookName"]["AllowedPattern"],
            "^[a-z0-9](-*[a-z0-9])*$"
        );
        let bad = nbwarden(&["lifecycle", "notebook-stack", "--cost-tag-key", "aws:cost"]);
        assert_eq!(code(&bad), 2, "{}", output_text(&bad));
        assert!(stderr(&bad).contains("--cost-tag-key"), "{}", stderr(&bad));
    }
}

system_test! {
    "system tier: needs the loopback services (scripts/test)";
    /// The templates deploy as administrators deploy them: read by a YAML 1.1
    /// reader (PyYAML: moto, many deploy scripts) they mean what nbwarden
    /// wrote (an unquoted `2010-09-09` used to become a date, and moto failed
    /// the stack), and moto's CloudFormation creates both stacks from the
    /// required parameters alone, every other one optional. The notebook is
    /// IMDSv2-only, and its role's optional statements follow their
    /// parameters.
    fn the_templates_read_the_same_in_yaml_1_1_and_deploy_with_only_required_parameters() {
        let dir = tempfile::tempdir().expect("tmp");
        let lifecycle = render(dir.path(), &["--format", "cloudformation"]);
        let notebook = nbwarden(&["lifecycle", "notebook-stack"]);
        let scp = nbwarden(&["lifecycle", "guardrail-scp"]);
        // Tag keys that YAML 1.1 reads as numbers unless quoted.
        let numeric_tags = nbwarden(&[
            "lifecycle",
            "notebook-stack",
            "--owner-tag-key",
            "1_000",
            "--cost-tag-key",
            ".5_0",
        ]);
        let mut files = Vec::new();
        for (name, out) in [
            ("lifecycle", &lifecycle),
            ("notebook", &notebook),
            ("scp", &scp),
            ("numeric-tags", &numeric_tags),
        ] {
            let template = linted_template(dir.path(), &format!("{name}.yaml"), out);
            let json = dir.path().join(format!("{name}.json"));
            std::fs::write(&json, template.to_string()).expect("json");
            files.push(dir.path().join(format!("{name}.yaml")));
            files.push(json);
        }
        let template: serde_json::Value = serde_yaml_ng::from_slice(&notebook.stdout).expect("YAML");
        let required: Vec<&str> = template["Parameters"]
            .as_object()
            .expect("parameters")
            .iter()
            .filter(|(_, p)| p.get("Default").is_none())
            .map(|(name, _)| name.as_str())
            .collect();
        assert_eq!(
            required,
            [
                "BundleBucket",
                "BundlePrefix",
                "CostCenter",
                "JobKmsKeyArns",
                "NotebookName",
                "Owner",
                "SecurityGroupIds",
                "SubnetId",
                "VolumeKmsKeyId"
            ],
            "what a notebook stack cannot do without"
        );
        let props = &template["Resources"]["Notebook"]["Properties"];
        assert_eq!(
            props["InstanceMetadataServiceConfiguration"]["MinimumInstanceMetadataServiceVersion"],
            "2"
        );
        assert_eq!(
            props["PlatformIdentifier"],
            serde_json::json!({ "Ref": "PlatformIdentifier" })
        );
        let script = r#"
import ast, boto3, json, sys, yaml
ep, files = sys.argv[1], sys.argv[2:]
for yml, js in zip(files[0::2], files[1::2]):
    if yaml.safe_load(open(yml)) != json.load(open(js)):
        print("DIFFERS", yml)
kw = dict(endpoint_url=ep, region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing")
cf, iam = boto3.client("cloudformation", **kw), boto3.client("iam", **kw)
key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
stacks = {
    files[0]: {"NotebookVpcEndpointIds": "vpce-0a1b2c3d4e5f67890"},
    files[2]: {"NotebookName": "team-a", "Owner": "ana", "CostCenter": "cc-1", "SubnetId": "subnet-0a1b2c3d",
               "SecurityGroupIds": "sg-0a1b2c3d", "VolumeKmsKeyId": key, "BundleBucket": "b",
               "BundlePrefix": "nbwarden/0.1.0", "JobKmsKeyArns": key},
}
tag = str(abs(hash(ep + files[0])) % 10**8)
for i, (path, params) in enumerate(stacks.items()):
    name = f"nbw-{tag}-{i}"
    cf.create_stack(StackName=name, TemplateBody=open(path).read(), Capabilities=["CAPABILITY_IAM"],
                    Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()])
    print("STATUS", cf.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"])
    for r in cf.describe_stack_resources(StackName=name)["StackResources"]:
        if r.get("ResourceType") == "AWS::IAM::Role":
            doc = iam.get_role_policy(RoleName=r["PhysicalResourceId"], PolicyName="nbwarden-notebook")["PolicyDocument"]
            # moto keeps a CloudFormation policy as Python's repr, and AWS::NoValue as None.
            doc = doc if isinstance(doc, dict) else ast.literal_eval(doc)
            print("VERSION", repr(doc["Version"]))
            print("SIDS", " ".join(s["Sid"] for s in doc["Statement"] if s))
"#;
        let mut args: Vec<&str> = Vec::new();
        let paths: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        args.extend(paths.iter().map(String::as_str));
        let out = common::notebook::boto3(script, &args);
        assert!(out.status.success(), "{}", output_text(&out));
        let text = stdout(&out);
        assert!(!text.contains("DIFFERS"), "{text}");
        assert_eq!(text.matches("STATUS CREATE_COMPLETE").count(), 2, "{text}");
        assert!(
            text.contains("VERSION '2012-10-17'"),
            "a string, not a date: {text}"
        );
        let sids = text
            .lines()
            .find_map(|l| l.strip_prefix("SIDS "))
            .unwrap_or_else(|| panic!("the role's policy: {text}"));
        assert!(sids.contains("ReadAndStopThisNotebookOnly"), "{sids}");
        for (_, optional) in nbwarden::lifecycle::cloudformation::OPTIONAL_STATEMENTS {
            for sid in *optional {
                assert!(!sids.contains(sid), "{sid} without its parameter: {sids}");
            }
        }
    }
}

system_test! {
    /// The guardrail on each notebook's role: its placeholders are the
    /// templates' and GUIDE.md explains them, parliament finds nothing in it,
    /// `[governance]` decides which statements are rendered (and which
    /// parameters the stack asks for, cfn-lint clean either way), and with
    /// every requirement on, three subnets, three security groups and two
    /// keys, the role's inline policies stay under IAM's 10,240 characters.
    fn the_guardrail_is_rendered_per_governance_and_fits_the_role() {
        let (text, statements) = shipped_policy("iam-notebook-guardrail-policy.json");
        assert_known_placeholders(&statements);
        assert!(
            statements.iter().all(|st| st["Effect"] == "Deny"),
            "deny-only"
        );
        assert_parliament_finds_nothing(&text);

        let dir = tempfile::tempdir().expect("tmp");
        let stack = |governance: &str, name: &str| -> serde_json::Value {
            let out = common::iam::notebook_stack(dir.path(), governance);
            linted_template(dir.path(), name, &out)
        };
        let guardrail_sids = |template: &serde_json::Value| -> Vec<String> {
            let guardrail = &template["Resources"]["NotebookGuardrail"];
            assert_eq!(guardrail["Type"], "AWS::IAM::RolePolicy");
            assert_eq!(guardrail["Properties"]["PolicyName"], "nbwarden-guardrail");
            assert_eq!(
                template["Resources"]["Notebook"]["DependsOn"], "NotebookGuardrail",
                "the notebook starts only once its role is held"
            );
            sids(
                guardrail["Properties"]["PolicyDocument"]["Statement"]
                    .as_array()
                    .expect("statements"),
            )
        };
        let default = stack("", "default.yaml");
        let sids_default = guardrail_sids(&default);
        assert!(
            sids_default.contains(&"DenyJobsOutsideTheFleetsSubnets".to_string()),
            "{sids_default:?}"
        );
        assert!(
            !sids_default.iter().any(|s| s.contains("NetworkIsolation")),
            "{sids_default:?}"
        );
        let off = stack(
            "vpc = false\nkms = false\ninter_container_encryption = false\nowner_tag = false\n",
            "off.yaml",
        );
        assert_eq!(
            guardrail_sids(&off),
            [
                "DenyWhatNoConditionKeyGoverns",
                "DenyTouchingAnotherOwnersResources",
                "DenyRetaggingTheOwner",
                "DenyNotebooksAndStudioFromANotebook",
                "DenyChangingNotebooksAndStudio",
                "DenyStoppingOtherNotebooks",
                "DenyPassingAnyRoleButItsOwn"
            ]
        );
        for p in ["JobSubnetIds", "JobSecurityGroupIds", "JobKmsKeyArns"] {
            assert!(default["Parameters"][p].is_object(), "{p}");
            assert!(off["Parameters"][p].is_null(), "{p}");
            assert!(off["Conditions"][format!("{p}Given")].is_null(), "{p}");
        }

        let all = stack("network_isolation = true\n", "all.yaml");
        let list = |prefix: &str| -> serde_json::Value {
            serde_json::json!(
                (0..3)
                    .map(|i| format!("{prefix}-0a1b2c3d4e5f6789{i}"))
                    .collect::<Vec<_>>()
            )
        };
        let key = |id: &str| {
            format!("arn:aws:kms:eu-west-1:123456789012:key/{id}-12ab-34cd-56ef-1234567890ab")
        };
        let params: std::collections::BTreeMap<&str, serde_json::Value> = [
            ("AWS::Region", "eu-west-1".into()),
            ("AWS::AccountId", "123456789012".into()),
            (
                "NotebookName",
                "team-a-analysis-of-the-quarterly-numbers".into(),
            ),
            ("Owner", "ana.lopez@example.com".into()),
            ("SubnetId", "subnet-0a1b2c3d4e5f67890".into()),
            ("SecurityGroupIds", list("sg")),
            ("JobSubnetIds", list("subnet")),
            ("JobSecurityGroupIds", list("sg")),
            (
                "JobKmsKeyArns",
                serde_json::json!([key("1234abcd"), key("5678abcd")]),
            ),
            ("BundleBucket", "platform-nbwarden-bundles".into()),
            ("BundlePrefix", "nbwarden/0.1.0".into()),
            ("ParameterPath", "notebooks/team-a".into()),
            ("ParameterKeyArn", key("1234abcd").into()),
            ("CodeArtifactDomain", "platform".into()),
            ("ReportBucket", "platform-nbwarden-reports".into()),
            ("ReportPrefix", "reports".into()),
            ("ReportKeyArn", key("0987dcba").into()),
            (
                "NotebookRole.Arn",
                "arn:aws:iam::123456789012:role/nbwarden/team-a-analysis-of-the-quart-A1B2C3D4E5F6"
                    .into(),
            ),
        ]
        .into();
        let conditions = [
            ("JobSubnetIdsGiven", true),
            ("JobSecurityGroupIdsGiven", true),
            ("ParameterPathGiven", true),
            ("ParameterKeyArnGiven", true),
            ("CodeArtifactDomainGiven", true),
            ("ReportBucketGiven", true),
            ("ReportKeyArnGiven", true),
        ]
        .into();
        let inline: usize = all["Resources"]["NotebookRole"]["Properties"]["Policies"]
            .as_array()
            .expect("policies")
            .iter()
            .chain([&all["Resources"]["NotebookGuardrail"]["Properties"]])
            .map(|p| {
                let doc = common::iam::deployed(&p["PolicyDocument"], &params, &conditions);
                doc.to_string()
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .count()
            })
            .sum();
        assert!(
            inline <= 10_240,
            "{inline} characters of inline policy on one role"
        );
    }
}

system_test! {
    /// The shipped IAM policy grants the notebook's role rights on its own
    /// notebook only (the user's kernels hold the same role), in the forms AWS
    /// evaluates, and parliament finds nothing in it once filled in.
    fn the_iam_policy_is_scoped_to_the_notebook_and_parliament_finds_nothing() {
        let text = std::fs::read_to_string(repo().join("packaging/iam-notebook-role-policy.json"))
            .expect("policy");
        let policy: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let statements = policy["Statement"].as_array().expect("statements");

        assert_known_placeholders(statements);

        let with_action = |action: &str| -> Vec<&serde_json::Value> {
            statements
                .iter()
                .filter(|st| {
                    st["Action"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| x == action))
                })
                .collect()
        };
        // The notebook's own ARN, never every notebook in the account.
        for action in [
            "sagemaker:DescribeNotebookInstance",
            "sagemaker:ListTags",
            "sagemaker:StopNotebookInstance",
        ] {
            for st in with_action(action) {
                assert_eq!(
                    st["Resource"],
                    serde_json::json!([
                        "arn:aws:sagemaker:REGION:ACCOUNT:notebook-instance/NOTEBOOK_ARN_NAME"
                    ]),
                    "{action}"
                );
            }
        }
        // GetParametersByPath is evaluated against the path itself.
        let by_path = with_action("ssm:GetParametersByPath");
        assert_eq!(by_path.len(), 1);
        assert_eq!(
            by_path[0]["Resource"],
            serde_json::json!(["arn:aws:ssm:REGION:ACCOUNT:parameter/PARAMETER_PATH"])
        );
        // Fleet reports: this notebook's prefix only, with the name as the
        // report keys spell it; listing only there (without it S3 answers a
        // missing key with 403, not 404).
        // Athena's records: exactly its own latest record, and its history
        // only where no object is yet (If-None-Match), never replaced.
        let puts = with_action("s3:PutObject");
        assert_eq!(puts.len(), 3, "{puts:#?}");
        for (i, ends) in [
            "/REGION/NOTEBOOK_NAME/*",
            "/latest/ACCOUNT/REGION/NOTEBOOK_NAME.json",
            "/history/dt=????-??-??/ACCOUNT/REGION/NOTEBOOK_NAME/*.json",
        ]
        .iter()
        .enumerate()
        {
            let resource = puts[i]["Resource"][0].as_str().unwrap_or_default();
            assert!(resource.ends_with(ends), "{resource}");
        }
        assert_eq!(
            puts[2]["Condition"],
            serde_json::json!({"Null": {
                "s3:if-none-match": "false",
                "s3:x-amz-server-side-encryption-customer-algorithm": "true"
            }})
        );
        let lists = with_action("s3:ListBucket");
        assert_eq!(lists.len(), 1, "{lists:#?}");
        let scope = format!("{}{}", lists[0]["Resource"], lists[0]["Condition"]);
        assert!(scope.contains("/REGION/NOTEBOOK_NAME/*"), "{scope}");
        // Every KMS key only through the service that needs it.
        for action in ["kms:Decrypt", "kms:GenerateDataKey"] {
            for st in with_action(action) {
                assert!(
                    st["Condition"]["StringEquals"]["kms:ViaService"].is_string(),
                    "{action} without kms:ViaService: {st}"
                );
            }
        }

        assert_parliament_finds_nothing(&text);
    }
}

system_test! {
    /// The role `fleet summary --accounts` assumes in each account reads
    /// notebooks, jobs, models and role policies, and imports and reads only
    /// that account's own findings: no other write, and parliament finds
    /// nothing in it.
    fn the_fleet_reader_role_reads_and_publishes_its_own_findings_only() {
        let (text, statements) = shipped_policy("iam-fleet-reader-policy.json");
        assert_known_placeholders(&statements);
        for st in &statements {
            assert_eq!(st["Effect"], "Allow", "{st}");
            for action in st["Action"].as_array().expect("actions") {
                let action = action.as_str().expect("action");
                let name = action.split(':').nth(1).expect("service:Action");
                assert!(
                    ["List", "Describe", "Get"].iter().any(|p| name.starts_with(p))
                        || action == "securityhub:BatchImportFindings",
                    "{action} is neither a read nor the import of findings"
                );
            }
        }
        let import = statements
            .iter()
            .find(|st| st["Action"] == serde_json::json!(["securityhub:BatchImportFindings"]))
            .expect("the import");
        assert_eq!(
            import["Resource"],
            "arn:aws:securityhub:*:ACCOUNT:product/ACCOUNT/default"
        );
        assert_parliament_finds_nothing(&text);
    }
}

/// The reader role's trust: the one action `sts:AssumeRole`, from the
/// administrator's account, for the role that runs the fleet view
/// only, its placeholders known and explained in the GUIDE.
#[test]
fn the_fleet_reader_role_trusts_the_fleet_views_role_only() {
    let (text, statements) = shipped_policy("iam-fleet-reader-trust-policy.json");
    assert_known_placeholders(&statements);
    assert_eq!(statements.len(), 1, "{statements:#?}");
    let st = &statements[0];
    assert_eq!(st["Action"], "sts:AssumeRole");
    assert_eq!(st["Principal"]["AWS"], "arn:aws:iam::ADMIN_ACCOUNT:root");
    assert_eq!(
        st["Condition"]["ArnLike"]["aws:PrincipalArn"],
        "arn:aws:iam::ADMIN_ACCOUNT:role/ADMIN_ROLE"
    );
    // parliament reads identity policies only (it wants a Resource);
    // what this trust allows, tests/iam.rs asks the IAM simulator.
    assert!(filled_in(&text).contains("arn:aws:iam::111122223333:role/nbwarden-fleet-admin"));
}

/// `policy` (a shipped IAM policy) with every placeholder filled in.
fn filled_in(policy: &str) -> String {
    let mut filled = policy.to_string();
    // Longest first: REPORT_PREFIX before a shorter name inside it.
    let mut by_len = IAM_PLACEHOLDERS.to_vec();
    by_len.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
    for (placeholder, value) in by_len {
        filled = filled.replace(placeholder, value);
    }
    filled
}

/// parliament (every auditor, down to INFO) reports nothing on `policy`
/// once filled in, but for what its own copy of AWS's action list (older
/// than the IAM simulator's) does not know yet: an unknown SageMaker action,
/// or a key unknown for an action, passes only where the simulator's copy
/// of the service authorization reference documents it.
fn assert_parliament_finds_nothing(policy: &str) {
    let filled = filled_in(policy);
    // --string: with --file, parliament refuses a stdin that is not a tty.
    let out = common::notebook::venv_tool("parliament")
        .args([
            "--include-community-auditors",
            "--minimum_severity",
            "INFO",
            "--json",
            "--string",
            &filled,
        ])
        .output()
        .expect("parliament");
    // 1: it found something, judged below.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        output_text(&out)
    );
    let reference = std::sync::LazyLock::new(|| common::iam::actions_of("sagemaker"));
    let documented = |action: &str, key: Option<&str>| -> bool {
        let Some(name) = action.strip_prefix("sagemaker:") else {
            return false;
        };
        // A pattern (`Attach*`) is documented when it names some action.
        let matching = |candidate: &str| match name.split_once('*') {
            Some((head, tail)) => {
                candidate.len() >= head.len() + tail.len()
                    && candidate.starts_with(head)
                    && candidate.ends_with(tail)
            }
            None => candidate == name,
        };
        reference.iter().any(|(candidate, a)| {
            matching(candidate) && key.is_none_or(|k| a.keys.iter().any(|x| x == k))
        })
    };
    let stale_only = stdout(&out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .all(|line| {
            let finding: serde_json::Value = serde_json::from_str(line).expect("parliament JSON");
            let detail = finding["detail"].as_str().unwrap_or_default();
            match finding["issue"].as_str() {
                Some("UNKNOWN_ACTION") => detail
                    .strip_prefix("Unknown action ")
                    .is_some_and(|a| documented(a, None)),
                Some("UNKNOWN_CONDITION_FOR_ACTION") => detail
                    .strip_prefix("Unknown condition ")
                    .and_then(|rest| rest.split_once(" for action "))
                    .is_some_and(|(key, action)| documented(action, Some(key))),
                _ => false,
            }
        });
    assert!(stale_only, "parliament findings: {}", output_text(&out));
}

/// Every unit as `scripts/render-units` fills it in for `binary`, by path
/// in `dir`. Each is the same as the unit the binary itself writes.
fn shipped_units(binary: &str, dir: &Path) -> Vec<std::path::PathBuf> {
    let out = Command::new(repo().join("scripts/render-units"))
        .arg(binary)
        .arg(dir)
        .output()
        .expect("render-units");
    assert!(out.status.success(), "{}", output_text(&out));
    let mut units: Vec<_> = std::fs::read_dir(dir)
        .expect("rendered units")
        .map(|e| e.expect("entry").path())
        .collect();
    units.sort();
    let names: Vec<_> = units
        .iter()
        .map(|u| u.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    let mut compiled: Vec<_> = nbwarden::controls::service::UNITS
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    compiled.sort();
    assert_eq!(
        names, compiled,
        "render-units and the binary ship different units"
    );
    for (name, template) in nbwarden::controls::service::UNITS {
        let rendered = std::fs::read_to_string(dir.join(name)).expect("unit");
        assert_eq!(
            rendered,
            nbwarden::controls::service::render_unit(template, binary),
            "{name}: render-units and the binary disagree"
        );
        assert!(!rendered.contains("@NBWARDEN@"), "{name}: {rendered}");
    }
    units
}

/// Runs `script` with our binary at /usr/local/bin/nbwarden, in a private
/// mount namespace (never this host's /usr/local/bin): systemd-analyze
/// checks that ExecStart exists. `$1`… are the unit paths.
fn analyze(script: &str, units: &[std::path::PathBuf]) -> std::process::Output {
    assert!(is_root(), "needs root for a mount namespace");
    let bin = tempfile::tempdir().expect("tmp");
    std::fs::copy(static_binary(), bin.path().join("nbwarden")).expect("copy");
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(format!("mount --bind \"$0\" /usr/local/bin && {script}"))
        .arg(bin.path())
        .args(units)
        .output()
        .expect("systemd-analyze")
}

system_test! {
    fn systemd_units_pass_systemd_analyze_verify() {
        // A template is verified as one of its instances.
        let dir = tempfile::tempdir().expect("tmp");
        let rendered = tempfile::tempdir().expect("tmp");
        let units: Vec<_> = shipped_units("/usr/local/bin/nbwarden", rendered.path())
            .into_iter()
            .map(|u| {
                let name = u.file_name().expect("name").to_string_lossy().into_owned();
                if !name.contains("@.") {
                    return u;
                }
                let instance = dir.path().join(name.replace("@.", "@sudo."));
                std::fs::copy(&u, &instance).expect("instance");
                instance
            })
            .collect();
        assert!(units.len() >= 6, "{units:?}");
        let out = analyze("systemd-analyze verify --man=no \"$@\"", &units);
        assert!(out.status.success(), "{}", output_text(&out));
        assert!(stderr(&out).trim().is_empty(), "warnings: {}", stderr(&out));
    }
}

system_test! {
    /// `systemd-analyze security` exposure, per service, may only go down:
    /// these are the levels each unit had when its confinement was last
    /// reviewed (README, "systemd units").
    fn service_exposure_stays_at_or_below_its_reviewed_level() {
        let ceilings = [
            ("nbwarden-verify.service", 4.4),
            ("nbwarden-monitor.service", 4.7),
            ("nbwarden-codeartifact.service", 5.5),
            ("nbwarden-reapply@.service", 6.9),
        ];
        let rendered = tempfile::tempdir().expect("tmp");
        let services: Vec<_> = shipped_units("/usr/local/bin/nbwarden", rendered.path())
            .into_iter()
            .filter(|u| u.extension().is_some_and(|e| e == "service"))
            .collect();
        assert_eq!(
            services.len(),
            ceilings.len(),
            "a service without a ceiling: {services:?}"
        );
        for (name, ceiling) in ceilings {
            let unit = rendered.path().join(name);
            let out = analyze(
                "systemd-analyze security --offline=true --no-pager \"$1\"",
                &[unit],
            );
            let text = output_text(&out);
            let level: f64 = text
                .lines()
                .find_map(|l| l.split("exposure level for ").nth(1))
                .and_then(|rest| rest.split(": ").nth(1))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no exposure level for {name}: {text}"));
            assert!(level <= ceiling, "{name}: exposure {level} > {ceiling}");
        }
    }
}

system_test! {
    fn the_rpm_is_lint_clean_with_fhs_paths_scriptlets_and_generated_docs() {
        let dir = tempfile::tempdir().expect("tmp");
        let built = Command::new(repo().join("scripts/build-rpm"))
            .arg(static_binary())
            .arg(dir.path())
            .output()
            .expect("build-rpm");
        assert!(built.status.success(), "{}", output_text(&built));
        let rpm = stdout(&built).trim().to_string();

        // rpmlint, as a packager runs it, on the spec and the package: no error
        // (the two filtered ones are explained in nbwarden.rpmlintrc).
        let lint = Command::new("rpmlint")
            .arg("-r")
            .arg(repo().join("packaging/rpm/nbwarden.rpmlintrc"))
            .arg(repo().join("packaging/rpm/nbwarden.spec"))
            .arg(&rpm)
            .output()
            .expect("rpmlint (Debian package rpmlint)");
        let lint_text = output_text(&lint);
        assert!(lint.status.success(), "rpmlint: {lint_text}");
        assert!(lint_text.contains(" 0 errors"), "rpmlint: {lint_text}");

        let query = |args: &[&str]| {
            let out = Command::new("rpm")
                .args(args)
                .arg(&rpm)
                .output()
                .expect("rpm");
            assert!(out.status.success(), "{}", output_text(&out));
            stdout(&out)
        };
        let files: Vec<String> = query(&["-qlp"]).lines().map(str::to_string).collect();
        let mut wanted = vec![
            "/usr/bin/nbwarden".to_string(),
            "/usr/share/nbwarden/policy.example.toml".into(),
            "/usr/share/nbwarden/iam-notebook-role-policy.json".into(),
            "/usr/share/nbwarden/iam-user-access-policy.json".into(),
            "/usr/share/nbwarden/iam-notebook-guardrail-policy.json".into(),
            "/usr/share/nbwarden/iam-fleet-reader-policy.json".into(),
            "/usr/share/nbwarden/iam-fleet-reader-trust-policy.json".into(),
            "/usr/share/doc/nbwarden/GUIDE.md".into(),
            "/usr/share/bash-completion/completions/nbwarden".into(),
            "/usr/share/zsh/site-functions/_nbwarden".into(),
            "/usr/share/fish/vendor_completions.d/nbwarden.fish".into(),
        ];
        for (unit, _) in nbwarden::controls::service::UNITS {
            wanted.push(format!("/usr/lib/systemd/system/{unit}"));
        }
        for page in std::fs::read_dir(repo().join("packaging/man")).expect("man") {
            let name = page
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            if name.ends_with(".8") {
                wanted.push(format!("/usr/share/man/man8/{name}.gz"));
            }
        }
        for f in &wanted {
            assert!(files.contains(f), "{f} missing from {files:#?}");
        }
        assert!(
            !files.iter().any(|f| f.starts_with("/usr/local")),
            "nothing under /usr/local: {files:#?}"
        );

        // The units run the package's binary.
        let x = Command::new("sh")
            .arg("-c")
            .arg("cd \"$1\" && rpm2cpio \"$2\" | cpio -idm --quiet")
            .arg("sh")
            .arg(dir.path())
            .arg(&rpm)
            .output()
            .expect("rpm2cpio");
        assert!(x.status.success(), "{}", output_text(&x));
        for (unit, template) in nbwarden::controls::service::UNITS {
            let shipped = std::fs::read_to_string(dir.path().join("usr/lib/systemd/system").join(unit))
                .expect("unit");
            assert_eq!(
                shipped,
                nbwarden::controls::service::render_unit(template, "/usr/bin/nbwarden")
            );
        }

        // systemd's scriptlets for every unit it enables, and what it needs.
        let scripts = query(&["-qp", "--scripts"]);
        for phase in ["postinstall", "preuninstall", "postuninstall"] {
            assert!(scripts.contains(phase), "no {phase} scriptlet: {scripts}");
        }
        for unit in [
            "nbwarden-verify.timer",
            "nbwarden-monitor.service",
            "nbwarden-codeartifact.timer",
        ] {
            assert!(
                scripts.matches(unit).count() >= 2,
                "{unit} is not preset and disabled by the scriptlets: {scripts}"
            );
        }
        // An upgrade ($1 = 1) restarts the running units on the new binary; a
        // removal ($1 = 0) only reloads. The scriptlet runs as rpm would run
        // it, with a systemctl on PATH that records its arguments.
        let postun = scripts
            .split("postuninstall scriptlet")
            .nth(1)
            .and_then(|rest| rest.split_once('\n'))
            .map(|(_, body)| body.split("\n\n").next().unwrap_or(body).to_string())
            .expect("postuninstall scriptlet");
        let stub = tempfile::tempdir().expect("tmp");
        let log = stub.path().join("calls");
        let systemctl = stub.path().join("systemctl");
        std::fs::write(
            &systemctl,
            format!("#!/bin/sh\necho \"$*\" >> {}\n", log.display()),
        )
        .expect("stub");
        std::fs::set_permissions(&systemctl, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        for (arg, restarts) in [("1", true), ("0", false)] {
            let _ = std::fs::remove_file(&log);
            let status = Command::new("sh")
                .args(["-c", &postun, "postun", arg])
                .env("PATH", format!("{}:/usr/bin:/bin", stub.path().display()))
                .status()
                .expect("sh");
            assert!(status.success(), "postun {arg}: {postun}");
            let calls = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(calls.contains("daemon-reload"), "postun {arg}: {calls}");
            assert_eq!(
                calls.contains("try-restart") && calls.contains("nbwarden-monitor.service"),
                restarts,
                "postun {arg}: {calls}"
            );
        }
        let requires = query(&["-qpR"]);
        for dep in ["sudo", "util-linux", "systemd"] {
            assert!(
                requires.lines().any(|l| l.trim() == dep),
                "Requires {dep}: {requires}"
            );
        }
        assert!(
            query(&["-qp", "--changelog"]).contains("- "),
            "no changelog"
        );
    }
}

system_test! {
    fn the_bundle_is_complete_checksummed_and_reproducible() {
        let dir = tempfile::tempdir().expect("tmp");
        let bin = format!("x86_64={}", static_binary());
        let mut sums = Vec::new();
        for run in ["a", "b"] {
            let out_dir = dir.path().join(run);
            let out = Command::new(repo().join("scripts/bundle"))
                .args(["s3://nbwarden-bundles/nbwarden/0.1.0"])
                .arg(&out_dir)
                .arg(&bin)
                .output()
                .expect("bundle");
            assert!(out.status.success(), "{}", output_text(&out));
            let tarball = stdout(&out).trim().to_string();
            let sum = Command::new("sha256sum")
                .arg(&tarball)
                .output()
                .expect("sha256sum");
            sums.push(
                stdout(&sum)
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            );
            let x = Command::new("tar")
                .args(["xzf", &tarball, "-C"])
                .arg(&out_dir)
                .status()
                .expect("tar");
            assert!(x.success());
        }
        assert_eq!(sums[0], sums[1], "two bundles of the same source differ");
        let root = dir.path().join("a/nbwarden-0.1.0");
        for f in [
            "bin/nbwarden-x86_64",
            "lifecycle/on-start.sh",
            "lifecycle/on-create.sh",
            "cloudformation/lifecycle.yaml",
            "cloudformation/notebook.yaml",
            "cloudformation/guardrail-scp.yaml",
            "cloudformation/fleet-athena.yaml",
            "athena/not-compliant-now.sql",
            "athena/failing-since.sql",
            "athena/without-a-report.sql",
            "systemd/nbwarden-verify.service",
            "man/nbwarden.8",
            "man/nbwarden-lifecycle-render.8",
            "completions/nbwarden.bash",
            "config/policy.example.toml",
            "iam/notebook-role-policy.json",
            "iam/user-access-policy.json",
            "iam/notebook-guardrail-policy.json",
            "iam/fleet-reader-policy.json",
            "iam/fleet-reader-trust-policy.json",
            "GUIDE.md",
        ] {
            assert!(root.join(f).is_file(), "{f} missing");
        }
        let verify = Command::new("sha256sum")
            .args(["-c", "--quiet", "SHA256SUMS"])
            .current_dir(&root)
            .output()
            .expect("sha256sum");
        assert!(verify.status.success(), "{}", output_text(&verify));
        let iam: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root.join("iam/notebook-role-policy.json")).expect("iam"),
        )
        .expect("JSON");
        assert_eq!(iam["Version"], "2012-10-17");
        common::notebook::assert_cfn_lint_clean(&root.join("cloudformation/lifecycle.yaml"));
        common::notebook::assert_cfn_lint_clean(&root.join("cloudformation/notebook.yaml"));
        common::notebook::assert_cfn_lint_clean(&root.join("cloudformation/guardrail-scp.yaml"));
        common::notebook::assert_cfn_lint_clean(&root.join("cloudformation/fleet-athena.yaml"));
        let unit = std::fs::read_to_string(root.join("systemd/nbwarden-verify.service")).expect("unit");
        assert!(
            unit.contains("ExecStart=/usr/local/bin/nbwarden verify"),
            "the bundle's units run the lifecycle path's binary: {unit}"
        );
        let start = std::fs::read_to_string(root.join("lifecycle/on-start.sh")).expect("script");
        let bin_sum = Command::new("sha256sum")
            .arg(root.join("bin/nbwarden-x86_64"))
            .output()
            .expect("sum");
        let bin_sum = stdout(&bin_sum)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        assert!(
            start.contains(&format!("sha_x86_64='{bin_sum}'")),
            "the script pins the bundled binary"
        );
        // Without policy=FILE the script loads BUNDLE/policy.toml unpinned, and
        // the bundle says so; with it, the policy ships and is pinned.
        assert!(start.contains("policy_sha256=''"), "{start}");
        let bundle = |out_dir: &Path, policy: &Path| {
            Command::new(repo().join("scripts/bundle"))
                .args(["s3://nbwarden-bundles/nbwarden/0.1.0"])
                .arg(out_dir)
                .arg(&bin)
                .arg(format!("policy={}", policy.display()))
                .output()
                .expect("bundle")
        };
        let pinned_dir = dir.path().join("pinned");
        let example = Path::new(example_policy_path());
        let out = bundle(&pinned_dir, example);
        assert!(out.status.success(), "{}", output_text(&out));
        assert!(!stderr(&out).contains("unpinned"), "{}", stderr(&out));
        let x = Command::new("tar")
            .args(["xzf", stdout(&out).trim(), "-C"])
            .arg(&pinned_dir)
            .status()
            .expect("tar");
        assert!(x.success());
        let pinned = pinned_dir.join("nbwarden-0.1.0");
        assert_eq!(
            std::fs::read(pinned.join("policy.toml")).expect("shipped policy"),
            std::fs::read(example).expect("example")
        );
        let sum = Command::new("sha256sum")
            .arg(example)
            .output()
            .expect("sum");
        let sum = stdout(&sum)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        let start = std::fs::read_to_string(pinned.join("lifecycle/on-start.sh")).expect("script");
        assert!(start.contains(&format!("policy_sha256='{sum}'")), "{start}");
        let unpinned = Command::new(repo().join("scripts/bundle"))
            .args(["s3://nbwarden-bundles/nbwarden/0.1.0"])
            .arg(dir.path().join("unpinned"))
            .arg(&bin)
            .output()
            .expect("bundle");
        assert!(
            stderr(&unpinned).contains("unpinned: pass policy=FILE"),
            "{}",
            output_text(&unpinned)
        );
        // A policy every start would refuse stops the bundle.
        let bad = write_policy(dir.path(), "version = 1\n");
        let out = bundle(&dir.path().join("bad"), &bad);
        assert!(!out.status.success(), "{}", output_text(&out));
        assert!(
            stderr(&out).contains("nothing would be checked"),
            "{}",
            output_text(&out)
        );
    }
}
