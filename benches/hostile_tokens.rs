//! The pre-authentication cost of hostile tokens: every shape an unauthenticated caller can
//! send, at the size limit, against a benign token of the same length (the issue's bound: the
//! worst at most twice the benign one).
//!
//! Every token is [`MAX_TOKEN_LEN`] bytes or up to 16 fewer, signed with the tenant's key, and
//! verified in full by [`Verifier::verify`] with a cached key. What a caller causes before the
//! signature is judged is the same for a forged token; signing them lets the shapes within
//! the limits go on through the signature check, so their whole cost is timed.
//!
//! The baseline, "benign", is the cheapest honest token of that length: the claims a product
//! writes plus one long string claim. Every byte of it is base64url-decoded, read and MAC'd,
//! with as little JSON work per byte as a token can ask for, so it is the strictest
//! yardstick. "benign context" carries a realistic `context` object and 20 more members
//! instead, for comparison.
//!
//! `cargo bench --bench hostile_tokens` runs the criterion group, then prints a table: each
//! token's criterion median, and its best batch of the same calls run interleaved with the
//! others' (200 rounds of batches of about 200 µs; load on a shared machine then slows all
//! tokens alike, which criterion's one-after-the-other medians cannot promise), each against
//! the benign token's. Without `--bench` (as under `cargo test --benches`) it only checks every
//! token's length and exact outcome.
//!
//! For working on it: `HOSTILE_TOKENS_ONLY=text` keeps the benign token and those whose name
//! contains `text`; `HOSTILE_TOKENS_BATCHES_ONLY=1` skips criterion; `HOSTILE_TOKENS_SPIN=name`
//! verifies one token for five seconds (for a profiler); `HOSTILE_TOKENS_LIST=1` does not assert
//! the outcomes (to time a build with other rules; the table shows them).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::Instant;

use atlassian_connect_jwt::{
    Error, QshPolicy, SharedSecret, TenantKey, TokenPart, UnixTime, Verifier, MAX_JSON_ARRAY_LEN,
    MAX_JSON_DEPTH, MAX_JSON_ESCAPES, MAX_JSON_MEMBERS, MAX_TOKEN_LEN,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use criterion::Criterion;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const SECRET: &str = "connect-test-secret-0123456789abcdef0123";
const CLIENT_KEY: &str = "jira:1234-5678-9000";
const NOW: u64 = 1_700_000_060;
const HEADER: &str = r#"{"typ":"JWT","alg":"HS256"}"#;
/// The claims of a product's context token.
const CLAIMS: &str = r#""iss":"jira:1234-5678-9000","iat":1700000000,"exp":1700000180,"qsh":"context-qsh","sub":"557058:f0e1d2c3-b4a5-6789-0abc-def012345678""#;

/// A token's header and payload JSON, before padding.
struct Shape {
    name: &'static str,
    header: String,
    payload: String,
    /// The outcome `Verifier::verify` must give.
    expect: Result<(), Error>,
}

fn sign(header: &str, payload: &str) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

/// Distinct short names: `a`..`Z`, then two letters, three letters.
fn short_name(mut i: usize) -> String {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut name = Vec::new();
    loop {
        name.push(LETTERS[i % LETTERS.len()]);
        i /= LETTERS.len();
        if i == 0 {
            break;
        }
        i -= 1;
    }
    String::from_utf8(name).unwrap()
}

/// `{"k0":v,"k1":v,...}` members, joined by commas (no braces).
fn members(count: usize, name: impl Fn(usize) -> String, value: &str) -> String {
    (0..count)
        .map(|i| format!(r#""{}":{value}"#, name(i)))
        .collect::<Vec<_>>()
        .join(",")
}

/// A payload: the product's claims, then `extra` members.
fn payload(extra: &str) -> String {
    if extra.is_empty() {
        format!("{{{CLAIMS}}}")
    } else {
        format!("{{{CLAIMS},{extra}}}")
    }
}

/// A header: `alg` and `typ`, then `extra` members.
fn header(extra: &str) -> String {
    format!(r#"{{"typ":"JWT","alg":"HS256",{extra}}}"#)
}

/// Pads the shape's payload with a `"pad":"xxx…"` member (before its closing brace) so that
/// the signed token is as long as it may be; `None` if the shape alone is already too long.
fn padded(shape: &Shape) -> Option<String> {
    let body = shape.payload.strip_suffix('}').unwrap();
    let with_pad = |n: usize| {
        let pad = format!(r#""pad":"{}""#, "x".repeat(n));
        let payload = if body.ends_with('{') {
            format!("{body}{pad}}}")
        } else {
            format!("{body},{pad}}}")
        };
        sign(&shape.header, &payload)
    };
    let unpadded = sign(&shape.header, &shape.payload);
    if unpadded.len() > MAX_TOKEN_LEN {
        return None;
    }
    if MAX_TOKEN_LEN - unpadded.len() <= 16 {
        return Some(unpadded);
    }
    // Every 3 bytes of padding are 4 base64url characters: start just above the limit and
    // step down.
    let mut n = (MAX_TOKEN_LEN - unpadded.len()) / 4 * 3 + 3;
    while n > 0 && with_pad(n).len() > MAX_TOKEN_LEN {
        n -= 1;
    }
    Some(with_pad(n))
}

/// Every shape timed: within each limit (at it, as far as a token's length allows) and past
/// it, in the payload and in the header.
fn shapes() -> Vec<Shape> {
    let ok = || Ok(());
    let (hdr, pay) = (TokenPart::Header, TokenPart::Payload);
    // The product's claims and the padding are 6 members of the payload, `typ` and `alg` 2 of
    // the header.
    let (payload_room, header_room) = (MAX_JSON_MEMBERS - 6, MAX_JSON_MEMBERS - 2);

    let prefix = "x".repeat(12);
    let long_name = |i: usize| format!("{prefix}{i:04}");
    let escaped_name = |i: usize| format!(r"\u0078{}", short_name(i));
    let nest = |depth: usize| format!("{}0{}", "[".repeat(depth), "]".repeat(depth));
    let zeros = |n: usize| format!("[{}]", vec!["0"; n].join(","));
    let objects = |n: usize| format!("[{}]", vec![r#"{"a":0}"#; n].join(","));
    let context = r#""context":{"user":{"accountId":"557058:f0e1d2c3-b4a5-6789-0abc-def012345678","userKey":"admin","userId":"admin","displayName":"Ada Admin","timeZone":"Australia/Sydney"},"license":{"active":true,"evaluation":false},"jira":{"issue":{"key":"PROJ-123","id":"10001","issuetype":{"id":"10002","name":"Task"}},"project":{"key":"PROJ","id":"10000"}},"url":{"displayUrl":"https://example.atlassian.net"}}"#;
    let in_payload = |name, extra: String, expect| Shape {
        name,
        header: HEADER.to_owned(),
        payload: payload(&extra),
        expect,
    };
    let in_header = |name, extra: String, expect| Shape {
        name,
        header: header(&extra),
        payload: payload(""),
        expect,
    };
    let escape_last = |extra: String| format!(r#"{extra},"\u0079":0"#);

    vec![
        in_payload("benign", String::new(), ok()),
        in_payload(
            "benign context",
            format!("{context},{}", members(20, |i| format!("x{i}"), r#""value""#)),
            ok(),
        ),
        // The finding: about 700 member names.
        in_payload(
            "payload/700 members",
            members(700, short_name, "0"),
            Err(Error::TooManyMembers(pay)),
        ),
        in_payload(
            "payload/members at the limit",
            members(payload_room, short_name, r#""value""#),
            ok(),
        ),
        in_payload(
            "payload/members at the limit, names sharing 12 bytes",
            members(payload_room, long_name, "0"),
            ok(),
        ),
        in_payload(
            "payload/members at the limit, duplicate last",
            format!(
                "{},{}",
                members(payload_room - 1, long_name, "0"),
                members(1, long_name, "1")
            ),
            Err(Error::DuplicateMember(pay)),
        ),
        in_payload(
            "payload/members past the limit",
            members(payload_room + 1, long_name, "0"),
            Err(Error::TooManyMembers(pay)),
        ),
        in_payload(
            "payload/members at the limit, escaped names",
            members(payload_room, escaped_name, "0"),
            ok(),
        ),
        in_payload(
            "payload/members at the limit, nested, escape last",
            escape_last(members(
                10,
                |i| format!("o{i}"),
                &format!("{{{}}}", members((payload_room - 11) / 10, short_name, "0")),
            )),
            ok(),
        ),
        in_payload(
            "payload/context at the limits, escape last",
            escape_last(format!(
                r#""context":{{"user":{{"accountId":"557058:f0e1d2c3"}},{},"z":{}}}"#,
                members(payload_room - 6, short_name, "[0]"),
                zeros(MAX_JSON_ARRAY_LEN - (payload_room - 6))
            )),
            ok(),
        ),
        in_payload(
            "payload/members at the limit, nested, syntax error last",
            format!(
                "{},",
                members(
                    10,
                    |i| format!("o{i}"),
                    &format!("{{{}}}", members((payload_room - 11) / 10, short_name, "0")),
                )
            ),
            Err(Error::InvalidJson(pay)),
        ),
        in_payload(
            "payload/members and elements at the limit",
            format!(r#""x":{}"#, objects(payload_room - 1)),
            ok(),
        ),
        in_payload(
            "payload/members and elements at the limit, escape last",
            escape_last(format!(r#""x":{}"#, objects(payload_room - 2))),
            ok(),
        ),
        in_payload(
            "payload/elements at the limit",
            format!(r#""x":{}"#, zeros(MAX_JSON_ARRAY_LEN)),
            ok(),
        ),
        in_payload(
            "payload/elements past the limit",
            format!(r#""x":{}"#, zeros(MAX_JSON_ARRAY_LEN + 1)),
            Err(Error::ArrayTooLong(pay)),
        ),
        in_payload(
            "payload/elements in 2800 zeros",
            format!(r#""x":{}"#, zeros(2800)),
            Err(Error::ArrayTooLong(pay)),
        ),
        in_payload(
            "payload/aud of as many strings as allowed",
            format!(
                r#""aud":[{}]"#,
                vec![r#""https://a.example""#; MAX_JSON_ARRAY_LEN].join(",")
            ),
            ok(),
        ),
        in_payload(
            "payload/depth at the limit, repeated",
            members(
                MAX_JSON_ARRAY_LEN / (MAX_JSON_DEPTH - 1),
                short_name,
                &nest(MAX_JSON_DEPTH - 1),
            ),
            ok(),
        ),
        in_payload(
            "payload/depth past the limit",
            format!(r#""x":{}"#, nest(MAX_JSON_DEPTH)),
            Err(Error::NestingTooDeep(pay)),
        ),
        in_payload(
            "payload/depth 3000, unbalanced",
            format!(r#""x":{}"#, "[".repeat(3000)),
            Err(Error::NestingTooDeep(pay)),
        ),
        in_payload(
            "payload/escapes at the limit",
            format!(r#""x":"{}""#, r"\n".repeat(MAX_JSON_ESCAPES)),
            ok(),
        ),
        in_payload(
            "payload/escapes at the limit, in sub",
            String::new(),
            ok(),
        ),
        in_payload(
            "payload/surrogate pairs at the limit",
            format!(r#""x":"{}""#, r"\ud83d\ude00".repeat(MAX_JSON_ESCAPES / 2)),
            ok(),
        ),
        in_payload(
            "payload/escapes past the limit",
            format!(r#""x":"{}""#, r"\n".repeat(MAX_JSON_ESCAPES + 1)),
            Err(Error::TooManyEscapes(pay)),
        ),
        in_payload(
            "payload/2000 escapes",
            format!(r#""x":"{}""#, r"\n".repeat(2000)),
            Err(Error::TooManyEscapes(pay)),
        ),
        in_payload(
            "payload/exp of 5000 digits",
            String::new(),
            ok(),
        ),
        in_payload(
            "payload/unread integer of 5000 digits, escape last",
            escape_last(format!(r#""n":{}"#, "7".repeat(5000))),
            ok(),
        ),
        in_payload(
            "payload/whitespace, escape last",
            escape_last(format!(r#""w":{}0"#, " ".repeat(5500))),
            ok(),
        ),
        in_payload(
            "payload/long string, escape last",
            escape_last(format!(r#""w":"{}""#, "w".repeat(5500))),
            ok(),
        ),
        // The same in the header.
        in_header(
            "header/700 members",
            members(700, short_name, "0"),
            Err(Error::TooManyMembers(hdr)),
        ),
        in_header(
            "header/members at the limit, names sharing 12 bytes",
            members(header_room, long_name, "0"),
            ok(),
        ),
        in_header(
            "header/members at the limit, duplicate last",
            format!(
                "{},{}",
                members(header_room - 1, long_name, "0"),
                members(1, long_name, "1")
            ),
            Err(Error::DuplicateMember(hdr)),
        ),
        in_header(
            "header/members at the limit, escaped names",
            members(header_room, escaped_name, "0"),
            ok(),
        ),
        in_header(
            "header/members and elements at the limit",
            format!(r#""x":{}"#, objects(header_room - 1)),
            ok(),
        ),
        in_header(
            "header/elements past the limit",
            format!(r#""x":{}"#, zeros(MAX_JSON_ARRAY_LEN + 1)),
            Err(Error::ArrayTooLong(hdr)),
        ),
        in_header(
            "header/depth at the limit, repeated",
            members(
                MAX_JSON_ARRAY_LEN / (MAX_JSON_DEPTH - 1),
                short_name,
                &nest(MAX_JSON_DEPTH - 1),
            ),
            ok(),
        ),
        in_header(
            "header/depth 3000, unbalanced",
            format!(r#""x":{}"#, "[".repeat(3000)),
            Err(Error::NestingTooDeep(hdr)),
        ),
        in_header(
            "header/escapes at the limit",
            format!(r#""x":"{}""#, r"\n".repeat(MAX_JSON_ESCAPES)),
            ok(),
        ),
        in_header(
            "header/2000 escapes",
            format!(r#""x":"{}""#, r"\n".repeat(2000)),
            Err(Error::TooManyEscapes(hdr)),
        ),
    ]
    .into_iter()
    .map(|mut shape| {
        // Two shapes replace the product's claims themselves.
        match shape.name {
            "payload/escapes at the limit, in sub" => {
                shape.payload = format!(
                    r#"{{"iss":"jira:1234-5678-9000","iat":1700000000,"exp":1700000180,"qsh":"context-qsh","sub":"{}"}}"#,
                    r"\u00e9".repeat(MAX_JSON_ESCAPES)
                );
            }
            "payload/exp of 5000 digits" => {
                shape.payload = format!(
                    r#"{{"iss":"jira:1234-5678-9000","iat":1700000000,"exp":1700000180.{},"qsh":"context-qsh"}}"#,
                    "9".repeat(5000)
                );
            }
            _ => {}
        }
        shape
    })
    .collect()
}

struct Fixture {
    name: &'static str,
    token: String,
    expect: Result<(), Error>,
}

fn fixtures() -> Vec<Fixture> {
    shapes()
        .into_iter()
        .map(|shape| {
            let token = padded(&shape).unwrap_or_else(|| {
                panic!("{}: the shape alone is longer than a token", shape.name)
            });
            assert!(
                token.len() <= MAX_TOKEN_LEN && token.len() + 16 >= MAX_TOKEN_LEN,
                "{}: {} bytes",
                shape.name,
                token.len()
            );
            Fixture {
                name: shape.name,
                token,
                expect: shape.expect,
            }
        })
        .collect()
}

fn verify(token: &str) -> Result<(), Error> {
    let key = |iss: &str| (iss == CLIENT_KEY).then(|| SharedSecret::new(SECRET));
    Verifier::new()
        .verify(token, QshPolicy::Context, &key, UnixTime::from_secs(NOW))
        .map(drop)
}

/// The median of a criterion benchmark, in nanoseconds, from its saved estimates.
fn median_ns(id: &str) -> Option<f64> {
    // Criterion's directory name for the id (`make_filename_safe`).
    let dir = id.replace(['?', '"', '/', '\\', '*', '<', '>', ':', '|', '^'], "_");
    let path = format!("target/criterion/hostile_tokens/{dir}/new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["median"]["point_estimate"].as_f64()
}

fn main() {
    let mut fixtures = fixtures();
    // A cached key, as a server holds: the bench times the token, not the key schedule.
    let key = TenantKey::new(CLIENT_KEY, &SharedSecret::new(SECRET)).unwrap();
    let cached = std::collections::HashMap::from([(CLIENT_KEY.to_owned(), key)]);
    let verifier = Verifier::new();
    let now = UnixTime::from_secs(NOW);
    let strict = std::env::var_os("HOSTILE_TOKENS_LIST").is_none();
    let mut wrong = Vec::new();
    for f in &fixtures {
        let got = verify(&f.token);
        if got != f.expect {
            wrong.push(format!("{}: {got:?}, expected {:?}", f.name, f.expect));
        }
    }
    assert!(!strict || wrong.is_empty(), "{wrong:#?}");
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }

    let call = |token: &str| {
        verifier
            .verify(black_box(token), QshPolicy::Context, &cached, now)
            .is_ok()
    };
    // `HOSTILE_TOKENS_ONLY=text`: only the benign token and those whose name contains `text`
    // (for profiling one shape).
    if let Some(only) = std::env::var_os("HOSTILE_TOKENS_ONLY") {
        let only = only.to_string_lossy().into_owned();
        fixtures.retain(|f| f.name == "benign" || f.name.contains(&only));
    }
    // `HOSTILE_TOKENS_SPIN=name`: verify that one token for five seconds (for a profiler).
    if let Some(name) = std::env::var_os("HOSTILE_TOKENS_SPIN") {
        let f = fixtures
            .iter()
            .find(|f| std::ffi::OsStr::new(f.name) == name)
            .expect("no such token");
        let start = Instant::now();
        while start.elapsed().as_secs() < 5 {
            for _ in 0..1000 {
                black_box(call(&f.token));
            }
        }
        return;
    }
    // `HOSTILE_TOKENS_BATCHES_ONLY=1`: only the interleaved batches, for quick comparisons.
    if std::env::var_os("HOSTILE_TOKENS_BATCHES_ONLY").is_none() {
        let mut c = Criterion::default().configure_from_args();
        let mut group = c.benchmark_group("hostile_tokens");
        for f in &fixtures {
            group.bench_function(f.name, |b| b.iter(|| call(&f.token)));
        }
        group.finish();
        c.final_summary();
    }

    // The same calls again, interleaved: every round times one batch of each token, and each
    // keeps its fastest batch. Load on the machine then slows all of them alike, which the
    // criterion medians (one token after the other) cannot promise.
    // Batches of about 200 µs, short enough to run between two preemptions of a busy machine.
    let batches: Vec<u32> = fixtures
        .iter()
        .map(|f| {
            let start = Instant::now();
            for _ in 0..20 {
                black_box(call(&f.token));
            }
            let ns = start.elapsed().as_nanos() as f64 / 20.0;
            (200_000.0 / ns).clamp(1.0, 1000.0) as u32
        })
        .collect();
    let mut best = vec![f64::INFINITY; fixtures.len()];
    for _ in 0..200 {
        for ((f, best), &batch) in fixtures.iter().zip(&mut best).zip(&batches) {
            let start = Instant::now();
            for _ in 0..batch {
                black_box(call(&f.token));
            }
            *best = best.min(start.elapsed().as_nanos() as f64 / f64::from(batch));
        }
    }

    // Batches only: any criterion estimates on disk are from another run.
    let batches_only = std::env::var_os("HOSTILE_TOKENS_BATCHES_ONLY").is_some();
    let median_ns = |id: &str| if batches_only { None } else { median_ns(id) };
    let criterion_benign = median_ns("benign");
    let batch_benign = best[0];
    println!();
    println!(
        "| token ({MAX_TOKEN_LEN} bytes or up to 16 fewer) | outcome | criterion median (µs) | vs benign | best batch (µs) | vs benign |"
    );
    println!("|---|---|---:|---:|---:|---:|");
    let mut worst = ("", 0.0f64, 0.0f64);
    for (f, &batch) in fixtures.iter().zip(&best) {
        let outcome = verify(&f.token).map_or_else(|e| e.code(), |()| "ok");
        let median = median_ns(f.name).zip(criterion_benign);
        let (median_text, median_ratio) = median.map_or_else(
            || ("-".to_owned(), "-".to_owned()),
            |(ns, benign)| {
                (
                    format!("{:.2}", ns / 1000.0),
                    format!("{:.2}x", ns / benign),
                )
            },
        );
        println!(
            "| {} | {outcome} | {median_text} | {median_ratio} | {:.2} | {:.2}x |",
            f.name,
            batch / 1000.0,
            batch / batch_benign
        );
        if !f.name.starts_with("benign") {
            let ratio = median.map_or(0.0, |(ns, benign)| ns / benign);
            if ratio.max(batch / batch_benign) > worst.1.max(worst.2) {
                worst = (f.name, ratio, batch / batch_benign);
            }
        }
    }
    println!();
    println!(
        "worst: {} at {:.2}x (criterion medians) and {:.2}x (best batches) the benign token; the bound is 2x",
        worst.0, worst.1, worst.2
    );
}
