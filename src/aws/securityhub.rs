//! Security Hub's `BatchImportFindings` and `GetFindings` (restJson1),
//! through the one signed call:
//! the administrator's fleet view publishes its findings with these. The
//! notebook role is never granted them (see the README).

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use super::Aws;
use super::sagemaker::SignedCall;

/// `BatchImportFindings` takes at most 100 findings a call.
pub const IMPORT_BATCH: usize = 100;

/// How many pages of `GetFindings` (100 each) are read before giving up.
const MAX_PAGES: usize = 1_000;

/// One finding in the AWS Security Finding Format: the fields nbwarden
/// writes and reads back. Security Hub keeps more (workflow, notes),
/// which are ignored on reading and never sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Finding {
    pub schema_version: String,
    pub id: String,
    pub product_arn: String,
    pub generator_id: String,
    pub aws_account_id: String,
    pub created_at: String,
    pub updated_at: String,
    pub title: String,
    pub description: String,
    pub resources: Vec<Resource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compliance: Option<Compliance>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding_provider_fields: Option<ProviderFields>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub product_fields: BTreeMap<String, String>,
}

/// The resource a finding is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Resource {
    #[serde(rename = "Type")]
    pub kind: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// `Compliance.Status`: `PASSED`, `FAILED`, `WARNING`, `NOT_AVAILABLE`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Compliance {
    pub status: String,
}

/// What only the provider sets: severity and types (Security Hub's
/// customers may change the top-level copies).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProviderFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Severity {
    pub label: String,
}

impl Aws {
    fn securityhub_call(
        &self,
        region: &str,
        operation: &str,
        path: &str,
        request: &serde_json::Value,
    ) -> Result<serde_json::Value> {
        let base = super::endpoint(
            "SECURITYHUB",
            format!("https://securityhub.{region}.amazonaws.com"),
        );
        self.signed_call(&SignedCall {
            service: "securityhub",
            product: "SecurityHub",
            operation,
            resource: region,
            region: region.to_string(),
            url: format!("{base}{path}"),
            headers: vec![("content-type", "application/json".into())],
            body: serde_json::to_vec(request)?,
            xml: false,
        })
    }

    /// Imports `findings` into Security Hub in `region`, at most
    /// [`IMPORT_BATCH`] a call. Every batch is sent whatever an earlier one
    /// met: a finding Security Hub refuses (or a batch that fails) is an
    /// error at the end that names it, and never keeps the others out.
    pub fn securityhub_import(&self, region: &str, findings: &[Finding]) -> Result<usize> {
        let mut imported = 0;
        let mut refused = Vec::new();
        for batch in findings.chunks(IMPORT_BATCH) {
            let answer = match self.securityhub_call(
                region,
                "BatchImportFindings",
                "/findings/import",
                &serde_json::json!({ "Findings": batch }),
            ) {
                Ok(answer) => answer,
                Err(e) => {
                    refused.push(format!("a batch of {}: {e:#}", batch.len()));
                    continue;
                }
            };
            let failed = answer["FailedFindings"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let failed_count = answer["FailedCount"]
                .as_u64()
                .unwrap_or(failed.len() as u64) as usize;
            refused.extend(failed.iter().take(5).map(|f| {
                format!(
                    "{}: {} {}",
                    f["Id"].as_str().unwrap_or("?"),
                    f["ErrorCode"].as_str().unwrap_or("?"),
                    f["ErrorMessage"].as_str().unwrap_or("")
                )
            }));
            if failed_count > 5 {
                refused.push(format!("and {} more", failed_count - 5));
            }
            imported += batch.len().saturating_sub(failed_count);
        }
        if !refused.is_empty() {
            bail!(
                "SecurityHub BatchImportFindings in {region}: {imported} of {} finding(s) \
                 imported; refused: {}",
                findings.len(),
                refused.join("; ")
            );
        }
        Ok(imported)
    }

    /// The active findings in `region` whose generator starts with
    /// `generator_prefix`, of account `account` (all pages). The filters
    /// are applied here again: what an endpoint does not filter is not
    /// taken for nbwarden's.
    pub fn securityhub_active_findings(
        &self,
        region: &str,
        account: &str,
        generator_prefix: &str,
    ) -> Result<Vec<Finding>> {
        let mut request = serde_json::json!({
            "Filters": {
                "GeneratorId": [{ "Value": generator_prefix, "Comparison": "PREFIX" }],
                "RecordState": [{ "Value": "ACTIVE", "Comparison": "EQUALS" }],
                "AwsAccountId": [{ "Value": account, "Comparison": "EQUALS" }],
            },
            "MaxResults": 100,
        });
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let page = self.securityhub_call(region, "GetFindings", "/findings", &request)?;
            for value in page["Findings"].as_array().into_iter().flatten() {
                // A finding of another provider may lack fields nbwarden's
                // always have: it is not nbwarden's.
                let Ok(finding) = serde_json::from_value::<Finding>(value.clone()) else {
                    continue;
                };
                if finding.generator_id.starts_with(generator_prefix)
                    && finding.aws_account_id == account
                    && finding.record_state.as_deref().unwrap_or("ACTIVE") == "ACTIVE"
                {
                    out.push(finding);
                }
            }
            match page["NextToken"].as_str() {
                Some(t) if !t.is_empty() => request["NextToken"] = t.into(),
                _ => return Ok(out),
            }
        }
        bail!("SecurityHub GetFindings in {region}: more than {MAX_PAGES} pages")
    }
}
