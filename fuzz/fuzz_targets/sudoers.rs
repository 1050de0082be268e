//! The sudoers parser reads files the image (and, before a strip, an
//! admin) wrote: any text must parse into lines without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = nbwarden::controls::sudo::sudoers::parse_text(&text);
});
