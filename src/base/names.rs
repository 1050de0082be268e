//! The shapes of AWS names nbwarden accepts before it builds a request or a
//! path from them.

/// SageMaker's rule for a notebook instance's (and a lifecycle
/// configuration's) name: 1 to 63 letters, digits and hyphens, starting and
/// ending with a letter or digit.
pub fn is_sagemaker_name(text: &str) -> bool {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    !text.is_empty()
        && text.len() <= 63
        && text.chars().all(|c| alnum(c) || c == '-')
        && text.starts_with(alnum)
        && text.ends_with(alnum)
}

/// An AWS account id: 12 digits.
pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// An AWS region's shape (`eu-west-1`, `us-gov-west-1`): it goes into an
/// endpoint's host name, so nothing else may.
pub fn is_region(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}
