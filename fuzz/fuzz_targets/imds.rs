//! IMDS answers nbwarden interprets itself: the instance id names the
//! fleet report's S3 key, so only a real id may pass.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(id) = nbwarden::aws::parse_instance_id(&text) {
        assert!(id.starts_with("i-") && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    }
});
