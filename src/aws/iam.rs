//! IAM calls of the fleet's cross-check (administrator's credentials): the
//! policies on a notebook's role. IAM speaks the query protocol: a form
//! body, an XML answer, signed for us-east-1 (IAM is global).

use anyhow::{Context, Result, bail};

use super::Aws;
use super::sagemaker::{QueryApi, xml_texts};

/// One policy on a role: its name, whether it is inline, and its document.
#[derive(Debug, Clone)]
pub struct RolePolicy {
    pub name: String,
    pub inline: bool,
    pub document: serde_json::Value,
}

/// How many pages of one listing are read before giving up: a role holds
/// at most a few dozen policies.
const MAX_PAGES: usize = 20;

impl Aws {
    fn iam_endpoint() -> String {
        let base = super::endpoint("IAM", "https://iam.amazonaws.com".into());
        format!("{base}/")
    }

    /// One IAM action; the answer's XML text.
    fn iam_call(&self, action: &str, params: &[(&str, &str)], resource: &str) -> Result<String> {
        let api = QueryApi {
            service: "iam",
            product: "IAM",
            version: "2010-05-08",
            region: "us-east-1".into(),
            url: Self::iam_endpoint(),
        };
        self.query_call(&api, action, params, resource)
    }

    /// Every page of a listing: the `element` texts of each.
    fn iam_list(&self, action: &str, role: &str, element: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut params = vec![("RoleName", role)];
            if let Some(m) = &marker {
                params.push(("Marker", m.as_str()));
            }
            let page = self.iam_call(action, &params, role)?;
            out.extend(xml_texts(&page, element));
            let truncated =
                xml_texts(&page, "IsTruncated").first().map(String::as_str) == Some("true");
            match xml_texts(&page, "Marker").into_iter().next() {
                Some(m) if truncated && !m.is_empty() => marker = Some(m),
                _ => return Ok(out),
            }
        }
        bail!("IAM {action} on {role}: more than {MAX_PAGES} pages")
    }

    /// The inline and attached managed policies of the role named `role`,
    /// with their documents (a managed policy's default version).
    pub fn iam_role_policies(&self, role: &str) -> Result<Vec<RolePolicy>> {
        let mut out = Vec::new();
        for name in self.iam_list("ListRolePolicies", role, "member")? {
            let answer = self.iam_call(
                "GetRolePolicy",
                &[("RoleName", role), ("PolicyName", &name)],
                role,
            )?;
            out.push(RolePolicy {
                document: document(&answer, "PolicyDocument", &name)?,
                name,
                inline: true,
            });
        }
        for arn in self.iam_list("ListAttachedRolePolicies", role, "PolicyArn")? {
            let policy = self.iam_call("GetPolicy", &[("PolicyArn", &arn)], &arn)?;
            let version = xml_texts(&policy, "DefaultVersionId")
                .into_iter()
                .next()
                .with_context(|| format!("IAM GetPolicy on {arn}: no default version"))?;
            let answer = self.iam_call(
                "GetPolicyVersion",
                &[("PolicyArn", &arn), ("VersionId", &version)],
                &arn,
            )?;
            out.push(RolePolicy {
                document: document(&answer, "Document", &arn)?,
                name: arn,
                inline: false,
            });
        }
        Ok(out)
    }
}

/// A policy document from an IAM answer: URL-encoded JSON.
fn document(answer: &str, element: &str, name: &str) -> Result<serde_json::Value> {
    let text = xml_texts(answer, element)
        .into_iter()
        .next()
        .with_context(|| format!("IAM answer for {name} holds no {element}"))?;
    let decoded = percent_encoding::percent_decode_str(&text).decode_utf8_lossy();
    serde_json::from_str(&decoded)
        .with_context(|| format!("IAM policy {name}: the document is not JSON"))
}
