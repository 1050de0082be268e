//! AWS at the edge: one place that builds clients from the default chain
//! (environment, profile, IMDSv2 instance role; region from the
//! environment or IMDS), bounds every call by a per-call timeout inside the
//! run's deadline with the SDK's jittered, bounded retries, and turns every
//! failure into a message that names the service, operation and resource,
//! and the likely fix. The SDK honours `AWS_ENDPOINT_URL*` and
//! `AWS_EC2_METADATA_SERVICE_ENDPOINT`, which is how tests reach moto and a
//! local IMDS.

mod accounts;
mod codeartifact;
mod errors;
mod iam;
mod sagemaker;
mod securityhub;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

pub use codeartifact::CodeArtifactToken;
pub use errors::describe;
pub use iam::RolePolicy;
pub use sagemaker::{NotebookDescription, Tags};
pub use securityhub::{
    Compliance, Finding, IMPORT_BATCH, ProviderFields, Resource as FindingResource, Severity,
};

/// A service's endpoint, without a trailing slash: `AWS_ENDPOINT_URL_<SERVICE>`,
/// else `AWS_ENDPOINT_URL` (as the SDK reads them), else `default`.
fn endpoint(service: &str, default: String) -> String {
    std::env::var(format!("AWS_ENDPOINT_URL_{service}"))
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or(default)
}

/// Checks an instance id from IMDS before it names anything (it becomes
/// part of the fleet report's S3 key): `i-` and 8 or 17 hex digits.
pub fn parse_instance_id(answer: &str) -> Result<String> {
    let id = answer.trim();
    let hex = id.strip_prefix("i-").unwrap_or("");
    if matches!(hex.len(), 8 | 17)
        && hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return Ok(id.to_string());
    }
    let shown: String = id.chars().take(40).flat_map(char::escape_default).collect();
    bail!("IMDS answered {shown:?} for the instance id, which is not one (i-0123456789abcdef0)")
}

/// The longest any single call may take, deadline permitting.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(6);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Attempts per call (the SDK's standard mode: exponential backoff with jitter).
const MAX_ATTEMPTS: u32 = 3;

/// The one retry policy of every AWS call: the SDK's clients get it as
/// their configuration, and the hand-signed calls (SageMaker, CodeArtifact)
/// follow the same attempts, backoff and error classification.
pub(crate) fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS)
}
/// SSM's GetParameters takes at most ten names.
const SSM_BATCH: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    pub name: String,
    pub kind: ParameterKind,
    pub value: String,
}

/// An SSM parameter's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParameterKind {
    String,
    /// Comma-separated values.
    StringList,
    /// Encrypted; never written where others can read it.
    SecureString,
}

/// Clients are built on first use: a run whose policy needs no AWS never
/// touches the network. Shared by the run's thread and the one that fetches
/// remote inputs ahead of the controls (`Control::remote_inputs`, fetched by
/// `run::run`).
pub struct Aws {
    deadline: Instant,
    inner: OnceLock<Connected>,
    /// Held while the first connection is made, so two threads never load
    /// the configuration (credentials, region) twice.
    connecting: Mutex<()>,
    /// The thread whose waits the report counts (the one that made this).
    owner: ThreadId,
    /// The administrator's `--profile` and `--region`, as the AWS CLI
    /// takes them; `None`: the default chain decides.
    profile: Option<String>,
    region: Option<String>,
    /// An assumed role's credentials ([`Aws::assume`]), used instead of
    /// the default chain.
    assumed: Option<aws_credential_types::Credentials>,
}

struct Connected {
    rt: tokio::runtime::Runtime,
    config: SdkConfig,
    owner: ThreadId,
    /// Nanoseconds the owner thread spent waiting on AWS (and IMDS), for
    /// the report: the rest of a run is nbwarden's own cost. Fetches made
    /// ahead on another thread overlap local work and are not counted.
    waited_ns: AtomicU64,
    /// The HTTP client of the calls nbwarden signs itself (SageMaker),
    /// made once so that its connections are kept: a fleet's cross-check
    /// makes thousands of calls, each of which used to open its own.
    signing_http: OnceLock<reqwest::Client>,
}

impl Connected {
    fn signing_http(&self) -> Result<&reqwest::Client> {
        if let Some(client) = self.signing_http.get() {
            return Ok(client);
        }
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .context("cannot make the HTTP client for SageMaker calls")?;
        Ok(self.signing_http.get_or_init(|| client))
    }
}

impl Connected {
    fn count_wait(&self, took: Duration) {
        if std::thread::current().id() == self.owner {
            self.waited_ns
                .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
        }
    }

    /// Runs one AWS exchange to completion, counting the time it took. The
    /// runtime is current-thread: a second thread's exchange is driven by
    /// whichever thread holds the runtime, so both make progress.
    fn wait<F: std::future::Future>(&self, f: F) -> F::Output {
        let started = Instant::now();
        let out = self.rt.block_on(f);
        self.count_wait(started.elapsed());
        out
    }
}

/// A key from a listing made with `encoding-type=url` (`+` is a space).
fn url_decoded_key(key: &str) -> String {
    percent_encoding::percent_decode_str(&key.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// An object's body, refused as soon as it is known to pass `limit` bytes
/// (by its length header, else while reading): a report the notebook user
/// can replace must not make root, or the fleet view, hold gigabytes.
/// The body is read within `timeout`: the SDK's operation timeout ends
/// with the response's headers, and a body that stalls would otherwise
/// hold the run (or the fleet view) past its deadline.
async fn read_limited(
    mut resp: aws_sdk_s3::operation::get_object::GetObjectOutput,
    limit: usize,
    resource: &str,
    timeout: Duration,
) -> Result<Vec<u8>> {
    let too_large = || anyhow!("{resource} is larger than {limit} bytes; refusing it");
    if resp.content_length().unwrap_or(0) > limit as i64 {
        return Err(too_large());
    }
    let read = async {
        let mut bytes = Vec::new();
        while let Some(chunk) = resp
            .body
            .try_next()
            .await
            .with_context(|| format!("S3 GetObject {resource}: the download broke off"))?
        {
            if bytes.len() + chunk.len() > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    };
    tokio::time::timeout(timeout, read).await.map_err(|_| {
        anyhow!("S3 GetObject {resource}: the body did not arrive within {timeout:?}")
    })?
}

impl Aws {
    pub fn new(deadline: Instant) -> Aws {
        Aws {
            deadline,
            inner: OnceLock::new(),
            connecting: Mutex::new(()),
            owner: std::thread::current().id(),
            profile: None,
            region: None,
            assumed: None,
        }
    }

    /// The clients of an admin command on the administrator's machine: the
    /// shared config's `profile` (SSO, `credential_process`, assumed roles:
    /// the SDK's whole chain) and `region` when given, as `aws --profile P
    /// --region R` would use them.
    pub fn admin(deadline: Instant, profile: Option<String>, region: Option<String>) -> Aws {
        Aws {
            profile,
            region,
            ..Aws::new(deadline)
        }
    }

    fn remaining(&self) -> Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(crate::base::deadline::DeadlineReached(
                "before an AWS call could start".into(),
            )
            .into());
        }
        Ok(left)
    }

    fn timeouts(&self) -> Result<TimeoutConfig> {
        let left = self.remaining()?;
        Ok(TimeoutConfig::builder()
            .operation_timeout(left.min(CALL_TIMEOUT))
            .operation_attempt_timeout(left.min(ATTEMPT_TIMEOUT))
            .connect_timeout(left.min(CONNECT_TIMEOUT))
            .build())
    }

    fn connected(&self) -> Result<&Connected> {
        if let Some(c) = self.inner.get() {
            return Ok(c);
        }
        let _one_at_a_time = self.connecting.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = self.inner.get() {
            return Ok(c);
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime for AWS calls")?;
        let timeouts = self.timeouts()?;
        let left = self.remaining()?;
        let started = Instant::now();
        let config = rt.block_on(async {
            tokio::time::timeout(
                left.min(CALL_TIMEOUT),
                self.loader().timeout_config(timeouts).load(),
            )
            .await
        });
        let config = config.map_err(|_| anyhow!("loading the AWS configuration timed out"))?;
        if let (None, Some(profile)) = (config.region(), &self.profile) {
            bail!(
                "no AWS region for --profile {profile}: pass --region, or check that the AWS \
                 config file (~/.aws/config, AWS_CONFIG_FILE) has [profile {profile}] with a region"
            );
        }
        if config.region().is_none() {
            bail!(
                "no AWS region: pass --region (admin commands), set AWS_REGION or the \
                 profile's region, or let nbwarden reach the instance metadata service \
                 (IMDSv2) to learn it"
            );
        }
        let connected = Connected {
            rt,
            config,
            owner: self.owner,
            waited_ns: AtomicU64::new(0),
            signing_http: OnceLock::new(),
        };
        connected.count_wait(started.elapsed());
        Ok(self.inner.get_or_init(|| connected))
    }

    /// The configuration loader: the default chain, the administrator's
    /// profile and region over it, the one retry policy.
    fn loader(&self) -> aws_config::ConfigLoader {
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).retry_config(retry_config());
        if let Some(profile) = &self.profile {
            // As `aws --profile`: the profile's credentials even where
            // AWS_ACCESS_KEY_ID is set (the default chain reads it first).
            let credentials = aws_config::profile::ProfileFileCredentialsProvider::builder()
                .profile_name(profile)
                .build();
            loader = loader
                .profile_name(profile)
                .credentials_provider(credentials);
        }
        if let Some(region) = &self.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(credentials) = &self.assumed {
            loader = loader.credentials_provider(credentials.clone());
        }
        loader
    }

    pub fn region(&self) -> Result<String> {
        let c = self.connected()?;
        Ok(c.config.region().map(|r| r.to_string()).unwrap_or_default())
    }

    fn ssm(&self) -> Result<(&Connected, aws_sdk_ssm::Client)> {
        let c = self.connected()?;
        let conf = aws_sdk_ssm::config::Builder::from(&c.config)
            .timeout_config(self.timeouts()?)
            .build();
        Ok((c, aws_sdk_ssm::Client::from_conf(conf)))
    }

    fn s3(&self) -> Result<(&Connected, aws_sdk_s3::Client)> {
        let c = self.connected()?;
        // Emulators on 127.0.0.1 have no bucket subdomains.
        let path_style = std::env::var_os("AWS_ENDPOINT_URL").is_some()
            || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        let conf = aws_sdk_s3::config::Builder::from(&c.config)
            .timeout_config(self.timeouts()?)
            .force_path_style(path_style)
            .build();
        Ok((c, aws_sdk_s3::Client::from_conf(conf)))
    }

    /// Parameters by name, ten a call, decrypted. Every missing name is an
    /// error that lists them all.
    pub fn ssm_parameters(&self, names: &[String]) -> Result<Vec<Parameter>> {
        let (c, client) = self.ssm()?;
        let mut out = Vec::new();
        let mut missing = Vec::new();
        for batch in names.chunks(SSM_BATCH) {
            let resp = c
                .wait(
                    client
                        .get_parameters()
                        .set_names(Some(batch.to_vec()))
                        .with_decryption(true)
                        .send(),
                )
                .map_err(|e| describe(e, "SSM", "GetParameters", &batch.join(", ")))?;
            missing.extend(resp.invalid_parameters().iter().cloned());
            out.extend(resp.parameters().iter().map(parameter));
        }
        if !missing.is_empty() {
            bail!(
                "SSM GetParameters: no such parameter(s) {} in {}: create them, or fix the names \
                 in the policy",
                missing.join(", "),
                self.region()?
            );
        }
        Ok(out)
    }

    /// Every parameter below `path` (recursive, all pages), decrypted.
    pub fn ssm_parameters_by_path(&self, path: &str) -> Result<Vec<Parameter>> {
        let (c, client) = self.ssm()?;
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let resp = c
                .wait(
                    client
                        .get_parameters_by_path()
                        .path(path)
                        .recursive(true)
                        .with_decryption(true)
                        .set_next_token(token.take())
                        .send(),
                )
                .map_err(|e| describe(e, "SSM", "GetParametersByPath", path))?;
            out.extend(resp.parameters().iter().map(parameter));
            match resp.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }

    /// One parameter, decrypted.
    pub fn ssm_parameter(&self, name: &str) -> Result<Parameter> {
        let (c, client) = self.ssm()?;
        let resp = c
            .wait(
                client
                    .get_parameter()
                    .name(name)
                    .with_decryption(true)
                    .send(),
            )
            .map_err(|e| describe(e, "SSM", "GetParameter", name))?;
        resp.parameter()
            .map(parameter)
            .with_context(|| format!("SSM GetParameter {name}: the answer held no parameter"))
    }

    /// An S3 object, refused when larger than `limit` bytes.
    pub fn s3_object(&self, bucket: &str, key: &str, limit: usize) -> Result<Vec<u8>> {
        let mut data = Vec::new();
        self.s3_stream(bucket, key, limit as u64, CALL_TIMEOUT, &mut |chunk| {
            data.extend_from_slice(chunk);
            Ok(())
        })?;
        Ok(data)
    }

    /// Streams an S3 object into `sink` chunk by chunk, refused when larger
    /// than `limit` bytes or slower than `timeout` (deadline permitting).
    pub fn s3_stream(
        &self,
        bucket: &str,
        key: &str,
        limit: u64,
        timeout: Duration,
        sink: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<u64> {
        let (c, client) = self.s3()?;
        let resource = format!("s3://{bucket}/{key}");
        let timeout = timeout.min(self.remaining()?);
        let too_large = || anyhow!("{resource} is larger than {limit} bytes; refusing it");
        let stream = async {
            let mut resp = client
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| describe(e, "S3", "GetObject", &resource))?;
            if resp.content_length().unwrap_or(0) as u64 > limit {
                return Err(too_large());
            }
            let mut total = 0u64;
            while let Some(chunk) = resp
                .body
                .try_next()
                .await
                .with_context(|| format!("S3 GetObject {resource}: the download broke off"))?
            {
                total += chunk.len() as u64;
                if total > limit {
                    return Err(too_large());
                }
                sink(&chunk)?;
            }
            Ok(total)
        };
        c.wait(async { tokio::time::timeout(timeout, stream).await })
            .map_err(|_| anyhow!("S3 GetObject {resource}: not finished within {timeout:?}"))?
    }

    /// Counts `took` as the run's own thread waiting on AWS (for a wait on
    /// a fetch another thread makes); other threads' waits are not counted.
    pub fn count_wait(&self, took: Duration) {
        if let Some(c) = self.inner.get() {
            c.count_wait(took);
        }
    }

    /// How long the run's own thread has waited on AWS so far.
    pub fn waited(&self) -> Duration {
        self.inner
            .get()
            .map(|c| Duration::from_nanos(c.waited_ns.load(Ordering::Relaxed)))
            .unwrap_or_default()
    }

    /// Whether a client was built (the policy needed AWS).
    pub fn is_connected(&self) -> bool {
        self.inner.get().is_some()
    }

    /// An S3 object, or `None` when the key does not exist.
    pub fn s3_object_optional(
        &self,
        bucket: &str,
        key: &str,
        limit: usize,
    ) -> Result<Option<Vec<u8>>> {
        let (c, client) = self.s3()?;
        let resource = format!("s3://{bucket}/{key}");
        let timeout = self.remaining()?.min(CALL_TIMEOUT);
        c.wait(async {
            match client.get_object().bucket(bucket).key(key).send().await {
                Ok(resp) => read_limited(resp, limit, &resource, timeout)
                    .await
                    .map(Some),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
                Err(e) => Err(describe(e, "S3", "GetObject", &resource)),
            }
        })
    }

    /// Writes an S3 object, with SSE-KMS when `kms_key` is given.
    pub fn s3_put(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        kms_key: Option<&str>,
    ) -> Result<()> {
        self.put_object(bucket, key, body, kms_key, false)
    }

    /// [`Aws::s3_put`] only where no object is yet (`If-None-Match: *`):
    /// what was written is never replaced, and a policy can require it
    /// (the `s3:if-none-match` condition key) so the writer cannot either.
    pub fn s3_put_new(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        kms_key: Option<&str>,
    ) -> Result<()> {
        self.put_object(bucket, key, body, kms_key, true)
    }

    fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        kms_key: Option<&str>,
        only_new: bool,
    ) -> Result<()> {
        let (c, client) = self.s3()?;
        let resource = format!("s3://{bucket}/{key}");
        let mut req = client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .body(body.into());
        if only_new {
            req = req.if_none_match("*");
        }
        if let Some(k) = kms_key {
            req = req
                .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
                .ssekms_key_id(k);
        }
        c.wait(req.send())
            .map_err(|e| describe(e, "S3", "PutObject", &resource))?;
        Ok(())
    }

    /// Every key under `prefix`, through all pages.
    /// The "directories" right below `prefix` (`prefix` ends with `/`):
    /// the common prefixes of a listing with a `/` delimiter, all pages,
    /// URL-encoded on the wire (a name may hold any character). What lies
    /// deeper is never listed.
    pub fn s3_prefixes(&self, bucket: &str, prefix: &str) -> Result<Vec<String>> {
        let (c, client) = self.s3()?;
        let resource = format!("s3://{bucket}/{prefix}");
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        loop {
            self.remaining()?;
            let resp = c
                .wait(
                    client
                        .list_objects_v2()
                        .bucket(bucket)
                        .prefix(prefix)
                        .delimiter("/")
                        .encoding_type(aws_sdk_s3::types::EncodingType::Url)
                        .set_continuation_token(token.take())
                        .send(),
                )
                .map_err(|e| describe(e, "S3", "ListObjectsV2", &resource))?;
            found.extend(
                resp.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix())
                    .map(url_decoded_key),
            );
            match resp.next_continuation_token() {
                Some(t) if resp.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => return Ok(found),
            }
        }
    }

    /// Many objects, fetched 16 at a time; each result is handed to `each`
    /// (with its index in `keys`) as it arrives and then dropped, so at
    /// most 16 bodies are held at once, however many keys there are.
    pub fn s3_objects(
        &self,
        bucket: &str,
        keys: &[String],
        limit: usize,
        mut each: impl FnMut(usize, Result<Vec<u8>>),
    ) -> Result<()> {
        let (c, client) = self.s3()?;
        c.wait(async {
            let mut set = tokio::task::JoinSet::new();
            let mut next = 0;
            loop {
                while set.len() < 16 && next < keys.len() {
                    let timeout = match self.remaining() {
                        Ok(left) => left.min(CALL_TIMEOUT),
                        Err(e) => {
                            each(next, Err(e));
                            next += 1;
                            continue;
                        }
                    };
                    let client = client.clone();
                    let (bucket, key, i) = (bucket.to_string(), keys[next].clone(), next);
                    set.spawn(async move {
                        let resource = format!("s3://{bucket}/{key}");
                        let got = async {
                            let resp = client
                                .get_object()
                                .bucket(&bucket)
                                .key(&key)
                                .send()
                                .await
                                .map_err(|e| describe(e, "S3", "GetObject", &resource))?;
                            read_limited(resp, limit, &resource, timeout).await
                        }
                        .await;
                        (i, got)
                    });
                    next += 1;
                }
                match set.join_next().await {
                    Some(Ok((i, got))) => each(i, got),
                    Some(Err(e)) => return Err(anyhow!("a download task failed: {e}")),
                    None => return Ok(()),
                }
            }
        })
    }

    /// The instance id, from IMDSv2.
    pub fn instance_id(&self) -> Result<String> {
        let c = self.connected()?;
        let client = aws_config::imds::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(ATTEMPT_TIMEOUT)
            .build();
        let left = self.remaining()?;
        c.wait(async {
            tokio::time::timeout(left.min(CALL_TIMEOUT), client.get("/latest/meta-data/instance-id")).await
        })
        .map_err(|_| anyhow!("IMDS: reading the instance id timed out"))?
        .map_err(|e| anyhow!("IMDS: cannot read the instance id: {e}; is the metadata service reachable (IMDSv2)?"))
        .and_then(|s| parse_instance_id(s.as_ref()))
    }
}

fn parameter(p: &aws_sdk_ssm::types::Parameter) -> Parameter {
    Parameter {
        name: p.name().unwrap_or_default().to_string(),
        kind: match p.r#type() {
            Some(aws_sdk_ssm::types::ParameterType::String) => ParameterKind::String,
            Some(aws_sdk_ssm::types::ParameterType::StringList) => ParameterKind::StringList,
            // A type this build does not know is treated as the secret one:
            // it must then be declared `secret = true`.
            _ => ParameterKind::SecureString,
        },
        value: p.value().unwrap_or_default().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_instance_id;

    #[test]
    fn only_real_instance_ids_pass_from_imds() {
        assert_eq!(
            parse_instance_id("i-0123456789abcdef0\n").unwrap(),
            "i-0123456789abcdef0"
        );
        assert_eq!(parse_instance_id("i-1234abcd").unwrap(), "i-1234abcd");
        for bad in [
            "",
            "i-",
            "../../reports/x",
            "i-0123456789abcdef0/../x",
            "i-ABCDEF12",
            "i-0123456789abcdef",
        ] {
            let err = parse_instance_id(bad).unwrap_err().to_string();
            assert!(err.contains("not one"), "{bad:?}: {err}");
        }
    }
}
