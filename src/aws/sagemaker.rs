//! SageMaker's DescribeNotebookInstance, signed with SigV4 (`aws-sigv4`,
//! the SDK's own signer) and sent with reqwest: one JSON call does not
//! justify compiling the whole SageMaker SDK crate into a lifecycle binary.

use std::time::SystemTime;

use anyhow::{Context, Result, anyhow, bail};
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;

use super::{Aws, errors};

impl Aws {
    fn sagemaker_endpoint(&self, region: &str) -> String {
        std::env::var("AWS_ENDPOINT_URL_SAGEMAKER")
            .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
            .map(|u| format!("{}/", u.trim_end_matches('/')))
            .unwrap_or_else(|_| format!("https://api.sagemaker.{region}.amazonaws.com/"))
    }

    /// `DescribeNotebookInstance` for `name`: the JSON answer.
    pub fn sagemaker_describe_notebook(&self, name: &str) -> Result<serde_json::Value> {
        self.sagemaker_call("DescribeNotebookInstance", name)
    }

    /// `StopNotebookInstance` for `name`.
    pub fn sagemaker_stop_notebook(&self, name: &str) -> Result<()> {
        self.sagemaker_call("StopNotebookInstance", name)
            .map(|_| ())
    }

    /// One SageMaker JSON call whose only argument is the notebook's name.
    fn sagemaker_call(&self, operation: &str, name: &str) -> Result<serde_json::Value> {
        let c = self.connected()?;
        let region = self.region()?;
        let url = self.sagemaker_endpoint(&region);
        let timeout = self.remaining()?.min(super::CALL_TIMEOUT);
        let what = format!("SageMaker {operation} on {name}");
        let target = format!("SageMaker.{operation}");
        let body = serde_json::to_vec(&serde_json::json!({ "NotebookInstanceName": name }))?;
        let provider = c
            .config
            .credentials_provider()
            .context("no AWS credentials provider")?;
        c.rt.block_on(async {
            let creds = tokio::time::timeout(timeout, provider.provide_credentials())
                .await
                .map_err(|_| anyhow!("{what}: getting credentials timed out"))?
                .map_err(|e| anyhow!("{what}: no credentials ({e})"))?;
            let identity = creds.into();
            let params: aws_sigv4::http_request::SigningParams<'_> = v4::SigningParams::builder()
                .identity(&identity)
                .region(&region)
                .name("sagemaker")
                .time(SystemTime::now())
                .settings(SigningSettings::default())
                .build()
                .map_err(|e| anyhow!("{what}: cannot sign: {e}"))?
                .into();
            let headers = [
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", target.as_str()),
            ];
            let signable = SignableRequest::new(
                "POST",
                url.as_str(),
                headers.iter().copied(),
                SignableBody::Bytes(&body),
            )
            .map_err(|e| anyhow!("{what}: cannot sign: {e}"))?;
            let (instructions, _) = sign(signable, &params)
                .map_err(|e| anyhow!("{what}: cannot sign: {e}"))?
                .into_parts();
            let client = reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(super::CONNECT_TIMEOUT)
                .build()?;
            let mut req = client.post(&url).body(body.clone());
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let (signed, _) = instructions.into_parts();
            for h in signed {
                req = req.header(h.name(), h.value());
            }
            let resp = req.send().await.map_err(|e| {
                anyhow!(
                    "{what} failed: {e}; check the SageMaker API VPC endpoint, DNS and \
                     security groups, or AWS_ENDPOINT_URL"
                )
            })?;
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            if !status.is_success() {
                let err: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                let code = err["__type"].as_str().unwrap_or("Unknown");
                let code = code.rsplit('#').next().unwrap_or(code);
                let message = err["message"]
                    .as_str()
                    .or(err["Message"].as_str())
                    .unwrap_or(&text);
                bail!(
                    "{what} failed: {code}: {message}{}",
                    errors::hint(code, "SageMaker", operation, name)
                );
            }
            if text.trim().is_empty() {
                return Ok(serde_json::Value::Null);
            }
            serde_json::from_str(&text).with_context(|| format!("{what}: the answer is not JSON"))
        })
    }
}
