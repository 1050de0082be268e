//! sha256 as nbwarden writes and reads it: lowercase hex.

use sha2::{Digest, Sha256};

/// A sha256 given as text (a pin, a checksum): 64 hex digits, lowercased.
pub fn parse_sha256(s: &str) -> Result<String, String> {
    if s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err("expected 64 hexadecimal digits".into())
    }
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
