//! Facts about the notebook instance that need no network: SageMaker's
//! `/opt/ml/metadata/resource-metadata.json`.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::host::Host;

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

#[cfg(test)]
mod tests {
    use super::*;

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
