//! cargo-fuzz target: streaming redaction never lets a raw secret through and always agrees
//! with one-shot redaction. The checks live in `body.rs`.
#![no_main]

mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::check(data));
