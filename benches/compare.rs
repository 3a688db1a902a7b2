//! Side by side, in one run: this crate's end-to-end verification, qsh and signing, the same
//! verification done with jsonwebtoken + a url-based qsh, and each operation's SHA-256 floor:
//! the compression blocks the work cannot avoid, hashed with the same `sha2` build.
//!
//! The two requests (the "typical" one and a Jira iframe) and this crate's operations
//! are in `requests/mod.rs`, shared with the instruction bench. Prints a table of ratios, and
//! `fixture` lines that `benches/report.sh` hands to npm `atlassian-jwt` for the same work.
//! Only times with `--bench`; under `cargo test` it checks that every contender agrees.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod requests;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use atlassian_connect_jwt::Verifier;
use criterion::Criterion;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use requests::{floor, Fixture, BASE_URL, CLIENT_KEY, SECRET};
use sha2::{Digest, Sha256};

#[derive(serde::Deserialize)]
struct PeerClaims {
    iss: String,
    qsh: String,
}

const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What a straightforward Rust implementation does: url for the query, jsonwebtoken for the
/// token, percent-encoding and strings for the canonical request.
fn peers(
    f: &Fixture,
    key: &jsonwebtoken::DecodingKey,
    validation: &jsonwebtoken::Validation,
) -> bool {
    let url = black_box(f.url.as_str());
    let parsed = url::Url::parse("https://app.example.com")
        .unwrap()
        .join(url)
        .unwrap();
    let token = parsed
        .query_pairs()
        .find(|(k, _)| k == "jwt")
        .unwrap()
        .1
        .into_owned();
    let data = jsonwebtoken::decode::<PeerClaims>(&token, key, validation).unwrap();
    let mut params: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in parsed.query_pairs() {
        if k != "jwt" {
            params
                .entry(utf8_percent_encode(&k, RFC3986).to_string())
                .or_default()
                .push(v.into_owned());
        }
    }
    let query: Vec<String> = params
        .into_iter()
        .map(|(k, mut vs)| {
            vs.sort();
            let vs: Vec<String> = vs
                .iter()
                .map(|v| utf8_percent_encode(v, RFC3986).to_string())
                .collect();
            format!("{k}={}", vs.join(","))
        })
        .collect();
    let path = parsed
        .path()
        .strip_prefix("/connect")
        .unwrap_or(parsed.path());
    let canonical = format!("GET&{}&{}", path.replace('&', "%26"), query.join("&"));
    let qsh = hex(&Sha256::digest(canonical.as_bytes()));
    qsh == data.claims.qsh && data.claims.iss == CLIENT_KEY
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The same number of blocks hashed by `ring` (its assembly), for the `ring` backend.
#[cfg(feature = "ring")]
fn ring_floor(message: &[u8]) -> bool {
    ring::digest::digest(&ring::digest::SHA256, black_box(message)).as_ref()[0] != 1
}

/// Nanoseconds per call: the best of 15 batches (the least disturbed by the machine).
fn ns_per_call(mut f: impl FnMut() -> bool) -> f64 {
    let iterations = 20_000;
    (0..15)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iterations {
                assert!(black_box(f()));
            }
            start.elapsed().as_nanos() as f64 / f64::from(iterations)
        })
        .fold(f64::INFINITY, f64::min)
}

/// One table row: an operation, its floor, this crate and (for verification) the peers.
fn row(operation: &str, blocks: usize, ours: f64, peers: Option<f64>) {
    let floor_blocks = vec![[0x5au8; 64]; blocks];
    let floor_ns = ns_per_call(|| floor(&floor_blocks));
    let peers = peers.map_or_else(
        || "| |".to_owned(),
        |p| format!("| {p:.0} | {:.1}x |", p / ours),
    );
    println!(
        "| {operation} | {blocks} | {floor_ns:.0} | {ours:.0} | {:.2}x {peers}",
        ours / floor_ns
    );
    #[cfg(feature = "ring")]
    {
        let message = vec![0x5au8; 64 * blocks - 9];
        let ring_ns = ns_per_call(|| ring_floor(&message));
        println!(
            "| {operation}, vs ring's floor | {blocks} | {ring_ns:.0} | {ours:.0} | {:.2}x | | |",
            ours / ring_ns
        );
    }
}

fn main() {
    let fixtures = [requests::typical(), requests::iframe()];
    let verifier = Verifier::new();
    let jwt_key = jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes());
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_aud = false;
    validation.leeway = 30;
    validation.validate_exp = false;
    for f in &fixtures {
        assert!(requests::verify(f, &verifier) && peers(f, &jwt_key, &validation));
        assert!(requests::qsh(f) && requests::sign(f));
    }
    assert_eq!(
        fixtures[0].verify_blocks, 8,
        "the issue's typical request is 8 blocks"
    );

    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("compare");
    for f in &fixtures {
        let blocks = vec![[0x5au8; 64]; f.verify_blocks];
        group.bench_function(format!("{}/atlassian-connect-jwt", f.name), |b| {
            b.iter(|| requests::verify(f, &verifier))
        });
        group.bench_function(format!("{}/jsonwebtoken+url", f.name), |b| {
            b.iter(|| peers(f, &jwt_key, &validation))
        });
        group.bench_function(
            format!("{}/sha256-floor-{}-blocks", f.name, f.verify_blocks),
            |b| b.iter(|| floor(&blocks)),
        );
    }
    group.finish();
    c.final_summary();

    println!();
    println!(
        "| operation | SHA-256 blocks | floor (ns) | atlassian-connect-jwt (ns) | vs floor | \
         jsonwebtoken + url (ns) | this crate is faster by |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut fixture_lines = Vec::new();
    for f in &fixtures {
        let ours_ns = ns_per_call(|| requests::verify(f, &verifier));
        let peers_ns = ns_per_call(|| peers(f, &jwt_key, &validation));
        row(
            &format!("verify, {} request", f.name),
            f.verify_blocks,
            ours_ns,
            Some(peers_ns),
        );
        fixture_lines.push(format!(
            "fixture: {} {ours_ns:.0} {SECRET} {BASE_URL} {}",
            f.name, f.url
        ));
    }
    for f in &fixtures {
        let qsh_ns = ns_per_call(|| requests::qsh(f));
        row(
            &format!("qsh, {} request", f.name),
            f.qsh_blocks,
            qsh_ns,
            None,
        );
    }
    let typical = &fixtures[0];
    let sign_ns = ns_per_call(|| requests::sign(typical));
    row(
        "sign, typical request",
        typical.verify_blocks,
        sign_ns,
        None,
    );
    println!();
    for f in &fixtures {
        println!("{}", requests::blocks_explained(f));
    }
    println!();
    fixture_lines.iter().for_each(|line| println!("{line}"));
}
