//! Live interoperability test: tokens against the npm `atlassian-jwt` 2.0.3 package (pinned
//! in `tests/reference/package.json`, the library under atlassian-connect-express), run
//! through `tests/reference/tokens.js`.
//!
//! A seeded generator produces requests inside the region where npm and the Atlassian product
//! agree on the canonical request (plain `[a-z0-9_]` keys, so decoded and encoded key order
//! coincide; values with spaces, Unicode, percent-encoded reserved characters and repeated
//! keys; paths of unreserved segments, optionally under a base URL), plus claims (`iss`,
//! `sub`, `iat`/`exp` around a fixed now, sometimes `context.user.accountId`). Then:
//!
//! * npm signs (`encodeSymmetric`) claims whose `qsh` is npm's `createQueryStringHash` of the
//!   request, or `context-qsh`: [`Verifier`] accepts the token under `QshPolicy::Request` /
//!   `QshPolicy::Context` at a clock inside its lifetime, and reports `iss` as the client key
//!   and `sub` (else `context.user.accountId`) as the account id; with the wrong secret it
//!   fails with `Error::InvalidSignature`, after `exp` + leeway with `Error::Expired`, under
//!   the other policy with the matching context-token error, for another method with a qsh
//!   mismatch;
//! * [`Signer`] signs the same requests: npm `decodeSymmetric` accepts the token with the
//!   same secret and returns exactly the claims we signed, whose `qsh` is npm's hash of the
//!   request; npm re-encoding our payload gives the same payload segment byte for byte; with
//!   another secret npm refuses the token.
//!
//! Run: `npm ci --prefix tests/reference && REQUIRE_NODE=1 cargo test --test interop --
//! --nocapture`.
//!
//! Environment: `INTEROP_SEED` (decimal or `0x` hex; time-based if unset, always printed),
//! `INTEROP_CASES` (default 500), `REQUIRE_NODE=1` (fail instead of skipping when node or
//! `npm ci --prefix tests/reference` is missing).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::thread;

use atlassian_connect_jwt::{
    BasePath, CanonicalRequest, Error, QshPolicy, SharedSecret, Signer, TenantKey, TokenKind,
    UnixTime, Verifier, CONTEXT_QSH, DEFAULT_LEEWAY, DEFAULT_LIFETIME,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use common::Rng;

const DEFAULT_CASES: usize = 500;

/// The fixed "now" every generated time is placed around.
const NOW: u64 = 1_700_000_000;

/// What npm `decodeSymmetric` throws for a bad signature (followed by the signing input).
const NPM_BAD_SIGNATURE: &str = "Signature verification failed for input: ";

const METHODS: &[&str] = &[
    "GET", "GET", "GET", "get", "POST", "post", "PUT", "DELETE", "PATCH", "HEAD",
];

/// Absolute-form prefixes: scheme and authority never count.
const ORIGINS: &[&str] = &[
    "https://app.example.com",
    "http://localhost:3000",
    "https://example.atlassian.net",
];

/// Base URLs with the path each strips; request paths under a base always start with that
/// path on a segment boundary (npm strips the raw prefix, so `/application` would differ,
/// and so would `/app` under `/app/`).
const BASES: &[(&str, &str)] = &[
    ("https://app.example.com/app", "/app"),
    ("https://app.example.com/app/", "/app"),
    ("https://app.example.com/connect/v1", "/connect/v1"),
    ("/app", "/app"),
    ("https://app.example.com", ""),
];

const KEY_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_";
const UNRESERVED: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const HEX_LOWER: &[u8] = b"0123456789abcdef";
/// Reserved or unsafe ASCII that may stand raw in a query value without changing its meaning
/// to either side (`=` after the first, `?` and `/` inside the query).
const VALUE_RAW_OK: &[u8] = b"!*(),;:@/?$=";
/// Strings for claims that JSON encoders could disagree on.
const TRICKY_TEXT: &[&str] = &[
    "\"", "\\", "/", "\u{7f}", "\u{1f}", "\n", "\t", "\u{8}", "\u{c}", "\r", "é", "中", "😀",
    "\u{2028}", "\u{2029}", "\u{FEFF}", "\u{FFFF}", "<", ">", "&", "'", "\u{0}",
];

/// Fisher-Yates, in place.
fn shuffle<T>(rng: &mut Rng, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        items.swap(i, rng.below(i + 1));
    }
}

/// A generated request, with what it exercises (for the summary).
#[derive(Debug, Clone)]
struct Request {
    method: &'static str,
    /// Request target: origin-form `/path?query` or absolute `https://host/path?query`.
    url: String,
    base: Option<&'static str>,
    repeated_key: bool,
    non_ascii_value: bool,
    jwt_param: bool,
}

impl Request {
    fn canonical(&self) -> CanonicalRequest<'_> {
        let base = self
            .base
            .map(|b| BasePath::parse(b).expect("generated base URL"));
        CanonicalRequest::from_target(self.method, &self.url, base.as_ref())
            .unwrap_or_else(|e| panic!("generated request {self:?} refused: {e}"))
    }

    fn qsh_line(&self) -> String {
        let mut line = json!({ "op": "qsh", "method": self.method, "url": self.url });
        if let Some(base) = self.base {
            line["base"] = json!(base);
        }
        line.to_string()
    }
}

fn gen_request(rng: &mut Rng) -> Request {
    let method = rng.pick_str(METHODS);
    let base = rng.chance(40).then(|| *rng.pick(BASES));
    let mut path = String::new();
    if let Some((_, base_path)) = base {
        path.push_str(base_path);
    }
    for _ in 0..rng.below(5) {
        path.push('/');
        path.push_str(&gen_segment(rng));
    }
    if path.is_empty() || rng.chance(15) {
        path.push('/');
    }
    if let Some((url, base_path)) = base {
        // npm strips the base URL's path as a raw prefix, trailing slash included: `/app/`
        // leaves `/app` alone (and hashes `/app`), so under such a base the path goes on.
        if url.ends_with('/') && path.len() == base_path.len() {
            path.push('/');
        }
    }
    if rng.chance(5) && base.is_none() && path == "/" {
        path.clear(); // `?a=1`: no path at all
    }
    let mut url = String::new();
    if rng.chance(25) {
        url.push_str(rng.pick_str(ORIGINS));
        if path.is_empty() {
            path.push('/');
        }
    }
    url.push_str(&path);
    let mut request = Request {
        method,
        url,
        base: base.map(|(url, _)| url),
        repeated_key: false,
        non_ascii_value: false,
        jwt_param: false,
    };
    if rng.chance(85) {
        request.url.push('?');
        gen_query(rng, &mut request);
    }
    request
}

/// 1..=10 unreserved characters, never only dots (`.`/`..` are dot segments).
fn gen_segment(rng: &mut Rng) -> String {
    let mut segment = rng.string_from(UNRESERVED, 1, 10);
    if segment.bytes().all(|b| b == b'.') {
        segment.push(char::from(*rng.pick(ALNUM)));
    }
    segment
}

fn gen_query(rng: &mut Rng, request: &mut Request) {
    let mut keys: Vec<String> = Vec::new();
    let mut pieces: Vec<String> = Vec::new();
    for _ in 0..rng.below(8) {
        let key = if !keys.is_empty() && rng.chance(30) {
            request.repeated_key = true;
            rng.pick(&keys).clone()
        } else if rng.chance(5) {
            request.jwt_param = true;
            "jwt".to_owned()
        } else {
            rng.string_from(KEY_CHARS, 1, 6)
        };
        let piece = match rng.below(20) {
            0 => key.clone(),       // `k`, the same as `k=`
            1 => format!("{key}="), // empty value
            _ => {
                let (value, non_ascii) = gen_value(rng);
                request.non_ascii_value |= non_ascii;
                format!("{key}={value}")
            }
        };
        keys.push(key);
        pieces.push(piece);
    }
    let separator = if rng.chance(5) { "&&" } else { "&" };
    request.url.push_str(&pieces.join(separator));
}

/// A percent-encoded value and whether it holds non-ASCII characters.
fn gen_value(rng: &mut Rng) -> (String, bool) {
    let mut out = String::new();
    let mut non_ascii = false;
    for _ in 0..rng.below(13) {
        match rng.below(10) {
            0..=3 => {
                let b = *rng.pick(UNRESERVED);
                if rng.chance(10) {
                    push_escaped(rng, &[b], &mut out);
                } else {
                    out.push(char::from(b));
                }
            }
            4 => out.push_str(if rng.chance(50) { "+" } else { "%20" }),
            5 | 6 => {
                // Printable ASCII outside the unreserved set, or a control character.
                let b = if rng.chance(90) {
                    loop {
                        let b = rng.between(0x21, 0x7E) as u8;
                        if !UNRESERVED.contains(&b) {
                            break b;
                        }
                    }
                } else {
                    rng.below(0x20) as u8
                };
                if VALUE_RAW_OK.contains(&b) && rng.chance(40) {
                    out.push(char::from(b));
                } else {
                    push_escaped(rng, &[b], &mut out);
                }
            }
            _ => {
                non_ascii = true;
                let c = rng.non_ascii_char();
                // Raw non-ASCII is fine, except what Node's `url.parse` trims off the ends.
                if rng.chance(30) && !c.is_whitespace() && c != '\u{FEFF}' {
                    out.push(c);
                } else {
                    let mut buf = [0u8; 4];
                    push_escaped(rng, c.encode_utf8(&mut buf).as_bytes(), &mut out);
                }
            }
        }
    }
    (out, non_ascii)
}

/// `%XX` for each byte, hex digits in upper or lower case.
fn push_escaped(rng: &mut Rng, bytes: &[u8], out: &mut String) {
    let lower = rng.chance(25);
    for b in bytes {
        let hex = if lower {
            format!("%{:02x}", b)
        } else {
            format!("%{:02X}", b)
        };
        out.push_str(&hex);
    }
}

/// Text for `iss`/`sub`/account ids: usually id-like, sometimes with JSON-tricky characters.
fn gen_id(rng: &mut Rng, prefix: &str) -> String {
    let mut id = format!(
        "{prefix}{}-{}-{}",
        rng.string_from(HEX_LOWER, 8, 8),
        rng.string_from(HEX_LOWER, 4, 4),
        rng.string_from(HEX_LOWER, 12, 12)
    );
    if rng.chance(20) {
        for _ in 0..rng.between(1, 3) {
            let at = rng.below(id.len() + 1);
            let at = (0..=at)
                .rev()
                .find(|&i| id.is_char_boundary(i))
                .unwrap_or(0);
            let extra = if rng.chance(70) {
                rng.pick_str(TRICKY_TEXT).to_owned()
            } else {
                rng.non_ascii_char().to_string()
            };
            id.insert_str(at, &extra);
        }
    }
    id
}

fn gen_secret(rng: &mut Rng) -> String {
    let mut secret = rng.string_from(ALNUM, 16, 48);
    if rng.chance(15) {
        secret.push_str(rng.pick_str(TRICKY_TEXT));
        secret.push(rng.non_ascii_char());
    }
    secret
}

/// A different secret that is not trivially different: one character changed or appended.
fn wrong_secret(rng: &mut Rng, secret: &str) -> String {
    if rng.chance(50) {
        format!("{secret}{}", char::from(*rng.pick(ALNUM)))
    } else {
        let mut chars: Vec<char> = secret.chars().collect();
        let i = rng.below(chars.len());
        chars[i] = if chars[i] == 'x' { 'y' } else { 'x' };
        chars.into_iter().collect()
    }
}

/// A time claim: usually whole seconds, sometimes with a fraction (floored by the verifier).
#[derive(Debug, Clone, Copy)]
struct Time {
    whole: u64,
    /// Quarter seconds added to `whole`, 0..=3.
    quarters: u8,
}

impl Time {
    fn json(self) -> Value {
        if self.quarters == 0 {
            json!(self.whole)
        } else {
            json!(self.whole as f64 + f64::from(self.quarters) * 0.25)
        }
    }
}

/// A token npm signs and we verify.
#[derive(Debug, Clone)]
struct NpmToken {
    iss: String,
    sub: Option<String>,
    /// `context` claim, when present, and the `user.accountId` inside it.
    context: Option<(Value, Option<String>)>,
    context_qsh: bool,
    iat: Time,
    exp: Time,
    clock: u64,
}

impl NpmToken {
    fn expected_account(&self) -> Option<&str> {
        self.sub
            .as_deref()
            .or_else(|| self.context.as_ref().and_then(|(_, id)| id.as_deref()))
    }

    /// The claims as JSON text, members in a shuffled order.
    fn claims_text(&self, rng: &mut Rng, qsh: &str) -> String {
        let mut members: Vec<(&str, Value)> = vec![
            ("iss", json!(self.iss)),
            ("iat", self.iat.json()),
            ("exp", self.exp.json()),
            ("qsh", json!(qsh)),
        ];
        if let Some(sub) = &self.sub {
            members.push(("sub", json!(sub)));
        }
        if let Some((context, _)) = &self.context {
            members.push(("context", context.clone()));
        }
        shuffle(rng, &mut members);
        let body: Vec<String> = members
            .iter()
            .map(|(k, v)| format!("{}:{v}", json!(k)))
            .collect();
        format!("{{{}}}", body.join(","))
    }
}

fn gen_npm_token(rng: &mut Rng) -> NpmToken {
    let iat = (NOW - rng.below(600) as u64) as usize;
    let lifetime = match rng.below(4) {
        0 | 1 => DEFAULT_LIFETIME as usize,
        2 => rng.between(1, 60),
        _ => rng.between(60, 3600),
    };
    let fraction = |rng: &mut Rng| {
        if rng.chance(10) {
            rng.between(1, 3) as u8
        } else {
            0
        }
    };
    let iat_time = Time {
        whole: iat as u64,
        quarters: fraction(rng),
    };
    let exp_time = Time {
        whole: (iat + lifetime) as u64,
        quarters: fraction(rng),
    };
    let context = rng.chance(40).then(|| {
        let account = rng.chance(75).then(|| gen_id(rng, "557058:"));
        let mut user = json!({});
        if let Some(account) = &account {
            user["accountId"] = json!(account);
        }
        if rng.chance(50) {
            user["accountType"] = json!("atlassian");
        }
        let mut context = json!({ "user": user });
        if rng.chance(30) {
            context["license"] = json!({ "active": true });
        }
        (context, account)
    });
    NpmToken {
        iss: gen_id(rng, ""),
        sub: rng.chance(60).then(|| gen_id(rng, "557058:")),
        context,
        context_qsh: rng.chance(25),
        iat: iat_time,
        exp: exp_time,
        // Inside the lifetime: from iat to the last whole second before exp.
        clock: (iat + rng.below(lifetime)) as u64,
    }
}

/// A token we sign and npm decodes.
#[derive(Debug, Clone)]
struct OurToken {
    iss: String,
    sub: Option<String>,
    lifetime: Option<u64>,
    context: bool,
    now: u64,
}

impl OurToken {
    fn signer(&self) -> Signer {
        let mut signer = Signer::new(self.iss.clone());
        if let Some(sub) = &self.sub {
            signer = signer.with_subject(sub.clone());
        }
        if let Some(lifetime) = self.lifetime {
            signer = signer.with_lifetime(lifetime);
        }
        signer
    }

    fn expected_claims(&self, qsh: &str) -> Value {
        let mut claims = json!({
            "iss": self.iss,
            "iat": self.now,
            "exp": self.now + self.lifetime.unwrap_or(DEFAULT_LIFETIME),
            "qsh": qsh,
        });
        if let Some(sub) = &self.sub {
            claims["sub"] = json!(sub);
        }
        claims
    }
}

fn gen_our_token(rng: &mut Rng) -> OurToken {
    OurToken {
        iss: gen_id(rng, ""),
        sub: rng.chance(50).then(|| gen_id(rng, "557058:")),
        lifetime: rng.chance(50).then(|| rng.between(1, 3600) as u64),
        context: rng.chance(25),
        now: NOW - rng.below(1000) as u64,
    }
}

struct Case {
    request: Request,
    secret: String,
    wrong_secret: String,
    npm: NpmToken,
    ours: OurToken,
}

fn gen_case(rng: &mut Rng) -> Case {
    let request = gen_request(rng);
    let secret = gen_secret(rng);
    let wrong_secret = wrong_secret(rng, &secret);
    Case {
        request,
        secret,
        wrong_secret,
        npm: gen_npm_token(rng),
        ours: gen_our_token(rng),
    }
}

/// One `tokens.js` process, spoken to in rounds of JSON Lines.
struct Npm {
    child: Child,
    stdin: Option<BufWriter<ChildStdin>>,
    stdout: BufReader<ChildStdout>,
}

impl Npm {
    fn spawn(root: &Path) -> Self {
        let mut child = Command::new("node")
            .arg(root.join("tests/reference/tokens.js"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn node");
        let stdin = BufWriter::new(child.stdin.take().expect("node stdin"));
        let stdout = BufReader::new(child.stdout.take().expect("node stdout"));
        Self {
            child,
            stdin: Some(stdin),
            stdout,
        }
    }

    /// Sends every line and reads one answer per line, in order.
    fn round(&mut self, lines: &[String]) -> Vec<Value> {
        let stdin = self.stdin.as_mut().expect("node stdin open");
        let stdout = &mut self.stdout;
        // Write from another thread: node answers while we are still writing, and both pipes
        // would fill up if one thread did both.
        thread::scope(|scope| {
            let writer = scope.spawn(move || {
                for line in lines {
                    writeln!(stdin, "{line}").expect("write to node");
                }
                stdin.flush().expect("flush node stdin");
            });
            let mut answers = Vec::with_capacity(lines.len());
            let mut text = String::new();
            for _ in lines {
                text.clear();
                let n = stdout.read_line(&mut text).expect("read node output");
                assert!(n > 0, "tokens.js exited before answering every line");
                answers.push(serde_json::from_str(&text).expect("node output is JSON"));
            }
            writer.join().expect("writer thread");
            answers
        })
    }

    fn finish(mut self) {
        drop(self.stdin.take());
        let status = self.child.wait().expect("wait for node");
        assert!(status.success(), "tokens.js failed: {status}");
    }
}

fn sign_line(claims_text: &str, secret: &str) -> String {
    format!(
        r#"{{"op":"sign","claims":{claims_text},"secret":{}}}"#,
        json!(secret)
    )
}

fn decode_line(token: &str, secret: &str) -> String {
    json!({ "op": "decode", "token": token, "secret": secret }).to_string()
}

fn answer<'v>(v: &'v Value, field: &str) -> Result<&'v Value, String> {
    v.get(field).ok_or_else(|| match v.get("error") {
        Some(e) => format!("npm error: {e}"),
        None => format!("npm answered {v} without {field:?}"),
    })
}

fn answer_str<'v>(v: &'v Value, field: &str) -> Result<&'v str, String> {
    let value = answer(v, field)?;
    value
        .as_str()
        .ok_or_else(|| format!("npm {field} is not a string: {value}"))
}

fn segment(token: &str, index: usize) -> &str {
    token.split('.').nth(index).unwrap_or("")
}

/// Collects failed checks, labelled and with the inputs that reproduce them.
#[derive(Default)]
struct Report {
    passed: BTreeMap<&'static str, usize>,
    failed: BTreeMap<&'static str, usize>,
    failures: Vec<String>,
}

impl Report {
    fn check(
        &mut self,
        name: &'static str,
        result: Result<(), String>,
        context: impl FnOnce() -> String,
    ) {
        match result {
            Ok(()) => *self.passed.entry(name).or_default() += 1,
            Err(why) => {
                *self.failed.entry(name).or_default() += 1;
                if self.failures.len() < 20 {
                    self.failures.push(format!("[{name}] {why}\n{}", context()));
                }
            }
        }
    }
}

fn expect_eq<T: PartialEq + std::fmt::Debug>(
    what: &str,
    ours: T,
    expected: T,
) -> Result<(), String> {
    if ours == expected {
        Ok(())
    } else {
        Err(format!("{what}: got {ours:?}, expected {expected:?}"))
    }
}

fn store_for(iss: &str, secret: &str) -> impl Fn(&str) -> Option<SharedSecret> {
    let (iss, secret) = (iss.to_owned(), secret.to_owned());
    move |client_key: &str| (client_key == iss).then(|| SharedSecret::new(secret.clone()))
}

#[test]
fn tokens_interoperate_with_npm_atlassian_jwt() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if !common::reference_or_skip(&root, "interop test") {
        return;
    }

    let seed = common::seed_from_env("INTEROP_SEED");
    let count = common::count_from_env("INTEROP_CASES", DEFAULT_CASES);
    let rerun = format!(
        "INTEROP_SEED={seed} INTEROP_CASES={count} REQUIRE_NODE=1 cargo test --test interop -- --nocapture"
    );
    println!("interop vs npm atlassian-jwt: INTEROP_SEED={seed} INTEROP_CASES={count}");

    let mut rng = Rng::new(seed);
    let cases: Vec<Case> = (0..count).map(|_| gen_case(&mut rng)).collect();
    let requests: Vec<CanonicalRequest<'_>> = cases.iter().map(|c| c.request.canonical()).collect();

    // Our tokens, signed before talking to npm.
    let our_tokens: Vec<String> = cases
        .iter()
        .zip(&requests)
        .map(|(case, request)| {
            let key =
                TenantKey::new(&case.npm.iss, &SharedSecret::new(case.secret.clone())).unwrap();
            let now = UnixTime::from_secs(case.ours.now);
            let signer = case.ours.signer();
            let token = if case.ours.context {
                signer.sign_context(&key, now)
            } else {
                signer.sign_request(request, &key, now)
            };
            token.unwrap().into_string()
        })
        .collect();

    // Round 1, four lines a case: npm's qsh of the request; npm decoding our token with the
    // right secret and with a wrong one; npm encoding our payload (JSON text as we wrote it).
    let mut npm = Npm::spawn(&root);
    let mut lines = Vec::with_capacity(count * 4);
    for (case, token) in cases.iter().zip(&our_tokens) {
        let payload = URL_SAFE_NO_PAD.decode(segment(token, 1)).unwrap();
        let payload = String::from_utf8(payload).unwrap();
        lines.push(case.request.qsh_line());
        lines.push(decode_line(token, &case.secret));
        lines.push(decode_line(token, &case.wrong_secret));
        lines.push(sign_line(&payload, &case.secret));
    }
    let round1 = npm.round(&lines);

    // Round 2, one line a case: npm signs claims carrying its own qsh (or context-qsh).
    let mut npm_qsh: Vec<Option<String>> = Vec::with_capacity(count);
    let mut lines = Vec::with_capacity(count);
    for ((case, request), answers) in cases.iter().zip(&requests).zip(round1.chunks(4)) {
        let qsh = answer_str(&answers[0], "qsh").ok().map(str::to_owned);
        let claim = if case.npm.context_qsh {
            CONTEXT_QSH.to_owned()
        } else {
            // Without an npm qsh (an npm error, reported below) sign ours: the test goes on.
            qsh.clone().unwrap_or_else(|| request.qsh().to_string())
        };
        lines.push(sign_line(
            &case.npm.claims_text(&mut rng, &claim),
            &case.secret,
        ));
        npm_qsh.push(qsh);
    }
    let round2 = npm.round(&lines);
    npm.finish();

    let mut report = Report::default();
    let verifier = Verifier::new();
    for (i, case) in cases.iter().enumerate() {
        let request = &requests[i];
        let answers = &round1[i * 4..i * 4 + 4];
        let ours_qsh = request.qsh().to_string();
        let describe_request = || {
            format!(
                "  case {i}: {} {:?} base {:?}\n  ours canonical: {:?} qsh {ours_qsh}\n  npm  answered:  {}",
                case.request.method,
                case.request.url,
                case.request.base,
                request.canonical_string(),
                answers[0],
            )
        };

        // The qsh both sides compute for the request.
        report.check(
            "qsh equal",
            answer_str(&answers[0], "qsh").and_then(|q| expect_eq("npm qsh", q, ours_qsh.as_str())),
            describe_request,
        );

        // --- Tokens we sign, read by npm. ---
        let our_token = &our_tokens[i];
        let describe_ours = || {
            format!(
                "  case {i}: token {our_token}\n  signer {:?} secret {:?}\n{}",
                case.ours,
                case.secret,
                describe_request()
            )
        };
        let signed_qsh = if case.ours.context {
            CONTEXT_QSH
        } else {
            ours_qsh.as_str()
        };
        report.check(
            "ours: npm decodes exact claims",
            answer(&answers[1], "claims").and_then(|claims| {
                expect_eq("npm claims", claims, &case.ours.expected_claims(signed_qsh))
            }),
            describe_ours,
        );
        if !case.ours.context {
            report.check(
                "ours: qsh is npm's qsh",
                answer(&answers[1], "claims").and_then(|claims| {
                    let npm_hash = npm_qsh[i].as_deref().ok_or("npm gave no qsh")?;
                    expect_eq("signed qsh", claims["qsh"].as_str(), Some(npm_hash))
                }),
                describe_ours,
            );
        }
        report.check(
            "ours: npm refuses wrong secret",
            match answers[2].get("error").and_then(Value::as_str) {
                Some(e) if e.starts_with(NPM_BAD_SIGNATURE) => Ok(()),
                _ => Err(format!(
                    "npm decode with {:?}: {}",
                    case.wrong_secret, answers[2]
                )),
            },
            describe_ours,
        );
        report.check(
            "ours: npm re-encodes same payload",
            answer_str(&answers[3], "token")
                .and_then(|t| expect_eq("payload segment", segment(our_token, 1), segment(t, 1))),
            describe_ours,
        );

        // --- Tokens npm signs, verified here. ---
        let npm_token = match answer_str(&round2[i], "token") {
            Ok(token) => token,
            Err(why) => {
                report.check("npm: signs", Err(why), describe_request);
                continue;
            }
        };
        let t = &case.npm;
        let describe_npm = || {
            format!(
                "  case {i}: npm token {npm_token}\n  claims {t:?} secret {:?}\n{}",
                case.secret,
                describe_request()
            )
        };
        let store = store_for(&t.iss, &case.secret);
        let clock = UnixTime::from_secs(t.clock);
        let (policy, other_policy, kind) = if t.context_qsh {
            (
                QshPolicy::Context,
                QshPolicy::Request(request),
                TokenKind::Context,
            )
        } else {
            (
                QshPolicy::Request(request),
                QshPolicy::Context,
                TokenKind::RequestBound,
            )
        };
        report.check(
            "npm: verifies with identity",
            verifier
                .verify(npm_token, policy, &store, clock)
                .map_err(|e| format!("verify at {}: {e:?}", t.clock))
                .and_then(|v| {
                    expect_eq("client_key", v.client_key(), t.iss.as_str())?;
                    expect_eq("account_id", v.account_id(), t.expected_account())?;
                    expect_eq("kind", v.kind(), kind)?;
                    let c = v.claims();
                    expect_eq("sub", c.sub(), t.sub.as_deref())?;
                    expect_eq("iat", c.iat().as_secs(), t.iat.whole)?;
                    expect_eq("exp", c.exp().as_secs(), t.exp.whole)?;
                    let context_id = t.context.as_ref().and_then(|(_, id)| id.as_deref());
                    expect_eq("context account", c.context_account_id(), context_id)?;
                    let qsh = if t.context_qsh {
                        CONTEXT_QSH
                    } else {
                        npm_qsh[i].as_deref().unwrap_or("")
                    };
                    expect_eq("qsh", c.qsh(), Some(qsh))
                }),
            describe_npm,
        );
        let wrong = store_for(&t.iss, &case.wrong_secret);
        report.check(
            "npm: wrong secret is InvalidSignature",
            expect_eq(
                "verify with wrong secret",
                verifier.verify(npm_token, policy, &wrong, clock).err(),
                Some(Error::InvalidSignature),
            ),
            describe_npm,
        );
        let late = t.exp.whole + DEFAULT_LEEWAY;
        report.check(
            "npm: expired after exp+leeway",
            expect_eq(
                "verify after exp",
                verifier
                    .verify(npm_token, policy, &store, UnixTime::from_secs(late))
                    .err(),
                Some(Error::Expired {
                    exp: t.exp.whole,
                    now: late,
                }),
            ),
            describe_npm,
        );
        let policy_error = if t.context_qsh {
            Error::ContextTokenNotAllowed
        } else {
            Error::ContextTokenRequired
        };
        report.check(
            "npm: other policy refused",
            expect_eq(
                "verify under the other policy",
                verifier
                    .verify(npm_token, other_policy, &store, clock)
                    .err(),
                Some(policy_error),
            ),
            describe_npm,
        );
        if !t.context_qsh {
            // Same target, another method: the qsh must no longer match.
            let method = if request.canonical_string().starts_with("GET&") {
                "POST"
            } else {
                "GET"
            };
            let base = case.request.base.map(|b| BasePath::parse(b).unwrap());
            let other =
                CanonicalRequest::from_target(method, &case.request.url, base.as_ref()).unwrap();
            report.check(
                "npm: other request is QshMismatch",
                match verifier.verify(npm_token, QshPolicy::Request(&other), &store, clock) {
                    Err(Error::QshMismatch(_)) => Ok(()),
                    other => Err(format!("verify for {method}: {other:?}")),
                },
                describe_npm,
            );
        }
    }

    // Summary.
    let count_if = |f: &dyn Fn(&Case) -> bool| cases.iter().filter(|c| f(c)).count();
    let mut summary = String::new();
    writeln!(summary, "  generated: {count} requests").unwrap();
    for (label, n) in [
        ("with a base URL", count_if(&|c| c.request.base.is_some())),
        (
            "absolute-form",
            count_if(&|c| c.request.url.contains("://")),
        ),
        ("with a repeated key", count_if(&|c| c.request.repeated_key)),
        (
            "with non-ASCII values",
            count_if(&|c| c.request.non_ascii_value),
        ),
        ("with a jwt parameter", count_if(&|c| c.request.jwt_param)),
        (
            "npm tokens request-bound",
            count_if(&|c| !c.npm.context_qsh),
        ),
        ("npm tokens context-qsh", count_if(&|c| c.npm.context_qsh)),
        ("npm tokens with sub", count_if(&|c| c.npm.sub.is_some())),
        (
            "npm tokens with context.user.accountId",
            count_if(&|c| c.npm.context.as_ref().is_some_and(|(_, id)| id.is_some())),
        ),
        (
            "npm tokens with fractional iat/exp",
            count_if(&|c| c.npm.iat.quarters + c.npm.exp.quarters > 0),
        ),
        ("our tokens request-bound", count_if(&|c| !c.ours.context)),
        ("our tokens context", count_if(&|c| c.ours.context)),
        ("our tokens with sub", count_if(&|c| c.ours.sub.is_some())),
    ] {
        writeln!(summary, "    {label:<40} {n:>6}").unwrap();
    }
    writeln!(summary, "  {:<42} {:>6} {:>6}", "check", "passed", "failed").unwrap();
    let names: std::collections::BTreeSet<&str> = report
        .passed
        .keys()
        .chain(report.failed.keys())
        .copied()
        .collect();
    for name in names {
        let passed = report.passed.get(name).copied().unwrap_or(0);
        let failed = report.failed.get(name).copied().unwrap_or(0);
        writeln!(summary, "    {name:<40} {passed:>6} {failed:>6}").unwrap();
    }
    println!("{summary}");

    let failed: usize = report.failed.values().sum();
    assert!(
        failed == 0,
        "{failed} interop checks failed (first {} below). Rerun: {rerun}\n{}",
        report.failures.len(),
        report.failures.join("\n")
    );
}

/// The generator stays inside the agreed region, checked without node: every request
/// canonicalizes, every key is plain, and npm's raw base-prefix stripping (a model of
/// `canonicalizeUri`, which the live test runs for real) gives our canonical path.
#[test]
fn generator_stays_in_the_agreed_region() {
    let mut rng = Rng::new(0x1a7e_2024);
    for _ in 0..5000 {
        let case = gen_case(&mut rng);
        let req = &case.request;
        let canonical = req.canonical().canonical_string();
        let mut parts = canonical.splitn(3, '&');
        let (_, ours_path, ours_query) = (parts.next(), parts.next().unwrap(), parts.next());

        let target = match req.url.find("://") {
            Some(at) => {
                let rest = &req.url[at + 3..];
                &rest[rest.find(['/', '?']).unwrap_or(rest.len())..]
            }
            None => req.url.as_str(),
        };
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let base_raw = req.base.map_or("", |b| match b.find("://") {
            Some(at) => b[at + 3..].find('/').map_or("", |p| &b[at + 3 + p..]),
            None => b,
        });
        let mut npm_path = path.strip_prefix(base_raw).unwrap_or(path).to_owned();
        if !npm_path.starts_with('/') {
            npm_path.insert(0, '/');
        }
        if npm_path.len() > 1 && npm_path.ends_with('/') {
            npm_path.pop();
        }
        assert_eq!(ours_path, npm_path, "path of {req:?}");

        for piece in query.split('&').filter(|p| !p.is_empty()) {
            let key = piece.split('=').next().unwrap();
            assert!(
                !key.is_empty() && key.bytes().all(|b| KEY_CHARS.contains(&b)),
                "key {key:?} of {req:?}"
            );
        }
        assert!(ours_query.is_some());
        assert!(case.npm.clock >= case.npm.iat.whole && case.npm.clock < case.npm.exp.whole);
        assert_ne!(case.secret, case.wrong_secret);
    }
}
