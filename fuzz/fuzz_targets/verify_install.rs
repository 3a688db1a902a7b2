//! Signed install (feature `signed-install`): forged tokens never verify, and a body is
//! accepted only when it is the token's tenant's. The checks and the input format are in
//! `../src/install_checks.rs`, shared with `tests/fuzz_token_corpus.rs`, which replays
//! `corpus/verify_install/` under `cargo test`.
//!
//! `cargo +nightly fuzz run verify_install`, or `cargo fuzz run -s none verify_install`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../src/install_checks.rs"]
mod install_checks;

fuzz_target!(|data: &[u8]| {
    install_checks::check_install(data);
});
