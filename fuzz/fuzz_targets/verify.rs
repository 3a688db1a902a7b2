//! The oracle "nothing is accepted that was not signed with the key": verifies fuzzed tokens,
//! and fuzzed mutations of tokens signed with the key, against a store that knows one tenant,
//! and checks every acceptance by recomputing the HMAC (`../src/token_checks.rs`, shared with
//! `tests/fuzz_token_corpus.rs`, which replays `corpus/verify/` under `cargo test`).
//!
//! Input: a selector byte (`R`, `C`, `E`: request, context or either policy; lower case:
//! mutation mode), then `TOKEN \n METHOD TARGET`, or in mutation mode `METHOD TARGET \n OPS`.
//!
//! `cargo +nightly fuzz run verify`, or `cargo fuzz run -s none verify` on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../src/token_checks.rs"]
mod token_checks;

fuzz_target!(|data: &[u8]| {
    token_checks::check_verify(data);
});
