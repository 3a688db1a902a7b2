//! Known-answer tests: RFC 7515 A.1, RFC 4231 HMAC-SHA256, NIST SHA-256, the Connect golden
//! tokens, and every token the Atlassian product signed in its interoperability vectors
//! (`tests/data/product-signed-urls.json`), verified end to end with its secret, its URL and a
//! fixed clock (`security-checklist.md` §3).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use atlassian_connect_jwt::dangerous::decode_unverified;
use atlassian_connect_jwt::{
    find_token, BasePath, CanonicalRequest, Claim, Error, Qsh, QshPolicy, SharedSecret, Signer,
    TenantKey, TokenKind, UnixTime, Unverified, Verifier,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// `b64(header).b64(payload).b64(HMAC-SHA256(key, signing input))`.
fn sign_raw(key: &[u8], header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    format!("{input}.{}", b64(&hmac_sha256(key, input.as_bytes())))
}

/// Verifies with one explicit key (the key-lookup half done by the caller).
fn verify_with_key(
    verifier: Verifier,
    token: &str,
    key: &TenantKey,
    policy: QshPolicy<'_, '_>,
    now: u64,
) -> Result<TokenKind, Error> {
    let unverified = Unverified::parse(token)?;
    verifier
        .finish(unverified, key, policy, UnixTime::from_secs(now))
        .map(|v| v.kind())
}

// ----- RFC 7515 Appendix A.1 -----

const A1_TOKEN: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const A1_K: &str =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
const A1_EXP: u64 = 1_300_819_380;

fn a1_key_bytes() -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(A1_K).unwrap()
}

#[test]
fn rfc7515_a1_key_and_mac() {
    let k = a1_key_bytes();
    assert_eq!(k.len(), 64);
    assert!(hex(&k).starts_with("0323354b"));
    assert!(hex(&k).ends_with("d080a3"));
    let parts: Vec<&str> = A1_TOKEN.split('.').collect();
    let input = format!("{}.{}", parts[0], parts[1]);
    // The HMAC layer: HMAC-SHA256 over the ASCII signing input is the third segment.
    assert_eq!(b64(&hmac_sha256(&k, input.as_bytes())), parts[2]);
    // The header and payload as the RFC writes them, `\r\n ` whitespace included.
    let decoded = decode_unverified(A1_TOKEN).unwrap();
    assert_eq!(
        decoded.header_json(),
        "{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}"
    );
    assert_eq!(
        decoded.payload_json(),
        "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}"
    );
    assert_eq!(decoded.algorithm().as_deref(), Some("HS256"));
    // The crate's key from the JWK `k` computes the same MAC: a token signed through
    // `TenantKey` carries exactly the `hmac`-crate tag of its signing input.
    let key = TenantKey::from_bytes("joe", &k).unwrap();
    let token = Signer::new("joe")
        .sign_context(&key, UnixTime::from_secs(A1_EXP - 180))
        .unwrap();
    let (input, sig) = token.as_str().rsplit_once('.').unwrap();
    assert_eq!(sig, b64(&hmac_sha256(&k, input.as_bytes())));
}

#[test]
fn rfc7515_a1_rejected_by_the_connect_layer() {
    let key = TenantKey::from_bytes("joe", &a1_key_bytes()).unwrap();
    let mut store: HashMap<String, TenantKey> = HashMap::new();
    store.insert("joe".to_owned(), key);
    // A.1 has no `iat` (and no `qsh`): a Connect token needs both, and `iat` is read first.
    for now in [A1_EXP - 60, A1_EXP] {
        let err = Verifier::new()
            .verify(
                A1_TOKEN,
                QshPolicy::Context,
                &store,
                UnixTime::from_secs(now),
            )
            .unwrap_err();
        assert_eq!(err, Error::MissingClaim(Claim::Iat));
        let request = CanonicalRequest::from_target("GET", "/", None).unwrap();
        let err = Verifier::new()
            .verify(
                A1_TOKEN,
                QshPolicy::Request(&request),
                &store,
                UnixTime::from_secs(now),
            )
            .unwrap_err();
        assert_eq!(err, Error::MissingClaim(Claim::Iat));
    }
    assert_eq!(
        Unverified::parse(A1_TOKEN).unwrap_err(),
        Error::MissingClaim(Claim::Iat)
    );
    assert_eq!(
        decode_unverified(A1_TOKEN).unwrap().claims().unwrap_err(),
        Error::MissingClaim(Claim::Iat)
    );
}

/// A.1's header text and key, its payload completed with the claims Connect requires, so the
/// verifier reaches its HMAC and clock checks.
fn a1_completed(qsh: Option<&str>) -> String {
    let qsh = qsh.map_or(String::new(), |q| format!(",\r\n \"qsh\":\"{q}\""));
    let payload = format!(
        "{{\"iss\":\"joe\",\r\n \"iat\":1300819200,\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true{qsh}}}"
    );
    let header = A1_TOKEN.split('.').next().unwrap();
    let input = format!("{header}.{}", b64(payload.as_bytes()));
    format!(
        "{input}.{}",
        b64(&hmac_sha256(&a1_key_bytes(), input.as_bytes()))
    )
}

#[test]
fn rfc7515_a1_completed_verifies_at_the_hmac_layer_and_expires() {
    let key = TenantKey::from_bytes("joe", &a1_key_bytes()).unwrap();
    let strict = Verifier::new().with_leeway(0).unwrap();
    // Without a qsh the Connect layer rejects it, after the signature and clock checks pass.
    let no_qsh = a1_completed(None);
    assert_eq!(
        verify_with_key(strict, &no_qsh, &key, QshPolicy::Context, A1_EXP - 1),
        Err(Error::MissingClaim(Claim::Qsh))
    );
    // With a context qsh it verifies up to exp - 1, and is expired from exp on.
    let token = a1_completed(Some("context-qsh"));
    assert_eq!(
        verify_with_key(strict, &token, &key, QshPolicy::Context, A1_EXP - 1),
        Ok(TokenKind::Context)
    );
    assert_eq!(
        verify_with_key(strict, &token, &key, QshPolicy::Context, 1_300_819_200),
        Ok(TokenKind::Context)
    );
    assert_eq!(
        verify_with_key(strict, &token, &key, QshPolicy::Context, A1_EXP),
        Err(Error::Expired {
            exp: A1_EXP,
            now: A1_EXP
        })
    );
    assert_eq!(
        verify_with_key(
            Verifier::new(),
            &token,
            &key,
            QshPolicy::Context,
            A1_EXP + 30
        ),
        Err(Error::Expired {
            exp: A1_EXP,
            now: A1_EXP + 30
        })
    );
    // The wrong key (one bit off) fails at the HMAC layer.
    let mut other = a1_key_bytes();
    other[0] ^= 1;
    let other = TenantKey::from_bytes("joe", &other).unwrap();
    assert_eq!(
        verify_with_key(strict, &token, &other, QshPolicy::Context, A1_EXP - 1),
        Err(Error::InvalidSignature)
    );
    // Non-canonical last characters of the signature (the unused low bits set) are refused.
    let sig = token.rsplit_once('.').unwrap().1;
    assert_eq!(sig.len(), 43);
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = ALPHABET
        .iter()
        .position(|&c| c == *sig.as_bytes().last().unwrap())
        .unwrap();
    assert_eq!(last & 3, 0);
    for low in 1..4 {
        let mut altered = token[..token.len() - 1].to_owned();
        altered.push(char::from(ALPHABET[last | low]));
        assert_eq!(
            verify_with_key(strict, &altered, &key, QshPolicy::Context, A1_EXP - 1),
            Err(Error::InvalidBase64(
                atlassian_connect_jwt::TokenPart::Signature
            ))
        );
    }
    // A.1's own signature ends in `k`: `l`, `m`, `n` decode to the same bytes only leniently.
    assert!(A1_TOKEN.ends_with('k'));
    for c in ['l', 'm', 'n'] {
        let altered = format!("{}{c}", &A1_TOKEN[..A1_TOKEN.len() - 1]);
        let sig = altered.rsplit_once('.').unwrap().1;
        assert!(URL_SAFE_NO_PAD.decode(sig).is_err());
    }
}

// ----- RFC 4231 HMAC-SHA256 -----

struct Rfc4231 {
    case: u32,
    key: Vec<u8>,
    data: Vec<u8>,
    mac: &'static str,
}

fn rfc4231() -> Vec<Rfc4231> {
    let case = |case, key: Vec<u8>, data: &[u8], mac| Rfc4231 {
        case,
        key,
        data: data.to_vec(),
        mac,
    };
    vec![
        case(
            1,
            vec![0x0b; 20],
            b"Hi There",
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        ),
        case(
            2,
            b"Jefe".to_vec(),
            b"what do ya want for nothing?",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        case(
            3,
            vec![0xaa; 20],
            &[0xdd; 50],
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
        ),
        case(
            4,
            (1..=25).collect(),
            &[0xcd; 50],
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
        ),
        case(
            6,
            vec![0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        ),
        case(
            7,
            vec![0xaa; 131],
            b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
        ),
    ]
}

#[test]
fn rfc4231_hmac_sha256_cases_1_to_4_6_7() {
    for tc in rfc4231() {
        // The HMAC primitive the crate uses.
        assert_eq!(
            hex(&hmac_sha256(&tc.key, &tc.data)),
            tc.mac,
            "case {}",
            tc.case
        );
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&tc.key).unwrap();
        mac.update(&tc.data);
        mac.verify_slice(&unhex(tc.mac)).unwrap();

        // The crate's TenantKey with the same key: what it signs is that HMAC of the signing
        // input, and what it verifies is exactly that HMAC.
        let key = TenantKey::from_bytes("rfc4231", &tc.key).unwrap();
        let signed = Signer::new("rfc4231")
            .sign_context(&key, UnixTime::from_secs(1_700_000_000))
            .unwrap();
        let (input, sig) = signed.as_str().rsplit_once('.').unwrap();
        assert_eq!(
            sig,
            b64(&hmac_sha256(&tc.key, input.as_bytes())),
            "case {}",
            tc.case
        );
        assert_eq!(
            verify_with_key(
                Verifier::new(),
                signed.as_str(),
                &key,
                QshPolicy::Context,
                1_700_000_000
            ),
            Ok(TokenKind::Context),
            "case {}",
            tc.case
        );
        let token = sign_raw(
            &tc.key,
            r#"{"alg":"HS256","typ":"JWT"}"#,
            r#"{"iss":"rfc4231","iat":1700000000,"exp":1700000180,"qsh":"context-qsh"}"#,
        );
        assert_eq!(
            verify_with_key(
                Verifier::new(),
                &token,
                &key,
                QshPolicy::Context,
                1_700_000_000
            ),
            Ok(TokenKind::Context),
            "case {}",
            tc.case
        );
        // One bit off in the key: refused.
        let mut off = tc.key.clone();
        *off.last_mut().unwrap() ^= 1;
        let off = TenantKey::from_bytes("rfc4231", &off).unwrap();
        assert_eq!(
            verify_with_key(
                Verifier::new(),
                &token,
                &off,
                QshPolicy::Context,
                1_700_000_000
            ),
            Err(Error::InvalidSignature),
            "case {}",
            tc.case
        );
    }
}

#[test]
fn rfc4231_keys_as_shared_secrets() {
    // Case 2's key is text, the way Connect secrets are: `TenantKey::new` keys with the UTF-8
    // bytes, the same as `from_bytes`.
    let from_secret = TenantKey::new("jefe", &SharedSecret::new("Jefe")).unwrap();
    let token = sign_raw(
        b"Jefe",
        r#"{"alg":"HS256"}"#,
        r#"{"iss":"jefe","iat":1700000000,"exp":1700000180,"qsh":"context-qsh"}"#,
    );
    assert_eq!(
        verify_with_key(
            Verifier::new(),
            &token,
            &from_secret,
            QshPolicy::Context,
            1_700_000_000
        ),
        Ok(TokenKind::Context)
    );
    // A 131-character secret (longer than the block size, like 128-character Connect secrets).
    let secret = "s".repeat(131);
    let token = sign_raw(
        secret.as_bytes(),
        r#"{"alg":"HS256"}"#,
        r#"{"iss":"long","iat":1700000000,"exp":1700000180,"qsh":"context-qsh"}"#,
    );
    let key = TenantKey::new("long", &SharedSecret::new(secret.clone())).unwrap();
    assert_eq!(
        verify_with_key(
            Verifier::new(),
            &token,
            &key,
            QshPolicy::Context,
            1_700_000_000
        ),
        Ok(TokenKind::Context)
    );
}

#[test]
fn rfc4231_case_5_truncated_tag_is_not_a_signature() {
    let key_bytes = [0x0c; 20];
    let full = hmac_sha256(&key_bytes, b"Test With Truncation");
    assert_eq!(hex(&full[..16]), "a3b6167473100ee06e0c796c2955552b");
    let key = TenantKey::from_bytes("rfc4231-5", &key_bytes).unwrap();
    let header = r#"{"alg":"HS256","typ":"JWT"}"#;
    let payload = r#"{"iss":"rfc4231-5","iat":1700000000,"exp":1700000180,"qsh":"context-qsh"}"#;
    let good = sign_raw(&key_bytes, header, payload);
    assert_eq!(
        verify_with_key(
            Verifier::new(),
            &good,
            &key,
            QshPolicy::Context,
            1_700_000_000
        ),
        Ok(TokenKind::Context)
    );
    let (input, _) = good.rsplit_once('.').unwrap();
    let tag = hmac_sha256(&key_bytes, input.as_bytes());
    // The correct tag truncated to 16 bytes (and to other lengths), and the RFC's literal tag.
    for truncated in [
        b64(&tag[..16]),
        b64(&tag[..20]),
        b64(&tag[..24]),
        b64(&tag[..31]),
        b64(&full[..16]),
        "a3b6167473100ee06e0c796c2955552b".to_owned(),
    ] {
        let token = format!("{input}.{truncated}");
        assert_eq!(
            verify_with_key(
                Verifier::new(),
                &token,
                &key,
                QshPolicy::Context,
                1_700_000_000
            ),
            Err(Error::InvalidSignature),
            "{truncated}"
        );
    }
    // Through the full verifier too.
    let store = |k: &str| (k == "rfc4231-5").then(|| SharedSecret::new("\u{c}".repeat(20)));
    let token = format!("{input}.{}", b64(&tag[..16]));
    assert_eq!(
        Verifier::new()
            .verify(
                &token,
                QshPolicy::Context,
                &store,
                UnixTime::from_secs(1_700_000_000)
            )
            .unwrap_err(),
        Error::InvalidSignature
    );
    assert_eq!(
        Verifier::new()
            .verify(
                &good,
                QshPolicy::Context,
                &store,
                UnixTime::from_secs(1_700_000_000)
            )
            .unwrap()
            .kind(),
        TokenKind::Context
    );
}

// ----- SHA-256 and qsh -----

#[test]
fn nist_sha256_through_qsh() {
    for (text, digest) in [
        (
            "",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        (
            "abc",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        ),
        (
            "foo",
            "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
        ),
    ] {
        assert_eq!(Qsh::of_canonical(text).to_string(), digest, "{text:?}");
        assert_eq!(digest.parse::<Qsh>().unwrap(), Qsh::of_canonical(text));
    }
    let million = "a".repeat(1_000_000);
    assert_eq!(
        Qsh::of_canonical(&million).to_string(),
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
    );
}

#[test]
fn connect_canonical_requests_and_qsh() {
    // The Javadoc example of the Java canonicalizer.
    let javadoc =
        "GET&/path/to/service&first=param&repeated=parameter%201,parameter%202&zee_last=param";
    assert_eq!(
        Qsh::of_canonical(javadoc).to_string(),
        "e52bb281606c3bd9ca16cfe96fe2df78f5d9ffa126f06befd750dfa10fa1a897"
    );
    let request = CanonicalRequest::from_target(
        "GET",
        "/path/to/service?zee_last=param&repeated=parameter+2&first=param&repeated=parameter%201",
        None,
    )
    .unwrap();
    assert_eq!(request.to_string(), javadoc);
    assert_eq!(request.qsh(), Qsh::of_canonical(javadoc));
    // The checklist fixture and the product-signed examples of connect-jwt.md §1.
    for (target, canonical, qsh) in [
        (
            "/path/to/service?a=1&A=2&b=3&B=4",
            "GET&/path/to/service&A=2&B=4&a=1&b=3",
            "70282c7cf82834bd5a3d6dacda1b4ccd5cf5860a63a1fa2fb86b64d576e6a1d5",
        ),
        (
            "/test?A=A&a=a&b=b&B=B",
            "GET&/test&A=A&B=B&a=a&b=b",
            "539adc2b0aef2ec8659825893b8b92e6a53c9483e2150b8185b08490d8b6de60",
        ),
        (
            "/test?param=value",
            "GET&/test&param=value",
            "be16910858a41fd19ea5c1b4e9decca9a784d1024cb00b2158defe2f29dc86dd",
        ),
    ] {
        let request = CanonicalRequest::from_target("GET", target, None).unwrap();
        assert_eq!(request.to_string(), canonical);
        assert_eq!(request.qsh().to_string(), qsh);
        assert!(request.qsh().matches_hex(qsh));
    }
}

// ----- Connect golden tokens -----

const S: &str = "connect-test-secret-0123456789abcdef0123";
const T1: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ0ZXN0LWNsaWVudC1rZXkiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDE4MCwicXNoIjoiNzAyODJjN2NmODI4MzRiZDVhM2Q2ZGFjZGExYjRjY2Q1Y2Y1ODYwYTYzYTFmYTJmYjg2YjY0ZDU3NmU2YTFkNSJ9.p_628YD5xOEjKOGLmVZ7TKOyymWyyfgWIwDuac8amkY";
const T2: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ0ZXN0LWNsaWVudC1rZXkiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDE4MCwicXNoIjoiY29udGV4dC1xc2gifQ.Y_-fycsTC1VmKefYSFe0PL3HLJ3yBoGVJPW68NX1nfo";

#[test]
fn golden_tokens_t1_t2_verify() {
    let store = |k: &str| (k == "test-client-key").then(|| SharedSecret::new(S));
    let base = BasePath::parse("https://app.example.com").unwrap();
    let request =
        CanonicalRequest::from_target("GET", "/path/to/service?a=1&A=2&b=3&B=4", Some(&base))
            .unwrap();
    let verifier = Verifier::new().with_leeway(30).unwrap();
    let now = UnixTime::from_secs(1_700_000_060);
    let t1 = verifier
        .verify(T1, QshPolicy::Request(&request), &store, now)
        .unwrap();
    assert_eq!(t1.client_key(), "test-client-key");
    assert_eq!(t1.kind(), TokenKind::RequestBound);
    assert_eq!(
        t1.claims().qsh(),
        Some("70282c7cf82834bd5a3d6dacda1b4ccd5cf5860a63a1fa2fb86b64d576e6a1d5")
    );
    let t2 = verifier
        .verify(T2, QshPolicy::Context, &store, now)
        .unwrap();
    assert_eq!(t2.client_key(), "test-client-key");
    assert_eq!(t2.kind(), TokenKind::Context);
    // The crate's own signer reproduces both tokens except for the header's member order
    // (it writes `alg` first), and its tokens verify the same way.
    let key = TenantKey::new("test-client-key", &SharedSecret::new(S)).unwrap();
    let signer = Signer::new("test-client-key");
    let mine = signer
        .sign_request(&request, &key, UnixTime::from_secs(1_700_000_000))
        .unwrap();
    assert_eq!(mine.as_str().split('.').nth(1), T1.split('.').nth(1));
    let mine = verifier
        .verify(mine.as_str(), QshPolicy::Request(&request), &store, now)
        .unwrap();
    assert_eq!(mine.claims().qsh(), t1.claims().qsh());
    let mine_ctx = signer
        .sign_context(&key, UnixTime::from_secs(1_700_000_000))
        .unwrap();
    assert_eq!(mine_ctx.as_str().split('.').nth(1), T2.split('.').nth(1));
    // Golden token signatures recomputed with the `hmac` crate.
    for token in [T1, T2] {
        let (input, sig) = token.rsplit_once('.').unwrap();
        assert_eq!(sig, b64(&hmac_sha256(S.as_bytes(), input.as_bytes())));
    }
}

// ----- the product's own signed URLs -----

#[derive(Deserialize)]
struct Vectors {
    sets: Vec<Set>,
}

#[derive(Deserialize)]
struct Set {
    name: String,
    secret: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    method: String,
    url: String,
    base: Option<String>,
    token: String,
    iat: u64,
    exp: u64,
    iss: String,
}

fn vectors() -> Vectors {
    serde_json::from_str(include_str!("data/product-signed-urls.json")).unwrap()
}

/// The raw query of a URL (after `?`, before `#`).
fn query_of(url: &str) -> Option<&str> {
    let url = url.split('#').next().unwrap_or(url);
    url.split_once('?').map(|(_, q)| q)
}

#[test]
fn every_product_signed_token_verifies_within_its_lifetime_and_expires() {
    let vectors = vectors();
    let strict = Verifier::new().with_leeway(0).unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for set in &vectors.sets {
        for case in &set.cases {
            let store = |k: &str| (k == case.iss).then(|| SharedSecret::new(set.secret.as_str()));
            let label = format!("{} / {}", set.name, case.name);
            let base = case.base.as_deref().map(|b| BasePath::parse(b).unwrap());
            let request = CanonicalRequest::from_target(&case.method, &case.url, base.as_ref())
                .unwrap_or_else(|e| panic!("{label}: {e}"));
            let policy = QshPolicy::Request(&request);
            // The token travels in the URL's `jwt` parameter.
            let from_url = find_token(None, query_of(&case.url));
            if from_url != Ok(case.token.as_str()) {
                failures.push(format!("{label}: token from url: {from_url:?}"));
            }
            for now in [case.iat, case.exp - 1] {
                match strict.verify(&case.token, policy, &store, UnixTime::from_secs(now)) {
                    Ok(v) => {
                        if v.client_key() != case.iss || v.kind() != TokenKind::RequestBound {
                            failures.push(format!("{label}: at {now}: {v:?}"));
                        }
                        if v.claims().iat().as_secs() != case.iat
                            || v.claims().exp().as_secs() != case.exp
                        {
                            failures.push(format!("{label}: times {v:?}"));
                        }
                    }
                    Err(e) => failures.push(format!("{label}: at {now}: {e:?}")),
                }
            }
            // One second past exp + leeway (leeway 0: now = exp) it has expired.
            let late = strict.verify(&case.token, policy, &store, UnixTime::from_secs(case.exp));
            if late
                != Err(Error::Expired {
                    exp: case.exp,
                    now: case.exp,
                })
            {
                failures.push(format!("{label}: at exp: {late:?}"));
            }
            // With the default 30 s leeway: valid until exp + 29.
            let default = Verifier::new();
            if default
                .verify(
                    &case.token,
                    policy,
                    &store,
                    UnixTime::from_secs(case.exp + 29),
                )
                .is_err()
            {
                failures.push(format!("{label}: default leeway at exp + 29"));
            }
            let late = default.verify(
                &case.token,
                policy,
                &store,
                UnixTime::from_secs(case.exp + 30),
            );
            if late
                != Err(Error::Expired {
                    exp: case.exp,
                    now: case.exp + 30,
                })
            {
                failures.push(format!("{label}: default leeway at exp + 30: {late:?}"));
            }
            // Another tenant's secret does not verify it; nor does a context-only route.
            let wrong = |_: &str| Some(SharedSecret::new("not-the-secret"));
            let err = strict.verify(&case.token, policy, &wrong, UnixTime::from_secs(case.iat));
            if err != Err(Error::InvalidSignature) {
                failures.push(format!("{label}: wrong secret: {err:?}"));
            }
            let err = strict.verify(
                &case.token,
                QshPolicy::Context,
                &store,
                UnixTime::from_secs(case.iat),
            );
            if err != Err(Error::ContextTokenRequired) {
                failures.push(format!("{label}: context route: {err:?}"));
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(checked, 157);
}

#[test]
fn product_signed_tokens_are_bound_to_their_url() {
    // Each token verifies only on its own URL's canonical request: on any other case's URL
    // (with a different canonical request) it is a qsh mismatch.
    let vectors = vectors();
    let strict = Verifier::new().with_leeway(0).unwrap();
    for set in &vectors.sets {
        let store = |_: &str| Some(SharedSecret::new(set.secret.as_str()));
        let requests: Vec<(String, CanonicalRequest<'_>)> = set
            .cases
            .iter()
            .map(|c| {
                let base = c.base.as_deref().map(|b| BasePath::parse(b).unwrap());
                let r = CanonicalRequest::from_target(&c.method, &c.url, base.as_ref()).unwrap();
                (r.to_string(), r)
            })
            .collect();
        for (i, case) in set.cases.iter().enumerate() {
            // A handful of other URLs per token keeps this quick.
            for (j, (canonical, request)) in requests.iter().enumerate().skip(i % 7).step_by(11) {
                let result = strict.verify(
                    &case.token,
                    QshPolicy::Request(request),
                    &store,
                    UnixTime::from_secs(case.iat),
                );
                if *canonical == requests[i].0 {
                    assert!(result.is_ok(), "{} on {j}: {result:?}", case.name);
                } else {
                    match result {
                        Err(Error::QshMismatch(m)) => assert_eq!(m.canonical_request(), canonical),
                        other => panic!("{} on case {j}: {other:?}", case.name),
                    }
                }
            }
        }
    }
}

/// Signing the golden token's claims reproduces it byte for byte: same header, same claim
/// order, same MAC as npm `atlassian-jwt`.
#[test]
fn signing_reproduces_the_golden_token() {
    let key = TenantKey::new(
        "test-client-key",
        &SharedSecret::new("connect-test-secret-0123456789abcdef0123"),
    )
    .unwrap();
    let request =
        CanonicalRequest::from_target("GET", "/path/to/service?a=1&A=2&b=3&B=4", None).unwrap();
    let token = Signer::new("test-client-key")
        .sign_request(&request, &key, UnixTime::from_secs(1_700_000_000))
        .unwrap();
    assert_eq!(token.as_str(), "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ0ZXN0LWNsaWVudC1rZXkiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDE4MCwicXNoIjoiNzAyODJjN2NmODI4MzRiZDVhM2Q2ZGFjZGExYjRjY2Q1Y2Y1ODYwYTYzYTFmYTJmYjg2YjY0ZDU3NmU2YTFkNSJ9.p_628YD5xOEjKOGLmVZ7TKOyymWyyfgWIwDuac8amkY");
    let context = Signer::new("test-client-key")
        .sign_context(&key, UnixTime::from_secs(1_700_000_000))
        .unwrap();
    assert_eq!(context.as_str(), "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ0ZXN0LWNsaWVudC1rZXkiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDE4MCwicXNoIjoiY29udGV4dC1xc2gifQ.Y_-fycsTC1VmKefYSFe0PL3HLJ3yBoGVJPW68NX1nfo");
}
