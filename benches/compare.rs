//! Side by side, in one run: this crate's end-to-end verification of a typical Jira iframe
//! request, the same work done with jsonwebtoken + a url-based qsh, and the SHA-256 floor
//! (the 8 compression blocks the work cannot avoid). Prints the ratios at the end.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::time::Instant;

use atlassian_connect_jwt::{
    find_token, BasePath, CanonicalRequest, QshPolicy, SharedSecret, Signer, TenantKey, UnixTime,
    Verifier,
};
use criterion::Criterion;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

const SECRET: &str = "connect-test-secret-0123456789abcdef0123";
const CLIENT_KEY: &str = "jira:1234-5678-9000";
const NOW: u64 = 1_700_000_000;
const TARGET: &str = "/connect/issue-panel?xdm_e=https%3A%2F%2Fexample.atlassian.net&xdm_c=channel-com.example.app__issue-panel&cp=&xdm_deprecated_addon_key_do_not_use=com.example.app&lic=active&cv=1001.0.0-SNAPSHOT&issueKey=PROJ-123&issueId=10001&projectKey=PROJ&projectId=10000&tz=Australia%2FSydney&loc=en-US&user_id=admin";

struct Fixture {
    url: String,
    base: BasePath,
    keys: HashMap<String, TenantKey>,
}

fn fixture() -> Fixture {
    let key = TenantKey::new(&SharedSecret::new(SECRET)).unwrap();
    let base = BasePath::parse("https://app.example.com/connect").unwrap();
    let request = CanonicalRequest::from_target("GET", TARGET, Some(&base)).unwrap();
    let token = Signer::new(CLIENT_KEY)
        .with_subject("557058:f0e1d2c3-b4a5-6789-0abc-def012345678")
        .sign_request(&request, &key, UnixTime::from_secs(NOW))
        .unwrap();
    Fixture {
        url: format!("{TARGET}&jwt={}", token.as_str()),
        base,
        keys: HashMap::from([(CLIENT_KEY.to_owned(), key)]),
    }
}

/// This crate, from the raw URL to the verified identity.
fn ours(f: &Fixture, verifier: &Verifier) -> bool {
    let url = black_box(f.url.as_str());
    let query = url.split_once('?').map(|(_, q)| q);
    let token = find_token(None, query).unwrap();
    let request = CanonicalRequest::from_target("GET", url, Some(&f.base)).unwrap();
    let verified = verifier
        .verify(
            token,
            QshPolicy::Request(&request),
            &f.keys,
            UnixTime::from_secs(NOW + 10),
        )
        .unwrap();
    verified.client_key() == CLIENT_KEY
}

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

/// The straightforward way with popular crates: jsonwebtoken for the token, url's
/// form_urlencoded for the query, a BTreeMap for the ordering.
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
    // A peer would look the secret up by an unverified `iss` first; the key is fixed here.
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

/// The unavoidable work: 8 SHA-256 compression blocks (5 + 1 for the MAC with a precomputed
/// key, 2 for the qsh), with the same sha2 build.
fn floor(blocks: &[[u8; 64]; 8]) -> u32 {
    let mut state = [
        0x6a09e667u32,
        0xbb67ae85,
        0x3c6ef372,
        0xa54ff53a,
        0x510e527f,
        0x9b05688c,
        0x1f83d9ab,
        0x5be0cd19,
    ];
    sha2::block_api::compress256(&mut state, black_box(blocks));
    state[0]
}

/// The same floor with ring's SHA-256 (the backend of the `ring` feature): a 503-byte
/// message pads to exactly 8 blocks.
#[cfg(feature = "ring")]
fn ring_floor(message: &[u8; 503]) -> u8 {
    ring::digest::digest(&ring::digest::SHA256, black_box(message)).as_ref()[0]
}

/// Best-of-batches nanoseconds per call, for the ratio table.
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

fn main() {
    let f = fixture();
    let verifier = Verifier::new();
    let jwt_key = jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes());
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_aud = false;
    validation.leeway = 30;
    // jsonwebtoken reads the system clock; the fixture's token is from 2023, so give it room.
    validation.validate_exp = false;
    let blocks = [[0x5au8; 64]; 8];
    assert!(ours(&f, &verifier));
    assert!(peers(&f, &jwt_key, &validation));

    // `cargo test --all-targets` runs this without `--bench`: the checks above suffice.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("compare");
    group.bench_function("atlassian-connect-jwt", |b| b.iter(|| ours(&f, &verifier)));
    group.bench_function("jsonwebtoken+url", |b| {
        b.iter(|| peers(&f, &jwt_key, &validation))
    });
    group.bench_function("sha256-floor-8-blocks", |b| b.iter(|| floor(&blocks)));
    group.finish();
    c.final_summary();

    println!(
        "fixture: {SECRET} https://app.example.com/connect {}",
        f.url
    );
    let ours_ns = ns_per_call(|| ours(&f, &verifier));
    let peers_ns = ns_per_call(|| peers(&f, &jwt_key, &validation));
    let floor_ns = ns_per_call(|| floor(&blocks) != 1);
    println!();
    println!("| verify a typical iframe request | ns/call | vs SHA-256 floor | this crate is faster by |");
    println!("|---|---:|---:|---:|");
    println!("| SHA-256 floor (8 blocks, sha2) | {floor_ns:.0} | 1.00x | |");
    println!(
        "| atlassian-connect-jwt | {ours_ns:.0} | {:.2}x | |",
        ours_ns / floor_ns
    );
    #[cfg(feature = "ring")]
    {
        let message = [0x5au8; 503];
        let ring_ns = ns_per_call(|| ring_floor(&message) != 1);
        println!(
            "| SHA-256 floor (8 blocks, ring) | {ring_ns:.0} | {:.2}x | |",
            ring_ns / floor_ns
        );
        println!(
            "| (this crate is built with the `ring` backend: {:.2}x ring's floor) | | | |",
            ours_ns / ring_ns
        );
    }
    println!(
        "| jsonwebtoken + url qsh | {peers_ns:.0} | {:.2}x | {:.1}x |",
        peers_ns / floor_ns,
        peers_ns / ours_ns
    );
}
