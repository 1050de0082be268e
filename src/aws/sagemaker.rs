//! SageMaker calls (and any other JSON call, see `signed_call`), signed with SigV4 (`aws-sigv4`,
//! the SDK's own signer) and sent with reqwest: one JSON call does not
//! justify compiling the whole SageMaker SDK crate into a lifecycle binary.

use std::time::SystemTime;

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow};
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use serde::Deserialize;

use super::{Aws, errors};

/// `DescribeNotebookInstance`'s answer: the fields nbwarden reads. The
/// API may add more, which are ignored; absent ones are `None`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NotebookDescription {
    pub notebook_instance_name: Option<String>,
    pub notebook_instance_arn: Option<String>,
    pub notebook_instance_status: Option<String>,
    /// Seconds since the epoch, as the JSON API sends timestamps.
    pub last_modified_time: Option<f64>,
    pub subnet_id: Option<String>,
    #[serde(default)]
    pub security_groups: Vec<String>,
    pub kms_key_id: Option<String>,
    pub direct_internet_access: Option<String>,
    pub root_access: Option<String>,
    pub role_arn: Option<String>,
    pub instance_type: Option<String>,
    /// The lifecycle configuration run at each start: without the fleet's,
    /// nbwarden never runs there.
    pub notebook_instance_lifecycle_config_name: Option<String>,
}

/// A notebook's tags, key to value.
pub type Tags = BTreeMap<String, String>;

impl Aws {
    fn sagemaker_endpoint(&self, region: &str) -> String {
        let base = super::endpoint(
            "SAGEMAKER",
            format!("https://api.sagemaker.{region}.amazonaws.com"),
        );
        format!("{base}/")
    }

    /// `DescribeNotebookInstance` for `name`, in this connection's region.
    pub fn sagemaker_describe_notebook(&self, name: &str) -> Result<NotebookDescription> {
        self.sagemaker_describe_notebook_in(&self.region()?, name)
    }

    /// `DescribeNotebookInstance` for `name` in `region` (the fleet view
    /// asks about notebooks in every region its reports name).
    pub fn sagemaker_describe_notebook_in(
        &self,
        region: &str,
        name: &str,
    ) -> Result<NotebookDescription> {
        let body = serde_json::json!({ "NotebookInstanceName": name });
        let answer = self.sagemaker_call(region, "DescribeNotebookInstance", &body, name)?;
        serde_json::from_value(answer).with_context(|| {
            format!("SageMaker DescribeNotebookInstance on {name}: the answer has unexpected types")
        })
    }

    /// Every notebook instance in `region` (`ListNotebookInstances`, all
    /// pages): name, status and ARN.
    pub fn sagemaker_list_notebooks(&self, region: &str) -> Result<Vec<NotebookDescription>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = serde_json::json!({ "MaxResults": 100 });
            if let Some(t) = token.take() {
                body["NextToken"] = serde_json::Value::String(t);
            }
            let page = self.sagemaker_call(region, "ListNotebookInstances", &body, region)?;
            let listed = page["NotebookInstances"].clone();
            let listed: Vec<NotebookDescription> = serde_json::from_value(if listed.is_null() {
                serde_json::Value::Array(Vec::new())
            } else {
                listed
            })
            .with_context(|| {
                format!(
                    "SageMaker ListNotebookInstances in {region}: the answer has unexpected types"
                )
            })?;
            out.extend(listed);
            match page["NextToken"].as_str() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    /// Every item of a paginated listing (`operation`, the items under
    /// `field`), with `request`'s filters.
    pub fn sagemaker_list_all(
        &self,
        region: &str,
        operation: &str,
        field: &str,
        request: serde_json::Value,
    ) -> Result<Vec<serde_json::Value>> {
        let mut out = Vec::new();
        let mut body = request;
        body["MaxResults"] = 100.into();
        loop {
            let page = self.sagemaker_call(region, operation, &body, region)?;
            out.extend(page[field].as_array().into_iter().flatten().cloned());
            match page["NextToken"].as_str() {
                Some(t) if !t.is_empty() => body["NextToken"] = t.into(),
                _ => return Ok(out),
            }
        }
    }

    /// `StopNotebookInstance` for `name`.
    pub fn sagemaker_stop_notebook(&self, name: &str) -> Result<()> {
        let body = serde_json::json!({ "NotebookInstanceName": name });
        self.sagemaker_call(&self.region()?, "StopNotebookInstance", &body, name)
            .map(|_| ())
    }

    /// The tags of a resource (`ListTags`, all pages) as key → value.
    pub fn sagemaker_tags(&self, arn: &str) -> Result<Tags> {
        self.sagemaker_tags_in(&self.region()?, arn)
    }

    /// `ListTags` in `region` (the fleet view asks in every region).
    pub fn sagemaker_tags_in(&self, region: &str, arn: &str) -> Result<Tags> {
        let mut tags = Tags::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = serde_json::json!({ "ResourceArn": arn });
            if let Some(t) = token.take() {
                body["NextToken"] = serde_json::Value::String(t);
            }
            let page = self.sagemaker_call(region, "ListTags", &body, arn)?;
            for t in page["Tags"].as_array().into_iter().flatten() {
                if let (Some(k), Some(v)) = (t["Key"].as_str(), t["Value"].as_str()) {
                    tags.insert(k.to_string(), v.to_string());
                }
            }
            match page["NextToken"].as_str() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(tags),
            }
        }
    }

    /// One SageMaker JSON call; `name` (the resource) appears in errors.
    pub fn sagemaker_call(
        &self,
        region: &str,
        operation: &str,
        request: &serde_json::Value,
        name: &str,
    ) -> Result<serde_json::Value> {
        let target = format!("SageMaker.{operation}");
        self.signed_call(&SignedCall {
            service: "sagemaker",
            product: "SageMaker",
            operation,
            resource: name,
            region: region.to_string(),
            url: self.sagemaker_endpoint(region),
            headers: vec![
                ("content-type", "application/x-amz-json-1.1".into()),
                ("x-amz-target", target),
            ],
            body: serde_json::to_vec(request)?,
            xml: false,
        })
    }

    /// One SigV4-signed POST with a JSON answer, inside the run's deadline,
    /// retried as the SDK's clients retry (see [`super::retry_config`]):
    /// throttling, transient codes, 5xx and broken connections are tried
    /// again after a jittered exponential backoff; anything else is final.
    pub(super) fn signed_call(&self, call: &SignedCall<'_>) -> Result<serde_json::Value> {
        let retry = super::retry_config();
        let mut attempt = 1;
        loop {
            let err = match self.signed_attempt(call) {
                Ok(answer) => return Ok(answer),
                Err(Attempt::Final(e)) => return Err(e),
                Err(Attempt::Retryable(e)) => e,
            };
            let wait = backoff(&retry, attempt);
            if attempt >= retry.max_attempts() {
                return Err(err.context(format!("gave up after {attempt} attempts")));
            }
            if wait >= self.remaining()? {
                return Err(err.context("no time left in the run's deadline to retry"));
            }
            tracing::debug!(
                operation = call.operation,
                attempt,
                backoff_ms = wait.as_millis() as u64,
                "retrying: {err:#}"
            );
            // The sleep is made inside the runtime: its timer lives there.
            self.connected()?
                .wait(async move { tokio::time::sleep(wait).await });
            attempt += 1;
        }
    }

    // Long: one signed request's whole life (sign, send, read within the deadline, classify the
    // answer), kept together so the deadline arithmetic is in one place.
    fn signed_attempt(&self, call: &SignedCall<'_>) -> Result<serde_json::Value, Attempt> {
        let c = self.connected().map_err(Attempt::Final)?;
        let region = &call.region;
        let timeout = self
            .remaining()
            .map_err(Attempt::Final)?
            .min(super::CALL_TIMEOUT);
        let what = format!("{} {} on {}", call.product, call.operation, call.resource);
        let provider = c
            .config
            .credentials_provider()
            .context("no AWS credentials provider")
            .map_err(Attempt::Final)?;
        let url = call.url.as_str();
        let body = &call.body;
        let fatal = |e: anyhow::Error| Attempt::Final(e);
        c.wait(async {
            let creds = tokio::time::timeout(timeout, provider.provide_credentials())
                .await
                .map_err(|_| fatal(anyhow!("{what}: getting credentials timed out")))?
                .map_err(|e| fatal(anyhow!("{what}: no credentials ({e})")))?;
            let identity = creds.into();
            let params: aws_sigv4::http_request::SigningParams<'_> = v4::SigningParams::builder()
                .identity(&identity)
                .region(region)
                .name(call.service)
                .time(SystemTime::now())
                .settings(SigningSettings::default())
                .build()
                .map_err(|e| fatal(anyhow!("{what}: cannot sign: {e}")))?
                .into();
            let signable = SignableRequest::new(
                "POST",
                url,
                call.headers.iter().map(|(k, v)| (*k, v.as_str())),
                SignableBody::Bytes(body),
            )
            .map_err(|e| fatal(anyhow!("{what}: cannot sign: {e}")))?;
            let (instructions, _) = sign(signable, &params)
                .map_err(|e| fatal(anyhow!("{what}: cannot sign: {e}")))?
                .into_parts();
            let client = c.signing_http().map_err(fatal)?;
            let mut req = client.post(url).timeout(timeout).body(body.clone());
            for (k, v) in &call.headers {
                req = req.header(*k, v.as_str());
            }
            let (signed, _) = instructions.into_parts();
            for h in signed {
                req = req.header(h.name(), h.value());
            }
            let resp = req.send().await.map_err(|e| {
                let err = anyhow!(
                    "{what} failed: {e}; check the {} VPC endpoint, DNS and security groups, \
                     or AWS_ENDPOINT_URL",
                    call.product
                );
                // A request that never got an answer may be sent again.
                if e.is_connect() || e.is_timeout() || e.is_request() {
                    Attempt::Retryable(err)
                } else {
                    Attempt::Final(err)
                }
            })?;
            let status = resp.status();
            let error_type = resp
                .headers()
                .get("x-amzn-errortype")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let text = resp.text().await.unwrap_or_default();
            if !status.is_success() {
                let err: serde_json::Value = if call.xml {
                    // The query protocol's <ErrorResponse><Error><Code>…
                    serde_json::json!({
                        "__type": xml_texts(&text, "Code").first(),
                        "message": xml_texts(&text, "Message").first(),
                    })
                } else {
                    serde_json::from_str(&text).unwrap_or_default()
                };
                let code = err["__type"]
                    .as_str()
                    .map(str::to_string)
                    .or(error_type)
                    .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
                let code = code.rsplit('#').next().unwrap_or(&code);
                let code = code.split(':').next().unwrap_or(code);
                let message = err["message"]
                    .as_str()
                    .or(err["Message"].as_str())
                    .unwrap_or(&text);
                let e = anyhow!(
                    "{what} failed: {code}: {message}{}",
                    errors::hint(code, call.product, call.operation, call.resource)
                );
                return Err(if errors::is_retryable(code, status.as_u16()) {
                    Attempt::Retryable(e)
                } else {
                    Attempt::Final(e)
                });
            }
            if call.xml {
                return Ok(serde_json::Value::String(text));
            }
            if text.trim().is_empty() {
                return Ok(serde_json::Value::Null);
            }
            serde_json::from_str(&text)
                .with_context(|| format!("{what}: the answer is not JSON"))
                .map_err(Attempt::Final)
        })
    }
}

/// A service of the query protocol (IAM, STS): a form body, an XML answer.
pub(super) struct QueryApi<'a> {
    pub service: &'a str,
    pub product: &'a str,
    pub version: &'a str,
    pub region: String,
    pub url: String,
}

impl Aws {
    /// One query-protocol action (`Action`, `Version` and `params` as a
    /// form); the answer's XML text.
    pub(super) fn query_call(
        &self,
        api: &QueryApi<'_>,
        action: &str,
        params: &[(&str, &str)],
        resource: &str,
    ) -> Result<String> {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("Action", action)
            .append_pair("Version", api.version);
        for (k, v) in params {
            form.append_pair(k, v);
        }
        let answer = self.signed_call(&SignedCall {
            service: api.service,
            product: api.product,
            operation: action,
            resource,
            region: api.region.clone(),
            url: api.url.clone(),
            headers: vec![(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8".into(),
            )],
            body: form.finish().into_bytes(),
            xml: true,
        })?;
        Ok(answer.as_str().unwrap_or_default().to_string())
    }
}

/// How one attempt of a signed call ended when it did not succeed.
enum Attempt {
    Retryable(anyhow::Error),
    Final(anyhow::Error),
}

/// The SDK's standard backoff: a random share of the initial backoff
/// doubled per attempt, capped.
fn backoff(retry: &aws_config::retry::RetryConfig, attempt: u32) -> std::time::Duration {
    let exponential = retry
        .initial_backoff()
        .saturating_mul(1 << attempt.saturating_sub(1).min(16));
    exponential
        .min(retry.max_backoff())
        .mul_f64(fastrand::f64())
}

/// A request for [`Aws::signed_call`].
pub(super) struct SignedCall<'a> {
    /// The SigV4 signing name.
    pub service: &'a str,
    /// How errors name the service.
    pub product: &'a str,
    pub operation: &'a str,
    /// What the call is about, for errors.
    pub resource: &'a str,
    /// The region it is signed for.
    pub region: String,
    pub url: String,
    pub headers: Vec<(&'a str, String)>,
    pub body: Vec<u8>,
    /// The answer is XML (the query protocol: IAM), returned as one JSON
    /// string for the caller to read with [`xml_texts`].
    pub xml: bool,
}

/// The text of every element named `name` in `xml`, unescaped, in order;
/// what is not well-formed ends the list where it breaks.
pub(super) fn xml_texts(xml: &str, name: &str) -> Vec<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    let mut inside: Option<String> = None;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) if e.local_name().as_ref() == name => {
                inside = Some(String::new());
            }
            Ok(Event::Text(t)) => {
                if let Some(acc) = inside.as_mut() {
                    acc.push_str(&t.xml10_content());
                }
            }
            // `&amp;`, `&#34;`: the reader hands each reference apart.
            Ok(Event::GeneralRef(r)) => {
                if let Some(acc) = inside.as_mut() {
                    let reference = format!("&{};", r.into_inner());
                    acc.push_str(&quick_xml::escape::unescape(&reference).unwrap_or_default());
                }
            }
            Ok(Event::End(e)) if e.local_name().as_ref() == name => {
                out.extend(inside.take());
            }
            Ok(Event::Eof) | Err(_) => return out,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::xml_texts;

    #[test]
    fn xml_texts_reads_members_and_entities_and_stops_at_broken_xml() {
        let answer = "<R><PolicyNames><member>a&amp;b</member><member>c&#34;d</member></PolicyNames>\
                      <IsTruncated>false</IsTruncated></R>";
        assert_eq!(xml_texts(answer, "member"), ["a&b", "c\"d"]);
        assert_eq!(xml_texts(answer, "IsTruncated"), ["false"]);
        assert_eq!(
            xml_texts("<R><member>x</member><member>y</oops>", "member"),
            ["x"]
        );
    }
}
