//! Side by side, in one run: this crate's end-to-end verification, qsh and signing, the same
//! verification done with jsonwebtoken + a url-based qsh, and each operation's SHA-256 floor:
//! the compression blocks the work cannot avoid, hashed with the same `sha2` build.
//!
//! Two requests: the "typical" one (a ~330-byte token and a ~105-byte canonical
//! request: 5 + 1 HMAC blocks with the tenant's key state precomputed, 2 qsh blocks) and a
//! heavier Jira iframe request with a dozen parameters. Prints a table of ratios, and
//! `fixture` lines that `benches/report.sh` hands to npm `atlassian-jwt` for the same work.
//! Only times with `--bench`; under `cargo test` it checks that every contender agrees.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::time::Instant;

use atlassian_connect_jwt::{
    BasePath, CanonicalRequest, QshPolicy, SharedSecret, Signer, TenantKey, UnixTime, Verifier,
};
use criterion::Criterion;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

const SECRET: &str = "connect-test-secret-0123456789abcdef0123";
const CLIENT_KEY: &str = "jira:1234-5678-9000";
const ACCOUNT: &str = "557058:f0e1d2c3-b4a5-6789-0abc-def012345678";
const NOW: u64 = 1_700_000_000;
const BASE_URL: &str = "https://app.example.com/connect";

/// The typical request: a glance or webhook with a few parameters.
const TYPICAL: &str = "/connect/issue-glance?xdm_e=https%3A%2F%2Fexample.atlassian.net&issueKey=PROJ-123&lic=active&cv=1001.0.0";

/// A Jira issue-panel iframe as the product loads it.
const IFRAME: &str = "/connect/issue-panel?xdm_e=https%3A%2F%2Fexample.atlassian.net&xdm_c=channel-com.example.app__issue-panel&cp=&xdm_deprecated_addon_key_do_not_use=com.example.app&lic=active&cv=1001.0.0-SNAPSHOT&issueKey=PROJ-123&issueId=10001&projectKey=PROJ&projectId=10000&tz=Australia%2FSydney&loc=en-US&user_id=admin";

struct Fixture {
    name: &'static str,
    /// The request target with its `jwt` parameter.
    url: String,
    /// The request target without it (what is signed).
    target: &'static str,
    base: BasePath,
    key: TenantKey,
    keys: HashMap<String, TenantKey>,
    /// SHA-256 blocks of verification: HMAC inner + outer (key state precomputed) + qsh.
    verify_blocks: usize,
    /// SHA-256 blocks of the qsh alone.
    qsh_blocks: usize,
}

/// Blocks SHA-256 compresses for a message of `len` bytes (padding and length included).
fn blocks_for(len: usize) -> usize {
    (len + 9).div_ceil(64)
}

fn fixture(name: &'static str, target: &'static str) -> Fixture {
    let key = TenantKey::new(CLIENT_KEY, &SharedSecret::new(SECRET)).unwrap();
    let base = BasePath::parse(BASE_URL).unwrap();
    let request = CanonicalRequest::from_target("GET", target, Some(&base)).unwrap();
    let token = Signer::new(CLIENT_KEY)
        .with_subject(ACCOUNT)
        .sign_request(&request, &key, UnixTime::from_secs(NOW))
        .unwrap();
    let signing_input = &token.as_str()[..token.as_str().rfind('.').unwrap()];
    let qsh_blocks = blocks_for(request.to_string().len());
    // The inner hash continues after the precomputed key block; the outer one is one block.
    let verify_blocks = blocks_for(64 + signing_input.len()) - 1 + 1 + qsh_blocks;
    Fixture {
        name,
        url: format!("{target}&jwt={}", token.as_str()),
        target,
        base,
        keys: HashMap::from([(CLIENT_KEY.to_owned(), key.clone())]),
        key,
        verify_blocks,
        qsh_blocks,
    }
}

fn ours(f: &Fixture, verifier: &Verifier) -> bool {
    let url = black_box(f.url.as_str());
    let request = CanonicalRequest::from_target("GET", url, Some(&f.base)).unwrap();
    let token = request.token(None).unwrap();
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

fn ours_qsh(f: &Fixture) -> bool {
    let request = CanonicalRequest::from_target("GET", black_box(f.target), Some(&f.base)).unwrap();
    let qsh = request.qsh();
    qsh.to_bytes() != [0xff; 32]
}

fn ours_sign(f: &Fixture) -> bool {
    let request = CanonicalRequest::from_target("GET", black_box(f.target), Some(&f.base)).unwrap();
    let token = Signer::new(CLIENT_KEY)
        .with_subject(ACCOUNT)
        .sign_request(&request, &f.key, UnixTime::from_secs(NOW))
        .unwrap();
    !token.as_str().is_empty()
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

/// The floor: `blocks` SHA-256 compressions, with the `sha2` build this crate uses.
fn floor(blocks: &[[u8; 64]]) -> bool {
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
    state[0] != 1
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
    let fixtures = [fixture("typical", TYPICAL), fixture("iframe", IFRAME)];
    let verifier = Verifier::new();
    let jwt_key = jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes());
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_aud = false;
    validation.leeway = 30;
    validation.validate_exp = false;
    for f in &fixtures {
        assert!(ours(f, &verifier) && peers(f, &jwt_key, &validation));
        assert!(ours_qsh(f) && ours_sign(f));
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
            b.iter(|| ours(f, &verifier))
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
        let ours_ns = ns_per_call(|| ours(f, &verifier));
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
        let qsh_ns = ns_per_call(|| ours_qsh(f));
        row(
            &format!("qsh, {} request", f.name),
            f.qsh_blocks,
            qsh_ns,
            None,
        );
    }
    let typical = &fixtures[0];
    let sign_ns = ns_per_call(|| ours_sign(typical));
    row(
        "sign, typical request",
        typical.verify_blocks,
        sign_ns,
        None,
    );
    println!();
    fixture_lines.iter().for_each(|line| println!("{line}"));
}
