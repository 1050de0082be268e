//! Facts about the notebook instance: its identity from SageMaker's
//! `/opt/ml/metadata/resource-metadata.json`, and what the control plane
//! and IMDS say about it. A run fetches each at most once, on first use,
//! and every control shares the answer through [`Facts`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use serde_json::Value;

use crate::aws::{Aws, NotebookDescription, Parameter, Tags};
use crate::host::Host;
use crate::policy::NotebookField;

pub const RESOURCE_METADATA: &str = "/opt/ml/metadata/resource-metadata.json";

/// The fields nbwarden uses; SageMaker may add more, which are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ResourceMetadata {
    #[serde(rename = "ResourceArn")]
    pub arn: String,
    #[serde(rename = "ResourceName")]
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notebook {
    pub arn: String,
    pub name: String,
    pub region: String,
    pub account: String,
}

impl Notebook {
    pub fn parse(text: &str) -> Result<Notebook> {
        let meta: ResourceMetadata = serde_json::from_str(text).with_context(|| {
            format!(
                "{RESOURCE_METADATA} is not the JSON SageMaker writes (ResourceArn, \
                 ResourceName); is this a notebook instance?"
            )
        })?;
        // arn:PARTITION:sagemaker:REGION:ACCOUNT:notebook-instance/NAME
        let fields: Vec<&str> = meta.arn.splitn(6, ':').collect();
        if fields.len() != 6
            || fields[0] != "arn"
            || fields[2] != "sagemaker"
            || !fields[5].starts_with("notebook-instance/")
        {
            bail!(
                "{RESOURCE_METADATA}: ResourceArn {:?} is not a notebook instance ARN",
                meta.arn
            );
        }
        Ok(Notebook {
            region: fields[3].to_string(),
            account: fields[4].to_string(),
            arn: meta.arn,
            name: meta.name,
        })
    }

    /// The instance's metadata, read from the root.
    pub fn read(host: &Host) -> Result<Notebook> {
        let text = host
            .read_text(Path::new(RESOURCE_METADATA))?
            .with_context(|| {
                format!("{RESOURCE_METADATA} does not exist: not a notebook instance?")
            })?;
        Notebook::parse(&text)
    }
}

/// A field of the notebook's description as a policy variable's value;
/// `None` when not reported.
pub fn notebook_field(d: &NotebookDescription, field: NotebookField) -> Option<Value> {
    let text = |v: &Option<String>| v.clone().map(Value::String);
    match field {
        NotebookField::SubnetId => text(&d.subnet_id),
        NotebookField::SecurityGroups => Some(Value::Array(
            d.security_groups
                .iter()
                .cloned()
                .map(Value::String)
                .collect(),
        ))
        .filter(|_| !d.security_groups.is_empty()),
        NotebookField::KmsKeyId => text(&d.kms_key_id),
        NotebookField::DirectInternetAccess => text(&d.direct_internet_access),
        NotebookField::RootAccess => text(&d.root_access),
        NotebookField::RoleArn => text(&d.role_arn),
        NotebookField::InstanceType => text(&d.instance_type),
    }
}

/// A remote input a control will read, named ahead so that it can be
/// fetched while earlier controls do local work (`Control::remote_inputs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteInput {
    SsmNames(Vec<String>),
    SsmPath(String),
    Tags,
    Description,
    InstanceId,
}

/// One SSM request's answer, fetched once (an error is kept as text).
type SsmAnswer = OnceLock<Result<Vec<Parameter>, String>>;

/// One SSM request a run makes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum SsmRequest {
    /// `GetParameters` on these names (sorted, deduplicated).
    Names(Vec<String>),
    /// `GetParametersByPath`, recursive.
    Path(String),
}

/// Where [`Facts`] come from when first asked.
enum Source<'a> {
    /// The root's metadata file, the SageMaker API and IMDS.
    Live { host: &'a Host, aws: &'a Aws },
    /// Only what a test put in; anything else is an error.
    Given,
}

/// The facts of one run, each fetched at most once (lazily) and shared by
/// every control. A failed fetch is remembered too: a second control asking
/// gets the same error instead of a second call. They may be fetched ahead
/// on another thread (`Control::remote_inputs`, fetched by `run::run`); asking for one in flight waits
/// for that fetch rather than making a second.
pub struct Facts<'a> {
    source: Source<'a>,
    /// SSM answers by request (the sorted names, or a path).
    ssm: Mutex<BTreeMap<SsmRequest, Arc<SsmAnswer>>>,
    notebook: OnceLock<Result<Notebook, String>>,
    tags: OnceLock<Result<Tags, String>>,
    description: OnceLock<Result<NotebookDescription, String>>,
    instance_id: OnceLock<Result<String, String>>,
}

fn filled<T>(value: Option<T>) -> OnceLock<Result<T, String>> {
    let cell = OnceLock::new();
    if let Some(v) = value {
        let _ = cell.set(Ok(v));
    }
    cell
}

impl<'a> Facts<'a> {
    /// The cell's value, fetched by `fetch` unless another thread has it
    /// or is fetching it; time spent waiting for another thread's fetch
    /// counts as waiting on AWS, as the fetch itself would have.
    fn remembered<'c, T>(
        &self,
        cell: &'c OnceLock<Result<T, String>>,
        fetch: impl FnOnce() -> Result<T>,
    ) -> Result<&'c T> {
        let started = std::time::Instant::now();
        let mut fetched_here = false;
        let value = cell.get_or_init(|| {
            fetched_here = true;
            fetch().map_err(|e| format!("{e:#}"))
        });
        if !fetched_here && let Source::Live { aws, .. } = self.source {
            aws.count_wait(started.elapsed());
        }
        value.as_ref().map_err(|e| anyhow!("{e}"))
    }

    pub fn live(host: &'a Host, aws: &'a Aws) -> Facts<'a> {
        Facts {
            source: Source::Live { host, aws },
            ssm: Mutex::new(BTreeMap::new()),
            notebook: OnceLock::new(),
            tags: OnceLock::new(),
            description: OnceLock::new(),
            instance_id: OnceLock::new(),
        }
    }

    /// The seam for tests: facts known in advance, no file or server read.
    pub fn given(
        notebook: Option<Notebook>,
        tags: Option<Tags>,
        description: Option<NotebookDescription>,
    ) -> Facts<'static> {
        Facts {
            source: Source::Given,
            ssm: Mutex::new(BTreeMap::new()),
            notebook: filled(notebook),
            tags: filled(tags),
            description: filled(description),
            instance_id: OnceLock::new(),
        }
    }

    fn live_source(&self, what: &str) -> Result<(&'a Host, &'a Aws)> {
        match self.source {
            Source::Live { host, aws } => Ok((host, aws)),
            Source::Given => bail!("{what} was not given to this run"),
        }
    }

    /// The notebook's identity (resource metadata).
    pub fn notebook(&self) -> Result<&Notebook> {
        self.remembered(&self.notebook, || {
            let (host, _) = self.live_source("the notebook's metadata")?;
            Notebook::read(host)
        })
    }

    /// The notebook's tags (`ListTags`).
    pub fn tags(&self) -> Result<&Tags> {
        self.remembered(&self.tags, || {
            let (_, aws) = self.live_source("the notebook's tags")?;
            aws.sagemaker_tags(&self.notebook()?.arn)
        })
    }

    /// What the control plane says (`DescribeNotebookInstance`).
    pub fn description(&self) -> Result<&NotebookDescription> {
        self.remembered(&self.description, || {
            let (_, aws) = self.live_source("DescribeNotebookInstance")?;
            aws.sagemaker_describe_notebook(&self.notebook()?.name)
        })
    }

    /// Fetches `input` into the run's facts; the outcome, error included,
    /// is kept for the control that reads it.
    pub fn fetch(&self, input: &RemoteInput) {
        let _ = match input {
            RemoteInput::SsmNames(names) => self.ssm_parameters(names).map(|_| ()),
            RemoteInput::SsmPath(path) => self.ssm_parameters_by_path(path).map(|_| ()),
            RemoteInput::Tags => self.tags().map(|_| ()),
            RemoteInput::Description => self.description().map(|_| ()),
            RemoteInput::InstanceId => self.instance_id().map(|_| ()),
        };
    }

    /// SSM parameters by name (`GetParameters`, ten a call, decrypted),
    /// fetched once per run whichever thread asks first.
    pub fn ssm_parameters(&self, names: &[String]) -> Result<Vec<Parameter>> {
        let mut names = names.to_vec();
        names.sort();
        names.dedup();
        self.ssm_answer(SsmRequest::Names(names))
    }

    /// Every SSM parameter below `path` (`GetParametersByPath`), fetched
    /// once per run.
    pub fn ssm_parameters_by_path(&self, path: &str) -> Result<Vec<Parameter>> {
        self.ssm_answer(SsmRequest::Path(path.to_string()))
    }

    fn ssm_answer(&self, request: SsmRequest) -> Result<Vec<Parameter>> {
        let cell = {
            let mut answers = self.ssm.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(answers.entry(request.clone()).or_default())
        };
        self.remembered(&cell, || {
            let (_, aws) = self.live_source("SSM parameters")?;
            match &request {
                SsmRequest::Names(names) => aws.ssm_parameters(names),
                SsmRequest::Path(path) => aws.ssm_parameters_by_path(path),
            }
        })
        .cloned()
    }

    /// The description when this run already asked for it (a control
    /// needed it); never a call of its own.
    pub fn description_if_fetched(&self) -> Option<&NotebookDescription> {
        self.description.get().and_then(|r| r.as_ref().ok())
    }

    /// The EC2 instance id (IMDSv2).
    pub fn instance_id(&self) -> Result<&str> {
        self.remembered(&self.instance_id, || {
            let (_, aws) = self.live_source("the instance id")?;
            aws.instance_id()
        })
        .map(String::as_str)
    }

    /// The instance id when this run already talks to AWS; `None` rather
    /// than a first connection only to label a record.
    pub fn instance_id_if_connected(&self) -> Option<String> {
        match self.source {
            Source::Live { aws, .. } if aws.is_connected() => {
                self.instance_id().ok().map(str::to_string)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_facts_answer_without_a_server_and_the_rest_is_an_error() {
        let nb = Notebook::parse(
            r#"{"ResourceArn":"arn:aws:sagemaker:eu-west-1:111122223333:notebook-instance/nb1","ResourceName":"nb1"}"#,
        )
        .expect("valid");
        let tags = Tags::from([("owner".to_string(), "ana".to_string())]);
        let facts = Facts::given(Some(nb.clone()), Some(tags), None);
        assert_eq!(facts.notebook().expect("given"), &nb);
        assert_eq!(facts.tags().expect("given")["owner"], "ana");
        let err = facts.description().expect_err("not given");
        assert!(
            format!("{err:#}").contains("DescribeNotebookInstance"),
            "{err:#}"
        );
    }

    #[test]
    fn the_description_reads_the_api_fields_and_maps_policy_fields() {
        let d: NotebookDescription = serde_json::from_str(
            r#"{"NotebookInstanceName":"nb1","SubnetId":"subnet-1","SecurityGroups":["sg-1","sg-2"],
                "DirectInternetAccess":"Disabled","Unknown":3}"#,
        )
        .expect("the API's JSON");
        assert_eq!(
            notebook_field(&d, NotebookField::SecurityGroups),
            Some(serde_json::json!(["sg-1", "sg-2"]))
        );
        assert_eq!(
            notebook_field(&d, NotebookField::SubnetId),
            Some(Value::from("subnet-1"))
        );
        assert_eq!(notebook_field(&d, NotebookField::KmsKeyId), None);
    }

    #[test]
    fn reads_the_arn_and_ignores_unknown_fields() {
        let nb = Notebook::parse(
            r#"{"ResourceArn":"arn:aws:sagemaker:eu-west-1:111122223333:notebook-instance/nb1","ResourceName":"nb1","Extra":1}"#,
        )
        .expect("valid");
        assert_eq!(
            (nb.region.as_str(), nb.account.as_str(), nb.name.as_str()),
            ("eu-west-1", "111122223333", "nb1")
        );
    }

    #[test]
    fn malformed_metadata_names_the_file() {
        for bad in ["{", "{\"ResourceArn\":\"x\",\"ResourceName\":\"n\"}", "[]"] {
            let err = Notebook::parse(bad).expect_err("invalid");
            assert!(format!("{err:#}").contains(RESOURCE_METADATA), "{err:#}");
        }
    }
}
