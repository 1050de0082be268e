//! Whose credentials, and which accounts: STS's `GetCallerIdentity` and
//! `AssumeRole` (query protocol) and Organizations' `ListAccounts` (JSON
//! 1.1), through the one signed call. The fleet view reaches each account
//! of an organization by assuming a named role there.

use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};

use super::Aws;
use super::sagemaker::{QueryApi, SignedCall, xml_texts};

/// How many pages of `ListAccounts` (20 each) are read before giving up.
const MAX_PAGES: usize = 1_000;

/// How long an assumed role's session lasts: an admin command's deadline
/// is minutes.
const SESSION_SECONDS: u64 = 3_600;

impl Aws {
    /// One STS action in the caller's region; the answer's XML text.
    fn sts_call(&self, action: &str, params: &[(&str, &str)], resource: &str) -> Result<String> {
        let region = self.region()?;
        let base = super::endpoint("STS", format!("https://sts.{region}.amazonaws.com"));
        let api = QueryApi {
            service: "sts",
            product: "STS",
            version: "2011-06-15",
            region,
            url: format!("{base}/"),
        };
        self.query_call(&api, action, params, resource)
    }

    /// The account of the caller's credentials (`GetCallerIdentity`).
    pub fn caller_account(&self) -> Result<String> {
        let xml = self.sts_call("GetCallerIdentity", &[], "the caller")?;
        xml_texts(&xml, "Account")
            .into_iter()
            .next()
            .filter(|a| crate::base::names::is_account_id(a))
            .context("STS GetCallerIdentity: the answer names no account")
    }

    /// The clients of `role_arn`, assumed with these credentials
    /// (`AssumeRole`), in this connection's region and deadline.
    pub fn assume(&self, role_arn: &str) -> Result<Aws> {
        let duration = SESSION_SECONDS.to_string();
        let xml = self.sts_call(
            "AssumeRole",
            &[
                ("RoleArn", role_arn),
                ("RoleSessionName", "nbwarden-fleet"),
                ("DurationSeconds", &duration),
            ],
            role_arn,
        )?;
        let field = |name: &str| {
            xml_texts(&xml, name)
                .into_iter()
                .next()
                .filter(|v| !v.is_empty())
                .with_context(|| format!("STS AssumeRole on {role_arn}: the answer has no {name}"))
        };
        let expires = humantime::parse_rfc3339_weak(&field("Expiration")?)
            .unwrap_or_else(|_| SystemTime::now() + Duration::from_secs(SESSION_SECONDS));
        let credentials = aws_credential_types::Credentials::new(
            field("AccessKeyId")?,
            field("SecretAccessKey")?,
            Some(field("SessionToken")?),
            Some(expires),
            "nbwarden-assume-role",
        );
        Ok(Aws {
            region: Some(self.region()?),
            assumed: Some(credentials),
            ..Aws::new(self.deadline)
        })
    }

    /// The active accounts of the caller's organization (`ListAccounts`,
    /// all pages), sorted.
    pub fn organization_accounts(&self) -> Result<Vec<String>> {
        let base = super::endpoint(
            "ORGANIZATIONS",
            "https://organizations.us-east-1.amazonaws.com".into(),
        );
        let mut request = serde_json::json!({});
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let page = self.signed_call(&SignedCall {
                service: "organizations",
                product: "Organizations",
                operation: "ListAccounts",
                resource: "the organization",
                region: "us-east-1".into(),
                url: format!("{base}/"),
                headers: vec![
                    ("content-type", "application/x-amz-json-1.1".into()),
                    (
                        "x-amz-target",
                        "AWSOrganizationsV20161128.ListAccounts".into(),
                    ),
                ],
                body: serde_json::to_vec(&request)?,
                xml: false,
            })?;
            for account in page["Accounts"].as_array().into_iter().flatten() {
                let id = account["Id"].as_str().unwrap_or_default();
                if account["Status"].as_str() == Some("ACTIVE")
                    && crate::base::names::is_account_id(id)
                {
                    out.push(id.to_string());
                }
            }
            match page["NextToken"].as_str() {
                Some(t) if !t.is_empty() => request["NextToken"] = t.into(),
                _ => {
                    out.sort();
                    out.dedup();
                    return Ok(out);
                }
            }
        }
        bail!("Organizations ListAccounts: more than {MAX_PAGES} pages")
    }
}
