//! Pinned downloads: bounded in size and time, hashed while they stream to
//! disk, and kept only when the sha256 is the one the policy pins. The file
//! is written through the host's one atomic write path, so a refused or
//! broken download leaves nothing behind.

use std::cell::RefCell;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::aws::Aws;
use crate::host::{Host, Ownership};
use crate::policy::DownloadSource;

/// Root-only: nobody else may swap or read a file root is about to install.
const DOWNLOAD_OWNER: Ownership = Ownership::root(0o600);

/// Downloads `source` to `dest` (a path inside the root) when its sha256 is
/// `sha256`. A mismatch, an oversize body, a timeout or a broken transfer
/// is an error that names the source, and `dest` is left as it was.
pub fn fetch_pinned(
    host: &Host,
    aws: &Aws,
    source: &DownloadSource,
    sha256: &str,
    limit: u64,
    timeout: Duration,
    dest: &Path,
) -> Result<u64> {
    let hasher = RefCell::new(Sha256::new());
    let mut size = 0u64;
    let mut fill = |file: &mut dyn std::io::Write| -> Result<()> {
        let mut sink = |chunk: &[u8]| -> Result<()> {
            hasher.borrow_mut().update(chunk);
            file.write_all(chunk)
                .with_context(|| format!("cannot write {}", dest.display()))
        };
        size = match source {
            DownloadSource::S3 { bucket, key } => {
                aws.s3_stream(bucket, key, limit, timeout, &mut sink)?
            }
            DownloadSource::Url(url) => http_stream(url, limit, timeout, &mut sink)?,
        };
        Ok(())
    };
    let check = |_: &Path| -> Result<()> {
        let got = format!("{:x}", hasher.borrow().clone().finalize());
        if got != sha256 {
            bail!(
                "{source} has sha256 {got}, not the {sha256} the policy pins: refusing it \
                 (update sha256 only if the new file is the one you meant to publish)"
            );
        }
        Ok(())
    };
    host.write_with(dest, DOWNLOAD_OWNER, &mut fill, Some(&check))?;
    Ok(size)
}

fn http_stream(
    url: &url::Url,
    limit: u64,
    timeout: Duration,
    sink: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<u64> {
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .build()?;
    let resp = client
        .get(url.clone())
        .send()
        .with_context(|| format!("cannot download {url}"))?;
    let status = resp.status();
    if !status.is_success() {
        bail!("{url} answered HTTP {status}");
    }
    if resp.content_length().is_some_and(|n| n > limit) {
        bail!("{url} is larger than {limit} bytes; refusing it");
    }
    let mut body = resp.take(limit + 1);
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = body
            .read(&mut buf)
            .with_context(|| format!("the download of {url} broke off"))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > limit {
            bail!("{url} is larger than {limit} bytes; refusing it");
        }
        sink(&buf[..n])?;
    }
    Ok(total)
}
