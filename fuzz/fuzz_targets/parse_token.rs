//! Parses arbitrary bytes as a token with `Unverified::parse` and `dangerous::decode_unverified`
//! and checks them against a hand-written model of the token form (`../src/token_checks.rs`,
//! shared with `tests/fuzz_token_corpus.rs`, which replays `corpus/parse_token/` under
//! `cargo test`). Bytes that are not UTF-8 are skipped.
//!
//! `cargo +nightly fuzz run parse_token`, or `cargo fuzz run -s none parse_token` on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../src/token_checks.rs"]
mod token_checks;

fuzz_target!(|data: &[u8]| {
    token_checks::check_parse(data);
});
