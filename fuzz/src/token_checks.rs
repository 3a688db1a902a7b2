//! Checks shared by the `parse_token` and `verify` fuzz targets and `tests/fuzz_token_corpus.rs`
//! (which replays `corpus/parse_token/` and `corpus/verify/` under `cargo test`).
//!
//! Each includer uses `#[path = "..."] mod token_checks;`, so this file may use only std, the
//! library, and crates that are dependencies of both the library and the fuzz crate: `hmac`,
//! `sha2`, `serde` and `serde_json`. Base64url is decoded here by hand, independently of the
//! `base64` crate the library uses.
//!
//! # `parse_token`
//!
//! The input, if UTF-8, is a token. [`check_token`] runs [`Unverified::parse`] and
//! [`decode_unverified`] and asserts that:
//!
//! * neither panics, and if `Unverified::parse` succeeds so does `decode_unverified`;
//! * `decode_unverified`'s result, error included, is exactly the one of [`model_decode`]: a
//!   hand-written split, a strict base64url decoder, the library's JSON limits and surrogate
//!   rule read off the text byte by byte ([`text_limits`]), a JSON object reader that keeps
//!   every member name (so duplicates are seen), up to the library's streaming precedence
//!   ([`streaming_precedence`]);
//! * `Unverified::parse`'s form and header errors are exactly the model's (up to the same
//!   precedence), its claim errors name a member that is there (or the first of `iss`, `iat`,
//!   `exp` that is missing), and what it accepts has an `HS256` header and the model's `iss`;
//! * no error's `Display` or `Debug` contains the fixture secret or echoes the token
//!   ([`echo_candidates`]: longer than 16 bytes and holding a `.`).
//!
//! # `verify`
//!
//! The oracle "nothing is accepted that was not signed with the key". The first byte selects
//! the policy and the mode ([`Selector`]): `R`/`C`/`E` verify a token under
//! [`QshPolicy::Request`], [`QshPolicy::Context`], [`QshPolicy::RequestOrContext`]; the
//! lower-case letters (any byte with `0x20` set) select the mutation mode.
//!
//! * Direct mode: `S TOKEN \n REQUEST`, UTF-8, where `REQUEST` is `METHOD TARGET`, or just
//!   `TARGET` (method `GET`), or empty ([`DEFAULT_REQUEST`]).
//! * Mutation mode: `s REQUEST \n OPS`, where `OPS` are raw bytes, 4 per mutation
//!   ([`apply_mutations`]). A token for the request (a context token under `Context`) is
//!   signed with [`Signer`] and the key, must verify, and is then mutated: a token that differs
//!   from the original in any byte must be rejected (the segments are canonical base64url, so
//!   any change to the text changes the signing input or the MAC).
//!
//! The store knows only [`ISS`], with [`SECRET`]; the time is [`NOW`]. Every accepted token is
//! checked by [`check_accepted`]: the signature segment decodes (strictly) to
//! HMAC-SHA256([`SECRET`], `header.payload`) computed with the `hmac` crate, the header's
//! `alg` is `HS256`, the `qsh` is SHA-256 of the request's canonical string in lower-case hex
//! (under `Request`) or `context-qsh` (under `Context`), and the time window holds.

// Each includer uses a different subset; the library's clippy settings deny panics elsewhere.
#![allow(dead_code, clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::fmt;

use atlassian_connect_jwt::dangerous::decode_unverified;
use atlassian_connect_jwt::{
    CanonicalRequest, Error, QshPolicy, SharedSecret, Signer, TenantKey, TokenKind, TokenPart,
    UnixTime, Unverified, Verifier, CONTEXT_QSH, DEFAULT_LEEWAY, MAX_JSON_ARRAY_LEN,
    MAX_JSON_DEPTH, MAX_JSON_ESCAPES, MAX_JSON_MEMBERS, MAX_TOKEN_LEN,
};
use hmac::{Hmac, KeyInit, Mac};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

/// The one tenant's shared secret (the checklist fixture's `S`).
pub(crate) const SECRET: &str = "connect-test-secret-0123456789abcdef0123";
/// The one tenant's clientKey.
pub(crate) const ISS: &str = "test-client-key";
/// The time of every verification.
pub(crate) const NOW: u64 = 1_700_000_060;
/// When the mutation mode signs its token (so `iat` = T1's and `exp` = `iat` + 180).
pub(crate) const SIGNED_AT: u64 = 1_700_000_000;
/// The request when none is given: the checklist's `R`, which T1 is bound to.
pub(crate) const DEFAULT_REQUEST: &str = "GET /path/to/service?a=1&A=2&b=3&B=4";
/// Errors may not contain a token longer than this.
pub(crate) const ECHO_MIN: usize = 16;
/// At most this many mutations are applied.
pub(crate) const MAX_MUTATIONS: usize = 64;

// ----- independent decoding -----

/// Strict unpadded base64url (RFC 4648 §5), written out here: `None` for a character outside
/// `A-Z a-z 0-9 - _`, a length of 1 mod 4, or non-zero trailing bits.
pub(crate) fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        }))
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3 + 2);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for &c in chunk {
            acc = (acc << 6) | sextet(c)?;
        }
        let be = acc.to_be_bytes();
        match chunk.len() {
            4 => out.extend_from_slice(&be[1..]),
            // 18 bits: 16 of data, 2 that must be zero.
            3 if acc & 0b11 == 0 => out.extend_from_slice(&(acc >> 2).to_be_bytes()[2..]),
            // 12 bits: 8 of data, 4 that must be zero.
            2 if acc & 0b1111 == 0 => out.push((acc >> 4).to_be_bytes()[3]),
            _ => return None,
        }
    }
    Some(out)
}

/// The three segments of a token, split by hand.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Segments<'t> {
    pub(crate) header: &'t str,
    pub(crate) payload: &'t str,
    pub(crate) signature: &'t str,
    pub(crate) signing_input: &'t str,
}

/// Three non-empty segments of `A-Z a-z 0-9 - _`, separated by two dots.
pub(crate) fn split_segments(token: &str) -> Option<Segments<'_>> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    if !token.bytes().all(allowed) {
        return None;
    }
    let first = token.find('.')?;
    let second = first + 1 + token[first + 1..].find('.')?;
    let (header, payload, signature) = (
        &token[..first],
        &token[first + 1..second],
        &token[second + 1..],
    );
    if header.is_empty() || payload.is_empty() || signature.is_empty() || signature.contains('.') {
        return None;
    }
    Some(Segments {
        header,
        payload,
        signature,
        signing_input: &token[..second],
    })
}

/// The members of one JSON object in document order, every name kept (duplicates too), each
/// value as raw JSON text.
#[derive(Debug)]
pub(crate) struct Object(pub(crate) Vec<(String, Box<RawValue>)>);

/// Collects members into a vector it does not own, so that what was read before a syntax
/// error survives the error.
struct Walk<'v>(&'v mut Vec<(String, Box<RawValue>)>);

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a json object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(member) = map.next_entry::<String, Box<RawValue>>()? {
            self.0.push(member);
        }
        Ok(())
    }
}

impl Object {
    /// Reads `json` as one object: the members whose name and value were read before any
    /// syntax error, and whether the whole text is one UTF-8 JSON object (only whitespace
    /// after it).
    pub(crate) fn walk(json: &[u8]) -> (Self, bool) {
        let mut members = Vec::new();
        let mut deserializer = serde_json::Deserializer::from_slice(json);
        let complete = Walk(&mut members)
            .deserialize(&mut deserializer)
            .and_then(|()| deserializer.end())
            .is_ok();
        (Self(members), complete)
    }

    /// One UTF-8 JSON object, only whitespace after it.
    pub(crate) fn parse(json: &[u8]) -> Option<Self> {
        let (object, complete) = Self::walk(json);
        complete.then_some(object)
    }

    /// The names before the first one that repeats an earlier one, and whether there is such
    /// a repeat.
    pub(crate) fn names_before_repeat(&self) -> (Vec<&str>, bool) {
        let mut names: Vec<&str> = Vec::new();
        for (name, _) in &self.0 {
            if names.contains(&name.as_str()) {
                return (names, true);
            }
            names.push(name);
        }
        (names, false)
    }

    /// Whether a member name (after JSON unescaping) appears twice.
    pub(crate) fn has_duplicates(&self) -> bool {
        let mut names: Vec<&str> = self.0.iter().map(|(name, _)| name.as_str()).collect();
        names.sort_unstable();
        names.windows(2).any(|pair| pair[0] == pair[1])
    }

    /// The raw value of `name` (the object is assumed free of duplicates).
    pub(crate) fn get(&self, name: &str) -> Option<&RawValue> {
        self.0
            .iter()
            .find(|(member, _)| member == name)
            .map(|(_, value)| &**value)
    }

    /// `Some(Some(text))` for a string member, `Some(None)` for another type, `None` if absent.
    pub(crate) fn string(&self, name: &str) -> Option<Option<String>> {
        self.get(name)
            .map(|raw| serde_json::from_str::<String>(raw.get()).ok())
    }
}

/// The library's JSON limits and lone-surrogate rule, as documented for `MAX_JSON_MEMBERS`,
/// `MAX_JSON_DEPTH`, `MAX_JSON_ARRAY_LEN` and `MAX_JSON_ESCAPES` and checked on the text as
/// written, before it is parsed: the first defect in text order, as `part`'s error.
///
/// Written as the rules read, one byte at a time (the library skips runs of uninteresting
/// bytes, clears ordinary texts by counting, and reads strings in bulk):
///
/// * only the text's first value is read, and only when it is an object or array (JSON
///   whitespace before it skipped), up to the bracket that closes it;
/// * outside strings: `{` or `[` opens a level (more than `MAX_JSON_DEPTH` open:
///   `NestingTooDeep`), and a `[` not followed (whitespace aside) by `]` counts an element; `]`
///   or `}` closes one; a `,` directly in an array counts an element (more than
///   `MAX_JSON_ARRAY_LEN` elements in all: `ArrayTooLong`);
/// * a string followed (whitespace aside) by `:` counts a member when it closes (more than
///   `MAX_JSON_MEMBERS`: `TooManyMembers`);
/// * in a string, each `\` counts an escape (more than `MAX_JSON_ESCAPES`: `TooManyEscapes`);
///   then `\u` must have four hex digits, a low surrogate must directly follow a high one and
///   nothing else may (`InvalidJson`).
pub(crate) fn text_limits(json: &[u8], part: TokenPart) -> Result<(), Error> {
    let mut at = 0;
    while matches!(json.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        at += 1;
    }
    if !matches!(json.get(at), Some(b'{' | b'[')) {
        return Ok(());
    }
    let next_significant = |mut i: usize| {
        while matches!(json.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            i += 1;
        }
        json.get(i).copied()
    };
    let mut open: Vec<u8> = Vec::new();
    let (mut members, mut elements, mut escapes) = (0, 0, 0);
    let mut in_string = false;
    // A high surrogate escape was just read.
    let mut high = false;
    let count = |n: &mut usize, max: usize, error: Error| {
        *n += 1;
        if *n > max {
            Err(error)
        } else {
            Ok(())
        }
    };
    while let Some(&b) = json.get(at) {
        if in_string {
            if b != b'\\' {
                if high {
                    return Err(Error::InvalidJson(part));
                }
                at += 1;
                if b == b'"' {
                    in_string = false;
                    if next_significant(at) == Some(b':') {
                        count(&mut members, MAX_JSON_MEMBERS, Error::TooManyMembers(part))?;
                    }
                }
                continue;
            }
            count(&mut escapes, MAX_JSON_ESCAPES, Error::TooManyEscapes(part))?;
            match json.get(at + 1) {
                None => return Ok(()),
                Some(b'u') => {
                    let hex = json
                        .get(at + 2..at + 6)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                        .ok_or(Error::InvalidJson(part))?;
                    let unit = u16::from_str_radix(hex, 16).expect("four hex digits");
                    let low = (0xDC00..=0xDFFF).contains(&unit);
                    if high != low {
                        return Err(Error::InvalidJson(part));
                    }
                    high = (0xD800..=0xDBFF).contains(&unit);
                    at += 6;
                }
                Some(_) if high => return Err(Error::InvalidJson(part)),
                Some(_) => at += 2,
            }
            continue;
        }
        at += 1;
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                open.push(b);
                if open.len() > MAX_JSON_DEPTH {
                    return Err(Error::NestingTooDeep(part));
                }
                if b == b'[' && next_significant(at).is_some_and(|c| c != b']') {
                    count(&mut elements, MAX_JSON_ARRAY_LEN, Error::ArrayTooLong(part))?;
                }
            }
            b'}' | b']' => {
                open.pop();
                if open.is_empty() {
                    return Ok(());
                }
            }
            b',' if open.last() == Some(&b'[') => {
                count(&mut elements, MAX_JSON_ARRAY_LEN, Error::ArrayTooLong(part))?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// A JSON object's errors, as the library names them for `part`: the limits, then UTF-8 and
/// syntax (one object, only whitespace after it), then repeated names.
fn object(json: &[u8], part: TokenPart) -> Result<Object, Error> {
    text_limits(json, part)?;
    let object = Object::parse(json).ok_or(Error::InvalidJson(part))?;
    if object.has_duplicates() {
        return Err(Error::DuplicateMember(part));
    }
    Ok(object)
}

/// A decoded token, per the model.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub(crate) header_json: Vec<u8>,
    pub(crate) payload_json: Vec<u8>,
    pub(crate) header: Object,
    pub(crate) payload: Object,
}

/// What `decode_unverified` must return: size, form, base64url of header then payload, then
/// the header's and the payload's JSON.
pub(crate) fn model_decode(token: &str) -> Result<Decoded, Error> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Error::TokenTooLarge {
            len: token.len(),
            max: MAX_TOKEN_LEN,
        });
    }
    let segments = split_segments(token).ok_or(Error::MalformedToken)?;
    let header_json =
        b64url_decode(segments.header).ok_or(Error::InvalidBase64(TokenPart::Header))?;
    let payload_json =
        b64url_decode(segments.payload).ok_or(Error::InvalidBase64(TokenPart::Payload))?;
    let header = object(&header_json, TokenPart::Header)?;
    let payload = object(&payload_json, TokenPart::Payload)?;
    Ok(Decoded {
        header_json,
        payload_json,
        header,
        payload,
    })
}

/// The header rules: no `crit`, `alg` a string and exactly `HS256`, `typ` absent or `JWT` in
/// any case.
pub(crate) fn model_header(header: &Object) -> Result<(), Error> {
    if header.get("crit").is_some() {
        return Err(Error::CriticalHeader);
    }
    match header.string("alg") {
        Some(Some(alg)) if alg == "HS256" => {}
        Some(Some(_)) => return Err(Error::UnsupportedAlgorithm { expected: "HS256" }),
        Some(None) | None => return Err(Error::MissingAlgorithm),
    }
    match header.string("typ") {
        None => Ok(()),
        Some(Some(typ)) if typ.eq_ignore_ascii_case("JWT") => Ok(()),
        Some(_) => Err(Error::UnsupportedTokenType),
    }
}

/// What `Unverified::parse` must do up to the claims, in its order: form, header (base64url,
/// JSON, rules), payload (base64url, JSON). `Ok` carries the payload, whose claims are the
/// library's to type-check.
pub(crate) fn model_parse(token: &str) -> Result<Object, Error> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Error::TokenTooLarge {
            len: token.len(),
            max: MAX_TOKEN_LEN,
        });
    }
    let segments = split_segments(token).ok_or(Error::MalformedToken)?;
    let header_json =
        b64url_decode(segments.header).ok_or(Error::InvalidBase64(TokenPart::Header))?;
    model_header(&object(&header_json, TokenPart::Header)?)?;
    let payload_json =
        b64url_decode(segments.payload).ok_or(Error::InvalidBase64(TokenPart::Payload))?;
    object(&payload_json, TokenPart::Payload)
}

/// Whether the library's `got` instead of the model's `want` is only the library's documented
/// streaming precedence.
///
/// The library checks the limits, lone surrogates and UTF-8 of a header or payload first, as
/// the model does, then reads it in one pass (`jws::for_each_member`), checking each member as
/// soon as its value is read: a repeated name, and in the payload a mistyped claim
/// (`Fields::read` in src/claims.rs), is reported as soon as it is met, before a syntax error
/// later in the text; and a mistyped claim before a later repeated name. The model checks the
/// whole syntax first. `got` is tolerated exactly when:
///
/// * `want` is `InvalidJson(part)` for a syntax error (not for a lone surrogate or invalid
///   UTF-8, which the library checks before walking), `got` is `DuplicateMember(part)`, and a
///   name repeats among the members read before the syntax error; or
/// * `want` is `InvalidJson(Payload)` for a syntax error or `DuplicateMember(Payload)`, `got`
///   is `InvalidClaim(c)`, and `c` is among the members read before the error or the first
///   repeated name.
pub(crate) fn streaming_precedence(got: &Error, want: &Error, token: &str) -> bool {
    let part = match want {
        Error::InvalidJson(part) | Error::DuplicateMember(part) => *part,
        _ => return false,
    };
    let json = split_segments(token).and_then(|segments| {
        b64url_decode(match part {
            TokenPart::Header => segments.header,
            _ => segments.payload,
        })
    });
    let Some(json) = json else {
        return false;
    };
    if std::str::from_utf8(&json).is_err() {
        return false;
    }
    let (object, complete) = Object::walk(&json);
    if complete && matches!(want, Error::InvalidJson(_)) {
        return false;
    }
    let (names, repeated) = object.names_before_repeat();
    match got {
        Error::DuplicateMember(got_part) => {
            *got_part == part && repeated && matches!(want, Error::InvalidJson(_))
        }
        Error::InvalidClaim(claim) => {
            part == TokenPart::Payload && names.contains(&claim.to_string().as_str())
        }
        _ => false,
    }
}

/// Lower-case hex SHA-256.
pub(crate) fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// HMAC-SHA256 with the `hmac` crate.
pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// A NumericDate the way the verifier must read it, for accepted tokens: a non-negative finite
/// JSON number, rounded down.
fn numeric_date(payload: &Object, name: &str) -> Option<u64> {
    let raw = payload.get(name)?;
    let value: f64 = serde_json::from_str(raw.get()).ok()?;
    assert!(
        value.is_finite() && !value.is_sign_negative() && value <= 253_402_300_799.0,
        "accepted {name} = {}",
        raw.get()
    );
    // Range-checked just above, so the conversion is exact after flooring.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let secs = value.floor() as u64;
    Some(secs)
}

// ----- error text -----

/// The parts of an input that would be an echo of a token if an error text contained them:
/// the whole input and every maximal run of token characters (`A-Z a-z 0-9 - _ .`, so
/// `eyJ...` in `JWT eyJ...`), when longer than [`ECHO_MIN`] and holding a `.`.
///
/// Inputs without a `.` are left out: the fixed messages themselves hold long runs such as
/// `invalid-authorization-header`, and a fuzzer soon learns to feed back a message (no
/// error text has a `.`, so a token-shaped input can only be there as an echo).
pub(crate) fn echo_candidates(token: &str) -> Vec<&str> {
    let token_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    std::iter::once(token)
        .chain(token.split(|c: char| !token_char(c)))
        .filter(|part| part.len() > ECHO_MIN && part.contains('.'))
        .collect()
}

/// No error text contains the secret or echoes the token ([`echo_candidates`]), not even a
/// [`QshMismatch`](Error::QshMismatch) for a request that carries them in its query.
pub(crate) fn check_error_text(error: &Error, token: &str) {
    let echoes = echo_candidates(token);
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(!text.is_empty(), "{}: empty error text", error.code());
        assert!(
            !text.contains(SECRET),
            "error text leaks the secret: {text}"
        );
        for echo in &echoes {
            assert!(
                !text.contains(echo),
                "error text echoes the token {echo:?}: {text}"
            );
        }
    }
}

// ----- parse_token -----

/// What happened to a `parse_token` input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParseOutcome {
    /// Not UTF-8.
    Skipped,
    /// `Unverified::parse` accepted it (and `decode_unverified` too).
    Parsed,
    /// Only `decode_unverified` accepted it.
    Decoded(Error),
    /// Both refused it; the error of `Unverified::parse`.
    Rejected(Error),
}

/// The `parse_token` target's body.
pub(crate) fn check_parse(data: &[u8]) -> ParseOutcome {
    match std::str::from_utf8(data) {
        Ok(token) => check_token(token),
        Err(_) => ParseOutcome::Skipped,
    }
}

/// Every `parse_token` check on one token (module docs).
pub(crate) fn check_token(token: &str) -> ParseOutcome {
    let parsed = Unverified::parse(token);
    let decoded = decode_unverified(token);
    for error in [parsed.as_ref().err(), decoded.as_ref().err()]
        .into_iter()
        .flatten()
    {
        check_error_text(error, token);
    }

    // decode_unverified is exactly the model.
    let model = model_decode(token);
    match (&decoded, &model) {
        (Ok(parts), Ok(model)) => {
            assert_eq!(
                parts.header_json().as_bytes(),
                model.header_json,
                "decode_unverified({token:?}): header"
            );
            assert_eq!(
                parts.payload_json().as_bytes(),
                model.payload_json,
                "decode_unverified({token:?}): payload"
            );
            let alg = model.header.string("alg").flatten();
            assert_eq!(parts.algorithm(), alg, "decode_unverified({token:?}): alg");
        }
        (Err(got), Err(want)) => {
            if !streaming_precedence(got, want, token) {
                assert_eq!(got, want, "decode_unverified({token:?}) fails differently");
            }
        }
        (got, want) => panic!(
            "decode_unverified({token:?}) = {:?}, the model says {:?}",
            got.as_ref().map(|_| "Ok"),
            want.as_ref().map(|_| "Ok")
        ),
    }

    // Unverified::parse: form and header errors exactly the model's, then claims.
    let model = model_parse(token);
    match (&parsed, model) {
        (Ok(unverified), Ok(payload)) => {
            let parts = decoded
                .as_ref()
                .unwrap_or_else(|e| panic!("parse({token:?}) succeeds, decode fails: {e:?}"));
            assert_eq!(
                payload.string("iss"),
                Some(Some(unverified.issuer().to_owned())),
                "parse({token:?}): issuer"
            );
            let claims = parts
                .claims()
                .unwrap_or_else(|e| panic!("parse({token:?}) succeeds, claims() fails: {e:?}"));
            assert_eq!(claims.iss(), unverified.issuer());
            assert_eq!(parts.algorithm().as_deref(), Some("HS256"));
            for required in ["iat", "exp"] {
                assert!(
                    payload.get(required).is_some(),
                    "parse({token:?}) accepts a payload without {required}"
                );
            }
            if let Some(qsh) = payload.string("qsh") {
                assert_eq!(qsh.as_deref(), claims.qsh(), "parse({token:?}): qsh");
            }
            ParseOutcome::Parsed
        }
        (Err(got), Ok(payload)) => {
            // Only the claims can be wrong now: types member by member in document order,
            // then the required `iss`, `iat`, `exp` in that order.
            let position = |name: &str| payload.0.iter().position(|(n, _)| n == name);
            match got {
                Error::InvalidClaim(claim) => {
                    let at = position(&claim.to_string()).unwrap_or_else(|| {
                        panic!("parse({token:?}) = {got:?}, but there is no such member")
                    });
                    if payload.string("iss") == Some(None) {
                        assert!(
                            at <= position("iss").unwrap_or(0),
                            "parse({token:?}) = {got:?}, but the earlier iss is no string"
                        );
                    }
                }
                Error::MissingClaim(claim) => {
                    let first_missing = ["iss", "iat", "exp"]
                        .into_iter()
                        .find(|name| position(name).is_none());
                    assert_eq!(
                        Some(claim.to_string().as_str()),
                        first_missing,
                        "parse({token:?}) = {got:?}"
                    );
                }
                _ => panic!("parse({token:?}) = {got:?}, but the form and header are fine"),
            }
            assert!(
                decoded.is_ok(),
                "parse({token:?}) reads the claims, decode fails"
            );
            ParseOutcome::Decoded(got.clone())
        }
        (Err(got), Err(want)) => {
            if !streaming_precedence(got, &want, token) {
                assert_eq!(got, &want, "Unverified::parse({token:?}) fails differently");
            }
            match &decoded {
                Ok(_) => ParseOutcome::Decoded(got.clone()),
                Err(_) => ParseOutcome::Rejected(got.clone()),
            }
        }
        (Ok(_), Err(want)) => panic!("Unverified::parse({token:?}) accepts, the model: {want:?}"),
    }
}

// ----- verify -----

/// Which policy a `verify` input uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    /// [`QshPolicy::Request`].
    Request,
    /// [`QshPolicy::Context`].
    Context,
    /// [`QshPolicy::RequestOrContext`].
    Either,
}

/// The first byte of a `verify` input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Selector {
    /// `C`/`c`: context, `E`/`e`: either, anything else: request.
    pub(crate) policy: Policy,
    /// Bit `0x20` (lower-case letters): mutation mode.
    pub(crate) mutate: bool,
}

impl Selector {
    /// Reads the selector byte.
    pub(crate) fn from_byte(byte: u8) -> Self {
        let policy = match byte.to_ascii_uppercase() {
            b'C' => Policy::Context,
            b'E' => Policy::Either,
            _ => Policy::Request,
        };
        Self {
            policy,
            mutate: byte & 0x20 != 0,
        }
    }
}

/// What happened to a `verify` input (in mutation mode: to the mutated token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VerifyOutcome {
    /// Empty, not UTF-8 where text is needed, or no usable request for a request policy.
    Skipped,
    /// Verified, and passed every check of [`check_accepted`].
    Accepted(TokenKind),
    /// Refused.
    Rejected(Error),
}

/// `METHOD TARGET`, or `TARGET` for `GET`, or the [`DEFAULT_REQUEST`] when empty.
pub(crate) fn request_from_line(line: &str) -> Option<CanonicalRequest<'_>> {
    let line = if line.is_empty() {
        DEFAULT_REQUEST
    } else {
        line
    };
    let (method, target) = line.split_once(' ').unwrap_or(("GET", line));
    CanonicalRequest::from_target(method, target, None).ok()
}

/// The fixture's key.
pub(crate) fn tenant_key() -> TenantKey {
    TenantKey::new(ISS, &SharedSecret::new(SECRET)).expect("a non-empty secret")
}

/// The `verify` target's body.
pub(crate) fn check_verify(data: &[u8]) -> VerifyOutcome {
    let Some((&first, rest)) = data.split_first() else {
        return VerifyOutcome::Skipped;
    };
    let selector = Selector::from_byte(first);
    if selector.mutate {
        check_mutation(selector.policy, rest)
    } else {
        check_direct(selector.policy, rest)
    }
}

/// Direct mode: `TOKEN \n REQUEST`.
pub(crate) fn check_direct(policy: Policy, rest: &[u8]) -> VerifyOutcome {
    let Ok(text) = std::str::from_utf8(rest) else {
        return VerifyOutcome::Skipped;
    };
    let (token, line) = text.split_once('\n').unwrap_or((text, ""));
    check_token(token);
    let request = request_from_line(line);
    if request.is_none() && policy != Policy::Context {
        return VerifyOutcome::Skipped;
    }
    verify_token(token, policy, request.as_ref())
}

/// Mutation mode: `REQUEST \n OPS` (module docs).
pub(crate) fn check_mutation(policy: Policy, rest: &[u8]) -> VerifyOutcome {
    let (line, ops) = match rest.iter().position(|&b| b == b'\n') {
        Some(newline) => (&rest[..newline], &rest[newline + 1..]),
        None => (rest, &[][..]),
    };
    let line = std::str::from_utf8(line).unwrap_or("");
    let request = request_from_line(line)
        .or_else(|| request_from_line(DEFAULT_REQUEST))
        .expect("the default request canonicalizes");

    let key = tenant_key();
    let signer = Signer::new(ISS);
    let now = UnixTime::from_secs(SIGNED_AT);
    let original = match policy {
        Policy::Context => signer.sign_context(&key, now),
        Policy::Request | Policy::Either => signer.sign_request(&request, &key, now),
    }
    .expect("signing at a 2023 time cannot overflow");
    let original = original.as_str();
    let expected_kind = match policy {
        Policy::Context => TokenKind::Context,
        Policy::Request | Policy::Either => TokenKind::RequestBound,
    };
    assert_eq!(
        verify_token(original, policy, Some(&request)),
        VerifyOutcome::Accepted(expected_kind),
        "the token Signer made for {:?} does not verify: {original}",
        request.canonical_string()
    );

    let mut bytes = original.as_bytes().to_vec();
    apply_mutations(&mut bytes, ops);
    let Ok(mutated) = String::from_utf8(bytes) else {
        return VerifyOutcome::Skipped;
    };
    check_token(&mutated);
    let outcome = verify_token(&mutated, policy, Some(&request));
    if mutated != original {
        assert!(
            matches!(outcome, VerifyOutcome::Rejected(_)),
            "an altered token was accepted ({outcome:?}):\noriginal {original}\nmutated  {mutated}"
        );
    }
    outcome
}

/// Applies up to [`MAX_MUTATIONS`] mutations of 4 bytes each, `[op, pos_lo, pos_hi, value]`
/// (a shorter tail is ignored). `op % 4`: 0 xors the byte at `pos` with `value`, 1 inserts
/// `value` at `pos`, 2 deletes the byte at `pos`, 3 replaces the byte at `pos` with a token
/// character (or `=`, `+`, `/`, space) chosen by `value`. Positions wrap around the length.
pub(crate) fn apply_mutations(bytes: &mut Vec<u8>, ops: &[u8]) {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ";
    for op in ops.chunks_exact(4).take(MAX_MUTATIONS) {
        let pos = usize::from(u16::from_le_bytes([op[1], op[2]]));
        let value = op[3];
        match op[0] % 4 {
            1 => bytes.insert(pos % (bytes.len() + 1), value),
            _ if bytes.is_empty() => {}
            0 => {
                let at = pos % bytes.len();
                bytes[at] ^= value;
            }
            2 => {
                bytes.remove(pos % bytes.len());
            }
            _ => {
                let at = pos % bytes.len();
                bytes[at] = CHARS[usize::from(value) % CHARS.len()];
            }
        }
    }
}

/// Verifies `token` with the one-tenant store at [`NOW`], checks the two-step API agrees,
/// and checks an acceptance with [`check_accepted`] or an error's text.
///
/// `request` may be `None` only for [`Policy::Context`].
pub(crate) fn verify_token(
    token: &str,
    policy: Policy,
    request: Option<&CanonicalRequest<'_>>,
) -> VerifyOutcome {
    let qsh_policy = match (policy, request) {
        (Policy::Context, _) => QshPolicy::Context,
        (Policy::Request, Some(request)) => QshPolicy::Request(request),
        (Policy::Either, Some(request)) => QshPolicy::RequestOrContext(request),
        (_, None) => return VerifyOutcome::Skipped,
    };
    let store = |client_key: &str| (client_key == ISS).then(|| SharedSecret::new(SECRET));
    let now = UnixTime::from_secs(NOW);
    let verifier = Verifier::new();
    let result = verifier.verify(token, qsh_policy, &store, now);

    // Unverified::parse + Verifier::finish with the key looked up by hand: the same verdict.
    let two_step = Unverified::parse(token).and_then(|unverified| {
        if unverified.issuer() == ISS {
            verifier.finish(unverified, &tenant_key(), qsh_policy, now)
        } else {
            Err(Error::UnknownIssuer)
        }
    });
    assert_eq!(
        result, two_step,
        "verify and parse+finish disagree on {token:?}"
    );

    match result {
        Ok(verified) => {
            check_accepted(token, policy, request, &verified);
            VerifyOutcome::Accepted(verified.kind())
        }
        Err(error) => {
            check_error_text(&error, token);
            VerifyOutcome::Rejected(error)
        }
    }
}

/// The oracle: an accepted token was signed with [`SECRET`], says `HS256`, is bound as the
/// policy requires, and is valid at [`NOW`].
pub(crate) fn check_accepted(
    token: &str,
    policy: Policy,
    request: Option<&CanonicalRequest<'_>>,
    verified: &atlassian_connect_jwt::Verified,
) {
    assert!(
        token.len() <= MAX_TOKEN_LEN,
        "accepted {} bytes",
        token.len()
    );
    let segments = split_segments(token)
        .unwrap_or_else(|| panic!("accepted {token:?}: not three base64url segments"));

    // The MAC, recomputed.
    let signature = b64url_decode(segments.signature).unwrap_or_else(|| {
        panic!("accepted {token:?}: the signature is not canonical unpadded base64url")
    });
    let mac = hmac_sha256(SECRET.as_bytes(), segments.signing_input.as_bytes());
    assert_eq!(
        signature, mac,
        "accepted {token:?}: its signature is not HMAC-SHA256(K, header.payload)"
    );

    // The header.
    let decoded = model_decode(token)
        .unwrap_or_else(|e| panic!("accepted {token:?}, which the model refuses: {e:?}"));
    assert_eq!(
        decoded.header.string("alg"),
        Some(Some("HS256".to_owned())),
        "accepted {token:?}: alg"
    );
    assert_eq!(
        model_header(&decoded.header),
        Ok(()),
        "accepted {token:?}: header"
    );

    // The issuer and the binding.
    let payload = &decoded.payload;
    assert_eq!(
        payload.string("iss"),
        Some(Some(ISS.to_owned())),
        "accepted {token:?}: iss"
    );
    assert_eq!(verified.client_key(), ISS);
    let qsh = payload
        .string("qsh")
        .flatten()
        .unwrap_or_else(|| panic!("accepted {token:?} without a string qsh"));
    assert_eq!(verified.claims().qsh(), Some(qsh.as_str()));
    let request_hex = request.map(|r| sha256_hex(&r.canonical_string()));
    if let (Some(request), Some(hex)) = (request, &request_hex) {
        assert_eq!(&request.qsh().to_string(), hex, "CanonicalRequest::qsh");
    }
    let bound_to_request = request_hex.as_deref() == Some(qsh.as_str());
    match policy {
        Policy::Request => assert!(
            bound_to_request,
            "accepted {token:?} under Request: qsh {qsh:?} is not {request_hex:?}"
        ),
        Policy::Context => assert_eq!(qsh, CONTEXT_QSH, "accepted {token:?} under Context"),
        Policy::Either => assert!(
            bound_to_request || qsh == CONTEXT_QSH,
            "accepted {token:?} under RequestOrContext: qsh {qsh:?}"
        ),
    }
    let kind = if qsh == CONTEXT_QSH {
        TokenKind::Context
    } else {
        TokenKind::RequestBound
    };
    assert_eq!(verified.kind(), kind, "accepted {token:?}: kind");

    // The time window, with the default leeway.
    let iat = numeric_date(payload, "iat").unwrap_or_else(|| panic!("accepted {token:?}: iat"));
    let exp = numeric_date(payload, "exp").unwrap_or_else(|| panic!("accepted {token:?}: exp"));
    assert_eq!(verified.claims().iat().as_secs(), iat);
    assert_eq!(verified.claims().exp().as_secs(), exp);
    assert!(NOW < exp + DEFAULT_LEEWAY, "accepted {token:?}: expired");
    assert!(iat <= NOW + DEFAULT_LEEWAY, "accepted {token:?}: iat ahead");
    assert!(iat <= exp, "accepted {token:?}: iat after exp");
    if payload.get("nbf").is_some() {
        let nbf = numeric_date(payload, "nbf").unwrap_or_else(|| panic!("{token:?}: nbf"));
        assert!(
            nbf < exp && nbf <= NOW + DEFAULT_LEEWAY,
            "accepted {token:?}: nbf"
        );
    }
}
