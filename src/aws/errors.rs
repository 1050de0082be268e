//! AWS failures as messages an administrator can act on.

use std::fmt::Debug;

use aws_sdk_ssm::error::{ProvideErrorMetadata, SdkError};

/// The IAM action prefix of a service name as nbwarden writes it.
fn iam_prefix(service: &str) -> String {
    match service {
        "SSM" => "ssm".into(),
        "S3" => "s3".into(),
        "SageMaker" => "sagemaker".into(),
        other => other.to_ascii_lowercase(),
    }
}

/// An error and its causes, on one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        parts.push(s.to_string());
        cur = s.source();
    }
    parts.dedup();
    parts.join(": ")
}

/// Names the service, operation and resource, says what happened and how
/// it is usually fixed.
pub fn describe<E, R>(
    err: SdkError<E, R>,
    service: &str,
    operation: &str,
    resource: &str,
) -> anyhow::Error
where
    E: ProvideErrorMetadata + Debug,
    R: Debug,
{
    let what = format!("{service} {operation} on {resource}");
    match &err {
        SdkError::TimeoutError(_) => anyhow::anyhow!(
            "{what} timed out: the {service} endpoint (or its VPC endpoint) did not answer in time"
        ),
        // The credential provider's failure reaches here as the request's:
        // no endpoint or DNS fix helps, a sign-in does.
        SdkError::DispatchFailure(d)
            if d.as_connector_error().is_some_and(|e| {
                let text = chain(e);
                text.contains("loading credentials") || text.contains("credentials provider")
            }) =>
        {
            let text = d.as_connector_error().map(|e| chain(e)).unwrap_or_default();
            // The on-instance release is built without the admin's
            // providers (cargo feature `admin-credentials`).
            let build = if text.contains("cargo feature") {
                "; this nbwarden is the on-instance build, without IAM Identity Center and \
                 credential_process: run admin commands from a default build (cargo install \
                 --path .)"
            } else {
                ""
            };
            anyhow::anyhow!(
                "{what} failed: no usable AWS credentials ({text}){build}; for an admin command \
                 sign in (aws sso login --profile NAME) and pass --profile NAME, or set \
                 AWS_PROFILE or AWS_ACCESS_KEY_ID; on a notebook, check the instance role (IMDSv2)"
            )
        }
        SdkError::DispatchFailure(d) => {
            let kind = if d.is_timeout() {
                "timed out connecting"
            } else if d.is_io() {
                "could not connect"
            } else {
                "could not send the request"
            };
            anyhow::anyhow!(
                "{what} failed: {kind} ({}); check the {service} VPC endpoint, DNS and \
                 security groups, or AWS_ENDPOINT_URL",
                d.as_connector_error().map(|e| chain(e)).unwrap_or_default()
            )
        }
        SdkError::ConstructionFailure(_) => anyhow::anyhow!(
            "{what} could not be prepared: usually no credentials (the notebook's execution \
             role through IMDSv2, or AWS_* variables): {err:?}"
        ),
        SdkError::ResponseError(_) => {
            anyhow::anyhow!("{what} failed: the answer could not be read: {err:?}")
        }
        SdkError::ServiceError(s) => {
            let code = s.err().code().unwrap_or("Unknown");
            let message = s.err().message().unwrap_or_default();
            anyhow::anyhow!(
                "{what} failed: {code}: {message}{}",
                hint(code, service, operation, resource)
            )
        }
        _ => anyhow::anyhow!("{what} failed: {err:?}"),
    }
}

/// Whether an error answer is worth another attempt: the codes and HTTP
/// statuses the SDK's own standard retry classifier retries.
pub(crate) fn is_retryable(code: &str, http_status: u16) -> bool {
    use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
    THROTTLING_ERRORS.contains(&code)
        || TRANSIENT_ERRORS.contains(&code)
        || matches!(http_status, 429 | 500 | 502 | 503 | 504)
}

pub(crate) fn hint(code: &str, service: &str, operation: &str, resource: &str) -> String {
    let action = format!("{}:{operation}", iam_prefix(service));
    match code {
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" => {
            format!("; fix: the notebook's execution role needs {action} on {resource}")
        }
        "ThrottlingException" | "Throttling" | "TooManyRequestsException" | "SlowDown" => {
            "; fix: the account is being throttled; retry later or raise the quota".into()
        }
        "ParameterNotFound" => format!("; fix: create {resource} or correct its name"),
        "NoSuchKey" | "NoSuchBucket" => format!("; fix: upload {resource} or correct the URI"),
        "ExpiredTokenException" | "InvalidClientTokenId" | "UnrecognizedClientException" => {
            "; fix: the credentials are not valid; check the instance role".into()
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_denied_names_the_action_and_resource() {
        let h = hint(
            "AccessDeniedException",
            "SSM",
            "GetParameters",
            "/nbwarden/vpc",
        );
        assert_eq!(
            h,
            "; fix: the notebook's execution role needs ssm:GetParameters on /nbwarden/vpc"
        );
        assert!(hint("NoSuchKey", "S3", "GetObject", "s3://b/k").contains("upload s3://b/k"));
        assert!(hint("Whatever", "S3", "GetObject", "x").is_empty());
    }

    #[test]
    fn throttling_and_server_errors_are_retried_and_denials_are_not() {
        assert!(is_retryable("ThrottlingException", 400));
        assert!(is_retryable("RequestTimeout", 400));
        assert!(is_retryable("HTTP 503", 503));
        assert!(!is_retryable("AccessDeniedException", 400));
        assert!(!is_retryable("ValidationException", 400));
    }
}
