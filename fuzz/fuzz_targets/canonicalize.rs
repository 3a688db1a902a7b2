//! Canonicalizes arbitrary input every way the API allows and checks every invariant.
//!
//! An input is `METHOD \n BASE \n TARGET` as UTF-8 (an empty BASE line: no base path);
//! anything that is not UTF-8 is skipped. The checks live in `../src/checks.rs`, shared with
//! `tests/fuzz_corpus.rs` (which replays `corpus/canonicalize/` under `cargo test`) and
//! `tests/properties.rs`.
//!
//! `cargo +nightly fuzz run canonicalize -- -dict=canonicalize.dict` (run from `fuzz/`), or
//! `cargo fuzz run -s none canonicalize` on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../src/checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| {
    checks::check(data);
});
