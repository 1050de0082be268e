//! pip.conf as found on the host: merged with the policy or refused.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        nbwarden::controls::fuzz::pip_conf(text);
    }
});
