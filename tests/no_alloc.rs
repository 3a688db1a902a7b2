//! The verification path allocates exactly once (the decoded payload that `Verified` owns)
//! for queries up to 64 parameters, whatever the token's size: from the raw URL to
//! `Verified`, counted by a global allocator. And `Verified` stays small (it was 3,248 bytes
//! when it held the payload inline).
//!
//! A test of its own (`harness = false`): the allocator counts every thread, so nothing else
//! may run while it measures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use atlassian_connect_jwt::{
    find_token, BasePath, CanonicalRequest, QshPolicy, SharedSecret, Signer, TenantKey, UnixTime,
    Verified, Verifier,
};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

const CLIENT_KEY: &str = "jira:1234-5678-9000";
const NOW: u64 = 1_700_000_000;

/// Verifies `url` end to end and returns how many allocations that took.
fn allocations_to_verify(url: &str, base: &BasePath, keys: &HashMap<String, TenantKey>) -> usize {
    let verifier = Verifier::new();
    let region = Region::new(GLOBAL);
    let request = CanonicalRequest::from_target("GET", url, Some(base)).unwrap();
    let token = request.token(None).unwrap();
    let query = url.split_once('?').map(|(_, q)| q);
    assert_eq!(find_token(None, query), Ok(token));
    let verified = verifier
        .verify(
            token,
            QshPolicy::Request(&request),
            keys,
            UnixTime::from_secs(NOW + 1),
        )
        .unwrap();
    assert_eq!(verified.client_key(), CLIENT_KEY);
    let change = region.change();
    drop(verified);
    change.allocations + change.reallocations
}

fn signed_url(
    path: &str,
    params: usize,
    value_len: usize,
    key: &TenantKey,
    base: &BasePath,
) -> String {
    let mut target = format!("{path}?");
    for i in 0..params {
        let value = "v%C3%A9+x".repeat(value_len / 9 + 1);
        target.push_str(&format!("p{i}={value}&"));
    }
    let request = CanonicalRequest::from_target("GET", &target, Some(base)).unwrap();
    let token = Signer::new(CLIENT_KEY)
        .with_subject("557058:f0e1d2c3-b4a5-6789-0abc-def012345678")
        .sign_request(&request, key, UnixTime::from_secs(NOW))
        .unwrap();
    format!("{target}jwt={}", token.as_str())
}

fn main() {
    let key = TenantKey::new(
        CLIENT_KEY,
        &SharedSecret::new("connect-test-secret-0123456789abcdef0123"),
    )
    .unwrap();
    let keys = HashMap::from([(CLIENT_KEY.to_owned(), key.clone())]);
    let base = BasePath::parse("https://app.example.com/connect").unwrap();

    let typical = signed_url("/connect/issue-panel", 12, 20, &key, &base);
    let many_params = signed_url("/connect/search", 64, 4, &key, &base);
    let cases = [
        ("typical iframe request", &typical),
        ("64 parameters", &many_params),
    ];
    for (name, url) in cases {
        let allocations = allocations_to_verify(url, &base, &keys);
        println!("{name}: {allocations} allocations");
        assert_eq!(allocations, 1, "{name}: one block, the claims' payload");
    }

    // The counter works: 65 parameters spill to the heap, and the test sees it.
    let spilled = signed_url("/connect/search", 65, 4, &key, &base);
    let allocations = allocations_to_verify(&spilled, &base, &keys);
    println!("65 parameters: {allocations} allocations");
    assert_eq!(
        allocations, 2,
        "the counting allocator must see the spill to the heap"
    );

    // Small enough to move freely: 168 bytes on 64-bit targets.
    let size = size_of::<Verified>();
    println!("Verified: {size} bytes");
    assert!(size <= 168, "Verified grew to {size} bytes");
    println!("test result: ok. 4 passed; 0 failed");
}
