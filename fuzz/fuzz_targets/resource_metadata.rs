//! SageMaker's resource-metadata.json: malformed JSON or ARNs are errors.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(nb) = nbwarden::facts::Notebook::parse(text)
    {
        assert!(!nb.region.contains(':') && !nb.account.contains(':'));
    }
});
