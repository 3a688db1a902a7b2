//! Forge remote (feature `forge`): forged Forge Invocation Tokens never verify, signed
//! payloads are accepted only when an independent reading agrees, and a key set verifies only
//! with Forge's key. The checks and the input format are in `../src/fit_checks.rs`, shared
//! with `tests/forge_fuzz_corpus.rs`, which replays `corpus/verify_fit/` under `cargo test`.
//!
//! `cargo +nightly fuzz run verify_fit`, or `cargo fuzz run -s none verify_fit`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../src/fit_checks.rs"]
mod fit_checks;

fuzz_target!(|data: &[u8]| {
    fit_checks::check_fit(data);
});
