//! The policy parser: any bytes give a policy or an error with a position,
//! never a panic or a hang.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(policy) = nbwarden::policy::parse(text, "fuzz") {
            // What parsed must serialise again (the schema and `plan` rely on it).
            let _ = toml::to_string(&policy).expect("a parsed policy serialises");
        }
    }
});
