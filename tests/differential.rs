//! Differential test: the crate's canonical requests against the npm `atlassian-jwt` 2.0.3
//! package (pinned in `tests/reference/package.json`), run live through
//! `tests/reference/canonical.js`.
//!
//! A seeded generator produces random requests; every one goes through our crate and, in one
//! batch, through npm. Where the two disagree, the difference must be one of the divergences
//! documented in the reference (`connect-jwt.md` section 2: key order, invalid escapes, base
//! path, Node's `url.parse` rewriting, `__proto__`, the 1000-parameter limit). Each is
//! checked as a *model* of npm: a predicate on the input decides whether the divergence can
//! apply, and the exact output npm must then produce is derived from ours. A difference no
//! model explains fails the test with the seed, the input and both outputs. Exact matches
//! also compare the qsh.
//!
//! Run: `npm ci --prefix tests/reference && REQUIRE_NODE=1 cargo test --test differential
//! -- --nocapture`.
//!
//! Environment: `DIFF_SEED` (decimal or `0x` hex; time-based if unset, always printed),
//! `DIFF_CASES` (default 5000), `REQUIRE_NODE=1` (fail instead of skipping when node or
//! `npm ci --prefix tests/reference` is missing).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;

use atlassian_connect_jwt::{BasePath, CanonicalRequest, Error, Qsh};
use serde_json::{json, Value};

use common::Rng;

/// Cases in a default run; class coverage is only asserted for runs at least this large.
const DEFAULT_CASES: usize = 5000;

/// Share of cases that must match npm exactly, so the generator stays realistic rather than
/// living entirely inside divergence classes.
const MIN_EXACT_PERCENT: usize = 60;

/// Node's `querystring.parse` (used by `url.parse(url, true)`) keeps only this many
/// `&`-separated pieces, empty pieces included.
const NPM_MAX_KEYS: usize = 1000;

/// One case in this many gets a query with more than [`NPM_MAX_KEYS`] pieces.
const PARAM_LIMIT_EVERY: usize = 1000;

/// Characters Node's legacy `url.parse` may rewrite in a path: `\` becomes `/`, the others
/// are percent-escaped (unless its fast path for simple relative paths keeps them raw).
/// Non-ASCII is *not* in the list: `url.parse` leaves it alone.
const NODE_URL_REWRITTEN: &[char] = &[
    '\\', ' ', '\t', '\r', '\n', '<', '>', '"', '`', '{', '}', '|', '^', '\'',
];

const METHODS: &[&str] = &[
    "GET", "get", "Get", "POST", "post", "PUT", "put", "DELETE", "PATCH", "HEAD", "OPTIONS",
];

/// Absolute-form prefixes: scheme and authority never count, however they are spelled.
const ORIGINS: &[&str] = &[
    "https://app.example.com",
    "http://localhost:8080",
    "HTTPS://App.Example.COM:443",
    "https://user:pw@app.example.com",
];

/// Base URLs, each with the path npm's `jsuri` takes from it (and strips as a raw prefix).
const BASES: &[(&str, &str)] = &[
    ("https://app.example.com/app", "/app"),
    ("/app", "/app"),
    ("https://app.example.com/app/", "/app/"),
    ("https://app.example.com", ""),
];

/// Path starts to combine with a base: on the boundary, the base itself, a longer segment.
const BASE_PATH_STARTS: &[&str] = &["/app", "/app", "/application", "/appx", "/ap", ""];

const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UNRESERVED: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
/// Path characters Node never rewrites: unreserved, the sub-delims but `'`, `:` and `@`.
const PATH_SAFE: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&()*+,;=:@";
/// Raw ASCII that may appear in a query value (no `&`, `#`, whitespace).
const QUERY_RAW_SPECIALS: &[u8] = b"!'()/?:@;$<>\"\\[]{}|^`";
/// Raw non-ASCII with a story: multi-byte, beyond the BMP, above the surrogates in UTF-16
/// order, and the two that Node trims from the ends of a URL.
const NON_ASCII: &[&str] = &[
    "é", "ü", "中", "😀", "\u{FFFD}", "\u{E000}", "\u{FFFF}", "\u{A0}", "\u{FEFF}",
];
const COMMON_ESCAPES: &[&str] = &[
    "%20", "%2B", "%25", "%26", "%3D", "%2C", "%2a", "%7E", "%7e", "%3A", "%2F",
];
/// Escapes the product could never have signed: malformed, or not UTF-8 once decoded.
const INVALID_ESCAPES: &[&str] = &[
    "%zz",
    "%",
    "%4",
    "%G1",
    "%FF",
    "%80",
    "%C0%80",
    "%ED%A0%80",
    "%E2%82",
    "%F4%90%80%80",
];
/// Keys with a story: the token parameter in various spellings, `qs`-style brackets, the
/// empty key, `Object.prototype` names, and escaped spellings of plain keys.
const SPECIAL_KEYS: &[&str] = &[
    "jwt",
    "jwt",
    "JWT",
    "%6Awt",
    "Jwt",
    "a[]",
    "b[c]",
    "",
    "constructor",
    "toString",
    "%61",
    "%62",
    "a%7E",
    "a~",
];

/// A random scalar value, evenly from ASCII and each range with a distinct UTF-8 length or
/// UTF-16 ordering (U+E000..=U+FFFF sorts after surrogate pairs).
fn any_char(rng: &mut Rng) -> char {
    if rng.chance(20) {
        char::from(rng.below(0x80) as u8)
    } else {
        rng.non_ascii_char()
    }
}

/// One generated request, kept in parts so predicates can look at each part.
#[derive(Debug, Clone)]
struct Case {
    method: &'static str,
    /// `scheme://authority`, or empty for an origin-form target.
    origin: &'static str,
    /// The raw path; never contains `?` or `#`.
    path: String,
    /// The raw query without `?`.
    query: Option<String>,
    fragment: Option<String>,
    /// Index into [`BASES`].
    base: Option<usize>,
}

impl Case {
    fn target(&self) -> String {
        let mut target = format!("{}{}", self.origin, self.path);
        if let Some(query) = &self.query {
            let _ = write!(target, "?{query}");
        }
        if let Some(fragment) = &self.fragment {
            let _ = write!(target, "#{fragment}");
        }
        target
    }

    fn base_url(&self) -> Option<&'static str> {
        self.base.map(|i| BASES[i].0)
    }

    /// The base as our crate takes it.
    fn base_path(&self) -> Option<BasePath> {
        self.base_url()
            .map(|url| BasePath::parse(url).expect("test bases are valid"))
    }

    /// The path prefix npm strips: `jsuri`'s path of the base URL, `""` without one.
    fn npm_base_path(&self) -> &'static str {
        self.base.map_or("", |i| BASES[i].1)
    }

    fn to_json_line(&self) -> String {
        let mut input = json!({ "method": self.method, "url": self.target() });
        if let Some(base) = self.base_url() {
            input["base"] = json!(base);
        }
        input.to_string()
    }
}

fn gen_case(rng: &mut Rng, index: usize) -> Case {
    let method = *rng.pick(METHODS);
    let origin = if rng.chance(20) {
        *rng.pick(ORIGINS)
    } else {
        ""
    };
    let base = rng.chance(25).then(|| rng.below(BASES.len()));
    let path = match base {
        Some(_) => format!("{}{}", rng.pick_str(BASE_PATH_STARTS), gen_path(rng)),
        // A relative target without a leading `/` (`test?x=1`); only a plain first segment,
        // as `url.parse` would read `a:b` as a scheme.
        None if origin.is_empty() && rng.chance(3) => {
            format!("{}{}", rng.string_from(LOWER_ALNUM, 1, 6), gen_path(rng))
        }
        // `//user@host/...`: a path to us, an authority to `url.parse`; a host with U+00A0
        // makes it throw.
        None if origin.is_empty() && rng.chance(1) => {
            let host_tail = if rng.chance(30) { "\u{A0}x" } else { "" };
            format!(
                "//{}@{}{host_tail}{}",
                rng.string_from(LOWER_ALNUM, 1, 4),
                rng.string_from(LOWER_ALNUM, 1, 4),
                gen_path(rng)
            )
        }
        None => gen_path(rng),
    };
    let query = if index % PARAM_LIMIT_EVERY == PARAM_LIMIT_EVERY / 2 {
        Some(gen_big_query(rng))
    } else {
        rng.chance(75).then(|| gen_query(rng))
    };
    let fragment = rng.chance(10).then(|| {
        let mut fragment = rng.string_from(UNRESERVED, 0, 6);
        if rng.chance(50) {
            fragment.push_str("?x=1&y");
        }
        fragment
    });
    Case {
        method,
        origin,
        path,
        query,
        fragment,
        base,
    }
}

/// `""`, `/`, or `/seg/seg...`, sometimes with a trailing `/`.
fn gen_path(rng: &mut Rng) -> String {
    if rng.chance(5) {
        return String::new();
    }
    let mut path = String::new();
    for _ in 0..rng.between(0, 4) {
        path.push('/');
        push_segment(rng, &mut path);
    }
    if path.is_empty() || rng.chance(15) {
        path.push('/');
    }
    path
}

fn push_segment(rng: &mut Rng, out: &mut String) {
    match rng.below(100) {
        0..=54 => out.push_str(&rng.string_from(LOWER_ALNUM, 1, 8)),
        55..=66 => out.push_str(&rng.string_from(PATH_SAFE, 1, 6)),
        67..=71 => {
            let _ = write!(
                out,
                "{}&{}=1",
                rng.string_from(LOWER_ALNUM, 0, 3),
                rng.string_from(LOWER_ALNUM, 1, 3)
            );
        }
        72..=75 => {} // empty segment: `//`
        76..=85 => {
            for _ in 0..rng.between(1, 3) {
                out.push_str(&rng.string_from(LOWER_ALNUM, 0, 2));
                if rng.chance(10) {
                    out.push_str(rng.pick_str(&["%zz", "%", "%4"]));
                } else {
                    let byte = rng.below(256) as u8;
                    push_escaped_byte(rng, byte, out);
                }
            }
        }
        86..=95 => {
            out.push_str(&rng.string_from(LOWER_ALNUM, 0, 2));
            if rng.chance(50) {
                out.push_str(rng.pick_str(NON_ASCII));
            } else {
                out.push(rng.non_ascii_char());
            }
        }
        _ => {
            out.push_str(&rng.string_from(LOWER_ALNUM, 1, 3));
            out.push(*rng.pick(NODE_URL_REWRITTEN));
            out.push_str(&rng.string_from(LOWER_ALNUM, 0, 3));
        }
    }
}

/// `%XX`, hex digits in a random case.
fn push_escaped_byte(rng: &mut Rng, byte: u8, out: &mut String) {
    if rng.chance(70) {
        let _ = write!(out, "%{byte:02X}");
    } else {
        let _ = write!(out, "%{byte:02x}");
    }
}

fn gen_query(rng: &mut Rng) -> String {
    let mut pieces: Vec<String> = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    if rng.chance(3) {
        pieces.push(String::new()); // leading `&`
    }
    for _ in 0..rng.between(0, 6) {
        if rng.chance(4) {
            pieces.push(String::new()); // `&&`
        }
        let key = if !keys.is_empty() && rng.chance(20) {
            rng.pick(&keys).clone()
        } else {
            gen_key(rng)
        };
        keys.push(key.clone());
        let piece = match rng.below(100) {
            0..=6 => key,
            7..=14 => format!("{key}="),
            _ => format!("{key}={}", gen_value(rng)),
        };
        pieces.push(piece);
    }
    if rng.chance(4) {
        pieces.push(String::new()); // trailing `&`
    }
    pieces.join("&")
}

fn gen_key(rng: &mut Rng) -> String {
    match rng.below(200) {
        0..=109 => rng.string_from(b"abcde", 1, 2),
        110..=139 => rng.string_from(ALNUM, 1, 4),
        140..=159 => rng.pick_str(SPECIAL_KEYS).to_owned(),
        160..=161 => rng
            .pick_str(&["__proto__", "%5F_proto__", "__proto__"])
            .to_owned(),
        _ => {
            let mut key = rng.string_from(b"abc", 0, 1);
            for _ in 0..rng.between(1, 2) {
                push_value_unit(rng, &mut key);
            }
            key
        }
    }
}

fn gen_value(rng: &mut Rng) -> String {
    let mut value = String::new();
    for _ in 0..rng.between(1, 6) {
        push_value_unit(rng, &mut value);
    }
    if rng.chance(2) {
        let at = rng.between(0, value.len());
        let at = (0..=at)
            .rev()
            .find(|&i| value.is_char_boundary(i))
            .unwrap_or(0);
        value.insert_str(at, rng.pick_str(INVALID_ESCAPES));
    }
    value
}

fn push_value_unit(rng: &mut Rng, out: &mut String) {
    match rng.below(100) {
        0..=39 => rng.push_from(UNRESERVED, 1, out),
        40..=44 => out.push('+'),
        45..=59 => {
            let mut utf8 = [0u8; 4];
            for &byte in any_char(rng).encode_utf8(&mut utf8).as_bytes() {
                push_escaped_byte(rng, byte, out);
            }
        }
        60..=66 => out.push_str(rng.pick_str(NON_ASCII)),
        67..=69 => out.push(rng.non_ascii_char()),
        70..=72 => out.push('*'),
        73..=74 => out.push('~'),
        75..=77 => out.push(','),
        78..=80 => out.push('='),
        81..=87 => rng.push_from(QUERY_RAW_SPECIALS, 1, out),
        _ => out.push_str(rng.pick_str(COMMON_ESCAPES)),
    }
}

/// More than [`NPM_MAX_KEYS`] pieces, so npm drops the tail; the tail holds distinct keys.
fn gen_big_query(rng: &mut Rng) -> String {
    let count = NPM_MAX_KEYS + rng.between(1, 300);
    let mut pieces: Vec<String> = (0..count)
        .map(|i| {
            if rng.chance(2) {
                String::new()
            } else {
                format!("k{i}={}", rng.below(10))
            }
        })
        .collect();
    let random = gen_query(rng);
    pieces.insert(rng.below(pieces.len()), random);
    pieces.join("&")
}

/// What npm computed for one case.
#[derive(Debug)]
struct NpmOutput {
    canonical: Result<String, String>,
    qsh: String,
}

/// Runs every case through `tests/reference/canonical.js` in one node process.
fn run_npm(root: &Path, cases: &[Case]) -> Vec<NpmOutput> {
    let mut child = Command::new("node")
        .arg(root.join("tests/reference/canonical.js"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn node");
    let input: Vec<String> = cases.iter().map(Case::to_json_line).collect();
    let stdin = child.stdin.take().expect("node stdin");
    // Feed from another thread: node writes results while we are still writing input, and
    // both pipes would fill up if one thread did both.
    let writer = thread::spawn(move || {
        let mut stdin = BufWriter::new(stdin);
        for line in input {
            writeln!(stdin, "{line}").expect("write to node");
        }
        stdin.flush().expect("flush node stdin");
    });
    let stdout = child.stdout.take().expect("node stdout");
    let outputs: Vec<NpmOutput> = BufReader::new(stdout)
        .lines()
        .map(|line| {
            let line = line.expect("read node output");
            let v: Value = serde_json::from_str(&line).expect("node output is JSON");
            let text = |field: &str| v[field].as_str().map(str::to_owned);
            NpmOutput {
                canonical: text("canonical").ok_or_else(|| text("error").unwrap_or_default()),
                qsh: text("qsh").unwrap_or_default(),
            }
        })
        .collect();
    writer.join().expect("writer thread");
    let status = child.wait().expect("wait for node");
    assert!(status.success(), "canonical.js failed: {status}");
    assert_eq!(
        outputs.len(),
        cases.len(),
        "canonical.js answered every line"
    );
    outputs
}

/// A documented divergence between npm `atlassian-jwt` and this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    KeyOrder,
    InvalidEscape,
    BasePrefix,
    NodeUrlPathRewrite,
    ProtoKey,
    ParamLimit,
    NodeUrlTrim,
    NodeUrlAuthority,
}

impl Class {
    const ALL: [Self; 8] = [
        Self::KeyOrder,
        Self::InvalidEscape,
        Self::BasePrefix,
        Self::NodeUrlPathRewrite,
        Self::ProtoKey,
        Self::ParamLimit,
        Self::NodeUrlTrim,
        Self::NodeUrlAuthority,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::KeyOrder => "key-order",
            Self::InvalidEscape => "invalid-escape",
            Self::BasePrefix => "base-prefix",
            Self::NodeUrlPathRewrite => "node-url-path-rewrite",
            Self::ProtoKey => "proto-key",
            Self::ParamLimit => "param-limit",
            Self::NodeUrlTrim => "node-url-trim",
            Self::NodeUrlAuthority => "node-url-authority",
        }
    }

    fn rule(self) -> &'static str {
        match self {
            Self::KeyOrder => "we sort keys encoded (product), npm decoded",
            Self::InvalidEscape => "we reject bad %/UTF-8, npm guesses",
            Self::BasePrefix => "we strip the base on a segment boundary, npm raw",
            Self::NodeUrlPathRewrite => "url.parse rewrites \\ space <>... in paths",
            Self::ProtoKey => "npm drops __proto__ keys",
            Self::ParamLimit => "npm keeps only the first 1000 pieces",
            Self::NodeUrlTrim => "url.parse trims C0, space, U+00A0, U+FEFF at the ends",
            Self::NodeUrlAuthority => "url.parse reads //user@host/p as an authority",
        }
    }
}

/// The canonical string through our crate, from already split parts.
fn ours(
    case: &Case,
    path: &str,
    query: Option<&str>,
    base: Option<&BasePath>,
) -> Result<String, Error> {
    CanonicalRequest::from_parts(case.method, path, query, base).map(|r| r.to_string())
}

/// Explains one case: `Ok(classes)` with the divergences that account for every difference
/// (empty for an exact match), or `Err` saying what no documented divergence explains.
fn explain(case: &Case, npm: &NpmOutput) -> Result<Vec<Class>, String> {
    let trimmed = node_trimmed(case);
    let npm_canonical = match &npm.canonical {
        Ok(canonical) => canonical,
        // node-url-authority: the host `url.parse` found in the path is not a valid host.
        Err(e) if e == "Invalid URL" && node_reads_authority(&trimmed) => {
            return Ok(vec![Class::NodeUrlAuthority]);
        }
        Err(e) => return Err(format!("npm threw: {e}")),
    };
    if !Qsh::of_canonical(npm_canonical).matches_hex(&npm.qsh) {
        return Err(format!(
            "npm's qsh {} is not the hash of its string",
            npm.qsh
        ));
    }
    let base = case.base_path();
    let (canonical, qsh) = match checked_ours(case, base.as_ref())? {
        // invalid-escape: we refused exactly as the input demands, and npm answered.
        Ours::Refused => return Ok(vec![Class::InvalidEscape]),
        Ours::Canonical(canonical, qsh) => (canonical, qsh),
    };
    if canonical == *npm_canonical {
        return if qsh.matches_hex(&npm.qsh) {
            Ok(Vec::new())
        } else {
            Err(format!("same string, but npm's qsh is {}", npm.qsh))
        };
    }
    let Prediction {
        canonical: predicted,
        mut classes,
    } = predict_npm(case, base.as_ref(), canonical)?;
    if predicted == *npm_canonical {
        return Ok(classes);
    }
    // node-url-authority, node-url-path-rewrite: `url.parse` hands npm another path;
    // nothing else may differ.
    let (predicted_method, _, predicted_query) = split_canonical(&predicted);
    let (npm_method, _, npm_query) = split_canonical(npm_canonical);
    let path_class = if node_reads_authority(&trimmed) {
        Some(Class::NodeUrlAuthority)
    } else {
        node_may_rewrite_path(&trimmed).then_some(Class::NodeUrlPathRewrite)
    };
    if let Some(class) = path_class {
        if predicted_method == npm_method && predicted_query == npm_query {
            classes.push(class);
            return Ok(classes);
        }
    }
    Err(format!(
        "unexplained; npm model after {classes:?} predicts {predicted:?}"
    ))
}

/// Our result for a case, already checked against the reference rules that need no npm.
enum Ours {
    /// Refused with exactly the error [`expected_query_error`] demands.
    Refused,
    Canonical(String, Qsh),
}

/// Runs our crate on a case and checks what can be checked without npm: refusal exactly
/// when the query breaks the strict decoding rules, `from_parts` agreeing with
/// `from_target`, and keys in the product's order.
fn checked_ours(case: &Case, base: Option<&BasePath>) -> Result<Ours, String> {
    let expected_error = case.query.as_deref().and_then(expected_query_error);
    let target = case.target();
    let request = match CanonicalRequest::from_target(case.method, &target, base) {
        Ok(_) if expected_error.is_some() => {
            return Err(format!(
                "we accepted a query that must fail: {expected_error:?}"
            ));
        }
        Ok(request) => request,
        Err(err) if Some(&err) == expected_error.as_ref() => return Ok(Ours::Refused),
        Err(err) => return Err(format!("we failed ({err:?}), expected {expected_error:?}")),
    };
    let canonical = request.to_string();
    let from_parts = ours(case, &case.path, case.query.as_deref(), base);
    if from_parts.as_ref() != Ok(&canonical) {
        return Err(format!(
            "from_parts gives {from_parts:?}, from_target {canonical:?}"
        ));
    }
    // One group per key, in byte order of the encoded keys. The key-order model below
    // replaces our order with npm's, so it must be checked here.
    let (_, _, query) = split_canonical(&canonical);
    let keys: Vec<&str> = query
        .split('&')
        .map(|group| group.split('=').next().unwrap_or(""))
        .collect();
    if !keys.windows(2).all(|pair| pair[0] < pair[1]) {
        return Err(format!("our keys are not in encoded byte order: {keys:?}"));
    }
    Ok(Ours::Canonical(canonical, request.qsh()))
}

/// npm's output as predicted so far, and the divergences that shaped it.
struct Prediction {
    canonical: String,
    classes: Vec<Class>,
}

impl Prediction {
    /// Takes `next` as the prediction, noting `class` if it changed anything.
    fn apply(&mut self, class: Class, next: Result<String, Error>) -> Result<(), String> {
        let next = next.map_err(|e| format!("{} model: we failed with {e:?}", class.name()))?;
        if next != self.canonical {
            self.classes.push(class);
            self.canonical = next;
        }
        Ok(())
    }
}

/// What npm should output, derived from ours: each divergence whose predicate on the input
/// holds is applied in the order of npm's pipeline (`url.parse` trimming, `querystring.parse`,
/// `canonicalizeUri`, the key sort), and noted if it changes the prediction.
fn predict_npm(
    case: &Case,
    base: Option<&BasePath>,
    canonical: String,
) -> Result<Prediction, String> {
    let mut prediction = Prediction {
        canonical,
        classes: Vec::new(),
    };
    // node-url-trim: `url.parse` starts by trimming both ends of the whole URL.
    let trimmed = node_trimmed(case);
    let case = &trimmed;
    let next = ours(case, &case.path, case.query.as_deref(), base);
    prediction.apply(Class::NodeUrlTrim, next)?;

    let mut query = case.query.clone();

    // param-limit: `querystring.parse` keeps the first 1000 `&`-separated pieces.
    if let Some(q) = query.as_deref() {
        if q.split('&').count() > NPM_MAX_KEYS {
            let kept: Vec<&str> = q.split('&').take(NPM_MAX_KEYS).collect();
            query = Some(kept.join("&"));
            let next = ours(case, &case.path, query.as_deref(), base);
            prediction.apply(Class::ParamLimit, next)?;
        }
    }
    // proto-key: npm skips the key whose decoded name is `__proto__`.
    if let Some(q) = query.as_deref() {
        if q.split('&').any(is_proto_piece) {
            let kept: Vec<&str> = q.split('&').filter(|p| !is_proto_piece(p)).collect();
            query = Some(kept.join("&"));
            let next = ours(case, &case.path, query.as_deref(), base);
            prediction.apply(Class::ProtoKey, next)?;
        }
    }
    // base-prefix: npm strips `jsuri`'s base path as a raw string prefix, boundary or not.
    let npm_path = case
        .path
        .strip_prefix(case.npm_base_path())
        .unwrap_or(&case.path);
    let next = ours(case, npm_path, query.as_deref(), None);
    prediction.apply(Class::BasePrefix, next)?;
    // key-order: npm sorts the same `key=values` groups by decoded key, UTF-16 order.
    let next = resort_by_decoded_key(&prediction.canonical);
    prediction.apply(Class::KeyOrder, Ok(next))?;
    Ok(prediction)
}

/// What Node's `url.parse` trims from both ends of a URL before parsing it.
fn node_trims(c: char) -> bool {
    c <= ' ' || c == '\u{A0}' || c == '\u{FEFF}'
}

/// The case as `url.parse` sees it after trimming: the end of the last part present, and
/// the start of an origin-form target.
fn node_trimmed(case: &Case) -> Case {
    let mut trimmed = case.clone();
    let last = match (&mut trimmed.fragment, &mut trimmed.query) {
        (Some(fragment), _) => fragment,
        (None, Some(query)) => query,
        (None, None) => &mut trimmed.path,
    };
    last.truncate(last.trim_end_matches(node_trims).len());
    if trimmed.origin.is_empty() {
        trimmed.path = trimmed.path.trim_start_matches(node_trims).to_owned();
    }
    trimmed
}

/// `METHOD`, path and query of a canonical string (paths have `&` escaped as `%26`).
fn split_canonical(canonical: &str) -> (&str, &str, &str) {
    let mut parts = canonical.splitn(3, '&');
    let mut next = || parts.next().unwrap_or("");
    (next(), next(), next())
}

/// The canonical string with its `key=v1,v2` groups re-sorted as npm does: by decoded key,
/// in JavaScript string (UTF-16 code unit) order.
fn resort_by_decoded_key(canonical: &str) -> String {
    let (method, path, query) = split_canonical(canonical);
    let mut groups: Vec<&str> = query.split('&').collect();
    groups.sort_by_cached_key(|group| {
        let key = group.split('=').next().unwrap_or("");
        let decoded = percent_encoding::percent_decode_str(key)
            .decode_utf8()
            .expect("our output decodes to UTF-8");
        decoded.encode_utf16().collect::<Vec<u16>>()
    });
    format!("{method}&{path}&{}", groups.join("&"))
}

/// Whether a query piece's key decodes (`+` and `%XX`) to exactly `__proto__`.
fn is_proto_piece(piece: &str) -> bool {
    let key = piece.split('=').next().unwrap_or("");
    let key = key.replace('+', " ");
    percent_encoding::percent_decode_str(&key).collect::<Vec<u8>>() == b"__proto__"
}

/// Whether Node's `url.parse` may hand npm a different path than the one received: the
/// path has a character it escapes or turns into `/`.
fn node_may_rewrite_path(case: &Case) -> bool {
    case.path.contains(NODE_URL_REWRITTEN)
}

/// Whether `url.parse` reads the start of a relative `//user@host/...` target as an
/// authority (Node's test: `/^\/\/[^@\/]+@[^@\/]+/` on the whole trimmed target).
fn node_reads_authority(case: &Case) -> bool {
    let target = case.target();
    let Some(rest) = target.strip_prefix("//").filter(|_| case.origin.is_empty()) else {
        return false;
    };
    let user_len = rest.find(['@', '/']).unwrap_or(rest.len());
    let after = &rest[user_len..];
    user_len > 0
        && after.starts_with('@')
        && after[1..]
            .chars()
            .next()
            .is_some_and(|c| c != '@' && c != '/')
}

/// The error the reference rules demand for a raw query, found independently of the crate:
/// pieces in order, key before value; in a component, the first `%` without two hex digits,
/// unless the bytes decoded before it already break UTF-8.
fn expected_query_error(query: &str) -> Option<Error> {
    let mut start = 0;
    for piece in query.split('&') {
        let piece_start = start;
        start += piece.len() + 1;
        if piece.is_empty() {
            continue;
        }
        let (key, value, value_start) = match piece.find('=') {
            Some(eq) => (&piece[..eq], &piece[eq + 1..], piece_start + eq + 1),
            None => (piece, "", piece_start + piece.len()),
        };
        for (component, offset) in [(key, piece_start), (value, value_start)] {
            if let Some(err) = component_error(component, offset) {
                return Some(err);
            }
        }
    }
    None
}

fn component_error(raw: &str, offset: usize) -> Option<Error> {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
                let Some(hex) = hex else {
                    let broken_before =
                        std::str::from_utf8(&decoded).is_err_and(|e| e.error_len().is_some());
                    return Some(if broken_before {
                        Error::InvalidUtf8 { offset }
                    } else {
                        Error::InvalidPercentEncoding { offset: offset + i }
                    });
                };
                let hex = std::str::from_utf8(hex).expect("hex digits are ASCII");
                decoded.push(u8::from_str_radix(hex, 16).expect("two hex digits"));
                i += 3;
            }
            b'+' => {
                decoded.push(b' ');
                i += 1;
            }
            other => {
                decoded.push(other);
                i += 1;
            }
        }
    }
    std::str::from_utf8(&decoded)
        .is_err()
        .then_some(Error::InvalidUtf8 { offset })
}

#[test]
fn canonical_requests_match_npm_atlassian_jwt() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if !common::reference_or_skip(&root, "differential test") {
        return;
    }

    let seed = common::seed_from_env("DIFF_SEED");
    let count = common::count_from_env("DIFF_CASES", DEFAULT_CASES);
    let rerun = format!(
        "DIFF_SEED={seed} DIFF_CASES={count} REQUIRE_NODE=1 cargo test --test differential -- --nocapture"
    );
    println!("differential vs npm atlassian-jwt: DIFF_SEED={seed} DIFF_CASES={count}");

    let mut rng = Rng::new(seed);
    let cases: Vec<Case> = (0..count).map(|i| gen_case(&mut rng, i)).collect();
    let npm = run_npm(&root, &cases);

    let mut exact = 0;
    let mut per_class: BTreeMap<Class, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for (index, (case, npm)) in cases.iter().zip(&npm).enumerate() {
        match explain(case, npm) {
            Ok(classes) if classes.is_empty() => exact += 1,
            Ok(classes) => {
                for class in classes {
                    *per_class.entry(class).or_default() += 1;
                }
            }
            Err(why) => {
                let ours = CanonicalRequest::from_target(
                    case.method,
                    &case.target(),
                    case.base_path().as_ref(),
                )
                .map(|r| r.to_string());
                failures.push(format!(
                    "case {index}: {why}\n  input: {}\n  ours:  {ours:?}\n  npm:   {:?}",
                    case.to_json_line(),
                    npm.canonical
                ));
            }
        }
    }

    println!("  {:<22} {:>6}  rule", "class", "cases");
    println!("  {:<22} {exact:>6}  identical output", "exact");
    for class in Class::ALL {
        let n = per_class.get(&class).copied().unwrap_or(0);
        println!("  {:<22} {n:>6}  {}", class.name(), class.rule());
    }

    assert!(
        failures.is_empty(),
        "{} of {count} cases differ from npm outside every documented divergence \
         (first {} below). Rerun: {rerun}\n{}",
        failures.len(),
        failures.len().min(20),
        failures[..failures.len().min(20)].join("\n")
    );
    assert!(
        exact * 100 >= count * MIN_EXACT_PERCENT,
        "only {exact} of {count} cases match npm exactly (< {MIN_EXACT_PERCENT}%): the \
         generator has drifted into divergence classes. Rerun: {rerun}"
    );
    if count >= DEFAULT_CASES {
        let unexercised: Vec<&str> = Class::ALL
            .iter()
            .filter(|class| !per_class.contains_key(class))
            .map(|class| class.name())
            .collect();
        assert!(
            unexercised.is_empty(),
            "classes never exercised, so their checks went untested: {unexercised:?}. \
             Rerun: {rerun}"
        );
    }
}

/// The classifier itself, on hand-written npm answers: it must accept each documented
/// divergence and reject anything else. Needs no node.
mod classifier {
    use super::*;

    fn get(path: &str, query: Option<&str>, base: Option<usize>) -> Case {
        Case {
            method: "GET",
            origin: "",
            path: path.to_owned(),
            query: query.map(str::to_owned),
            fragment: None,
            base,
        }
    }

    fn npm_says(canonical: &str) -> NpmOutput {
        NpmOutput {
            canonical: Ok(canonical.to_owned()),
            qsh: Qsh::of_canonical(canonical).to_string(),
        }
    }

    fn explained(case: &Case, npm: &str) -> Result<Vec<Class>, String> {
        explain(case, &npm_says(npm))
    }

    #[test]
    fn accepts_each_documented_divergence() {
        let plain = get("/p", Some("b=2&a=1&jwt=x"), None);
        assert_eq!(explained(&plain, "GET&/p&a=1&b=2"), Ok(vec![]));
        let key_order = get("/p", Some("a0=1&a:=2"), None);
        assert_eq!(
            explained(&key_order, "GET&/p&a0=1&a%3A=2"),
            Ok(vec![Class::KeyOrder])
        );
        let bad_escape = get("/p", Some("a=%zz"), None);
        assert_eq!(
            explained(&bad_escape, "GET&/p&a=%25zz"),
            Ok(vec![Class::InvalidEscape])
        );
        let inside_segment = get("/application/x", None, Some(0));
        assert_eq!(
            explained(&inside_segment, "GET&/lication/x&"),
            Ok(vec![Class::BasePrefix])
        );
        let base_with_slash = get("/app", None, Some(2));
        assert_eq!(
            explained(&base_with_slash, "GET&/app&"),
            Ok(vec![Class::BasePrefix])
        );
        let space = get("/a b", Some("x=1"), None);
        assert_eq!(
            explained(&space, "GET&/a%20b&x=1"),
            Ok(vec![Class::NodeUrlPathRewrite])
        );
        let authority = get("//u@h/c", Some("x=1"), None);
        assert_eq!(
            explained(&authority, "GET&/c&x=1"),
            Ok(vec![Class::NodeUrlAuthority])
        );
        let bad_host = get("//u@h\u{A0}x/c", None, None);
        let invalid_url = NpmOutput {
            canonical: Err("Invalid URL".to_owned()),
            qsh: String::new(),
        };
        assert_eq!(
            explain(&bad_host, &invalid_url),
            Ok(vec![Class::NodeUrlAuthority])
        );
        let trailing_nbsp = get("/p", Some("x=a\u{A0}"), None);
        assert_eq!(
            explained(&trailing_nbsp, "GET&/p&x=a"),
            Ok(vec![Class::NodeUrlTrim])
        );
        let trailing_space = get("/p ", None, None);
        assert_eq!(
            explained(&trailing_space, "GET&/p&"),
            Ok(vec![Class::NodeUrlTrim])
        );
        let proto = get("/p", Some("__proto__=1&a=2"), None);
        assert_eq!(explained(&proto, "GET&/p&a=2"), Ok(vec![Class::ProtoKey]));
        let pieces: Vec<String> = (0..=NPM_MAX_KEYS).map(|i| format!("k{i}=1")).collect();
        let many = get("/p", Some(&pieces.join("&")), None);
        let first_1000 = ours(&many, "/p", Some(&pieces[..NPM_MAX_KEYS].join("&")), None);
        assert_eq!(
            explained(&many, &first_1000.unwrap()),
            Ok(vec![Class::ParamLimit])
        );
    }

    #[test]
    fn rejects_everything_else() {
        let plain = get("/p", Some("a=1"), None);
        assert!(explained(&plain, "GET&/p&a=2").is_err());
        assert!(explained(&plain, "GET&/p&a=1&").is_err());
        let key_order = get("/p", Some("a0=1&a:=2"), None);
        assert!(explained(&key_order, "GET&/p&a0=1&a%3A=3").is_err());
        let inside_segment = get("/application/x", None, Some(0));
        assert!(explained(&inside_segment, "GET&/ication/x&").is_err());
        let no_rewrite_chars = get("/ab", Some("x=1"), None);
        assert!(explained(&no_rewrite_chars, "GET&/a%20b&x=1").is_err());
        let inner_nbsp = get("/p", Some("x=a\u{A0}b"), None);
        assert!(explained(&inner_nbsp, "GET&/p&x=ab").is_err());
        let space = get("/a b", Some("x=1"), None);
        assert!(explained(&space, "GET&/a%20b&x=2").is_err());
        assert!(explained(&space, "POST&/a%20b&x=1").is_err());
        let bad_escape = get("/p", Some("a=%zz"), None);
        let npm_threw = NpmOutput {
            canonical: Err("URIError".to_owned()),
            qsh: String::new(),
        };
        assert!(explain(&bad_escape, &npm_threw).is_err());
        let invalid_url = NpmOutput {
            canonical: Err("Invalid URL".to_owned()),
            qsh: String::new(),
        };
        assert!(explain(&get("/u@h/c", None, None), &invalid_url).is_err());
        let authority = get("//u@h/c", Some("x=1"), None);
        assert!(explained(&authority, "GET&/c&x=2").is_err());
        let wrong_hash = NpmOutput {
            qsh: "0".repeat(64),
            ..npm_says("GET&/p&a=1")
        };
        assert!(explain(&plain, &wrong_hash).is_err());
    }

    #[test]
    fn expected_query_errors_follow_the_scan_order() {
        let check = |q| expected_query_error(q);
        assert_eq!(check("a=1&b=%7E+%C3%A9"), None);
        assert_eq!(
            check("a=%zz"),
            Some(Error::InvalidPercentEncoding { offset: 2 })
        );
        assert_eq!(
            check("b=1&a=%"),
            Some(Error::InvalidPercentEncoding { offset: 6 })
        );
        assert_eq!(
            check("a=%+1"),
            Some(Error::InvalidPercentEncoding { offset: 2 })
        );
        // An incomplete sequence before the bad `%` is not yet an error; a broken one is.
        assert_eq!(
            check("a=%E2%zz"),
            Some(Error::InvalidPercentEncoding { offset: 5 })
        );
        assert_eq!(check("a=%E2x%zz"), Some(Error::InvalidUtf8 { offset: 2 }));
        assert_eq!(check("%FF=%zz"), Some(Error::InvalidUtf8 { offset: 0 }));
        assert_eq!(check("a=%E2%82"), Some(Error::InvalidUtf8 { offset: 2 }));
    }
}

/// A missing reference fails the run under `REQUIRE_NODE=1` (as `.ci/test` sets it when npm
/// is there) and is a loud skip otherwise; an available one runs.
#[test]
fn a_missing_reference_fails_when_required_and_skips_loudly_otherwise() {
    let missing =
        || Err("tests/reference/node_modules/atlassian-jwt/package.json is missing".to_owned());
    let failure = common::skip_or_fail(missing(), "differential test", true).unwrap_err();
    assert!(
        failure.starts_with("REQUIRE_NODE=1 but differential test needs node"),
        "{failure}"
    );
    assert_eq!(
        common::skip_or_fail(missing(), "differential test", false),
        Ok(false)
    );
    assert_eq!(
        common::skip_or_fail(Ok(()), "differential test", true),
        Ok(true)
    );
    assert_eq!(
        common::skip_or_fail(Ok(()), "differential test", false),
        Ok(true)
    );
}
