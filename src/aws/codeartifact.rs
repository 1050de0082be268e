//! CodeArtifact's `GetAuthorizationToken`, through the same signed call as
//! SageMaker's (no CodeArtifact SDK crate for one call).

use anyhow::{Context, Result};

use super::Aws;
use super::sagemaker::SignedCall;

/// A repository token and when it expires (Unix seconds).
pub struct CodeArtifactToken {
    pub token: String,
    pub expires_at: u64,
}

impl Aws {
    /// A token for `domain` owned by account `owner`, valid `duration_s`.
    pub fn codeartifact_token(
        &self,
        domain: &str,
        owner: &str,
        duration_s: u64,
    ) -> Result<CodeArtifactToken> {
        let region = self.region()?;
        let endpoint = super::endpoint(
            "CODEARTIFACT",
            format!("https://codeartifact.{region}.amazonaws.com"),
        );
        let mut url = url::Url::parse(&format!("{endpoint}/v1/authorization-token"))
            .with_context(|| format!("bad CodeArtifact endpoint {endpoint}"))?;
        url.query_pairs_mut()
            .append_pair("domain", domain)
            .append_pair("domain-owner", owner)
            .append_pair("duration", &duration_s.to_string());
        let resource = format!("domain {domain} (owner {owner})");
        let answer = self.signed_call(&SignedCall {
            service: "codeartifact",
            product: "CodeArtifact",
            operation: "GetAuthorizationToken",
            resource: &resource,
            region: region.clone(),
            url: url.to_string(),
            headers: vec![("content-type", "application/json".into())],
            body: Vec::new(),
            xml: false,
        })?;
        let token = answer["authorizationToken"]
            .as_str()
            .filter(|t| !t.is_empty())
            .context("CodeArtifact GetAuthorizationToken: the answer holds no token")?
            .to_string();
        let expires_at = answer["expiration"]
            .as_f64()
            .map(|f| f as u64)
            .context("CodeArtifact GetAuthorizationToken: the answer holds no expiration")?;
        Ok(CodeArtifactToken { token, expires_at })
    }
}
