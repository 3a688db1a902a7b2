//! The attack checklist of `security-checklist.md` §2, one named test per item, for HS256
//! tenant tokens (items 1–47 and 57–59; the signed-install items 5, 6, 18, 22, 48–56 are out of
//! scope here, and item 7 only as "an RS256 token is refused on tenant routes").
//!
//! Fixture (§2): secret `S`, `iss` = `test-client-key`, base `https://app.example.com`,
//! `now` = 1700000060, leeway 30 s, request `R` = `GET /path/to/service?a=1&A=2&b=3&B=4`, golden
//! tokens `T1` (request-bound) and `T2` (context) from §3. Tokens with one property changed
//! are built from raw header/payload JSON text and re-signed with `S`, so only the tested
//! property is wrong.
//!
//! Every verification goes through [`run`], which also checks that the verdict is
//! deterministic and that no error's `Display`/`Debug` contains a secret or the whole token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::RefCell;
use std::collections::HashMap;

use atlassian_connect_jwt::{
    find_token, token_from_authorization, token_from_query, BasePath, CanonicalRequest, Claim,
    Error, QshPolicy, SharedSecret, TenantKey, TokenKind, TokenPart, UnixTime, Verified, Verifier,
    MAX_JSON_ARRAY_LEN, MAX_JSON_DEPTH, MAX_JSON_ESCAPES, MAX_JSON_MEMBERS, MAX_LEEWAY, MAX_PARAMS,
    MAX_QUERY_LEN, MAX_TOKEN_LEN,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256, Sha384, Sha512};

// ----- the fixture -----

const S: &str = "connect-test-secret-0123456789abcdef0123";
const ISS: &str = "test-client-key";
/// A second tenant, for cross-tenant cases.
const S_B: &str = "other-tenant-secret-fedcba9876543210fedc";
const ISS_B: &str = "other-client-key";
/// A tenant whose stored secret is empty.
const ISS_EMPTY: &str = "empty-secret-tenant";
/// A tenant with a non-ASCII clientKey (NFC `é`).
const ISS_NFC: &str = "caf\u{e9}-client";
const NOW: u64 = 1_700_000_060;
const BASE: &str = "https://app.example.com";
const R_TARGET: &str = "/path/to/service?a=1&A=2&b=3&B=4";
const R_CANONICAL: &str = "GET&/path/to/service&A=2&B=4&a=1&b=3";
const Q: &str = "70282c7cf82834bd5a3d6dacda1b4ccd5cf5860a63a1fa2fb86b64d576e6a1d5";
const T1: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ0ZXN0LWNsaWVudC1rZXkiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDE4MCwicXNoIjoiNzAyODJjN2NmODI4MzRiZDVhM2Q2ZGFjZGExYjRjY2Q1Y2Y1ODYwYTYzYTFmYTJmYjg2YjY0ZDU3NmU2YTFkNSJ9.p_628YD5xOEjKOGLmVZ7TKOyymWyyfgWIwDuac8amkY";
const T2: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ0ZXN0LWNsaWVudC1rZXkiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDE4MCwicXNoIjoiY29udGV4dC1xc2gifQ.Y_-fycsTC1VmKefYSFe0PL3HLJ3yBoGVJPW68NX1nfo";
/// T1's header, as the product writes it.
const HEADER: &str = r#"{"typ":"JWT","alg":"HS256"}"#;
const T1_PAYLOAD: &str = r#"{"iss":"test-client-key","iat":1700000000,"exp":1700000180,"qsh":"70282c7cf82834bd5a3d6dacda1b4ccd5cf5860a63a1fa2fb86b64d576e6a1d5"}"#;
const T2_PAYLOAD: &str =
    r#"{"iss":"test-client-key","iat":1700000000,"exp":1700000180,"qsh":"context-qsh"}"#;

fn store(client_key: &str) -> Option<SharedSecret> {
    match client_key {
        ISS => Some(SharedSecret::new(S)),
        ISS_B => Some(SharedSecret::new(S_B)),
        ISS_EMPTY => Some(SharedSecret::new("")),
        ISS_NFC => Some(SharedSecret::new(S)),
        _ => None,
    }
}

fn verifier() -> Verifier {
    Verifier::new().with_leeway(30).unwrap()
}

fn base() -> BasePath {
    BasePath::parse(BASE).unwrap()
}

/// `R`, as the app receives it.
fn request() -> CanonicalRequest<'static> {
    CanonicalRequest::from_target("GET", R_TARGET, Some(&base())).unwrap()
}

fn req(method: &'static str, target: &'static str) -> CanonicalRequest<'static> {
    CanonicalRequest::from_target(method, target, Some(&base())).unwrap()
}

// ----- building and re-signing tokens -----

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `b64(header).b64(payload).b64(HMAC-SHA256(key, signing input))`, from raw bytes.
fn sign_bytes_with(key: &[u8], header: &[u8], payload: &[u8]) -> String {
    let signing_input = format!("{}.{}", b64(header), b64(payload));
    let mac = hmac_sha256(key, signing_input.as_bytes());
    format!("{signing_input}.{}", b64(&mac))
}

/// Re-signs raw header and payload JSON text with `S`.
fn sign(header: &str, payload: &str) -> String {
    sign_bytes_with(S.as_bytes(), header.as_bytes(), payload.as_bytes())
}

/// Re-signs a payload under T1's header with `S`.
fn sign_payload(payload: &str) -> String {
    sign(HEADER, payload)
}

/// A request-bound payload for `qsh`, with the fixture's `iss`, `iat` and `exp`.
fn payload_for_qsh(qsh: &str) -> String {
    format!(r#"{{"iss":"test-client-key","iat":1700000000,"exp":1700000180,"qsh":"{qsh}"}}"#)
}

/// A token for `request`, signed with `S`.
fn token_for(request: &CanonicalRequest<'_>) -> String {
    sign_payload(&payload_for_qsh(&request.qsh().to_string()))
}

fn segments(token: &str) -> Vec<&str> {
    token.split('.').collect()
}

// ----- verifying -----

/// Every error's `Display` and `Debug` are free of every fixture secret and golden token.
fn assert_no_leak(err: &Error) {
    for text in [err.to_string(), format!("{err:?}")] {
        for secret in [S, S_B] {
            assert!(!text.contains(secret), "error text leaks a secret: {text}");
        }
        for token in [T1, T2] {
            assert!(!text.contains(token), "error text leaks a token: {text}");
        }
        assert!(!text.is_empty());
    }
    assert!(!err.code().is_empty());
}

/// As [`assert_no_leak`], and the error does not echo `token` (when long enough to matter).
fn assert_no_leak_of(err: &Error, token: &str) {
    assert_no_leak(err);
    if token.len() >= 16 {
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(!text.contains(token), "error text echoes the token: {text}");
        }
    }
}

/// Verifies twice (the verdict must be deterministic) and checks the error text.
fn run(
    verifier: Verifier,
    token: &str,
    policy: QshPolicy<'_, '_>,
    now: u64,
) -> Result<Verified, Error> {
    let first = verifier.verify(token, policy, &store, UnixTime::from_secs(now));
    let second = verifier.verify(token, policy, &store, UnixTime::from_secs(now));
    assert_eq!(first, second, "verdict is not deterministic");
    if let Err(err) = &first {
        assert_no_leak_of(err, token);
    }
    first
}

/// On a request-bound route serving `R` (the QSH endpoint).
fn on_qsh(token: &str) -> Result<Verified, Error> {
    run(verifier(), token, QshPolicy::Request(&request()), NOW)
}

/// On a context route (the CTX endpoint).
fn on_ctx(token: &str) -> Result<Verified, Error> {
    run(verifier(), token, QshPolicy::Context, NOW)
}

/// On a route that explicitly accepts either kind, serving `R`.
fn on_either(token: &str) -> Result<Verified, Error> {
    run(
        verifier(),
        token,
        QshPolicy::RequestOrContext(&request()),
        NOW,
    )
}

/// On a request-bound route serving `request`.
fn on_request(token: &str, request: &CanonicalRequest<'_>) -> Result<Verified, Error> {
    run(verifier(), token, QshPolicy::Request(request), NOW)
}

fn rejected(result: Result<Verified, Error>) -> Error {
    match result {
        Ok(v) => panic!("accepted, expected a rejection: {v:?}"),
        Err(err) => err,
    }
}

fn accepted(result: Result<Verified, Error>) -> Verified {
    match result {
        Ok(v) => v,
        Err(err) => panic!("rejected, expected acceptance: {err:?}"),
    }
}

/// A `QshMismatch` naming the request received (`canonical`) and the token's `presented` qsh.
fn assert_qsh_mismatch(err: &Error, canonical: &str, presented: &str) {
    match err {
        Error::QshMismatch(m) => {
            assert_eq!(m.canonical_request(), canonical);
            assert_eq!(m.expected().to_string(), sha256_hex(canonical));
            assert_eq!(m.presented(), presented);
        }
        other => panic!("expected a qsh mismatch, got {other:?}"),
    }
    assert_eq!(err.code(), "qsh-mismatch");
}

const UNSUPPORTED: Error = Error::UnsupportedAlgorithm { expected: "HS256" };

// ----- the fixture itself -----

#[test]
fn c00_fixture_golden_tokens_and_resign_helper() {
    assert_eq!(request().to_string(), R_CANONICAL);
    assert_eq!(request().qsh().to_string(), Q);
    assert_eq!(sha256_hex(R_CANONICAL), Q);
    // The re-sign helper reproduces the golden tokens byte for byte.
    assert_eq!(sign_payload(T1_PAYLOAD), T1);
    assert_eq!(sign_payload(T2_PAYLOAD), T2);
    let v = accepted(on_qsh(T1));
    assert_eq!(v.kind(), TokenKind::RequestBound);
    assert_eq!(v.client_key(), ISS);
    let v = accepted(on_ctx(T2));
    assert_eq!(v.kind(), TokenKind::Context);
    assert_eq!(verifier().leeway(), 30);
}

// ----- header / encoding -----

#[test]
fn c01_alg_none_rejected() {
    let none_header = b64(br#"{"alg":"none"}"#);
    let payload = b64(T1_PAYLOAD.as_bytes());
    // `h.p.` (the unsecured JWS shape): the empty signature makes it malformed before `alg`.
    let unsecured = format!("{none_header}.{payload}.");
    assert_eq!(rejected(on_qsh(&unsecured)), Error::MalformedToken);
    assert_eq!(rejected(on_ctx(&unsecured)), Error::MalformedToken);
    // With any non-empty signature (T1's, or a valid HMAC over the `none` header): alg.
    let with_sig = format!("{none_header}.{payload}.{}", segments(T1)[2]);
    assert_eq!(rejected(on_qsh(&with_sig)), UNSUPPORTED);
    for header in [r#"{"alg":"none"}"#, r#"{"alg":"none","typ":"JWT"}"#] {
        assert_eq!(rejected(on_qsh(&sign(header, T1_PAYLOAD))), UNSUPPORTED);
        assert_eq!(rejected(on_ctx(&sign(header, T2_PAYLOAD))), UNSUPPORTED);
    }
}

#[test]
fn c02_alg_case_and_lookalike_variants_rejected() {
    for alg in [
        r#""None""#,
        r#""NONE""#,
        r#""nOnE""#,
        r#""noNE""#,
        r#""hs256""#,
        r#""Hs256""#,
        r#""HS256 ""#,
        r#"" HS256""#,
        r#""HS256\u0000""#,
        r#""HS256\n""#,
        "\"\u{ff28}S256\"",
        r#""\uff28S256""#,
        r#""HS-256""#,
        r#""HS2560""#,
        r#""""#,
    ] {
        let header = format!(r#"{{"typ":"JWT","alg":{alg}}}"#);
        assert_eq!(
            rejected(on_qsh(&sign(&header, T1_PAYLOAD))),
            UNSUPPORTED,
            "alg {alg}"
        );
    }
}

#[test]
fn c03_alg_missing_or_not_a_string_rejected() {
    for header in [
        r#"{"typ":"JWT"}"#,
        r#"{}"#,
        r#"{"typ":"JWT","alg":null}"#,
        r#"{"typ":"JWT","alg":["HS256"]}"#,
        r#"{"typ":"JWT","alg":256}"#,
        r#"{"typ":"JWT","alg":{"name":"HS256"}}"#,
        r#"{"typ":"JWT","alg":true}"#,
        r#"{"typ":"JWT","Alg":"HS256"}"#,
    ] {
        assert_eq!(
            rejected(on_qsh(&sign(header, T1_PAYLOAD))),
            Error::MissingAlgorithm,
            "header {header}"
        );
    }
}

#[test]
fn c04_other_algorithms_rejected_even_when_validly_signed() {
    let payload = b64(T1_PAYLOAD.as_bytes());
    let sign_other = |alg: &str, mac: &dyn Fn(&[u8]) -> Vec<u8>| {
        let header = b64(format!(r#"{{"typ":"JWT","alg":"{alg}"}}"#).as_bytes());
        let input = format!("{header}.{payload}");
        format!("{input}.{}", b64(&mac(input.as_bytes())))
    };
    let hs384 = sign_other("HS384", &|data| {
        let mut m = <Hmac<Sha384> as KeyInit>::new_from_slice(S.as_bytes()).unwrap();
        m.update(data);
        m.finalize().into_bytes().to_vec()
    });
    let hs512 = sign_other("HS512", &|data| {
        let mut m = <Hmac<Sha512> as KeyInit>::new_from_slice(S.as_bytes()).unwrap();
        m.update(data);
        m.finalize().into_bytes().to_vec()
    });
    assert_eq!(rejected(on_qsh(&hs384)), UNSUPPORTED);
    assert_eq!(rejected(on_qsh(&hs512)), UNSUPPORTED);
    // Asymmetric algorithms: signature bytes of the right size (the header check comes first).
    for (alg, len) in [("RS256", 256), ("PS256", 256), ("ES256", 64), ("EdDSA", 64)] {
        let token = sign_other(alg, &|_| vec![0x5a; len]);
        assert_eq!(rejected(on_qsh(&token)), UNSUPPORTED, "{alg}");
        assert_eq!(rejected(on_ctx(&token)), UNSUPPORTED, "{alg}");
        // Even an HMAC-SHA256 tag over the input does not make another `alg` acceptable.
        let token = sign_other(alg, &|data| hmac_sha256(S.as_bytes(), data));
        assert_eq!(
            rejected(on_qsh(&token)),
            UNSUPPORTED,
            "{alg} with an HS256 tag"
        );
    }
}

#[test]
fn c07_rs256_install_token_rejected_on_tenant_routes() {
    // The shape of a signed-install token (RS256, kid, aud, qsh of POST&/installed&).
    let installed_qsh = sha256_hex("POST&/installed&");
    assert!(installed_qsh.starts_with("4a2e1de8") && installed_qsh.ends_with("8bf4"));
    let header =
        b64(br#"{"kid":"0e50fccb-239d-4991-a5db-dc850ba3f236","typ":"JWT","alg":"RS256"}"#);
    let payload = b64(
        format!(
            r#"{{"aud":["https://app.example.com"],"sub":"557058:x","qsh":"{installed_qsh}","iss":"test-client-key","context":{{}},"exp":1700000180,"iat":1700000000}}"#
        )
        .as_bytes(),
    );
    let token = format!("{header}.{payload}.{}", b64(&[0x42; 256]));
    let installed = req("POST", "/installed");
    assert_eq!(rejected(on_request(&token, &installed)), UNSUPPORTED);
    assert_eq!(rejected(on_qsh(&token)), UNSUPPORTED);
    assert_eq!(rejected(on_ctx(&token)), UNSUPPORTED);
    assert_eq!(rejected(on_either(&token)), UNSUPPORTED);
}

#[test]
fn c08_wrong_segment_count_rejected() {
    let [h, p, s] = [segments(T1)[0], segments(T1)[1], segments(T1)[2]];
    for token in [
        format!("{h}.{p}"),
        format!("{h}.{p}.{s}."),
        format!("{h}.{p}.{s}.x"),
        format!("{h}.{p}.{s}.{s}"),
        // The five-part JWE shape (RFC 7516), also with empty parts.
        format!("{h}.{p}.{s}.{p}.{s}"),
        format!("{h}..{p}.{s}.{s}"),
        format!("{h}.{p}"),
        h.to_owned(),
        format!(".{p}.{s}"),
        format!("{h}..{s}"),
        format!("{h}.{p}.{s}"),
    ]
    .into_iter()
    .filter(|t| t != T1)
    {
        assert_eq!(rejected(on_qsh(&token)), Error::MalformedToken, "{token}");
    }
    for token in ["", ".", "..", "...", "a.b", "a.b.c.d"] {
        assert_eq!(rejected(on_qsh(token)), Error::MalformedToken, "{token:?}");
    }
}

#[test]
fn c09_altered_truncated_extended_or_empty_key_signature_rejected() {
    let input = format!("{}.{}", segments(T1)[0], segments(T1)[1]);
    let tag = hmac_sha256(S.as_bytes(), input.as_bytes());
    let with_tag = |tag: &[u8]| format!("{input}.{}", b64(tag));
    assert_eq!(with_tag(&tag), T1);

    // Last byte XOR 1, and every other single-byte change of the tag.
    let mut flipped = tag.clone();
    flipped[31] ^= 1;
    assert_eq!(
        rejected(on_qsh(&with_tag(&flipped))),
        Error::InvalidSignature
    );
    for i in 0..32 {
        let mut changed = tag.clone();
        changed[i] ^= 0x80;
        assert_eq!(
            rejected(on_qsh(&with_tag(&changed))),
            Error::InvalidSignature
        );
    }
    // Truncated to 16 bytes (a correct prefix), to 31, and extended by one byte.
    assert_eq!(
        rejected(on_qsh(&with_tag(&tag[..16]))),
        Error::InvalidSignature
    );
    assert_eq!(
        rejected(on_qsh(&with_tag(&tag[..31]))),
        Error::InvalidSignature
    );
    assert_eq!(
        rejected(on_qsh(&with_tag(&tag[..1]))),
        Error::InvalidSignature
    );
    let mut extended = tag.clone();
    extended.push(0);
    assert_eq!(
        rejected(on_qsh(&with_tag(&extended))),
        Error::InvalidSignature
    );
    let mut doubled = tag.clone();
    doubled.extend_from_slice(&tag);
    assert_eq!(
        rejected(on_qsh(&with_tag(&doubled))),
        Error::InvalidSignature
    );
    // All zeros, and a MAC keyed with the empty key.
    assert_eq!(
        rejected(on_qsh(&with_tag(&[0; 32]))),
        Error::InvalidSignature
    );
    let empty_key = hmac_sha256(b"", input.as_bytes());
    assert_eq!(
        rejected(on_qsh(&with_tag(&empty_key))),
        Error::InvalidSignature
    );
    // The signature of another token (T2's) on T1's input.
    let t2_sig = segments(T2)[2];
    assert_eq!(
        rejected(on_qsh(&format!("{input}.{t2_sig}"))),
        Error::InvalidSignature
    );
}

/// The other encodings of the last character of a segment that decode to the same bytes
/// (the unused low bits set).
fn noncanonical_last_char(segment: &str) -> Vec<String> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let unused_bits = match segment.len() % 4 {
        2 => 4,
        3 => 2,
        _ => return Vec::new(),
    };
    let last = *segment.as_bytes().last().unwrap();
    let value = ALPHABET.iter().position(|&c| c == last).unwrap();
    assert_eq!(
        value & ((1 << unused_bits) - 1),
        0,
        "canonical to begin with"
    );
    (1..(1 << unused_bits))
        .map(|low| {
            let mut s = segment[..segment.len() - 1].to_owned();
            s.push(char::from(ALPHABET[value | low]));
            s
        })
        .collect()
}

#[test]
fn c10_noncanonical_base64_rejected() {
    let [h, p, s] = [segments(T1)[0], segments(T1)[1], segments(T1)[2]];
    assert!(s.ends_with("amkY"));
    let variants = noncanonical_last_char(s);
    let last: Vec<char> = variants.iter().map(|v| v.chars().last().unwrap()).collect();
    assert_eq!(last, ['Z', 'a', 'b']);
    for sig in &variants {
        // Each decodes (leniently) to the same 32 bytes.
        let lenient = base64::engine::GeneralPurpose::new(
            &base64::alphabet::URL_SAFE,
            base64::engine::GeneralPurposeConfig::new()
                .with_encode_padding(false)
                .with_decode_allow_trailing_bits(true)
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone),
        );
        assert_eq!(
            lenient.decode(sig).unwrap(),
            URL_SAFE_NO_PAD.decode(s).unwrap()
        );
        assert_eq!(
            rejected(on_qsh(&format!("{h}.{p}.{sig}"))),
            Error::InvalidBase64(TokenPart::Signature)
        );
    }
    // Non-canonical payload and header segments (re-signed over the altered text).
    let mut payload = T1_PAYLOAD.to_owned();
    while b64(payload.as_bytes()).len().is_multiple_of(4) {
        payload.push(' ');
    }
    let p2 = b64(payload.as_bytes());
    assert_eq!(accepted(on_qsh(&sign_payload(&payload))).client_key(), ISS);
    for alt in noncanonical_last_char(&p2) {
        let input = format!("{h}.{alt}");
        let token = format!(
            "{input}.{}",
            b64(&hmac_sha256(S.as_bytes(), input.as_bytes()))
        );
        assert_eq!(
            rejected(on_qsh(&token)),
            Error::InvalidBase64(TokenPart::Payload)
        );
    }
    let mut header = r#"{"alg":"HS256"}"#.to_owned();
    while b64(header.as_bytes()).len().is_multiple_of(4) {
        header.push(' ');
    }
    let h2 = b64(header.as_bytes());
    assert!(!noncanonical_last_char(&h2).is_empty());
    for alt in noncanonical_last_char(&h2) {
        let input = format!("{alt}.{p}");
        let token = format!(
            "{input}.{}",
            b64(&hmac_sha256(S.as_bytes(), input.as_bytes()))
        );
        assert_eq!(
            rejected(on_qsh(&token)),
            Error::InvalidBase64(TokenPart::Header)
        );
    }
    // A segment of impossible length (4n+1 characters).
    let input = format!("{h}.{p}A");
    let token = format!(
        "{input}.{}",
        b64(&hmac_sha256(S.as_bytes(), input.as_bytes()))
    );
    assert_eq!(
        rejected(on_qsh(&token)),
        Error::InvalidBase64(TokenPart::Payload)
    );
}

#[test]
fn c11_padding_and_standard_alphabet_rejected() {
    let [h, p, s] = [segments(T1)[0], segments(T1)[1], segments(T1)[2]];
    for token in [
        format!("{h}=.{p}.{s}"),
        format!("{h}.{p}=.{s}"),
        format!("{h}.{p}.{s}="),
        format!("{h}.{p}.{s}=="),
        format!("{h}.{p}.{}", s.replace('_', "/")),
        format!("{h}.{p}.{}", segments(T2)[2].replace('-', "+")),
        format!("{h}.{p}.{}", segments(T2)[2].replace(['-', '_'], "+")),
    ] {
        assert_eq!(rejected(on_qsh(&token)), Error::MalformedToken, "{token}");
    }
    // The standard-alphabet payload (`+`, `/`), re-signed.
    let odd = r#"{"iss":"test-client-key","iat":1700000000,"exp":1700000180,"qsh":"context-qsh","sub":"???>>>~~~"}"#;
    let std_payload = base64::engine::general_purpose::STANDARD_NO_PAD.encode(odd);
    assert!(std_payload.contains(['+', '/']));
    accepted(on_ctx(&sign_payload(odd)));
    let input = format!("{h}.{std_payload}");
    let token = format!(
        "{input}.{}",
        b64(&hmac_sha256(S.as_bytes(), input.as_bytes()))
    );
    assert_eq!(rejected(on_ctx(&token)), Error::MalformedToken);
    // A padded payload, re-signed.
    let padded = base64::engine::general_purpose::URL_SAFE.encode(format!("{T2_PAYLOAD} "));
    assert!(padded.ends_with('='));
    let input = format!("{h}.{padded}");
    let token = format!(
        "{input}.{}",
        b64(&hmac_sha256(S.as_bytes(), input.as_bytes()))
    );
    assert_eq!(rejected(on_ctx(&token)), Error::MalformedToken);
}

#[test]
fn c12_whitespace_and_scheme_prefixes_rejected() {
    let dots: Vec<usize> = T1.match_indices('.').map(|(i, _)| i).collect();
    let positions = [
        0,
        1,
        10,
        dots[0],
        dots[0] + 1,
        dots[1],
        dots[1] + 1,
        T1.len() - 1,
        T1.len(),
    ];
    for ws in [" ", "\r", "\n", "\r\n", "\t", "\u{a0}", "\u{feff}", "\0"] {
        for &at in &positions {
            let token = format!("{}{ws}{}", &T1[..at], &T1[at..]);
            assert_eq!(
                rejected(on_qsh(&token)),
                Error::MalformedToken,
                "{ws:?} at {at}"
            );
        }
    }
    for token in [
        format!(" {T1}"),
        format!("{T1} "),
        format!("  {T1}  "),
        format!("JWT {T1}"),
        format!("jwt {T1}"),
        format!("Bearer {T1}"),
        format!("JWT={T1}"),
        format!("\"{T1}\""),
    ] {
        assert_eq!(rejected(on_qsh(&token)), Error::MalformedToken, "{token}");
    }
}

#[test]
fn c13_json_that_is_not_an_object_rejected() {
    for json in [
        "[]", "null", "\"x\"", "{", "}", "1", "true", " ", "[{}]", "{}{}", "\n",
    ] {
        assert_eq!(
            rejected(on_qsh(&sign(json, T1_PAYLOAD))),
            Error::InvalidJson(TokenPart::Header),
            "header {json:?}"
        );
        assert_eq!(
            rejected(on_qsh(&sign(HEADER, json))),
            Error::InvalidJson(TokenPart::Payload),
            "payload {json:?}"
        );
    }
    // An empty segment (empty JSON text) leaves the token malformed.
    assert_eq!(
        rejected(on_qsh(&sign("", T1_PAYLOAD))),
        Error::MalformedToken
    );
    assert_eq!(rejected(on_qsh(&sign(HEADER, ""))), Error::MalformedToken);
    // An empty object is valid JSON: the header then lacks `alg`, the payload `iss`.
    assert_eq!(
        rejected(on_qsh(&sign("{}", T1_PAYLOAD))),
        Error::MissingAlgorithm
    );
    assert_eq!(
        rejected(on_qsh(&sign(HEADER, "{}"))),
        Error::MissingClaim(Claim::Iss)
    );
}

#[test]
fn c14_invalid_utf8_utf16_and_bom_rejected() {
    let key = S.as_bytes();
    // C3 28: an invalid two-byte sequence inside a claim value, a claim name and the header.
    let bad_value = b"{\"iss\":\"test-client-key\",\"iat\":1700000000,\"exp\":1700000180,\"qsh\":\"context-qsh\",\"sub\":\"\xC3\x28\"}";
    let bad_name = b"{\"iss\":\"test-client-key\",\"iat\":1700000000,\"exp\":1700000180,\"qsh\":\"context-qsh\",\"\xC3\x28\":1}";
    let bad_unknown = b"{\"iss\":\"test-client-key\",\"iat\":1700000000,\"exp\":1700000180,\"qsh\":\"context-qsh\",\"x\":\"\xC3\x28\"}";
    let bad_iss = b"{\"iss\":\"test-client-key\xFF\",\"iat\":1700000000,\"exp\":1700000180,\"qsh\":\"context-qsh\"}";
    for payload in [&bad_value[..], bad_name, bad_unknown, bad_iss] {
        let token = sign_bytes_with(key, HEADER.as_bytes(), payload);
        assert_eq!(
            rejected(on_ctx(&token)),
            Error::InvalidJson(TokenPart::Payload)
        );
    }
    let bad_header = b"{\"typ\":\"JWT\",\"alg\":\"HS256\",\"kid\":\"\xC3\x28\"}";
    let token = sign_bytes_with(key, bad_header, T2_PAYLOAD.as_bytes());
    assert_eq!(
        rejected(on_ctx(&token)),
        Error::InvalidJson(TokenPart::Header)
    );

    // UTF-16 (both byte orders, with and without BOM).
    let utf16 = |text: &str, big_endian: bool, bom: bool| -> Vec<u8> {
        let mut out = Vec::new();
        if bom {
            out.extend_from_slice(if big_endian {
                &[0xFE, 0xFF]
            } else {
                &[0xFF, 0xFE]
            });
        }
        for unit in text.encode_utf16() {
            out.extend_from_slice(&if big_endian {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            });
        }
        out
    };
    for (be, bom) in [(false, false), (false, true), (true, false), (true, true)] {
        let token = sign_bytes_with(key, HEADER.as_bytes(), &utf16(T2_PAYLOAD, be, bom));
        assert_eq!(
            rejected(on_ctx(&token)),
            Error::InvalidJson(TokenPart::Payload)
        );
        let token = sign_bytes_with(key, &utf16(HEADER, be, bom), T2_PAYLOAD.as_bytes());
        assert_eq!(
            rejected(on_ctx(&token)),
            Error::InvalidJson(TokenPart::Header)
        );
    }
    // A UTF-8 BOM before `{`.
    let mut bom_payload = b"\xEF\xBB\xBF".to_vec();
    bom_payload.extend_from_slice(T2_PAYLOAD.as_bytes());
    let token = sign_bytes_with(key, HEADER.as_bytes(), &bom_payload);
    assert_eq!(
        rejected(on_ctx(&token)),
        Error::InvalidJson(TokenPart::Payload)
    );
    let mut bom_header = b"\xEF\xBB\xBF".to_vec();
    bom_header.extend_from_slice(HEADER.as_bytes());
    let token = sign_bytes_with(key, &bom_header, T2_PAYLOAD.as_bytes());
    assert_eq!(
        rejected(on_ctx(&token)),
        Error::InvalidJson(TokenPart::Header)
    );
    // Overlong `/` (C0 AF) and an encoded surrogate (ED A0 80).
    for seq in [&b"\xC0\xAF"[..], b"\xED\xA0\x80", b"\xF5\x80\x80\x80"] {
        let mut payload = br#"{"iss":"test-client-key","iat":1700000000,"exp":1700000180,"qsh":"context-qsh","x":""#.to_vec();
        payload.extend_from_slice(seq);
        payload.extend_from_slice(b"\"}");
        let token = sign_bytes_with(key, HEADER.as_bytes(), &payload);
        assert_eq!(
            rejected(on_ctx(&token)),
            Error::InvalidJson(TokenPart::Payload)
        );
    }
}

#[test]
fn c15_trailing_garbage_rejected_trailing_whitespace_accepted() {
    for tail in [" x", "x", "}", ",", "{}", " 1", "\0", "//", " null"] {
        let payload = format!("{T1_PAYLOAD}{tail}");
        assert_eq!(
            rejected(on_qsh(&sign_payload(&payload))),
            Error::InvalidJson(TokenPart::Payload),
            "payload tail {tail:?}"
        );
        let header = format!("{HEADER}{tail}");
        assert_eq!(
            rejected(on_qsh(&sign(&header, T1_PAYLOAD))),
            Error::InvalidJson(TokenPart::Header),
            "header tail {tail:?}"
        );
    }
    for ws in ["  ", "\n", "\r\n", "\t", " \t\r\n "] {
        let v = accepted(on_qsh(&sign(
            &format!("{ws}{HEADER}{ws}"),
            &format!("{ws}{T1_PAYLOAD}{ws}"),
        )));
        assert_eq!(v.kind(), TokenKind::RequestBound);
        assert_eq!(v.client_key(), ISS);
    }
    // JSON whitespace inside the objects, as RFC 7515 A.1 uses (`\r\n `).
    let spaced = "{\"iss\" : \"test-client-key\",\r\n \"iat\":1700000000 ,\n\t\"exp\":1700000180,\"qsh\":\"70282c7cf82834bd5a3d6dacda1b4ccd5cf5860a63a1fa2fb86b64d576e6a1d5\"\r\n}";
    accepted(on_qsh(&sign(
        "{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}",
        spaced,
    )));
}

#[test]
fn c16_duplicate_members_rejected() {
    for header in [
        r#"{"alg":"HS256","alg":"none"}"#,
        r#"{"alg":"none","alg":"HS256"}"#,
        r#"{"alg":"HS256","alg":"HS256"}"#,
        r#"{"typ":"JWT","alg":"HS256","typ":"JWT"}"#,
        r#"{"alg":"HS256","\u0061lg":"none"}"#,
        r#"{"alg":"HS256","kid":"a","kid":"b"}"#,
    ] {
        assert_eq!(
            rejected(on_qsh(&sign(header, T1_PAYLOAD))),
            Error::DuplicateMember(TokenPart::Header),
            "{header}"
        );
    }
    let base = r#""iat":1700000000,"exp":1700000180"#;
    for payload in [
        format!(r#"{{"iss":"test-client-key",{base},"qsh":"{Q}","qsh":"context-qsh"}}"#),
        format!(r#"{{"iss":"test-client-key",{base},"qsh":"context-qsh","qsh":"{Q}"}}"#),
        format!(r#"{{"iss":"test-client-key",{base},"qsh":"{Q}","\u0071sh":"context-qsh"}}"#),
        format!(r#"{{"iss":"test-client-key","iss":"other-client-key",{base},"qsh":"{Q}"}}"#),
        format!(r#"{{"iss":"other-client-key","iss":"test-client-key",{base},"qsh":"{Q}"}}"#),
        format!(r#"{{"iss":"test-client-key",{base},"exp":1700000180,"qsh":"{Q}"}}"#),
        format!(r#"{{"iss":"test-client-key",{base},"exp":9999999999,"qsh":"{Q}"}}"#),
        format!(r#"{{"iss":"test-client-key",{base},"qsh":"{Q}","sub":"a","sub":"b"}}"#),
        format!(r#"{{"iss":"test-client-key",{base},"qsh":"{Q}","x":1,"x":1}}"#),
    ] {
        assert_eq!(
            rejected(on_qsh(&sign_payload(&payload))),
            Error::DuplicateMember(TokenPart::Payload),
            "{payload}"
        );
        assert_eq!(
            rejected(on_ctx(&sign_payload(&payload))),
            Error::DuplicateMember(TokenPart::Payload),
            "{payload}"
        );
    }
    // Nested objects may repeat a top-level name: only the top level holds claims.
    let nested = format!(
        r#"{{"iss":"test-client-key",{base},"qsh":"{Q}","context":{{"iss":"x","qsh":"y"}}}}"#
    );
    accepted(on_qsh(&sign_payload(&nested)));
}

#[test]
fn c17_critical_header_rejected() {
    for header in [
        r#"{"alg":"HS256","crit":["x"],"x":1}"#,
        r#"{"alg":"HS256","crit":[]}"#,
        r#"{"alg":"HS256","b64":false,"crit":["b64"]}"#,
        r#"{"alg":"HS256","crit":null}"#,
        r#"{"alg":"HS256","crit":"exp"}"#,
        r#"{"alg":"HS256","cr\u0069t":["x"],"x":1}"#,
    ] {
        assert_eq!(
            rejected(on_qsh(&sign(header, T1_PAYLOAD))),
            Error::CriticalHeader,
            "{header}"
        );
    }
    // `b64:false` without `crit` is an unknown member, but the MAC still covers the
    // base64url payload, so it verifies like T1 (the payload is not read unencoded).
    accepted(on_qsh(&sign(r#"{"alg":"HS256","b64":false}"#, T1_PAYLOAD)));
    // `typ`: absent or "JWT" (any case); anything else is refused.
    accepted(on_qsh(&sign(r#"{"alg":"HS256"}"#, T1_PAYLOAD)));
    accepted(on_qsh(&sign(r#"{"alg":"HS256","typ":"jwt"}"#, T1_PAYLOAD)));
    for typ in [
        r#""JWE""#,
        r#""at+jwt""#,
        r#""JOSE""#,
        "1",
        "null",
        r#"["JWT"]"#,
        r#""JWT ""#,
    ] {
        let header = format!(r#"{{"alg":"HS256","typ":{typ}}}"#);
        assert_eq!(
            rejected(on_qsh(&sign(&header, T1_PAYLOAD))),
            Error::UnsupportedTokenType,
            "typ {typ}"
        );
    }
}

#[test]
fn c19_names_and_values_compared_after_json_unescaping() {
    // `alg` written with an escape is HS256.
    let v = accepted(on_qsh(&sign(r#"{"alg":"\u0048S256"}"#, T1_PAYLOAD)));
    assert_eq!(v.client_key(), ISS);
    accepted(on_qsh(&sign(r#"{"\u0061lg":"HS256"}"#, T1_PAYLOAD)));
    // `qsh` written with escapes is context-qsh: a context token everywhere.
    let escaped = sign_payload(
        r#"{"iss":"test-client-key","iat":1700000000,"exp":1700000180,"qsh":"\u0063ontext-qsh"}"#,
    );
    assert_eq!(accepted(on_ctx(&escaped)).kind(), TokenKind::Context);
    assert_eq!(accepted(on_either(&escaped)).kind(), TokenKind::Context);
    assert_eq!(rejected(on_qsh(&escaped)), Error::ContextTokenNotAllowed);
    let escaped_name = sign_payload(
        r#"{"iss":"test-client-key","iat":1700000000,"exp":1700000180,"\u0071sh":"context-qsh"}"#,
    );
    assert_eq!(
        rejected(on_qsh(&escaped_name)),
        Error::ContextTokenNotAllowed
    );
    assert_eq!(accepted(on_ctx(&escaped_name)).kind(), TokenKind::Context);
    // An escaped `iss` finds the same tenant.
    let escaped_iss = sign_payload(&format!(
        r#"{{"\u0069ss":"test-\u0063lient-key","iat":1700000000,"exp":1700000180,"qsh":"{Q}"}}"#
    ));
    assert_eq!(accepted(on_qsh(&escaped_iss)).client_key(), ISS);
}

#[test]
fn c19_lone_surrogate_in_a_read_claim_or_name_rejected() {
    // A lone surrogate escape makes the whole JSON text invalid, whichever member holds it.
    let with = |extra: &str| {
        sign_payload(&format!(
            r#"{{"iss":"test-client-key","iat":1700000000,"exp":1700000180,"qsh":"context-qsh",{extra}}}"#
        ))
    };
    assert_eq!(
        rejected(on_ctx(&with(r#""sub":"\ud800""#))),
        Error::InvalidJson(TokenPart::Payload)
    );
    assert_eq!(
        rejected(on_ctx(&with(r#""sub":"a\udc00b""#))),
        Error::InvalidJson(TokenPart::Payload)
    );
    assert_eq!(
        rejected(on_ctx(&with(
            r#""context":{"user":{"accountId":"\ud800"}}"#
        ))),
        Error::InvalidJson(TokenPart::Payload)
    );
    assert_eq!(
        rejected(on_ctx(&with(r#""\ud800":1"#))),
        Error::InvalidJson(TokenPart::Payload)
    );
    let iss = sign_payload(
        r#"{"iss":"test-client-key\ud800","iat":1700000000,"exp":1700000180,"qsh":"context-qsh"}"#,
    );
    assert_eq!(
        rejected(on_ctx(&iss)),
        Error::InvalidJson(TokenPart::Payload)
    );
    let qsh = sign_payload(
        r#"{"iss":"test-client-key","iat":1700000000,"exp":1700000180,"qsh":"context-qsh\ud800"}"#,
    );
    assert_eq!(
        rejected(on_ctx(&qsh)),
        Error::InvalidJson(TokenPart::Payload)
    );
    assert_eq!(
        rejected(on_ctx(&sign(r#"{"alg":"HS256\ud800"}"#, T2_PAYLOAD))),
        Error::InvalidJson(TokenPart::Header)
    );
    assert_eq!(
        rejected(on_ctx(&sign(r#"{"alg":"HS256","\udfff":1}"#, T2_PAYLOAD))),
        Error::InvalidJson(TokenPart::Header)
    );
    // A valid surrogate pair is fine.
    let pair = with(r#""sub":"\ud83d\ude00""#);
    assert_eq!(accepted(on_ctx(&pair)).account_id(), Some("\u{1f600}"));
}

#[test]
fn c19_lone_surrogate_anywhere_rejected() {
    let with = |extra: &str| {
        sign_payload(&format!(
            r#"{{"iss":"test-client-key","iat":1700000000,"exp":1700000180,"qsh":"context-qsh",{extra}}}"#
        ))
    };
    for extra in [
        r#""x":"\ud800""#,
        r#""x":["\udc00"]"#,
        r#""context":{"jira":{"issue":{"key":"\ud800"}}}"#,
    ] {
        assert_eq!(
            on_ctx(&with(extra)).map(|v| v.kind()),
            Err(Error::InvalidJson(TokenPart::Payload)),
            "{extra}"
        );
    }
    assert_eq!(
        on_ctx(&sign(r#"{"alg":"HS256","kid":"\ud800"}"#, T2_PAYLOAD)).map(|v| v.kind()),
        Err(Error::InvalidJson(TokenPart::Header))
    );
}

#[test]
fn c20_kid_and_key_location_headers_never_choose_the_key() {
    let plain = accepted(on_qsh(T1));
    for header in [
        r#"{"typ":"JWT","alg":"HS256","kid":"../../k"}"#,
        r#"{"typ":"JWT","alg":"HS256","kid":"other-client-key"}"#,
        r#"{"typ":"JWT","alg":"HS256","kid":""}"#,
        r#"{"typ":"JWT","alg":"HS256","kid":7}"#,
        r#"{"typ":"JWT","alg":"HS256","jku":"http://127.0.0.1:1/"}"#,
        r#"{"typ":"JWT","alg":"HS256","x5u":"http://127.0.0.1:1/"}"#,
        r#"{"typ":"JWT","alg":"HS256","jwk":{"kty":"oct","k":"AAAA"}}"#,
        r#"{"typ":"JWT","alg":"HS256","x5c":["MIIB"]}"#,
    ] {
        let v = accepted(on_qsh(&sign(header, T1_PAYLOAD)));
        assert_eq!(v, plain, "{header}");
    }
    // A `kid` naming the other tenant does not select the other tenant's secret.
    let header = r#"{"typ":"JWT","alg":"HS256","kid":"other-client-key"}"#;
    let signed_with_b = sign_bytes_with(S_B.as_bytes(), header.as_bytes(), T1_PAYLOAD.as_bytes());
    assert_eq!(rejected(on_qsh(&signed_with_b)), Error::InvalidSignature);
    // A `jwk` header carrying the attacker's own key does not make its MAC valid.
    let attacker = b"attacker-key-attacker-key-attacker-key!!";
    let header = format!(
        r#"{{"typ":"JWT","alg":"HS256","jwk":{{"kty":"oct","k":"{}"}}}}"#,
        b64(attacker)
    );
    let forged = sign_bytes_with(attacker, header.as_bytes(), T1_PAYLOAD.as_bytes());
    assert_eq!(rejected(on_qsh(&forged)), Error::InvalidSignature);
}

// ----- qsh / context tokens -----

#[test]
fn c21_context_token_on_request_route_is_cve_2021_26073() {
    assert_eq!(rejected(on_qsh(T2)), Error::ContextTokenNotAllowed);
    assert_eq!(rejected(on_qsh(T2)).code(), "context-token-not-allowed");
    // On every request-bound route: a lifecycle callback, a webhook, an iframe.
    for (method, target) in [
        ("POST", "/installed"),
        ("POST", "/uninstalled"),
        ("POST", "/webhook/issue-created"),
        ("GET", "/"),
    ] {
        let route = req(method, target);
        assert_eq!(
            rejected(on_request(T2, &route)),
            Error::ContextTokenNotAllowed
        );
    }
    // A context token of the same tenant minted with the library is refused the same way.
    let key = TenantKey::new(ISS, &SharedSecret::new(S)).unwrap();
    let minted = atlassian_connect_jwt::Signer::new(ISS)
        .sign_context(&key, UnixTime::from_secs(NOW))
        .unwrap();
    assert_eq!(
        rejected(on_qsh(minted.as_str())),
        Error::ContextTokenNotAllowed
    );
}

#[test]
fn c23_context_token_on_context_route_accepted() {
    let v = accepted(on_ctx(T2));
    assert_eq!(v.kind(), TokenKind::Context);
    assert_eq!(v.kind().as_str(), "context");
    assert_eq!(v.client_key(), ISS);
    assert_eq!(v.claims().qsh(), Some("context-qsh"));
    // And on a route that explicitly accepts either kind.
    assert_eq!(accepted(on_either(T2)).kind(), TokenKind::Context);
    assert_eq!(accepted(on_either(T1)).kind(), TokenKind::RequestBound);
}

#[test]
fn c24_request_token_on_context_route_rejected() {
    assert_eq!(rejected(on_ctx(T1)), Error::ContextTokenRequired);
    assert_eq!(rejected(on_ctx(T1)).code(), "context-token-required");
    let other = token_for(&req("POST", "/rest/api/thing"));
    assert_eq!(rejected(on_ctx(&other)), Error::ContextTokenRequired);
}

#[test]
fn c25_missing_qsh_rejected_everywhere() {
    let token = sign_payload(r#"{"iss":"test-client-key","iat":1700000000,"exp":1700000180}"#);
    let missing = Error::MissingClaim(Claim::Qsh);
    assert_eq!(rejected(on_qsh(&token)), missing);
    assert_eq!(rejected(on_ctx(&token)), missing);
    assert_eq!(rejected(on_either(&token)), missing);
    assert_eq!(
        rejected(on_request(&token, &req("POST", "/installed"))),
        missing
    );
    // Also with a `context` claim, as pre-2021 context tokens had.
    let old_context = sign_payload(
        r#"{"iss":"test-client-key","iat":1700000000,"exp":1700000180,"sub":"u","context":{"user":{"accountId":"u"}}}"#,
    );
    assert_eq!(rejected(on_qsh(&old_context)), missing);
    assert_eq!(rejected(on_ctx(&old_context)), missing);
}

#[test]
fn c26_qsh_of_the_wrong_type_or_empty_rejected() {
    for qsh in [
        "null",
        "0",
        "[]",
        "{}",
        "true",
        r#"["context-qsh"]"#,
        r#"{"qsh":"context-qsh"}"#,
        "1e3",
    ] {
        let token = sign_payload(&format!(
            r#"{{"iss":"test-client-key","iat":1700000000,"exp":1700000180,"qsh":{qsh}}}"#
        ));
        for result in [on_qsh(&token), on_ctx(&token), on_either(&token)] {
            assert_eq!(
                rejected(result),
                Error::InvalidClaim(Claim::Qsh),
                "qsh {qsh}"
            );
        }
    }
    let empty = sign_payload(&payload_for_qsh(""));
    assert_qsh_mismatch(&rejected(on_qsh(&empty)), R_CANONICAL, "");
    assert_qsh_mismatch(&rejected(on_either(&empty)), R_CANONICAL, "");
    assert_eq!(rejected(on_ctx(&empty)), Error::ContextTokenRequired);
}

#[test]
fn c27_qsh_compared_exactly() {
    let upper = Q.to_ascii_uppercase();
    let mixed = format!("{}{}", &Q[..32], Q[32..].to_ascii_uppercase());
    let prefix = &Q[..63];
    let variants: Vec<(String, String)> = vec![
        (upper.clone(), upper.clone()),
        (mixed.clone(), mixed.clone()),
        (format!("{Q} "), format!("{Q} ")),
        (format!(r"{Q}\n"), format!("{Q}\n")),
        (format!(" {Q}"), format!(" {Q}")),
        (format!(r"{Q}\u0000"), format!("{Q}\0")),
        (prefix.to_owned(), prefix.to_owned()),
        (format!("{Q}0"), format!("{Q}0")),
        (format!("sha256:{Q}"), format!("sha256:{Q}")),
    ];
    for (json, presented) in &variants {
        let token = sign_payload(&payload_for_qsh(json));
        assert_qsh_mismatch(&rejected(on_qsh(&token)), R_CANONICAL, presented);
        assert_eq!(rejected(on_ctx(&token)), Error::ContextTokenRequired);
    }
    // Near misses of `context-qsh` are neither context tokens nor a qsh.
    for (json, presented) in [
        ("Context-Qsh", "Context-Qsh"),
        ("CONTEXT-QSH", "CONTEXT-QSH"),
        ("context-qsh ", "context-qsh "),
        (" context-qsh", " context-qsh"),
        (r"context-qsh\n", "context-qsh\n"),
        ("context_qsh", "context_qsh"),
        ("contextqsh", "contextqsh"),
        ("context-qs", "context-qs"),
    ] {
        let token = sign_payload(&payload_for_qsh(json));
        assert_qsh_mismatch(&rejected(on_qsh(&token)), R_CANONICAL, presented);
        assert_eq!(
            rejected(on_ctx(&token)),
            Error::ContextTokenRequired,
            "{json}"
        );
    }
    // A very long qsh is cut in the diagnostics (the token is still refused).
    let long = "a".repeat(4000);
    let token = sign_payload(&payload_for_qsh(&long));
    assert_qsh_mismatch(&rejected(on_qsh(&token)), R_CANONICAL, &long[..80]);
}

#[test]
fn c28_token_bound_to_its_request_only() {
    for (method, target, canonical) in [
        (
            "GET",
            "/path/to/other?a=1&A=2&b=3&B=4",
            "GET&/path/to/other&A=2&B=4&a=1&b=3",
        ),
        ("POST", R_TARGET, "POST&/path/to/service&A=2&B=4&a=1&b=3"),
        ("PUT", R_TARGET, "PUT&/path/to/service&A=2&B=4&a=1&b=3"),
        (
            "GET",
            "/path/to/service?a=1&A=2&b=3&B=4&c=1",
            "GET&/path/to/service&A=2&B=4&a=1&b=3&c=1",
        ),
        (
            "GET",
            "/path/to/service?a=1&A=2&b=3",
            "GET&/path/to/service&A=2&a=1&b=3",
        ),
        (
            "GET",
            "/path/to/service?a=2&A=2&b=3&B=4",
            "GET&/path/to/service&A=2&B=4&a=2&b=3",
        ),
        (
            "GET",
            "/path/to/service?a=1&a=1&A=2&b=3&B=4",
            "GET&/path/to/service&A=2&B=4&a=1,1&b=3",
        ),
        ("GET", "/path/to/service", "GET&/path/to/service&"),
        (
            "GET",
            "/path/to/service/x?a=1&A=2&b=3&B=4",
            "GET&/path/to/service/x&A=2&B=4&a=1&b=3",
        ),
    ] {
        let other = req(method, target);
        assert_eq!(other.to_string(), canonical);
        assert_qsh_mismatch(&rejected(on_request(T1, &other)), canonical, Q);
    }
    // `get` is `GET`; parameter order and a trailing slash do not count; the fragment and the
    // `jwt` parameter are not signed.
    for (method, target) in [
        ("get", R_TARGET),
        ("Get", R_TARGET),
        ("GET", "/path/to/service?B=4&b=3&A=2&a=1"),
        ("GET", "/path/to/service/?a=1&A=2&b=3&B=4"),
        (
            "GET",
            "https://app.example.com/path/to/service?a=1&A=2&b=3&B=4#frag",
        ),
        ("GET", "/path/to/service?a=1&A=2&b=3&B=4&jwt=anything"),
        ("GET", "/path/to/service?a=1&&A=2&b=3&B=4&"),
    ] {
        let same = req(method, target);
        assert_eq!(
            accepted(on_request(T1, &same)).kind(),
            TokenKind::RequestBound,
            "{target}"
        );
    }
}

#[test]
fn c29_path_ampersand_cannot_pose_as_query() {
    let amp = req("GET", "/a&b");
    let query = req("GET", "/a?b");
    assert_eq!(amp.to_string(), "GET&/a%26b&");
    assert_eq!(query.to_string(), "GET&/a&b=");
    assert!(amp.qsh().to_string().starts_with("06ded36e"));
    assert!(query.qsh().to_string().starts_with("fe7bdb4f"));
    accepted(on_request(&token_for(&amp), &amp));
    accepted(on_request(&token_for(&query), &query));
    let for_amp = amp.qsh().to_string();
    let for_query = query.qsh().to_string();
    assert_qsh_mismatch(
        &rejected(on_request(&token_for(&amp), &query)),
        "GET&/a&b=",
        &for_amp,
    );
    assert_qsh_mismatch(
        &rejected(on_request(&token_for(&query), &amp)),
        "GET&/a%26b&",
        &for_query,
    );

    let path_amp = req("GET", "/rest/api/2/project&a=b?x=y");
    let real = req("GET", "/rest/api/2/project?a=b&x=y");
    assert_eq!(path_amp.to_string(), "GET&/rest/api/2/project%26a=b&x=y");
    assert_eq!(real.to_string(), "GET&/rest/api/2/project&a=b&x=y");
    assert_qsh_mismatch(
        &rejected(on_request(&token_for(&path_amp), &real)),
        "GET&/rest/api/2/project&a=b&x=y",
        &path_amp.qsh().to_string(),
    );
    assert_qsh_mismatch(
        &rejected(on_request(&token_for(&real), &path_amp)),
        "GET&/rest/api/2/project%26a=b&x=y",
        &real.qsh().to_string(),
    );
}

/// `a` and `b` canonicalize to `ca`/`cb`; a token for one is refused on the other.
fn assert_distinct(a: &'static str, ca: &str, b: &'static str, cb: &str) {
    let (ra, rb) = (req("GET", a), req("GET", b));
    assert_eq!(ra.to_string(), ca, "{a}");
    assert_eq!(rb.to_string(), cb, "{b}");
    let (qa, qb) = (ra.qsh().to_string(), rb.qsh().to_string());
    assert_ne!(qa, qb);
    assert_qsh_mismatch(&rejected(on_request(&token_for(&ra), &rb)), cb, &qa);
    assert_qsh_mismatch(&rejected(on_request(&token_for(&rb), &ra)), ca, &qb);
}

/// `a` and `b` both canonicalize to `canonical`; a token for one verifies on the other.
fn assert_same(a: &'static str, b: &'static str, canonical: &str) {
    let (ra, rb) = (req("GET", a), req("GET", b));
    assert_eq!(ra.to_string(), canonical, "{a}");
    assert_eq!(rb.to_string(), canonical, "{b}");
    accepted(on_request(&token_for(&ra), &rb));
    accepted(on_request(&token_for(&rb), &ra));
}

#[test]
fn c30_repeated_parameters_versus_commas() {
    assert_distinct("/p?a=1,2", "GET&/p&a=1%2C2", "/p?a=1&a=2", "GET&/p&a=1,2");
    assert_same("/p?a=2&a=1", "/p?a=1&a=2", "GET&/p&a=1,2");
    assert_same("/p?a=1&b=2&a=3", "/p?b=2&a=3&a=1", "GET&/p&a=1,3&b=2");
    assert_distinct("/p?a=1&a=2", "GET&/p&a=1,2", "/p?a=1", "GET&/p&a=1");
}

#[test]
fn c31_encoding_equivalences_and_distinctions() {
    assert_same("/p?x=a+b", "/p?x=a%20b", "GET&/p&x=a%20b");
    assert_distinct("/p?x=a+b", "GET&/p&x=a%20b", "/p?x=a%2Bb", "GET&/p&x=a%2Bb");
    assert_same("/p?x=*", "/p?x=%2a", "GET&/p&x=%2A");
    assert_same("/p?x=%2A", "/p?x=%2a", "GET&/p&x=%2A");
    assert_same("/p?x=%7e", "/p?x=~", "GET&/p&x=~");
    assert_same("/p?x=%7E", "/p?x=~", "GET&/p&x=~");
    assert_distinct(
        "/p?a%3Db=c",
        "GET&/p&a%3Db=c",
        "/p?a=b%3Dc",
        "GET&/p&a=b%3Dc",
    );
}

#[test]
fn c32_jwt_parameter_excluded_case_sensitively() {
    let plain = req("GET", "/p");
    let upper = req("GET", "/p?JWT=x");
    assert_eq!(upper.to_string(), "GET&/p&JWT=x");
    let q = plain.qsh().to_string();
    assert_qsh_mismatch(
        &rejected(on_request(&token_for(&plain), &upper)),
        "GET&/p&JWT=x",
        &q,
    );
    for target in ["/p?Jwt=x", "/p?jwT=x", "/p?jwt_=x", "/p?xjwt=x"] {
        let other = req("GET", target);
        assert_qsh_mismatch(
            &rejected(on_request(&token_for(&plain), &other)),
            &other.to_string(),
            &q,
        );
    }
    // Exactly `jwt` (also percent-encoded) is dropped.
    accepted(on_request(&token_for(&plain), &req("GET", "/p?jwt=x")));
    accepted(on_request(&token_for(&plain), &req("GET", "/p?j%77t=x")));
}

#[test]
fn c32_qsh_mismatch_text_never_echoes_a_token() {
    // The token travels in the Authorization header; the query also carries it under `JWT`
    // (not excluded, so it is hashed and the qsh differs).
    let target: &'static str = Box::leak(format!("/p?JWT={T1}").into_boxed_str());
    let route = req("GET", target);
    let header = format!("JWT {T1}");
    let token = find_token(Some(&header), Some(&target[3..])).unwrap();
    assert_eq!(token, T1);
    let err = verifier()
        .verify(
            token,
            QshPolicy::Request(&route),
            &store,
            UnixTime::from_secs(NOW),
        )
        .unwrap_err();
    assert!(matches!(err, Error::QshMismatch(_)));
    assert_no_leak_of(&err, T1);
}

#[test]
fn c33_unicode_normal_forms_hash_differently() {
    let nfc = req("GET", "/p?x=%C3%A9");
    let nfd = req("GET", "/p?x=e%CC%81");
    assert_eq!(nfc.to_string(), "GET&/p&x=%C3%A9");
    assert_eq!(nfd.to_string(), "GET&/p&x=e%CC%81");
    assert!(sha256_hex("GET&/p&x=%C3%A9").starts_with("da6e9cc9"));
    assert!(sha256_hex("GET&/p&x=e%CC%81").starts_with("87f6ddf8"));
    assert_distinct(
        "/p?x=%C3%A9",
        "GET&/p&x=%C3%A9",
        "/p?x=e%CC%81",
        "GET&/p&x=e%CC%81",
    );
    // Case of the escape does not matter, the bytes do.
    assert_same("/p?x=%c3%a9", "/p?x=%C3%A9", "GET&/p&x=%C3%A9");
}

#[test]
fn c34_trailing_slash_double_slash_and_case() {
    assert_same("/some/path/", "/some/path", "GET&/some/path&");
    assert_distinct("/p//", "GET&/p/&", "/p", "GET&/p&");
    assert_distinct("/P", "GET&/P&", "/p", "GET&/p&");
    assert_distinct("/a/./b", "GET&/a/./b&", "/a/b", "GET&/a/b&");
    assert_distinct("/a%2Fb", "GET&/a%2Fb&", "/a/b", "GET&/a/b&");
}

#[test]
fn c35_base_path_stripped_on_a_segment_boundary_only() {
    let app = BasePath::parse("https://app.example.com/app").unwrap();
    let on =
        |target: &'static str| CanonicalRequest::from_target("GET", target, Some(&app)).unwrap();
    let p = on("/app/p");
    assert_eq!(p.to_string(), "GET&/p&");
    accepted(on_request(
        &sign_payload(&payload_for_qsh(&sha256_hex("GET&/p&"))),
        &p,
    ));
    // The raw-prefix bug: a qsh over `/lication/p` used on `/application/p`.
    let application = on("/application/p");
    assert_eq!(application.to_string(), "GET&/application/p&");
    let lication = sha256_hex("GET&/lication/p&");
    let token = sign_payload(&payload_for_qsh(&lication));
    assert_qsh_mismatch(
        &rejected(on_request(&token, &application)),
        "GET&/application/p&",
        &lication,
    );
    assert_eq!(on("/app").to_string(), "GET&/&");
    assert_eq!(on("/app/").to_string(), "GET&/&");
    assert_eq!(on("/appx").to_string(), "GET&/appx&");
}

#[test]
fn c36_invalid_percent_encoding_is_an_error_not_a_guess() {
    for (target, offset) in [
        ("/p?a=%zz", 2),
        ("/p?a=%", 2),
        ("/p?a=%4", 2),
        ("/p?x=1&%zz=1", 4),
    ] {
        let err = CanonicalRequest::from_target("GET", target, Some(&base())).unwrap_err();
        assert_eq!(err, Error::InvalidPercentEncoding { offset }, "{target}");
        assert_no_leak(&err);
    }
    for (target, offset) in [
        ("/p?a=%FF", 2),
        ("/p?a=%E2%82", 2),
        ("/p?%C3=1", 0),
        ("/p?x=1&y=%C3%28", 6),
    ] {
        let err = CanonicalRequest::from_target("GET", target, Some(&base())).unwrap_err();
        assert_eq!(err, Error::InvalidUtf8 { offset }, "{target}");
        assert_no_leak(&err);
    }
    // So `%zz` cannot collide with `%25zz`, which is a literal `%zz`.
    assert_eq!(req("GET", "/p?a=%25zz").to_string(), "GET&/p&a=%25zz");
}

// ----- issuer / tenant -----

#[test]
fn c37_unknown_issuer_rejected_without_a_default_key() {
    let payload =
        |iss: &str| format!(r#"{{"iss":"{iss}","iat":1700000000,"exp":1700000180,"qsh":"{Q}"}}"#);
    for iss in ["unknown-client", "", "default", "null"] {
        let signed_with_s = sign_payload(&payload(iss));
        assert_eq!(
            rejected(on_qsh(&signed_with_s)),
            Error::UnknownIssuer,
            "{iss:?}"
        );
        let signed_with_empty = sign_bytes_with(b"", HEADER.as_bytes(), payload(iss).as_bytes());
        assert_eq!(
            rejected(on_qsh(&signed_with_empty)),
            Error::UnknownIssuer,
            "{iss:?}"
        );
    }
    // Map stores behave the same.
    let empty_map: HashMap<String, TenantKey> = HashMap::new();
    let err = verifier()
        .verify(
            T1,
            QshPolicy::Request(&request()),
            &empty_map,
            UnixTime::from_secs(NOW),
        )
        .unwrap_err();
    assert_eq!(err, Error::UnknownIssuer);
    assert_no_leak(&err);
}

#[test]
fn c38_empty_tenant_secret_rejected() {
    let payload =
        format!(r#"{{"iss":"{ISS_EMPTY}","iat":1700000000,"exp":1700000180,"qsh":"{Q}"}}"#);
    let mac_empty = sign_bytes_with(b"", HEADER.as_bytes(), payload.as_bytes());
    assert_eq!(
        rejected(on_qsh(&mac_empty)),
        Error::Config(atlassian_connect_jwt::ConfigError::EmptySecret)
    );
    let mac_s = sign_payload(&payload);
    assert_eq!(
        rejected(on_qsh(&mac_s)),
        Error::Config(atlassian_connect_jwt::ConfigError::EmptySecret)
    );
    // Through map stores too, and when building a key directly.
    let mut map: HashMap<String, SharedSecret> = HashMap::new();
    map.insert(ISS_EMPTY.to_owned(), SharedSecret::new(""));
    let err = verifier()
        .verify(
            &mac_empty,
            QshPolicy::Request(&request()),
            &map,
            UnixTime::from_secs(NOW),
        )
        .unwrap_err();
    assert_eq!(
        err,
        Error::Config(atlassian_connect_jwt::ConfigError::EmptySecret)
    );
    assert_eq!(
        TenantKey::new(ISS, &SharedSecret::new("")).unwrap_err(),
        Error::Config(atlassian_connect_jwt::ConfigError::EmptySecret)
    );
    assert_eq!(
        TenantKey::from_bytes(ISS, b"").unwrap_err(),
        Error::Config(atlassian_connect_jwt::ConfigError::EmptySecret)
    );
}

#[test]
fn c39_key_chosen_by_iss_and_identity_is_iss() {
    // iss = A, MACed with B's secret, with or without aud naming B.
    let signed_b = sign_bytes_with(S_B.as_bytes(), HEADER.as_bytes(), T1_PAYLOAD.as_bytes());
    assert_eq!(rejected(on_qsh(&signed_b)), Error::InvalidSignature);
    for aud in [r#"["other-client-key"]"#, r#""other-client-key""#] {
        let payload = format!(
            r#"{{"iss":"test-client-key","aud":{aud},"iat":1700000000,"exp":1700000180,"qsh":"{Q}"}}"#
        );
        let signed_b = sign_bytes_with(S_B.as_bytes(), HEADER.as_bytes(), payload.as_bytes());
        assert_eq!(
            rejected(on_qsh(&signed_b)),
            Error::InvalidSignature,
            "aud {aud}"
        );
        // Signed with A's secret it verifies, and the identity is A, never aud[0].
        let v = accepted(on_qsh(&sign_payload(&payload)));
        assert_eq!(v.client_key(), ISS);
        assert_eq!(v.claims().aud(), ["other-client-key".to_owned()]);
    }
    // iss = B with B's secret is B.
    let payload =
        format!(r#"{{"iss":"other-client-key","iat":1700000000,"exp":1700000180,"qsh":"{Q}"}}"#);
    let v = accepted(on_qsh(&sign_bytes_with(
        S_B.as_bytes(),
        HEADER.as_bytes(),
        payload.as_bytes(),
    )));
    assert_eq!(v.client_key(), ISS_B);
    assert_eq!(
        rejected(on_qsh(&sign_payload(&payload))),
        Error::InvalidSignature
    );
}

/// RFC 8725 §3.8: a key checks only its own tenant's tokens. A token of tenant A checked
/// with tenant B's key (even one with the same secret) is refused before the signature is
/// looked at, so a caller's lookup mistake can never return identity A.
#[test]
fn c39b_a_key_verifies_only_its_own_tenant() {
    let now = UnixTime::from_secs(NOW);
    let b_same_secret = TenantKey::new(ISS_B, &SharedSecret::new(S)).unwrap();
    let b_own_secret = TenantKey::new(ISS_B, &SharedSecret::new(S_B)).unwrap();
    for key in [&b_same_secret, &b_own_secret] {
        let unverified = atlassian_connect_jwt::Unverified::parse(T1).unwrap();
        assert_eq!(unverified.issuer(), ISS);
        let err = verifier()
            .finish(unverified, key, QshPolicy::Request(&request()), now)
            .unwrap_err();
        assert_eq!(
            err,
            Error::Config(atlassian_connect_jwt::ConfigError::KeyTenantMismatch)
        );
        assert_eq!(err.code(), "key-tenant-mismatch");
        assert!(!err.is_verdict());
    }
    // A store that files A's token under B's key: the same error.
    let misfiled: HashMap<String, TenantKey> = HashMap::from([(ISS.to_owned(), b_same_secret)]);
    assert_eq!(
        verifier()
            .verify(T1, QshPolicy::Request(&request()), &misfiled, now)
            .unwrap_err(),
        Error::Config(atlassian_connect_jwt::ConfigError::KeyTenantMismatch)
    );
    // A's own key verifies A.
    let a = TenantKey::new(ISS, &SharedSecret::new(S)).unwrap();
    let unverified = atlassian_connect_jwt::Unverified::parse(T1).unwrap();
    let verified = verifier()
        .finish(unverified, &a, QshPolicy::Request(&request()), now)
        .unwrap();
    assert_eq!(verified.client_key(), ISS);
}

#[test]
fn c40_iss_missing_or_not_a_string_rejected() {
    let rest = format!(r#""iat":1700000000,"exp":1700000180,"qsh":"{Q}""#);
    assert_eq!(
        rejected(on_qsh(&sign_payload(&format!("{{{rest}}}")))),
        Error::MissingClaim(Claim::Iss)
    );
    for iss in [
        "123",
        r#"["a"]"#,
        r#"["test-client-key"]"#,
        "null",
        "{}",
        "true",
    ] {
        let token = sign_payload(&format!(r#"{{"iss":{iss},{rest}}}"#));
        assert_eq!(
            rejected(on_qsh(&token)),
            Error::InvalidClaim(Claim::Iss),
            "iss {iss}"
        );
    }
    // Present only in the header.
    let token = sign(
        r#"{"typ":"JWT","alg":"HS256","iss":"test-client-key"}"#,
        &format!("{{{rest}}}"),
    );
    assert_eq!(rejected(on_qsh(&token)), Error::MissingClaim(Claim::Iss));
}

#[test]
fn c41_iss_compared_exactly() {
    for iss in [
        "TEST-CLIENT-KEY",
        "Test-Client-Key",
        " test-client-key",
        "test-client-key ",
        r"test-client-key\u200b",
        r"\u200btest-client-key",
        r"test-client-key\u0000",
        r"test-client-key\n",
        // NFD of the NFC tenant `café-client`.
        r"cafe\u0301-client",
    ] {
        let token = sign_payload(&format!(
            r#"{{"iss":"{iss}","iat":1700000000,"exp":1700000180,"qsh":"{Q}"}}"#
        ));
        assert_eq!(rejected(on_qsh(&token)), Error::UnknownIssuer, "iss {iss}");
    }
    // The NFC spelling is the tenant.
    let token = sign_payload(&format!(
        r#"{{"iss":"{ISS_NFC}","iat":1700000000,"exp":1700000180,"qsh":"{Q}"}}"#
    ));
    assert_eq!(accepted(on_qsh(&token)).client_key(), ISS_NFC);
    // The store is asked for the exact `iss`, and the identity is that exact `iss`: a store
    // that folds case would answer for `TEST-CLIENT-KEY`, so stores must compare exactly.
    let asked = RefCell::new(Vec::new());
    let recording = |k: &str| {
        asked.borrow_mut().push(k.to_owned());
        None::<SharedSecret>
    };
    let token = sign_payload(&format!(
        r#"{{"iss":"TEST-CLIENT-KEY\u200b","iat":1700000000,"exp":1700000180,"qsh":"{Q}"}}"#
    ));
    let err = verifier()
        .verify(
            &token,
            QshPolicy::Request(&request()),
            &recording,
            UnixTime::from_secs(NOW),
        )
        .unwrap_err();
    assert_eq!(err, Error::UnknownIssuer);
    assert_eq!(*asked.borrow(), ["TEST-CLIENT-KEY\u{200b}".to_owned()]);
}

#[test]
fn c42_hostile_iss_passed_opaquely_and_bounded() {
    for (json, exact) in [
        (r#"' OR '1'='1"#, "' OR '1'='1"),
        ("../x", "../x"),
        (
            r#"\"; DROP TABLE tenants; --"#,
            "\"; DROP TABLE tenants; --",
        ),
        ("%2e%2e/x", "%2e%2e/x"),
        (r"a\r\nb", "a\r\nb"),
    ] {
        let asked = RefCell::new(Vec::new());
        let recording = |k: &str| {
            asked.borrow_mut().push(k.to_owned());
            None::<SharedSecret>
        };
        let token = sign_payload(&format!(
            r#"{{"iss":"{json}","iat":1700000000,"exp":1700000180,"qsh":"{Q}"}}"#
        ));
        let err = verifier()
            .verify(
                &token,
                QshPolicy::Request(&request()),
                &recording,
                UnixTime::from_secs(NOW),
            )
            .unwrap_err();
        assert_eq!(err, Error::UnknownIssuer);
        assert_no_leak_of(&err, &token);
        assert_eq!(*asked.borrow(), [exact.to_owned()]);
        assert_eq!(rejected(on_qsh(&token)), Error::UnknownIssuer);
    }
    // A 64 KiB `iss` is refused for size before the store is consulted.
    let asked = RefCell::new(0);
    let counting = |_: &str| {
        *asked.borrow_mut() += 1;
        None::<SharedSecret>
    };
    let token = sign_payload(&format!(
        r#"{{"iss":"{}","iat":1700000000,"exp":1700000180,"qsh":"{Q}"}}"#,
        "k".repeat(64 * 1024)
    ));
    let err = verifier()
        .verify(
            &token,
            QshPolicy::Request(&request()),
            &counting,
            UnixTime::from_secs(NOW),
        )
        .unwrap_err();
    assert_eq!(
        err,
        Error::TokenTooLarge {
            len: token.len(),
            max: MAX_TOKEN_LEN
        }
    );
    assert_no_leak_of(&err, &token);
    assert_eq!(*asked.borrow(), 0);
}

// ----- time -----

fn timed(claims: &str) -> String {
    sign_payload(&format!(
        r#"{{"iss":"test-client-key",{claims},"qsh":"{Q}"}}"#
    ))
}

#[test]
fn c43_exp_and_iat_required() {
    assert_eq!(
        rejected(on_qsh(&timed(r#""iat":1700000000"#))),
        Error::MissingClaim(Claim::Exp)
    );
    assert_eq!(
        rejected(on_qsh(&timed(r#""exp":1700000180"#))),
        Error::MissingClaim(Claim::Iat)
    );
    assert_eq!(
        rejected(on_qsh(&timed(r#""nbf":1700000000"#))),
        Error::MissingClaim(Claim::Iat)
    );
}

#[test]
fn c44_expiry_with_leeway() {
    // exp = now - 29: inside the 30 s leeway.
    let v = accepted(on_qsh(&timed(r#""iat":1700000000,"exp":1700000031"#)));
    assert_eq!(v.claims().exp(), UnixTime::from_secs(1_700_000_031));
    // exp = now - 31: expired.
    assert_eq!(
        rejected(on_qsh(&timed(r#""iat":1700000000,"exp":1700000029"#))),
        Error::Expired {
            exp: 1_700_000_029,
            now: NOW
        }
    );
    // exp = now - 30: the leeway is exclusive (now must be before exp + leeway).
    assert_eq!(
        rejected(on_qsh(&timed(r#""iat":1700000000,"exp":1700000030"#))),
        Error::Expired {
            exp: 1_700_000_030,
            now: NOW
        }
    );
    // exp == now with leeway 0, and one second earlier.
    let strict = Verifier::new().with_leeway(0).unwrap();
    let at_now = timed(r#""iat":1700000000,"exp":1700000060"#);
    assert_eq!(
        rejected(run(strict, &at_now, QshPolicy::Request(&request()), NOW)),
        Error::Expired { exp: NOW, now: NOW }
    );
    accepted(run(
        strict,
        &at_now,
        QshPolicy::Request(&request()),
        NOW - 1,
    ));
    // T1 over its life with leeway 30: valid until exp + 29.
    for (now, ok) in [
        (1_700_000_000, true),
        (1_700_000_209, true),
        (1_700_000_210, false),
    ] {
        let result = run(verifier(), T1, QshPolicy::Request(&request()), now);
        assert_eq!(result.is_ok(), ok, "now {now}");
        if !ok {
            assert_eq!(
                result.unwrap_err(),
                Error::Expired {
                    exp: 1_700_000_180,
                    now
                }
            );
        }
    }
    // The default verifier has the same 30 s leeway.
    assert_eq!(Verifier::new().leeway(), 30);
    assert_eq!(
        rejected(run(
            Verifier::new(),
            T1,
            QshPolicy::Request(&request()),
            1_700_000_210
        )),
        Error::Expired {
            exp: 1_700_000_180,
            now: 1_700_000_210
        }
    );
}

#[test]
fn c45_string_dates_rejected_cve_2026_25537() {
    assert_eq!(
        rejected(on_qsh(&timed(r#""iat":1700000000,"exp":"9999999999""#))),
        Error::InvalidClaim(Claim::Exp)
    );
    assert_eq!(
        rejected(on_qsh(&timed(r#""iat":1700000000,"exp":"1700000180""#))),
        Error::InvalidClaim(Claim::Exp)
    );
    assert_eq!(
        rejected(on_qsh(&timed(
            r#""iat":1700000000,"exp":1700000180,"nbf":"99999999999""#
        ))),
        Error::InvalidClaim(Claim::Nbf)
    );
    assert_eq!(
        rejected(on_qsh(&timed(r#""iat":"1700000000","exp":1700000180"#))),
        Error::InvalidClaim(Claim::Iat)
    );
}

#[test]
fn c46_out_of_range_dates_rejected_fractions_floored() {
    for exp in [
        "1e400",
        "-1",
        "-0",
        "-0.0",
        "-1e-9",
        "18446744073709551616",
        "18446744073709551615",
        "true",
        "null",
        "[]",
        "{}",
        "[1700000180]",
        "1e300",
        "9223372036854775807",
        "253402300800",
    ] {
        let token = timed(&format!(r#""iat":1700000000,"exp":{exp}"#));
        assert_eq!(
            rejected(on_qsh(&token)),
            Error::InvalidClaim(Claim::Exp),
            "exp {exp}"
        );
    }
    for exp in [
        "NaN",
        "Infinity",
        "-Infinity",
        "+1700000180",
        "0x6553F1B4",
        "01700000180",
        "1700000180.",
    ] {
        let token = timed(&format!(r#""iat":1700000000,"exp":{exp}"#));
        assert_eq!(
            rejected(on_qsh(&token)),
            Error::InvalidJson(TokenPart::Payload),
            "exp {exp}"
        );
    }
    let v = accepted(on_qsh(&timed(r#""iat":1700000000,"exp":1700000100.5"#)));
    assert_eq!(v.claims().exp(), UnixTime::from_secs(1_700_000_100));
    let v = accepted(on_qsh(&timed(r#""iat":1.7e9,"exp":1.70000018e9"#)));
    assert_eq!(v.claims().iat(), UnixTime::from_secs(1_700_000_000));
    assert_eq!(v.claims().exp(), UnixTime::from_secs(1_700_000_180));
    // The latest date accepted (9999-12-31T23:59:59Z) does not overflow with the leeway, and a
    // maximum lifetime refuses it.
    let far = timed(r#""iat":1700000000,"exp":253402300799"#);
    accepted(on_qsh(&far));
    assert_eq!(
        rejected(run(
            verifier().with_max_lifetime(180),
            &far,
            QshPolicy::Request(&request()),
            NOW
        )),
        Error::LifetimeTooLong {
            lifetime: 253_402_300_799 - 1_700_000_000,
            max: 180
        }
    );
    accepted(run(
        verifier().with_max_lifetime(180),
        T1,
        QshPolicy::Request(&request()),
        NOW,
    ));
    let far_now = run(verifier(), &far, QshPolicy::Request(&request()), u64::MAX);
    assert_eq!(
        rejected(far_now),
        Error::Expired {
            exp: 253_402_300_799,
            now: u64::MAX
        }
    );
}

#[test]
fn c47_nbf_iat_in_future_and_leeway_bound() {
    // nbf beyond now + leeway.
    assert_eq!(
        rejected(on_qsh(&timed(
            r#""iat":1700000000,"exp":1700000180,"nbf":1700000091"#
        ))),
        Error::NotYetValid {
            nbf: 1_700_000_091,
            now: NOW
        }
    );
    accepted(on_qsh(&timed(
        r#""iat":1700000000,"exp":1700000180,"nbf":1700000090"#,
    )));
    // nbf >= exp: valid at no time.
    for nbf in ["1700000180", "1700000181", "1800000000"] {
        assert_eq!(
            rejected(on_qsh(&timed(&format!(
                r#""iat":1700000000,"exp":1700000180,"nbf":{nbf}"#
            )))),
            Error::EmptyValidity,
            "nbf {nbf}"
        );
    }
    // iat beyond now + leeway.
    assert_eq!(
        rejected(on_qsh(&timed(r#""iat":1700000091,"exp":1700000180"#))),
        Error::IssuedInFuture {
            iat: 1_700_000_091,
            now: NOW
        }
    );
    accepted(on_qsh(&timed(r#""iat":1700000090,"exp":1700000180"#)));
    // iat after exp, or equal to it: valid at no time (exp is exclusive), whatever the
    // leeway would stretch.
    for (iat, exp) in [
        (1_700_000_050, 1_700_000_040),
        (1_700_000_050, 1_700_000_050),
    ] {
        assert_eq!(
            rejected(on_qsh(&timed(&format!(r#""iat":{iat},"exp":{exp}"#)))),
            Error::EmptyValidity,
            "iat {iat} exp {exp}"
        );
    }
    accepted(on_qsh(&timed(r#""iat":1700000050,"exp":1700000051"#)));
    // The leeway is bounded at 300 s.
    assert_eq!(MAX_LEEWAY, 300);
    assert_eq!(Verifier::new().with_leeway(300).unwrap().leeway(), 300);
    for leeway in [301, 3600, u64::MAX] {
        let err = Verifier::new().with_leeway(leeway).unwrap_err();
        assert_eq!(
            err,
            Error::Config(atlassian_connect_jwt::ConfigError::LeewayTooLarge { leeway, max: 300 })
        );
        assert_eq!(err.code(), "leeway-too-large");
        assert_no_leak(&err);
    }
    // Leeway 300 stretches T1 to exp + 299, no further.
    let wide = Verifier::new().with_leeway(300).unwrap();
    accepted(run(wide, T1, QshPolicy::Request(&request()), 1_700_000_479));
    assert_eq!(
        rejected(run(wide, T1, QshPolicy::Request(&request()), 1_700_000_480)),
        Error::Expired {
            exp: 1_700_000_180,
            now: 1_700_000_480
        }
    );
}

// ----- resource bounds -----

#[test]
fn c57_oversized_tokens_rejected_before_decoding() {
    let ten_mb = 10 * 1024 * 1024;
    // Valid alphabet, invalid alphabet, all dots: the size decides first.
    for token in [
        "A".repeat(ten_mb),
        format!(
            "{}.{}.{}",
            "A".repeat(ten_mb / 2),
            "A".repeat(ten_mb / 2),
            "A".repeat(43)
        ),
        " ".repeat(ten_mb),
        "=".repeat(ten_mb),
        ".".repeat(100_000),
        "é".repeat(ten_mb / 2),
    ] {
        let err = rejected(on_qsh(&token));
        assert_eq!(
            err,
            Error::TokenTooLarge {
                len: token.len(),
                max: MAX_TOKEN_LEN
            }
        );
        assert_no_leak_of(&err, &token);
    }
    // 1 MB `iss` and `qsh`, validly signed.
    let big = "q".repeat(1024 * 1024);
    for payload in [
        format!(r#"{{"iss":"{big}","iat":1700000000,"exp":1700000180,"qsh":"{Q}"}}"#),
        payload_for_qsh(&big),
    ] {
        let token = sign_payload(&payload);
        assert_eq!(
            rejected(on_qsh(&token)),
            Error::TokenTooLarge {
                len: token.len(),
                max: MAX_TOKEN_LEN
            }
        );
    }
    let kid = format!(r#"{{"alg":"HS256","kid":"{big}"}}"#);
    let token = sign(&kid, T1_PAYLOAD);
    assert_eq!(
        rejected(on_qsh(&token)),
        Error::TokenTooLarge {
            len: token.len(),
            max: MAX_TOKEN_LEN
        }
    );
    // Exactly at the limit is judged on its merits.
    assert_eq!(MAX_TOKEN_LEN, 8 * 1024);
    let at_limit = "A".repeat(MAX_TOKEN_LEN);
    assert_eq!(rejected(on_qsh(&at_limit)), Error::MalformedToken);
    let over = "A".repeat(MAX_TOKEN_LEN + 1);
    assert_eq!(
        rejected(on_qsh(&over)),
        Error::TokenTooLarge {
            len: MAX_TOKEN_LEN + 1,
            max: MAX_TOKEN_LEN
        }
    );
    // A valid token padded with JSON whitespace up to the limit verifies.
    let mut payload = T1_PAYLOAD.to_owned();
    while sign_payload(&format!("{payload} ")).len() <= MAX_TOKEN_LEN {
        payload.push(' ');
    }
    let token = sign_payload(&payload);
    assert!(token.len() <= MAX_TOKEN_LEN && token.len() > MAX_TOKEN_LEN - 8);
    accepted(on_qsh(&token));
}

#[test]
fn c58_huge_queries_bounded_or_correct() {
    // MAX_PARAMS parameters: the correct verdict.
    assert_eq!(MAX_PARAMS, 10_000);
    let query: String = (0..MAX_PARAMS)
        .map(|i| format!("p{i}={}", i % 7))
        .collect::<Vec<_>>()
        .join("&");
    let target: &'static str = Box::leak(format!("/p?{query}").into_boxed_str());
    let many = req("GET", target);
    let token = token_for(&many);
    accepted(on_request(&token, &many));
    assert_qsh_mismatch(
        &rejected(on_qsh(&token)),
        R_CANONICAL,
        &many.qsh().to_string(),
    );
    // One more: a typed error.
    let over: &'static str = Box::leak(format!("/p?{query}&extra=1").into_boxed_str());
    let err = CanonicalRequest::from_target("GET", over, None).unwrap_err();
    assert_eq!(err, Error::TooManyParameters { max: MAX_PARAMS });
    assert_no_leak(&err);
    // 10 000 repeats of one key, and 10 000 empty pieces (skipped, not counted).
    let repeated: &'static str =
        Box::leak(format!("/p?{}", vec!["a=1"; MAX_PARAMS].join("&")).into_boxed_str());
    let rep = req("GET", repeated);
    accepted(on_request(&token_for(&rep), &rep));
    let empties: &'static str = Box::leak(format!("/p?a=1{}", "&".repeat(20_000)).into_boxed_str());
    assert_eq!(req("GET", empties).to_string(), "GET&/p&a=1");
    // A 1 MB query: a typed error before parsing.
    let mb: &'static str = Box::leak(format!("/p?x={}", "a".repeat(1024 * 1024)).into_boxed_str());
    let err = CanonicalRequest::from_target("GET", mb, None).unwrap_err();
    assert_eq!(
        err,
        Error::QueryTooLong {
            len: 1024 * 1024 + 2,
            max: MAX_QUERY_LEN
        }
    );
    assert_no_leak(&err);
    // Just under the query limit: parsed, and the verdict is correct.
    let near: &'static str =
        Box::leak(format!("/p?x={}", "b".repeat(MAX_QUERY_LEN - 2)).into_boxed_str());
    let near_req = req("GET", near);
    accepted(on_request(&token_for(&near_req), &near_req));
}

#[test]
fn c59_deep_nesting_and_many_keys_never_crash() {
    // 100 000 nested `[` in a validly signed `context`: refused (for size) without a crash.
    let deep = "[".repeat(100_000);
    let token = sign_payload(&format!(
        r#"{{"iss":"test-client-key","iat":1700000000,"exp":1700000180,"qsh":"context-qsh","context":{deep}}}"#
    ));
    assert_eq!(
        rejected(on_ctx(&token)),
        Error::TokenTooLarge {
            len: token.len(),
            max: MAX_TOKEN_LEN
        }
    );
    // Deep nesting that fits in a token, balanced or not, in `context` or an unread claim:
    // refused at the 33rd level, before anything parses it.
    let depth = 1_500;
    let balanced = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    for value in [
        balanced.clone(),
        "[".repeat(depth),
        format!("{}{}", r#"{"a":"#.repeat(depth / 2), "}".repeat(depth / 2)),
    ] {
        for name in ["context", "x"] {
            let token = sign_payload(&format!(
                r#"{{"iss":"test-client-key","iat":1700000000,"exp":1700000180,"qsh":"context-qsh","{name}":{value}}}"#
            ));
            assert!(token.len() <= MAX_TOKEN_LEN);
            assert_eq!(
                rejected(on_ctx(&token)),
                Error::NestingTooDeep(TokenPart::Payload),
                "{name}"
            );
        }
    }
    // Deep nesting in the header.
    let header = format!(r#"{{"alg":"HS256","x":{balanced}}}"#);
    assert_eq!(
        rejected(on_ctx(&sign(&header, T2_PAYLOAD))),
        Error::NestingTooDeep(TokenPart::Header)
    );
    // Many distinct keys: refused past the member limit, before the repeated-name check.
    let keys: String = (0..600).map(|i| format!(r#""k{i}":0,"#)).collect();
    let token = sign_payload(&format!(
        r#"{{{keys}"iss":"test-client-key","iat":1700000000,"exp":1700000180,"qsh":"context-qsh"}}"#
    ));
    assert!(token.len() <= MAX_TOKEN_LEN);
    assert_eq!(
        rejected(on_ctx(&token)),
        Error::TooManyMembers(TokenPart::Payload)
    );
    let keys: String = (0..100_000).map(|i| format!(r#""k{i}":0,"#)).collect();
    let token = sign_payload(&format!(
        r#"{{{keys}"iss":"test-client-key","iat":1700000000,"exp":1700000180,"qsh":"context-qsh"}}"#
    ));
    assert_eq!(
        rejected(on_ctx(&token)),
        Error::TokenTooLarge {
            len: token.len(),
            max: MAX_TOKEN_LEN
        }
    );
}

#[test]
fn c59_deep_nesting_in_an_unread_claim_rejected() {
    let depth = 1_500;
    let balanced = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let token = sign_payload(&format!(
        r#"{{"iss":"test-client-key","iat":1700000000,"exp":1700000180,"qsh":"context-qsh","x":{balanced}}}"#
    ));
    assert!(token.len() <= MAX_TOKEN_LEN);
    assert_eq!(
        on_ctx(&token).map(|v| v.kind()),
        Err(Error::NestingTooDeep(TokenPart::Payload))
    );
    let header = format!(r#"{{"alg":"HS256","x":{balanced}}}"#);
    assert_eq!(
        on_ctx(&sign(&header, T2_PAYLOAD)).map(|v| v.kind()),
        Err(Error::NestingTooDeep(TokenPart::Header))
    );
}

/// T2's claims, then `extra` members (joined with a leading comma).
fn t2_with(extra: &str) -> String {
    format!(
        r#"{{"iss":"test-client-key","iat":1700000000,"exp":1700000180,"qsh":"context-qsh"{}{extra}}}"#,
        if extra.is_empty() { "" } else { "," }
    )
}

/// The header `{"alg":"HS256"}` with `extra` members.
fn header_with(extra: &str) -> String {
    format!(r#"{{"alg":"HS256",{extra}}}"#)
}

/// `count` members `"k0":0,"k1":0,…`, joined by commas.
fn keys(count: usize) -> String {
    (0..count)
        .map(|i| format!(r#""k{i}":0"#))
        .collect::<Vec<_>>()
        .join(",")
}

/// A token with this payload (under T1's header) or this header (over T2's payload), for the
/// context route.
fn in_payload(payload: &str) -> Result<Verified, Error> {
    on_ctx(&sign_payload(payload))
}

fn in_header(header: &str) -> Result<Verified, Error> {
    on_ctx(&sign(header, T2_PAYLOAD))
}

#[test]
fn c59_json_limits_are_documented_values() {
    assert_eq!(
        (
            MAX_JSON_MEMBERS,
            MAX_JSON_DEPTH,
            MAX_JSON_ARRAY_LEN,
            MAX_JSON_ESCAPES
        ),
        (64, 32, 64, 128)
    );
    for (err, code) in [
        (
            Error::TooManyMembers(TokenPart::Payload),
            "too-many-members",
        ),
        (Error::NestingTooDeep(TokenPart::Header), "nesting-too-deep"),
        (Error::ArrayTooLong(TokenPart::Payload), "array-too-long"),
        (Error::TooManyEscapes(TokenPart::Header), "too-many-escapes"),
    ] {
        assert_eq!(err.code(), code);
        assert_no_leak(&err);
    }
}

#[test]
fn c59_members_counted_over_all_objects() {
    // The finding: a payload of about 700 member names (`"a":0,"b":0,…,"ab":0,…`).
    let letters: Vec<char> = ('a'..='z').chain('A'..='Z').collect();
    let finding = t2_with(
        &(0..700)
            .map(|i| match i / letters.len() {
                0 => format!(r#""{}":0"#, letters[i]),
                n => format!(r#""{}{}":0"#, letters[n - 1], letters[i % letters.len()]),
            })
            .collect::<Vec<_>>()
            .join(","),
    );
    assert!(sign_payload(&finding).len() <= MAX_TOKEN_LEN);
    assert_eq!(
        rejected(in_payload(&finding)),
        Error::TooManyMembers(TokenPart::Payload)
    );
    // T2 has 4 members; nested ones count too.
    let at = MAX_JSON_MEMBERS - 4;
    accepted(in_payload(&t2_with(&keys(at))));
    assert_eq!(
        rejected(in_payload(&t2_with(&keys(at + 1)))),
        Error::TooManyMembers(TokenPart::Payload)
    );
    let nested = |n: usize| format!(r#""context":{{"user":{{{}}}}}"#, keys(n));
    accepted(in_payload(&t2_with(&nested(at - 2))));
    assert_eq!(
        rejected(in_payload(&t2_with(&nested(at - 1)))),
        Error::TooManyMembers(TokenPart::Payload)
    );
    // Colons in strings are not members.
    let colons = (0..at)
        .map(|i| format!(r#""k{i}":"a:b:c""#))
        .collect::<Vec<_>>()
        .join(",");
    accepted(in_payload(&t2_with(&colons)));
    // The header: `alg` is one member.
    let at = MAX_JSON_MEMBERS - 1;
    accepted(in_header(&header_with(&keys(at))));
    assert_eq!(
        rejected(in_header(&header_with(&keys(at + 1)))),
        Error::TooManyMembers(TokenPart::Header)
    );
}

#[test]
fn c59_nesting_at_and_past_the_limit() {
    // The top-level object is depth 1: 31 arrays inside it reach the limit.
    let nest = |n: usize| format!("{}0{}", "[".repeat(n), "]".repeat(n));
    let objects = |n: usize| format!("{}0{}", r#"{"a":"#.repeat(n), "}".repeat(n));
    let at = MAX_JSON_DEPTH - 1;
    for value in [nest(at), objects(at)] {
        accepted(in_payload(&t2_with(&format!(r#""x":{value}"#))));
        accepted(in_header(&header_with(&format!(r#""x":{value}"#))));
    }
    for value in [nest(at + 1), objects(at + 1)] {
        assert_eq!(
            rejected(in_payload(&t2_with(&format!(r#""x":{value}"#)))),
            Error::NestingTooDeep(TokenPart::Payload)
        );
        assert_eq!(
            rejected(in_header(&header_with(&format!(r#""x":{value}"#)))),
            Error::NestingTooDeep(TokenPart::Header)
        );
    }
}

#[test]
fn c59_array_elements_counted_over_all_arrays() {
    let zeros = |n: usize| vec!["0"; n].join(",");
    // Split over arrays, nested ones included: the count is of all elements.
    let split = |n: usize| format!(r#""a":[{}],"b":[[],{}]"#, zeros(40), zeros(n - 41));
    accepted(in_payload(&t2_with(&split(MAX_JSON_ARRAY_LEN))));
    assert_eq!(
        rejected(in_payload(&t2_with(&split(MAX_JSON_ARRAY_LEN + 1)))),
        Error::ArrayTooLong(TokenPart::Payload)
    );
    // `aud` lists are arrays like any other; an empty array has no element.
    let auds = |n: usize| vec![r#""https://app.example.com""#; n].join(",");
    let verified = accepted(in_payload(&t2_with(&format!(
        r#""aud":[{}],"e":[]"#,
        auds(MAX_JSON_ARRAY_LEN)
    ))));
    assert_eq!(verified.claims().aud().len(), MAX_JSON_ARRAY_LEN);
    assert_eq!(
        rejected(in_payload(&t2_with(&format!(
            r#""aud":[{}]"#,
            auds(MAX_JSON_ARRAY_LEN + 1)
        )))),
        Error::ArrayTooLong(TokenPart::Payload)
    );
    // Far past it: refused before the rest of the text is read.
    assert_eq!(
        rejected(in_payload(&t2_with(&format!(r#""x":[{}]"#, zeros(2_500))))),
        Error::ArrayTooLong(TokenPart::Payload)
    );
    accepted(in_header(&header_with(&format!(
        r#""x":[{}]"#,
        zeros(MAX_JSON_ARRAY_LEN)
    ))));
    assert_eq!(
        rejected(in_header(&header_with(&format!(
            r#""x":[{}]"#,
            zeros(MAX_JSON_ARRAY_LEN + 1)
        )))),
        Error::ArrayTooLong(TokenPart::Header)
    );
}

#[test]
fn c59_escapes_counted_in_names_and_values() {
    // A surrogate pair is two escapes; escaped names count like any other.
    let escapes = |n: usize| format!(r#""\u0078":"{}\ud83d\ude00""#, r"\n".repeat(n - 3));
    let verified = accepted(in_payload(&t2_with(&escapes(MAX_JSON_ESCAPES))));
    assert_eq!(
        verified.claims().raw("x"),
        Some(format!(r#""{}\ud83d\ude00""#, r"\n".repeat(MAX_JSON_ESCAPES - 3)).as_str())
    );
    assert_eq!(
        rejected(in_payload(&t2_with(&escapes(MAX_JSON_ESCAPES + 1)))),
        Error::TooManyEscapes(TokenPart::Payload)
    );
    // In a claim that is read: `sub`, unescaped.
    let sub = |n: usize| t2_with(&format!(r#""sub":"{}""#, r"\u00e9".repeat(n)));
    let verified = accepted(in_payload(&sub(MAX_JSON_ESCAPES)));
    assert_eq!(
        verified.account_id(),
        Some("é".repeat(MAX_JSON_ESCAPES).as_str())
    );
    assert_eq!(
        rejected(in_payload(&sub(MAX_JSON_ESCAPES + 1))),
        Error::TooManyEscapes(TokenPart::Payload)
    );
    let slashes = |n: usize| header_with(&format!(r#""x":"{}""#, r"\/".repeat(n)));
    accepted(in_header(&slashes(MAX_JSON_ESCAPES)));
    assert_eq!(
        rejected(in_header(&slashes(MAX_JSON_ESCAPES + 1))),
        Error::TooManyEscapes(TokenPart::Header)
    );
}

#[test]
fn c59_limits_come_first_in_text_order() {
    let many_keys = keys(MAX_JSON_MEMBERS);
    let many_escapes = format!(r#""x":"{}""#, r"\n".repeat(MAX_JSON_ESCAPES + 1));
    // Two limits: the one crossed first in the text.
    assert_eq!(
        rejected(in_payload(&t2_with(&format!("{many_escapes},{many_keys}")))),
        Error::TooManyEscapes(TokenPart::Payload)
    );
    assert_eq!(
        rejected(in_payload(&t2_with(&format!("{many_keys},{many_escapes}")))),
        Error::TooManyMembers(TokenPart::Payload)
    );
    // A lone surrogate before a limit is the first defect; after it, the limit is.
    assert_eq!(
        rejected(in_payload(&t2_with(&format!(
            r#""s":"\ud800",{many_keys}"#
        )))),
        Error::InvalidJson(TokenPart::Payload)
    );
    assert_eq!(
        rejected(in_payload(&t2_with(&format!(
            r#"{many_keys},"s":"\ud800""#
        )))),
        Error::TooManyMembers(TokenPart::Payload)
    );
    // Limits before syntax errors, repeated names and claim types anywhere in the text.
    for before in [
        r#""iss":1"#,
        r#""iat":"1""#,
        r#""qsh":"a","qsh":"a""#,
        r#""a":tru"#,
    ] {
        assert_eq!(
            rejected(in_payload(&t2_with(&format!("{before},{many_keys}")))),
            Error::TooManyMembers(TokenPart::Payload),
            "{before}"
        );
    }
    // The header is judged before the payload.
    assert_eq!(
        rejected(on_ctx(&sign(
            &header_with(&keys(MAX_JSON_MEMBERS)),
            &t2_with(&many_escapes)
        ))),
        Error::TooManyMembers(TokenPart::Header)
    );
}

#[test]
fn c59_repeated_names_found_among_many() {
    // Past the first few names the check hashes them: a repeat is still found wherever it is,
    // escaped or not.
    let at = MAX_JSON_MEMBERS - 4;
    for (first, second) in [(0, at - 1), (at - 2, at - 1), (9, 40)] {
        let mut names: Vec<String> = (0..at).map(|i| format!(r#""k{i}":0"#)).collect();
        names[second] = format!(r#""\u006b{first}":1"#);
        assert_eq!(
            rejected(in_payload(&t2_with(&names.join(",")))),
            Error::DuplicateMember(TokenPart::Payload),
            "k{first} at {second}"
        );
    }
    let late_qsh = format!(r#"{},"\u0071sh":"context-qsh""#, keys(50));
    assert_eq!(
        rejected(in_payload(&t2_with(&late_qsh))),
        Error::DuplicateMember(TokenPart::Payload)
    );
    let mut names: Vec<String> = (0..MAX_JSON_MEMBERS - 1)
        .map(|i| format!(r#""h{i}":0"#))
        .collect();
    names[MAX_JSON_MEMBERS - 2] = r#""alg":"HS256""#.to_owned();
    assert_eq!(
        rejected(in_header(&header_with(&names.join(",")))),
        Error::DuplicateMember(TokenPart::Header)
    );
}

// ----- finding the token -----

#[test]
fn extract_token_from_authorization_header() {
    assert_eq!(token_from_authorization(&format!("JWT {T1}")), Ok(T1));
    assert_eq!(token_from_authorization(&format!("jwt {T1}")), Ok(T1));
    assert_eq!(token_from_authorization(&format!("Jwt {T1}")), Ok(T1));
    for value in [
        format!("Bearer {T1}"),
        format!("JWT{T1}"),
        format!("JWT\t{T1}"),
        "JWT ".to_owned(),
        "JWT".to_owned(),
        String::new(),
        T1.to_owned(),
        format!("Basic {T1}"),
        format!("JWTX {T1}"),
    ] {
        let err = token_from_authorization(&value).unwrap_err();
        assert_eq!(err, Error::InvalidAuthorizationHeader, "{value:?}");
        assert_no_leak(&err);
    }
    // Exactly one space: whatever follows is the token, and the verifier judges it.
    let two_spaces = format!("JWT  {T1}");
    let token = token_from_authorization(&two_spaces).unwrap();
    assert_eq!(token, format!(" {T1}"));
    assert_eq!(rejected(on_qsh(token)), Error::MalformedToken);
    // A non-ASCII header value does not panic.
    assert_eq!(
        token_from_authorization("JW\u{e9} x"),
        Err(Error::InvalidAuthorizationHeader)
    );
    assert_eq!(
        token_from_authorization("\u{e9}"),
        Err(Error::InvalidAuthorizationHeader)
    );
}

#[test]
fn extract_token_from_query() {
    let q = format!("a=1&jwt={T1}&b=2");
    assert_eq!(token_from_query(&q), Ok(Some(T1)));
    assert_eq!(token_from_query(&format!("jwt={T1}")), Ok(Some(T1)));
    assert_eq!(
        token_from_query(&format!("jwt={T1}&jwt={T1}")),
        Ok(Some(T1))
    );
    assert_eq!(token_from_query("a=1&b=2"), Ok(None));
    assert_eq!(token_from_query(""), Ok(None));
    assert_eq!(token_from_query("jwt="), Ok(None));
    assert_eq!(token_from_query("jwt"), Ok(None));
    assert_eq!(token_from_query(&format!("JWT={T1}")), Ok(None));
    assert_eq!(token_from_query(&format!("xjwt={T1}")), Ok(None));
    assert_eq!(
        token_from_query(&format!("jwt={T1}&jwt={T2}")),
        Err(Error::ConflictingTokens)
    );
    assert_eq!(
        token_from_query(&format!("jwt={T1}&jwt=")),
        Err(Error::ConflictingTokens)
    );
    // Returned raw: an escaped token fails later as malformed.
    let escaped = T1.replacen('.', "%2E", 1);
    let query = format!("jwt={escaped}");
    let token = token_from_query(&query).unwrap().unwrap();
    assert_eq!(rejected(on_qsh(token)), Error::MalformedToken);
}

#[test]
fn extract_token_from_request() {
    let header = format!("JWT {T1}");
    let query_same = format!("x=1&jwt={T1}");
    let query_other = format!("jwt={T2}");
    assert_eq!(find_token(Some(&header), None), Ok(T1));
    assert_eq!(find_token(Some(&header), Some("x=1")), Ok(T1));
    assert_eq!(find_token(None, Some(&query_same)), Ok(T1));
    assert_eq!(find_token(Some(&header), Some(&query_same)), Ok(T1));
    assert_eq!(
        find_token(Some(&header), Some(&query_other)),
        Err(Error::ConflictingTokens)
    );
    assert_eq!(find_token(None, None), Err(Error::MissingToken));
    assert_eq!(find_token(None, Some("x=1")), Err(Error::MissingToken));
    assert_eq!(find_token(None, Some("jwt=")), Err(Error::MissingToken));
    assert_eq!(find_token(None, Some("")), Err(Error::MissingToken));
    assert_eq!(
        find_token(Some(&format!("Bearer {T1}")), Some(&query_same)),
        Err(Error::InvalidAuthorizationHeader)
    );
    assert_eq!(
        find_token(Some(&format!("Bearer {T1}")), None),
        Err(Error::InvalidAuthorizationHeader)
    );
    assert_eq!(
        find_token(None, Some(&format!("jwt={T1}&jwt={T2}"))),
        Err(Error::ConflictingTokens)
    );
    for err in [
        Error::MissingToken,
        Error::ConflictingTokens,
        Error::InvalidAuthorizationHeader,
    ] {
        assert_no_leak(&err);
    }
    // End to end: the iframe URL `R` with the token appended verifies.
    let target: &'static str = Box::leak(format!("{R_TARGET}&jwt={T1}").into_boxed_str());
    let route = req("GET", target);
    let query = &target[target.find('?').unwrap() + 1..];
    let token = find_token(None, Some(query)).unwrap();
    assert_eq!(accepted(on_request(token, &route)).client_key(), ISS);
}

// ----- the accepted token -----

#[test]
fn verified_accessors() {
    let v = accepted(on_qsh(T1));
    assert_eq!(v.client_key(), ISS);
    assert_eq!(v.client_key(), v.claims().iss());
    assert_eq!(v.account_id(), None);
    assert_eq!(v.kind(), TokenKind::RequestBound);
    assert_eq!(v.kind().as_str(), "request-bound");
    assert_eq!(v.claims().qsh(), Some(Q));
    assert_eq!(v.claims().iat(), UnixTime::from_secs(1_700_000_000));
    assert_eq!(v.claims().exp(), UnixTime::from_secs(1_700_000_180));
    assert_eq!(v.claims().nbf(), None);
    assert!(v.claims().aud().is_empty());
    assert_eq!(v.claims().raw("iss"), Some("\"test-client-key\""));
    let names: Vec<String> = v.claims().iter().map(|(k, _)| k.into_owned()).collect();
    assert_eq!(names, ["iss", "iat", "exp", "qsh"]);

    let ctx = |extra: &str| {
        sign_payload(&format!(
            r#"{{"iss":"test-client-key","iat":1700000000,"exp":1700000180,"qsh":"context-qsh"{extra}}}"#
        ))
    };
    // account id from `sub`.
    let v = accepted(on_ctx(&ctx(r#","sub":"557058:sub-user""#)));
    assert_eq!(v.account_id(), Some("557058:sub-user"));
    assert_eq!(v.kind(), TokenKind::Context);
    // from `context.user.accountId` when there is no `sub`.
    let v = accepted(on_ctx(&ctx(
        r#","context":{"user":{"accountId":"557058:ctx-user"},"product":"jira"}"#,
    )));
    assert_eq!(v.account_id(), Some("557058:ctx-user"));
    assert_eq!(v.claims().context_account_id(), Some("557058:ctx-user"));
    assert_eq!(v.claims().sub(), None);
    // `sub` wins when both are present.
    let v = accepted(on_ctx(&ctx(
        r#","sub":"557058:sub-user","context":{"user":{"accountId":"557058:ctx-user"}}"#,
    )));
    assert_eq!(v.account_id(), Some("557058:sub-user"));
    // No user.
    for extra in [
        r#","context":{}"#,
        r#","context":{"user":{}}"#,
        r#","context":{"user":null}"#,
    ] {
        assert_eq!(accepted(on_ctx(&ctx(extra))).account_id(), None, "{extra}");
    }
    // Claim types are checked even for optional claims.
    for (extra, claim) in [
        (r#","sub":5"#, Claim::Sub),
        (r#","sub":null"#, Claim::Sub),
        (r#","aud":5"#, Claim::Aud),
        (r#","aud":[5]"#, Claim::Aud),
        (r#","context":[]"#, Claim::Context),
        (r#","context":"x""#, Claim::Context),
        (r#","context":{"user":{"accountId":5}}"#, Claim::Context),
        (r#","nbf":"1""#, Claim::Nbf),
    ] {
        assert_eq!(
            rejected(on_ctx(&ctx(extra))),
            Error::InvalidClaim(claim),
            "{extra}"
        );
    }
    // `aud` as a string or an array.
    let v = accepted(on_ctx(&ctx(r#","aud":"https://app.example.com""#)));
    assert_eq!(v.claims().aud(), ["https://app.example.com".to_owned()]);
    let v = accepted(on_ctx(&ctx(r#","aud":["a","b"]"#)));
    assert_eq!(v.claims().aud(), ["a".to_owned(), "b".to_owned()]);
    // `Verified` comes from the map stores as well.
    let mut keys: HashMap<String, TenantKey> = HashMap::new();
    keys.insert(
        ISS.to_owned(),
        TenantKey::new(ISS, &SharedSecret::new(S)).unwrap(),
    );
    let from_map = verifier()
        .verify(
            T1,
            QshPolicy::Request(&request()),
            &keys,
            UnixTime::from_secs(NOW),
        )
        .unwrap();
    assert_eq!(from_map, accepted(on_qsh(T1)));
    let mut secrets: std::collections::BTreeMap<String, SharedSecret> = Default::default();
    secrets.insert(ISS.to_owned(), SharedSecret::new(S));
    let from_btree = verifier()
        .verify(T2, QshPolicy::Context, &secrets, UnixTime::from_secs(NOW))
        .unwrap();
    assert_eq!(from_btree.kind(), TokenKind::Context);
}

#[test]
fn debug_output_never_shows_secrets() {
    let secret = SharedSecret::new(S);
    assert!(!format!("{secret:?}").contains(S));
    let key = TenantKey::new(ISS, &secret).unwrap();
    assert!(!format!("{key:?}").contains(S));
    let signed = atlassian_connect_jwt::Signer::new(ISS)
        .sign_context(&key, UnixTime::from_secs(NOW))
        .unwrap();
    let debug = format!("{signed:?}");
    assert!(
        !debug.contains(signed.as_str()) && !debug.contains(S),
        "{debug}"
    );
    let verified = accepted(on_qsh(T1));
    let debug = format!("{verified:?}");
    assert!(!debug.contains(S));
    assert!(!format!("{:?}", verifier()).contains(S));
}
